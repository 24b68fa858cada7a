#!/usr/bin/env python3
"""Matrix-factorisation benchmark: strads ccd/als/sgd (1 thread, 2 threads, 2 processes) vs Spark
ALS (pyspark, local[2]) and scikit-surprise SVD, on the same files, in one invocation.

    bench/setup_mf.sh                  # once: bench/venv-mf with pyspark and scikit-surprise
    cargo build --release              # target/release/strads
    python3 bench/run_mf.py            # full size: 200000 users, 20000 items, 10M ratings
    python3 bench/run_mf.py --quick    # 20000 users, 2000 items, 500k ratings (smoke test)

Generates the data into bench/data/ if missing (`strads gen mf ... --test-fraction 0.1`), runs
everything, writes bench/results/mf.md (table + command + machine), the raw JSON lines
(mf.jsonl), the strads traces (mf-traces/) and a convergence plot made by `strads plot`
(mf.png). Every strads run uses --reg-scaling count with the same lambda as Spark's regParam,
so the objectives are the same function. Uses only the standard library (peers run in the venv).
"""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

FULL = dict(users=200_000, items=20_000, ratings=10_000_000, rank=10, noise=0.5, seed=1)
QUICK = dict(users=20_000, items=2_000, ratings=500_000, rank=10, noise=0.5, seed=1)

# (name, algo, threads, processes)
STRADS = [(f"strads {algo} {shape}", algo, threads, processes)
          for algo in ["ccd", "als", "sgd"]
          for shape, threads, processes in [("1x1", 1, 1), ("1x2", 2, 1), ("2x1", 1, 2)]]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--iters", type=int, default=15, help="iterations (epochs) per strads run")
    p.add_argument("--rank", type=int, default=10)
    p.add_argument("--lambda", dest="reg", type=float, default=0.05,
                   help="penalty (strads --reg-scaling count, Spark regParam)")
    p.add_argument("--lr", type=float, default=0.05, help="strads sgd first step size")
    p.add_argument("--spark-iters", default="1,2,5,10", help="Spark maxIter values (one fit each)")
    p.add_argument("--surprise-epochs", type=int, default=3)
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


def generate(strads, spec, prefix):
    train, test = Path(f"{prefix}.train"), Path(f"{prefix}.test")
    if not (train.exists() and test.exists()):
        prefix.parent.mkdir(parents=True, exist_ok=True)
        run([strads, "gen", "mf", "--users", str(spec["users"]), "--items", str(spec["items"]),
             "--ratings", str(spec["ratings"]), "--rank", str(spec["rank"]),
             "--noise", str(spec["noise"]), "--seed", str(spec["seed"]),
             "--test-fraction", "0.1", "--out", str(prefix)])
    return train, test


def strads_run(args, name, algo, threads, processes, train, test, traces):
    trace = traces / (name.replace(" ", "-") + ".jsonl")
    cmd = ["mf", "--train", str(train), "--test", str(test), "--algo", algo,
           "--rank", str(args.rank), "--lambda", str(args.reg), "--reg-scaling", "count",
           "--iters", str(args.iters), "--seed", "1",
           "--trace", str(trace), "--json"]
    if algo == "sgd":
        # --lr applies to sgd only (strads refuses it with ccd and als).
        cmd += ["--lr", str(args.lr)]
    if processes > 1:
        cmd = [args.strads, "launch", "--processes", str(processes), "--threads", str(threads),
               "--"] + cmd
    else:
        cmd = [args.strads] + cmd + ["--threads", str(threads)]
    t = time.time()
    summary = json.loads(run(cmd).strip().splitlines()[-1])
    wall = time.time() - t
    records = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    return dict(system=name, algo=algo, threads=threads, processes=processes, wall_seconds=wall,
                load_seconds=summary["load_seconds"], solve_seconds=summary["solve_seconds"],
                seconds_per_iteration=summary["seconds_per_iteration"],
                rmse_test=summary["rmse_test"], objective=summary["objective"],
                trace=[dict(iteration=r["iteration"], seconds=r["seconds"],
                            rmse_test=r.get("rmse_test"), objective=r["objective"])
                       for r in records],
                trace_file=str(trace.relative_to(ROOT)))


def peer_run(args, system, train, test):
    cmd = [args.python, str(BENCH / "peers_mf.py"), system, "--train", str(train),
           "--test", str(test), "--rank", str(args.rank), "--lambda", str(args.reg),
           "--iters", args.spark_iters, "--epochs", str(args.surprise_epochs)]
    return [json.loads(line) for line in run(cmd).splitlines() if line.startswith("{")]


def time_to_reach(result, target):
    """Load + solve seconds until the trace's test RMSE is at most `target` (None if never)."""
    for r in result["trace"]:
        if r["rmse_test"] is not None and r["rmse_test"] <= target:
            return result["load_seconds"] + r["seconds"], r["iteration"]
    return None, None


