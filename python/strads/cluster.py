"""Fitting on a cluster of processes: the estimator's data is written to a file in the CLI's
format, and the ``strads`` binary runs as one process per host with the CLI's hosts-file
mechanism (``--processes N --process I --hosts FILE --secret-file FILE``); process 0's outputs
become the estimator's fitted attributes. The binary is the same library as the in-process fit,
so the answer is the same up to the solve's tolerance.

Example, two processes on this machine (loopback)::

    import strads
    from strads.cluster import fit_on_cluster
    model = fit_on_cluster(strads.Lasso(alpha=0.01), X, y, processes=2, threads=1)

On several machines, give ``hosts`` (one ``host:port`` per process) and a ``launcher`` that
turns a process's command into one run on its host, e.g. ``lambda index, host, command:
["ssh", host.split(":")[0], *command]``; ``workdir`` must then be a directory every host sees
at the same path (a shared file system), since the data, the hosts file and the secret are
written there.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .lda import LDA
from .linear import Lasso, SparseLogisticRegression
from .mf import MatrixFactorization, _check_options_apply, _factorize, _pairs_and_ratings
from .mlr import MultinomialLogisticRegression
from .word2vec import Word2Vec, _locate_bad_sentence
from ._validation import (
    check_class_labels,
    check_finite_matrix,
    check_positive_int,
    check_samples,
    check_target,
)


def find_binary(binary=None):
    """The ``strads`` binary: ``binary``, else $STRADS_BINARY, else ``strads`` on PATH."""
    candidate = binary or os.environ.get("STRADS_BINARY") or shutil.which("strads")
    if not candidate or not Path(candidate).is_file():
        raise FileNotFoundError(
            "no strads binary: build it (cargo build --release) and pass binary= or set STRADS_BINARY"
        )
    return str(candidate)


def _free_loopback_ports(count):
    """Ports free on loopback now (the OS picks them; a race with another program is possible
    but harmless: formation then fails with a clear error)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _is_loopback(host):
    return host.rsplit(":", 1)[0] in ("127.0.0.1", "localhost", "::1", "[::1]")


def _write_libsvm(path, X, labels):
    """CSR X and labels (each row's label as text) as libsvm lines (1-based indices, values in
    full precision)."""
    with open(path, "w") as out:
        for row in range(X.shape[0]):
            start, end = X.indptr[row], X.indptr[row + 1]
            entries = " ".join(
                f"{j + 1}:{float(v)!r}" for j, v in zip(X.indices[start:end].tolist(), X.data[start:end].tolist())
            )
            out.write(f"{labels[row]} {entries}\n")


def _regression_command(estimator, X, labels, data, outputs):
    n_samples = X.shape[0]
    penalty, value = estimator._penalty(n_samples)
    flag = "--lambda" if penalty == "lambda" else "--lambda-ratio"
    _write_libsvm(data, X, [repr(float(v)) for v in labels])
    command = [
        "lasso" if estimator._loss == "squared" else "logreg",
        "--data", str(data), flag, repr(float(value)), "--tol", repr(float(estimator.tol)),
        "--max-iters", str(int(estimator.max_iter)), "--layout", estimator.layout,
        "--seed", str(int(estimator.seed)), "--out", str(outputs / "coef.txt"),
        "--trace", str(outputs / "trace.jsonl"), "--json",
    ]
    if np.isfinite(estimator.max_seconds):
        command += ["--max-seconds", repr(float(estimator.max_seconds))]
    if estimator.layout == "columns":
        # Applies to one process only (processes=1); passed on so that such a run is the fit's.
        command += ["--single-worker-entries", str(int(estimator.single_worker_entries))]
    return command


