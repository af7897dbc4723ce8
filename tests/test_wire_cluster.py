"""`--cluster FILE` on analyze, check and baseline, and pcapdiag.analyze(paths, cluster=...) (issue 14 wired
in): names beside addresses in JSON, CSV and text, the cross-checks as findings of the report, bad dumps as
one-line input errors, and nothing changed without it."""
from __future__ import annotations

import copy
import json
import re

import pytest
from clusters import kubectl
from conftest import SAMPLES, run_cli
from test_findings_minimal import check_contract

import pcapdiag
from pcapdiag.cluster import ClusterError, load_cluster

CAPTURE = SAMPLES / "vxlan-flannel-8472.pcap"
DUMP = kubectl.FLANNEL_8472
ADDED_FIELDS = ("name", "pods_named", "src_name", "dst_name", "outer_src_name", "outer_dst_name")


def without_names(data):
    """The report JSON with every field annotate adds taken out again."""
    data = copy.deepcopy(data)
    data.pop("cluster")
    for item in data["nodes"] + data["flows"]:
        for key in ADDED_FIELDS:
            item.pop(key, None)
    for finding in data["findings"]:
        finding["evidence"].pop("names", None)
    return data


def analyze_json(*args):
    result = run_cli("analyze", *args, "--format", "json", "-q")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def plain():
    return analyze_json(CAPTURE)


def stale_vtep_dump(tmp_path):
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(kubectl.set_vtep_mac(kubectl.flannel_dump(), "n2", "6e:7f:00:00:01:99")))
    return path


def test_json_gets_names_as_added_fields_only(plain):
    named = analyze_json(CAPTURE, "--cluster", DUMP)
    assert "cluster" not in plain and "name" not in plain["nodes"][0] and "src_name" not in plain["flows"][0]
    assert without_names(named) == plain
    assert [n["name"] for n in named["nodes"]] == ["n1", "n2", "n3"]
    assert all(f["src_name"].startswith("lab/") and f["outer_src_name"] in ("n1", "n2", "n3") for f in named["flows"])
    assert named["cluster"]["files"] == [str(DUMP)]


def test_cross_checks_are_findings_of_the_report(tmp_path):
    result = run_cli("analyze", CAPTURE, "--cluster", stale_vtep_dump(tmp_path), "--format", "json", "-q",
                     "--fail-on", "error")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    check_contract(report)
    finding, = report["findings"]
    assert finding["id"] == "cluster.stale-vtep-mac" and finding["counts_what"] == "nodes"
    assert finding["evidence"]["text"][0].startswith("example: n2")
    assert report["verdict"].startswith("PROBLEM: VTEP MAC differs from the node's annotation - fix: restart the "
                                        "flannel pod on n2")


def test_text_names_nodes_and_flows_and_has_a_cluster_section():
    plain = run_cli("analyze", CAPTURE, "-q").stdout
    named = run_cli("analyze", CAPTURE, "--cluster", DUMP, "-q").stdout
    assert "Cluster (" not in plain and "(n1)" not in plain and "(lab/" not in plain
    nodes = named.split("\nNodes (", 1)[1]
    assert nodes.index("192.168.50.11 (n1)") < nodes.index("\nCluster (3 nodes, 12 pods, 2 services") < \
        nodes.index("\nTop ")
    assert "192.168.50.12 (n2) > 192.168.50.11 (n1)" in named and "10.244.2.2:8080 (lab/n2p1)" in named


def test_csv_tables_get_name_columns():
    flows = run_cli("analyze", CAPTURE, "--cluster", DUMP, "--format", "csv", "-q").stdout.splitlines()
    assert flows[0].startswith("encap,outer_src,outer_src_name,outer_dst,outer_dst_name,vni,src,src_name,dst,dst_name,")
    nodes = run_cli("analyze", CAPTURE, "--cluster", DUMP, "--format", "csv", "--table", "nodes", "-q").stdout
    assert nodes.splitlines()[1].startswith("192.168.50.11,n1,")
    assert "name" not in run_cli("analyze", CAPTURE, "--format", "csv", "--table", "nodes", "-q").stdout


