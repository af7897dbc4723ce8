"""The answer key: what tshark reads in the written captures, and what a diagnosis should conclude."""
from __future__ import annotations

import collections
import os

from lab.netns import sh

from .common import CIDRS, PODS, SNAPLEN, UNDERLAY_MTU, WG_FIXED

FIELDS = ["frame.len", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "ip.len", "ipv6.plen", "ip.flags.mf",
          "ip.frag_offset", "ipv6.fraghdr.offset", "ip.proto", "udp.srcport", "udp.dstport", "udp.length",
          "wg.type", "wg.sender", "wg.receiver", "esp.spi", "esp.sequence", "isakmp.ispi", "isakmp.rspi",
          "isakmp.exchangetype", "icmp.type", "icmpv6.type"]


def rows(path, decode):
    """One dict per frame, each field a list (a frame may carry a field more than once)."""
    out = sh(["tshark", "-n", "-r", path, *decode, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
              "-E", "aggregator=,", *[a for f in FIELDS for a in ("-e", f)]])
    return [dict(zip(FIELDS, (v.split(",") if v else [] for v in line.split("\t")))) for line in out.splitlines()]


def first(row, *fields):
    return next((row[f][0] for f in fields if row.get(f)), None)


def outer_ip_len(row):
    if row["ip.len"]:
        return int(row["ip.len"][0])
    return int(row["ipv6.plen"][0]) + 40 if row["ipv6.plen"] else None


def outer_fragment(row):
    return row["ip.flags.mf"][:1] == ["1"] or row["ip.frag_offset"][:1] not in ([], ["0"]) or bool(row["ipv6.fraghdr.offset"])


def common_counts(path, table):
    outer = [n for n in map(outer_ip_len, table) if n]
    return {
        "frames": len(table), "bytes": os.path.getsize(path),
        "largest_outer_ip_len": max(outer, default=None),
        "outer_fragments": sum(map(outer_fragment, table)),
        "icmp_errors": sum(1 for r in table if first(r, "icmp.type", "icmpv6.type") not in (None, "0", "8", "128", "129",
                                                                                             "133", "134", "135", "136", "143")),
    }


def wireguard_counts(path, port):
    table = rows(path, ["-d", f"udp.port=={port},wg"])
    types = collections.Counter(r["wg.type"][0] for r in table if r["wg.type"])
    sizes = collections.defaultdict(collections.Counter)
    data_payload = collections.Counter()
    pairs = set()
    for r in table:
        if not r["wg.type"]:
            continue
        sizes[r["wg.type"][0]][int(r["udp.length"][0]) - 8] += 1
        if r["wg.type"][0] == "4":
            data_payload[int(r["udp.length"][0]) - 8] += 1
        if r["wg.type"][0] == "2":  # a response names both ends' receiver indices: one session
            pairs.add((r["wg.sender"][0], r["wg.receiver"][0]))
    counts = common_counts(path, table)
    counts.update({
        "wireguard_messages": {name: types.get(t, 0) for t, name in
                               (("1", "initiation"), ("2", "response"), ("3", "cookie_reply"), ("4", "transport_data"))},
        "udp_payload_sizes_by_type": {t: dict(sorted(c.items())) for t, c in sorted(sizes.items())},
        "sessions_by_receiver_index": sorted(f"{a}<->{b}" for a, b in pairs),
        "transport_data_payload_range": [min(data_payload, default=None), max(data_payload, default=None)],
        "keepalives": data_payload.get(32, 0),
    })
    return counts


def wireguard_entry(sc, path, apps):
    """The truth.json entry of one WireGuard capture."""
    fixed = WG_FIXED[sc.ip_version]
    return {
        "scenario": sc.name, "description": sc.about, "kind": "wireguard", "made_by": "wireguard-go (real traffic)",
        "fault": sc.fault, "udp_port": sc.port, "underlay_ip_version": sc.ip_version,
        "capture": {"node": "node1", "interface": "eth0", "snaplen": SNAPLEN},
        "nodes": {f"node{n}": a for n, a in sc.underlay.items()}, "pods": {f"pod{n}": a for n, a in PODS.items()},
        "pod_cidrs": {f"node{n}": c for n, c in CIDRS.items()},
        "pods_hidden": "the pod addresses exist only inside the encrypted payload: a capture of the underlay "
                       "shows the nodes, never the pods",
        "underlay_mtu": UNDERLAY_MTU, "wg_mtu": sc.wg_mtu, "pod_mtu": sc.pod_mtu,
        "overhead": {"fixed": fixed, "padding": [0, 15],
                     "rule": f"inner IP length = outer IP length - {fixed} - padding (0..15): a transport data "
                             "packet of outer length L carries an inner packet of L-{0}-15 .. L-{0} bytes".format(fixed)},
        "largest_inner_that_fits": UNDERLAY_MTU - fixed,
        "expected": sc.expect,
        "measured": wireguard_counts(path, sc.port),
        "applications": apps,
    }
