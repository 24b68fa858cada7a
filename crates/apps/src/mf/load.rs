//! Sharded loading: no process ever holds all ratings.
//!
//! 1. Worker `p` of `P` reads and parses byte-range shard `p` of the training file (and of the
//!    test file) with shard-local ids ([`strads_io::read_ratings_shard`]); one all-gather of each
//!    shard's status decides, the same on every worker, whether the input is good (otherwise
//!    every worker fails with the first bad line of the file: the first failing shard's).
//! 2. The workers agree on the dense numbering of users and of items (the canonical order of
//!    [`strads_io::read_ratings`], so the indices are one process's whatever the cluster shape)
//!    without any worker holding every id token ([`super::ids`]: each id is numbered by the
//!    worker that owns its range of the order), and each gets the global rating counts per id
//!    and builds the same blocks (`strads_core::balanced_blocks`, balanced by ratings). Test ids
//!    are looked up at their owners.
//!
//!    A training file that is a rating cache ([`strads_io::RatingsCache`], `strads mf --cache`)
//!    is read instead in equal parts of its ratings, already numbered, and worker `p` reads the
//!    `p`-th equal part of the ids' tokens as the ids it owns: no numbering to compute.
//! 3. The mean rating and the mean squared rating are summed in file order along the workers
//!    ([`chain`]: worker `p` continues worker `p - 1`'s sum over its shard, which is the file's
//!    next part), and so is the squared error of the test ratings with an unseen id: the same
//!    floating-point sums as a sequential pass over the whole file, for any cluster shape.
//! 4. Every rating goes to the owner of its user's block (the W half, with the test ratings) in
//!    rounds of raw triples (`row u32, column u32, value f64`, little-endian), each placed on
//!    receipt into the side being built ([`SideBuilder`]: every worker announces its count per
//!    row first, and a rating goes where the concatenation of the sources, which is file order,
//!    would put it); then the parsed shard is freed and the H half is routed the same way from
//!    the user side's ratings. Stable sorts within rows give the same layouts as sides built from
//!    the whole file.
//!
//!    Ratings held in memory ([`InMemoryRatings`], one process) are not sent anywhere: every
//!    worker reads the shared arrays and builds its two sides from the ratings of its blocks, in
//!    array order, which is the order the all-to-alls would deliver them in, so the layouts are
//!    the same, without a copy of the ratings or their encoding.

use std::ops::Range;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use strads_core::balanced_blocks;
use strads_engine::{EngineError, Worker};
use strads_io::{
    check_ratings_total, is_ratings_cache, read_ratings_shard, CacheSide, DataError, IdTokens,
    RatingsCache, RatingsShard,
};

use super::ids::{number_ids, OwnedIds};
use super::shard::{build_side, Side, SideBuilder, Triples};
use super::{memory_needed, MfParams};
use crate::error::AppError;

/// What a worker knows of the whole problem (ids, counts, blocks, global statistics) besides its
/// own share of the ratings.
pub struct Problem {
    /// The user ids this worker owns (their tokens; see [`super::ids`]).
    pub user_ids: OwnedIds,
    /// The item ids this worker owns.
    pub item_ids: OwnedIds,
    /// Distinct users in the training set.
    pub n_users: usize,
    /// Distinct items in the training set.
    pub n_items: usize,
    /// Training ratings.
    pub n_train: usize,
    /// Test ratings, seen and unseen.
    pub n_test: usize,
    /// Test ratings with a user or item absent from the training set.
    pub unseen: usize,
    /// Sum of `(r - global mean)^2` over those, in test file order.
    pub unseen_sse: f64,
    /// Training ratings per user of this worker's block (`user_blocks[worker]`). Only the
    /// block's: the whole list is as long as the users (4 MB per million), in every worker.
    pub user_counts: Vec<u64>,
    /// Training ratings per item.
    pub item_counts: Vec<u64>,
    /// Block of users owned by each worker.
    pub user_blocks: Vec<Range<usize>>,
    /// Block of items owned by each worker.
    pub item_blocks: Vec<Range<usize>>,
    /// Mean training rating.
    pub global_mean: f64,
    /// Mean squared training rating.
    pub mean_square: f64,
    /// Bytes of the rating files this worker read (its shards' lines).
    pub bytes_read: u64,
}

