"""Evidence as capture files: the packets behind each finding, or one flow's or node pair's, as pcapng.

`export_evidence(path, report, out_dir)` writes DIR/<finding id>.pcapng for every finding that rests on
packets, so `wireshark DIR/mtu.inner-fragmented.pcapng` shows exactly the evidence. Each finding id has one
selector: a function of a batch of packet facts that picks the packets the finding counts, worked out from
the id and the report's numbers (underlay and overlay MTUs, nodes, pods, node pairs, flows), never from
the wording of its evidence. A second pass over the capture picks the records; a third copies them, with
their original bytes, link types and timestamps, into the files (first `limit` per finding, in file order).

Why one module of ~575 lines: most of it is the selector table, one small class per finding id, which reads
best in one place beside the catalogue it mirrors.
"""
from __future__ import annotations

import ipaddress
import os
import re
import struct
from dataclasses import dataclass

import numpy as np

from .catalogue import NOMINAL_OVERHEAD, TUNNEL_CLASSES
from .decode.facts import keys_of, text_key

EXPORT_LIMIT = 1000
LARGE_INNER = 1200      # the MTU evidence keeps inner packets from this size up (analyzers/mtu.py)
ONE_WAY_MIN_PACKETS = 10
TCP_SYN, TCP_ACK = 0x02, 0x10
CSUM_BAD = 2
TCP_IP_HEADERS = {4: 40, 6: 60}
BATCH_RECORDS = 32768


# -- pcapng writing ---------------------------------------------------------------------------------------

SHB_TYPE, IDB_TYPE, EPB_TYPE = 0x0A0D0D0A, 0x00000001, 0x00000006
OPT_END, OPT_COMMENT, SHB_USERAPPL, IF_TSRESOL = 0, 1, 4, 9


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


class PcapngWriter:
    """A pcapng file (one section, little-endian): an interface per (link type, timestamp resolution) as
    they come, each packet an Enhanced Packet Block with its original length and an optional comment
    (opt_comment, which Wireshark shows above the packet's layers)."""

    def __init__(self, stream, nanosecond: bool = False):
        self.stream = stream
        self.resolution = 9 if nanosecond else 6
        self.interfaces: dict[int, int] = {}
        self.packets = 0
        stream.write(_block(SHB_TYPE, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
                            + _option(SHB_USERAPPL, b"pcapdiag") + _option(OPT_END, b"")))

    def write(self, ts: float, linktype: int, data: bytes, wirelen: int | None = None,
              comment: str | None = None) -> None:
        interface = self.interfaces.get(linktype)
        if interface is None:
            interface = self.interfaces[linktype] = len(self.interfaces)
            self.stream.write(_block(IDB_TYPE, struct.pack("<HHI", linktype, 0, 0)
                                     + _option(IF_TSRESOL, bytes([self.resolution])) + _option(OPT_END, b"")))
        units = max(int(round(ts * 10 ** self.resolution)), 0)
        options = _option(OPT_COMMENT, comment.encode("utf-8", "replace")) + _option(OPT_END, b"") if comment else b""
        data = bytes(data)
        self.stream.write(_block(EPB_TYPE, struct.pack("<IIIII", interface, units >> 32, units & 0xFFFFFFFF,
                                                       len(data), max(wirelen or 0, len(data)))
                                 + data + b"\x00" * (-len(data) % 4) + options))
        self.packets += 1


# -- what the report says, as the selectors need it ----------------------------------------------------------

@dataclass
class Evidence:
    """The numbers of a report the selectors work from (the JSON dict, either evidence shape)."""
    underlay_mtu: int
    overlays: dict           # class -> its first overlay entry (type, udp_port, overhead, overlay_mtu)
    pod_keys: np.ndarray     # text keys of every known pod address
    flows: list              # the report's flow records
    node_pairs: list
    conflicts: list
    super_segment_flows: list

    @classmethod
    def of(cls, data: dict) -> "Evidence":
        mtu = data.get("mtu") or {}
        overlays = {}
        for overlay in mtu.get("overlays") or []:
            overlays.setdefault(overlay["type"], overlay)
        pods = [pod for node in data.get("nodes") or [] for pod in node.get("pods") or []]
        return cls(int(mtu.get("underlay_mtu") or 1500), overlays,
                   np.array(sorted({text_key(pod) for pod in pods}), dtype=np.int64), data.get("flows") or [],
                   data.get("node_pairs") or [], data.get("pod_ip_conflicts") or [],
                   mtu.get("super_segment_flows") or [])

    def overlay_overhead(self, classes, is_pod) -> np.ndarray:
        """Per row, the overhead of the overlay the row's packet must fit (-1: none), as findings decide it:
        its own class's, or for a native packet of a known pod the first overlay's."""
        result = np.full(len(classes), -1, dtype=np.int64)
        for cls, overlay in self.overlays.items():
            result[classes == cls] = overlay["overhead"]
        if self.overlays:
            first = next(iter(self.overlays.values()))
            result[(classes == "native") & is_pod] = first["overhead"]
        return result


