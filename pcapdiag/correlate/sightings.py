"""Sightings: each IP packet of a capture as one row of integers, with an identity that finds the same packet
in the other captures.

The identity is a 64-bit hash of the innermost packet's fields that no hop on the way rewrites: inner
addresses, IP ID, length and fragment offset, protocol, ports, TCP sequence and flags, ICMP type and echo
id/sequence -- the duplicate marker's identity (analyzers/duplicates.py) without the encapsulation class, so
the copy inside a VXLAN packet on eth0 and the plain copy on a pod's veth are one packet, whatever the outer
addresses (NAT of the underlay included).

A few fields the packet facts do not carry are read from the record bytes here: the Linux cooked header's
interface index and direction (`-i any`), the outer and inner DSCP/ECN byte and the inner TTL (VXLAN and
Geneve over one level; native packets' inner header is the outer one).
"""
from __future__ import annotations

import numpy as np

from ..analyzers.duplicates import ANY_INTERFACE_LINKTYPES
from ..analyzers.duplicates import IDENTITY as COPY_IDENTITY
from ..capture import open_capture
from ..decode.facts import grouping_column, keys_of, text_key
from ..decode.select import make_decoder

IDENTITY = tuple(name for name in COPY_IDENTITY if name != "outer_class")
PLAIN, VTEP, UNDERLAY = 0, 1, 2
STAGE_NAMES = ("pod side", "VTEP", "underlay")
NOT_TUNNELLED = frozenset(text_key(name) for name in ("native", "non-ip", ""))
_VXLAN, _GENEVE = text_key("vxlan"), text_key("geneve")
# facts copied into sightings as they are (int64); text columns come as their int64 keys
FACT_COLUMNS = ("inner_proto", "sport", "dport", "inner_len", "outer_ttl", "tcp_mss", "outer_udp_csum", "wirelen")
KEY_COLUMNS = ("outer_src", "outer_dst", "inner_src", "inner_dst")
_RAW_IP_LINKTYPES = (12, 14, 101, 228, 229)
_AF_HEADER_LINKTYPES = (0, 108)


def _byte(buf, positions, ends):
    """buf[positions] where positions < ends, else -1 (a header cut by the snap length)."""
    inside = (positions >= 0) & (positions < ends)
    values = np.full(len(positions), -1, dtype=np.int64)
    values[inside] = buf[positions[inside]]
    return values


def _ip_header_fields(buf, ip, ends, version):
    """(DSCP/ECN byte, TTL or hop limit) of the IP headers at ip (-1 where ip is -1 or cut)."""
    b0, b1 = _byte(buf, ip, ends), _byte(buf, ip + 1, ends)
    v6 = version == 6
    tos = np.where(v6, ((b0 & 0x0F) << 4) | (b1 >> 4), b1)
    tos[(b0 < 0) | (b1 < 0) | (ip < 0)] = -1
    ttl = np.where(v6, _byte(buf, ip + 7, ends), _byte(buf, ip + 8, ends))
    ttl[ip < 0] = -1
    return tos, ttl


