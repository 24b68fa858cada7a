//! Rating files for matrix factorisation: `user item rating` lines (whitespace or comma
//! separated, with an optional header line: a first line none of whose fields is a number),
//! MovieLens `user::item::rating::timestamp`, and MatrixMarket coordinate files. A UTF-8 byte
//! order mark at the start of a file is skipped.
//!
//! User and item ids are arbitrary tokens. They are remapped to dense indices in a canonical order
//! that does not depend on how the file was split for parsing: tokens that are unsigned integers
//! come first in numeric order, then the others in byte order. The original tokens are kept
//! ([`Ratings::user_ids`], [`Ratings::item_ids`]) so factors can be written with them.
//!
//! [`read_ratings`] parses the whole file in `n_threads` byte-range shards at once (each through
//! [`crate::shard::read_lines`], on io's one parallel helper) and merges them as the loaders merge
//! their workers' shards ([`unify_ids`]); every error names the file and the absolute line.

use std::collections::HashMap;
use std::path::Path;

use crate::error::DataError;
use crate::matrix_market::{check_mm_total, read_mm_header, read_mm_shard, MmField, MmHeader};
use serde::{Deserialize, Serialize};

use crate::shard::{bom_len, on_threads, read_lines, strip_bom};
use crate::token::{fields, number_problem, parse_finite, parse_unsigned, quoted, NumberError};

/// How a rating file is laid out (the doc comments of the variants are also the command line's
/// help).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RatingsFormat {
    /// From the first line: MatrixMarket banner, `::` (MovieLens), or delimited.
    Auto,
    /// `user item rating [timestamp]`, whitespace or comma separated, optional header line
    /// (a first line none of whose fields is a number).
    Delimited,
    /// MovieLens `user::item::rating::timestamp` (the timestamp may be missing).
    #[cfg_attr(feature = "clap", value(name = "movielens"))]
    MovieLens,
    /// MatrixMarket coordinate (rows = users, columns = items; real or integer values).
    #[cfg_attr(feature = "clap", value(name = "mm"))]
    MatrixMarket,
}

/// Ratings with dense user and item indices, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ratings {
    /// The original token of each dense user index.
    pub user_ids: Vec<String>,
    /// The original token of each dense item index.
    pub item_ids: Vec<String>,
    /// Dense user index of each rating.
    pub users: Vec<u32>,
    /// Dense item index of each rating.
    pub items: Vec<u32>,
    /// The rating values.
    pub values: Vec<f64>,
}

impl Ratings {
    /// Number of ratings.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no ratings.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Number of distinct users.
    pub fn n_users(&self) -> usize {
        self.user_ids.len()
    }

    /// Number of distinct items.
    pub fn n_items(&self) -> usize {
        self.item_ids.len()
    }
}

/// Reads a rating file with `n_threads` parser threads.
///
/// Fails with a [`DataError::Parse`] naming `path:line` on a line with the wrong number of fields
/// or a rating that is not a finite number, and with [`DataError::Empty`] on a file without any
/// rating.
pub fn read_ratings(
    path: &Path,
    format: RatingsFormat,
    n_threads: usize,
) -> Result<Ratings, DataError> {
    let n_threads = n_threads.max(1);
    let format = match format {
        RatingsFormat::Auto => detect_format(path)?,
        other => other,
    };
    let ratings = match format {
        RatingsFormat::MatrixMarket => read_matrix_market(path, n_threads)?,
        text_format => read_text(path, text_format == RatingsFormat::MovieLens, n_threads)?,
    };
    if ratings.is_empty() {
        return Err(DataError::Empty {
            path: path.to_owned(),
            what: "ratings".into(),
        });
    }
    Ok(ratings)
}

/// The format of `path` judged from its first non-blank line.
pub(crate) fn detect_format(path: &Path) -> Result<RatingsFormat, DataError> {
    use std::io::{BufRead, BufReader};
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            return Ok(RatingsFormat::Delimited);
        }
        let line = strip_bom(&line);
        if line.trim_ascii().is_empty() {
            continue;
        }
        if line.starts_with(b"%%MatrixMarket") {
            return Ok(RatingsFormat::MatrixMarket);
        }
        if memchr::memmem::find(line, b"::").is_some() {
            return Ok(RatingsFormat::MovieLens);
        }
        return Ok(RatingsFormat::Delimited);
    }
}

/// Id tokens in a shard's local index order (token `l` is local id `l`), in one buffer: each
/// token followed by `\n`, which no token holds (lines are split on it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokens {
    text: Vec<u8>,
    len: usize,
}

impl IdTokens {
    /// An empty list.
    pub fn new() -> IdTokens {
        IdTokens::default()
    }

    /// Appends `token` (which must not hold `\n`) as the next local id.
    pub fn push(&mut self, token: &[u8]) {
        debug_assert!(!token.contains(&b'\n'), "an id token holds no newline");
        self.text.extend_from_slice(token);
        self.text.push(b'\n');
        self.len += 1;
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tokens in local index order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let body = self.text.strip_suffix(b"\n").unwrap_or(&[]);
        body.split(|&b| b == b'\n').take(self.len)
    }

