#!/usr/bin/env python3
"""STRADS-AP benchmark: the AP example programs against the hand-written Strads apps, their own
sequential versions and the peers users reach for, on several data shapes, in one invocation.

    bench/setup_mf.sh && bench/setup_lda.sh        # once: the peers' venvs (surprise, tomotopy)
    cargo build --release --workspace --examples   # strads + the AP examples
    python3 bench/run_ap.py                        # every shape (about 25 minutes)
    python3 bench/run_ap.py --quick                # small shapes (smoke test, a few minutes)
    python3 bench/run_ap.py --repeat 3             # every system 3 times, interleaved; the
                                                   # fastest run of each is reported

For each MF shape (`strads gen mf ...`): SGD matrix factorisation, rank 10, the same lambda,
step sizes and epochs everywhere:
  strads sgd 1x2   `strads mf --algo sgd --reg-scaling none --threads 2` (hand-written rotation)
  ap 1x2 / ap 1x1  `mf_sgd_ap --threads 2 / 1` (crates/ap/examples, STRADS-AP)
  sequential       `mf_sgd_sequential` (the same program before conversion)
  surprise         scikit-surprise SVD, seconds per epoch (it has no parallel SGD)
For each LDA shape (`strads gen lda ...`): collapsed Gibbs sampling, K topics, alpha 0.1, beta
0.01, the same iterations everywhere:
  strads 1x2       `strads lda --threads 2`
  ap 1x2 / ap 1x1  `lda_ap --threads 2 / 1`
  sequential       `lda_sequential`
  tomotopy         tomotopy LDAModel, 2 workers
Every run's peak resident memory is read by `/usr/bin/time -v` (maximum RSS of the process).
Writes bench/results/ap.md (tables with the targets of issue 12) and ap.jsonl (raw records).
Uses only the standard library (peers run in their venvs).
"""

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RELEASE = ROOT / "target" / "release"

