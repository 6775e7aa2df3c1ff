#!/usr/bin/python3
"""Traffic for the nsfast e2e tests. Standard library only, no threads.

  serve --port P [--lifetime S]            TCP and UDP echo server on
                                           0.0.0.0:P (run it in a pod)
  send --proto tcp|udp IP PORT MESSAGE     one exchange with `serve`;
                                           exit 0 iff MESSAGE comes back
  stream IP PORT [--duration S] [--interval S]
                                           one TCP connection to `serve`,
                                           a numbered line every interval,
                                           each must come back in order
  mesh [--port P] [--timeout S] NAME=IP... full mesh among pods: a TCP
                                           and a UDP server in every pod,
                                           every pod sends its name to
                                           every other pod over both and
                                           must get "SERVER:NAME" back

`mesh` runs in one process and reaches each pod by setns(2) on
/run/netns/NAME: a socket belongs to the namespace it was created in, so
the process enters a pod only to create that pod's sockets.
"""

import argparse
import ctypes
import errno
import os
import resource
import selectors
import socket
import sys
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: " + os.strerror(err))


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


# ---- serve / send / stream: run inside a pod (ip netns exec) ----


def cmd_serve(args):
    sel = selectors.DefaultSelector()
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("0.0.0.0", args.port))
    lst.listen(128)
    lst.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", args.port))
    udp.setblocking(False)
    sel.register(lst, selectors.EVENT_READ, "listen")
    sel.register(udp, selectors.EVENT_READ, "udp")
    print("serving on port %d" % args.port, flush=True)
    end = time.monotonic() + args.lifetime
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            sock, kind = key.fileobj, key.data
            if kind == "listen":
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, "conn")
            elif kind == "udp":
                try:
                    data, peer = sock.recvfrom(65535)
                except BlockingIOError:
                    continue
                sock.sendto(data, peer)
            else:
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(sock)
                    sock.close()
                    continue
                # Small lines: a blocking sendall is fine for an echo.
                sock.setblocking(True)
                sock.sendall(data)
                sock.setblocking(False)
    return 0


