"""The answer key: counts measured with tshark from the written captures, and what a diagnosis should conclude."""
from __future__ import annotations

import collections
import os

from .common import (CIDRS, NODES, OVERHEAD, POD_MTU, PODS, RANDOM_LOSS, SNAPLEN, UNDERLAY_MTU, VNI, VXLAN_PORT,
                     run)


FIELDS = ["frame.time_epoch", "ip.src", "ip.dst", "ip.len", "ip.id", "ip.flags.df", "ip.flags.mf", "ip.frag_offset", "udp.srcport",
          "tcp.stream", "tcp.srcport", "tcp.seq_raw", "tcp.len", "tcp.seq", "tcp.ack", "tcp.flags.syn",
          "icmp.type", "icmp.seq"]


def tshark(path, *args):
    decode = ["-d", f"udp.port=={VXLAN_PORT},vxlan"]
    return run("tshark", "-n", "-r", path, *decode, *args, timeout=120)


def packets(path):
    out = tshark(path, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,",
                 *[a for f in FIELDS for a in ("-e", f)])
    rows = []
    for line in out.splitlines():
        row = dict(zip(FIELDS, (v.split(",") if v else [] for v in line.split("\t"))))
        if row.get("ip.src"):
            rows.append(row)
    return rows


def last(row, field, default=None):
    return row[field][-1] if row.get(field) else default


def side(addr):
    """1 or 2: the node an outer address belongs to (its underlay address, or its pod CIDR when native)."""
    return next((n for n in NODES if addr == NODES[n] or addr.startswith(CIDRS[n].rsplit(".", 1)[0] + ".")), 0)


def direction(row):
    """node1->node2 / node2->node1 by the outer addresses (the pods' own for native routing)."""
    ends = (side(row["ip.src"][0]), side(row["ip.dst"][0]))
    return {(1, 2): "node1->node2", (2, 1): "node2->node1"}.get(ends, "other")


def file_counts(path, rows):
    retrans = collections.Counter()
    for line in tshark(path, "-Y", "tcp.analysis.retransmission", "-T", "fields", "-E", "occurrence=l",
                       "-e", "ip.src", "-e", "ip.dst").splitlines():
        retrans[line.replace("\t", "->")] += 1
    echo = {"requests": collections.Counter(), "replies": collections.Counter()}
    for r in rows:
        kind = {"8": "requests", "0": "replies"}.get(last(r, "icmp.type"))
        if kind and len(r["icmp.type"]) == 1:
            echo[kind][int(last(r, "ip.len")) - 28] += 1
    streams = {}
    for r in rows:
        if not r.get("tcp.stream"):
            continue
        s = streams.setdefault(last(r, "tcp.stream"), {"client": None, "data": collections.Counter(),
                                                        "acked": collections.Counter(), "syn": 0})
        src = last(r, "ip.src")
        if last(r, "tcp.flags.syn") == "1" and s["client"] is None:
            s["client"] = src
        end = int(last(r, "tcp.seq")) + int(last(r, "tcp.len"))
        s["data"][src] = max(s["data"][src], end)
        s["acked"][src] = max(s["acked"][src], int(last(r, "tcp.ack", 0)))
    tcp = {}
    for sid, s in sorted(streams.items(), key=lambda kv: int(kv[0])):
        c = s["client"] or next(iter(s["data"]))
        srv = next((a for a in s["data"] if a != c), PODS[2] if c == PODS[1] else PODS[1])
        tcp[sid] = {"client": c, "server": srv,
                    "client_highest_seq": s["data"][c], "acked_by_server": s["acked"][srv],
                    "unacked_client_bytes_at_end": max(0, s["data"][c] - s["acked"][srv])}
    return {
        "frames": int(run("capinfos", "-c", "-M", "-T", path).split("\n")[1].split("\t")[1]),
        "bytes": os.path.getsize(path),
        "tcp_retransmissions": dict(sorted(retrans.items())),
        "echo_requests_by_size": {str(k): v for k, v in sorted(echo["requests"].items())},
        "echo_replies_by_size": {str(k): v for k, v in sorted(echo["replies"].items())},
        "icmp_errors": sum(1 for r in rows if r.get("icmp.type") and r["icmp.type"][0] not in ("0", "8")),
        "outer_fragments": sum(1 for r in rows if r["ip.flags.mf"][:1] == ["1"] or r["ip.frag_offset"][:1] not in ([], ["0"])),
        "outer_ip_with_df": sum(1 for r in rows if r["ip.flags.df"][:1] == ["1"]),
        "outer_ip_packets": len(rows),
        "tcp_streams": tcp,
    }


