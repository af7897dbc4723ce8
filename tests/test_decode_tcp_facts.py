"""The facts a loss analysis reads: frame numbers, TCP acknowledgements and SACK right edges.

Both decoders must give them identically (the fast one walks the TCP options itself, skipping the usual
lone timestamp), and as Wireshark does: frames numbered from 1 in file order across batches, the ACK number
only with the ACK flag, the right edge of a SACK block that runs furthest in sequence space.
"""
from __future__ import annotations

import struct

import dpkt
import pytest

from awkward import (NODE_A, NODE_B, POD6_A, POD6_B, POD_A, POD_B, ethernet, ipv4, ipv6, tcp, vxlan_frame, write_pcap,
                     write_pcapng)
from pcapdiag.capture import open_capture
from pcapdiag.decode import ReferenceDecoder
from pcapdiag.decode.facts import Facts
from pcapdiag.decode.fast import FastDecoder
from test_differential import assert_same_facts, compare_capture

ACK, SYN, PSH = dpkt.tcp.TH_ACK, dpkt.tcp.TH_SYN, dpkt.tcp.TH_PUSH
TIMESTAMP = b"\x01\x01\x08\x0a" + struct.pack(">II", 7, 6)


def sack(*blocks, length: int | None = None) -> bytes:
    """NOP, NOP, SACK option of (left, right) blocks (length: what the length byte claims)."""
    body = b"".join(struct.pack(">II", left, right) for left, right in blocks)
    return b"\x01\x01" + bytes([5, 2 + len(body) if length is None else length]) + body


# (name, options, flags, expected tcp_sack_right, expected tcp_mss)
SEGMENTS = [
    ("no-options", b"", ACK, -1, -1),
    ("timestamp", TIMESTAMP, ACK | PSH, -1, -1),
    ("timestamp-sack-1", TIMESTAMP + sack((5000, 6000)), ACK, 6000, -1),
    ("sack-3", sack((5000, 6000), (9000, 9500), (7000, 8000)), ACK, 9500, -1),
    ("timestamp-sack-3", TIMESTAMP + sack((5000, 6000), (9000, 9500), (7000, 8000)), ACK, 9500, -1),
    ("sack-4", sack((1, 2), (3, 40), (5, 6), (7, 8)), ACK, 40, -1),
    ("sack-wrapped", sack((0xFFFFFF00, 0xFFFFFFF0), (0xFFFFFFF0, 0x10)), ACK, 0x10, -1),
    ("sack-wrapped-first", sack((0xFFFFFFF0, 0x10), (0xFFFFFF00, 0xFFFFFFF0)), ACK, 0x10, -1),
    ("sack-no-blocks", sack(), ACK, -1, -1),
    ("sack-cut-block", sack((5000, 6000), (7000, 8000), length=14), ACK, 6000, -1),
    ("sack-length-past-end", sack((5000, 6000), length=30), ACK, 6000, -1),
    ("two-sack-options", sack((1, 100)) + sack((1, 200)), ACK, 200, -1),
    ("eol-then-sack", b"\x00" + sack((5000, 6000))[1:], ACK, -1, -1),
    ("sack-without-ack-flag", sack((5000, 6000)), PSH, 6000, -1),
    ("syn-mss-sack", struct.pack(">BBH", 2, 4, 1460) + sack((10, 20)), SYN | ACK, 20, 1460),
    ("mss-not-syn", struct.pack(">BBH", 2, 4, 1460) + sack((10, 20)), ACK, 20, -1),
    ("timestamp-then-nop-word", TIMESTAMP + b"\x01\x01\x01\x01", ACK, -1, -1),
]


def segment(options: bytes, flags: int, ack: int = 0xDEADBEEF) -> bytes:
    return tcp(40000, 8080, flags=flags, seq=123456, ack=ack, options=options, payload=b"y" * 30)


def frames():
    """Each segment native over IPv4 and IPv6 and inside VXLAN: [(name, frame)]."""
    out = []
    for name, options, flags, _, _ in SEGMENTS:
        raw = segment(options, flags)
        out.append((name, ethernet(ipv4(NODE_A, NODE_B, 6, raw))))
        out.append((name, ethernet(ipv6(POD6_A, POD6_B, 6, raw), 0x86DD)))
        out.append((name, vxlan_frame(ipv4(POD_A, POD_B, 6, raw))))
    return out


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("tcp") / "tcp-facts.pcap"
    write_pcap(path, [(frame, len(frame)) for _, frame in frames()])
    return path


def decoded(path, decoder, batch_records=5) -> Facts:
    with open_capture(str(path)) as capture:
        return Facts.concat([decoder.decode_batch(batch) for batch in capture.batches(batch_records)])


def test_both_decoders_agree_and_the_fast_one_keeps_every_segment(capture):
    fast = compare_capture(capture, batch_records=5)
    assert fast.fallback == 0


def test_sack_right_edge_ack_and_mss(capture):
    facts = decoded(capture, FastDecoder())
    expected = [(name, flags, right, mss) for name, _, flags, right, mss in SEGMENTS for _ in range(3)]
    got = zip(facts["tcp_sack_right"].tolist(), facts["tcp_ack"].tolist(), facts["tcp_mss"].tolist())
    for (name, flags, right, mss), (got_right, got_ack, got_mss) in zip(expected, got):
        assert (got_right, got_mss) == (right, mss), name
        assert got_ack == (0xDEADBEEF if flags & ACK else -1), name


def test_frames_are_numbered_from_one_across_batches(capture):
    facts = decoded(capture, FastDecoder(), batch_records=4)
    assert facts["frame"].tolist() == list(range(1, len(frames()) + 1))


def test_pcapng_frames_count_the_packet_blocks(tmp_path):
    path = tmp_path / "tcp-facts.pcapng"
    write_pcapng(path, [(1, frame, len(frame)) for _, frame in frames()[:10]])
    for decoder in (FastDecoder(), ReferenceDecoder()):
        assert decoded(path, decoder, batch_records=3)["frame"].tolist() == list(range(1, 11))


def test_a_byte_range_is_numbered_from_its_start(capture):
    """A parallel worker's range starts at frame 1: the runner shifts it by the records before it."""
    sizes = [16 + len(frame) for _, frame in frames()]
    start = 24 + sum(sizes[:7])          # the file header, then seven records
    with open_capture(str(capture), start=start, end=start + sum(sizes[7:12])) as ranged:
        batches = list(ranged.batches(2))
    assert [batch.first_frame for batch in batches] == [1, 3, 5]
    fast, reference = FastDecoder(), ReferenceDecoder()
    for batch in batches:
        assert_same_facts(fast.decode_batch(batch), reference.decode_batch(batch), "in a byte range")
    assert Facts.concat([reference.decode_batch(batch) for batch in batches])["frame"].tolist() == [1, 2, 3, 4, 5]


def test_segments_cut_at_every_byte_agree(tmp_path):
    """Snaplen cuts through the options: the reference decides what a cut option list holds."""
    path = tmp_path / "cuts.pcap"
    records = []
    for name, frame in frames():
        if "sack" in name:
            records += [(frame[:cut], len(frame)) for cut in range(54, len(frame))]
    write_pcap(path, records)
    compare_capture(path, batch_records=97)
