#!/usr/bin/env python3
"""The "obvious script" baseline: what a user writes with dpkt before pcapdiag.

Full dpkt parse of every packet: Ethernet -> IP -> UDP -> VXLAN header by hand
(port 8472/4789) -> inner Ethernet -> IP -> TCP/UDP, or IPIP -> inner IP, and
a per-flow packet/byte dict. No vectorisation, no cleverness, no shortcuts:
this is the yardstick pcapdiag's speed is compared with.

    python bench/naive_dpkt.py FILE        # prints a JSON summary on stdout
"""
from __future__ import annotations

import json
import socket
import sys
from collections import defaultdict

import dpkt

VXLAN_PORTS = {4789, 8472}


def main(path: str) -> int:
    flows = defaultdict(lambda: [0, 0])  # key -> [packets, bytes]
    packets = skipped = 0
    with open(path, "rb") as f:
        # dpkt.pcap.Reader for pcap; UniversalReader also takes pcapng
        for ts, buf in dpkt.pcap.UniversalReader(f):
            packets += 1
            try:
                eth = dpkt.ethernet.Ethernet(buf)
                ip = eth.data
                if not isinstance(ip, dpkt.ip.IP):
                    skipped += 1
                    continue
                encap, outer_src, outer_dst, vni = "native", "", "", None
                if isinstance(ip.data, dpkt.udp.UDP) and ip.data.dport in VXLAN_PORTS:
                    vx = ip.data.data
                    # VXLAN: flags(1) reserved(3) VNI(3) reserved(1), I flag 0x08
                    if len(vx) >= 8 and vx[0] & 0x08:
                        vni = int.from_bytes(vx[4:7], "big")
                        inner = dpkt.ethernet.Ethernet(vx[8:])
                        encap = "vxlan"
                        outer_src, outer_dst = socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst)
                        ip = inner.data
                elif ip.p == 4:  # IP-in-IP: dpkt already parsed the inner IP
                    encap = "ipip"
                    outer_src, outer_dst = socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst)
                    ip = ip.data
                if not isinstance(ip, dpkt.ip.IP):
                    skipped += 1
                    continue
                l4 = ip.data
                if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
                    sport, dport = l4.sport, l4.dport
                else:
                    sport = dport = 0
                key = (encap, outer_src, outer_dst, vni, socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst),
                       ip.p, sport, dport)
                entry = flows[key]
                entry[0] += 1
                entry[1] += len(buf)
            except (dpkt.UnpackError, ValueError, IndexError):
                skipped += 1
    top = sorted(flows.items(), key=lambda kv: -kv[1][1])[:5]
    json.dump({
        "packets": packets,
        "skipped": skipped,
        "flows": len(flows),
        "top_flows": [{"key": list(k), "packets": v[0], "bytes": v[1]} for k, v in top],
    }, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: naive_dpkt.py FILE")
    sys.exit(main(sys.argv[1]))
