"""Between two vantage points, per direction: sent, received, lost, duplicated, reordered, one-way delay,
what changed in transit; and the clock offset between the two captures.

A packet is sent from A towards B when A's capture sees it tunnelled from A's node to B's node (its first
such sighting in A). It is received when B's capture sees it at all, at the time of its first tunnel
sighting there (else its first sighting). Lost: sent, never seen by B, and sent while B was capturing (in
A's time: after B's first record and at least the longest delay before B's last, through the clock offset);
duplicated: each extra tunnel sighting in B; reordered: received after a packet A sent later (RFC 4737).

Clock offset (B's clock minus A's): (d_ab - d_ba) / 2 over the minimum raw delays of both directions, as
NTP does; its uncertainty is half the smallest round trip, (min d_ab + min d_ba) / 2, since the true offset
lies between -min d_ba and min d_ab whatever the asymmetry. The medians give a second estimate. One-way
delays are the raw ones corrected by the offset (with traffic one way only the offset is unknown and the
delays are raw: they include it).
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .match import first_rows, lookup
from .sightings import UNDERLAY

SAMPLE_SIZE = 1 << 18       # delays kept for percentiles (then every 2nd, 4th, ...: bounded memory)
LOST_MEMORY = 1 << 20       # lost packets remembered one by one (beyond: counted, not trimmed or itemised)
SIZE_BINS = ((0, 576, "small (<= 576 B)"), (577, 1199, "medium"), (1200, 1 << 20, "large (>= 1200 B)"))
FLOW_FIELDS = ("inner_src", "inner_dst", "inner_proto", "sport", "dport")
CHECKSUM_STATES = {0: "zero", 1: "good", 2: "bad", 3: "partial (offload)"}
# field name -> (sighting column, transform, compare only when the receiver's copy is tunnelled)
CHANGE_FIELDS = {
    "outer_src": ("outer_src", None, True),
    "outer_dst": ("outer_dst", None, True),
    "outer_ttl": ("outer_ttl", None, True),
    "outer_dscp": ("outer_tos", lambda v: np.where(v < 0, -1, v >> 2), True),
    "outer_ecn": ("outer_tos", lambda v: np.where(v < 0, -1, v & 3), True),
    "outer_udp_checksum": ("outer_udp_csum", None, True),
    "inner_ttl": ("inner_ttl", None, False),
    "inner_dscp": ("inner_tos", lambda v: np.where(v < 0, -1, v >> 2), False),
    "tcp_mss": ("tcp_mss", None, False),
}
MAX_CHANGE_KINDS = 32       # distinct (before, after) pairs remembered per field


class BoundedSample:
    """Values kept for percentiles: all of them up to SAMPLE_SIZE, then every 2nd, 4th, ... one."""

    def __init__(self, size: int = SAMPLE_SIZE):
        self.size, self.stride, self.parts, self.kept, self.offered = size, 1, [], 0, 0

    def add(self, values) -> None:
        phase = (-self.offered) % self.stride
        self.offered += len(values)
        part = np.asarray(values, dtype=np.float64)[phase::self.stride]
        self.parts.append(part)
        self.kept += len(part)
        if self.kept > self.size:
            values = np.concatenate(self.parts)[::2]
            self.parts, self.kept, self.stride = [values], len(values), self.stride * 2

    def values(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0)


class Direction:
    """What one direction A -> B of a path has seen so far (captures a and b, node keys of A and B)."""

    def __init__(self, a: int, b: int, node_a: int, node_b: int):
        self.a, self.b, self.node_a, self.node_b = a, b, node_a, node_b
        self.matched = self.duplicated = self.reordered = self.lost_unitemised = 0
        self.delays = BoundedSample()
        self.min_delay, self.max_delay = np.inf, -np.inf
        self.received_sizes = np.zeros(len(SIZE_BINS), dtype=np.int64)
        self.pending = []            # (t_recv, t_send) not yet put in order for the reordering count
        self.latest_sent = -np.inf   # latest send time among packets received so far (in receive order)
        self.lost = []               # tables of lost packets: ts, len and the flow fields
        self.lost_rows = 0
        self.changes = {name: {} for name in CHANGE_FIELDS}   # field -> {(before, after): [count, ts, flow]}
        self.first_sent = self.last_sent = None

    def consume(self, groups: dict, horizon: float, window: float) -> None:
        gid, cap, stage = groups["gid"], groups["cap"], groups["stage"]
        sent_gids, sent_rows = first_rows(gid, (cap == self.a) & (stage == UNDERLAY) &
                                          (groups["outer_src"] == self.node_a) & (groups["outer_dst"] == self.node_b))
        if len(sent_gids):
            self._note_sent(groups["ts"][sent_rows])
            at_b = cap == self.b
            tunnel_gids, tunnel_rows = first_rows(gid, at_b & (stage == UNDERLAY))
            any_gids, any_rows = first_rows(gid, at_b)
            rows, tunnelled = lookup(tunnel_gids, tunnel_rows, sent_gids, -1)
            fallback, received = lookup(any_gids, any_rows, sent_gids, -1)
            rows = np.where(tunnelled, rows, fallback)
            self._received(groups, sent_gids[received], sent_rows[received], rows[received],
                           tunnelled[received], at_b & (stage == UNDERLAY))
            self._lost(groups, sent_rows[~received])
        self._order(horizon - 2 * window)

    def _note_sent(self, times):
        first, last = float(times.min()), float(times.max())
        self.first_sent = first if self.first_sent is None else min(self.first_sent, first)
        self.last_sent = last if self.last_sent is None else max(self.last_sent, last)

    def _received(self, groups, gids, sent, received, tunnelled, b_tunnel_rows):
        if not len(gids):
            return
        delays = groups["ts"][received] - groups["ts"][sent]
        self.matched += len(gids)
        self.delays.add(delays)
        self.min_delay, self.max_delay = min(self.min_delay, delays.min()), max(self.max_delay, delays.max())
        self.received_sizes += size_bins(groups["inner_len"][sent])
        seen = np.isin(groups["gid"][b_tunnel_rows], gids)
        copies = np.bincount(np.searchsorted(gids, groups["gid"][b_tunnel_rows][seen]), minlength=len(gids))
        self.duplicated += int(np.maximum(copies - 1, 0).sum())
        self.pending.append((groups["ts"][received], groups["ts"][sent]))
        for name, (column, transform, outer) in CHANGE_FIELDS.items():
            before, after = groups[column][sent], groups[column][received]
            if transform is not None:
                before, after = transform(before), transform(after)
            differs = (before != after) & (before >= 0) & (after >= 0)
            if outer:
                differs &= tunnelled
            if differs.any():
                self._note_changes(name, groups, sent[differs], before[differs], after[differs])

    def _note_changes(self, name, groups, rows, before, after):
        kinds = self.changes[name]
        pairs, first, counts = np.unique(np.stack([before, after], axis=1), axis=0, return_index=True,
                                         return_counts=True)
        for (old, new), at, count in zip(pairs.tolist(), first.tolist(), counts.tolist()):
            if (old, new) in kinds:
                kinds[(old, new)][0] += count
            elif len(kinds) < MAX_CHANGE_KINDS:
                row = rows[at]
                kinds[(old, new)] = [count, float(groups["ts"][row]),
                                     tuple(int(groups[f][row]) for f in FLOW_FIELDS)]

    def _lost(self, groups, rows):
        if not len(rows):
            return
        room = max(LOST_MEMORY - self.lost_rows, 0)
        self.lost_unitemised += max(len(rows) - room, 0)
        rows = rows[:room]
        if len(rows):
            self.lost.append({name: groups[name][rows] for name in ("ts", "inner_len") + FLOW_FIELDS})
            self.lost_rows += len(rows)

    def _order(self, settled: float) -> None:
        """Count reordering among received packets up to `settled` (receiver time); later ones wait."""
        if not self.pending:
            return
        received = np.concatenate([t for t, _ in self.pending])
        sent = np.concatenate([s for _, s in self.pending])
        order = np.argsort(received, kind="stable")
        received, sent = received[order], sent[order]
        ready = received < settled
        done_sent = sent[ready]
        if len(done_sent):
            before = np.maximum.accumulate(np.r_[self.latest_sent, done_sent])[:-1]
            self.reordered += int(np.count_nonzero(done_sent < before))
            self.latest_sent = max(self.latest_sent, float(done_sent.max()))
        self.pending = [(received[~ready], sent[~ready])] if (~ready).any() else []

    def lost_table(self) -> dict:
        if not self.lost:
            return {name: np.zeros(0, dtype=np.int64) for name in ("ts", "inner_len") + FLOW_FIELDS}
        return {name: np.concatenate([part[name] for part in self.lost]) for name in self.lost[0]}


def size_bins(lengths) -> np.ndarray:
    return np.array([np.count_nonzero((lengths >= lo) & (lengths <= hi)) for lo, hi, _ in SIZE_BINS], dtype=np.int64)


def clock_offset(ab: Direction, ba: Direction) -> dict | None:
    """B's clock minus A's, from both directions' raw delays (None with traffic one way only)."""
    if not (ab.matched and ba.matched):
        return None
    by_min = (ab.min_delay - ba.min_delay) / 2
    by_median = (float(np.median(ab.delays.values())) - float(np.median(ba.delays.values()))) / 2
    return {"seconds": by_min, "uncertainty": (ab.min_delay + ba.min_delay) / 2, "by_median": by_median,
            "method": "min"}


