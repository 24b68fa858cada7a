#!/usr/bin/env python3
"""Multinomial logistic regression benchmark: strads mlr (L-BFGS and SGD, 2 threads) vs
scikit-learn's LogisticRegression (lbfgs and saga) and, with --spark, Spark MLlib's multinomial
LogisticRegression, on the same data with the same objective (no intercept, C = 1 / lambda).

    bench/setup_mlr.sh                  # once: bench/venv-mlr with scikit-learn
    bench/setup_mf.sh                   # once, for --spark: bench/venv-mf with pyspark (java 17)
    cargo build --release -p strads-cli
    python3 bench/run_mlr.py [--spark] [--datasets generated-1m,digits,wine]

Data sets: `generated-1m` (strads gen mlr: 1,000,000 x 1000, 20 nonzeros a row, 10 classes, a
100,000-row test file from the same truth), `digits` (scikit-learn's, the test fixture
crates/ap-apps/tests/data/digits.libsvm, every 5th example held out) and `wine` (scikit-learn's,
178 x 13, 3 classes, every 5th held out). Every system runs once, under /usr/bin/time -v: whole
process wall time, CPU time and peak resident memory. The objective of every system is computed
at its weights (by peers_mlr.py for the peers) as sum_i -log softmax(W x_i)_{y_i} + lambda/2 ||W||^2.
`sgd to 99%` is strads' loading time plus the trace time of the first SGD epoch whose test
accuracy reaches 99% of strads L-BFGS's.

Writes bench/results/mlr.md and mlr.jsonl. Uses only the standard library.
"""

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
STRADS = ROOT / "target" / "release" / "strads"
SKLEARN_PY = BENCH / "venv-mlr" / "bin" / "python"
SPARK_PY = BENCH / "venv-mf" / "bin" / "python"
PEERS = BENCH / "peers_mlr.py"
DIGITS = ROOT / "crates" / "ap-apps" / "tests" / "data" / "digits.libsvm"

GENERATED = ["--rows", "1000000", "--test-rows", "100000", "--classes", "10",
             "--features", "1000", "--nnz-per-row", "20", "--scale", "3", "--seed", "1"]
LAMBDA = 1.0
SGD_EPOCHS = 10


def split(source, train, test):
    """Every 5th example to `test`, the rest to `train`."""
    lines = [l for l in source.read_text().splitlines() if l.strip()]
    train.write_text("".join(l + "\n" for i, l in enumerate(lines) if i % 5 != 0))
    test.write_text("".join(l + "\n" for i, l in enumerate(lines) if i % 5 == 0))


def prepare(name):
    """(train, test, features) of a data set, made in bench/data if missing."""
    DATA.mkdir(exist_ok=True)
    if name == "generated-1m":
        train = DATA / "mlr-1m.libsvm"
        if not Path(str(train) + ".test").exists():
            subprocess.run([str(STRADS), "gen", "mlr", *GENERATED, "--out", str(train)], check=True)
        return train, Path(str(train) + ".test"), 1000
    train, test = DATA / f"mlr-{name}.train", DATA / f"mlr-{name}.test"
    if not test.exists():
        if name == "digits":
            source = DIGITS
        else:
            source = DATA / f"mlr-{name}.libsvm"
            subprocess.run([str(SKLEARN_PY), str(PEERS), "export", "--name", name,
                            "--out", str(source)], check=True)
        split(source, train, test)
    width = max(int(t.split(":")[0]) for l in train.read_text().splitlines()
                for t in l.split()[1:])
    return train, test, width