    pub(crate) fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a [u8]>) -> IdTokens {
        let mut list = IdTokens::new();
        for token in tokens {
            list.push(token);
        }
        list
    }
}

/// One shard's ratings of a delimited or MovieLens file, with shard-local id indices.
pub(crate) struct ShardRatings {
    pub(crate) user_ids: IdTokens,
    pub(crate) item_ids: IdTokens,
    pub(crate) users: Vec<u32>,
    pub(crate) items: Vec<u32>,
    pub(crate) values: Vec<f64>,
    /// Bytes of the lines the shard owns.
    pub(crate) bytes_read: u64,
}

/// The whole file as `n_threads` shards read and parsed at once, then merged. (Loaders read in
/// parallel through their workers, each its own shard; this is for the one caller that parses
/// a whole file in one place, the rating cache's writer.)
fn read_text(path: &Path, movielens: bool, n_threads: usize) -> Result<Ratings, DataError> {
    let parsed = on_threads((0..n_threads).collect(), |shard| {
        read_text_shard(path, movielens, shard, n_threads)
    });
    // The first failing shard holds the first bad line of the file.
    let shards = parsed.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(merge_shards(shards))
}

/// Reads and parses shard `shard` of `n_shards` of the delimited (or, if `movielens`, MovieLens)
/// rating file `path`.
pub(crate) fn read_text_shard(
    path: &Path,
    movielens: bool,
    shard: usize,
    n_shards: usize,
) -> Result<ShardRatings, DataError> {
    // The first line (a possible header) starts after the byte order mark, if any.
    let first_line = bom_len(path)?;
    let file_len = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, e))?
        .len();
    // Tables indexed by plain-number ids are at most about as large as the shard's text: ids
    // beyond that go to the hash map, so a short file with a huge id allocates little.
    let table_limit = (file_len / n_shards.max(1) as u64).clamp(1 << 20, Interner::TABLE_LIMIT);
    let mut users = Interner::with_limit(table_limit);
    let mut items = Interner::with_limit(table_limit);
    let mut ratings = (Vec::new(), Vec::new(), Vec::new());
    let bytes_read = read_lines(path, shard, n_shards, 0, |line| {
        let (shard_users, shard_items, values) = &mut ratings;
        if !movielens {
            if let Some(PlainLine {
                ids: [user, item],
                rating,
                value,
            }) = plain_line(line.text)
            {
                // The rating was read in the scan that found it, unless it is not a plain
                // decimal (`1e3`, `x`): then the full parser decides.
                if let Ok(value) = value.map_or_else(|| parse_rating(rating), Ok) {
                    shard_users.push(users.intern_number(user));
                    shard_items.push(items.intern_number(item));
                    values.push(value);
                    return Ok(());
                }
            }
        }
        let body = line.text.trim_ascii();
        if body.is_empty() {
            return Ok(());
        }
        let mut split = [&b""[..]; 4];
        let count = if movielens {
            first_fields(split_str(body, b"::").map(<[u8]>::trim_ascii), &mut split)
        } else if memchr::memchr(b',', body).is_some() {
            first_fields(
                body.split(|&b| b == b',').map(<[u8]>::trim_ascii),
                &mut split,
            )
        } else {
            first_fields(fields(body), &mut split)
        };
        let tokens = &split[..count.min(4)];
        if count != 3 && count != 4 {
            let layout = if movielens {
                "`user::item::rating::timestamp`"
            } else {
                "`user item rating` (an optional fourth field, a timestamp, is ignored)"
            };
            return Err(format!("expected {layout}, found {count} fields").into());
        }
        let value = match parse_rating(tokens[2]) {
            Ok(value) => value,
            // The first line of the file is a header when it could not be data: none of its
            // fields is a number (`user item rating`; but `1 2 nan` is a bad rating).
            Err(_) if line.offset == first_line && !movielens && is_header(tokens) => return Ok(()),
            Err(error) => {
                return Err(format!(
                    "expected a numeric rating in field 3, {}",
                    number_problem(tokens[2], error)
                )
                .into())
            }
        };
        for (k, token) in tokens[..2].iter().enumerate() {
            if token.is_empty() {
                let what = if k == 0 { "user" } else { "item" };
                return Err(format!("the {what} id is empty").into());
            }
        }
        shard_users.push(users.intern(tokens[0]));
        shard_items.push(items.intern(tokens[1]));
        values.push(value);
        Ok(())
    })?;
    let (users_of, items_of, values) = ratings;
    Ok(ShardRatings {
        user_ids: users.tokens,
        item_ids: items.tokens,
        users: users_of,
        items: items_of,
        values,
        bytes_read,
    })
}

