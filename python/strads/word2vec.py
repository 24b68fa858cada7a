"""Word embeddings: word2vec over the STRADS-AP app ``word2vec::train`` (the trainer of
``strads word2vec``), with gensim-like access to the vectors."""

import os

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from . import _strads
from ._fitting import progress_printer, resolve_threads
from ._validation import check_positive_int, check_positive_number


def _locate_bad_sentence(sentences):
    """A ValueError naming the first sentence or token that is not a list of str tokens."""
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, (str, bytes)) or not isinstance(sentence, (list, tuple)):
            return ValueError(
                f"sentence {i} must be a list of str tokens, got {type(sentence).__name__} "
                f"{sentence!r:.60} (give a list of token lists, e.g. [line.split() for line in text])"
            )
        for j, token in enumerate(sentence):
            if not isinstance(token, str):
                return ValueError(f"sentence {i}, token {j}: expected a str, got {type(token).__name__} {token!r:.60}")
    return None


class Word2Vec(BaseEstimator):
    """Word vectors by word2vec (skip-gram, or CBOW, with negative sampling), trained as
    ``strads word2vec`` trains them: word2vec.c's semantics (vocabulary by ``min_count``,
    subsampling by ``sample``, a window drawn in ``1..window`` per word, a learning rate falling
    linearly from ``alpha`` to ``min_alpha``), on ``threads`` workers merging their changes.

    ``fit(sentences)`` takes a list of token lists (each token a str without whitespace), or
    the path of a text file with one sentence per line (read by the library, never through
    Python). With ``threads=1`` the vectors are the CLI's on the same corpus, bit for bit.

    Parameters (the CLI's flags and defaults): ``dim`` (100), ``window`` (5), ``negative`` (5),
    ``min_count`` (5), ``sample`` (1e-3; 0: no subsampling), ``epochs`` (5), ``alpha`` (0.025),
    ``min_alpha`` (0.0001), ``seed`` (1), ``cbow`` (False: skip-gram), ``shared_negatives``
    (False; skip-gram: one set of negatives per window), ``sync_words`` (None: the CLI's
    default; words a worker trains on between merges), ``threads`` (default every core),
    ``verbose`` (print each epoch on stderr).

    Fitted attributes: ``vectors_`` (float32, one row per word), ``index_to_key_`` (the words,
    most frequent first), ``key_to_index_``, ``corpus_words_`` (occurrences of vocabulary words),
    ``n_epochs_``, ``train_seconds_``, ``trace_`` (one dict per epoch: epoch, words, pairs,
    seconds, words_per_second, mean_loss, alpha). ``model[word]`` is a word's vector and
    ``word in model`` tells whether it has one.

    Ctrl-C stops a fit with ``KeyboardInterrupt``: the workers skip the rest of the epoch's
    sentences (each finishes the sentence it is in) and stop at its end.
    """

    def __init__(
        self,
        dim=100,
        *,
        window=5,
        negative=5,
        min_count=5,
        sample=1e-3,
        epochs=5,
        alpha=0.025,
        min_alpha=0.0001,
        seed=1,
        cbow=False,
        shared_negatives=False,
        sync_words=None,
        threads=None,
        verbose=False,
    ):
        self.dim = dim
        self.window = window
        self.negative = negative
        self.min_count = min_count
        self.sample = sample
        self.epochs = epochs
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.seed = seed
        self.cbow = cbow
        self.shared_negatives = shared_negatives
        self.sync_words = sync_words
        self.threads = threads
        self.verbose = verbose

    def fit(self, X, y=None):
        """Trains on ``X``: a list of token lists, or the path of a text file (str or
        os.PathLike). ``y`` is ignored."""
        if isinstance(X, (str, os.PathLike)):
            path, sentences = os.fspath(X), None
            if not os.path.isfile(path):
                raise ValueError(f"{path}: no such file (give a text file, or a list of token lists)")
        else:
            if isinstance(X, (bytes, np.ndarray)) or not hasattr(X, "__iter__"):
                raise ValueError(
                    f"X must be a list of token lists or the path of a text file, got {type(X).__name__}"
                )
            path, sentences = None, X if isinstance(X, list) else list(X)
        arguments = (
            *self._settings().values(),
            resolve_threads(self.threads),
            progress_printer(self.verbose, "word2vec"),
        )
        try:
            result = _strads.fit_word2vec(sentences, path, *arguments)
        except TypeError:
            # The sentences were not lists of str: say which one, then fail as before.
            error = _locate_bad_sentence(sentences) if sentences is not None else None
            if error is not None:
                raise error from None
            raise
        words = result["words"]
        self._set_fitted(words, np.asarray(result["vectors"]).reshape(len(words), result["dim"]), result)
        return self

    def _settings(self):
        """The trainer's parameters, checked, in the bindings' order (a ValueError names the
        first bad one); the in-process fit and ``strads.cluster.fit_on_cluster`` both train with
        these."""
        alpha = check_positive_number(self.alpha, "alpha")
        min_alpha = check_positive_number(self.min_alpha, "min_alpha", allow_zero=True)
        if min_alpha > alpha:
            raise ValueError(f"min_alpha ({min_alpha}) must be at most alpha ({alpha})")
        return dict(
            dim=check_positive_int(self.dim, "dim"),
            window=check_positive_int(self.window, "window"),
            negative=check_positive_int(self.negative, "negative"),
            min_count=check_positive_int(self.min_count, "min_count"),
            sample=check_positive_number(self.sample, "sample", allow_zero=True),
            epochs=check_positive_int(self.epochs, "epochs"),
            alpha=alpha,
            min_alpha=min_alpha,
            seed=check_positive_int(self.seed, "seed", minimum=0),
            cbow=bool(self.cbow),
            shared_negatives=bool(self.shared_negatives),
            sync_words=None if self.sync_words is None else check_positive_int(self.sync_words, "sync_words"),
        )

    def _set_fitted(self, words, vectors, result):
        """The fitted attributes from the vocabulary (most frequent first), its vectors (one row
        per word) and the trainer's result (corpus_words, trace, train_seconds)."""
        self.index_to_key_ = list(words)
        self.key_to_index_ = {word: i for i, word in enumerate(self.index_to_key_)}
        self.vectors_ = np.asarray(vectors, dtype=np.float32)
        self.corpus_words_ = result["corpus_words"]
        self.trace_ = result["trace"]
        self.n_epochs_ = len(self.trace_)
        self.train_seconds_ = result["train_seconds"]

    def _index(self, word):
        check_is_fitted(self)
        try:
            return self.key_to_index_[word]
        except KeyError:
            raise KeyError(f"word {word!r} not in the vocabulary of {len(self.index_to_key_)} words") from None

    def __getitem__(self, word):
        return self.vectors_[self._index(word)]

    def __contains__(self, word):
        check_is_fitted(self)
        return word in self.key_to_index_

    def most_similar(self, word, topn=10):
        """The ``topn`` words nearest to ``word`` by cosine similarity (itself excluded), most
        similar first, as ``(word, similarity)`` pairs; ties in vocabulary order."""
        target = self._index(word)
        topn = check_positive_int(topn, "topn", minimum=0)
        vectors = self.vectors_.astype(np.float64)
        norms = np.linalg.norm(vectors, axis=1)
        norms[norms == 0] = 1.0  # a zero vector is similar to nothing (cosine 0)
        similarity = vectors @ vectors[target] / (norms * norms[target])
        similarity[target] = -np.inf
        order = np.argsort(-similarity, kind="stable")[: min(topn, len(similarity) - 1)]
        return [(self.index_to_key_[i], float(similarity[i])) for i in order]

    def save_word2vec_format(self, path, binary=False):
        """Writes the vectors in word2vec's format (a header ``V dim``, then one word and its
        vector per line; ``binary``: the vector as little-endian float32), atomically."""
        check_is_fitted(self)
        _strads.write_word_vectors(os.fspath(path), list(self.index_to_key_),
                                   np.ascontiguousarray(self.vectors_, dtype=np.float32), bool(binary))
