//! LDA by collapsed Gibbs sampling, twice: `lda_sequential.rs` is a plain sequential program and
//! `lda_ap.rs` the same program on STRADS-AP, distributed over threads and processes by changing
//! a few lines (compare the two files: `git diff --no-index` them).
//!
//! ```sh
//! strads gen lda --docs 20000 --vocab 20000 --topics 50 --doc-length 200 --seed 1 --out corpus
//! cargo run --release -p strads-ap --example lda_sequential -- --data corpus --topics 50 --iters 50
//! cargo run --release -p strads-ap --example lda_ap -- --data corpus --topics 50 --threads 2
//! # two processes: a hosts file with one `host:port` per process, then in two shells
//! lda_ap --data corpus --processes 2 --process 0 --hosts hosts --threads 1
//! lda_ap --data corpus --processes 2 --process 1 --hosts hosts --threads 1
//! ```
//!
//! The model, priors, input and objective are those of `strads lda`: symmetric Dirichlet priors
//! `alpha` (documents) and `beta` (topics), a UCI docword corpus (lines `D`, `W`, `NNZ`, then
//! `doc word count` with 1-based ids), and after every iteration the collapsed joint
//! log-likelihood per token, `log p(w, z) / N`, with
//!
//! ```text
//! log p(w|z) = K [lnG(W b) - W lnG(b)] + sum_k [ sum_w lnG(n_kw + b) - lnG(n_k + W b) ]
//! log p(z)   = D [lnG(K a) - K lnG(a)] + sum_d [ sum_k lnG(n_dk + a) - lnG(n_d + K a) ]
//! ```
//!
//! Each token's topic is drawn from the exact collapsed conditional
//! `p(z = k) ∝ (n_dk + a)(n_kw + b) / (n_k + W b)` (counts without the token), split as in
//! SparseLDA: with the document's coefficients `c_k = (n_dk + a) / (n_k + W b)`,
//! `p(z = k) ∝ c_k n_kw + b c_k`, a word bucket summed over the few topics the word has tokens in
//! and a prior bucket `b sum_k c_k`. The coefficients are computed once per run of a document's
//! tokens and kept current as tokens move, so a token costs about one pass over its word's
//! nonzero topics. A word's row keeps its counts dense beside the list of its nonzero topics,
//! roughly largest count first, so that the search in the list usually stops at its first
//! entries. The loop runs over the tokens (each keeps its topic), visited slice of the vocabulary
//! by slice and, inside a slice, document by document ([`visiting_order`]), so that the rows of
//! the words being sampled stay in cache.
//!
//! Output: one line per iteration, then one JSON line (`iterations`, `tokens`,
//! `tokens_per_second`, `loglik_per_token`, `seconds`, `peak_memory_kb`). tokens/s counts
//! sampling only (not the log-likelihood evaluation, nor iteration 0, which draws the initial
//! topics).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A token of the corpus, `(doc, word, topic)` (ids from 0): the loops run over the tokens, and
/// each keeps its own topic.
pub type Token = (u32, u32, u32);

/// A document's topic counts `n_dk` (K entries).
pub type Doc = Vec<u32>;

/// A word's topic counts `n_kw`: dense (K entries, allocated at the word's first token), and the
/// list of the topics whose count is not zero, roughly largest count first (so that the
/// sampler's searches over the list usually stop at its first entries).
pub type WordRow = (Vec<u32>, Vec<u16>);

/// What to train on and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// The UCI docword corpus.
    pub data: PathBuf,
    /// Documents `D`, from the corpus's header.
    pub docs: usize,
    /// Vocabulary size `W`, from the corpus's header.
    pub words: usize,
    /// Topics `K`.
    pub topics: usize,
    /// Sweeps over all tokens.
    pub iterations: usize,
    /// Document-topic prior.
    pub alpha: f64,
    /// Topic-word prior.
    pub beta: f64,
    /// Seed of the random numbers.
    pub seed: u64,
}

