"""MTU evidence: sizes, fragments, ICMP too-big, and flows that keep sending too much.

Only the evidence is gathered here (mergeable, bounded); the judgement — which
finding, how severe, what to say — is made in findings.py once the underlay
MTU and the overheads are known.
"""
from __future__ import annotations

import pandas as pd

from ..catalogue import NOMINAL_OVERHEAD, TUNNEL_CLASSES

EVENT_CAP = 1000       # ICMP too-big events kept as evidence
TABLE_CAP = 50_000     # rows in the per-pod evidence tables
LARGE_INNER = 1200     # inner sizes at or above this are kept exactly (MTU decisions happen up there)
FIVE_TUPLE = ["inner_src", "inner_dst", "inner_proto", "sport", "dport"]


def _group_max(frame: pd.DataFrame, keys: list, cap: int) -> pd.DataFrame:
    agg = {"count": "sum", "max_len": "max", "first": "min", "last": "max"}
    agg.update({column: "sum" for column in ("refragmented",) if column in frame})
    table = frame.groupby(keys, sort=False, dropna=False).agg(agg).reset_index()
    return table.nlargest(cap, "count") if len(table) > cap else table


class MtuAnalyzer:
    def __init__(self):
        self.max_outer_len = 0            # largest outer IP packet that was a real wire packet
        self.max_outer_len_any = 0
        self.offload_frames = 0
        self.inner_fragments: pd.DataFrame | None = None   # per (class, node, pod src, dst)
        self.outer_fragments: pd.DataFrame | None = None   # per (class, node pair)
        self.large_inner: pd.DataFrame | None = None       # per (class, node, pod src, dst, inner_len)
        self.icmp_events: list[dict] = []
        self.icmp_total = 0
        self.after_icmp: pd.DataFrame | None = None        # packets larger than the MTU a flow was told

    def update(self, facts: pd.DataFrame) -> None:
        if facts.empty:
            return
        real = facts[~facts["offload"] & (facts["outer_ipv"] > 0)]
        if not real.empty:
            self.max_outer_len = max(self.max_outer_len, int(real["outer_len"].max()))
        if (facts["outer_ipv"] > 0).any():
            self.max_outer_len_any = max(self.max_outer_len_any, int(facts["outer_len"].max()))
        self.offload_frames += int(facts["offload"].sum())
        tunnel = facts[facts["outer_class"].isin(TUNNEL_CLASSES)]
        self._inner_fragments(tunnel)
        self._outer_fragments(tunnel)
        self._large_inner(facts)
        self._icmp(facts)

    def _evidence(self, rows, keys, extra_len="inner_len"):
        return pd.DataFrame({**{k: rows[k] for k in keys}, "count": 1, "max_len": rows[extra_len],
                             "first": rows["ts"], "last": rows["ts"]})

    def _inner_fragments(self, tunnel):
        rows = tunnel[(tunnel["inner_mf"] | (tunnel["inner_frag_off"] > 0)) & (tunnel["inner_src"] != tunnel["outer_src"])]
        if rows.empty:
            return
        keys = ["outer_class", "outer_src", "inner_src", "inner_dst"]
        frame = self._evidence(rows, keys)
        # Fragmented twice: a non-last fragment shorter than another non-last one of the same datagram means
        # the pod cut it at its own (larger) MTU and the node cut it again at the overlay's
        not_last = rows[rows["inner_mf"]]
        sizes = not_last.groupby(["inner_src", "inner_dst", "inner_ip_id"])["inner_len"]
        refragmented = (sizes.transform("min") < sizes.transform("max")).reindex(rows.index, fill_value=False)
        frame["refragmented"] = refragmented.astype(int)
        self.inner_fragments = _group_max(_concat(self.inner_fragments, frame), keys, TABLE_CAP)

    def _outer_fragments(self, tunnel):
        rows = tunnel[tunnel["outer_mf"] | (tunnel["outer_frag_off"] > 0)]
        if rows.empty:
            return
        keys = ["outer_class", "outer_src", "outer_dst"]
        frame = self._evidence(rows, keys, "outer_len")
        # the first fragment carries the inner header: keep the pod flow it belongs to
        firsts = rows[(rows["outer_frag_off"] == 0) & (rows["inner_src"] != rows["outer_src"])]
        frame["inner_len"] = rows["inner_len"].where(rows["outer_frag_off"] == 0, -1)
        frame["example"] = (firsts["inner_src"] + " > " + firsts["inner_dst"]).reindex(rows.index).fillna("")
        agg = {"count": "sum", "max_len": "max", "first": "min", "last": "max", "inner_len": "max", "example": "max"}
        self.outer_fragments = _concat(self.outer_fragments, frame).groupby(keys, sort=False).agg(agg).reset_index()

    def _large_inner(self, facts):
        rows = facts[(facts["inner_len"] >= LARGE_INNER) & ~facts["offload"] & (facts["outer_class"] != "non-ip")
                     & (facts["inner_frag_off"] == 0)]
        if rows.empty:
            return
        # the bytes this packet's own encapsulation adds; a first outer fragment's outer length is the
        # fragment's, so there the nominal overhead of the class stands in
        own = (rows["outer_len"] - rows["inner_len"]).clip(lower=0)
        nominal = rows.apply(lambda r: NOMINAL_OVERHEAD.get(r["outer_class"], {}).get(r["outer_ipv"], 0), axis=1) \
            if rows["outer_mf"].any() else 0
        rows = rows.assign(packet_overhead=own.where(~rows["outer_mf"], nominal))
        keys = ["outer_class", "outer_src", "inner_src", "inner_dst", "inner_len", "packet_overhead"]
        frame = self._evidence(rows, keys)
        self.large_inner = _group_max(_concat(self.large_inner, frame), keys, TABLE_CAP)

    def _icmp(self, facts):
        events = facts[facts["icmp_mtu"] >= 0]
        for row in events.itertuples(index=False):
            self.icmp_total += 1
            if len(self.icmp_events) < EVENT_CAP:
                self.icmp_events.append({
                    "ts": row.ts, "from": row.inner_src, "to": row.inner_dst, "mtu": int(row.icmp_mtu),
                    "icmp": "icmpv6 packet-too-big" if row.inner_ipv == 6 else "icmp frag-needed",
                    "encap": row.encap, "quoted_encap": row.quoted_encap or None,
                    "quoted": _flow_text(row.quoted_proto, row.quoted_src, row.quoted_sport, row.quoted_dst,
                                         row.quoted_dport),
                    "quoted_key": (row.quoted_src, row.quoted_dst, int(row.quoted_proto), int(row.quoted_sport),
                                   int(row.quoted_dport)),
                    "quoted_len": int(row.quoted_len),
                })
        if not self.icmp_events:
            return
        # PMTUD black hole evidence: the flow an ICMP named keeps sending packets above the MTU it was given
        # an ICMP quoting a tunnel packet names the outer path's MTU: the pod flow's inner budget is less
        told = pd.DataFrame([{"inner_src": e["quoted_key"][0], "inner_dst": e["quoted_key"][1],
                              "inner_proto": e["quoted_key"][2], "sport": e["quoted_key"][3],
                              "dport": e["quoted_key"][4], "told_ts": e["ts"],
                              "told_mtu": e["mtu"] - NOMINAL_OVERHEAD.get((e["quoted_encap"] or "native").split(">")[0],
                                                                          {}).get(4, 0)}
                             for e in self.icmp_events]).groupby(FIVE_TUPLE).agg(
            told_ts=("told_ts", "min"), told_mtu=("told_mtu", "min")).reset_index()
        candidates = facts[(facts["inner_len"] > 0) & ~facts["offload"]][FIVE_TUPLE + ["ts", "inner_len"]]
        joined = candidates.merge(told, on=FIVE_TUPLE)
        joined = joined[(joined["ts"] > joined["told_ts"]) & (joined["inner_len"] > joined["told_mtu"])]
        if joined.empty:
            return
        frame = pd.DataFrame({**{k: joined[k] for k in FIVE_TUPLE}, "told_mtu": joined["told_mtu"], "count": 1,
                              "max_len": joined["inner_len"], "first": joined["ts"], "last": joined["ts"]})
        self.after_icmp = _group_max(_concat(self.after_icmp, frame), FIVE_TUPLE + ["told_mtu"], TABLE_CAP)

    def merge(self, other: "MtuAnalyzer") -> None:
        self.max_outer_len = max(self.max_outer_len, other.max_outer_len)
        self.max_outer_len_any = max(self.max_outer_len_any, other.max_outer_len_any)
        self.offload_frames += other.offload_frames
        self.icmp_total += other.icmp_total
        self.icmp_events = (self.icmp_events + other.icmp_events)[:EVENT_CAP]
        for name, keys in (("inner_fragments", ["outer_class", "outer_src", "inner_src", "inner_dst"]),
                           ("large_inner", ["outer_class", "outer_src", "inner_src", "inner_dst", "inner_len",
                                            "packet_overhead"]),
                           ("after_icmp", FIVE_TUPLE + ["told_mtu"])):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None:
                setattr(self, name, _group_max(_concat(mine, theirs), keys, TABLE_CAP))
        if other.outer_fragments is not None:
            keys = ["outer_class", "outer_src", "outer_dst"]
            agg = {"count": "sum", "max_len": "max", "first": "min", "last": "max", "inner_len": "max",
                   "example": "max"}
            self.outer_fragments = _concat(self.outer_fragments, other.outer_fragments).groupby(
                keys, sort=False).agg(agg).reset_index()

    def result(self) -> "MtuAnalyzer":
        return self


def _concat(left, right):
    return right if left is None else pd.concat([left, right], ignore_index=True)


def _flow_text(proto, src, sport, dst, dport) -> str | None:
    if not src:
        return None
    name = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}.get(int(proto), str(proto))
    if sport is not None and int(sport) >= 0:
        return f"{name} {src}:{sport} > {dst}:{dport}"
    return f"{name} {src} > {dst}"
