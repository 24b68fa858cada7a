"""Word2Vec: the CLI's vectors on the same corpus (bit for bit on one thread), planted-cluster
neighbours, the vectors file read back by a plain parser, and its input errors."""

import pickle
import signal
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import strads


def planted_corpus(sentences=4000, clusters=10, words_per_cluster=20, fillers=10, length=12, seed=0):
    """Sentences that each draw their words from one cluster (`c{k}w{j}`), with a fifth of
    fillers (`f{j}`) shared by all: a word's nearest neighbours should be its cluster's."""
    rng = np.random.default_rng(seed)
    corpus = []
    for _ in range(sentences):
        k = rng.integers(clusters)
        corpus.append(
            [f"f{rng.integers(fillers)}" if rng.random() < 0.2 else f"c{k}w{rng.integers(words_per_cluster)}"
             for _ in range(length)]
        )
    return corpus


def cluster_of(word):
    return word[1:].split("w")[0] if word.startswith("c") else None


def read_text_vectors(path):
    """A word2vec text file, parsed plainly: header `V dim`, then `word v1 ... vdim` lines."""
    with open(path) as f:
        count, dim = (int(v) for v in f.readline().split())
        rows = [line.split() for line in f]
    assert len(rows) == count and all(len(r) == dim + 1 for r in rows)
    return [r[0] for r in rows], np.array([[np.float32(v) for v in r[1:]] for r in rows], dtype=np.float32)


def read_binary_vectors(path):
    """word2vec.c's binary format: header line, then per word its bytes, a space, dim
    little-endian float32 and a newline."""
    data = open(path, "rb").read()
    header, rest = data.split(b"\n", 1)
    count, dim = (int(v) for v in header.split())
    words, rows, at = [], [], 0
    for _ in range(count):
        space = rest.index(b" ", at)
        words.append(rest[at:space].decode())
        rows.append(struct.unpack(f"<{dim}f", rest[space + 1 : space + 1 + 4 * dim]))
        assert rest[space + 1 + 4 * dim : space + 2 + 4 * dim] == b"\n"
        at = space + 2 + 4 * dim
    assert at == len(rest)
    return words, np.array(rows, dtype=np.float32)


PARAMS = dict(dim=16, window=3, negative=4, min_count=2, sample=1e-2, epochs=2, alpha=0.03,
              min_alpha=0.001, seed=5)


@pytest.mark.parametrize("variant", [{}, {"cbow": True}, {"shared_negatives": True}], ids=["skipgram", "cbow", "shared"])
def test_same_vectors_as_the_cli_on_one_thread(tmp_path, strads_binary, variant):
    corpus = planted_corpus(sentences=1500)
    text = tmp_path / "corpus.txt"
    text.write_text("".join(" ".join(s) + "\n" for s in corpus))
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in PARAMS.items()]
    flags += [f"--{k.replace('_', '-')}" for k, v in variant.items() if v]
    out = tmp_path / "cli.vec"
    subprocess.run([strads_binary, "word2vec", "--data", str(text), "--out", str(out), "--threads", "1", *flags],
                   check=True, capture_output=True)
    cli_words, cli_vectors = read_text_vectors(out)
    for source in (corpus, text, str(text)):
        model = strads.Word2Vec(threads=1, **PARAMS, **variant).fit(source)
        assert model.index_to_key_ == cli_words
        np.testing.assert_array_equal(model.vectors_, cli_vectors)


def test_planted_cluster_neighbours_on_two_threads():
    model = strads.Word2Vec(dim=32, min_count=1, epochs=5, threads=2).fit(planted_corpus())
    assert len(model.index_to_key_) == 210 and model.vectors_.shape == (210, 32)
    assert model.corpus_words_ == 4000 * 12
    same = total = 0
    for word in model.index_to_key_:
        if cluster_of(word) is None:
            continue
        for neighbour, similarity in model.most_similar(word, topn=5):
            assert -1.0 <= similarity <= 1.0
            total += 1
            same += cluster_of(neighbour) == cluster_of(word)
    # A random neighbour is in the word's cluster with probability 19/209.
    assert same / total > 0.8
    assert [r["epoch"] for r in model.trace_] == [1, 2, 3, 4, 5] and model.n_epochs_ == 5


