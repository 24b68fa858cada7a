"""Lasso and SparseLogisticRegression: against scikit-learn's objectives (an independent
solver), against the CLI on the same file, on sparse input, and their input errors."""

import json
import subprocess

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Lasso as SklearnLasso
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import strads
from conftest import classification_problem, regression_problem, write_libsvm


def lasso_objective_sklearn_scale(X, y, coef, alpha):
    """scikit-learn's Lasso objective (fit_intercept=False): 1/(2n) ||y - X b||^2 + alpha ||b||_1."""
    n = X.shape[0]
    return 0.5 / n * np.sum((y - X @ coef) ** 2) + alpha * np.abs(coef).sum()


def logistic_objective(X, y01, coef, lam):
    """sum_i log(1 + exp(-y_i x_i . b)) + lam ||b||_1 with y in {-1, +1}."""
    signs = np.where(y01 == 1, 1.0, -1.0)
    return np.logaddexp(0.0, -signs * (X @ coef)).sum() + lam * np.abs(coef).sum()


def test_lasso_alpha_matches_sklearn_lasso_objective_at_its_optimum():
    X, y = regression_problem()
    alpha = 0.05
    ours = strads.Lasso(alpha=alpha, tol=1e-12, threads=2).fit(X, y)
    reference = SklearnLasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(X, y)
    f_ours = lasso_objective_sklearn_scale(X, y, ours.coef_, alpha)
    f_ref = lasso_objective_sklearn_scale(X, y, reference.coef_, alpha)
    assert ours.converged_
    assert abs(f_ours - f_ref) <= 1e-9 * f_ref
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-6)
    # The project's objective is scikit-learn's times n, with lambda = n alpha.
    assert ours.lambda_ == pytest.approx(X.shape[0] * alpha, rel=1e-15)
    assert ours.objective_ == pytest.approx(X.shape[0] * f_ours, rel=1e-9)


def test_lam_is_n_times_alpha():
    X, y = regression_problem(seed=3)
    by_alpha = strads.Lasso(alpha=0.02, tol=1e-12, threads=1).fit(X, y)
    by_lambda = strads.Lasso(lam=0.02 * X.shape[0], tol=1e-12, threads=1).fit(X, y)
    np.testing.assert_array_equal(by_alpha.coef_, by_lambda.coef_)


def test_lambda_ratio_is_relative_to_lambda_max():
    X, y = regression_problem(seed=4)
    model = strads.Lasso(lambda_ratio=0.3, threads=1).fit(X, y)
    assert model.lambda_max_ == pytest.approx(np.abs(X.T @ y).max(), rel=1e-12)
    assert model.lambda_ == pytest.approx(0.3 * model.lambda_max_, rel=1e-12)
    # At or above lambda_max every coefficient is zero.
    assert not strads.Lasso(lambda_ratio=1.0, threads=1).fit(X, y).coef_.any()


def test_logistic_matches_sklearn_l1_logistic_regression_objective():
    X, y = classification_problem()
    lam = 2.0
    ours = strads.SparseLogisticRegression(lam=lam, tol=1e-12, threads=2).fit(X, y)
    reference = LogisticRegression(
        penalty="l1", C=1 / lam, fit_intercept=False, solver="liblinear", tol=1e-12, max_iter=100_000
    ).fit(X, y)
    f_ours = logistic_objective(X, y, ours.coef_, lam)
    f_ref = logistic_objective(X, y, reference.coef_.ravel(), lam)
    assert ours.converged_
    # Ours is certified by its duality gap; liblinear's tolerance is looser.
    assert f_ours <= f_ref * (1 + 1e-9)
    assert f_ours == pytest.approx(f_ref, rel=1e-6)
    assert ours.objective_ == pytest.approx(f_ours, rel=1e-9)
    np.testing.assert_allclose(ours.coef_, reference.coef_.ravel(), atol=1e-4)


def test_logistic_probabilities_and_labels():
    X, y = classification_problem(seed=2)
    labels = np.array(["no", "yes"])[y]
    model = strads.SparseLogisticRegression(lambda_ratio=0.05, threads=1).fit(X, labels)
    assert list(model.classes_) == ["no", "yes"]
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-np.column_stack([-(X @ model.coef_), X @ model.coef_]))))
    np.testing.assert_array_equal(model.predict(X), np.where(X @ model.coef_ > 0, "yes", "no"))
    assert model.score(X, labels) > 0.6


