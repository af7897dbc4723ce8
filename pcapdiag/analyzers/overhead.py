"""Encapsulation overhead per class and UDP port, and per node pair."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..catalogue import ENCRYPTED_CLASSES, NOMINAL_OVERHEAD, OVERHEAD_PADDING, TUNNEL_CLASSES
from ..decode.encrypted import ESP_CBC_OVERHEAD, ESP_GCM_OVERHEAD, esp_block_estimate
from ..decode.facts import Facts, keys_of
from .groups import as_frame, class_keys, group_codes, rows_of, sums_by
from ..grouping import isin
from .table import Table

CLASS_KEY = ["outer_class", "tunnel_port"]
PAIR_KEY = ["outer_class", "outer_src", "outer_dst"]
_BATCH_KEY = ["encap", "outer_class", "tunnel_port", "outer_src", "outer_dst", "vni", "size"]
PENDING_BATCHES, PENDING_ROWS = 32, 200_000  # fold pending batches when either is reached (bounded memory)
_SUMS = ["packets", "wire_bytes", "inner_bytes", "overhead_bytes", "by_plausibility", "offload", "outer_ipv6"]
_ENCRYPTED_KEYS = class_keys(ENCRYPTED_CLASSES)
UDP_HEADER = 8
_SUMMED = dict.fromkeys(_SUMS, "sum")


def _sum_tables(table, more, keys):
    if table is None:
        return more
    return Table.concat([table, more]).aggregate(keys, _SUMMED)


@dataclass(frozen=True)
class OverheadResult:
    classes: list      # per (class, UDP port): packets, bytes, overhead, VNIs ... (the JSON's "encapsulation")
    node_pairs: list   # per tunnel class and node pair: packets and bytes
    chains: dict       # full encapsulation chain -> packets


class OverheadAnalyzer:
    name = "overhead"
    distinct_only = False    # every frame: a tunnel's own counters include an `-i any` copy's view
    reads = ("outer_len", "inner_len", "outer_mf", "outer_frag_off", "nested_loop", "wirelen", "by_plausibility",
             "offload", "outer_ipv", "encap", "outer_class", "tunnel_port", "outer_src", "outer_dst", "vni")

    def __init__(self):
        self.by_class: Table | None = None
        self.by_pair: Table | None = None
        self.vnis: dict = {}          # (class, port) -> set of VNIs
        self.chains: dict = {}        # full chain -> packets (the per-layer view tshark gives)
        self.per_packet: dict = {}    # (class, port) -> {overhead bytes: packets}: Geneve options vary per packet
        self.pending: list = []       # batches' grouped rows not yet folded into the above
        self.pending_rows = 0
        # (class, port) -> the distinct inner lengths of encrypted packets (capped): what their sizes say of
        # the cipher (ESP) and of the sender's device MTU (WireGuard)
        self.encrypted_sizes: dict = {}

    def update(self, facts: Facts) -> None:
        if facts.empty:
            return
        outer_len, inner_len = facts["outer_len"], facts["inner_len"]
        has_inner = (outer_len >= 0) & (inner_len >= 0)
        overhead = np.where(has_inner, np.maximum(outer_len - inner_len, 0), 0)
        # a first outer fragment's size is the fragment's; a tunnel looped into itself adds its overhead twice
        # and says nothing of the class's own (tunnel.nested-loop reports it)
        whole = has_inner & ~facts["outer_mf"] & ~facts["nested_loop"]
        # One grouping per batch (integer keys) over every key this analyzer reports by; the small result
        # feeds them all.
        size = np.where(whole, overhead, -1)
        encrypted = np.isin(keys_of(facts, "outer_class"), _ENCRYPTED_KEYS)
        if encrypted.any():
            # first outer fragments too: a WireGuard packet's size is in its UDP header
            self._encrypted_sizes(facts, np.flatnonzero(encrypted & (inner_len >= 0) & (facts["outer_frag_off"] == 0)))
        codes, first = group_codes(facts, _BATCH_KEY[:-1] + [size])
        grouped = rows_of(facts, _BATCH_KEY[:-1], first)
        grouped["size"] = size[first]
        grouped.columns.update(sums_by(codes, len(first), {
            "packets": np.ones(len(codes)), "wire_bytes": facts["wirelen"],
            "inner_bytes": np.where(has_inner, np.maximum(inner_len, 0), 0),
            "overhead_bytes": overhead,
            "by_plausibility": facts["by_plausibility"],
            "offload": facts["offload"],
            "outer_ipv6": facts["outer_ipv"] == 6,
        }))
        self.pending.append(grouped)
        self.pending_rows += len(grouped)
        if len(self.pending) >= PENDING_BATCHES or self.pending_rows >= PENDING_ROWS:
            self._compact()

    def _encrypted_sizes(self, facts: Facts, at) -> None:
        first = group_codes(facts, ["outer_class", "tunnel_port", "inner_len"], at)[1]
        for cls, port, length in zip(facts.take("outer_class", at[first]).tolist(),
                                     facts["tunnel_port"][at[first]].tolist(), facts["inner_len"][at[first]].tolist()):
            _count_into(self.encrypted_sizes.setdefault((cls, port), {}), length, 1)

    def _compact(self) -> None:
        """Fold the batches' grouped rows into the tables: once per many batches, as a group-by's cost per
        call dwarfs its cost per row here."""
        if not self.pending:
            return
        grouped = as_frame(self.pending)
        batch = np.repeat(np.arange(len(self.pending)), [len(frame) for frame in self.pending])
        self.pending, self.pending_rows = [], 0
        by_class = grouped.aggregate(CLASS_KEY, _SUMMED)
        by_pair = grouped[grouped["outer_class"] != "non-ip"].aggregate(PAIR_KEY, _SUMMED)
        self._combine(by_class, by_pair)
        vnis = grouped[grouped["vni"] >= 0].drop_duplicates(CLASS_KEY + ["vni"])
        for (cls, port, vni) in zip(*(vnis[name].tolist() for name in CLASS_KEY + ["vni"])):
            known = self.vnis.setdefault((cls, int(port)), set())
            if len(known) < 4096:
                known.add(int(vni))
        # the capped histogram takes sizes batch by batch, each batch's in order (which sizes it keeps when
        # a class has more than HISTOGRAM_CAP of them must not depend on when batches are folded)
        grouped["batch"] = batch
        sized = grouped[(grouped["size"] >= 0) & isin(grouped["outer_class"], TUNNEL_CLASSES)].aggregate(
            ["batch"] + CLASS_KEY + ["size"], {"packets": "sum"}, sort=True)
        for cls, port, size, count in zip(*(sized[name].tolist() for name in CLASS_KEY + ["size", "packets"])):
            _count_into(self.per_packet.setdefault((cls, int(port)), {}), int(size), int(count))
        chains = grouped.aggregate(["encap"], {"packets": "sum"})
        for chain, count in zip(chains["encap"].tolist(), chains["packets"].tolist()):
            self.chains[chain] = self.chains.get(chain, 0) + int(count)

    def __getstate__(self):
        self._compact()   # a worker sends its tables, not the pile of batches behind them
        return self.__dict__

    def _combine(self, by_class, by_pair) -> None:
        if by_class is not None:
            self.by_class = _sum_tables(self.by_class, by_class, CLASS_KEY)
        if by_pair is not None:
            self.by_pair = _sum_tables(self.by_pair, by_pair, PAIR_KEY)

    def merge(self, other: "OverheadAnalyzer") -> None:
        self._compact()
        other._compact()
        self._combine(other.by_class, other.by_pair)
        for key, vnis in other.vnis.items():
            self.vnis.setdefault(key, set()).update(vnis)
        for chain, count in other.chains.items():
            self.chains[chain] = self.chains.get(chain, 0) + count
        for key, sizes in other.encrypted_sizes.items():
            for size in sizes:
                _count_into(self.encrypted_sizes.setdefault(key, {}), size, 1)
        for key, histogram in other.per_packet.items():
            for size, count in histogram.items():
                _count_into(self.per_packet.setdefault(key, {}), size, count)

    def result(self) -> OverheadResult:
        self._compact()
        rows = []
        if self.by_class is not None:
            for record in self.by_class.sort_values("packets", ascending=False).records():
                cls, port = record["outer_class"], int(record["tunnel_port"])
                packets = int(record["packets"])
                rows.append({
                    "type": cls,
                    "udp_port": port if port >= 0 else None,
                    "packets": packets,
                    "wire_bytes": int(record["wire_bytes"]),
                    "inner_bytes": int(record["inner_bytes"]),
                    "overhead_bytes": int(record["overhead_bytes"]),
                    "overhead_pct": round(100.0 * record["overhead_bytes"] / record["wire_bytes"], 2)
                    if record["wire_bytes"] else 0.0,
                    "overhead_per_packet": round(record["overhead_bytes"] / packets, 2) if packets else 0.0,
                    "nominal_overhead": _nominal(cls, int(record["outer_ipv6"]), packets),
                    "vnis": sorted(self.vnis.get((cls, port), ())),
                    "overhead_common": _most_common(self.per_packet.get((cls, port))),
                    "by_plausibility": int(record["by_plausibility"]),
                    "offload_frames": int(record["offload"]),
                })
                if cls in ENCRYPTED_CLASSES:
                    rows[-1].update(_encrypted_overhead(cls, port, rows[-1]["nominal_overhead"],
                                                        self.encrypted_sizes.get((cls, port), {})))
        pairs = [] if self.by_pair is None else [
            {"type": r["outer_class"], "src": r["outer_src"], "dst": r["outer_dst"], "packets": int(r["packets"]),
             "wire_bytes": int(r["wire_bytes"]), "overhead_bytes": int(r["overhead_bytes"])}
            for r in self.by_pair[isin(self.by_pair["outer_class"], TUNNEL_CLASSES)]
            .sort_values("packets", ascending=False).records()]
        return OverheadResult(classes=rows, node_pairs=pairs, chains=dict(sorted(self.chains.items())))


HISTOGRAM_CAP = 256


def _count_into(histogram: dict, size: int, count: int) -> None:
    if size in histogram or len(histogram) < HISTOGRAM_CAP:
        histogram[size] = histogram.get(size, 0) + count


def _most_common(histogram):
    """The overhead most packets of a class carry (ties: the smaller)."""
    if not histogram:
        return None
    return min(histogram, key=lambda size: (-histogram[size], size))


def _nominal(cls: str, ipv6_packets: int, packets: int):
    table = NOMINAL_OVERHEAD.get(cls)
    if not table:
        return None
    version = 6 if ipv6_packets * 2 > packets else 4
    return table.get(version)


def _encrypted_overhead(cls: str, port: int, nominal: int, sizes: dict) -> dict:
    """An encrypted class's overhead as the range its padding makes (overhead_range: nominal .. + padding),
    and what its sizes tell. ESP: the cipher family, from the step between its lengths (esp_block_estimate):
    a 16-byte step means a block cipher (AES-CBC with a 16-byte ICV: 8 bytes more than AES-GCM and padding to
    16), otherwise AES-GCM is assumed; ESP-in-UDP adds the UDP header. WireGuard: the sender's device MTU,
    when some packet shows it (a padded plaintext that is no multiple of 16 was cut short of its padding by
    that MTU)."""
    padding = OVERHEAD_PADDING[cls]
    extra = {}
    if cls == "esp":
        estimate = esp_block_estimate(sizes)
        block = estimate is not None and estimate["step"] % 16 == 0
        nominal += (ESP_CBC_OVERHEAD - ESP_GCM_OVERHEAD if block else 0) + (UDP_HEADER if port >= 0 else 0)
        padding = 15 if block else padding
        extra["esp_cipher"] = (estimate["family"] if estimate else
                               "not measurable (fewer than two packet sizes): AES-GCM assumed")
    else:
        unpadded = [size for size in sizes if size % 16]
        extra["device_mtu_seen"] = max(unpadded) if unpadded else None
    return {"nominal_overhead": nominal, "overhead_range": [nominal, nominal + padding],
            "pods_hidden": "the pod packets are encrypted: the nodes are the tunnel's ends, the pods behind them are "
                           "not visible", **extra}
