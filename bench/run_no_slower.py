#!/usr/bin/env python3
"""No app gets slower: two strads binaries run interleaved on the bench data, same flags.

Issue 14 moved every solver loop onto shared drivers and one app runner; its proof is that no
app got slower. This runs an older binary (built from an earlier commit) and the current one on
each app's benchmark configuration, alternating old and new (old, new, new, old, ...) so that a
drift of the machine's speed hits both alike, and reports per case the median of each binary's
own solve time (the `--json` summary's `solve_seconds`, or `train_seconds` for lda), the whole
process's wall time and peak memory (`benchlib.run_measured`), the ratio new / old and the
answer of each (objective, test RMSE or log-likelihood), which must agree.

    git worktree add --detach /tmp/old <commit> && (cd /tmp/old && cargo build --release -p strads-cli)
    python3 bench/run_no_slower.py --old /tmp/old/target/release/strads --repeat 3

Data (gitignored, from the other drivers): bench/data/lasso-100000x200000.libsvm
(`run_lasso.py`), bench/data/mf.train/.test (`run_mf.py`), bench/data/ap/lda-bench.docword
(`run_ap.py`). A case whose data is missing is skipped and listed as such.
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchlib import machine, run_measured

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"

LASSO = DATA / "lasso-100000x200000.libsvm"
MF_TRAIN, MF_TEST = DATA / "mf.train", DATA / "mf.test"
LDA = DATA / "ap" / "lda-bench.docword"


def lasso(ratio, *flags):
    return ["lasso", "--data", str(LASSO), "--lambda-ratio", ratio, "--json", *flags]


def mf(algo, iters, *flags):
    return ["mf", "--train", str(MF_TRAIN), "--test", str(MF_TEST), "--algo", algo,
            "--iters", iters, "--json", *flags]


def lda(topics, iters, *flags):
    return ["lda", "--data", str(LDA), "--topics", topics, "--iters", iters, "--json", *flags]


def launch(processes, threads, command):
    return ["launch", "--processes", processes, "--threads", threads, "--", *command]


# (case, data file, strads arguments, the summary's time field, the summary's answer field)
CASES = [
    ("lasso 0.1, columns 1x2", LASSO, lasso("0.1", "--threads", "2"), "solve_seconds", "objective"),
    ("lasso 0.01, columns 1x2", LASSO, lasso("0.01", "--threads", "2"), "solve_seconds",
     "objective"),
    ("lasso 0.001, columns 1x2", LASSO, lasso("0.001", "--threads", "2"), "solve_seconds",
     "objective"),
    ("lasso 0.01, columns 2x1", LASSO, launch("2", "1", lasso("0.01")), "solve_seconds",
     "objective"),
    ("lasso 0.01, rows priority 1x2", LASSO, lasso("0.01", "--layout", "rows", "--threads", "2"),
     "solve_seconds", "objective"),
    ("mf ccd 10 it, 1x2", MF_TRAIN, mf("ccd", "10", "--threads", "2"), "solve_seconds",
     "rmse_test"),
    ("mf als 6 it, 1x2", MF_TRAIN, mf("als", "6", "--threads", "2"), "solve_seconds", "rmse_test"),
    ("mf sgd 10 it, 1x2", MF_TRAIN, mf("sgd", "10", "--threads", "2"), "solve_seconds",
     "rmse_test"),
    ("mf als 6 it, 2x1", MF_TRAIN, launch("2", "1", mf("als", "6")), "solve_seconds",
     "rmse_test"),
    ("lda K=50 100 it, 1x2", LDA, lda("50", "100", "--threads", "2"), "train_seconds",
     "loglik_per_token"),
    ("lda K=1000 20 it, 1x2", LDA, lda("1000", "20", "--threads", "2"), "train_seconds",
     "loglik_per_token"),
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old", required=True, help="the older strads binary")
    p.add_argument("--new", default=str(ROOT / "target" / "release" / "strads"),
                   help="the newer strads binary [default: target/release/strads]")
    p.add_argument("--repeat", type=int, default=3, help="runs of each binary per case")
    p.add_argument("--cases", default=None,
                   help="';'-separated substrings: run the cases whose name contains one")
    p.add_argument("--out", default=str(BENCH / "results" / "no-slower.md"))
    return p.parse_args()


def run_once(binary, args):
    result = run_measured([binary, *args], timeout=1800)
    if result["returncode"] != 0:
        sys.exit(f"{binary} {' '.join(args)} failed ({result['returncode']}):\n"
                 f"{result['stderr'][-2000:]}")
    return json.loads(result["stdout"].strip().splitlines()[-1]), result


def main():
    args = parse_args()
    # Private copies: someone rebuilding target/release/strads mid-run would mix binaries.
    tmp = Path(tempfile.mkdtemp(prefix="strads-no-slower-"))
    binaries = {}
    for label, path in (("old", args.old), ("new", args.new)):
        binaries[label] = str(tmp / f"strads-{label}")
        shutil.copy2(path, binaries[label])
    cases = CASES
    if args.cases:
        wanted = [w.strip() for w in args.cases.split(";")]
        cases = [c for c in CASES if any(w in c[0] for w in wanted)]
    rows, records, skipped = [], [], []
    for name, data, command, time_key, answer_key in cases:
        if not data.exists():
            skipped.append(f"{name} ({data.relative_to(ROOT)} missing)")
            continue
        runs = {"old": [], "new": []}
        for r in range(args.repeat):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for label in order:
                summary, measured = run_once(binaries[label], command)
                runs[label].append(dict(solve=summary[time_key], answer=summary[answer_key],
                                        wall=measured["wall"], peak=measured["peak_rss_mib"]))
                print(f"{name} [{label}] {time_key} {summary[time_key]:.3f} s, wall "
                      f"{measured['wall']:.2f} s, {answer_key} {summary[answer_key]}", flush=True)
        med = {label: {k: statistics.median(run[k] for run in rs) for k in ("solve", "wall", "peak")}
               for label, rs in runs.items()}
        answers = {label: rs[0]["answer"] for label, rs in runs.items()}
        ratio = med["new"]["solve"] / med["old"]["solve"]
        wall_ratio = med["new"]["wall"] / med["old"]["wall"]
        rows.append((name, med, answers, answer_key, ratio, wall_ratio))
        records.append(dict(case=name, command=command, time_field=time_key, runs=runs,
                            ratio_solve=ratio, ratio_wall=wall_ratio))
    out = Path(args.out)
    lines = [
        "# No app gets slower: old vs new binary, interleaved",
        "",
        f"`python3 bench/run_no_slower.py --old OLD --repeat {args.repeat}`; machine: {machine()}.",
        f"Old: `{args.old}`; new: `{args.new}`. Medians of {args.repeat} runs each; the solve time "
        "is the binary's own (`--json`), wall and peak are the whole process's.",
        "",
        "| case | old solve | new solve | new / old | old wall | new wall | wall new / old "
        "| old peak MiB | new peak MiB | answer old | answer new |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, med, answers, answer_key, ratio, wall_ratio in rows:
        lines.append(
            f"| {name} | {med['old']['solve']:.3f} s | {med['new']['solve']:.3f} s | {ratio:.3f} "
            f"| {med['old']['wall']:.2f} s | {med['new']['wall']:.2f} s | {wall_ratio:.3f} "
            f"| {med['old']['peak']:.0f} | {med['new']['peak']:.0f} "
            f"| {answer_key} {answers['old']:.8g} | {answers['new']:.8g} |")
    if skipped:
        lines += ["", "Skipped: " + "; ".join(skipped) + "."]
    out.write_text("\n".join(lines) + "\n")
    with open(out.with_suffix(".jsonl"), "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    print("\n".join(lines))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
