#!/usr/bin/env python3
"""Python package vs CLI vs scikit-learn: the time and peak memory of `strads.Lasso(...).fit(X, y)`
against `strads lasso`'s solve and scikit-learn's `Lasso`, on several data shapes, at the same
lambda ratios and tolerance, in one invocation.

    cargo build --release                          # target/release/strads
    pip install ./python                           # the strads package, in the python you run
    bench/setup.sh                                 # bench/venv: scikit-learn for the peer runs
    python bench/run_python.py                     # correlated, uncorrelated, diabetes
    python bench/run_python.py --quick             # 5000 x 10000 versions and diabetes

Shapes are bench/run_lasso.py's (generated into bench/data/ if missing): the correlated design
(100000 x 200000, 5M nonzeros), the uncorrelated one, and scikit-learn's bundled diabetes data
(442 x 10, dense). Every system runs in its own process, so each peak memory (the whole
process's resident high-water mark, bench/benchlib.py's `run_measured`) is its own; `--repeat`
rounds alternate the systems and the fastest run of each is kept:

- CLI: `strads lasso --data FILE --lambda-ratio R --tol TOL --threads T --json`; its
  `solve_seconds` (after loading) and `seconds` (load + solve);
- Python: a child python reads the file with scikit-learn's libsvm reader into a CSR matrix (not
  timed), converts it to the input format (not timed), then times the whole `fit` (checks,
  conversion to the library's column blocks, the solve) and reports the estimator's own
  `load_seconds_` (lambda_max; for CSR input also the transposition of the rows into the column
  blocks) and `solve_seconds_`. Sparse shapes are fitted from CSR and from CSC (whose columns
  are copied straight into the blocks); the dense shape from a numpy array and from CSC. Its peak
  includes the matrix it was given;
- scikit-learn: bench/peers.py (`Lasso(fit_intercept=False, alpha=lambda/n)`, warm-started refits
  until the same relative duality gap) in bench/venv. Its fit from the arrays in memory is its
  `prepare_seconds` (CSR -> CSC, which `Lasso.fit` would do itself on CSR input, and
  lambda_max) plus `solve_seconds` (all fits, from CSC).

Ratios: fit / CLI solve (issue 16's target: within 5%); scikit-learn's fit / the Python fit from
the same input (target: at least 3x), CSR against scikit-learn's prepare + solve and CSC (or
dense) against its solve alone. Writes a markdown table to bench/results/python.md
(python-quick.md with --quick) and the runs as .jsonl beside it.
"""

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from benchlib import machine, run_measured, select_shapes  # noqa: E402
from run_lasso import SHAPES, data_path, generate  # noqa: E402  the same data sets and generator