def _run(binary, command, processes, hosts, threads, workdir, launcher):
    """Runs ``command`` as a cluster; returns process 0's stdout."""
    if hosts is None:
        hosts = [f"127.0.0.1:{port}" for port in _free_loopback_ports(processes)]
    if len(hosts) != processes:
        raise ValueError(f"{processes} processes need {processes} hosts, got {len(hosts)}")
    hosts_file = workdir / "hosts.txt"
    hosts_file.write_text("".join(f"{host}\n" for host in hosts))
    secret_file = workdir / "secret"
    secret_file.touch(mode=0o600)
    secret_file.write_text(secrets.token_hex(32))
    running = []
    try:
        for index, host in enumerate(hosts):
            argv = [binary, *command, "--processes", str(processes), "--process", str(index),
                    "--hosts", str(hosts_file), "--secret-file", str(secret_file)]
            if threads is not None:
                argv += ["--threads", str(check_positive_int(threads, "threads"))]
            if launcher is not None:
                argv = list(launcher(index, host, argv))
            elif not _is_loopback(host):
                raise ValueError(f"host {host!r} is not this machine: give a launcher (e.g. ssh)")
            running.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outputs = [process.communicate() for process in running]
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
    for index, (process, (_, stderr)) in enumerate(zip(running, outputs)):
        if process.returncode != 0:
            error = ValueError if process.returncode == 2 else RuntimeError
            raise error(f"process {index} of the cluster failed (exit status {process.returncode}): {stderr.strip()}")
    return outputs[0][0]


def _fit_lda(estimator, X, binary, processes, hosts, threads, directory, launcher):
    """LDA through a UCI docword file and ``strads lda``'s count outputs (words, documents
    1-based); returns the CLI's summary."""
    counts = estimator._documents(X, fitting=True)
    n_docs, n_words = counts.shape
    if counts.nnz == 0:
        raise ValueError("X holds no tokens (every count is 0)")
    topics = check_positive_int(estimator.n_components, "n_components")
    coo = counts.tocoo()
    data = directory / "corpus.docword"
    with open(data, "w") as out:
        out.write(f"{n_docs}\n{n_words}\n{coo.nnz}\n")
        for d, w, c in zip(coo.row.tolist(), coo.col.tolist(), coo.data.astype(np.int64).tolist()):
            out.write(f"{d + 1} {w + 1} {c}\n")
    command = [
        "lda", "--data", str(data), "--format", "docword", "--topics", str(topics),
        "--iters", str(int(estimator.n_iter)), "--alpha", repr(float(estimator.alpha)),
        "--beta", repr(float(estimator.beta)), "--seed", str(int(estimator.seed)),
        "--sampler", estimator.sampler, "--word-topics-out", str(directory / "word-topics.txt"),
        "--doc-topics-out", str(directory / "doc-topics.txt"), "--trace", str(directory / "trace.jsonl"),
        "--json",
    ]
    # The CLI refuses --mh-steps where the exact sampler runs ("auto" up to 64 topics).
    if estimator.sampler == "mh" or (estimator.sampler == "auto" and topics > 64):
        command += ["--mh-steps", str(int(estimator.mh_steps))]
    stdout = _run(binary, command, processes, hosts, threads, directory, launcher)
    summary = json.loads(stdout.strip().splitlines()[-1])

    def read_counts(path, shape, transpose):
        matrix = np.zeros(shape)
        for line in path.read_text().splitlines():
            fields = line.split()
            row = int(fields[0]) - 1
            for pair in fields[1:]:
                topic, count = pair.split(":")
                if transpose:
                    matrix[int(topic), row] = float(count)
                else:
                    matrix[row, int(topic)] = float(count)
        return matrix

    word_topic = read_counts(directory / "word-topics.txt", (topics, n_words), transpose=True)
    doc_topic = read_counts(directory / "doc-topics.txt", (n_docs, topics), transpose=False)
    estimator.components_ = word_topic + estimator.beta
    estimator.topic_word_ = estimator.components_ / estimator.components_.sum(axis=1, keepdims=True)
    estimator.doc_topic_ = (doc_topic + estimator.alpha) / (
        doc_topic.sum(axis=1, keepdims=True) + topics * estimator.alpha
    )
    estimator.loglik_ = summary["loglik"]
    estimator.loglik_per_token_ = summary["loglik_per_token"]
    estimator.n_iter_ = summary["iterations"]
    estimator.n_features_in_ = n_words
    return summary


