"""Capture-wide counters: packets, time span, damage, checksums, plausibility-only tunnels."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..decode.facts import Facts, keys_of
from .groups import TUNNEL_KEYS, rows_of

CSUM_BAD = 2
EXAMPLE_CAP = 5


@dataclass(frozen=True)
class StatsResult:
    """Capture-wide counters (CaptureStats' fields, read-only)."""
    packets: int
    bytes: int
    captured_bytes: int
    start: float | None
    end: float | None
    counts: dict          # counter name -> frames
    examples: dict        # counter name -> a few {"ts", "packet"}
    plausibility_ports: dict   # (class, port) -> packets recognised by plausibility
    mirrors: dict = field(default_factory=dict)   # port mirror (the facts' mirror text) -> frames it carried


class CaptureStats:
    name = "stats"
    distinct_only = False    # counts every frame, duplicates included
    reads = ("ts", "wirelen", "caplen", "outer_class", "outer_udp_csum", "truncated", "malformed", "too_deep",
             "offload", "duplicate", "by_plausibility", "tunnel_port", "outer_ipv", "encap", "outer_src",
             "outer_dst", "inner_src", "inner_dst", "nested_loop", "mirror")

    def __init__(self):
        self.packets = 0
        self.bytes = 0
        self.captured_bytes = 0
        self.start = None
        self.end = None
        self.counts = {"truncated": 0, "malformed": 0, "too_deep": 0, "offload": 0, "duplicates": 0,
                       "bad_outer_checksum": 0, "checked_outer_checksum": 0, "nested_loop": 0}
        self.examples: dict[str, list] = {}   # counter -> a few (ts, description)
        self.plausibility_ports: dict = {}    # (class, port) -> packets
        self.mirrors: dict = {}               # port mirror -> frames

    def update(self, facts: Facts) -> None:
        if facts.empty:
            return
        self.packets += len(facts)
        self.bytes += int(facts["wirelen"].sum())
        self.captured_bytes += int(facts["caplen"].sum())
        start, end = float(facts["ts"].min()), float(facts["ts"].max())
        self.start = start if self.start is None else min(self.start, start)
        self.end = end if self.end is None else max(self.end, end)
        tunnel = np.isin(keys_of(facts, "outer_class"), TUNNEL_KEYS)
        csum = facts["outer_udp_csum"]
        masks = {
            "truncated": facts["truncated"], "malformed": facts["malformed"],
            "too_deep": facts["too_deep"], "offload": facts["offload"], "nested_loop": facts["nested_loop"],
            "duplicates": facts["duplicate"] if "duplicate" in facts else None,
            "bad_outer_checksum": tunnel & (csum == CSUM_BAD),
            "checked_outer_checksum": tunnel & (csum >= 1),
        }
        for name, mask in masks.items():
            hits = 0 if mask is None else int(np.count_nonzero(mask))
            if not hits:
                continue
            self.counts[name] += hits
            kept = self.examples.setdefault(name, [])
            if len(kept) < EXAMPLE_CAP:
                # the few example rows only: a boolean index would copy the whole frame
                examples = rows_of(facts, list(facts.columns), np.flatnonzero(mask)[:EXAMPLE_CAP - len(kept)])
                for row in examples.itertuples(index=False):
                    kept.append({"ts": row.ts, "packet": _describe(row)})
        mirrored = facts["mirror"] != ""
        if mirrored.any():
            for mirror, count in zip(*np.unique(facts.take("mirror", mirrored).astype(str), return_counts=True)):
                self.mirrors[str(mirror)] = self.mirrors.get(str(mirror), 0) + int(count)
        plausible = facts["by_plausibility"]
        if plausible.any():
            rows = rows_of(facts, ["outer_class", "tunnel_port"], np.flatnonzero(plausible))
            rows["count"] = np.ones(len(rows), dtype=np.int64)
            counted = rows.aggregate(["outer_class", "tunnel_port"], {"count": "sum"}, sort=True)
            for cls, port, count in zip(*(counted[name].tolist() for name in ("outer_class", "tunnel_port", "count"))):
                self.plausibility_ports[(cls, int(port))] = self.plausibility_ports.get((cls, int(port)), 0) + int(count)

    def merge(self, other: "CaptureStats") -> None:
        self.packets += other.packets
        self.bytes += other.bytes
        self.captured_bytes += other.captured_bytes
        for bound, pick in (("start", min), ("end", max)):
            mine, theirs = getattr(self, bound), getattr(other, bound)
            setattr(self, bound, theirs if mine is None else mine if theirs is None else pick(mine, theirs))
        for name, count in other.counts.items():
            self.counts[name] += count
        for name, items in other.examples.items():
            self.examples[name] = (self.examples.get(name, []) + items)[:EXAMPLE_CAP]
        for key, count in other.plausibility_ports.items():
            self.plausibility_ports[key] = self.plausibility_ports.get(key, 0) + count
        for mirror, count in other.mirrors.items():
            self.mirrors[mirror] = self.mirrors.get(mirror, 0) + count

    def result(self) -> StatsResult:
        return StatsResult(self.packets, self.bytes, self.captured_bytes, self.start, self.end, dict(self.counts),
                           {name: list(items) for name, items in self.examples.items()},
                           dict(self.plausibility_ports), dict(self.mirrors))


def _describe(row) -> str:
    if row.outer_ipv:
        text = f"{row.encap} {row.outer_src} > {row.outer_dst}"
        if row.inner_src and row.inner_src != row.outer_src:
            text += f" (inner {row.inner_src} > {row.inner_dst})"
        return text + f", {row.wirelen} bytes on the wire, {row.caplen} captured"
    return f"{row.encap}, {row.wirelen} bytes on the wire, {row.caplen} captured"
