"""Inner flows: what crossed the underlay, per tunnel, node pair, VNI and inner 5-tuple."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..decode.facts import Facts, grouping_column, keys_of, text_key
from ..protocols import ARP_PROTO
from .groups import group_codes, stable_order
from ..grouping import positions
from .table import Table

FLOW_KEY = ["encap", "outer_src", "outer_dst", "vni", "inner_src", "inner_dst", "inner_proto", "sport", "dport"]
FLOW_CAP = 50_000  # flows kept; beyond it the smallest by bytes are evicted (bounded memory)
_SUMS = ["packets", "bytes", "inner_bytes", "syn", "synack", "fin", "rst", "retransmits", "reordered", "payload_bytes"]
_MAXES = ["max_ip_len", "max_wire_len", "max_payload", "syn_mss", "synack_mss", "max_retransmit_len", "last"]
_MINS = ["first"]
SEQ_SPACE = 1 << 32
# a segment's relative end lies in (-2**31, 2**31 + 2**18): shifted by 2**32 it is positive and below 2**34
_END_SHIFT, _FLOW_SPAN = 1 << 32, 1 << 34
FORGOTTEN_BOUND = 65536   # evicted flows whose leading segments may wait for a compaction
LEADING_SEGMENTS = 64  # new-data segments remembered per flow from its first sight, for exact chunk merges
MAX_HOLES = 16         # gaps below a flow's highest sequence end remembered per flow (the most recent kept)
# how a leading segment was counted where it was seen: new data, out of order (it filled a gap), or below the
# first sequence number its (later) chunk saw of the flow, which only the earlier chunks can judge
NEW, REORDERED, UNCERTAIN = 0, 1, 2
UNKNOWN_SPAN = 1 << 30  # how far below its first segment a later chunk holds a flow's range as unknown
TH_FIN, TH_SYN, TH_RST, TH_ACK = 0x01, 0x02, 0x04, 0x10
_NUMERIC_COLUMNS = ["inner_proto", "wirelen", "inner_len", "tcp_payload", "tcp_flags", "tcp_seq", "tcp_mss", "ts"]
NON_IP_KEY = text_key("non-ip")
# A flow's sequence state lives in its table row: seq_base, the sequence number its offsets count from, and
# seq_high, the highest offset its data has reached (both -1 until it carries data).
_SEQ = ["seq_base", "seq_high"]
_TABLE_COLUMNS = FLOW_KEY + _SUMS + _MAXES + _MINS + ["flow_hash"] + _SEQ


def _latest(old, new):
    """A batch's sequence state replaces the flow's, where the batch had any (-1: none)."""
    return np.where(new >= 0, new, old)


# how a flow's counters combine with more of the same flow
_COMBINE = {**{name: np.add for name in _SUMS}, **{name: np.maximum for name in _MAXES},
            **{name: np.minimum for name in _MINS}, **{name: _latest for name in _SEQ}}


@dataclass(frozen=True)
class FlowsResult:
    table: Table           # one row per flow (FLOW_KEY and its counters), largest first
    cap: int               # the flow cap
    evicted_flows: int     # flows evicted beyond the cap, and their packets
    evicted_packets: int


class FlowAnalyzer:
    """Per-flow counters plus TCP retransmission detection by sequence range.

    A TCP segment is a retransmission when its whole sequence range was already
    covered by earlier segments of the flow (the union of their ranges); a segment
    that arrives behind a later one and brings data not seen before is out of order
    (reordered), not a retransmission. Sequence numbers are compared in serial
    arithmetic (RFC 1982) against what the flow has covered, re-based every batch, so
    wrap-around and flows of any length are handled. Below its highest end a flow's
    coverage is whole except for its holes (gaps a later segment jumped over), kept
    per flow as absolute sequence ranges until filled.
    """

    name = "flows"
    distinct_only = True     # each packet once: an `-i any` copy is not another packet of the flow
    reads = tuple(dict.fromkeys(FLOW_KEY + _NUMERIC_COLUMNS + ["inner_ipv", "inner_frag_off"]))

    def __init__(self, cap: int = FLOW_CAP, continuation: bool = False):
        self.cap = cap
        # only the analyzer of a later chunk or file needs its flows' leading segments (see merge)
        self.continuation = continuation
        # the flow table, column by column (numpy arrays, one row per flow, found by flow_hash: a 64-bit hash
        # of the key, the same in every worker process, _flow_hashes): updated in place each batch
        self.columns: dict | None = None
        # the first new-data segments of each flow this analyzer saw start: when chunks are merged, those the
        # previous chunk had covered become retransmissions
        self.leading = LeadingSegments()
        # flow hash -> [(start, end, unknown)]: absolute sequence ranges below its highest end not seen yet
        # (unknown: below the first segment of a later chunk, for the merge with the earlier ones to judge)
        self.holes: dict = {}
        self.evicted_flows = 0
        self.evicted_packets = 0

    def update(self, facts: Facts) -> None:
        # IP packets, and ARP inside a tunnel (a flow of its own, not the tunnel's UDP)
        wanted = np.flatnonzero(((facts["inner_ipv"] > 0) | (facts["inner_proto"] == ARP_PROTO))
                                & (facts["inner_frag_off"] == 0) & (keys_of(facts, "encap") != NON_IP_KEY))
        if not len(wanted):
            return
        # one grouping of the flow key per batch (on integer keys); every aggregate is a numpy reduction by code
        codes, first_rows = group_codes(facts, FLOW_KEY, wanted)
        groups = len(first_rows)
        firsts = wanted[first_rows]
        keys = {name: facts.take(name, firsts) for name in FLOW_KEY}
        column = {name: facts[name][wanted] for name in _NUMERIC_COLUMNS}
        hashes = _flow_hashes([grouping_column(facts, name)[firsts] for name in FLOW_KEY])
        position = self._positions(hashes)
        retransmit, reordered, seq_base, seq_high = self._retransmissions(hashes, position, codes, column)
        tcp = column["inner_proto"] == 6
        flags = np.where(tcp & (column["tcp_flags"] > 0), column["tcp_flags"], 0)
        syn, ack = (flags & TH_SYN) > 0, (flags & TH_ACK) > 0
        inner_len = column["inner_len"]

        def total(values):
            return np.bincount(codes, weights=values, minlength=groups).astype(np.int64)

        def largest(values):
            out = np.full(groups, -np.inf if values.dtype.kind == "f" else np.iinfo(np.int64).min, values.dtype)
            np.maximum.at(out, codes, values)
            return out

        self._absorb(dict(
            keys,
            packets=np.bincount(codes, minlength=groups).astype(np.int64),
            bytes=total(column["wirelen"]),
            inner_bytes=total(np.maximum(inner_len, 0)),
            payload_bytes=total(np.maximum(column["tcp_payload"], 0)),
            syn=total(syn & ~ack), synack=total(syn & ack),
            fin=total((flags & TH_FIN) > 0), rst=total((flags & TH_RST) > 0),
            retransmits=total(retransmit), reordered=total(reordered),
            max_ip_len=largest(inner_len), max_wire_len=largest(column["wirelen"]),
            max_payload=largest(column["tcp_payload"]),
            syn_mss=largest(np.where(syn & ~ack, column["tcp_mss"], -1)),
            synack_mss=largest(np.where(syn & ack, column["tcp_mss"], -1)),
            max_retransmit_len=largest(np.where(retransmit, inner_len, -1)),
            last=largest(column["ts"]),
            first=-largest(-column["ts"]),
            flow_hash=hashes, seq_base=seq_base, seq_high=seq_high,
        ), position)

    def _positions(self, hashes) -> np.ndarray | None:
        """Each flow's row in the table (-1: not there); None while there is no table."""
        if self.columns is None:
            return None
        return positions(self.columns["flow_hash"], hashes)

    def _retransmissions(self, flow_keys, position, codes: np.ndarray, column: dict):
        """Vectorised: per flow, the running maximum of the relative sequence end; a data segment that
        ends at or below what the flow already covered is a retransmission. Returns that per row, and per
        flow its new sequence state (-1 where it carried no data)."""
        result = np.zeros(len(codes), dtype=bool)
        groups = len(flow_keys)
        seq_base, seq_high = np.full(groups, -1, dtype=np.int64), np.full(groups, -1, dtype=np.int64)
        is_data = (column["inner_proto"] == 6) & (column["tcp_payload"] > 0) & (column["tcp_seq"] >= 0)
        if not is_data.any():
            return result, result.copy(), seq_base, seq_high
        data_codes = codes[is_data]
        seq = column["tcp_seq"][is_data]
        payload = column["tcp_payload"][is_data]
        base = np.full(groups, -1, dtype=np.int64)
        prior_end = np.full(groups, -1, dtype=np.int64)
        first_seq = np.full(groups, -1, dtype=np.int64)
        first_index = np.full(groups, len(data_codes), dtype=np.int64)
        np.minimum.at(first_index, data_codes, np.arange(len(data_codes)))
        data_flows = np.flatnonzero(first_index < len(data_codes))     # ascending, as np.unique gives them
        first_seq[data_flows] = seq[first_index[data_flows]]
        known = np.zeros(len(data_flows), dtype=bool)
        if position is not None:
            row = position[data_flows]
            known[row >= 0] = self.columns["seq_base"][row[row >= 0]] >= 0
        if known.any():
            # re-based on what the flow has covered so far, so offsets stay small however long it runs
            row = position[data_flows[known]]
            base[data_flows[known]] = (self.columns["seq_base"][row] + np.maximum(self.columns["seq_high"][row], 0)) \
                % SEQ_SPACE
            prior_end[data_flows[known]] = 0
        new = data_flows[~known]
        base[new] = first_seq[new]
        if self.continuation:
            self.leading.follow(flow_keys[new].tolist(), first_seq[new].tolist())
        relative = _serial((seq - base[data_codes]) % SEQ_SPACE)
        end = relative + payload
        # the running maximum of the end per flow, segmented by a per-flow offset in one accumulate
        order = stable_order(data_codes)
        sorted_codes = data_codes[order]
        offset = _END_SHIFT + sorted_codes * _FLOW_SPAN
        running = np.maximum.accumulate(end[order] + offset)
        starts = np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]
        before = np.empty(len(order), dtype=np.int64)
        before[1:] = running[:-1] - offset[1:]
        before[starts] = -1
        previous = np.empty(len(order), dtype=np.int64)
        previous[order] = before
        previous = np.maximum(previous, prior_end[data_codes])
        retransmitted = end <= previous
        reordered, uncertain = np.zeros(len(end), dtype=bool), np.zeros(len(end), dtype=bool)
        # below its highest end a flow's coverage is whole unless it has holes: only such flows need a walk
        unknown = self._below_first(flow_keys, data_codes, base, relative)
        walked = np.union1d(np.union1d(data_codes[(previous >= 0) & (relative > previous)], list(unknown)),
                            self._holed_codes(flow_keys, data_flows)).astype(np.int64)
        if len(walked):
            rows, *flags = self._walk_holes(flow_keys, base, walked, order, sorted_codes, relative, end, prior_end,
                                            unknown)
            retransmitted[rows], reordered[rows], uncertain[rows] = flags
        if self.leading:
            kinds = np.where(uncertain, UNCERTAIN, np.where(reordered, REORDERED, NEW))
            kept = self.leading.add(flow_keys, data_codes, (base[data_codes] + relative) % SEQ_SPACE,
                                    (base[data_codes] + end) % SEQ_SPACE, column["inner_len"][is_data],
                                    ~retransmitted, kinds)
            retransmitted |= uncertain & ~kept      # no room to judge it at the merge: covered, as below a base
        result[is_data] = retransmitted
        result_reordered = np.zeros(len(codes), dtype=bool)
        result_reordered[is_data] = reordered
        last = np.r_[starts[1:], True]
        seq_base[data_flows] = base[data_flows]
        seq_high[data_flows] = np.maximum(running[last] - offset[last], prior_end[data_flows])
        return result, result_reordered, seq_base, seq_high

    def _below_first(self, flow_keys, codes, base, relative) -> dict:
        """A later chunk's flows (codes) with segments below the first sequence number the chunk saw of them,
        with that first number (as an offset from the batch's base). Whether the chunks before covered them
        only the merge can tell: such a range is held as an unknown hole until then."""
        if not self.continuation or not self.leading.firsts:
            return {}
        present = np.unique(codes)
        firsts = [self.leading.firsts.get(key) for key in flow_keys[present].tolist()]
        first = np.full(len(flow_keys), np.iinfo(np.int64).min)
        followed = np.array([value is not None for value in firsts], dtype=bool)
        first[present[followed]] = _serial((np.array([v for v in firsts if v is not None], dtype=np.int64)
                                            - base[present[followed]]) % SEQ_SPACE)
        below = np.unique(codes[relative < first[codes]])
        return {int(code): int(first[code]) for code in below.tolist()}

    def _holed_codes(self, flow_keys, data_flows):
        """The batch's flows (codes) that have holes from earlier batches."""
        if not self.holes:
            return np.zeros(0, dtype=np.int64)
        held = np.fromiter(self.holes, dtype=np.uint64, count=len(self.holes))
        return data_flows[np.isin(flow_keys[data_flows], held)]

    def _walk_holes(self, flow_keys, base, flows, order, sorted_codes, relative, end, prior_end, unknown: dict):
        """Segment by segment, for the flows (codes) with holes: which data rows are retransmissions (their whole
        range covered), which arrived out of order (they fill a hole) and which fall where only an earlier
        chunk can tell (unknown: flows with segments below the first their chunk saw, see _below_first).
        Returns (rows, retransmitted, reordered, uncertain); the flows' holes are kept for the next batch."""
        rows, flags = [], []
        bounds = np.searchsorted(sorted_codes, np.stack([flows, flows + 1]))
        for code, low, high in zip(flows.tolist(), *bounds.tolist()):
            key, at, at_base = int(flow_keys[code]), order[low:high], int(base[code])
            holes = [(serial_offset(start - at_base), serial_offset(stop - at_base), hidden)
                     for start, stop, hidden in self.holes.pop(key, ())]
            if code in unknown and not any(hidden for *_, hidden in holes):
                holes.insert(0, (unknown[code] - UNKNOWN_SPAN, unknown[code], True))
            *walk, holes = walk_segments(relative[at].tolist(), end[at].tolist(), int(prior_end[code]), holes)
            rows.append(at)
            flags.append(walk)
            if holes:
                kept = [hole for hole in holes if hole[2]] + [hole for hole in holes if not hole[2]][-MAX_HOLES:]
                self.holes[key] = [((at_base + start) % SEQ_SPACE, (at_base + stop) % SEQ_SPACE, hidden)
                                   for start, stop, hidden in kept]
        return (np.concatenate(rows), *(np.concatenate([flag[i] for flag in flags]) for i in range(3)))

    def _absorb(self, rows: dict, position=None) -> None:
        """Add per-flow rows (columns of arrays; each flow at most once) to the table: flows already there
        are updated in place by position (given, or looked up), new ones appended in order, so no group-by
        over the whole table."""
        if self.columns is None:
            table = {name: np.array(rows[name]) for name in _TABLE_COLUMNS}   # copies: this table owns them
        else:
            table = self.columns
            if len(table["flow_hash"]) >= self.cap:
                rows, position = self._drop_doomed(rows, position)
            if position is None:
                position = self._positions(rows["flow_hash"])
            known = position >= 0
            if known.any():
                at = position[known]
                for name, combine in _COMBINE.items():
                    values = table[name]
                    values[at] = combine(values[at], rows[name][known])
            if not known.all():
                table = {name: np.concatenate([table[name], rows[name][~known]]) for name in _TABLE_COLUMNS}
        if len(table["flow_hash"]) > self.cap:
            order = np.argsort(-table["bytes"], kind="stable")   # biggest first; ties keep their order
            evicted = order[self.cap:]
            self.evicted_flows += len(evicted)
            self.evicted_packets += int(table["packets"][evicted].sum())
            # an evicted flow's sequence state goes with its row; its leading segments go too
            self._forget(table["flow_hash"][evicted].tolist())
            table = {name: values[order[:self.cap]] for name, values in table.items()}
        self.columns = table

    def _forget(self, hashes: list) -> None:
        """Evicted flows: their leading segments and holes go with their rows."""
        self.leading.forget(hashes)
        for key in hashes:
            self.holes.pop(key, None)

    def _drop_doomed(self, rows: dict, position=None):
        """With the table full, a new flow no bigger than the smallest kept one would be evicted at once
        (the eviction sort is stable, and kept flows come first): count it evicted without the big merge.
        Returns the rows left and their positions (if given)."""
        table = self.columns
        new = ~np.isin(rows["flow_hash"], table["flow_hash"])
        doomed = new & (rows["bytes"] <= table["bytes"].min())
        if not doomed.any():
            return rows, position
        self.evicted_flows += int(doomed.sum())
        self.evicted_packets += int(rows["packets"][doomed].sum())
        self._forget(rows["flow_hash"][doomed].tolist())
        return {name: values[~doomed] for name, values in rows.items()}, \
            None if position is None else position[~doomed]

    @property
    def table(self) -> Table | None:
        """The flow table (its columns, not copies)."""
        if self.columns is None:
            return None
        return Table(dict(self.columns))

    def merge(self, other: "FlowAnalyzer") -> None:
        """Merge the analyzer of the *following* chunk (or file) into this one."""
        if other.columns is not None:
            # their counters now; their sequence state below, once the adjustments have seen mine alone
            unknown = np.full(len(other.columns["flow_hash"]), -1, dtype=np.int64)
            self._absorb({**other.columns, "seq_base": unknown, "seq_high": unknown})
        self.evicted_flows += other.evicted_flows
        self.evicted_packets += other.evicted_packets
        rows, count, reordered, longest = self._carried_before(other.leading)
        self._merge_holes(other)
        adopted = self._merge_sequences(other.columns)
        self.leading.adopt(other.leading, adopted)
        if len(rows):
            table = self.columns
            table["retransmits"][rows] += count
            table["reordered"][rows] += reordered
            table["max_retransmit_len"][rows] = np.maximum(table["max_retransmit_len"][rows], longest)

    def _merge_sequences(self, theirs: dict | None) -> list:
        """Take on the later chunk's sequence state (theirs: its table): a flow with none here adopts it (the
        flow hashes returned); one with both keeps its base and the higher of the two covered ends."""
        if theirs is None or self.columns is None:
            return []
        carried = np.flatnonzero(theirs["seq_base"] >= 0)
        row = self._positions(theirs["flow_hash"][carried])
        carried, row = carried[row >= 0], row[row >= 0]       # flows evicted here keep no state
        their_base, their_high = theirs["seq_base"][carried], theirs["seq_high"][carried]
        base, high = self.columns["seq_base"], self.columns["seq_high"]
        mine = base[row] >= 0
        reached = _serial(((their_base + their_high) - base[row]) % SEQ_SPACE)
        high[row[mine]] = np.maximum(high[row[mine]], reached[mine])
        base[row[~mine]], high[row[~mine]] = their_base[~mine], their_high[~mine]
        return theirs["flow_hash"][carried[~mine]].tolist()

    def forget_carry(self) -> None:
        """Drop every flow's sequence state (a last chunk's: nothing merges after it)."""
        if self.columns is not None:
            for name in _SEQ:
                self.columns[name][:] = -1
        self.holes.clear()

    def _carried_before(self, leading: LeadingSegments):
        """The later chunk's leading segments as this (earlier) state judges them: those it had already covered
        were retransmissions (the later chunk took them as new data, or as filling its own holes); those that
        fill its holes arrived out of order. Per flow with any change: (its table row, retransmissions and
        reorderings to add, the longest retransmission)."""
        seen = leading.segments()
        flows = seen["flows"]
        empty = np.zeros(0, dtype=np.int64)
        if not len(flows) or self.columns is None:
            return np.zeros(0, dtype=np.intp), empty, empty, empty
        keys, inverse = np.unique(flows, return_inverse=True)
        row = self._positions(keys)
        covered_to = np.full(len(keys), -1, dtype=np.int64)
        found = np.flatnonzero(row >= 0)
        base, high = self.columns["seq_base"][row[found]], self.columns["seq_high"][row[found]]
        covered_to[found] = np.where(base >= 0, (base + high) % SEQ_SPACE, -1)
        known = covered_to[inverse] >= 0
        behind = known & ((covered_to[inverse] - seen["ends"]) % SEQ_SPACE < SEQ_SPACE // 2)
        in_hole = np.zeros(len(flows), dtype=bool)
        for at in np.flatnonzero(behind & np.isin(flows, np.fromiter(self.holes, dtype=np.uint64,
                                                                       count=len(self.holes)))).tolist():
            start, end = int(seen["starts"][at]), int(seen["ends"][at])
            in_hole[at] = any(serial_offset(end - low) > 0 and serial_offset(top - start) > 0
                              for low, top, _ in self.holes[int(flows[at])])
        kinds = seen["kinds"]
        # a segment below the first its chunk saw of a flow no earlier chunk saw either is covered, as in one pass
        repeated = (behind & ~in_hole) | (~known & (kinds == UNCERTAIN))
        reordered = ((in_hole & (kinds != REORDERED)) | (known & ~behind & (kinds == UNCERTAIN))).astype(np.int64) \
            - (repeated & (kinds == REORDERED))
        count = np.bincount(inverse, weights=repeated, minlength=len(keys)).astype(np.int64)
        moved = np.bincount(inverse, weights=reordered, minlength=len(keys)).astype(np.int64)
        longest = np.full(len(keys), -1, dtype=np.int64)
        np.maximum.at(longest, inverse[repeated], seen["lengths"][repeated])
        changed = np.flatnonzero(((count > 0) | (moved != 0)) & (row >= 0))
        return row[changed], count[changed], moved[changed], longest[changed]

    def _merge_holes(self, other: "FlowAnalyzer") -> None:
        """The holes of the merged state: what neither this state nor the later chunk's covered below the higher
        of their ends (each one's holes, the later one's unknown range below its first segment, the gap between
        this state's end and that first segment)."""
        firsts = other.leading.firsts
        followed = np.fromiter(firsts, dtype=np.uint64, count=len(firsts))
        base, end = self._states(followed)
        # a later chunk that starts beyond this state's end leaves a gap between them
        ahead = (base >= 0) & (_serial((np.fromiter(firsts.values(), dtype=np.int64, count=len(firsts)) - base)
                                       % SEQ_SPACE) > end)
        keys = set(followed[ahead].tolist()) | set(other.holes) | set(firsts) & set(self.holes)
        keys = np.fromiter(keys, dtype=np.uint64, count=len(keys))
        mine_base, mine_end = self._states(keys)
        their_base, their_end = other._states(keys)
        for key, *states in zip(keys.tolist(), mine_base.tolist(), mine_end.tolist(), their_base.tolist(),
                                their_end.tolist()):
            mine = None if states[0] < 0 else states[:2]
            theirs = states[2:]
            if theirs[0] < 0:
                continue
            if mine is None:
                kept = [hole for hole in other.holes.get(key, ()) if not hole[2]]
            else:
                base, my_end = mine
                relative = [(serial_offset(low - base), serial_offset(top - base)) for low, top, _ in self.holes.get(key, ())]
                their_holes = [(serial_offset(low - base), serial_offset(top - base), hidden)
                               for low, top, hidden in other.holes.get(key, ())]
                if key in firsts and not any(hidden for *_, hidden in their_holes):
                    first = serial_offset(firsts[key] - base)
                    their_holes.append((first - UNKNOWN_SPAN, first, True))
                their_end = serial_offset(theirs[0] + theirs[1] - base)
                holes = [hole[:2] for hole in their_holes]
                open_ranges = _union(_within(relative, holes + [(their_end, _FAR)])
                                     + _within(holes, relative + [(my_end, _FAR)]))
                kept = [((base + low) % SEQ_SPACE, (base + top) % SEQ_SPACE, False) for low, top in open_ranges]
            self.holes.pop(key, None)
            if kept:
                self.holes[key] = kept[-MAX_HOLES:]

    def _states(self, keys):
        """Per flow hash, its sequence base and the end it covered from it (-1 and -1 where it has none)."""
        base, end = np.full(len(keys), -1, dtype=np.int64), np.full(len(keys), -1, dtype=np.int64)
        if self.columns is None or not len(keys):
            return base, end
        row = self._positions(keys)
        found = row >= 0
        base[found], end[found] = self.columns["seq_base"][row[found]], self.columns["seq_high"][row[found]]
        end[base < 0] = -1
        return base, end

    def result(self) -> FlowsResult:
        table = self.table
        if table is None:
            table = Table.empty_of(dict.fromkeys(FLOW_KEY + _SUMS + _MAXES + _MINS, object))
        else:
            order = np.lexsort((-table["packets"], -table["bytes"]))   # stable: equal flows keep their order
            table = Table({name: table[name][order] for name in table.columns if name not in ["flow_hash"] + _SEQ})
        return FlowsResult(table, self.cap, self.evicted_flows, self.evicted_packets)


class LeadingSegments:
    """The first new-data segments (absolute sequence start and end, inner length, how they were counted) of
    every flow an analyzer saw start, at most LEADING_SEGMENTS a flow, kept as flat arrays: when chunks are
    merged, those the earlier chunk had already carried become retransmissions, and those that fill its
    holes arrived out of order."""

    FIELDS = ("flows", "starts", "ends", "lengths", "kinds")

    def __init__(self):
        self.counts: dict = {}   # flow hash -> segments kept, for every flow followed
        self.firsts: dict = {}   # flow hash -> the first sequence number seen of it (where the unknown ends)
        self._parts: dict = {name: [] for name in self.FIELDS}   # per batch: each kept segment's values
        self._kept = 0
        self._forgotten: set = set()   # flows whose segments still lie in the arrays (dropped at _compact)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def follow(self, hashes, firsts) -> None:
        hashes = list(hashes)
        self._drop_stale(hashes)
        self.counts.update((key, 0) for key in hashes)
        self.firsts.update(zip(hashes, firsts))

    def forget(self, hashes) -> None:
        for key in hashes:
            self.firsts.pop(key, None)
            if self.counts.pop(key, None) is not None:
                self._forgotten.add(key)
        if len(self._forgotten) > FORGOTTEN_BOUND:
            self._compact()           # drops their segments and the set with them: bounded memory

    def _drop_stale(self, hashes) -> None:
        """A flow followed again after it was forgotten (evicted) starts afresh: its old segments go first."""
        if self._forgotten and not self._forgotten.isdisjoint(hashes):
            self._compact()

    def _append(self, **values) -> None:
        for name in self.FIELDS:
            self._parts[name].append(values[name])

    def add(self, code_hashes, codes, absolute_start, absolute_end, inner_len, new_data, kinds):
        """Keep the new-data segments (rows where new_data) of followed flows that still have room, in
        order; code_hashes: the flow hash of each code, codes: each row's flow. Returns which rows were kept."""
        kept_rows = np.zeros(len(codes), dtype=bool)
        present = np.flatnonzero(np.bincount(codes, minlength=len(code_hashes)))
        kept_so_far = [self.counts.get(key) for key in code_hashes[present].tolist()]
        room = np.zeros(len(code_hashes), dtype=np.int64)
        room[present] = [0 if kept is None else LEADING_SEGMENTS - kept for kept in kept_so_far]
        candidates = np.flatnonzero(new_data & (room[codes] > 0))
        if not len(candidates):
            return kept_rows
        # each candidate's rank among its flow's candidates: kept while below the flow's room
        order = stable_order(codes[candidates])
        ranked = codes[candidates][order]
        group_start = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        rank = np.empty(len(candidates), dtype=np.int64)
        rank[order] = np.arange(len(candidates)) - np.repeat(group_start, np.diff(np.r_[group_start, len(ranked)]))
        kept = candidates[rank < room[codes[candidates]]]
        kept_rows[kept] = True
        self._append(flows=code_hashes[codes[kept]], starts=absolute_start[kept], ends=absolute_end[kept],
                     lengths=inner_len[kept], kinds=kinds[kept])
        added = np.bincount(codes[kept], minlength=len(code_hashes))
        for code in np.flatnonzero(added).tolist():
            self.counts[int(code_hashes[code])] += int(added[code])
        self._kept += len(kept)
        if self._kept > 2 * LEADING_SEGMENTS * len(self.counts) + 65536:
            self._compact()       # drop the segments of flows no longer followed (evicted): bounded memory
        return kept_rows

    def segments(self) -> dict:
        """FIELDS -> array over every segment of a followed flow, in order (flow hashes, sequence starts and
        ends, inner lengths, how each was counted)."""
        self._compact()
        if not self._parts["flows"]:
            return {name: np.zeros(0, dtype=np.uint64 if name == "flows" else np.int64) for name in self.FIELDS}
        return {name: parts[0] for name, parts in self._parts.items()}

    def adopt(self, other: "LeadingSegments", hashes) -> None:
        """Follow these flows of `other` (with their segments) from now on."""
        wanted = [key for key in hashes if key in other.counts]
        if not wanted:
            return
        self._drop_stale(wanted)
        theirs = other.segments()
        take = np.isin(theirs["flows"], np.array(wanted, dtype=np.uint64))
        self.counts.update((key, other.counts[key]) for key in wanted)
        self.firsts.update((key, other.firsts[key]) for key in wanted if key in other.firsts)
        self._append(**{name: values[take] for name, values in theirs.items()})
        self._kept += int(take.sum())

    def _compact(self) -> None:
        if not self._parts["flows"]:
            self._forgotten.clear()
            return
        joined = {name: np.concatenate(parts) for name, parts in self._parts.items()}
        followed = np.isin(joined["flows"], np.fromiter(self.counts, dtype=np.uint64, count=len(self.counts)))
        self._parts = {name: [values[followed]] for name, values in joined.items()}
        self._kept = int(followed.sum())
        self._forgotten.clear()


def walk_segments(starts, ends, high, holes):
    """One flow's data segments in order (offsets from its base), against what it covered: everything below
    `high` (-1: nothing yet) but the holes, (start, end, unknown) — unknown: below the first segment a later
    chunk saw, which only the chunks before it can judge. Returns per segment retransmitted, reordered and
    uncertain, and the holes left (in order)."""
    retransmitted, reordered, uncertain = ([False] * len(starts) for _ in range(3))
    for i, (start, end) in enumerate(zip(starts, ends)):
        if high < 0:
            high = end
        elif end <= high:
            crossed = [hidden for low, top, hidden in holes if low < end and start < top]
            uncertain[i] = any(crossed)
            reordered[i] = bool(crossed) and not uncertain[i]
            retransmitted[i] = not crossed
            holes = _fill(holes, start, end)
        else:
            holes = holes + [(high, start, False)] if start > high else _fill(holes, start, high)
            high = end
    return retransmitted, reordered, uncertain, holes


def _fill(holes: list, start: int, end: int) -> list:
    """The holes with [start, end) seen."""
    left = []
    for low, top, hidden in holes:
        if top <= start or end <= low:
            left.append((low, top, hidden))
            continue
        left += [(a, b, hidden) for a, b in ((low, start), (end, top)) if a < b]
    return left


_FAR = SEQ_SPACE // 2 - 1   # "beyond every end", as a sequence offset


def _within(ranges: list, bounds: list) -> list:
    """The parts of the (start, end) ranges that lie within any of the bounds."""
    return [(max(low, first), min(top, last)) for low, top in ranges for first, last in bounds
            if max(low, first) < min(top, last)]


def _union(ranges: list) -> list:
    """Ranges merged where they touch or overlap, in order."""
    merged: list = []
    for low, top in sorted(ranges):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], top))
        else:
            merged.append((low, top))
    return merged


def _flow_hashes(columns: list) -> np.ndarray:
    """A 64-bit hash per flow, from its FLOW_KEY columns as the analyzers group them (facts.grouping_column:
    text by its keys): the same in every worker process. Each column is mixed in with the splitmix64
    finaliser, vectorised."""
    digest = None
    for values in columns:
        mixed = _splitmix(values.astype(np.int64).view(np.uint64) ^ (np.uint64(0) if digest is None else digest))
        digest = mixed if digest is None else _splitmix(mixed + digest)
    return digest


def _splitmix(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def serial_offset(offset: int) -> int:
    """One sequence offset in serial-number arithmetic, as a plain int (see _serial)."""
    offset %= SEQ_SPACE
    return offset - SEQ_SPACE if offset >= SEQ_SPACE // 2 else offset


def _serial(offset):
    """Sequence offsets in serial-number arithmetic (RFC 1982): more than 2**31 ahead means behind."""
    return np.where(offset >= SEQ_SPACE // 2, offset - SEQ_SPACE, offset)
