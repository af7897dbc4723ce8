#!/usr/bin/env python3
"""Sanity-check a capture from make_capture.py (slow: dpkt, one packet at a time).

Checks: timestamps strictly increasing; every IPv4 header checksum (outer,
inner, quoted-in-ICMP excluded) valid; IPv4 total length equal to the bytes on
the wire; TCP/UDP checksums valid (UDP 0 allowed: "no checksum"); TCP sequence
numbers continuous per flow direction; class shares; odd-packet counts.

    python bench/check_capture.py bench/out/synthetic.pcap [--limit N]
Exit status 1 if any check fails.
"""
from __future__ import annotations

import argparse
import collections
import struct
import sys

import dpkt

from pcapdiag.testing.checksum import ones_sum


def check_ipv4(raw: bytes, problems: collections.Counter, complete: bool) -> None:
    ihl = (raw[0] & 0x0F) * 4
    if ones_sum(raw[:ihl]) != 0xFFFF:
        problems["ipv4 header checksum"] += 1
    total = struct.unpack("!H", raw[2:4])[0]
    if complete and total != len(raw):
        problems["ipv4 total length != bytes"] += 1
    flags = struct.unpack("!H", raw[6:8])[0]
    if flags & 0x3FFF or not complete:
        return  # fragment: L4 checksum spans fragments; truncated: cannot check
    proto = raw[9]
    l4 = raw[ihl:total]
    ph = raw[12:20] + struct.pack("!BBH", 0, proto, len(l4))
    if proto == 6 and ones_sum(ph + l4) != 0xFFFF:
        problems["tcp checksum"] += 1
    if proto == 17 and l4[6:8] != b"\0\0" and ones_sum(ph + l4) != 0xFFFF:
        problems["udp checksum"] += 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--limit", type=int, default=0, help="stop after N packets")
    args = ap.parse_args(argv)

    problems: collections.Counter = collections.Counter()
    classes: collections.Counter = collections.Counter()
    odd: collections.Counter = collections.Counter()
    next_seq: dict = {}
    flows: set = set()
    last_ts = None
    blind_truncated = 0
    n = 0
    with open(args.file, "rb") as f:
        reader = dpkt.pcap.UniversalReader(f)
        for ts, buf in reader:
            if args.limit and n >= args.limit:
                break
            n += 1
            if last_ts is not None and ts <= last_ts:
                problems["timestamp not increasing"] += 1
            last_ts = ts
                    # dpkt drops the record's original length; truncation is re-derived
            # from the IP total length instead.
            eth = dpkt.ethernet.Ethernet(buf)
            if eth.type == 0x0806:
                odd["arp"] += 1
                classes["non-ip"] += 1
                continue
            tags = getattr(eth, "vlan_tags", None) or []
            if tags:
                odd["vlan"] += 1
            ip = eth.data
            if isinstance(ip, dpkt.ip6.IP6):
                odd["ipv6"] += 1
                classes["native6"] += 1
                continue
            if not isinstance(ip, dpkt.ip.IP):
                problems["unparsed"] += 1
                continue
            raw = buf[14 + 4 * len(tags):]
            if ip.len > len(raw):
                odd["truncated"] += 1
                classes["truncated"] += 1
                # its TCP segment still advanced the flow's sequence numbers; a
                # cut before the TCP header explains one discontinuity later
                blind_truncated += 1
                continue
            if ip.hl > 5:
                odd["ip_options"] += 1
            check_ipv4(raw, problems, True)  # no Ethernet padding in these frames
            cls = "native"
            inner = ip
            if ip.p == 17 and isinstance(ip.data, dpkt.udp.UDP) and ip.data.dport == 8472:
                cls = "vxlan"
                inner_eth = dpkt.ethernet.Ethernet(ip.data.data[8:])
                inner = inner_eth.data
                inner_raw = ip.data.data[8 + 14:]
                check_ipv4(inner_raw, problems, True)
            elif ip.p == 4:
                cls = "ipip"
                inner_raw = raw[ip.hl * 4:ip.len]
                inner = dpkt.ip.IP(inner_raw)
                check_ipv4(inner_raw, problems, True)
            classes[cls] += 1
            if not isinstance(inner, dpkt.ip.IP):
                continue
            if inner.p == 1:
                odd["icmp"] += 1
            if (inner.mf or inner.offset):
                odd["inner fragment"] += 1
                continue
            l4 = inner.data
            if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
                key = (cls, inner.src, inner.dst, inner.p, l4.sport, l4.dport)
                flows.add(key if key[1] < key[2] else (cls, inner.dst, inner.src, inner.p, l4.dport, l4.sport))
            if isinstance(l4, dpkt.tcp.TCP):
                key = (cls, inner.src, inner.dst, inner.p, l4.sport, l4.dport)
                plen = len(l4.data) + (1 if l4.flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0)
                exp = next_seq.get(key)
                if exp is not None and exp != l4.seq:
                    problems["tcp seq discontinuity"] += 1
                next_seq[key] = (l4.seq + plen) & 0xFFFFFFFF
    total = sum(classes.values())
    print(f"packets: {n:,}")
    print("classes: " + ", ".join(f"{k} {v:,} ({100 * v / total:.1f}%)" for k, v in classes.most_common()))
    print(f"odd: {dict(odd)}")
    print(f"inner flows (bidirectional 5-tuples + class): {len(flows):,}")
    gaps = problems.pop("tcp seq discontinuity", 0)
    print(f"tcp seq discontinuities: {gaps} (truncated frames, each may explain one: {blind_truncated})")
    if gaps > blind_truncated:
        problems["tcp seq discontinuity (unexplained)"] = gaps - blind_truncated
    print(f"problems: {dict(problems) or 'none'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