/// Puts the first fields of `tokens` into `slots` and returns how many fields there are.
fn first_fields<'a>(tokens: impl Iterator<Item = &'a [u8]>, slots: &mut [&'a [u8]; 4]) -> usize {
    let mut count = 0;
    for token in tokens {
        if let Some(slot) = slots.get_mut(count) {
            *slot = token;
        }
        count += 1;
    }
    count
}

/// Whether a first line with these fields is a header: none of them reads as a number (NaN and
/// infinities included), so the line cannot be a rating.
fn is_header(tokens: &[&[u8]]) -> bool {
    tokens.iter().all(|token| {
        std::str::from_utf8(token)
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .is_none()
    })
}

/// An id token that is a plain number (decimal digits, no leading zero, below
/// [`Interner::TABLE_LIMIT`]): the token and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PlainId<'t> {
    token: &'t [u8],
    value: u32,
}

/// A line `id id rating` read by [`plain_line`].
#[derive(Clone, Copy, Debug, PartialEq)]
struct PlainLine<'t> {
    /// The user and item ids.
    ids: [PlainId<'t>; 2],
    /// The rating's token.
    rating: &'t [u8],
    /// The rating, when the token is a plain decimal ([`plain_decimal`]): read in the same scan
    /// that found the token's end, the value [`parse_rating`] gives it.
    value: Option<f64>,
}

/// The common line `id id rating` with plain-number ids (fields separated by spaces or tabs,
/// nothing before, at most a `\r` after): the two ids and the rating, read in the same pass
/// that finds them. Any other line gives `None` and takes the general path, which reads the
/// same lines to the same result.
fn plain_line(line: &[u8]) -> Option<PlainLine<'_>> {
    let is_gap = |b: u8| b == b' ' || b == b'\t';
    // A plain id starting at `from`, followed by a gap.
    let id_at = |from: usize| -> Option<(PlainId<'_>, usize)> {
        // A line may end in a gap (`1 `): no id there.
        if from >= line.len() {
            return None;
        }
        let mut value: u64 = 0;
        let mut i = from;
        while i < line.len() && line[i].is_ascii_digit() {
            value = value * 10 + u64::from(line[i] - b'0');
            i += 1;
            if value >= Interner::TABLE_LIMIT {
                return None;
            }
        }
        let leading_zero = line[from] == b'0' && i - from > 1;
        (i > from && !leading_zero && i < line.len() && is_gap(line[i])).then(|| {
            let id = PlainId {
                token: &line[from..i],
                value: value as u32,
            };
            (id, i)
        })
    };
    let skip_gap = |mut i: usize| {
        while i < line.len() && is_gap(line[i]) {
            i += 1;
        }
        i
    };
    if line.is_empty() {
        return None;
    }
    let is_end = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b',');
    let (user, user_end) = id_at(0)?;
    let (item, item_end) = id_at(skip_gap(user_end))?;
    let rating_start = skip_gap(item_end);
    let (mut rating_end, mut value) = plain_decimal(line, rating_start);
    if line.get(rating_end).is_some_and(|&b| !is_end(b)) {
        // Not a plain decimal (`1e3`): its token runs on to the field's end.
        value = None;
        while rating_end < line.len() && !is_end(line[rating_end]) {
            rating_end += 1;
        }
    }
    let rest = &line[rating_end..];
    (rating_end > rating_start && (rest.is_empty() || rest == b"\r")).then(|| PlainLine {
        ids: [user, item],
        rating: &line[rating_start..rating_end],
        value,
    })
}

/// Reads the plain decimal (`-12.375`: an optional sign, digits, an optional point and more
/// digits) that starts at `bytes[from]`: where its characters end, and its value if it has 1 to
/// 15 digits and at most 22 decimals. The value is exact: the digits form an integer `m < 2^53`
/// and the value is `m / 10^d` with both operands exact, so the one correctly rounded division
/// gives the same `f64` as the full parser (`str::parse`).
#[inline]
fn plain_decimal(bytes: &[u8], from: usize) -> (usize, Option<f64>) {
    const POWERS: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let (negative, start) = match bytes.get(from) {
        Some(b'-') => (true, from + 1),
        Some(b'+') => (false, from + 1),
        _ => (false, from),
    };
    // The integer digits, then after a point the fraction's, in two tight loops (no per-byte
    // state). Past 15 digits the mantissa may wrap, but it is not used then.
    let digit_run = |from: usize, mantissa: &mut u64| -> usize {
        let mut i = from;
        while let Some(&byte) = bytes.get(i) {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(digit));
            i += 1;
        }
        i
    };
    let mut mantissa: u64 = 0;
    let integer_end = digit_run(start, &mut mantissa);
    let (end, decimals) = match bytes.get(integer_end) {
        Some(b'.') => {
            let end = digit_run(integer_end + 1, &mut mantissa);
            (end, end - integer_end - 1)
        }
        _ => (integer_end, 0),
    };
    let n_digits = integer_end - start + decimals;
    if n_digits == 0 || n_digits > 15 || decimals >= POWERS.len() {
        return (end, None);
    }
    let value = mantissa as f64 / POWERS[decimals];
    (end, Some(if negative { -value } else { value }))
}

