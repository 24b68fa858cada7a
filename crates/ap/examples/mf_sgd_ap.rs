//! SGD matrix factorisation, twice: `mf_sgd_sequential.rs` is plain sequential Rust (`Vec`,
//! `for` loops) and `mf_sgd_ap.rs` the same program on STRADS-AP (distributed vectors, a
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
//! every process runs the same command with its own `--process`. Its workers read the files in
//! byte-range shards (each line by one worker), count the ids together, and each prepares its own
//! ratings (dense indices, the SGD order) and builds its own factor rows. Output (after the run):
//! a line per epoch (its seconds, the RMSE of the training pass's errors, each taken before its
//! step, and the test RMSE), then a JSON line: epochs, seconds per epoch (also without the first,
//! which in `mf_sgd_ap` includes planning the loop and moving every rating to its worker), the last
//! test RMSE, the peak resident memory (`VmHWM`) in MiB, the seconds of loading (reading, ids,
//! ordering, factors) and of the whole run, and this thread's (in `mf_sgd_ap` worker 0's) CPU
//! seconds in loading, the first epoch and the later ones.

use std::fmt::Display;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A rating: (user, item, value); ids as read, dense indices once loaded.
pub type Rating = (u32, u32, f64);

/// The rank of the factors, fixed when the program is compiled: a row is then `RANK` numbers in
/// place (an H block of 10k items, 880 KB, stays in a 1 MiB L2 cache; the step's loops unroll),
/// where a `Vec<f64>` row would be a pointer to a heap block. `--rank` must equal it.
pub const RANK: usize = 10;

/// A factor row and its penalty per step, `lambda / n` (n: the row's training ratings).
pub type Row = ([f64; RANK], f64);

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    strads_ap::run_with_args(&argv, Args::parse, train).unwrap_or_else(fail).print();
}

/// Loads the ratings and trains for `args.epochs` epochs.
pub fn train(ap: &mut strads_ap::Ap, args: &Args) -> Result<Summary, strads_ap::ApError> {
    let mut summary = Summary::new(args);
    let mut train = ap.read_lines(&args.train, parse_rating)?;
    let ids = Ids::new(ap.sum_by_key(count_keys(id_keys(train.local())))?);
    let train_sum = prepare(train.local_mut(), &ids, args.seed);
    let mut test_sums = [0.0; 4];
    let test = ap.read_lines(&args.test, |line| test_rating(&ids, &mut test_sums, line))?;
    let [mut w, mut h] = [(2, &ids.users.n), (1, &ids.items.n)]
        .map(|(f, n)| ap.dvector_balanced(n, |i| row(args, f, i, n[i])));
    summary.loaded(&ids, train_sum, test_sums);
    let mut data = [train, test];
    for epoch in 0..args.epochs {
        let started = Instant::now();
        // A pass over the training ratings (d = data[0]) with the epoch's step size, then one over
        // the test ratings with step 0, which leaves the factors as they are: it measures errors.
        // `sse` also carries the data's sums (see `Summary::loaded`), summed with the errors.
        let steps = [args.lr / (1.0 + args.lr_decay * epoch as f64), 0.0];
        let mut sse = summary.sums;
        for (k, d) in data.iter_mut().enumerate() {
            ap.parallel_for(d, (&mut w, &mut h)).keys(rows).serializable(|r, (w, h)| {
                let (u, i) = rows(r);
                sse[k] += sgd_step(&mut w[u], &mut h[i], r.2, steps[k]).powi(2);
            })?;
        }
        let sse = ap.sum_vec(&sse)?;
        summary.epoch(started, &sse);
    }
    Ok(summary)
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
    /// Test ratings (default `/dev/null`: none, no test RMSE).
    pub test: PathBuf,
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
    /// Parses the flags (every flag but `--quiet` takes a value); an error ends with the usage.
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        Args::parse_flags(argv).map_err(|e| format!("{e}\nusage: {USAGE}"))
    }

    fn parse_flags(argv: &[String]) -> Result<Args, String> {
        let mut args = Args {
            train: PathBuf::new(),
            test: PathBuf::from("/dev/null"),
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
                "--test" => args.test = value.into(),
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

/// Prints `error` and exits with status 2: bad input or usage (as the lda examples).
fn fail<T>(error: impl Display) -> T {
    eprintln!("error: {error}");
    std::process::exit(2)
}

/// The elements of a text file's lines, in file order: `parse` gives a line's element (`None`
/// for a blank or comment line) or what it expected; an error names `file:line`.
pub fn read_lines<T>(
    path: &Path,
    mut parse: impl FnMut(&str) -> Result<Option<T>, String>,
) -> Result<Vec<T>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let (mut elements, mut line) = (Vec::new(), String::new());
    for number in 1.. {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| format!("{}: {e}", path.display()))? == 0 {
            break;
        }
        match parse(line.trim_end_matches('\n').trim_end_matches('\r')) {
            Ok(element) => elements.extend(element),
            Err(what) => return Err(format!("{}:{number}: {what}", path.display())),
        }
    }
    Ok(elements)
}

