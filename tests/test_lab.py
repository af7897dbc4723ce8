"""The lab captures (real kernel traffic between namespace 'nodes') against their answer keys."""
from __future__ import annotations

import ipaddress
import json

import pytest

from conftest import LAB, needs_corpus

SCENARIOS = ["vxlan-flannel", "vxlan-4789", "vxlan-mtu-broken", "vxlan-mtu-outerfrag", "vxlan-flannel-offload",
             "native-bgp", "ipip-userspace", "geneve-userspace"]
HEALTHY = ["vxlan-flannel", "vxlan-4789", "native-bgp", "ipip-userspace", "geneve-userspace"]

pytestmark = needs_corpus


def truth(scenario: str) -> dict:
    return json.loads((LAB / f"{scenario}.truth.json").read_text())


def class_counts(report: dict) -> dict:
    counts: dict = {}
    for entry in report["encapsulation"]:
        counts[entry["type"]] = counts.get(entry["type"], 0) + entry["packets"]
    return counts


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_class_counts_match_tshark(scenario, lab_reports):
    report = lab_reports(f"{scenario}.pcap")
    answer = truth(scenario)
    expected_class = answer["summary"]["encapsulation"]
    expected: dict = {}
    for key, frames in answer["observed_tshark"]["encap_frames"].items():
        if key.startswith("none("):
            name = "native"
        elif key.startswith("outer-ip-fragment"):
            name = expected_class  # a non-first outer fragment belongs to its datagram's class
        else:
            name = key
        expected[name] = expected.get(name, 0) + frames
    counts = class_counts(report)
    counts.pop("non-ip", None)  # ARP: tshark's encap_frames does not count it either
    assert counts == expected
    assert report["capture"]["packets"] == answer["observed_tshark"]["frames"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_nodes_and_pods_match_truth(scenario, lab_reports):
    report = lab_reports(f"{scenario}.pcap")
    node_to_pods = truth(scenario)["summary"]["node_to_pods"]
    nodes = {node["ip"]: node for node in report["nodes"]}
    assert set(nodes) == set(node_to_pods)
    for node_ip, expected in node_to_pods.items():
        assert set(nodes[node_ip]["pods"]) == set(expected["pod_ips_seen_on_underlay"]), node_ip
        # the inferred (or advertised) pod CIDR is the node's real one
        assert expected["pod_cidr"] in nodes[node_ip]["pod_cidrs"], (node_ip, nodes[node_ip]["pod_cidrs"])


def _parse_flow_key(key: str):
    proto, rest = key.split(" ", 1)
    src, dst = rest.split(">")
    src_ip, sport = src.rsplit(":", 1)
    dst_ip, dport = dst.rsplit(":", 1)
    return proto, src_ip, int(sport), dst_ip, int(dport)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_inner_flows_match_tshark(scenario, lab_reports):
    report = lab_reports(f"{scenario}.pcap")
    flows = {(f["proto"], f["src"], f["sport"], f["dst"], f["dport"]): f for f in report["flows"]}
    checked = 0
    for key, observed in truth(scenario)["observed_tshark"]["inner_flows"].items():
        if not key.startswith(("tcp ", "udp ")):
            continue
        flow = flows.get(_parse_flow_key(key))
        assert flow is not None, f"flow {key} missing"
        assert flow["packets"] == observed["packets"], key
        assert flow["max_ip_len"] == observed["max_inner_ip_len"], key
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("scenario", HEALTHY + ["vxlan-flannel-offload"])
def test_overhead_per_packet(scenario, lab_reports):
    report = lab_reports(f"{scenario}.pcap")
    summary = truth(scenario)["summary"]
    if summary["encapsulation"] == "none":
        native = [e for e in report["encapsulation"] if e["type"] == "native"]
        assert native and native[0]["overhead_bytes"] == 0
        return
    [entry] = [e for e in report["encapsulation"] if e["type"] == summary["encapsulation"]]
    assert entry["udp_port"] == summary["udp_dst_port"]
    assert entry["overhead_bytes"] / entry["packets"] == summary["overhead_bytes_per_packet"]
    assert entry["vnis"] == ([summary["vni"]] if summary["vni"] is not None else [])
    assert 0 < entry["overhead_pct"] < 100


def test_native_bgp_nodes_carry_advertised_cidrs(lab_reports):
    report = lab_reports("native-bgp.pcap")
    for node_ip, expected in truth("native-bgp")["summary"]["node_to_pods"].items():
        [node] = [n for n in report["nodes"] if n["ip"] == node_ip]
        assert node["pod_cidr_source"] == "bgp"
        # iBGP full mesh of two nodes: each node's BGP session peer is the other node
        assert node["peers"] == [other for other in truth("native-bgp")["summary"]["node_to_pods"] if other != node_ip]
        assert expected["pod_cidr"] in node["bgp_advertised"]
        for pod in node["pods"]:
            assert ipaddress.ip_address(pod) in ipaddress.ip_network(expected["pod_cidr"])


@pytest.mark.parametrize("scenario", HEALTHY)
def test_healthy_lab_has_no_errors(scenario, lab_reports):
    report = lab_reports(f"{scenario}.pcap")
    assert [f for f in report["findings"] if f["severity"] == "error"] == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_node_pod_cidrs_do_not_overlap(scenario, lab_reports):
    """Each lab node owns its own /24: the inferred (or advertised) CIDRs never overlap."""
    assert lab_reports(f"{scenario}.pcap")["pod_cidr_overlaps"] == []


def test_overlapping_advertised_cidrs_are_reported():
    from pcapdiag.analyzers.topology import _cidr_overlaps

    nodes = [{"ip": "192.168.0.1", "pod_cidrs": ["10.244.0.0/16"]}, {"ip": "192.168.0.2", "pod_cidrs": ["10.244.2.0/24"]},
             {"ip": "192.168.0.3", "pod_cidrs": ["10.245.0.0/24"]}]
    assert _cidr_overlaps(nodes) == [{"nodes": ["192.168.0.1", "192.168.0.2"], "cidrs": ["10.244.0.0/16", "10.244.2.0/24"]}]