/// A worker's part after loading: the shared facts and its two sides.
pub struct Share {
    /// The facts every worker shares.
    pub problem: Problem,
    /// Owned users with their training and seen test ratings.
    pub users: Side,
    /// Owned items with their training ratings.
    pub items: Side,
}

/// Tags of the point-to-point messages of [`chain`] (below the collectives' tags).
const MEAN_CHAIN: u64 = 0x6d66_0001;
const UNSEEN_CHAIN: u64 = 0x6d66_0002;

/// What a worker tells the others after parsing: each file's rating count, or its error.
#[derive(Serialize, Deserialize)]
struct ShardStatus {
    train: Result<u64, String>,
    test: Option<Result<u64, String>>,
}

/// Training ratings held in memory (the Python bindings' arrays) instead of a file: users and
/// items as dense indices (every index below the largest appears), shared by the worker threads
/// of one process; worker `p` takes the `p`-th contiguous range of ratings as its shard, as if
/// it were the file's `p`-th byte range. The ids in the model are the indices as decimal tokens.
#[derive(Clone, Debug)]
pub struct InMemoryRatings {
    users: Arc<Vec<u32>>,
    items: Arc<Vec<u32>>,
    values: Arc<Vec<f64>>,
    /// Ratings per user index and per item index.
    user_counts: Arc<Vec<u64>>,
    item_counts: Arc<Vec<u64>>,
}

impl InMemoryRatings {
    /// Checks the arrays (equal lengths, at least one rating, finite values, dense indices),
    /// naming the first offending rating or the first index without one.
    pub fn new(users: Vec<u32>, items: Vec<u32>, values: Vec<f64>) -> Result<Self, AppError> {
        let bad = |m: String| Err(AppError::InvalidArgument(m));
        if users.len() != items.len() || users.len() != values.len() {
            return bad(format!(
                "{} users, {} items and {} ratings: one of each per rating",
                users.len(),
                items.len(),
                values.len()
            ));
        }
        if values.is_empty() {
            return bad("no ratings".into());
        }
        if let Some(k) = values.iter().position(|v| !v.is_finite()) {
            return bad(format!("rating {k} is {}, not a finite number", values[k]));
        }
        let counts = |indices: &[u32], what: &str| -> Result<Vec<u64>, AppError> {
            let n = indices.iter().max().map_or(0, |&m| m as usize + 1);
            let counts = local_counts(indices, n);
            match counts.iter().position(|&c| c == 0) {
                Some(missing) => Err(AppError::InvalidArgument(format!(
                    "{what} index {missing} has no rating: the indices must be dense (every \
                     index below the largest one used)"
                ))),
                None => Ok(counts),
            }
        };
        let (user_counts, item_counts) = (counts(&users, "user")?, counts(&items, "item")?);
        Ok(InMemoryRatings {
            users: Arc::new(users),
            items: Arc::new(items),
            values: Arc::new(values),
            user_counts: Arc::new(user_counts),
            item_counts: Arc::new(item_counts),
        })
    }

    /// Worker `p` of `n_workers`'s part, numbered already as a cache's is (see
    /// [`CachedShard`]): the `p`-th run of the ratings (shared, not copied), and the `p`-th run
    /// of the user and of the item indices as the ids it owns. Dense indices in numeric order
    /// are the canonical numbering of their decimal tokens, so no worker needs to number
    /// anything.
    fn numbered_shard(&self, p: usize, n_workers: usize) -> MemoryShard {
        let run = |n: usize| p * n / n_workers..(p + 1) * n / n_workers;
        let token = |index: usize| index.to_string().into_bytes();
        let owned = |n: usize| {
            let splitters = (1..n_workers).map(|q| token(q * n / n_workers)).collect();
            let mut tokens = IdTokens::new();
            run(n).for_each(|index| tokens.push(&token(index)));
            OwnedIds::from_parts(splitters, &tokens, run(n).start as u32)
        };
        MemoryShard {
            ratings: self.clone(),
            run: run(self.values.len()),
            user_ids: owned(self.user_counts.len()),
            item_ids: owned(self.item_counts.len()),
        }
    }
}

