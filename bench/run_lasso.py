#!/usr/bin/env python3
"""Lasso benchmark: Strads (several configurations) vs scikit-learn and celer, side by side.

    bench/setup.sh                        # once: bench/venv with scikit-learn and celer
    cargo build --release                 # target/release/strads
    python3 bench/run_lasso.py            # the correlated design (100000 x 200000), ~1 h worst case
    python3 bench/run_lasso.py --shapes all   # every shape (SHAPES below)
    python3 bench/run_lasso.py --quick    # tiny shapes, smoke test

Generates each shape's data set into bench/data/ if it is missing, runs every system at every
lambda ratio on every shape, prints a markdown table per shape and writes them (with the command
line, the shapes' parameters and the machine) to bench/results/lasso.md (smoke-lasso.md with
--quick); the raw JSON lines go next to it (.jsonl).
`--render FILE.jsonl` re-renders a table from saved JSON lines without running anything.

Uses only the standard library: run it with any python3 (the peers run in bench/venv).
See bench/README.md for what each column means.
"""

import argparse
import json
import shlex
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import machine, run_measured, select_shapes

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

# Shapes: generated ones are `strads gen lasso` parameters; "sklearn" ones are data sets bundled
# inside the scikit-learn wheel (no download), exported to libsvm by the venv's python.
SHAPES = {
    # The original benchmark: groups of 10 columns with correlation 0.5.
    "correlated": dict(rows=100_000, cols=200_000, nnz_per_row=50, support=1000, corr=0.5,
                       group=10, seed=1),
    # Issue 18's other design: independent columns.
    "uncorrelated": dict(rows=100_000, cols=200_000, nnz_per_row=50, support=1000, corr=0.0,
                         group=1, seed=1),
    # Real data: sklearn.datasets.load_diabetes (442 x 10, dense, bundled in the wheel).
    "diabetes": dict(sklearn="load_diabetes"),
    # Tiny versions for the smoke test.
    "quick-correlated": dict(rows=5_000, cols=10_000, nnz_per_row=50, support=100, corr=0.5,
                             group=10, seed=1),
    "quick-uncorrelated": dict(rows=5_000, cols=10_000, nnz_per_row=50, support=100, corr=0.0,
                               group=1, seed=1),
}
SHAPE_SETS = {
    "default": ["correlated"],
    "all": ["correlated", "uncorrelated", "diabetes"],
    "quick": ["quick-correlated", "quick-uncorrelated", "diabetes"],
}

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
    p.add_argument("--shapes", default=None,
                   help="a shape set (" + ", ".join(SHAPE_SETS) + ") or shape names, comma "
                        "separated, from: " + ", ".join(SHAPES) + " [default: default]")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: --shapes quick, 20 s cap, output smoke-lasso.md")
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
    p.add_argument("--data", default=None,
                   help="use this libsvm file (as the only shape, 'given') instead of --shapes")
    p.add_argument("--repeat", type=int, default=1,
                   help="run every system this many times (interleaved) and keep the fastest "
                        "whole-process run of each [default 1]")
    p.add_argument("--out", default=None, help="markdown output [default bench/results/lasso.md]")
    p.add_argument("--render", metavar="JSONL", default=None,
                   help="only render a table from saved JSON lines (comma-separated files are "
                        "merged, e.g. a peers-only and a strads-only run) into --out or stdout")
    return p.parse_args()


# ----------------------------------------------------------------------------- running

def gen_command(spec):
    """The `strads gen lasso` arguments of a generated shape."""
    return ["gen", "lasso", "--rows", str(spec["rows"]), "--cols", str(spec["cols"]),
            "--nnz-per-row", str(spec["nnz_per_row"]), "--support", str(spec["support"]),
            "--corr", str(spec["corr"]), "--group", str(spec["group"]),
            "--seed", str(spec["seed"])]


def describe(name, spec):
    if "sklearn" in spec:
        return (f"`sklearn.datasets.{spec['sklearn']}()` (bundled in the scikit-learn wheel), "
                "written as libsvm (1-based) by the venv's python")
    return "`strads " + shlex.join(gen_command(spec)) + "`"


def data_path(name, spec):
    if name == "correlated":
        # The file name the driver has always used for this shape (kept so it is not regenerated).
        return BENCH / "data" / "lasso-100000x200000.libsvm"
    return BENCH / "data" / f"lasso-{name}.libsvm"