def _tunnel(facts) -> np.ndarray:
    return np.isin(facts["outer_class"], list(TUNNEL_CLASSES))


def _tuple_keys(facts, names=("inner_src", "inner_dst", "sport", "dport")) -> list:
    return [keys_of(facts, name) if name in ("inner_src", "inner_dst") else facts[name] for name in names]


def _rows_in(columns: list, wanted: set) -> np.ndarray:
    """Rows whose values of these columns (as a tuple) are in a set of tuples."""
    if not wanted or not len(columns[0]):
        return np.zeros(len(columns[0]), dtype=bool)
    return np.fromiter((row in wanted for row in zip(*(c.tolist() for c in columns))), dtype=bool,
                       count=len(columns[0]))


def _flow_key(flow: dict, reverse: bool = False) -> tuple:
    src, dst, sport, dport = flow["src"], flow["dst"], flow.get("sport"), flow.get("dport")
    if reverse:
        src, dst, sport, dport = dst, src, dport, sport
    return (text_key(src), text_key(dst), -1 if sport is None else int(sport), -1 if dport is None else int(dport))


# -- the selectors: one per finding id -----------------------------------------------------------------------
# Each is made from the report's Evidence and called batch by batch with (facts, record numbers), in file
# order; it returns the record numbers of the packets its finding counts. `distinct`: it sees each packet
# once (duplicate sightings of `tcpdump -i any` left out), as the flow and MTU evidence do; the capture and
# tunnel counters see every frame.

class Selector:
    distinct = True

    def __init__(self, evidence: Evidence):
        self.evidence = evidence

    def __call__(self, facts, records) -> np.ndarray:
        return records[self.mask(facts)]

    def mask(self, facts) -> np.ndarray:
        raise NotImplementedError

    def finish(self) -> np.ndarray:
        """Records decided only at the end of the capture."""
        return np.zeros(0, dtype=np.int64)


class InnerTooBig(Selector):
    def mask(self, facts):
        inner_len, outer_len = facts["inner_len"], facts["outer_len"]
        classes = facts["outer_class"]
        tunnel = _tunnel(facts)
        overlay = self.evidence.overlay_overhead(classes, np.isin(keys_of(facts, "inner_src"), self.evidence.pod_keys))
        own = np.where(tunnel, np.maximum(outer_len - inner_len, 0), overlay)
        first_fragment = tunnel & facts["outer_mf"]
        for at in np.flatnonzero(first_fragment):
            # the outer length is the fragment's: the class's nominal overhead stands in (as the MTU evidence)
            own[at] = NOMINAL_OVERHEAD.get(classes[at], {}).get(int(facts["outer_ipv"][at]), 0)
        real = ~facts["offload"] & (facts["outer_ipv"] > 0)
        return real & (inner_len >= LARGE_INNER) & (facts["inner_frag_off"] == 0) & (overlay >= 0) \
            & (inner_len + own > self.evidence.underlay_mtu)


class InnerFragmented(Selector):
    def mask(self, facts):
        return _tunnel(facts) & (facts["inner_mf"] | (facts["inner_frag_off"] > 0)) \
            & (keys_of(facts, "inner_src") != keys_of(facts, "outer_src"))


class OuterFragmented(Selector):
    def mask(self, facts):
        return _tunnel(facts) & (facts["outer_mf"] | (facts["outer_frag_off"] > 0))


class IcmpTooBig(Selector):
    def mask(self, facts):
        return facts["icmp_mtu"] >= 0