def raw_fields(batch, facts) -> dict:
    """What the facts lack, read from the records: ifindex and outgoing (Linux cooked v2 / v1; -1 unknown),
    outer_tos, inner_tos, inner_ttl."""
    n = len(batch)
    buf = np.frombuffer(batch.buf, dtype=np.uint8)
    start = np.asarray(batch.offsets, dtype=np.int64)
    ends = start + np.asarray(batch.caplens, dtype=np.int64)
    linktype = np.asarray(batch.linktypes, dtype=np.int64)
    ip = np.full(n, -1, dtype=np.int64)
    ifindex = np.full(n, -1, dtype=np.int64)
    outgoing = np.full(n, -1, dtype=np.int64)

    ethernet = np.flatnonzero(linktype == 1)
    if len(ethernet):
        at = start[ethernet] + 12
        for _ in range(2):        # up to two VLAN tags (802.1Q, 802.1ad)
            ethertype = _byte(buf, at, ends[ethernet]) << 8 | _byte(buf, at + 1, ends[ethernet])
            at = np.where(np.isin(ethertype, (0x8100, 0x88A8)), at + 4, at)
        ip[ethernet] = at + 2
    sll = np.flatnonzero(linktype == 113)
    ip[sll] = start[sll] + 16
    pkttype = _byte(buf, start[sll] + 1, ends[sll])
    outgoing[sll] = np.where(pkttype < 0, -1, pkttype == 4)
    sll2 = np.flatnonzero(linktype == 276)
    ip[sll2] = start[sll2] + 20
    index = np.zeros(len(sll2), dtype=np.int64)
    for k in range(4):
        index = index << 8 | _byte(buf, start[sll2] + 4 + k, ends[sll2])
    ifindex[sll2] = np.where(index < 0, -1, index)
    pkttype = _byte(buf, start[sll2] + 10, ends[sll2])
    outgoing[sll2] = np.where(pkttype < 0, -1, pkttype == 4)
    raw = np.isin(linktype, _RAW_IP_LINKTYPES)
    ip[raw] = start[raw]
    af = np.isin(linktype, _AF_HEADER_LINKTYPES)
    ip[af] = start[af] + 4

    outer_ipv = facts["outer_ipv"]
    ip[outer_ipv == 0] = -1
    outer_tos, _ = _ip_header_fields(buf, ip, ends, outer_ipv)
    inner = np.full(n, -1, dtype=np.int64)
    encap = keys_of(facts, "encap")
    native = np.isin(encap, list(NOT_TUNNELLED))
    inner[native] = ip[native]
    tunnelled = np.flatnonzero(((encap == _VXLAN) | (encap == _GENEVE)) & (ip >= 0))
    if len(tunnelled):
        at = ip[tunnelled]
        ihl = (_byte(buf, at, ends[tunnelled]) & 0x0F) * 4
        udp = np.where(outer_ipv[tunnelled] == 6, at + 40, at + ihl)
        geneve = encap[tunnelled] == _GENEVE
        options = (_byte(buf, udp + 8, ends[tunnelled]) & 0x3F) * 4
        ethernet_payload = ~geneve | ((_byte(buf, udp + 10, ends[tunnelled]) << 8 | _byte(buf, udp + 11, ends[tunnelled]))
                                      == 0x6558)
        inner_at = udp + 16 + np.where(geneve, options, 0) + np.where(ethernet_payload, 14, 0)
        ethertype = _byte(buf, inner_at - 2, ends[tunnelled]) << 8 | _byte(buf, inner_at - 1, ends[tunnelled])
        inner_at = np.where(ethernet_payload & (ethertype == 0x8100), inner_at + 4, inner_at)
        inner[tunnelled] = np.where(ihl < 0, -1, inner_at)
    inner_tos, inner_ttl = _ip_header_fields(buf, inner, ends, facts["inner_ipv"])
    # TCP sequence and flags even where the snap length cut the TCP options (the facts then have none):
    # the tunnelled copy of a packet is cut sooner than its plain copies, and the identity needs them
    tcp = np.where((facts["inner_proto"] == 6) & (facts["inner_frag_off"] == 0) & (inner >= 0),
                   inner + np.where(facts["inner_ipv"] == 6, 40, (_byte(buf, inner, ends) & 0x0F) * 4), -1)
    seq = np.zeros(n, dtype=np.int64)
    for k in range(4):
        seq = seq << 8 | _byte(buf, np.where(tcp < 0, -1, tcp + 4 + k), ends)
    flags = _byte(buf, np.where(tcp < 0, -1, tcp + 13), ends)
    return {"ifindex": ifindex, "outgoing": outgoing, "outer_tos": outer_tos, "inner_tos": inner_tos,
            "inner_ttl": inner_ttl, "tcp_seq": np.where((seq < 0) | (flags < 0), -1, seq),
            "tcp_flags": np.where(seq < 0, -1, flags)}


