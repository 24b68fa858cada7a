//! SGD matrix factorisation, twice: `mf_sgd_sequential.rs` is plain sequential Rust (`Vec`,
//! `HashMap`, `for` loops) and `mf_sgd_ap.rs` the same program on STRADS-AP (distributed vectors, a
//! parallel loop); the two files differ in a few lines (`git diff --no-index` them).
//!
//! The model and the steps are `strads mf --algo sgd --reg-scaling none`'s: ratings `r ~ w_u . h_i`;
//! an epoch takes every training rating once,
//! `e = r - w.h; w += eta (e h - reg_w w); h += eta (e w - reg_h h)`,
//! with `reg = lambda / n` (n: the row's training ratings) and `eta = lr / (1 + lr_decay epoch)`,
//! epochs counted from 0; the factors start as `strads mf` starts them (the same dense indices, so
//! the same values). A factor row is `[f64; RANK]`: the rank is a constant, 10. The training
//! order: the users in a random order, each user's ratings together and shuffled (a user's row
//! stays in cache for its run). After each epoch, the test RMSE, the test ratings of users or
//! items without training ratings predicted by the training mean.
//!
//! Input: `user item rating [timestamp]` lines, fields separated by whitespace or commas (as
//! `strads gen mf` writes them; blank lines and lines starting with `#` or `%` are skipped); ids are
//! unsigned 32-bit integers, numbered densely in increasing order (as `strads mf` numbers them).
//!
//! ```text
//! cargo run --release -p strads-ap --example mf_sgd_sequential -- --train r.train --test r.test \
//!     --rank 10 --lambda 0.05 --lr 0.05 --lr-decay 0.1 --epochs 10 --seed 1
//! cargo run --release -p strads-ap --example mf_sgd_ap -- --threads 2 --train r.train ...
//! ```
//!
//! `mf_sgd_ap` also takes `--processes N --process I --hosts FILE` (one `host:port` per process):
//! every process runs the same command with its own `--process`. It loads the files in every
//! process, as `strads mf` does. Output: a line per epoch (its seconds, the RMSE of the training
//! pass's errors, each taken before its step, and the test RMSE), then a JSON line: epochs,
//! seconds per epoch (also without the first, which in `mf_sgd_ap` includes planning the loop and
//! moving every rating to its worker), the last test RMSE, the peak resident memory (`VmHWM`) in
//! MiB.

use std::collections::HashMap;
use std::fmt::Display;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;
use strads_ap::{Ap, ApConfig, ApError, Consistency::Serializable};

/// A rating: (user, item, value); ids as read, dense indices once loaded.
pub type Rating = (u32, u32, f64);

/// The rank of the factors, fixed when the program is compiled: a row is then `RANK` numbers in
/// place (an H block of 10k items, 880 KB, stays in a 1 MiB L2 cache; the step's loops unroll),
/// where a `Vec<f64>` row would be a pointer to a heap block. `--rank` must equal it.
pub const RANK: usize = 10;

/// A factor row and its penalty per step, `lambda / n` (n: the row's training ratings).
pub type Row = ([f64; RANK], f64);

fn main() {
    let (config, argv) = ApConfig::from_args(std::env::args().skip(1)).unwrap_or_else(usage);
    let args = Args::parse(&argv).unwrap_or_else(usage);
    let p = Problem::load(&args).unwrap_or_else(fail);
    strads_ap::run(&config, move |ap| train(ap.is_leader(), ap, &args, &p)).unwrap_or_else(fail);
}

