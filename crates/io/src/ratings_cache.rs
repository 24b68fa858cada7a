//! A binary cache of a parsed rating file: parsed once ([`write_ratings_cache`]), then read by
//! each worker in its part only, at the speed of the disk ([`RatingsCache`]).
//!
//! The file, every number little-endian:
//!
//! | bytes | what |
//! |---|---|
//! | 0..8 | magic `STRADSRC` |
//! | 8..12 | version ([`RATINGS_CACHE_VERSION`]) |
//! | 12..16 | the source's format: 1 delimited, 2 MovieLens, 3 MatrixMarket |
//! | 16..24, 24..32, 32..36 | the source's length, modification time (seconds, nanoseconds) |
//! | 36..40 | zero |
//! | 40..48, 48..56, 56..64 | ratings `n`, users `u`, items `i` |
//! | 64..72, 72..80 | bytes of the user tokens, of the item tokens |
//! | 80..88 | FNV-1a hash of bytes 0..80 |
//! | 88..96 | zero |
//! | then | users `u32 x n`, items `u32 x n`, values `f64 x n` (file order, dense indices) |
//! | then | ratings per user `u64 x u`, per item `u64 x i` |
//! | then | end of each user token `u64 x u`, the user tokens; the same for items |
//!
//! Users and items are numbered as [`crate::read_ratings`] numbers them (the canonical order),
//! so a worker that reads ratings `a..b` reads them with the indices of the whole file, and the
//! tokens of any range of indices are one contiguous read. A cache whose length is not the one
//! its header implies, whose header hash fails, or that holds an index beyond its counts or a
//! non-finite rating is an error naming the cache file; a cache made from another version of the
//! source (length or modification time differ) is reported by [`RatingsCache::check_source`].

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use crate::atomic::write_atomic;
pub use crate::cache_file::SourceStamp;
use crate::cache_file::{fnv1a, has_magic, CacheFile};
use crate::error::DataError;
use crate::ratings::IdTokens;
use crate::ratings::{detect_format, read_ratings, RatingsFormat};

/// The first bytes of every rating cache.
pub const RATINGS_CACHE_MAGIC: &[u8; 8] = b"STRADSRC";

/// The layout version this build writes and reads.
pub const RATINGS_CACHE_VERSION: u32 = 1;

const HEADER_BYTES: u64 = 96;

/// What a cache holds, from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RatingsCacheHeader {
    /// The format the source was read in.
    pub format: RatingsFormat,
    /// The source when the cache was made.
    pub source: SourceStamp,
    /// Ratings.
    pub ratings: u64,
    /// Distinct users.
    pub users: u64,
    /// Distinct items.
    pub items: u64,
    user_text: u64,
    item_text: u64,
}

impl RatingsCacheHeader {
    fn encode(&self) -> [u8; HEADER_BYTES as usize] {
        let mut bytes = [0u8; HEADER_BYTES as usize];
        bytes[0..8].copy_from_slice(RATINGS_CACHE_MAGIC);
        bytes[8..12].copy_from_slice(&RATINGS_CACHE_VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&format_code(self.format).to_le_bytes());
        bytes[16..24].copy_from_slice(&self.source.len.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.source.modified_seconds.to_le_bytes());
        bytes[32..36].copy_from_slice(&self.source.modified_nanos.to_le_bytes());
        for (k, value) in [
            self.ratings,
            self.users,
            self.items,
            self.user_text,
            self.item_text,
        ]
        .iter()
        .enumerate()
        {
            bytes[40 + 8 * k..48 + 8 * k].copy_from_slice(&value.to_le_bytes());
        }
        let hash = fnv1a(&bytes[..80]);
        bytes[80..88].copy_from_slice(&hash.to_le_bytes());
        bytes
    }

