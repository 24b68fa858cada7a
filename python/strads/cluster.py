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
from .mf import MatrixFactorization, _factorize, _pairs_and_ratings
from ._validation import check_finite_matrix, check_positive_int, check_samples, check_target


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
    """CSR X and labels as libsvm lines (1-based indices, values in full precision)."""
    with open(path, "w") as out:
        for row in range(X.shape[0]):
            start, end = X.indptr[row], X.indptr[row + 1]
            entries = " ".join(
                f"{j + 1}:{float(v)!r}" for j, v in zip(X.indices[start:end].tolist(), X.data[start:end].tolist())
            )
            out.write(f"{float(labels[row])!r} {entries}\n")


def _regression_command(estimator, X, labels, data, outputs):
    n_samples = X.shape[0]
    penalty, value = estimator._penalty(n_samples)
    flag = "--lambda" if penalty == "lambda" else "--lambda-ratio"
    _write_libsvm(data, X, labels)
    command = [
        "lasso" if estimator._loss == "squared" else "logreg",
        "--data", str(data), flag, repr(float(value)), "--tol", repr(float(estimator.tol)),
        "--max-iters", str(int(estimator.max_iter)), "--layout", estimator.layout,
        "--seed", str(int(estimator.seed)), "--out", str(outputs / "coef.txt"),
        "--trace", str(outputs / "trace.jsonl"), "--json",
    ]
    if np.isfinite(estimator.max_seconds):
        command += ["--max-seconds", repr(float(estimator.max_seconds))]
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


def fit_on_cluster(estimator, X, y=None, *, processes=2, hosts=None, threads=None, binary=None,
                   workdir=None, launcher=None):
    """Fits ``estimator`` (Lasso, SparseLogisticRegression with two classes,
    MatrixFactorization or LDA) on a cluster of ``processes`` processes of the ``strads`` binary and
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
        else:
            raise ValueError(
                "fit_on_cluster supports Lasso, SparseLogisticRegression, MatrixFactorization and "
                f"LDA, not {type(estimator).__name__}"
            )
        trace_file = directory / "trace.jsonl"
        estimator.trace_ = [json.loads(line) for line in trace_file.read_text().splitlines() if line.strip()]
        estimator.cluster_summary_ = summary
        return estimator
    finally:
        if temporary is not None:
            temporary.cleanup()