class MssTooBig(Selector):
    """SYNs and SYN-ACKs advertising an MSS larger than the path's budget for their flow."""

    def mask(self, facts):
        mss = facts["tcp_mss"]
        rows = np.flatnonzero((mss > 0) & (facts["tcp_flags"] & TCP_SYN > 0))
        mask = np.zeros(len(facts), dtype=bool)
        if len(rows):
            classes = np.array([encap.split(">")[0] for encap in facts.take("encap", rows).tolist()], dtype=object)
            is_pod = np.isin(keys_of(facts, "inner_src")[rows], self.evidence.pod_keys)
            overhead = np.maximum(self.evidence.overlay_overhead(classes, is_pod), 0)
            headers = np.where(facts["inner_ipv"][rows] == 6, TCP_IP_HEADERS[6], TCP_IP_HEADERS[4])
            mask[rows] = mss[rows] > self.evidence.underlay_mtu - overhead - headers
        return mask


class PmtudBlackhole(Selector):
    """Packets larger than the budget an earlier ICMP too-big gave their flow, and the retransmissions of
    flows (two or more) that retransmit segments larger than their overlay MTU: what the finding counts."""

    def __init__(self, evidence):
        super().__init__(evidence)
        from .report.series import RetransmitMarker

        self.retransmits = RetransmitMarker()
        self.budgets: dict = {}          # quoted flow (src, dst, proto, sport, dport) -> smallest inner budget
        self.candidates = {_flow_key(f) for f in evidence.flows if (f.get("retransmits") or 0) >= 2}
        self.qualified: set = set()
        self.pending: dict = {}          # flow -> record numbers of its retransmissions before it qualified

    def __call__(self, facts, records):
        from .analyzers.mtu import quoted_overhead

        picked = [self._after_icmp(facts, records, quoted_overhead)]
        retransmitted = np.flatnonzero(self.retransmits.mark(facts))
        if len(retransmitted) and self.candidates:
            keys = list(zip(*(c[retransmitted].tolist() for c in _tuple_keys(facts))))
            overlay = self.evidence.overlay_overhead(
                np.array([e.split(">")[0] for e in facts.take("encap", retransmitted).tolist()], dtype=object),
                np.isin(keys_of(facts, "inner_src")[retransmitted], self.evidence.pod_keys))
            for key, row, overhead in zip(keys, retransmitted.tolist(), overlay.tolist()):
                if key not in self.candidates:
                    continue
                if overhead >= 0 and facts["inner_len"][row] > self.evidence.underlay_mtu - overhead:
                    self.qualified.add(key)
                self.pending.setdefault(key, []).append(int(records[row]))
            for key in self.qualified & set(self.pending):
                picked.append(np.array(self.pending.pop(key), dtype=np.int64))
        return np.concatenate(picked)

    def _after_icmp(self, facts, records, quoted_overhead):
        """In file order: a big packet counts when an ICMP before it told its flow a smaller budget."""
        icmp = np.flatnonzero(facts["icmp_mtu"] >= 0)
        big = (facts["inner_len"] >= LARGE_INNER) & ~facts["offload"]
        picked, start = [], 0
        for stop in list(icmp.tolist()) + [len(facts)]:
            rows = start + np.flatnonzero(big[start:stop])
            if len(rows) and self.budgets:
                keys = zip(facts.take("inner_src", rows).tolist(), facts.take("inner_dst", rows).tolist(),
                           facts["inner_proto"][rows].tolist(), facts["sport"][rows].tolist(),
                           facts["dport"][rows].tolist())
                budgets = np.array([self.budgets.get(key, 1 << 40) for key in keys])
                picked.append(records[rows[facts["inner_len"][rows] > budgets]])
            if stop < len(facts):
                key = (facts.take("quoted_src", [stop])[0], facts.take("quoted_dst", [stop])[0],
                       int(facts["quoted_proto"][stop]), int(facts["quoted_sport"][stop]),
                       int(facts["quoted_dport"][stop]))
                budget = int(facts["icmp_mtu"][stop]) - quoted_overhead(facts.take("quoted_encap", [stop])[0])
                self.budgets[key] = min(budget, self.budgets.get(key, budget))
            start = stop + 1
        return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)


_SUPER_FLOW = re.compile(r"^tcp (?P<src>\S+):(?P<sport>\d+) > (?P<dst>\S+):(?P<dport>\d+): \d+-byte segments "
                         r"against an MSS of (?P<mss>\d+)")


