//! k-means (Lloyd's algorithm) on the STRADS-AP API alone; threads (`--threads N`) or processes
//! (`--processes N --process I --hosts FILE`). `kmeans --data points.txt --k 8 --threads 2`
//!
//! Input: one point per line, coordinates separated by whitespace or commas (blank and `#` lines
//! hold none). The first `k` points start the centroids; each iteration assigns every point to
//! its nearest centroid (the first on ties) and moves each centroid to its points' mean (one
//! without points stays), until none moves more than `--tolerance`.

use std::path::PathBuf;

use strads_ap::{Ap, ApError, Consistency};

/// What to cluster and how: `--data FILE --k K [--iters N] [--tolerance T]`.
#[derive(Clone, Debug)]
pub struct Options {
    /// The points file.
    pub data: PathBuf,
    /// Clusters.
    pub k: usize,
    /// Iterations at most (default 100).
    pub iterations: usize,
    /// Stop once no centroid moves farther (default 1e-9).
    pub tolerance: f64,
}

/// Parses the flags of [`Options`].
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options { data: PathBuf::new(), k: 0, iterations: 100, tolerance: 1e-9 };
    for pair in args.chunks(2) {
        let (flag, value) = (&pair[0], pair.get(1).ok_or(format!("{} needs a value", pair[0]))?);
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value:?}: {e}");
        match flag.as_str() {
            "--data" => o.data = PathBuf::from(value),
            "--k" => o.k = value.parse().map_err(|e| bad(&e))?,
            "--iters" => o.iterations = value.parse().map_err(|e| bad(&e))?,
            "--tolerance" => o.tolerance = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    match (o.data.as_os_str().is_empty(), o.k) {
        (true, _) => Err("--data FILE is required".into()),
        (_, 0) => Err("--k must be given, at least 1".into()),
        _ => Ok(o),
    }
}

/// A point's coordinates; `None` for a blank or `#` line.
pub fn parse_point(line: &str) -> Result<Option<Vec<f64>>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let fields = line.split(|c: char| c == ',' || c.is_whitespace()).filter(|f| !f.is_empty());
    let point: Option<Vec<f64>> =
        fields.map(|f| f.parse().ok().filter(|x: &f64| x.is_finite())).collect();
    point.map(Some).ok_or(format!("expected finite numbers, found {line:?}"))
}

/// The fitted centroids and the trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Clustering {
    /// One per cluster.
    pub centroids: Vec<Vec<f64>>,
    /// Per iteration: the inertia of the assignment to the centroids before the move.
    pub inertia: Vec<f64>,
    /// Whether the centroids stopped moving within the iterations.
    pub converged: bool,
}

/// `||a - b||^2`.
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The nearest centroid to `point` (the first on ties) and the squared distance to it.
pub fn nearest(centroids: &[Vec<f64>], point: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (j, c) in centroids.iter().enumerate() {
        let d = squared_distance(c, point);
        if d < best.1 {
            best = (j, d);
        }
    }
    best
}

/// The program, on every worker (each returns the same clustering).
pub fn cluster(ap: &mut Ap<'_, '_>, opts: &Options) -> Result<Clustering, ApError> {
    let mut points = ap.read_lines(&opts.data, parse_point)?;
    // Every worker offers its first k points; the file's first k start the centroids.
    let offered: Vec<Vec<f64>> = points.local().iter().take(opts.k).cloned().collect();
    let mut centroids: Vec<_> =
        ap.all_gather(&offered)?.into_iter().flatten().take(opts.k).collect();
    let file = opts.data.display();
    if centroids.len() < opts.k {
        let found = format!("{} points, fewer than --k {}", centroids.len(), opts.k);
        return Err(ApError::Usage(format!("{file}: {found}")));
    }
    let (k, dim) = (opts.k, centroids[0].len());
    let wrong = points.local().iter().filter(|p| p.len() != dim).count();
    if ap.sum(wrong as f64)? > 0.0 {
        return Err(ApError::Usage(format!("{file}: not every point has {dim} coordinates")));
    }
    let mut fit = Clustering { centroids: vec![], inertia: vec![], converged: false };
    for _ in 0..opts.iterations {
        // Per centroid its points' coordinate sums and count, then the inertia: summed over the
        // workers when the loop ends.
        let mut sums = ap.accumulator(vec![0.0; k * (dim + 1) + 1]).with_name("sums");
        let lp = ap.parallel_for(&mut points, (&mut sums,)).name("assign").batch(usize::MAX);
        lp.run(Consistency::Bsp, |point, (sums,)| {
            let (j, distance) = nearest(&centroids, point);
            let cell = &mut sums[j * (dim + 1)..(j + 1) * (dim + 1)];
            cell.iter_mut().zip(point.iter()).for_each(|(s, x)| *s += x);
            cell[dim] += 1.0;
            sums[k * (dim + 1)] += distance;
        })?;
        let sums = sums.get();
        fit.inertia.push(sums[k * (dim + 1)]);
        // Sequential code between loops: every worker moves the centroids the same way.
        let mut shift: f64 = 0.0;
        for (c, cell) in centroids.iter_mut().zip(sums.chunks(dim + 1)) {
            if cell[dim] > 0.0 {
                let moved: Vec<f64> = cell[..dim].iter().map(|s| s / cell[dim]).collect();
                shift = shift.max(squared_distance(&moved, c).sqrt());
                *c = moved;
            }
        }
        if shift <= opts.tolerance {
            fit.converged = true;
            break;
        }
    }
    fit.centroids = centroids;
    Ok(fit)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fit = strads_ap::run_with_args(&args, parse_args, cluster).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    for (i, inertia) in fit.inertia.iter().enumerate() {
        println!("iteration {:4}  inertia {inertia:.6}", i + 1);
    }
    let (converged, last) = (fit.converged, fit.inertia.last().unwrap_or(&0.0));
    println!("{{\"converged\":{converged},\"inertia\":{last},\"centroids\":{:?}}}", fit.centroids);
}
