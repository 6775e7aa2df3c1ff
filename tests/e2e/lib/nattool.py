#!/usr/bin/python3
"""Traffic for the nsfast masquerading tests (tests/e2e/40_nat.sh).
Standard library only, no threads; reuses setns() from nettool.py.

  flows --server-ns NS --ip IP --port P [--per-pod N] [--sport-base B]
        [--timeout S] [--hold-file F] [--hold S] POD...
      A TCP echo server on IP:P inside netns NS and, from every POD, N
      connections to it, all in flight at once. The i-th connection of
      every pod is bound to source port B+i, so the pods' original
      5-tuples differ only by address and the NAT must pick a distinct
      port for each. Every connection sends a line and must get it back.
      Once all have echoed, prints "ready N" and keeps them open until
      file F exists (at most S seconds), so the flows can be inspected,
      then closes them. Exit 0 iff every connection echoed and none was
      closed by the other side while held.

  exhaust --ip IP --port P --other-port Q [--count K] [--fail-after S] POD...
      Against TCP echo servers (nettool.py serve) on IP:P and IP:Q: opens
      K connections to IP:P from the PODs in turn, each echoing a line;
      then a K+1-th that must not connect within S seconds; then a line
      on each of the K again; then one connection to IP:Q. Prints one
      JSON object with the outcome of each step; exit 0 iff all went as
      expected.

  refused IP PORT [--timeout S]
      Run inside a pod: a connected UDP socket sends to IP:PORT until a
      send or receive fails with ECONNREFUSED (an ICMP port unreachable
      came back). Exit 0 iff it does.

flows and exhaust run in one process and reach each namespace by
setns(2) on /run/netns/NAME: a socket stays in the namespace it was
created in.
"""

import argparse
import errno
import json
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nettool import raise_nofile, setns  # noqa: E402


def netns_fd(name):
    return os.open(name if "/" in name else "/run/netns/" + name,
                   os.O_RDONLY)


def enter(name):
    fd = netns_fd(name)
    try:
        setns(fd)
    finally:
        os.close(fd)


# ---- flows ----


class Flows:
    def __init__(self, args):
        self.args = args
        self.sel = selectors.DefaultSelector()
        self.clients = []  # state dicts
        self.errors = []
        self.echoed = 0
        self.held_closed = 0

    def listen(self):
        enter(self.args.server_ns)
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind((self.args.ip, self.args.port))
        lst.listen(4096)
        lst.setblocking(False)
        self.sel.register(lst, selectors.EVENT_READ, ("listen", None))

    def connect_all(self):
        for pod in self.args.pods:
            enter(pod)
            for i in range(self.args.per_pod):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.setblocking(False)
                s.bind(("0.0.0.0", self.args.sport_base + i))
                st = {"name": "%s#%d" % (pod, i), "buf": b"",
                      "sent": False, "done": False}
                st["line"] = (st["name"] + "\n").encode()
                err = s.connect_ex((self.args.ip, self.args.port))
                if err not in (0, errno.EINPROGRESS):
                    self.errors.append("%s: connect: %s"
                                       % (st["name"], os.strerror(err)))
                    s.close()
                    continue
                self.sel.register(s, selectors.EVENT_WRITE, ("client", st))
                self.clients.append(st)

    def on_accept(self, lst):
        while True:
            try:
                conn, _ = lst.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.sel.register(conn, selectors.EVENT_READ, ("server", None))

    def on_server(self, conn):
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(conn)
            conn.close()
            return
        conn.send(data)  # a short line fits any socket buffer

    def on_client(self, s, st):
        if not st["sent"]:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.client_error(s, st, "connect: " + os.strerror(err))
                return
            s.send(st["line"])
            st["sent"] = True
            self.sel.modify(s, selectors.EVENT_READ, ("client", st))
            return
        try:
            data = s.recv(4096)
        except BlockingIOError:
            return
        except OSError as e:
            self.client_error(s, st, "recv: %s" % e)
            return
        if not data:
            if st["done"]:
                self.held_closed += 1
            self.client_error(s, st, "closed by the server")
            return
        st["buf"] += data
        if st["done"] or not st["buf"].endswith(b"\n"):
            return
        if st["buf"] != st["line"]:
            self.client_error(s, st, "got %r" % st["buf"])
            return
        st["done"] = True
        self.echoed += 1

    def client_error(self, s, st, what):
        self.errors.append("%s: %s" % (st["name"], what))
        self.sel.unregister(s)
        s.close()

    def poll(self, timeout):
        for key, _ in self.sel.select(timeout=timeout):
            kind, st = key.data
            if kind == "listen":
                self.on_accept(key.fileobj)
            elif kind == "server":
                self.on_server(key.fileobj)
            else:
                self.on_client(key.fileobj, st)

    def run(self):
        want = len(self.args.pods) * self.args.per_pod
        t0 = time.monotonic()
        end = t0 + self.args.timeout
        self.listen()
        self.connect_all()
        while self.echoed + len(self.errors) < want and \
                time.monotonic() < end:
            self.poll(0.1)
        print("flows: %d/%d connections echoed in %.2f s, all open"
              % (self.echoed, want, time.monotonic() - t0), flush=True)
        if self.echoed == want:
            print("ready %d" % want, flush=True)
            end = time.monotonic() + self.args.hold
            while time.monotonic() < end and \
                    not os.path.exists(self.args.hold_file or "/-"):
                self.poll(0.1)
        for e in self.errors[:10]:
            print("error: " + e)
        if self.held_closed:
            print("%d connections were closed while held"
                  % self.held_closed)
        return 0 if self.echoed == want and not self.errors else 1


