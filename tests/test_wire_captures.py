"""Several captures given to `analyze` (issue 13 wired in): matched packet by packet, each packet counted once
in the merged report (at its sending node, per view), a "Between captures" section and its findings; one
capture's report is what it was."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import LAB, SAMPLES, needs_corpus, run_cli
from test_findings_minimal import check_contract

import pcapdiag
from pcapdiag.correlate.match import counted_elsewhere
from pcapdiag.report.machine import render_json

MULTI = SAMPLES / "multi"
TRUTH = json.loads((MULTI / "truth.json").read_text())
CAPTURES = [MULTI / name for name in ("node1-eth0.pcap", "node2-eth0.pcap", "node1-any.pcap", "node2-any.pcap")]
PORT = ("--vxlan-port", TRUTH["vxlan_port"])
SINGLE = SAMPLES / "vxlan-4789.pcap"


def flows_of(report: dict) -> dict:
    return {(f["encap"], f["src"], f["sport"], f["dst"], f["dport"], f["proto"]): (f["packets"], f["retransmits"])
            for f in report["flows"]}


@pytest.fixture(scope="module")
def merged():
    result = run_cli("analyze", *CAPTURES, *PORT, "--format", "json", "-q")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def alone():
    return {path.name: pcapdiag.analyze(path, vxlan_ports=[TRUTH["vxlan_port"]]).to_dict() for path in CAPTURES}


def test_lab_captures_give_the_correlation(merged):
    check_contract(merged)
    correlation = merged["correlation"]
    assert set(correlation) == {"vantage_points", "paths", "journeys", "packets"}
    nodes = {TRUTH["nodes"][n]["ip"] for n in ("node1", "node2")}
    assert {p["node"] for p in correlation["vantage_points"]} == nodes
    found = {f["id"]: f for f in merged["findings"]}
    assert found["path.loss-between-captures"]["count"] == TRUTH["kernel"]["dropped_node1_to_node2"]
    assert found["node.dropped-inside"]["count"] == TRUTH["kernel"]["dropped_inside_node1"]
    assert found["path.rewritten"]["count"] == TRUTH["kernel"]["rewritten_dscp_node2_to_node1"]
    for finding in (found[i] for i in ("path.loss-between-captures", "node.dropped-inside", "path.rewritten")):
        assert finding["counts_what"] == "packets" and finding["evidence"]["text"][0].startswith("flow: ")
    assert merged["verdict"].startswith("PROBLEM: packets dropped inside a node")
    assert [f["id"] for f in merged["findings"][:2]] == ["node.dropped-inside", "path.loss-between-captures"]


def test_each_packet_counted_once_at_its_sender(merged, alone):
    """Every flow counts as in the capture at its sending node, in each view: the tunnel view as on the
    sender's eth0, the pod-side view as in the sender's `-i any` capture (no packet twice, none lost)."""
    flows = flows_of(merged)
    sender = {TRUTH["nodes"]["node1"]["pod"]: "node1", TRUTH["nodes"]["node2"]["pod"]: "node2"}
    for (encap, src, *rest), counts in flows.items():
        if src not in sender:
            continue        # a bridge's multicast report, seen by one capture only
        at = f"{sender[src]}-eth0.pcap" if encap == "vxlan" else f"{sender[src]}-any.pcap"
        assert flows_of(alone[at])[(encap, src, *rest)] == counts
    vxlan = {e["type"]: e["packets"] for e in merged["encapsulation"]}["vxlan"]
    assert vxlan == sum(TRUTH["tshark"][d]["sent"] for d in ("node1->node2", "node2->node1"))


def test_between_captures_section():
    text = run_cli("analyze", *CAPTURES, *PORT, "-q").stdout
    section = text.split("\nBetween captures\n", 1)[1]
    assert "node1-eth0.pcap -> node2-eth0.pcap" in section and "dropped inside node 192.168.77.11" in section
    assert "Between captures" not in run_cli("analyze", CAPTURES[0], *PORT, "-q").stdout


def test_the_same_file_twice_is_the_file_alone():
    one = render_json(pcapdiag.analyze(SINGLE))
    assert render_json(pcapdiag.analyze([SINGLE, SINGLE])) == one
    assert "correlation" not in json.loads(one)


def test_a_copy_of_a_capture_adds_only_its_non_ip_frames(tmp_path):
    copy = tmp_path / "copy.pcap"
    shutil.copyfile(SINGLE, copy)
    one = pcapdiag.analyze(SINGLE).to_dict()
    two = pcapdiag.analyze([SINGLE, copy]).to_dict()
    for key in ("flows", "nodes", "node_pairs", "findings", "mtu", "verdict"):
        assert two[key] == one[key], key
    non_ip = {e["type"]: e["packets"] for e in one["encapsulation"]}["non-ip"]
    assert two["capture"]["packets"] == one["capture"]["packets"] + non_ip     # ARP has no identity to match
    assert [p["counted_packets"] for p in two["correlation"]["vantage_points"]] == \
        [p["ip_packets"] for p in two["correlation"]["vantage_points"][:1]] + [0]


@needs_corpus
def test_broken_mtu_lab_underlay_and_any_capture_no_longer_double_count():
    """Merged without matching, the two reported 116 retransmitted full-size segments; the node1 `-i any`
    capture is at the sender of every resent segment and sees both views: the pair counts what it counts."""
    underlay, any_capture = LAB / "vxlan-mtu-broken.pcap", LAB / "vxlan-mtu-broken.node1-any.pcap"

    def resends(report):
        return [sum(f[key] or 0 for f in report["flows"]) for key in ("retransmits", "reordered")]

    both = pcapdiag.analyze([underlay, any_capture]).to_dict()
    assert resends(both) == resends(pcapdiag.analyze(any_capture).to_dict())
    assert resends(both)[0] < 116 and "116 full-size" not in json.dumps(both["findings"])


def test_processes_and_stdin_give_the_same_report(merged):
    pooled = run_cli("analyze", *CAPTURES, *PORT, "--format", "json", "-q", "--jobs", "2")
    assert json.loads(pooled.stdout) == merged
    piped = run_cli("analyze", CAPTURES[0], "-", *CAPTURES[2:], *PORT, "--format", "json", "-q",
                    input=CAPTURES[1].read_bytes())
    piped = json.loads(piped.stdout)
    assert piped["flows"] == merged["flows"]
    assert json.dumps(piped["findings"]) == json.dumps(merged["findings"]).replace(CAPTURES[1].name, "-")
    assert piped["capture"]["file"] == "node1-eth0.pcap, -, node1-any.pcap, node2-any.pcap"


def test_counted_elsewhere_keeps_each_view_where_it_counts():
    """Group 0: a tunnelled packet seen at its sender (capture 1) and the receiver (0), plainly in capture 0
    too; group 1: a plain packet in captures 0 and 1."""
    groups = {"gid": np.array([0, 0, 0, 1, 1]), "cap": np.array([0, 1, 0, 1, 0], dtype=np.int16),
              "stage": np.array([2, 2, 0, 0, 0], dtype=np.int8), "outer_src": np.array([7, 7, -1, -1, -1]),
              "ts": np.array([1.0, 0.9, 1.1, 2.0, 2.1])}
    assert counted_elsewhere(groups, [5, 7]).tolist() == [True, False, False, True, False]


def test_unreadable_second_capture_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    result = run_cli("analyze", SINGLE, bad, "-q")
    assert result.exit_code == 2 and result.stderr.startswith("pcapdiag: error: ") and \
        len(result.stderr.splitlines()) == 1
