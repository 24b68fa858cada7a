#!/usr/bin/env python3
"""The big runs of issue 17 on one machine, and how their cost grows with the data.

    cargo build --release -p strads-cli
    bench/setup.sh; bench/setup_lda.sh; bench/setup_mf.sh      # the peers' venvs (optional)
    python3 bench/run_big.py                     # every app, fractions 1/8 .. 1, peers at 1
    python3 bench/run_big.py --apps mf --fractions 1 --no-peers
    python3 bench/run_big.py --scale 0.001 --out /tmp/big.md   # the same pipeline, tiny (smoke test)

The shapes (all sizes times `--scale`):

- mf: Netflix's shape, 480,189 users x 17,770 items, 100M ratings (`strads gen mf`, skew 0.5,
  10% held out for testing; `--scale` scales users and items by its square root), rank 50,
  lambda 0.05 scaled by each row's rating count (Spark's ALS-WR), ALS and CCD++ for
  `--mf-iters` iterations; Spark ALS (local[2], `--spark-memory`) with as many iterations on
  the same files.
- lda: NYTimes' shape, 300,000 documents x 100,000 words, 100M tokens (333 per document,
  `strads gen lda` with 1000 true topics), K = 1000, `--lda-iters` iterations (the MH sampler,
  `strads lda`'s choice above 64 topics); tomotopy on 2 workers, as many iterations.
- lasso: 1M rows x 10M columns, 100 nonzeros per row (100M), 10,000-sparse truth, independent
  columns, lambda = 0.01 lambda_max, relative duality gap 1e-6; scikit-learn and celer
  (bench/peers.py) capped at `--peer-seconds`.

Fractions: the growth table runs Strads on the first `f` of the sample dimension (users and
ratings; documents and tokens; rows and nonzeros) for each `--fractions` value, the other
dimension fixed; peers run at the largest fraction only. Each system runs in its own process
tree; peak memory is the tree's (the JVM's for Spark). Data are generated into
bench/data/big/ once and reused. A peer that fails (out of memory, timeout) is reported with its
error, not dropped. Writes bench/results/big.md, big.jsonl and big.png (growth plot, when
matplotlib is importable).
"""

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from benchlib import machine, run_measured  # noqa: E402

DATA = BENCH / "data" / "big"

# name: (sample-dimension sizes scaled by the fraction, fixed sizes)
SHAPES = {
    "mf": dict(users=480_189, ratings=100_000_000, items=17_770),
    "lda": dict(docs=300_000, vocab=100_000, doc_length=333, true_topics=1000),
    "lasso": dict(rows=1_000_000, cols=10_000_000, nnz_per_row=100, support=10_000),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--apps", default="mf,lda,lasso")
    p.add_argument("--fractions", default="0.125,0.25,0.5,1")
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every size (0.001: smoke test)")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--mf-iters", type=int, default=10)
    p.add_argument("--mf-rank", type=int, default=50)
    p.add_argument("--lda-iters", type=int, default=10)
    p.add_argument("--topics", type=int, default=1000)
    p.add_argument("--lasso-ratio", type=float, default=0.01)
    p.add_argument("--peer-seconds", type=float, default=3600, help="wall-clock cap of one peer run")
    p.add_argument("--spark-memory", default="16g")
    p.add_argument("--strads", default=str(ROOT / "target" / "release" / "strads"))
    p.add_argument("--out", default=str(BENCH / "results" / "big.md"))
    return p.parse_args()


def sized(args, app, fraction):
    """The generator's sizes for `app` at `fraction` of the big shape (times --scale)."""
    s = SHAPES[app]
    n = lambda x, f=1.0: max(1, int(round(x * args.scale * f)))  # noqa: E731
    if app == "mf":
        # Users and items by the square root of --scale: the ratings' density stays Netflix's.
        root = math.sqrt(args.scale)
        return dict(users=max(1, int(s["users"] * root * fraction)), items=max(1, int(s["items"] * root)),
                    ratings=n(s["ratings"], fraction))
    if app == "lda":
        return dict(docs=n(s["docs"], fraction), vocab=n(s["vocab"]), doc_length=s["doc_length"],
                    true_topics=min(s["true_topics"], n(s["vocab"])))
    return dict(rows=n(s["rows"], fraction), cols=n(s["cols"]), nnz_per_row=s["nnz_per_row"],
                support=min(s["support"], n(s["cols"])))


