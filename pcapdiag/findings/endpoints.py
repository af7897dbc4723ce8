"""Per endpoint, what it sends against the MTU (the report's `mtu_by_endpoint`), and, for a capture taken
inside a node (`tcpdump -i any`), which node that was and which copy of a flow is which.

A pod's MTU is read from what it does: the largest packet it sends, the MSS its SYNs advertise, the
fragments it makes, the ICMP too-big it is sent and the full-size segments it has to send again. One row
per known pod (an inner address behind a tunnel node) and per node, so the engineer sees which ones are
misconfigured instead of one summary over all of them.
"""
from __future__ import annotations

import ipaddress

import numpy as np

from ..analyzers.table import Table
from ..grouping import factorize, isin, sort_order
from .budgets import mss_budget

FIVE_TUPLE = ["inner_src", "inner_dst", "inner_proto", "sport", "dport"]


def ip_sort_key(address: str):
    """Addresses in numeric order (10.244.1.2 before 10.244.1.10), IPv4 before IPv6, anything else last."""
    try:
        parsed = ipaddress.ip_address(address)
        return (parsed.version, int(parsed), "")
    except ValueError:
        return (99, 0, str(address))


def _copies(flows: Table) -> Table:
    """Tunnelled flows joined with the native flow of the same 5-tuple (an `-i any` capture sees both: the
    tunnel packet on the underlay device and the pod's packet on its veth, cni0 or the tunnel device)."""
    tunnel = flows[flows["encap"] != "native"]
    native = flows[flows["encap"] == "native"]
    if tunnel.empty or native.empty:
        return flows[0:0]
    return tunnel.join(native[FIVE_TUPLE + ["first"]], FIVE_TUPLE, suffix="_native")


def capture_vantage(flows: Table) -> dict | None:
    """The node an `-i any` capture was taken on, or None when the capture does not show both copies.

    A packet a local pod sends is seen on the pod side before it is encapsulated; one from a pod on
    another node is seen in the tunnel first and on the pod side after decapsulation. Each flow seen
    both ways votes for the node its earlier copy names as local.
    """
    if flows.empty:
        return None
    both = _copies(flows)
    if both.empty:
        return None
    local = np.where(both["first_native"] <= both["first"], both["outer_src"], both["outer_dst"])
    # the most votes (ties: the node first voted for, as pandas' value_counts orders them)
    codes, nodes = factorize(local)
    votes = np.bincount(codes)
    winner = sort_order(votes, ascending=False)[0]
    return {"node": str(nodes[winner]), "flows_agreeing": int(votes[winner]), "flows_seen_both_ways": len(both),
            "pod_side_flows": len(both.drop_duplicates(FIVE_TUPLE))}


def pod_side_keys(flows: Table) -> set:
    """5-tuples of the native flows that are pod-side copies of tunnelled ones."""
    if flows.empty:
        return set()
    copies = _copies(flows)
    return set(zip(*(copies[name].tolist() for name in FIVE_TUPLE)))


def mtu_by_endpoint(b) -> list[dict]:
    """One row per known pod and per tunnel node (FindingBuilder b), in address order."""
    flows, mtu = b.flows, b.mtu
    if not b.node_of_pod and not b.cidrs_of_node:
        return []
    rows = {}
    for pod, node in b.node_of_pod.items():
        rows[pod] = _row(pod, "pod", node)
    for node in b.cidrs_of_node:
        rows.setdefault(node, _row(node, "node", None))
    if not flows.empty:
        # an -i any capture holds a flow twice (tunnel and pod side): count each 5-tuple's numbers once
        by_flow = flows.aggregate(FIVE_TUPLE, dict.fromkeys(["max_ip_len", "retransmits", "max_retransmit_len"],
                                                            "max"))
        for row in by_flow[isin(by_flow["inner_src"], rows)].itertuples(index=False):
            entry = rows[row.inner_src]
            entry["largest_packet"] = max(entry["largest_packet"] or 0, int(row.max_ip_len)) or None
            if row.retransmits > 0 and row.max_retransmit_len >= row.max_ip_len > 0:
                entry["full_size_retransmits"] += int(row.retransmits)
        for column in ("syn_mss", "synack_mss"):
            advertised = flows[(flows[column] > 0) & isin(flows["inner_src"], rows)]
            for pod, mss in zip(advertised["inner_src"], advertised[column]):
                rows[pod]["mss_advertised"].add(int(mss))
        tunnelled = flows[(flows["encap"] != "native") & isin(flows["outer_src"], rows)]
        for node, cls, inner in zip(tunnelled["outer_src"], tunnelled["encap"], tunnelled["max_ip_len"]):
            overlay = b.overlay_for(cls.split(">")[0], "")
            if overlay and inner > 0:
                entry = rows[node]
                entry["largest_packet"] = max(entry["largest_packet"] or 0, int(inner) + overlay["overhead"])
    for table, column in ((mtu.inner_fragments, "inner_src"), (mtu.outer_fragments, "outer_src")):
        if table is not None:
            sent = table.aggregate([column], {"count": "sum"})
            for address, count in zip(sent[column].tolist(), sent["count"].tolist()):
                if address in rows:
                    rows[address]["fragments_sent"] += int(count)
    for event in mtu.icmp_events:
        if event["to"] in rows:
            rows[event["to"]]["icmp_too_big_received"] += 1
    for entry in rows.values():
        entry["mss_advertised"] = sorted(entry["mss_advertised"])
        entry["over_budget"] = _over_budget(b, entry)
    return [rows[address] for address in sorted(rows, key=ip_sort_key)]


def _row(address: str, role: str, node: str | None) -> dict:
    return {"address": address, "role": role, "node": node, "largest_packet": None, "mss_advertised": set(),
            "fragments_sent": 0, "icmp_too_big_received": 0, "full_size_retransmits": 0}


def _over_budget(b, entry: dict):
    """Whether what the endpoint sends exceeds what the path carries: a pod's packets against the overlay
    budget, its MSS against the MSS budget; a node's tunnel packets against the underlay. None when sizes
    are not wire sizes (offload) or no tunnel is known. Called once the findings are built."""
    if not b.model["sizes_reliable"] or not b.overlay_by_class:
        return None
    overlay = next(iter(b.overlay_by_class.values()))
    if entry["role"] == "node":
        return bool(entry["fragments_sent"]) or (entry["largest_packet"] or 0) > b.underlay
    budget = mss_budget(b.underlay, overlay["overhead"], entry["address"])
    # a pod with the right MTU fragments its own large datagrams too: its fragments count only where the
    # inner-fragmented check found them corroborated (an error)
    fragments_count = any(f["id"] == "mtu.inner-fragmented" and f["severity"] == "error" for f in b.findings)
    return ((entry["largest_packet"] or 0) > overlay["overlay_mtu"]
            or (fragments_count and bool(entry["fragments_sent"]))
            or any(mss > budget for mss in entry["mss_advertised"]))


__all__ = ["capture_vantage", "ip_sort_key", "mtu_by_endpoint", "pod_side_keys"]
