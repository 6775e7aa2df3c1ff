#!/usr/bin/python3
"""Traffic for the port publishing and multi-node e2e tests. Standard
library only, no threads.

  serve --ports A[-B] [--tag T] [--lifetime S]
        TCP and UDP servers on 0.0.0.0:A..B (run it in a pod). Every
        request line MSG is answered with "T PORT PEER_IP:PEER_PORT MSG",
        so the client learns which pod and port answered and which source
        address the server saw (masqueraded or not).
  send --proto tcp|udp IP PORT MSG [--want-peer IP] [--want-tag T]
       [--sport N]
        one exchange; exit 0 iff the answer carries MSG (and, if given,
        the tag and the peer address the server saw). A UDP answer must
        also come from IP:PORT, as a TCP one does by construction.
        --sport: from this source port (UDP only), so that a second
        send is the same flow.
  sweep --proto tcp|udp IP A-B POD_A [--tag T]
        one exchange with every port A..B; port A+i must be answered by
        the server's port POD_A+i. Prints "sweep: N ok, M failed".
"""

import argparse
import resource
import selectors
import socket
import sys
import time


def port_range(s):
    a, _, b = s.partition("-")
    return int(a), int(b or a)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def answer(tag, port, peer, msg):
    return ("%s %d %s:%d %s\n" % (tag, port, peer[0], peer[1],
                                  msg.decode(errors="replace").strip())
            ).encode()


def cmd_serve(args):
    lo, hi = port_range(args.ports)
    raise_nofile(2 * (hi - lo + 1) + 256)
    sel = selectors.DefaultSelector()
    for port in range(lo, hi + 1):
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("0.0.0.0", port))
        lst.listen(128)
        lst.setblocking(False)
        sel.register(lst, selectors.EVENT_READ, ("listen", port))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("0.0.0.0", port))
        udp.setblocking(False)
        sel.register(udp, selectors.EVENT_READ, ("udp", port))
    print("serving on %d-%d" % (lo, hi), flush=True)
    end = time.monotonic() + args.lifetime
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            sock, (kind, port) = key.fileobj, key.data
            try:
                if kind == "listen":
                    conn, peer = sock.accept()
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ,
                                 ("conn", (port, peer)))
                elif kind == "udp":
                    data, peer = sock.recvfrom(65535)
                    sock.sendto(answer(args.tag, port, peer, data), peer)
                else:
                    lport, peer = port
                    data = sock.recv(65536)
                    if data:
                        sock.setblocking(True)
                        sock.sendall(answer(args.tag, lport, peer, data))
                    sel.unregister(sock)
                    sock.close()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                if kind == "conn":
                    sel.unregister(sock)
                    sock.close()
    return 0


def exchange(proto, ip, port, msg, timeout, sport=0):
    """One request; returns (answer line or None, where it came from)."""
    deadline = time.monotonic() + timeout
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3)
        if sport:
            s.bind(("0.0.0.0", sport))
        try:
            while time.monotonic() < deadline:
                s.sendto(msg.encode() + b"\n", (ip, port))
                try:
                    data, src = s.recvfrom(65535)
                except socket.timeout:
                    continue
                return data.decode(errors="replace").strip(), src
            return None, None
        finally:
            s.close()
    try:
        s = socket.create_connection((ip, port), timeout=timeout)
    except OSError as e:
        return None, str(e)
    try:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        s.sendall(msg.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf.decode(errors="replace").strip(), s.getpeername()
    except OSError as e:
        return None, str(e)
    finally:
        s.close()


def cmd_send(args):
    line, src = exchange(args.proto, args.ip, args.port, args.message,
                         args.timeout, args.sport)
    print("%s %s:%d -> %r from %s" % (args.proto, args.ip, args.port, line,
                                      src))
    if line is None:
        return 1
    parts = line.split(" ", 3)
    if len(parts) != 4 or parts[3] != args.message:
        return 1
    if args.want_tag and parts[0] != args.want_tag:
        return 1
    if args.want_peer and parts[2].rpartition(":")[0] != args.want_peer:
        return 1
    return 0 if tuple(src) == (args.ip, args.port) else 1


def cmd_sweep(args):
    lo, hi = port_range(args.ports)
    good = bad = 0
    for i, port in enumerate(range(lo, hi + 1)):
        msg = "sweep-%d" % port
        line, src = exchange(args.proto, args.ip, port, msg, args.timeout)
        parts = (line or "").split(" ", 3)
        ok = (len(parts) == 4 and parts[3] == msg and
              parts[1] == str(args.pod_port + i) and
              (not args.tag or parts[0] == args.tag) and
              src is not None and tuple(src) == (args.ip, port))
        if ok:
            good += 1
        else:
            bad += 1
            if bad <= 5:
                print("port %d: %r from %s" % (port, line, src))
    print("sweep: %d ok, %d failed" % (good, bad))
    return 0 if bad == 0 else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--ports", required=True)
    p.add_argument("--tag", default="srv")
    p.add_argument("--lifetime", type=float, default=120)
    p = sub.add_parser("send")
    p.add_argument("--proto", choices=["tcp", "udp"], default="tcp")
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("--want-peer")
    p.add_argument("--want-tag")
    p.add_argument("--sport", type=int, default=0)
    p.add_argument("ip")
    p.add_argument("port", type=int)
    p.add_argument("message")
    p = sub.add_parser("sweep")
    p.add_argument("--proto", choices=["tcp", "udp"], default="tcp")
    p.add_argument("--timeout", type=float, default=3)
    p.add_argument("--tag")
    p.add_argument("ip")
    p.add_argument("ports")
    p.add_argument("pod_port", type=int)
    args = ap.parse_args()
    return {"serve": cmd_serve, "send": cmd_send, "sweep": cmd_sweep}[
        args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