/// Loads this worker's share (see the module's description). `threads` is the worker threads
/// per process (for the memory check of this process's share); `row_cost` balances the blocks
/// as in [`balanced_blocks`] (ratings + `row_cost` per row).
pub fn load(
    worker: &mut Worker<'_>,
    params: &MfParams,
    threads: usize,
    row_cost: u64,
) -> Result<Share, AppError> {
    let (p, n_workers) = (worker.index(), worker.peers());
    // 1. Parse this worker's shards and agree on whether every shard is good.
    let train = match &params.train_in_memory {
        Some(ratings) => Ok(TrainShard::Memory(ratings.numbered_shard(p, n_workers))),
        None => match is_ratings_cache(&params.train) {
            Ok(true) => read_cached_shard(&params.train, p, n_workers).map(TrainShard::Cached),
            Ok(false) => {
                read_ratings_shard(&params.train, params.format, p, n_workers).map(TrainShard::Text)
            }
            Err(error) => Err(error),
        },
    };
    let test = match (&params.test, &train) {
        (Some(path), Ok(_)) => Some(read_ratings_shard(path, params.format, p, n_workers)),
        _ => None,
    };
    let status = ShardStatus {
        train: count_or_message(&train, TrainShard::len),
        test: test
            .as_ref()
            .map(|t| count_or_message(t, RatingsShard::len)),
    };
    let statuses: Vec<ShardStatus> = worker.all_gather(&status)?;
    let train = agree(p, train, statuses.iter().map(|s| Some(&s.train)))?;
    let n_train = statuses
        .iter()
        .map(|s| *s.train.as_ref().unwrap_or(&0))
        .sum::<u64>();
    check_ratings_total(&params.train, train.mm_header(), n_train as usize)?;
    let (test, n_test) = match test {
        Some(test) => {
            let test = agree(p, test, statuses.iter().map(|s| s.test.as_ref()))?;
            let n_test = statuses
                .iter()
                .filter_map(|s| s.test.as_ref()?.as_ref().ok())
                .sum::<u64>();
            let path = params.test.as_ref().expect("a test file");
            check_ratings_total(path, test.mm_header.as_ref(), n_test as usize)?;
            (Some(test), n_test as usize)
        }
        None => (None, 0),
    };
    let bytes_read = train.bytes_read() + test.as_ref().map_or(0, |t| t.bytes_read);

    // 2. The dense numbering, the global counts and the blocks: each worker holds only its
    // range of the ids (`ids`). A cache holds the ratings numbered already, and the counts.
    let (train, user_ids, user_counts, item_ids, item_counts) = match train {
        TrainShard::Text(mut shard) => {
            let users = number_ids(
                worker,
                &shard.user_ids,
                &local_counts(&shard.users, shard.user_ids.len()),
            )?;
            shard
                .users
                .iter_mut()
                .for_each(|u| *u = users.map[*u as usize]);
            let items = number_ids(
                worker,
                &shard.item_ids,
                &local_counts(&shard.items, shard.item_ids.len()),
            )?;
            shard
                .items
                .iter_mut()
                .for_each(|i| *i = items.map[*i as usize]);
            let train = DenseRatings {
                users: shard.users,
                items: shard.items,
                values: shard.values,
            };
            (
                TrainRatings::Owned(train),
                users.owned,
                users.counts,
                items.owned,
                items.counts,
            )
        }
        TrainShard::Cached(cached) => (
            TrainRatings::Owned(cached.ratings),
            cached.user_ids,
            cached.user_counts,
            cached.item_ids,
            cached.item_counts,
        ),
        TrainShard::Memory(shard) => {
            let (user_counts, item_counts) = (
                shard.ratings.user_counts.to_vec(),
                shard.ratings.item_counts.to_vec(),
            );
            (
                TrainRatings::Shared {
                    ratings: shard.ratings,
                    run: shard.run,
                },
                shard.user_ids,
                user_counts,
                shard.item_ids,
                item_counts,
            )
        }
    };
    let (n_users, n_items) = (user_counts.len(), item_counts.len());
    let cost = |counts: &[u64]| -> Vec<u64> { counts.iter().map(|c| c + row_cost).collect() };
    let user_blocks = balanced_blocks(&cost(&user_counts), n_workers);
    let item_blocks = balanced_blocks(&cost(&item_counts), n_workers);

    // 3. Global statistics, summed in file order.
    let (sum, sum_squares) = chain(worker, MEAN_CHAIN, |previous: Option<(f64, f64)>| {
        let values = train.run_values();
        match previous {
            // Worker 0 starts as `Iterator::sum` does, the others go on from their predecessor.
            None => (
                values.iter().sum::<f64>(),
                values.iter().map(|r| r * r).sum::<f64>(),
            ),
            Some((s, q)) => (
                values.iter().fold(s, |a, &r| a + r),
                values.iter().fold(q, |a, &r| a + r * r),
            ),
        }
    })?;
    let n = n_train.max(1) as f64;
    let (global_mean, mean_square) = (sum / n, sum_squares / n);
    // Test ratings onto the training ids: the seen ones (dense user, dense item, value) and
    // the unseen ones' count and squared error.
    let mut seen: (Vec<u32>, Vec<u32>, Vec<f64>) = Default::default();
    let mut unseen_here = Vec::new();
    if let Some(test) = test {
        let users = user_ids.lookup(worker, &test.user_ids)?;
        let items = item_ids.lookup(worker, &test.item_ids)?;
        for k in 0..test.len() {
            match (users[test.users[k] as usize], items[test.items[k] as usize]) {
                (Some(u), Some(i)) => {
                    seen.0.push(u);
                    seen.1.push(i);
                    seen.2.push(test.values[k]);
                }
                _ => unseen_here.push(test.values[k]),
            }
        }
    }
    let (unseen_sse, unseen) = chain(worker, UNSEEN_CHAIN, |previous: Option<(f64, u64)>| {
        let (start, count) = previous.unwrap_or((0.0, 0));
        let sse = unseen_here.iter().fold(start, |a, &r| {
            let e = r - global_mean;
            a + e * e
        });
        (sse, count + unseen_here.len() as u64)
    })?;

    // 4. This process's share is checked against the memory limit before it is sent.
    let user_owner = |u: u32| user_blocks.partition_point(|r| r.end <= u as usize);
    let item_owner = |i: u32| item_blocks.partition_point(|r| r.end <= i as usize);
    let mut test_to = vec![0u64; n_workers];
    seen.0.iter().for_each(|&u| test_to[user_owner(u)] += 1);
    let test_to_all: Vec<Vec<u64>> = worker.all_gather(&test_to)?;
    let process = p / threads;
    let local_workers = process * threads..((process + 1) * threads).min(n_workers);
    let block_sum = |counts: &[u64], blocks: &[Range<usize>]| -> u64 {
        local_workers
            .clone()
            .map(|q| counts[blocks[q].clone()].iter().sum::<u64>())
            .sum()
    };
    let copies = block_sum(&user_counts, &user_blocks) + block_sum(&item_counts, &item_blocks);
    let test_here: u64 = test_to_all
        .iter()
        .map(|to| to[local_workers.clone()].iter().sum::<u64>())
        .sum();
    let needed = memory_needed(
        params.rank,
        threads,
        n_workers,
        n_users,
        n_items,
        copies as usize,
        test_here as usize,
    );
    let what = format!(
        "{n_users} users x {n_items} items with {n_train} training ratings, of which this process \
         holds {} (stored twice, by user and by item: {copies} copies), at rank {} on {threads} \
         worker thread(s),",
        copies / 2,
        params.rank
    );
    let checked = strads_io::check_memory(&what, needed).map_err(AppError::InvalidArgument);
    let failures: Vec<Option<String>> =
        worker.all_gather(&checked.as_ref().err().map(|e| e.to_string()))?;
    checked?;
    if let Some(message) = failures.into_iter().flatten().next() {
        return Err(AppError::RemoteData(message));
    }
    // Cut down in place (a copy would be allocated while the whole list still is).
    let mut user_counts = user_counts;
    user_counts.truncate(user_blocks[p].end);
    user_counts.drain(..user_blocks[p].start);
    user_counts.shrink_to_fit();

    // 5. Every rating to its owners; each side built as soon as its ratings are in.
    let (users, items) = match train {
        TrainRatings::Owned(train) => {
            // Each side is built as its ratings arrive (no routed copy beside it), and the item
            // side is routed from the user side, so the parsed shard is freed first: at most
            // the shard and one side, or two sides, are held at once (32 bytes a rating at the
            // peak, 48 with routed copies: at Netflix's shape 2.9 GB instead of 4.3).
            let test_by_user = route(worker, (&seen.0, &seen.1, &seen.2), user_owner)?;
            drop(seen);
            let users = route_into_side(
                worker,
                &TripleRatings((&train.users, &train.items, &train.values)),
                user_owner,
                &user_blocks,
                n_items,
                Some((&test_by_user.0, &test_by_user.1, &test_by_user.2)),
            )?;
            drop((train, test_by_user));
            let items = route_into_side(
                worker,
                &TransposedSide(&users),
                item_owner,
                &item_blocks,
                n_users,
                None,
            )?;
            (users, items)
        }
        // Every worker of the one process reads the shared arrays (no test ratings: `solve`
        // refuses a test file with ratings in memory); `compress` keeps its blocks' ratings in
        // array order, the order `route` would deliver them in.
        TrainRatings::Shared { ratings, .. } => {
            let (u, i, v) = (&ratings.users[..], &ratings.items[..], &ratings.values[..]);
            let users = build_side(user_blocks[p].clone(), (u, i, v), None, n_items);
            let items = build_side(item_blocks[p].clone(), (i, u, v), None, n_users);
            (users, items)
        }
    };

    let problem = Problem {
        user_ids,
        item_ids,
        n_users,
        n_items,
        n_train: n_train as usize,
        n_test,
        unseen: unseen as usize,
        unseen_sse,
        user_counts,
        item_counts,
        user_blocks,
        item_blocks,
        global_mean,
        mean_square,
        bytes_read,
    };
    Ok(Share {
        problem,
        users,
        items,
    })
}