@pytest.mark.parametrize("to_sparse", [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.coo_matrix])
def test_sparse_input_gives_the_dense_answer(to_sparse):
    X, y = regression_problem(seed=5)
    dense = strads.Lasso(lambda_ratio=0.1, threads=2).fit(X, y)
    sparse = strads.Lasso(lambda_ratio=0.1, threads=2).fit(to_sparse(X), y)
    np.testing.assert_array_equal(dense.coef_, sparse.coef_)
    np.testing.assert_array_equal(dense.predict(X), sparse.predict(to_sparse(X)))


def test_trailing_empty_columns_keep_the_width():
    X, y = regression_problem(seed=6)
    X = np.hstack([X, np.zeros((X.shape[0], 4))])
    model = strads.Lasso(threads=1).fit(sp.csr_matrix(X), y)
    assert model.coef_.shape == (X.shape[1],)
    assert model.n_features_in_ == X.shape[1]


def run_cli(binary, app, path, lam, threads=2):
    completed = subprocess.run(
        [binary, app, "--data", str(path), "--lambda", repr(float(lam)), "--tol", "1e-10",
         "--threads", str(threads), "--json"],
        check=True, capture_output=True, text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_lasso_objective_matches_the_cli_on_the_same_file(tmp_path, strads_binary):
    X, y = regression_problem(n=300, d=80, seed=7)
    path = tmp_path / "train.libsvm"
    write_libsvm(path, X, y)
    lam = 0.1 * np.abs(X.T @ y).max()
    cli = run_cli(strads_binary, "lasso", path, lam)
    ours = strads.Lasso(lam=lam, tol=1e-10, threads=2).fit(X, y)
    assert cli["converged"] and ours.converged_
    assert abs(ours.objective_ - cli["objective"]) <= 1e-9 * abs(cli["objective"])
    assert ours.lambda_max_ == pytest.approx(cli["lambda_max"], rel=1e-12)


def test_logistic_objective_matches_the_cli_on_the_same_file(tmp_path, strads_binary):
    X, y = classification_problem(n=300, d=50, seed=8)
    path = tmp_path / "train.libsvm"
    write_libsvm(path, X, np.where(y == 1, 1, -1))
    lam = 0.05 * np.abs(X.T @ np.where(y == 1, 1.0, -1.0)).max() / 2
    cli = run_cli(strads_binary, "logreg", path, lam)
    ours = strads.SparseLogisticRegression(lam=lam, tol=1e-10, threads=2).fit(X, y)
    assert cli["converged"] and ours.converged_
    assert abs(ours.objective_ - cli["objective"]) <= 1e-9 * abs(cli["objective"])


def test_pipeline_and_grid_search():
    X, y = regression_problem(n=150, seed=9)
    pipeline = make_pipeline(StandardScaler(), strads.Lasso(threads=1))
    search = GridSearchCV(pipeline, {"lasso__alpha": [0.001, 0.01, 0.1, 1.0]}, cv=3).fit(X, y)
    assert search.best_params_["lasso__alpha"] in (0.001, 0.01, 0.1)
    assert search.best_score_ > 0.5
    Xc, yc = classification_problem(seed=10)
    search = GridSearchCV(strads.SparseLogisticRegression(threads=1), {"lambda_ratio": [0.05, 0.5]}, cv=3)
    assert search.fit(Xc, yc).score(Xc, yc) > 0.5


def test_multiclass_is_one_vs_rest():
    X, y = classification_problem(n=240, seed=11)
    y3 = y + (X[:, 0] > 1).astype(int) * 2  # classes 0..3, some absent is fine
    model = strads.SparseLogisticRegression(lambda_ratio=0.05, threads=1).fit(X, y3)
    k = len(np.unique(y3))
    assert model.coef_.shape == (k, X.shape[1])
    for index, label in enumerate(model.classes_):
        alone = strads.SparseLogisticRegression(lambda_ratio=0.05, threads=1).fit(X, y3 == label)
        np.testing.assert_array_equal(model.coef_[index], alone.coef_)
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_trace_and_verbose(capsys):
    X, y = regression_problem(seed=12)
    model = strads.Lasso(lambda_ratio=0.05, threads=1, verbose=True).fit(X, y)
    assert len(model.trace_) >= 2
    assert set(model.trace_[0]) == {"iteration", "seconds", "objective", "duality_gap", "nnz", "rounds", "active"}
    assert model.trace_[-1]["objective"] == model.objective_
    assert model.trace_[0]["nnz"] == 0  # the first evaluation is at b = 0
    printed = capsys.readouterr().err.strip().splitlines()
    assert len(printed) == len(model.trace_)
    assert printed[0].startswith("[strads squared]")


def test_bad_input_names_the_offending_row_and_column():
    X, y = regression_problem(seed=13)
    bad = X.copy()
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"row 7, column 3"):
        strads.Lasso().fit(bad, y)
    bad_sparse = sp.csr_matrix(X)
    bad_sparse[9, 2] = np.inf
    with pytest.raises(ValueError, match=r"row 9, column 2"):
        strads.Lasso().fit(bad_sparse, y)
    bad_y = y.copy()
    bad_y[5] = np.nan
    with pytest.raises(ValueError, match=r"at row 5"):
        strads.Lasso().fit(X, bad_y)
    with pytest.raises(ValueError, match=r"X has 120 rows but y has 119 entries"):
        strads.Lasso().fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"Reshape your data"):
        strads.Lasso().fit(X[:, 0], y)
    with pytest.raises(ValueError, match=r"at most one of alpha, lam and lambda_ratio"):
        strads.Lasso(alpha=1.0, lam=2.0).fit(X, y)
    with pytest.raises(ValueError, match=r"lam must be a number >= 0"):
        strads.Lasso(lam=-1.0).fit(X, y)
    with pytest.raises(ValueError, match=r"threads must be an integer >= 1"):
        strads.Lasso(threads=0).fit(X, y)
    with pytest.raises(ValueError, match=r"at least 2 classes"):
        strads.SparseLogisticRegression().fit(X, np.ones(len(y)))
    model = strads.Lasso(threads=1).fit(X, y)
    with pytest.raises(ValueError, match=r"X has 39 features, but Lasso is expecting 40"):
        model.predict(X[:, :-1])


