#!/usr/bin/env python3
"""Lasso benchmark: Strads (several configurations) vs scikit-learn and celer, side by side.

    bench/setup.sh                        # once: bench/venv with scikit-learn and celer
    cargo build --release                 # target/release/strads
    python3 bench/run_lasso.py            # full size (100000 x 200000), ~1 h worst case
    python3 bench/run_lasso.py --quick    # 20000 x 40000, smoke test

Generates the data set into bench/data/ if it is missing, runs every system at every lambda
ratio, prints a markdown table and writes it (with the command line and the machine) to
bench/results/lasso.md (lasso-quick.md with --quick); the raw JSON lines go next to it (.jsonl).
`--render FILE.jsonl` re-renders a table from saved JSON lines without running anything.

Uses only the standard library: run it with any python3 (the peers run in bench/venv).
See bench/README.md for what each column means.
"""

import argparse
import json
import os
import platform
import shlex
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

FULL = dict(rows=100_000, cols=200_000, nnz_per_row=50, support=1000, corr=0.5, group=10, seed=1)
QUICK = dict(rows=20_000, cols=40_000, nnz_per_row=50, support=200, corr=0.5, group=10, seed=1)

# Strads configurations: (name, extra CLI args, launch (processes, threads) or None).
# "columns" is the column layout (the default): workers sweep their column blocks' working sets
# and all-gather the residual's change. "rows" is STRADS's scheduled rounds over row shards, with
# the three schedulers: "priority" is the dynamic schedule (plus its cyclic sweep share and the
# lasso's sequential inner passes), "cyclic" and "random" the static ones.
STRADS_CONFIGS = [
    ("columns 1x2", ["--layout", "columns", "--threads", "2"], None),
    ("columns 1x1", ["--layout", "columns", "--threads", "1"], None),
    ("columns 2x1", ["--layout", "columns"], (2, 1)),
    ("rows priority 1x2", ["--layout", "rows", "--scheduler", "priority", "--threads", "2"], None),
    ("rows cyclic 1x2", ["--layout", "rows", "--scheduler", "cyclic", "--threads", "2"], None),
    ("rows random 1x2", ["--layout", "rows", "--scheduler", "random", "--threads", "2"], None),
    ("rows priority 2x1", ["--layout", "rows", "--scheduler", "priority"], (2, 1)),
]
HEADLINE = "columns 1x2"  # the Strads configuration the targets are checked on
# 2 processes x 1 thread against 1 process x 2 threads, per layout; the first pair is checked.
PROCESS_PAIRS = [("columns 2x1", "columns 1x2"), ("rows priority 2x1", "rows priority 1x2")]
PEERS = ["sklearn", "celer"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small data set (20000 x 40000)")
    p.add_argument("--ratios", default="0.1,0.01,0.001", help="lambda / lambda_max, comma separated")
    p.add_argument("--tol", type=float, default=1e-6, help="target relative duality gap")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="solve-time cap per run [default 600, quick 20]")
    p.add_argument("--systems", default="strads,sklearn,celer",
                   help="subset of strads,sklearn,celer")
    p.add_argument("--configs", default=None,
                   help="subset of the Strads configurations, comma separated, e.g. "
                        "'columns 1x2,columns 2x1' [default: all]")
    p.add_argument("--strads", default=str(ROOT / "target" / "release" / "strads"),
                   help="the strads binary")
    p.add_argument("--python", default=str(BENCH / "venv" / "bin" / "python"),
                   help="python of the venv with scikit-learn and celer (bench/setup.sh)")
    p.add_argument("--data", default=None, help="use this libsvm file instead of generating one")
    p.add_argument("--repeat", type=int, default=1,
                   help="run every system this many times (interleaved) and keep the fastest "
                        "whole-process run of each [default 1]")
    p.add_argument("--out", default=None, help="markdown output [default bench/results/lasso.md]")
    p.add_argument("--render", metavar="JSONL", default=None,
                   help="only render a table from saved JSON lines (comma-separated files are "
                        "merged, e.g. a peers-only and a strads-only run) into --out or stdout")
    return p.parse_args()


