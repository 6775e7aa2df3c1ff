#!/usr/bin/python3
"""Traffic for the nsfast hardening tests (85_faults.sh, 80_malformed.sh,
bench/stress.sh). Standard library only; run inside a pod (ip netns exec).

  udpflows --ip IP --port P --flows N [--rounds R] [--timeout S]
      N UDP sockets, each its own flow (own source port), exchange one
      datagram with a UDP echo server (nettool.py serve) in turn, R rounds
      over the same sockets. Every reply must come back to the socket
      that sent it with that socket's payload: a reply carrying another
      flow's payload is a hijacked reply ("mismatch"), none in time is
      "lost". Prints one JSON object; exit 0 iff nothing was lost or
      mismatched.
"""

import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nettool import raise_nofile  # noqa: E402


def cmd_udpflows(a):
    raise_nofile(a.flows + 64)
    socks = []
    for _ in range(a.flows):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 0))
        s.settimeout(a.timeout)
        socks.append(s)
    res = {"flows": a.flows, "rounds": a.rounds, "ok": 0, "lost": 0,
           "mismatch": 0, "first_problems": []}
    tag = os.getpid()
    for r in range(a.rounds):
        for i, s in enumerate(socks):
            msg = ("%d:%d:%d" % (tag, i, r)).encode()
            try:
                s.sendto(msg, (a.ip, a.port))
                while True:
                    data, peer = s.recvfrom(2048)
                    if peer == (a.ip, a.port):
                        break
            except OSError as e:
                res["lost"] += 1
                if len(res["first_problems"]) < 5:
                    res["first_problems"].append("flow %d round %d: %s"
                                                 % (i, r, e))
                continue
            if data == msg:
                res["ok"] += 1
            else:
                res["mismatch"] += 1
                if len(res["first_problems"]) < 5:
                    res["first_problems"].append(
                        "flow %d round %d got %r" % (i, r, data))
    for s in socks:
        s.close()
    print(json.dumps(res))
    return 0 if res["lost"] == 0 and res["mismatch"] == 0 else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("udpflows")
    u.add_argument("--ip", required=True)
    u.add_argument("--port", type=int, required=True)
    u.add_argument("--flows", type=int, default=1000)
    u.add_argument("--rounds", type=int, default=2)
    u.add_argument("--timeout", type=float, default=2.0)
    a = p.parse_args()
    return {"udpflows": cmd_udpflows}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