    fn decode(path: &Path, bytes: &[u8]) -> Result<RatingsCacheHeader, DataError> {
        let bad = |message: String| Err(DataError::invalid(path, message));
        if bytes.len() < HEADER_BYTES as usize || &bytes[0..8] != RATINGS_CACHE_MAGIC {
            return bad("not a Strads rating cache (it does not start with `STRADSRC`)".into());
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let version = u32_at(8);
        if version != RATINGS_CACHE_VERSION {
            return bad(format!(
                "a rating cache of version {version}; this build reads version \
                 {RATINGS_CACHE_VERSION}: make it again from its source"
            ));
        }
        if u64_at(80) != fnv1a(&bytes[..80]) {
            return bad("the cache's header is corrupt (its hash does not match)".into());
        }
        let format = match u32_at(12) {
            1 => RatingsFormat::Delimited,
            2 => RatingsFormat::MovieLens,
            3 => RatingsFormat::MatrixMarket,
            other => {
                return bad(format!(
                    "unknown source format {other} in the cache's header"
                ))
            }
        };
        Ok(RatingsCacheHeader {
            format,
            source: SourceStamp {
                len: u64_at(16),
                modified_seconds: u64_at(24) as i64,
                modified_nanos: u32_at(32),
            },
            ratings: u64_at(40),
            users: u64_at(48),
            items: u64_at(56),
            user_text: u64_at(64),
            item_text: u64_at(72),
        })
    }

    /// Where each section starts, and the file's length (in `u128`, so that a corrupt count
    /// cannot overflow).
    fn layout(&self) -> Layout {
        let (n, u, i) = (self.ratings as u128, self.users as u128, self.items as u128);
        let users = HEADER_BYTES as u128;
        let items = users + 4 * n;
        let values = items + 4 * n;
        let user_counts = values + 8 * n;
        let item_counts = user_counts + 8 * u;
        let user_ends = item_counts + 8 * i;
        let user_text = user_ends + 8 * u;
        let item_ends = user_text + self.user_text as u128;
        let item_text = item_ends + 8 * i;
        let len = item_text + self.item_text as u128;
        Layout {
            users,
            items,
            values,
            user_counts,
            item_counts,
            user_ends,
            user_text,
            item_ends,
            item_text,
            len,
        }
    }
}

struct Layout {
    users: u128,
    items: u128,
    values: u128,
    user_counts: u128,
    item_counts: u128,
    user_ends: u128,
    user_text: u128,
    item_ends: u128,
    item_text: u128,
    len: u128,
}

fn format_code(format: RatingsFormat) -> u32 {
    match format {
        RatingsFormat::Auto | RatingsFormat::Delimited => 1,
        RatingsFormat::MovieLens => 2,
        RatingsFormat::MatrixMarket => 3,
    }
}

/// Whether `path` starts with [`RATINGS_CACHE_MAGIC`] (a cache, good or bad, rather than text).
pub fn is_ratings_cache(path: &Path) -> Result<bool, DataError> {
    has_magic(path, RATINGS_CACHE_MAGIC)
}

/// What [`write_ratings_cache`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RatingsCacheSummary {
    /// The header written.
    pub header: RatingsCacheHeader,
    /// Bytes of the cache.
    pub bytes: u64,
}

