"""MatrixFactorization: a noiseless low-rank truth, its objective by definition, ALS's normal
equations, the CLI's answer on the same file, ids of any hashable type, and input errors."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

import strads


def low_rank_ratings(n_users=60, n_items=40, n_ratings=2400, rank=3, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n_users, rank))
    H = rng.normal(size=(n_items, rank))
    users = rng.integers(0, n_users, n_ratings)
    items = rng.integers(0, n_items, n_ratings)
    ratings = (W[users] * H[items]).sum(axis=1) + noise * rng.normal(size=n_ratings)
    return users, items, ratings


def objective(model, users, items, ratings):
    """sum (r - w_u . h_i)^2 + lam (sum ||w_u||^2 + sum ||h_i||^2), the README's definition."""
    u = np.searchsorted(model.user_ids_, users)
    i = np.searchsorted(model.item_ids_, items)
    residual = ratings - (model.user_factors_[u] * model.item_factors_[i]).sum(axis=1)
    penalty = (model.user_factors_ ** 2).sum() + (model.item_factors_ ** 2).sum()
    return (residual ** 2).sum() + model.lam * penalty


@pytest.mark.parametrize("algorithm", ["ccd", "als"])
def test_recovers_a_noiseless_low_rank_matrix(algorithm):
    users, items, ratings = low_rank_ratings()
    model = strads.MatrixFactorization(rank=3, lam=1e-6, n_iter=40, algorithm=algorithm, threads=2)
    model.fit(np.column_stack([users, items]), ratings)
    assert model.rmse_ < 1e-3
    assert model.user_factors_.shape == (len(np.unique(users)), 3)
    assert model.objective_ == pytest.approx(objective(model, users, items, ratings), rel=1e-9)
    # The trace's objective never rises for CCD++ and ALS (each step is an exact minimisation),
    # up to rounding in the sums (relative to the first objective, the sum of squared ratings).
    objectives = [record["objective"] for record in model.trace_]
    assert all(b <= a + 1e-12 * objectives[0] for a, b in zip(objectives, objectives[1:]))


def test_als_item_rows_solve_their_normal_equations():
    """ALS's last half-step sets each h_i to argmin sum_u (r_ui - w_u . h)^2 + lam ||h||^2,
    which numpy's solver gives independently."""
    users, items, ratings = low_rank_ratings(noise=0.3, seed=1)
    lam = 0.5
    model = strads.MatrixFactorization(rank=3, lam=lam, n_iter=5, algorithm="als", threads=1)
    model.fit(np.column_stack([users, items]), ratings)
    u = np.searchsorted(model.user_ids_, users)
    for k, item in enumerate(model.item_ids_[:10]):
        rows = items == item
        W = model.user_factors_[u[rows]]
        expected = np.linalg.solve(W.T @ W + lam * np.eye(3), W.T @ ratings[rows])
        np.testing.assert_allclose(model.item_factors_[k], expected, rtol=1e-9, atol=1e-12)


def test_objective_matches_the_cli_on_the_same_file(tmp_path, strads_binary):
    users, items, ratings = low_rank_ratings(noise=0.2, seed=2)
    path = tmp_path / "ratings.txt"
    path.write_text("".join(f"{u} {i} {r!r}\n" for u, i, r in zip(users, items, ratings.tolist())))
    cli = subprocess.run(
        [strads_binary, "mf", "--train", str(path), "--rank", "4", "--lambda", "0.1", "--iters", "6",
         "--algo", "ccd", "--seed", "3", "--threads", "2", "--json"],
        check=True, capture_output=True, text=True,
    )
    summary = json.loads(cli.stdout.strip().splitlines()[-1])
    model = strads.MatrixFactorization(rank=4, lam=0.1, n_iter=6, algorithm="ccd", seed=3, threads=2)
    model.fit(pd.DataFrame({"user": users, "item": items, "rating": ratings}))
    assert abs(model.objective_ - summary["objective"]) <= 1e-9 * summary["objective"]
    assert model.rmse_ == pytest.approx(summary["rmse_train"], rel=1e-9)


