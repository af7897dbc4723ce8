"""Where a capture was taken: its node, the node's pods, its interfaces and their roles.

Worked out from the capture's first SCAN_RECORDS records (one extra, bounded read):

* the node is the underlay address the capture's tunnel packets are both sent from and sent to (the most
  frequent such address); without tunnel traffic, the IP address that both sends and receives most;
* the node's pods are the inner sources of the tunnel packets it sends and the inner destinations of those
  it receives; the pods behind each peer node are the inner destinations of what it sends to that peer.
  Pod prefixes are the /24s around them (IPv4): where a packet is bound when it never reached a tunnel;
* `-i any` (Linux cooked v2) captures name interfaces by index only: the underlay interface is the one
  that carries the tunnel packets, the VTEP the one whose plain copy of a tunnelled packet is closest in
  time to the tunnel copy (most votes), every other interface with IP traffic is the pod side.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .sightings import PLAIN, UNDERLAY, CaptureReader, concat

SCAN_RECORDS = 262144
SAME_NODE_SECONDS = 20e-6   # two captures on one host stamp one packet within this of each other


@dataclass
class VantagePoint:
    """One capture and where it was taken. `node` is the underlay address (text; None when unknown).
    interfaces: [{"ifindex", "role" ("underlay" | "vtep" | "pod side"), "packets"}] for cooked captures."""

    index: int
    path: str
    node: str | None = None
    node_key: int = -1
    cooked: bool = False
    interfaces: list = field(default_factory=list)
    vtep_ifindex: int = -1
    pods: list = field(default_factory=list)
    pod_prefixes: set = field(default_factory=set)
    peers: dict = field(default_factory=dict)          # peer node key -> set of its pods' /24 prefixes
    records: int = 0
    ip_records: int = 0
    first: float | None = None
    last: float | None = None
    link_types: list = field(default_factory=list)
    distinct: int = 0          # distinct IP packets (the -i any copies of one packet are one)
    counted: int = 0           # of which this capture's copy is the one counted in merged totals
    damage: dict = field(default_factory=dict)
    candidates: list = field(default_factory=list)     # node keys it could be at (scan)
    scan_table: dict | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def _prefixes(keys) -> set:
    keys = np.asarray(keys)
    return set((keys[(keys >= 0) & (keys < 1 << 32)] >> 8).tolist())


def _node_candidates(sources, destinations) -> list:
    """The addresses in the most packets as source or destination, when they also both send and receive:
    one on a node's eth0 among several peers; two when all the traffic is between two nodes."""
    sent, received = Counter(sources.tolist()), Counter(destinations.tolist())
    both = {key: sent[key] + received[key] for key in sent.keys() & received.keys() if key >= 0}
    if not both:
        return []
    most = max(both.values())
    return sorted(key for key, count in both.items() if count == most)


def _vtep_votes(table) -> Counter:
    """Interface index of the plain copy nearest in time to each tunnel copy of the same packet."""
    order = np.lexsort((table["ts"], table["ident"]))
    ident, ts, stage, ifindex = (table[name][order] for name in ("ident", "ts", "stage", "ifindex"))
    underlay = np.flatnonzero(stage == UNDERLAY)
    best = np.full(len(underlay), -1)
    gap = np.full(len(underlay), np.inf)
    for neighbour in (underlay - 1, underlay + 1):
        inside = (neighbour >= 0) & (neighbour < len(ident))
        clipped = np.clip(neighbour, 0, len(ident) - 1)
        usable = inside & (ident[clipped] == ident[underlay]) & (stage[clipped] == PLAIN)
        distance = np.where(usable, np.abs(ts[clipped] - ts[underlay]), np.inf)
        closer = distance < gap
        best[closer], gap[closer] = ifindex[clipped][closer], distance[closer]
    return Counter(best[best >= 0].tolist())


def scan(index: int, path: str, names: dict, decoder: str, vxlan_ports, limit: int = SCAN_RECORDS) -> VantagePoint:
    """A VantagePoint from the first `limit` records of a capture: its candidate nodes (one unless all its
    tunnel traffic is between two nodes and it cannot tell which end it is at: see resolve_nodes)."""
    reader = CaptureReader(path, names, decoder, vxlan_ports, batch_records=min(limit, 65536), limit=limit)
    tables = list(reader)
    point = VantagePoint(index, path)
    point.scan_table = table = concat(tables) if tables else None
    if table is None:
        return point
    underlay = table["stage"] == UNDERLAY
    point.cooked = bool((table["ifindex"] >= 0).any())
    if underlay.any():
        point.candidates = _node_candidates(table["outer_src"][underlay], table["outer_dst"][underlay])
        sending = underlay & (table["outgoing"] == 1)      # a cooked capture knows what its host sent
        if len(point.candidates) > 1 and sending.any():
            point.candidates = [Counter(table["outer_src"][sending].tolist()).most_common(1)[0][0]]
    else:
        point.candidates = _node_candidates(table["outer_src"], table["outer_dst"])
    return point


