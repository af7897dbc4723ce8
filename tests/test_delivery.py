"""Delivery by size (analyzers/delivery.py) on minimal dpkt-built captures: a path that silently drops big
packets, and the near misses that must not look like it (random loss, a capture that ended, a one-way
tunnel, a receiver-side capture). Each capture is decoded by both decoders; states of split captures merge
to one pass's answer.

The cast: nodes A (192.168.1.10) and B (192.168.1.11), pod a (10.244.1.5) behind A, pod b (10.244.2.7)
behind B, VXLAN on 8472: 50 bytes of overhead, so an inner IP packet of N bytes is N + 50 on the path.
"""
from __future__ import annotations

import struct

import pytest

from pcapdiag.testing.files import BASE_TS, write_pcap
from pcapdiag.testing.packets import ethernet, icmp_echo, ipv4, tcp as _tcp, vxlan_packet
from pcapdiag.analyzers.delivery import DeliveryAnalyzer, size_windows
from pcapdiag.capture import open_capture
from pcapdiag.decode.select import make_decoder
from pcapdiag.decode import DEFAULT_VXLAN_PORTS

NODE_A, NODE_B = "192.168.1.10", "192.168.1.11"
POD_A, POD_B = "10.244.1.5", "10.244.2.7"
SPORT, DPORT = 40000, 8080
ISN_A, ISN_B = 1_000_000, 5_000_000
HEADERS = 40          # inner IPv4 + TCP without options
OVERHEAD = 50


def tcp(sport, dport, *, seq=0, ack=0, sack=(), **options):
    """A segment whose sequence numbers wrap as on the wire; sack: (left, right) blocks (RFC 2018)."""
    segment = _tcp(sport, dport, seq=seq % (1 << 32), ack=ack % (1 << 32), **options)
    if sack:
        blocks = b"".join(struct.pack(">II", left % (1 << 32), right % (1 << 32)) for left, right in sack)
        option = b"\x01\x01" + struct.pack(">BB", 5, 2 + len(blocks)) + blocks   # NOP NOP SACK
        segment.opts += option
        segment.off = 5 + len(segment.opts) // 4
    return segment


def a_to_b(segment, ts):
    return ts, ethernet(vxlan_packet(NODE_A, NODE_B, ipv4(POD_A, POD_B, segment)))


def b_to_a(segment, ts):
    return ts, ethernet(vxlan_packet(NODE_B, NODE_A, ipv4(POD_B, POD_A, segment),
                                     inner_smac="66:00:00:00:00:0b", inner_dmac="66:00:00:00:00:0a"))


def handshake_and_request(ts=BASE_TS):
    """SYN, SYN-ACK, ACK; a 200-byte request from a acknowledged by b; b's 300-byte answer acknowledged."""
    seq_a, seq_b = ISN_A + 1, ISN_B + 1
    records = [a_to_b(tcp(SPORT, DPORT, flags="S", seq=ISN_A, mss=1410), ts),
               b_to_a(tcp(DPORT, SPORT, flags="SA", seq=ISN_B, ack=seq_a, mss=1410), ts + 0.001),
               a_to_b(tcp(SPORT, DPORT, seq=seq_a, ack=seq_b), ts + 0.002),
               a_to_b(tcp(SPORT, DPORT, flags="PA", seq=seq_a, ack=seq_b, payload=200), ts + 0.003)]
    seq_a += 200
    records += [b_to_a(tcp(DPORT, SPORT, flags="PA", seq=seq_b, ack=seq_a, payload=300), ts + 0.004),
                a_to_b(tcp(SPORT, DPORT, seq=seq_a, ack=seq_b + 300), ts + 0.005)]
    return records, seq_a, seq_b + 300


def big_segments_blackholed(seq_a, ack_a, ts, *, size=1410, count=6, retries=5):
    """count full-size segments from a; the first is retransmitted with backoff; none acknowledged."""
    records = [a_to_b(tcp(SPORT, DPORT, seq=seq_a + i * size, ack=ack_a, payload=size), ts + 0.001 * i)
               for i in range(count)]
    delay = 0.2
    for _ in range(retries):
        ts += delay
        records.append(a_to_b(tcp(SPORT, DPORT, seq=seq_a, ack=ack_a, payload=size), ts))
        delay *= 2
    return records


