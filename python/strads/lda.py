"""LDA topic modelling: a scikit-learn estimator over the library's ``lda::train`` (the
sampler of ``strads lda``) and its Gibbs fold-in kernel for new documents."""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import _strads
from ._fitting import progress_printer, resolve_threads
from ._validation import check_positive_int, check_positive_number


def _is_token_lists(X):
    """Whether X is a list of documents, each a list of tokens (strings or other hashables)."""
    if sp.issparse(X) or isinstance(X, np.ndarray) or not isinstance(X, (list, tuple)):
        return False
    return all(isinstance(doc, (list, tuple)) for doc in X) and any(
        not isinstance(token, numbers.Number) for doc in X for token in doc
    )


def _count_matrix(X, n_words=None):
    """X as a CSR matrix of non-negative integer counts; ValueError naming the row and column
    of the first negative, fractional or non-finite count."""
    if sp.issparse(X):
        X = sp.csr_matrix(X)
    else:
        dense = np.asarray(X)
        if dense.dtype.kind == "c":
            raise ValueError("Complex data not supported: X must hold counts")
        if dense.ndim != 2:
            raise ValueError(f"X must be a documents x words matrix of counts, got shape {dense.shape}")
        try:
            dense = dense.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"X must hold counts: {error}") from error
        X = sp.csr_matrix(dense)
    X = X.copy()
    X.sum_duplicates()
    data = X.data.astype(np.float64)

    def where(bad):
        k = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(X.indptr, k, side="right") - 1)
        return f"{data[k]} at row {row}, column {int(X.indices[k])}"

    if not np.isfinite(data).all():
        raise ValueError(f"X contains NaN or infinity: {where(~np.isfinite(data))}")
    if (data < 0).any():
        raise ValueError(f"Negative values in data passed to LDA: {where(data < 0)} (counts are non-negative)")
    bad = (data != np.round(data)) | (data >= 2**32)
    if bad.any():
        raise ValueError(f"X holds {where(bad)}: counts must be non-negative integers below 2^32")
    X.eliminate_zeros()
    if n_words is not None and X.shape[1] != n_words:
        raise ValueError(f"X has {X.shape[1]} words (columns), but the model has {n_words}")
    return X