class Offload(Selector):
    """Offload super-frames, and the segments of flows larger than the MSS their receiver advertised."""

    def __init__(self, evidence):
        super().__init__(evidence)
        self.mss = {}
        for text in evidence.super_segment_flows:
            found = _SUPER_FLOW.match(str(text))
            if found:
                key = (text_key(found["src"]), text_key(found["dst"]), int(found["sport"]), int(found["dport"]))
                self.mss[key] = int(found["mss"])

    def mask(self, facts):
        mask = facts["offload"].copy()
        if self.mss:
            rows = np.flatnonzero(facts["tcp_payload"] > 0)
            keys = zip(*(c[rows].tolist() for c in _tuple_keys(facts)))
            limit = np.array([self.mss.get(key, 1 << 40) for key in keys], dtype=np.int64)
            mask[rows[facts["tcp_payload"][rows] > limit]] = True
        return mask


class Counter(Selector):
    """A capture counter: every frame with a fact column set."""
    distinct = False
    column = ""

    def mask(self, facts):
        return facts[self.column].copy()


class Truncated(Counter):
    column = "truncated"


class Malformed(Counter):
    column = "malformed"


class TooDeep(Counter):
    column = "too_deep"


class OutOfOrder(Selector):
    """Records whose timestamp is earlier than the record before them (the capture's own count)."""
    distinct = False

    def __init__(self, evidence):
        super().__init__(evidence)
        self.last = None

    def mask(self, facts):
        ts = facts["ts"]
        earlier = np.r_[self.last is not None and ts[0] < self.last, ts[1:] < ts[:-1]] if len(ts) else ts > 0
        if len(ts):
            self.last = ts[-1]
        return earlier


class OneWay(Selector):
    """Every packet of a node pair with traffic one way only, and the SYNs nothing answered."""
    distinct = False

    def __init__(self, evidence):
        super().__init__(evidence)
        pairs = {(p["type"], p["src"], p["dst"]): p["packets"] for p in evidence.node_pairs}
        self.lonely = {(cls, text_key(src), text_key(dst)) for (cls, src, dst), n in pairs.items()
                       if n >= ONE_WAY_MIN_PACKETS and (cls, dst, src) not in pairs}
        tunnelled = [f for f in evidence.flows if f.get("encap") != "native"]
        answered = {_flow_key(f, reverse=True) for f in tunnelled if f.get("packets")}
        self.unanswered = {_flow_key(f) for f in tunnelled if f.get("syn") and _flow_key(f) not in answered}
        self.seen = None

    def mask(self, facts):
        mask = _rows_in([facts["outer_class"], keys_of(facts, "outer_src"), keys_of(facts, "outer_dst")],
                        self.lonely)
        flags = facts["tcp_flags"]
        syn = np.flatnonzero((flags >= 0) & (flags & TCP_SYN > 0) & (flags & TCP_ACK == 0) & _tunnel(facts))
        if len(syn) and self.unanswered:
            mask[syn[_rows_in([c[syn] for c in _tuple_keys(facts)], self.unanswered)]] = True
        return mask


class NonstandardPort(Selector):
    distinct = False

    def mask(self, facts):
        return facts["by_plausibility"] & (facts["outer_class"] != "udp-tunnel")


class BadOuterChecksum(Selector):
    distinct = False

    def mask(self, facts):
        return _tunnel(facts) & (facts["outer_udp_csum"] == CSUM_BAD)


class PodIpConflict(Selector):
    """The tunnel packets a conflicting pod address sent from behind each of its nodes."""
    distinct = False

    def __init__(self, evidence):
        super().__init__(evidence)
        self.behind = {(text_key(c["pod"]), text_key(node)) for c in evidence.conflicts for node in c["nodes"]}

    def mask(self, facts):
        return _tunnel(facts) & _rows_in([keys_of(facts, "inner_src"), keys_of(facts, "outer_src")], self.behind)


# Finding id -> selector. Findings about the file or the analysis itself (capture.damaged, capture.flow-cap,
# capture.address-cap) rest on no packet and have none.
SELECTORS = {
    "mtu.inner-too-big": InnerTooBig,
    "mtu.inner-fragmented": InnerFragmented,
    "mtu.outer-fragmented": OuterFragmented,
    "mtu.icmp-too-big": IcmpTooBig,
    "mtu.pmtud-blackhole": PmtudBlackhole,
    "mtu.mss-too-big": MssTooBig,
    "capture.offload": Offload,
    "capture.truncated": Truncated,
    "capture.malformed": Malformed,
    "capture.too-deep": TooDeep,
    "capture.out-of-order": OutOfOrder,
    "tunnel.one-way": OneWay,
    "tunnel.nonstandard-port": NonstandardPort,
    "tunnel.bad-outer-checksum": BadOuterChecksum,
    "topology.pod-ip-conflict": PodIpConflict,
}