/// Parses the rating file `source` (with `n_threads` threads, as [`read_ratings`] does, so with
/// its errors) and writes its cache to `out` atomically. The source's stamp is taken before it
/// is read: a source changed while it was read makes the cache stale, not wrong.
pub fn write_ratings_cache(
    source: &Path,
    format: RatingsFormat,
    n_threads: usize,
    out: &Path,
) -> Result<RatingsCacheSummary, DataError> {
    let stamp = SourceStamp::of(source)?;
    let format = match format {
        RatingsFormat::Auto => detect_format(source)?,
        other => other,
    };
    let ratings = read_ratings(source, format, n_threads)?;
    let counts = |indices: &[u32], n: usize| {
        let mut counts = vec![0u64; n];
        indices.iter().for_each(|&k| counts[k as usize] += 1);
        counts
    };
    let text_len = |ids: &[String]| ids.iter().map(|t| t.len() as u64).sum::<u64>();
    let header = RatingsCacheHeader {
        format,
        source: stamp,
        ratings: ratings.len() as u64,
        users: ratings.n_users() as u64,
        items: ratings.n_items() as u64,
        user_text: text_len(&ratings.user_ids),
        item_text: text_len(&ratings.item_ids),
    };
    let write_u32s = |w: &mut dyn Write, values: &[u32]| -> std::io::Result<()> {
        values
            .iter()
            .try_for_each(|v| w.write_all(&v.to_le_bytes()))
    };
    let write_u64s = |w: &mut dyn Write, values: &[u64]| -> std::io::Result<()> {
        values
            .iter()
            .try_for_each(|v| w.write_all(&v.to_le_bytes()))
    };
    let write_tokens = |w: &mut dyn Write, ids: &[String]| -> std::io::Result<()> {
        let mut end = 0u64;
        for id in ids {
            end += id.len() as u64;
            w.write_all(&end.to_le_bytes())?;
        }
        ids.iter().try_for_each(|id| w.write_all(id.as_bytes()))
    };
    write_atomic(out, |w| {
        w.write_all(&header.encode())?;
        write_u32s(w, &ratings.users)?;
        write_u32s(w, &ratings.items)?;
        ratings
            .values
            .iter()
            .try_for_each(|v| w.write_all(&v.to_le_bytes()))?;
        write_u64s(w, &counts(&ratings.users, ratings.n_users()))?;
        write_u64s(w, &counts(&ratings.items, ratings.n_items()))?;
        write_tokens(w, &ratings.user_ids)?;
        write_tokens(w, &ratings.item_ids)
    })?;
    Ok(RatingsCacheSummary {
        header,
        bytes: header.layout().len as u64,
    })
}

/// Users or items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheSide {
    /// The users (first field of a rating).
    Users,
    /// The items (second field).
    Items,
}

/// An open rating cache whose header and length were checked; each read takes one contiguous
/// part and counts its bytes ([`RatingsCache::bytes_read`]).
#[derive(Debug)]
pub struct RatingsCache {
    cache: CacheFile,
    header: RatingsCacheHeader,
}

impl RatingsCache {
    /// Opens `path` and checks its header and its length.
    pub fn open(path: &Path) -> Result<RatingsCache, DataError> {
        let (cache, head, len) = CacheFile::open(path, HEADER_BYTES)?;
        let header = RatingsCacheHeader::decode(path, &head)?;
        cache.check_length(len, header.layout().len)?;
        Ok(RatingsCache { cache, header })
    }

    /// The header.
    pub fn header(&self) -> &RatingsCacheHeader {
        &self.header
    }

    /// Bytes read from the cache so far (the header included).
    pub fn bytes_read(&self) -> u64 {
        self.cache.bytes_read
    }

    /// Fails unless the cache was made from `source` as it is now (same length and
    /// modification time) read in `format` (`Auto`: the format the cache records).
    pub fn check_source(&self, source: &Path, format: RatingsFormat) -> Result<(), DataError> {
        self.header
            .source
            .check_unchanged(&self.cache.path, source)?;
        if format != RatingsFormat::Auto && format_code(format) != format_code(self.header.format) {
            return Err(DataError::invalid(
                &self.cache.path,
                format!(
                    "the cache was made reading its source as {:?}, not {format:?}",
                    self.header.format
                ),
            ));
        }
        Ok(())
    }

    fn read(&mut self, at: u128, len: u128) -> Result<Vec<u8>, DataError> {
        self.cache.read(at, len)
    }

    fn corrupt(&self, message: String) -> DataError {
        self.cache.corrupt(message)
    }