def test_unfitted_estimators_raise_not_fitted():
    X, _ = regression_problem()
    with pytest.raises(NotFittedError):
        strads.Lasso().predict(X)
    with pytest.raises(NotFittedError):
        strads.SparseLogisticRegression().predict_proba(X)


def test_an_exception_from_progress_stops_the_fit_and_is_raised(monkeypatch):
    """What Ctrl-C does (through Python's signal check) is tested in test_interrupt.py; here the
    same path, an exception raised while the fit runs, stops the solver and surfaces."""
    import strads.linear

    def raising(verbose, what):
        def callback(record):
            raise KeyboardInterrupt
        return callback

    monkeypatch.setattr(strads.linear, "progress_printer", raising)
    X, y = regression_problem(seed=14)
    with pytest.raises(KeyboardInterrupt):
        strads.Lasso(threads=2).fit(X, y)
    monkeypatch.undo()
    assert strads.Lasso(threads=2).fit(X, y).converged_


def test_int64_indices_give_the_int32_answer():
    """scipy picks int32 or int64 index arrays; the bindings read either (called directly here,
    since scipy's constructors downcast small int64 indices)."""
    from strads import _strads

    X, y = regression_problem(seed=15)
    csr = sp.csr_matrix(X)
    assert csr.indices.dtype == np.int32

    def coefficients(indptr, indices):
        return _strads.fit_sparse_regression(
            "squared", indptr, indices, csr.data, y, X.shape[1], "ratio", 0.1, 1e-10, 1e4,
            float("inf"), 2, "columns", 1, None,
        )["coef"]

    np.testing.assert_array_equal(
        coefficients(csr.indptr, csr.indices),
        coefficients(csr.indptr.astype(np.int64), csr.indices.astype(np.int64)),
    )
    with pytest.raises(ValueError, match="indices must be a 1-D int32 or int64 array"):
        coefficients(csr.indptr, csr.indices.astype(np.float64))