def test_most_similar_is_the_cosine_ranking():
    model = strads.Word2Vec(dim=8, min_count=1, epochs=1, threads=1).fit(planted_corpus(sentences=300))
    word = model.index_to_key_[3]
    v = model[word].astype(np.float64)
    cosine = {w: float(model[w].astype(np.float64) @ v / np.linalg.norm(model[w]) / np.linalg.norm(v))
              for w in model.index_to_key_ if w != word}
    expected = sorted(cosine.items(), key=lambda item: -item[1])[:7]
    got = model.most_similar(word, topn=7)
    assert [w for w, _ in got] == [w for w, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=1e-6)
    assert len(model.most_similar(word, topn=10_000)) == len(model.index_to_key_) - 1


def test_save_word2vec_format_text_and_binary(tmp_path):
    model = strads.Word2Vec(dim=8, min_count=1, epochs=1, threads=1).fit(planted_corpus(sentences=300))
    model.save_word2vec_format(tmp_path / "v.txt")
    model.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    for words, vectors in (read_text_vectors(tmp_path / "v.txt"), read_binary_vectors(tmp_path / "v.bin")):
        assert words == model.index_to_key_
        np.testing.assert_array_equal(vectors, model.vectors_)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.bin", "v.txt"]  # no temporary left


def test_estimator_conventions():
    model = strads.Word2Vec(dim=8, epochs=1, threads=1)
    assert clone(model).get_params() == model.get_params()
    assert model.set_params(window=2).window == 2
    with pytest.raises(NotFittedError):
        model.most_similar("x")
    fitted = model.fit(planted_corpus(sentences=200))
    copy = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(copy.vectors_, fitted.vectors_)
    assert "f1" in fitted and "nonsense" not in fitted


def test_bad_input(tmp_path):
    model = strads.Word2Vec(min_count=1, epochs=1, threads=1)
    with pytest.raises(ValueError, match="sentence 1, token 2: expected a str, got int"):
        model.fit([["a", "b"], ["c", "d", 3]])
    with pytest.raises(ValueError, match="sentence 0 must be a list of str tokens"):
        model.fit(["a b c", "d e"])
    with pytest.raises(ValueError, match="sentence 1, token 0: \"a b\" is empty or holds whitespace"):
        model.fit([["x"], ["a b"]])
    with pytest.raises(ValueError, match="at least 3 times"):
        strads.Word2Vec(min_count=3, threads=1).fit([["a", "b"], ["a"]])
    with pytest.raises(ValueError, match="no such file"):
        model.fit(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        strads.Word2Vec(dim=0).fit([["a"]])
    with pytest.raises(ValueError, match="min_alpha"):
        strads.Word2Vec(alpha=0.01, min_alpha=0.1).fit([["a"]])
    fitted = model.fit([["a", "b"], ["b", "c"]])
    with pytest.raises(KeyError, match="'zzz' not in the vocabulary"):
        fitted.most_similar("zzz")


W2V_SCRIPT = textwrap.dedent(
    """
    import strads
    from test_word2vec import planted_corpus
    corpus = planted_corpus(sentences=20000)
    try:
        strads.Word2Vec(dim=32, min_count=1, epochs=10**6, threads=2, verbose=True).fit(corpus)
        print("finished")
    except KeyboardInterrupt:
        print("interrupted")
    """
)


def test_sigint_stops_training_after_the_epoch_with_keyboard_interrupt():
    import pathlib

    process = subprocess.Popen([sys.executable, "-c", W2V_SCRIPT], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=pathlib.Path(__file__).parent)
    try:
        first_epoch = process.stderr.readline()
        assert first_epoch.startswith("[strads word2vec]") and "epoch 1," in first_epoch, first_epoch
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert stdout.strip() == "interrupted"
    assert process.returncode == 0
