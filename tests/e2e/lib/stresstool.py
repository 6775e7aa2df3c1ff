#!/usr/bin/python3
"""Sustained load for `make stress` (tests/stress/stress.sh). Standard
library only, one process, no threads: sockets are created inside each
namespace by setns(2) and keep it.

  mesh --world NS --world-ip IP [--port P] [--duration S] [--interval S]
       [--per-pod K] POD...
      A TCP echo server in every POD and in the world namespace NS (on
      IP:P). From every POD, K connections to the next pods (pod <-> pod,
      the fast path) and K to the world (masqueraded). Each connection
      sends a numbered line every --interval seconds and must get it back,
      in order, before the next; a UDP socket per pod does the same with
      the world. Runs --duration seconds, then prints one JSON object:
      exchanges done, failures (resets, timeouts, wrong echoes), round
      trip percentiles. Exit 0 iff there was no failure.
"""

import argparse
import json
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nettool import raise_nofile, setns  # noqa: E402


def enter(ns):
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        setns(fd)
    finally:
        os.close(fd)


def pod_ip(ns):
    """The pod's eth0 address, read from inside it."""
    import fcntl
    import struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("256s", b"eth0")
        return socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24])
    finally:
        s.close()


class Flow:
    def __init__(self, sock, kind, name):
        self.sock, self.kind, self.name = sock, kind, name
        self.seq = 0
        self.sent_at = None
        self.buf = b""
        self.next_at = 0.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--world", required=True)
    p.add_argument("--world-ip", required=True)
    p.add_argument("--port", type=int, default=7100)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--per-pod", type=int, default=2)
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("pods", nargs="+")
    a = p.parse_args()
    raise_nofile(64 + len(a.pods) * (6 * a.per_pod + 4))
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    sel = selectors.DefaultSelector()

    def listen_in(ns, ip):
        enter(ns)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, a.port))
        s.listen(1024)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("listen", None))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((ip, a.port))
        u.setblocking(False)
        sel.register(u, selectors.EVENT_READ, ("udpserve", None))

    ips = {}
    for ns in a.pods:
        enter(ns)
        ips[ns] = pod_ip(ns)
        listen_in(ns, "0.0.0.0")
    listen_in(a.world, "0.0.0.0")

    flows = []
    for i, ns in enumerate(a.pods):
        enter(ns)
        targets = [(ips[a.pods[(i + k + 1) % len(a.pods)]], "pod")
                   for k in range(a.per_pod)]
        targets += [(a.world_ip, "world")] * a.per_pod
        for ip, kind in targets:
            s = socket.create_connection((ip, a.port), timeout=10)
            s.setblocking(False)
            f = Flow(s, kind, "%s->%s" % (ns, ip))
            flows.append(f)
            sel.register(s, selectors.EVENT_READ, ("client", f))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.connect((a.world_ip, a.port))
        u.setblocking(False)
        f = Flow(u, "udp", "%s->%s/udp" % (ns, a.world_ip))
        flows.append(f)
        sel.register(u, selectors.EVENT_READ, ("client", f))
    setns(home)

    res = {"pods": len(a.pods), "flows": len(flows), "exchanges": 0,
           "by_kind": {"pod": 0, "world": 0, "udp": 0}, "failures": 0,
           "udp_lost": 0, "problems": []}
    rtts = []
    start = time.monotonic()
    end = start + a.duration
    # Spread the first sends over one interval.
    for n, f in enumerate(flows):
        f.next_at = start + a.interval * n / len(flows)

    def problem(f, what):
        res["failures"] += 1
        if len(res["problems"]) < 10:
            res["problems"].append("%s: %s" % (f.name, what))

    while True:
        now = time.monotonic()
        if now >= end and all(f.sent_at is None for f in flows
                              if f.sock is not None):
            break
        if now >= end + a.timeout:
            break
        for f in flows:
            if f.sock is None:
                continue
            if f.sent_at is not None and now - f.sent_at > a.timeout:
                if f.kind == "udp":
                    res["udp_lost"] += 1
                    f.sent_at = None
                else:
                    problem(f, "no echo of line %d in %.1fs"
                            % (f.seq, a.timeout))
                    f.sock.close()
                    f.sock = None
                continue
            if f.sent_at is None and now < end and now >= f.next_at:
                f.seq += 1
                try:
                    f.sock.send(b"%d\n" % f.seq)
                except OSError as e:
                    problem(f, "send: %s" % e)
                    f.sock.close()
                    f.sock = None
                    continue
                f.sent_at = now
                f.next_at = now + a.interval
        for key, _ in sel.select(timeout=0.01):
            kind, f = key.data
            s = key.fileobj
            try:
                if kind == "listen":
                    c, _ = s.accept()
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, ("echo", None))
                elif kind == "echo":
                    d = s.recv(65536)
                    if d:
                        s.sendall(d)
                    else:
                        sel.unregister(s)
                        s.close()
                elif kind == "udpserve":
                    d, peer = s.recvfrom(65536)
                    s.sendto(d, peer)
                elif f.sock is not None:
                    d = s.recv(65536)
                    if not d:
                        problem(f, "closed by the peer")
                        sel.unregister(s)
                        f.sock.close()
                        f.sock = None
                        continue
                    f.buf += d
                    if f.kind == "udp" or f.buf.endswith(b"\n"):
                        got = f.buf.strip()
                        f.buf = b""
                        if got != b"%d" % f.seq:
                            if f.kind == "udp":  # a late one: skip it
                                continue
                            problem(f, "echo %r, want %d" % (got, f.seq))
                            continue
                        rtts.append(time.monotonic() - f.sent_at)
                        f.sent_at = None
                        res["exchanges"] += 1
                        res["by_kind"][f.kind] += 1
            except OSError as e:
                if f is not None and f.sock is not None:
                    problem(f, str(e))
                    try:
                        sel.unregister(f.sock)
                    except (KeyError, ValueError):
                        pass
                    f.sock.close()
                    f.sock = None
    res["seconds"] = round(time.monotonic() - start, 1)
    rtts.sort()
    if rtts:
        res["rtt_ms"] = {q: round(rtts[min(len(rtts) - 1,
                                            int(len(rtts) * float(q)))]
                                  * 1000, 2)
                         for q in ("0.5", "0.99", "0.999")}
        res["rtt_ms"]["max"] = round(rtts[-1] * 1000, 2)
    res["alive"] = sum(1 for f in flows if f.sock is not None)
    print(json.dumps(res))
    return 0 if res["failures"] == 0 and res["alive"] == len(flows) else 1


if __name__ == "__main__":
    sys.exit(main())
