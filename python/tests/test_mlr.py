"""MultinomialLogisticRegression: against scikit-learn's LogisticRegression optimum (an
independent solver), against the CLI `strads mlr` on the same file, on sparse input, in
pipelines and grid search, and its input errors."""

import json
import subprocess

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import strads
from conftest import write_libsvm


def softmax_objective(X, y, coef, intercept, lam, l1=0.0):
    """sum_i -log softmax(W x_i + b)_{y_i} + lam/2 ||W||^2 + l1 ||W||_1, y as class indices."""
    scores = X @ coef.T + intercept
    top = scores.max(axis=1, keepdims=True)
    log_normaliser = top[:, 0] + np.log(np.exp(scores - top).sum(axis=1))
    loss = (log_normaliser - scores[np.arange(len(y)), y]).sum()
    return loss + lam / 2 * np.sum(coef**2) + l1 * np.abs(coef).sum()


def test_iris_matches_sklearn_lbfgs_optimum():
    X, y = load_iris(return_X_y=True)
    C = 0.5
    ours = strads.MultinomialLogisticRegression(C=C, tol=1e-10, max_iter=10_000, threads=2).fit(X, y)
    reference = LogisticRegression(C=C, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y)
    assert reference.coef_.shape == ours.coef_.shape == (3, 4)
    f_ours = softmax_objective(X, y, ours.coef_, 0.0, 1 / C)
    f_ref = softmax_objective(X, y, reference.coef_, 0.0, 1 / C)
    assert ours.converged_, ours.stop_reason_
    assert f_ours == pytest.approx(f_ref, rel=1e-6)
    assert f_ours <= f_ref * (1 + 1e-9)
    assert ours.objective_ == pytest.approx(f_ours, rel=1e-9)
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-4)
    np.testing.assert_array_equal(ours.intercept_, np.zeros(3))


def test_digits_with_intercept_matches_sklearn_optimum():
    X, y = load_digits(return_X_y=True)
    lam = 20.0
    ours = strads.MultinomialLogisticRegression(
        lam=lam, fit_intercept=True, tol=1e-10, max_iter=20_000, threads=2
    ).fit(X, y)
    # scikit-learn's lbfgs leaves the intercept unpenalised, as ours.
    reference = LogisticRegression(C=1 / lam, tol=1e-12, max_iter=100_000).fit(X, y)
    f_ours = softmax_objective(X, y, ours.coef_, ours.intercept_, lam)
    f_ref = softmax_objective(X, y, reference.coef_, reference.intercept_, lam)
    assert f_ours == pytest.approx(f_ref, rel=1e-6)
    assert ours.objective_ == pytest.approx(f_ours, rel=1e-9)
    assert ours.score(X, y) == pytest.approx(reference.score(X, y), abs=2 / len(y))


def cli_fit(strads_binary, path, *flags):
    command = [strads_binary, "mlr", "--data", str(path), "--threads", "1", "--json", *flags]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "flags, params",
    [
        (["--lambda", "2", "--tol", "1e-9", "--max-iters", "5000"], dict(lam=2.0, tol=1e-9, max_iter=5000)),
        (["--lambda", "0.5", "--l1", "3", "--intercept"], dict(lam=0.5, l1=3.0, fit_intercept=True)),
        (
            ["--lambda", "1", "--solver", "sgd", "--epochs", "4", "--batch", "32", "--seed", "7"],
            dict(lam=1.0, solver="sgd", epochs=4, batch=32, seed=7),
        ),
    ],
    ids=["lbfgs", "owlqn-intercept", "sgd"],
)
def test_same_answer_as_the_cli_on_the_same_data(tmp_path, strads_binary, flags, params):
    X, y = load_iris(return_X_y=True)
    path = tmp_path / "iris.libsvm"
    write_libsvm(path, X, y)
    cli = cli_fit(strads_binary, path, *flags)
    ours = strads.MultinomialLogisticRegression(threads=1, **params).fit(X, y)
    assert ours.objective_ == pytest.approx(cli["objective"], rel=1e-9)
    assert ours.n_iter_ == cli["iterations"]
    assert ours.stop_reason_ == cli["stop"]
    assert ours.score(X, y) == pytest.approx(cli["train_accuracy"], abs=1e-12)


