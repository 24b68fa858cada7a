"""Matrix factorisation of ratings: a scikit-learn estimator over the library's ``mf::solve``
(the solver of ``strads mf``)."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from . import _strads
from ._fitting import progress_printer, resolve_threads
from ._validation import check_positive_int, check_positive_number


def _pairs_and_ratings(X, y):
    """(users, items, ratings) from a 2-column X of (user, item) with y, or from a DataFrame
    with columns user, item, rating (or any 3 columns in that order) and no y."""
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # a pandas DataFrame
        columns = list(X.columns)
        if y is None:
            if {"user", "item", "rating"} <= set(columns):
                return X["user"].to_numpy(), X["item"].to_numpy(), X["rating"].to_numpy()
            if len(columns) != 3:
                raise ValueError(
                    f"a DataFrame without y needs columns user, item, rating (or exactly 3 "
                    f"columns in that order), got {columns}"
                )
            return X.iloc[:, 0].to_numpy(), X.iloc[:, 1].to_numpy(), X.iloc[:, 2].to_numpy()
        if len(columns) != 2:
            raise ValueError(f"X must have 2 columns (user, item) when y holds the ratings, got {columns}")
        return X.iloc[:, 0].to_numpy(), X.iloc[:, 1].to_numpy(), y
    pairs = _pairs(X)
    if y is None:
        raise ValueError("y (the ratings) is required unless X is a DataFrame with a rating column")
    return pairs[0], pairs[1], y


def _pairs(X):
    """(users, items) from a 2-column array-like or DataFrame of (user, item) rows."""
    if hasattr(X, "columns") and hasattr(X, "iloc"):
        if X.shape[1] < 2:
            raise ValueError(f"X must have 2 columns (user, item), got {list(X.columns)}")
        return X.iloc[:, 0].to_numpy(), X.iloc[:, 1].to_numpy()
    array = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"X must be (user, item) pairs of shape (n, 2), got shape {np.shape(array)}")
    return array[:, 0], array[:, 1]


def _check_ids(ids, what):
    ids = np.asarray(ids, dtype=object) if not isinstance(ids, np.ndarray) else ids
    if ids.ndim != 1:
        raise ValueError(f"{what} ids must be 1-dimensional, got shape {ids.shape}")
    missing = [k for k, value in enumerate(ids[: len(ids)]) if value is None or (isinstance(value, float) and np.isnan(value))] if ids.dtype == object or ids.dtype.kind == "f" else []
    if missing:
        raise ValueError(f"{what} id at row {missing[0]} is missing ({ids[missing[0]]!r})")
    return ids


def _small_integer_ids(ids):
    """ids as an int64 array (a view when they are int64 already) if they are non-negative
    integers no larger than a small multiple of their count (the usual case), else None. Such
    ids are numbered by a table indexed by id, in sorted order, in linear passes, where a hash
    table or a sort costs ten times as much on millions of ratings."""
    if ids.dtype.kind in "iu" and len(ids) > 0:
        low, high = int(ids.min()), int(ids.max())
        if low >= 0 and high < 2 * len(ids) + (1 << 20):
            return ids.astype(np.int64, copy=False)
    return None


def _factorize(ids):
    """Dense codes 0..n-1 for hashable ids, and the id of each code. Sortable ids are numbered
    in sorted order, as the CLI numbers a file's integer ids (so the same ratings start from the
    same random factors and give the CLI's answer); others in order of first appearance.
    (``fit`` hands small integer ids to the library instead, which numbers them the same way.)"""
    small = _small_integer_ids(ids)
    if small is not None:
        present = np.zeros(int(small.max()) + 1, dtype=bool)
        present[small] = True
        code_of = (np.cumsum(present, dtype=np.int64) - 1).astype(np.uint32)
        # np.take: several times faster than indexing with an array here.
        return np.take(code_of, small), np.flatnonzero(present).astype(ids.dtype)
    try:
        import pandas as pd

        try:
            codes, uniques = pd.factorize(ids, sort=True)
        except TypeError:  # ids of mixed, unorderable types
            codes, uniques = pd.factorize(ids, sort=False)
        return codes.astype(np.uint32), np.asarray(uniques, dtype=ids.dtype if ids.dtype != object else object)
    except ImportError:  # pragma: no cover - pandas is optional
        index = {}
        codes = np.fromiter((index.setdefault(value, len(index)) for value in ids), dtype=np.uint32, count=len(ids))
        uniques = np.empty(len(index), dtype=object)
        for value, code in index.items():
            uniques[code] = value
        return codes, uniques


def _library_indices(ids):
    """What fit_mf takes for one side: (int64 ids, None) for small integer ids, which the
    library numbers (their ids come back with the result), else (uint32 codes, the id of each)."""
    small = _small_integer_ids(ids)
    if small is not None:
        return small, None
    return _factorize(ids)


# The options only one algorithm has, by the algorithm.
_ALGORITHM_OPTIONS = {
    "ccd": ("inner",),
    "als": ("als_extrapolation",),
    "sgd": ("learning_rate", "learning_rate_decay"),
}


def _check_options_apply(estimator):
    """Fails on options given for an algorithm that would ignore them, with the CLI's sentence
    (`--lr only applies to --algo sgd`) in the estimator's names."""
    for algorithm, names in _ALGORITHM_OPTIONS.items():
        if estimator.algorithm == algorithm:
            continue
        given = [name for name in names if getattr(estimator, name) is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise ValueError(f"{', '.join(given)} only {verb} to algorithm={algorithm!r}")


class MatrixFactorization(RegressorMixin, BaseEstimator):
    """Matrix factorisation of ratings ``R ~ W H^T`` by Strads (the solver of ``strads mf``).

    Minimises ``sum over observed (u, i) of (r_ui - w_u . h_i)^2 + lam (sum_u c_u ||w_u||^2 +
    sum_i c_i ||h_i||^2)``, ``c = 1`` (``reg_scaling="none"``) or the row's rating count
    (``"count"``, Spark ALS's weighted lambda).

    Fit on ``fit(X, y)`` with X the (user, item) pairs (an (n, 2) array or a 2-column
    DataFrame) and y the ratings, or ``fit(df)`` with a DataFrame of columns user, item, rating.
    Ids may be any hashable values. ``predict(X)`` scores (user, item) pairs; a pair with an id
    not seen in training gets the global mean rating (as the CLI's ``--predict``).

    Parameters: ``rank``, ``lam``, ``algorithm`` ("ccd", "als" or "sgd"), ``reg_scaling``,
    ``n_iter`` (iterations; epochs for sgd), ``inner`` (CCD++ inner iterations; ccd only),
    ``als_extrapolation`` (als only: the first step of the safeguarded extrapolation of the
    factors before each half, the CLI's ``--als-extrapolation``; 0 is plain ALS),
    ``init`` ("spectral" or "random"), ``init_steps`` (None: the CLI's default),
    ``max_seconds``, ``seed``, ``learning_rate`` and ``learning_rate_decay`` (sgd only),
    ``threads``, ``verbose``. An option of one algorithm left at None takes the CLI's default;
    given for another algorithm, it is a ValueError (as the CLI rejects its flag).

    Fitted attributes: ``user_factors_`` (n_users x rank), ``item_factors_`` (n_items x rank),
    ``user_ids_`` and ``item_ids_`` (the id of each factor row), ``global_mean_``,
    ``objective_``, ``rmse_`` (training RMSE), ``n_iter_``, ``trace_`` (one dict per
    iteration from iteration 0: iteration, seconds, objective, rmse_train), ``load_seconds_``
    (the library's set-up: the ratings' two sharded copies and the factors) and
    ``solve_seconds_`` (its solve, as the CLI's ``solve_seconds``).
    """

    def __init__(
        self,
        rank=10,
        *,
        lam=0.05,
        algorithm="ccd",
        reg_scaling="none",
        n_iter=10,
        inner=None,
        init="spectral",
        init_steps=None,
        max_seconds=float("inf"),
        seed=1,
        learning_rate=None,
        learning_rate_decay=None,
        als_extrapolation=None,
        threads=None,
        verbose=False,
    ):
        self.rank = rank
        self.lam = lam
        self.algorithm = algorithm
        self.reg_scaling = reg_scaling
        self.n_iter = n_iter
        self.inner = inner
        self.init = init
        self.init_steps = init_steps
        self.max_seconds = max_seconds
        self.seed = seed
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.als_extrapolation = als_extrapolation
        self.threads = threads
        self.verbose = verbose

    def fit(self, X, y=None):
        users, items, ratings = _pairs_and_ratings(X, y)
        users = _check_ids(users, "user")
        items = _check_ids(items, "item")
        ratings = np.asarray(ratings)
        if ratings.ndim != 1:
            raise ValueError(f"ratings must be 1-dimensional, got shape {ratings.shape}")
        if not (len(users) == len(items) == len(ratings)):
            raise ValueError(f"{len(users)} users, {len(items)} items and {len(ratings)} ratings: one of each per rating")
        if len(ratings) == 0:
            raise ValueError("no ratings")
        try:
            ratings = ratings.astype(np.float64, copy=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"ratings must be numbers: {error}") from error
        # A NaN or infinity makes the sum non-finite (as does overflow, which the second check
        # tells apart): one pass and no array in the usual case.
        if not np.isfinite(ratings.sum()):
            bad = np.flatnonzero(~np.isfinite(ratings))
            if len(bad):
                row = int(bad[0])
                raise ValueError(f"the rating at row {row} is {ratings[row]}, not a finite number")
        # Small integer ids go to the library as they are: it numbers them (in _factorize's
        # order) straight into its own array, which saves a numpy array of codes and its copy.
        user_codes, user_ids = _library_indices(users)
        item_codes, item_ids = _library_indices(items)
        _check_options_apply(self)
        init_steps = 0 if self.init_steps is None else check_positive_int(self.init_steps, "init_steps")
        inner = None if self.inner is None else check_positive_int(self.inner, "inner")
        learning_rate = None if self.learning_rate is None else check_positive_number(self.learning_rate, "learning_rate")
        learning_rate_decay = (
            None
            if self.learning_rate_decay is None
            else check_positive_number(self.learning_rate_decay, "learning_rate_decay", allow_zero=True)
        )
        als_extrapolation = (
            None
            if self.als_extrapolation is None
            else check_positive_number(self.als_extrapolation, "als_extrapolation", allow_zero=True)
        )
        result = _strads.fit_mf(
            user_codes,
            item_codes,
            ratings,
            self.algorithm,
            check_positive_int(self.rank, "rank"),
            check_positive_number(self.lam, "lam", allow_zero=True),
            self.reg_scaling,
            check_positive_int(self.n_iter, "n_iter", minimum=0),
            inner,
            self.init,
            init_steps,
            check_positive_number(self.max_seconds, "max_seconds", allow_inf=True),
            check_positive_int(self.seed, "seed", minimum=0),
            learning_rate,
            learning_rate_decay,
            resolve_threads(self.threads),
            progress_printer(self.verbose, "mf"),
            als_extrapolation,
        )
        rank = self.rank
        self.user_factors_ = result["w"].reshape(result["n_users"], rank)
        self.item_factors_ = result["h"].reshape(result["n_items"], rank)
        self.global_mean_ = result["global_mean"]
        self.objective_ = result["objective"]
        self.rmse_ = result["rmse_train"]
        self.n_iter_ = result["iterations"]
        self.user_ids_ = result["user_ids"].astype(users.dtype, copy=False) if user_ids is None else user_ids
        self.item_ids_ = result["item_ids"].astype(items.dtype, copy=False) if item_ids is None else item_ids
        self.load_seconds_ = result["load_seconds"]
        self.solve_seconds_ = result["solve_seconds"]
        self.trace_ = result["trace"]
        # The id -> row dicts are built by the first predict (a fit need not pay for them).
        self._user_index = self._item_index = None
        if result["diverged"]:
            warnings.warn(
                f"the objective became {self.objective_} (sgd: lower learning_rate)", ConvergenceWarning
            )
        return self

    def predict(self, X):
        """Predicted ratings of the (user, item) pairs in X; unseen ids get the global mean."""
        check_is_fitted(self)
        users, items = _pairs(X)
        if getattr(self, "_user_index", None) is None or getattr(self, "_item_index", None) is None:
            self._user_index = {user: k for k, user in enumerate(self.user_ids_.tolist())}
            self._item_index = {item: k for k, item in enumerate(self.item_ids_.tolist())}
        u = np.fromiter((self._user_index.get(user, -1) for user in users.tolist()), dtype=np.int64, count=len(users))
        i = np.fromiter((self._item_index.get(item, -1) for item in items.tolist()), dtype=np.int64, count=len(items))
        seen = (u >= 0) & (i >= 0)
        predictions = np.full(len(users), self.global_mean_)
        predictions[seen] = np.einsum("ij,ij->i", self.user_factors_[u[seen]], self.item_factors_[i[seen]])
        return predictions