/// Parses `--data FILE [--topics K] [--iters N] [--alpha A] [--beta B] [--seed S]` (defaults 50,
/// 50, 0.1, 0.01, 1; K at most 65536) and reads `D` and `W` from the corpus's header.
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut data = None;
    let (mut topics, mut iterations, mut alpha, mut beta, mut seed) = (50, 50, 0.1, 0.01, 1);
    let mut pairs = args.iter();
    while let Some(flag) = pairs.next() {
        let value = pairs.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value:?}: {e}");
        match flag.as_str() {
            "--data" => data = Some(PathBuf::from(value)),
            "--topics" => topics = value.parse().map_err(|e| bad(&e))?,
            "--iters" => iterations = value.parse().map_err(|e| bad(&e))?,
            "--alpha" => alpha = value.parse().map_err(|e| bad(&e))?,
            "--beta" => beta = value.parse().map_err(|e| bad(&e))?,
            "--seed" => seed = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let data = data.ok_or("--data FILE is required")?;
    if !((1..=1 << 16).contains(&topics) && alpha > 0.0 && beta > 0.0) {
        return Err("--topics must be in 1..=65536, --alpha and --beta positive".into());
    }
    let (docs, words) = read_header(&data)?;
    Ok(Options { data, docs, words, topics, iterations, alpha, beta, seed })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&args).and_then(|opts| train(&opts)) {
        Ok(summary) => summary.print(),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

/// Trains and returns the trace: iteration 0 draws every token's topic at random, then every
/// iteration resamples every token.
pub fn train(opts: &Options) -> Result<Summary, String> {
    let (k, w) = (opts.topics, opts.words);
    let mut tokens = read_lines(&opts.data, parse_tokens)?;
    tokens.sort_by_key(visiting_order);
    let mut nd = vec![vec![0; k]; opts.docs];
    let (mut nw, mut nk) = (vec![(vec![], vec![]); w], vec![0; k]);
    let mut trace = Summary::new(opts);
    for iteration in 0..=opts.iterations {
        let mut sampler = Sampler::new(opts, iteration);
        for t in tokens.iter_mut() {
            sampler.token(&mut nd[t.0 as usize], &mut nw[t.1 as usize], &mut nk[..], t);
        }
        trace.sampled();
        trace.record(row_terms(&nd, &nw, opts), &nk);
    }
    Ok(trace)
}

/// Reads `D` and `W` from the first two lines of a docword file.
pub fn read_header(path: &Path) -> Result<(usize, usize), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let mut number = |what: &str| {
        match lines.next() {
            Some(Ok(line)) => line.trim().parse::<usize>().ok(),
            _ => None,
        }
        .ok_or(format!("{}: expected {what} (a docword header line)", path.display()))
    };
    Ok((number("D")?, number("W")?))
}

/// Reads a text file and parses each line with `parse`, which returns the line's elements (none,
/// one or several) or `Err(what was expected)` for a malformed line.
pub fn read_lines<T, I: IntoIterator<Item = T>>(
    path: &Path,
    mut parse: impl FnMut(&str) -> Result<I, String>,
) -> Result<Vec<T>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        match parse(line) {
            Ok(elements) => items.extend(elements),
            Err(message) => return Err(format!("{}:{}: {message}", path.display(), n + 1)),
        }
    }
    Ok(items)
}

/// The tokens of a docword body line `doc word count` (1-based ids), topic 0 until the first
/// iteration draws them; the header's lone numbers and blank lines hold none.
pub fn parse_tokens(line: &str) -> Result<std::iter::RepeatN<Token>, String> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let number = |s: &str| s.parse::<u32>().ok().filter(|&n| n > 0);
    match fields[..] {
        [] | [_] => Ok(std::iter::repeat_n((0, 0, 0), 0)),
        [d, w, c] => match (number(d), number(w), number(c)) {
            (Some(d), Some(w), Some(c)) => Ok(std::iter::repeat_n((d - 1, w - 1, 0), c as usize)),
            _ => Err(format!("expected positive integers, found {line:?}")),
        },
        _ => Err(format!("expected `doc word count`, found {line:?}")),
    }
}

/// Words per slice of the vocabulary (see [`visiting_order`]): the rows of a slice's words (a few
/// hundred KiB at K = 50) stay in a core's L2 cache while the sampler visits the slice's tokens.
/// (Measured on the bench corpora, one thread: 1024, 2048 and 4096 words within a few percent
/// of each other.)
const SLICE_WORDS: u32 = 2048;

