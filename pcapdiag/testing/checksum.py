"""The internet checksum (RFC 1071): one implementation for the tests, the benchmark and the sample maker.

Standard library only: the lab agent (tools/lab/agent.py) imports it inside network namespaces.
"""
from __future__ import annotations

import struct


def ones_sum(data: bytes) -> int:
    """The folded 16-bit one's complement sum of big-endian words (an odd last byte padded with zero),
    not complemented. A header whose checksum field is right sums to 0xFFFF."""
    if len(data) % 2:
        data = bytes(data) + b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def internet_checksum(data: bytes) -> int:
    """The value of a checksum field over data (with the field zeroed): the complement of ones_sum.
    Over data whose checksum field is already right it is 0."""
    return ~ones_sum(data) & 0xFFFF


def pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    """The TCP/UDP pseudo-header of RFC 768 / RFC 793 (4-byte addresses) or RFC 8200 8.1 (16-byte)."""
    if len(src) == 4:
        return src + dst + struct.pack("!xBH", proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)