def analyse(path, decoder="fast", parts=1):
    """The analyzer's result for a capture, fed batch by batch; parts > 1 splits the records into that
    many consecutive states merged in order (as chunks of a parallel run are)."""
    facts = []
    with open_capture(str(path)) as capture:
        for batch in capture.batches(4):
            facts.append(make_decoder(decoder, DEFAULT_VXLAN_PORTS).decode_batch(batch))
    states = [DeliveryAnalyzer() for _ in range(parts)]
    for index, batch in enumerate(facts):
        states[index * parts // len(facts)].update(batch)
    for state in states[1:]:
        states[0].merge(state)
    return states[0].result()


@pytest.fixture(params=["fast", "reference"])
def decoder(request):
    return request.param


def test_big_segments_never_acknowledged_give_the_size_window(tmp_path, decoder):
    records, seq_a, ack_a = handshake_and_request()
    records += big_segments_blackholed(seq_a, ack_a, BASE_TS + 0.01)
    windows = size_windows(analyse(write_pcap(tmp_path / "x.pcap", records), decoder))
    assert len(windows) == 1
    window = windows[0]
    assert (window["encap"], window["outer_src"], window["outer_dst"], window["side"]) == \
        ("vxlan", NODE_A, NODE_B, "sender")
    assert window["largest_delivered"] == 200 + HEADERS
    assert window["largest_delivered_outer"] == 200 + HEADERS + OVERHEAD
    assert [(lost["inner_len"], lost["outer_len"], lost["sent"]) for lost in window["lost"]] == \
        [(1410 + HEADERS, 1410 + HEADERS + OVERHEAD, 6 + 5)]
    assert window["flows"] == [{"proto": "tcp", "src": POD_A, "sport": SPORT, "dst": POD_B, "dport": DPORT,
                                "encap": "vxlan", "vni": 1}]


@pytest.mark.parametrize("parts", [2, 3, 5])
def test_split_states_merge_to_one_pass(tmp_path, parts):
    records, seq_a, ack_a = handshake_and_request()
    records += big_segments_blackholed(seq_a, ack_a, BASE_TS + 0.01)
    path = write_pcap(tmp_path / "x.pcap", records)
    whole, split = analyse(path), analyse(path, parts=parts)
    assert size_windows(split) == size_windows(whole)
    columns = ["flow_hash", "ack", "data_high", "segments", "ack_rows"]
    assert split.flows[columns].frame().sort_values("flow_hash").values.tolist() == \
        whole.flows[columns].frame().sort_values("flow_hash").values.tolist()


def test_a_flow_whose_sequence_wraps_merges_exactly(tmp_path):
    global ISN_A
    saved, ISN_A = ISN_A, (1 << 32) - 700
    try:
        records, seq_a, ack_a = handshake_and_request()
        records += big_segments_blackholed(seq_a, ack_a, BASE_TS + 0.01)
    finally:
        ISN_A = saved
    path = write_pcap(tmp_path / "x.pcap", records)
    assert size_windows(analyse(path, parts=3)) == size_windows(analyse(path))
    assert size_windows(analyse(path))[0]["largest_delivered"] == 200 + HEADERS


def test_retransmissions_that_are_acknowledged_are_not_a_size_window(tmp_path, decoder):
    """Random loss: big segments retransmitted, then acknowledged."""
    records, seq_a, ack_a = handshake_and_request()
    ts = BASE_TS + 0.01
    for i in range(4):
        records.append(a_to_b(tcp(SPORT, DPORT, seq=seq_a, ack=ack_a, payload=1410), ts))
        records.append(a_to_b(tcp(SPORT, DPORT, seq=seq_a, ack=ack_a, payload=1410), ts + 0.3))
        seq_a += 1410
        records.append(b_to_a(tcp(DPORT, SPORT, seq=ack_a, ack=seq_a), ts + 0.31))
        ts += 0.4
    assert size_windows(analyse(write_pcap(tmp_path / "x.pcap", records), decoder)) == []


def test_a_capture_that_ends_before_the_ack_is_not_a_size_window(tmp_path, decoder):
    records, seq_a, ack_a = handshake_and_request()
    records += big_segments_blackholed(seq_a, ack_a, BASE_TS + 0.01, retries=0)
    assert size_windows(analyse(write_pcap(tmp_path / "x.pcap", records), decoder)) == []


def test_a_one_way_tunnel_is_not_a_size_window(tmp_path, decoder):
    """Nothing comes back at all: no size got through, so nothing tells size from the rest."""
    ts = BASE_TS
    records = [a_to_b(tcp(SPORT, DPORT, flags="S", seq=ISN_A, mss=1410), ts + i) for i in range(4)]
    records += big_segments_blackholed(ISN_A + 1, 0, ts + 5)
    assert size_windows(analyse(write_pcap(tmp_path / "x.pcap", records), decoder)) == []


def test_the_receiver_side_sees_the_ack_stall_while_later_small_data_arrives(tmp_path, decoder):
    """On node B: the big segments never arrive; b keeps acknowledging the hole's start while a's later
    small segments (beyond the hole) keep arriving for seconds."""
    records, seq_a, ack_a = handshake_and_request()
    hole_start = seq_a
    after_hole = seq_a + 6 * 1410
    ts = BASE_TS + 0.01
    for i in range(8):
        records.append(a_to_b(tcp(SPORT, DPORT, seq=after_hole + 100 * i, ack=ack_a, payload=100), ts + 0.25 * i))
        records.append(b_to_a(tcp(DPORT, SPORT, seq=ack_a, ack=hole_start, sack=[(after_hole, after_hole + 100 * (i + 1))]),
                              ts + 0.25 * i + 0.001))
    windows = size_windows(analyse(write_pcap(tmp_path / "x.pcap", records), decoder))
    assert len(windows) == 1
    window = windows[0]
    assert window["side"] == "receiver"
    assert (window["outer_src"], window["outer_dst"]) == (NODE_A, NODE_B)
    assert window["largest_delivered"] == 200 + HEADERS
    assert window["last"] - window["stalled_since"] >= 1.0


def test_without_sack_a_stalled_ack_says_nothing(tmp_path):
    """Repeated plain ACKs also come with data flowing the other way: only SACK makes it a hole."""
    records, seq_a, ack_a = handshake_and_request()
    ts = BASE_TS + 0.01
    for i in range(8):
        records.append(a_to_b(tcp(SPORT, DPORT, seq=seq_a + 6 * 1410 + 100 * i, ack=ack_a, payload=100), ts + 0.25 * i))
        records.append(b_to_a(tcp(DPORT, SPORT, seq=ack_a, ack=seq_a), ts + 0.25 * i + 0.001))
    assert size_windows(analyse(write_pcap(tmp_path / "x.pcap", records))) == []


def echo(src_node, dst_node, src, dst, kind, size, ts, seq):
    message = icmp_echo(ident=7, seq=seq, payload=size - 28)
    message.type = kind
    frame = ethernet(vxlan_packet(src_node, dst_node, ipv4(src, dst, message)))
    return ts, frame


def test_echo_requests_above_a_size_without_reply(tmp_path, decoder):
    records, seq = [], 0
    ts = BASE_TS
    for size in (128, 528, 1028, 1328, 1400, 1428):
        for _ in range(3):
            seq += 1
            records.append(echo(NODE_A, NODE_B, POD_A, POD_B, 8, size, ts, seq))
            if size <= 1328:
                records.append(echo(NODE_B, NODE_A, POD_B, POD_A, 0, size, ts + 0.001, seq))
            ts += 0.3
    windows = size_windows(analyse(write_pcap(tmp_path / "x.pcap", records), decoder))
    assert len(windows) == 1
    window = windows[0]
    assert (window["outer_src"], window["outer_dst"], window["side"]) == (NODE_A, NODE_B, "sender")
    assert window["largest_delivered"] == 1328
    assert [(lost["inner_len"], lost["sent"]) for lost in window["lost"]] == [(1400, 3), (1428, 3)]
