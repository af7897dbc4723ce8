"""Kubernetes names and cross-checks: the real analysis of sample_pcaps/vxlan-flannel-8472.pcap held
against a kubectl dump of its cluster (tests/clusters/flannel-8472.json), consistent and with one
mistake each; and every kind of bad dump named in one line."""
from __future__ import annotations

import copy
import gzip
import io
import json
import sys

import pytest
from clusters import kubectl
from conftest import SAMPLES

import pcapdiag
from pcapdiag.cluster import (FINDINGS, ClusterError, annotate, cluster_from_documents, cross_check, expectations,
                              load_cluster, text_lines)
from pcapdiag.check import KEYS, check_report, parse_expectations

CAPTURE = SAMPLES / "vxlan-flannel-8472.pcap"
TRUTH = json.loads((SAMPLES / "truth.json").read_text())


@pytest.fixture(scope="module")
def report():
    return pcapdiag.analyze(str(CAPTURE)).to_dict()


def cluster_of(dump):
    return cluster_from_documents(("dump.json", dump))


def truth_names(capture="vxlan-flannel-8472.pcap", namespace="lab"):
    """address -> expected name: node names from truth.json, pods as tools/make_samples.py names them
    (pod k of node n{i} is n{i}p{k}, listed in that order)."""
    names = {}
    for address, node in TRUTH[capture]["nodes"].items():
        names[address] = node["name"]
        for k, pod in enumerate(node["pods"], 1):
            names[pod] = f"{namespace}/{node['name']}p{k}"
    return names


# -- names -----------------------------------------------------------------------------

def test_every_node_pod_and_flow_is_named(report):
    named = annotate(report, load_cluster(kubectl.FLANNEL_8472))
    expected = truth_names()
    assert [n["name"] for n in named["nodes"]] == [expected[n["ip"]] for n in named["nodes"]] == ["n1", "n2", "n3"]
    for node in named["nodes"]:
        assert node["pods_named"] == [expected[pod] for pod in node["pods"]]
        assert len(node["pods"]) == 3
    assert len(named["flows"]) == len(report["flows"]) > 0
    for flow in named["flows"]:
        assert flow["src_name"] == expected[flow["src"]] and flow["dst_name"] == expected[flow["dst"]]
        assert flow["outer_src_name"] == expected[flow["outer_src"]]
        assert flow["outer_dst_name"] == expected[flow["outer_dst"]]
    assert named["cluster"] == {"files": [str(kubectl.FLANNEL_8472)], "nodes": 3, "pods": 12, "services": 2,
                                "not_in_capture": []}


def test_annotate_only_adds_fields(report):
    before = copy.deepcopy(report)
    named = annotate(report, load_cluster(kubectl.FLANNEL_8472))
    assert report == before, "the input report is left as it was"
    added = {"nodes": {"name", "pods_named"}, "flows": {"src_name", "dst_name", "outer_src_name", "outer_dst_name"}}
    assert set(named) - set(report) == {"cluster"}
    for table, keys in added.items():
        for old, new in zip(report[table], named[table]):
            assert {k: v for k, v in new.items() if k not in keys} == old


def test_lookups_name_nodes_pods_services_and_host_network_pods():
    cluster = load_cluster(kubectl.FLANNEL_8472)
    assert cluster.name("192.168.50.12") == "n2"             # also kube-flannel's hostNetwork pod address
    assert cluster.lookup("192.168.50.12").role == "flannel public-ip"
    assert cluster.name("10.244.3.4") == "lab/n3p3"
    assert cluster.lookup("10.244.3.4").node == "n3" and cluster.lookup("10.244.3.4").role == "StatefulSet/n3p"
    assert cluster.name("10.96.0.1") == "default/kubernetes" and cluster.lookup("10.96.0.1").kind == "service"
    assert cluster.name("10.244.2.0") == "n2"                # flannel.1 takes the subnet's first address
    assert cluster.name("10.244.9.9") is None and cluster.name("not an address") is None