def key(row):
    return tuple(tuple(row.get(f, [])) for f in FIELDS
                 if f not in ("frame.time_epoch", "tcp.stream", "tcp.seq", "tcp.ack"))


def vanished(sent_rows, got_rows, way, cut):
    """Outer IP lengths of one direction's packets captured on the sending node, split into those the
    receiving node captured too and those it did not.  When the captures were cut by a packet count,
    packets sent in the last millisecond before the receiving capture's last packet (or after it) are left
    out: the receiving capture may simply have stopped before they arrived."""
    got = collections.Counter(key(r) for r in got_rows if direction(r) == way)
    rx_end = max((float(r["frame.time_epoch"][0]) for r in got_rows), default=0.0) - 0.001 if cut else float("inf")
    lost, delivered = [], []
    for r in (r for r in sent_rows if direction(r) == way and float(r["frame.time_epoch"][0]) <= rx_end):
        k = key(r)
        if got[k]:
            got[k] -= 1
            delivered.append(int(r["ip.len"][0]))
        else:
            lost.append(int(r["ip.len"][0]))
    return delivered, lost


def compare(rows1, rows2, fault):
    out = {}
    all_delivered, all_lost = [], []
    for way, tx, rx in (("node1->node2", rows1, rows2), ("node2->node1", rows2, rows1)):
        delivered, lost = vanished(tx, rx, way, fault == "cut")
        all_delivered += delivered
        all_lost += lost
        out[way] = {"sent": len(delivered) + len(lost), "vanished": len(lost),
                    "largest_delivered_outer_ip_len": max(delivered, default=None),
                    "smallest_vanished_outer_ip_len": min(lost, default=None),
                    "vanished_outer_ip_lens": dict(sorted(collections.Counter(lost).items()))}
    if fault == "pmtu" and all_delivered and all_lost:
        out["path_mtu_window"] = [max(all_delivered), min(all_lost) - 1]
    return out


def truth_entries(sc, files, apps, drops):
    rows = {i: packets(f) for i, f in files.items()}
    cmp = compare(rows[1], rows[2], sc.fault)
    expected = {"silent_loss": sc.fault in ("pmtu", "random", "oneway"), "fault": sc.fault}
    if sc.fault == "pmtu":
        expected.update(path_mtu_window=cmp.get("path_mtu_window"),
                        lossy_direction="node1->node2",
                        loss_condition="outer IP packet longer than the path MTU (either direction would lose "
                                       "them; only node1->node2, the upload's direction, sends any)",
                        largest_pod_packet_that_fits=sc.path_mtu - OVERHEAD[sc.encap],
                        loss_probability=None)
    elif sc.fault == "random":
        expected.update(lossy_direction="node1->node2", loss_probability=RANDOM_LOSS, path_mtu_window=None)
    elif sc.fault == "oneway":
        expected.update(lossy_direction="node2->node1", loss_probability=1.0, path_mtu_window=None)
    else:
        expected.update(lossy_direction=None, loss_probability=0.0, path_mtu_window=None,
                        note="captures cut mid-transfer: unacknowledged data at the end is not loss"
                        if sc.fault == "cut" else "no fault")
    entries = {}
    for i, path in files.items():
        entries[os.path.basename(path)] = {
            "scenario": sc.name, "description": sc.about, "fault": sc.fault,
            "encapsulation": sc.encap,
            "udp_port": VXLAN_PORT if sc.encap == "vxlan" else None, "vni": VNI if sc.encap == "vxlan" else None,
            "tunnel_implementation": {"vxlan": "kernel vxlan device flannel.1 (outer DF clear)",
                                      "ipip": "userspace encapsulator: TUN tunl0 + raw IP-proto-4 socket (outer DF set, TTL 64)",
                                      "native": "no tunnel, routes via the other node"}[sc.encap],
            "overhead_per_packet": OVERHEAD[sc.encap],
            "capture": {"node": f"node{i}", "interface": "eth0", "side": "sender" if i == 1 else "receiver",
                        "snaplen": SNAPLEN, "stopped_after_packets": sc.cut_packets or None},
            "nodes": {f"node{n}": NODES[n] for n in NODES}, "pods": {f"pod{n}": PODS[n] for n in PODS},
            "pod_cidrs": {f"node{n}": CIDRS[n] for n in CIDRS},
            "underlay_mtu": UNDERLAY_MTU, "path_mtu": sc.path_mtu if sc.fault == "pmtu" else UNDERLAY_MTU,
            "pod_mtu": POD_MTU[sc.encap],
            "expected": expected,
            "measured": file_counts(path, rows[i]),
            "between_captures": cmp,
            "switch_counters": drops,
            "applications": apps,
        }
    return entries
