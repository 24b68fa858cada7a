#!/usr/bin/env python3
"""Memory per process (issue 17, part 2): each process's peak resident memory with 2 processes
against the 1-process peak, for mf, lda and lasso, on generated data of hundreds of MiB.

    cargo build --release                 # target/release/strads
    python3 bench/run_memory.py           # ~10 min on 2 cores; data in bench/data/memory/ (1.2 GB)
    python3 bench/run_memory.py --render bench/results/memory.jsonl

Every run is `strads APP ... --threads 1 --json` (1 process) or `strads launch --processes 2
--threads 1 -- APP ... --json` (2 processes on loopback); the figures are the summary's
`peak_memory_mib_per_process` (each process's VmHWM at the end of the run, gathered on process 0),
`bytes_read_per_process` and the app's `*_held_per_process`. VmHWM does not depend on the
machine's load, so the figures are reproducible while other work runs. Writes
bench/results/memory.md (table, commands, machine) and memory.jsonl.

Uses only the standard library.
"""

import argparse
import json
import platform
import shlex
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data" / "memory"
TARGET = 0.6

# (app, generator arguments, data file(s) it writes, solver arguments, what a process holds)
APPS = [
    (
        "mf",
        ["gen", "mf", "--users", "500000", "--items", "20000", "--ratings", "20000000",
         "--rank", "10", "--noise", "0.5", "--seed", "1", "--out", str(DATA / "mf")],
        DATA / "mf.train",
        ["mf", "--train", str(DATA / "mf.train"), "--rank", "10", "--iters", "2", "--algo", "ccd"],
        "ratings_held_per_process",
    ),
    (
        "lda",
        ["gen", "lda", "--docs", "200000", "--vocab", "20000", "--topics", "100",
         "--doc-length", "100", "--seed", "1", "--out", str(DATA / "lda.docword")],
        DATA / "lda.docword",
        ["lda", "--data", str(DATA / "lda.docword"), "--topics", "100", "--iters", "2"],
        "tokens_held_per_process",
    ),
    (
        "lasso",
        ["gen", "lasso", "--rows", "400000", "--cols", "200000", "--nnz-per-row", "50",
         "--support", "1000", "--seed", "1", "--out", str(DATA / "lasso.libsvm")],
        DATA / "lasso.libsvm",
        ["lasso", "--data", str(DATA / "lasso.libsvm"), "--lambda-ratio", "0.1",
         "--max-iters", "3"],
        "nonzeros_held_per_process",
    ),
]


def run(binary, args):
    print("+", shlex.join([binary] + args), file=sys.stderr, flush=True)
    out = subprocess.run([binary] + args, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def render(records):
    lines = [
        "| app | input | 1 process: peak MiB | 2 processes: peak MiB (process 0, 1) | ratio (each / 1 process) | target <= 0.6 | bytes read per process | held per process |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        one, two = r["one"], r["two"]
        peak1 = one["peak_memory_mib_per_process"][0]
        peaks2 = two["peak_memory_mib_per_process"]
        ratios = [p / peak1 for p in peaks2]
        held = r["held"]
        lines.append(
            f"| {r['app']} | {r['input_mib']:.0f} MiB | {peak1:.0f} | "
            + ", ".join(f"{p:.0f}" for p in peaks2)
            + " | " + ", ".join(f"{x:.2f}" for x in ratios)
            + f" | {'met' if max(ratios) <= TARGET else 'missed'} | "
            + ", ".join(str(b) for b in two["bytes_read_per_process"])
            + f" (1 process: {one['bytes_read_per_process'][0]}) | "
            + ", ".join(str(h) for h in two[held])
            + f" ({held.removesuffix('_per_process')}) |"
        )
    lines.append("")
    lines.append("Commands (each run's `--json` summary is in memory.jsonl):")
    lines.append("")
    for r in records:
        for command in (r["command_one"], r["command_two"]):
            lines.append(f"- `{command.replace(str(ROOT) + '/', '')}`")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "strads"))
    parser.add_argument("--render", metavar="JSONL")
    parser.add_argument("--apps", default="mf,lda,lasso")
    args = parser.parse_args()
    if args.render:
        records = [json.loads(l) for l in Path(args.render).read_text().splitlines() if l]
        print(render(records))
        return
    DATA.mkdir(parents=True, exist_ok=True)
    records = []
    for app, gen, data, solve, held in APPS:
        if app not in args.apps.split(","):
            continue
        if not data.exists():
            subprocess.run([args.binary] + gen, check=True, stdout=subprocess.DEVNULL)
        one_args = solve + ["--threads", "1", "--json"]
        two_args = ["launch", "--processes", "2", "--threads", "1", "--"] + solve + ["--json"]
        records.append({
            "app": app,
            "input_mib": data.stat().st_size / 2**20,
            "held": held,
            "one": run(args.binary, one_args),
            "two": run(args.binary, two_args),
            "command_one": shlex.join(["strads"] + one_args),
            "command_two": shlex.join(["strads"] + two_args),
        })
    results = BENCH / "results"
    (results / "memory.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    table = render(records)
    machine = f"{platform.node()}: {platform.processor() or platform.machine()}, " \
              f"{subprocess.run(['nproc'], stdout=subprocess.PIPE, text=True).stdout.strip()} cores"
    (results / "memory.md").write_text(
        "# Peak memory per process: 2 processes against 1 (`python3 bench/run_memory.py`)\n\n"
        + f"Machine: {machine}. Binary: {args.binary}.\n\n" + table
    )
    print(table)


if __name__ == "__main__":
    main()
