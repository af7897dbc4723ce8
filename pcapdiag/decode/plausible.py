"""UDP tunnels recognised by their headers on ports outside the known sets: one ordered list for both decoders.

Each detector pairs the reference decoder's exact test of a UDP payload with the fast decoder's screen:
a few comparisons of the payload's first bytes, over a whole batch at once, that fail only where the
exact test surely fails. The fast decoder hands every row some screen lets through to the reference,
which tries the tests in the list's order: the first that passes names the tunnel.
"""
from __future__ import annotations

import struct
from typing import Callable, NamedTuple

import dpkt

from ..protocols import ETH_TYPE_8021Q, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IP6, ETH_TYPE_TEB, IP_VERSION_OF_ETHERTYPE
from .tunnels import VXLAN_FLAG_VNI, VXLAN_GPE_FLAG_P


def ip_header_plausible(buf: bytes, ethertype: int | None = None) -> bool:
    """A sane IPv4/IPv6 header at the start of buf (version, IHL, length, checksum)."""
    if len(buf) < 20:
        return False
    version = buf[0] >> 4
    if ethertype is not None and IP_VERSION_OF_ETHERTYPE.get(ethertype) != version:
        return False
    if version == 4:
        header_len = (buf[0] & 0x0F) * 4
        total_len = struct.unpack(">H", buf[2:4])[0]
        if header_len < 20 or len(buf) < header_len or (total_len and total_len < header_len):
            return False
        return dpkt.in_cksum(buf[:header_len]) == 0
    if version == 6:
        if len(buf) < 40:
            return False
        payload_len = struct.unpack(">H", buf[4:6])[0]
        return payload_len == 0 or payload_len + 40 >= len(buf) - 64  # allow Ethernet padding
    return False


def _ethernet_plausible(frame: bytes) -> bool:
    if len(frame) < 14:
        return False
    ethertype = struct.unpack(">H", frame[12:14])[0]
    if ethertype == ETH_TYPE_ARP:  # ARP for IPv4 over Ethernet
        return frame[14:20] == b"\x00\x01\x08\x00\x06\x04"
    if ethertype == ETH_TYPE_8021Q:
        return len(frame) >= 18 and ip_header_plausible(frame[18:], struct.unpack(">H", frame[16:18])[0])
    return ip_header_plausible(frame[14:], ethertype)


def vxlan_plausible(body: bytes) -> bool:
    # RFC 7348 5: I flag set; other flag and reserved bits are "ignored on receipt"
    return len(body) >= 8 + 14 and body[0] & VXLAN_FLAG_VNI == VXLAN_FLAG_VNI and body[0] & VXLAN_GPE_FLAG_P == 0 \
        and _ethernet_plausible(body[8:])


def _vxlan_screen(peek, size):
    # the I flag without the P flag, and an inner ethertype _ethernet_plausible can accept
    ethertype = peek(20, 2)
    return (size >= 22) & ((peek(0, 1) & (VXLAN_FLAG_VNI | VXLAN_GPE_FLAG_P)) == VXLAN_FLAG_VNI) & (
        (ethertype == ETH_TYPE_IP) | (ethertype == ETH_TYPE_IP6) | (ethertype == ETH_TYPE_ARP)
        | (ethertype == ETH_TYPE_8021Q))


def geneve_plausible(body: bytes) -> bool:
    if len(body) < 8 or body[0] >> 6 != 0:
        return False
    options_len = (body[0] & 0x3F) * 4
    proto = struct.unpack(">H", body[2:4])[0]
    inner = body[8 + options_len:]
    if proto == ETH_TYPE_TEB:
        return _ethernet_plausible(inner)
    return proto in IP_VERSION_OF_ETHERTYPE and ip_header_plausible(inner, proto)


def _geneve_screen(peek, size):
    # version 0, protocol Ethernet, IPv4 or IPv6
    proto = peek(2, 2)
    return (size >= 8) & ((peek(0, 1) >> 6) == 0) & (
        (proto == ETH_TYPE_TEB) | (proto == ETH_TYPE_IP) | (proto == ETH_TYPE_IP6))


def bare_ip_plausible(body: bytes) -> bool:
    """A whole IP packet as the UDP payload (flannel's UDP backend, FOU): length must match exactly."""
    if not ip_header_plausible(body):
        return False
    if body[0] >> 4 == 4:
        return struct.unpack(">H", body[2:4])[0] == len(body)
    return struct.unpack(">H", body[4:6])[0] + 40 == len(body)


def _bare_ip_screen(peek, size):
    # an IPv4 total length or IPv6 payload length + 40 that is the payload's size
    version = peek(0, 1) >> 4
    return (size >= 20) & (((version == 4) & (peek(2, 2) == size)) | ((version == 6) & (peek(4, 2) + 40 == size)))


def gue_plausible(body: bytes) -> bool:
    """GUE version 0 data message (draft-ietf-intarea-gue 3.1) carrying IPv4/IPv6 by IP protocol number."""
    if len(body) < 4 or body[0] >> 6 != 0 or body[0] & 0x20 or body[1] not in (4, 41):
        return False
    inner = body[4 + (body[0] & 0x1F) * 4:]
    return ip_header_plausible(inner, ETH_TYPE_IP if body[1] == 4 else ETH_TYPE_IP6)


def _gue_screen(peek, size):
    # version 0, C bit clear, protocol 4 or 41
    first, proto = peek(0, 1), peek(1, 1)
    return (size >= 4) & ((first >> 6) == 0) & ((first & 0x20) == 0) & ((proto == 4) | (proto == 41))


class Detector(NamedTuple):
    header: str                       # what follows the UDP header: "vxlan", "geneve", "bare-ip", "gue"
    test: Callable[[bytes], bool]     # the reference's test of a UDP payload
    screen: Callable                  # (peek, size) -> mask over a batch; peek(offset, width): big-endian
                                      # ints of the payload's bytes (offset + width <= SCREEN_BYTES)


# In the order the reference tries them: the first that passes names the tunnel.
PLAUSIBILITY = (
    Detector("vxlan", vxlan_plausible, _vxlan_screen),
    Detector("geneve", geneve_plausible, _geneve_screen),
    Detector("bare-ip", bare_ip_plausible, _bare_ip_screen),
    Detector("gue", gue_plausible, _gue_screen),
)
SCREEN_BYTES = 22          # the payload bytes the screens read (VXLAN 8 + the inner Ethernet header's 14)
