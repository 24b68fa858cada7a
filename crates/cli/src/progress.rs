//! A progress line on stderr, shown only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use strads_apps::sparse_regression::{Observer, TraceRecord};

/// A spinner that shows the latest trace record; `None` when stderr is not a terminal.
pub fn regression_progress(show: bool) -> (Option<ProgressBar>, Option<Observer>) {
    if !show || !std::io::stderr().is_terminal() {
        return (None, None);
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let shown = bar.clone();
    let observer: Observer = Arc::new(move |record: &TraceRecord| {
        shown.set_message(format!(
            "pass {:.1}  objective {:.6e}  gap {:.2e}  nnz {}",
            record.iteration, record.objective, record.duality_gap, record.nnz
        ));
    });
    (Some(bar), Some(observer))
}

/// A spinner that shows the latest LDA trace record; `None` when stderr is not a terminal.
pub fn lda_progress(
    show: bool,
    iterations: usize,
) -> (Option<ProgressBar>, Option<strads_apps::lda::Observer>) {
    if !show || !std::io::stderr().is_terminal() {
        return (None, None);
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let shown = bar.clone();
    let observer: strads_apps::lda::Observer =
        Arc::new(move |record: &strads_apps::lda::TraceRecord| {
            shown.set_message(format!(
                "iteration {}/{iterations}  loglik/token {:.5}  {:.3e} tokens/s",
                record.iteration, record.loglik_per_token, record.tokens_per_second
            ));
        });
    (Some(bar), Some(observer))
}