/// A `user item rating [timestamp]` line; `None` for a blank line or one starting with `#` or `%`.
pub fn parse_rating(line: &str) -> Result<Option<Rating>, String> {
    let mut fields = line.split(|c: char| c == ',' || c.is_whitespace()).filter(|f| !f.is_empty());
    let (Some(user), Some(item), Some(value)) = (fields.next(), fields.next(), fields.next())
    else {
        if line.trim().is_empty() || line.starts_with(['#', '%']) {
            return Ok(None);
        }
        return Err("expected `user item rating`".into());
    };
    if fields.nth(1).is_some() {
        return Err("expected `user item rating [timestamp]`, found more fields".into());
    }
    let id = |f: &str| f.parse::<u32>().map_err(|_| format!("expected an integer id, found {f:?}"));
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some((id(user)?, id(item)?, v))),
        _ => Err(format!("expected a numeric rating, found {value:?}")),
    }
}

/// The ids of the ratings as keys: every user id, then every item id plus `2^32`.
pub fn id_keys(ratings: &[Rating]) -> impl Iterator<Item = u64> + '_ {
    let users = ratings.iter().map(|r| u64::from(r.0));
    users.chain(ratings.iter().map(|r| (1 << 32) | u64::from(r.1)))
}

/// The distinct keys and how often each occurs, in increasing order.
pub fn count_keys(keys: impl Iterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut keys: Vec<u64> = keys.collect();
    keys.sort_unstable();
    let mut counts: Vec<(u64, u64)> = Vec::new();
    for key in keys {
        match counts.last_mut() {
            Some((last, n)) if *last == key => *n += 1,
            _ => counts.push((key, 1)),
        }
    }
    counts
}

/// The users and items with training ratings: dense indices in increasing id order (as `strads
/// mf` numbers them) and training ratings per index.
pub struct Ids {
    /// The users.
    pub users: Dense,
    /// The items.
    pub items: Dense,
}

/// Ids numbered densely in increasing order.
pub struct Dense {
    /// The ids, in increasing order.
    pub ids: Vec<u32>,
    /// Training ratings of each.
    pub n: Vec<u64>,
    /// Index by id when the largest id is at most a few times their number (`u32::MAX`: no
    /// such id), else empty (a binary search of `ids`).
    table: Vec<u32>,
}

impl Ids {
    /// From the counts of [`id_keys`] over the training ratings.
    pub fn new(counts: Vec<(u64, u64)>) -> Ids {
        let split = counts.partition_point(|&(key, _)| key < 1 << 32);
        let dense = |counts: &[(u64, u64)]| {
            let ids: Vec<u32> = counts.iter().map(|&(key, _)| key as u32).collect();
            let max = ids.last().map_or(0, |&id| id as usize);
            let mut table = Vec::new();
            if max <= 4 * ids.len() + (1 << 16) {
                table = vec![u32::MAX; max + 1];
                for (i, &id) in ids.iter().enumerate() {
                    table[id as usize] = i as u32;
                }
            }
            Dense { ids, n: counts.iter().map(|&(_, n)| n).collect(), table }
        };
        Ids { users: dense(&counts[..split]), items: dense(&counts[split..]) }
    }

