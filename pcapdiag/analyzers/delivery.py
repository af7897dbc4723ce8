"""Delivery by size: which packet sizes a path carries and which it drops without a word (no ICMP).

The most common MTU incident sends no ICMP: a switch port, a cloud fabric or a nested underlay with a
smaller MTU drops the big frames silently. A capture on the sending node still shows it: per TCP flow
direction, segments of some sizes are acknowledged by the peer while the larger ones are sent again and
again and never acknowledged; echo requests above some size get no reply while smaller ones do.

Evidence kept (bounded, mergeable):
- per TCP flow direction (the key of flows.py): the peer's highest cumulative ACK, the ACK rows that carried
  SACK blocks (the receiver reporting holes), the data segments sent, and the highest sequence end sent;
- per (flow direction, inner IP length): segments sent, the lowest and highest sequence end among them,
  first and last time, the largest outer IP length (for wire sizes);
- per (direction, inner IP length) of ICMP/ICMPv6 echo: requests, and replies of that length coming back.
Sequence numbers are kept relative to a per-flow base in serial arithmetic (RFC 1982), and a later chunk's
values are shifted onto the earlier chunk's base when states merge, so chunks merge to one pass's answer.
The judgement (size windows per node pair) is `size_windows`; the findings word it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..decode.facts import Facts, grouping_column
from .flows import FLOW_KEY, TH_ACK, _flow_hashes, _serial
from .groups import FoldedTable, group_codes
from ..grouping import factorize, positions
from .table import Table

SEQ_SPACE = 1 << 32
_LEN_SPAN = 1 << 32
# Bounded memory: flow directions and (flow, size) rows kept; beyond them the smallest are dropped (the
# flows with the fewest packets; the sizes sent least often), as the flow table evicts its smallest flows.
FLOW_CAP = 20_000
SIZE_CAP = 50_000
NO_ACK = -(1 << 62)          # a flow direction whose peer never acknowledged anything (in this state)
ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}
# A size counts as "never got through" only when its segments were sent again (at least this many repeats of
# a range already sent), over at least this long, and never acknowledged: unacknowledged first sends are
# what a capture that simply ended looks like, and on the receiving side what arrives beyond a hole.
MIN_REPEATS = 2
MIN_SPAN_S = 0.5
MIN_ECHO_REQUESTS = 2
_SWAPPED = ["encap", "outer_dst", "outer_src", "vni", "inner_dst", "inner_src", "inner_proto", "dport", "sport"]
_FLOW_TEXT = ["encap", "outer_src", "outer_dst", "inner_src", "inner_dst"]
_FLOW_INT = ["vni", "inner_ipv", "sport", "dport"]
_FLOW_STATE = ["base", "ack", "ack_since", "ack_repeats", "data_high", "data_last", "segments", "sack_acks", "ack_rows"]
_SIZE_KEY = ["flow_hash", "inner_len"]
_SIZE_AGG = {"sent": "sum", "min_end": "min", "max_end": "max", "payload": "max", "outer_len": "max",
             "first": "min", "last": "max"}
_ECHO_KEY = ["encap", "outer_src", "outer_dst", "inner_src", "inner_dst", "inner_len"]
_ECHO_AGG = {"requests": "sum", "replies": "sum", "outer_len": "max", "first": "min", "last": "max"}


def _fold_sizes(frame: Table) -> Table:
    table = frame.aggregate(_SIZE_KEY, _SIZE_AGG)
    # the sizes sent most, most first (ties: the earlier), as pandas' nlargest keeps them
    return table[np.argsort(-table["sent"], kind="stable")[:SIZE_CAP]] if len(table) > SIZE_CAP else table


def _fold_echo(frame: Table) -> Table:
    return frame.aggregate(_ECHO_KEY, _ECHO_AGG)


@dataclass(frozen=True)
class DeliveryResult:
    """flows: one row per TCP flow direction (key texts and state); sizes: per (flow_hash, inner_len);
    echo: per (direction, inner_len). Sequence values are relative to each flow's base."""
    flows: Table
    sizes: Table
    echo: Table


