"""Kubernetes names on the lab captures of $PCAPDIAG_CORPUS/lab (skipped without it): a kubectl dump of
each lab cluster, built from its truth.json in the CNI's own annotations (flannel, Calico, Cilium, or
none for the Antrea-like Geneve lab), names every node, pod and flow of the real analysis, and the
consistent pair raises no cluster finding."""
from __future__ import annotations

import json
from datetime import datetime

import pytest
from clusters import kubectl
from conftest import LAB

import pcapdiag
from pcapdiag.cluster import annotate, cluster_from_documents, cross_check, expectations

needs_lab = pytest.mark.skipif(not LAB.is_dir(), reason=f"lab captures not found in {LAB}")


def annotations_for(scenario, node):
    """The node annotations the scenario's CNI would write."""
    if "flannel" in scenario or "mtu" in scenario:
        return kubectl.flannel_annotations(node["underlay_ip"], node["vtep_mac"])
    if scenario == "vxlan-4789":   # Cilium-like: its pod CIDR annotation and health endpoint
        health = node["pod_cidr"].rsplit(".", 1)[0] + ".250"
        return kubectl.cilium_annotations(node["pod_cidr"], health)
    if scenario == "ipip-userspace":
        return kubectl.calico_annotations(node["underlay_ip"], node["tunnel_ip"])
    if scenario == "native-bgp":
        return kubectl.calico_annotations(node["underlay_ip"])
    return {}   # geneve-userspace: Antrea keeps its state elsewhere; spec.podCIDR only


SCENARIOS = [("vxlan-flannel", "vxlan-flannel.pcap"), ("vxlan-flannel", "vxlan-flannel.node2-any.pcap"),
             ("vxlan-flannel-offload", "vxlan-flannel-offload.pcap"), ("vxlan-mtu-broken", "vxlan-mtu-broken.pcap"),
             ("vxlan-mtu-outerfrag", "vxlan-mtu-outerfrag.pcap"), ("vxlan-4789", "vxlan-4789.pcap"),
             ("vxlan-4789", "vxlan-4789.pcapng"), ("ipip-userspace", "ipip-userspace.pcap"),
             ("native-bgp", "native-bgp.pcap"), ("geneve-userspace", "geneve-userspace.pcap")]


@pytest.fixture(scope="module")
def analysed():
    cache = {}

    def get(capture):
        if capture not in cache:
            cache[capture] = pcapdiag.analyze(str(LAB / capture)).to_dict()
        return cache[capture]
    return get


def lab_pair(scenario, report, annotations=annotations_for):
    """The lab's truth, a cluster dumped from it and {address: expected name}."""
    truth = json.loads((LAB / f"{scenario}.truth.json").read_text())
    start = datetime.fromisoformat(report["capture"]["start"].replace("Z", "+00:00"))
    dump = kubectl.build_dump(
        [(n["name"], n["underlay_ip"], n["pod_cidr"], annotations(scenario, n)) for n in truth["nodes"]],
        [("lab", p["name"], p["node"], p["ip"]) for p in truth["pods"]], start)
    names = {n["underlay_ip"]: n["name"] for n in truth["nodes"]}
    if "flannel" in str(annotations(scenario, truth["nodes"][0])):   # flannel.1 and cni0 are named too
        names.update({n[key]: n["name"] for n in truth["nodes"] for key in ("vtep_ip", "cni0_ip")})
    names.update({p["ip"]: f"lab/{p['name']}" for p in truth["pods"]})
    return truth, cluster_from_documents((f"{scenario}.json", dump)), names