/// Trains for `args.epochs` epochs; prints a line per epoch and the JSON summary if `print` (and
/// not `--quiet`).
pub fn train(print: bool, ap: &mut Ap, args: &Args, p: &Problem) -> Result<Summary, ApError> {
    let mut summary = Summary::new(print && !args.quiet, p.stats);
    let [mut w, mut h] = [&p.w, &p.h].map(|v| ap.dvector(v.len(), |i| v[i]));
    let mut data = [&p.train, &p.test].map(|v| ap.dvector(v.len(), |i| v[i]));
    for epoch in 0..args.epochs {
        let started = Instant::now();
        // A pass over the training ratings (d = data[0]) with the epoch's step size, then one over
        // the test ratings with step 0, which leaves the factors as they are: it measures errors.
        let steps = [args.lr / (1.0 + args.lr_decay * epoch as f64), 0.0];
        let mut sse = [0.0; 2];
        for (k, d) in data.iter_mut().enumerate() {
            ap.parallel_for(d, (&mut w, &mut h)).keys(rows).run(Serializable, |r, (w, h)| {
                let (u, i) = rows(r);
                sse[k] += sgd_step(&mut w[u], &mut h[i], r.2, steps[k]).powi(2);
            })?;
        }
        let sse = ap.sum_vec(&sse)?;
        summary.epoch(started, &sse);
    }
    Ok(summary.finish())
}

/// The factor rows a rating touches: its user's and its item's.
#[inline]
fn rows(r: &Rating) -> (usize, usize) {
    (r.0 as usize, r.1 as usize)
}

/// One SGD step on rating `r` with step size `eta` (`strads mf`'s `kernels::sgd_step`, each row
/// carrying its penalty); returns the error before the step.
#[inline]
fn sgd_step(w: &mut Row, h: &mut Row, r: f64, eta: f64) -> f64 {
    let ((w0, reg_w), (h0, reg_h)) = (*w, *h);
    let e = r - dot(&w0, &h0);
    for t in 0..RANK {
        w.0[t] = w0[t] + eta * (e * h0[t] - reg_w * w0[t]);
        h.0[t] = h0[t] + eta * (e * w0[t] - reg_h * h0[t]);
    }
    e
}

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The command line.
#[derive(Clone, Debug)]
pub struct Args {
    /// Training ratings.
    pub train: PathBuf,
    /// Test ratings (none: no test RMSE).
    pub test: Option<PathBuf>,
    /// Rank of the factors (must be [`RANK`]).
    pub rank: usize,
    /// The penalty lambda.
    pub lambda: f64,
    /// Step size of epoch 0.
    pub lr: f64,
    /// Epoch e's step size is `lr / (1 + lr_decay e)`.
    pub lr_decay: f64,
    /// Passes over the training ratings.
    pub epochs: usize,
    /// Seed of the starting factors and of the training order.
    pub seed: u64,
    /// Print nothing.
    pub quiet: bool,
}

const USAGE: &str = "--train FILE [--test FILE] [--rank 10 (= RANK)] [--lambda L (0.05)] \
[--lr ETA (0.05)] [--lr-decay D (0.1)] [--epochs N (10)] [--seed S (1)] [--quiet]; \
mf_sgd_ap also [--threads N] [--processes N --process I --hosts FILE]";

impl Args {
    /// Parses the flags (every flag but `--quiet` takes a value).
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut args = Args {
            train: PathBuf::new(),
            test: None,
            rank: RANK,
            lambda: 0.05,
            lr: 0.05,
            lr_decay: 0.1,
            epochs: 10,
            seed: 1,
            quiet: false,
        };
        let mut argv = argv.iter();
        while let Some(flag) = argv.next() {
            if flag == "--quiet" {
                args.quiet = true;
                continue;
            }
            let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--train" => args.train = value.into(),
                "--test" => args.test = Some(value.into()),
                "--rank" => args.rank = number(flag, value)?,
                "--lambda" => args.lambda = number(flag, value)?,
                "--lr" => args.lr = number(flag, value)?,
                "--lr-decay" => args.lr_decay = number(flag, value)?,
                "--epochs" => args.epochs = number(flag, value)?,
                "--seed" => args.seed = number(flag, value)?,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        if args.train.as_os_str().is_empty() {
            return Err("--train FILE is required".into());
        }
        if args.rank != RANK {
            return Err(format!(
                "--rank {}: this build's rank is {RANK} (change RANK, a constant)",
                args.rank
            ));
        }
        if !(args.lr > 0.0 && args.lambda >= 0.0 && args.lr_decay >= 0.0) {
            return Err("--lr must be positive, --lambda and --lr-decay not negative".into());
        }
        Ok(args)
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{flag}: not a valid number: {value:?}"))
}

/// Prints `message` and the usage, and exits with status 2.
fn usage<T>(message: impl Display) -> T {
    eprintln!("error: {message}\nusage: {USAGE}");
    std::process::exit(2)
}

/// Prints `error` and exits with status 1.
fn fail<T>(error: impl Display) -> T {
    eprintln!("error: {error}");
    std::process::exit(1)
}

/// What the RMSEs need besides the errors.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// Training ratings.
    pub n_train: f64,
    /// Test ratings, all of them.
    pub n_test: f64,
    /// Squared error of the test ratings whose user or item has no training rating, predicted by
    /// the training mean.
    pub unseen_sse: f64,
}