    /// The dense indices of a rating's user and item, if both have training ratings.
    fn dense(&self, r: &Rating) -> Option<(u32, u32)> {
        Some((self.users.index(r.0)?, self.items.index(r.1)?))
    }
}

impl Dense {
    fn index(&self, id: u32) -> Option<u32> {
        if self.table.is_empty() {
            return self.ids.binary_search(&id).ok().map(|i| i as u32);
        }
        self.table.get(id as usize).copied().filter(|&i| i != u32::MAX)
    }
}

/// Gives the training ratings their dense indices and puts them in the SGD order: the users in a
/// random order, each user's ratings together and shuffled (the order of sorting by
/// `(mix(seed ^ u), mix((seed + 1) ^ (u << 32 | i)))`, made by a counting sort of the users and a
/// sort of each user's ratings). Returns the sum of their values.
pub fn prepare(train: &mut [Rating], ids: &Ids, seed: u64) -> f64 {
    for r in train.iter_mut() {
        (r.0, r.1) = ids.dense(r).expect("every training id is counted");
    }
    let users = ids.users.ids.len();
    let mut order: Vec<u32> = (0..users as u32).collect();
    order.sort_unstable_by_key(|&u| mix(seed ^ u64::from(u)));
    let mut position = vec![0u32; users];
    for (p, &u) in order.iter().enumerate() {
        position[u as usize] = p as u32;
    }
    let mut start = vec![0usize; users + 1];
    for r in train.iter() {
        start[position[r.0 as usize] as usize + 1] += 1;
    }
    for p in 0..users {
        start[p + 1] += start[p];
    }
    let (mut next, copy) = (start.clone(), train.to_vec());
    for r in copy {
        let at = &mut next[position[r.0 as usize] as usize];
        train[*at] = r;
        *at += 1;
    }
    let within = |r: &Rating| mix(seed.wrapping_add(1) ^ ((u64::from(r.0) << 32) | u64::from(r.1)));
    for p in 0..users {
        train[start[p]..start[p + 1]].sort_unstable_by_key(within);
    }
    train.iter().map(|r| r.2).sum()
}

/// A test rating line with dense indices; one whose user or item has no training rating is
/// dropped and counted in `sums` (test ratings, then the dropped ones' count, sum and sum of
/// squares), since the training mean predicts it.
pub fn test_rating(ids: &Ids, sums: &mut [f64; 4], line: &str) -> Result<Option<Rating>, String> {
    let Some(r) = parse_rating(line)? else { return Ok(None) };
    sums[0] += 1.0;
    if let Some((u, i)) = ids.dense(&r) {
        return Ok(Some((u, i, r.2)));
    }
    (sums[1], sums[2], sums[3]) = (sums[1] + 1.0, sums[2] + r.2, sums[3] + r.2 * r.2);
    Ok(None)
}

