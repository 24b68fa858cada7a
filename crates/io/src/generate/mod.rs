//! Synthetic data sets with a known truth, for tests, examples and benchmarks (`strads gen`):
//! apart from the file formats, which they write through the same writers users' data is read
//! with.

pub mod lda;
pub mod ratings;
pub mod regression;