# -- a flow or a node pair chosen by hand ------------------------------------------------------------------------

_ENDPOINT = re.compile(r"^\s*(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<addr>[^\s:\[\]]+|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*))"
                       r"(?::(?P<port>\d{1,5}))?\s*$")


def _endpoint(text: str, ports: bool) -> tuple:
    if ports:
        found = _ENDPOINT.match(text)
        if not found:
            raise ValueError(f"not an address[:port]: {text.strip()!r}")
        address, port = found["v6"] or found["addr"], found["port"]
        if found["addr"] and ":" in found["addr"]:
            address, port = found["addr"], None       # a bare IPv6 address: no port (write [v6]:port for one)
    else:
        address, port = text.strip(), None
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        raise ValueError(f"not an IP address: {address!r}") from None
    if port is not None and int(port) > 65535:
        raise ValueError(f"not a port: {port}")
    return address, None if port is None else int(port)


def parse_direction(spec: str, ports: bool):
    """((address, port), (address, port), both ways) of 'A>B' (one way) or 'A<>B' (both ways); ports: the
    ends may carry ports (None where they do not). Raises ValueError when it does not parse."""
    both = "<>" in spec
    parts = spec.split("<>" if both else ">")
    if len(parts) != 2:
        raise ValueError(f"expected SRC>DST or SRC<>DST, got {spec!r}")
    return _endpoint(parts[0], ports), _endpoint(parts[1], ports), both


class FlowSelector(Selector):
    """An inner flow: 'SRC[:PORT]>DST[:PORT]' one way or '<>' both ways ([v6]:port for IPv6 with a port)."""

    def __init__(self, spec: str):
        super().__init__(None)
        (self.src, self.sport), (self.dst, self.dport), self.both = parse_direction(spec, ports=True)

    def mask(self, facts):
        def one_way(src, sport, dst, dport):
            mask = (keys_of(facts, "inner_src") == text_key(src)) & (keys_of(facts, "inner_dst") == text_key(dst))
            if sport is not None:
                mask &= facts["sport"] == sport
            if dport is not None:
                mask &= facts["dport"] == dport
            return mask

        mask = one_way(self.src, self.sport, self.dst, self.dport)
        return mask | one_way(self.dst, self.dport, self.src, self.sport) if self.both else mask


class PairSelector(Selector):
    """A node pair on the underlay: 'A>B' one way or 'A<>B' both ways (outer addresses)."""
    distinct = False

    def __init__(self, spec: str):
        super().__init__(None)
        (self.src, _), (self.dst, _), self.both = parse_direction(spec, ports=False)

    def mask(self, facts):
        src, dst = keys_of(facts, "outer_src"), keys_of(facts, "outer_dst")
        mask = (src == text_key(self.src)) & (dst == text_key(self.dst))
        return mask | ((src == text_key(self.dst)) & (dst == text_key(self.src))) if self.both else mask


# -- the passes ---------------------------------------------------------------------------------------------

def _pick(path, selectors: dict, vxlan_ports, decoder) -> tuple[dict, bool]:
    """Record numbers each selector picks, over the whole capture; and whether it has nanosecond stamps."""
    if path == "-":
        raise ValueError("exporting reads the capture twice more: it needs a file, not stdin")
    from .analyzers import DuplicateMarker
    from .capture import open_capture
    from .decode import DEFAULT_VXLAN_PORTS
    from .decode.select import make_decoder

    decode = make_decoder(decoder, frozenset(DEFAULT_VXLAN_PORTS) | {int(p) for p in vxlan_ports})
    duplicates = DuplicateMarker()
    picked = {name: [] for name in selectors}
    first = 0
    with open_capture(path) as capture:
        for batch in capture.batches(BATCH_RECORDS):
            facts = duplicates.mark(decode.decode_batch(batch))
            records = np.arange(first, first + len(facts), dtype=np.int64)
            first += len(facts)
            distinct = ~facts["duplicate"]
            unique = (facts, records) if distinct.all() else (facts[distinct], records[distinct])
            for name, selector in selectors.items():
                picked[name].append(selector(*unique) if selector.distinct else selector(facts, records))
        nanosecond = capture.nanosecond
    return ({name: np.unique(np.concatenate(parts + [selectors[name].finish()]))
             for name, parts in picked.items()}, nanosecond)