    /// Ratings `range` (in file order): users, items and values, with the whole file's dense
    /// indices.
    #[allow(clippy::type_complexity)]
    pub fn read_ratings(
        &mut self,
        range: Range<u64>,
    ) -> Result<(Vec<u32>, Vec<u32>, Vec<f64>), DataError> {
        assert!(range.start <= range.end && range.end <= self.header.ratings);
        let layout = self.header.layout();
        let (start, n) = (range.start as u128, (range.end - range.start) as u128);
        let words = |bytes: Vec<u8>| -> Vec<u32> {
            bytes
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")))
                .collect()
        };
        let users = words(self.read(layout.users + 4 * start, 4 * n)?);
        let items = words(self.read(layout.items + 4 * start, 4 * n)?);
        let values: Vec<f64> = self
            .read(layout.values + 8 * start, 8 * n)?
            .chunks_exact(8)
            .map(|w| f64::from_le_bytes(w.try_into().expect("8 bytes")))
            .collect();
        for (side, indices, limit) in [
            ("user", &users, self.header.users),
            ("item", &items, self.header.items),
        ] {
            if let Some(k) = indices.iter().position(|&x| u64::from(x) >= limit) {
                return Err(self.corrupt(format!(
                    "rating {} has {side} index {} of {limit}",
                    range.start + k as u64,
                    indices[k]
                )));
            }
        }
        if let Some(k) = values.iter().position(|v| !v.is_finite()) {
            return Err(self.corrupt(format!(
                "rating {} is {}",
                range.start + k as u64,
                values[k]
            )));
        }
        Ok((users, items, values))
    }

    /// Training ratings per dense index of `side`, every index's (they add up to the ratings).
    pub fn read_counts(&mut self, side: CacheSide) -> Result<Vec<u64>, DataError> {
        let layout = self.header.layout();
        let (at, n) = match side {
            CacheSide::Users => (layout.user_counts, self.header.users),
            CacheSide::Items => (layout.item_counts, self.header.items),
        };
        let counts: Vec<u64> = self
            .read(at, 8 * n as u128)?
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
            .collect();
        let total = counts.iter().fold(0u64, |a, &c| a.saturating_add(c));
        if total != self.header.ratings {
            return Err(self.corrupt(format!(
                "its counts per {side:?} add up to {total}, not to its {} ratings",
                self.header.ratings
            )));
        }
        Ok(counts)
    }

