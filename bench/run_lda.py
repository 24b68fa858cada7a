#!/usr/bin/env python3
"""LDA benchmark: Strads (1 thread, 2 threads, 2 processes) vs tomotopy and the `lda` package,
per iteration and by time to quality, on several corpus shapes.

    bench/setup_lda.sh                      # once: bench/venv-lda with tomotopy and lda
    cargo build --release                   # target/release/strads
    python3 bench/run_lda.py                # the bench corpus, K = 50 and 1000
    python3 bench/run_lda.py --shapes all --systems "strads 1x1,strads 1x2,strads 2x1,tomotopy"
    python3 bench/run_lda.py --quick        # tiny corpora, smoke test (a few minutes)

Generates each shape's corpus into bench/data/lda/ if it is missing (`strads gen lda ...`, the
parameters are in SHAPES and in the output), then for each shape and K runs every system on the
same file with alpha 0.1 and beta 0.01 and reports:

- per iteration, at the --checkpoints: training seconds, tokens/s and the log-likelihood per token
  log p(w, z) / N (the peers' computed by bench/peers_lda.py from their own topic assignments
  with the formula Strads prints, never the peers' own figure);
- time to quality: the training time Strads takes to reach the log-likelihood per token tomotopy
  has after N iterations (N in --quality-iters), and the reverse, with the ratio and the target
  (1.5x at K <= 64, 3x above); see bench/README.md for how the times are computed;
- peak memory of each run's whole process tree.

Writes bench/results/lda.md (smoke-lda.md with --quick) and the raw records (.jsonl next to it).
`--render FILE.jsonl` re-renders saved records. Uses only the standard library (the peers run in
bench/venv-lda).
"""

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import fmt_seconds, machine, run_measured, select_shapes, time_to_reach

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = BENCH / "venv-lda" / "bin" / "python"

