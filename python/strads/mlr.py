"""Multinomial logistic regression: a scikit-learn classifier over the STRADS-AP app
``mlr::train`` (the solver of ``strads mlr``)."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _strads
from ._fitting import progress_printer, resolve_threads
from ._validation import (
    check_class_labels,
    check_finite_matrix,
    csr_for_fit,
    check_positive_int,
    check_positive_number,
    check_samples,
)


class MultinomialLogisticRegression(ClassifierMixin, BaseEstimator):
    """Multinomial logistic (softmax) regression, the model of ``strads mlr``, solved exactly by
    L-BFGS (OWL-QN with an L1 term) or approximately by mini-batch SGD on STRADS-AP.

    Minimises, over the n examples and K classes (every class has its own weight vector, also
    when K = 2)::

        F(W, b) = sum_i -log softmax(W x_i + b)_{y_i} + lam/2 ||W||^2 + l1 ||W||_1

    with the intercepts ``b`` only when ``fit_intercept`` (unpenalised). scikit-learn's
    ``LogisticRegression(C=C)`` (lbfgs, L2) minimises the same ``F`` with ``lam = 1 / C``; give
    ``lam`` (the CLI's ``--lambda``, default 1) or ``C``, not both.

    Parameters: ``lam`` or ``C``; ``l1`` (default 0: none); ``fit_intercept`` (default False,
    as the CLI); ``solver`` "lbfgs" (stops when ``||grad F|| <= tol * max(1, ||grad F(0)||)``
    or after ``max_iter`` iterations; ``memory`` pairs kept) or "sgd" (``epochs`` passes of
    mini-batches of ``batch`` examples per worker, first step ``step`` (None: ``1 / mean
    ||x_i||^2``) decaying as ``step / (1 + decay e)``, ``staleness`` mini-batches of stale
    reads, ``seed`` of the shuffles); ``threads`` (worker threads; default every core);
    ``verbose`` (print each iteration or epoch on stderr). The defaults are the CLI's.

    Input: dense arrays or scipy sparse matrices (never densified); labels of any kind
    (``classes_`` holds them in sorted order; class k is ``classes_[k]``, as the CLI maps its
    integer labels).

    Fitted attributes: ``coef_`` (K x n_features), ``intercept_`` (K; zeros without
    ``fit_intercept``), ``classes_``, ``objective_`` (F), ``gradient_norm_`` (of F's
    pseudo-gradient), ``n_iter_`` (L-BFGS iterations or SGD epochs), ``converged_`` (L-BFGS
    reached tol or its minimum to rounding; always False for SGD, which has no test),
    ``stop_reason_``, ``solve_seconds_``, ``trace_`` (one dict per L-BFGS iteration or SGD
    epoch: iteration, seconds, objective, gradient_norm, evaluations, and step for SGD),
    ``n_features_in_``.

    Ctrl-C stops a fit with ``KeyboardInterrupt`` at its next L-BFGS iteration; in SGD the
    workers skip the rest of the epoch's examples and stop at its end.
    """

    def __init__(
        self,
        lam=None,
        *,
        C=None,
        l1=0.0,
        fit_intercept=False,
        solver="lbfgs",
        tol=1e-6,
        max_iter=500,
        memory=10,
        epochs=10,
        batch=512,
        step=None,
        decay=2.0,
        staleness=0,
        seed=1,
        threads=None,
        verbose=False,
    ):
        self.lam = lam
        self.C = C
        self.l1 = l1
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.memory = memory
        self.epochs = epochs
        self.batch = batch
        self.step = step
        self.decay = decay
        self.staleness = staleness
        self.seed = seed
        self.threads = threads
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _lambda(self):
        if self.lam is not None and self.C is not None:
            raise ValueError("give lam or C, not both (lam = 1 / C)")
        if self.C is not None:
            return 1.0 / check_positive_number(self.C, "C")
        if self.lam is not None:
            return check_positive_number(self.lam, "lam", allow_zero=True)
        return 1.0

    def _check_X(self, X, reset):
        # A fit leaves the checks of values to the bindings' one pass over the arrays
        # (csr_for_fit); predictions compute in numpy, so their X is checked here.
        checked = csr_for_fit(X) if reset else check_finite_matrix(X)
        # scikit-learn's bookkeeping only: n_features_in_, feature_names_in_ and their errors.
        validate_data(self, X, reset=reset, skip_check_array=True)
        return checked

    def fit(self, X, y):
        X = self._check_X(X, reset=True)
        n_samples, n_features = check_samples(X)
        classes, labels = check_class_labels(y, n_samples, "MultinomialLogisticRegression")
        s = self._settings()
        result = _strads.fit_mlr(
            X.indptr,  # int32 or int64, as scipy chose: read without a copy
            X.indices,
            np.ascontiguousarray(X.data, dtype=np.float64),
            labels.astype(np.float64),  # class indices 0..K-1: the library's classes are the same
            n_features,
            s["lam"],
            s["l1"],
            s["fit_intercept"],
            s["solver"],
            s["tol"],
            s["max_iter"],
            s["memory"],
            s["epochs"],
            s["batch"],
            s["step"],
            s["decay"],
            s["staleness"],
            s["seed"],
            resolve_threads(self.threads),
            progress_printer(self.verbose, "mlr"),
        )
        k = len(classes)
        # The library's weights are feature-major: feature j's K class weights, then the
        # intercepts' K values.
        weights = np.asarray(result["weights"]).reshape(-1, k)
        self._set_fitted(classes, weights[:n_features].T, weights[n_features] if self.fit_intercept else None, result)
        return self

    def _settings(self):
        """The solver's parameters, checked (a ValueError names the first bad one); the in-process
        fit and ``strads.cluster.fit_on_cluster`` both solve with these."""
        if self.solver not in ("lbfgs", "sgd"):
            raise ValueError(f"solver must be 'lbfgs' or 'sgd', got {self.solver!r}")
        return dict(
            lam=self._lambda(),
            l1=check_positive_number(self.l1, "l1", allow_zero=True),
            fit_intercept=bool(self.fit_intercept),
            solver=self.solver,
            tol=check_positive_number(self.tol, "tol", allow_zero=True),
            max_iter=check_positive_int(self.max_iter, "max_iter", minimum=0),
            memory=check_positive_int(self.memory, "memory"),
            epochs=check_positive_int(self.epochs, "epochs"),
            batch=check_positive_int(self.batch, "batch"),
            step=None if self.step is None else check_positive_number(self.step, "step"),
            decay=check_positive_number(self.decay, "decay", allow_zero=True),
            staleness=check_positive_int(self.staleness, "staleness", minimum=0),
            seed=check_positive_int(self.seed, "seed", minimum=0),
        )

    def _set_fitted(self, classes, coef, intercept, result):
        """The fitted attributes from the weights (K x d ``coef``, K ``intercept`` or None) and
        the solver's result (objective, gradient_norm, iterations, stop_reason, solve_seconds,
        trace)."""
        k = len(classes)
        self.classes_ = classes
        self.coef_ = np.ascontiguousarray(coef, dtype=np.float64)
        self.intercept_ = np.array(intercept, dtype=np.float64) if intercept is not None else np.zeros(k)
        self.objective_ = result["objective"]
        self.gradient_norm_ = result["gradient_norm"]
        self.n_iter_ = result["iterations"]
        self.stop_reason_ = result["stop_reason"]
        # L-BFGS met tol, or could not lower F further (its minimum to rounding); SGD has no
        # convergence test.
        self.converged_ = self.stop_reason_ in ("converged", "no_progress")
        self.solve_seconds_ = result["solve_seconds"]
        self.trace_ = result["trace"]
        if self.stop_reason_ == "iteration_limit":
            warnings.warn(
                f"L-BFGS stopped after max_iter={self.max_iter} iterations with gradient norm "
                f"{self.gradient_norm_:.3e} above tol; increase max_iter",
                ConvergenceWarning,
            )

    def _scores(self, X):
        # coef_ by name: a fit that failed on bad input may have set n_features_in_ already.
        check_is_fitted(self, "coef_")
        X = self._check_X(X, reset=False)
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def decision_function(self, X):
        """The class scores ``W x + b`` (n_samples x K); for two classes the margin of class 1
        over class 0 (n_samples,), as scikit-learn's binary classifiers."""
        scores = self._scores(X)
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict_proba(self, X):
        scores = self._scores(X)
        scores -= scores.max(axis=1, keepdims=True)  # softmax without overflow
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def predict_log_proba(self, X):
        scores = self._scores(X)
        largest = scores.max(axis=1, keepdims=True)
        return scores - (largest + np.log(np.exp(scores - largest).sum(axis=1, keepdims=True)))

    def predict(self, X):
        scores = self._scores(X)
        return self.classes_[np.argmax(scores, axis=1)]