def test_sparse_input_gives_the_dense_answer_without_densifying():
    X, y = load_digits(return_X_y=True)
    dense = strads.MultinomialLogisticRegression(lam=5.0, threads=1).fit(X, y)
    for matrix in (sp.csr_matrix(X), sp.csc_matrix(X), sp.csr_array(X)):
        sparse = strads.MultinomialLogisticRegression(lam=5.0, threads=1).fit(matrix, y)
        np.testing.assert_array_equal(sparse.coef_, dense.coef_)
        np.testing.assert_array_equal(sparse.predict_proba(matrix), dense.predict_proba(X))


def test_any_labels_map_to_sorted_classes():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    by_name = strads.MultinomialLogisticRegression(threads=1).fit(X, names)
    by_index = strads.MultinomialLogisticRegression(threads=1).fit(X, y)
    assert by_name.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(by_name.coef_, by_index.coef_)
    assert set(by_name.predict(X)) <= set(names)
    assert by_name.score(X, names) == by_index.score(X, y) > 0.9


def test_probabilities_are_the_softmax_of_the_scores():
    X, y = load_iris(return_X_y=True)
    model = strads.MultinomialLogisticRegression(fit_intercept=True, threads=1).fit(X, y)
    scores = X @ model.coef_.T + model.intercept_
    expected = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-12)
    np.testing.assert_allclose(model.predict_log_proba(X), np.log(expected), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(model.predict(X), np.argmax(expected, axis=1))


def test_two_classes_give_a_one_dimensional_decision_function():
    X, y = load_iris(return_X_y=True)
    X, y = X[y < 2], y[y < 2]
    model = strads.MultinomialLogisticRegression(threads=1).fit(X, y)
    assert model.coef_.shape == (2, 4)
    margin = model.decision_function(X)
    assert margin.shape == (len(y),)
    np.testing.assert_array_equal(model.predict(X), (margin > 0).astype(int))


def test_pipeline_and_grid_search():
    X, y = load_digits(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), strads.MultinomialLogisticRegression(threads=2))
    search = GridSearchCV(pipeline, {"multinomiallogisticregression__lam": [1.0, 100.0]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["multinomiallogisticregression__lam"] in (1.0, 100.0)
    assert search.score(X, y) > 0.9


def test_trace_and_verbose(capsys):
    X, y = load_iris(return_X_y=True)
    model = strads.MultinomialLogisticRegression(threads=1, verbose=True).fit(X, y)
    assert len(model.trace_) == model.n_iter_ + 1  # the start, then every iteration
    assert [r["iteration"] for r in model.trace_] == list(range(model.n_iter_ + 1))
    assert model.trace_[-1]["objective"] == model.objective_
    printed = capsys.readouterr().err.strip().splitlines()
    assert len(printed) == len(model.trace_)
    assert printed[0].startswith("[strads mlr]") and "iteration 0," in printed[0]
    sgd = strads.MultinomialLogisticRegression(solver="sgd", epochs=3, threads=1).fit(X, y)
    assert [r["iteration"] for r in sgd.trace_] == [1, 2, 3] and not sgd.converged_


def test_bad_input_names_the_row_and_column():
    X, y = load_iris(return_X_y=True)
    model = strads.MultinomialLogisticRegression(threads=1)
    bad = X.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match="row 7, column 2"):
        model.fit(bad, y)
    with pytest.raises(ValueError, match="row 3, column 1"):
        model.fit(sp.csr_matrix(np.where(np.arange(X.size).reshape(X.shape) == 13, np.inf, X)), y)
    with pytest.raises(ValueError, match="150 rows but y has 149"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        model.fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="y contains NaN or infinity: nan at row 4"):
        model.fit(X, np.where(np.arange(len(y)) == 4, np.nan, y))
    with pytest.raises(ValueError, match="Unknown label type"):
        model.fit(X, X[:, 0])
    with pytest.raises(ValueError, match="lam or C, not both"):
        strads.MultinomialLogisticRegression(lam=1.0, C=1.0).fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        strads.MultinomialLogisticRegression(solver="newton").fit(X, y)
    with pytest.raises(ValueError, match="l1 must be a number >= 0"):
        strads.MultinomialLogisticRegression(l1=-1.0).fit(X, y)
    with pytest.raises(NotFittedError):
        model.predict(X)
    fitted = model.fit(X, y)
    with pytest.raises(ValueError, match="4 features"):
        fitted.predict(X[:, :3])
