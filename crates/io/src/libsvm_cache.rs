//! A binary cache of a parsed libsvm file ([`write_libsvm_cache`]), from which each worker reads
//! exactly the rows its text shard would hold ([`LibsvmCache::read_shard`]), at disk speed.
//!
//! The file, every number little-endian:
//!
//! | bytes | what |
//! |---|---|
//! | 0..8 | magic `STRADSLC` |
//! | 8..12 | version ([`LIBSVM_CACHE_VERSION`]) |
//! | 12..16 | 1 when the source's indices are 0-based, else 0 |
//! | 16..24, 24..32, 32..36 | the source's length, modification time (seconds, nanoseconds) |
//! | 36..40 | zero |
//! | 40..48 | where the source's data starts (after a byte order mark) |
//! | 48..56, 56..64 | rows `r`, stored entries `z` |
//! | 64..72 | FNV-1a hash of bytes 0..64 |
//! | 72..80 | zero |
//! | then | the byte offset of each row's line in the source `u64 x r`, labels `f64 x r`, where each row ends `u64 x r` |
//! | then | columns `u32 x z` (0-based), values `f64 x z` |
//!
//! A shard owns the rows whose line starts in its byte range of the source ([`crate::shard`]), so
//! it finds them by binary search over the line offsets and reads them in one contiguous part:
//! the same rows, in the same order, with the same numbers, as the text shard.

use std::io::Write;
use std::path::Path;

use crate::atomic::write_atomic;
use crate::cache_file::{fnv1a, has_magic, CacheFile, SourceStamp};
use crate::error::DataError;
use crate::libsvm::{read_libsvm_rows, LibsvmOptions};
use crate::shard::{bom_len, shard_byte_range};
use crate::sparse::SparseRows;

/// The first bytes of every libsvm cache.
pub const LIBSVM_CACHE_MAGIC: &[u8; 8] = b"STRADSLC";

/// The layout version this build writes and reads.
pub const LIBSVM_CACHE_VERSION: u32 = 1;

const HEADER_BYTES: u64 = 80;

/// What a libsvm cache holds, from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LibsvmCacheHeader {
    /// Whether the source's indices were read as 0-based.
    pub zero_based: bool,
    /// The source when the cache was made.
    pub source: SourceStamp,
    /// Where the source's data starts.
    pub data_start: u64,
    /// Rows.
    pub rows: u64,
    /// Stored (nonzero) entries.
    pub nonzeros: u64,
}

impl LibsvmCacheHeader {
    fn encode(&self) -> [u8; HEADER_BYTES as usize] {
        let mut bytes = [0u8; HEADER_BYTES as usize];
        bytes[0..8].copy_from_slice(LIBSVM_CACHE_MAGIC);
        bytes[8..12].copy_from_slice(&LIBSVM_CACHE_VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&u32::from(self.zero_based).to_le_bytes());
        bytes[16..24].copy_from_slice(&self.source.len.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.source.modified_seconds.to_le_bytes());
        bytes[32..36].copy_from_slice(&self.source.modified_nanos.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.data_start.to_le_bytes());
        bytes[48..56].copy_from_slice(&self.rows.to_le_bytes());
        bytes[56..64].copy_from_slice(&self.nonzeros.to_le_bytes());
        let hash = fnv1a(&bytes[..64]);
        bytes[64..72].copy_from_slice(&hash.to_le_bytes());
        bytes
    }

