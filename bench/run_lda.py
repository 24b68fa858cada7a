#!/usr/bin/env python3
"""LDA benchmark: Strads (1 thread, 2 threads, 2 processes) vs tomotopy and the `lda` package.

    bench/setup_lda.sh                      # once: bench/venv-lda with tomotopy and lda
    cargo build --release                   # target/release/strads
    python3 bench/run_lda.py                # the issue's benchmark (several hours on 2 cores)
    python3 bench/run_lda.py --topics 50 --checkpoints 50,200 --lda-checkpoints 50

Generates the corpus into bench/data/lda/ if it is missing (`strads gen lda --docs 20000 --vocab
20000 --topics 50 --doc-length 200 --seed 1`, 4M tokens), then for each K runs every system on the
same file with alpha 0.1 and beta 0.01 and reports, at each checkpoint iteration, tokens sampled
per second (tokens x iterations / training seconds, loading excluded) and the log-likelihood per
token log p(w, z) / N. The peers' log-likelihood is computed by bench/peers_lda.py from their own
topic assignments with the same formula Strads prints (not the peers' own figure). tomotopy runs
`LDAModel` with 2 workers and its alpha optimisation off (optim_interval = 0); the `lda` package
is single-threaded and slow, so it can be given fewer checkpoints (--lda-checkpoints).

Writes a markdown table (with the command line and the machine) to bench/results/lda.md and the
raw records to bench/results/lda.jsonl. `--render FILE.jsonl` re-renders saved records.
Uses only the standard library (the peers run in bench/venv-lda).
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

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CORPUS = dict(docs=20000, vocab=20000, topics=50, doc_length=200, seed=1)

# Strads configurations: (name, CLI prefix before the lda flags).
STRADS_CONFIGS = {
    # The default sampler (`--sampler auto`: exact for K <= 64, Metropolis-Hastings above).
    "strads 1x1": ["lda", "--threads", "1"],
    "strads 1x2": ["lda", "--threads", "2"],
    "strads 2x1": ["launch", "--processes", "2", "--threads", "1", "--", "lda"],
    # Each sampler forced, for comparison (not run by default).
    "strads 1x2 exact": ["lda", "--threads", "2", "--sampler", "exact"],
    "strads 1x2 mh": ["lda", "--threads", "2", "--sampler", "mh"],
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--topics", default="50,1000", help="values of K, comma separated")
    p.add_argument("--checkpoints", default="50,200", help="iterations to report, comma separated")
    p.add_argument("--lda-checkpoints", default=None,
                   help="checkpoints for the slow `lda` package [default: --checkpoints]")
    p.add_argument("--tomotopy-checkpoints", default=None,
                   help="checkpoints for tomotopy [default: --checkpoints]")
    p.add_argument("--systems", default="strads 1x1,strads 1x2,strads 2x1,tomotopy,lda",
                   help="subset of the systems, comma separated")
    p.add_argument("--alpha", type=float, default=0.1)
    p.add_argument("--beta", type=float, default=0.01)
    p.add_argument("--mh-steps", type=int, default=2, help="Strads MH cycles per token")
    p.add_argument("--repeat", type=int, default=1,
                   help="run every system this many times, interleaved (all of them once, then "
                        "again), and report each one's median run: this VM's speed varies by up "
                        "to 2x from run to run with nothing else running")
    p.add_argument("--out", default=str(BENCH / "results" / "lda.md"))
    p.add_argument("--render", default=None, help="re-render saved .jsonl files (comma separated)")
    return p.parse_args()


def machine():
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} CPUs (nproc), {model}, {platform.system()} {platform.release()}, "
            f"load average {load:.1f} at the start")


def corpus_path():
    data = BENCH / "data" / "lda"
    data.mkdir(parents=True, exist_ok=True)
    path = data / "docword.txt"
    if not path.exists():
        cmd = [str(ROOT / "target" / "release" / "strads"), "gen", "lda"]
        for key, value in CORPUS.items():
            cmd += [f"--{key.replace('_', '-')}", str(value)]
        cmd += ["--out", str(path)]
        print("$", shlex.join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
    return path


def run_strads(binary, name, prefix, data, k, checkpoints, args):
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.jsonl"
        step = checkpoints[0]
        for c in checkpoints:
            step = gcd(step, c)
        cmd = [str(binary)] + prefix + [
            "--data", str(data), "--topics", str(k), "--iters", str(max(checkpoints)),
            "--alpha", str(args.alpha), "--beta", str(args.beta), "--seed", "1",
            "--loglik-every", str(step),
            "--trace", str(trace), "--json"]
        # --mh-steps applies only where the sampler is Metropolis-Hastings (strads refuses it
        # elsewhere): --sampler mh, or the default auto above 64 topics.
        sampler = prefix[prefix.index("--sampler") + 1] if "--sampler" in prefix else "auto"
        if sampler == "mh" or (sampler == "auto" and k > 64):
            cmd += ["--mh-steps", str(args.mh_steps)]
        print("$", shlex.join(cmd), file=sys.stderr, flush=True)
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return []
        records = [json.loads(line) for line in trace.read_text().splitlines()]
    return [dict(system=name, topics=k, iteration=r["iteration"], seconds=r["seconds"],
                 tokens_per_second=r["tokens_per_second"], loglik=r["loglik"],
                 loglik_per_token=r["loglik_per_token"])
            for r in records if r["iteration"] in checkpoints]


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def run_peer(system, data, k, checkpoints, args):
    python = BENCH / "venv-lda" / "bin" / "python"
    cmd = [str(python), str(BENCH / "peers_lda.py"), "--system", system, "--data", str(data),
           "--topics", str(k), "--alpha", str(args.alpha), "--beta", str(args.beta),
           "--checkpoints", ",".join(map(str, checkpoints)), "--workers", "2", "--seed", "1"]
    print("$", shlex.join(cmd), file=sys.stderr, flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        return []
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return [dict(system=system, topics=k, iteration=r["iteration"], seconds=r["seconds"],
                 tokens_per_second=r["tokens_per_second"], loglik=r["loglik"],
                 loglik_per_token=r["loglik_per_token"]) for r in records]


def render(records, command, machine_text):
    lines = [
        "# LDA benchmark",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine_text}. Absolute timings on this VM vary from run to run",
        "(host noise), so compare rows of one invocation.",
        "",
        "Corpus: `strads gen lda --docs 20000 --vocab 20000 --topics 50 --doc-length 200 --seed 1`",
        "(4,000,000 tokens); alpha 0.1, beta 0.01. tokens/s = tokens x iterations / training",
        "seconds (loading excluded); loglik/token = log p(w, z) / N computed with the same formula",
        "for every system from its own topic assignments. Ratios are against tomotopy at the same K",
        "and iteration.",
        "",
    ]
    runs = max(r.get("run", 0) for r in records) + 1
    if runs > 1:
        lines += [f"Every system ran {runs} times, interleaved; each row is the run with the median "
                  "seconds at that iteration, and `range` gives the slowest and fastest runs' "
                  "tokens/s.", ""]
    for k in sorted({r["topics"] for r in records}):
        groups = {}
        for r in records:
            if r["topics"] == k:
                groups.setdefault((r["system"], r["iteration"]), []).append(r)
        rows = []
        for group in groups.values():
            group.sort(key=lambda r: r["seconds"])
            median = dict(group[len(group) // 2])
            median["range"] = (group[-1]["tokens_per_second"], group[0]["tokens_per_second"])
            rows.append(median)
        base = {r["iteration"]: r for r in rows if r["system"] == "tomotopy"}
        lines += [f"## K = {k}", "",
                  "| system | iteration | seconds | tokens/s | range | speed vs tomotopy | loglik/token | vs tomotopy |",
                  "|---|---|---|---|---|---|---|---|"]
        order = {name: i for i, name in enumerate(list(STRADS_CONFIGS) + ["tomotopy", "lda"])}
        for r in sorted(rows, key=lambda r: (order.get(r["system"], 99), r["iteration"])):
            b = base.get(r["iteration"])
            speed = f"{r['tokens_per_second'] / b['tokens_per_second']:.2f}x" if b else ""
            ll = (f"{100 * (r['loglik_per_token'] - b['loglik_per_token']) / abs(b['loglik_per_token']):+.2f}%"
                  if b else "")
            low, high = r["range"]
            lines.append(f"| {r['system']} | {r['iteration']} | {r['seconds']:.1f} | "
                         f"{r['tokens_per_second'] / 1e6:.2f} M | {low / 1e6:.2f}-{high / 1e6:.2f} M | "
                         f"{speed} | {r['loglik_per_token']:.4f} | {ll} |")
        lines.append("")
    return "\n".join(lines)


def main():
    args = parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python3 bench/run_lda.py " + shlex.join(sys.argv[1:])
    if args.render:
        records = [json.loads(line) for f in args.render.split(",")
                   for line in Path(f).read_text().splitlines() if line.strip()]
        text = render(records, command, "see the runs")
        out.write_text(text + "\n")
        print(text)
        return
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    lda_checkpoints = (sorted(int(c) for c in args.lda_checkpoints.split(","))
                       if args.lda_checkpoints else checkpoints)
    tomotopy_checkpoints = (sorted(int(c) for c in args.tomotopy_checkpoints.split(","))
                            if args.tomotopy_checkpoints else checkpoints)
    systems = [s.strip() for s in args.systems.split(",")]
    machine_text = machine()
    data = corpus_path()
    # A private copy of the binary, so a concurrent build cannot change it mid-benchmark.
    private = Path(tempfile.mkdtemp()) / "strads"
    shutil.copy2(ROOT / "target" / "release" / "strads", private)
    jsonl = out.with_suffix(".jsonl")
    records = []
    with jsonl.open("w") as raw:
        for k in (int(x) for x in args.topics.split(",")):
            for run in range(args.repeat):
                for system in systems:
                    if system in STRADS_CONFIGS:
                        new = run_strads(private, system, STRADS_CONFIGS[system], data, k,
                                         checkpoints, args)
                    elif system == "tomotopy":
                        new = run_peer("tomotopy", data, k, tomotopy_checkpoints, args)
                    elif system == "lda":
                        new = run_peer("lda", data, k, lda_checkpoints, args)
                    else:
                        sys.exit(f"unknown system {system!r}")
                    for r in new:
                        r["run"] = run
                        raw.write(json.dumps(r) + "\n")
                        raw.flush()
                        print(json.dumps(r), file=sys.stderr, flush=True)
                    records += new
    text = render(records, command, machine_text)
    out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
