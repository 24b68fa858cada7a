#!/usr/bin/env python3
"""Python package vs CLI: the time of `strads.Lasso(...).fit(X, y)` against `strads lasso`'s
solve time on the lasso benchmark data, at the same lambda ratios and tolerance.

    cargo build --release                          # target/release/strads
    pip install ./python                           # the strads package, in the python you run
    python bench/run_python.py --quick             # 5000 x 10000 (the smoke-test data set)
    python bench/run_python.py                     # 100000 x 200000 (bench/README.md)

The data set is the one bench/run_lasso.py uses (generated into bench/data/ if missing). X is
read once with scikit-learn's libsvm reader (not timed), then for every ratio:

- CLI: `strads lasso --data FILE --lambda-ratio R --tol TOL --threads T --json`; its
  `solve_seconds` (after loading) and `seconds` (load + solve);
- Python: the whole `fit` from the matrix in memory (checks, conversion to the library's
  column blocks, the solve), timed around the call, and the estimator's own `load_seconds_`
  (lambda_max, and for CSR input the transposition of the rows into the column blocks) and
  `solve_seconds_`; once from the CSR matrix (its rows are transposed into the blocks) and once
  from the same matrix as CSC (converted before timing; its columns are copied straight into
  the blocks).

The ratio fit / CLI solve is what the issue asks about (within 5%). Runs alternate (CLI, Python
CSR, Python CSC) `--repeat` times and the fastest of each is kept (the load and solve columns
are the fastest CSC fit's). Writes a markdown table to
bench/results/python.md (python-quick.md with --quick).
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from run_lasso import SHAPES, data_path, generate  # noqa: E402  the same data sets and generator


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small data set (5000 x 10000)")
    p.add_argument("--ratios", default="0.1,0.01", help="lambda / lambda_max, comma separated")
    p.add_argument("--tol", type=float, default=1e-6, help="relative duality gap")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--strads", default=str(ROOT / "target" / "release" / "strads"))
    p.add_argument("--data", default=None, help="a libsvm file instead of the benchmark's")
    p.add_argument("--out", default=None)
    return p.parse_args()


def run_cli(args, data, ratio):
    cmd = [args.strads, "lasso", "--data", str(data), "--lambda-ratio", str(ratio), "--tol",
           str(args.tol), "--threads", str(args.threads), "--json"]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_python(args, X, y, ratio):  # X: CSR or CSC
    import strads

    model = strads.Lasso(lambda_ratio=ratio, tol=args.tol, threads=args.threads)
    started = time.perf_counter()
    model.fit(X, y)
    fit_seconds = time.perf_counter() - started
    return dict(fit_seconds=fit_seconds, solve_seconds=model.solve_seconds_,
                load_seconds=model.load_seconds_,
                objective=model.objective_, converged=model.converged_)


def main():
    args = parse_args()
    from sklearn.datasets import load_svmlight_file

    if args.data:
        data = Path(args.data)
    else:
        name = "quick-correlated" if args.quick else "correlated"
        data = data_path(name, SHAPES[name])
        generate(argparse.Namespace(strads=args.strads, python=sys.executable), name, SHAPES[name], data)
    started = time.perf_counter()
    X, y = load_svmlight_file(str(data))
    X = X.tocsr()
    X_csc = X.tocsc()
    print(f"read {X.shape} with {X.nnz} nonzeros in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)

    rows = []
    for ratio in [float(r) for r in args.ratios.split(",")]:
        cli_runs, csr_runs, py_runs = [], [], []
        for _ in range(args.repeat):
            cli_runs.append(run_cli(args, data, ratio))
            csr_runs.append(run_python(args, X, y, ratio))
            py_runs.append(run_python(args, X_csc, y, ratio))
        cli = min(cli_runs, key=lambda r: r["solve_seconds"])
        csr = min(csr_runs, key=lambda r: r["fit_seconds"])
        py = min(py_runs, key=lambda r: r["fit_seconds"])
        objective_diff = max(abs(r["objective"] - cli["objective"]) for r in (csr, py))
        rows.append(dict(
            ratio=ratio, cli_solve=cli["solve_seconds"], cli_total=cli["seconds"],
            csr_fit=csr["fit_seconds"], py_fit=py["fit_seconds"], py_solve=py["solve_seconds"],
            py_load=py["load_seconds"],
            csr_fit_over_cli_solve=csr["fit_seconds"] / cli["solve_seconds"],
            fit_over_cli_solve=py["fit_seconds"] / cli["solve_seconds"],
            objective_rel_diff=objective_diff / abs(cli["objective"]),
            converged=cli["converged"] and csr["converged"] and py["converged"],
        ))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    lines = [
        f"# Python `strads.Lasso.fit` vs `strads lasso` ({'quick' if args.quick else 'full'} data)",
        "",
        f"`{' '.join(sys.argv)}` on {platform.node()} ({platform.processor() or platform.machine()}), "
        f"{args.threads} threads, tol {args.tol}, fastest of {args.repeat}.",
        "",
        "| λ/λmax | CLI solve s | CLI total s | fit (CSR) s | fit (CSC) s | CSC load s | CSC solve s | fit (CSR) / CLI solve | fit (CSC) / CLI solve | objective rel. diff | converged |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['ratio']:g} | {r['cli_solve']:.3f} | {r['cli_total']:.3f} | {r['csr_fit']:.3f} | "
            f"{r['py_fit']:.3f} | {r['py_load']:.3f} | {r['py_solve']:.3f} | "
            f"{r['csr_fit_over_cli_solve']:.3f} | {r['fit_over_cli_solve']:.3f} | "
            f"{r['objective_rel_diff']:.1e} | {r['converged']} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    out = Path(args.out) if args.out else BENCH / "results" / ("python-quick.md" if args.quick else "python.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)


if __name__ == "__main__":
    main()
