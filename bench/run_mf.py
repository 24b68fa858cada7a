#!/usr/bin/env python3
"""Matrix-factorisation benchmark: strads ccd/als/sgd (1 thread, 2 threads, 2 processes) vs Spark
ALS (pyspark, local[2]) and scikit-surprise SVD, on the same files, in one invocation.

    bench/setup_mf.sh                  # once: bench/venv-mf with pyspark and scikit-surprise
    cargo build --release              # target/release/strads
    python3 bench/run_mf.py            # the bench shape: 200000 users, 20000 items, 10M ratings
    python3 bench/run_mf.py --shapes all   # every shape (SHAPES below)
    python3 bench/run_mf.py --quick    # tiny shapes (smoke test)

Generates each shape's data into bench/data/ if missing (`strads gen mf ... --test-fraction 0.1`),
runs everything on every shape, writes bench/results/mf.md (a table per shape + targets + command
+ machine; smoke-mf.md with --quick), the raw JSON lines (mf.jsonl), the strads traces
(mf-traces/SHAPE/) and convergence plots made by `strads plot` (mf-SHAPE.png). Every strads run
uses --reg-scaling count with the same lambda as Spark's regParam, so the objectives are the same
function. Every run's peak memory is that of its whole process tree (for Spark: python and the
JVM). Uses only the standard library (peers run in the venv).
"""

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import run_measured, select_shapes

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

# Rating-set shapes. Generated ones are `strads gen mf` parameters (--skew is the Zipf exponent of
# both user and item popularity); "pyspark" ones are rating files shipped inside the pyspark wheel.
SHAPES = {
    # The rating set bench/ has always used (the generator's default skew, 0.5).
    "bench": dict(users=200_000, items=20_000, ratings=10_000_000, rank=10, noise=0.5, skew=0.5,
                  seed=1),
    # Issue 18's: the same with Zipf(1) popularity.
    "zipf1": dict(users=200_000, items=20_000, ratings=10_000_000, rank=10, noise=0.5, skew=1.0,
                  seed=1),
    # Real: pyspark/data/mllib/als/sample_movielens_ratings.txt (1501 ratings of 100 movies by 30
    # users, from MovieLens; Spark's ALS example data), every 10th rating held out.
    "movielens-sample": dict(pyspark="data/mllib/als/sample_movielens_ratings.txt"),
    # Tiny shapes for the smoke test.
    "quick": dict(users=5_000, items=1_000, ratings=100_000, rank=10, noise=0.5, skew=0.5, seed=1),
    "quick-zipf1": dict(users=5_000, items=1_000, ratings=100_000, rank=10, noise=0.5, skew=1.0,
                        seed=1),
}
SHAPE_SETS = {
    "default": ["bench"],
    "all": ["bench", "zipf1", "movielens-sample"],
    "quick": ["quick", "quick-zipf1", "movielens-sample"],
}

# (name, algo, threads, processes, traced): a traced run evaluates (and traces) after every
# iteration; the SGD runs that are not (`--eval-every` = the epochs: evaluated at the start and the
# end only) measure the epoch's training time, as surprise's fit does (it evaluates nothing).
CLUSTER_SHAPES = [("1x1", 1, 1), ("1x2", 2, 1), ("2x1", 1, 2)]
# The last item: extra strads flags (ALS without extrapolation, `--als-extrapolation 0`, is run
# beside the default so that the step's effect is measured in the same invocation).
STRADS = ([(f"strads {algo} {shape}", algo, threads, processes, True, [])
           for algo in ["ccd", "als", "sgd"] for shape, threads, processes in CLUSTER_SHAPES]
          + [("strads als 1x2, plain ALS", "als", 2, 1, True, ["--als-extrapolation", "0"])]
          + [(f"strads sgd {shape}, evaluated at the end", "sgd", threads, processes, False, [])
             for shape, threads, processes in CLUSTER_SHAPES])


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default=None,
                   help="a shape set (" + ", ".join(SHAPE_SETS) + ") or shape names, comma "
                        "separated, from: " + ", ".join(SHAPES) + " [default: default]")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: --shapes quick, output smoke-mf.md")
    p.add_argument("--iters", type=int, default=15, help="iterations (epochs) per strads run")
    p.add_argument("--rank", type=int, default=10)
    p.add_argument("--lambda", dest="reg", type=float, default=0.05,
                   help="penalty (strads --reg-scaling count, Spark regParam)")
    p.add_argument("--lr", type=float, default=0.05, help="strads sgd first step size")
    p.add_argument("--spark-iters", default="1,2,5,10", help="Spark maxIter values (one fit each)")
    p.add_argument("--surprise-epochs", type=int, default=20,
                   help="epochs of surprise's final fit [default 20, its own default n_epochs]; "
                        "its test RMSE is a target of strads's time to quality")
    p.add_argument("--systems", default="strads,spark,surprise")
    p.add_argument("--strads", default=str(ROOT / "target" / "release" / "strads"))
    p.add_argument("--python", default=str(BENCH / "venv-mf" / "bin" / "python"))
    p.add_argument("--out", default=None, help="markdown output [default bench/results/mf.md]")
    p.add_argument("--peers-from", default=None, metavar="JSONL",
                   help="take the records of peers not run now from this earlier mf.jsonl "
                        "(the table says so)")
    return p.parse_args()


