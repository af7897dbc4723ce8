"""The vectorised record walk (capture/pcap.py walk_lanes) against the sequential one, on hostile chunks.

walk_lanes may only shorten what it returns, never change it: the records it returns followed by what
walk_records finds from where it stopped must be exactly what walk_records alone finds. The chunks are
built to mislead it: payloads full of copies of real record headers (lanes start falsely), a record
with an impossible length, zero padding, a record cut by the end of the chunk, both byte orders.
"""
from __future__ import annotations

import random
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pcapdiag.capture.pcap import LANE_BYTES, PcapHeader, walk_lanes, walk_records

TS = 1_700_000_000


def header_for(order: str) -> PcapHeader:
    return PcapHeader(order, False, 16, (2, 4), 262144, 1)


def chunk(seed: int, order: str, size: int = 6 * LANE_BYTES, damage: str = "none") -> bytes:
    """A run of records whose payloads hide fake record headers; damage: none, impossible, zeros, cut."""
    rng = random.Random(seed)
    fake_headers = []
    out = bytearray()
    while len(out) < size:
        length = rng.choice([60, 66, 98, 1514, 1564, rng.randrange(1, 1600), rng.randrange(1, 9000)])
        payload = bytearray(rng.randbytes(length))
        # plant headers that look real (same time, believable lengths) inside the payload
        for _ in range(rng.randrange(0, 4)):
            if fake_headers and length > 20:
                at = rng.randrange(0, length - 16)
                payload[at:at + 16] = rng.choice(fake_headers)
        if rng.random() < 0.2:
            payload[: min(length, 64)] = bytes(min(length, 64))
        record = struct.pack(order + "IIII", TS + rng.randrange(0, 50), rng.randrange(0, 1_000_000), length,
                             length + rng.choice([0, 0, 0, 4]))
        fake_headers.append(struct.pack(order + "IIII", TS + rng.randrange(0, 50), rng.randrange(0, 1_000_000),
                                        rng.randrange(1, 2000), rng.randrange(2000, 4000)))
        out += record + payload
    middle = len(out) // 2 + rng.randrange(0, 1000)
    if damage == "impossible":
        out[middle:middle + 16] = struct.pack(order + "IIII", TS, 0, 0xFFFFFF00, 0xFFFFFF00)
    elif damage == "zeros":
        out[middle:] = bytes(len(out) - middle)
    elif damage == "cut":
        out += struct.pack(order + "IIII", TS, 0, 1400, 1400) + bytes(700)
    return bytes(out)


def sequential(buf: bytes, pos: int, stop: int, header: PcapHeader, limit: int):
    starts: list[int] = []
    caplen_at = struct.Struct(header.byte_order + "I").unpack_from
    end = walk_records(buf, pos, stop, header.record_header_len, header.max_caplen, caplen_at, starts, limit)
    return starts, end


def with_lanes(buf: bytes, pos: int, stop: int, header: PcapHeader, limit: int):
    lane_starts, resume = walk_lanes(np, buf, pos, stop, header, limit)
    assert isinstance(resume, int)
    rest, end = sequential(buf, resume, stop, header, limit - len(lane_starts))
    return lane_starts.tolist() + rest, end, len(lane_starts)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("damage", ["none", "impossible", "zeros", "cut"])
@pytest.mark.parametrize("seed", range(6))
def test_lanes_find_exactly_the_sequential_records(seed, order, damage):
    buf = chunk(seed, order, damage=damage)
    header = header_for(order)
    stop = len(buf) - header.record_header_len + 1
    expected = sequential(buf, 0, stop, header, 1 << 30)
    assert with_lanes(buf, 0, stop, header, 1 << 30)[:2] == expected


def test_lanes_do_the_bulk_of_an_ordinary_chunk():
    rng = random.Random(5)
    buf = b"".join(struct.pack("<IIII", TS, rng.randrange(1_000_000), n, n) + rng.randbytes(n)
                   for n in (rng.choice([66, 98, 1514, 1564]) for _ in range(4000)))
    header = header_for("<")
    stop = len(buf) - 15
    got, end, by_lanes = with_lanes(buf, 0, stop, header, 1 << 30)
    assert (got, end) == sequential(buf, 0, stop, header, 1 << 30)
    assert by_lanes > 0.95 * len(got)


@pytest.mark.parametrize("limit", [1, 100, 1000, 5000])
def test_lanes_respect_the_batch_limit_and_a_stop(limit):
    buf = chunk(11, "<")
    header = header_for("<")
    stop = len(buf) * 3 // 4                 # a parallel chunk's end: records must not start past it
    assert with_lanes(buf, 0, stop, header, limit)[:2] == sequential(buf, 0, stop, header, limit)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), order=st.sampled_from("<>"), start=st.integers(0, 50),
       damage=st.sampled_from(["none", "impossible", "zeros", "cut"]))
def test_lanes_from_any_record(seed, order, start, damage):
    buf = chunk(seed, order, size=5 * LANE_BYTES, damage=damage)
    header = header_for(order)
    stop = len(buf) - header.record_header_len + 1
    records, _ = sequential(buf, 0, stop, header, 1 << 30)
    pos = records[min(start, len(records) - 1)]
    assert with_lanes(buf, pos, stop, header, 1 << 30)[:2] == sequential(buf, pos, stop, header, 1 << 30)
