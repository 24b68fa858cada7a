#!/usr/bin/env python3
"""Text parsing throughput per core (issue 17, part 4): libsvm, ratings and docword against the
machine's streaming read rate of the same files.

    cargo build --release -p strads-cli --bin strads
    cargo build --release -p strads-io --example parse_speed
    python3 bench/run_parse.py            # ~2 min on 2 cores; data in bench/data/parse/ (~0.5 GB)

For each format the file is generated once (`strads gen`), read once to bring it into the page
cache, then:
- `cat FILE > /dev/null`, best of 5: the streaming read rate from the page cache (one core);
- `parse_speed FORMAT FILE 5` (crates/io/examples/parse_speed.rs): the best of 5 reads of the
  file as one shard into memory (`read_seconds`) and of 5 reads and parses (`load_seconds`),
  one thread; parse MB/s = bytes / (load - read).
Every time is CPU time (cat: user + system of the child; parse_speed: its thread's time on a
core), so the figures are per core and hold while other work runs (shared caches and memory
bandwidth still lower them somewhat). MB are 10^6 bytes.
Writes bench/results/parse.md and parse.jsonl.

Uses only the standard library.
"""

import argparse
import json
import platform
import resource
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data" / "parse"
STRADS = ROOT / "target" / "release" / "strads"
PARSE_SPEED = ROOT / "target" / "release" / "examples" / "parse_speed"
TARGET_MB_PER_S = 300

# (format, generator arguments, the file it writes)
FILES = [
    ("libsvm",
     ["gen", "lasso", "--rows", "100000", "--cols", "200000", "--nnz-per-row", "50",
      "--support", "1000", "--seed", "1", "--out", str(DATA / "x.libsvm")],
     DATA / "x.libsvm"),
    ("ratings",
     ["gen", "mf", "--users", "500000", "--items", "20000", "--ratings", "10000000",
      "--rank", "10", "--noise", "0.5", "--seed", "1", "--out", str(DATA / "r")],
     DATA / "r.train"),
    ("docword",
     ["gen", "lda", "--docs", "200000", "--vocab", "20000", "--topics", "100",
      "--doc-length", "100", "--seed", "1", "--out", str(DATA / "c.docword")],
     DATA / "c.docword"),
]


def cat_seconds(path, repeats=5):
    """Best CPU time (user + system) of `cat FILE > /dev/null`."""
    best = float("inf")
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, cpu)
    return best


def measure(formats):
    rows = []
    for fmt, gen, path in FILES:
        if formats and fmt not in formats:
            continue
        if not path.exists():
            DATA.mkdir(parents=True, exist_ok=True)
            subprocess.run([str(STRADS)] + gen, check=True, stdout=subprocess.DEVNULL)
        cat_seconds(path, 1)
        size = path.stat().st_size
        cat = cat_seconds(path)
        out = subprocess.run([str(PARSE_SPEED), fmt, str(path), "5"], check=True,
                             capture_output=True, text=True).stdout
        row = json.loads(out)
        row["file_bytes"] = size
        row["cat_seconds"] = round(cat, 4)
        row["cat_mb_per_s"] = round(size / cat / 1e6, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def render(rows):
    lines = [
        "# Text parsing throughput, one core",
        "",
        "Produced by `python3 bench/run_parse.py` (see its docstring). MB = 10^6 bytes; best of 5;",
        "every rate is bytes per second of CPU time on one core.",
        f"Machine: {platform.machine()}, {platform.platform()}.",
        "",
        "| format | file MB | items | `cat` MB/s | read into memory MB/s | parse alone MB/s | "
        f"read + parse MB/s | parse >= {TARGET_MB_PER_S} MB/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        read_rate = r["bytes"] / r["read_seconds"] / 1e6
        lines.append(
            f"| {r['format']} | {r['file_bytes'] / 1e6:.0f} | {r['items']} | {r['cat_mb_per_s']:.0f} | "
            f"{read_rate:.0f} | {r['parse_mb_per_s']:.0f} | {r['load_mb_per_s']:.0f} | "
            f"{'yes' if r['parse_mb_per_s'] >= TARGET_MB_PER_S else 'no'} |"
        )
    lines += [
        "",
        "Items: nonzeros (libsvm), ratings, cells (docword).",
        "`read into memory` is the copy of the shard's lines out of the page cache into one",
        "buffer (what every loader does first); `parse alone` is the loader's time beyond it.",
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--formats", nargs="*", help="libsvm, ratings, docword (default: all)")
    parser.add_argument("--render", type=Path, help="only render this jsonl to parse.md")
    args = parser.parse_args()
    results = BENCH / "results"
    if args.render:
        rows = [json.loads(line) for line in args.render.read_text().splitlines() if line]
    else:
        for tool in (STRADS, PARSE_SPEED):
            if not tool.exists():
                sys.exit(f"{tool} is missing: build it first (see the docstring)")
        rows = measure(args.formats)
        (results / "parse.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (results / "parse.md").write_text(render(rows))
    print((results / "parse.md").read_text())


if __name__ == "__main__":
    main()
