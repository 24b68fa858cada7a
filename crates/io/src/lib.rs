//! Data input and output for Strads: the file formats, read in shards with precise errors, atomic
//! output files, and synthetic data with known answers.
//!
//! This crate knows nothing about timely dataflow or the learning algorithms; it turns files into
//! plain data ([`SparseRows`], [`MmEntry`], label vectors) and back. It depends only on small
//! utility crates (`memchr`, `ryu`, `rand`, `tempfile`, `thiserror`, `serde`).
//!
//! - [`shard`]: the one sharded line reader ([`read_lines`]) under every line format: which lines
//!   of a file each of `n` workers reads, by byte range, read in blocks, a bad line named by its
//!   number in the whole file. The formats below keep only their line grammar.
//! - [`libsvm`] and [`matrix_market`] (with [`labels`]): the input formats; [`libsvm_cache`]: a
//!   libsvm file parsed once into a binary file from which each shard reads its rows.
//! - [`atomic`] and [`coefficients`]: output written to a temporary file and renamed.
//! - [`ratings`]: rating files for matrix factorisation (ids remapped to dense indices);
//!   [`ratings_shard`]: one shard of a rating file, for loaders that never hold the whole file;
//!   [`ratings_cache`]: a rating file parsed once into a binary file read in parts.
//! - [`corpus`]: bag-of-words corpora for topic models; [`docword_cache`]: a docword file parsed
//!   once into its documents, from which each worker reads its range of them.
//! - [`generate`], apart from the formats: synthetic data with a known truth, Lasso and
//!   logistic-regression data with their true coefficients ([`generate::regression`]), low-rank
//!   rating sets with a train/test split ([`generate::ratings`]), LDA corpora with their true
//!   topics ([`generate::lda`]).
//! - [`checkpoint`]: checkpoint directories, one file per worker and a manifest written last.
//! - [`memory`]: the memory a process may plan for, checked before allocations sized by inputs
//!   or flags.
//!
//! Every error is a [`DataError`] that names the file and, for a bad line, its 1-based line number
//! in the whole file (also when the line was read by a shard) and what was expected there.
//!
//! # Example
//!
//! Generate a small problem, then read it back in two shards as two workers would.
//!
//! ```
//! use strads_io::{generate_regression, read_libsvm_shard, LibsvmOptions, RegressionSpec, SparseRows};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("train.libsvm");
//! let spec = RegressionSpec { rows: 100, cols: 30, nnz_per_row: 5, ..RegressionSpec::default() };
//! let summary = generate_regression(&spec, &path)?;
//!
//! let mut rows = SparseRows::new();
//! for worker in 0..2 {
//!     rows.append(&read_libsvm_shard(&path, worker, 2, &LibsvmOptions::default())?);
//! }
//! assert_eq!(rows.n_rows(), 100);
//! assert_eq!(rows.n_nonzeros(), summary.nonzeros);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod atomic;
mod cache_file;
pub mod checkpoint;
pub mod coefficients;
pub mod corpus;
pub mod disk;
pub mod docword_cache;
pub mod error;
pub mod generate;
pub mod labels;
pub mod libsvm;
pub mod libsvm_cache;
pub mod matrix_market;
pub mod memory;
pub mod ratings;
pub mod ratings_cache;
pub mod ratings_shard;
pub mod shard;
pub mod sparse;
mod token;

pub use atomic::{resolve_symlinks, write_atomic};
pub use coefficients::{read_coefficients, write_coefficients};
pub use disk::{check_free_space, free_space, DiskSpaceError};
pub use docword_cache::{
    is_docword_cache, write_docword_cache, DocwordCache, DocwordCacheHeader, DOCWORD_CACHE_MAGIC,
};
pub use error::DataError;
pub use generate::ratings::{generate_ratings, RatingsSpec, RatingsSummary};
pub use generate::regression::{
    generate_regression, truth_path, GeneratedSummary, RegressionSpec, Task,
};
pub use labels::{read_labels, LabelKind};
pub use libsvm::{check_nonempty_total, read_libsvm_shard, LibsvmOptions};
pub use libsvm_cache::{
    is_libsvm_cache, write_libsvm_cache, LibsvmCache, LibsvmCacheHeader, LIBSVM_CACHE_MAGIC,
    LIBSVM_CACHE_VERSION,
};
pub use matrix_market::{
    check_mm_total, entries_to_rows, read_mm_header, read_mm_shard, MmEntry, MmField, MmHeader,
};
pub use memory::{check_memory, format_bytes, memory_limit, peak_resident_bytes, MemoryLimit};
pub use ratings::{
    align_ids, canonical_key, read_pairs, read_ratings, unify_ids, CanonicalKey, IdTokens, Ratings,
    RatingsFormat,
};
pub use ratings_cache::{
    is_ratings_cache, write_ratings_cache, CacheSide, RatingsCache, RatingsCacheHeader,
    RatingsCacheSummary, SourceStamp, RATINGS_CACHE_MAGIC, RATINGS_CACHE_VERSION,
};
pub use ratings_shard::{check_ratings_total, find_ids, read_ratings_shard, RatingsShard};
pub use shard::{
    bom_len, line_number_at, read_lines, read_shard_lines, shard_byte_range, shard_owned_bytes,
    strip_bom, Line, LineError, ShardText, UTF8_BOM,
};
pub use sparse::SparseRows;