# Corpus shapes. Generated ones are `strads gen lda` parameters (all 4M tokens but the quick
# ones); "reuters" is the corpus the `lda` package ships inside its wheel (lda.datasets).
SHAPES = {
    # The corpus bench/ has always used (the generator's default beta, 0.05): issue 18's
    # "flatter" corpus has these same parameters.
    "bench": dict(docs=20000, vocab=20000, topics=50, doc_length=200, alpha=0.1, beta=0.05, seed=1),
    # Peakier topics (each topic's words drawn with beta 0.01).
    "peaky": dict(docs=20000, vocab=20000, topics=50, doc_length=200, alpha=0.1, beta=0.01, seed=1),
    # Flatter topics than bench (beta 0.2).
    "flat": dict(docs=20000, vocab=20000, topics=50, doc_length=200, alpha=0.1, beta=0.2, seed=1),
    # Short and long documents, same number of tokens.
    "short": dict(docs=100000, vocab=20000, topics=50, doc_length=40, alpha=0.1, beta=0.05, seed=1),
    "long": dict(docs=2000, vocab=20000, topics=50, doc_length=2000, alpha=0.1, beta=0.05, seed=1),
    # Real: 395 Reuters articles, 4258 words (lda.datasets.load_reuters, bundled in the wheel).
    "reuters": dict(package="lda"),
    # Tiny shapes for the smoke test.
    "quick": dict(docs=1000, vocab=2000, topics=20, doc_length=100, alpha=0.1, beta=0.05, seed=1),
    "quick-short": dict(docs=5000, vocab=2000, topics=20, doc_length=20, alpha=0.1, beta=0.05,
                        seed=1),
}
SHAPE_SETS = {
    "default": ["bench"],
    "all": ["bench", "peaky", "flat", "short", "long", "reuters"],
    "quick": ["quick", "quick-short", "reuters"],
}

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
HEADLINE = "strads 1x2"  # checked against tomotopy's 2 workers


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default=None,
                   help="a shape set (" + ", ".join(SHAPE_SETS) + ") or shape names, comma "
                        "separated, from: " + ", ".join(SHAPES) + " [default: default]")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: --shapes quick --topics 10,100 --quality-iters 5,10,20 "
                        "--checkpoints 10,20 --trace-every 1 --lda-checkpoints 2; output "
                        "smoke-lda.md")
    p.add_argument("--topics", default=None, help="values of K, comma separated [default 50,1000]")
    p.add_argument("--checkpoints", default=None,
                   help="iterations of the per-iteration table [default 50,200]")
    p.add_argument("--quality-iters", default=None,
                   help="N: tomotopy's quality after N iterations is Strads's target, and the "
                        "reverse [default 50,100,200]")
    p.add_argument("--trace-every", type=int, default=None,
                   help="evaluate the log-likelihood every this many iterations, for the time "
                        "to quality [default 5]")
    p.add_argument("--strads-iters", type=int, default=None,
                   help="Strads iterations (so that it can reach tomotopy's last quality even "
                        "when it needs more iterations) [default 2 x the largest N]")
    p.add_argument("--tomotopy-iters", type=int, default=None,
                   help="tomotopy iterations [default the largest N or checkpoint]")
    p.add_argument("--lda-checkpoints", default=None,
                   help="checkpoints for the slow `lda` package [default: --checkpoints]")
    p.add_argument("--systems", default="strads 1x1,strads 1x2,strads 2x1,tomotopy,lda",
                   help="subset of the systems, comma separated: "
                        + ", ".join(list(STRADS_CONFIGS) + ["tomotopy", "lda"]))
    p.add_argument("--alpha", type=float, default=0.1)
    p.add_argument("--beta", type=float, default=0.01)
    p.add_argument("--mh-steps", type=int, default=2, help="Strads MH cycles per token")
    p.add_argument("--seeds", type=int, default=1,
                   help="run every system with seeds 1..N and compare the seeds' mean curves "
                        "(at 50 iterations one chain's log-likelihood per token varies by about "
                        "0.5%% from seed to seed, more than the gaps between systems)")
    p.add_argument("--repeat", type=int, default=1,
                   help="run every system this many times, interleaved (all of them once, then "
                        "again), and report each one's median run: this VM's speed varies by up "
                        "to 2x from run to run with nothing else running")
    p.add_argument("--out", default=None, help="markdown output [default bench/results/lda.md]")
    p.add_argument("--render", default=None, help="re-render saved .jsonl files (comma separated)")
    args = p.parse_args()
    quick = dict(shapes="quick", topics="10,100", checkpoints="10,20", quality_iters="5,10,20",
                 trace_every=1, lda_checkpoints="2")
    full = dict(shapes="default", topics="50,1000", checkpoints="50,200",
                quality_iters="50,100,200", trace_every=5, lda_checkpoints=None)
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.out is None:
        args.out = str(BENCH / "results" / ("smoke-lda.md" if args.quick else "lda.md"))
    return args


def ints(text):
    return sorted(int(x) for x in text.split(","))


def describe(spec):
    if "package" in spec:
        return ("`lda.datasets.load_reuters()` (395 documents, 4258 words, bundled in the `lda` "
                "wheel), written as UCI docword by the venv's python")
    return "`strads " + shlex.join(gen_command(spec)) + "`"


def gen_command(spec):
    cmd = ["gen", "lda"]
    for key in ("docs", "vocab", "topics", "doc_length", "alpha", "beta", "seed"):
        cmd += [f"--{key.replace('_', '-')}", str(spec[key])]
    return cmd


REUTERS_EXPORT = """
import sys, numpy as np, lda.datasets
X = np.asarray(lda.datasets.load_reuters())
docs, words = np.nonzero(X)
with open(sys.argv[1], "w") as f:
    f.write(f"{X.shape[0]}\\n{X.shape[1]}\\n{docs.size}\\n")
    f.writelines(f"{d + 1} {w + 1} {X[d, w]}\\n" for d, w in zip(docs, words))
"""