/// Reads a rating: a plain decimal (the usual case) exactly by [`plain_decimal`], anything else
/// by the full parser.
fn parse_rating(token: &[u8]) -> Result<f64, NumberError> {
    match plain_decimal(token, 0) {
        (end, Some(value)) if end == token.len() => Ok(value),
        _ => parse_finite(token),
    }
}

/// Splits `text` on every occurrence of `separator`.
fn split_str<'a>(text: &'a [u8], separator: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match memchr::memmem::find(current, separator) {
            Some(i) => {
                rest = Some(&current[i + separator.len()..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Shard-local interning of id tokens. Decimal ids without leading zeros below the table limit
/// (at most 2^26; the usual case) are looked up in a table indexed by their value; other tokens
/// in a hash map. The tokens are copied on first sight (the text is read a block at a time).
struct Interner {
    tokens: IdTokens,
    by_number: Vec<u32>,
    by_text: HashMap<Box<[u8]>, u32>,
    /// Plain-number ids below this are looked up in the table.
    limit: u64,
}

impl Interner {
    /// The largest table limit: plain-number ids below this may be looked up in the table.
    const TABLE_LIMIT: u64 = 1 << 26;

    /// An empty interner whose table holds ids below `limit` (at most [`Self::TABLE_LIMIT`]).
    fn with_limit(limit: u64) -> Self {
        Interner {
            tokens: IdTokens::new(),
            by_number: Vec::new(),
            by_text: HashMap::new(),
            limit: limit.min(Self::TABLE_LIMIT),
        }
    }

    fn intern(&mut self, token: &[u8]) -> u32 {
        let plain_number = (token.len() == 1 || token[0] != b'0')
            .then(|| parse_unsigned(token))
            .flatten()
            .filter(|&n| n < self.limit);
        if let Some(n) = plain_number {
            return self.intern_number(PlainId {
                token,
                value: n as u32,
            });
        }
        self.intern_text(token)
    }

    /// Interns a token through the hash map.
    fn intern_text(&mut self, token: &[u8]) -> u32 {
        if let Some(&local) = self.by_text.get(token) {
            return local;
        }
        let local = self.tokens.len() as u32;
        self.tokens.push(token);
        self.by_text.insert(token.into(), local);
        local
    }

    /// [`Interner::intern`] of a token already known to be a plain number.
    fn intern_number(&mut self, id: PlainId<'_>) -> u32 {
        if u64::from(id.value) >= self.limit {
            return self.intern_text(id.token);
        }
        let n = id.value as usize;
        if n >= self.by_number.len() {
            self.by_number
                .resize((n + 1).max(2 * self.by_number.len()), u32::MAX);
        }
        if self.by_number[n] == u32::MAX {
            self.by_number[n] = self.tokens.len() as u32;
            self.tokens.push(id.token);
        }
        self.by_number[n]
    }
}

/// For each id of `other`, its index in `known`, or `None` if `known` lacks it. Both lists must
/// be in the canonical order [`read_ratings`] gives them (as two files' `user_ids`), so one merge
/// pass finds every match.
pub fn align_ids(known: &[String], other: &[String]) -> Vec<Option<u32>> {
    let mut k = 0;
    other
        .iter()
        .map(|id| {
            let key = canonical_key(id.as_bytes());
            while k < known.len() && canonical_key(known[k].as_bytes()) < key {
                k += 1;
            }
            (k < known.len() && known[k] == *id).then_some(k as u32)
        })
        .collect()
}

/// A token's place in the canonical order: (not a number, its value, its bytes).
pub type CanonicalKey<'t> = (bool, u64, &'t [u8]);

/// The canonical order of id tokens: unsigned integers first, numerically, then bytewise. Two
/// tokens have equal keys exactly when they are the same bytes; the dense index of an id is the
/// rank of its key among the file's distinct keys.
pub fn canonical_key(token: &[u8]) -> CanonicalKey<'_> {
    match parse_unsigned(token) {
        Some(n) => (false, n, token),
        None => (true, 0, token),
    }
}

/// The union of `lists` (every shard's id tokens) in the canonical order of
/// [`crate::read_ratings`] (unsigned integers numerically, then other tokens bytewise), and for
/// each list the dense index of each of its tokens. Every caller with the same lists gets the
/// same answer, whatever the order of tokens within a list.
pub fn unify_ids(lists: &[&IdTokens]) -> (Vec<String>, Vec<Vec<u32>>) {
    let tokens: Vec<Vec<&[u8]>> = lists.iter().map(|list| list.iter().collect()).collect();
    let slices: Vec<&[&[u8]]> = tokens.iter().map(Vec::as_slice).collect();
    unify(&slices)
}

/// Sorts the union of the shards' tokens canonically and returns it with, per shard, the map
/// from its local indices to the dense ones.
pub(crate) fn unify(per_shard: &[&[&[u8]]]) -> (Vec<String>, Vec<Vec<u32>>) {
    unify_plain_numbers(per_shard).unwrap_or_else(|| unify_sorted(per_shard))
}

/// [`unify`] for any tokens, by sorting.
fn unify_sorted<'t>(per_shard: &[&[&'t [u8]]]) -> (Vec<String>, Vec<Vec<u32>>) {
    // Each token's key is computed once (a comparison that parsed both sides was most of the
    // merge's time); the shards' tokens then find their dense index by binary search.
    let keyed = |token: &'t [u8]| (canonical_key(token), token);
    let mut all: Vec<(CanonicalKey<'t>, &'t [u8])> = per_shard
        .iter()
        .flat_map(|t| t.iter().map(|&token| keyed(token)))
        .collect();
    all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|a, b| a.1 == b.1);
    let maps = per_shard
        .iter()
        .map(|tokens| {
            tokens
                .iter()
                .map(|&t| {
                    let key = canonical_key(t);
                    all.binary_search_by(|probe| probe.0.cmp(&key))
                        .expect("every shard token is in the union") as u32
                })
                .collect()
        })
        .collect();
    let names = all
        .iter()
        .map(|(_, t)| String::from_utf8_lossy(t).into_owned())
        .collect();
    (names, maps)
}

