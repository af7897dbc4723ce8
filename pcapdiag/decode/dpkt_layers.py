"""dpkt's headers as the reference decoder parses them: one header at a time, and the link layers.

dpkt decodes a payload as soon as it parses a header (and re-serialises it on demand); the reference
decoder walks the layers itself, so here dpkt is told to parse one header, keep the original bytes,
and report bytes that run out as Truncated.
"""
from __future__ import annotations

import socket
import struct

import dpkt
from dpkt import ah, ethernet, gre, ip, ip6, sll, sll2

from ..protocols import (BSD_AF_INET, BSD_AF_INET6, ETH_TYPE_IP, ETH_TYPE_IP6, ETHERTYPE_OF_IP_VERSION,
                         LINKTYPE_ETHERNET, LINKTYPE_LOOP, LINKTYPE_NULL, LINKTYPE_SLL, LINKTYPE_SLL2, LINKTYPES_RAW)


class Truncated(Exception):
    """The bytes ran out before a header we wanted: snaplen or a short quote."""


class TooDeep(Truncated):
    """Nesting beyond MAX_DEPTH: stop unwrapping, keep what we have."""


def address_text(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def parse(cls, buf):
    """Parse one header; NeedData means the bytes ran out."""
    try:
        return cls(buf)
    except dpkt.NeedData as exc:
        raise Truncated(cls.__name__) from exc
    except RecursionError:
        # dpkt decodes payloads eagerly and recursively (IP in IP in IP ...): a stack nested a few
        # hundred deep exhausts Python's. Parse this one header alone; MAX_DEPTH stops the walk.
        shallow = _SHALLOW.get(cls)
        if shallow is None:
            raise
        return parse(shallow, buf)


class Ethernet(ethernet.Ethernet):
    """dpkt's Ethernet, keeping the original bytes for slicing past the tags."""

    def unpack(self, buf):
        self._original = buf
        ethernet.Ethernet.unpack(self, buf)


def ethernet_payload(frame):
    """(ethertype, payload) of an Ethernet frame after dpkt stripped VLAN/QinQ/MPLS tags."""
    tags = len(getattr(frame, "vlan_tags", ()) or ()) + len(getattr(frame, "mpls_labels", ()) or ())
    ethertype = getattr(frame, "_next_type", None) or frame.type
    raw = frame.data if isinstance(frame.data, (bytes, bytearray)) else None
    if raw is None:
        # dpkt parsed the payload; slice the original bytes rather than re-serialise (that recomputes fields)
        raw = frame._original[14 + 4 * tags:]
    return ethertype, raw


class _ShallowEthernet(Ethernet):
    _typesw: dict = {}      # no payload decoding: the walker dispatches itself


class _ShallowIP(ip.IP):
    _protosw: dict = {}


class _ShallowIP6(ip6.IP6):
    _protosw: dict = {}


class _ShallowSLL(sll.SLL):
    _typesw: dict = {}


class _ShallowSLL2(sll2.SLL2):
    _typesw: dict = {}


class ShallowGRE(gre.GRE):
    """dpkt's GRE dispatches through Ethernet's global table: hide the protocol from it."""

    def unpack(self, buf):
        if len(buf) < 4:
            raise dpkt.NeedData("GRE")
        gre.GRE.unpack(self, buf[:2] + b"\x00\x00" + buf[4:])
        self.p = struct.unpack(">H", buf[2:4])[0]


class _ShallowAH(ah.AH):
    """dpkt's AH dispatches through IP's global table: keep the payload as bytes."""

    def unpack(self, buf):
        dpkt.Packet.unpack(self, buf)
        auth_len = max(4 * self.len - 4, 0)
        self.auth = self.data[:auth_len]
        self.data = self.data[auth_len:]


_SHALLOW = {Ethernet: _ShallowEthernet, ip.IP: _ShallowIP, ip6.IP6: _ShallowIP6, sll.SLL: _ShallowSLL,
            sll2.SLL2: _ShallowSLL2, gre.GRE: ShallowGRE, ah.AH: _ShallowAH}


# -- link layers: a record's bytes -> (ethertype of the network layer or None, its bytes, source MAC) ----

def _ethernet_link(data):
    frame = parse(Ethernet, data)
    return (*ethernet_payload(frame), mac_text(frame.src))


def _raw_link(data):
    if not data:
        raise Truncated("raw")
    return ETHERTYPE_OF_IP_VERSION.get(data[0] >> 4), data, ""


def _sll_link(data):
    return parse(sll.SLL, data).ethtype, data[16:], ""


def _sll2_link(data):
    return parse(sll2.SLL2, data).ethtype, data[20:], ""


def _null_link(order: str):
    """BSD loopback: a 4-byte address family in the writer's byte order (order: the link type's)."""
    other = ">I" if order == "<I" else "<I"

    def link(data):
        if len(data) < 4:
            raise Truncated("null")
        family = struct.unpack(order, data[:4])[0]
        if family > 0xFFFF:  # written in the other byte order than the reader's
            family = struct.unpack(other, data[:4])[0]
        ethertype = ETH_TYPE_IP if family == BSD_AF_INET else ETH_TYPE_IP6 if family in BSD_AF_INET6 else None
        return ethertype, data[4:], ""

    return link


LINK_LAYERS = {LINKTYPE_ETHERNET: _ethernet_link, LINKTYPE_SLL: _sll_link, LINKTYPE_SLL2: _sll2_link,
               LINKTYPE_NULL: _null_link("<I"), LINKTYPE_LOOP: _null_link(">I"),
               **dict.fromkeys(LINKTYPES_RAW, _raw_link)}


def link_to_network(linktype: int, data: bytes):
    """(ethertype, payload, source MAC or "") of a record's network layer; ethertype None when the link type
    carries none."""
    link = LINK_LAYERS.get(linktype)
    return link(data) if link else (None, b"", "")