fn count_or_message<T>(
    shard: &Result<T, DataError>,
    len: impl Fn(&T) -> usize,
) -> Result<u64, String> {
    match shard {
        Ok(shard) => Ok(len(shard) as u64),
        Err(error) => Err(error.to_string()),
    }
}

/// This worker's shard if no worker failed; otherwise the first failing worker's error (in
/// worker order, so the file's first bad line): this worker's own, or the other's message.
fn agree<'a, T>(
    p: usize,
    local: Result<T, DataError>,
    statuses: impl Iterator<Item = Option<&'a Result<u64, String>>>,
) -> Result<T, AppError> {
    let first_failure = statuses.enumerate().find_map(|(q, s)| match s {
        Some(Err(message)) => Some((q, message.clone())),
        _ => None,
    });
    match (first_failure, local) {
        (Some((q, _)), Err(own)) if q == p => Err(own.into()),
        (Some((_, message)), _) => Err(AppError::RemoteData(message)),
        (None, local) => Ok(local?),
    }
}

/// This worker's training ratings as read: a text shard with shard-local ids (numbered with the
/// other workers next), its part of a cache, numbered already, or its run of ratings held in
/// memory, numbered already.
enum TrainShard {
    Text(RatingsShard),
    Cached(CachedShard),
    Memory(MemoryShard),
}