def cmd_send(args):
    msg = args.message.encode()
    deadline = time.monotonic() + args.timeout
    if args.proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.5)
        if args.connect:  # as dig, Go's net.Dial("udp") and most clients
            s.connect((args.ip, args.port))
        while time.monotonic() < deadline:
            s.sendto(msg, (args.ip, args.port))
            try:
                data, peer = s.recvfrom(65535)
            except socket.timeout:
                continue
            ok = data == msg and peer == (args.ip, args.port)
            print("udp reply from %s:%d: %r" % (peer[0], peer[1], data))
            return 0 if ok else 1
        print("udp: no reply from %s:%d" % (args.ip, args.port))
        return 1
    while True:
        try:
            s = socket.create_connection((args.ip, args.port),
                                         timeout=max(0.1, deadline -
                                                     time.monotonic()))
            break
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)  # server still starting
    s.sendall(msg + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    print("tcp reply from %s:%d: %r" % (args.ip, args.port, buf))
    return 0 if buf == msg + b"\n" else 1


def cmd_stream(args):
    deadline = time.monotonic() + 5
    while True:
        try:
            s = socket.create_connection((args.ip, args.port), timeout=2)
            break
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
    s.settimeout(2)
    f = s.makefile("rb")
    seq = 0
    worst = 0.0
    end = time.monotonic() + args.duration
    while time.monotonic() < end:
        line = b"seq %d\n" % seq
        t0 = time.monotonic()
        s.sendall(line)
        back = f.readline()
        rtt = time.monotonic() - t0
        worst = max(worst, rtt)
        if back != line:
            print("stream: sent %r, got %r after %d good lines"
                  % (line, back, seq))
            return 1
        seq += 1
        time.sleep(args.interval)
    s.close()
    print("stream: %d lines echoed in order over one connection, "
          "worst round trip %.1f ms" % (seq, worst * 1000))
    return 0 if seq > 0 else 1


# ---- mesh: one process, every pod ----


class Mesh:
    def __init__(self, pods, port, window):
        self.pods = pods  # [(name, ip)]
        self.port = port
        self.window = window
        self.sel = selectors.DefaultSelector()
        self.nsfd = {}
        self.tcp_todo = [(c, s) for c in range(len(pods))
                         for s in range(len(pods)) if c != s]
        self.tcp_inflight = 0
        self.tcp_ok = set()
        self.udp_ok = set()
        self.errors = []
        self.udp_client = {}

    def enter(self, i):
        setns(self.nsfd[i])

    def setup(self):
        for i, (name, ip) in enumerate(self.pods):
            self.nsfd[i] = os.open("/run/netns/" + name, os.O_RDONLY)
            self.enter(i)
            lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lst.bind((ip, self.port))
            lst.listen(256)
            lst.setblocking(False)
            self.sel.register(lst, selectors.EVENT_READ, ("listen", i))
            srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            srv.bind((ip, self.port))
            srv.setblocking(False)
            self.sel.register(srv, selectors.EVENT_READ, ("udp-srv", i))
            cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            cli.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            cli.bind((ip, 0))
            cli.setblocking(False)
            self.sel.register(cli, selectors.EVENT_READ, ("udp-cli", i))
            self.udp_client[i] = cli

    def reply(self, server, payload):
        return ("%s:%s" % (self.pods[server][0], payload)).encode()

    # TCP client: connect, send NAME\n, expect SERVER:NAME\n, done.
    def start_tcp(self):
        while self.tcp_todo and self.tcp_inflight < self.window:
            c, s = self.tcp_todo.pop()
            self.enter(c)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.bind((self.pods[c][1], 0))
            err = sock.connect_ex((self.pods[s][1], self.port))
            if err not in (0, errno.EINPROGRESS):
                self.errors.append("tcp %s->%s: connect: %s" % (
                    self.pods[c][0], self.pods[s][0], os.strerror(err)))
                sock.close()
                continue
            state = {"c": c, "s": s, "buf": b"", "sent": False}
            self.sel.register(sock, selectors.EVENT_WRITE,
                              ("tcp-cli", state))
            self.tcp_inflight += 1

    def tcp_cli_event(self, sock, st):
        c, s = st["c"], st["s"]
        pair = "tcp %s->%s" % (self.pods[c][0], self.pods[s][0])
        if not st["sent"]:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self.tcp_done(sock, "%s: connect: %s"
                                     % (pair, os.strerror(err)))
            sock.send((self.pods[c][0] + "\n").encode())
            st["sent"] = True
            self.sel.modify(sock, selectors.EVENT_READ, ("tcp-cli", st))
            return None
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return None
        except OSError as e:
            return self.tcp_done(sock, "%s: recv: %s" % (pair, e))
        st["buf"] += data
        if data and not st["buf"].endswith(b"\n"):
            return None
        want = self.reply(s, self.pods[c][0]) + b"\n"
        if st["buf"] != want:
            return self.tcp_done(sock, "%s: got %r, want %r"
                                 % (pair, st["buf"], want))
        self.tcp_ok.add((c, s))
        return self.tcp_done(sock, None)

    def tcp_done(self, sock, error):
        if error:
            self.errors.append(error)
        self.sel.unregister(sock)
        sock.close()
        self.tcp_inflight -= 1
        return None

    def tcp_srv_event(self, sock, st):
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        st["buf"] += data
        if data and not st["buf"].endswith(b"\n"):
            return
        if st["buf"].endswith(b"\n"):
            name = st["buf"][:-1].decode(errors="replace")
            sock.setblocking(True)
            sock.settimeout(2)
            try:
                sock.sendall(self.reply(st["s"], name) + b"\n")
            except OSError as e:
                self.errors.append("tcp server %s: send: %s"
                                   % (self.pods[st["s"]][0], e))
        self.sel.unregister(sock)
        sock.close()

    def send_udp(self, missing):
        for c, s in missing:
            try:
                self.udp_client[c].sendto(self.pods[c][0].encode(),
                                          (self.pods[s][1], self.port))
            except (BlockingIOError, OSError) as e:
                if not isinstance(e, BlockingIOError):
                    self.errors.append("udp %s->%s: %s" % (
                        self.pods[c][0], self.pods[s][0], e))

    def run(self, timeout, do_tcp, do_udp):
        n = len(self.pods)
        pairs = {(c, s) for c in range(n) for s in range(n) if c != s}
        if not do_tcp:
            self.tcp_todo = []
        by_ip = {ip: i for i, (_, ip) in enumerate(self.pods)}
        t0 = time.monotonic()
        end = t0 + timeout
        next_udp = t0
        while time.monotonic() < end:
            if do_tcp:
                self.start_tcp()
            if do_udp and time.monotonic() >= next_udp:
                # First round, then a resend of what is missing each second.
                self.send_udp(sorted(pairs - self.udp_ok))
                next_udp = time.monotonic() + 1.0
            tcp_left = do_tcp and (self.tcp_todo or self.tcp_inflight)
            udp_left = do_udp and len(self.udp_ok) < len(pairs)
            if not tcp_left and not udp_left:
                break
            for key, _ in self.sel.select(timeout=0.1):
                kind, arg = key.data
                sock = key.fileobj
                if kind == "listen":
                    try:
                        conn, _ = sock.accept()
                    except BlockingIOError:
                        continue
                    conn.setblocking(False)
                    self.sel.register(conn, selectors.EVENT_READ,
                                      ("tcp-srv", {"s": arg, "buf": b""}))
                elif kind == "tcp-srv":
                    self.tcp_srv_event(sock, arg)
                elif kind == "tcp-cli":
                    self.tcp_cli_event(sock, arg)
                elif kind == "udp-srv":
                    while True:
                        try:
                            data, peer = sock.recvfrom(4096)
                        except BlockingIOError:
                            break
                        sock.sendto(self.reply(arg, data.decode()), peer)
                elif kind == "udp-cli":
                    while True:
                        try:
                            data, peer = sock.recvfrom(4096)
                        except BlockingIOError:
                            break
                        s = by_ip.get(peer[0])
                        if s is not None and peer[1] == self.port and \
                                data == self.reply(s, self.pods[arg][0]):
                            self.udp_ok.add((arg, s))
                        else:
                            self.errors.append(
                                "udp reply to %s from %s: %r" %
                                (self.pods[arg][0], peer, data))
        elapsed = time.monotonic() - t0
        want = len(pairs)
        good = True
        if do_tcp:
            print("tcp: %d/%d pairs echoed" % (len(self.tcp_ok), want))
            good &= len(self.tcp_ok) == want
            for c, s in sorted(pairs - self.tcp_ok)[:10]:
                print("tcp missing: %s -> %s"
                      % (self.pods[c][0], self.pods[s][0]))
        if do_udp:
            print("udp: %d/%d pairs echoed" % (len(self.udp_ok), want))
            good &= len(self.udp_ok) == want
            for c, s in sorted(pairs - self.udp_ok)[:10]:
                print("udp missing: %s -> %s"
                      % (self.pods[c][0], self.pods[s][0]))
        for e in self.errors[:10]:
            print("error: " + e)
        good &= not self.errors
        print("mesh of %d pods done in %.2f s" % (n, elapsed))
        return 0 if good else 1


def cmd_mesh(args):
    pods = []
    for spec in args.pods:
        name, _, ip = spec.partition("=")
        if not name or not ip:
            sys.exit("mesh: want NAME=IP, got %r" % spec)
        pods.append((name, ip))
    if len(pods) < 2:
        sys.exit("mesh: need at least two pods")
    raise_nofile(4 * len(pods) + 2 * args.window + 64)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    mesh = Mesh(pods, args.port, args.window)
    try:
        mesh.setup()
        return mesh.run(args.timeout, not args.udp_only, not args.tcp_only)
    finally:
        setns(home)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--port", type=int, default=7000)
    p.add_argument("--lifetime", type=float, default=60)
    p = sub.add_parser("send")
    p.add_argument("--proto", choices=("tcp", "udp"), default="tcp")
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("--connect", action="store_true",
                   help="udp: a connected socket (else sendto/recvfrom)")
    p.add_argument("ip")
    p.add_argument("port", type=int)
    p.add_argument("message")
    p = sub.add_parser("stream")
    p.add_argument("--duration", type=float, default=3)
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("ip")
    p.add_argument("port", type=int)
    p = sub.add_parser("mesh")
    p.add_argument("--port", type=int, default=7000)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--window", type=int, default=256,
                   help="TCP connections in flight at most")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tcp-only", action="store_true")
    g.add_argument("--udp-only", action="store_true")
    p.add_argument("pods", nargs="+", metavar="NAME=IP")
    args = ap.parse_args()
    return {"serve": cmd_serve, "send": cmd_send, "stream": cmd_stream,
            "mesh": cmd_mesh}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