class DeliveryAnalyzer:
    name = "delivery"
    distinct_only = True     # each packet once: an `-i any` copy is not another send
    reads = ("inner_ipv", "inner_frag_off", "inner_mf", "inner_proto", "tcp_seq", "tcp_payload", "tcp_ack",
             "tcp_flags", "tcp_sack_right", "ts", "offload", "inner_len", "outer_len", "icmp_type", *FLOW_KEY)

    def __init__(self):
        self.flows: dict | None = None      # column -> numpy array, one row per flow direction
        self.sizes = FoldedTable(_fold_sizes, cap=SIZE_CAP)
        self.echo = FoldedTable(_fold_echo)

    # -- per batch -----------------------------------------------------------------------------------
    def update(self, facts: Facts) -> None:
        if facts.empty:
            return
        ip = (facts["inner_ipv"] > 0) & (facts["inner_frag_off"] == 0) & ~facts["inner_mf"]
        self._echo(facts, ip)
        tcp = np.flatnonzero(ip & (facts["inner_proto"] == 6) & (facts["tcp_seq"] >= 0))
        if not len(tcp):
            return
        payload = facts["tcp_payload"][tcp]
        ack = facts["tcp_ack"][tcp]
        is_data = payload > 0
        is_ack = ((facts["tcp_flags"][tcp] & TH_ACK) > 0) & (ack >= 0)
        data, acks = tcp[is_data], tcp[is_ack]
        # one grouping of the flow key over the TCP rows, then one hash per group each way (not per row)
        key_codes, firsts = group_codes(facts, FLOW_KEY, tcp)
        forward, backward = _hashes(facts, FLOW_KEY, tcp[firsts]), _hashes(facts, _SWAPPED, tcp[firsts])
        hashes = np.concatenate([forward[key_codes[is_data]], backward[key_codes[is_ack]]])
        codes, flow_hashes = factorize(hashes)
        data_codes, ack_codes = codes[:len(data)], codes[len(data):]
        seq, ack_value = facts["tcp_seq"][data], facts["tcp_ack"][acks]
        base = self._bases(flow_hashes, data_codes, seq, ack_codes, ack_value)
        groups = len(flow_hashes)
        end = _serial((seq - base[data_codes]) % SEQ_SPACE) + payload[is_data]
        rel_ack = _serial((ack_value - base[ack_codes]) % SEQ_SPACE)
        ts = facts["ts"]
        top_ack = _group_max(ack_codes, rel_ack, groups, NO_ACK)
        # when each flow's highest ACK was first seen (a hole that stays open shows as an old ACK)
        at_top = rel_ack == top_ack[ack_codes]
        ack_since = np.full(groups, np.inf)
        np.minimum.at(ack_since, ack_codes[at_top], ts[acks][at_top])
        sack = facts["tcp_sack_right"][acks] >= 0
        # duplicate ACKs that report data beyond a hole (SACK blocks; Linux sends them by default): the
        # receiver-side sign of a hole; plain repeated ACKs also come with data going the other way
        ack_repeats = np.bincount(ack_codes[at_top & sack], minlength=groups).astype(np.int64)
        batch = {
            "flow_hash": flow_hashes.astype(np.uint64), "base": base, "ack": top_ack, "ack_since": ack_since,
            "ack_repeats": ack_repeats,
            "data_high": _group_max(data_codes, end, groups, NO_ACK),
            "data_last": _group_max(data_codes, ts[data], groups, -np.inf),
            "segments": np.bincount(data_codes, minlength=groups).astype(np.int64),
            "sack_acks": np.bincount(ack_codes[sack], minlength=groups).astype(np.int64),
            "ack_rows": np.bincount(ack_codes, minlength=groups).astype(np.int64),
        }
        self._absorb_flows(batch, facts, flow_hashes, data, acks, data_codes, ack_codes)
        real = ~facts["offload"][data]     # an offload super-frame's size was never on the wire
        self._add_sizes(flow_hashes, data_codes[real], facts["inner_len"][data][real], end[real],
                        payload[is_data][real], facts["outer_len"][data][real], ts[data][real])

    def _bases(self, flow_hashes, data_codes, seq, ack_codes, ack_value):
        """Each flow's sequence base: the state's where it has one, else the first data segment's sequence
        number in this batch (or, for a flow only acknowledged here, the first ACK's value)."""
        groups = len(flow_hashes)
        base = np.full(groups, -1, dtype=np.int64)
        first_ack = _first_value(ack_codes, ack_value, groups)
        first_seq = _first_value(data_codes, seq, groups)
        base[:] = np.where(first_seq >= 0, first_seq, first_ack)
        if self.flows is not None:
            position = positions(self.flows["flow_hash"], flow_hashes.astype(np.uint64))
            known = position >= 0
            base[known] = self.flows["base"][position[known]]
        return base

    def _absorb_flows(self, batch, facts, flow_hashes, data, acks, data_codes, ack_codes) -> None:
        # key texts of new flows: from a data row where there is one (its own direction), else the ACK
        # row read backwards
        rows = np.full(len(flow_hashes), -1, dtype=np.int64)
        rows[ack_codes] = acks
        rows[data_codes] = data
        from_data = np.zeros(len(flow_hashes), dtype=bool)
        from_data[data_codes] = True
        # the texts are read for the flows new to the table only (the rest have theirs)
        new = np.ones(len(flow_hashes), dtype=bool) if self.flows is None else \
            positions(self.flows["flow_hash"], batch["flow_hash"]) < 0
        for name in _FLOW_TEXT + _FLOW_INT:
            values = facts.take(name, rows[new])
            mirrored = facts.take(_mirror(name), rows[new])
            column = np.empty(len(flow_hashes), dtype=values.dtype)
            column[new] = np.where(from_data[new], values, mirrored)
            column[~new] = "" if values.dtype == object else -1
            batch[name] = column
        self._absorb(batch)

    def _absorb(self, batch: dict) -> None:
        if self.flows is None:
            self.flows = {name: np.asarray(values).copy() for name, values in batch.items()}
            return
        table = self.flows
        position = positions(table["flow_hash"], batch["flow_hash"])
        known = position >= 0
        at, theirs = position[known], np.flatnonzero(known)
        mine_ack, their_ack = table["ack"][at], batch["ack"][theirs]
        # the highest ACK: when it was first seen and how often it came (duplicate ACKs), from whichever
        # side saw it, both where both did
        higher, same = their_ack > mine_ack, their_ack == mine_ack
        since, repeats = batch["ack_since"][theirs], batch["ack_repeats"][theirs]
        table["ack_since"][at] = np.where(higher, since, np.where(same, np.minimum(table["ack_since"][at], since),
                                                                  table["ack_since"][at]))
        table["ack_repeats"][at] = np.where(higher, repeats, table["ack_repeats"][at] + np.where(same, repeats, 0))
        for name in ("ack", "data_high", "data_last"):
            table[name][at] = np.maximum(table[name][at], batch[name][theirs])
        for name in ("segments", "sack_acks", "ack_rows"):
            table[name][at] += batch[name][theirs]
        if not known.all():
            fresh = ~known
            table = self.flows = {name: np.concatenate([table[name], np.asarray(batch[name])[fresh]])
                                  for name in table}
        if len(table["flow_hash"]) > FLOW_CAP:
            keep = np.sort(np.argsort(-(table["segments"] + table["ack_rows"]), kind="stable")[:FLOW_CAP])
            self.flows = {name: values[keep] for name, values in table.items()}

    def _add_sizes(self, flow_hashes, flow_codes, inner_len, end, payload, outer_len, ts) -> None:
        if not len(flow_codes):
            return
        # (flow, size) as one int64: a batch has far fewer than 2**31 flows, and an IP length (jumbograms
        # included) fits 32 bits
        codes, uniques = factorize(flow_codes * _LEN_SPAN + inner_len)
        groups = len(uniques)
        self.sizes.add(Table({
            "flow_hash": flow_hashes[uniques // _LEN_SPAN].astype(np.uint64), "inner_len": uniques % _LEN_SPAN,
            "sent": np.bincount(codes, minlength=groups).astype(np.int64),
            "min_end": -_group_max(codes, -end, groups, NO_ACK), "max_end": _group_max(codes, end, groups, NO_ACK),
            "payload": _group_max(codes, payload, groups, 0), "outer_len": _group_max(codes, outer_len, groups, -1),
            "first": -_group_max(codes, -ts, groups, -np.inf), "last": _group_max(codes, ts, groups, -np.inf),
        }))

    def _echo(self, facts: Facts, ip) -> None:
        kind = facts["icmp_type"]
        version = facts["inner_ipv"]
        request = ip & (((version == 4) & (kind == ECHO_REQUEST[4])) | ((version == 6) & (kind == ECHO_REQUEST[6])))
        reply = ip & (((version == 4) & (kind == ECHO_REPLY[4])) | ((version == 6) & (kind == ECHO_REPLY[6])))
        if not (request.any() or reply.any()):
            return
        parts = []
        for mask, swapped, column in ((request, False, "requests"), (reply, True, "replies")):
            rows = np.flatnonzero(mask)
            if not len(rows):
                continue
            frame = Table({name: facts.take(_mirror(name) if swapped else name, rows) for name in _ECHO_KEY})
            frame["requests"] = np.full(len(rows), int(not swapped), dtype=np.int64)
            frame["replies"] = np.full(len(rows), int(swapped), dtype=np.int64)
            frame["outer_len"] = facts.take("outer_len", rows)
            frame["first"] = frame["last"] = facts.take("ts", rows)
            parts.append(frame)
        self.echo.add(_fold_echo(Table.concat(parts)))

    # -- merging ---------------------------------------------------------------------------------------
    def merge(self, other: "DeliveryAnalyzer") -> None:
        """Merge the state of a later chunk (or file): its relative sequence values are shifted onto this
        state's base for the flows both saw."""
        if other.flows is not None:
            theirs = {name: values.copy() for name, values in other.flows.items()}
            shift = np.zeros(len(theirs["flow_hash"]), dtype=np.int64)
            if self.flows is not None:
                position = positions(self.flows["flow_hash"], theirs["flow_hash"])
                known = position >= 0
                shift[known] = _serial((theirs["base"][known] - self.flows["base"][position[known]]) % SEQ_SPACE)
            for name in ("ack", "data_high"):
                present = theirs[name] != NO_ACK
                theirs[name][present] += shift[present]
            self._absorb(theirs)
            sizes = other.sizes.table
            if sizes is not None:
                at = positions(theirs["flow_hash"], sizes["flow_hash"])
                # a size of a flow the later state evicted has no shift: NaN (its sequence values unknown)
                moved = shift[at] if (at >= 0).all() else np.where(at >= 0, shift[at], np.nan)
                sizes = Table(dict(sizes.columns))
                sizes["min_end"], sizes["max_end"] = sizes["min_end"] + moved, sizes["max_end"] + moved
                self.sizes.add(sizes)
        echo = other.echo.table
        if echo is not None:
            self.echo.add(echo)

    def result(self) -> DeliveryResult:
        flows = Table(dict(self.flows)) if self.flows is not None else \
            Table.empty_of(dict.fromkeys(["flow_hash"] + _FLOW_STATE + _FLOW_TEXT, object))
        sizes = self.sizes.table
        echo = self.echo.table
        return DeliveryResult(
            flows=flows,
            sizes=sizes if sizes is not None else Table.empty_of(dict.fromkeys(_SIZE_KEY + list(_SIZE_AGG), object)),
            echo=echo if echo is not None else Table.empty_of(dict.fromkeys(_ECHO_KEY + list(_ECHO_AGG), object)))


def _mirror(name: str) -> str:
    """The column holding the other end's value (a reply's or ACK's key read from the data direction)."""
    for a, b in (("outer_src", "outer_dst"), ("inner_src", "inner_dst"), ("sport", "dport")):
        if name == a:
            return b
        if name == b:
            return a
    return name


def _hashes(facts: Facts, names: list, rows) -> np.ndarray:
    if not len(rows):
        return np.zeros(0, dtype=np.uint64)
    return _flow_hashes([grouping_column(facts, name)[rows] for name in names])


def _group_max(codes, values, groups: int, missing):
    out = np.full(groups, missing, dtype=np.result_type(values.dtype, np.asarray(missing).dtype))
    if len(codes):
        np.maximum.at(out, codes, values)
    return out


def _first_value(codes, values, groups: int):
    first = np.full(groups, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    found = first < len(codes)
    out = np.full(groups, -1, dtype=np.int64)
    out[found] = values[first[found]]
    return out


# -- judgement -------------------------------------------------------------------------------------------
PAIR = ["encap", "outer_src", "outer_dst"]
# An ACK that stays put this long, repeated with SACK blocks (duplicate ACKs reporting later data) while that
# later data keeps arriving: a hole that retransmissions never filled. Without SACK nothing is said.
RECEIVER_MIN_STALL_S = 1.0
RECEIVER_MIN_DUPACKS = 3


def size_windows(result: DeliveryResult) -> list[dict]:
    """Per node pair and direction where delivery depends on size: the largest inner IP size that got
    through, the smallest that never did (sender side), or only the largest that arrived while the peer's
    later data stopped at a hole that never filled (receiver side). Sizes as inner IP and outer IP lengths."""
    flows, sizes = result.flows, result.sizes
    windows = {}
    if len(sizes) and len(flows):
        joined = sizes.join(flows, ["flow_hash"], suffix="_flow")
        acked = joined["ack"] != NO_ACK
        joined["delivered"] = acked & (joined["ack"] >= joined["min_end"])
        # segments of one size are mostly back to back: their distinct count is about the span of their ends
        distinct = np.minimum(joined["sent"], (joined["max_end"] - joined["min_end"]) // joined["payload"].clip(1) + 1)
        joined["repeats"] = joined["sent"] - distinct
        joined["never"] = acked & ~joined["delivered"] & (joined["repeats"] >= MIN_REPEATS) \
            & (joined["last"] - joined["first"] >= MIN_SPAN_S)
        for pair, rows in joined.groups(PAIR, sort=True):
            window = _tcp_window(rows)
            if window:
                windows[pair] = window
    _echo_windows(result.echo, windows)
    return [{"encap": pair[0], "outer_src": pair[1], "outer_dst": pair[2], **window}
            for pair, window in sorted(windows.items()) if window.get("side")]


def _tcp_window(rows: Table) -> dict:
    delivered, never = rows[rows["delivered"]], rows[rows["never"]]
    largest = int(delivered["inner_len"].max()) if len(delivered) else None
    window = {"largest_delivered": largest,
              "largest_delivered_outer": int(delivered["outer_len"].max()) if len(delivered) else None,
              "tcp_flows_acknowledged": len(np.unique(rows["flow_hash"][rows["ack"] != NO_ACK])),
              "tcp_flows_unacknowledged": len(np.unique(rows["flow_hash"][rows["ack"] == NO_ACK]))}
    if len(never) and largest is not None and int(never["inner_len"].min()) > largest:
        window.update(side="sender", lost=_lost_sizes(never), flows=_flow_keys(never))
        return window
    if len(never):
        window["not_size_dependent"] = "some sizes at or below the largest acknowledged one were never acknowledged"
        return window
    stalled = rows[(rows["ack"] != NO_ACK) & (rows["data_high"] > rows["ack"])
                   & (rows["ack_repeats"] > RECEIVER_MIN_DUPACKS)
                   & (rows["data_last"] - rows["ack_since"] >= RECEIVER_MIN_STALL_S)]
    if len(stalled) and largest is not None:
        seen = rows[np.isin(rows["flow_hash"], stalled["flow_hash"])]
        window.update(side="receiver", largest_delivered=int(seen["inner_len"].max()),
                      largest_delivered_outer=int(seen["outer_len"].max()), flows=_flow_keys(stalled),
                      stalled_since=float(stalled["ack_since"].min()), last=float(stalled["data_last"].max()))
    return window


def _lost_sizes(never: Table) -> list[dict]:
    by_size = never.aggregate(["inner_len"], {"outer_len": "max", "sent": "sum", "repeats": "sum", "first": "min",
                                              "last": "max"}, sort=True)
    return [{"inner_len": int(row.inner_len), "outer_len": int(row.outer_len), "sent": int(row.sent),
             "resent": int(row.repeats), "first": float(row.first), "last": float(row.last)}
            for row in by_size.itertuples()]


def _by_size(lost: list) -> list:
    """Lost sizes from TCP and echo together: one entry per inner size, sends added up."""
    merged = {}
    for item in sorted(lost, key=lambda item: item["inner_len"]):
        seen = merged.get(item["inner_len"])
        if seen is None:
            merged[item["inner_len"]] = dict(item)
            continue
        seen.update(sent=seen["sent"] + item["sent"], resent=seen["resent"] + item["resent"],
                    first=min(seen["first"], item["first"]), last=max(seen["last"], item["last"]),
                    outer_len=max(seen["outer_len"] or 0, item["outer_len"] or 0) or None)
    return list(merged.values())


def _flow_keys(rows: Table) -> list[dict]:
    seen = rows.drop_duplicates(["flow_hash"])
    return [{"proto": "tcp", "src": row.inner_src, "sport": int(row.sport), "dst": row.inner_dst,
             "dport": int(row.dport), "encap": row.encap, "vni": None if row.vni < 0 else int(row.vni)}
            for row in seen.itertuples(index=False)]


def _echo_windows(echo: Table, windows: dict) -> None:
    """Echo requests answered and unanswered by size, folded into each pair's window (requests are keyed
    by the requester's direction; replies were counted there too)."""
    if not len(echo):
        return
    for pair, rows in echo.groups(PAIR, sort=True):
        answered = rows[(rows["replies"] > 0) & (rows["requests"] > 0)]
        unanswered = rows[(rows["replies"] == 0) & (rows["requests"] >= MIN_ECHO_REQUESTS)]
        window = windows.setdefault(pair, {"largest_delivered": None, "largest_delivered_outer": None})
        if not len(answered):
            continue
        largest = int(answered["inner_len"].max())
        window["echo_largest_answered"] = largest
        if not len(unanswered):
            continue
        smallest = int(unanswered["inner_len"].min())
        window["echo_smallest_unanswered"] = smallest
        if smallest <= largest:
            window.setdefault("not_size_dependent", "some echo sizes below an answered one got no reply")
            continue
        echo_lost = [{"inner_len": int(row.inner_len), "outer_len": int(row.outer_len), "sent": int(row.requests),
                      "resent": 0,
                      "first": float(row.first), "last": float(row.last)}
                     for row in unanswered.sort_values("inner_len").itertuples(index=False)]
        if window.get("side") == "sender":
            window["lost"] = _by_size(window["lost"] + echo_lost)
        elif window.get("side") != "receiver":
            window.update(side="sender", lost=echo_lost, flows=[])
        if window["largest_delivered"] is None or largest > window["largest_delivered"]:
            window["largest_delivered"] = largest
            window["largest_delivered_outer"] = int(answered["outer_len"][answered["inner_len"] == largest].max())


def pair_delivery(result: DeliveryResult, flows: Table) -> list[dict]:
    """Per node pair and direction (the data's direction): TCP data segments sent and retransmitted (from
    the flow table: a repeat of a range already seen), segments that arrived late into a hole (reordered:
    at the receiving node, the resent copy of a segment lost before the capture point looks so), ACKs that
    carried SACK blocks (the receiver saw a hole), flows never acknowledged at all, and echo requests with
    and without replies."""
    pairs: dict = {}

    def entry(key):
        return pairs.setdefault(tuple(key), {"tcp_segments": 0, "retransmits": 0, "reordered": 0, "sack_acks": 0,
                                             "tcp_flows": 0, "tcp_flows_unacknowledged": 0,
                                             "echo_requests": 0, "echo_replies": 0})
    if len(result.flows):
        state = Table(dict(result.flows.columns))
        state["unacked"] = (state["ack"] == NO_ACK) & (state["segments"] > 0)
        state["sending"] = state["segments"] > 0
        summed = state.aggregate(PAIR, dict.fromkeys(["segments", "sack_acks", "sending", "unacked"], "sum"))
        for key, segments, sacks, sending, unacked in _rows_of(summed, PAIR, "segments", "sack_acks", "sending",
                                                              "unacked"):
            counts = entry(key)
            counts["tcp_segments"] += segments
            counts["sack_acks"] += sacks
            counts["tcp_flows"] += sending
            counts["tcp_flows_unacknowledged"] += unacked
    if len(flows):
        tcp = flows[(flows["inner_proto"] == 6) & ((flows["retransmits"] > 0) | (flows["reordered"] > 0))]
        for key, retransmits, reordered in _rows_of(tcp.aggregate(PAIR, {"retransmits": "sum", "reordered": "sum"}),
                                                    PAIR, "retransmits", "reordered"):
            if key in pairs:
                pairs[key]["retransmits"] += retransmits
                pairs[key]["reordered"] += reordered
    if len(result.echo):
        for key, requests, replies in _rows_of(result.echo.aggregate(PAIR, {"requests": "sum", "replies": "sum"}),
                                               PAIR, "requests", "replies"):
            counts = entry(key)
            counts["echo_requests"] += int(requests)
            counts["echo_replies"] += int(replies)
    out = []
    for (encap, src, dst), counts in sorted(pairs.items()):
        segments = counts["tcp_segments"]
        out.append({"encap": encap, "outer_src": src, "outer_dst": dst, **counts,
                    "retransmit_pct": round(100 * counts["retransmits"] / segments, 2) if segments else None,
                    # what a lossy path costs as this capture point sees it: resent where the sender is captured,
                    # arriving late into holes where the receiver is
                    "loss_pct": round(100 * (counts["retransmits"] + counts["reordered"]) / segments, 2)
                    if segments else None})
    return out


def _rows_of(table: Table, key: list, *values):
    """Per row of a grouped table: its key as a tuple, then the named values (plain Python values)."""
    return zip(zip(*(table[name].tolist() for name in key)), *(table[name].tolist() for name in values))


def summarize_delivery(result: DeliveryResult, flows: Table) -> dict:
    """The report's `delivery` section: per node pair and direction, loss counts (pair_delivery) and, where
    delivery depends on size, the size window (size_windows)."""
    return {"pairs": pair_delivery(result, flows), "size_windows": size_windows(result)}
