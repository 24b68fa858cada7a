//! What the binary caches of parsed files share ([`crate::ratings_cache`],
//! [`crate::libsvm_cache`], [`crate::docword_cache`]): the stamp of the source a cache was made
//! from, the header hash, the test for a cache's magic, and an open cache that counts the bytes it
//! reads and names itself in its errors.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::error::DataError;

/// The length and modification time of a cache's source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceStamp {
    /// Bytes.
    pub len: u64,
    /// Seconds since the Unix epoch.
    pub modified_seconds: i64,
    /// Nanoseconds within the second.
    pub modified_nanos: u32,
}

impl SourceStamp {
    /// The stamp of `path` now.
    pub fn of(path: &Path) -> Result<SourceStamp, DataError> {
        let metadata = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
        let modified = metadata.modified().map_err(|e| DataError::io(path, e))?;
        let (modified_seconds, modified_nanos) = match modified.duration_since(UNIX_EPOCH) {
            Ok(after) => (after.as_secs() as i64, after.subsec_nanos()),
            Err(before) => (-(before.duration().as_secs() as i64), 0),
        };
        Ok(SourceStamp {
            len: metadata.len(),
            modified_seconds,
            modified_nanos,
        })
    }

    /// Fails, naming the cache `cache`, unless `source` still has this stamp.
    pub(crate) fn check_unchanged(&self, cache: &Path, source: &Path) -> Result<(), DataError> {
        let now = SourceStamp::of(source)?;
        if now == *self {
            return Ok(());
        }
        Err(DataError::invalid(
            cache,
            format!(
                "the cache is stale: it was made from {} when it was {} bytes, modified at \
                 {}.{:09} s, and it is now {} bytes, modified at {}.{:09} s",
                source.display(),
                self.len,
                self.modified_seconds,
                self.modified_nanos,
                now.len,
                now.modified_seconds,
                now.modified_nanos
            ),
        ))
    }
}

/// The 64-bit FNV-1a hash.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether `path` starts with `magic` (a cache, good or bad, rather than text).
pub(crate) fn has_magic(path: &Path, magic: &[u8; 8]) -> Result<bool, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut head = [0u8; 8];
    match file.read_exact_at(&mut head, 0) {
        Ok(()) => Ok(&head == magic),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(DataError::io(path, e)),
    }
}

/// An open cache file: positioned reads, counted, with errors that name the file.
#[derive(Debug)]
pub(crate) struct CacheFile {
    pub(crate) path: PathBuf,
    file: File,
    /// Bytes read so far (the header included).
    pub(crate) bytes_read: u64,
}

impl CacheFile {
    /// Opens `path` and reads its header, the first `header_bytes` bytes (fewer if the file is
    /// shorter, for the header's decoder to reject); returns the file, the header's bytes and
    /// the file's length.
    pub(crate) fn open(
        path: &Path,
        header_bytes: u64,
    ) -> Result<(CacheFile, Vec<u8>, u64), DataError> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
        let mut head = vec![0u8; header_bytes.min(len) as usize];
        file.read_exact_at(&mut head, 0)
            .map_err(|e| DataError::io(path, e))?;
        let cache = CacheFile {
            path: path.to_owned(),
            file,
            bytes_read: header_bytes,
        };
        Ok((cache, head, len))
    }

    /// Fails unless the file is `expected` bytes long, as its header describes.
    pub(crate) fn check_length(&self, len: u64, expected: u128) -> Result<(), DataError> {
        if expected == len as u128 {
            return Ok(());
        }
        Err(DataError::invalid(
            &self.path,
            format!(
                "the cache is {len} bytes but its header describes {expected}: it is \
                 truncated or corrupt; make it again from its source"
            ),
        ))
    }

    /// `len` bytes from offset `at`.
    pub(crate) fn read(&mut self, at: u128, len: u128) -> Result<Vec<u8>, DataError> {
        let mut bytes = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut bytes, at as u64)
            .map_err(|e| DataError::io(&self.path, e))?;
        self.bytes_read += len as u64;
        Ok(bytes)
    }

    /// The error for a cache whose contents break its format.
    pub(crate) fn corrupt(&self, message: String) -> DataError {
        DataError::invalid(
            &self.path,
            format!("the cache is corrupt: {message}; make it again from its source"),
        )
    }
}