    /// The tokens of the dense indices `range` of `side`, in index order.
    pub fn read_tokens(
        &mut self,
        side: CacheSide,
        range: Range<u64>,
    ) -> Result<IdTokens, DataError> {
        let layout = self.header.layout();
        let (ends_at, text_at, n, text_len) = match side {
            CacheSide::Users => (
                layout.user_ends,
                layout.user_text,
                self.header.users,
                self.header.user_text,
            ),
            CacheSide::Items => (
                layout.item_ends,
                layout.item_text,
                self.header.items,
                self.header.item_text,
            ),
        };
        assert!(range.start <= range.end && range.end <= n);
        let mut tokens = IdTokens::new();
        if range.is_empty() {
            return Ok(tokens);
        }
        // The end of the token before the range is where the range's text starts.
        let first = range.start.saturating_sub(1);
        let ends: Vec<u64> = self
            .read(ends_at + 8 * first as u128, 8 * (range.end - first) as u128)?
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
            .collect();
        let (ends, start) = if range.start == 0 {
            (&ends[..], 0)
        } else {
            (&ends[1..], ends[0])
        };
        let last = *ends.last().expect("a nonempty range");
        let ordered = ends.windows(2).all(|w| w[0] <= w[1]) && start <= ends[0];
        if !ordered || last > text_len {
            return Err(self.corrupt(format!(
                "the token ends of {side:?} {}..{} are out of order or beyond the text",
                range.start, range.end
            )));
        }
        let text = self.read(text_at + start as u128, (last - start) as u128)?;
        let mut from = 0usize;
        for &end in ends {
            let end = (end - start) as usize;
            let token = &text[from..end];
            if token.is_empty() || token.contains(&b'\n') {
                return Err(self.corrupt(format!(
                    "an id token of {side:?} is empty or holds a newline"
                )));
            }
            tokens.push(token);
            from = end;
        }
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_reads_back_the_parsed_file_in_any_parts() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("r.txt");
        std::fs::write(&source, "10 b 1.5\n2 a 2\nalice b -1\n007 c 3\n7 a 1\n").unwrap();
        let cache = dir.path().join("r.cache");
        let summary = write_ratings_cache(&source, RatingsFormat::Auto, 2, &cache).unwrap();
        assert_eq!(summary.bytes, std::fs::metadata(&cache).unwrap().len());
        assert!(is_ratings_cache(&cache).unwrap() && !is_ratings_cache(&source).unwrap());
        // The reference: the text read whole.
        let whole = read_ratings(&source, RatingsFormat::Auto, 1).unwrap();
        let mut reader = RatingsCache::open(&cache).unwrap();
        reader.check_source(&source, RatingsFormat::Auto).unwrap();
        assert_eq!(reader.header().ratings, 5);
        let (mut users, mut items, mut values) = (vec![], vec![], vec![]);
        for part in [0..2, 2..2, 2..5] {
            let (u, i, v) = reader.read_ratings(part).unwrap();
            users.extend(u);
            items.extend(i);
            values.extend(v);
        }
        assert_eq!(
            (users, items, values),
            (whole.users, whole.items, whole.values)
        );
        for (side, ids) in [
            (CacheSide::Users, &whole.user_ids),
            (CacheSide::Items, &whole.item_ids),
        ] {
            let n = ids.len() as u64;
            for cut in 0..=n {
                let mut tokens: Vec<String> = Vec::new();
                for part in [0..cut, cut..n] {
                    let read = reader.read_tokens(side, part).unwrap();
                    tokens.extend(read.iter().map(|t| String::from_utf8(t.to_vec()).unwrap()));
                }
                assert_eq!(&tokens, ids);
            }
        }
        let counts = reader.read_counts(CacheSide::Users).unwrap();
        assert_eq!(counts, [1, 1, 1, 1, 1]);
        let counts = reader.read_counts(CacheSide::Items).unwrap();
        assert_eq!(counts, [2, 2, 1]);
    }

    #[test]
    fn a_truncated_corrupt_or_stale_cache_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("r.txt");
        std::fs::write(&source, "1 1 1\n2 1 2\n2 3 4\n").unwrap();
        let cache = dir.path().join("r.cache");
        write_ratings_cache(&source, RatingsFormat::Auto, 1, &cache).unwrap();
        let good = std::fs::read(&cache).unwrap();
        let message = |bytes: &[u8]| {
            std::fs::write(&cache, bytes).unwrap();
            let mut reader = RatingsCache::open(&cache)?;
            reader.read_ratings(0..3)?;
            reader.read_counts(CacheSide::Users)?;
            reader.read_tokens(CacheSide::Items, 0..2).map(|_| ())
        };
        let truncated = message(&good[..good.len() - 1]).unwrap_err().to_string();
        assert!(
            truncated.contains("r.cache") && truncated.contains("truncated"),
            "{truncated}"
        );
        let short = message(&good[..20]).unwrap_err().to_string();
        assert!(short.contains("not a Strads rating cache"), "{short}");
        let mut header = good.clone();
        header[41] ^= 1;
        let hashed = message(&header).unwrap_err().to_string();
        assert!(hashed.contains("header is corrupt"), "{hashed}");
        // The first rating's user index (bytes 96..100) beyond the users.
        let mut index = good.clone();
        index[99] = 0x7f;
        let bounded = message(&index).unwrap_err().to_string();
        assert!(bounded.contains("rating 0 has user index"), "{bounded}");
        std::fs::write(&cache, &good).unwrap();
        std::fs::write(&source, "1 1 1\n2 1 2\n2 3 5\n9 9 9\n").unwrap();
        let stale = RatingsCache::open(&cache)
            .unwrap()
            .check_source(&source, RatingsFormat::Auto)
            .unwrap_err()
            .to_string();
        assert!(stale.contains("stale"), "{stale}");
    }
}