    fn decode(path: &Path, bytes: &[u8]) -> Result<LibsvmCacheHeader, DataError> {
        let bad = |message: String| Err(DataError::invalid(path, message));
        if bytes.len() < HEADER_BYTES as usize || &bytes[0..8] != LIBSVM_CACHE_MAGIC {
            return bad("not a Strads libsvm cache (it does not start with `STRADSLC`)".into());
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let version = u32_at(8);
        if version != LIBSVM_CACHE_VERSION {
            return bad(format!(
                "a libsvm cache of version {version}; this build reads version \
                 {LIBSVM_CACHE_VERSION}: make it again from its source"
            ));
        }
        if u64_at(64) != fnv1a(&bytes[..64]) {
            return bad("the cache's header is corrupt (its hash does not match)".into());
        }
        Ok(LibsvmCacheHeader {
            zero_based: u32_at(12) == 1,
            source: SourceStamp {
                len: u64_at(16),
                modified_seconds: u64_at(24) as i64,
                modified_nanos: u32_at(32),
            },
            data_start: u64_at(40),
            rows: u64_at(48),
            nonzeros: u64_at(56),
        })
    }

    /// Where the sections start: line offsets, labels, row ends, columns, values, and the
    /// file's length (in `u128`, so that a corrupt count cannot overflow).
    fn layout(&self) -> [u128; 6] {
        let (r, z) = (self.rows as u128, self.nonzeros as u128);
        let offsets = HEADER_BYTES as u128;
        let labels = offsets + 8 * r;
        let ends = labels + 8 * r;
        let columns = ends + 8 * r;
        let values = columns + 4 * z;
        [offsets, labels, ends, columns, values, values + 8 * z]
    }
}

/// Whether `path` starts with [`LIBSVM_CACHE_MAGIC`].
pub fn is_libsvm_cache(path: &Path) -> Result<bool, DataError> {
    has_magic(path, LIBSVM_CACHE_MAGIC)
}

/// Parses the libsvm file `source` whole (with the errors of [`crate::read_libsvm_shard`]) and
/// writes its cache to `out` atomically; returns the header written. Labels are checked against
/// `options.labels` here and again when a shard is read.
pub fn write_libsvm_cache(
    source: &Path,
    options: &LibsvmOptions,
    out: &Path,
) -> Result<LibsvmCacheHeader, DataError> {
    let stamp = SourceStamp::of(source)?;
    let (rows, line_offsets) = read_libsvm_rows(source, options)?;
    let header = LibsvmCacheHeader {
        zero_based: options.zero_based,
        source: stamp,
        data_start: bom_len(source)?,
        rows: rows.n_rows() as u64,
        nonzeros: rows.n_nonzeros() as u64,
    };
    write_atomic(out, |w| {
        w.write_all(&header.encode())?;
        for offset in &line_offsets {
            w.write_all(&offset.to_le_bytes())?;
        }
        for label in &rows.labels {
            w.write_all(&label.to_le_bytes())?;
        }
        for end in &rows.row_offsets[1..] {
            w.write_all(&(*end as u64).to_le_bytes())?;
        }
        for column in &rows.columns {
            w.write_all(&column.to_le_bytes())?;
        }
        for value in &rows.values {
            w.write_all(&value.to_le_bytes())?;
        }
        Ok(())
    })?;
    Ok(header)
}

/// The most bytes [`LibsvmCache::read_shard`] reads at once of a shard's columns or values.
const READ_PIECE_BYTES: usize = 1 << 20;

/// An open libsvm cache whose header and length were checked.
#[derive(Debug)]
pub struct LibsvmCache {
    cache: CacheFile,
    header: LibsvmCacheHeader,
}

impl LibsvmCache {
    /// Opens `path` and checks its header and length.
    pub fn open(path: &Path) -> Result<LibsvmCache, DataError> {
        let (cache, head, len) = CacheFile::open(path, HEADER_BYTES)?;
        let header = LibsvmCacheHeader::decode(path, &head)?;
        cache.check_length(len, header.layout()[5])?;
        Ok(LibsvmCache { cache, header })
    }

    /// The header.
    pub fn header(&self) -> &LibsvmCacheHeader {
        &self.header
    }

    /// Bytes read so far (the header included).
    pub fn bytes_read(&self) -> u64 {
        self.cache.bytes_read
    }

    /// Fails unless the cache was made from `source` as it is now (same length and modification
    /// time), with indices read as `zero_based` says.
    pub fn check_source(&self, source: &Path, zero_based: bool) -> Result<(), DataError> {
        self.header
            .source
            .check_unchanged(&self.cache.path, source)?;
        if zero_based != self.header.zero_based {
            let base = |zero_based| if zero_based { "0-based" } else { "1-based" };
            return Err(DataError::invalid(
                &self.cache.path,
                format!(
                    "the cache was made reading the file's indices as {}, this read takes them \
                     as {}",
                    base(self.header.zero_based),
                    base(zero_based)
                ),
            ));
        }
        Ok(())
    }

