"""correlate(): read several captures of one incident at once and put together what they saw."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..decode.facts import text_key
from ..decode.reference import DEFAULT_VXLAN_PORTS
from .journey import INBOUND, OUTBOUND, Journey
from .match import DEFAULT_WINDOW, counted_copies, counted_elsewhere, first_rows, group_stream, lookup
from .paths import BoundedSample, Direction, clock_offset, direction_summary
from .sightings import UNDERLAY, CaptureReader
from .vantage import SCAN_RECORDS, VantagePoint, describe, resolve_nodes, scan

BATCH_RECORDS = 32768


@dataclass
class Correlation:
    """What correlate() found. vantage_points: one VantagePoint per capture, in the order given. paths: one
    dict per pair of captures (see correlation_json for the keys), with numpy tables under private keys.
    journeys: one Journey per `-i any` capture with a known node. names: address key -> text."""

    vantage_points: list
    paths: list
    journeys: list
    names: dict
    window: float
    distinct_packets: int = 0
    notes: list = field(default_factory=list)
    # per capture: the sorted record numbers (from 1) of its packets counted in another capture
    # (counted_copies), which a merged analysis of the captures leaves to that one
    copies: list = field(default_factory=list)


class _SameNode:
    """Two captures at one node: the clock offset between them from the tunnel packets both saw."""

    def __init__(self, a: int, b: int):
        self.a, self.b, self.differences = a, b, BoundedSample()

    def consume(self, groups, horizon, window):
        gid, cap, tunnel = groups["gid"], groups["cap"], groups["stage"] == UNDERLAY
        gids_a, rows_a = first_rows(gid, tunnel & (cap == self.a))
        gids_b, rows_b = first_rows(gid, tunnel & (cap == self.b))
        rows, found = lookup(gids_b, rows_b, gids_a, -1)
        if found.any():
            self.differences.add(groups["ts"][rows[found]] - groups["ts"][rows_a[found]])


def correlate(paths: list, *, decoder: str = "fast", vxlan_ports=DEFAULT_VXLAN_PORTS,
              window: float = DEFAULT_WINDOW, nodes: dict | None = None,
              scan_records: int = SCAN_RECORDS, batch_records: int = BATCH_RECORDS) -> Correlation:
    """Correlate captures of one incident (see the package docstring). nodes: {path: underlay address}
    for captures whose node cannot be worked out. Raises CaptureError (one line) for an unreadable file."""
    names: dict = {}
    points = [scan(i, path, names, decoder, vxlan_ports, scan_records) for i, path in enumerate(paths)]
    resolve_nodes(points, {path: text_key(address) for path, address in (nodes or {}).items()})
    for point in points:
        describe(point, names)
    readers = [CaptureReader(p.path, names, decoder, vxlan_ports, batch_records, vtep_ifindex=p.vtep_ifindex)
               for p in points]
    directions, same_node, journeys = {}, [], []
    for a in points:
        for b in points:
            if a.index >= b.index or a.node_key < 0 or b.node_key < 0:
                continue
            if a.node_key == b.node_key:
                same_node.append(_SameNode(a.index, b.index))
            else:
                directions[(a.index, b.index)] = Direction(a.index, b.index, a.node_key, b.node_key)
                directions[(b.index, a.index)] = Direction(b.index, a.index, b.node_key, a.node_key)
    for point in points:
        if point.cooked and point.node_key >= 0:
            remote = set().union(*point.peers.values()) if point.peers else set()
            journeys.append(Journey(point.index, point.node_key, point.pod_prefixes, remote))
    node_of_capture = np.array([p.node_key for p in points], dtype=np.int64)
    distinct, copies = 0, [[] for _ in points]
    for groups, horizon in group_stream(readers, window):
        distinct += int(groups["gid"][-1] - groups["gid"][0] + 1)
        counted = counted_copies(groups, node_of_capture)
        elsewhere = counted_elsewhere(groups, node_of_capture)
        for point in points:
            mine = groups["cap"] == point.index
            copies[point.index].append(groups["record"][mine & elsewhere])
            point.counted += int(np.count_nonzero(counted & mine))
            point.distinct += len(np.unique(groups["gid"][mine]))
        for consumer in (*directions.values(), *same_node):
            consumer.consume(groups, horizon, window)
        for journey in journeys:
            journey.consume(groups)
    for point, reader in zip(points, readers):
        point.records, point.ip_records, point.first, point.last = reader.records, reader.ip_records, reader.first, \
            reader.last
        point.link_types, point.damage = reader.link_types, reader.damage
    for direction in directions.values():
        direction._order(np.inf)
    result = Correlation(points, [], journeys, names, window, distinct,
                         copies=[np.sort(np.concatenate(found or [np.zeros(0, np.int64)])) for found in copies])
    result.paths = [_path(result, pair, directions) for pair in directions if pair[0] < pair[1]]
    result.paths += [_same_node_path(result, pair) for pair in same_node]
    for point in points:
        if point.node_key < 0:
            result.notes.append(f"{point.name}: the node it was taken at is unknown "
                                f"(candidates {[names.get(k) for k in point.candidates]}); pass nodes=")
    return result


def _path(result: Correlation, pair: tuple, directions: dict) -> dict:
    a, b = (result.vantage_points[i] for i in pair)
    ab, ba = directions[pair], directions[pair[::-1]]
    offset = clock_offset(ab, ba)
    seconds = offset["seconds"] if offset else None
    span_a, span_b = (a.first, a.last), (b.first, b.last)
    shift = seconds or 0.0
    overlap = None
    if a.first is not None and b.first is not None:
        start, end = max(a.first, b.first - shift), min(a.last, b.last - shift)
        overlap = (start, end) if end > start else None
    return {"a": a, "b": b, "same_node": False, "clock_offset": offset, "overlap": overlap,
            "directions": [(ab, a, b, direction_summary(ab, seconds, span_a, span_b)),
                           (ba, b, a, direction_summary(ba, -seconds if seconds is not None else None,
                                                        span_b, span_a))]}


def _same_node_path(result: Correlation, same: _SameNode) -> dict:
    a, b = result.vantage_points[same.a], result.vantage_points[same.b]
    differences = same.differences.values()
    offset = None
    if len(differences):
        median = float(np.median(differences))
        offset = {"seconds": median, "uncertainty": float(np.max(np.abs(differences - median))),
                  "by_median": median, "method": "same packets at one node"}
    return {"a": a, "b": b, "same_node": True, "clock_offset": offset, "overlap": None, "directions": []}


__all__ = ["Correlation", "correlate", "INBOUND", "OUTBOUND"]
