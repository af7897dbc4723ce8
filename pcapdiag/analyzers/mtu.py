"""MTU evidence: sizes, fragments, ICMP too-big, and flows that keep sending too much.

Only the evidence is gathered here (mergeable, bounded); the judgement — which
finding, how severe, what to say — is made in findings.py once the underlay
MTU and the overheads are known.
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..catalogue import NOMINAL_OVERHEAD
from ..decode.facts import Facts, grouping_column, keys_of, text_key
from .groups import TUNNEL_KEYS, FoldedTable, group_codes, rows_of, sums_by
from .table import Table

EVENT_CAP = 1000       # ICMP too-big events kept as evidence
TABLE_CAP = 50_000     # rows in the per-pod evidence tables
LARGE_INNER = 1200     # inner sizes at or above this are kept exactly (MTU decisions happen up there)
ETHERNET_MTU = 1500
NO_BUDGET = 1 << 40  # "no ICMP told this flow anything": larger than any packet
MAX_TUNNEL_OVERHEAD = 200  # the most a tunnel adds (Geneve with generous options)
LINK_HEADER_MAX = 22       # the longest link header before IP here (Ethernet with two VLAN tags)
AGGREGATE_SIZE_CAP = 1 << 16   # offload frames at least this big are kept as this size: larger than any link
FIVE_TUPLE = ["inner_src", "inner_dst", "inner_proto", "sport", "dport"]
# The facts' record number (from 1 in each work unit), when the decoder gives it: every evidence row keeps
# the first frame of its group, so a finding can point at a packet in the file. Read only where present.
FRAME = "frame"


def _group_max(frame: Table, keys: list, cap: int) -> Table:
    agg = {"count": "sum", "max_len": "max", "first": "min", "last": "max"}
    agg.update({column: "sum" for column in ("refragmented",) if column in frame})
    agg.update({FRAME: "min"} if FRAME in frame else {})
    table = frame.aggregate(keys, agg)
    # the cap groups with most packets, most first (ties: the earlier group), as pandas' nlargest keeps them
    return table[np.argsort(-table["count"], kind="stable")[:cap]] if len(table) > cap else table


@dataclass(frozen=True)
class MtuEvidence:
    """What the MTU findings judge by. The tables are None when there is no such evidence; each row is a group
    with count, max_len, first and last (times) and, when the facts number frames, frame (its first)."""
    max_outer_len: int        # largest outer IP packet that was a real wire packet
    max_outer_len_any: int    # largest outer IP packet, offload super-frames included
    offload_frames: int       # frames the decoder marked offload: super-frames and partial checksums alike
    inner_fragments: Table | None    # by class, node, inner source and destination (+ refragmented)
    outer_fragments: Table | None    # by class and node pair (+ inner_len, example)
    large_inner: Table | None        # by class, node, pods, inner length and own overhead
    after_icmp: Table | None         # by five-tuple: packets larger than an ICMP told the flow (told_mtu)
    icmp_events: list                       # the first EVENT_CAP ICMP too-big messages
    icmp_total: int
    offload_sizes: dict = field(default_factory=dict)   # offload frames larger than the Ethernet MTU: size -> frames
    given_underlay: int | None = None                   # the underlay MTU given to the analysis, if any

    @property
    def link_mtu(self) -> int:
        """The most a link of this capture carries in one frame: given, or the largest real outer packet (at
        least the Ethernet 1500)."""
        return self.given_underlay or max(self.max_outer_len, ETHERNET_MTU)

    @property
    def aggregate_frames(self) -> int:
        """Offload frames larger than the link carries: GSO/GRO/TSO aggregates, whose sizes are not wire sizes.
        A partially checksummed packet that fits the link (tx checksum offload) is a wire packet."""
        link = self.link_mtu
        return sum(count for size, count in self.offload_sizes.items() if size > link)


class MtuAnalyzer:
    name = "mtu"
    distinct_only = True     # each packet once: an `-i any` copy of a big packet is not another one
    reads = ("offload", "outer_ipv", "outer_len", "outer_class", "inner_mf", "inner_frag_off", "outer_mf",
             "outer_frag_off", "inner_src", "outer_src", "inner_dst", "inner_ip_id", "inner_len", "outer_dst",
             "ts", "icmp_mtu", "inner_ipv", "encap", "quoted_encap", "quoted_proto", "quoted_src", "quoted_sport",
             "quoted_dst", "quoted_dport", "quoted_len", "inner_proto", "sport", "dport", "wirelen", FRAME)

    def __init__(self, underlay_mtu: int | None = None, continuation: bool = False):
        self.underlay_mtu = underlay_mtu
        self.continuation = continuation  # a later chunk: keep big packets an earlier chunk's ICMP may explain
        # evidence tables, each folded by its group-by (see FoldedTable); read them as .table
        self.unexplained_rows = _capped_table(FIVE_TUPLE + ["inner_len"])
        self.max_outer_len = 0            # largest outer IP packet that was a real wire packet
        self.max_outer_len_any = 0
        self.offload_frames = 0
        self.offload_sizes: dict = {}     # size -> offload frames, for sizes some link could not carry
        self.inner_fragment_rows = _capped_table(_INNER_FRAGMENT_KEY)
        self.outer_fragment_rows = FoldedTable(_outer_fragment_group)   # per (class, node pair)
        self.large_inner_rows = _capped_table(_LARGE_INNER_KEY)
        self.icmp_events: list[dict] = []
        self.icmp_total = 0
        self.after_icmp_rows = FoldedTable(_told_group)        # packets larger than the MTU a flow was told
        self._told_cache = None

    def update(self, facts: Facts) -> None:
        if facts.empty:
            return
        # Filter with numpy masks and copy only the columns a check needs: a boolean index over the whole
        # fact frame copies every column, and that dominated the cost of this analyzer.
        offload = facts["offload"]
        has_ip = facts["outer_ipv"] > 0
        outer_len = facts["outer_len"]
        real = ~offload & has_ip
        if real.any():
            self.max_outer_len = max(self.max_outer_len, int(outer_len[real].max()))
        if has_ip.any():
            self.max_outer_len_any = max(self.max_outer_len_any, int(outer_len[has_ip].max()))
        self.offload_frames += int(offload.sum())
        if offload.any():
            self._offload_sizes(facts, offload, outer_len)
        tunnel = np.isin(keys_of(facts, "outer_class"), TUNNEL_KEYS)
        inner_frag = facts["inner_mf"] | (facts["inner_frag_off"] > 0)
        outer_frag = facts["outer_mf"] | (facts["outer_frag_off"] > 0)
        self._inner_fragments(facts, np.flatnonzero(tunnel & inner_frag
                                                    & (keys_of(facts, "inner_src") != keys_of(facts, "outer_src"))))
        self._outer_fragments(_rows(facts, tunnel & outer_frag, _FRAGMENT_COLUMNS + list(_frames(facts))))
        self._large_inner(facts, np.flatnonzero(self._may_be_too_big(facts, tunnel, real, outer_len)))
        self._icmp(facts)

    def _offload_sizes(self, facts, offload, outer_len) -> None:
        """Count offload frames by size, where the size could exceed a link: whether a frame is an aggregate
        is decided per frame once the link MTU is known (MtuEvidence.aggregate_frames). A frame's wire length
        bounds its IP packet too (an IP length of 0 leaves only the captured bytes to measure)."""
        size = np.maximum(outer_len[offload], facts["wirelen"][offload] - LINK_HEADER_MAX)
        size = np.minimum(size, AGGREGATE_SIZE_CAP)
        sizes, counts = np.unique(size[size > min(self.underlay_mtu or ETHERNET_MTU, ETHERNET_MTU)], return_counts=True)
        for value, count in zip(sizes.tolist(), counts.tolist()):
            self.offload_sizes[value] = self.offload_sizes.get(value, 0) + count

    def _may_be_too_big(self, facts, tunnel, real, outer_len):
        """Rows that could still exceed the underlay MTU decided at the end: that MTU is the one given, or
        at least the smaller of the largest real outer packet (which only grows) and the Ethernet 1500 assumed
        when offload makes sizes unreliable; a whole tunnel packet within that can never count."""
        threshold = self.underlay_mtu or min(self.max_outer_len, ETHERNET_MTU)
        inner_len = facts["inner_len"]
        candidate = real & (inner_len >= LARGE_INNER) & (facts["inner_frag_off"] == 0)
        whole_tunnel = tunnel & ~facts["outer_mf"]
        # a whole tunnel packet needs its outer length; others need at least the inner length plus a tunnel
        return candidate & np.where(whole_tunnel, outer_len > threshold,
                                    inner_len + MAX_TUNNEL_OVERHEAD > threshold)

    def _evidence(self, rows, keys, extra_len="inner_len"):
        return Table({**{k: rows[k] for k in keys}, "count": np.ones(len(rows), dtype=np.int64),
                      "max_len": rows[extra_len], "first": rows["ts"], "last": rows["ts"], **_frames(rows)})

    def _inner_fragments(self, facts, at):
        """at: the rows of inner fragments in a tunnel (the pod's own packets, not the node's)."""
        if not len(at):
            return
        # Fragmented twice: a non-last fragment shorter than another non-last one of the same datagram means
        # the pod cut it at its own (larger) MTU and the node cut it again at the overlay's
        not_last = np.flatnonzero(facts["inner_mf"][at])
        refragmented = np.zeros(len(at), dtype=np.int64)
        if len(not_last):
            datagram = group_codes(facts, ["inner_src", "inner_dst", "inner_ip_id"], at[not_last])[0]
            sizes = facts["inner_len"][at[not_last]]
            smallest = np.full(datagram.max() + 1, np.iinfo(np.int64).max)
            largest = np.full(datagram.max() + 1, -1)
            np.minimum.at(smallest, datagram, sizes)
            np.maximum.at(largest, datagram, sizes)
            refragmented[not_last] = smallest[datagram] < largest[datagram]
        self.inner_fragment_rows.add(_grouped_evidence(facts, at, _INNER_FRAGMENT_KEY,
                                                       sums={"refragmented": refragmented}))

    def _outer_fragments(self, rows):
        if rows is None:
            return
        frame = self._evidence(rows, _OUTER_FRAGMENT_KEY, "outer_len")
        # the first fragment carries the inner header: keep the pod flow it belongs to
        first = rows["outer_frag_off"] == 0
        pod = first & (rows["inner_src"] != rows["outer_src"])
        frame["inner_len"] = np.where(first, rows["inner_len"], -1)
        example = np.full(len(rows), "", dtype=object)
        example[pod] = rows["inner_src"][pod] + " > " + rows["inner_dst"][pod]
        frame["example"] = example
        self.outer_fragment_rows.add(frame)

    def _large_inner(self, facts, at):
        if not len(at):
            return
        # the bytes this packet's own encapsulation adds; a first outer fragment's outer length is the
        # fragment's, so there the nominal overhead of the class stands in
        outer_len, inner_len = facts["outer_len"][at], facts["inner_len"][at]
        own = np.maximum(outer_len - inner_len, 0)
        first_fragment = np.flatnonzero(facts["outer_mf"][at])
        if len(first_fragment):
            classes = facts.take("outer_class", at[first_fragment]).tolist()
            versions = facts["outer_ipv"][at[first_fragment]].tolist()
            own[first_fragment] = [NOMINAL_OVERHEAD.get(cls, {}).get(version, 0)
                                   for cls, version in zip(classes, versions)]
        self.large_inner_rows.add(_grouped_evidence(facts, at, _LARGE_INNER_KEY[:-1],
                                                    more_keys={"packet_overhead": own}))

    def _icmp(self, facts):
        icmp = np.flatnonzero(facts["icmp_mtu"] >= 0)
        self.icmp_total += len(icmp)
        room = EVENT_CAP - len(self.icmp_events)
        events = rows_of(facts, _ICMP_COLUMNS, icmp[:room]) if len(icmp) and room > 0 else None
        for values in () if events is None else zip(*(events[name].tolist() for name in _ICMP_COLUMNS)):
            row = _IcmpRow(*values)
            self.icmp_events.append({
                "ts": row.ts, "from": row.inner_src, "to": row.inner_dst, "mtu": int(row.icmp_mtu),
                "icmp": "icmpv6 packet-too-big" if row.inner_ipv == 6 else "icmp frag-needed",
                "encap": row.encap, "quoted_encap": row.quoted_encap or None,
                "quoted": flow_text(row.quoted_proto, row.quoted_src, row.quoted_sport, row.quoted_dst,
                                     row.quoted_dport),
                "quoted_key": (row.quoted_src, row.quoted_dst, int(row.quoted_proto), int(row.quoted_sport),
                               int(row.quoted_dport)),
                "quoted_len": int(row.quoted_len),
            })
        # PMTUD black hole evidence: a packet of a flow larger than the smallest MTU an earlier ICMP gave that
        # flow. Decided per packet (not per batch), so chunked and one-pass analyses agree.
        big = np.flatnonzero((facts["inner_len"] >= LARGE_INNER) & ~facts["offload"])
        if not len(big):
            return
        inner_len = facts["inner_len"][big]
        budget = np.full(len(big), NO_BUDGET)
        if self.icmp_events:
            flows = [grouping_column(facts, name)[big] for name in FIVE_TUPLE]
            budget = self._told_budgets(flows, facts["ts"][big])
        counted = inner_len > budget
        if counted.any():
            self.after_icmp_rows.add(_grouped_evidence(facts, big[counted], FIVE_TUPLE,
                                                       more_keys={"told_mtu": budget[counted]}))
        if self.continuation:
            # big packets no ICMP of this chunk explains: an earlier chunk's ICMP may (see merge); grouped
            # within the batch first (on integer keys), as most of a chunk's big packets land here
            self.unexplained_rows.add(_grouped_evidence(facts, big[~counted], FIVE_TUPLE + ["inner_len"]))

    def _told(self) -> dict:
        """Every ICMP event as (quoted flow as integer keys, time, running smallest inner budget of that flow),
        in time order, as columns.

        An ICMP quoting a tunnel packet names the outer path's MTU: the pod flow's inner budget is less."""
        if self._told_cache is None or self._told_cache[0] != len(self.icmp_events):
            rows, smallest = [], {}
            for event in sorted(self.icmp_events, key=lambda e: e["ts"]):
                key = event["quoted_key"]
                budget = event["mtu"] - quoted_overhead(event["quoted_encap"])
                smallest[key] = budget = min(budget, smallest.get(key, budget))
                rows.append((text_key(key[0]), text_key(key[1]), *key[2:], event["ts"], budget))
            columns = [np.array(values) for values in zip(*rows)]
            self._told_cache = (len(self.icmp_events), {"flow": columns[:5], "ts": columns[5], "budget": columns[6]},
                                smallest)
        return self._told_cache[1]

    def _told_budgets(self, flows: list, ts):
        """Per packet (flows: its five-tuple as integer-key columns), the smallest inner budget an ICMP sent
        strictly before it gave its flow, or NO_BUDGET: an as-of join, done on integer codes."""
        told = self._told()
        count = len(told["ts"])
        flow = group_codes(None, [np.concatenate([mine, theirs]) for mine, theirs in zip(told["flow"], flows)])[0]
        rank = np.unique(np.concatenate([told["ts"], ts]), return_inverse=True)[1]
        span = int(rank.max()) + 2
        told_at = flow[:count] * span + rank[:count]
        order = np.argsort(told_at, kind="stable")    # by flow, then time; equal times keep event order
        told_at, told_flow, told_budget = told_at[order], flow[:count][order], told["budget"][order]
        # the last event of the packet's flow strictly before it (a later one of another flow sorts after)
        index = np.searchsorted(told_at, flow[count:] * span + rank[count:], side="left") - 1
        found = index >= 0
        found[found] = told_flow[index[found]] == flow[count:][found]
        budget = np.full(len(ts), NO_BUDGET, dtype=np.int64)
        budget[found] = told_budget[index[found]]
        return budget

    def _final_budgets(self) -> dict:
        """Per quoted flow, the smallest inner budget any ICMP so far gave it."""
        if not self.icmp_events:
            return {}
        self._told()
        return self._told_cache[2]

    def _explain_later(self, other: "MtuAnalyzer") -> None:
        """The later chunk's big packets that this (earlier) state's ICMP messages already explain."""
        budgets = self._final_budgets()
        after_icmp = other.after_icmp
        if budgets and after_icmp is not None:
            # a flow told here was told before anything in the later chunk: its budget is the smaller one
            keys = zip(*(after_icmp[name].tolist() for name in FIVE_TUPLE))
            earlier = np.array([budgets.get(key, NO_BUDGET) for key in keys], dtype=np.int64)
            after_icmp["told_mtu"] = np.minimum(after_icmp["told_mtu"], earlier)
        rows = other.unexplained_rows.table
        if rows is None:
            return
        explained = np.zeros(len(rows), dtype=bool)
        if budgets:
            keys = zip(*(rows[name].tolist() for name in FIVE_TUPLE))
            limit = np.array([budgets.get(key, NO_BUDGET) for key in keys], dtype=np.int64)
            explained = rows["inner_len"] > limit
        if explained.any():
            hits = rows[explained]
            self.after_icmp_rows.add(Table({**{k: hits[k] for k in FIVE_TUPLE}, "told_mtu": limit[explained],
                                            "count": hits["count"], "max_len": hits["max_len"],
                                            "first": hits["first"], "last": hits["last"], **_frames(hits)}))
        if self.continuation:
            # this merged state is itself merged after an earlier one (merges as a tree, dask_engine): an ICMP
            # there may explain the rest
            self.unexplained_rows.add(rows[~explained])

    def merge(self, other: "MtuAnalyzer") -> None:
        self.max_outer_len = max(self.max_outer_len, other.max_outer_len)
        self.max_outer_len_any = max(self.max_outer_len_any, other.max_outer_len_any)
        self.offload_frames += other.offload_frames
        for size, count in other.offload_sizes.items():
            self.offload_sizes[size] = self.offload_sizes.get(size, 0) + count
        self.icmp_total += other.icmp_total
        self._explain_later(other)
        self.icmp_events = (self.icmp_events + other.icmp_events)[:EVENT_CAP]
        for name in ("after_icmp_rows", "inner_fragment_rows", "large_inner_rows", "outer_fragment_rows"):
            getattr(self, name).add(getattr(other, name).table)

    def shift_frames(self, offset: int) -> None:
        """This state's unit starts `offset` records into its file (a later chunk of it): its evidence's frame
        numbers, counted from its own start, become the file's."""
        for table in self._tables():
            table.shift(FRAME, offset)

    def _tables(self) -> tuple:
        return (self.unexplained_rows, self.inner_fragment_rows, self.outer_fragment_rows, self.large_inner_rows,
                self.after_icmp_rows)

    # the folded evidence tables (None when there is no evidence)
    inner_fragments = property(lambda self: self.inner_fragment_rows.table)
    outer_fragments = property(lambda self: self.outer_fragment_rows.table)
    large_inner = property(lambda self: self.large_inner_rows.table)
    after_icmp = property(lambda self: self.after_icmp_rows.table)

    def result(self) -> MtuEvidence:
        return MtuEvidence(self.max_outer_len, self.max_outer_len_any, self.offload_frames, self.inner_fragments,
                           self.outer_fragments, self.large_inner, self.after_icmp, list(self.icmp_events),
                           self.icmp_total, dict(self.offload_sizes), self.underlay_mtu)