class LDA(TransformerMixin, BaseEstimator):
    """Latent Dirichlet allocation by Strads' collapsed Gibbs sampler (the sampler of
    ``strads lda``: STRADS vocabulary rotation over ``threads`` workers).

    ``fit(X)`` takes a documents x words matrix of counts (scipy sparse or dense; rows are
    documents) or a list of documents, each a list of tokens (then ``vocabulary_`` is the sorted
    distinct tokens). ``transform(X)`` gives the topic proportions of (new) documents by Gibbs
    fold-in with the trained topics fixed (``fold_in_sweeps`` sweeps, the first
    ``fold_in_burn_in`` discarded; seeded per document).

    Parameters: ``n_components`` (topics K), ``n_iter`` (sweeps), ``alpha`` (document-topic
    prior), ``beta`` (topic-word prior), ``sampler`` ("auto": exact up to 64 topics, else "mh";
    as the CLI), ``mh_steps``, ``seed``, ``threads``, ``verbose``.

    Fitted attributes: ``components_`` (K x W: ``n_kw + beta``, unnormalised as
    scikit-learn's), ``topic_word_`` (K x W: ``phi_kw = (n_kw + beta) / (n_k + W beta)``),
    ``doc_topic_`` (the training documents' ``(n_dk + alpha) / (n_d + K alpha)``),
    ``loglik_`` (``log p(w, z)``), ``train_seconds_`` (the sampling, without building the
    corpus), ``trace_``, ``vocabulary_`` (for token lists), and
    ``top_words(n)``.
    """

    def __init__(
        self,
        n_components=10,
        *,
        n_iter=100,
        alpha=0.1,
        beta=0.01,
        sampler="auto",
        mh_steps=2,
        seed=1,
        threads=None,
        verbose=False,
        fold_in_sweeps=50,
        fold_in_burn_in=10,
    ):
        self.n_components = n_components
        self.n_iter = n_iter
        self.alpha = alpha
        self.beta = beta
        self.sampler = sampler
        self.mh_steps = mh_steps
        self.seed = seed
        self.threads = threads
        self.verbose = verbose
        self.fold_in_sweeps = fold_in_sweeps
        self.fold_in_burn_in = fold_in_burn_in

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True
        tags.requires_fit = True
        return tags

    def _documents(self, X, fitting):
        """X as CSR counts; token lists are counted against the vocabulary (fitting builds it;
        later, unknown tokens are dropped)."""
        if _is_token_lists(X):
            if fitting:
                self.vocabulary_ = sorted({token for doc in X for token in doc}, key=lambda t: (str(type(t)), t))
            index = {token: j for j, token in enumerate(getattr(self, "vocabulary_", []))}
            rows, columns = [], []
            for d, doc in enumerate(X):
                for token in doc:
                    if token in index:
                        rows.append(d)
                        columns.append(index[token])
            counts = sp.csr_matrix(
                (np.ones(len(rows)), (rows, columns)), shape=(len(X), len(index))
            )
            counts.sum_duplicates()
            return counts
        if fitting and hasattr(self, "vocabulary_"):
            del self.vocabulary_
        return _count_matrix(X, None if fitting else self.components_.shape[1])

    def fit(self, X, y=None):
        counts = self._documents(X, fitting=True)
        n_docs, n_words = counts.shape
        shape = f"(shape=({n_docs}, {n_words}))"
        if n_docs < 1:
            raise ValueError(f"Found X with 0 sample(s) {shape} while a minimum of 1 is required.")
        if n_words < 1:
            raise ValueError(f"Found X with 0 feature(s) {shape} while a minimum of 1 is required.")
        if counts.nnz == 0:
            raise ValueError("X holds no tokens (every count is 0)")
        topics = check_positive_int(self.n_components, "n_components")
        result = _strads.fit_lda(
            counts.indptr.astype(np.int64),
            counts.indices.astype(np.uint32),
            counts.data.astype(np.uint32),
            n_words,
            topics,
            check_positive_int(self.n_iter, "n_iter", minimum=0),
            check_positive_number(self.alpha, "alpha"),
            check_positive_number(self.beta, "beta"),
            check_positive_int(self.seed, "seed", minimum=0),
            self.sampler,
            check_positive_int(self.mh_steps, "mh_steps"),
            resolve_threads(self.threads),
            progress_printer(self.verbose, "lda"),
        )
        word_topic = result["word_topic"].reshape(topics, n_words).astype(np.float64)
        doc_topic = result["doc_topic"].reshape(n_docs, topics).astype(np.float64)
        self.components_ = word_topic + self.beta
        self.topic_word_ = self.components_ / self.components_.sum(axis=1, keepdims=True)
        self.doc_topic_ = (doc_topic + self.alpha) / (doc_topic.sum(axis=1, keepdims=True) + topics * self.alpha)
        self.loglik_ = result["loglik"]
        self.loglik_per_token_ = result["loglik_per_token"]
        self.n_iter_ = result["iterations"]
        self.train_seconds_ = result["train_seconds"]
        self.trace_ = result["trace"]
        self.n_features_in_ = n_words
        return self

    def transform(self, X):
        """Topic proportions (documents x K, rows summing to 1) by Gibbs fold-in."""
        check_is_fitted(self)
        counts = self._documents(X, fitting=False)
        sweeps = check_positive_int(self.fold_in_sweeps, "fold_in_sweeps")
        burn_in = check_positive_int(self.fold_in_burn_in, "fold_in_burn_in", minimum=0)
        if burn_in >= sweeps:
            raise ValueError(f"fold_in_burn_in ({burn_in}) must be below fold_in_sweeps ({sweeps})")
        theta = _strads.fold_in_lda(
            counts.indptr.astype(np.int64),
            counts.indices.astype(np.uint32),
            counts.data.astype(np.uint32),
            np.ascontiguousarray(self.topic_word_.ravel()),
            self.components_.shape[0],
            float(self.alpha),
            sweeps,
            burn_in,
            int(self.seed),
        )
        return theta.reshape(counts.shape[0], self.components_.shape[0])

    def top_words(self, n=10):
        """The n most probable words of each topic (tokens when fitted on token lists, else
        column indices), most probable first."""
        check_is_fitted(self)
        order = np.argsort(-self.topic_word_, axis=1, kind="stable")[:, :n]
        vocabulary = getattr(self, "vocabulary_", None)
        if vocabulary is None:
            return order.tolist()
        return [[vocabulary[j] for j in row] for row in order]