/// [`unify`] when every token is a plain number (decimal digits, no leading zero, below
/// 2^26), the usual case: the canonical order is then the numeric order, and a table indexed by
/// the number replaces the sort. `None` when some token is not plain.
fn unify_plain_numbers(per_shard: &[&[&[u8]]]) -> Option<(Vec<String>, Vec<Vec<u32>>)> {
    let plain = |token: &[u8]| {
        (token.len() == 1 || token.first() != Some(&b'0'))
            .then(|| parse_unsigned(token))
            .flatten()
            .filter(|&n| n < Interner::TABLE_LIMIT)
    };
    let numbers: Vec<Vec<u32>> = per_shard
        .iter()
        .map(|tokens| tokens.iter().map(|t| plain(t).map(|n| n as u32)).collect())
        .collect::<Option<_>>()?;
    let size = numbers
        .iter()
        .flatten()
        .max()
        .map_or(0, |&n| n as usize + 1);
    // The table is at most a few times the tokens (a short list with a huge id sorts instead).
    let tokens: usize = numbers.iter().map(Vec::len).sum();
    if size > tokens.saturating_mul(4).max(1 << 20) {
        return None;
    }
    let mut dense = vec![u32::MAX; size];
    numbers
        .iter()
        .flatten()
        .for_each(|&n| dense[n as usize] = 0);
    let mut names = Vec::new();
    for (n, slot) in dense.iter_mut().enumerate() {
        if *slot == 0 {
            *slot = names.len() as u32;
            names.push(n.to_string());
        }
    }
    let maps = numbers
        .iter()
        .map(|shard| shard.iter().map(|&n| dense[n as usize]).collect())
        .collect();
    Some((names, maps))
}

/// The shards' ratings in file order with dense ids. Each shard's indices are mapped in place,
/// one thread per shard, and the first shard's arrays grow to take the others: no second copy of
/// the ratings is made (fresh memory costs a page fault per 4 KiB).
fn merge_shards(shards: Vec<ShardRatings>) -> Ratings {
    let users: Vec<&IdTokens> = shards.iter().map(|s| &s.user_ids).collect();
    let items: Vec<&IdTokens> = shards.iter().map(|s| &s.item_ids).collect();
    let (user_ids, user_maps) = unify_ids(&users);
    let (item_ids, item_maps) = unify_ids(&items);
    let mut shards = on_threads(
        shards
            .into_iter()
            .zip(user_maps.iter().zip(&item_maps))
            .collect(),
        |(mut shard, (user_map, item_map))| {
            shard
                .users
                .iter_mut()
                .for_each(|u| *u = user_map[*u as usize]);
            shard
                .items
                .iter_mut()
                .for_each(|i| *i = item_map[*i as usize]);
            shard
        },
    );
    let mut rest = shards.split_off(1.min(shards.len()));
    let mut ratings = Ratings {
        user_ids,
        item_ids,
        ..Ratings::default()
    };
    if let Some(first) = shards.pop() {
        (ratings.users, ratings.items, ratings.values) = (first.users, first.items, first.values);
    }
    for shard in &mut rest {
        ratings.users.append(&mut shard.users);
        ratings.items.append(&mut shard.items);
        ratings.values.append(&mut shard.values);
    }
    ratings
}