def run(cmd, **kw):
    print("+", shlex.join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE, **kw).stdout


def run_tree(cmd):
    """Runs cmd with its process tree's peak memory measured: (stdout, wall s, peak MiB)."""
    print("+", shlex.join(cmd), file=sys.stderr, flush=True)
    result = run_measured(cmd)
    if result["returncode"] != 0:
        sys.exit(f"failed (exit {result['returncode']}): {shlex.join(cmd)}\n{result['stderr']}")
    return result["stdout"], result["wall"], result["peak_rss_mib"]


def gen_command(spec):
    return ["gen", "mf", "--users", str(spec["users"]), "--items", str(spec["items"]),
            "--ratings", str(spec["ratings"]), "--rank", str(spec["rank"]),
            "--noise", str(spec["noise"]), "--skew", str(spec["skew"]),
            "--seed", str(spec["seed"]), "--test-fraction", "0.1"]


def describe(spec):
    if "pyspark" in spec:
        return (f"`pyspark/{spec['pyspark']}` (bundled in the pyspark wheel), `user::item::rating"
                "::time` with 0-based ids, written as 1-based `user item rating` lines, every "
                "10th rating to the test file")
    return "`strads " + shlex.join(gen_command(spec)) + "`"


def pyspark_file(args, relative):
    site = run([args.python, "-c", "import os, pyspark; print(os.path.dirname(pyspark.__file__))"])
    return Path(site.strip()) / relative


def generate(args, name, spec):
    # The bench shape keeps the file names the driver has always used.
    prefix = BENCH / "data" / ("mf" if name == "bench" else f"mf-{name}")
    train, test = Path(f"{prefix}.train"), Path(f"{prefix}.test")
    if train.exists() and test.exists():
        return train, test
    prefix.parent.mkdir(parents=True, exist_ok=True)
    if "pyspark" in spec:
        if not Path(args.python).exists():
            sys.exit(f"{args.python} not found: run bench/setup_mf.sh first (shape {name})")
        source = pyspark_file(args, spec["pyspark"])
        lines = [l.split("::") for l in source.read_text().splitlines() if l.strip()]
        rows = [f"{int(u) + 1} {int(i) + 1} {float(r):g}\n" for u, i, r, *_ in lines]
        Path(f"{prefix}.tmp.test").write_text("".join(rows[9::10]))
        Path(f"{prefix}.tmp.train").write_text(
            "".join(r for j, r in enumerate(rows) if j % 10 != 9))
    else:
        run([args.strads] + gen_command(spec) + ["--out", f"{prefix}.tmp"])
    Path(f"{prefix}.tmp.train").rename(train)
    Path(f"{prefix}.tmp.test").rename(test)
    return train, test