def cmd_flows(args):
    raise_nofile(4 * len(args.pods) * args.per_pod + 64)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        return Flows(args).run()
    finally:
        setns(home)


# ---- exhaust ----


def echo_line(s, line, timeout):
    """Send LINE on S, wait for it to come back; "ok" or what went wrong."""
    s.settimeout(timeout)
    try:
        s.sendall(line)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                return "closed"
            buf += chunk
    except OSError as e:
        return "error: %s" % e
    return "ok" if buf == line else "got %r" % buf


def connect_echo(ip, port, line, timeout):
    try:
        s = socket.create_connection((ip, port), timeout=timeout)
    except socket.timeout:
        return None, "timeout"
    except OSError as e:
        return None, "error: %s" % e
    return s, echo_line(s, line, timeout)


def cmd_exhaust(args):
    nsfd = [netns_fd(p) for p in args.pods]
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    res = {"held": [], "extra": None, "held_again": [], "other_port": None}
    held = []
    try:
        for i in range(args.count):
            setns(nsfd[i % len(nsfd)])
            s, how = connect_echo(args.ip, args.port,
                                  b"held %d\n" % i, 3)
            res["held"].append(how)
            if s:
                held.append(s)
        setns(nsfd[args.count % len(nsfd)])
        s, res["extra"] = connect_echo(args.ip, args.port, b"extra\n",
                                       args.fail_after)
        if s:
            s.close()
        for i, s in enumerate(held):
            res["held_again"].append(echo_line(s, b"again %d\n" % i, 3))
        setns(nsfd[0])
        s, res["other_port"] = connect_echo(args.ip, args.other_port,
                                            b"other\n", 3)
        if s:
            s.close()
    finally:
        setns(home)
        for s in held:
            s.close()
    print(json.dumps(res))
    good = (res["held"] == ["ok"] * args.count and
            res["extra"] == "timeout" and
            res["held_again"] == ["ok"] * args.count and
            res["other_port"] == "ok")
    return 0 if good else 1


# ---- refused ----


def cmd_refused(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((args.ip, args.port))
    s.settimeout(0.3)
    end = time.monotonic() + args.timeout
    while time.monotonic() < end:
        try:
            s.send(b"anyone there?")
            s.recv(4096)
        except ConnectionRefusedError:
            print("udp to %s:%d: connection refused (ICMP port "
                  "unreachable reached the socket)" % (args.ip, args.port))
            return 0
        except socket.timeout:
            continue
        print("udp to %s:%d: got an answer" % (args.ip, args.port))
        return 1
    print("udp to %s:%d: no ECONNREFUSED within %.1f s"
          % (args.ip, args.port, args.timeout))
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("flows")
    p.add_argument("--server-ns", required=True)
    p.add_argument("--ip", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--per-pod", type=int, default=25)
    p.add_argument("--sport-base", type=int, default=40000)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--hold-file")
    p.add_argument("--hold", type=float, default=30)
    p.add_argument("pods", nargs="+", metavar="POD")
    p = sub.add_parser("exhaust")
    p.add_argument("--ip", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--other-port", type=int, required=True)
    p.add_argument("--count", type=int, default=4)
    p.add_argument("--fail-after", type=float, default=2)
    p.add_argument("pods", nargs="+", metavar="POD")
    p = sub.add_parser("refused")
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("ip")
    p.add_argument("port", type=int)
    args = ap.parse_args()
    return {"flows": cmd_flows, "exhaust": cmd_exhaust,
            "refused": cmd_refused}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