def test_any_hashable_ids_and_both_input_forms_give_the_same_model():
    users, items, ratings = low_rank_ratings(seed=4)
    by_arrays = strads.MatrixFactorization(rank=3, n_iter=5, threads=1).fit(np.column_stack([users, items]), ratings)
    named = pd.DataFrame({"user": [f"user-{u:03d}" for u in users], "item": [("item", i) for i in items], "rating": ratings})
    by_frame = strads.MatrixFactorization(rank=3, n_iter=5, threads=1).fit(named)
    np.testing.assert_array_equal(by_arrays.item_factors_, by_frame.item_factors_)
    assert by_frame.user_ids_[0] == "user-000"
    assert by_frame.item_ids_[1] == ("item", 1)
    predicted = by_frame.predict(pd.DataFrame({"user": ["user-001", "nobody"], "item": [("item", 2), ("item", 2)]}))
    u, i = list(by_arrays.user_ids_).index(1), list(by_arrays.item_ids_).index(2)
    assert predicted[0] == pytest.approx(by_arrays.user_factors_[u] @ by_arrays.item_factors_[i])
    assert predicted[1] == by_frame.global_mean_ == pytest.approx(ratings.mean())


def test_grid_search_over_the_rank():
    users, items, ratings = low_rank_ratings(noise=0.1, seed=5)
    search = GridSearchCV(strads.MatrixFactorization(n_iter=10, lam=0.5, threads=1), {"rank": [1, 3]}, cv=3)
    search.fit(np.column_stack([users, items]), ratings)
    assert search.best_params_ == {"rank": 3}


def test_bad_ratings_name_the_row():
    users, items, ratings = low_rank_ratings()
    ratings = ratings.copy()
    ratings[17] = np.nan
    with pytest.raises(ValueError, match="rating at row 17 is nan"):
        strads.MatrixFactorization().fit(np.column_stack([users, items]), ratings)
    with pytest.raises(ValueError, match="one of each per rating"):
        strads.MatrixFactorization().fit(np.column_stack([users, items]), ratings[:-1])
    frame = pd.DataFrame({"user": users.astype(object), "item": items, "rating": np.ones(len(users))})
    frame.loc[5, "user"] = None
    with pytest.raises(ValueError, match="user id at row 5 is missing"):
        strads.MatrixFactorization().fit(frame)
    with pytest.raises(ValueError, match="algorithm must be 'ccd', 'als' or 'sgd'"):
        strads.MatrixFactorization(algorithm="svd").fit(np.column_stack([users, items]), np.ones(len(users)))



def test_an_option_of_another_algorithm_is_rejected_as_the_cli_rejects_its_flag():
    users, items, ratings = low_rank_ratings()
    X = np.column_stack([users, items])
    with pytest.raises(ValueError, match=r"^learning_rate only applies to algorithm='sgd'$"):
        strads.MatrixFactorization(algorithm="ccd", learning_rate=0.1).fit(X, ratings)
    with pytest.raises(ValueError, match=r"^learning_rate, learning_rate_decay only apply to algorithm='sgd'$"):
        strads.MatrixFactorization(algorithm="als", learning_rate=0.1, learning_rate_decay=0.0).fit(X, ratings)
    with pytest.raises(ValueError, match=r"^inner only applies to algorithm='ccd'$"):
        strads.MatrixFactorization(algorithm="sgd", inner=2).fit(X, ratings)
    # Given for their own algorithm, they are used: two inner iterations change CCD++'s answer.
    one = strads.MatrixFactorization(rank=3, n_iter=3, algorithm="ccd", threads=1).fit(X, ratings)
    two = strads.MatrixFactorization(rank=3, n_iter=3, algorithm="ccd", inner=2, threads=1).fit(X, ratings)
    assert not np.allclose(one.user_factors_, two.user_factors_)
    with pytest.raises(ValueError, match=r"^als_extrapolation only applies to algorithm='als'$"):
        strads.MatrixFactorization(algorithm="ccd", als_extrapolation=0.0).fit(X, ratings)
    # ALS's extrapolation starts at the third iteration: with it off the factors differ there.
    plain = strads.MatrixFactorization(rank=3, n_iter=4, algorithm="als", als_extrapolation=0.0, threads=1)
    extrapolated = strads.MatrixFactorization(rank=3, n_iter=4, algorithm="als", threads=1)
    plain.fit(X, ratings)
    extrapolated.fit(X, ratings)
    assert not np.allclose(plain.user_factors_, extrapolated.user_factors_)
    assert extrapolated.objective_ <= plain.trace_[2]["objective"]


