"""Fitting on a cluster of processes on loopback (the CLI's hosts-file mechanism): the same
answer as the in-process fit."""

import numpy as np
import pandas as pd
import pytest

import strads
from strads.cluster import fit_on_cluster
from conftest import classification_problem, regression_problem
from test_mf import low_rank_ratings


def test_lasso_on_two_processes_matches_the_in_process_fit(strads_binary):
    X, y = regression_problem(n=200, d=60, seed=20)
    local = strads.Lasso(alpha=0.01, tol=1e-10, threads=2).fit(X, y)
    clustered = fit_on_cluster(strads.Lasso(alpha=0.01, tol=1e-10), X, y, processes=2, threads=1,
                               binary=strads_binary)
    assert clustered.cluster_summary_["processes"] == 2
    assert clustered.converged_
    assert abs(clustered.objective_ - local.objective_) <= 1e-9 * local.objective_
    np.testing.assert_allclose(clustered.coef_, local.coef_, atol=1e-6)
    np.testing.assert_allclose(clustered.predict(X), local.predict(X), atol=1e-5)
    assert clustered.trace_[-1]["objective"] == clustered.objective_


def test_logistic_on_two_processes_matches_the_in_process_fit(strads_binary):
    X, y = classification_problem(seed=21)
    local = strads.SparseLogisticRegression(lambda_ratio=0.05, tol=1e-10, threads=1).fit(X, y)
    clustered = fit_on_cluster(strads.SparseLogisticRegression(lambda_ratio=0.05, tol=1e-10), X, y,
                               processes=2, threads=1, binary=strads_binary)
    assert abs(clustered.objective_ - local.objective_) <= 1e-9 * local.objective_
    np.testing.assert_array_equal(clustered.predict(X), local.predict(X))


def test_mf_on_two_processes_gives_the_in_process_factors(strads_binary):
    users, items, ratings = low_rank_ratings(noise=0.1, seed=22)
    frame = pd.DataFrame({"user": users, "item": items, "rating": ratings})
    local = strads.MatrixFactorization(rank=3, n_iter=5, threads=2).fit(frame)
    clustered = fit_on_cluster(strads.MatrixFactorization(rank=3, n_iter=5), frame, processes=2, threads=1,
                               binary=strads_binary)
    # CCD++'s factors do not depend on the cluster shape (README); the file holds 17 digits.
    np.testing.assert_allclose(clustered.user_factors_, local.user_factors_, rtol=1e-12, atol=1e-12)
    assert clustered.objective_ == pytest.approx(local.objective_, rel=1e-12)


def test_a_failing_process_raises_with_its_message(strads_binary):
    X, y = regression_problem(seed=23)
    with pytest.raises(ValueError, match="at most one of alpha, lam and lambda_ratio"):
        fit_on_cluster(strads.Lasso(alpha=1.0, lam=1.0), X, y, binary=strads_binary)
    with pytest.raises(ValueError, match="is not this machine"):
        fit_on_cluster(strads.Lasso(), X, y, hosts=["10.9.8.7:7000", "10.9.8.6:7000"], binary=strads_binary)


def test_lda_on_two_processes_recovers_the_topics(strads_binary):
    from test_lda import TOPIC_WORDS, token_corpus

    docs = token_corpus(n_docs=150, seed=24)
    model = fit_on_cluster(strads.LDA(3, n_iter=40, seed=2), docs, processes=2, threads=1, binary=strads_binary)
    assert model.cluster_summary_["processes"] == 2
    found = sorted(sorted(words) for words in model.top_words(4))
    assert found == sorted(sorted(words) for words in TOPIC_WORDS)
    # Every token is counted once in the word-topic and in the document-topic counts.
    tokens = sum(len(doc) for doc in docs)
    assert (model.components_ - model.beta).sum() == pytest.approx(tokens)
    assert model.trace_[-1]["loglik"] == model.loglik_
    theta = model.transform([["car", "bus", "truck"] * 4])[0]
    assert theta.max() > 0.9