/// The order in which the sampler visits the tokens: slice of the vocabulary by slice, inside a
/// slice document by document (stable: inside a document in the corpus's order). Visiting
/// document by document over the whole vocabulary would fetch almost every token's word row
/// from memory; this order fetches each row about once per slice, and a document's
/// coefficients are computed once per run of its tokens in a slice (as in `strads lda`). Any
/// fixed order is a valid Gibbs sweep, so the order is for speed only: the AP version sorts the
/// tokens each worker holds.
pub fn visiting_order(token: &Token) -> (u32, u32) {
    (token.1 / SLICE_WORDS, token.0)
}

/// The sampler's state for one sweep: the cached coefficients of the document whose tokens it is
/// visiting, and the random numbers.
pub struct Sampler {
    /// Iteration 0: draw the initial topics instead of resampling.
    init: bool,
    alpha: f64,
    beta: f64,
    w_beta: f64,
    /// Seed of this iteration's random numbers.
    seed: u64,
    /// The document whose coefficients are cached (`u32::MAX`: none yet).
    doc: u32,
    /// `c_k = (n_dk + alpha) / (n_k + W beta)` of that document, and their sum.
    coef: Vec<f64>,
    coef_sum: f64,
    /// `1 / (n_k + W beta)` for each topic, and the `n_k` it was computed from.
    inverse_total: Vec<f64>,
    inverse_of: Vec<u32>,
    rng: Rng,
}

impl Sampler {
    /// A sampler for one sweep of iteration `iteration`.
    pub fn new(opts: &Options, iteration: usize) -> Sampler {
        Sampler {
            init: iteration == 0,
            alpha: opts.alpha,
            beta: opts.beta,
            w_beta: opts.words as f64 * opts.beta,
            seed: mix(opts.seed ^ mix(iteration as u64)),
            doc: u32::MAX,
            coef: vec![0.0; opts.topics],
            coef_sum: 0.0,
            inverse_total: vec![0.0; opts.topics],
            inverse_of: vec![u32::MAX; opts.topics],
            rng: Rng(0),
        }
    }

    /// Resamples the topic of `token` (iteration 0: draws it uniformly), keeping the counts of
    /// its document, its word and the topic totals current. (Inlined: in `lda_ap` it is called
    /// from the loop's body through the runtime's generic code, where a call per token cost 3%.)
    #[inline(always)]
    pub fn token(
        &mut self,
        doc: &mut Doc,
        row: &mut WordRow,
        totals: &mut [u32],
        token: &mut Token,
    ) {
        let (d, w, old) = (token.0, token.1, token.2 as usize);
        if self.init {
            let k = self.rng.below(totals.len());
            doc[k] += 1;
            totals[k] += 1;
            add_token(row, totals.len(), k, None);
            token.2 = k as u32;
            return;
        }
        // The word's row first: it is likely not in the L1 cache, and nothing below waits for
        // it until the draw.
        remove_token(row, old);
        if d != self.doc {
            // A new run of the document's tokens: fresh coefficients, and random numbers that
            // depend only on the seed, the iteration, the document and the run's first word.
            self.doc = d;
            self.rng = Rng(mix(self.seed ^ mix(u64::from(d) << 32 | u64::from(w))));
            for (k, &n_k) in totals.iter().enumerate() {
                // 1 / (n_k + W b) is kept from the last time n_k was seen: a division per
                // topic and document would cost more than all of the document's draws.
                if self.inverse_of[k] != n_k {
                    (self.inverse_of[k], self.inverse_total[k]) = (n_k, self.inverse(n_k));
                }
            }
            let inverses = self.coef.iter_mut().zip(&self.inverse_total);
            for ((c, &inverse), &n_dk) in inverses.zip(doc.iter()) {
                *c = (f64::from(n_dk) + self.alpha) * inverse;
            }
            self.coef_sum = sum_in_lanes(&self.coef, |c| c);
        }
        let kept = (self.coef[old], self.coef_sum);
        doc[old] -= 1;
        totals[old] -= 1;
        self.refresh(old, doc[old], totals[old]);
        let (new, at) = self.draw(row);
        doc[new] += 1;
        totals[new] += 1;
        add_token(row, totals.len(), new, at);
        if new == old {
            // Back where it was: the coefficients before the move are exact again.
            (self.coef[old], self.coef_sum) = kept;
        } else {
            self.refresh(new, doc[new], totals[new]);
        }
        token.2 = new as u32;
    }

