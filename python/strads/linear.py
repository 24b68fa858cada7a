"""Lasso and sparse logistic regression: scikit-learn estimators over the library's
``sparse_regression::solve`` (the solver of ``strads lasso`` and ``strads logreg``)."""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _strads
from ._fitting import progress_printer, resolve_threads
from ._validation import (
    check_class_labels,
    check_finite_matrix,
    csr_for_fit,
    matrix_for_column_fit,
    check_positive_int,
    check_positive_number,
    check_samples,
    check_target,
)

_PENALTY_DOC = """
    Regularisation: give at most one of ``alpha``, ``lam`` and ``lambda_ratio`` (default:
    ``lambda_ratio=0.1``, the CLI's default).

    - ``lam``: the project's lambda, the objective exactly as the CLI prints it.
    - ``alpha``: scikit-learn's scale, where the loss is averaged over the n samples:
      ``lambda = n_samples * alpha``.
    - ``lambda_ratio``: ``lambda = lambda_ratio * lambda_max``, where lambda_max is the smallest
      lambda at which all coefficients are zero (the CLI's ``--lambda-ratio``).
"""


class _SparseRegression(BaseEstimator):
    """What Lasso and SparseLogisticRegression share: parameters, fitting, the trace."""

    _loss = None  # "squared" or "logistic"

    def __init__(
        self,
        alpha=None,
        *,
        lam=None,
        lambda_ratio=None,
        tol=1e-6,
        max_iter=10_000,
        max_seconds=float("inf"),
        threads=None,
        layout="columns",
        single_worker_entries=100_000,
        seed=1,
        verbose=False,
    ):
        self.alpha = alpha
        self.lam = lam
        self.lambda_ratio = lambda_ratio
        self.tol = tol
        self.max_iter = max_iter
        self.max_seconds = max_seconds
        self.threads = threads
        self.layout = layout
        self.single_worker_entries = single_worker_entries
        self.seed = seed
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _penalty(self, n_samples):
        """The library's penalty ("lambda" or "ratio", value) from the three ways to give it."""
        given = [name for name in ("alpha", "lam", "lambda_ratio") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of alpha, lam and lambda_ratio, got {' and '.join(given)}")
        if self.lam is not None:
            return "lambda", check_positive_number(self.lam, "lam", allow_zero=True)
        if self.alpha is not None:
            return "lambda", n_samples * check_positive_number(self.alpha, "alpha", allow_zero=True)
        ratio = 0.1 if self.lambda_ratio is None else self.lambda_ratio
        return "ratio", check_positive_number(ratio, "lambda_ratio")

    def _check_X(self, X, reset):
        # A fit leaves the checks of values to the bindings' one pass over the arrays
        # (matrix_for_column_fit, csr_for_fit); predictions compute in numpy, so their X is
        # checked here.
        if not reset:
            checked = check_finite_matrix(X)
        elif self.layout == "columns":
            checked = matrix_for_column_fit(X)
        else:
            checked = csr_for_fit(X)
        # scikit-learn's bookkeeping only: n_features_in_ and feature_names_in_ (from a
        # DataFrame's columns), and the matching errors at predict time.
        validate_data(self, X, reset=reset, skip_check_array=True)
        return checked

    def _solve(self, X, labels):
        """Runs the library on X (from _check_X: CSR, CSC or a Fortran-ordered array) and float
        labels; sets the fitted attributes."""
        n_samples, n_features = check_samples(X)
        penalty, value = self._penalty(n_samples)
        if self.layout not in ("columns", "rows"):
            raise ValueError(f"layout must be 'columns' or 'rows', got {self.layout!r}")
        labels = np.ascontiguousarray(labels, dtype=np.float64)
        solver = (
            check_positive_number(self.tol, "tol"),
            float(check_positive_int(self.max_iter, "max_iter", minimum=0)),
            check_positive_number(self.max_seconds, "max_seconds", allow_inf=True),
            resolve_threads(self.threads),
        )
        single_worker_entries = check_positive_int(self.single_worker_entries, "single_worker_entries", minimum=0)
        seed = check_positive_int(self.seed, "seed", minimum=0)
        on_progress = progress_printer(self.verbose, self._loss)
        if sp.issparse(X) and X.format == "csc":
            # A canonical matrix is read in place by the workers (no copy); any other has each
            # column copied once, straight into its worker's block.
            result = _strads.fit_sparse_regression_csc(
                self._loss, X.indptr, X.indices, np.ascontiguousarray(X.data, dtype=np.float64),
                labels, penalty, value, *solver, seed, on_progress, single_worker_entries,
            )
        elif not sp.issparse(X):
            result = _strads.fit_sparse_regression_dense(
                self._loss, X, labels, penalty, value, *solver, seed, on_progress, single_worker_entries,
            )
        else:
            result = _strads.fit_sparse_regression(
                self._loss,
                X.indptr,  # int32 or int64, as scipy chose: read without a copy
                X.indices,
                np.ascontiguousarray(X.data, dtype=np.float64),
                labels,
                n_features,
                penalty,
                value,
                *solver,
                self.layout,
                seed,
                on_progress,
                single_worker_entries,
            )
        self.coef_ = result["coef"]
        self.lambda_ = result["lambda"]
        self.lambda_max_ = result["lambda_max"]
        self.objective_ = result["objective"]
        self.duality_gap_ = result["duality_gap"]
        self.n_iter_ = result["iterations"]
        self.converged_ = result["converged"]
        self.stop_reason_ = result["stop_reason"]
        self.solve_seconds_ = result["solve_seconds"]
        self.load_seconds_ = result["load_seconds"]
        self.trace_ = result["trace"]
        if not self.converged_:
            warnings.warn(
                f"stopped ({self.stop_reason_}) before the duality gap reached tol: gap "
                f"{self.duality_gap_:.3e} at objective {self.objective_:.6e}",
                ConvergenceWarning,
            )
        return self

    def _linear(self, X):
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        return np.asarray(X @ self.coef_).ravel()


class Lasso(RegressorMixin, _SparseRegression):
    __doc__ = f"""Lasso by Strads' coordinate descent (the solver of ``strads lasso``).

    Minimises ``F(b) = 1/2 ||y - X b||^2 + lambda ||b||_1`` with no intercept (center X and y,
    or add a constant column, if you need one); stops when the duality gap is at most
    ``tol * F(b)``.
    {_PENALTY_DOC}
    With ``alpha``, the objective is scikit-learn's ``Lasso(alpha, fit_intercept=False)``
    objective ``1/(2 n) ||y - X b||^2 + alpha ||b||_1`` times n, so both have the same minimiser.

    Parameters: ``tol`` (relative duality gap), ``max_iter`` (passes over the coordinates),
    ``max_seconds``, ``threads`` (worker threads; default every core), ``layout`` ("columns" or
    "rows", the CLI's ``--layout``), ``single_worker_entries`` (columns layout: an X of at most
    this many stored entries is solved on one worker thread, whose single block converges in
    fewer rounds than the threads' blocks and pays no exchange; 0 keeps every thread; the CLI's
    ``--single-worker-entries`` and its default), ``seed``, ``verbose`` (print each gap
    evaluation on stderr).

    Fitted attributes: ``coef_``, ``lambda_``, ``lambda_max_``, ``objective_``,
    ``duality_gap_``, ``n_iter_`` (passes), ``converged_``, ``stop_reason_``,
    ``load_seconds_`` (reading X into the column blocks, from a CSC matrix's or a dense
    array's columns or by transposing a CSR matrix's rows, and lambda_max),
    ``solve_seconds_`` (the solver, as the CLI's ``solve_seconds``), ``trace_`` (one
    dict per gap evaluation: iteration, seconds, objective, duality_gap, nnz, rounds, active),
    ``n_features_in_``.
    """

    _loss = "squared"

    def fit(self, X, y):
        X = self._check_X(X, reset=True)
        y = check_target(y, X.shape[0])
        return self._solve(X, y)

    def predict(self, X):
        return self._linear(X)


class SparseLogisticRegression(ClassifierMixin, _SparseRegression):
    __doc__ = f"""L1-regularised logistic regression by Strads' coordinate descent (the solver
    of ``strads logreg``).

    For two classes it minimises ``F(b) = sum_i log(1 + exp(-y_i x_i . b)) + lambda ||b||_1``
    with ``y_i`` in {{-1, +1}} (``classes_[1]`` is +1) and no intercept; ``coef_`` has shape
    ``(n_features,)`` as the CLI's coefficients. For more classes it fits one such problem per
    class against the rest (one-vs-rest, as scikit-learn's liblinear solver), ``coef_`` has
    shape ``(n_classes, n_features)``, ``predict_proba`` normalises the per-class
    probabilities, and the per-problem results (``lambda_``, ``objective_``, ``trace_``...) are
    lists in class order.
    {_PENALTY_DOC}
    With ``alpha`` the objective is the mean log-loss plus ``alpha ||b||_1`` (scikit-learn's
    ``SGDClassifier(loss="log_loss", penalty="l1")`` scale) times n; scikit-learn's
    ``LogisticRegression(penalty="l1", C=C, fit_intercept=False)`` is ``lam = 1 / C``.

    Parameters and fitted attributes as :class:`Lasso`, plus ``classes_``; ``predict_proba``
    and ``decision_function`` as scikit-learn's classifiers.
    """

    _loss = "logistic"

    def fit(self, X, y):
        X = self._check_X(X, reset=True)
        classes, labels = check_class_labels(y, X.shape[0], "SparseLogisticRegression")
        self.classes_ = classes
        if len(classes) == 2:
            return self._solve(X, np.where(labels == 1, 1.0, -1.0))
        # One-vs-rest: one binary problem per class, its results gathered in class order.
        fitted = [
            self._solve(X, np.where(labels == k, 1.0, -1.0)).__dict__.copy()
            for k in range(len(classes))
        ]
        for name in ("lambda_", "lambda_max_", "objective_", "duality_gap_", "n_iter_",
                     "converged_", "stop_reason_", "solve_seconds_", "load_seconds_", "trace_"):
            setattr(self, name, [result[name] for result in fitted])
        self.coef_ = np.vstack([result["coef_"] for result in fitted])
        return self

    def decision_function(self, X):
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        return np.asarray(X @ self.coef_.T)

    def predict_proba(self, X):
        margin = self.decision_function(X)
        positive = 0.5 * (1.0 + np.tanh(0.5 * margin))  # the logistic function, overflow-free
        if margin.ndim == 1:
            return np.column_stack([1.0 - positive, positive])
        return positive / positive.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        margin = self.decision_function(X)
        if margin.ndim == 1:
            return self.classes_[(margin > 0).astype(int)]
        return self.classes_[np.argmax(margin, axis=1)]