# the evidence tables' keys: what a finding can name (pods, nodes, sizes)
_INNER_FRAGMENT_KEY = ["outer_class", "outer_src", "inner_src", "inner_dst"]
_OUTER_FRAGMENT_KEY = ["outer_class", "outer_src", "outer_dst"]
_LARGE_INNER_KEY = ["outer_class", "outer_src", "inner_src", "inner_dst", "inner_len", "packet_overhead"]


def _capped_table(keys: list) -> FoldedTable:
    """An evidence table grouped by keys, the TABLE_CAP groups with most packets kept."""
    return FoldedTable(partial(_group_max, keys=keys, cap=TABLE_CAP), TABLE_CAP)


def _outer_fragment_group(frame: Table) -> Table:
    agg = {"count": "sum", "max_len": "max", "first": "min", "last": "max", "inner_len": "max", "example": "max"}
    agg.update({FRAME: "min"} if FRAME in frame else {})
    return frame.aggregate(_OUTER_FRAGMENT_KEY, agg)


_FRAGMENT_COLUMNS = ["outer_class", "outer_src", "outer_dst", "inner_src", "inner_dst", "inner_ip_id", "inner_mf",
                     "inner_len", "outer_len", "outer_frag_off", "ts"]
_ICMP_COLUMNS = ["ts", "inner_src", "inner_dst", "icmp_mtu", "inner_ipv", "encap", "quoted_encap", "quoted_proto",
                 "quoted_src", "quoted_sport", "quoted_dst", "quoted_dport", "quoted_len"]