def _round_trip(a: VantagePoint, a_node: int, b: VantagePoint, b_node: int) -> float | None:
    """Median one-way a_node -> b_node plus median b_node -> a_node of the tunnel packets both captures saw,
    each measured as (time at the receiving end's capture - time at the sending end's): the round trip if
    a is at a_node and b at b_node, minus it if the other way round, about 0 when both are at one node."""
    ta, tb = a.scan_table, b.scan_table
    total = 0.0
    for src, dst, sign in ((a_node, b_node, 1.0), (b_node, a_node, -1.0)):
        mine = (ta["stage"] == UNDERLAY) & (ta["outer_src"] == src) & (ta["outer_dst"] == dst)
        theirs = (tb["stage"] == UNDERLAY) & (tb["outer_src"] == src) & (tb["outer_dst"] == dst)
        ident_a, first_a = np.unique(ta["ident"][mine], return_index=True)
        ident_b, first_b = np.unique(tb["ident"][theirs], return_index=True)
        common, at_a, at_b = np.intersect1d(ident_a, ident_b, assume_unique=True, return_indices=True)
        if not len(common):
            return None
        gaps = tb["ts"][theirs][first_b[at_b]] - ta["ts"][mine][first_a[at_a]]
        total += sign * float(np.median(gaps))
    return total


def resolve_nodes(points: list, given: dict | None = None) -> None:
    """Set each point's node_key: given[path] (an address key) first; a single candidate; else, for a capture
    that sees only two nodes talking, the candidate nearest in time to captures whose node is known (the
    round trip to a capture at the same node is about 0, SAME_NODE_SECONDS at most; to the other, positive);
    else two such captures against each other (the round trip is positive one way round only)."""
    given = given or {}
    for point in points:
        point.node_key = given.get(point.path, point.candidates[0] if len(point.candidates) == 1 else -1)
    for point in points:
        if point.node_key >= 0 or len(point.candidates) != 2:
            continue
        near = {}
        for other in points:
            if other is point or other.scan_table is None:
                continue
            if other.node_key in point.candidates:
                far = point.candidates[1 - point.candidates.index(other.node_key)]
                trip = _round_trip(point, far, other, other.node_key)
                if trip is not None:
                    near[other.node_key] = min(near.get(other.node_key, np.inf), abs(trip))
            elif other.node_key < 0 and other.candidates == point.candidates:
                trip = _round_trip(point, point.candidates[0], other, point.candidates[1])
                if trip is not None and abs(trip) > SAME_NODE_SECONDS:
                    point.node_key, other.node_key = point.candidates[::1 if trip > 0 else -1]
                    break
        if point.node_key < 0 and near:
            if len(near) == 2:
                point.node_key = min(near, key=near.get)
            else:
                (known, trip), = near.items()
                point.node_key = known if trip <= SAME_NODE_SECONDS else \
                    point.candidates[1 - point.candidates.index(known)]


def describe(point: VantagePoint, names: dict) -> None:
    """Fill in what follows from the node: its name, pods, peers and, for cooked captures, interface roles.
    Releases the scanned rows."""
    table, point.scan_table = point.scan_table, None
    if table is None:
        return
    point.node = names.get(point.node_key)
    underlay = table["stage"] == UNDERLAY
    sent = underlay & (table["outer_src"] == point.node_key)
    received = underlay & (table["outer_dst"] == point.node_key)
    pods = np.union1d(table["inner_src"][sent], table["inner_dst"][received])
    point.pods = sorted(names[key] for key in pods.tolist() if key in names)
    point.pod_prefixes = _prefixes(pods)
    for peer in np.unique(table["outer_dst"][sent]).tolist():
        point.peers[peer] = _prefixes(table["inner_dst"][sent & (table["outer_dst"] == peer)])
    if point.cooked:
        counts = Counter(table["ifindex"].tolist())
        underlay_interfaces = Counter(table["ifindex"][underlay].tolist())
        votes = _vtep_votes(table)
        point.vtep_ifindex = votes.most_common(1)[0][0] if votes else -1
        for ifindex, packets in sorted(counts.items()):
            role = ("underlay" if underlay_interfaces[ifindex] > packets // 2 else
                    "vtep" if ifindex == point.vtep_ifindex else "pod side")
            point.interfaces.append({"ifindex": ifindex, "role": role, "packets_scanned": packets})