def tag(sizes):
    return "-".join(f"{k}{v}" for k, v in sizes.items())


def generate(args, app, sizes):
    """Generates the data set once (bench/data/big/); returns its paths."""
    DATA.mkdir(parents=True, exist_ok=True)
    base = DATA / f"{app}-{tag(sizes)}"
    if app == "mf":
        paths = (Path(f"{base}.train"), Path(f"{base}.test"))
        cmd = [args.strads, "gen", "mf", "--users", str(sizes["users"]), "--items", str(sizes["items"]),
               "--ratings", str(sizes["ratings"]), "--rank", "10", "--noise", "0.5", "--skew", "0.5",
               "--test-fraction", "0.1", "--seed", "1", "--out", str(base)]
    elif app == "lda":
        paths = (Path(f"{base}.docword"),)
        cmd = [args.strads, "gen", "lda", "--docs", str(sizes["docs"]), "--vocab", str(sizes["vocab"]),
               "--topics", str(sizes["true_topics"]), "--doc-length", str(sizes["doc_length"]),
               "--seed", "1", "--out", str(paths[0])]
    else:
        paths = (Path(f"{base}.libsvm"),)
        cmd = [args.strads, "gen", "lasso", "--rows", str(sizes["rows"]), "--cols", str(sizes["cols"]),
               "--nnz-per-row", str(sizes["nnz_per_row"]), "--support", str(sizes["support"]),
               "--seed", "1", "--out", str(paths[0])]
    if not all(p.exists() for p in paths):
        print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return paths