_IcmpRow = namedtuple("_IcmpRow", _ICMP_COLUMNS)


def quoted_overhead(quoted_encap) -> int:
    """An ICMP quoting a tunnel packet gives the outer path's MTU: the pod flow has that minus the tunnel."""
    return NOMINAL_OVERHEAD.get((quoted_encap or "native").split(">")[0], {}).get(4, 0)


def _grouped_evidence(facts: Facts, at, keys: list, more_keys: dict | None = None,
                      sums: dict | None = None) -> Facts:
    """Evidence rows of the facts' rows `at`, one per distinct key in the batch (grouped on integer keys):
    count, largest inner length, first and last time. more_keys: further key columns, as arrays over `at`;
    sums: columns (arrays over `at`) summed per group."""
    more_keys, sums = more_keys or {}, sums or {}
    scattered = []
    for values in more_keys.values():     # group_codes takes arrays as long as the frame
        full = np.zeros(len(facts), dtype=values.dtype)
        full[at] = values
        scattered.append(full)
    codes, first = group_codes(facts, keys + scattered, at)
    groups = len(first)
    ts, length = facts["ts"][at], facts["inner_len"][at]
    earliest, latest, largest = np.full(groups, np.inf), np.full(groups, -np.inf), np.full(groups, -1)
    np.minimum.at(earliest, codes, ts)
    np.maximum.at(latest, codes, ts)
    np.maximum.at(largest, codes, length)
    frame = rows_of(facts, keys, at[first])
    for name, values in more_keys.items():
        frame[name] = values[first]
    frame["count"] = np.bincount(codes, minlength=groups)
    frame["max_len"], frame["first"], frame["last"] = largest, earliest, latest
    if FRAME in facts:
        firsts = np.full(groups, np.iinfo(np.int64).max)
        np.minimum.at(firsts, codes, facts[FRAME][at])
        frame[FRAME] = firsts
    frame.columns.update(sums_by(codes, groups, sums))
    return frame


def _told_group(frame: Table) -> Table:
    agg = {"told_mtu": "min", "count": "sum", "max_len": "max", "first": "min", "last": "max"}
    agg.update({FRAME: "min"} if FRAME in frame else {})
    return frame.aggregate(FIVE_TUPLE, agg)


def _frames(rows) -> dict:
    """{FRAME: the rows' frame numbers} when they have them, else {}."""
    return {FRAME: rows[FRAME]} if FRAME in rows else {}


def _rows(facts: Facts, mask, columns):
    """The masked rows, only the named columns, as a Table; None when no row matches."""
    return rows_of(facts, columns, np.flatnonzero(mask)) if mask.any() else None


def flow_text(proto, src, sport, dst, dport) -> str | None:
    if not src:
        return None
    name = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}.get(int(proto), str(proto))
    if sport is not None and int(sport) >= 0:
        return f"{name} {src}:{sport} > {dst}:{dport}"
    return f"{name} {src} > {dst}"