def _fit_mlr(estimator, X, y, binary, processes, hosts, threads, directory, launcher):
    """Multinomial logistic regression through a libsvm file (labels: class indices) and
    ``strads mlr``'s model file; returns the CLI's summary."""
    Xc = check_finite_matrix(X)
    n_samples, n_features = check_samples(Xc)
    # scikit-learn's bookkeeping (n_features_in_, feature_names_in_), as the in-process fit does.
    estimator._check_X(X, reset=True)
    classes, codes = check_class_labels(y, n_samples, "MultinomialLogisticRegression")
    settings = estimator._settings()
    data = directory / "data.libsvm"
    _write_libsvm(data, Xc, [str(int(code)) for code in codes])
    model = directory / "model.txt"
    command = [
        "mlr", "--data", str(data), "--lambda", repr(settings["lam"]), "--l1", repr(settings["l1"]),
        "--solver", settings["solver"], "--out", str(model), "--trace", str(directory / "trace.jsonl"),
        "--json",
    ]
    if settings["fit_intercept"]:
        command.append("--intercept")
    # The CLI refuses the other solver's flags.
    if settings["solver"] == "lbfgs":
        command += ["--tol", repr(settings["tol"]), "--max-iters", str(settings["max_iter"]),
                    "--memory", str(settings["memory"])]
    else:
        command += ["--epochs", str(settings["epochs"]), "--batch", str(settings["batch"]),
                    "--decay", repr(settings["decay"]), "--staleness", str(settings["staleness"]),
                    "--seed", str(settings["seed"])]
        if settings["step"] is not None:
            command += ["--step", repr(settings["step"])]
    stdout = _run(binary, command, processes, hosts, threads, directory, launcher)
    summary = json.loads(stdout.strip().splitlines()[-1])
    # The model file: a header, then class k's feature weights (and its intercept last). The
    # CLI's features end at the largest index in the file; later columns of X are all zero and
    # their weights 0, as in the in-process fit.
    lines = model.read_text().splitlines()
    k = len(classes)
    weights = np.array([[float(v) for v in line.split()] for line in lines[1 : k + 1]]).reshape(k, -1)
    features = weights.shape[1] - (1 if settings["fit_intercept"] else 0)
    coef = np.zeros((k, n_features))
    coef[:, :features] = weights[:, :features]
    intercept = weights[:, features] if settings["fit_intercept"] else None
    trace = [json.loads(line) for line in (directory / "trace.jsonl").read_text().splitlines() if line.strip()]
    result = dict(objective=summary["objective"], gradient_norm=summary["gradient_norm"],
                  iterations=summary["iterations"], stop_reason=summary["stop"],
                  solve_seconds=summary["solve_seconds"], trace=trace)
    estimator._set_fitted(classes, coef, intercept, result)
    return summary


