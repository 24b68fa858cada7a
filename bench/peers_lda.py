#!/usr/bin/env python3
"""Runs a peer LDA sampler (tomotopy or the `lda` package) on a UCI docword file and prints one
JSON line per checkpoint iteration: cumulative training seconds, tokens sampled per second, and
the collapsed joint log-likelihood log p(w, z) computed HERE from the peer's own topic
assignments with exactly the formula Strads prints (not the peer's own figure):

  log p(w|z) = K [lnG(W b) - W lnG(b)] + sum_k [ sum_w lnG(n_kw + b) - lnG(n_k + W b) ]
  log p(z)   = D [lnG(K a) - K lnG(a)] + sum_d [ sum_k lnG(n_dk + a) - lnG(n_d + K a) ]

with W and D from the docword header. Run it with the venv of bench/setup_lda.sh:

  bench/venv-lda/bin/python bench/peers_lda.py --system tomotopy --data bench/data/lda/docword.txt \
      --topics 50 --checkpoints 50,200 --workers 2
"""

import argparse
import json
import sys
import time

import numpy as np
from scipy.special import gammaln


def read_docword(path):
    with open(path, "rb") as f:
        docs = int(f.readline())
        words = int(f.readline())
        nnz = int(f.readline())
        body = np.array(f.read().split(), dtype=np.int64).reshape(-1, 3)
    assert body.shape[0] == nnz, "header NNZ disagrees with the body"
    return docs, words, body[:, 0] - 1, body[:, 1] - 1, body[:, 2]


def sum_lngamma_plus(counts, c, size):
    """sum over `size` cells of lnG(n + c), given the nonzero counts."""
    counts = counts[counts > 0]
    return gammaln(counts + c).sum() + (size - counts.size) * gammaln(c)


def nonzero_counts(codes):
    """The nonzero cell counts of a count table given each token's cell code (sparse: memory
    O(tokens), not O(cells), so that measuring the peers' peak memory does not count a dense
    K x W or D x K table they never build)."""
    return np.unique(codes, return_counts=True)[1]


def loglik(doc_of_token, word_of_token, topic_of_token, D, W, K, alpha, beta):
    ndk = nonzero_counts(doc_of_token * K + topic_of_token)
    nkw = nonzero_counts(topic_of_token * W + word_of_token)
    nk = np.bincount(topic_of_token, minlength=K)
    nd = np.bincount(doc_of_token, minlength=D)
    p_w = K * (gammaln(W * beta) - W * gammaln(beta))
    p_w += sum_lngamma_plus(nkw, beta, K * W) - gammaln(nk + W * beta).sum()
    p_z = D * (gammaln(K * alpha) - K * gammaln(alpha))
    p_z += sum_lngamma_plus(ndk, alpha, D * K) - gammaln(nd + K * alpha).sum()
    return float(p_w + p_z)


def run_tomotopy(args, D, W, docs, words, counts):
    import tomotopy as tp

    model = tp.LDAModel(k=args.topics, alpha=args.alpha, eta=args.beta, min_cf=0, rm_top=0,
                        seed=args.seed)
    model.optim_interval = 0  # no alpha optimisation: fixed symmetric priors like the others
    names = np.array([f"w{i + 1}" for i in range(W)], dtype=object)
    order = np.argsort(docs, kind="stable")
    boundaries = np.searchsorted(docs[order], np.arange(D + 1))
    for d in range(D):
        rows = order[boundaries[d]:boundaries[d + 1]]
        model.add_doc(list(np.repeat(names[words[rows]], counts[rows])))
    tokens = int(counts.sum())
    done, seconds = 0, 0.0
    for checkpoint in args.checkpoints:
        started = time.perf_counter()
        model.train(iter=checkpoint - done, workers=args.workers)
        seconds += time.perf_counter() - started
        done = checkpoint
        doc_ids, word_ids, topic_ids = [], [], []
        for d, doc in enumerate(model.docs):
            w = np.asarray(doc.words, dtype=np.int64)
            doc_ids.append(np.full(w.size, d, dtype=np.int64))
            word_ids.append(w)
            topic_ids.append(np.asarray(doc.topics, dtype=np.int64))
        ll = loglik(np.concatenate(doc_ids), np.concatenate(word_ids), np.concatenate(topic_ids),
                    D, W, args.topics, args.alpha, args.beta)
        emit(args, "tomotopy", checkpoint, seconds, tokens, ll, args.workers)


def run_lda(args, D, W, docs, words, counts):
    import lda
    import lda.utils
    import scipy.sparse

    X = scipy.sparse.csr_matrix((counts, (docs, words)), shape=(D, W), dtype=np.int64)
    model = lda.LDA(n_topics=args.topics, n_iter=1, alpha=args.alpha, eta=args.beta,
                    random_state=args.seed, refresh=10**9)
    # The loop of lda.LDA._fit, with our log-likelihood at the checkpoints.
    random_state = lda.utils.check_random_state(args.seed)
    rands = model._rands.copy()
    # Its initialisation (a first sequential sweep over the tokens, like our loading) is not timed.
    model._initialize(X)
    seconds = 0.0
    tokens = int(counts.sum())
    done = 0
    for checkpoint in args.checkpoints:
        started = time.perf_counter()
        for _ in range(checkpoint - done):
            random_state.shuffle(rands)
            model._sample_topics(rands)
        seconds += time.perf_counter() - started
        done = checkpoint
        ll = loglik(model.DS.astype(np.int64), model.WS.astype(np.int64),
                    model.ZS.astype(np.int64), D, W, args.topics, args.alpha, args.beta)
        emit(args, "lda", checkpoint, seconds, tokens, ll, 1)


def emit(args, system, iteration, seconds, tokens, ll, workers):
    print(json.dumps({
        "system": system,
        "topics": args.topics,
        "iteration": iteration,
        "seconds": seconds,
        "tokens_per_second": tokens * iteration / seconds,
        "loglik": ll,
        "loglik_per_token": ll / tokens,
        "workers": workers,
    }), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", choices=["tomotopy", "lda"], required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--topics", type=int, required=True)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--beta", type=float, default=0.01)
    parser.add_argument("--checkpoints", default="50,200",
                        help="comma-separated iteration counts at which to report")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    D, W, docs, words, counts = read_docword(args.data)
    if args.system == "tomotopy":
        run_tomotopy(args, D, W, docs, words, counts)
    else:
        run_lda(args, D, W, docs, words, counts)


if __name__ == "__main__":
    sys.exit(main())