def render(args, spec, results, peers, command):
    lines = []
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"
    lines.append("# Matrix factorisation: strads vs Spark ALS and scikit-surprise SVD\n")
    lines.append(f"Data: `strads gen mf --users {spec['users']} --items {spec['items']} "
                 f"--ratings {spec['ratings']} --rank {spec['rank']} --noise {spec['noise']} "
                 f"--seed {spec['seed']} --test-fraction 0.1`; rank {args.rank}, "
                 f"lambda {args.reg} with each row's penalty scaled by its rating count "
                 f"(strads `--reg-scaling count` = Spark's regParam).\n")
    lines.append(f"Command: `{command}`  \nMachine: {machine}, load average "
                 f"{args.load_at_start:.1f} at the start (timings on this VM vary from run to run; "
                 f"compare rows of this one invocation only).\n")
    reused = sorted({p["system"] for p in peers if p.get("reused")})
    if reused:
        lines.append(f"The {', '.join(reused)} rows were measured by the previous invocation "
                     f"(same binary for the peers, same data, minutes earlier) and reused with "
                     f"`--peers-from`.\n")
    spark = [p for p in peers if p["system"] == "spark"]
    spark_final = max(spark, key=lambda p: p["iterations"]) if spark else None
    lines.append("## Per iteration\n")
    lines.append("| system | load s | s / iteration | test RMSE after iteration 1 / 2 / 5 / 10 / 15 | "
                 "final test RMSE | time to Spark's final RMSE (load + solve) |")
    lines.append("|---|---|---|---|---|---|")
    for r in results:
        by_iter = {t["iteration"]: t["rmse_test"] for t in r["trace"]}
        curve = " / ".join(f"{by_iter[i]:.4f}" if i in by_iter else "-" for i in [1, 2, 5, 10, 15])
        reach = "-"
        if spark_final:
            seconds, iteration = time_to_reach(r, spark_final["rmse_test"])
            reach = f"{seconds:.2f} s (iteration {iteration})" if seconds else "not reached"
        lines.append(f"| {r['system']} | {r['load_seconds']:.2f} | "
                     f"{r['seconds_per_iteration']:.3f} | {curve} | {r['rmse_test']:.4f} | "
                     f"{reach} |")
    for p in spark:
        lines.append(f"| Spark ALS local[2], maxIter {p['iterations']} | {p['load_seconds']:.2f} "
                     f"| {p['fit_seconds'] / p['iterations']:.3f} (fit {p['fit_seconds']:.2f} s) "
                     f"| - | {p['rmse_test']:.4f} | {p['load_seconds'] + p['fit_seconds']:.2f} s "
                     f"(+ {p['startup_seconds']:.1f} s JVM start) |")
    for p in peers:
        if p["system"] == "surprise":
            lines.append(f"| surprise SVD, {p['iterations']} epoch(s) | {p['load_seconds']:.2f} | "
                         f"{p['seconds_per_epoch']:.3f} | - | {p['rmse_test']:.4f} | - |")
    lines.append("")
    lines.append("## Targets\n")
    if spark_final:
        spark_seconds = spark_final["load_seconds"] + spark_final["fit_seconds"]
        best = None
        for r in results:
            seconds, _ = time_to_reach(r, spark_final["rmse_test"])
            if seconds and (best is None or seconds < best[0]):
                best = (seconds, r["system"])
        if best:
            lines.append(f"- Spark ALS reaches test RMSE {spark_final['rmse_test']:.4f} after "
                         f"{spark_seconds:.2f} s (load + fit, JVM start excluded); the fastest "
                         f"strads run ({best[1]}) reaches it after {best[0]:.2f} s (load + solve): "
                         f"{spark_seconds / best[0]:.1f}x sooner (target 20x: "
                         f"{'met' if spark_seconds / best[0] >= 20 else 'NOT met'}).")
        else:
            lines.append(f"- No strads run reached Spark's final test RMSE "
                         f"{spark_final['rmse_test']:.4f} (target NOT met).")
    surprise = [p for p in peers if p["system"] == "surprise"]
    sgd = [r for r in results if r["algo"] == "sgd"]
    if surprise and sgd:
        epoch = max(surprise, key=lambda p: p["iterations"])["seconds_per_epoch"]
        for r in sgd:
            ratio = epoch / r["seconds_per_iteration"]
            lines.append(f"- {r['system']}: {r['seconds_per_iteration']:.3f} s per epoch (with the "
                         f"per-epoch evaluation) vs surprise SVD {epoch:.3f} s: {ratio:.1f}x "
                         f"(target 3x: {'met' if ratio >= 3 else 'NOT met'}).")
    lines.append("")
    lines.append("Convergence of the strads runs (made by `strads plot` from the traces in "
                 "`mf-traces/`):\n\n![convergence](mf.png)\n")
    return "\n".join(lines)


def main():
    args = parse_args()
    args.load_at_start = os.getloadavg()[0]
    spec = QUICK if args.quick else FULL
    spec = dict(spec, rank=args.rank)
    name = "mf-quick" if args.quick else "mf"
    train, test = generate(args.strads, spec, BENCH / "data" / name)
    results_dir = BENCH / "results"
    traces = results_dir / f"{name}-traces"
    traces.mkdir(parents=True, exist_ok=True)
    systems = args.systems.split(",")
    results, peers = [], []
    if "strads" in systems:
        for config in STRADS:
            results.append(strads_run(args, *config, train, test, traces))
    for system in ["spark", "surprise"]:
        if system in systems:
            peers.extend(peer_run(args, system, train, test))
    reused = []
    if args.peers_from:
        for line in Path(args.peers_from).read_text().splitlines():
            record = json.loads(line)
            if record.get("system") in ("spark", "surprise") and record["system"] not in systems:
                record["reused"] = True
                reused.append(record)
        peers.extend(reused)
    command = "python3 " + shlex.join(["bench/run_mf.py"] + sys.argv[1:])
    (results_dir / f"{name}.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in results + peers))
    text = render(args, spec, results, peers, command)
    out = Path(args.out) if args.out else results_dir / f"{name}.md"
    out.write_text(text + "\n")
    if results:
        plotted = [r for r in results if r["threads"] * r["processes"] == 2 or r["processes"] > 1]
        cmd = [args.strads, "plot"] + [str(ROOT / r["trace_file"]) for r in plotted]
        for r in plotted:
            cmd += ["--label", r["system"]]
        run(cmd + ["--out", str(results_dir / f"{name}.png"), "--title",
                   f"strads mf, rank {args.rank}, lambda {args.reg} (count-scaled)"])
    print(text)


if __name__ == "__main__":
    main()
