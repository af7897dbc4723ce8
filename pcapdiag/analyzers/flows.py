"""Inner flows: what crossed the underlay, per tunnel, node pair, VNI and inner 5-tuple."""
from __future__ import annotations

import numpy as np
import pandas as pd

FLOW_KEY = ["encap", "outer_src", "outer_dst", "vni", "inner_src", "inner_dst", "inner_proto", "sport", "dport"]
FLOW_CAP = 200_000  # flows kept; beyond it the smallest by bytes are evicted (bounded memory)
_SUMS = ["packets", "bytes", "inner_bytes", "syn", "synack", "fin", "rst", "retransmits", "payload_bytes"]
_MAXES = ["max_ip_len", "max_wire_len", "syn_mss", "synack_mss", "max_retransmit_len", "last"]
_MINS = ["first", "min_seq_base"]
SEQ_SPACE = 1 << 32
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
        relative = (seq - base[codes]) % SEQ_SPACE
        end = relative + data["tcp_payload"].to_numpy()
        frame = pd.DataFrame({"code": codes, "end": end})
        running_max = frame.groupby("code")["end"].cummax()
        previous = frame.assign(m=running_max).groupby("code")["m"].shift(1).fillna(-1).to_numpy(dtype=np.int64)
        previous = np.maximum(previous, prior_end[codes])
        result[is_data] = end <= previous
        final = frame.groupby("code")["end"].max()
        for code, highest in final.items():
            key = uniques[code]
            self.seq_state[key] = (int(base[code]), int(max(highest, prior_end[code])))
        if len(self.seq_state) > 4 * self.cap:
            self.seq_state = dict(list(self.seq_state.items())[-self.cap:])
        return result

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
        if other.table is not None:
            self._absorb(other.table)
        self.evicted_flows += other.evicted_flows
        self.evicted_packets += other.evicted_packets
        self.seq_state.update(other.seq_state)

    def result(self) -> pd.DataFrame:
        columns = FLOW_KEY + _SUMS + _MAXES + _MINS
        if self.table is None:
            return pd.DataFrame(columns=columns)
        return self.table.sort_values(["bytes", "packets"], ascending=False, kind="stable").reset_index(drop=True)
