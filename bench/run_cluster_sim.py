#!/usr/bin/env python3
"""A real cluster, simulated (issue 17, part 5): each app as 4 processes of 1 worker thread, one
per network namespace, joined by an emulated 1 Gbit/s switch with 0.5 ms (and 2 ms) one-way
latency, against the same 4 processes on loopback; bytes sent per worker and time per iteration,
and a model of time per iteration at 16 and 64 machines fitted from them.

    cargo build --release -p strads-cli          # target/release/strads
    python3 bench/run_cluster_sim.py             # as root (namespaces); ~10 min on 2 cores
    python3 bench/run_cluster_sim.py --render bench/results/cluster-sim.jsonl

How the network is emulated, and what is not: bench/netsim.py (this kernel has no netem: a
userspace switch between TUN devices holds every packet for the latency and serialises it on the
sender's uplink and the receiver's downlink at the bandwidth).

Every measurement is a difference of two runs of the same command, N1 and N2 iterations (the
app's unit: a lasso round, an mf or lda iteration, a word2vec epoch, an mlr L-BFGS iteration), so
that loading, forming the cluster, moving data to its owners and the first iteration's warm-up
cancel out: time per iteration = (solve seconds at N2 - at N1) / (units at N2 - at N1), and the
same for bytes (the app's own `bytes_sent`, process 0's payload bytes, and the switch's IP bytes
per host) and CPU seconds (user + system, each process's rusage). Runs: loopback with 2, 3 and 4
processes (how bytes and CPU grow with the machine count), and 4 processes in the namespaces at
each emulated latency, interleaved. Writes bench/results/cluster-sim.md and .jsonl.

Uses only the standard library (and bench/benchlib.py, bench/netsim.py).
"""

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from benchlib import machine  # noqa: E402
from netsim import Network  # noqa: E402

DATA = BENCH / "data" / "cluster-sim"
BITS_PER_SECOND = 1e9
RUN_TIMEOUT = 600

# Per app: generator arguments (--out is added), the data file, the solver's arguments for N
# units, the unit, the summary's field with the units done and the one with the solving time,
# the two lengths N1 < N2, and how rounds (synchronisations) per unit grow with P, from the code:
#   lasso (columns layout): one all-gather of every worker's change of the rows per round;
#   mf (ccd): per rank-one term, a W-side and an H-side exchange of the rows others need;
#   lda: an iteration is P sub-rounds of the vocabulary rotation, each one exchange;
#   word2vec: one merge per pack of --sync-words words per worker, at least 16 per epoch
#     (this corpus: 1M words / (P x 200,000) < 16 at every P, so always 16);
#   mlr (L-BFGS): one gradient sum per function evaluation.
APPS = {
    "lasso": dict(
        gen=["gen", "lasso", "--rows", "100000", "--cols", "200000", "--nnz-per-row", "50",
             "--support", "1000", "--corr", "0.5", "--group", "10", "--seed", "1"],
        file="lasso.libsvm",
        solve=lambda f, n: ["lasso", "--data", f, "--lambda-ratio", "0.01", "--tol", "1e-14",
                            "--max-iters", str(n)],
        unit="round", units="rounds", seconds="solve_seconds", lengths=(4, 12),
        rounds_growth="constant"),
    "mf": dict(
        gen=["gen", "mf", "--users", "200000", "--items", "20000", "--ratings", "5000000",
             "--rank", "10", "--noise", "0.5", "--seed", "1"],
        file="mf", data_suffix=".train",
        solve=lambda f, n: ["mf", "--train", f + ".train", "--rank", "10", "--algo", "ccd",
                            "--iters", str(n)],
        unit="iteration", units="iterations", seconds="solve_seconds", lengths=(2, 6),
        rounds_growth="constant"),
    "lda": dict(
        gen=["gen", "lda", "--docs", "20000", "--vocab", "20000", "--topics", "50",
             "--doc-length", "200", "--seed", "1"],
        file="lda.docword",
        solve=lambda f, n: ["lda", "--data", f, "--topics", "50", "--iters", str(n),
                            "--loglik-every", "1000"],
        unit="iteration", units="iterations", seconds="train_seconds", lengths=(3, 9),
        rounds_growth="P"),
    "word2vec": dict(
        gen=["gen", "text", "--clusters", "500", "--words-per-cluster", "40", "--fillers",
             "100", "--sentence-length", "20", "--sentences", "50000"],
        file="text.txt",
        solve=lambda f, n: ["word2vec", "--data", f, "--epochs", str(n), "--out", f + ".vec"],
        unit="epoch", units="epochs", seconds="train_seconds", lengths=(1, 3),
        rounds_growth="constant"),
    "mlr": dict(
        gen=["gen", "mlr", "--rows", "200000", "--test-rows", "0", "--classes", "10",
             "--features", "20000", "--nnz-per-row", "20", "--seed", "1"],
        file="mlr.libsvm",
        solve=lambda f, n: ["mlr", "--data", f, "--tol", "1e-30", "--max-iters", str(n)],
        unit="iteration", units="iterations", seconds="solve_seconds", lengths=(10, 30),
        rounds_growth="constant"),
}