def corpus_path(strads, name, spec):
    data = BENCH / "data" / "lda"
    data.mkdir(parents=True, exist_ok=True)
    # The bench corpus keeps the file name the driver has always used.
    path = data / ("docword.txt" if name == "bench" else f"{name}.txt")
    if path.exists():
        return path
    tmp = Path(str(path) + ".tmp")
    if "package" in spec:
        if not PYTHON.exists():
            sys.exit(f"{PYTHON} not found: run bench/setup_lda.sh first (shape {name})")
        cmd = [str(PYTHON), "-c", REUTERS_EXPORT, str(tmp)]
    else:
        cmd = [str(strads)] + gen_command(spec) + ["--out", str(tmp)]
    print("$", shlex.join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)
    for suffix in (".vocab", ".topics"):
        if Path(str(tmp) + suffix).exists():
            Path(str(tmp) + suffix).rename(str(path) + suffix)
    tmp.rename(path)
    return path


def gcd_all(values):
    result = 0
    for v in values:
        a, b = result, v
        while b:
            a, b = b, a % b
        result = a
    return result


def strads_command(binary, prefix, data, k, iters, every, trace, args, seed):
    cmd = [str(binary)] + prefix + [
        "--data", str(data), "--topics", str(k), "--iters", str(iters),
        "--alpha", str(args.alpha), "--beta", str(args.beta), "--seed", str(seed),
        "--loglik-every", str(every), "--json"]
    if trace:
        cmd += ["--trace", str(trace)]
    # --mh-steps applies only where the sampler is Metropolis-Hastings (strads refuses it
    # elsewhere): --sampler mh, or the default auto above 64 topics.
    sampler = prefix[prefix.index("--sampler") + 1] if "--sampler" in prefix else "auto"
    if sampler == "mh" or (sampler == "auto" and k > 64):
        cmd += ["--mh-steps", str(args.mh_steps)]
    return cmd


