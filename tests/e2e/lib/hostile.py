#!/usr/bin/python3
"""Malformed and hostile frames for tests/e2e/80_malformed.sh (scapy).

  hostile.py CASE --iface IF --dst-mac MAC --src-ip A --dst-ip B
             [--count N] [--expect-icmp TYPE] [--timeout S]

Run inside the sending namespace (ip netns exec). Sends --count copies of
the frame CASE describes out of IF to MAC, layer 2 (so nothing in the
sender's stack fixes it up). --expect-icmp TYPE: then wait for an ICMP
message of that type addressed to A and exit 0 only if one came.
`hostile.py list` prints the case names. `hostile.py serve` reads such
argument lines (without the program name) from stdin and answers each with
one line "done STATUS [OUTPUT]": scapy loads once for a whole run.
"""

import argparse
import random
import struct
import sys
import time

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether,  # noqa: E402
                       Raw, conf, get_if_hwaddr, sendp, AsyncSniffer)

conf.verb = 0


def ip_csum(hdr):
    s = 0
    for i in range(0, len(hdr), 2):
        s += (hdr[i] << 8) + (hdr[i + 1] if i + 1 < len(hdr) else 0)
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def patch_ip(raw, **kw):
    """Edit IPv4 header fields of an Ethernet frame in bytes, then fix the
    header checksum unless bad_csum."""
    b = bytearray(raw)
    ip = 14
    if "ihl" in kw:
        b[ip] = 0x40 | kw["ihl"]
    if "tot_len" in kw:
        struct.pack_into("!H", b, ip + 2, kw["tot_len"])
    ihl = (b[ip] & 15) * 4
    hdr_end = min(ip + max(ihl, 20), len(b))
    struct.pack_into("!H", b, ip + 10, 0)
    c = ip_csum(bytes(b[ip:hdr_end]))
    if kw.get("bad_csum"):
        c ^= 0x5555
    struct.pack_into("!H", b, ip + 10, c)
    return bytes(b)


def build(case, a):
    eth = Ether(dst=a.dst_mac, src=a.src_mac)
    ip = IP(src=a.src_ip, dst=a.dst_ip, ttl=64, id=random.randrange(65536))
    udp = UDP(sport=random.randrange(20000, 30000), dport=7009)
    data = Raw(b"nsfast-hostile-" + case.encode())
    base = eth / ip / udp / data
    raw = bytes(base)
    if case == "trunc-ip":
        return [raw[:14 + 10]]
    if case == "trunc-l4":  # IP header claims UDP, 3 bytes of it follow
        return [patch_ip(raw[:14 + 20 + 3], tot_len=23)]
    if case == "bad-ihl-4":
        return [patch_ip(raw, ihl=4)]
    if case == "bad-ihl-15":
        return [patch_ip(raw, ihl=15)]
    if case == "totlen-long":
        return [patch_ip(raw, tot_len=len(raw) - 14 + 100)]
    if case == "totlen-short":
        return [patch_ip(raw, tot_len=12)]
    if case == "bad-ipcsum":
        return [patch_ip(raw, bad_csum=True)]
    if case == "ip-options":  # NOPs and a Record Route option
        opt = b"\x01\x01\x07\x07\x04" + b"\x00" * 4 + b"\x00" * 3
        return [bytes(eth / IP(src=a.src_ip, dst=a.dst_ip, ttl=64,
                               options=[Raw(opt)]) / udp / data)]
    if case == "frag-first":
        return [bytes(eth / IP(src=a.src_ip, dst=a.dst_ip, flags="MF",
                               frag=0, id=4242) / udp / data /
                      Raw(b"x" * 16))]
    if case == "frag-middle":
        return [bytes(eth / IP(src=a.src_ip, dst=a.dst_ip, flags="MF",
                               frag=5, id=4242, proto=17) / Raw(b"y" * 40))]
    if case == "frag-overlap":
        f1 = eth / IP(src=a.src_ip, dst=a.dst_ip, flags="MF", frag=0,
                      id=4343) / udp / Raw(b"a" * 40)
        f2 = eth / IP(src=a.src_ip, dst=a.dst_ip, frag=2, id=4343,
                      proto=17) / Raw(b"b" * 40)
        return [bytes(f1), bytes(f2)]
    if case == "ttl1":
        return [bytes(eth / IP(src=a.src_ip, dst=a.dst_ip, ttl=1) / udp /
                      data)]
    if case == "ttl0":
        return [bytes(eth / IP(src=a.src_ip, dst=a.dst_ip, ttl=0) / udp /
                      data)]
    if case == "bad-l4csum":
        b = bytearray(raw)
        b[14 + 20 + 6] ^= 0x5a
        return [bytes(b)]
    if case == "udp-zero":
        return [bytes(eth / ip / udp)]
    if case == "udp-odd":
        return [bytes(eth / ip / udp / data / Raw(b"abc"))]
    if case == "udp-badlen":  # UDP length beyond the IP payload
        return [bytes(eth / ip / UDP(sport=udp.sport, dport=7009,
                                     len=400) / data)]
    if case in ("tcp-synfin", "tcp-null", "tcp-xmas", "tcp-synrst"):
        flags = {"tcp-synfin": "SF", "tcp-null": "", "tcp-xmas": "FPU",
                 "tcp-synrst": "SR"}[case]
        return [bytes(eth / ip / TCP(sport=random.randrange(20000, 30000),
                                     dport=7009, flags=flags))]
    if case == "icmp-err-noflow":  # quotes a flow nobody has
        quoted = IP(src=a.dst_ip, dst=a.src_ip, ttl=30) / UDP(
            sport=40000, dport=random.randrange(1024, 65535))
        return [bytes(eth / ip.copy() / ICMP(type=3, code=3) /
                      bytes(quoted)[:28])]
    if case == "icmp-redirect":
        return [bytes(eth / ip.copy() / ICMP(type=5, code=1,
                                             gw=a.src_ip) /
                      bytes(IP(src=a.src_ip, dst=a.dst_ip) / udp)[:28])]
    if case == "arp-flood":
        frames = []
        for i in range(500):
            tgt = random.choice([a.dst_ip, "169.254.1.1",
                                 "10.%d.%d.%d" % (random.randrange(256),
                                                  random.randrange(256),
                                                  random.randrange(256))])
            frames.append(bytes(Ether(dst="ff:ff:ff:ff:ff:ff",
                                      src=a.src_mac) /
                                ARP(op=1, hwsrc=a.src_mac, psrc=a.src_ip,
                                    pdst=tgt)))
        return frames
    if case == "l2-broadcast":
        return [bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=a.src_mac) / ip /
                      udp / data)]
    if case == "vlan":  # 802.1Q, VLAN 100
        return [bytes(eth / Dot1Q(vlan=100) / ip / udp / data)]
    if case == "vlan-prio":  # 802.1Q priority tag (VLAN 0)
        return [bytes(eth / Dot1Q(vlan=0, prio=5) / ip / udp / data)]
    if case == "plain":  # a well-formed datagram, for comparison
        return [raw]
    raise SystemExit("unknown case " + case)