impl TrainShard {
    fn len(&self) -> usize {
        match self {
            TrainShard::Text(shard) => shard.len(),
            TrainShard::Cached(cached) => cached.ratings.values.len(),
            TrainShard::Memory(shard) => shard.run.len(),
        }
    }

    fn bytes_read(&self) -> u64 {
        match self {
            TrainShard::Text(shard) => shard.bytes_read,
            TrainShard::Cached(cached) => cached.bytes_read,
            TrainShard::Memory(_) => 0,
        }
    }

    fn mm_header(&self) -> Option<&strads_io::MmHeader> {
        match self {
            TrainShard::Text(shard) => shard.mm_header.as_ref(),
            TrainShard::Cached(_) | TrainShard::Memory(_) => None,
        }
    }
}

/// Ratings in file order with dense user and item indices.
struct DenseRatings {
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f64>,
}

/// A worker's run of the ratings held in memory, and the ids it owns (as [`CachedShard`]'s).
struct MemoryShard {
    ratings: InMemoryRatings,
    run: Range<usize>,
    user_ids: OwnedIds,
    item_ids: OwnedIds,
}

/// This worker's training ratings once numbered: its own (from a file, to be routed to their
/// owners), or every rating, shared by the workers of the one process (held in memory).
enum TrainRatings {
    Owned(DenseRatings),
    Shared {
        ratings: InMemoryRatings,
        /// This worker's run, whose values it sums in the global statistics' chain.
        run: Range<usize>,
    },
}