/// MatrixMarket: the 1-based row and column indices are the tokens; only rows and columns that
/// hold an entry get a dense index.
fn read_matrix_market(path: &Path, n_threads: usize) -> Result<Ratings, DataError> {
    let header = ratings_mm_header(path)?;
    // The header's count is checked against the body only after reading it: reserve no more
    // than the file can hold (an entry line takes at least 6 bytes).
    let file_len = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, e))?
        .len();
    let most = usize::try_from(file_len / 6).unwrap_or(usize::MAX);
    let mut entries = Vec::with_capacity(header.nnz.min(most));
    // Shard by shard, so that only one shard's entries are held twice.
    for shard in 0..n_threads {
        entries.extend(read_mm_shard(path, &header, shard, n_threads)?);
    }
    check_mm_total(path, &header, entries.len())?;
    let (row_index, user_ids) = dense_ids(entries.iter().map(|e| e.row), header.rows);
    let (col_index, item_ids) = dense_ids(entries.iter().map(|e| e.col), header.cols);
    Ok(Ratings {
        user_ids,
        item_ids,
        users: entries.iter().map(|e| row_index.get(e.row)).collect(),
        items: entries.iter().map(|e| col_index.get(e.col)).collect(),
        values: entries.iter().map(|e| e.value).collect(),
    })
}

/// The header of a MatrixMarket rating file; a `pattern` file (no values) is an error.
pub(crate) fn ratings_mm_header(path: &Path) -> Result<MmHeader, DataError> {
    let header = read_mm_header(path)?;
    if header.field == MmField::Pattern {
        return Err(DataError::parse(
            path,
            1,
            "a `pattern` MatrixMarket file holds no rating values: expected `real` or `integer`",
        ));
    }
    Ok(header)
}

/// The dense index of each 0-based MatrixMarket index that occurs.
pub(crate) enum DenseIndex {
    /// Indexed by the MatrixMarket index (`u32::MAX` where absent).
    Table(Vec<u32>),
    /// The indices that occur, sorted: the dense index is the position.
    Sorted(Vec<u32>),
}

impl DenseIndex {
    pub(crate) fn get(&self, index: u32) -> u32 {
        match self {
            DenseIndex::Table(table) => table[index as usize],
            DenseIndex::Sorted(sorted) => sorted
                .binary_search(&index)
                .expect("every entry's index is in the list")
                as u32,
        }
    }
}

/// Dense indices, in increasing order, for the `indices` that occur out of `0..bound`, and the
/// 1-based names of the ones that occur. A table of `bound` slots when that is not much more
/// than the entries (the header's bound may be up to 2^32, so it never sizes memory alone);
/// otherwise the occurring indices, sorted.
pub(crate) fn dense_ids(
    indices: impl Iterator<Item = u32> + Clone,
    bound: usize,
) -> (DenseIndex, Vec<String>) {
    let count = indices.clone().count();
    if bound <= count.saturating_mul(4).max(1 << 16) {
        let mut table = vec![u32::MAX; bound];
        for i in indices {
            table[i as usize] = 0;
        }
        let mut names = Vec::new();
        for (i, slot) in table.iter_mut().enumerate() {
            if *slot == 0 {
                *slot = names.len() as u32;
                names.push((i + 1).to_string());
            }
        }
        (DenseIndex::Table(table), names)
    } else {
        let mut sorted: Vec<u32> = indices.collect();
        sorted.sort_unstable();
        sorted.dedup();
        let names = sorted
            .iter()
            .map(|&i| (u64::from(i) + 1).to_string())
            .collect();
        (DenseIndex::Sorted(sorted), names)
    }
}

