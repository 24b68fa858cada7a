//! `strads plot`: convergence plots of any app's trace (JSON lines with `iteration`, `seconds`,
//! `objective`, and a test metric where present), several traces on one plot, as PNG or SVG.
//!
//! Text is drawn with DejaVu Sans embedded in the binary (`assets/`, licence beside it), so the
//! plot needs no system fonts.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::Args;
use plotters::coord::Shift;
use plotters::prelude::*;
use strads_io::write_atomic;

use crate::failure::{bad_input, Failure};

/// The embedded font (DejaVu Sans; licence in crates/cli/assets/DejaVuSans-LICENSE.txt).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Metrics drawn in the second row, the first one a trace has: a test error, else a gap.
const METRICS: [&str; 2] = ["rmse_test", "duality_gap"];

/// Flags of `strads plot`.
#[derive(Args)]
pub struct PlotArgs {
    /// Trace files (JSON lines from --trace of any app), one series each.
    #[arg(required = true, value_name = "TRACE")]
    pub traces: Vec<PathBuf>,
    /// Output image; `.png` or `.svg`.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Legend label of each trace, in order [default: the file names].
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// Title above the plots.
    #[arg(long)]
    pub title: Option<String>,
    /// Image width in pixels (16 to 16384).
    #[arg(long, default_value_t = 1200)]
    pub width: u32,
    /// Image height in pixels (16 to 16384).
    #[arg(long, default_value_t = 900)]
    pub height: u32,
}

/// One trace: its label and, per record, iteration, seconds, objective and the metric.
struct Series {
    label: String,
    iteration: Vec<f64>,
    seconds: Vec<f64>,
    objective: Vec<f64>,
    metric: Option<(String, Vec<f64>)>,
}

/// Runs the subcommand.
pub fn run(args: PlotArgs) -> Result<(), Failure> {
    let svg = match args.out.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => true,
        Some(e) if e.eq_ignore_ascii_case("png") => false,
        _ => {
            return Err(bad_input(anyhow!(
                "--out {} must end in .png or .svg",
                args.out.display()
            )))
        }
    };
    if !(16..=16384).contains(&args.width) || !(16..=16384).contains(&args.height) {
        return Err(bad_input(anyhow!(
            "--width and --height must be in 16..=16384 pixels, got {} x {}",
            args.width,
            args.height
        )));
    }
    let mut files = crate::files::Files::new();
    for trace in &args.traces {
        files.input("TRACE", Some(trace));
    }
    files.output("--out", Some(&args.out)).check(true)?;
    if !args.labels.is_empty() && args.labels.len() != args.traces.len() {
        return Err(bad_input(anyhow!(
            "{} --label values for {} traces",
            args.labels.len(),
            args.traces.len()
        )));
    }
    let mut series = Vec::new();
    for (n, path) in args.traces.iter().enumerate() {
        let label = args.labels.get(n).cloned().unwrap_or_else(|| {
            path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            )
        });
        series.push(read_trace(path, label).map_err(bad_input)?);
    }
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| anyhow!("the embedded font could not be read"))?;
    let size = (args.width.max(200), args.height.max(150));
    let title = args.title.as_deref();
    if svg {
        let mut text = String::new();
        {
            let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
            draw(&root, &series, title).map_err(|e| anyhow!("drawing the plot: {e}"))?;
            root.present()
                .map_err(|e| anyhow!("drawing the plot: {e}"))?;
        }
        write_atomic(&args.out, |w| std::io::Write::write_all(w, text.as_bytes()))?;
    } else {
        // Render to a temporary PNG beside the target, then rename it into place.
        let directory = match args.out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let temporary = tempfile::Builder::new()
            .prefix(".strads-plot.")
            .suffix(".png")
            .tempfile_in(&directory)
            .with_context(|| format!("creating a temporary file in {}", directory.display()))?;
        {
            let root = BitMapBackend::new(temporary.path(), size).into_drawing_area();
            draw(&root, &series, title).map_err(|e| anyhow!("drawing the plot: {e}"))?;
            root.present()
                .map_err(|e| anyhow!("writing the plot: {e}"))?;
        }
        // The temporary file is private (0600); the plot is an ordinary output file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(temporary.path(), std::fs::Permissions::from_mode(0o644))
                .with_context(|| format!("writing {}", args.out.display()))?;
        }
        temporary
            .persist(&args.out)
            .with_context(|| format!("writing {}", args.out.display()))?;
    }
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// Reads a trace; every line must be a JSON object with numeric `iteration`, `seconds` and
/// `objective`.
fn read_trace(path: &Path, label: String) -> anyhow::Result<Series> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut series = Series {
        label,
        iteration: Vec::new(),
        seconds: Vec::new(),
        objective: Vec::new(),
        metric: None,
    };
    let mut metric_values: Vec<Option<f64>> = Vec::new();
    let mut metric_name: Option<&str> = None;
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), number + 1);
        let record: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| anyhow!("{}: expected a JSON object, {e}", at()))?;
        let field = |name: &str| -> anyhow::Result<f64> {
            record
                .get(name)
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(|| anyhow!("{}: expected a number in the field `{name}`", at()))
        };
        series.iteration.push(field("iteration")?);
        series.seconds.push(field("seconds")?);
        series.objective.push(field("objective")?);
        if metric_name.is_none() {
            metric_name = METRICS.into_iter().find(|m| record.get(*m).is_some());
        }
        metric_values.push(metric_name.and_then(|m| record.get(m)?.as_f64()));
    }
    if series.objective.is_empty() {
        return Err(anyhow!("{}: the trace holds no records", path.display()));
    }
    if let Some(name) = metric_name {
        // Records before the metric first appeared have none: carry the first value back.
        let first = metric_values
            .iter()
            .flatten()
            .next()
            .copied()
            .unwrap_or(f64::NAN);
        let values = metric_values
            .into_iter()
            .map(|v| v.unwrap_or(first))
            .collect();
        series.metric = Some((name.to_owned(), values));
    }
    Ok(series)
}

