//! `strads._strads`: the Python extension module under the `strads` package.
//!
//! Thin bindings over the workspace's library crates, the same entry points the `strads` binary
//! calls (no second implementation): arrays arrive as numpy arrays, are checked and copied into
//! the library's types (a canonical CSC matrix is read in place instead), and the solve runs
//! with the GIL released on its own thread ([`interrupt::run_interruptible`]), which polls for
//! Ctrl-C and turns panics into exceptions (a small sparse regression solves on the calling
//! thread instead, [`interrupt::run_interruptible_on`]).
//! The scikit-learn-style estimators are Python (`strads/*.py`); this module returns plain
//! dicts and arrays.

// As in the root workspace: one audited exception, `regression::InPlace::new`.
#![deny(unsafe_code)]

mod convert;
mod csr;
mod interrupt;
mod lda;
mod mf;
mod mlr;
mod regression;
mod word2vec;

use pyo3::prelude::*;

/// The module `strads._strads`.
#[pymodule]
fn _strads(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(regression::fit_sparse_regression, module)?)?;
    module.add_function(wrap_pyfunction!(
        regression::fit_sparse_regression_csc,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(
        regression::fit_sparse_regression_dense,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(mf::fit_mf, module)?)?;
    module.add_function(wrap_pyfunction!(lda::fit_lda, module)?)?;
    module.add_function(wrap_pyfunction!(lda::fold_in_lda, module)?)?;
    module.add_function(wrap_pyfunction!(mlr::fit_mlr, module)?)?;
    module.add_function(wrap_pyfunction!(word2vec::fit_word2vec, module)?)?;
    module.add_function(wrap_pyfunction!(word2vec::write_word_vectors, module)?)?;
    // The default of the estimators' `single_worker_entries` (the CLI's
    // `--single-worker-entries`), for strads.linear to check its own default against.
    module.add(
        "SINGLE_WORKER_ENTRIES",
        strads_apps::sparse_regression::SINGLE_WORKER_ENTRIES,
    )?;
    Ok(())
}
