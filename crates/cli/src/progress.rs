//! A progress line on stderr, shown only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

/// An app's observer of its trace records (each app's `Observer` is this type).
type RecordObserver<R> = Arc<dyn Fn(&R) + Send + Sync>;

/// A spinner whose message is `describe(latest trace record)`, and the observer that feeds it;
/// both `None` when `show` is false or stderr is not a terminal.
fn spinner<R: 'static>(
    show: bool,
    describe: impl Fn(&R) -> String + Send + Sync + 'static,
) -> (Option<ProgressBar>, Option<RecordObserver<R>>) {
    if !show || !std::io::stderr().is_terminal() {
        return (None, None);
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let shown = bar.clone();
    let observer: RecordObserver<R> =
        Arc::new(move |record: &R| shown.set_message(describe(record)));
    (Some(bar), Some(observer))
}

/// Progress of `strads lasso|logreg`.
pub fn regression_progress(
    show: bool,
) -> (
    Option<ProgressBar>,
    Option<strads_apps::sparse_regression::Observer>,
) {
    spinner(
        show,
        |record: &strads_apps::sparse_regression::TraceRecord| {
            format!(
                "pass {:.1}  objective {:.6e}  gap {:.2e}  nnz {}",
                record.iteration, record.objective, record.duality_gap, record.nnz
            )
        },
    )
}

/// Progress of `strads lda`.
pub fn lda_progress(
    show: bool,
    iterations: usize,
) -> (Option<ProgressBar>, Option<strads_apps::lda::Observer>) {
    spinner(show, move |record: &strads_apps::lda::TraceRecord| {
        format!(
            "iteration {}/{iterations}  loglik/token {:.5}  {:.3e} tokens/s",
            record.iteration, record.loglik_per_token, record.tokens_per_second
        )
    })
}

/// Progress of `strads mf`.
pub fn mf_progress(show: bool) -> (Option<ProgressBar>, Option<strads_apps::mf::Observer>) {
    spinner(show, |record: &strads_apps::mf::TraceRecord| {
        let test = record
            .rmse_test
            .map_or(String::new(), |r| format!("  rmse test {r:.5}"));
        format!(
            "iteration {}  objective {:.6e}  rmse train {:.5}{test}",
            record.iteration, record.objective, record.rmse_train
        )
    })
}

/// Progress of `strads mlr`.
pub fn mlr_progress(
    show: bool,
) -> (
    Option<ProgressBar>,
    Option<strads_ap_apps::Observer<strads_ap_apps::mlr::TraceRecord>>,
) {
    spinner(show, |record: &strads_ap_apps::mlr::TraceRecord| {
        format!(
            "iteration {}  objective {:.6e}  gradient norm {:.2e}",
            record.iteration, record.objective, record.gradient_norm
        )
    })
}

/// Progress of `strads word2vec`.
pub fn word2vec_progress(
    show: bool,
    epochs: usize,
) -> (
    Option<ProgressBar>,
    Option<strads_ap_apps::Observer<strads_ap_apps::word2vec::TraceRecord>>,
) {
    spinner(
        show,
        move |record: &strads_ap_apps::word2vec::TraceRecord| {
            format!(
                "epoch {}/{epochs}  loss {:.4}  {:.3e} words/s",
                record.epoch, record.mean_loss, record.words_per_second
            )
        },
    )
}