/// The rating files, loaded: dense indices, the training order, the starting factors.
pub struct Problem {
    /// Training ratings, in the order SGD takes them.
    pub train: Vec<Rating>,
    /// Test ratings whose user and item have training ratings.
    pub test: Vec<Rating>,
    /// Starting user factors.
    pub w: Vec<Row>,
    /// Starting item factors.
    pub h: Vec<Row>,
    /// Counts for the RMSEs.
    pub stats: Stats,
}

impl Problem {
    /// Reads `args.train` and `args.test` and prepares them for [`train`].
    pub fn load(args: &Args) -> Result<Problem, String> {
        let mut train = read_ratings(&args.train)?;
        let mut test = match &args.test {
            Some(path) => read_ratings(path)?,
            None => Vec::new(),
        };
        if train.is_empty() {
            return Err(format!("{}: no ratings", args.train.display()));
        }
        let users = dense_ids(train.iter().map(|r| r.0));
        let items = dense_ids(train.iter().map(|r| r.1));
        let (mut user_n, mut item_n) = (vec![0u64; users.len()], vec![0u64; items.len()]);
        for r in &mut train {
            (r.0, r.1) = (users[&r.0], items[&r.1]);
            user_n[r.0 as usize] += 1;
            item_n[r.1 as usize] += 1;
        }
        let mean = train.iter().map(|r| r.2).sum::<f64>() / train.len() as f64;
        let n_test = test.len() as f64;
        let mut unseen_sse = 0.0;
        test.retain_mut(|r| match (users.get(&r.0), items.get(&r.1)) {
            (Some(&u), Some(&i)) => {
                (r.0, r.1) = (u, i);
                true
            }
            _ => {
                unseen_sse += (r.2 - mean).powi(2);
                false
            }
        });
        let seed = args.seed;
        let order = |r: &Rating| {
            let (u, i) = (u64::from(r.0), u64::from(r.1));
            (mix(seed ^ u), mix(seed.wrapping_add(1) ^ ((u << 32) | i)))
        };
        train.sort_unstable_by_key(order);
        let k = RANK;
        let scale = 1.0 / (k as f64).sqrt();
        let factors = |factor: u64, counts: &[u64]| -> Vec<Row> {
            let entry = |i: usize, t: usize| scale * initial_entry(seed, factor, i, t, k);
            let row = |(i, &n): (usize, &u64)| {
                (std::array::from_fn(|t| entry(i, t)), args.lambda / n as f64)
            };
            counts.iter().enumerate().map(row).collect()
        };
        Ok(Problem {
            stats: Stats { n_train: train.len() as f64, n_test, unseen_sse },
            train,
            test,
            w: factors(2, &user_n),
            h: factors(1, &item_n),
        })
    }
}

