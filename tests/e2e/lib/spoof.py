#!/usr/bin/python3
"""Forged frames for the isolation tests (scapy; run inside a pod).

  ip    IFACE SRC DST COUNT [--mac MAC]   UDP from a chosen source address
                                          (and source MAC), to the gateway
  arp   IFACE OP PSRC HWSRC PDST COUNT    an ARP request (1) or reply (2)
                                          claiming PSRC is at HWSRC
  ipv6  IFACE COUNT                       IPv6 (link-local multicast)
"""

import sys

from scapy.all import (ARP, IP, UDP, Ether, IPv6, Raw, conf, get_if_hwaddr,
                       sendp)

conf.verb = 0


def gateway_mac(iface):
    # The pod's permanent neighbour for 169.254.1.1 (nsfast sets it).
    import subprocess
    out = subprocess.run(["ip", "neigh", "show", "169.254.1.1", "dev", iface],
                         capture_output=True, text=True).stdout.split()
    return out[out.index("lladdr") + 1]


def main(argv):
    kind, iface = argv[1], argv[2]
    if kind == "ip":
        src, dst, count = argv[3], argv[4], int(argv[5])
        mac = argv[7] if len(argv) > 7 and argv[6] == "--mac" else \
            get_if_hwaddr(iface)
        frame = (Ether(src=mac, dst=gateway_mac(iface)) /
                 IP(src=src, dst=dst) / UDP(sport=4444, dport=5555) /
                 Raw(b"spoofed"))
    elif kind == "arp":
        op, psrc, hwsrc, pdst, count = (int(argv[3]), argv[4], argv[5],
                                        argv[6], int(argv[7]))
        frame = (Ether(src=get_if_hwaddr(iface), dst="ff:ff:ff:ff:ff:ff") /
                 ARP(op=op, psrc=psrc, hwsrc=hwsrc, pdst=pdst,
                     hwdst="ff:ff:ff:ff:ff:ff" if op == 2 else
                     "00:00:00:00:00:00"))
    elif kind == "ipv6":
        count = int(argv[3])
        frame = (Ether(src=get_if_hwaddr(iface), dst="33:33:00:00:00:01") /
                 IPv6(src="fe80::1", dst="ff02::1") /
                 UDP(sport=4444, dport=5555))
    else:
        sys.exit(__doc__)
    sendp(frame, iface=iface, count=count)


if __name__ == "__main__":
    main(sys.argv)