# ----------------------------------------------------------------------------- running

def generate(strads, spec, path):
    if path.exists() and Path(str(path) + ".truth").exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [strads, "gen", "lasso", "--rows", str(spec["rows"]), "--cols", str(spec["cols"]),
           "--nnz-per-row", str(spec["nnz_per_row"]), "--support", str(spec["support"]),
           "--corr", str(spec["corr"]), "--group", str(spec["group"]),
           "--seed", str(spec["seed"]), "--out", str(path)]
    print("+ " + shlex.join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)


def run_timed(cmd, timeout, env=None):
    """Runs cmd; returns (last JSON line of stdout or None, external wall seconds, error)."""
    print("+ " + shlex.join(cmd), file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - start, f"killed after {timeout:.0f} s"
    wall = time.perf_counter() - start
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or [""])[-1][:200]
        return None, wall, f"exit {proc.returncode}: {tail}"
    return json.loads(lines[-1]), wall, None


def run_strads(args, data, ratio, name, extra, launch, cap):
    solve = ["lasso", "--data", str(data), "--json", "--tol", str(args.tol),
             "--lambda-ratio", str(ratio), "--max-seconds", str(cap)] + extra
    if launch:
        cmd = [args.strads, "launch", "--processes", str(launch[0]),
               "--threads", str(launch[1]), "--"] + solve
    else:
        cmd = [args.strads] + solve
    return run_timed(cmd, timeout=cap * 1.5 + 300)


def run_peer(args, data, ratio, solver, cap):
    cmd = [args.python, str(BENCH / "peers.py"), "--data", str(data), "--lambda-ratio",
           str(ratio), "--tol", str(args.tol), "--solver", solver, "--threads", "2",
           "--max-seconds", str(cap)]
    # A single fit cannot be interrupted from inside; the hard limit is the subprocess timeout.
    return run_timed(cmd, timeout=cap * 3 + 300)


# ----------------------------------------------------------------------------- rendering

def fmt(x, spec="{:.2f}"):
    return "—" if x is None else spec.format(x)


def ratio(num, den):
    if num is None or den is None or den <= 0:
        return None
    return num / den