def last_json(text):
    lines = [l for l in text.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def run_strads(binary, name, prefix, data, k, iters, every, args, seed):
    """Two runs with the same seed (the same chain): one traced every `every` iterations, for the
    quality curve; one evaluating the log-likelihood only after the last iteration, for the
    training time without evaluations. The traced run's seconds are corrected by the evaluation
    cost measured as their difference (see bench/README.md)."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.jsonl"
        cmd = strads_command(binary, prefix, data, k, iters, every, trace, args, seed)
        print("$", shlex.join(cmd), file=sys.stderr, flush=True)
        traced = run_measured(cmd)
        if traced["returncode"] != 0:
            print(traced["stderr"], file=sys.stderr)
            return None
        points = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
        traced_summary = last_json(traced["stdout"])
    cmd = strads_command(binary, prefix, data, k, iters, 0, None, args, seed)
    print("$", shlex.join(cmd), file=sys.stderr, flush=True)
    plain = run_measured(cmd)
    if plain["returncode"] != 0:
        print(plain["stderr"], file=sys.stderr)
        return None
    summary = last_json(plain["stdout"])
    evaluations = len(points)
    # Evaluation cost per evaluation (the last iteration is evaluated by both runs).
    cost = max(0.0, (traced_summary["train_seconds"] - summary["train_seconds"])
               / max(1, evaluations - 1))
    trace_out = []
    for i, p in enumerate(points):
        # Evaluations done before this iteration's timestamp was taken (the trace's seconds are
        # stamped after the evaluation at that iteration: count it too).
        seconds = max(0.0, p["seconds"] - cost * (i + 1))
        trace_out.append(dict(iteration=p["iteration"], seconds=seconds, raw_seconds=p["seconds"],
                              loglik_per_token=p["loglik_per_token"],
                              tokens_per_second=summary["tokens"] * p["iteration"] / seconds
                              if seconds > 0 else None))
    same_chain = abs(summary["loglik_per_token"] - points[-1]["loglik_per_token"]) < 1e-9
    return dict(system=name, wall=plain["wall"], peak_rss_mib=plain["peak_rss_mib"],
                traced_peak_rss_mib=traced["peak_rss_mib"],
                train_seconds=summary["train_seconds"], load_seconds=summary["load_seconds"],
                tokens=summary["tokens"], evaluation_seconds=cost, same_chain=same_chain,
                trace=trace_out)


def run_peer(system, data, k, checkpoints, args, seed):
    cmd = [str(PYTHON), str(BENCH / "peers_lda.py"), "--system", system, "--data", str(data),
           "--topics", str(k), "--alpha", str(args.alpha), "--beta", str(args.beta),
           "--checkpoints", ",".join(map(str, checkpoints)), "--workers", "2", "--seed", str(seed)]
    print("$", shlex.join(cmd), file=sys.stderr, flush=True)
    result = run_measured(cmd)
    if result["returncode"] != 0:
        print(result["stderr"], file=sys.stderr)
        return None
    points = [json.loads(line) for line in result["stdout"].splitlines() if line.startswith("{")]
    return dict(system=system, wall=result["wall"], peak_rss_mib=result["peak_rss_mib"],
                trace=[dict(iteration=r["iteration"], seconds=r["seconds"],
                            loglik_per_token=r["loglik_per_token"],
                            tokens_per_second=r["tokens_per_second"]) for r in points])


# ----------------------------------------------------------------------------- rendering

def target_for(k):
    return 1.5 if k <= 64 else 3.0


def at(run, iteration):
    for p in run["trace"]:
        if p["iteration"] == iteration:
            return p
    return None


def curve(run):
    return [(p["seconds"], p["loglik_per_token"]) for p in run["trace"]]


def reverse_verdict(ratio, back, tomo, strads_point, target):
    """Target check of the reverse direction (tomotopy's time to Strads's quality). When tomotopy
    never got there, its whole run is a lower bound of its time: met if even that bound meets the
    target, unknown otherwise."""
    if back is not None:
        return "met" if ratio and ratio >= target else "NOT met"
    if strads_point["seconds"] <= 0:
        return "unknown"
    bound = tomo["trace"][-1]["seconds"] / strads_point["seconds"]
    return "met" if bound >= target else "unknown (tomotopy stopped first)"


def median_runs(records):
    """{system: the run with the median final training seconds} (runs of one shape and K). With
    several seeds, the median run of each seed, then their mean curve (see mean_of_seeds)."""
    groups = {}
    for r in records:
        groups.setdefault(r["system"], {}).setdefault(r.get("seed", 1), []).append(r)
    chosen = {}
    for system, by_seed in groups.items():
        medians = []
        for runs in by_seed.values():
            runs.sort(key=lambda r: r["trace"][-1]["seconds"] if r["trace"] else 0)
            medians.append(runs[len(runs) // 2])
        run = medians[0] if len(medians) == 1 else mean_of_seeds(medians)
        chosen[system] = dict(run, runs=sum(len(runs) for runs in by_seed.values()))
    return chosen


def mean_of_seeds(runs):
    """One run whose trace is, at every iteration all the runs traced, the mean seconds and the
    mean log-likelihood per token of the runs (chains of different seeds); `loglik_range` keeps
    the seeds' lowest and highest log-likelihood there, and the other figures are the first
    run's but the peak memory, the highest."""
    common = set.intersection(*({p["iteration"] for p in r["trace"]} for r in runs))
    trace = []
    for iteration in sorted(common):
        points = [at(r, iteration) for r in runs]
        seconds = sum(p["seconds"] for p in points) / len(points)
        logliks = [p["loglik_per_token"] for p in points]
        speeds = [p.get("tokens_per_second") for p in points]
        trace.append(dict(iteration=iteration, seconds=seconds,
                          loglik_per_token=sum(logliks) / len(logliks),
                          loglik_range=[min(logliks), max(logliks)],
                          tokens_per_second=sum(speeds) / len(speeds) if None not in speeds
                          else None))
    mean = dict(runs[0], trace=trace, seeds=sorted(r.get("seed", 1) for r in runs))
    mean["peak_rss_mib"] = max(r.get("peak_rss_mib") or 0 for r in runs) or None
    return mean


def render_one(records, shape, k, quality_iters):
    runs = median_runs(records)
    order = list(STRADS_CONFIGS) + ["tomotopy", "lda"]
    systems = sorted(runs, key=lambda s: order.index(s) if s in order else 99)
    tomo = runs.get("tomotopy")
    lines = [f"### {shape}, K = {k}", ""]
    checkpoints = sorted({c for r in records for c in r.get("checkpoints", [])})
    lines += ["Per iteration:", "",
              "| system | iteration | train s | tokens/s | speed vs tomotopy | loglik/token "
              "| vs tomotopy | seeds' loglik range |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for system in systems:
        for c in checkpoints:
            p, b = at(runs[system], c), at(tomo, c) if tomo else None
            if p is None:
                continue
            speed = (f"{b['seconds'] / p['seconds']:.2f}x" if b and p["seconds"] > 0 else "")
            ll = (f"{100 * (p['loglik_per_token'] - b['loglik_per_token']) / abs(b['loglik_per_token']):+.2f}%"
                  if b else "")
            tps = f"{p['tokens_per_second'] / 1e6:.2f} M" if p.get("tokens_per_second") else "—"
            spread = (f"{p['loglik_range'][0]:.4f} to {p['loglik_range'][1]:.4f}"
                      if p.get("loglik_range") else "one seed")
            lines.append(f"| {system} | {c} | {p['seconds']:.2f} | {tps} | {speed} | "
                         f"{p['loglik_per_token']:.4f} | {ll} | {spread} |")
    lines.append("")

    target = target_for(k)
    checks = []
    if any(r.get("before_issue_18") for r in runs.values()):
        lines += ["(Recorded before issue 18: only the checkpoints were traced, too coarse to "
                  "interpolate a time to quality.)", ""]
    elif tomo:
        lines += [f"Time to quality (target: Strads at least {target:g}x tomotopy's speed, i.e. "
                  "tomotopy's time / Strads's time to the same log-likelihood per token):", "",
                  "| system | N | tomotopy loglik/token after N | tomotopy s | this system's s to it "
                  "| ratio | target | this system's loglik/token after N | its s | tomotopy's s to it "
                  "| ratio | target |",
                  "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|"]
        for system in systems:
            if not system.startswith("strads"):
                continue
            run = runs[system]
            for n in quality_iters:
                t, s = at(tomo, n), at(run, n)
                cells = [system, str(n)]
                if t:
                    reach = time_to_reach(curve(run), t["loglik_per_token"])
                    ratio = t["seconds"] / reach if reach else None
                    cells += [f"{t['loglik_per_token']:.4f}", f"{t['seconds']:.2f}",
                              fmt_seconds(reach) if reach is not None else
                              f"not reached in {run['trace'][-1]['iteration']} iterations",
                              f"{ratio:.2f}x" if ratio else "—",
                              "met" if ratio and ratio >= target else "NOT met"]
                    if system == HEADLINE:
                        checks.append(f"- {HEADLINE} to tomotopy's quality after {n} iterations: "
                                      + (f"{ratio:.2f}x" if ratio else "not reached")
                                      + f" (target ≥ {target:g}x: "
                                      + ("met" if ratio and ratio >= target else "NOT met") + ")")
                else:
                    cells += ["tomotopy not run to N", "", "", "", ""]
                if s:
                    back = time_to_reach(curve(tomo), s["loglik_per_token"])
                    ratio = back / s["seconds"] if back and s["seconds"] > 0 else None
                    cells += [f"{s['loglik_per_token']:.4f}", f"{s['seconds']:.2f}",
                              fmt_seconds(back) if back is not None else
                              f"not reached in {tomo['trace'][-1]['iteration']} iterations "
                              f"({tomo['trace'][-1]['seconds']:.2f} s)",
                              f"{ratio:.2f}x" if ratio else
                              (f"> {tomo['trace'][-1]['seconds'] / s['seconds']:.2f}x"
                               if back is None and s["seconds"] > 0 else "—"),
                              reverse_verdict(ratio, back, tomo, s, target)]
                else:
                    cells += ["—", "", "", "", ""]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Runs:", "", "| system | whole s | peak MiB | runs | notes |", "|---|---:|---:|---:|---|"]
    for system in systems:
        r = runs[system]
        if "wall" not in r:
            lines.append(f"| {system} | — | — | {r['runs']} | recorded before issue 18 |")
            continue
        notes = ""
        if system.startswith("strads"):
            notes = (f"load {r['load_seconds']:.2f} s, train {r['train_seconds']:.2f} s untraced; "
                     f"{r['evaluation_seconds'] * 1000:.1f} ms per log-likelihood evaluation "
                     "subtracted from the traced run"
                     + ("" if r["same_chain"] else "; **the traced and untraced runs' final "
                        "log-likelihoods differ: not the same chain**"))
        lines.append(f"| {system} | {r['wall']:.2f} | {r['peak_rss_mib']:.0f} | {r['runs']} | {notes} |")
    peers = [runs[s] for s in ("tomotopy", "lda") if s in runs]
    peers = [r for r in peers if r.get("peak_rss_mib")]
    if HEADLINE in runs and peers and runs[HEADLINE].get("peak_rss_mib"):
        light = min(peers, key=lambda r: r["peak_rss_mib"])
        m = runs[HEADLINE]["peak_rss_mib"] / light["peak_rss_mib"]
        checks.append(f"- {HEADLINE} peak memory {runs[HEADLINE]['peak_rss_mib']:.0f} MiB vs the "
                      f"lightest peer's ({light['system']}) {light['peak_rss_mib']:.0f} MiB: "
                      f"{m:.2f}x (target ≤ 0.5x: {'met' if m <= 0.5 else 'NOT met'})")
    lines.append("")
    if checks:
        lines += ["Targets:", ""] + checks + [""]
    return lines


def render(records, header, shapes_text, quality_iters):
    lines = [header, ""] + shapes_text + [""]
    keys = list(dict.fromkeys((r["shape"], r["topics"]) for r in records))
    for shape, k in keys:
        lines += render_one([r for r in records if (r["shape"], r["topics"]) == (shape, k)],
                            shape, k, quality_iters)
    return "\n".join(lines)


def upgrade(records):
    """Records of the drivers before issue 18 (one per system and checkpoint, no shape, memory or
    time-to-quality trace) as runs of the bench shape, so that --render shows them."""
    runs, rest = {}, []
    for r in records:
        if "trace" in r:
            rest.append(r)
            continue
        key = (r["system"], r["topics"], r.get("run", 0))
        run = runs.setdefault(key, dict(system=r["system"], topics=r["topics"], run=key[2],
                                        shape="bench", trace=[], checkpoints=[],
                                        before_issue_18=True))
        run["trace"].append({k: r[k] for k in ("iteration", "seconds", "loglik_per_token",
                                               "tokens_per_second")})
        run["checkpoints"].append(r["iteration"])
    for run in runs.values():
        run["trace"].sort(key=lambda p: p["iteration"])
    return rest + list(runs.values())


# ----------------------------------------------------------------------------- main

def main():
    args = parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python3 bench/run_lda.py " + shlex.join(sys.argv[1:])
    quality_iters = ints(args.quality_iters)
    if args.render:
        records = upgrade([json.loads(line) for f in args.render.split(",")
                           for line in Path(f).read_text().splitlines() if line.strip()])
        text = render(records, f"# LDA benchmark\n\nRendered by `{command}`", [], quality_iters)
        out.write_text(text + "\n")
        print(text)
        return
    names = select_shapes(args.shapes, SHAPES, SHAPE_SETS)
    systems = [s.strip() for s in args.systems.split(",")]
    for s in systems:
        if s not in STRADS_CONFIGS and s not in ("tomotopy", "lda"):
            sys.exit(f"unknown system {s!r}")
    if any(s in ("tomotopy", "lda") for s in systems) and not PYTHON.exists():
        sys.exit(f"{PYTHON} not found: run bench/setup_lda.sh first")
    binary = ROOT / "target" / "release" / "strads"
    if not binary.exists():
        sys.exit(f"{binary} not found: run `cargo build --release` first")
    checkpoints = ints(args.checkpoints)
    lda_checkpoints = ints(args.lda_checkpoints) if args.lda_checkpoints else checkpoints
    every = args.trace_every
    strads_iters = args.strads_iters or 2 * max(quality_iters)
    strads_iters = max(strads_iters, max(checkpoints))
    tomotopy_iters = args.tomotopy_iters or max(quality_iters + checkpoints)
    tomotopy_checkpoints = sorted(set(range(every, tomotopy_iters + 1, every))
                                  | {c for c in checkpoints + quality_iters if c <= tomotopy_iters})
    strads_every = gcd_all([every] + checkpoints + quality_iters)
    machine_text = machine()
    # A private copy of the binary, so a concurrent build cannot change it mid-benchmark.
    private_dir = Path(tempfile.mkdtemp(prefix="strads-bench-"))
    private = private_dir / "strads"
    shutil.copy2(binary, private)
    data = {name: corpus_path(private, name, SHAPES[name]) for name in names}
    jsonl = out.with_suffix(".jsonl")
    records = []
    with jsonl.open("w") as raw:
        for name in names:
            for k in ints(args.topics):
                for run, seed in [(r, s) for r in range(args.repeat)
                                  for s in range(1, args.seeds + 1)]:
                    for system in systems:
                        if system in STRADS_CONFIGS:
                            new = run_strads(private, system, STRADS_CONFIGS[system], data[name],
                                             k, strads_iters, strads_every, args, seed)
                        elif system == "tomotopy":
                            new = run_peer("tomotopy", data[name], k, tomotopy_checkpoints, args,
                                           seed)
                        else:
                            new = run_peer("lda", data[name], k, lda_checkpoints, args, seed)
                        if new is None:
                            print(f"{system} failed on {name}, K = {k}", file=sys.stderr)
                            continue
                        new.update(shape=name, topics=k, run=run, seed=seed,
                                   checkpoints=lda_checkpoints if system == "lda" else checkpoints)
                        raw.write(json.dumps(new) + "\n")
                        raw.flush()
                        last = new["trace"][-1] if new["trace"] else {}
                        print(f"  {name} K={k} {system}: {last}, peak "
                              f"{new['peak_rss_mib']:.0f} MiB", file=sys.stderr, flush=True)
                        records.append(new)
    shutil.rmtree(private_dir, ignore_errors=True)
    header = "\n".join([
        "# LDA benchmark" + (" (smoke test: tiny shapes, timings not results)" if args.quick else ""),
        "",
        f"- command: `{command}`",
        f"- machine: {machine_text}; date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}. Absolute "
        "timings on this VM vary from run to run (host noise): compare rows of one invocation.",
        f"- model: alpha {args.alpha}, beta {args.beta}; "
        + (f"every system with seeds 1 to {args.seeds}, each row the mean of the seeds' "
           "chains (seconds and log-likelihood per token at each traced iteration; the range "
           "column gives the seeds' lowest and highest log-likelihood)"
           if args.seeds > 1 else "seed 1")
        + f"; Strads `--mh-steps "
        f"{args.mh_steps}` where it samples with MH), {strads_iters} iterations, log-likelihood "
        f"every {strads_every}; tomotopy 2 workers, {tomotopy_iters} iterations, log-likelihood "
        f"every {every} (and at the checkpoints).",
        "- train s: training seconds, loading excluded (tomotopy's first `train` call includes "
        "its set-up); Strads's with the log-likelihood evaluations subtracted (see "
        "bench/README.md). loglik/token = log p(w, z) / N, the same formula for every system, "
        "the peers' computed from their own topic assignments.",
        "- time to quality: interpolated linearly between the two trace points around the "
        "crossing; ratio = tomotopy's time / this system's time to the same quality.",
        "- peak MiB: the whole process tree's peak resident memory (bench/benchlib.py), of the "
        "untraced run for Strads; the peers' include bench/peers_lda.py's numpy copy of the "
        "corpus and its log-likelihood computation.",
    ])
    shapes_text = ["Shapes:", ""] + [f"- {n}: `{data[n].name}` = {describe(SHAPES[n])}"
                                     for n in names]
    text = render(records, header, shapes_text, quality_iters)
    out.write_text(text + "\n")
    print(text)
    print(f"wrote {out} and {jsonl}", file=sys.stderr)


if __name__ == "__main__":
    main()
