"""Strads from Python: scikit-learn-style estimators over the Strads Rust library.

The estimators call the same library entry points as the ``strads`` binary (no second
implementation); a fit runs with the GIL released, Ctrl-C stops it with ``KeyboardInterrupt``,
``verbose=True`` prints progress and ``trace_`` holds one record per iteration.
"""

from .linear import Lasso, SparseLogisticRegression
from .lda import LDA
from .mf import MatrixFactorization
from .mlr import MultinomialLogisticRegression
from .word2vec import Word2Vec

__all__ = [
    "Lasso",
    "SparseLogisticRegression",
    "MatrixFactorization",
    "LDA",
    "MultinomialLogisticRegression",
    "Word2Vec",
]