/// Starting row `i` of factor `factor` (2: users, 1: items) with `n` training ratings: as `strads
/// mf` starts it, and its penalty.
pub fn row(args: &Args, factor: u64, i: usize, n: u64) -> Row {
    let scale = 1.0 / (RANK as f64).sqrt();
    let entry = |t: usize| scale * initial_entry(args.seed, factor, i, t, RANK);
    (std::array::from_fn(entry), args.lambda / n as f64)
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

/// What a run measured; [`Summary::print`] prints a line per epoch and the JSON summary.
pub struct Summary {
    print: bool,
    started: Instant,
    /// This thread's CPU seconds at the start, after loading, after each epoch.
    cpu: Vec<f64>,
    /// Seconds of loading.
    loading: f64,
    /// The training file, for the error when it holds no ratings.
    train: PathBuf,
    /// Training ratings.
    n_train: f64,
    /// The sums an epoch's errors start from: two zeros (training and test squared errors), the
    /// sum of the training ratings, the test ratings, and the count, sum and sum of squares of
    /// the test ratings whose user or item has no training rating (this program's share of each).
    pub sums: [f64; 7],
    /// Per epoch: seconds, RMSE of the training pass's errors, test RMSE (NaN without test).
    pub epochs: Vec<(f64, f64, f64)>,
}

impl Summary {
    fn new(args: &Args) -> Summary {
        let (print, started, cpu) = (!args.quiet, Instant::now(), vec![thread_cpu_seconds()]);
        let (train, sums) = (args.train.clone(), [0.0; 7]);
        Summary { print, started, cpu, loading: 0.0, train, n_train: 0.0, sums, epochs: vec![] }
    }

    /// Records the end of loading: the training ratings and the sums of [`Summary::sums`].
    fn loaded(&mut self, ids: &Ids, train_sum: f64, test: [f64; 4]) {
        self.n_train = ids.users.n.iter().sum::<u64>() as f64;
        self.sums = [0.0, 0.0, train_sum, test[0], test[1], test[2], test[3]];
        self.loading = self.started.elapsed().as_secs_f64();
        self.cpu.push(thread_cpu_seconds());
    }

    /// Records an epoch from the sums of its passes' squared errors and of the data (every
    /// worker's, in `mf_sgd_ap`); the test ratings without a training user or item are predicted
    /// by the training mean m: their squared errors sum to `s2 - 2 m s1 + n m^2`.
    fn epoch(&mut self, started: Instant, sse: &[f64]) {
        let seconds = started.elapsed().as_secs_f64();
        let mean = sse[2] / self.n_train;
        let unseen = sse[6] - 2.0 * mean * sse[5] + sse[4] * mean * mean;
        let rmse_train = (sse[0] / self.n_train).sqrt();
        let rmse_test = ((sse[1] + unseen.max(0.0)) / sse[3]).sqrt();
        self.epochs.push((seconds, rmse_train, rmse_test));
        self.cpu.push(thread_cpu_seconds());
    }

    /// Prints a line per epoch and the JSON summary (unless `--quiet`); a training file without
    /// ratings is an error.
    pub fn print(&self) {
        if self.n_train == 0.0 {
            fail(format!("{}: no training ratings", self.train.display()))
        }
        if !self.print {
            return;
        }
        for (e, (seconds, rmse_train, rmse_test)) in self.epochs.iter().enumerate() {
            let e = e + 1;
            println!("epoch {e} seconds {seconds:.3} rmse_train_pass {rmse_train:.6} rmse_test {rmse_test:.6}");
        }
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
        let total = self.loading + self.epochs.iter().map(|e| e.0).sum::<f64>();
        let cpu = |from: usize, to: usize| match (self.cpu.get(from), self.cpu.get(to)) {
            (Some(a), Some(b)) => json(b - a),
            _ => "null".into(),
        };
        let (loading, first, later_cpu) = (cpu(0, 1), cpu(1, 2), cpu(2, self.cpu.len() - 1));
        println!(
            "{{\"epochs\":{n},\"seconds_per_epoch\":{},\"seconds_per_epoch_after_the_first\":{},\"rmse_test\":{},\"peak_memory_mib\":{peak},\"seconds_loading\":{},\"seconds_total\":{},\"cpu_seconds_loading\":{loading},\"cpu_seconds_first_epoch\":{first},\"cpu_seconds_later_epochs\":{later_cpu}}}",
            json(per_epoch),
            json(later),
            json(rmse),
            json(self.loading),
            json(total)
        );
    }
}

/// This thread's CPU seconds so far (Linux's `/proc/thread-self/schedstat`; NaN elsewhere).
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let nanoseconds = stat.split_whitespace().next().and_then(|ns| ns.parse::<f64>().ok());
    nanoseconds.map_or(f64::NAN, |ns| ns / 1e9)
}