# --quick: tiny inputs to check that the script works (results to smoke-cluster-sim.md, not
# results): generator arguments replaced.
QUICK_GEN = {
    "lasso": ["gen", "lasso", "--rows", "2000", "--cols", "4000", "--nnz-per-row", "20",
              "--support", "50", "--seed", "1"],
    "mf": ["gen", "mf", "--users", "2000", "--items", "500", "--ratings", "50000", "--seed", "1"],
    "lda": ["gen", "lda", "--docs", "500", "--vocab", "1000", "--topics", "10", "--doc-length",
            "50", "--seed", "1"],
    "word2vec": ["gen", "text", "--clusters", "20", "--words-per-cluster", "20", "--fillers",
                 "20", "--sentence-length", "10", "--sentences", "2000"],
    "mlr": ["gen", "mlr", "--rows", "2000", "--test-rows", "0", "--classes", "5", "--features",
            "200", "--nnz-per-row", "10", "--seed", "1"],
}

# Candidate laws for bytes per worker per unit as a function of the machine count P, fitted to
# the loopback runs at P = 2, 3, 4 (the one with the smallest largest relative error is kept):
# "P-1": every worker sends its whole contribution to every other (an all-gather by direct
# sends); "(P-1)/P": it sends a 1/P share to each of the others, or its whole 1/P share of
# something to all (a rotation, a sharded all-gather); "constant"; "1/P".
LAWS = {
    "constant": lambda p: 1.0,
    "(P-1)/P": lambda p: (p - 1) / p,
    "P-1": lambda p: p - 1.0,
    "1/P": lambda p: 1.0 / p,
    "(P-1)/P^2": lambda p: (p - 1) / p / p,
}
ROUND_LAWS = {"constant": lambda p: 1.0, "P": lambda p: float(p)}


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Runner:
    def __init__(self, binary, tmp):
        self.binary = binary
        self.tmp = Path(tmp)
        self.port = 7100
        self.live = []

    def run(self, app, n, processes, net=None):
        """Runs app for n units as `processes` processes, on loopback (net None) or one per
        namespace of net. Returns the record of the run."""
        spec = APPS[app]
        solve = spec["solve"](str(DATA / spec["file"]), n)
        if net is None:
            hosts = [f"127.0.0.1:{p}" for p in free_ports(processes)]
        else:
            self.port += 1  # a fresh port each run: no wait for the last run's closed sockets
            hosts = [f"{net.address(i)}:{self.port}" for i in range(processes)]
        hosts_file = self.tmp / "hosts.txt"
        hosts_file.write_text("".join(h + "\n" for h in hosts))
        env = dict(os.environ, STRADS_SECRET=os.urandom(32).hex())
        counters = net.counters() if net is not None else None
        outs, procs = [], []
        started = time.perf_counter()
        for i in range(processes):
            cmd = [self.binary] + solve + ["--threads", "1", "--processes", str(processes),
                                           "--process", str(i), "--hosts", str(hosts_file),
                                           "--json"]
            out = open(self.tmp / f"out{i}", "w+")
            err = open(self.tmp / f"err{i}", "w+")
            outs.append((out, err))
            kwargs = dict(stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                          start_new_session=True)
            p = net.popen(i, cmd, **kwargs) if net is not None else subprocess.Popen(cmd, **kwargs)
            procs.append(p)
            self.live.append(p)
        cpu, codes = [None] * processes, [None] * processes
        deadline = started + RUN_TIMEOUT
        while None in codes:
            for i, p in enumerate(procs):
                if codes[i] is None:
                    pid, status, usage = os.wait4(p.pid, os.WNOHANG)
                    if pid:
                        codes[i] = p.returncode = os.waitstatus_to_exitcode(status)
                        self.live.remove(p)
                        cpu[i] = usage.ru_utime + usage.ru_stime
                        if codes[i] != 0:
                            # The others notice a lost peer within their peer timeout; do not
                            # wait for that.
                            deadline = min(deadline, time.perf_counter() + 5)
            if None in codes and time.perf_counter() > deadline:
                self.kill_live()
                codes = [-9 if c is None else c for c in codes]
            time.sleep(0.01)
        wall = time.perf_counter() - started
        texts = []
        for out, err in outs:
            out.seek(0)
            err.seek(0)
            texts.append((out.read(), err.read()))
            out.close()
            err.close()
        if any(codes):
            raise RuntimeError(f"{app} exited {codes}: {shlex.join(cmd)}\n"
                               + "\n".join(e[-2000:] for _, e in texts))
        summary = json.loads(texts[0][0].strip().splitlines()[-1])
        record = dict(app=app, n=n, processes=processes,
                      network="loopback" if net is None else f"{net.latency * 1e3:g} ms",
                      latency=None if net is None else net.latency,
                      summary=summary, cpu=cpu, wall=wall,
                      command=shlex.join(["strads"] + solve + ["--threads", "1", "--processes",
                                                               "P", "--process", "I", "--hosts",
                                                               "HOSTS", "--json"]
                                         ).replace(str(ROOT) + "/", ""))
        if net is not None:
            after = net.counters()
            record["switch"] = {k: ([a - b for a, b in zip(after[k], counters[k])]
                                    if isinstance(after[k], list) else after[k] - counters[k])
                                for k in after}
            record["switch"]["late_seconds_max"] = after["late_seconds_max"]  # this run's
        print(f"  {app} n={n} P={processes} {record['network']}: "
              f"{summary[spec['seconds']]:.2f} s solving, {summary[spec['units']]} {spec['units']}, "
              f"wall {wall:.1f} s, cpu {', '.join(f'{c:.1f}' for c in cpu)}", file=sys.stderr,
              flush=True)
        return record

    def kill_live(self):
        for p in self.live:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.wait()
        self.live = []