def direction_summary(direction: Direction, offset: float | None, span_a: tuple, span_b: tuple) -> dict:
    """The numbers of one direction; the lost packets are trimmed to the time B was capturing."""
    correction = offset if offset is not None else 0.0
    delays = direction.delays.values() - correction
    max_delay = direction.max_delay - correction if direction.matched else 0.0
    shift = offset if offset is not None else (direction.min_delay if direction.matched else 0.0)
    lost = direction.lost_table()
    if span_b[0] is not None:
        margin = max(max_delay, 0.0) * 2 + 1e-3
        during = (lost["ts"] >= span_b[0] - shift) & (lost["ts"] <= span_b[1] - shift - margin)
        lost = {name: values[during] for name, values in lost.items()}
    lost_count = len(lost["ts"]) + direction.lost_unitemised
    sent = direction.matched + lost_count
    sizes = []
    lost_sizes = size_bins(lost["inner_len"])
    for (lo, hi, label), received, missing in zip(SIZE_BINS, direction.received_sizes.tolist(), lost_sizes.tolist()):
        if received or missing:
            sizes.append({"sizes": label, "sent": received + missing, "lost": missing})
    summary = {
        "sent": sent, "received": direction.matched, "lost": lost_count,
        "loss_ratio": lost_count / sent if sent else 0.0,
        "duplicated": direction.duplicated, "reordered": direction.reordered,
        "delay": None, "delay_includes_clock_offset": offset is None and direction.matched > 0,
        "lost_by_size": sizes, "lost_table": lost,
        "changes": direction.changes,
    }
    if len(delays):
        p50, p90, p99 = np.percentile(delays, [50, 90, 99]).tolist()
        summary["delay"] = {"min": direction.min_delay - correction, "p50": p50, "p90": p90, "p99": p99,
                            "max": max_delay}
    return summary


def lost_flows(lost: dict) -> list:
    """[(flow tuple, count, first ts, last ts, sizes Counter)] of lost packets, most first."""
    if not len(lost["ts"]):
        return []
    flows = {}
    keys = np.stack([lost[name] for name in FLOW_FIELDS], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for k, flow in enumerate(unique.tolist()):
        mine = inverse == k
        times = lost["ts"][mine]
        flows[tuple(flow)] = (int(mine.sum()), float(times.min()), float(times.max()),
                              Counter(lost["inner_len"][mine].tolist()))
    return sorted(((flow, *rest) for flow, rest in flows.items()), key=lambda item: -item[1])
