"""The aggregates the HTML report draws and the JSON does not carry: packet-size histograms and time series.

A mergeable collector over packet-fact batches (update / merge / result, like the analyzers), so it can run
beside them in every worker. Everything it keeps is bounded: sizes in 1-byte bins up to the largest jumbo
frame, and time in bins that double in width whenever the capture's span would need more than MAX_BINS of
them (bins are anchored at multiples of their width since the epoch, so two workers' bins always line up).
Duplicate sightings (`tcpdump -i any`, marked by DuplicateMarker) are left out, as the flow table leaves them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..catalogue import TUNNEL_CLASSES
from ..analyzers.flows import MAX_HOLES, _flow_hashes, serial_offset, walk_segments
from ..analyzers.groups import TUNNEL_KEYS, group_codes
from ..grouping import factorize
from ..decode.facts import Facts, grouping_column, keys_of

SIZE_LIMIT = 9216          # the largest jumbo MTU in use; larger sizes (offload super-frames) share one bin
BASE_BIN = 2.0 ** -10      # seconds: the finest time bin (~1 ms), for captures of a few seconds
MAX_BINS = 2048            # time bins across the capture's span, at most
GROUP_CAP = 64             # node pairs followed one by one; later ones are counted as "other"
OTHER = ("other", "", "")
EVENTS = ("retransmit", "icmp_too_big", "inner_fragment", "outer_fragment")
SEQ_SPACE = 1 << 32
NOTHING = -(1 << 60)       # "no data yet": below every sequence end
FLOW_STATE_CAP = 200_000   # flows whose TCP sequence state is remembered (the oldest are forgotten)


class RetransmitMarker:
    """Marks TCP segments whose whole sequence range their flow already carried: the flow table's rule for a
    retransmission (analyzers/flows.py), applied row by row so a chart or an export can place each one."""

    def __init__(self):
        self.state: dict = {}     # flow hash -> (sequence base, highest end reached, relative to the base)
        self.holes: dict = {}     # flow hash -> absolute sequence ranges below its end not seen yet

    def mark(self, facts: Facts) -> np.ndarray:
        marks = np.zeros(len(facts), dtype=bool)
        data = np.flatnonzero((facts["inner_proto"] == 6) & (facts["tcp_payload"] > 0) & (facts["tcp_seq"] >= 0))
        if not len(data):
            return marks
        flow = _flow_hashes([grouping_column(facts, name)[data] for name in ("encap", "inner_src", "inner_dst", "sport",
                                                                              "dport")])
        codes, hashes = factorize(flow)
        seq, length = facts["tcp_seq"][data], facts["tcp_payload"][data]
        first = np.unique(codes, return_index=True)[1]
        base, high = seq[first].copy(), np.full(len(hashes), NOTHING)
        for code, key in enumerate(hashes.tolist()):
            if key in self.state:
                base[code], high[code] = self.state[key]
        relative = (seq - base[codes]) % SEQ_SPACE
        relative = np.where(relative >= SEQ_SPACE // 2, relative - SEQ_SPACE, relative)   # serial (RFC 1982)
        end = relative + length
        # the largest end each segment's flow reached before it: a running maximum per flow, in one pass over
        # the rows sorted by flow (each flow lifted above the one before by a stride no end reaches)
        order = np.argsort(codes, kind="stable")
        stride = np.int64(1) << 40
        lifted = np.maximum.accumulate(end[order] + codes[order] * stride)
        before = np.r_[NOTHING, lifted[:-1] - codes[order][1:] * stride]
        same_flow = np.r_[False, codes[order][1:] == codes[order][:-1]]
        before = np.where(same_flow, before, NOTHING)
        before = np.maximum(before, high[codes[order]])
        marks[data[order]] = end[order] <= before
        # the flow table's rule: a segment filling a gap a later one jumped over is reordered, not retransmitted
        gapped = codes[order][(before > NOTHING) & (relative[order] > before)]
        held = [code for code, key in enumerate(hashes.tolist()) if key in self.holes]
        for code in np.union1d(gapped, held).astype(np.int64).tolist():
            rows, key, at = np.flatnonzero(codes == code), int(hashes[code]), int(base[code])
            holes = [(serial_offset(low - at), serial_offset(top - at), False) for low, top in self.holes.pop(key, ())]
            *walk, holes = walk_segments(relative[rows].tolist(), end[rows].tolist(),
                                         -1 if high[code] == NOTHING else int(high[code]), holes)
            marks[data[rows]] = walk[0]
            if holes:
                self.holes[key] = [((at + low) % SEQ_SPACE, (at + top) % SEQ_SPACE) for low, top, _ in holes][-MAX_HOLES:]
        reached = high.copy()
        np.maximum.at(reached, codes, end)
        for code, key in enumerate(hashes.tolist()):
            # rebase on the highest end, so relative offsets stay small over long flows
            self.state.pop(key, None)
            self.state[key] = (int((base[code] + reached[code]) % SEQ_SPACE), 0)
        while len(self.state) > FLOW_STATE_CAP:
            oldest = next(iter(self.state))
            del self.state[oldest]
            self.holes.pop(oldest, None)
        return marks


@dataclass(frozen=True)
class SeriesResult:
    """What the charts draw: sizes as [size, count] pairs per class and side ("inner", "outer"; size
    size_limit + 1 counts the larger ones), time bins as [bin start in epoch seconds, count], groups (class,
    node pair; native traffic is one group) largest first, events (EVENTS) per bin."""
    size_limit: int
    sizes: dict
    bin_seconds: float
    start: float | None
    end: float | None
    groups: list
    events: dict

    def to_dict(self) -> dict:
        return asdict(self)


class SeriesCollector:
    """Size histograms per class (inner and outer IP lengths) and packets per time bin per (class, node pair),
    with retransmissions, ICMP too-big messages and fragments per time bin. An analyzer (analyzers.Analyzer):
    it sees each distinct packet once.

    Its retransmission marks follow a flow across batches and files, not across the chunks of one file
    analysed in parallel (a segment whose first copy lies in the chunk before is not marked); where the
    facts carry a "retransmit" column (the flow table's own marks), that is used instead."""

    name = "series"
    distinct_only = True
    reads = ("ts", "outer_ipv", "outer_class", "outer_src", "outer_dst", "inner_src", "inner_dst", "inner_len",
             "outer_len", "inner_mf", "inner_frag_off", "outer_mf", "outer_frag_off", "icmp_mtu", "inner_proto",
             "tcp_payload", "tcp_seq", "encap", "sport", "dport")

    def __init__(self):
        self.sizes: dict = {}        # (class, "inner" | "outer") -> counts by size, SIZE_LIMIT + 1 for larger
        self.level = 0               # a time bin is BASE_BIN * 2**level seconds
        self.packets: dict = {}      # (class, outer src, outer dst) -> {bin: packets}
        self.events: dict = {name: {} for name in EVENTS}   # event -> {bin: count}
        self.retransmits = RetransmitMarker()
        self.low = self.high = None  # the first and last bin seen

    @property
    def bin_seconds(self) -> float:
        return BASE_BIN * 2 ** self.level

    def update(self, facts: Facts) -> None:
        if "duplicate" in facts and facts["duplicate"].any():
            facts = facts[~facts["duplicate"]]
        if facts.empty:
            return
        self._sizes(facts)
        ts = facts["ts"]
        self._widen(float(ts.min()), float(ts.max()))
        bins = np.floor(ts / self.bin_seconds).astype(np.int64)
        tunnel = np.isin(keys_of(facts, "outer_class"), TUNNEL_KEYS)
        self._packets(facts, bins, tunnel)
        # inner fragments as the MTU evidence counts them: a pod's own packets, cut before encapsulation
        inner_fragment = tunnel & (facts["inner_mf"] | (facts["inner_frag_off"] > 0)) \
            & (keys_of(facts, "inner_src") != keys_of(facts, "outer_src"))
        # the flow table's own marks where the runner hands them on; else this collector finds them
        retransmit = facts["retransmit"] if "retransmit" in facts else self.retransmits.mark(facts)
        for name, mask in (("retransmit", retransmit),
                           ("icmp_too_big", facts["icmp_mtu"] >= 0),
                           ("inner_fragment", inner_fragment),
                           ("outer_fragment", facts["outer_mf"] | (facts["outer_frag_off"] > 0))):
            if mask.any():
                _add_counts(self.events[name], *np.unique(bins[mask], return_counts=True))

    def _sizes(self, facts: Facts) -> None:
        classes, first = group_codes(facts, ["outer_class"])
        names = facts.take("outer_class", first).tolist()
        for side in ("inner", "outer"):
            lengths = facts[f"{side}_len"]
            known = lengths >= 0
            for code, name in enumerate(names):
                if name == "non-ip" or (side == "outer" and name not in TUNNEL_CLASSES):
                    continue      # a native packet's outer header is its only one: its inner size says it
                rows = known & (classes == code)
                if rows.any():
                    counts = np.bincount(np.minimum(lengths[rows], SIZE_LIMIT + 1), minlength=SIZE_LIMIT + 2)
                    key = (name, side)
                    self.sizes[key] = self.sizes[key] + counts if key in self.sizes else counts

    def _packets(self, facts: Facts, bins, tunnel) -> None:
        ip = np.flatnonzero(facts["outer_ipv"] > 0)
        if not len(ip):
            return
        # a native packet's addresses are pods or hosts, not a node pair: native traffic is one series
        src = np.where(tunnel, keys_of(facts, "outer_src"), -1)
        dst = np.where(tunnel, keys_of(facts, "outer_dst"), -1)
        pair, pair_first = group_codes(facts, ["outer_class", src, dst], ip)
        rows = ip[pair_first]
        names = [(cls, src if is_tunnel else "", dst if is_tunnel else "") for cls, src, dst, is_tunnel in zip(
            facts.take("outer_class", rows).tolist(), facts.take("outer_src", rows).tolist(),
            facts.take("outer_dst", rows).tolist(), tunnel[rows].tolist())]
        low = int(bins[ip].min())
        span = int(bins[ip].max()) - low + 1          # at most MAX_BINS: the bins were widened to fit
        counts = np.bincount(pair * span + (bins[ip] - low))
        cells = np.flatnonzero(counts)
        for code, at, count in zip((cells // span).tolist(), (cells % span + low).tolist(), counts[cells].tolist()):
            group = names[code]
            if group not in self.packets and len(self.packets) >= GROUP_CAP:
                group = OTHER
            series = self.packets.setdefault(group, {})
            series[at] = series.get(at, 0) + count

    def _widen(self, start: float, end: float) -> None:
        """Take in a time span; coarsen the bins while the whole span would need more than MAX_BINS."""
        low, high = int(np.floor(start / self.bin_seconds)), int(np.floor(end / self.bin_seconds))
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)
        while self.high - self.low + 1 > MAX_BINS:
            self._coarsen(1)

    def _coarsen(self, steps: int) -> None:
        if steps <= 0:
            return
        factor = 2 ** steps
        self.level += steps
        self.low, self.high = self.low // factor, self.high // factor
        for table in list(self.packets.values()) + list(self.events.values()):
            counts = {}
            for at, count in table.items():
                counts[at // factor] = counts.get(at // factor, 0) + count
            table.clear()
            table.update(counts)

    def merge(self, other: "SeriesCollector") -> None:
        for key, counts in other.sizes.items():
            self.sizes[key] = self.sizes[key] + counts if key in self.sizes else counts.copy()
        if other.low is None:
            return
        other = _copy_bins(other)
        level = max(self.level, other.level)
        other._coarsen(level - other.level)
        if self.low is None:
            self.level, self.low, self.high = level, other.low, other.high
        else:
            self._coarsen(level - self.level)
            self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        for group, series in other.packets.items():
            if group not in self.packets and len(self.packets) >= GROUP_CAP:
                group = OTHER
            _add_counts(self.packets.setdefault(group, {}), list(series), list(series.values()))
        for name, counts in other.events.items():
            _add_counts(self.events[name], list(counts), list(counts.values()))
        while self.high - self.low + 1 > MAX_BINS:
            self._coarsen(1)

    def forget_carry(self) -> None:
        """Nothing merges after this state: the TCP sequence state is no longer needed."""
        self.retransmits.state.clear()
        self.retransmits.holes.clear()

    def result(self) -> SeriesResult:
        width = self.bin_seconds
        sizes = {}
        for (cls, side), counts in sorted(self.sizes.items()):
            nonzero = np.flatnonzero(counts)
            sizes.setdefault(cls, {})[side] = [[int(s), int(counts[s])] for s in nonzero]
        groups = [{"type": cls, "src": src or None, "dst": dst or None, "packets": sum(series.values()),
                   "series": [[at * width, count] for at, count in sorted(series.items())]}
                  for (cls, src, dst), series in self.packets.items()]
        groups.sort(key=lambda group: -group["packets"])
        return SeriesResult(SIZE_LIMIT, sizes, width, None if self.low is None else self.low * width,
                            None if self.high is None else (self.high + 1) * width, groups,
                            {name: [[at * width, count] for at, count in sorted(counts.items())]
                             for name, counts in self.events.items()})


def _add_counts(table: dict, keys, counts) -> None:
    for key, count in zip(np.asarray(keys).tolist(), np.asarray(counts).tolist()):
        table[key] = table.get(key, 0) + count


def _copy_bins(collector: SeriesCollector) -> SeriesCollector:
    """A copy of a collector's time bins, to coarsen without touching the original."""
    copy = SeriesCollector()
    copy.level, copy.low, copy.high = collector.level, collector.low, collector.high
    copy.packets = {group: dict(series) for group, series in collector.packets.items()}
    copy.events = {name: dict(counts) for name, counts in collector.events.items()}
    return copy


def collect_series(path: str, vxlan_ports=(), decoder: str = "fast", batch_records: int = 32768) -> dict:
    """One pass over a capture: the SeriesCollector's result as a dict (until it runs as an analyzer beside
    the rest)."""
    from ..analyzers import DuplicateMarker
    from ..capture import open_capture
    from ..decode import DEFAULT_VXLAN_PORTS
    from ..decode.select import make_decoder

    decode = make_decoder(decoder, frozenset(DEFAULT_VXLAN_PORTS) | {int(p) for p in vxlan_ports})
    duplicates, collector = DuplicateMarker(), SeriesCollector()
    with open_capture(path) as capture:
        for batch in capture.batches(batch_records):
            collector.update(duplicates.mark(decode.decode_batch(batch)))
    return collector.result().to_dict()


__all__ = ["SeriesCollector", "SeriesResult", "RetransmitMarker", "collect_series", "SIZE_LIMIT", "EVENTS"]