def strads_run(args, name, algo, threads, processes, traced, extra, train, test, traces):
    trace = traces / (name.replace(",", "").replace(" ", "-") + ".jsonl")
    cmd = ["mf", "--train", str(train), "--test", str(test), "--algo", algo,
           "--rank", str(args.rank), "--lambda", str(args.reg), "--reg-scaling", "count",
           "--iters", str(args.iters), "--seed", "1",
           "--trace", str(trace), "--json"]
    if algo == "sgd":
        # --lr applies to sgd only (strads refuses it with ccd and als).
        cmd += ["--lr", str(args.lr)]
    if not traced:
        cmd += ["--eval-every", str(args.iters)]
    cmd += extra
    if processes > 1:
        cmd = [args.strads, "launch", "--processes", str(processes), "--threads", str(threads),
               "--"] + cmd
    else:
        cmd = [args.strads] + cmd + ["--threads", str(threads)]
    stdout, wall, peak = run_tree(cmd)
    summary = json.loads(stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    return dict(system=name, algo=algo, threads=threads, processes=processes, traced=traced,
                wall_seconds=wall,
                peak_rss_mib=peak,
                load_seconds=summary["load_seconds"], solve_seconds=summary["solve_seconds"],
                seconds_per_iteration=summary["seconds_per_iteration"],
                rmse_test=summary["rmse_test"], objective=summary["objective"],
                trace=[dict(iteration=r["iteration"], seconds=r["seconds"],
                            rmse_test=r.get("rmse_test"), objective=r["objective"])
                       for r in records],
                trace_file=str(trace.relative_to(ROOT)))


def peer_run(args, system, train, test):
    """The peer's records (one per fit), each with the process tree's wall time and peak memory
    over all the fits of this invocation (for Spark: python and the JVM)."""
    cmd = [args.python, str(BENCH / "peers_mf.py"), system, "--train", str(train),
           "--test", str(test), "--rank", str(args.rank), "--lambda", str(args.reg),
           "--iters", args.spark_iters, "--epochs", str(args.surprise_epochs)]
    stdout, wall, peak = run_tree(cmd)
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    for r in records:
        r.update(process_wall_seconds=wall, peak_rss_mib=peak)
    return records


def time_to_reach(result, target):
    """Load + solve seconds at the end of the first iteration whose test RMSE is at most `target`
    (None if none is): a model exists only at the end of an iteration, so no interpolation."""
    for r in result["trace"]:
        if r["rmse_test"] is not None and r["rmse_test"] <= target:
            return result["load_seconds"] + r["seconds"], r["iteration"]
    return None, None


def render_shape(args, shape, spec, results, peers, plot):
    lines = [f"## Shape: {shape}\n", f"Data: {describe(spec)}.\n"]
    spark = [p for p in peers if p["system"] == "spark"]
    surprise = [p for p in peers if p["system"] == "surprise"]
    spark_final = max(spark, key=lambda p: p["iterations"]) if spark else None
    surprise_final = max(surprise, key=lambda p: p["iterations"]) if surprise else None
    lines.append("### Per iteration\n")
    lines.append("| system | load s | s / iteration | test RMSE after iteration 1 / 2 / 5 / 10 / 15 | "
                 "final test RMSE | whole s | peak MiB |")
    lines.append("|---|---:|---:|---|---:|---:|---:|")
    for r in results:
        by_iter = {t["iteration"]: t["rmse_test"] for t in r["trace"]}
        curve = " / ".join(f"{by_iter[i]:.4f}" if by_iter.get(i) is not None else "-"
                           for i in [1, 2, 5, 10, 15])
        lines.append(f"| {r['system']} | {r['load_seconds']:.2f} | "
                     f"{r['seconds_per_iteration']:.3f} | {curve} | {r['rmse_test']:.4f} | "
                     f"{r['wall_seconds']:.2f} | {r['peak_rss_mib']:.0f} |")
    for p in spark:
        lines.append(f"| Spark ALS local[2], maxIter {p['iterations']} | {p['load_seconds']:.2f} "
                     f"| {p['fit_seconds'] / p['iterations']:.3f} (fit {p['fit_seconds']:.2f} s) "
                     f"| - | {p['rmse_test']:.4f} | {p['process_wall_seconds']:.2f} (all fits, "
                     f"JVM start {p['startup_seconds']:.1f} s) | {p['peak_rss_mib']:.0f} |")
    for p in surprise:
        lines.append(f"| surprise SVD, {p['iterations']} epoch(s) | {p['load_seconds']:.2f} | "
                     f"{p['seconds_per_epoch']:.3f} | - | {p['rmse_test']:.4f} | "
                     f"{p['process_wall_seconds']:.2f} (all fits) | {p['peak_rss_mib']:.0f} |")
    lines.append("")

    finals = []
    if spark_final:
        finals.append(("Spark ALS", spark_final, spark_final["load_seconds"]
                       + spark_final["fit_seconds"], 20.0))
    if surprise_final:
        finals.append(("surprise SVD", surprise_final, surprise_final["load_seconds"]
                       + surprise_final["fit_seconds"], None))
    checks = []
    traced = [r for r in results if r.get("traced", True)]
    if finals and traced:
        lines.append("### Time to the peer's final test RMSE\n")
        lines.append("| system | peer | peer's final RMSE | peer's time (load + fit) | this "
                     "system's time to it (load + solve) | iteration | ratio | target |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---|")
        for peer, final, peer_seconds, target in finals:
            best = None
            for r in traced:
                seconds, iteration = time_to_reach(r, final["rmse_test"])
                ratio = peer_seconds / seconds if seconds else None
                verdict = ("no target" if target is None else
                           "met" if ratio and ratio >= target else "NOT met")
                unit = "epochs" if final["system"] == "surprise" else "iterations"
                lines.append(f"| {r['system']} | {peer} ({final['iterations']} {unit}) "
                             f"| {final['rmse_test']:.4f} | {peer_seconds:.3f} s | "
                             + (f"{seconds:.3f} s | {iteration} | {ratio:.2f}x"
                                if seconds else f"not reached in {args.iters} iterations | - | -")
                             + f" | {'' if target is None else f'≥ {target:g}x: '}{verdict} |")
                if seconds and (best is None or seconds < best[0]):
                    best = (seconds, r["system"])
            if target is not None:
                if best:
                    ratio = peer_seconds / best[0]
                    checks.append(f"- {peer} reaches test RMSE {final['rmse_test']:.4f} after "
                                  f"{peer_seconds:.3f} s (load + fit, JVM start excluded); the "
                                  f"fastest strads run ({best[1]}) after {best[0]:.3f} s (load + "
                                  f"solve): {ratio:.2f}x sooner (target {target:g}x: "
                                  f"{'met' if ratio >= target else 'NOT met'}).")
                else:
                    checks.append(f"- No strads run reached {peer}'s final test RMSE "
                                  f"{final['rmse_test']:.4f} (target NOT met).")
        lines.append("")
    # The epoch target compares training time: surprise's fit evaluates nothing, so the strads
    # runs evaluated at the end only are used when there are any. Their seconds per epoch are the
    # whole solve (the SGD blocks' set-up, the evaluations at the start and at the end, and the
    # epochs) over the epochs.
    sgd = [r for r in results if r["algo"] == "sgd" and not r.get("traced", True)] \
        or [r for r in results if r["algo"] == "sgd"]
    if surprise_final and sgd:
        epoch = surprise_final["seconds_per_epoch"]
        for r in sgd:
            ratio = epoch / r["seconds_per_iteration"]
            how = ("solve over epochs, evaluated at the start and the end"
                   if not r.get("traced", True) else "with the per-epoch evaluation")
            checks.append(f"- {r['system']}: {r['seconds_per_iteration']:.3f} s per epoch ({how}) "
                          f"vs surprise SVD {epoch:.3f} s: {ratio:.1f}x "
                          f"(target 3x: {'met' if ratio >= 3 else 'NOT met'}).")
    peer_peaks = [(p["system"], p["peak_rss_mib"]) for p in (spark_final, surprise_final) if p]
    if peer_peaks and results:
        light = min(peer_peaks, key=lambda x: x[1])
        for r in traced:
            if r["threads"] * r["processes"] == 2:
                m = r["peak_rss_mib"] / light[1]
                checks.append(f"- {r['system']} peak memory {r['peak_rss_mib']:.0f} MiB vs the "
                              f"lightest peer's ({light[0]}) {light[1]:.0f} MiB: {m:.2f}x "
                              f"(target ≤ 0.5x: {'met' if m <= 0.5 else 'NOT met'}).")
    if checks:
        lines += ["### Targets\n"] + checks + [""]
    if plot:
        lines.append(f"Convergence of the strads runs (made by `strads plot` from the traces):"
                     f"\n\n![convergence]({plot})\n")
    return "\n".join(lines)


def main():
    args = parse_args()
    load_at_start = os.getloadavg()[0]
    if args.quick and args.shapes is None:
        args.shapes = "quick"
    names = select_shapes(args.shapes or "default", SHAPES, SHAPE_SETS)
    systems = args.systems.split(",")
    if not Path(args.strads).exists():
        sys.exit(f"{args.strads} not found: run `cargo build --release` first")
    if ({"spark", "surprise"} & set(systems)) and not Path(args.python).exists():
        sys.exit(f"{args.python} not found: run bench/setup_mf.sh first")
    # A private copy of the binary, so a concurrent build cannot change it mid-benchmark
    # (`strads launch` re-executes its own path, i.e. the copy).
    private_dir = Path(tempfile.mkdtemp(prefix="strads-bench-"))
    shutil.copy2(args.strads, private_dir / "strads")
    args.strads = str(private_dir / "strads")
    base = "smoke-mf" if args.quick else "mf"
    results_dir = BENCH / "results"
    out = Path(args.out).resolve() if args.out else results_dir / f"{base}.md"
    stem = out.with_suffix("")
    command = "python3 " + shlex.join(["bench/run_mf.py"] + sys.argv[1:])
    reused_from = []
    if args.peers_from:
        reused_from = [json.loads(l) for l in Path(args.peers_from).read_text().splitlines()
                       if l.strip()]
    sections, raw = [], []
    for shape in names:
        spec = SHAPES[shape]
        if "rank" in spec:
            spec = dict(spec, rank=args.rank)
        train, test = generate(args, shape, spec)
        traces = Path(f"{stem}-traces") / shape
        traces.mkdir(parents=True, exist_ok=True)
        results, peers = [], []
        if "strads" in systems:
            for config in STRADS:
                results.append(strads_run(args, *config, train, test, traces))
        for system in ["spark", "surprise"]:
            if system in systems:
                peers.extend(peer_run(args, system, train, test))
        for record in reused_from:
            # Records of earlier invocations without a shape are the bench shape's.
            if record.get("system") in ("spark", "surprise") and record["system"] not in systems \
                    and record.get("shape", "bench") == shape:
                peers.append(dict(record, reused=True))
        for r in results + peers:
            r["shape"] = shape
        raw += results + peers
        plot = None
        if results:
            plotted = [r for r in results if r.get("traced", True)
                       and (r["threads"] * r["processes"] == 2 or r["processes"] > 1)]
            png = Path(f"{stem}-{shape}.png")
            cmd = [args.strads, "plot"] + [str(ROOT / r["trace_file"]) for r in plotted]
            for r in plotted:
                cmd += ["--label", r["system"]]
            run(cmd + ["--out", str(png), "--title",
                       f"strads mf on {shape}, rank {args.rank}, lambda {args.reg} (count-scaled)"])
            plot = png.name
        sections.append(render_shape(args, shape, spec, results, peers, plot))
    shutil.rmtree(private_dir, ignore_errors=True)
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in raw))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"
    reused = sorted({r["system"] for r in raw if r.get("reused")})
    header = [
        "# Matrix factorisation: strads vs Spark ALS and scikit-surprise SVD"
        + (" (smoke test: tiny shapes, timings not results)" if args.quick else "") + "\n",
        f"Command: `{command}`  \nMachine: {machine}, load average {load_at_start:.1f} at the "
        "start (timings on this VM vary from run to run; compare rows of this one invocation "
        "only).\n",
        f"Model: rank {args.rank}, lambda {args.reg} with each row's penalty scaled by its rating "
        "count (strads `--reg-scaling count` = Spark's regParam); strads "
        f"{args.iters} iterations; Spark maxIter {args.spark_iters} (one fit each, from scratch); "
        f"surprise SVD 1 and {args.surprise_epochs} epochs. Peak MiB: the whole process tree "
        "(bench/benchlib.py; Spark: python and the JVM, over all its fits). Time to a peer's "
        "final RMSE: strads's load + solve time at the end of its first iteration at or below "
        "it; the peer's load + fit time of its longest fit (Spark's JVM start excluded).\n",
    ]
    if reused:
        header.append(f"The {', '.join(reused)} rows were measured by an earlier invocation and "
                      f"reused with `--peers-from {args.peers_from}`.\n")
    text = "\n".join(header + sections)
    out.write_text(text + "\n")
    print(text)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