def test_findings_evidence_gets_names():
    report = pcapdiag.analyze(str(SAMPLES / "vxlan-mtu-broken.pcap")).to_dict()
    truth = TRUTH["vxlan-mtu-broken.pcap"]
    start = kubectl.datetime.fromisoformat(report["capture"]["start"].replace("Z", "+00:00"))
    dump = kubectl.build_dump(
        [(n["name"], ip, n["pod_cidr"], kubectl.flannel_annotations(ip, n["vtep_mac"]))
         for ip, n in truth["nodes"].items()],
        [("lab", f"{n['name']}p{k}", n["name"], pod) for ip, n in truth["nodes"].items()
         for k, pod in enumerate(n["pods"], 1)], start)
    cluster = cluster_of(dump)
    named = annotate(report, cluster)
    fragmented = next(f for f in named["findings"] if f["id"] == "mtu.inner-fragmented")
    # "10.244.1.2 > 10.244.2.2 (8 fragments, vxlan via 192.168.90.11)"
    assert fragmented["evidence"]["names"]["10.244.1.2"] == "lab/n1p1"
    assert fragmented["evidence"]["names"]["192.168.90.11"] == "n1"
    assert "10.244.1.0" not in fragmented["evidence"]["names"], "a CIDR in the summary is no address"
    assert cross_check(report, cluster) == []


def test_text_lines_put_names_beside_addresses(report):
    dump = kubectl.flannel_dump()
    dump["items"].append(copy.deepcopy(kubectl.item(dump, "Node", "n3")))
    dump["items"][-1]["metadata"]["name"] = "n4"
    dump["items"][-1]["status"]["addresses"][0]["address"] = "192.168.50.14"
    dump["items"][-1]["metadata"]["annotations"]["flannel.alpha.coreos.com/public-ip"] = "192.168.50.14"
    lines = text_lines(report, cluster_of(dump))
    assert lines[0] == "Cluster (4 nodes, 12 pods, 2 services from dump.json)"
    row = next(line for line in lines if line.startswith("192.168.50.11"))
    assert row.split()[:5] == ["192.168.50.11", "n1", "flannel", "vxlan", "VNI"]
    assert "10.244.1.2 lab/n1p1, 10.244.1.3 lab/n1p2, 10.244.1.4 lab/n1p3" in row
    assert lines[-1] == "Not in the capture: n4 (192.168.50.14)"


# -- cross-checks ------------------------------------------------------------------------

def test_consistent_pair_is_silent(report):
    assert cross_check(report, load_cluster(kubectl.FLANNEL_8472)) == []


def test_a_report_object_is_taken_as_its_json(report):
    cluster = load_cluster(kubectl.FLANNEL_8472)
    analysed = pcapdiag.analyze(str(CAPTURE))
    assert annotate(analysed, cluster)["nodes"] == annotate(report, cluster)["nodes"]
    assert cross_check(analysed, cluster) == [] and text_lines(analysed, cluster) == text_lines(report, cluster)


def findings_of(report, dump) -> dict:
    found = cross_check(report, cluster_of(dump))
    for finding in found:
        assert set(finding) == {"id", "severity", "summary", "count", "evidence", "fix", "reliable"}
        assert finding["id"] in FINDINGS and finding["count"] > 0 and finding["summary"] and finding["fix"]
        json.dumps(finding)   # JSON-ready
    return {f["id"]: f for f in found}


def test_stale_vtep_mac(report):
    found = findings_of(report, kubectl.set_vtep_mac(kubectl.flannel_dump(), "n2", "6e:7f:00:00:01:99"))
    assert list(found) == ["cluster.stale-vtep-mac"]
    finding = found["cluster.stale-vtep-mac"]
    assert finding["severity"] == "error" and finding["count"] == 1
    assert finding["evidence"]["nodes"] == [{"node": "n2", "address": "192.168.50.12",
                                             "annotated_vtep_mac": "6e:7f:00:00:01:99",
                                             "seen_macs": ["6e:7f:00:00:01:02"]}]
    assert "6e:7f:00:00:01:99" in finding["summary"] and "n2" in finding["fix"]


