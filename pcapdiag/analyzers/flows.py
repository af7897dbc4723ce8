"""Inner flows: what crossed the underlay, per tunnel, node pair, VNI and inner 5-tuple."""
from __future__ import annotations

import numpy as np
import pandas as pd

FLOW_KEY = ["encap", "outer_src", "outer_dst", "vni", "inner_src", "inner_dst", "inner_proto", "sport", "dport"]
FLOW_CAP = 200_000  # flows kept; beyond it the smallest by bytes are evicted (bounded memory)
_SUMS = ["packets", "bytes", "inner_bytes", "syn", "synack", "fin", "rst", "retransmits", "payload_bytes"]
_MAXES = ["max_ip_len", "max_wire_len", "max_payload", "syn_mss", "synack_mss", "max_retransmit_len", "last"]
_MINS = ["first", "min_seq_base"]
SEQ_SPACE = 1 << 32
LEADING_SEGMENTS = 64  # new-data segments remembered per flow from its first sight, for exact chunk merges
TH_FIN, TH_SYN, TH_RST, TH_ACK = 0x01, 0x02, 0x04, 0x10


class FlowAnalyzer:
    """Per-flow counters plus TCP retransmission detection by sequence range.

    A TCP segment is a retransmission when its whole sequence range was already
    covered by earlier segments of the flow (sequence numbers are taken relative
    to the first one seen, so a flow that moves more than 4 GiB wraps: known limit).
    """

    def __init__(self, cap: int = FLOW_CAP):
        self.cap = cap
        self.table: pd.DataFrame | None = None
        self.seq_state: dict = {}  # flow key -> (seq base, highest relative sequence end)
        # flow key -> [(absolute sequence end, inner length)] of the first new-data segments this analyzer saw
        # of a flow it saw start: when chunks are merged, those covered by the previous chunk become retransmits
        self.leading: dict = {}
        self.evicted_flows = 0
        self.evicted_packets = 0

    def update(self, facts: pd.DataFrame) -> None:
        rows = facts[(facts["inner_ipv"] > 0) & (facts["inner_frag_off"] == 0) & (facts["encap"] != "non-ip")]
        if rows.empty:
            return
        rows = rows.copy()
        rows["retransmit"] = self._retransmissions(rows)
        flags = rows["tcp_flags"].where(rows["inner_proto"] == 6, 0).clip(lower=0)
        syn = (flags & TH_SYN) > 0
        ack = (flags & TH_ACK) > 0
        frame = pd.DataFrame({
            **{k: rows[k] for k in FLOW_KEY},
            "packets": 1,
            "bytes": rows["wirelen"],
            "inner_bytes": rows["inner_len"].clip(lower=0),
            "payload_bytes": rows["tcp_payload"].clip(lower=0),
            "syn": (syn & ~ack).astype(np.int64),
            "synack": (syn & ack).astype(np.int64),
            "fin": ((flags & TH_FIN) > 0).astype(np.int64),
            "rst": ((flags & TH_RST) > 0).astype(np.int64),
            "retransmits": rows["retransmit"].astype(np.int64),
            "max_ip_len": rows["inner_len"],
            "max_wire_len": rows["wirelen"],
            "max_payload": rows["tcp_payload"],
            "syn_mss": rows["tcp_mss"].where(syn & ~ack, -1),
            "synack_mss": rows["tcp_mss"].where(syn & ack, -1),
            "max_retransmit_len": rows["inner_len"].where(rows["retransmit"], -1),
            "first": rows["ts"],
            "last": rows["ts"],
            "min_seq_base": 0,
        })
        self._absorb(frame)

    def _retransmissions(self, rows: pd.DataFrame) -> np.ndarray:
        """Vectorised: group by flow, cumulative max of the relative sequence end."""
        result = np.zeros(len(rows), dtype=bool)
        is_data = ((rows["inner_proto"] == 6) & (rows["tcp_payload"] > 0) & (rows["tcp_seq"] >= 0)).to_numpy()
        if not is_data.any():
            return result
        data = rows.loc[is_data, FLOW_KEY + ["tcp_seq", "tcp_payload"]]
        keys = list(zip(*(data[k].to_numpy() for k in FLOW_KEY)))
        codes, uniques = pd.factorize(pd.Series(keys, dtype=object))
        base = np.empty(len(uniques), dtype=np.int64)
        prior_end = np.full(len(uniques), -1, dtype=np.int64)
        seq = data["tcp_seq"].to_numpy()
        first_index = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
        for index, key in enumerate(uniques):
            known = self.seq_state.get(key)
            base[index], prior_end[index] = known if known else (seq[first_index[index]], -1)
            if not known and len(self.leading) < 4 * self.cap:
                self.leading[key] = []
        relative = (seq - base[codes]) % SEQ_SPACE
        end = relative + data["tcp_payload"].to_numpy()
        frame = pd.DataFrame({"code": codes, "end": end})
        running_max = frame.groupby("code")["end"].cummax()
        previous = frame.assign(m=running_max).groupby("code")["m"].shift(1).fillna(-1).to_numpy(dtype=np.int64)
        previous = np.maximum(previous, prior_end[codes])
        retransmitted = end <= previous
        result[is_data] = retransmitted
        self._remember_leading(uniques, codes, base, end, retransmitted, rows.loc[is_data, "inner_len"].to_numpy())
        final = frame.groupby("code")["end"].max()
        for code, highest in final.items():
            key = uniques[code]
            self.seq_state[key] = (int(base[code]), int(max(highest, prior_end[code])))
        if len(self.seq_state) > 4 * self.cap:
            self.seq_state = dict(list(self.seq_state.items())[-self.cap:])
        return result

    def _remember_leading(self, uniques, codes, base, end, retransmitted, inner_len) -> None:
        open_codes = {code for code, key in enumerate(uniques)
                      if key in self.leading and len(self.leading[key]) < LEADING_SEGMENTS}
        if not open_codes:
            return
        for code, segment_end, length in zip(codes[~retransmitted], end[~retransmitted], inner_len[~retransmitted]):
            if code in open_codes:
                kept = self.leading[uniques[code]]
                if len(kept) < LEADING_SEGMENTS:
                    kept.append((int((base[code] + segment_end) % SEQ_SPACE), int(length)))

    def _absorb(self, frame: pd.DataFrame) -> None:
        if self.table is not None:
            frame = pd.concat([self.table, frame], ignore_index=True)
        aggregations = {**{c: "sum" for c in _SUMS}, **{c: "max" for c in _MAXES}, **{c: "min" for c in _MINS}}
        table = frame.groupby(FLOW_KEY, sort=False, dropna=False).agg(aggregations).reset_index()
        if len(table) > self.cap:
            table = table.sort_values("bytes", ascending=False, kind="stable")
            evicted = table.iloc[self.cap:]
            self.evicted_flows += len(evicted)
            self.evicted_packets += int(evicted["packets"].sum())
            table = table.iloc[: self.cap]
        self.table = table

    def merge(self, other: "FlowAnalyzer") -> None:
        """Merge the analyzer of the *following* chunk (or file) into this one."""
        if other.table is not None:
            self._absorb(other.table)
        self.evicted_flows += other.evicted_flows
        self.evicted_packets += other.evicted_packets
        adjustments = []
        for key, (base, highest) in other.seq_state.items():
            mine = self.seq_state.get(key)
            if mine is None:
                self.seq_state[key] = (base, highest)
                if key in other.leading:
                    self.leading[key] = other.leading[key]
                continue
            my_base, my_highest = mine
            covered_to = (my_base + my_highest) % SEQ_SPACE
            # segments the other chunk took as new data although this chunk had already carried them
            repeated = [length for segment_end, length in other.leading.get(key, ())
                        if (covered_to - segment_end) % SEQ_SPACE < SEQ_SPACE // 2]
            if repeated:
                adjustments.append((*key, len(repeated), max(repeated)))
            their_highest = ((base + highest) - my_base) % SEQ_SPACE
            self.seq_state[key] = (my_base, max(my_highest, their_highest))
        if adjustments:
            self._absorb(_retransmit_adjustments(adjustments))

    def result(self) -> pd.DataFrame:
        columns = FLOW_KEY + _SUMS + _MAXES + _MINS
        if self.table is None:
            return pd.DataFrame(columns=columns)
        return self.table.sort_values(["bytes", "packets"], ascending=False, kind="stable").reset_index(drop=True)


def _retransmit_adjustments(adjustments) -> pd.DataFrame:
    """Rows that only add retransmissions to existing flows (neutral in every other column)."""
    frame = pd.DataFrame(adjustments, columns=FLOW_KEY + ["retransmits", "max_retransmit_len"])
    for column in _SUMS:
        if column != "retransmits":
            frame[column] = 0
    for column in _MAXES:
        if column != "max_retransmit_len":
            frame[column] = -1
    frame["last"] = float("-inf")
    frame["first"] = float("inf")
    frame["min_seq_base"] = 0
    return frame