def generate(args, name, spec, path):
    if path.exists() and ("sklearn" in spec or Path(str(path) + ".truth").exists()):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if "sklearn" in spec:
        if not Path(args.python).exists():
            sys.exit(f"{args.python} not found: run bench/setup.sh first (shape {name})")
        code = ("import sys, sklearn.datasets as d; X, y = d.%s(return_X_y=True); "
                "d.dump_svmlight_file(X, y, sys.argv[1], zero_based=False)" % spec["sklearn"])
        cmd = [args.python, "-c", code, str(path) + ".tmp"]
    else:
        cmd = [args.strads] + gen_command(spec) + ["--out", str(path) + ".tmp"]
    print("+ " + shlex.join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)
    for suffix in ("", ".truth"):
        tmp = Path(str(path) + ".tmp" + suffix)
        if tmp.exists():
            tmp.rename(str(path) + suffix)


def run_timed(cmd, timeout, env=None):
    """Runs cmd; returns (last JSON line of stdout or None, external wall seconds, error, peak
    memory of the process tree in MiB)."""
    print("+ " + shlex.join(cmd), file=sys.stderr, flush=True)
    proc = run_measured(cmd, timeout=timeout, env=env)
    wall, peak = proc["wall"], proc["peak_rss_mib"]
    if proc["returncode"] is None:
        return None, wall, f"killed after {timeout:.0f} s", peak
    lines = [l for l in proc["stdout"].splitlines() if l.startswith("{")]
    if proc["returncode"] != 0 or not lines:
        tail = (proc["stderr"].strip().splitlines() or [""])[-1][:200]
        return None, wall, f"exit {proc['returncode']}: {tail}", peak
    return json.loads(lines[-1]), wall, None, peak


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
    """Markdown for the records (dicts with shape, ratio, system, config, wall, peak_rss_mib,
    result, error): one table per shape, each followed by its target checks."""
    out = [header, ""]
    shapes = list(dict.fromkeys(r.get("shape", "not recorded (before issue 18: see the data line above)") for r in records))
    for shape in shapes:
        out += render_shape([r for r in records if r.get("shape", "not recorded (before issue 18: see the data line above)") == shape], shape)
    return "\n".join(out) + "\n"