impl TrainRatings {
    /// The values of this worker's part of the file (or of the arrays), in order.
    fn run_values(&self) -> &[f64] {
        match self {
            TrainRatings::Owned(ratings) => &ratings.values,
            TrainRatings::Shared { ratings, run } => &ratings.values[run.clone()],
        }
    }
}

/// Worker `p`'s part of a rating cache ([`strads_io::RatingsCache`]): the `p`-th of `P` equal
/// runs of its ratings (file order, so the sums folded in worker order are a pass over the
/// file's), and the `p`-th of `P` equal runs of the user and of the item indices as the ids it
/// owns, with the first token of every other run as the splitters: the same numbering and
/// ownership rule as [`number_ids`], read instead of computed.
struct CachedShard {
    ratings: DenseRatings,
    user_ids: OwnedIds,
    user_counts: Vec<u64>,
    item_ids: OwnedIds,
    item_counts: Vec<u64>,
    bytes_read: u64,
}

fn read_cached_shard(
    path: &std::path::Path,
    p: usize,
    n_workers: usize,
) -> Result<CachedShard, DataError> {
    let mut cache = RatingsCache::open(path)?;
    let header = *cache.header();
    // Where run `q` of `P` of `n` things starts.
    let run_start = |n: u64, q: usize| (u128::from(n) * q as u128 / n_workers as u128) as u64;
    let (users, items, values) =
        cache.read_ratings(run_start(header.ratings, p)..run_start(header.ratings, p + 1))?;
    let mut owned = |side: CacheSide, n: u64| -> Result<OwnedIds, DataError> {
        if n > u64::from(u32::MAX) {
            return Err(DataError::invalid(
                path,
                format!("{n} distinct ids: more than dense 32-bit indices can number"),
            ));
        }
        let range = run_start(n, p)..run_start(n, p + 1);
        let tokens = cache.read_tokens(side, range.clone())?;
        let mut splitters = Vec::with_capacity(n_workers - 1);
        for q in 1..n_workers {
            let at = run_start(n, q);
            let token = cache.read_tokens(side, at..(at + 1).min(n))?;
            splitters.push(token.iter().next().unwrap_or_default().to_vec());
        }
        Ok(OwnedIds::from_parts(splitters, &tokens, range.start as u32))
    };
    let user_ids = owned(CacheSide::Users, header.users)?;
    let item_ids = owned(CacheSide::Items, header.items)?;
    let user_counts = cache.read_counts(CacheSide::Users)?;
    let item_counts = cache.read_counts(CacheSide::Items)?;
    Ok(CachedShard {
        ratings: DenseRatings {
            users,
            items,
            values,
        },
        user_ids,
        user_counts,
        item_ids,
        item_counts,
        bytes_read: cache.bytes_read(),
    })
}

/// How many ratings each local index has.
fn local_counts(indices: &[u32], n: usize) -> Vec<u64> {
    let mut counts = vec![0u64; n];
    indices.iter().for_each(|&i| counts[i as usize] += 1);
    counts
}