def _fit_word2vec(estimator, X, binary, processes, hosts, threads, directory, launcher):
    """word2vec through a text file (one sentence per line; a path is passed on as it is, so it
    must be visible to every host) and ``strads word2vec``'s vectors in word2vec's text format;
    returns the CLI's summary."""
    settings = estimator._settings()
    if isinstance(X, (str, os.PathLike)):
        data = Path(os.fspath(X))
        if not data.is_file():
            raise ValueError(f"{data}: no such file (give a text file, or a list of token lists)")
    else:
        if isinstance(X, (bytes, np.ndarray)) or not hasattr(X, "__iter__"):
            raise ValueError(f"X must be a list of token lists or the path of a text file, got {type(X).__name__}")
        sentences = X if isinstance(X, list) else list(X)
        error = _locate_bad_sentence(sentences)
        if error is not None:
            raise error
        data = directory / "corpus.txt"
        with open(data, "w", encoding="utf-8") as out:
            for i, sentence in enumerate(sentences):
                for j, token in enumerate(sentence):
                    if not token or any(c.isspace() for c in token):
                        raise ValueError(f"sentence {i}, token {j}: {token!r} is empty or holds whitespace")
                out.write(" ".join(sentence) + "\n")
    vectors_file = directory / "vectors.txt"
    command = [
        "word2vec", "--data", str(data), "--dim", str(settings["dim"]), "--window", str(settings["window"]),
        "--negative", str(settings["negative"]), "--min-count", str(settings["min_count"]),
        "--sample", repr(settings["sample"]), "--epochs", str(settings["epochs"]),
        "--alpha", repr(settings["alpha"]), "--min-alpha", repr(settings["min_alpha"]),
        "--seed", str(settings["seed"]), "--out", str(vectors_file),
        "--trace", str(directory / "trace.jsonl"), "--json",
    ]
    if settings["cbow"]:
        command.append("--cbow")
    if settings["shared_negatives"]:
        command.append("--shared-negatives")
    if settings["sync_words"] is not None:
        command += ["--sync-words", str(settings["sync_words"])]
    stdout = _run(binary, command, processes, hosts, threads, directory, launcher)
    summary = json.loads(stdout.strip().splitlines()[-1])
    # word2vec's text format: "words dim", then a word and its dim values per line (the shortest
    # text that reads back as the same float32).
    lines = vectors_file.read_text(encoding="utf-8").splitlines()
    count, dim = (int(v) for v in lines[0].split())
    words = [line.split(" ", 1)[0] for line in lines[1 : count + 1]]
    vectors = np.array([line.split(" ")[1 : dim + 1] for line in lines[1 : count + 1]], dtype=np.float32)
    trace = [json.loads(line) for line in (directory / "trace.jsonl").read_text().splitlines() if line.strip()]
    estimator._set_fitted(words, vectors.reshape(count, dim),
                          dict(corpus_words=summary["corpus_words"], trace=trace,
                               train_seconds=summary["train_seconds"]))
    return summary


