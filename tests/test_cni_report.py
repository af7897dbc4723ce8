"""The CNI guess in the report (issue 17): one line in the text header, the "cni" key of the JSON, the HTML
header, all the same value; the MTU fixes name where the guessed CNI keeps the MTU, only from medium
confidence up."""
from __future__ import annotations

import pytest

from conftest import SAMPLES, analyze_json, run_cli
from pcapdiag.cni import MTU_FIX_WORDS, guess_cni, in_cni_terms

HEADER = {
    "vxlan-flannel-8472.pcap": "CNI: flannel vxlan (high) - VXLAN on UDP 8472 with VNI 1 (172 packets), one VTEP "
                               "MAC per node (3 nodes)",
    "ipip.pcap": "CNI: unknown ipip - IPv4-in-IPv4 between nodes (97 packets); could be calico or kube-router",
    "geneve.pcap": "CNI: unknown geneve - Geneve on UDP 6081 with VNI 100 (84 packets); could be ovn-kubernetes, "
                   "antrea, cilium or kube-ovn",
    "silent-loss/native-pmtu1300.node1-eth0.pcap": "CNI: unknown - no overlay, WireGuard, IPsec or BGP traffic "
                                                   "between nodes",
    "encrypted/wg-healthy.pcap": "CNI: cilium wireguard",
}


@pytest.mark.parametrize("name", list(HEADER))
def test_the_header_line_and_the_json_key_say_the_same(name):
    path = SAMPLES / name
    text = run_cli("analyze", path).output.splitlines()
    header = " ".join(line.strip() for line in text[2:4] if line.strip())   # the line wraps under its label
    assert header.startswith(HEADER[name])
    report = analyze_json(path)
    assert header == f"CNI: {report['cni']['summary']}"
    # a saved report gives the guess again: the report's own flows (a filtered few) lose nothing
    assert guess_cni(report) == report["cni"]


def test_the_json_key_of_flannel_and_its_fixes_in_flannels_terms():
    report = analyze_json(SAMPLES / "vxlan-mtu-broken.pcap")
    cni = report["cni"]
    assert (cni["name"], cni["mode"], cni["confidence"], cni["candidates"]) == ("flannel", "vxlan", "high", [])
    assert "--iface" in cni["mtu_setting"] and cni["evidence"][1] == "one VTEP MAC per node (2 nodes)"
    words = MTU_FIX_WORDS["flannel"]
    assert report["problems"][0]["fix"] == f"set the pod MTU to 1450 ({words})"
    assert report["verdict"].endswith(f"fix: set the pod MTU to 1450 ({words})")
    mtu_fixes = [f["fix"] for f in report["findings"] if f["id"].startswith("mtu.") and f["fix"]]
    assert mtu_fixes and all(fix.endswith(f"({words})") for fix in mtu_fixes)
    assert [f["fix"] for f in report["mtu"]["findings"]] == [f["fix"] for f in report["findings"]
                                                             if f["id"].startswith("mtu.")]


def test_an_unknown_cni_leaves_the_generic_fix():
    report = analyze_json(SAMPLES / "silent-loss" / "ipip-pmtu1380.node1-eth0.pcap")
    assert report["cni"]["name"] == "unknown" and report["cni"]["mtu_setting"] is None
    fixes = [p["fix"] for p in report["problems"]] + [f["fix"] or "" for f in report["findings"]]
    assert any("set the pod MTU to at most 1338" in fix for fix in fixes)
    assert not any(words in fix for fix in fixes for words in MTU_FIX_WORDS.values())


def test_the_html_header_shows_the_guess(tmp_path):
    out = tmp_path / "r.html"
    run_cli("analyze", SAMPLES / "vxlan-flannel-8472.pcap", "--format", "html", "-o", out)
    assert "<p class=\"meta\">CNI: flannel vxlan (high) - VXLAN on UDP 8472" in out.read_text()


def test_csv_has_no_cni_column():
    csv = run_cli("analyze", SAMPLES / "vxlan-flannel-8472.pcap", "--format", "csv", "--table", "encapsulation")
    assert csv.output.splitlines()[0].startswith("type,udp_port,packets") and "flannel" not in csv.output


FINDINGS = [{"id": "mtu.inner-too-big", "fix": "set the pod MTU to 1450"},
            {"id": "mtu.pmtud-blackhole", "fix": None},
            {"id": "tunnel.one-way", "fix": "check the return route"}]


@pytest.mark.parametrize("confidence,phrased", [("high", True), ("medium", True), ("low", False), ("none", False)])
def test_fixes_gain_the_cnis_words_from_medium_confidence(confidence, phrased):
    guess = {"name": "cilium", "mode": "vxlan", "confidence": confidence}
    fixes = [f["fix"] for f in in_cni_terms(FINDINGS, guess)]
    words = MTU_FIX_WORDS["cilium"]
    assert fixes == [f"set the pod MTU to 1450 ({words})" if phrased else "set the pod MTU to 1450", None,
                     "check the return route"]


def test_calico_names_the_tunnel_device_of_its_mode_and_phrasing_twice_changes_nothing():
    guess = {"name": "calico", "mode": "ipip", "confidence": "high"}
    once = in_cni_terms(FINDINGS, guess)
    assert "FelixConfiguration ipipMTU" in once[0]["fix"] and in_cni_terms(once, guess) == once
    vxlan = in_cni_terms(FINDINGS, {**guess, "mode": "bgp"})[0]["fix"]
    assert "spec.calicoNetwork.mtu" in vxlan and "Felix" not in vxlan
    assert in_cni_terms(FINDINGS, None) == FINDINGS and in_cni_terms(FINDINGS, {"name": "unknown"}) == FINDINGS