# scikit-learn's checks that apply to an estimator whose X is (user, item) pairs. The others
# are expected to fail, each for the reason given.
_PAIRS = "X is (user, item) id pairs: the check fits on a feature matrix of other than 2 columns"
_EXPECTED_FAILURES = {
    name: _PAIRS
    for name in [
        "check_fit_score_takes_y", "check_dont_overwrite_parameters", "check_n_features_in_after_fitting",
        "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency", "check_estimators_pickle",
        "check_f_contiguous_array_estimator", "check_regressors_train", "check_regressor_data_not_an_array",
        "check_regressors_no_decision_function", "check_supervised_y_2d", "check_regressors_int",
        "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_dict_unchanged",
        "check_fit2d_predict1d", "check_fit2d_1sample", "check_fit2d_1feature", "check_complex_data",
        "check_estimators_empty_data_messages", "check_estimators_nan_inf", "check_positive_only_tag_during_fit",
        "check_estimator_sparse_tag", "check_estimator_sparse_array", "check_estimator_sparse_matrix",
    ]
}
_EXPECTED_FAILURES["check_n_features_in"] = "ids are not features: there is no n_features_in_"
_EXPECTED_FAILURES["check_requires_y_none"] = (
    "y may be left out when X is a DataFrame with a rating column, so the error names that case"
)


@parametrize_with_checks(
    [strads.MatrixFactorization(n_iter=3, threads=1)],
    expected_failed_checks=lambda estimator: _EXPECTED_FAILURES,
)
def test_sklearn_checks_that_apply_to_rating_pairs(estimator, check):
    check(estimator)


@pytest.mark.parametrize("ids", [
    np.array([7, 3, 3, 0, 12, 7], dtype=np.int64),       # small non-negative: the table path
    np.array([5, 2, 2, 9], dtype=np.uint16),
    np.array([10**12, -4, 10**12, 17], dtype=np.int64),  # negative and huge: pandas' path
    np.array(["b", "a", "b"], dtype=object),
])
def test_ids_are_numbered_in_sorted_order_by_every_path(ids):
    from strads.mf import _factorize

    codes, uniques = _factorize(ids)
    expected = sorted(set(ids.tolist()))
    assert uniques.tolist() == expected and codes.dtype == np.uint32
    assert [expected[c] for c in codes] == ids.tolist()


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.int32])
def test_integer_ids_numbered_by_the_library_give_the_model_of_pandas_numbering(dtype):
    # Small integer ids (with gaps, and a strided column) go to the library, which numbers them
    # by table; the same ids as zero-padded strings (the same sorted order) take pandas' path.
    users, items, ratings = low_rank_ratings(seed=6)
    user_ids, item_ids = (3 * users + 1).astype(dtype), (2 * items + 7).astype(dtype)
    pairs = np.column_stack([user_ids, item_ids])  # pairs[:, 0] is a strided view
    by_library = strads.MatrixFactorization(rank=3, n_iter=4, threads=2).fit(pairs, ratings)
    named = np.column_stack([[f"{u:06d}" for u in user_ids], [f"{i:06d}" for i in item_ids]]).astype(object)
    by_pandas = strads.MatrixFactorization(rank=3, n_iter=4, threads=2).fit(named, ratings)
    np.testing.assert_array_equal(by_library.user_factors_, by_pandas.user_factors_)
    np.testing.assert_array_equal(by_library.item_factors_, by_pandas.item_factors_)
    assert by_library.user_ids_.dtype == dtype
    assert by_library.user_ids_.tolist() == [int(u) for u in by_pandas.user_ids_]
    assert by_library.item_ids_.tolist() == sorted(set(item_ids.tolist()))
    assert by_library.predict(pairs[:5]) == pytest.approx(by_pandas.predict(named[:5]))
