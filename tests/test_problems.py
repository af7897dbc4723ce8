"""One cause, one fix: findings grouped into problems, the verdict naming the problem and its complete fix,
the MTU of each pod and node, and wording that says only what the capture shows (issue 18).

The lab captures are checked against their truth files (skipped without the shared corpus); the shipped
samples need nothing."""
from __future__ import annotations

import json

import pytest

from conftest import LAB, SAMPLES, analyze_json, needs_corpus, run_cli
from pcapdiag.cni import MTU_FIX_WORDS

TRUTH = json.loads((SAMPLES / "truth.json").read_text())

# lab capture -> the truth file it was made with
FIRST_SCREEN = {
    "vxlan-mtu-broken.pcap": "vxlan-mtu-broken",
    "vxlan-mtu-broken.node1-any.pcap": "vxlan-mtu-broken",
    "vxlan-mtu-outerfrag.pcap": "vxlan-mtu-outerfrag",
    "vxlan-flannel-offload.pcap": "vxlan-flannel-offload",
}


def lab_truth(scenario: str) -> dict:
    return json.loads((LAB / f"{scenario}.truth.json").read_text())


def expected_problem(truth: dict) -> tuple[str, str]:
    """(problem id, complete fix) the truth file's fault calls for."""
    fault = truth["summary"]["mtu_fault_type"]
    if fault == "pod-mtu-exceeds-overlay":
        return "mtu.pod-mtu-too-big", f"set the pod MTU to {truth['mtu_fault']['correct_pod_mtu']}"
    if fault == "overlay-mtu-equals-underlay":
        return ("mtu.tunnel-device-mtu",
                f"set the tunnel device and pod MTU to {truth['mtu_fault']['correct_overlay_mtu']}")
    assert truth["summary"]["gso_superpackets_expected"] and not truth["summary"]["mtu_misconfigured"]
    return "capture.sizes-not-wire-sizes", "capture with offloads off"


@needs_corpus
@pytest.mark.parametrize("name", sorted(FIRST_SCREEN))
def test_lab_capture_shows_one_problem_with_its_complete_fix_first(name, lab_reports):
    problem_id, fix = expected_problem(lab_truth(FIRST_SCREEN[name]))
    report = lab_reports(name)
    assert [p["id"] for p in report["problems"]] == [problem_id]
    problem = report["problems"][0]
    assert fix in problem["fix"] and problem["cause"]
    # every finding worth fixing is evidence of that one problem
    assert {f["id"] for f in report["findings"] if f["severity"] != "info" or not f["reliable"]} <= \
        set(problem["findings"])
    first_screen = run_cli("analyze", LAB / name, "-q").stdout.splitlines()[:8]
    verdict = next(line for line in first_screen if line.startswith(("PROBLEM", "WARNING", "NOTE", "OK")))
    assert problem["title"] in verdict and fix in verdict and "more problem" not in verdict


def test_outer_fragmentation_fix_names_the_tunnel_device_not_only_the_pods(tmp_path):
    """A tunnel device at the underlay's MTU: pods alone at 1450 would still leave it wrong."""
    from test_findings_minimal import (MSS_BIG, NODE_A, NODE_B, data_segment, ethernet, fragments, handshake,
                                       pcap, vxlan_packet)

    outer = vxlan_packet(NODE_A, NODE_B, data_segment(1500), df=False)
    report = analyze_json(pcap(tmp_path, handshake(MSS_BIG, MSS_BIG)
                               + [ethernet(piece) for piece in fragments(outer, 1500)]))
    assert [p["id"] for p in report["problems"]] == ["mtu.tunnel-device-mtu"]
    assert report["verdict"].endswith(f"fix: {report['problems'][0]['fix']}")
    assert report["problems"][0]["fix"].startswith("set the tunnel device and pod MTU to 1450")


@pytest.mark.parametrize("name", ["vxlan-mtu-broken.pcap", "vxlan-mtu-broken.node1-any.pcap"])
def test_sample_broken_mtu_is_one_problem(name):
    report = analyze_json(SAMPLES / name)
    assert [p["id"] for p in report["problems"]] == ["mtu.pod-mtu-too-big"]
    problem = report["problems"][0]
    fix = f"set the pod MTU to 1450 ({MTU_FIX_WORDS['flannel']})"   # the sample is flannel's (pcapdiag.cni)
    assert problem["severity"] == "error" and problem["fix"] == fix
    assert {"mtu.inner-fragmented", "mtu.mss-too-big"} <= set(problem["findings"])
    assert report["verdict"] == f"PROBLEM: the pod MTU is larger than the overlay's - fix: {fix}"
    assert {f["id"] for f in report["findings"]} >= set(problem["findings"])   # findings stay as they were


def test_healthy_sample_has_no_problem():
    report = analyze_json(SAMPLES / "vxlan-flannel-8472.pcap")
    assert report["problems"] == [] and report["verdict"].startswith("OK")


# -- the MTU of each pod and node -------------------------------------------------