def test_library_takes_paths_or_a_cluster(plain):
    by_path = pcapdiag.analyze(CAPTURE, cluster=DUMP).to_dict()
    by_object = pcapdiag.analyze([CAPTURE], cluster=load_cluster(DUMP)).to_dict()
    assert by_path["nodes"] == by_object["nodes"] and by_path["nodes"][0]["name"] == "n1"
    assert pcapdiag.analyze(CAPTURE).to_dict()["nodes"] == plain["nodes"]
    with pytest.raises(ClusterError):
        pcapdiag.analyze(CAPTURE, cluster=[DUMP, SAMPLES / "truth.json"])


@pytest.mark.parametrize("command", [["analyze"], ["check", "--fail-on", "error"], ["baseline"]])
def test_a_bad_dump_is_one_line_and_exit_2(tmp_path, command):
    bad = tmp_path / "pods.json"
    bad.write_text(json.dumps({"kind": "List", "items": [{"kind": "ConfigMap"}]}))
    result = run_cli(*command, CAPTURE, "--cluster", bad, "-q")
    assert result.exit_code == 2
    assert result.stderr.startswith("pcapdiag: error: ") and str(bad) in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_stdin_is_read_once():
    result = run_cli("analyze", "-", "--cluster", "-", "-q", input=CAPTURE.read_bytes())
    assert result.exit_code == 2 and result.stderr == "pcapdiag: error: stdin ('-') can be read only once\n"


def test_check_judges_the_cross_checks(tmp_path):
    assert run_cli("check", CAPTURE, "--cluster", DUMP, "--fail-on", "error", "-q").exit_code == 0
    failed = run_cli("check", CAPTURE, "--cluster", stale_vtep_dump(tmp_path), "--fail-on", "error", "-q")
    assert failed.exit_code == 1 and "cluster.stale-vtep-mac" in failed.stdout
    ignored = run_cli("check", CAPTURE, "--cluster", stale_vtep_dump(tmp_path), "--fail-on", "error",
                      "--ignore-finding", "cluster.stale-vtep-mac", "-q")
    assert ignored.exit_code == 0


def test_baseline_names_the_nodes_and_still_holds(tmp_path):
    target = tmp_path / "expect.toml"
    assert run_cli("baseline", CAPTURE, "--cluster", DUMP, "-o", target, "-q").exit_code == 0
    text = target.read_text()
    assert "# Names from the cluster dump: 192.168.50.11 n1, 192.168.50.12 n2, 192.168.50.13 n3." in text
    assert '"192.168.50.11" = ["10.244.1.0/24"]   # inferred, 3 pod addresses seen, node n1' in text
    plain = tmp_path / "plain.toml"
    run_cli("baseline", CAPTURE, "-o", plain, "-q")
    assert [re.sub(r", node n\d$", "", line) for line in text.splitlines() if not line.startswith("# Names")] == \
        plain.read_text().splitlines()      # the same expectations, with the names beside them
    assert run_cli("check", CAPTURE, "--cluster", DUMP, "--expect", target, "-q").exit_code == 0


def test_a_missing_node_is_named_in_the_baseline(tmp_path):
    dump = kubectl.flannel_dump()
    node = copy.deepcopy(kubectl.item(dump, "Node", "n3"))
    node["metadata"]["name"] = "n4"
    node["status"]["addresses"][0]["address"] = "192.168.50.14"
    node["metadata"]["annotations"].update(kubectl.flannel_annotations("192.168.50.14", "6e:7f:00:00:01:04"))
    dump["items"].append(node)
    path = tmp_path / "four.json"
    path.write_text(json.dumps(dump))
    text = run_cli("baseline", CAPTURE, "--cluster", path, "-q").stdout
    assert "# Nodes of the cluster not in this capture: n4." in text
    assert "\nnodes = 3\n" in text      # the capture's nodes: checking it against this file passes