/// A fold along the workers in worker order: worker 0 computes `step(None)`, worker `p` then
/// `step(Some(what worker p - 1 computed))`; every worker returns the last worker's value.
fn chain<T: Serialize + DeserializeOwned>(
    worker: &mut Worker<'_>,
    tag: u64,
    step: impl FnOnce(Option<T>) -> T,
) -> Result<T, EngineError> {
    let (p, n_workers) = (worker.index(), worker.peers());
    let previous = if p == 0 {
        None
    } else {
        let bytes = loop {
            if let Some((_, bytes)) = worker.take(tag).pop() {
                break bytes;
            }
            worker.step(true);
        };
        Some(bincode::deserialize(&bytes).map_err(|e| EngineError::Codec(e.to_string()))?)
    };
    let value = step(previous);
    if p + 1 < n_workers {
        worker.send(p + 1, tag, &value)?;
        worker.flush();
    }
    let last = n_workers - 1;
    worker.broadcast(last, (p == last).then_some(&value))
}

/// Ratings as owned parallel arrays: row, other-side row, value.
type OwnedTriples = (Vec<u32>, Vec<u32>, Vec<f64>);

/// Sends every rating `(row, column, value)` to worker `owner(row)` and returns the ratings sent
/// to this worker, in source order (each source's in its order).
fn route(
    worker: &mut Worker<'_>,
    ratings: Triples<'_>,
    owner: impl Fn(u32) -> usize,
) -> Result<OwnedTriples, EngineError> {
    let received: Vec<u64> = {
        let mut counts = vec![0u64; worker.peers()];
        ratings.0.iter().for_each(|&r| counts[owner(r)] += 1);
        worker.all_to_all(&counts)?
    };
    let mut start = Vec::with_capacity(received.len());
    let mut total = 0;
    for &count in &received {
        start.push(total);
        total += count as usize;
    }
    let mut triples: OwnedTriples = (vec![0; total], vec![0; total], vec![0.0; total]);
    exchange(
        worker,
        &TripleRatings(ratings),
        owner,
        |source, k, row, col, value| {
            let at = start[source] + k;
            triples.0[at] = row;
            triples.1[at] = col;
            triples.2[at] = value;
        },
    )?;
    Ok(triples)
}

/// Sends every rating `(row, column, value)` to worker `owner(row)`, which places it straight
/// into its side of `blocks` ([`SideBuilder`]: each worker announces its count per row first);
/// this worker's side, with `test` (its own test ratings, already routed) beside.
fn route_into_side(
    worker: &mut Worker<'_>,
    ratings: &impl RatingSource,
    owner: impl Fn(u32) -> usize,
    blocks: &[Range<usize>],
    n_other: usize,
    test: Option<Triples<'_>>,
) -> Result<Side, AppError> {
    let mut row_counts: Vec<Vec<u32>> = blocks.iter().map(|b| vec![0u32; b.len()]).collect();
    for k in 0..ratings.len() {
        let r = ratings.row(k);
        let d = owner(r);
        row_counts[d][r as usize - blocks[d].start] += 1;
    }
    let received: Vec<Vec<u32>> = worker.all_to_all(&row_counts)?;
    drop(row_counts);
    let mut builder = SideBuilder::new(blocks[worker.index()].clone(), received, n_other);
    exchange(worker, ratings, owner, |source, _, row, col, value| {
        builder.place(source, row, col, value)
    })?;
    builder.finish(test).map_err(AppError::Inconsistent)
}

/// Ratings to route, by position `k < len()`: each one's row (which decides its owner) and its
/// encoding as a raw triple.
trait RatingSource {
    /// How many ratings.
    fn len(&self) -> usize;
    /// Rating `k`'s row.
    fn row(&self, k: usize) -> u32;
    /// Appends the triples of ratings `ks` (increasing positions, all for one destination) to
    /// `message`; `cursor` is that destination's state between calls, 0 at first.
    fn encode(&self, ks: &[u32], cursor: &mut usize, message: &mut Vec<u8>);
}