def test_unsorted_duplicate_and_zero_entries_are_summed_as_scipy_would():
    """The bindings read CSR arrays as they are: a row's entries out of order, split into
    duplicates or with explicit zeros must give the canonical matrix's answer."""
    X, y = regression_problem(seed=16)
    csr = sp.csr_matrix(X)
    indptr, indices, data = [0], [], []
    for i in range(X.shape[0]):
        row = slice(csr.indptr[i], csr.indptr[i + 1])
        for column, value in zip(csr.indices[row][::-1], csr.data[row][::-1]):
            indices += [column, column]  # halves: their sum is the value exactly
            data += [value * 0.5, value * 0.5]
        indices.append(i % X.shape[1])  # an explicit zero, possibly beside a stored entry
        data.append(0.0)
        indptr.append(len(indices))
    messy = sp.csr_matrix((np.array(data), np.array(indices, dtype=np.int32), np.array(indptr)), shape=X.shape)
    assert not messy.has_canonical_format
    canonical = strads.Lasso(lambda_ratio=0.1, tol=1e-10, threads=1).fit(csr, y)
    read_as_is = strads.Lasso(lambda_ratio=0.1, tol=1e-10, threads=1).fit(messy, y)
    np.testing.assert_array_equal(read_as_is.coef_, canonical.coef_)


def test_a_column_index_out_of_range_is_named():
    from strads import _strads

    X, y = regression_problem(seed=17)
    csr = sp.csr_matrix(X)
    indices = csr.indices.copy()
    indices[csr.indptr[4]] = X.shape[1]
    with pytest.raises(ValueError, match=r"column index 40 out of range at row 4"):
        _strads.fit_sparse_regression(
            "squared", csr.indptr, indices, csr.data, y, X.shape[1], "ratio", 0.1, 1e-10, 1e4,
            float("inf"), 1, "columns", 1, None,
        )


@pytest.mark.parametrize("estimator", ["lasso", "logistic"])
def test_csc_csr_and_dense_inputs_give_identical_coefficients(estimator):
    """The column layout reads a CSC matrix's columns and a dense array's columns straight into
    the workers' blocks, and a CSR matrix through its rows: the same blocks, so bit for bit the
    same coefficients (also for a CSC matrix with unsorted duplicates and explicit zeros)."""
    if estimator == "lasso":
        X, y = regression_problem(seed=18)
        X[np.abs(X) < 0.5] = 0.0  # a sparse matrix, with empty stretches of columns

        def make():
            return strads.Lasso(lambda_ratio=0.1, tol=1e-10, threads=2)
    else:
        X, y = classification_problem()
        X[np.abs(X) < 0.5] = 0.0

        def make():
            return strads.SparseLogisticRegression(lam=2.0, tol=1e-10, threads=2)

    csc = sp.csc_matrix(X)
    indptr, indices, data = [0], [], []
    for j in range(X.shape[1]):
        column = slice(csc.indptr[j], csc.indptr[j + 1])
        for row, value in zip(csc.indices[column][::-1], csc.data[column][::-1]):
            indices += [row, row]
            data += [value * 0.5, value * 0.5]
        indices.append(j % X.shape[0])
        data.append(0.0)
        indptr.append(len(indices))
    messy = sp.csc_matrix((np.array(data), np.array(indices, dtype=np.int32), np.array(indptr)), shape=X.shape)
    assert not messy.has_canonical_format
    inputs = {
        "csr": sp.csr_matrix(X),
        "csc": csc,
        "messy csc": messy,
        "coo": sp.coo_matrix(X),
        "dense C": np.ascontiguousarray(X),
        "dense F": np.asfortranarray(X),
    }
    reference = make().fit(inputs.pop("csr"), y)
    for name, matrix in inputs.items():
        model = make().fit(matrix, y)
        np.testing.assert_array_equal(model.coef_, reference.coef_, err_msg=name)
        assert model.objective_ == reference.objective_, name
    # The rows layout reads CSC input through its rows, to the same optimum.
    rows = make().set_params(layout="rows").fit(csc, y)
    np.testing.assert_allclose(rows.coef_, reference.coef_, atol=1e-6)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_a_large_csr_matrix_is_transposed_into_the_csc_blocks(index_dtype):
    """A canonical CSR matrix above the parallel threshold (100,000 entries) is transposed on
    the fit's threads (counted by ranges of rows, scattered by ranges of columns) into the
    arrays the column blocks read: bit for bit the blocks of scipy's own CSC matrix, so the
    same coefficients and objective; with an explicit zero it is read through its rows
    instead, to the same blocks."""
    rng = np.random.default_rng(41)
    n_rows, n_cols = 3000, 500
    # Rows of very different lengths, and columns of very different counts.
    density = np.outer(rng.uniform(0.01, 0.3, n_rows), rng.uniform(0.05, 1.0, n_cols))
    X = np.where(rng.uniform(size=(n_rows, n_cols)) < density, rng.normal(size=(n_rows, n_cols)), 0.0)
    y = X[:, :20] @ rng.normal(size=20) + 0.1 * rng.normal(size=n_rows)
    csr = sp.csr_matrix(X)
    assert csr.nnz > 100_000
    csr.indices = csr.indices.astype(index_dtype)
    csr.indptr = csr.indptr.astype(index_dtype)

    def fit(matrix):
        return strads.Lasso(lambda_ratio=0.05, tol=1e-10, threads=2, single_worker_entries=0).fit(matrix, y)

    reference = fit(sp.csc_matrix(X))
    model = fit(csr)
    np.testing.assert_array_equal(model.coef_, reference.coef_)
    assert model.objective_ == reference.objective_
    with_zero = csr.copy()
    with_zero.data[7] = 0.0  # kept as an explicit entry: not canonical
    expected = X.copy()
    expected[np.nonzero(X)[0][7], np.nonzero(X)[1][7]] = 0.0
    np.testing.assert_array_equal(fit(with_zero).coef_, fit(sp.csc_matrix(expected)).coef_)