def fit_on_cluster(estimator, X, y=None, *, processes=2, hosts=None, threads=None, binary=None,
                   workdir=None, launcher=None):
    """Fits ``estimator`` (Lasso, SparseLogisticRegression with two classes,
    MatrixFactorization, LDA, MultinomialLogisticRegression or Word2Vec) on a cluster of ``processes`` processes of the ``strads`` binary and
    returns it fitted, with the same attributes as ``estimator.fit(X, y)`` plus
    ``cluster_summary_`` (the CLI's JSON summary). ``threads`` is per process (default: the
    binary's, every core); ``hosts`` defaults to free ports on loopback."""
    binary = find_binary(binary)
    processes = check_positive_int(processes, "processes", minimum=2)
    temporary = tempfile.TemporaryDirectory(prefix="strads-cluster-") if workdir is None else None
    directory = Path(workdir if workdir is not None else temporary.name)
    try:
        if isinstance(estimator, (Lasso, SparseLogisticRegression)):
            Xc = estimator._check_X(X, reset=True)
            if not sp.issparse(Xc) or Xc.format != "csr":  # the fit's CSC or dense input
                Xc = sp.csr_matrix(Xc)
            check_samples(Xc)
            if isinstance(estimator, SparseLogisticRegression):
                y = check_target(y, Xc.shape[0], numeric=False)
                classes, codes = np.unique(y, return_inverse=True)
                if len(classes) != 2:
                    raise ValueError(f"a cluster fit of SparseLogisticRegression needs 2 classes, got {len(classes)}")
                estimator.classes_ = classes
                labels = np.where(codes == 1, 1.0, -1.0)
            else:
                labels = check_target(y, Xc.shape[0])
            command = _regression_command(estimator, Xc, labels, directory / "data.libsvm", directory)
            stdout = _run(binary, command, processes, hosts, threads, directory, launcher)
            summary = json.loads(stdout.strip().splitlines()[-1])
            coef = np.zeros(Xc.shape[1])
            coef_file = directory / "coef.txt"
            for line in coef_file.read_text().splitlines():
                index, value = line.split()
                coef[int(index) - 1] = float(value)
            estimator.coef_ = coef
            estimator.lambda_ = summary["lambda"]
            estimator.lambda_max_ = summary["lambda_max"]
            estimator.objective_ = summary["objective"]
            estimator.duality_gap_ = summary["duality_gap"]
            estimator.n_iter_ = summary["iterations"]
            estimator.converged_ = summary["converged"]
            estimator.stop_reason_ = summary["stop_reason"]
            estimator.solve_seconds_ = summary["solve_seconds"]
        elif isinstance(estimator, MatrixFactorization):
            users, items, ratings = _pairs_and_ratings(X, y)
            ratings = np.asarray(ratings, dtype=np.float64)
            if not np.isfinite(ratings).all():
                row = int(np.flatnonzero(~np.isfinite(ratings))[0])
                raise ValueError(f"the rating at row {row} is {ratings[row]}, not a finite number")
            user_codes, estimator.user_ids_ = _factorize(np.asarray(users))
            item_codes, estimator.item_ids_ = _factorize(np.asarray(items))
            data = directory / "ratings.txt"
            with open(data, "w") as out:
                for u, i, r in zip(user_codes.tolist(), item_codes.tolist(), ratings.tolist()):
                    out.write(f"{u} {i} {r!r}\n")
            prefix = directory / "model"
            command = [
                "mf", "--train", str(data), "--rank", str(int(estimator.rank)), "--lambda", repr(float(estimator.lam)),
                "--reg-scaling", estimator.reg_scaling, "--iters", str(int(estimator.n_iter)),
                "--algo", estimator.algorithm, "--seed", str(int(estimator.seed)),
                "--out-prefix", str(prefix), "--trace", str(directory / "trace.jsonl"), "--json",
            ]
            _check_options_apply(estimator)
            if estimator.inner is not None:
                command += ["--inner", str(int(estimator.inner))]
            for flag, value in (("--lr", estimator.learning_rate), ("--lr-decay", estimator.learning_rate_decay)):
                if value is not None:
                    command += [flag, repr(float(value))]
            stdout = _run(binary, command, processes, hosts, threads, directory, launcher)
            summary = json.loads(stdout.strip().splitlines()[-1])

            def factors(path, count):
                matrix = np.zeros((count, int(estimator.rank)))
                for line in path.read_text().splitlines():
                    fields = line.split()
                    matrix[int(fields[0])] = [float(v) for v in fields[1:]]
                return matrix

            estimator.user_factors_ = factors(Path(f"{prefix}.users"), len(estimator.user_ids_))
            estimator.item_factors_ = factors(Path(f"{prefix}.items"), len(estimator.item_ids_))
            estimator.global_mean_ = json.loads(Path(f"{prefix}.json").read_text())["global_mean"]
            estimator.objective_ = summary["objective"]
            estimator.rmse_ = summary["rmse_train"]
            estimator.n_iter_ = summary["iterations"]
            estimator._user_index = {u: k for k, u in enumerate(estimator.user_ids_.tolist())}
            estimator._item_index = {i: k for k, i in enumerate(estimator.item_ids_.tolist())}
        elif isinstance(estimator, LDA):
            summary = _fit_lda(estimator, X, binary, processes, hosts, threads, directory, launcher)
        elif isinstance(estimator, MultinomialLogisticRegression):
            summary = _fit_mlr(estimator, X, y, binary, processes, hosts, threads, directory, launcher)
        elif isinstance(estimator, Word2Vec):
            summary = _fit_word2vec(estimator, X, binary, processes, hosts, threads, directory, launcher)
        else:
            raise ValueError(
                "fit_on_cluster supports Lasso, SparseLogisticRegression, MatrixFactorization, "
                f"LDA, MultinomialLogisticRegression and Word2Vec, not {type(estimator).__name__}"
            )
        trace_file = directory / "trace.jsonl"
        estimator.trace_ = [json.loads(line) for line in trace_file.read_text().splitlines() if line.strip()]
        estimator.cluster_summary_ = summary
        return estimator
    finally:
        if temporary is not None:
            temporary.cleanup()
