"""pcapdiag.correlate on the lab captures of sample_pcaps/multi (tools/correlate_lab.py): the numbers
against the kernel's own counters, tshark's and an independent dpkt count."""
from __future__ import annotations

import json
import os
import struct

import dpkt
import numpy as np
import pytest

from pcapdiag.capture import CaptureError
from pcapdiag.correlate import correlate, correlation_findings, correlation_json, counted_copies, render_text
from pcapdiag.correlate import match

HERE = os.path.join(os.path.dirname(__file__), "..", "sample_pcaps", "multi")
TRUTH = json.load(open(os.path.join(HERE, "truth.json")))
NODE1, NODE2 = TRUTH["nodes"]["node1"]["ip"], TRUTH["nodes"]["node2"]["ip"]
PORTS = {TRUTH["vxlan_port"]}
ALL = [os.path.join(HERE, name) for name in ("node1-eth0.pcap", "node2-eth0.pcap", "node1-any.pcap", "node2-any.pcap")]


@pytest.fixture(scope="module")
def lab():
    result = correlate(ALL, vxlan_ports=PORTS)
    return result, correlation_json(result)


def directions(document, from_node, to_node):
    return [d for path in document["paths"] for d in path["directions"]
            if (d["from_node"], d["to_node"]) == (from_node, to_node)]


def tunnel_packets(path):
    """{(inner src, inner dst, IP ID, protocol, TCP seq)} of the VXLAN packets node1 sent, read with dpkt."""
    packets = set()
    with open(path, "rb") as f:
        for _, frame in dpkt.pcap.Reader(f):
            outer = dpkt.ethernet.Ethernet(frame).data
            if not isinstance(outer, dpkt.ip.IP) or outer.src != bytes(map(int, NODE1.split("."))):
                continue
            vxlan_payload = bytes(outer.data)[16:]          # UDP 8 + VXLAN 8
            inner = dpkt.ethernet.Ethernet(vxlan_payload).data
            seq = struct.unpack("!I", bytes(inner.data)[4:8])[0] if inner.p == 6 else None
            packets.add((inner.src, inner.dst, inner.id, inner.p, seq))
    return packets


def test_vantage_points(lab):
    _, document = lab
    nodes = {p["capture"]: p["node"] for p in document["vantage_points"]}
    assert nodes == {"node1-eth0.pcap": NODE1, "node2-eth0.pcap": NODE2, "node1-any.pcap": NODE1,
                     "node2-any.pcap": NODE2}
    any1 = next(p for p in document["vantage_points"] if p["capture"] == "node1-any.pcap")
    assert any1["pods"] == [TRUTH["nodes"]["node1"]["pod"]]
    assert sorted(i["role"] for i in any1["interfaces"]) == ["pod side", "pod side", "underlay", "vtep"]
    same = [p for p in document["paths"] if p["same_node"]]
    assert len(same) == 2 and all(abs(p["clock_offset"]["seconds"]) < 1e-4 for p in same)


def test_loss_per_direction_is_the_kernels(lab):
    _, document = lab
    independent = tunnel_packets(ALL[0]) - tunnel_packets(ALL[1])
    lost = TRUTH["kernel"]["dropped_node1_to_node2"]
    assert len(independent) == lost == TRUTH["tshark"]["node1->node2"]["lost"]
    forward = directions(document, NODE1, NODE2)
    assert len(forward) == 4          # every pair of captures at the two nodes
    for d in forward:
        assert d["lost"] == lost
        assert d["sent"] == TRUTH["tshark"]["node1->node2"]["sent"]
        assert d["received"] == d["sent"] - lost
        assert sum(f["count"] for f in d["lost_flows"]) == lost
    for d in directions(document, NODE2, NODE1):
        assert (d["lost"], d["duplicated"], d["reordered"]) == (0, 0, 0)
        assert d["sent"] == d["received"] == TRUTH["tshark"]["node2->node1"]["sent"]


def test_findings(lab):
    result, document = lab
    findings = correlation_findings(result, document)
    by_id = {}
    for finding in findings:
        by_id.setdefault(finding["id"], []).append(finding)
    loss, = by_id["path.loss-between-captures"]
    assert loss["count"] == TRUTH["kernel"]["dropped_node1_to_node2"]
    assert loss["evidence"]["from_node"] == NODE1 and loss["evidence"]["flows"][0]["flow"]["dst"] == "10.244.2.2"
    rewrite, = by_id["path.rewritten"]
    assert (rewrite["evidence"]["field"], rewrite["evidence"]["before"], rewrite["evidence"]["after"]) == \
        ("outer_dscp", 0, 8)
    assert rewrite["count"] == TRUTH["kernel"]["rewritten_dscp_node2_to_node1"]
    inside, = by_id["node.dropped-inside"]
    assert inside["count"] == TRUTH["kernel"]["dropped_inside_node1"]
    assert inside["evidence"]["node"] == NODE1 and inside["evidence"]["last_stage"] == "pod side"
    assert inside["evidence"]["flows"][0]["flow"]["dport"] == TRUTH["dropped_port"]
    assert "from 10.244.1.2 to 10.244.2.2 were seen on the pod side" in inside["summary"]
    for finding in findings:
        assert set(finding) == {"id", "severity", "summary", "count", "evidence", "fix"}
        assert finding["evidence"]["first_iso"]
    text = render_text(result, document)
    assert text.startswith("Between captures") and "dropped inside node 192.168.77.11" in text
    json.dumps(document)