def test_bad_csc_and_dense_input_names_the_offending_row_and_column():
    X, y = regression_problem(seed=19)
    bad = sp.csc_matrix(X)
    bad[9, 2] = np.inf
    with pytest.raises(ValueError, match=r"X contains NaN or infinity: inf at row 9, column 2"):
        strads.Lasso().fit(bad, y)
    bad_dense = np.asfortranarray(X)
    bad_dense[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or infinity: nan at row 7, column 3"):
        strads.Lasso().fit(bad_dense, y)
    from strads import _strads

    csc = sp.csc_matrix(X)
    indices = csc.indices.copy()
    indices[csc.indptr[4]] = X.shape[0]
    with pytest.raises(ValueError, match=r"row index 120 out of range at column 4"):
        _strads.fit_sparse_regression_csc(
            "squared", csc.indptr, indices, csc.data, y, "ratio", 0.1, 1e-10, 1e4,
            float("inf"), 1, 1, None,
        )


def read_cli_coefficients(path, d):
    """The CLI's --out file (`index value` lines, 1-based, nonzeros only) as a dense vector."""
    coef = np.zeros(d)
    for line in path.read_text().split("\n"):
        if line.strip():
            index, value = line.split()
            coef[int(index) - 1] = float(value)
    return coef


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_a_canonical_csc_matrix_is_solved_in_place_with_the_clis_answer(tmp_path, strads_binary, index_dtype):
    """A canonical CSC matrix's arrays are read in place by the workers (no copy of X; int32
    row indices as they are, int64 ones narrowed), read-only during the fit and writeable again
    after it; the coefficients are the CLI's on the same data, and bit for bit those of the
    copied CSR, dense and non-canonical CSC inputs."""
    from strads import _strads

    X, y = regression_problem(n=300, d=80, seed=21)
    path = tmp_path / "train.libsvm"
    write_libsvm(path, X, y)
    lam = 0.05 * np.abs(X.T @ y).max()
    out = tmp_path / "coef.txt"
    subprocess.run(
        [strads_binary, "lasso", "--data", str(path), "--lambda", repr(float(lam)), "--tol", "1e-10",
         "--threads", "2", "--out", str(out), "--json"],
        check=True, capture_output=True, text=True,
    )
    cli_coef = read_cli_coefficients(out, X.shape[1])

    csc = sp.csc_matrix(X)
    assert csc.has_canonical_format
    indptr, indices, data = csc.indptr.astype(index_dtype), csc.indices.astype(index_dtype), csc.data
    seen_during_fit = []

    def during_fit(record):
        # Called with the GIL while the workers read the arrays: Python cannot write them.
        seen_during_fit.append((indices.flags.writeable, data.flags.writeable))
        with pytest.raises(ValueError, match="read-only"):
            data[0] = 1.0

    result = _strads.fit_sparse_regression_csc(
        "squared", indptr, indices, data, y, "lambda", lam, 1e-10, 1e4, float("inf"), 2, 1, during_fit,
    )
    assert result["x_read_in_place"]
    assert seen_during_fit and all(flags == (False, False) for flags in seen_during_fit)
    assert indices.flags.writeable and data.flags.writeable
    np.testing.assert_allclose(result["coef"], cli_coef, rtol=1e-12, atol=1e-15)

    def copied(matrix):
        return strads.Lasso(lam=lam, tol=1e-10, threads=2).fit(matrix, y)

    messy = sp.csc_matrix(X)
    messy.data[messy.indptr[3]] = 0.0  # an explicit zero: the matrix is copied, the zero dropped
    messy_result = _strads.fit_sparse_regression_csc(
        "squared", messy.indptr, messy.indices, messy.data, y, "lambda", lam, 1e-10, 1e4,
        float("inf"), 2, 1, None,
    )
    assert not messy_result["x_read_in_place"]
    reference = copied(sp.csr_matrix(X))
    for name, coef in [
        ("csr", reference.coef_),
        ("dense", copied(np.asfortranarray(X)).coef_),
        ("estimator on csc", copied(csc).coef_),
    ]:
        np.testing.assert_array_equal(result["coef"], coef, err_msg=name)
    # The explicit zero stood for an entry of X: a different problem, solved the copied way.
    X_messy = X.copy()
    X_messy[messy.indices[messy.indptr[3]], 3] = 0.0
    np.testing.assert_array_equal(messy_result["coef"], copied(sp.csr_matrix(X_messy)).coef_)


@pytest.mark.parametrize("estimator", ["lasso", "logistic"])
def test_single_worker_entries_is_the_clis_small_problem_rule(tmp_path, strads_binary, estimator):
    """``single_worker_entries`` is the CLI's ``--single-worker-entries`` with its default: on
    2 threads a small X is solved as the CLI solves it with the same rule, on one thread by
    default and on both with the rule off (0), from every input format."""
    from strads import _strads

    assert strads.Lasso().get_params()["single_worker_entries"] == _strads.SINGLE_WORKER_ENTRIES
    assert strads.SparseLogisticRegression().get_params()["single_worker_entries"] == _strads.SINGLE_WORKER_ENTRIES
    assert strads.Lasso().set_params(single_worker_entries=0).get_params()["single_worker_entries"] == 0
    if estimator == "lasso":
        X, y = regression_problem(n=300, d=80, seed=7)
        labels, app, make = y, "lasso", strads.Lasso
    else:
        X, y = classification_problem(n=300, d=50, seed=8)
        labels, app, make = np.where(y == 1, 1, -1), "logreg", strads.SparseLogisticRegression
    path = tmp_path / "train.libsvm"
    write_libsvm(path, X, labels)
    lam = 0.01 * np.abs(X.T @ labels).max()

    def cli(entries):
        completed = subprocess.run(
            [strads_binary, app, "--data", str(path), "--lambda", repr(float(lam)), "--tol", "1e-10",
             "--threads", "2", "--single-worker-entries", str(entries), "--json"],
            check=True, capture_output=True, text=True,
        )
        return json.loads(completed.stdout.strip().splitlines()[-1])

    one_thread, two_threads = cli(_strads.SINGLE_WORKER_ENTRIES), cli(0)
    # The rule changes the solve here (else this test could not tell the two apart).
    assert one_thread["rounds"] != two_threads["rounds"]
    for entries, reference in ((None, one_thread), (0, two_threads)):
        for matrix in (X, sp.csc_matrix(X), sp.csr_matrix(X)):
            params = {} if entries is None else {"single_worker_entries": entries}
            ours = make(lam=lam, tol=1e-10, threads=2, **params).fit(matrix, y)
            assert ours.n_iter_ == reference["iterations"]
            assert abs(ours.objective_ - reference["objective"]) <= 1e-12 * abs(reference["objective"])
    with pytest.raises(ValueError, match="single_worker_entries"):
        make(single_worker_entries=-1).fit(X, y)