    fn read(&mut self, at: u128, len: u128) -> Result<Vec<u8>, DataError> {
        self.cache.read(at, len)
    }

    fn read_u64(&mut self, at: u128) -> Result<u64, DataError> {
        let bytes = self.read(at, 8)?;
        Ok(u64::from_le_bytes(bytes[..].try_into().expect("8 bytes")))
    }

    fn corrupt(&self, message: String) -> DataError {
        self.cache.corrupt(message)
    }

    /// The first row whose line starts at or after `offset` (binary search over the line
    /// offsets: a few reads of 8 bytes).
    fn first_row_at(&mut self, offset: u64) -> Result<u64, DataError> {
        let offsets = self.header.layout()[0];
        let (mut low, mut high) = (0, self.header.rows);
        while low < high {
            let middle = low + (high - low) / 2;
            if self.read_u64(offsets + 8 * middle as u128)? < offset {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(low)
    }

    /// The rows shard `shard` of `n_shards` of the source owns (those whose line starts in its
    /// byte range), checked against the invariants of [`SparseRows`] and `options`.
    pub fn read_shard(
        &mut self,
        shard: usize,
        n_shards: usize,
        options: &LibsvmOptions,
    ) -> Result<SparseRows, DataError> {
        let header = self.header;
        let (start, end) = shard_byte_range(header.data_start, header.source.len, shard, n_shards);
        let first = self.first_row_at(start)?;
        let last = self.first_row_at(end)?;
        let [_, labels_at, ends_at, columns_at, values_at, _] = header.layout();
        let n = (last - first) as u128;
        let f64s = |bytes: Vec<u8>| -> Vec<f64> {
            bytes
                .chunks_exact(8)
                .map(|w| f64::from_le_bytes(w.try_into().expect("8 bytes")))
                .collect()
        };
        let labels = f64s(self.read(labels_at + 8 * first as u128, 8 * n)?);
        let entry_start = match first {
            0 => 0,
            _ => self.read_u64(ends_at + 8 * (first - 1) as u128)?,
        };
        let ends: Vec<u64> = self
            .read(ends_at + 8 * first as u128, 8 * n)?
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
            .collect();
        let entry_end = ends.last().copied().unwrap_or(entry_start);
        let ordered = ends.windows(2).all(|w| w[0] <= w[1])
            && ends.first().is_none_or(|&e| e >= entry_start)
            && entry_end <= header.nonzeros;
        if !ordered {
            return Err(self.corrupt(format!(
                "the row ends of rows {first}..{last} are out of order"
            )));
        }
        let z = (entry_end - entry_start) as u128;
        // The columns and values are read a piece at a time, never their bytes whole beside them.
        let columns = self.read_pieces(columns_at + 4 * entry_start as u128, z, |w: [u8; 4]| {
            u32::from_le_bytes(w)
        })?;
        let values =
            self.read_pieces(values_at + 8 * entry_start as u128, z, f64::from_le_bytes)?;
        let mut rows = SparseRows::new();
        rows.labels = labels;
        rows.row_offsets = std::iter::once(0)
            .chain(ends.iter().map(|&e| (e - entry_start) as usize))
            .collect();
        rows.columns = columns;
        rows.values = values;
        for i in 0..rows.n_rows() {
            let row = first + i as u64;
            let label = rows.labels[i];
            if !label.is_finite()
                || options
                    .labels
                    .check(label, label.to_string().as_bytes())
                    .is_err()
            {
                return Err(self.corrupt_or_kind(row, label));
            }
            let (columns, values) = rows.row(i);
            let increasing = columns.windows(2).all(|w| w[0] < w[1]);
            if !increasing || values.iter().any(|v| !v.is_finite() || *v == 0.0) {
                return Err(self.corrupt(format!(
                    "row {row} has unsorted columns or a zero or non-finite value"
                )));
            }
        }
        Ok(rows)
    }

    /// `count` little-endian numbers of `N` bytes from byte `at`, decoded, read in pieces of
    /// at most [`READ_PIECE_BYTES`].
    fn read_pieces<T, const N: usize>(
        &mut self,
        at: u128,
        count: u128,
        decode: impl Fn([u8; N]) -> T,
    ) -> Result<Vec<T>, DataError> {
        let piece = (READ_PIECE_BYTES / N) as u128;
        let mut out = Vec::new();
        let mut done = 0;
        while done < count {
            let n = piece.min(count - done);
            let bytes = self.read(at + N as u128 * done, N as u128 * n)?;
            out.extend(
                bytes
                    .chunks_exact(N)
                    .map(|w| decode(w.try_into().expect("N bytes"))),
            );
            done += n;
        }
        Ok(out)
    }

    fn corrupt_or_kind(&self, row: u64, label: f64) -> DataError {
        if label.is_finite() {
            DataError::invalid(
                &self.cache.path,
                format!("row {row}: expected a binary label (-1/+1 or 0/1), found {label}"),
            )
        } else {
            self.corrupt(format!("row {row} has the label {label}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LabelKind;
    use crate::read_libsvm_shard;

    #[test]
    fn every_shard_of_the_cache_is_the_text_shard() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("x.libsvm");
        let text = "\u{feff}1 1:0.5 3:2\n# comment\n\n-1 qid:3 2:1e-3 4:0 5:7\n1\n0.25 1:1 2:2 3:3\n-1 6:1 # c\n";
        std::fs::write(&source, text).unwrap();
        let cache = dir.path().join("x.cache");
        let options = LibsvmOptions::default();
        let header = write_libsvm_cache(&source, &options, &cache).unwrap();
        assert_eq!((header.rows, header.nonzeros), (5, 8));
        assert!(is_libsvm_cache(&cache).unwrap() && !is_libsvm_cache(&source).unwrap());
        let mut reader = LibsvmCache::open(&cache).unwrap();
        reader.check_source(&source, false).unwrap();
        let error = reader.check_source(&source, true).unwrap_err().to_string();
        assert!(
            error.contains("indices as 1-based, this read takes them as 0-based"),
            "{error}"
        );
        assert!(!error.contains("--"), "names a flag: {error}");
        for n in 1..8 {
            for shard in 0..n {
                let from_text = read_libsvm_shard(&source, shard, n, &options).unwrap();
                let from_cache = reader.read_shard(shard, n, &options).unwrap();
                assert_eq!(from_cache, from_text, "shard {shard} of {n}");
            }
        }
        let binary = LibsvmOptions {
            labels: LabelKind::Binary,
            ..options
        };
        let error = reader.read_shard(0, 1, &binary).unwrap_err().to_string();
        assert!(
            error.contains("x.cache") && error.contains("binary label"),
            "{error}"
        );
    }

    #[test]
    fn a_truncated_or_corrupt_cache_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("x.libsvm");
        std::fs::write(&source, "1 1:1 2:2\n0 3:3\n").unwrap();
        let cache = dir.path().join("x.cache");
        write_libsvm_cache(&source, &LibsvmOptions::default(), &cache).unwrap();
        let good = std::fs::read(&cache).unwrap();
        let outcome = |bytes: &[u8]| {
            std::fs::write(&cache, bytes).unwrap();
            LibsvmCache::open(&cache)?.read_shard(0, 1, &LibsvmOptions::default())
        };
        let truncated = outcome(&good[..good.len() - 8]).unwrap_err().to_string();
        assert!(
            truncated.contains("x.cache") && truncated.contains("truncated"),
            "{truncated}"
        );
        // The second row's end (the last of the row ends) made smaller than the first's.
        let mut ends = good.clone();
        let second_end = 80 + 16 * 2 + 8;
        ends[second_end..second_end + 8].copy_from_slice(&1u64.to_le_bytes());
        let disordered = outcome(&ends).unwrap_err().to_string();
        assert!(disordered.contains("corrupt"), "{disordered}");
        // A column out of order: the first row's two columns swapped.
        let mut columns = good.clone();
        let columns_at = 80 + 24 * 2;
        columns[columns_at..columns_at + 8].copy_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        let unsorted = outcome(&columns).unwrap_err().to_string();
        assert!(unsorted.contains("unsorted"), "{unsorted}");
    }
}