def render_shape(records, shape):
    out = [f"## Shape: {shape}", ""]
    out.append("| λ/λmax | system | config | whole s (ext) | whole s (self) | load s "
               "| solve s = time to gap | objective | ΔF/F vs best | rel. gap | solver's rel. gap "
               "| converged | peak MiB | sklearn whole / this whole | celer solve / this solve |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
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
            peak = fmt(r.get("peak_rss_mib"), "{:.0f}")
            if res is None:
                out.append(f"| {lam:g} | {r['system']} | {r['config']} | {fmt(r['wall'])} | "
                           f"failed: {r['error']} | | | | | | | | {peak} | | |")
                continue
            conv = "yes" if res.get("converged") else f"**no** ({res.get('stop_reason')})"
            # A run stopped early would have taken longer: its speed-ups are upper bounds.
            bound = "" if res.get("converged") else "≤"
            solver_gap = res.get("solver_relative_gap")
            out.append(
                f"| {lam:g} | {r['system']} | {r['config']} | {fmt(r['wall'])} "
                f"| {fmt(res.get('seconds'))} | {fmt(res.get('load_seconds'))} "
                f"| {fmt(res.get('solve_seconds'), '{:.3f}')} | {res['objective']:.10g} "
                f"| {fmt((res['objective'] - best) / abs(best) if best else None, '{:.1e}')} "
                f"| {res['relative_gap']:.1e} | {fmt(solver_gap, '{:.1e}')} | {conv} | {peak} "
                f"| {bound}{fmt(ratio(sk_whole, r['wall']), '{:.2f}x')} "
                f"| {bound}{fmt(ratio(ce_solve, res.get('solve_seconds')), '{:.2f}x')} |")
        head = find("strads", HEADLINE)
        if head:
            ok = head["result"].get("converged")
            w = ratio(sk_whole, head["wall"])
            s = ratio(ce_solve, head["result"]["solve_seconds"])
            checks.append(f"- λ/λmax = {lam:g}: strads ({HEADLINE}) whole-process speed-up over "
                          f"scikit-learn {fmt(w, '{:.2f}x')} (target ≥ 3x: "
                          f"{'met' if ok and w and w >= 3 else 'NOT met'}); solve speed-up over "
                          f"celer {fmt(s, '{:.2f}x')} (target ≥ 1x: "
                          f"{'met' if ok and s and s >= 1 else 'NOT met'})"
                          + ("" if ok else "; strads did not converge"))
            peers = [p for p in (sk, ce) if p and p.get("peak_rss_mib")]
            if peers and head.get("peak_rss_mib"):
                lightest = min(peers, key=lambda p: p["peak_rss_mib"])
                m = head["peak_rss_mib"] / lightest["peak_rss_mib"]
                checks.append(f"- λ/λmax = {lam:g}: strads ({HEADLINE}) peak memory "
                              f"{head['peak_rss_mib']:.0f} MiB vs the lightest peer's "
                              f"({lightest['system']}) {lightest['peak_rss_mib']:.0f} MiB: "
                              f"{m:.2f}x (target ≤ 0.5x: {'met' if m <= 0.5 else 'NOT met'})")
        for index, (two_name, one_name) in enumerate(PROCESS_PAIRS):
            two, one = find("strads", two_name), find("strads", one_name)
            if not (two and one):
                continue
            w = ratio(two["wall"], one["wall"])
            s = ratio(two["result"]["solve_seconds"], one["result"]["solve_seconds"])
            ok = two["result"].get("converged") and one["result"].get("converged")
            verdict = (f"target ≤ 1.3x: {'met' if ok and s and s <= 1.3 else 'NOT met'}"
                       if index == 0 else "for comparison")
            checks.append(f"- λ/λmax = {lam:g}: {two_name} vs {one_name} (2 processes x 1 thread "
                          f"vs 1 process x 2 threads): time ratio whole {fmt(w, '{:.2f}x')}, "
                          f"solve {fmt(s, '{:.2f}x')} ({verdict})"
                          + ("" if ok else "; a run did not converge"))
    if checks:
        out += ["", "Targets:", ""] + checks
    out.append("")
    return out


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

    if args.quick and args.shapes is None:
        args.shapes = "quick"
    if args.data:
        shapes = {"given": dict(path=args.data)}
    else:
        names = select_shapes(args.shapes or "default", SHAPES, SHAPE_SETS)
        shapes = {n: SHAPES[n] for n in names}
    cap = args.max_seconds or (20.0 if args.quick else 600.0)
    ratios = [float(r) for r in args.ratios.split(",")]
    systems = set(args.systems.split(","))
    configs = STRADS_CONFIGS
    if args.configs:
        wanted = [c.strip() for c in args.configs.split(",")]
        configs = [c for c in STRADS_CONFIGS if c[0] in wanted]
        unknown = set(wanted) - {c[0] for c in configs}
        if unknown:
            sys.exit(f"unknown --configs {sorted(unknown)}; known: "
                     + ", ".join(c[0] for c in STRADS_CONFIGS))
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

    paths = {}
    for name, spec in shapes.items():
        paths[name] = Path(spec["path"]) if "path" in spec else data_path(name, spec)
        if "path" not in spec:
            generate(args, name, spec, paths[name])

    results_dir = BENCH / "results"
    results_dir.mkdir(exist_ok=True)
    out = Path(args.out) if args.out else results_dir / ("smoke-lasso.md" if args.quick else "lasso.md")
    jsonl = out.with_suffix(".jsonl")
    machine_text = machine()

    records = []
    with open(jsonl, "w") as raw:
        def record(shape, lam, system, config, result, wall, error, peak):
            r = dict(shape=shape, ratio=lam, system=system, config=config, wall=wall,
                     peak_rss_mib=peak, result=result, error=error)
            records.append(r)
            raw.write(json.dumps(r) + "\n")
            raw.flush()
            brief = (f"whole {wall:.2f} s, solve {result['solve_seconds']:.3f} s, "
                     f"F {result['objective']:.10g}, gap {result['relative_gap']:.1e}, "
                     f"converged {result.get('converged')}, peak {peak:.0f} MiB") if result else error
            print(f"  {shape} {lam:g} {system} {config}: {brief}", file=sys.stderr, flush=True)

        for shape, data in paths.items():
            for lam in ratios:
                # Every system runs --repeat times, the repetitions interleaved (so that a slow
                # spell of the machine hits every system alike); the run with the smallest
                # whole-process time is kept, and a failed run is kept over any success.
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
                    result, wall, error, peak = (failed[0] if failed
                                                 else min(attempts, key=lambda a: a[1]))
                    record(shape, lam, system, config, result, wall, error, peak)

    command = shlex.join([sys.executable] + sys.argv)
    shape_lines = [f"  - {name}: `{paths[name].name}` = "
                   + ("given with --data" if "path" in spec else describe(name, spec))
                   for name, spec in shapes.items()]
    header = "\n".join([
        "# Lasso benchmark" + (" (smoke test: tiny shapes, timings not results)" if args.quick else ""),
        "",
        f"- command: `{command}`",
        "- data (shapes):",
    ] + shape_lines + [
        f"- objective: 1/2 ||y - Xb||^2 + λ||b||_1, no intercept, no scaling; "
        f"every system stops at relative duality gap {args.tol:g} (solve s is the time to it); "
        f"Strads solve cap {cap:g} s per run",
        f"- runs: every system {args.repeat} time(s), interleaved; the fastest whole-process run "
        "of each is shown",
        "- peak MiB: peak resident memory of the whole process tree (bench/benchlib.py)",
        f"- machine: {machine_text}",
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