def test_pod_on_wrong_node(report):
    found = findings_of(report, kubectl.move_pod(kubectl.flannel_dump(), "n1p1", "n2"))
    assert list(found) == ["cluster.pod-on-wrong-node"]
    finding = found["cluster.pod-on-wrong-node"]
    assert finding["severity"] == "error" and finding["count"] == 1
    assert finding["evidence"]["pods"] == [{"address": "10.244.1.2", "pod": "lab/n1p1", "cluster_node": "n2",
                                            "cluster_node_address": "192.168.50.12", "seen_behind": "192.168.50.11",
                                            "seen_node": "n1"}]
    assert finding["evidence"]["names"] == {"10.244.1.2": "lab/n1p1", "192.168.50.11": "n1"}


def test_removed_node_still_routed_to(report):
    found = findings_of(report, kubectl.drop_node(kubectl.flannel_dump(), "n3"))
    # its pods went with it, so their addresses are unknown too
    assert list(found) == ["cluster.unknown-node", "cluster.unknown-address"]
    unknown = found["cluster.unknown-node"]
    assert unknown["severity"] == "warning"
    [row] = unknown["evidence"]["addresses"]
    assert row["address"] == "192.168.50.13" and row["peers"] == ["192.168.50.11", "192.168.50.12"]
    assert row["peer_names"] == ["n1", "n2"]
    assert unknown["count"] == row["packets"] == sum(
        f["packets"] for f in report["flows"] if "192.168.50.13" in (f["outer_src"], f["outer_dst"]))
    addresses = found["cluster.unknown-address"]["evidence"]["addresses"]
    assert [a["address"] for a in addresses] == TRUTH["vxlan-flannel-8472.pcap"]["nodes"]["192.168.50.13"]["pods"]
    assert {a["in_pod_cidr_of"] for a in addresses} == {None}


@pytest.mark.parametrize("backend", ["ipip", "host-gw", "udp"])
def test_backend_type_differs_from_the_wire(report, backend):
    found = findings_of(report, kubectl.set_backend_type(kubectl.flannel_dump(), backend))
    assert list(found) == ["cluster.backend-mismatch"]
    finding = found["cluster.backend-mismatch"]
    assert finding["severity"] == "error"
    assert [r["node"] for r in finding["evidence"]["nodes"]] == ["n1", "n2", "n3"]
    assert finding["count"] == sum(f["packets"] for f in report["flows"] if f["encap"] == "vxlan")
    assert all(set(r["seen_classes"]) == {"vxlan"} for r in finding["evidence"]["nodes"])
    assert f"flannel {backend}" in finding["summary"] and "vxlan" in finding["summary"]


def test_backend_mismatch_on_one_node_and_on_the_vni(report):
    one = findings_of(report, kubectl.set_backend_type(kubectl.flannel_dump(), "host-gw", nodes={"n2"}))
    assert [r["node"] for r in one["cluster.backend-mismatch"]["evidence"]["nodes"]] == ["n2"]
    vni = findings_of(report, kubectl.set_vni(kubectl.flannel_dump(), 2))
    assert list(vni) == ["cluster.backend-mismatch"]
    assert {r["seen_vnis"] == [1] and r["configured_vni"] == 2 for r in vni["cluster.backend-mismatch"]["evidence"]
            ["nodes"]} == {True}
    assert "VNI 2" in vni["cluster.backend-mismatch"]["summary"]


def test_pod_outside_its_nodes_cidr(report):
    found = findings_of(report, kubectl.set_pod_cidr(kubectl.flannel_dump(), "n3", "10.244.30.0/24"))
    assert list(found) == ["cluster.pod-outside-cidr"]
    finding = found["cluster.pod-outside-cidr"]
    assert finding["severity"] == "warning" and finding["count"] == 3
    assert [(p["pod"], p["node"], p["node_pod_cidrs"]) for p in finding["evidence"]["pods"]] == \
        [(f"lab/n3p{k}", "n3", ["10.244.30.0/24"]) for k in (1, 2, 3)]