def generator(app, quick):
    """The `strads gen` arguments of app's data (without --out)."""
    return QUICK_GEN[app] if quick else APPS[app]["gen"]


def ensure_data(binary, app, quick):
    spec = APPS[app]
    target = DATA / (spec["file"] + spec.get("data_suffix", ""))
    if not target.exists():
        cmd = [binary] + generator(app, quick) + ["--out", str(DATA / spec["file"])]
        print("+", shlex.join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return target


# ---- analysis ---------------------------------------------------------------------------------

def per_unit(short, long, spec):
    """Differences of two runs (N2 - N1), per unit."""
    s, l = short["summary"], long["summary"]
    du = l[spec["units"]] - s[spec["units"]]
    out = dict(units=du,
               seconds=(l[spec["seconds"]] - s[spec["seconds"]]) / du,
               app_bytes=(l["bytes_sent"] - s["bytes_sent"]) / du,
               cpu=[(b - a) / du for a, b in zip(short["cpu"], long["cpu"])])
    if "switch" in long:
        for k in ("sent_bytes", "received_bytes"):
            out[k] = [(b - a) / du for a, b in zip(short["switch"][k], long["switch"][k])]
        late = [r["switch"] for r in (short, long)]
        out["late_mean_us"] = 1e6 * sum(x["late_seconds_sum"] for x in late) / max(
            1, sum(x["delivered"] for x in late))
        out["late_max_us"] = 1e6 * max(x["late_seconds_max"] for x in late)
    return out


def pairs(records, app, processes, network):
    """Every (short, long) pair of one configuration, in run order."""
    spec = APPS[app]
    n1, n2 = spec["lengths"]
    match = [r for r in records
             if r["app"] == app and r["processes"] == processes and r["network"] == network]
    shorts = [r for r in match if r["n"] == n1]
    longs = [r for r in match if r["n"] == n2]
    return [per_unit(s, l, spec) for s, l in zip(shorts, longs)]


def median(xs):
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def fit_law(points):
    """points: {P: bytes}. The law of LAWS with the smallest largest relative error, the scale
    (least squares in relative terms) and that error."""
    best = None
    for name, law in LAWS.items():
        xs = [(law(p), b) for p, b in points.items()]
        # minimise sum ((c x - b) / b)^2: c = sum(x / b) / sum(x^2 / b^2)
        c = sum(x / b for x, b in xs) / sum((x / b) ** 2 for x, b in xs) if all(
            b > 0 for _, b in xs) else 0.0
        error = max(abs(c * x - b) / b for x, b in xs) if c else float("inf")
        if best is None or error < best[2]:
            best = (name, c, error)
    return best


def fit_compute(points):
    """points: {P: CPU s per worker per unit}. Least squares a + b / P."""
    xs = [(1.0 / p, c) for p, c in points.items()]
    n = len(xs)
    mx = sum(x for x, _ in xs) / n
    my = sum(y for _, y in xs) / n
    sxx = sum((x - mx) ** 2 for x, _ in xs)
    b = sum((x - mx) * (y - my) for x, y in xs) / sxx if sxx else 0.0
    return my - b * mx, b


def analyse(records, latencies):
    """Per app: the measured figures and the fitted model."""
    rows = []
    for app, spec in APPS.items():
        if not any(r["app"] == app for r in records):
            continue
        row = dict(app=app, unit=spec["unit"])
        loop = {p: pairs(records, app, p, "loopback") for p in (2, 3, 4)}
        loop = {p: v for p, v in loop.items() if v}
        row["app_bytes"] = {p: median([x["app_bytes"] for x in v]) for p, v in loop.items()}
        row["cpu"] = {p: median([sum(x["cpu"]) / len(x["cpu"]) for x in v])
                      for p, v in loop.items()}
        row["loop_seconds"] = median([x["seconds"] for x in loop[4]])
        row["loop_runs"] = [x["seconds"] for x in loop[4]]
        row["emulated"] = {}
        for latency in latencies:
            v = pairs(records, app, 4, f"{latency * 1e3:g} ms")
            if not v:
                continue
            row["emulated"][latency] = dict(
                seconds=median([x["seconds"] for x in v]),
                runs=[x["seconds"] for x in v],
                app_bytes=median([x["app_bytes"] for x in v]),
                port_bytes=median([max(max(x["sent_bytes"]), max(x["received_bytes"]))
                                   for x in v]),
                sent_bytes=[median(c) for c in zip(*[x["sent_bytes"] for x in v])],
                late_mean_us=median([x["late_mean_us"] for x in v]),
                late_max_us=max(x["late_max_us"] for x in v))
        row["port_bytes"] = {}
        if latencies:
            for p in (2, 3, 4):
                v = pairs(records, app, p, f"{min(latencies) * 1e3:g} ms")
                if v:
                    row["port_bytes"][p] = median(
                        [max(max(x["sent_bytes"]), max(x["received_bytes"])) for x in v])
        # The law is fitted on the busiest port's bytes when they were measured at several P
        # (--scaling-emulated), else on process 0's payload bytes.
        basis = row["port_bytes"] if len(row["port_bytes"]) >= 2 else row["app_bytes"]
        row["law_basis"] = "busiest port" if basis is row["port_bytes"] else "process 0"
        if len(basis) >= 2:
            row["law"] = fit_law({p: b for p, b in basis.items() if b > 0}) \
                if all(b > 0 for b in basis.values()) else ("constant", 0.0, 0.0)
        if len(row["cpu"]) >= 2:
            row["compute"] = fit_compute(row["cpu"])
        rows.append(row)
    return rows


def effective_latency(emulated, latency):
    """One-way latency in effect during an app's runs: the latency set plus how late the switch
    delivered packets on average (its timer wake-ups under load)."""
    return latency + emulated[latency]["late_mean_us"] * 1e-6


def model(row, net_info, latencies):
    """Fits rounds per unit from the two emulated latencies and predicts P = 4, 16, 64.
    Returns None without the runs it needs."""
    em = row["emulated"]
    if len(em) < 2 or "law" not in row or "compute" not in row:
        return None
    low, high = sorted(em)[:2]
    l_low, l_high = effective_latency(em, low), effective_latency(em, high)
    rounds = (em[high]["seconds"] - em[low]["seconds"]) / (l_high - l_low)
    port4 = em[low]["port_bytes"]
    law_name, _, _ = row["law"]
    law = LAWS[law_name]
    round_law = ROUND_LAWS[APPS[row["app"]]["rounds_growth"]]
    a, b = row["compute"]
    out = dict(rounds=rounds, latency_low=l_low, latency_high=l_high, port4=port4,
               check_predicted=row["loop_seconds"] + port4 * 8 / BITS_PER_SECOND
               + rounds * l_low,
               check_measured=em[low]["seconds"], predictions={})
    for p in (4, 16, 64):
        compute = a + b / p
        transfer = port4 * law(p) / law(4) * 8 / BITS_PER_SECOND
        wait = rounds * round_law(p) / round_law(4) * 0.0005
        out["predictions"][p] = dict(compute=compute, transfer=transfer, wait=wait,
                                     total=compute + transfer + wait)
    return out


def fmt_bytes(b):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(b) >= size:
            return f"{b / size:.2f} {unit}"
    return f"{b:.0f} B"


def render(records, net_info, latencies, command, quick=False):
    rows = analyse(records, latencies)
    low = min(latencies) if latencies else None
    lines = [f"# A 4-machine cluster, simulated (`{command}`)", ""]
    lines.append(f"Machine: {net_info.get('machine', '?')}.")
    lines.append("")
    lines.append("Network: 4 namespaces, each with a TUN device to one userspace switch "
                 "(bench/netsim.py): 1 Gbit/s per port each way, one-way latency as set; "
                 "MTU 65,000 bytes; no loss. Idle round trip of a 1-byte TCP exchange between "
                 "two namespaces (Python at both ends), median of 200:")
    lines.append("")
    for latency in latencies:
        info = net_info[str(latency)]
        lines.append(f"- set {latency * 1e3:g} ms one way: round trip {info['rtt_median'] * 1e3:.3f}"
                     f" ms median ({info['rtt_min'] * 1e3:.3f} min, {info['rtt_p90'] * 1e3:.3f} "
                     f"p90), so {info['rtt_median'] * 1e3 / 2:.3f} ms one way in effect")
    lines.append("")
    emulated_wall = sum(r["wall"] for r in records if r["network"] != "loopback")
    if net_info.get("switch_cpu_seconds") and emulated_wall:
        lines.append(f"The switch used {net_info['switch_cpu_seconds']:.1f} CPU s over "
                     f"{emulated_wall:.0f} s of runs in the namespaces "
                     f"({100 * net_info['switch_cpu_seconds'] / emulated_wall:.0f}% of one of "
                     "the 2 cores, at real-time priority): CPU the 4 processes did not have, so "
                     "the emulated times are somewhat pessimistic, most for the apps that send "
                     "the most packets (word2vec).")
        lines.append("")
    for app, error in net_info.get("failures", {}).items():
        lines.append(f"**{app} failed**: {error}")
        lines.append("")
    lines.append("Every figure is per worker (= per process: 1 thread each) and per unit, from "
                 "the difference of an N1- and an N2-unit run (loading and set-up cancel); "
                 "seconds are process 0's solving time; medians over repeats.")
    lines.append("")
    lines.append("| app | unit | N1, N2 | payload bytes sent per worker (app's `bytes_sent`) | "
                 "IP bytes per port, busiest (switch) | loopback s | "
                 + " | ".join(f"{l * 1e3:g} ms s | x loopback" for l in latencies)
                 + " | CPU s per worker (loopback) | switch lateness mean / max |")
    lines.append("|---|---|---|---|---|---|" + "---|---|" * len(latencies) + "---|---|")
    for row in rows:
        em = row["emulated"]
        spec = APPS[row["app"]]
        cells = [row["app"], row["unit"], f"{spec['lengths'][0]}, {spec['lengths'][1]}",
                 fmt_bytes(row["app_bytes"].get(4, 0)),
                 fmt_bytes(em[low]["port_bytes"]) if low in em else "",
                 f"{row['loop_seconds']:.4f}"]
        for latency in latencies:
            if latency in em:
                cells += [f"{em[latency]['seconds']:.4f}",
                          f"{em[latency]['seconds'] / row['loop_seconds']:.2f}"]
            else:
                cells += ["", ""]
        cells.append(f"{row['cpu'].get(4, float('nan')):.4f}")
        cells.append(f"{em[low]['late_mean_us']:.0f} / {em[low]['late_max_us']:.0f} us"
                     if low in em else "")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Repeats (seconds per unit, in run order): " + "; ".join(
        f"{row['app']}: loopback {', '.join(f'{x:.4f}' for x in row['loop_runs'])}"
        + "".join(f", {l * 1e3:g} ms {', '.join(f'{x:.4f}' for x in e['runs'])}"
                  for l, e in sorted(row["emulated"].items()))
        for row in rows) + ".")
    lines.append("")
    lines.append("## How bytes and compute grow with the machine count (P = 2, 3, 4; CPU on "
                 "loopback, the busiest port in the namespaces with --scaling-emulated)")
    lines.append("")
    lines.append("| app | process 0's payload bytes per unit at P = 2, 3, 4 | busiest port's IP "
                 "bytes per unit (namespaces) | law fitted (on; largest error) | CPU s per worker "
                 "per unit at P = 2, 3, 4 | fit a + b/P |")
    lines.append("|---|---|---|---|---|---|")
    for row in rows:
        law = row.get("law")
        comp = row.get("compute")
        lines.append(
            f"| {row['app']} | " + ", ".join(fmt_bytes(row["app_bytes"][p])
                                            for p in sorted(row["app_bytes"]))
            + " | " + ", ".join(f"{p}: {fmt_bytes(row['port_bytes'][p])}"
                                for p in sorted(row["port_bytes"]))
            + " | " + (f"{law[0]} ({row['law_basis']}; {100 * law[2]:.0f}%)" if law else "")
            + " | "
            + ", ".join(f"{row['cpu'][p]:.4f}" for p in sorted(row["cpu"]))
            + (f" | {comp[0]:.4f} {'+' if comp[1] >= 0 else '-'} {abs(comp[1]):.4f}/P |"
               if comp else " | |"))
    lines.append("")
    models = [(row, model(row, net_info, latencies)) for row in rows]
    if any(m for _, m in models):
        lines.append("## Model: time per unit = compute + bytes / bandwidth + rounds x latency")
        lines.append("")
        lines.append("rounds = (s at the higher latency - s at the lower) / (their effective "
                     "one-way latencies' difference; effective = set + the switch's mean "
                     "lateness in the app's runs); check: loopback s + busiest port's bytes "
                     "/ 1 Gbit/s + rounds x effective latency against the measured s at the "
                     "lower latency. Predictions for 1 Gbit/s and 0.5 ms (README 'A real "
                     "cluster, simulated' states the assumptions): compute = a + b/P, bytes "
                     "scaled by the fitted law, rounds by the app's rounds law.")
        lines.append("")
        lines.append("| app | effective latencies | rounds per unit (fitted) | rounds law | "
                     "check: predicted s | measured s | P = 4: compute + transfer + wait = s | "
                     "P = 16 | P = 64 |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for row, m in models:
            if not m:
                continue
            pred = m["predictions"]
            cell = lambda q: (f"{q['compute']:.4f} + {q['transfer']:.4f} + {q['wait']:.4f} = "
                              f"**{q['total']:.4f}**")
            lines.append(f"| {row['app']} | {m['latency_low'] * 1e3:.3f}, "
                         f"{m['latency_high'] * 1e3:.3f} ms | {m['rounds']:.1f} | "
                         f"{APPS[row['app']]['rounds_growth']} | {m['check_predicted']:.4f} | "
                         f"{m['check_measured']:.4f} | {cell(pred[4])} | {cell(pred[16])} | "
                         f"{cell(pred[64])} |")
        lines.append("")
    lines.append("Commands (N = N1 and N2; process I of P on loopback or in namespace I; "
                 "data in bench/data/cluster-sim/):")
    lines.append("")
    for app, spec in APPS.items():
        if any(r["app"] == app for r in records):
            gen = generator(app, quick)
            lines.append(f"- `strads {shlex.join(gen)} --out {spec['file']}`; "
                         f"`{next(r['command'] for r in records if r['app'] == app)}`")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "strads"))
    parser.add_argument("--apps", default=",".join(APPS))
    parser.add_argument("--latencies", default="0.0005,0.002",
                        help="one-way latencies to emulate, seconds (default 0.5 ms and 2 ms)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of every P = 4 configuration (interleaved) [default 2]")
    parser.add_argument("--no-scaling", action="store_true",
                        help="skip the loopback runs at 2 and 3 processes")
    parser.add_argument("--scaling-emulated", action="store_true",
                        help="also run 2 and 3 processes in the namespaces (at the first "
                             "latency), so that the growth law is fitted on the busiest "
                             "port's bytes (per host) rather than on process 0's")
    parser.add_argument("--out", default=str(BENCH / "results" / "cluster-sim.md"))
    parser.add_argument("--render", metavar="JSONL")
    parser.add_argument("--quick", action="store_true",
                        help="tiny inputs, 1 repeat: checks that the script works; writes "
                             "bench/results/smoke-cluster-sim.md (gitignored)")
    args = parser.parse_args()
    if args.quick:
        global DATA
        DATA = BENCH / "data" / "cluster-sim-quick"
        args.repeat = 1
        if args.out == parser.get_default("out"):
            args.out = str(BENCH / "results" / "smoke-cluster-sim.md")
    latencies = [float(x) for x in args.latencies.split(",") if x]
    command = "python3 bench/run_cluster_sim.py " + shlex.join(sys.argv[1:])
    out = Path(args.out)
    if args.render:
        lines = [json.loads(l) for l in Path(args.render).read_text().splitlines() if l]
        meta, records = lines[0], lines[1:]
        print(render(records, meta["net"], meta["latencies"], meta["command"],
                     meta.get("quick", False)))
        return
    # A SIGTERM unwinds like Ctrl-C, so the finally blocks kill the processes and remove the
    # namespaces.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        sys.exit("run as root: the script creates network namespaces")
    DATA.mkdir(parents=True, exist_ok=True)
    apps = [a for a in args.apps.split(",") if a]
    for app in apps:
        ensure_data(args.binary, app, args.quick)
    records = []
    net_info = {"machine": machine()}
    jsonl = out.with_suffix(".jsonl")

    def save():
        meta = dict(net=net_info, latencies=latencies, command=command, quick=args.quick)
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in [meta] + records))

    with tempfile.TemporaryDirectory(prefix="strads-cluster-sim-") as tmp, \
            Network(4, BITS_PER_SECOND, latencies[0] if latencies else 0.0) as net:
        runner = Runner(args.binary, tmp)
        try:
            for latency in latencies:
                net.set_latency(latency)
                rtt = net.round_trip(0, 3)
                net_info[str(latency)] = dict(rtt_median=median(rtt), rtt_min=rtt[0],
                                              rtt_p90=rtt[int(0.9 * len(rtt))])
            for app in apps:
                n1, n2 = APPS[app]["lengths"]
                print(f"{app}:", file=sys.stderr, flush=True)
                done = len(records)
                try:
                    if not args.no_scaling:
                        for p in (2, 3):
                            for n in (n1, n2):
                                records.append(runner.run(app, n, p))
                                if args.scaling_emulated and latencies:
                                    net.set_latency(latencies[0])
                                    records.append(runner.run(app, n, p, net))
                    for _ in range(args.repeat):
                        for n in (n1, n2):
                            records.append(runner.run(app, n, 4))
                            for latency in latencies:
                                net.set_latency(latency)
                                records.append(runner.run(app, n, 4, net))
                except RuntimeError as error:
                    # One app's failure is reported; the others still run.
                    print(error, file=sys.stderr, flush=True)
                    del records[done:]
                    net_info.setdefault("failures", {})[app] = str(error).splitlines()[0]
                save()
        finally:
            runner.kill_live()
            save()
            # The vectors word2vec has to write (its --out): not needed.
            (DATA / (APPS["word2vec"]["file"] + ".vec")).unlink(missing_ok=True)
        net_info["switch_cpu_seconds"] = None  # set after the switch exits, below
    net_info["switch_cpu_seconds"] = net.switch_cpu
    save()
    text = render(records, net_info, latencies, command, args.quick)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