def test_journeys(lab):
    _, document = lab
    journeys = {j["node"]: j for j in document["journeys"]}
    node1, node2 = journeys[NODE1], journeys[NODE2]
    dropped = TRUTH["kernel"]["dropped_inside_node1"]
    assert node1["leaving"]["seen_at"]["pod side"] - node1["leaving"]["seen_at"]["underlay"] == dropped
    assert node1["leaving"]["seen_at"]["VTEP"] == node1["leaving"]["seen_at"]["underlay"]
    assert node2["stopped"] == []
    assert node2["arriving"]["packets"] == TRUTH["tshark"]["node1->node2"]["received"]


def test_each_packet_counted_once(lab):
    _, document = lab
    assert sum(p["counted_packets"] for p in document["vantage_points"]) == document["packets"]["distinct"]
    # a packet seen at both nodes counts at its sender: all node1 -> node2 tunnel packets in node1-eth0
    node1_eth0 = next(p for p in document["vantage_points"] if p["capture"] == "node1-eth0.pcap")
    assert node1_eth0["counted_packets"] == TRUTH["tshark"]["node1->node2"]["sent"]


def test_counted_copies_rule():
    groups = {"gid": np.array([0, 0, 0, 1, 1]), "cap": np.array([0, 1, 1, 1, 0], dtype=np.int16),
              "stage": np.array([2, 2, 0, 0, 0]), "outer_src": np.array([7, 7, -1, -1, -1]),
              "ts": np.array([1.0, 0.5, 0.6, 2.0, 2.1])}
    # group 0 was sent by node 7 (capture 1's node): capture 1's earliest copy; group 1: no tunnel copy,
    # the first capture given
    assert counted_copies(groups, [3, 7]).tolist() == [False, True, False, False, True]


def shifted_copy(source, target, seconds):
    """The pcap with every record's timestamp moved by seconds (microsecond pcap, little-endian)."""
    data = bytearray(open(source, "rb").read())
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    at = 24
    while at + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, at)
        total = sec * 1_000_000 + usec + round(seconds * 1_000_000)
        struct.pack_into("<II", data, at, total // 1_000_000, total % 1_000_000)
        at += 16 + caplen
    open(target, "wb").write(bytes(data))


def test_clock_offset_recovered(tmp_path, lab):
    _, unshifted = lab
    shifted = str(tmp_path / "node2-eth0.pcap")
    shifted_copy(ALL[1], shifted, 3.5)
    # two eth0 captures alone: which end each is at comes from timing (the round trip is positive one way)
    document = correlation_json(correlate([ALL[0], shifted], vxlan_ports=PORTS))
    path, = document["paths"]
    assert (path["a_node"], path["b_node"]) == (NODE1, NODE2)
    assert abs(path["clock_offset"]["seconds"] - 3.5) < 1e-3
    assert path["clock_offset"]["uncertainty"] < 1e-3
    reference = next(p for p in unshifted["paths"] if (p["a"], p["b"]) == ("node1-eth0.pcap", "node2-eth0.pcap"))
    for mine, truth in zip(path["directions"], reference["directions"]):
        assert (mine["sent"], mine["lost"]) == (truth["sent"], truth["lost"])
        for key in ("p50", "p99", "max"):
            assert abs(mine["delay"][key] - truth["delay"][key]) < 1e-5


def test_small_steps_give_the_same_answer(lab, monkeypatch):
    """Matching in many small steps (a few hundred sightings, tiny batches) forgets nothing and counts
    nothing twice."""
    _, whole = lab
    monkeypatch.setattr(match, "STEP_ROWS", 200)
    document = correlation_json(correlate(ALL, vxlan_ports=PORTS, batch_records=64, window=0.05))
    strip = lambda doc: [[(d["sent"], d["received"], d["lost"], d["duplicated"], d["reordered"])
                          for d in p["directions"]] for p in doc["paths"]]
    assert strip(document) == strip(whole)
    assert document["packets"]["distinct"] == whole["packets"]["distinct"]
    assert [j["stopped"] for j in document["journeys"]] == [j["stopped"] for j in whole["journeys"]]


def test_unreadable_capture(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a capture\n")
    with pytest.raises(CaptureError):
        correlate([ALL[0], str(bad)], vxlan_ports=PORTS)


def test_unrelated_captures_share_nothing():
    """A capture of other traffic (native routing, other nodes) beside one of the lab: no packet in common,
    nothing lost between them (the lab's packets were not sent towards that node), no crash."""
    native = os.path.join(HERE, "..", "native-bgp.pcap")
    result = correlate([ALL[0], native], vxlan_ports=PORTS)
    assert [p.node for p in result.vantage_points] == [None, None] and len(result.notes) == 2   # two-node views
    document = correlation_json(correlate([ALL[0], native], vxlan_ports=PORTS,
                                          nodes={ALL[0]: NODE1, native: "10.130.1.2"}))
    assert len(document["paths"]) == 1
    for path in document["paths"]:
        for d in path["directions"]:
            assert (d["sent"], d["received"], d["lost"]) == (0, 0, 0)
        assert path["clock_offset"] is None
    assert document["packets"]["distinct"] == sum(p["distinct_packets"] for p in document["vantage_points"])