def test_pod_missing_from_the_dump(report):
    found = findings_of(report, kubectl.drop_pod(kubectl.flannel_dump(), "n3p2"))
    assert list(found) == ["cluster.unknown-address"]
    finding = found["cluster.unknown-address"]
    assert finding["severity"] == "info"
    assert finding["evidence"]["addresses"] == [{"address": "10.244.3.3", "packets": sum(
        f["packets"] for f in report["flows"] if "10.244.3.3" in (f["src"], f["dst"])),
        "seen_behind": ["192.168.50.13"], "in_pod_cidr_of": "n3"}]


def test_dump_from_after_the_capture(report):
    assert report["capture"]["end"].startswith("2026-11-28T07:32:36")
    found = findings_of(report, kubectl.start_pod_at(kubectl.flannel_dump(), "n2p1", "2026-11-28T09:00:00Z"))
    assert list(found) == ["cluster.stale-dump"]
    finding = found["cluster.stale-dump"]
    assert finding["severity"] == "warning", "its address is in the capture: its name may be wrong"
    assert finding["evidence"]["started_after_capture"] == [
        {"pod": "lab/n2p1", "started": "2026-11-28T09:00:00Z", "addresses_on_wire": ["10.244.2.2"]}]
    quiet = findings_of(report, kubectl.start_pod_at(kubectl.flannel_dump(), "kube-flannel-ds-xk2pq",
                                                     "2026-11-28T09:00:00Z"))
    assert quiet["cluster.stale-dump"]["severity"] == "info", "a host-network pod names no pod address"


def test_dump_from_long_before_the_capture(report):
    found = findings_of(report, kubectl.age(kubectl.flannel_dump(), days=2))
    assert list(found) == ["cluster.stale-dump"]
    finding = found["cluster.stale-dump"]
    assert finding["severity"] == "info" and finding["evidence"]["newest_in_dump"] == "2026-11-26T07:31:13Z"
    assert "48.0 h before" in finding["summary"]


# -- expectations ------------------------------------------------------------------------

def test_expectations_from_the_cluster_agree_with_the_capture(report):
    expected = expectations(load_cluster(kubectl.FLANNEL_8472))
    truth = TRUTH["vxlan-flannel-8472.pcap"]
    assert expected == {
        "nodes": 3, "node_addresses": sorted(truth["nodes"]),
        "pod_cidrs": {ip: [n["pod_cidr"]] for ip, n in truth["nodes"].items()},
        "encap": ["vxlan"], "vni": [truth["vni"]],
        "node_names": {ip: n["name"] for ip, n in truth["nodes"].items()}}
    # everything but node_names is already a key of the expectations file, and holds for the capture
    assert set(expected) - set(KEYS) == {"node_names"}
    checked = check_report(report, parse_expectations({k: v for k, v in expected.items() if k in KEYS}))
    assert [r.name for r in checked if not r.passed] == []


# -- reading dumps -------------------------------------------------------------------------

def test_one_file_per_kind_gzip_and_the_api_lists(tmp_path):
    dump = kubectl.flannel_dump()
    paths = []
    for kind in ("Node", "Pod", "Service"):
        path = tmp_path / f"{kind.lower()}s.json.gz"
        # the API's own NodeList/PodList/ServiceList leave each item's kind out
        entries = [{k: v for k, v in i.items() if k != "kind"} for i in kubectl.items(dump, kind)]
        path.write_bytes(gzip.compress(json.dumps({"apiVersion": "v1", "kind": f"{kind}List",
                                                   "items": entries}).encode()))
        paths.append(path)
    single = tmp_path / "n1.json"
    single.write_text(json.dumps(kubectl.item(dump, "Node", "n1")))
    split, whole = load_cluster(*paths), load_cluster(kubectl.FLANNEL_8472)
    assert (split.nodes, split.pods, split.services) == (whole.nodes, whole.pods, whole.services)
    assert list(load_cluster(single).nodes) == ["n1"]


def test_stdin_dump(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(kubectl.FLANNEL_8472.read_bytes()))))
    cluster = load_cluster("-")
    assert list(cluster.nodes) == ["n1", "n2", "n3"] and cluster.sources == ("-",)


