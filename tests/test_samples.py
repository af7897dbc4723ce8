"""pcapdiag on its own shipped sample captures, against the answer key tools/make_samples.py wrote."""
from __future__ import annotations

import json

import pytest

from conftest import SAMPLES, analyze_json

TRUTH = json.loads((SAMPLES / "truth.json").read_text())
UNDERLAY_VIEWS = [name for name, t in TRUTH.items() if t["linktype"] == 1]


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_sample_encapsulation_and_nodes(name):
    truth = TRUTH[name]
    report = analyze_json(SAMPLES / name)
    classes = {e["type"]: e for e in report["encapsulation"]}
    entry = classes[truth["encapsulation"]]
    assert entry["udp_port"] == truth["udp_port"]
    assert entry["vnis"] == ([truth["vni"]] if truth["vni"] is not None else [])
    if truth["encapsulation"] != "native":
        assert entry["overhead_common"] == truth["overhead_per_packet"]
        assert report["mtu"]["overlays"][0]["overlay_mtu"] == truth["tunnel_mtu"]
    nodes = {n["ip"]: n for n in report["nodes"]}
    assert set(nodes) == set(truth["nodes"])
    for node_ip, expected in truth["nodes"].items():
        assert set(nodes[node_ip]["pods"]) <= set(expected["pods"]) and nodes[node_ip]["pods"], node_ip
        assert nodes[node_ip]["pod_cidrs"] == [expected["pod_cidr"]], node_ip
        if "vtep_mac" in expected and name in UNDERLAY_VIEWS:
            assert nodes[node_ip]["macs"] == [expected["vtep_mac"]]


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_sample_verdict_matches_the_fault(name):
    report = analyze_json(SAMPLES / name)
    errors = {f["id"] for f in report["findings"] if f["severity"] == "error"}
    if TRUTH[name]["fault"] is None:
        assert errors == set() and report["verdict"].startswith(("OK", "WARNING"))
    else:
        assert errors & {"mtu.inner-fragmented", "mtu.inner-too-big", "mtu.pmtud-blackhole"}
        assert "set the pod MTU to 1450" in report["verdict"]


def test_node_view_sample_finds_the_black_hole():
    """Pod 10.244.1.4 drops ICMP and keeps sending 1500-byte segments: only the node's -i any view shows it."""
    report = analyze_json(SAMPLES / "vxlan-mtu-broken.node1-any.pcap")
    [blackhole] = [f for f in report["findings"] if f["id"] == "mtu.pmtud-blackhole"]
    assert any(flow["src"] == "10.244.1.4" and flow["reason"] == "after-icmp" and flow["told_mtu"] == 1450
               for flow in blackhole["evidence"]["flows"])
    [icmp] = [f for f in report["findings"] if f["id"] == "mtu.icmp-too-big"]
    assert set(icmp["evidence"]["next_hop_mtus"]) == {1450}
