"""Helpers shared by the bench/run_*.py drivers (standard library only).

- `run_measured(cmd)`: run a command, returning its output, wall time and peak memory of its whole
  process tree (the process and every descendant, e.g. the JVM Spark starts, or the processes of
  `strads launch`).
- `time_to_reach(points, target)`: time at which a trace first reaches a quality target, linearly
  interpolated between the two trace points around the crossing.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

POLL_SECONDS = 0.05


def _children_table():
    """{parent pid: [child pids]} from /proc (one scan)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields after the last ')' are
        # "state ppid ...".
        fields = stat[stat.rfind(b")") + 2:].split()
        table.setdefault(int(fields[1]), []).append(int(entry))
    return table


def _rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid):
    """Resident memory of pid and all its descendants, in KiB."""
    table = _children_table()
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += _rss_kib(p)
        stack.extend(table.get(p, []))
    return total


GNU_TIME = "/usr/bin/time"


def run_measured(cmd, timeout=None, env=None, cwd=None):
    """Runs cmd (stdout and stderr captured as text). Returns a dict with returncode (None when
    killed on timeout), stdout, stderr, wall (seconds, measured here), peak_rss_mib.

    peak_rss_mib is the larger of (a) the sum of VmRSS over the whole process tree, sampled every
    50 ms, and (b) the kernel's exact peak RSS of the largest single process in the tree, as GNU
    time (/usr/bin/time, which cmd runs under when it exists) reports it. (a) can miss a spike
    shorter than the sampling period; (b) cannot, but counts one process only. (Not wait4 on our
    own child: a child forked from this python starts with our memory, which the kernel's peak
    would count.)"""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="strads-bench-") as tmp:
        maxrss_file = Path(tmp) / "maxrss"
        full = cmd
        if os.access(GNU_TIME, os.X_OK):
            full = [GNU_TIME, "-f", "%M", "-o", str(maxrss_file)] + list(cmd)
        proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=cwd, start_new_session=True)
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss_kib(proc.pid))
                done.wait(POLL_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            out, err = proc.communicate(timeout=timeout)
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole session: time, cmd and its children
            out, err = proc.communicate()
            returncode = None
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        maxrss_kib = 0
        try:
            # GNU time writes "Command exited with non-zero status N" before the figure.
            maxrss_kib = int(maxrss_file.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
    return dict(returncode=returncode, stdout=out, stderr=err, wall=wall,
                peak_rss_mib=max(peak[0], maxrss_kib) / 1024)


def time_to_reach(points, target, higher_is_better=True):
    """points: [(seconds, value)] in time order. Returns the seconds at which the value first
    reaches target (>= target if higher_is_better, else <=), interpolated linearly between the
    last point short of it and the first point at or beyond it; None if it never does. A target
    met at the first point returns that point's time (nothing is known before it)."""
    def reached(v):
        return v >= target if higher_is_better else v <= target

    previous = None
    for seconds, value in points:
        if value is None:
            continue
        if reached(value):
            if previous is None or previous[1] == value:
                return seconds
            s0, v0 = previous
            return s0 + (seconds - s0) * (target - v0) / (value - v0)
        previous = (seconds, value)
    return None


def fmt_seconds(x):
    return "not reached" if x is None else f"{x:.2f} s"


def machine():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import platform
    load = os.getloadavg()[0]
    return (f"{os.cpu_count()} CPUs (nproc), {model}, {platform.system()} {platform.release()}, "
            f"load average {load:.1f} at the start")


def select_shapes(spec, shapes, shape_sets):
    """The shape names a comma-separated `--shapes` value names (set names expand to their
    shapes), in order, each once; exits with the known names on an unknown one."""
    names = []
    for item in spec.split(","):
        item = item.strip()
        if item in shape_sets:
            names += shape_sets[item]
        elif item in shapes:
            names.append(item)
        else:
            sys.exit(f"unknown shape {item!r}: shape sets are {', '.join(shape_sets)}; shapes "
                     f"are {', '.join(shapes)}")
    return list(dict.fromkeys(names))