/// Reads `user item` pairs to score (extra fields, such as a rating, are ignored; a first line
/// that is `user item`-like text with a non-numeric third field is read as a pair, not a header).
/// Returns the tokens in file order.
pub fn read_pairs(path: &Path) -> Result<Vec<(String, String)>, DataError> {
    let mut pairs = Vec::new();
    read_lines(path, 0, 1, 0, |line| {
        let body = line.text.trim_ascii();
        if body.is_empty() {
            return Ok(());
        }
        let tokens: Vec<&[u8]> = if memchr::memmem::find(body, b"::").is_some() {
            split_str(body, b"::").map(<[u8]>::trim_ascii).collect()
        } else if memchr::memchr(b',', body).is_some() {
            body.split(|&b| b == b',').map(<[u8]>::trim_ascii).collect()
        } else {
            fields(body).collect()
        };
        if tokens.len() < 2 || tokens[0].is_empty() || tokens[1].is_empty() {
            return Err(format!("expected `user item`, found {}", quoted(body)).into());
        }
        let text = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
        pairs.push((text(tokens[0]), text(tokens[1])));
        Ok(())
    })?;
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn triples(r: &Ratings) -> Vec<(String, String, f64)> {
        (0..r.len())
            .map(|k| {
                (
                    r.user_ids[r.users[k] as usize].clone(),
                    r.item_ids[r.items[k] as usize].clone(),
                    r.values[k],
                )
            })
            .collect()
    }

    #[test]
    fn formats_agree_and_ids_are_canonical_for_any_shard_count() {
        let dir = tempfile::tempdir().unwrap();
        let plain = write(&dir, "a.txt", "10 b 1.5\n2 a 2\n\nalice b -1 99\n");
        let csv = write(
            &dir,
            "a.csv",
            "user,item,rating\n10, b ,1.5\n2,a,2\nalice,b,-1\n",
        );
        let ml = write(
            &dir,
            "a.dat",
            "10::b::1.5::0\n2::a::2::0\nalice::b::-1::0\n",
        );
        let expected = vec![
            ("10".to_string(), "b".to_string(), 1.5),
            ("2".into(), "a".into(), 2.0),
            ("alice".into(), "b".into(), -1.0),
        ];
        for path in [&plain, &csv, &ml] {
            for threads in 1..5 {
                let r = read_ratings(path, RatingsFormat::Auto, threads).unwrap();
                assert_eq!(triples(&r), expected, "{path:?} {threads}");
                assert_eq!(r.user_ids, ["2", "10", "alice"]);
                assert_eq!(r.item_ids, ["a", "b"]);
            }
        }
    }

    #[test]
    fn numbers_with_leading_zeros_are_other_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "z.txt",
            "7 1 1\n007 1 2\n0 1 3\n70000000000 1 4\n7 2 5\n",
        );
        let r = read_ratings(&path, RatingsFormat::Auto, 1).unwrap();
        assert_eq!(r.user_ids, ["0", "007", "7", "70000000000"]);
        assert_eq!(r.users, [2, 1, 0, 3, 2]);
    }

    #[test]
    fn matrix_market_indices_are_the_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "a.mtx",
            "%%MatrixMarket matrix coordinate real general\n% c\n5 4 2\n5 1 3.5\n2 4 1\n",
        );
        let r = read_ratings(&path, RatingsFormat::Auto, 2).unwrap();
        assert_eq!(r.user_ids, ["2", "5"]);
        assert_eq!(r.item_ids, ["1", "4"]);
        assert_eq!((r.users.clone(), r.items.clone()), (vec![1, 0], vec![0, 1]));
        assert_eq!(r.values, [3.5, 1.0]);
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "1 2 3\n4 5 x\n",
                ":2: expected a numeric rating in field 3, \"x\" is not a number",
            ),
            ("1 2 3\n4 5\n", ":2: expected `user item rating`"),
            ("1 2 3\n4 5 6 7 8\n", ":2: expected `user item rating`"),
            (
                "1::2::3::4\n1::2\n",
                ":2: expected `user::item::rating::timestamp`, found 2 fields",
            ),
            (
                "1 2 3\n1 2 nan\n",
                ":2: expected a numeric rating in field 3, \"nan\" is not finite",
            ),
        ];
        for (text, message) in cases {
            let path = write(&dir, "bad.txt", text);
            for threads in 1..4 {
                let error = read_ratings(&path, RatingsFormat::Auto, threads).unwrap_err();
                let shown = error.to_string();
                assert!(shown.contains(message), "{shown} lacks {message}");
                assert!(shown.starts_with(&path.display().to_string()));
            }
        }
        for text in ["", "\n\n", "user item rating\n"] {
            let path = write(&dir, "empty.txt", text);
            let error = read_ratings(&path, RatingsFormat::Auto, 2).unwrap_err();
            assert!(
                error.to_string().ends_with("the file holds no ratings"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_fast_rating_parser_agrees_with_the_full_one() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "5",
            "3.5",
            "-1.25",
            "+2",
            "1.",
            ".5",
            "0.1",
            "123456789012345",
            "1234567890123456",
            "0.30000000000000004",
            "1e3",
            "x",
            "",
            "-",
            ".",
            "1.2.3",
            "nan",
            "12345.678901234567",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..20_000 {
            let decimals = rng.gen_range(0..8);
            let x: f64 = rng.gen_range(-1e6..1e6);
            cases.push(format!("{x:.decimals$}"));
        }
        for case in cases {
            let fast = parse_rating(case.as_bytes());
            let full = parse_finite(case.as_bytes());
            assert_eq!(fast.map(f64::to_bits), full.map(f64::to_bits), "{case:?}");
        }
    }

    #[test]
    fn the_plain_line_path_reads_as_the_general_one() {
        let general = |line: &[u8]| -> Vec<Vec<u8>> {
            fields(line.trim_ascii()).map(<[u8]>::to_vec).collect()
        };
        let lines: [&[u8]; 19] = [
            b"1 2 3.5",
            b"10\t20\t-0.25\r",
            b"7  8   +1",
            b"0 0 0",
            b"67108863 5 1",
            b"67108864 5 1",
            b"01 2 3",
            b"1 2 3 4",
            b" 1 2 3",
            b"1 2",
            b"1,2,3",
            b"a 2 3",
            b"1 2 3 ",
            b"1 2 x",
            b"1 2 3\r\r",
            b"",
            // Found by the property tests: an id followed by a gap and the end of the line.
            b"1 ",
            b"1 2 ",
            b"12\t",
        ];
        let mut accepted = 0;
        for line in lines {
            let expected = general(line);
            match plain_line(line) {
                Some(PlainLine {
                    ids: [user, item],
                    rating,
                    value,
                }) => {
                    accepted += 1;
                    assert_eq!(expected, [user.token, item.token, rating], "{line:?}");
                    if let Some(value) = value {
                        assert_eq!(Ok(value.to_bits()), parse_finite(rating).map(f64::to_bits));
                    }
                    for id in [user, item] {
                        assert_eq!(parse_unsigned(id.token), Some(u64::from(id.value)));
                        assert!(id.token.len() == 1 || id.token[0] != b'0', "{line:?}");
                    }
                }
                // Only lines the general path may treat differently are left to it.
                None => assert!(
                    expected.len() != 3
                        || line.contains(&b',')
                        || line.first().is_some_and(u8::is_ascii_whitespace)
                        || line.ends_with(b" ")
                        || line.ends_with(b"\r\r")
                        || expected[..2].iter().any(|t| {
                            !t.iter().all(u8::is_ascii_digit)
                                || (t.len() > 1 && t[0] == b'0')
                                || parse_unsigned(t).is_none_or(|n| n >= Interner::TABLE_LIMIT)
                        }),
                    "{line:?}"
                ),
            }
        }
        // Five plain lines, and `1 2 x`, whose rating the caller then fails to read.
        assert_eq!(accepted, 6);
    }

    proptest::proptest! {
        /// The rating read in [`plain_line`]'s scan is the full parser's reading of its token,
        /// bit for bit, and a token it does not read is one [`parse_rating`] leaves to the full
        /// parser too (checked against `str::parse`, the plain reference).
        #[test]
        fn the_rating_read_in_the_line_scan_is_the_full_parsers(
            user in 1u32..1000,
            item in 0u32..1000,
            rating in "[-+]?[0-9]{0,18}(\\.[0-9]{0,24})?([eE][0-9])?|[-+.0-9x]{1,6}",
            gap in "[ \t]{1,2}",
            cr in proptest::bool::ANY,
        ) {
            let line = format!("{user}{gap}{item}{gap}{rating}{}", if cr { "\r" } else { "" });
            let reference = std::str::from_utf8(rating.as_bytes())
                .ok()
                .and_then(|text| text.parse::<f64>().ok())
                .filter(|value| value.is_finite());
            match plain_line(line.as_bytes()) {
                Some(plain) => {
                    proptest::prop_assert_eq!(plain.rating, rating.as_bytes());
                    if let Some(value) = plain.value {
                        proptest::prop_assert_eq!(Some(value.to_bits()), reference.map(f64::to_bits));
                    }
                    let read = plain.value.map_or_else(|| parse_rating(plain.rating), Ok);
                    proptest::prop_assert_eq!(read.ok().map(f64::to_bits), reference.map(f64::to_bits));
                }
                None => proptest::prop_assert!(rating.is_empty(), "{:?}", line),
            }
        }
    }

    #[test]
    fn ids_align_by_merging_canonical_lists() {
        let owned = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // Both in canonical order: numbers by value (ties bytewise), then the other tokens.
        let known = owned(&["2", "007", "10", "300", "a", "b"]);
        let other = owned(&["1", "007", "7", "10", "300", "301", "b", "c"]);
        // The same answer as a lookup table.
        let table: std::collections::HashMap<&str, u32> = known
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i as u32))
            .collect();
        let expected: Vec<Option<u32>> = other
            .iter()
            .map(|id| table.get(id.as_str()).copied())
            .collect();
        assert_eq!(align_ids(&known, &other), expected);
        assert_eq!(
            expected,
            [None, Some(1), None, Some(2), Some(3), None, Some(5), None]
        );
    }

    #[test]
    fn numeric_ids_unify_as_the_sort_does() {
        let shard_a: Vec<&[u8]> = vec![b"30", b"4", b"100000", b"0"];
        let shard_b: Vec<&[u8]> = vec![b"4", b"7", b"30"];
        let shards = [shard_a.as_slice(), shard_b.as_slice()];
        let fast = unify_plain_numbers(&shards).expect("all plain numbers");
        assert_eq!(fast, unify_sorted(&shards));
        assert_eq!(fast.0, ["0", "4", "7", "30", "100000"]);
        let with_zero: Vec<&[u8]> = vec![b"007", b"7"];
        assert!(unify_plain_numbers(&[with_zero.as_slice()]).is_none());
    }

    #[test]
    fn pairs_are_read_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "p.txt", "u1 i1\nu2,i2,5\n\nu3::i3\n");
        let pairs = read_pairs(&path).unwrap();
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[1], ("u2".into(), "i2".into()));
        let bad = write(&dir, "q.txt", "u1 i1\nu2\n");
        assert!(read_pairs(&bad)
            .unwrap_err()
            .to_string()
            .contains("q.txt:2:"));
    }
}