def timed(command):
    """Runs `command` under /usr/bin/time -v: (stdout, wall s, cpu s, max RSS MiB)."""
    full = ["/usr/bin/time", "-v", *map(str, command)]
    print("+", shlex.join(full[2:]), file=sys.stderr, flush=True)
    p = subprocess.run(full, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(full)} failed:\n{p.stderr[-3000:]}")
    field = lambda name: re.search(rf"{name}: (.*)", p.stderr).group(1)
    clock = [float(x) for x in field(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\)").split(":")]
    wall = sum(v * 60 ** i for i, v in enumerate(reversed(clock)))
    cpu = float(field("User time \\(seconds\\)")) + float(field("System time \\(seconds\\)"))
    rss = int(field(r"Maximum resident set size \(kbytes\)")) / 1024
    return p.stdout, wall, cpu, rss


def systems(train, test, features, spark):
    strads = [STRADS, "mlr", "--data", train, "--test", test, "--lambda", LAMBDA,
              "--threads", "2", "--json"]
    peer = lambda python, kind, *extra: [python, PEERS, kind, "--train", train, "--test", test,
                                         "--lambda", LAMBDA, *extra]
    runs = [
        ("strads lbfgs", "strads mlr --solver lbfgs (tol 1e-6)", strads),
        ("strads lbfgs strict", "strads mlr --solver lbfgs --tol 1e-9 --max-iters 10000",
         strads + ["--tol", "1e-9", "--max-iters", "10000"]),
        ("strads sgd", f"strads mlr --solver sgd --epochs {SGD_EPOCHS}",
         strads + ["--solver", "sgd", "--epochs", SGD_EPOCHS]),
        ("sklearn lbfgs", "LogisticRegression(solver='lbfgs', tol=1e-8, max_iter=10000)",
         peer(SKLEARN_PY, "sklearn", "--solver", "lbfgs", "--tol", "1e-8", "--max-iter", "10000")),
        ("sklearn lbfgs default", "LogisticRegression(solver='lbfgs') (tol 1e-4, max_iter 100)",
         peer(SKLEARN_PY, "sklearn", "--solver", "lbfgs", "--tol", "1e-4", "--max-iter", "100")),
        ("sklearn saga", "LogisticRegression(solver='saga', tol=1e-6, max_iter=100)",
         peer(SKLEARN_PY, "sklearn", "--solver", "saga", "--tol", "1e-6", "--max-iter", "100")),
    ]
    if spark:
        runs.append(("spark lbfgs", "MLlib LogisticRegression(multinomial, maxIter=100, tol=1e-6), local[2]",
                     peer(SPARK_PY, "spark", "--features", features, "--max-iter", "100", "--tol", "1e-6")))
    return runs


def run_dataset(name, spark):
    train, test, features = prepare(name)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "sgd.jsonl"
        for system, what, command in systems(train, test, features, spark):
            if system == "strads sgd":
                command = command + ["--trace", trace]
            stdout, wall, cpu, rss = timed(command)
            result = json.loads(stdout.strip().splitlines()[-1])
            record = dict(dataset=name, system=system, what=what, wall=wall, cpu=cpu, rss_mib=rss,
                          objective=result["objective"],
                          iterations=result.get("iterations"),
                          test_accuracy=result.get("test_accuracy"),
                          test_log_loss=result.get("test_log_loss"))
            if "jvm_peak_rss_mib" in result:
                # Spark's JVM: its memory and CPU added to the Python driver's.
                record["rss_mib"] += result["jvm_peak_rss_mib"]
                record["cpu"] += result["jvm_cpu_seconds"]
            if system == "strads sgd":
                record["load_seconds"] = result["load_seconds"]
                record["epochs"] = [json.loads(l) for l in trace.read_text().splitlines()]
            records.append(record)
    exact = next(r for r in records if r["system"] == "strads lbfgs")
    sgd = next(r for r in records if r["system"] == "strads sgd")
    target = 0.99 * exact["test_accuracy"]
    reached = next((e for e in sgd["epochs"] if e["test_accuracy"] >= target), None)
    sgd["to_99_seconds"] = None if reached is None else sgd["load_seconds"] + reached["seconds"]
    best = min(r["objective"] for r in records)
    for r in records:
        r["gap"] = (r["objective"] - best) / best
        r["wall_ratio"] = r["wall"] / exact["wall"]
    return records


def digits_check():
    """scikit-learn's and strads' optimum on the whole digits fixture (what the tests' reference
    solver is checked on), both run to a tiny tolerance: one markdown line."""
    sk = json.loads(subprocess.run(
        [SKLEARN_PY, PEERS, "sklearn", "--solver", "lbfgs", "--train", DIGITS, "--test", DIGITS,
         "--lambda", str(LAMBDA), "--tol", "1e-10", "--max-iter", "100000"],
        check=True, capture_output=True, text=True).stdout)
    st = json.loads(subprocess.run(
        [STRADS, "mlr", "--data", DIGITS, "--lambda", str(LAMBDA), "--tol", "1e-9", "--max-iters",
         "10000", "--threads", "2", "--json"], check=True, capture_output=True, text=True).stdout)
    gap = abs(sk["objective"] - st["objective"]) / sk["objective"]
    return (f"- Whole digits fixture (1797 x 64), lambda {LAMBDA}: scikit-learn lbfgs (tol 1e-10) "
            f"objective {sk['objective']!r} in {sk['iterations']} iterations, strads mlr "
            f"(tol 1e-9) {st['objective']!r} in {st['iterations']} ({st['stop']}): relative "
            f"difference {gap:.1e}")


def table(records):
    lines = ["| data | system | what | wall s | CPU s | objective | above best | iters | test acc | test log-loss | max RSS MiB | wall / strads lbfgs |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        loss = "" if r["test_log_loss"] is None else f"{r['test_log_loss']:.4f}"
        lines.append(
            f"| {r['dataset']} | {r['system']} | {r['what']} | {r['wall']:.2f} | {r['cpu']:.2f} | "
            f"{r['objective']:.8g} | {r['gap']:.1e} | {r['iterations']} | {r['test_accuracy']:.4f} | "
            f"{loss} | {r['rss_mib']:.0f} | {r['wall_ratio']:.2f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spark", action="store_true", help="also Spark MLlib (bench/venv-mf)")
    p.add_argument("--spark-python", default=str(BENCH / "venv-mf" / "bin" / "python"),
                   help="a python with pyspark 3.5 (default: bench/venv-mf's)")
    p.add_argument("--datasets", default="generated-1m,digits,wine")
    p.add_argument("--digits-check-only", action="store_true",
                   help="only print the whole-digits optimum of scikit-learn and strads")
    p.add_argument("--out", default=str(BENCH / "results" / "mlr.md"))
    args = p.parse_args()
    global SPARK_PY
    SPARK_PY = Path(args.spark_python)
    if args.digits_check_only:
        print(digits_check())
        return
    load = os.getloadavg()
    records = []
    for name in args.datasets.split(","):
        records.extend(run_dataset(name, args.spark))
    out = Path(args.out)
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    sgd_lines = []
    for r in records:
        if r["system"] == "strads sgd":
            spark = next((s for s in records if s["dataset"] == r["dataset"] and s["system"] == "spark lbfgs"), None)
            to99 = "not reached" if r["to_99_seconds"] is None else f"{r['to_99_seconds']:.2f} s"
            vs = "" if spark is None or r["to_99_seconds"] is None else \
                f"; Spark's whole process {spark['wall']:.2f} s ({spark['wall'] / r['to_99_seconds']:.1f}x)"
            sgd_lines.append(f"- {r['dataset']}: strads SGD reaches 99% of strads L-BFGS's test accuracy after {to99}{vs}")
    text = (f"# strads mlr vs scikit-learn{' and Spark MLlib' if args.spark else ''}\n\n"
            f"`python3 bench/run_mlr.py {' '.join(sys.argv[1:])}` on {platform.node()} "
            f"({os.cpu_count()} cores, load average {load[0]:.1f} at the start: other jobs share the machine), "
            f"{time.strftime('%Y-%m-%d %H:%M')}. lambda = {LAMBDA} (C = {1 / LAMBDA}), no intercept, strads on 2 threads.\n\n"
            f"{table(records)}\n\n" + "\n".join(sgd_lines) + "\n" + digits_check() + "\n")
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