SHAPE_SETS = {
    "all": ["correlated", "uncorrelated", "diabetes"],
    "quick": ["quick-correlated", "quick-uncorrelated", "diabetes"],
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small shapes (the --shapes quick set)")
    p.add_argument("--shapes", default=None,
                   help="a shape set (all, quick) or shape names, comma separated, from: "
                        + ", ".join(SHAPES) + " [default: all; quick with --quick]")
    p.add_argument("--data", default=None, help="a libsvm file (the only shape, 'given')")
    p.add_argument("--ratios", default="0.1,0.01", help="lambda / lambda_max, comma separated")
    p.add_argument("--tol", type=float, default=1e-6, help="relative duality gap")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--systems", default="cli,python,sklearn", help="subset of cli,python,sklearn")
    p.add_argument("--strads", default=str(ROOT / "target" / "release" / "strads"))
    p.add_argument("--sklearn-python", default=str(BENCH / "venv" / "bin" / "python"),
                   help="python with scikit-learn for bench/peers.py (bench/setup.sh)")
    p.add_argument("--out", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal: one timed fit
    return p.parse_args()


def child_fit(spec):
    """In a fresh python: read the file into the input format (not timed), then time the fit."""
    import numpy as np
    from sklearn.datasets import load_svmlight_file

    import strads

    X, y = load_svmlight_file(spec["data"], dtype=np.float64, zero_based=False)
    if spec["format"] == "csc":
        X = X.tocsc()
    elif spec["format"] == "dense":
        X = X.toarray()
    else:
        X = X.tocsr()
    model = strads.Lasso(lambda_ratio=spec["ratio"], tol=spec["tol"], threads=spec["threads"])
    started = time.perf_counter()
    model.fit(X, y)
    fit_seconds = time.perf_counter() - started
    print(json.dumps(dict(fit_seconds=fit_seconds, solve_seconds=model.solve_seconds_,
                          load_seconds=model.load_seconds_, objective=model.objective_,
                          converged=bool(model.converged_))))


def measured(cmd):
    """The last JSON line of cmd's stdout, with its peak memory (MiB) and wall seconds; exits
    with cmd's stderr if it fails."""
    print("+ " + shlex.join(cmd), file=sys.stderr, flush=True)
    run = run_measured(cmd)
    lines = [line for line in run["stdout"].splitlines() if line.startswith("{")]
    if run["returncode"] != 0 or not lines:
        sys.exit(f"{shlex.join(cmd)} failed (exit {run['returncode']}):\n{run['stderr'][-2000:]}")
    return dict(json.loads(lines[-1]), peak_mib=run["peak_rss_mib"], wall=run["wall"])


def run_cli(args, data, ratio):
    r = measured([args.strads, "lasso", "--data", str(data), "--lambda-ratio", str(ratio), "--tol",
                  str(args.tol), "--threads", str(args.threads), "--json"])
    return dict(seconds=r["solve_seconds"], total=r["seconds"], objective=r["objective"],
                converged=r["converged"], peak_mib=r["peak_mib"])


def run_python(args, data, ratio, fmt):
    spec = dict(data=str(data), format=fmt, ratio=ratio, tol=args.tol, threads=args.threads)
    r = measured([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)])
    return dict(seconds=r["fit_seconds"], load=r["load_seconds"], solve=r["solve_seconds"],
                objective=r["objective"], converged=r["converged"], peak_mib=r["peak_mib"])


def run_sklearn(args, data, ratio):
    r = measured([args.sklearn_python, str(BENCH / "peers.py"), "--data", str(data), "--lambda-ratio",
                  str(ratio), "--tol", str(args.tol), "--solver", "sklearn", "--threads",
                  str(args.threads)])
    return dict(seconds=r["prepare_seconds"] + r["solve_seconds"], solve=r["solve_seconds"],
                objective=r["objective"], converged=r["converged"], peak_mib=r["peak_mib"])


def shape_rows(args, shape, data):
    """One row per ratio: every system's fastest run of --repeat."""
    formats = ["dense", "csc"] if shape == "diabetes" else ["csr", "csc"]
    systems = args.systems.split(",")
    rows = []
    for ratio in [float(r) for r in args.ratios.split(",")]:
        runs = {}
        for _ in range(args.repeat):
            if "cli" in systems:
                runs.setdefault("cli", []).append(run_cli(args, data, ratio))
            if "python" in systems:
                for fmt in formats:
                    runs.setdefault(fmt, []).append(run_python(args, data, ratio, fmt))
            if "sklearn" in systems:
                runs.setdefault("sklearn", []).append(run_sklearn(args, data, ratio))
        best = {system: min(r, key=lambda x: x["seconds"]) for system, r in runs.items()}
        rows.append(dict(shape=shape, ratio=ratio, formats=formats, **best))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def fmt_num(x, spec):
    return "—" if x is None else spec.format(x)


def render(args, rows):
    label = {"csr": "CSR", "csc": "CSC", "dense": "dense"}
    lines = [
        f"# Python `strads.Lasso.fit` vs `strads lasso` vs scikit-learn `Lasso` "
        f"({'quick' if args.quick else 'full'} shapes)",
        "",
        f"Command: `{shlex.join(['python', 'bench/run_python.py'] + sys.argv[1:])}`  ",
        f"Machine: {machine()}; {platform.python_implementation()} {platform.python_version()}; "
        f"{args.threads} threads, tol {args.tol}, fastest of {args.repeat} alternating rounds, each "
        "system in its own process.",
        "",
        "Seconds: CLI = its solve after loading (whole process in brackets); Python = the whole "
        "`fit` from the matrix in memory, per input format; scikit-learn = its `Lasso` fit from "
        "the CSR matrix (CSR -> CSC + all fits; the fits alone in brackets). Peak MiB: each "
        "process's resident high-water mark (each includes its data).",
        "",
        "| shape | λ/λmax | CLI solve s | fit A s | fit B s | scikit-learn s | fit A / CLI solve "
        "| fit B / CLI solve | scikit-learn / fit A | scikit-learn / fit B | peak MiB CLI / A / B / "
        "scikit-learn | objective rel. diff | converged |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    checks = []

    def get(row, system, key):
        return row[system][key] if system in row else None

    def ratio(num, den):
        return None if num is None or den is None or den <= 0 else num / den

    for r in rows:
        a, b = r["formats"]
        cli, sk = get(r, "cli", "seconds"), get(r, "sklearn", "seconds")
        sk_solve = get(r, "sklearn", "solve")
        fit_a, fit_b = get(r, a, "seconds"), get(r, b, "seconds")
        # scikit-learn from CSR converts to CSC inside its fit; from CSC or dense it does not.
        sk_vs_a = ratio(sk if a == "csr" else sk_solve, fit_a)
        sk_vs_b = ratio(sk_solve, fit_b)
        objectives = [r[s]["objective"] for s in ("cli", a, b) if s in r]
        diff = (max(objectives) - min(objectives)) / abs(objectives[0]) if len(objectives) > 1 else None
        converged = all(r[s]["converged"] for s in ("cli", a, b, "sklearn") if s in r)
        peaks = " / ".join(fmt_num(get(r, s, "peak_mib"), "{:.0f}") for s in ("cli", a, b, "sklearn"))
        lines.append(
            f"| {r['shape']} | {r['ratio']:g} | {fmt_num(cli, '{:.4f}')} "
            f"({fmt_num(get(r, 'cli', 'total'), '{:.3f}')}) | {label[a]} {fmt_num(fit_a, '{:.4f}')} | "
            f"{label[b]} {fmt_num(fit_b, '{:.4f}')} | {fmt_num(sk, '{:.4f}')} "
            f"({fmt_num(sk_solve, '{:.4f}')}) | {fmt_num(ratio(fit_a, cli), '{:.3f}')} | "
            f"{fmt_num(ratio(fit_b, cli), '{:.3f}')} | {fmt_num(sk_vs_a, '{:.1f}x')} | "
            f"{fmt_num(sk_vs_b, '{:.1f}x')} | {peaks} | {fmt_num(diff, '{:.1e}')} | {converged} |")
        best_fit = min(x for x in (fit_a, fit_b) if x is not None) if fit_a or fit_b else None
        checks.append(
            f"- {r['shape']} λ/λmax = {r['ratio']:g}: fastest Python fit / CLI solve = "
            f"{fmt_num(ratio(best_fit, cli), '{:.3f}')} (target at most 1.05); scikit-learn / Python "
            f"fit = {fmt_num(sk_vs_a, '{:.1f}x')} from {label[a]}, {fmt_num(sk_vs_b, '{:.1f}x')} from "
            f"{label[b]} (target at least 3x)")
    lines += ["", "Targets (issue 16):", ""] + checks
    return "\n".join(lines) + "\n"


def main():
    args = parse_args()
    if args.child:
        child_fit(json.loads(args.child))
        return
    if args.data:
        shapes = [("given", Path(args.data))]
    else:
        names = select_shapes(args.shapes or ("quick" if args.quick else "all"), SHAPES, SHAPE_SETS)
        shapes = []
        for name in names:
            path = data_path(name, SHAPES[name])
            generate(argparse.Namespace(strads=args.strads, python=args.sklearn_python), name,
                     SHAPES[name], path)
            shapes.append((name, path))
    rows = []
    for name, path in shapes:
        rows += shape_rows(args, name, path)
    table = render(args, rows)
    print(table)
    out = Path(args.out) if args.out else BENCH / "results" / ("python-quick.md" if args.quick else "python.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
