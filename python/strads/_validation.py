"""Input checks shared by the estimators: clear ValueErrors that name the offending row or
column, and conversions to the arrays the Rust bindings take (CSR without densifying)."""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import type_of_target


def check_finite_matrix(X, name="X"):
    """Return X as float64 CSR (dense input is converted, sparse input is never densified),
    with explicit zeros dropped and indices sorted; raise ValueError naming the row and column
    of the first NaN or infinite entry."""
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-dimensional, got shape {X.shape}")
        X = sp.csr_matrix(X, dtype=np.float64)  # CSR stays CSR (no copy when already float64)
        bad = ~np.isfinite(X.data)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            row = int(np.searchsorted(X.indptr, k, side="right") - 1)
            raise ValueError(
                f"{name} contains NaN or infinity: {X.data[k]} at row {row}, column {int(X.indices[k])}"
            )
        if not X.has_canonical_format or (X.data == 0).any():
            X = X.copy()
            X.sum_duplicates()
            X.eliminate_zeros()
        return X
    dense = _dense_float(X, name)
    bad = ~np.isfinite(dense)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} contains NaN or infinity: {dense[row, column]} at row {row}, column {column}")
    return sp.csr_matrix(dense)


def _dense_float(X, name):
    """A 2-D float64 ndarray from an array-like (no copy when it already is one)."""
    if X is None or isinstance(X, (str, bytes)):
        raise ValueError(f"{name} must be an array-like or a scipy sparse matrix, got {type(X).__name__}")
    array = np.asarray(X)
    if array.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} must be real")
    try:
        dense = array.astype(np.float64, copy=False)
    except ValueError as error:  # e.g. strings; a TypeError (dicts, objects) passes unchanged
        raise ValueError(f"{name} must hold numbers: {error}") from error
    if dense.ndim != 2:
        raise ValueError(
            f"Expected a 2D array for {name} (samples x features), got shape {dense.shape}. "
            "Reshape your data either using array.reshape(-1, 1) if it has a single feature "
            "or array.reshape(1, -1) if it contains a single sample."
        )
    return dense


def csr_for_fit(X, name="X"):
    """X as a float64 CSR matrix for the bindings of a fit, scanned as little as possible: the
    bindings check every value (NaN and infinity, named by row and column), index and row order
    in the one pass in which they copy it, so a float64 CSR matrix is passed on untouched (no
    numpy pass over it here). Other sparse formats and dtypes are converted by scipy, never
    densified; dense input becomes CSR (its NaN and infinities stay entries, for the bindings to
    name)."""
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-dimensional, got shape {X.shape}")
        if X.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {name} must be real")
        if X.format != "csr":
            X = X.tocsr()
        if X.dtype != np.float64:
            X = X.astype(np.float64)
        return X
    return sp.csr_matrix(_dense_float(X, name))


def matrix_for_column_fit(X, name="X"):
    """X for the bindings of a fit in the column layout, which read it column by column: a
    float64 CSC matrix, or a float64 Fortran-ordered array, passed on untouched (the bindings
    check every value, index and column order in the one pass in which they copy each column
    into its worker's block). A float64 CSR matrix is passed on too, for the bindings' rows
    (their transposition into the blocks is cheaper than scipy's ``tocsc``). Other sparse
    formats and dtypes are converted by scipy to CSC, never densified; other dense input
    becomes a Fortran-ordered float64 array (its NaN and infinities stay, for the bindings to
    name)."""
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-dimensional, got shape {X.shape}")
        if X.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {name} must be real")
        if X.format not in ("csc", "csr"):
            X = X.tocsc()
        if X.dtype != np.float64:
            X = X.astype(np.float64)
        return X
    return np.asfortranarray(_dense_float(X, name))


def check_samples(X, name="X"):
    """The number of rows and columns, refusing an empty matrix."""
    n_samples, n_features = X.shape
    shape = f"(shape=({n_samples}, {n_features}))"
    if n_samples < 1:
        raise ValueError(f"Found {name} with 0 sample(s) {shape} while a minimum of 1 is required.")
    if n_features < 1:
        raise ValueError(f"Found {name} with 0 feature(s) {shape} while a minimum of 1 is required.")
    return n_samples, n_features


def check_target(y, n_samples, name="y", numeric=True):
    """y as a 1-D array of n_samples entries; numeric targets must be finite (the offending row
    is named)."""
    if y is None:
        raise ValueError(f"this estimator requires y to be passed, but the target {name} is None")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            f"A column-vector {name} was passed when a 1d array was expected; it is raveled.",
            DataConversionWarning,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} rows but {name} has {y.shape[0]} entries")
    if numeric:
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must hold numbers: {error}") from error
        bad = ~np.isfinite(y)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{name} contains NaN or infinity: {y[row]} at row {row}")
    return y


def check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive_number(value, name, allow_zero=False, allow_inf=False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and not np.isnan(value)
    if ok:
        ok = (value >= 0 if allow_zero else value > 0) and (allow_inf or np.isfinite(value))
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    return float(value)


def check_class_labels(y, n_samples, estimator):
    """Checks that ``y`` holds at least two classes for ``n_samples`` rows: returns the sorted
    classes and each row's index into them. NaN or infinite labels, non-class targets
    (continuous, multi-output) and a single class are ``ValueError``s naming ``estimator``."""
    y = check_target(y, n_samples, numeric=False)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"y contains NaN or infinity: {y[row]} at row {row}")
    kind = type_of_target(y)
    if kind not in ("binary", "multiclass"):
        raise ValueError(f"Unknown label type: {kind}; y must hold class labels")
    classes, labels = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"{estimator} needs at least 2 classes in y, got 1 class: {classes.tolist()}"
        )
    return classes, labels