def identities(facts, rows, raw: dict | None = None) -> np.ndarray:
    """The uint64 identity of some rows of Facts (text columns by their integer keys); raw: the TCP
    sequence and flags read from the bytes (raw_fields), for the rows whose facts lack them. pandas' row
    hash, imported here: only the several-captures path reads sightings."""
    import pandas as pd

    columns = {name: grouping_column(facts, name)[rows] for name in IDENTITY}
    for name in ("tcp_seq", "tcp_flags"):
        if raw is not None:
            columns[name] = np.where(columns[name] < 0, raw[name][rows], columns[name])
    return pd.util.hash_pandas_object(pd.DataFrame(columns), index=False).to_numpy()


class CaptureReader:
    """One capture read as batches of sightings (dicts of equal-length numpy arrays, capture order).

    Columns: ts, ident (uint64), record (its number in the file, from 1), stage (PLAIN, VTEP or UNDERLAY; VTEP where the cooked interface index is
    vtep_ifindex), ifindex, outgoing, the int64 keys outer_src, outer_dst, inner_src, inner_dst, and
    FACT_COLUMNS, outer_tos, inner_tos, inner_ttl. Non-IP records are counted, not returned. names maps the
    keys seen to their texts (shared by every reader of one correlation). After reading: records, ip_records,
    first, last, link_types, damage, warnings."""

    def __init__(self, path: str, names: dict, decoder: str, vxlan_ports, batch_records: int,
                 vtep_ifindex: int = -1, limit: int | None = None):
        self.path, self.names, self.vtep_ifindex, self.limit = path, names, vtep_ifindex, limit
        self.decoder = make_decoder(decoder, vxlan_ports)
        self.batch_records = batch_records
        self.records = self.ip_records = 0
        self.first = self.last = None
        self.link_types: list[int] = []
        self.damage: dict = {}
        self.warnings: list[str] = []

    def __iter__(self):
        with open_capture(self.path) as capture:
            for batch in capture.batches(self.batch_records):
                if self.limit is not None and self.records >= self.limit:
                    break
                self.records += len(batch)
                sightings = self.sightings(batch)
                if sightings is not None:
                    yield sightings
            self.link_types = capture.link_types
            self.damage = {kind: count for kind, count in capture.damage.items() if count}
            self.warnings = capture.warnings
            if capture.first_ts is not None:
                self.first, self.last = capture.first_ts, capture.last_ts

    @property
    def cooked(self) -> bool:
        return any(linktype in ANY_INTERFACE_LINKTYPES for linktype in self.link_types)

    def sightings(self, batch):
        facts = self.decoder.decode_batch(batch)
        raw = raw_fields(batch, facts)
        rows = np.flatnonzero(facts["inner_ipv"] > 0)
        if not len(rows):
            return None
        self.ip_records += len(rows)
        table = {"ts": np.asarray(facts["ts"], dtype=np.float64)[rows], "ident": identities(facts, rows, raw),
                 "record": self.records - len(batch) + 1 + rows}     # in the file, from 1 (as Wireshark)
        for name in KEY_COLUMNS:
            keys = keys_of(facts, name)[rows]
            table[name] = keys
            self._learn_names(keys, facts, name, rows)
        for name in FACT_COLUMNS:
            table[name] = np.asarray(facts[name], dtype=np.int64)[rows]
        for name in ("ifindex", "outgoing", "outer_tos", "inner_tos", "inner_ttl"):
            table[name] = raw[name][rows]
        tunnelled = ~np.isin(keys_of(facts, "outer_class")[rows], list(NOT_TUNNELLED))
        stage = np.where(tunnelled, UNDERLAY, PLAIN).astype(np.int8)
        if self.vtep_ifindex >= 0:
            stage[~tunnelled & (table["ifindex"] == self.vtep_ifindex)] = VTEP
        table["stage"] = stage
        return table

    def _learn_names(self, keys, facts, name, rows):
        unique, first = np.unique(keys, return_index=True)
        new = [i for i, key in zip(first.tolist(), unique.tolist()) if key not in self.names]
        if new:
            texts = facts.take(name, rows[new])
            for key, text in zip(keys[new].tolist(), texts.tolist()):
                self.names[key] = text


def concat(tables: list[dict]) -> dict:
    if len(tables) == 1:
        return tables[0]
    return {name: np.concatenate([table[name] for table in tables]) for name in tables[0]}


def take(table: dict, rows) -> dict:
    return {name: values[rows] for name, values in table.items()}
