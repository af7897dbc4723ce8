"""Decapsulation: the inner packets of every tunnel, as a pcapng Wireshark reads like a capture on the pod side.

The decoder says what each packet is (its encapsulation chain, outermost first: "vxlan", "geneve>gre"); dpkt
and the tunnel headers of decode/tunnels.py then peel exactly those layers off the original bytes, so no
header is parsed here that dpkt does not parse. What a tunnel carries decides the link type written:
Ethernet (VXLAN, Geneve and GRE with transparent bridging) as linktype 1, IP (IPIP, 6in4, GRE, UDP
tunnels, VXLAN-GPE) as linktype 101 (raw IP). Every packet keeps its original timestamp and carries a
comment with its outer context (class, port, VNI, node pair, outer sizes, frame number), which Wireshark
shows above its layers. Outer IP fragments (a VTEP fragmenting VXLAN) are reassembled first.
"""
from __future__ import annotations

import os
import struct
from collections import OrderedDict

import dpkt
import numpy as np
from dpkt import ip, ip6, udp

from .catalogue import TUNNEL_CLASSES
from .decode.facts import keys_of, text_key
from .decode.reference import (ETH_TYPE_TEB, IP_ETHERTYPES, _ShallowGRE, bare_ip_plausible, gue_plausible,
                               link_to_network)
from .decode.tunnels import NSH, NSH_NEXT_PROTO, VXLAN, Geneve
from .export import BATCH_RECORDS, PcapngWriter, parse_direction

LINKTYPE_ETHERNET, LINKTYPE_RAW = 1, 101
REASSEMBLY_TABLE = 1024          # outer datagrams being reassembled at once (the oldest are given up)
IP_IN_IP = {"ipip", "6in4", "4in6", "6in6"}


class Undecodable(Exception):
    """The layers the decoder named could not be peeled off these bytes (cut short, or not what it said)."""


def _ip_layer(buf: bytes, version: int):
    """(protocol, payload bounded by the IP length) of an IP packet, by dpkt."""
    if version == 4:
        packet = ip.IP(buf)
        end = packet.len or len(buf)
        return packet.p, buf[packet.hl * 4:end]
    packet = ip6.IP6(buf)
    start = 40 + sum(ext.length for ext in packet.all_extension_headers)
    return packet.p, buf[start:40 + packet.plen] if packet.plen else buf[start:]


def _frame(ethertype, payload: bytes):
    """What a tunnel header hands on, as (link type, bytes): an Ethernet frame or an IP packet."""
    if ethertype == ETH_TYPE_TEB:
        return LINKTYPE_ETHERNET, payload
    if ethertype in IP_ETHERTYPES:
        return LINKTYPE_RAW, payload
    raise Undecodable(f"a tunnel carrying ethertype {ethertype!r}")


def _peel_udp(name: str, datagram: bytes):
    body = bytes(udp.UDP(datagram).data)
    if name == "vxlan":
        header = VXLAN(body)
        ethertype, inner = header.payload_ethertype, bytes(header.data)
        if ethertype == "nsh":
            service = NSH(inner)
            ethertype, inner = NSH_NEXT_PROTO.get(service.next_proto), bytes(service.data)
        return _frame(ethertype, inner)
    if name == "geneve":
        header = Geneve(body)
        return _frame(header.proto, bytes(header.data))
    if bare_ip_plausible(body):                   # udp-tunnel: flannel's UDP backend, FOU
        return LINKTYPE_RAW, body
    if gue_plausible(body):                       # GUE: its header, then IP by protocol number
        return LINKTYPE_RAW, body[4 + (body[0] & 0x1F) * 4:]
    raise Undecodable("a UDP tunnel carrying neither a bare IP packet nor GUE")


def peel(chain: list, transport: tuple):
    """The innermost (link type, frame) under the named tunnel layers; transport: (protocol, payload) of
    the outermost IP packet."""
    frame = None
    for name in chain:
        if frame is not None:             # a tunnel inside a tunnel: down to the next IP header
            ethertype, packet, _ = link_to_network(frame[0], frame[1])
            if ethertype not in IP_ETHERTYPES:
                raise Undecodable("a nested tunnel without an IP header")
            transport = _ip_layer(packet, IP_ETHERTYPES[ethertype])
        proto, payload = transport
        if name in IP_IN_IP and proto in (4, 41):
            frame = LINKTYPE_RAW, payload
        elif name == "gre" and proto == 47:
            header = _ShallowGRE(payload)
            frame = _frame(header.p, bytes(header.data))
        elif name in ("vxlan", "geneve", "udp-tunnel") and proto == 17:
            frame = _peel_udp(name, payload)
        else:
            raise Undecodable(f"{name} over IP protocol {proto}")
    if frame is None:
        raise Undecodable("no tunnel")
    return frame