def render(records, header):
    """Markdown for the records (dicts with ratio, system, config, wall, result, error)."""
    out = [header, ""]
    out.append("| λ/λmax | system | config | whole s (ext) | whole s (self) | load s | solve s "
               "| objective | ΔF/F vs best | rel. gap | converged | sklearn whole / this whole "
               "| celer solve / this solve |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    ratios = sorted({r["ratio"] for r in records}, reverse=True)
    checks = []
    for lam in ratios:
        rows = [r for r in records if r["ratio"] == lam]

        def find(system, config=None):
            for r in rows:
                if r["system"] == system and (config is None or r["config"] == config) \
                        and r["result"] is not None:
                    return r
            return None

        sk, ce = find("sklearn"), find("celer")
        sk_whole = sk["wall"] if sk else None
        ce_solve = ce["result"]["solve_seconds"] if ce else None
        objectives = [r["result"]["objective"] for r in rows if r["result"]]
        best = min(objectives) if objectives else None
        for r in rows:
            res = r["result"]
            if res is None:
                out.append(f"| {lam:g} | {r['system']} | {r['config']} | {fmt(r['wall'])} | "
                           f"failed: {r['error']} | | | | | | | | |")
                continue
            conv = "yes" if res.get("converged") else f"**no** ({res.get('stop_reason')})"
            # A run stopped early would have taken longer: its speed-ups are upper bounds.
            bound = "" if res.get("converged") else "≤"
            out.append(
                f"| {lam:g} | {r['system']} | {r['config']} | {fmt(r['wall'])} "
                f"| {fmt(res.get('seconds'))} | {fmt(res.get('load_seconds'))} "
                f"| {fmt(res.get('solve_seconds'), '{:.3f}')} | {res['objective']:.10g} "
                f"| {fmt((res['objective'] - best) / abs(best), '{:.1e}')} "
                f"| {res['relative_gap']:.1e} | {conv} "
                f"| {bound}{fmt(ratio(sk_whole, r['wall']), '{:.2f}x')} "
                f"| {bound}{fmt(ratio(ce_solve, res.get('solve_seconds')), '{:.2f}x')} |")
        head = find("strads", HEADLINE)
        if head:
            ok = head["result"].get("converged")
            w = ratio(sk_whole, head["wall"])
            s = ratio(ce_solve, head["result"]["solve_seconds"])
            checks.append(f"- λ/λmax = {lam:g}: strads ({HEADLINE}) whole-process speed-up over "
                          f"scikit-learn {fmt(w, '{:.2f}x')} (target ≥ 3x: "
                          f"{'PASS' if ok and w and w >= 3 else 'FAIL'}); solve speed-up over "
                          f"celer {fmt(s, '{:.2f}x')} (target ≥ 1x: "
                          f"{'PASS' if ok and s and s >= 1 else 'FAIL'})"
                          + ("" if ok else "; strads did not converge"))
        for index, (two_name, one_name) in enumerate(PROCESS_PAIRS):
            two, one = find("strads", two_name), find("strads", one_name)
            if not (two and one):
                continue
            w = ratio(two["wall"], one["wall"])
            s = ratio(two["result"]["solve_seconds"], one["result"]["solve_seconds"])
            ok = two["result"].get("converged") and one["result"].get("converged")
            verdict = (f"target ≤ 1.3x: {'PASS' if ok and s and s <= 1.3 else 'FAIL'}"
                       if index == 0 else "for comparison")
            checks.append(f"- λ/λmax = {lam:g}: {two_name} vs {one_name} (2 processes x 1 thread "
                          f"vs 1 process x 2 threads): time ratio whole {fmt(w, '{:.2f}x')}, "
                          f"solve {fmt(s, '{:.2f}x')} ({verdict})"
                          + ("" if ok else "; a run did not converge"))
    if checks:
        out += ["", "Targets:", ""] + checks
    return "\n".join(out) + "\n"


def machine():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {model}, {platform.system()} {platform.release()}"


def source_header(jsonl):
    """The command/data/binary lines of the .md a .jsonl was written with, if it is there."""
    md = Path(jsonl).with_suffix(".md")
    if not md.exists():
        return []
    keep = ("- command:", "- data:", "- strads binary:", "- objective:")
    return [l for l in md.read_text().splitlines() if l.startswith(keep)]


def git_rev():
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


# ----------------------------------------------------------------------------- main

def main():
    args = parse_args()
    if args.render:
        records = []
        for path in args.render.split(","):
            records += [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]
        header = "\n".join([
            "# Lasso benchmark",
            "",
            f"- rendered by: `{shlex.join([sys.executable] + sys.argv)}`",
            f"- machine: {machine()}",
            "- sources:",
        ] + [f"  - `{p}`" + "".join(f"\n    {line}" for line in source_header(p))
             for p in args.render.split(",")])
        table = render(records, header)
        if args.out:
            Path(args.out).write_text(table)
        print(table)
        return 0

    spec = QUICK if args.quick else FULL
    cap = args.max_seconds or (20.0 if args.quick else 600.0)
    ratios = [float(r) for r in args.ratios.split(",")]
    systems = set(args.systems.split(","))
    configs = STRADS_CONFIGS
    if args.configs:
        wanted = [c.strip() for c in args.configs.split(",")]
        configs = [c for c in STRADS_CONFIGS if c[0] in wanted]
    if "strads" in systems or args.data is None:
        if not Path(args.strads).exists():
            sys.exit(f"{args.strads} not found: run `cargo build --release` first")
    if systems & set(PEERS) and not Path(args.python).exists():
        sys.exit(f"{args.python} not found: run bench/setup.sh first")

    # Other people rebuild target/release/strads; run a private copy so that every run of this
    # benchmark uses the same binary (`strads launch` re-executes its own path, i.e. the copy).
    binary_note, frozen_dir = "not used", None
    if Path(args.strads).exists():
        frozen_dir = Path(tempfile.mkdtemp(prefix="strads-bench-"))
        frozen = frozen_dir / "strads"
        shutil.copy2(args.strads, frozen)
        digest = hashlib.sha256(frozen.read_bytes()).hexdigest()[:12]
        binary_note = (f"`{args.strads}` built {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(Path(args.strads).stat().st_mtime))}, "
                       f"sha256 {digest}")
        args.strads = str(frozen)

    if args.data:
        data = Path(args.data)
    else:
        name = "lasso-quick.libsvm" if args.quick else "lasso-100000x200000.libsvm"
        data = BENCH / "data" / name
        generate(args.strads, spec, data)

    results_dir = BENCH / "results"
    results_dir.mkdir(exist_ok=True)
    out = Path(args.out) if args.out else results_dir / ("lasso-quick.md" if args.quick else "lasso.md")
    jsonl = out.with_suffix(".jsonl")

    records = []
    with open(jsonl, "w") as raw:
        def record(lam, system, config, result, wall, error):
            r = dict(ratio=lam, system=system, config=config, wall=wall, result=result, error=error)
            records.append(r)
            raw.write(json.dumps(r) + "\n")
            raw.flush()
            brief = (f"whole {wall:.2f} s, solve {result['solve_seconds']:.3f} s, "
                     f"F {result['objective']:.10g}, gap {result['relative_gap']:.1e}, "
                     f"converged {result.get('converged')}") if result else error
            print(f"  {lam:g} {system} {config}: {brief}", file=sys.stderr, flush=True)

        for lam in ratios:
            # Every system runs --repeat times, the repetitions interleaved (so that a slow spell
            # of the machine hits every system alike); the run with the smallest whole-process
            # time is kept, and a failed run is kept over any success.
            runs = {}
            for _ in range(args.repeat):
                if "strads" in systems:
                    for name, extra, launch in configs:
                        runs.setdefault(("strads", name), []).append(
                            run_strads(args, data, lam, name, extra, launch, cap))
                for solver in PEERS:
                    if solver in systems:
                        runs.setdefault((solver, "1x2"), []).append(
                            run_peer(args, data, lam, solver, cap))
            for (system, config), attempts in runs.items():
                failed = [a for a in attempts if a[0] is None]
                result, wall, error = failed[0] if failed else min(attempts, key=lambda a: a[1])
                record(lam, system, config, result, wall, error)

    command = shlex.join([sys.executable] + sys.argv)
    header = "\n".join([
        "# Lasso benchmark" + (" (quick)" if args.quick else ""),
        "",
        f"- command: `{command}`",
        f"- data: `{data.name}` "
        + ("(given with --data)" if args.data else
           f"= `strads gen lasso --rows {spec['rows']} --cols {spec['cols']} "
           f"--nnz-per-row {spec['nnz_per_row']} --support {spec['support']} "
           f"--corr {spec['corr']} --group {spec['group']} --seed {spec['seed']}`"),
        f"- objective: 1/2 ||y - Xb||^2 + λ||b||_1, no intercept, no scaling; "
        f"stop at relative duality gap {args.tol:g}; Strads solve cap {cap:g} s per run",
        f"- runs: every system {args.repeat} time(s), interleaved; the fastest whole-process run "
        "of each is shown",
        f"- machine: {machine()}",
        f"- strads binary: {binary_note}; HEAD {git_rev()} (working tree may differ); date: "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        "- config: PxT = processes x threads per process; sklearn/celer are sequential "
        "coordinate descent (allowed 2 BLAS/OpenMP threads). See bench/README.md.",
    ])
    if frozen_dir:
        shutil.rmtree(frozen_dir, ignore_errors=True)
    table = render(records, header)
    out.write_text(table)
    print(table)
    print(f"wrote {out} and {jsonl}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
