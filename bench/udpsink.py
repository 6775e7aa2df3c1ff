#!/usr/bin/python3
"""udpsink: UDP sockets that are never read, for bench/run.sh.

    udpsink.py SECS PORT|LOW-HIGH ...

Binds a UDP socket on 0.0.0.0 to every given port, with the smallest
receive buffer the kernel allows, then sleeps SECS seconds (or until
killed). Packets to these ports are counted by IP (InReceives), found by
UDP and dropped at the full socket: a cheap, equal end for the blasted
traffic in every path. Without a socket, every packet would make the
receiver attempt an ICMP port unreachable (a route lookup each, before
the rate limit), which costs more than the datapaths being compared.
"""
import resource
import signal
import socket
import sys
import time


def ports(args):
    for a in args:
        lo, _, hi = a.partition("-")
        for p in range(int(lo), int(hi or lo) + 1):
            yield p


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    secs = float(sys.argv[1])
    wanted = list(ports(sys.argv[2:]))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = len(wanted) + 64
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    socks = []
    for p in wanted:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        s.bind(("0.0.0.0", p))
        socks.append(s)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"udpsink: {len(socks)} ports", flush=True)
    time.sleep(secs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
