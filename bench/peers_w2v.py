#!/usr/bin/env python3
"""The word2vec peers and the quality evaluation, run with the venv of bench/setup_w2v.sh.

  bench/venv-w2v/bin/python bench/peers_w2v.py data-dir          # where gensim's test data is
  bench/venv-w2v/bin/python bench/peers_w2v.py train --system gensim|fasttext --data CORPUS \
      --out VECTORS --dim 100 --window 5 --negative 5 --min-count 5 --sample 1e-3 --epochs 5 \
      --alpha 0.025 --min-alpha 0.0001 --workers 2 [--cbow]
  bench/venv-w2v/bin/python bench/peers_w2v.py evaluate --vectors VECTORS

`train` prints one JSON line: training seconds (the peer's own training call, loading the corpus
and writing the vectors excluded) and the vocabulary size; it writes the vectors in word2vec's
text format. `evaluate` loads any word2vec text/binary file with gensim's KeyedVectors and prints
the Spearman correlation on WordSim-353 and the accuracy on the analogy set
(questions-words.txt), both shipped in gensim's test data, with gensim's own evaluators (the same
code for every system's vectors).
"""

import argparse
import json
import os
import sys
import time


def data_dir():
    import gensim

    return os.path.join(os.path.dirname(gensim.__file__), "test", "test_data")


def train_gensim(a):
    from gensim.models import Word2Vec

    started = time.time()
    model = Word2Vec(corpus_file=a.data, vector_size=a.dim, window=a.window, negative=a.negative,
                     min_count=a.min_count, sample=a.sample, epochs=a.epochs, alpha=a.alpha,
                     min_alpha=a.min_alpha, workers=a.workers, sg=0 if a.cbow else 1, seed=1,
                     hs=0)
    seconds = time.time() - started
    model.wv.save_word2vec_format(a.out)
    return seconds, len(model.wv)


def train_fasttext(a):
    import fasttext

    started = time.time()
    # maxn=0: no character n-grams, so that fastText trains plain word2vec (skip-gram/CBOW with
    # negative sampling) like the others.
    model = fasttext.train_unsupervised(a.data, model="cbow" if a.cbow else "skipgram", dim=a.dim,
                                        ws=a.window, neg=a.negative, minCount=a.min_count,
                                        t=a.sample, epoch=a.epochs, lr=a.alpha, thread=a.workers,
                                        minn=0, maxn=0, verbose=0)
    seconds = time.time() - started
    words = model.get_words()
    with open(a.out, "w") as f:
        f.write(f"{len(words)} {a.dim}\n")
        for w in words:
            f.write(w + " " + " ".join(f"{x:.6f}" for x in model.get_word_vector(w)) + "\n")
    return seconds, len(words)


def evaluate(path):
    from gensim.models import KeyedVectors

    try:
        kv = KeyedVectors.load_word2vec_format(path, binary=False)
    except (UnicodeDecodeError, ValueError):
        kv = KeyedVectors.load_word2vec_format(path, binary=True)
    d = data_dir()
    pearson, spearman, oov = kv.evaluate_word_pairs(os.path.join(d, "wordsim353.tsv"))
    analogy, _sections = kv.evaluate_word_analogies(os.path.join(d, "questions-words.txt"))
    return {"vocabulary": len(kv), "wordsim_spearman": float(spearman[0]),
            "wordsim_oov_percent": float(oov), "analogy_accuracy": float(analogy)}


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("data-dir")
    t = sub.add_parser("train")
    t.add_argument("--system", choices=["gensim", "fasttext"], required=True)
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    for name, kind, default in [("--dim", int, 100), ("--window", int, 5), ("--negative", int, 5),
                                ("--min-count", int, 5), ("--sample", float, 1e-3),
                                ("--epochs", int, 5), ("--alpha", float, 0.025),
                                ("--min-alpha", float, 0.0001), ("--workers", int, 2)]:
        t.add_argument(name, type=kind, default=default)
    t.add_argument("--cbow", action="store_true")
    e = sub.add_parser("evaluate")
    e.add_argument("--vectors", required=True)
    a = p.parse_args()
    if a.command == "data-dir":
        print(data_dir())
    elif a.command == "train":
        seconds, vocab = (train_gensim if a.system == "gensim" else train_fasttext)(a)
        print(json.dumps({"system": a.system, "train_seconds": seconds, "vocabulary": vocab}))
    else:
        print(json.dumps(evaluate(a.vectors)))


if __name__ == "__main__":
    sys.exit(main())
