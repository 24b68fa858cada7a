"""An emulated network of N hosts in Linux network namespaces (standard library only; root).

Why not `tc netem`: this kernel has no sch_netem (and no module to load), so no qdisc can hold a
packet back for a fixed time. Instead every namespace's only interface is a TUN device whose
other end is one userspace "switch" process (`python3 netsim.py --switch ...`, started by
`Network`): every IP packet a host sends is read by the switch, held, and written into the
destination host's TUN device. The switch emulates, per packet:

- one-way latency: a packet is delivered `latency` after it starts leaving its sender;
- bandwidth, on both sides of a full-duplex switch port: each host's uplink sends one packet at a
  time at `bits_per_second`, and each host's downlink delivers one packet at a time at the same
  rate, so three senders to one receiver share its downlink (the switch queues; it never drops);
- cut-through forwarding: the downlink starts a packet as soon as its first bytes arrive, so an
  idle path costs `latency + size / bandwidth`, as one cable of that latency would.

What is not emulated: the link MTU is 65,000 bytes (not Ethernet's 1,500), so that the switch
handles few enough packets to keep up in Python at 1 Gbit/s: per-packet header bytes are a 0.1%
instead of a 4% overhead, and a TCP segment arrives whole; bandwidth counts IP packet bytes
(no Ethernet framing, preamble or gap: about 5% optimistic at full-size frames); no loss, no
jitter beyond the switch's own scheduling (timer wake-ups are late by tens of microseconds);
no switch buffer limit.

    with Network(4, bits_per_second=1e9, latency=0.0005) as net:
        net.popen(0, ["ping", "-c", "3", net.address(1)])   # runs in host 0's namespace
        net.counters()   # {"sent_bytes": [...], "received_bytes": [...], "packets": [...]}

Every namespace and TUN device is removed when the `with` block ends, on an exception too; the
TUN devices also vanish if the switch process dies, and the namespaces are named after this
process's pid, so a killed run leaves at most `ip netns list` entries to delete by hand.
"""

import ctypes
import fcntl
import heapq
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
PR_SET_TIMERSLACK = 29
MTU = 65000
SUBNET = "10.77.0"


def _open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def switch_main(names, bits_per_second, latency):
    """The switch process: opens one TUN device per host (names[i] is host i's, address
    SUBNET.(i+1)), prints `ready`, then forwards packets until its standard input closes.
    A line `counters` on standard input prints the counters as one JSON line
    (`late_seconds_max` since the last `counters`, the others since the start); `latency S` sets
    the one-way latency of packets sent from then on."""
    # Timer slack (50 us by default) would make every delivery late by up to that much.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    # Real-time priority: the switch must wake on time while the hosts' processes keep every
    # core busy. It sleeps in select() between packets, so it cannot starve them (and the
    # kernel caps real-time tasks at 95% of a core anyway).
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
    except OSError:
        os.nice(-20)
    fds = [_open_tun(n) for n in names]
    index_of_fd = {fd: i for i, fd in enumerate(fds)}
    n = len(fds)
    seconds_per_byte = 8.0 / bits_per_second
    up_free = [0.0] * n    # when each uplink has finished its last packet
    down_free = [0.0] * n  # when each downlink has finished its last packet
    sent = [0] * n
    received = [0] * n
    packets = [0] * n
    dropped = 0
    late_sum = 0.0   # how late deliveries were against their emulated time, in seconds
    late_max = 0.0
    late_over_100us = 0
    delivered = 0
    queue = []  # (delivery time, sequence, destination, packet)
    sequence = 0
    stdin = sys.stdin.fileno()
    print("ready", flush=True)
    watched = fds + [stdin]
    while True:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            due, _, dst, packet = heapq.heappop(queue)
            late = now - due
            late_sum += late
            late_max = max(late_max, late)
            late_over_100us += late > 1e-4
            delivered += 1
            try:
                os.write(fds[dst], packet)
                received[dst] += len(packet)
            except BlockingIOError:
                dropped += 1
        timeout = max(0.0, queue[0][0] - now) if queue else None
        readable, _, _ = select.select(watched, [], [], timeout)
        for fd in readable:
            if fd == stdin:
                line = sys.stdin.readline()
                if not line:
                    return
                words = line.split()
                if words[:1] == ["latency"]:
                    latency = float(words[1])
                    print("ok", flush=True)
                elif words[:1] == ["counters"]:
                    print(json.dumps(dict(sent_bytes=sent, received_bytes=received,
                                          packets=packets, dropped=dropped,
                                          delivered=delivered, late_seconds_sum=late_sum,
                                          late_seconds_max=late_max,
                                          late_over_100us=late_over_100us)), flush=True)
                    late_max = 0.0  # the largest lateness since the last read
                continue
            src = index_of_fd[fd]
            # Drain what is there: a burst read together is timed from one clock reading, which
            # is what a sender's uplink queue would do with it anyway.
            arrived = time.monotonic()
            while True:
                try:
                    packet = os.read(fd, MTU + 100)
                except BlockingIOError:
                    break
                if len(packet) < 20 or packet[0] >> 4 != 4:
                    continue  # not IPv4 (e.g. router solicitations): a real switch would flood it
                dst_ip = packet[16:20]
                if dst_ip[:3] != bytes([10, 77, 0]) or not 1 <= dst_ip[3] <= n:
                    continue
                dst = dst_ip[3] - 1
                size = len(packet)
                start = max(arrived, up_free[src])
                up_free[src] = start + size * seconds_per_byte
                down_start = max(start + latency, down_free[dst])
                down_free[dst] = down_start + size * seconds_per_byte
                sent[src] += size
                packets[src] += 1
                sequence += 1
                heapq.heappush(queue, (down_free[dst], sequence, dst, packet))