def measured(cmd, timeout=None):
    """Runs `cmd`; returns (its last JSON line, or None when it failed; every JSON line it
    printed; wall seconds; peak MiB of the process tree; the error text or None)."""
    print("+ " + " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    run = run_measured([str(c) for c in cmd], timeout=timeout)
    lines = [line for line in run["stdout"].splitlines() if line.startswith("{")]
    error = None
    if run["returncode"] is None:
        error = f"killed after {timeout:.0f} s"
    elif run["returncode"] != 0:
        tail = (run["stderr"].strip().splitlines() or ["(no message)"])[-1]
        error = f"exit status {run['returncode']}: {tail[:300]}"
    return (json.loads(lines[-1]) if lines and error is None else None,
            [json.loads(line) for line in lines], run["wall"], run["peak_rss_mib"], error)


def strads_runs(args, app, paths):
    """Strads' runs of `app` on `paths`: a list of records."""
    common = ["--threads", str(args.threads), "--json"]
    if app == "mf":
        runs = [(f"strads {algo}", ["mf", "--train", paths[0], "--test", paths[1], "--algo", algo,
                                    "--rank", str(args.mf_rank), "--lambda", "0.05", "--reg-scaling", "count",
                                    "--iters", str(args.mf_iters), *common])
                for algo in ("als", "ccd")]
    elif app == "lda":
        runs = [("strads", ["lda", "--data", paths[0], "--format", "docword", "--topics", str(args.topics),
                            "--iters", str(args.lda_iters), "--seed", "1", *common])]
    else:
        runs = [("strads", ["lasso", "--data", paths[0], "--lambda-ratio", str(args.lasso_ratio),
                            "--tol", "1e-6", *common])]
    records = []
    for system, cmd in runs:
        summary, _, wall, peak, error = measured([args.strads, *cmd])
        record = dict(system=system, wall_seconds=wall, peak_rss_mib=peak, error=error)
        if summary:
            record.update(load_seconds=summary.get("load_seconds"),
                          solve_seconds=summary.get("solve_seconds", summary.get("train_seconds")))
            if app == "mf":
                record.update(per_iteration=summary["seconds_per_iteration"], quality=summary["rmse_test"],
                              quality_name="test RMSE")
            elif app == "lda":
                record.update(per_iteration=summary["train_seconds"] / max(1, summary["iterations"]),
                              tokens_per_second=summary["tokens_per_second"],
                              quality=summary["loglik_per_token"], quality_name="loglik/token")
            else:
                record.update(quality=summary["objective"], quality_name="objective",
                              converged=summary["converged"])
        records.append(record)
    return records


def peer_runs(args, app, paths):
    cap = args.peer_seconds
    records = []
    if app == "mf":
        python = BENCH / "venv-mf" / "bin" / "python"
        if python.exists():
            _, lines, wall, peak, error = measured(
                [python, BENCH / "peers_mf.py", "spark", "--train", paths[0], "--test", paths[1],
                 "--rank", str(args.mf_rank), "--lambda", "0.05", "--iters", str(args.mf_iters),
                 "--driver-memory", args.spark_memory], timeout=cap)
            fit = lines[-1] if lines else {}
            records.append(dict(system="spark als", wall_seconds=wall, peak_rss_mib=peak, error=error,
                                load_seconds=fit.get("load_seconds"), solve_seconds=fit.get("fit_seconds"),
                                per_iteration=fit["fit_seconds"] / args.mf_iters if fit else None,
                                quality=fit.get("rmse_test"), quality_name="test RMSE"))
    elif app == "lda":
        python = BENCH / "venv-lda" / "bin" / "python"
        if python.exists():
            summary, _, wall, peak, error = measured(
                [python, BENCH / "peers_lda.py", "--system", "tomotopy", "--data", paths[0], "--topics",
                 str(args.topics), "--checkpoints", str(args.lda_iters), "--workers", str(args.threads)],
                timeout=cap)
            s = summary or {}
            records.append(dict(system="tomotopy", wall_seconds=wall, peak_rss_mib=peak, error=error,
                                solve_seconds=s.get("seconds"),
                                per_iteration=s["seconds"] / args.lda_iters if s else None,
                                tokens_per_second=s.get("tokens_per_second"), quality=s.get("loglik_per_token"),
                                quality_name="loglik/token"))
    else:
        python = BENCH / "venv" / "bin" / "python"
        if python.exists():
            for solver in ("sklearn", "celer"):
                summary, _, wall, peak, error = measured(
                    [python, BENCH / "peers.py", "--data", paths[0], "--lambda-ratio", str(args.lasso_ratio),
                     "--tol", "1e-6", "--solver", solver, "--threads", str(args.threads),
                     "--max-seconds", str(cap)], timeout=cap * 3 + 300)
                s = summary or {}
                records.append(dict(system=solver, wall_seconds=wall, peak_rss_mib=peak, error=error,
                                    load_seconds=s.get("load_seconds"), solve_seconds=s.get("solve_seconds"),
                                    quality=s.get("objective"), quality_name="objective",
                                    converged=s.get("converged")))
    return records


def fmt(x, spec="{:.2f}"):
    return "-" if x is None else spec.format(x)


def render(args, results):
    lines = [
        "# Big runs and cost growth (issue 17)",
        "",
        f"Command: `python3 bench/run_big.py {' '.join(sys.argv[1:])}`  ",
        f"Machine: {machine()}; {args.threads} threads per system. Sizes x {args.scale:g}.",
        "",
        "| app | fraction | data | system | whole s | load s | solve s | s / iteration | tokens/s | quality | peak MiB | error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        quality = "-" if r.get("quality") is None else f"{r['quality_name']} {r['quality']:.6g}"
        lines.append(
            f"| {r['app']} | {r['fraction']:g} | {tag(r['sizes'])} | {r['system']} | {fmt(r['wall_seconds'])} | "
            f"{fmt(r.get('load_seconds'))} | {fmt(r.get('solve_seconds'))} | {fmt(r.get('per_iteration'), '{:.3f}')} | "
            f"{fmt(r.get('tokens_per_second'), '{:.3g}')} | {quality} | {fmt(r['peak_rss_mib'], '{:.0f}')} | "
            f"{r.get('error') or ''} |")
    lines += ["", "## Growth (Strads): time and peak memory against the data, relative to the smallest fraction", ""]
    lines += ["| app | system | fraction | whole s | x | peak MiB | x | linear would be |", "|---|---|---|---|---|---|---|---|"]
    for app in dict.fromkeys(r["app"] for r in results):
        for system in dict.fromkeys(r["system"] for r in results if r["app"] == app and r["system"].startswith("strads")):
            rows = sorted((r for r in results if r["app"] == app and r["system"] == system and not r.get("error")),
                          key=lambda r: r["fraction"])
            if not rows:
                continue
            base = rows[0]
            for r in rows:
                lines.append(f"| {app} | {system} | {r['fraction']:g} | {r['wall_seconds']:.2f} | "
                             f"{r['wall_seconds'] / base['wall_seconds']:.2f} | {r['peak_rss_mib']:.0f} | "
                             f"{r['peak_rss_mib'] / base['peak_rss_mib']:.2f} | {r['fraction'] / base['fraction']:.2f} |")
    lines += ["", "Targets: mf peak at most 4096 MiB in one process; lda tokens/s at least 3x tomotopy's and "
              "peak at most half of tomotopy's; lasso converged; growth at most linear.", ""]
    for app in dict.fromkeys(r["app"] for r in results):
        full = [r for r in results if r["app"] == app and r["fraction"] == max(x["fraction"] for x in results if x["app"] == app)]
        ours = [r for r in full if r["system"].startswith("strads") and not r.get("error")]
        if app == "mf":
            for r in ours:
                lines.append(f"- mf {r['system']}: peak {r['peak_rss_mib']:.0f} MiB (target at most 4096)")
        peer = next((r for r in full if r["system"] == "tomotopy"), None)
        if app == "lda" and ours and peer and not peer.get("error"):
            r = ours[0]
            lines.append(f"- lda: tokens/s {r['tokens_per_second'] / peer['tokens_per_second']:.2f}x tomotopy's "
                         f"(target 3x); peak {r['peak_rss_mib'] / peer['peak_rss_mib']:.2f}x (target at most 0.5)")
    return "\n".join(lines) + "\n"


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not importable: no plot", file=sys.stderr)
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key in dict.fromkeys((r["app"], r["system"]) for r in results if r["system"].startswith("strads")):
        rows = sorted((r for r in results if (r["app"], r["system"]) == key and not r.get("error")),
                      key=lambda r: r["fraction"])
        if not rows:
            continue
        x = [r["fraction"] for r in rows]
        axes[0].plot(x, [r["wall_seconds"] for r in rows], "o-", label=" ".join(key))
        axes[1].plot(x, [r["peak_rss_mib"] for r in rows], "o-", label=" ".join(key))
    for ax, what in zip(axes, ["whole process, s", "peak memory, MiB"]):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("fraction of the big size")
        ax.set_ylabel(what)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main():
    args = parse_args()
    fractions = sorted(float(f) for f in args.fractions.split(","))
    results = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for app in args.apps.split(","):
        for fraction in fractions:
            sizes = sized(args, app, fraction)
            paths = generate(args, app, sizes)
            records = strads_runs(args, app, paths)
            if fraction == fractions[-1] and not args.no_peers:
                records += peer_runs(args, app, paths)
            for r in records:
                r.update(app=app, fraction=fraction, sizes=sizes)
                print(json.dumps(r), file=sys.stderr, flush=True)
            results += records
            # Written after every step: a long invocation that stops keeps what it measured.
            out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
            out.write_text(render(args, results))
    if plot(results, out.with_suffix(".png")):
        print(f"wrote {out.with_suffix('.png')}", file=sys.stderr)
    print(out.read_text())


if __name__ == "__main__":
    main()
