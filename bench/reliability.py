#!/usr/bin/env python3
"""Fault injection and attacks on 2-process strads clusters on loopback (README "Reliability").

Measures, with real processes:
  forged    N forged handshakes (wrong MAC; claims of process 1, its heartbeat, 3 processes,
            a duplicate process 0, an out-of-range index) plus 7 idle connections against
            process 0, then the real process 1: how many were admitted, how long formation took
  kill      kill -9 of process 1 while a lasso solve runs: time until process 0 exits
  kill-load kill -9 of process 1 while mf parses its 2M ratings: time until process 0 exits
  stop      kill -STOP of process 1 while solving: time until process 0 exits
            (--peer-timeout 3, and once with the default 30 s: `stop30`)
  launcher  kill -9 of `strads launch`: time until both children are gone
  partition both processes in a private network namespace whose loopback goes down while they
            solve (needs root and `ip netns`): time until each exits (`partition30`: 30 s)

Usage: python3 bench/reliability.py [--strads PATH] [--repeat N] WHAT...
(cargo build --release first; every timing is from the fault to the survivor's exit.)
"""

import argparse
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

SECRET = "bench-reliability-secret-0123456789"
MAGIC = 0x5354524144530002  # crates/engine/src/connect.rs
ANSWER = 3 * 8 + 32 + 32


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def tcp_sockets(port, state):
    """Sockets on 127.0.0.1:port in `state` (01 established, 0A listening), from /proc/net/tcp."""
    endpoint = "0100007F:%04X" % port
    count = 0
    with open("/proc/net/tcp") as table:
        for line in table.read().splitlines()[1:]:
            f = line.split()
            if f[3] == state and endpoint in (f[1], f[2]):
                count += 1
    return count


class Bench:
    def __init__(self, strads, work):
        self.strads = strads
        self.work = work
        self.env = dict(os.environ, STRADS_SECRET=SECRET)

    def path(self, name):
        return os.path.join(self.work, name)

    def gen(self, name, app, flags):
        out = self.path(name)
        if not os.path.exists(out if app == "lasso" else out + ".train"):
            subprocess.run([self.strads, "gen", app] + flags + ["--out", out], check=True,
                           capture_output=True)
        return out

    def hosts(self):
        ports = free_ports(2)
        path = self.path("hosts.txt")
        with open(path, "w") as f:
            f.write("".join(f"127.0.0.1:{p}\n" for p in ports))
        return path, ports

    def spawn(self, app, process, hosts, flags, prefix=()):
        return subprocess.Popen(
            list(prefix) + [self.strads, app, "--processes", "2", "--process", str(process),
                            "--hosts", hosts, "--threads", "1"] + flags,
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)

    def endless(self):
        data = self.gen("big.libsvm", "lasso", [
            "--rows", "20000", "--cols", "20000", "--nnz-per-row", "20", "--support", "200",
            "--corr", "0.5", "--group", "5", "--seed", "5"])
        return ["--data", data, "--tol", "1e-300", "--max-iters", "1e12", "--max-seconds", "120"]


def wait_connected(port, count, procs):
    start = time.monotonic()
    while tcp_sockets(port, "01") < count:
        if any(p.poll() is not None for p in procs) or time.monotonic() - start > 60:
            sys.exit("the processes did not connect: " +
                     " | ".join(p.stderr.read().decode() for p in procs))
        time.sleep(0.001)


def wait_exit(proc, bound):
    start = time.monotonic()
    while proc.poll() is None and time.monotonic() - start < bound:
        time.sleep(0.001)
    return proc.poll()


def summary(name, times, codes, message):
    line = (f"{name}: n={len(times)}, min {min(times):.3f} s, median "
            f"{statistics.median(times):.3f} s, max {max(times):.3f} s")
    if codes:
        line += f"; exit statuses {sorted(set(codes))}; e.g. `{message}`"
    print(line, flush=True)


def fault(bench, kind, repeat, peer_timeout=None):
    times, codes, message = [], [], ""
    for _ in range(repeat):
        hosts, ports = bench.hosts()
        if kind == "kill-load":
            ratings = bench.gen("ratings", "mf", ["--users", "20000", "--items", "5000",
                                                  "--ratings", "2000000", "--rank", "5",
                                                  "--seed", "1"])
            flags = ["--train", ratings + ".train", "--iters", "1000", "--max-seconds", "120"]
            procs = [bench.spawn("mf", p, hosts, flags) for p in range(2)]
            # Both connections up and a moment for their handshakes: process 1 is parsing.
            wait_connected(ports[0], 4, procs)
            time.sleep(0.05)
        else:
            flags = bench.endless()
            if peer_timeout:
                flags += ["--peer-timeout", str(peer_timeout)]
            procs = [bench.spawn("lasso", p, hosts, flags) for p in range(2)]
            wait_connected(ports[0], 4, procs)
            time.sleep(1.5)
        survivor, victim = procs
        victim.send_signal(signal.SIGSTOP if kind == "stop" else signal.SIGKILL)
        start = time.monotonic()
        codes.append(wait_exit(survivor, 120))
        times.append(time.monotonic() - start)
        lines = survivor.stderr.read().decode().strip().splitlines()
        message = lines[-1] if lines else ""
        if kind == "stop":
            victim.send_signal(signal.SIGCONT)
        victim.kill()
        victim.wait()
    label = {"kill": "kill -9 while solving", "kill-load": "kill -9 while loading (mf)",
             "stop": f"kill -STOP, --peer-timeout {peer_timeout or 30}"}[kind]
    summary(label, times, codes, message)


def stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    rest = text[text.rfind(")") + 1:].split()
    return rest[0], int(rest[1])


def alive(pid):
    s = stat(pid)
    return s is not None and s[0] not in "ZX"


def launcher(bench, repeat):
    times = []
    for _ in range(repeat):
        proc = subprocess.Popen([bench.strads, "launch", "--processes", "2", "--threads", "1", "--",
                                 "lasso"] + bench.endless(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = time.monotonic()
        children = []
        while len(children) < 2 and time.monotonic() - start < 30:
            children = [int(p) for p in os.listdir("/proc")
                        if p.isdigit() and (stat(int(p)) or ("", 0))[1] == proc.pid]
            time.sleep(0.01)
        time.sleep(1.5)
        proc.kill()
        killed = time.monotonic()
        proc.wait()
        while any(alive(c) for c in children) and time.monotonic() - killed < 30:
            time.sleep(0.001)
        times.append(time.monotonic() - killed)
        if any(alive(c) for c in children):
            sys.exit(f"children {children} outlived their launcher")
    summary("kill -9 of strads launch, until both children are gone", times, [], "")


def forged(bench, count, idle):
    data = bench.gen("small.libsvm", "lasso", ["--rows", "2000", "--cols", "500",
                                               "--nnz-per-row", "10", "--support", "20",
                                               "--seed", "3"])
    hosts, ports = bench.hosts()
    flags = ["--data", data, "--json", "--connect-timeout", "20"]
    zero = bench.spawn("lasso", 0, hosts, flags)
    while tcp_sockets(ports[0], "0A") == 0:
        time.sleep(0.005)
    idle_connections = [socket.create_connection(("127.0.0.1", ports[0])) for _ in range(idle)]
    claims = [(2, 1, 0, 0), (2, 1, 0, 1), (3, 1, 0, 0), (2, 0, 0, 0), (2, 9, 0, 0)]
    kept_open = 0
    start = time.monotonic()
    for k in range(count):
        s = socket.create_connection(("127.0.0.1", ports[0]))
        s.sendall(struct.pack("<5Q", MAGIC, *claims[k % len(claims)]) + os.urandom(32))
        s.settimeout(20)
        try:
            answer = b""
            while len(answer) < ANSWER:
                chunk = s.recv(ANSWER - len(answer))
                if not chunk:
                    break
                answer += chunk
            s.sendall(os.urandom(32))  # a guessed MAC
            closed = s.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            closed = True
        except socket.timeout:
            closed = False
        kept_open += not closed
        s.close()
    forging = time.monotonic() - start
    start = time.monotonic()
    one = bench.spawn("lasso", 1, hosts, flags)
    code_one = one.wait()
    formed = time.monotonic() - start
    code_zero = zero.wait()
    warning = [l for l in zero.stderr.read().decode().splitlines() if "dropped" in l]
    print(f"{count} forged handshakes and {idle} idle connections: {kept_open} kept open or "
          f"admitted; the forgeries were dropped in {forging:.3f} s in all; process 1 then "
          f"formed the cluster, solved and exited in {formed:.3f} s; exit statuses {code_zero} "
          f"{code_one}; process 0 said `{warning[0] if warning else ''}`", flush=True)
    for s in idle_connections:
        s.close()


def partition(bench, repeat, peer_timeout):
    namespace = "strads-bench-partition"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        netns = ["ip", "netns", "exec", namespace]
        times, codes, message = [], [], ""
        for _ in range(repeat):
            subprocess.run(netns + ["ip", "link", "set", "lo", "up"], check=True)
            hosts = bench.path("hosts.txt")
            with open(hosts, "w") as f:
                f.write("127.0.0.1:41001\n127.0.0.1:41002\n")
            flags = bench.endless() + ["--peer-timeout", str(peer_timeout)]
            procs = [bench.spawn("lasso", p, hosts, flags, prefix=netns) for p in range(2)]
            time.sleep(3)
            if any(p.poll() is not None for p in procs):
                sys.exit("a process exited before the partition")
            subprocess.run(netns + ["ip", "link", "set", "lo", "down"], check=True)
            start = time.monotonic()
            for p in procs:
                codes.append(wait_exit(p, 120))
            times.append(time.monotonic() - start)
            message = procs[0].stderr.read().decode().strip()
        summary(f"partition, --peer-timeout {peer_timeout}, until both processes exited", times,
                codes, message)
    finally:
        subprocess.run(["ip", "netns", "del", namespace])


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--strads", default=os.path.join(root, "target", "release", "strads"))
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("what", nargs="+", choices=["forged", "kill", "kill-load", "stop",
                                                    "stop30", "launcher", "partition",
                                                    "partition30"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="strads-reliability-") as work:
        bench = Bench(args.strads, work)
        for what in args.what:
            if what == "forged":
                forged(bench, 100, 7)
            elif what in ("kill", "kill-load"):
                fault(bench, what, args.repeat)
            elif what == "stop":
                fault(bench, "stop", args.repeat, 3)
            elif what == "stop30":
                fault(bench, "stop", 1)
            elif what == "launcher":
                launcher(bench, args.repeat)
            elif what == "partition":
                partition(bench, args.repeat, 3)
            elif what == "partition30":
                partition(bench, 1, 30)


if __name__ == "__main__":
    main()
