#!/usr/bin/env python3
"""Python package vs CLI vs peers for MF and LDA: the time of `strads.MatrixFactorization.fit`
and `strads.LDA.fit` from arrays in memory against the CLI's solve time on the same data, and
against surprise's SVD (MF, SGD epochs) and tomotopy (LDA), all in one invocation.

    cargo build --release                              # target/release/strads
    pip install ./python                               # strads, in the python that runs this
    bench/setup_lda.sh; bench/setup_mf.sh              # the peers' venvs
    python bench/run_python_apps.py --repeat 2         # shapes of bench/run_ap.py
    python bench/run_python_apps.py --quick            # small shapes (smoke test)

Shapes are bench/run_ap.py's (MF: mf-bench, mf-skewed; LDA: lda-bench, lda-long), generated
into bench/data/ap/ if missing. Every system runs in its own process (so each peak memory is
its own), `--repeat` rounds interleaved, the fastest run of each kept:

- `cli`: `strads mf|lda ... --json`: its solve (`solve_seconds` / `train_seconds`, after
  loading) and whole-process time;
- `python`: a child python reads the data into arrays (not timed: pandas for ratings, numpy for
  docword into a scipy CSR count matrix), then times the whole `fit(...)` call (ids numbered,
  input checked, the library's solve, fitted attributes built) and its CPU time (user + system,
  every thread); MF also reports the library's set-up inside it (`load_seconds_`: the two
  sharded copies of the ratings and the factors); its peak includes the arrays;
- `surprise`: bench/peers_mf.py's SVD with as many epochs (its `fit` only; SGD runs only);
- `tomotopy`: bench/peers_lda.py with as many iterations on 2 workers (its `train` calls only).

Targets (issue 16): python fit within 5% of the CLI's solve; the fit ahead of surprise and
tomotopy. Writes bench/results/python-apps.md (python-apps-quick.md with --quick) and a .jsonl.
"""

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from run_ap import LDA_QUICK, LDA_SHAPES, MF_QUICK, MF_SHAPES, generate, last_json, timed  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small shapes (smoke test)")
    p.add_argument("--apps", default="mf,lda")
    p.add_argument("--mf-algos", default="ccd,sgd", help="MF algorithms (sgd is also run by surprise)")
    p.add_argument("--iters", type=int, default=10, help="MF iterations (SGD epochs)")
    p.add_argument("--lda-iters", type=int, default=50)
    p.add_argument("--topics", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--strads", default=str(ROOT / "target" / "release" / "strads"))
    p.add_argument("--mf-python", default=str(BENCH / "venv-mf" / "bin" / "python"))
    p.add_argument("--lda-python", default=str(BENCH / "venv-lda" / "bin" / "python"))
    p.add_argument("--out", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal: one timed fit
    return p.parse_args()


# MF settings shared by every system: rank 10, lambda 0.05 unscaled, SGD rate 0.05 decaying 0.1.
MF = dict(rank=10, lam=0.05, lr=0.05, lr_decay=0.1)
LDA = dict(alpha=0.1, beta=0.01)


def cpu_seconds():
    """User + system CPU seconds of this process so far (every thread): what a fit costs, which a
    busy machine does not change the way it changes wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_fit(spec):
    """In a fresh python: read the data into arrays, then time the estimator's fit."""
    import numpy as np
    import strads

    if spec["app"] == "mf":
        import pandas as pd

        frame = pd.read_csv(spec["train"], sep=" ", header=None, names=["user", "item", "rating"],
                            dtype={"user": np.int64, "item": np.int64, "rating": np.float64})
        X = frame[["user", "item"]].to_numpy()
        y = frame["rating"].to_numpy()
        model = strads.MatrixFactorization(
            MF["rank"], lam=MF["lam"], algorithm=spec["algo"], n_iter=spec["iters"], seed=1,
            learning_rate=MF["lr"], learning_rate_decay=MF["lr_decay"], threads=spec["threads"])
        started, cpu = time.perf_counter(), cpu_seconds()
        model.fit(X, y)
        fit_seconds, fit_cpu = time.perf_counter() - started, cpu_seconds() - cpu
        quality = dict(objective=model.objective_, rmse_train=model.rmse_, solve_seconds=model.solve_seconds_,
                       load_seconds=model.load_seconds_, fit_cpu_seconds=fit_cpu)
    else:
        import scipy.sparse as sp

        from peers_lda import read_docword  # the peers' reader: the same counts for everyone

        docs, words, doc_of, word_of, counts = read_docword(spec["data"])
        X = sp.csr_matrix((counts, (doc_of, word_of)), shape=(docs, words))
        model = strads.LDA(spec["topics"], n_iter=spec["iters"], alpha=LDA["alpha"], beta=LDA["beta"],
                           seed=1, threads=spec["threads"])
        started, cpu = time.perf_counter(), cpu_seconds()
        model.fit(X)
        fit_seconds, fit_cpu = time.perf_counter() - started, cpu_seconds() - cpu
        quality = dict(loglik_per_token=model.loglik_per_token_, solve_seconds=model.train_seconds_,
                       fit_cpu_seconds=fit_cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(dict(fit_seconds=fit_seconds, peak_rss_mib=peak, **quality)))


def run_python(args, spec):
    out, wall, _ = timed([sys.executable, __file__, "--child", json.dumps(spec)])
    return dict(last_json(out), whole_seconds=wall)


def mf_shape(args, shape, train, test):
    rows = []
    for algo in args.mf_algos.split(","):
        runs = {"cli": [], "python": [], "surprise": []}
        for _ in range(args.repeat):
            cmd = [args.strads, "mf", "--train", str(train), "--algo", algo, "--rank", str(MF["rank"]),
                   "--lambda", str(MF["lam"]), "--reg-scaling", "none", "--iters", str(args.iters),
                   "--seed", "1", "--threads", str(args.threads), "--json"]
            if algo == "sgd":
                cmd += ["--lr", str(MF["lr"]), "--lr-decay", str(MF["lr_decay"])]
            out, wall, peak = timed(cmd)
            summary = last_json(out)
            runs["cli"].append(dict(seconds=summary["solve_seconds"], whole_seconds=wall, peak_rss_mib=peak,
                                    quality=summary["rmse_train"]))
            py = run_python(args, dict(app="mf", train=str(train), algo=algo, iters=args.iters,
                                       threads=args.threads))
            runs["python"].append(dict(seconds=py["fit_seconds"], solve_seconds=py["solve_seconds"],
                                       load_seconds=py["load_seconds"], fit_cpu_seconds=py["fit_cpu_seconds"],
                                       whole_seconds=py["whole_seconds"], peak_rss_mib=py["peak_rss_mib"],
                                       quality=py["rmse_train"]))
            if algo == "sgd" and Path(args.mf_python).exists():
                out, wall, peak = timed([args.mf_python, str(BENCH / "peers_mf.py"), "surprise", "--train",
                                         str(train), "--test", str(test), "--rank", str(MF["rank"]),
                                         "--epochs", str(args.iters)])
                fits = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
                full = [f for f in fits if f["iterations"] == args.iters][0]
                runs["surprise"].append(dict(seconds=full["fit_seconds"], whole_seconds=wall, peak_rss_mib=peak,
                                             quality=None))
        rows.append(dict(app="mf", shape=shape, algo=algo, **best(runs)))
    return rows


def lda_shape(args, shape, data):
    runs = {"cli": [], "python": [], "tomotopy": []}
    for _ in range(args.repeat):
        out, wall, peak = timed([args.strads, "lda", "--data", str(data), "--format", "docword", "--topics",
                                 str(args.topics), "--iters", str(args.lda_iters), "--alpha", str(LDA["alpha"]),
                                 "--beta", str(LDA["beta"]), "--seed", "1", "--threads", str(args.threads),
                                 "--json"])
        summary = last_json(out)
        runs["cli"].append(dict(seconds=summary["train_seconds"], whole_seconds=wall, peak_rss_mib=peak,
                                quality=summary["loglik_per_token"]))
        py = run_python(args, dict(app="lda", data=str(data), topics=args.topics, iters=args.lda_iters,
                                   threads=args.threads))
        runs["python"].append(dict(seconds=py["fit_seconds"], solve_seconds=py["solve_seconds"],
                                   fit_cpu_seconds=py["fit_cpu_seconds"],
                                   whole_seconds=py["whole_seconds"], peak_rss_mib=py["peak_rss_mib"],
                                   quality=py["loglik_per_token"]))
        if Path(args.lda_python).exists():
            out, wall, peak = timed([args.lda_python, str(BENCH / "peers_lda.py"), "--system", "tomotopy",
                                     "--data", str(data), "--topics", str(args.topics), "--alpha",
                                     str(LDA["alpha"]), "--beta", str(LDA["beta"]), "--checkpoints",
                                     str(args.lda_iters), "--workers", str(args.threads)])
            point = last_json(out)
            runs["tomotopy"].append(dict(seconds=point["seconds"], whole_seconds=wall, peak_rss_mib=peak,
                                         quality=point["loglik_per_token"]))
    return [dict(app="lda", shape=shape, algo="gibbs", **best(runs))]


def best(runs):
    """Each system's fastest run (by its timed part)."""
    return {system: min(r, key=lambda x: x["seconds"]) for system, r in runs.items() if r}


def render(args, rows):
    lines = [
        f"# Python estimators vs CLI vs peers: MF and LDA ({'quick' if args.quick else 'full'} shapes)",
        "",
        f"Command: `{' '.join(['python', 'bench/run_python_apps.py'] + sys.argv[1:])}`  ",
        f"Machine: {platform.machine()}, {args.threads} threads per system; fastest of {args.repeat} "
        "interleaved rounds. Time: CLI = its solve after loading; python = the whole `fit` from "
        "arrays in memory (solve s: the library's solve inside it, as the estimator reports it); "
        "surprise = its `fit`; tomotopy = its `train` calls. Peak: the whole "
        "process (python's includes its arrays; the peers' include reading the file).",
        "",
        "| app | shape | algo | system | time s | solve s | whole process s | quality | peak MiB | python fit / this |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        fit = row["python"]["seconds"]
        for system in ("cli", "python", "surprise", "tomotopy"):
            r = row.get(system)
            if r is None:
                continue
            quality = "-" if r["quality"] is None else f"{r['quality']:.4f}"
            solve = r.get("solve_seconds", r["seconds"] if system == "cli" else None)
            solve = "-" if solve is None else f"{solve:.3f}"
            lines.append(f"| {row['app']} | {row['shape']} | {row['algo']} | {system} | {r['seconds']:.3f} | {solve} | "
                         f"{r['whole_seconds']:.2f} | {quality} | {r['peak_rss_mib']:.0f} | "
                         f"{fit / r['seconds']:.3f} |")
    lines += ["", "Quality: MF training RMSE; LDA log-likelihood per token (the peers' computed by "
              "bench/peers_lda.py with the CLI's formula).", ""]
    for row in rows:
        fit, cli = row["python"]["seconds"], row["cli"]["seconds"]
        peer = row.get("surprise") or row.get("tomotopy")
        text = (f"- {row['app']} {row['algo']} {row['shape']}: python fit / CLI solve = {fit / cli:.3f}, "
                f"python's solve inside the fit / CLI solve = {row['python']['solve_seconds'] / cli:.3f} "
                f"(target at most 1.05); the fit's CPU {row['python']['fit_cpu_seconds']:.2f} s")
        if "load_seconds" in row["python"]:
            text += f", its library set-up (the sharded ratings, the factors) {row['python']['load_seconds']:.3f} s"
        if peer:
            name = "surprise" if "surprise" in row else "tomotopy"
            text += f"; {name} / python fit = {peer['seconds'] / fit:.2f}x (target above 1)"
        lines.append(text)
    return "\n".join(lines) + "\n"


def main():
    args = parse_args()
    if args.child:
        child_fit(json.loads(args.child))
        return
    apps = args.apps.split(",")
    rows = []
    if "mf" in apps:
        for shape, spec in (MF_QUICK if args.quick else {k: MF_SHAPES[k] for k in ("mf-bench", "mf-skewed")}).items():
            train, test = generate(args.strads, "mf", shape, spec)
            rows += mf_shape(args, shape, train, test)
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if "lda" in apps:
        for shape, spec in (LDA_QUICK if args.quick else LDA_SHAPES).items():
            rows += lda_shape(args, shape, generate(args.strads, "lda", shape, spec))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    table = render(args, rows)
    print(table)
    name = "python-apps-quick" if args.quick else "python-apps"
    out = Path(args.out) if args.out else BENCH / "results" / f"{name}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
