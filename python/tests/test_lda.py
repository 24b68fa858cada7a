"""LDA: topics recovered from a corpus drawn from known disjoint topics, the log-likelihood by
its formula, fold-in on new documents, the CLI's answer on the same corpus, token lists, input
errors, and scikit-learn's applicable checks."""

import json
import subprocess

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import gammaln
from sklearn.utils.estimator_checks import parametrize_with_checks

import strads

TOPIC_WORDS = [["apple", "banana", "cherry", "grape"], ["car", "truck", "bus", "train"], ["red", "blue", "green", "gold"]]


def token_corpus(n_docs=300, length=30, seed=0):
    """Documents of one topic each (the topic cycles), words uniform within the topic."""
    rng = np.random.default_rng(seed)
    return [[str(w) for w in rng.choice(TOPIC_WORDS[d % 3], length)] for d in range(n_docs)]


def count_matrix(docs, vocabulary):
    index = {w: j for j, w in enumerate(vocabulary)}
    X = np.zeros((len(docs), len(vocabulary)), dtype=np.int64)
    for d, doc in enumerate(docs):
        for w in doc:
            X[d, index[w]] += 1
    return X


def test_disjoint_topics_are_recovered_and_folded_in():
    docs = token_corpus()
    model = strads.LDA(3, n_iter=60, threads=2).fit(docs)
    found = sorted(sorted(words) for words in model.top_words(4))
    assert found == sorted(sorted(words) for words in TOPIC_WORDS)
    # A new document with half fruit, half vehicles, none of the colours.
    theta = model.transform([["apple", "banana", "car", "bus"] * 5])[0]
    topic_of = {word: k for k, words in enumerate(model.top_words(4)) for word in words}
    assert theta[topic_of["apple"]] == pytest.approx(0.5, abs=0.05)
    assert theta[topic_of["car"]] == pytest.approx(0.5, abs=0.05)
    assert theta[topic_of["red"]] < 0.02
    np.testing.assert_allclose(model.doc_topic_.sum(axis=1), 1.0)
    assert model.doc_topic_[0, topic_of["apple"]] > 0.9  # document 0 is a fruit document


def test_log_likelihood_is_the_collapsed_formula_on_the_counts():
    """log p(w, z) = K [lnG(W b) - W lnG(b)] + sum_k [sum_w lnG(n_kw + b) - lnG(n_k + W b)]
    + D [lnG(K a) - K lnG(a)] + sum_d [sum_k lnG(n_dk + a) - lnG(n_d + K a)]."""
    docs = token_corpus(n_docs=90, seed=1)
    a, b, K = 0.1, 0.01, 3
    model = strads.LDA(K, n_iter=10, alpha=a, beta=b, threads=2).fit(docs)
    n_kw = model.components_ - b
    W = n_kw.shape[1]
    n_d = np.array([len(doc) for doc in docs], dtype=float)
    n_dk = model.doc_topic_ * (n_d[:, None] + K * a) - a
    D = len(docs)
    word_part = K * (gammaln(W * b) - W * gammaln(b)) + (gammaln(n_kw + b).sum(axis=1) - gammaln(n_kw.sum(axis=1) + W * b)).sum()
    doc_part = D * (gammaln(K * a) - K * gammaln(a)) + (gammaln(n_dk + a).sum(axis=1) - gammaln(n_d + K * a)).sum()
    assert model.loglik_ == pytest.approx(word_part + doc_part, rel=1e-9)
    assert model.trace_[-1]["loglik"] == model.loglik_


def test_matches_the_cli_on_the_same_docword_file(tmp_path, strads_binary):
    docs = token_corpus(n_docs=120, seed=2)
    model = strads.LDA(3, n_iter=8, sampler="exact", seed=5, threads=2).fit(docs)
    X = count_matrix(docs, model.vocabulary_)
    rows, columns = np.nonzero(X)
    path = tmp_path / "corpus.docword"
    path.write_text(f"{X.shape[0]}\n{X.shape[1]}\n{len(rows)}\n" + "".join(
        f"{d + 1} {w + 1} {X[d, w]}\n" for d, w in zip(rows, columns)))
    cli = subprocess.run(
        [strads_binary, "lda", "--data", str(path), "--format", "docword", "--topics", "3", "--iters", "8",
         "--sampler", "exact", "--seed", "5", "--threads", "2", "--json"],
        check=True, capture_output=True, text=True,
    )
    summary = json.loads(cli.stdout.strip().splitlines()[-1])
    # The same sampler on the same documents and seed: the same chain.
    assert model.loglik_ == pytest.approx(summary["loglik"], rel=1e-12)
    sparse = strads.LDA(3, n_iter=8, sampler="exact", seed=5, threads=2).fit(sp.csr_matrix(X))
    np.testing.assert_array_equal(sparse.components_, model.components_)


def test_bad_counts_name_the_row_and_column():
    X = np.ones((4, 3))
    X[2, 1] = -1
    with pytest.raises(ValueError, match=r"Negative values.*row 2, column 1"):
        strads.LDA(2).fit(X)
    X[2, 1] = 0.5
    with pytest.raises(ValueError, match=r"0.5 at row 2, column 1: counts must be non-negative integers"):
        strads.LDA(2).fit(X)
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinity: nan at row 2, column 1"):
        strads.LDA(2).fit(sp.csr_matrix(X))
    with pytest.raises(ValueError, match=r"holds no tokens"):
        strads.LDA(2).fit(np.zeros((3, 3)))
    model = strads.LDA(2, n_iter=2, threads=1).fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"X has 2 words \(columns\), but the model has 3"):
        model.transform(np.ones((1, 2)))


_COUNTS = "fits on scikit-learn's random real-valued X; LDA takes counts (non-negative integers)"
_EXPECTED_FAILURES = {
    name: _COUNTS
    for name in [
        "check_fit_score_takes_y", "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters", "check_estimators_fit_returns_self", "check_readonly_memmap_input",
        "check_n_features_in_after_fitting", "check_estimators_dtypes",
        "check_dtype_object", "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimator_sparse_tag",
        "check_estimator_sparse_array", "check_estimator_sparse_matrix", "check_estimators_pickle",
        "check_f_contiguous_array_estimator", "check_transformer_data_not_an_array", "check_transformer_general",
        "check_transformer_preserve_dtypes", "check_methods_sample_order_invariance", "check_methods_subset_invariance",
        "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent",
        "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
    ]
}


@parametrize_with_checks(
    [strads.LDA(3, n_iter=5, threads=1)], expected_failed_checks=lambda estimator: _EXPECTED_FAILURES
)
def test_sklearn_checks_that_apply_to_counts(estimator, check):
    check(estimator)