class Reassembler:
    """Outer IP datagrams from their fragments (RFC 791 3.2: by source, destination, protocol and ID),
    bounded: the oldest unfinished datagram is given up when REASSEMBLY_TABLE are open."""

    def __init__(self):
        self.open: OrderedDict = OrderedDict()
        self.abandoned = 0

    def add(self, key, offset: int, more: bool, payload: bytes, frame: int):
        """Take one fragment's payload; the whole datagram's payload and frame numbers once complete."""
        parts, frames, total = self.open.get(key, ({}, [], None))
        parts[offset] = payload
        frames.append(frame)
        if not more:
            total = offset + len(payload)
        self.open[key] = (parts, frames, total)
        if len(self.open) > REASSEMBLY_TABLE:
            self.open.popitem(last=False)
            self.abandoned += 1
        if total is None:
            return None
        data, at = b"", 0
        for start in sorted(parts):
            if start > at:
                return None                # a hole: more fragments to come
            data = data[:start] + parts[start]
            at = len(data)
        if at < total:
            return None
        del self.open[key]
        return data[:total], frames


def _outer_fragment(packet: bytes, version: int):
    """(key, offset, more fragments, protocol, payload) of an outer fragment, or None."""
    if version == 4:
        header = ip.IP(packet)
        return ((header.src, header.dst, header.p, header.id), header.offset * 8, bool(header.mf), header.p,
                packet[header.hl * 4:header.len or len(packet)])
    header = ip6.IP6(packet)
    fragment = (header.extension_hdrs or {}).get(44)
    if fragment is None:
        return None
    start = 40 + sum(ext.length for ext in header.all_extension_headers)
    return ((header.src, header.dst, fragment.nxt, fragment.id), fragment.frag_off * 8, bool(fragment.m_flag),
            header.p, packet[start:40 + header.plen])


def decap(path: str, out: str, *, classes=None, pair=None, vni=None, keep_native: bool = False, vxlan_ports=(),
          decoder: str = "fast") -> dict:
    """Write the inner packets of every tunnel in a capture to `out` (pcapng).

    classes: the tunnel classes to keep (e.g. {"vxlan", "ipip"}; None: all); pair: a node pair, "A>B" one way
    or "A<>B" both ways (outer addresses); vni: one VNI / GRE key, or several; keep_native: write the
    capture's other frames (native IP, non-IP) as they are. Returns counts: records read, packets written,
    decapsulated (by class), reassembled (inner packets made from outer fragments), native kept,
    filtered out, and undecodable (the tunnel layers did not peel off: cut by the snaplen, malformed).
    Raises ValueError for a pair that does not parse and CaptureError for an unreadable capture.
    """
    from .capture import open_capture
    from .decode import DEFAULT_VXLAN_PORTS
    from .decode.select import make_decoder

    wanted = None if classes is None else {str(c) for c in ([classes] if isinstance(classes, str) else classes)}
    vnis = None if vni is None else {int(v) for v in ([vni] if isinstance(vni, (int, str)) else vni)}
    direction = parse_direction(pair, ports=False) if pair else None
    decode = make_decoder(decoder, frozenset(DEFAULT_VXLAN_PORTS) | {int(p) for p in vxlan_ports})
    counts = {"records": 0, "written": 0, "decapsulated": {}, "reassembled": 0, "native": 0, "filtered": 0,
              "undecodable": 0}
    fragments = Reassembler()
    name = os.path.basename(path)
    directory = os.path.dirname(out)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open_capture(path) as capture, open(out, "wb") as stream:
        writer = PcapngWriter(stream, capture.nanosecond)
        for batch in capture.batches(BATCH_RECORDS):
            facts = decode.decode_batch(batch)
            first = counts["records"]
            counts["records"] += len(facts)
            outer_class = facts["outer_class"]
            tunnel = np.isin(outer_class, list(TUNNEL_CLASSES))
            chosen = _chosen(facts, wanted, vnis, direction)
            counts["filtered"] += int(np.count_nonzero(~chosen & (tunnel | keep_native)))
            rows = np.flatnonzero(chosen & (tunnel | keep_native))
            columns = {c: facts[c][rows].tolist() for c in ("encap", "outer_class", "tunnel_port", "vni",
                                                            "outer_src", "outer_dst", "outer_len", "outer_ipv",
                                                            "outer_mf", "outer_frag_off")}
            for position, row in enumerate(rows.tolist()):
                fact = {c: values[position] for c, values in columns.items()}
                frame = first + row + 1
                data, linktype = batch.data(row), int(batch.linktypes[row])
                ts, cut = float(batch.ts[row]), int(batch.wirelens[row]) - int(batch.caplens[row])
                if fact["outer_class"] not in TUNNEL_CLASSES:
                    writer.write(ts, linktype, data, len(data) + max(cut, 0),
                                 f"{fact['outer_class']}: frame {frame} of {name}")
                    counts["native"] += 1
                    continue
                try:
                    inner = _inner(fact, linktype, data, frame, fragments)
                except (Undecodable, dpkt.UnpackError, struct.error, ValueError, IndexError, TypeError,
                        AttributeError, KeyError):
                    counts["undecodable"] += 1
                    continue
                if inner is None:          # a fragment of a datagram not yet whole
                    continue
                (inner_linktype, payload), frames = inner
                writer.write(ts, inner_linktype, payload, len(payload) + max(cut, 0), _context(fact, frames, name))
                cls = fact["outer_class"]
                counts["decapsulated"][cls] = counts["decapsulated"].get(cls, 0) + 1
                counts["reassembled"] += len(frames) > 1
        counts["written"] = writer.packets
    counts["undecodable"] += sum(len(frames) for _, frames, _ in fragments.open.values())
    return counts