/// The ratings of a file; errors name `file:line`.
fn read_ratings(path: &Path) -> Result<Vec<Rating>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let (mut ratings, mut line, mut number) = (Vec::new(), String::new(), 0);
    loop {
        line.clear();
        number += 1;
        if reader.read_line(&mut line).map_err(|e| format!("{}: {e}", path.display()))? == 0 {
            return Ok(ratings);
        }
        let at = |what: String| format!("{}:{number}: {what}", path.display());
        let mut fields =
            line.split(|c: char| c == ',' || c.is_whitespace()).filter(|f| !f.is_empty());
        let (Some(user), Some(item), Some(value)) = (fields.next(), fields.next(), fields.next())
        else {
            if line.trim().is_empty() || line.starts_with(['#', '%']) {
                continue;
            }
            return Err(at("expected `user item rating`".into()));
        };
        if fields.nth(1).is_some() {
            return Err(at("expected `user item rating [timestamp]`, found more fields".into()));
        }
        let id = |f: &str| {
            f.parse::<u32>().map_err(|_| at(format!("expected an integer id, found {f:?}")))
        };
        let value = match value.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => return Err(at(format!("expected a numeric rating, found {value:?}"))),
        };
        ratings.push((id(user)?, id(item)?, value));
    }
}

/// Dense indices of the distinct ids, in increasing order.
fn dense_ids(ids: impl Iterator<Item = u32>) -> HashMap<u32, u32> {
    let mut ids: Vec<u32> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter().zip(0..).collect()
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Entry `t` of row `row` of a starting factor (`factor` 2: users, 1: items), uniform in
/// `[-1, 1)`: `strads mf`'s `initial_entry`.
fn initial_entry(seed: u64, factor: u64, row: usize, t: usize, rank: usize) -> f64 {
    let z = seed
        .wrapping_add(factor.wrapping_mul(0xD6E8_FEB8_6659_FD93))
        .wrapping_add(((row * rank + t) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (mix(z) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// What a run measured. Prints a line per epoch and, at the end, the JSON summary (if `print`).
pub struct Summary {
    print: bool,
    stats: Stats,
    /// Per epoch: seconds, RMSE of the training pass's errors, test RMSE (NaN without test).
    pub epochs: Vec<(f64, f64, f64)>,
}

impl Summary {
    fn new(print: bool, stats: Stats) -> Summary {
        Summary { print, stats, epochs: Vec::new() }
    }

    /// Records an epoch from the squared errors of its two passes.
    fn epoch(&mut self, started: Instant, sse: &[f64]) {
        let seconds = started.elapsed().as_secs_f64();
        let rmse_train = (sse[0] / self.stats.n_train).sqrt();
        let rmse_test = ((sse[1] + self.stats.unseen_sse) / self.stats.n_test).sqrt();
        self.epochs.push((seconds, rmse_train, rmse_test));
        if self.print {
            let e = self.epochs.len();
            println!("epoch {e} seconds {seconds:.3} rmse_train_pass {rmse_train:.6} rmse_test {rmse_test:.6}");
        }
    }

    /// Prints the JSON summary.
    fn finish(self) -> Summary {
        if self.print {
            let n = self.epochs.len();
            let mean = |epochs: &[(f64, f64, f64)]| {
                epochs.iter().map(|e| e.0).sum::<f64>() / epochs.len() as f64
            };
            let (per_epoch, later) =
                (mean(&self.epochs), mean(self.epochs.get(1..).unwrap_or_default()));
            let rmse = self.epochs.last().map_or(f64::NAN, |e| e.2);
            let json = |x: f64| if x.is_finite() { format!("{x}") } else { "null".into() };
            let peak = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
                let kib = s.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
                kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok()
            });
            let peak = json(peak.map_or(f64::NAN, |kib| kib / 1024.0));
            println!(
                "{{\"epochs\":{n},\"seconds_per_epoch\":{},\"seconds_per_epoch_after_the_first\":{},\"rmse_test\":{},\"peak_memory_mib\":{peak}}}",
                json(per_epoch),
                json(later),
                json(rmse)
            );
        }
        self
    }
}