def ip(*args, namespace=None):
    cmd = ["ip"] + (["netns", "exec", namespace, "ip"] if namespace else []) + list(args)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


class Network:
    """N hosts, host i in namespace `namespace(i)` with address `address(i)`, joined by the
    emulated switch (see the module's doc)."""

    def __init__(self, hosts, bits_per_second, latency):
        self.hosts = hosts
        self.bits_per_second = bits_per_second
        self.latency = latency
        tag = os.getpid()
        self.namespaces = [f"strads-sim-{tag}-{i}" for i in range(hosts)]
        self.devices = [f"ssim{tag % 100000}-{i}" for i in range(hosts)]
        self.switch = None
        self.switch_cpu = None

    def address(self, i):
        return f"{SUBNET}.{i + 1}"

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _start(self):
        self.switch = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--switch", ",".join(self.devices),
             str(self.bits_per_second), str(self.latency)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.switch.stdout.readline().strip() != "ready":
            raise RuntimeError("the emulated switch did not start")
        for i, (ns, dev) in enumerate(zip(self.namespaces, self.devices)):
            ip("netns", "add", ns)
            ip("link", "set", "dev", dev, "netns", ns)
            ip("link", "set", "dev", "lo", "up", namespace=ns)
            ip("link", "set", "dev", dev, "mtu", str(MTU), "up", namespace=ns)
            ip("addr", "add", f"{self.address(i)}/24", "dev", dev, namespace=ns)

    def popen(self, host, cmd, **kwargs):
        """Starts cmd in host's namespace (`ip netns exec` executes it in place: the returned
        process is cmd itself)."""
        return subprocess.Popen(["ip", "netns", "exec", self.namespaces[host]] + list(cmd),
                                **kwargs)

    def round_trip(self, a=0, b=1, count=200, port=6999):
        """Round-trip times (seconds, sorted) of one-byte TCP exchanges from host a to host b,
        through the switch, both ends in Python (which adds its own tens of microseconds)."""
        me = os.path.abspath(__file__)
        server = self.popen(b, [sys.executable, me, "--probe-server", self.address(b), str(port)],
                            stdout=subprocess.PIPE, text=True)
        try:
            server.stdout.readline()
            client = self.popen(a, [sys.executable, me, "--probe-client", self.address(b),
                                    str(port), str(count)], stdout=subprocess.PIPE, text=True)
            times = json.loads(client.communicate(timeout=60)[0])
        finally:
            server.kill()
            server.wait()
        return times

    def set_latency(self, latency):
        """Sets the one-way latency of every packet sent from now on, in seconds."""
        self.switch.stdin.write(f"latency {latency!r}\n")
        self.switch.stdin.flush()
        assert self.switch.stdout.readline().strip() == "ok"
        self.latency = latency

    def counters(self):
        """Bytes and packets each host has sent and received through the switch so far."""
        self.switch.stdin.write("counters\n")
        self.switch.stdin.flush()
        return json.loads(self.switch.stdout.readline())

    def close(self):
        if self.switch is not None:
            try:
                self.switch.stdin.close()
            except OSError:
                pass
            try:
                _, status, usage = os.wait4(self.switch.pid, 0)
                self.switch.returncode = os.waitstatus_to_exitcode(status)
                self.switch_cpu = usage.ru_utime + usage.ru_stime
            except ChildProcessError:
                pass
            self.switch = None
        existing = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                                  text=True).stdout
        for ns in self.namespaces:
            if ns in existing:
                subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def probe_server(address, port):
    """Echoes one byte at a time for one connection (for `Network.round_trip`)."""
    listener = socket.create_server((address, port))
    print("ready", flush=True)
    connection, _ = listener.accept()
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while byte := connection.recv(1):
        connection.sendall(byte)


def probe_client(address, port, count):
    """Prints the round-trip times of `count` one-byte TCP exchanges, in seconds, sorted."""
    connection = socket.create_connection((address, port))
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        connection.sendall(b"x")
        connection.recv(1)
        times.append(time.perf_counter() - start)
    print(json.dumps(sorted(times)))


if __name__ == "__main__" and sys.argv[1:2] == ["--switch"]:
    switch_main(sys.argv[2].split(","), float(sys.argv[3]), float(sys.argv[4]))
elif __name__ == "__main__" and sys.argv[1:2] == ["--probe-server"]:
    probe_server(sys.argv[2], int(sys.argv[3]))
elif __name__ == "__main__" and sys.argv[1:2] == ["--probe-client"]:
    probe_client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