def _chosen(facts, wanted, vnis, direction):
    """The rows the filters let through: class and VNI filters choose among tunnel packets only."""
    chosen = np.ones(len(facts), dtype=bool)
    other = ~np.isin(facts["outer_class"], list(TUNNEL_CLASSES))
    if wanted is not None:
        chosen &= np.isin(facts["outer_class"], list(wanted)) | other
    if vnis is not None:
        chosen &= np.isin(facts["vni"], list(vnis)) | other
    if direction is not None:
        (src, _), (dst, _), both = direction
        outer_src, outer_dst = keys_of(facts, "outer_src"), keys_of(facts, "outer_dst")
        one_way = (outer_src == text_key(src)) & (outer_dst == text_key(dst))
        chosen &= one_way | ((outer_src == text_key(dst)) & (outer_dst == text_key(src))) if both else one_way
    return chosen


def _inner(fact: dict, linktype: int, data: bytes, frame: int, fragments: Reassembler):
    """((link type, inner frame), frame numbers it came from), or None while an outer datagram is incomplete."""
    ethertype, packet, _ = link_to_network(linktype, data)
    version = IP_ETHERTYPES.get(ethertype)
    if version is None:
        raise Undecodable("no IP header")
    chain = fact["encap"].split(">")
    if fact["outer_mf"] or fact["outer_frag_off"]:
        found = _outer_fragment(packet, version)
        if found is None:
            raise Undecodable("a fragment without a fragment header")
        key, offset, more, proto, payload = found
        whole = fragments.add(key, offset, more, payload, frame)
        if whole is None:
            return None
        payload, frames = whole
        return peel(chain, (proto, payload)), frames
    return peel(chain, _ip_layer(packet, version)), [frame]


def _context(fact: dict, frames: list, name: str) -> str:
    """The outer context of an inner packet, as its comment."""
    port = f" udp/{fact['tunnel_port']}" if fact["tunnel_port"] >= 0 else ""
    vni = f" vni {fact['vni']}" if fact["vni"] >= 0 else ""
    where = f"outer IP {fact['outer_len']} bytes; frame {frames[0]}" if len(frames) == 1 else \
        f"reassembled from {len(frames)} outer fragments, frames {', '.join(map(str, frames))}"
    return f"{fact['encap']}{port}{vni} {fact['outer_src']} > {fact['outer_dst']}; {where} of {name}"


__all__ = ["decap", "peel", "Reassembler", "Undecodable"]