MF_SHAPES = {
    # The MF benchmark's shape (bench/run_mf.py): mild popularity skew.
    "mf-bench": dict(users=200_000, items=20_000, ratings=10_000_000, skew=0.5),
    # More items than users' share of them, strong skew: bigger H blocks, uneven rows.
    "mf-skewed": dict(users=100_000, items=50_000, ratings=5_000_000, skew=1.0),
    # More items than users: the item factors are pinned and the user factors rotate.
    "mf-wide": dict(users=40_000, items=120_000, ratings=4_000_000, skew=0.8),
}
MF_QUICK = {
    "mf-quick": dict(users=20_000, items=2_000, ratings=500_000, skew=0.5),
    "mf-quick-skewed": dict(users=10_000, items=5_000, ratings=300_000, skew=1.0),
}
LDA_SHAPES = {
    # The LDA benchmark's corpus (bench/run_lda.py): 4M tokens.
    "lda-bench": dict(docs=20_000, vocab=20_000, topics=50, doc_length=200),
    # Fewer, longer documents over a larger vocabulary: 4M tokens.
    "lda-long": dict(docs=5_000, vocab=50_000, topics=50, doc_length=800),
}
LDA_QUICK = {
    "lda-quick": dict(docs=2_000, vocab=5_000, topics=20, doc_length=100),
    "lda-quick-long": dict(docs=500, vocab=10_000, topics=20, doc_length=400),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small shapes (smoke test)")
    p.add_argument("--apps", default="mf,lda")
    p.add_argument("--epochs", type=int, default=10, help="MF epochs per run")
    p.add_argument("--lambda", dest="reg", type=float, default=0.05)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--lr-decay", type=float, default=0.1)
    p.add_argument("--iters", type=int, default=50, help="LDA iterations per run")
    p.add_argument("--topics", type=int, default=50)
    p.add_argument("--systems", default=None,
                   help="comma-separated subset of the systems (default: all)")
    p.add_argument("--mf-python", default=str(BENCH / "venv-mf" / "bin" / "python"))
    p.add_argument("--lda-python", default=str(BENCH / "venv-lda" / "bin" / "python"))
    p.add_argument("--out", default=None, help="markdown output [default bench/results/ap.md]")
    p.add_argument("--repeat", type=int, default=1,
                   help="rounds of every system on a shape, interleaved; each system's fastest "
                        "run is kept (this VM's timings vary by up to 20%% from run to run)")
    p.add_argument("--render-only", action="store_true",
                   help="run nothing: render the markdown again from the .jsonl of the last run")
    return p.parse_args()


def binaries(tmp):
    """Private copies, so that a concurrent `cargo build` cannot change them mid-benchmark."""
    paths = {}
    for name, path in [("strads", RELEASE / "strads"),
                       ("mf_sgd_ap", RELEASE / "examples" / "mf_sgd_ap"),
                       ("mf_sgd_sequential", RELEASE / "examples" / "mf_sgd_sequential"),
                       ("lda_ap", RELEASE / "examples" / "lda_ap"),
                       ("lda_sequential", RELEASE / "examples" / "lda_sequential")]:
        if not path.exists():
            sys.exit(f"{path} is missing: run `cargo build --release --workspace --examples`")
        copy = Path(tmp) / name
        shutil.copy2(path, copy)
        paths[name] = str(copy)
    return paths


def timed(cmd):
    """Runs `cmd` under /usr/bin/time -v; returns (stdout, wall seconds, peak RSS in MiB)."""
    print("+", shlex.join(cmd), file=sys.stderr, flush=True)
    started = time.time()
    done = subprocess.run(["/usr/bin/time", "-v"] + cmd, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    wall = time.time() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"failed ({done.returncode}): {shlex.join(cmd)}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return done.stdout, wall, (int(rss.group(1)) / 1024 if rss else None)


def last_json(stdout):
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def generate(strads, kind, name, spec):
    data = BENCH / "data" / "ap"
    data.mkdir(parents=True, exist_ok=True)
    if kind == "mf":
        prefix = data / name
        if not Path(f"{prefix}.train").exists():
            subprocess.run([strads, "gen", "mf", "--users", str(spec["users"]), "--items",
                            str(spec["items"]), "--ratings", str(spec["ratings"]), "--rank",
                            "10", "--noise", "0.5", "--skew", str(spec["skew"]), "--seed", "1",
                            "--test-fraction", "0.1", "--out", str(prefix)], check=True,
                           stdout=subprocess.DEVNULL)
        return Path(f"{prefix}.train"), Path(f"{prefix}.test")
    path = data / f"{name}.docword"
    if not path.exists():
        subprocess.run([strads, "gen", "lda", "--docs", str(spec["docs"]), "--vocab",
                        str(spec["vocab"]), "--topics", str(spec["topics"]), "--doc-length",
                        str(spec["doc_length"]), "--seed", "1", "--out", str(path)], check=True,
                       stdout=subprocess.DEVNULL)
    return path


def mf_runs(args, bins, shape, train, test):
    common = ["--rank", "10", "--lambda", str(args.reg), "--lr", str(args.lr), "--lr-decay",
              str(args.lr_decay), "--seed", "1"]
    example = ["--train", str(train), "--test", str(test), "--epochs", str(args.epochs)] + common
    runs = {
        "strads sgd 1x2": [bins["strads"], "mf", "--algo", "sgd", "--reg-scaling", "none",
                           "--threads", "2", "--train", str(train), "--test", str(test),
                           "--iters", str(args.epochs), "--json"] + common,
        "ap 1x2": [bins["mf_sgd_ap"], "--threads", "2"] + example,
        "ap 1x1": [bins["mf_sgd_ap"], "--threads", "1"] + example,
        "sequential": [bins["mf_sgd_sequential"]] + example,
    }
    records = []
    for system, cmd in runs.items():
        if args.systems and system not in args.systems:
            continue
        out, wall, rss = timed(cmd)
        summary = last_json(out)
        if system.startswith("strads"):
            per_epoch = summary["seconds_per_iteration"]
            later = None
            rmse = summary["rmse_test"]
        else:
            per_epoch = summary["seconds_per_epoch"]
            later = summary.get("seconds_per_epoch_after_the_first")
            rmse = summary["rmse_test"]
        records.append(dict(app="mf", shape=shape, system=system, wall_seconds=wall,
                            seconds_per_epoch=per_epoch, seconds_per_epoch_after_first=later,
                            rmse_test=rmse, peak_mib=rss, command=shlex.join(cmd)))
    if not args.systems or "surprise" in args.systems:
        cmd = [args.mf_python, str(BENCH / "peers_mf.py"), "surprise", "--train", str(train),
               "--test", str(test), "--rank", "10", "--lambda", str(args.reg), "--epochs", "2"]
        out, wall, rss = timed(cmd)
        lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
        peer = lines[-1]
        records.append(dict(app="mf", shape=shape, system="surprise", wall_seconds=wall,
                            seconds_per_epoch=peer.get("seconds_per_epoch"),
                            rmse_test=peer.get("rmse_test"), peak_mib=rss,
                            command=shlex.join(cmd), raw=lines))
    return records


def lda_runs(args, bins, shape, corpus, k):
    common = ["--topics", str(k), "--alpha", "0.1", "--beta", "0.01", "--iters",
              str(args.iters), "--seed", "1"]
    example = ["--data", str(corpus)] + common
    runs = {
        "strads 1x2": [bins["strads"], "lda", "--threads", "2", "--data", str(corpus), "--json"]
        + common,
        "ap 1x2": [bins["lda_ap"], "--threads", "2"] + example,
        "ap 1x1": [bins["lda_ap"], "--threads", "1"] + example,
        "sequential": [bins["lda_sequential"]] + example,
    }
    records = []
    for system, cmd in runs.items():
        if args.systems and system not in args.systems:
            continue
        out, wall, rss = timed(cmd)
        summary = last_json(out)
        records.append(dict(app="lda", shape=shape, system=system, wall_seconds=wall,
                            tokens_per_second=summary.get("tokens_per_second"),
                            loglik_per_token=summary.get("loglik_per_token",
                                                         summary.get("log_likelihood_per_token")),
                            peak_mib=rss, command=shlex.join(cmd)))
    if not args.systems or "tomotopy" in args.systems:
        cmd = [args.lda_python, str(BENCH / "peers_lda.py"), "--system", "tomotopy", "--data",
               str(corpus), "--topics", str(k), "--alpha", "0.1", "--beta", "0.01",
               "--checkpoints", str(args.iters), "--workers", "2", "--seed", "1"]
        out, wall, rss = timed(cmd)
        peer = [json.loads(x) for x in out.splitlines() if x.startswith("{")][-1]
        records.append(dict(app="lda", shape=shape, system="tomotopy", wall_seconds=wall,
                            tokens_per_second=peer.get("tokens_per_second"),
                            loglik_per_token=peer.get("loglik_per_token"), peak_mib=rss,
                            command=shlex.join(cmd)))
    return records


def speed(record):
    """Higher is faster: MF's seconds per epoch negated, LDA's tokens/s."""
    if record["app"] == "mf":
        return -(record.get("seconds_per_epoch") or float("inf"))
    return record.get("tokens_per_second") or 0.0


def fastest(rounds):
    """Each system's fastest run over the rounds, with the number of runs beside it."""
    runs = {}
    for records in rounds:
        for r in records:
            runs.setdefault(r["system"], []).append(r)
    return [dict(max(rs, key=speed), runs=len(rs)) for rs in runs.values()]


def fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def render(args, records, shapes, command):
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"
    load = os.getloadavg()[0]
    lines = ["# STRADS-AP benchmark\n",
             f"Command: `{command}`  \nMachine: {machine}; load average {load:.1f} at the end. "
             "Timings on this VM vary from run to run (up to 20%): compare rows of one "
             "invocation. "
             + (f"Every system ran {args.repeat} times per shape, interleaved; each row is its "
                "fastest run.\n" if args.repeat > 1 else "\n")]
    for shape, (kind, spec) in shapes.items():
        rows = [r for r in records if r["shape"] == shape]
        if not rows:
            continue
        by = {r["system"]: r for r in rows}
        if kind == "mf":
            lines.append(f"## MF SGD, `{shape}`: `strads gen mf --users {spec['users']} --items "
                         f"{spec['items']} --ratings {spec['ratings']} --rank 10 --noise 0.5 "
                         f"--skew {spec['skew']} --seed 1 --test-fraction 0.1`; rank 10, "
                         f"lambda {args.reg}, lr {args.lr}, decay {args.lr_decay}, "
                         f"{args.epochs} epochs\n")
            lines.append("| system | s / epoch | s / epoch after the first | whole run s | "
                         "test RMSE | peak MiB |")
            lines.append("|---|---|---|---|---|---|")
            for r in rows:
                lines.append(f"| {r['system']} | {fmt(r['seconds_per_epoch'])} | "
                             f"{fmt(r.get('seconds_per_epoch_after_first'))} | "
                             f"{fmt(r['wall_seconds'], 1)} | {fmt(r['rmse_test'], 4)} | "
                             f"{fmt(r['peak_mib'], 0)} |")
            ap, hand, seq = by.get("ap 1x2"), by.get("strads sgd 1x2"), by.get("sequential")
            sur = by.get("surprise")
            lines.append("")
            if ap and hand:
                lines.append(f"- AP epoch time / strads mf sgd: "
                             f"{fmt(ratio(ap['seconds_per_epoch'], hand['seconds_per_epoch']), 2)}x"
                             f" (all epochs), {fmt(ratio(ap['seconds_per_epoch_after_first'], hand['seconds_per_epoch']), 2)}x"
                             f" (after the first; target at most 1.25x); test RMSE "
                             f"{fmt(100 * (ap['rmse_test'] / hand['rmse_test'] - 1), 2)}% apart"
                             f" (target within 1%)")
                lines.append(f"- AP peak memory / strads mf sgd: "
                             f"{fmt(ratio(ap['peak_mib'], hand['peak_mib']), 2)}x (target at most 1.3x)")
            if ap and sur:
                lines.append(f"- surprise epoch / AP epoch: "
                             f"{fmt(ratio(sur['seconds_per_epoch'], ap['seconds_per_epoch']), 1)}x "
                             f"(target at least 3x)")
            if ap and seq:
                lines.append(f"- sequential / AP on 2 workers, whole run: "
                             f"{fmt(ratio(seq['wall_seconds'], ap['wall_seconds']), 2)}x; per "
                             f"epoch: {fmt(ratio(seq['seconds_per_epoch'], ap['seconds_per_epoch']), 2)}x; "
                             f"per epoch after the first: "
                             f"{fmt(ratio(seq['seconds_per_epoch_after_first'], ap['seconds_per_epoch_after_first']), 2)}x "
                             f"(target at least 1.8x)")
        else:
            lines.append(f"## LDA, `{shape}`: `strads gen lda --docs {spec['docs']} --vocab "
                         f"{spec['vocab']} --topics {spec['topics']} --doc-length "
                         f"{spec['doc_length']} --seed 1`; K = {args.topics if not args.quick else spec['topics']}, "
                         f"alpha 0.1, beta 0.01, {args.iters} iterations\n")
            lines.append("| system | tokens/s (M) | whole run s | loglik/token | peak MiB |")
            lines.append("|---|---|---|---|---|")
            for r in rows:
                tps = r["tokens_per_second"]
                lines.append(f"| {r['system']} | {fmt(tps / 1e6 if tps else None, 2)} | "
                             f"{fmt(r['wall_seconds'], 1)} | {fmt(r['loglik_per_token'], 4)} | "
                             f"{fmt(r['peak_mib'], 0)} |")
            ap, hand, seq = by.get("ap 1x2"), by.get("strads 1x2"), by.get("sequential")
            tomo = by.get("tomotopy")
            lines.append("")
            if ap and hand:
                lines.append(f"- AP tokens/s / strads lda: "
                             f"{fmt(ratio(ap['tokens_per_second'], hand['tokens_per_second']), 2)}x "
                             f"(target at least 0.8x); loglik/token "
                             f"{fmt(100 * (ap['loglik_per_token'] / hand['loglik_per_token'] - 1), 2)}% apart"
                             f" (target within 1%)")
                lines.append(f"- AP peak memory / strads lda: "
                             f"{fmt(ratio(ap['peak_mib'], hand['peak_mib']), 2)}x (target at most 1.3x)")
            if ap and tomo:
                lines.append(f"- AP tokens/s / tomotopy: "
                             f"{fmt(ratio(ap['tokens_per_second'], tomo['tokens_per_second']), 2)}x "
                             f"(target at least 1.2x)")
            if ap and seq:
                lines.append(f"- AP on 2 workers / sequential, tokens/s: "
                             f"{fmt(ratio(ap['tokens_per_second'], seq['tokens_per_second']), 2)}x; "
                             f"whole run: {fmt(ratio(seq['wall_seconds'], ap['wall_seconds']), 2)}x "
                             f"(target at least 1.8x)")
        lines.append("")
    return "\n".join(lines)


def main():
    args = parse_args()
    if args.systems:
        args.systems = set(args.systems.split(","))
    apps = args.apps.split(",")
    shapes = {}
    if "mf" in apps:
        shapes.update({k: ("mf", v) for k, v in (MF_QUICK if args.quick else MF_SHAPES).items()})
    if "lda" in apps:
        shapes.update({k: ("lda", v) for k, v in (LDA_QUICK if args.quick else LDA_SHAPES).items()})
    command = "python3 bench/run_ap.py " + shlex.join(a for a in sys.argv[1:] if a != "--render-only")
    out = Path(args.out) if args.out else BENCH / "results" / ("ap-quick.md" if args.quick else "ap.md")
    if args.render_only:
        with open(out.with_suffix(".jsonl")) as f:
            records = [json.loads(line) for line in f if line.strip()]
        text = render(args, records, shapes, command)
        out.write_text(text + "\n")
        print(text)
        return
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        bins = binaries(tmp)
        for shape, (kind, spec) in shapes.items():
            rounds = []
            for _ in range(max(args.repeat, 1)):
                if kind == "mf":
                    train, test = generate(bins["strads"], "mf", shape, spec)
                    rounds.append(mf_runs(args, bins, shape, train, test))
                else:
                    corpus = generate(bins["strads"], "lda", shape, spec)
                    k = spec["topics"] if args.quick else args.topics
                    rounds.append(lda_runs(args, bins, shape, corpus, k))
            records += fastest(rounds)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    text = render(args, records, shapes, command)
    out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