def test_yaml_dump(tmp_path):
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(kubectl.flannel_dump()))
    assert load_cluster(path).nodes == load_cluster(kubectl.FLANNEL_8472).nodes


def test_yaml_without_pyyaml_is_named(tmp_path, monkeypatch):
    path = tmp_path / "cluster.yaml"
    path.write_text("apiVersion: v1\nkind: List\nitems: []\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ClusterError, match=r"cluster.yaml: not JSON, and PyYAML is not installed"):
        load_cluster(path)


def node_without_name():
    dump = kubectl.flannel_dump()
    del kubectl.items(dump, "Node")[1]["metadata"]["name"]
    return json.dumps(dump)


def edited(kind, name, change):
    dump = kubectl.flannel_dump()
    change(kubectl.item(dump, kind, name))
    return json.dumps(dump)


BAD = [
    ("empty", b"", r"empty file"),
    ("binary", b"\x00\xff\xfe\x01garbage", r"not JSON or YAML text \(binary data\)"),
    ("broken json", b'{"kind": "List", "items": [', r"not valid JSON \(line 1 column 28"),
    ("not kubectl", b'[{"name": "n1"}]', r"not kubectl output \(no \"kind\" at the top\)"),
    ("other kinds", json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}]}).encode(),
     r"holds only ConfigMap, Deployment, no Node, Pod or Service"),
    ("empty list", b'{"apiVersion": "v1", "kind": "List", "items": []}', r"an empty list"),
    ("no items", b'{"apiVersion": "v1", "kind": "PodList"}', r"a PodList without an \"items\" list"),
    ("node without name", node_without_name().encode(), r"item 2 \(Node\): metadata.name is missing"),
    ("bad pod address", edited("Pod", "n1p2", lambda p: p["status"].update(podIP="10.244.1.300")).encode(),
     r"\(Pod n1p2\): status.podIP '10.244.1.300' is not an IP address"),
    ("bad backend-data", edited("Node", "n2", lambda n: n["metadata"]["annotations"].update(
        {"flannel.alpha.coreos.com/backend-data": "{VNI: 1"})).encode(),
     r"\(Node n2\): annotation flannel.alpha.coreos.com/backend-data is not JSON"),
    ("bad cidr", edited("Node", "n3", lambda n: n["spec"].update(podCIDRs=["10.244.3.0/33"])).encode(),
     r"\(Node n3\): spec.podCIDRs '10.244.3.0/33' is not a CIDR"),
    ("bad time", edited("Pod", "n2p2", lambda p: p["status"].update(startTime="yesterday")).encode(),
     r"\(Pod n2p2\): status.startTime 'yesterday' is not a time"),
    ("pod without namespace", edited("Pod", "n3p3", lambda p: p["metadata"].pop("namespace")).encode(),
     r"\(Pod n3p3\): metadata.namespace is missing"),
    ("addresses not a list", edited("Node", "n1", lambda n: n["status"].update(addresses="192.168.50.11")).encode(),
     r"\(Node n1\): status.addresses is not a list"),
]


@pytest.mark.parametrize("content,message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_dumps_are_named_in_one_line(tmp_path, content, message):
    path = tmp_path / "dump.json"
    path.write_bytes(content)
    with pytest.raises(ClusterError, match=message) as caught:
        load_cluster(path)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(path))


def test_unreadable_inputs_are_named(tmp_path):
    for path, message in ((tmp_path / "missing.json", "no such file"), (tmp_path, "is a directory")):
        with pytest.raises(ClusterError, match=message):
            load_cluster(path)
    damaged = tmp_path / "cut.json.gz"
    damaged.write_bytes(gzip.compress(kubectl.FLANNEL_8472.read_bytes())[:200])
    with pytest.raises(ClusterError, match="damaged gzip"):
        load_cluster(damaged)
    with pytest.raises(ClusterError, match="no cluster dump given"):
        load_cluster()


def test_text_that_is_no_dump_is_named(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("the cluster has three nodes\n")
    expected = "not kubectl output" if _has_yaml() else "PyYAML is not installed"
    with pytest.raises(ClusterError, match=expected):
        load_cluster(path)


def _has_yaml():
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True