@pytest.mark.parametrize("name", ["vxlan-mtu-broken.pcap", "vxlan-flannel-8472.pcap"])
def test_mtu_by_endpoint_names_the_misconfigured_pods(name):
    truth = TRUTH[name]
    report = analyze_json(SAMPLES / name)
    rows = {row["address"]: row for row in report["mtu_by_endpoint"]}
    pods = {pod for node in truth["nodes"].values() for pod in node["pods"]} & set(rows)
    assert pods and {rows[pod]["role"] for pod in pods} == {"pod"}
    too_big = truth["pod_mtu"] > truth["tunnel_mtu"]
    assert {pod: rows[pod]["over_budget"] for pod in pods} == {pod: too_big for pod in pods}
    assert [row["address"] for row in report["mtu_by_endpoint"] if row["role"] == "pod"] == sorted(
        pods, key=lambda a: tuple(int(x) for x in a.split(".")))   # numeric order: .2 before .10
    for pod in pods:
        assert all(mss == (1460 if too_big else 1410) for mss in rows[pod]["mss_advertised"])


def test_mtu_table_is_on_the_first_screen():
    text = run_cli("analyze", SAMPLES / "vxlan-mtu-broken.pcap", "-q").stdout
    table = text[text.index("MTU by pod and node"):text.index("Findings")]
    assert "10.244.1.4" in table and "1460" in table and "over budget" in table


@needs_corpus
def test_mtu_by_endpoint_shows_the_cached_path_mtu_beside_the_pod_mtu(lab_reports):
    """Every pod of the broken lab has MTU 1500; 10.168.14.37 also advertises 1410 after an ICMP too-big."""
    truth = lab_truth("vxlan-mtu-broken")
    rows = {row["address"]: row for row in lab_reports("vxlan-mtu-broken.pcap")["mtu_by_endpoint"]}
    for node in truth["summary"]["node_to_pods"].values():
        for pod in node["pod_ips_seen_on_underlay"]:
            assert rows[pod]["over_budget"] is True, pod
    assert rows["10.168.14.37"]["mss_advertised"] == [1410, 1460]


# -- wording: what the capture supports ---------------------------------------------

@needs_corpus
def test_smaller_mss_after_icmp_is_pmtu_caching_not_a_correct_mtu(lab_reports):
    underlay = {f["id"]: f for f in lab_reports("vxlan-mtu-broken.pcap")["findings"]}["mtu.mss-too-big"]
    assert "only one side's MTU or MSS clamping is right" not in underlay["summary"]
    assert "10.168.14.37 advertises 1410 to 10.168.162.27 but 1460 in other handshakes" in underlay["summary"]
    assert "not its interface MTU" in underlay["summary"]
    inside = {f["id"]: f for f in lab_reports("vxlan-mtu-broken.node1-any.pcap")["findings"]}["mtu.mss-too-big"]
    assert "after an ICMP too-big told it MTU 1450: a path MTU it cached" in inside["summary"]


@needs_corpus
def test_overlay_mtu_is_a_budget_and_the_odd_overhead_is_explained():
    text = run_cli("analyze", LAB / "vxlan-mtu-outerfrag.pcap", "-q").stdout
    assert "-byte overlay" not in text and "overlay 1450" not in text
    assert "carries pod packets of up to 1450 bytes (budget: 1500 - 50 overhead)" in text
    assert ("vxlan/8472: 14.22 bytes of overhead per frame on average, not the nominal 50: 526 frames are outer "
            "fragments") in text


# -- captures taken inside a node (-i any) ---------------------------------------------

@needs_corpus
@pytest.mark.parametrize("name, node", [("vxlan-mtu-broken.node1-any.pcap", "node1"),
                                        ("vxlan-flannel.node2-any.pcap", "node2")])
def test_any_capture_says_which_node_and_which_copy(name, node, lab_reports):
    truth = lab_truth(name.split(".")[0])
    address = next(n["underlay_ip"] for n in truth["nodes"] if n["name"] == node)
    report = lab_reports(name)
    assert report["capture"]["vantage"]["node"] == address
    text = run_cli("analyze", LAB / name, "-q").stdout
    assert f"Captured inside node {address}" in text.splitlines()[3]   # under the capture and CNI lines
    flows = text[text.index("Top 10 flows"):].splitlines()
    assert any(line.startswith("pod side") for line in flows) and not any(line.startswith("native")
                                                                           for line in flows)
    assert "native" not in report["verdict"]


def test_any_capture_evidence_lines_are_not_repeated():
    text = run_cli("analyze", SAMPLES / "vxlan-mtu-broken.node1-any.pcap", "-q").stdout
    blocks, evidence = [], None
    for line in text[text.index("Findings"):text.index("Encapsulation")].splitlines()[1:]:
        if line.startswith(("  ERROR", "  WARN", "  info")):
            evidence = []
            blocks.append(evidence)
        elif line.startswith("          "):
            evidence.append(line)
    assert len(blocks) >= 4
    for lines in blocks:
        assert len(lines) == len(set(lines)), lines


def test_underlay_capture_has_no_vantage():
    report = analyze_json(SAMPLES / "vxlan-mtu-broken.pcap")
    assert report["capture"]["vantage"] is None
