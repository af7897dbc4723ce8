"""Issue 19, item 1: partial checksums are not super-frames.

A capture taken on the sending node of a Linux host with tx checksum offload on (the default) holds its
outgoing tunnel packets with partial UDP checksums (only the pseudo-header sum, for the NIC to finish).
Those packets are wire packets of their real size: a handful of them must not make every size in the report
unreliable and hide the wire-visible MTU errors. Only frames larger than the link carries (GSO/GRO/TSO
aggregates) make sizes unreliable.
"""
from __future__ import annotations

import pcapdiag
from test_findings_minimal import (MSS_BIG, NODE_A, NODE_B, a_to_b, analyze_json, b_to_a, data_segment, handshake,
                                   healthy_conversation, pcap, run, the)
from pcapdiag.testing.packets import ethernet, fragments, vxlan_packet


def sending_node_capture() -> list[bytes]:
    """Node A, tx checksum offload on: its VXLAN packets go out with partial outer UDP checksums (B's come back
    fully checksummed); the overlay MTU equals the underlay's, so A fragments a 1550-byte outer packet."""
    frames = handshake(MSS_BIG, MSS_BIG, tunnel=(lambda inner: a_to_b(inner, checksum="partial"),
                                                 lambda inner: b_to_a(inner, checksum="good")))
    outer = vxlan_packet(NODE_A, NODE_B, data_segment(1500), df=False, checksum="partial")
    return frames + [ethernet(piece) for piece in fragments(outer, 1500)]


def test_partial_checksums_leave_wire_visible_mtu_errors_errors(tmp_path):
    path = pcap(tmp_path, sending_node_capture())
    report = analyze_json(path)
    assert report["capture"]["offload_frames"] == 2          # A's SYN and ACK: partial sums
    assert report["mtu"]["sizes_reliable"] is True
    for finding_id in ("mtu.outer-fragmented", "mtu.inner-too-big"):
        assert (the(report, finding_id)["severity"], the(report, finding_id)["reliable"]) == ("error", True)
    assert report["verdict"].startswith("PROBLEM")
    offload = the(report, "capture.offload")
    assert offload["summary"].startswith("2 partially checksummed packets (tx checksum offload): none is larger "
                                         "than the link carries")
    assert run(path, "-q", "--fail-on", "error").exit_code == 1


def test_partial_checksums_analysed_with_a_healthy_capture(tmp_path):
    broken = pcap(tmp_path, sending_node_capture(), name="broken.pcap")
    healthy = pcap(tmp_path, healthy_conversation(), name="healthy.pcap")
    report = pcapdiag.analyze([healthy, broken])
    assert report.mtu["sizes_reliable"] is True
    assert {"mtu.outer-fragmented", "mtu.inner-too-big"} <= {f["id"] for f in report.findings_at_or_above("error")}


def test_near_miss_an_aggregate_still_makes_sizes_unreliable(tmp_path):
    """A partially checksummed frame larger than the link (a GSO aggregate: 3 MSS in one 4270-byte outer
    packet, never on the wire at that size) still marks sizes unreliable."""
    aggregate = a_to_b(data_segment(4220), checksum="partial")
    report = analyze_json(pcap(tmp_path, healthy_conversation() + [aggregate]))
    assert report["mtu"]["sizes_reliable"] is False
    assert "1 GSO/GRO/TSO super-frames or partially checksummed packets" in the(report, "capture.offload")["summary"]
    assert {f["severity"] for f in report["findings"]} == {"info"}