/// Values to draw and the axis label: log10 when every value is positive and they span more than
/// a factor of 20.
fn scaled(values: &[&[f64]], name: &str) -> (Vec<Vec<f64>>, String) {
    let all = values
        .iter()
        .flat_map(|v| v.iter().copied())
        .filter(|v| v.is_finite());
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if lo > 0.0 && hi / lo > 20.0 {
        let logs = values
            .iter()
            .map(|v| v.iter().map(|x| x.log10()).collect())
            .collect();
        (logs, format!("log10 {name}"))
    } else {
        (values.iter().map(|v| v.to_vec()).collect(), name.to_owned())
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &[Series],
    title: Option<&str>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let area = match title {
        Some(title) => root.titled(title, ("sans-serif", 24))?,
        None => root.clone(),
    };
    let metric_name = series
        .iter()
        .find_map(|s| s.metric.as_ref().map(|(n, _)| n.clone()));
    let rows = if metric_name.is_some() { 2 } else { 1 };
    let panels = area.split_evenly((rows, 2));
    let objectives: Vec<&[f64]> = series.iter().map(|s| s.objective.as_slice()).collect();
    let (objective_y, objective_label) = scaled(&objectives, "objective");
    let mut rows_to_draw = vec![(objective_y, objective_label)];
    if let Some(name) = &metric_name {
        let empty: Vec<f64> = Vec::new();
        let values: Vec<&[f64]> = series
            .iter()
            .map(|s| {
                s.metric
                    .as_ref()
                    .map_or(empty.as_slice(), |(_, v)| v.as_slice())
            })
            .collect();
        rows_to_draw.push(scaled(&values, name));
    }
    for (row, (ys, y_label)) in rows_to_draw.iter().enumerate() {
        for (column, x_label) in ["iteration", "seconds"].into_iter().enumerate() {
            let xs: Vec<&[f64]> = series
                .iter()
                .map(|s| {
                    if column == 0 {
                        s.iteration.as_slice()
                    } else {
                        s.seconds.as_slice()
                    }
                })
                .collect();
            panel(&panels[row * 2 + column], series, &xs, ys, x_label, y_label)?;
        }
    }
    Ok(())
}

/// A short tick label: scientific notation for large or tiny magnitudes, else up to 4 decimals.
fn tick(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-3..1e5).contains(&magnitude) {
        format!("{value:.2e}")
    } else {
        let text = format!("{value:.4}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        if text == "-0" {
            "0".to_owned()
        } else {
            text.to_owned()
        }
    }
}

fn bounds<'a>(values: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-12 * lo.abs().max(1.0));
    (lo - pad, hi + pad)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
    xs: &[&[f64]],
    ys: &[Vec<f64>],
    x_label: &str,
    y_label: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (x_lo, x_hi) = bounds(xs.iter().flat_map(|x| x.iter()));
    let (y_lo, y_hi) = bounds(ys.iter().flat_map(|y| y.iter()));
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(85)
        .build_cartesian_2d(x_lo.max(0.0).min(x_lo)..x_hi, y_lo..y_hi)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| tick(*x))
        .y_label_formatter(&|y| tick(*y))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for (n, s) in series.iter().enumerate() {
        let color = Palette99::pick(n).to_rgba();
        let points: Vec<(f64, f64)> = xs[n]
            .iter()
            .zip(&ys[n])
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(&x, &y)| (x, y))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}