CASES = ["trunc-ip", "trunc-l4", "bad-ihl-4", "bad-ihl-15", "totlen-long",
         "totlen-short", "bad-ipcsum", "ip-options", "frag-first",
         "frag-middle", "frag-overlap", "ttl1", "ttl0", "bad-l4csum",
         "udp-zero", "udp-odd", "udp-badlen", "tcp-synfin", "tcp-null",
         "tcp-xmas", "tcp-synrst", "icmp-err-noflow", "icmp-redirect",
         "arp-flood", "l2-broadcast", "vlan", "vlan-prio", "plain"]


def parser():
    p = argparse.ArgumentParser()
    p.add_argument("case")
    p.add_argument("--iface", default="eth0")
    p.add_argument("--dst-mac")
    p.add_argument("--src-ip")
    p.add_argument("--dst-ip")
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--expect-icmp", type=int)
    p.add_argument("--timeout", type=float, default=3)
    return p


def run(a):
    a.src_mac = get_if_hwaddr(a.iface)
    sn = None
    if a.expect_icmp is not None:
        sn = AsyncSniffer(iface=a.iface, filter="icmp and dst host %s"
                          % a.src_ip, count=1, timeout=a.timeout)
        sn.start()
        time.sleep(0.3)
    frames = [f for _ in range(a.count) for f in build(a.case, a)]
    sendp(frames, iface=a.iface)  # one socket for all of them
    if sn is None:
        return 0
    sn.join()
    got = [p for p in (sn.results or []) if ICMP in p and
           p[ICMP].type == a.expect_icmp]
    a.out = ("icmp type %d from %s" % (a.expect_icmp, got[0][IP].src)
             if got else "no icmp type %d" % a.expect_icmp)
    return 0 if got else 1


def main():
    if sys.argv[1:] == ["list"]:
        print(" ".join(CASES))
        return 0
    if sys.argv[1:] == ["serve"]:
        for line in sys.stdin:
            a = parser().parse_args(line.split())
            a.out = ""
            try:
                rc = run(a)
            except Exception as e:  # report, keep serving
                rc, a.out = 2, repr(e)
            print("done %d %s" % (rc, a.out), flush=True)
        return 0
    a = parser().parse_args()
    a.out = ""
    rc = run(a)
    if a.out:
        print(a.out)
    return rc


if __name__ == "__main__":
    sys.exit(main())