    /// Topic `k` of the current document now has `n_dk` tokens, `n_k` in all.
    #[inline(always)]
    fn refresh(&mut self, k: usize, n_dk: u32, n_k: u32) {
        (self.inverse_of[k], self.inverse_total[k]) = (n_k, self.inverse(n_k));
        let c = (f64::from(n_dk) + self.alpha) * self.inverse_total[k];
        self.coef_sum += c - self.coef[k];
        self.coef[k] = c;
    }

    /// `1 / (n_k + W b)`.
    #[inline(always)]
    fn inverse(&self, n_k: u32) -> f64 {
        1.0 / (f64::from(n_k) + self.w_beta)
    }

    /// Draws a topic for a token of the word whose row is `row`, from the counts without it;
    /// returns it and its place in the row's list of nonzero topics, if it is there.
    #[inline(always)]
    fn draw(&mut self, row: &WordRow) -> (usize, Option<usize>) {
        let (counts, nonzero) = row;
        // The word bucket's weights c_k n_kw, summed over the word's nonzero topics. (Both
        // slices K long: one bounds check serves both.)
        let (coef, counts) = (&self.coef[..], &counts[..self.coef.len()]);
        let weight = |k: u16| coef[usize::from(k)] * f64::from(counts[usize::from(k)]);
        let word_mass = sum_in_lanes(nonzero, weight);
        let prior_mass = self.beta * self.coef_sum.max(0.0);
        let mut u = self.rng.unit() * (word_mass + prior_mass);
        if u < word_mass {
            // The running sums again: recomputing them over the first entries (the largest
            // counts, where the search usually stops) costs less than storing them all.
            // (Rounding may leave u past the last sum: the last topic is as good as any.)
            let i = nonzero.iter().position(|&k| {
                u -= weight(k);
                u < 0.0
            });
            let i = i.unwrap_or(nonzero.len() - 1);
            return (usize::from(nonzero[i]), Some(i));
        }
        u = (u - word_mass) / self.beta;
        for (k, &c) in self.coef.iter().enumerate() {
            u -= c;
            if u < 0.0 {
                return (k, None);
            }
        }
        (self.coef.len() - 1, None)
    }
}

/// The sum of `value(x)` over `items`, in four partial sums so that each addition need not wait
/// for the one before.
#[inline(always)]
fn sum_in_lanes<T: Copy>(items: &[T], value: impl Fn(T) -> f64) -> f64 {
    let (mut lanes, quads) = ([0.0; 4], items.chunks_exact(4));
    let rest: f64 = quads.remainder().iter().map(|&x| value(x)).sum();
    quads.for_each(|q| (0..4).for_each(|j| lanes[j] += value(q[j])));
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + rest
}

/// Adds a token of topic `k` to a word's row (of K topics), whose list holds `k` at `at` if
/// known.
#[inline(always)]
fn add_token(row: &mut WordRow, topics: usize, k: usize, at: Option<usize>) {
    let (counts, nonzero) = row;
    if counts.is_empty() {
        counts.resize(topics, 0);
    }
    counts[k] += 1;
    if counts[k] == 1 {
        nonzero.push(k as u16); // a count of 1 is the smallest: the order holds
    } else if let Some(mut i) = at {
        // Move it ahead of the entries it now outnumbers, to keep the list largest first.
        while i > 0 && counts[usize::from(nonzero[i - 1])] < counts[k] {
            nonzero.swap(i - 1, i);
            i -= 1;
        }
    }
}

/// Takes a token of topic `k` out of a word's row.
#[inline(always)]
fn remove_token(row: &mut WordRow, k: usize) {
    let (counts, nonzero) = row;
    counts[k] -= 1;
    if counts[k] == 0 {
        // It was a count of 1, near the list's end (the order is only kept roughly).
        let i = nonzero.iter().rposition(|&t| usize::from(t) == k);
        nonzero.remove(i.expect("a topic with tokens is in its word's list"));
    }
}

