//! Strads applications written on the STRADS-AP API ([`strads_ap`]): containers, parallel loops
//! and ordinary sequential Rust between loops, with no hand-written collectives.
//!
//! - [`mlr`]: multinomial logistic (softmax) regression with an L2 penalty, solved exactly by
//!   L-BFGS on the full gradient or approximately by mini-batch SGD.
//! - [`word2vec`]: word embeddings by skip-gram or CBOW with negative sampling (word2vec.c's
//!   semantics), trained in `Bsp` loops over the sentences against replicated vectors.
//!
//! This crate is apart from `strads-apps` because `strads-ap` uses `strads-apps` in its tests
//! (its examples are checked against the engine-level apps): an AP app inside `strads-apps` would
//! make the two crates depend on each other. It knows the AP API and the I/O crate, not the
//! engine.
//!
//! # Example
//!
//! Fit three classes on two worker threads.
//!
//! ```
//! use strads_ap::ApConfig;
//! use strads_ap_apps::mlr::{train, MlrParams};
//! use strads_ap_apps::Hooks;
//!
//! let dir = tempfile::tempdir()?;
//! let data = dir.path().join("train.libsvm");
//! std::fs::write(&data, "3 1:1\n3 1:2\n7 2:1\n7 2:2\n-1 1:-1 2:-1\n-1 1:-2 2:-1\n")?;
//! let params = MlrParams { lambda: 0.1, ..MlrParams::new(&data) };
//! let fit = train(&ApConfig::threads(2), &params, Hooks::default())?.expect("this process runs worker 0");
//! assert_eq!(fit.classes.labels(), &[-1, 3, 7]);
//! assert_eq!(fit.train.accuracy, 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod error;
pub mod mlr;
pub mod word2vec;

pub use error::ApAppError;
pub use strads_ap::{Hooks, Observer, StopRequest};