def _copy(path, picked: dict, outputs: dict, nanosecond: bool, comments: dict) -> dict:
    """Copy the picked records (record numbers per name) into each name's pcapng file; comments: per name,
    the comment of a record from its frame number (1-based, as Wireshark numbers it)."""
    from .capture import open_capture

    streams = {name: open(out, "wb") for name, out in outputs.items()}
    try:
        writers = {name: PcapngWriter(stream, nanosecond) for name, stream in streams.items()}
        first = 0
        with open_capture(path) as capture:
            for batch in capture.batches(BATCH_RECORDS):
                end = first + len(batch)
                for name, writer in writers.items():
                    records = picked[name]
                    lo, hi = np.searchsorted(records, [first, end])
                    for record in records[lo:hi].tolist():
                        i = record - first
                        writer.write(float(batch.ts[i]), int(batch.linktypes[i]), batch.data(i),
                                     int(batch.wirelens[i]), comments[name](record + 1))
                first = end
        return {name: writer.packets for name, writer in writers.items()}
    finally:
        for stream in streams.values():
            stream.close()


def export_evidence(path: str, report, out_dir: str, limit: int = EXPORT_LIMIT, *, vxlan_ports=(),
                    decoder: str = "fast") -> dict:
    """Write out_dir/<finding id>.pcapng for each of the report's findings that rests on packets.

    report: the Report of this capture (or its JSON dict, either evidence shape). Each file holds the first
    `limit` packets (None: all) the finding counts, in file order, as they were recorded (bytes, original
    length, link type, timestamp), each commented with its frame number in the capture. Returns
    {finding id: packets written}; findings about the file itself (capture.damaged, the caps) have no file.
    """
    data = report.to_dict() if hasattr(report, "to_dict") else report
    evidence = Evidence.of(data)
    ids = [finding["id"] for finding in data.get("findings") or [] if finding["id"] in SELECTORS]
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    picked, nanosecond = _pick(path, {i: SELECTORS[i](evidence) for i in ids}, vxlan_ports, decoder)
    if limit is not None:
        picked = {i: records[:limit] for i, records in picked.items()}
    os.makedirs(out_dir, exist_ok=True)
    name = os.path.basename(path)
    return _copy(path, picked, {i: os.path.join(out_dir, f"{i}.pcapng") for i in ids}, nanosecond,
                 {i: _commenter(f"pcapdiag {i}: ", name) for i in ids})


def export_flow(path: str, out: str, flow: str, limit: int | None = None, *, vxlan_ports=(),
                decoder: str = "fast") -> int:
    """Write the packets of one inner flow ('10.244.1.2:40000>10.244.2.2:8080', '<>' for both ways, ports
    optional) to a pcapng file; returns the packets written. Raises ValueError for a spec that does not parse."""
    return _export_one(path, out, FlowSelector(flow), limit, vxlan_ports, decoder)


def export_pair(path: str, out: str, pair: str, limit: int | None = None, *, vxlan_ports=(),
                decoder: str = "fast") -> int:
    """Write every frame between two nodes ('192.168.90.11>192.168.90.12', '<>' for both ways: outer
    addresses) to a pcapng file; returns the packets written. Raises ValueError for a spec that does not parse."""
    return _export_one(path, out, PairSelector(pair), limit, vxlan_ports, decoder)


def _export_one(path, out, selector, limit, vxlan_ports, decoder) -> int:
    picked, nanosecond = _pick(path, {"one": selector}, vxlan_ports, decoder)
    records = picked["one"] if limit is None else picked["one"][:limit]
    directory = os.path.dirname(out)
    if directory:
        os.makedirs(directory, exist_ok=True)
    return _copy(path, {"one": records}, {"one": out}, nanosecond,
                 {"one": _commenter("", os.path.basename(path))})["one"]


def _commenter(prefix: str, capture_name: str):
    return lambda frame: f"{prefix}frame {frame} of {capture_name}"


__all__ = ["EXPORT_LIMIT", "PcapngWriter", "SELECTORS", "export_evidence", "export_flow", "export_pair",
           "parse_direction"]