@needs_lab
@pytest.mark.parametrize("scenario,capture", SCENARIOS, ids=[c for _, c in SCENARIOS])
def test_lab_capture_named_and_consistent(analysed, scenario, capture):
    report = analysed(capture)
    truth, cluster, names = lab_pair(scenario, report)
    named = annotate(report, cluster)
    assert {n["ip"]: n["name"] for n in named["nodes"]} == {n["ip"]: names[n["ip"]] for n in report["nodes"]}
    for node in named["nodes"]:
        assert node["pods_named"] == [names[pod] for pod in node["pods"]]
    assert named["flows"], "every lab capture has pod traffic"
    for flow in named["flows"]:
        for address, name in (("src", "src_name"), ("dst", "dst_name"), ("outer_src", "outer_src_name"),
                              ("outer_dst", "outer_dst_name")):
            if flow[address] is not None:
                assert flow[name] == names.get(flow[address]), (address, flow)
    pods_on_wire = {p for n in truth["summary"]["node_to_pods"].values() for p in n["pod_ips_seen_on_underlay"]}
    assert pods_on_wire <= {f[k] for f in named["flows"] for k in ("src", "dst")}
    assert cross_check(report, cluster) == []


@needs_lab
def test_lab_expectations_hold_for_the_capture(analysed):
    from pcapdiag.check import KEYS, check_report, parse_expectations

    report = analysed("vxlan-flannel.pcap")
    truth, cluster, _ = lab_pair("vxlan-flannel", report)
    expected = expectations(cluster)
    assert expected["node_names"] == {n["underlay_ip"]: n["name"] for n in truth["nodes"]}
    assert expected["encap"] == ["vxlan"] and expected["vni"] == [1]
    results = check_report(report, parse_expectations({k: v for k, v in expected.items() if k in KEYS}))
    assert [r.line() for r in results if not r.passed] == []


@needs_lab
def test_lab_stale_vtep_mac_after_a_node_was_recreated(analysed):
    """The flannel outage: node2's flannel.1 was recreated with a new MAC, its annotation still the old."""
    def stale(scenario, node):
        annotations = annotations_for(scenario, node)
        return kubectl.flannel_annotations(node["underlay_ip"], "de:ad:be:ef:00:02") \
            if node["name"] == "node2" else annotations
    truth, cluster, _ = lab_pair("vxlan-flannel", analysed("vxlan-flannel.pcap"), stale)
    found = cross_check(analysed("vxlan-flannel.pcap"), cluster)
    assert [f["id"] for f in found] == ["cluster.stale-vtep-mac"]
    node2 = next(n for n in truth["nodes"] if n["name"] == "node2")
    assert found[0]["evidence"]["nodes"] == [{"node": "node2", "address": node2["underlay_ip"],
                                              "annotated_vtep_mac": "de:ad:be:ef:00:02",
                                              "seen_macs": [node2["vtep_mac"]]}]


@needs_lab
def test_lab_calico_vxlan_configured_but_ipip_on_the_wire(analysed):
    def vxlan(scenario, node):
        return {"projectcalico.org/IPv4Address": f"{node['underlay_ip']}/24",
                "projectcalico.org/IPv4VXLANTunnelAddr": node["tunnel_ip"]}
    report = analysed("ipip-userspace.pcap")
    _, cluster, _ = lab_pair("ipip-userspace", report, vxlan)
    found = cross_check(report, cluster)
    assert [f["id"] for f in found] == ["cluster.backend-mismatch"]
    assert {r["configured"]: set(r["seen_classes"]) for r in found[0]["evidence"]["nodes"]} == \
        {"calico vxlan": {"ipip"}}


@needs_lab
def test_lab_cilium_pod_cidr_annotation_wins_over_spec(analysed):
    """Cilium allocates from its annotated CIDR; a pod outside it is flagged although spec.podCIDR holds it."""
    def moved(scenario, node):
        annotations = annotations_for(scenario, node)
        if node["name"] == "node1":
            annotations["network.cilium.io/ipv4-pod-cidr"] = "10.99.0.0/24"
        return annotations
    report = analysed("vxlan-4789.pcap")
    truth, cluster, _ = lab_pair("vxlan-4789", report, moved)
    found = cross_check(report, cluster)
    assert [f["id"] for f in found] == ["cluster.pod-outside-cidr"]
    seen = set(truth["summary"]["node_to_pods"][truth["nodes"][0]["underlay_ip"]]["pod_ips_seen_on_underlay"])
    assert {p["address"] for p in found[0]["evidence"]["pods"]} == seen
    assert {p["node_pod_cidrs"][0] for p in found[0]["evidence"]["pods"]} == {"10.99.0.0/24"}
