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


def test_multinomial_logistic_on_two_processes_matches_the_in_process_fit(strads_binary):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    # A zero last column: the CLI's model ends at the file's largest index; coef_ keeps X's width.
    X = np.hstack([X, np.zeros((X.shape[0], 1))])
    params = dict(lam=0.5, fit_intercept=True, tol=1e-10, max_iter=1000)
    local = strads.MultinomialLogisticRegression(threads=1, **params).fit(X, labels)
    clustered = fit_on_cluster(strads.MultinomialLogisticRegression(**params), X, labels, processes=2,
                               threads=1, binary=strads_binary)
    assert clustered.cluster_summary_["processes"] == 2
    assert clustered.converged_ and clustered.coef_.shape == (3, 5)
    assert list(clustered.classes_) == ["setosa", "versicolor", "virginica"]
    assert abs(clustered.objective_ - local.objective_) <= 1e-9 * local.objective_
    # Equal objectives to 1e-9 bound the weights' distance to about the square root of that;
    # the intercepts are unique only up to a common shift (the softmax ignores it).
    np.testing.assert_allclose(clustered.coef_, local.coef_, atol=1e-4)
    centred = [m.intercept_ - m.intercept_.mean() for m in (clustered, local)]
    np.testing.assert_allclose(centred[0], centred[1], atol=1e-4)
    np.testing.assert_array_equal(clustered.coef_[:, 4], 0.0)
    np.testing.assert_array_equal(clustered.predict(X), local.predict(X))
    assert clustered.trace_[-1]["objective"] == clustered.objective_


def test_word2vec_on_two_processes_finds_the_planted_clusters(strads_binary):
    from test_word2vec import cluster_of, planted_corpus

    corpus = planted_corpus()
    model = fit_on_cluster(strads.Word2Vec(dim=32, min_count=1, epochs=5), corpus, processes=2, threads=1,
                           binary=strads_binary)
    assert model.cluster_summary_["processes"] == 2
    assert len(model.index_to_key_) == 210 and model.vectors_.shape == (210, 32)
    assert model.vectors_.dtype == np.float32
    assert model.corpus_words_ == 4000 * 12
    # The most frequent word first, as the in-process fit orders them.
    local = strads.Word2Vec(dim=32, min_count=1, epochs=1, threads=1).fit(corpus)
    assert sorted(model.index_to_key_) == sorted(local.index_to_key_)
    assert model.index_to_key_[0] == local.index_to_key_[0]
    same = total = 0
    for word in model.index_to_key_:
        if cluster_of(word) is not None:
            for neighbour, _ in model.most_similar(word, topn=5):
                total += 1
                same += cluster_of(neighbour) == cluster_of(word)
    # A random neighbour is in the word's cluster with probability 19/209.
    assert same / total > 0.8
    assert [r["epoch"] for r in model.trace_] == [1, 2, 3, 4, 5]


def test_word2vec_on_a_cluster_refuses_a_token_with_whitespace(strads_binary):
    with pytest.raises(ValueError, match="sentence 1, token 0"):
        fit_on_cluster(strads.Word2Vec(), [["a", "b"], ["c d"]], binary=strads_binary)


def test_multinomial_logistic_sgd_on_two_processes_is_close_to_the_optimum(strads_binary):
    X, y = classification_problem(n=400, seed=25)
    exact = strads.MultinomialLogisticRegression(lam=1.0, threads=1).fit(X, y)
    sgd = fit_on_cluster(strads.MultinomialLogisticRegression(lam=1.0, solver="sgd", epochs=20), X, y,
                         processes=2, threads=1, binary=strads_binary)
    assert sgd.stop_reason_ == "epochs" or sgd.n_iter_ == 20
    assert exact.objective_ <= sgd.objective_ <= 1.02 * exact.objective_