/// Appends the raw triple `row u32, column u32, value f64` (little-endian) to `message`.
fn push_triple(message: &mut Vec<u8>, row: u32, col: u32, value: f64) {
    message.extend_from_slice(&row.to_le_bytes());
    message.extend_from_slice(&col.to_le_bytes());
    message.extend_from_slice(&value.to_le_bytes());
}

/// Ratings as parallel arrays: row, column, value.
struct TripleRatings<'a>(Triples<'a>);

impl RatingSource for TripleRatings<'_> {
    fn len(&self) -> usize {
        self.0 .0.len()
    }

    fn row(&self, k: usize) -> u32 {
        self.0 .0[k]
    }

    fn encode(&self, ks: &[u32], _: &mut usize, message: &mut Vec<u8>) {
        let (rows, cols, values) = self.0;
        for &k in ks {
            let k = k as usize;
            push_triple(message, rows[k], cols[k], values[k]);
        }
    }
}

/// The user side's training ratings read as item-side triples `(item, user, value)`, in the
/// user side's order (per item the order the file's would have after the item side's sort by
/// user), straight from the side: no transposed copy of its columns beside it (8 bytes a rating
/// of fresh memory, at the load's peak).
struct TransposedSide<'a>(&'a Side);

impl RatingSource for TransposedSide<'_> {
    fn len(&self) -> usize {
        self.0.cols.len()
    }

    fn row(&self, k: usize) -> u32 {
        self.0.needed[self.0.cols[k] as usize]
    }

    /// `cursor` is the user row of the last rating encoded: positions increase, so each
    /// destination walks the rows once.
    fn encode(&self, ks: &[u32], cursor: &mut usize, message: &mut Vec<u8>) {
        let side = self.0;
        for &k in ks {
            let k = k as usize;
            while side.ptr[*cursor + 1] <= k {
                *cursor += 1;
            }
            let user = (side.rows.start + *cursor) as u32;
            push_triple(message, self.row(k), user, side.values[k]);
        }
    }
}

/// Sends every rating to worker `owner(row)` ([`Worker::exchange_records`]: rounds of bounded
/// messages), and hands each rating this worker receives to `receive(source, k, row, column,
/// value)`, where it is source `source`'s `k`-th rating for this worker (each source's in its
/// order, though not every source's before the next one's).
fn exchange(
    worker: &mut Worker<'_>,
    ratings: &impl RatingSource,
    owner: impl Fn(u32) -> usize,
    mut receive: impl FnMut(usize, usize, u32, u32, f64),
) -> Result<(), EngineError> {
    const TRIPLE: usize = 16;
    let n_workers = worker.peers();
    let n = ratings.len();
    let mut counts = vec![0u64; n_workers];
    (0..n).for_each(|k| counts[owner(ratings.row(k))] += 1);
    // The ratings' positions grouped by destination (4 bytes a rating; each round encodes its
    // messages from them).
    let mut first = Vec::with_capacity(n_workers + 1);
    first.push(0usize);
    for &c in &counts {
        first.push(first.last().expect("one") + c as usize);
    }
    let mut order = vec![0u32; n];
    let mut next = first.clone();
    for k in 0..n {
        let slot = &mut next[owner(ratings.row(k))];
        order[*slot] = k as u32;
        *slot += 1;
    }
    let mut sent = first;
    let mut cursors = vec![0usize; n_workers];
    worker.exchange_records(
        TRIPLE,
        &counts,
        |d, n, message| {
            ratings.encode(&order[sent[d]..sent[d] + n], &mut cursors[d], message);
            sent[d] += n;
        },
        |chunk| {
            for (k, t) in chunk.bytes.chunks_exact(TRIPLE).enumerate() {
                let word = |i: usize| u32::from_le_bytes(t[i..i + 4].try_into().expect("4 bytes"));
                let value = f64::from_le_bytes(t[8..16].try_into().expect("8 bytes"));
                receive(
                    chunk.source,
                    chunk.first as usize + k,
                    word(0),
                    word(4),
                    value,
                );
            }
        },
    )
}