/// The parts of `log p(w, z)` that are sums over the rows:
/// `sum_d [ lnG(K a) - lnG(n_d + K a) + sum_k (lnG(n_dk + a) - lnG(a)) ]` over the documents
/// plus `sum_w sum_k (lnG(n_kw + b) - lnG(b))` over the words.
pub fn row_terms(docs: &[Doc], words: &[WordRow], opts: &Options) -> f64 {
    let (a, b, k_alpha) = (opts.alpha, opts.beta, opts.topics as f64 * opts.alpha);
    let (ln_gamma_a, ln_gamma_b) = (ln_gamma(a), ln_gamma(b));
    let mut sum = 0.0;
    for counts in docs {
        let nonzero = counts.iter().filter(|&&n| n > 0);
        sum += nonzero.map(|&n| ln_gamma(f64::from(n) + a) - ln_gamma_a).sum::<f64>();
        let length: u32 = counts.iter().sum();
        sum += ln_gamma(k_alpha) - ln_gamma(f64::from(length) + k_alpha);
    }
    for (counts, _) in words {
        let nonzero = counts.iter().filter(|&&n| n > 0);
        sum += nonzero.map(|&n| ln_gamma(f64::from(n) + b) - ln_gamma_b).sum::<f64>();
    }
    sum
}

/// `ln Γ(x)`.
fn ln_gamma(x: f64) -> f64 {
    libm::lgamma(x)
}

/// SplitMix64's finaliser: a well-mixed function of `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64: random numbers from a counter.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// One iteration of the trace.
#[derive(Clone, Debug)]
pub struct Record {
    /// Iterations done (0: the initial random topics).
    pub iteration: usize,
    /// Seconds of sampling in this iteration.
    pub seconds: f64,
    /// `log p(w, z) / N`.
    pub loglik_per_token: f64,
}

/// The trace of a training run.
#[derive(Clone, Debug)]
pub struct Summary {
    /// One record per iteration, from 0.
    pub records: Vec<Record>,
    /// Tokens `N`.
    pub tokens: u64,
    opts: Options,
    clock: Instant,
    sampling: f64,
}

impl Summary {
    fn new(opts: &Options) -> Summary {
        Summary {
            records: Vec::new(),
            tokens: 0,
            opts: opts.clone(),
            clock: Instant::now(),
            sampling: 0.0,
        }
    }

    /// A sweep has ended: its sampling time stops here.
    fn sampled(&mut self) {
        self.sampling = self.clock.elapsed().as_secs_f64();
    }

    /// Completes the iteration's record from the row sums and `n_k`.
    fn record(&mut self, rows: f64, topic_totals: &[u32]) {
        let o = &self.opts;
        let w_beta = o.words as f64 * o.beta;
        let totals = topic_totals.iter().map(|&n| ln_gamma(f64::from(n) + w_beta));
        let loglik = rows + o.topics as f64 * ln_gamma(w_beta) - totals.sum::<f64>();
        self.tokens = topic_totals.iter().map(|&n| u64::from(n)).sum();
        self.records.push(Record {
            iteration: self.records.len(),
            seconds: self.sampling,
            loglik_per_token: loglik / self.tokens as f64,
        });
        self.clock = Instant::now();
    }

    /// Tokens sampled per second over iterations 1 and on.
    pub fn tokens_per_second(&self) -> f64 {
        let seconds: f64 = self.records.iter().skip(1).map(|r| r.seconds).sum();
        self.tokens as f64 * (self.records.len() - 1) as f64 / seconds
    }

    /// `log p(w, z) / N` after the last iteration.
    pub fn loglik_per_token(&self) -> f64 {
        self.records.last().map_or(f64::NAN, |r| r.loglik_per_token)
    }

    /// Prints one line per iteration and the JSON summary.
    pub fn print(&self) {
        for r in &self.records {
            let speed = self.tokens as f64 / r.seconds / 1e6;
            println!(
                "iteration {:4}  loglik/token {:.4}  {:.3} s  {speed:.2} M tokens/s",
                r.iteration, r.loglik_per_token, r.seconds
            );
        }
        let seconds: f64 = self.records.iter().skip(1).map(|r| r.seconds).sum();
        println!(
            "{{\"iterations\":{},\"tokens\":{},\"tokens_per_second\":{:.0},\"loglik_per_token\":{:.6},\"seconds\":{:.3},\"peak_memory_kb\":{}}}",
            self.records.len() - 1,
            self.tokens,
            self.tokens_per_second(),
            self.loglik_per_token(),
            seconds,
            peak_memory_kb().map_or("null".into(), |kb| kb.to_string())
        );
    }
}

/// The process's peak resident memory (`VmHWM` in `/proc/self/status`), in KiB.
fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
