"""`pcapdiag baseline` / `pcapdiag check`: expectations for CI (pcapdiag/check/, pcapdiag/cli_check.py).

The lab tests drive real captures from $PCAPDIAG_CORPUS/lab (default ../shared/corpus) and skip cleanly
when it is absent; the library tests use hand-made report dicts and always run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from pcapdiag.check import (ENCAP_CLASSES, SEVERITIES, ExpectationError, Expectations, baseline_from_report,
                            check_report, load_expectations, parse_expectations, render_toml)

CORPUS = Path(os.environ.get("PCAPDIAG_CORPUS", Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"))
LAB = CORPUS / "lab"
needs_lab = pytest.mark.skipif(not (LAB / "vxlan-flannel.pcap").is_file(), reason=f"lab captures not found in {LAB}")

FLANNEL, VXLAN_4789, MTU_BROKEN = LAB / "vxlan-flannel.pcap", LAB / "vxlan-4789.pcap", LAB / "vxlan-mtu-broken.pcap"
ALL_CHECKS = ["encap", "udp_port", "vni", "nodes", "node_addresses", "pod_cidrs", "underlay_mtu", "overlay_mtu",
              "max_inner_size", "findings"]


def invoke(*args):
    """Run the CLI with stdout and stderr kept apart (click >= 8.2 always does; 8.1 needs mix_stderr=False)."""
    from pcapdiag.cli import main

    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:
        runner = CliRunner()
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def lines_of(result, status):
    return {line.split(":", 1)[0].split(" ", 1)[1]: line for line in result.stdout.splitlines()
            if line.startswith(status + " ")}


def assert_usage_error(result, *needles):
    """Exit 2, exactly one line on stderr naming what is wrong, no traceback anywhere."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    err = result.stderr.strip().splitlines()
    assert len(err) == 1, result.stderr
    assert err[0].startswith("pcapdiag: error: ")
    for needle in needles:
        assert needle in err[0], err[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture(scope="module")
def flannel_baseline(tmp_path_factory):
    if not FLANNEL.is_file():
        pytest.skip(f"lab captures not found in {LAB}")
    path = tmp_path_factory.mktemp("baseline") / "expect.toml"
    result = invoke("baseline", FLANNEL, "-o", path, "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # a clean capture: no warning about its own findings
    return path


# -- the lab: baseline, check, JUnit --------------------------------------------------

@needs_lab
def test_baseline_is_commented_toml_with_every_expectation(flannel_baseline):
    text = flannel_baseline.read_text()
    data = tomllib.loads(text)
    assert data["encap"] == ["vxlan"]
    assert data["udp_port"] == [8472]
    assert data["vni"] == [1]
    assert data["nodes"] == 2
    assert sorted(data["node_addresses"]) == ["192.168.42.131", "192.168.42.169"]
    assert data["pod_cidrs"] == {"192.168.42.131": ["10.116.114.0/24"], "192.168.42.169": ["10.116.65.0/24"]}
    assert data["underlay_mtu"] == 1500 and data["overlay_mtu"] == 1450
    assert data["max_inner_size"] == 1450
    assert data["fail_on"] == "warning"
    # human-editable: a comment explains every key
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert len(comments) > len(data)
    for key in ("encap", "udp_port", "vni", "nodes", "node_addresses", "underlay_mtu", "overlay_mtu",
                "max_inner_size", "fail_on", "ignore_findings"):
        before = text.split(f"\n{key} = ", 1)[0]
        assert before.rstrip().splitlines()[-1].startswith("#"), key
    assert load_expectations(str(flannel_baseline)).to_dict() == {k: v for k, v in data.items() if v != []}


@needs_lab
def test_same_capture_passes_its_own_baseline(flannel_baseline):
    result = invoke("check", FLANNEL, "--expect", flannel_baseline, "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    passed = lines_of(result, "PASS")
    assert list(passed) == ALL_CHECKS
    assert passed["encap"].startswith("PASS encap: vxlan (observed vxlan)")
    assert passed["udp_port"].startswith("PASS udp_port: 8472 (observed 8472)")
    assert not lines_of(result, "FAIL")
    assert result.stdout.splitlines()[-1] == f"{FLANNEL}: PASS, 10 of 10 expectations met"


@needs_lab
def test_other_port_and_vni_fail_and_are_named(flannel_baseline, tmp_path):
    result = invoke("check", VXLAN_4789, "--expect", flannel_baseline, "-q")
    assert result.exit_code == 1
    failed = lines_of(result, "FAIL")
    # a different lab cluster: its nodes differ too
    assert set(failed) == {"udp_port", "vni", "node_addresses", "pod_cidrs"}
    assert failed["udp_port"].startswith("FAIL udp_port: expected 8472, observed 4789")
    assert failed["vni"].startswith("FAIL vni: expected 1, observed 861069")
    assert "missing 192.168.42.131, 192.168.42.169" in failed["node_addresses"]
    assert "unexpected 172.31.83.61, 172.31.107.174" in failed["node_addresses"]
    assert "node 192.168.42.131 (expected 10.116.114.0/24) not in the capture" in failed["pod_cidrs"]
    assert "FAIL, 4 of 10 expectations failed (udp_port, vni, node_addresses, pod_cidrs)" in result.stdout

    # the file is editable: without the node keys only port and VNI fail
    text = flannel_baseline.read_text()
    text = "\n".join(line for line in text.split("[pod_cidrs]")[0].splitlines()
                     if not line.startswith("node_addresses"))
    edited = tmp_path / "edited.toml"
    edited.write_text(text)
    result = invoke("check", VXLAN_4789, "--expect", edited, "-q")
    assert result.exit_code == 1
    assert set(lines_of(result, "FAIL")) == {"udp_port", "vni"}
    assert "FAIL, 2 of 8 expectations failed (udp_port, vni)" in result.stdout


@needs_lab
def test_mtu_broken_fails_on_the_mtu_finding():
    result = invoke("check", MTU_BROKEN, "--expect-encap", "vxlan", "--fail-on", "error", "-q")
    assert result.exit_code == 1
    assert set(lines_of(result, "PASS")) == {"encap"}
    failed = lines_of(result, "FAIL")
    assert set(failed) == {"findings"}
    assert failed["findings"].startswith("FAIL findings: expected none at or above error, observed "
                                         "mtu.inner-fragmented (error)")
    result = invoke("check", MTU_BROKEN, "--expect-encap", "vxlan", "--fail-on", "error", "--format", "json", "-q")
    findings = json.loads(result.stdout)["captures"][0]["results"][1]
    assert findings["name"] == "findings" and not findings["passed"]
    assert "mtu.inner-fragmented (error)" in findings["observed"]
    assert all(item.endswith("(error)") for item in findings["observed"])  # mtu.mss-too-big is a warning
    # ignoring that id makes it pass (and says it was ignored)
    result = invoke("check", MTU_BROKEN, "--expect-encap", "vxlan", "--fail-on", "error",
                    "--ignore-finding", "mtu.inner-fragmented", "-q")
    assert result.exit_code == 0
    assert "ignored: mtu.inner-fragmented" in lines_of(result, "PASS")["findings"]


@needs_lab
def test_flags_override_the_file_and_issue_example(flannel_baseline):
    # the same capture, but the flag says 4789: that key fails, the rest of the file still holds
    result = invoke("check", FLANNEL, "--expect", flannel_baseline, "--expect-port", "4789", "-q")
    assert result.exit_code == 1
    assert set(lines_of(result, "FAIL")) == {"udp_port"}
    assert lines_of(result, "FAIL")["udp_port"].startswith("FAIL udp_port: expected 4789, observed 8472")
    # the issue's example line of flags, without a file
    result = invoke("check", FLANNEL, "--expect-encap", "vxlan", "--expect-port", "8472", "--max-inner-size", "1450",
                    "--nodes", "3", "--fail-on", "warning", "-q")
    assert result.exit_code == 1
    assert set(lines_of(result, "PASS")) == {"encap", "udp_port", "max_inner_size", "findings"}
    assert lines_of(result, "FAIL")["nodes"].startswith("FAIL nodes: expected 3, observed 2")
    result = invoke("check", FLANNEL, "--max-inner-size", "1400", "-q")
    assert result.exit_code == 1
    assert lines_of(result, "FAIL")["max_inner_size"].startswith("FAIL max_inner_size: expected at most 1400, "
                                                                  "observed 1450 in ")


@needs_lab
def test_pod_cidr_and_node_flags_name_what_is_missing():
    result = invoke("check", FLANNEL, "-q", "--expect-node", "192.168.42.131", "--expect-node", "192.168.42.200",
                    "--expect-pod-cidr", "192.168.42.131=10.116.114.0/24,10.116.115.0/24",
                    "--expect-pod-cidr", "192.168.42.169=10.116.66.0/24")
    assert result.exit_code == 1
    failed = lines_of(result, "FAIL")
    assert "missing 192.168.42.200" in failed["node_addresses"]
    assert "unexpected 192.168.42.169" in failed["node_addresses"]
    assert "192.168.42.131 missing 10.116.115.0/24" in failed["pod_cidrs"]
    assert "192.168.42.169 missing 10.116.66.0/24, unexpected 10.116.65.0/24" in failed["pod_cidrs"]


@needs_lab
def test_several_captures_are_judged_each_on_its_own(flannel_baseline):
    result = invoke("check", FLANNEL, VXLAN_4789, "--expect", flannel_baseline, "-q")
    assert result.exit_code == 1
    out = result.stdout
    assert f"{FLANNEL}: PASS, 10 of 10 expectations met" in out
    assert f"{VXLAN_4789}: FAIL, 4 of 10 expectations failed" in out
    assert out.rstrip().splitlines()[-1] == "2 captures: 1 passed, 1 failed"
    assert out.count("PASS encap:") == 2


@needs_lab
def test_json_output(flannel_baseline):
    result = invoke("check", FLANNEL, VXLAN_4789, "--expect", flannel_baseline, "--format", "json", "-q")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["passed"] is False
    assert document["expectations"]["udp_port"] == [8472]
    first, second = document["captures"]
    assert first["file"] == str(FLANNEL) and first["passed"] is True and first["failed"] == 0
    assert [r["name"] for r in first["results"]] == ALL_CHECKS
    assert second["passed"] is False and second["failed"] == 4
    port = next(r for r in second["results"] if r["name"] == "udp_port")
    assert port == {"name": "udp_port", "passed": False, "expected": [8472], "observed": [4789],
                    "message": "expected 8472, observed 4789", "evidence": "vxlan/4789 467 packets"}
    for result_ in first["results"] + second["results"]:
        assert set(result_) == {"name", "passed", "expected", "observed", "message", "evidence"}


@needs_lab
def test_junit_xml_parses_with_one_case_per_expectation(flannel_baseline, tmp_path):
    junit = tmp_path / "check.xml"
    result = invoke("check", FLANNEL, VXLAN_4789, "--expect", flannel_baseline, "--junit", junit, "-q")
    assert result.exit_code == 1
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("20", "4", "0")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [str(FLANNEL), str(VXLAN_4789)]
    good, bad = suites
    assert (good.get("tests"), good.get("failures")) == ("10", "0")
    assert (bad.get("tests"), bad.get("failures")) == ("10", "4")
    for suite in suites:
        cases = suite.findall("testcase")
        assert [c.get("name") for c in cases] == ALL_CHECKS
        assert len({c.get("classname") for c in cases}) == 1
        assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases)
    assert all(c.find("failure") is None for c in good.findall("testcase"))
    failures = {c.get("name"): c.find("failure") for c in bad.findall("testcase") if c.find("failure") is not None}
    assert set(failures) == {"udp_port", "vni", "node_addresses", "pod_cidrs"}
    assert failures["udp_port"].get("message") == "udp_port: expected 8472, observed 4789"
    assert failures["vni"].get("message") == "vni: expected 1, observed 861069"
    assert "evidence: vxlan/4789 467 packets" in failures["udp_port"].text
    assert bad.find("properties/property[@name='expectations']").get("value") == str(flannel_baseline)


@needs_lab
def test_baseline_warns_about_a_capture_that_is_not_clean(tmp_path):
    path = tmp_path / "broken.toml"
    result = invoke("baseline", MTU_BROKEN, "-o", path, "-q")
    assert result.exit_code == 0
    assert "mtu.inner-fragmented" in result.stderr and "not clean" in result.stderr
    assert "NOTE: this capture itself has" in path.read_text()
    assert invoke("check", MTU_BROKEN, "--expect", path, "-q").exit_code == 1
    # every other expectation the broken capture implies still holds
    result = invoke("check", MTU_BROKEN, "--expect", path, "--ignore-finding", "mtu.inner-fragmented",
                    "--ignore-finding", "mtu.mss-too-big", "-q")
    assert result.exit_code == 0, result.stdout


@needs_lab
@pytest.mark.parametrize("name", ["vxlan-4789.pcap", "vxlan-4789.pcapng", "native-bgp.pcap", "ipip-userspace.pcap",
                                  "geneve-userspace.pcap", "vxlan-flannel-offload.pcap"])
def test_every_healthy_lab_capture_passes_its_own_baseline(name, tmp_path):
    if not (LAB / name).is_file():
        pytest.skip(f"{name} not in the corpus")
    path = tmp_path / "expect.toml"
    assert invoke("baseline", LAB / name, "-o", path, "-q").exit_code == 0
    result = invoke("check", LAB / name, "--expect", path, "-q")
    assert result.exit_code == 0, result.stdout
    data = tomllib.loads(path.read_text())
    if name.startswith("native"):
        assert data["encap"] == ["native"] and "udp_port" not in data and "overlay_mtu" not in data
    if "offload" in name:  # super-frames are not wire sizes: no size bound from them
        assert "max_inner_size" not in data
        assert "# max_inner_size = ..." in path.read_text()


@needs_lab
def test_baseline_to_stdout():
    result = invoke("baseline", FLANNEL, "-q")
    assert result.exit_code == 0
    assert tomllib.loads(result.stdout)["udp_port"] == [8472]


# -- input and usage errors: exit 2, one line on stderr -------------------------------

@needs_lab
@pytest.mark.parametrize("content, needles", [
    ("udp_prot = [8472]\n", ["key 'udp_prot'", "not a known key", "did you mean 'udp_port'"]),
    ("colour = \"blue\"\n", ["key 'colour'", "not a known key"]),
    ("udp_port = [70000]\n", ["key 'udp_port'", "70000", "1-65535"]),
    ("udp_port = [\"8472\"]\n", ["key 'udp_port'", "not an integer"]),
    ("vni = -1\n", ["key 'vni'", "out of range"]),
    ("encap = [\"vxlam\"]\n", ["key 'encap'", "'vxlam'", "did you mean 'vxlan'"]),
    ("encap = []\n", ["key 'encap'", "must not be empty"]),
    ("nodes = true\n", ["key 'nodes'", "not an integer"]),
    ("max_inner_size = \"big\"\n", ["key 'max_inner_size'", "not an integer"]),
    ("overlay_mtu = 14.5\n", ["key 'overlay_mtu'", "not an integer"]),
    ("fail_on = \"fatal\"\n", ["key 'fail_on'", "info, warning, error"]),
    ("node_addresses = [\"192.168.42.300\"]\n", ["key 'node_addresses'", "not an IP address"]),
    ("[pod_cidrs]\n\"192.168.42.131\" = [\"10.116.114.1/24\"]\n", ["key 'pod_cidrs.\"192.168.42.131\"'",
                                                                   "host bits set"]),
    ("[pod_cidrs]\n\"node-a\" = [\"10.116.114.0/24\"]\n", ["pod_cidrs.\"node-a\"", "not a node IP address"]),
    ("[pod_cidrs]\n\"192.168.42.131\" = [\"10.116.114.0/24\"]\nnodes = 2\n",
     ["pod_cidrs.\"nodes\"", "keep top-level keys above it"]),
    ("nodes = \n", ["not valid TOML", "line 1"]),
    ("# every key commented out\n# nodes = 2\n", ["no expectations in it"]),
])
def test_bad_expectation_files_are_rejected_naming_the_key(tmp_path, content, needles):
    path = tmp_path / "expect.toml"
    path.write_text(content)
    assert_usage_error(invoke("check", FLANNEL, "--expect", path, "-q"), str(path), *needles)


@needs_lab
@pytest.mark.parametrize("args, needles", [
    (["--expect-port", "70000"], ["--expect-port", "70000"]),
    (["--expect-encap", "vxlam"], ["--expect-encap", "did you mean 'vxlan'"]),
    (["--expect-node", "not-an-ip"], ["--expect-node", "not an IP address"]),
    (["--expect-pod-cidr", "10.0.0.1"], ["--expect-pod-cidr", "NODE=CIDR"]),
    (["--expect-pod-cidr", "10.0.0.1=10.0.0.0/33"], ["--expect-pod-cidr", "10.0.0.0/33"]),
    (["--max-inner-size", "5"], ["--max-inner-size", "out of range"]),
    ([], ["nothing to check"]),
])
def test_bad_flags_are_rejected_naming_the_flag(args, needles):
    assert_usage_error(invoke("check", FLANNEL, "-q", *args), *needles)


def test_missing_capture_is_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "nope.pcap"
    assert_usage_error(invoke("check", missing, "--fail-on", "warning", "-q"), "no such file", str(missing))
    assert_usage_error(invoke("baseline", missing, "-q"), "no such file")


@needs_lab
def test_missing_capture_among_several_fails_before_any_work(tmp_path):
    result = invoke("check", FLANNEL, tmp_path / "nope.pcap", "--fail-on", "warning", "-q")
    assert_usage_error(result, "no such file")
    assert result.stdout == ""


@needs_lab
def test_missing_expectations_file_and_unwritable_junit(tmp_path):
    assert_usage_error(invoke("check", FLANNEL, "--expect", tmp_path / "nope.toml", "-q"),
                       "no such expectations file")
    assert_usage_error(invoke("check", FLANNEL, "--fail-on", "error", "--junit", tmp_path / "no" / "x.xml", "-q"),
                       "JUnit file")


# -- the library, on hand-made reports (no corpus needed) -----------------------------

def fake_report(**overrides) -> dict:
    report = {
        "capture": {"file": "fake.pcap", "packets": 100, "start": None, "end": None},
        "encapsulation": [
            {"type": "vxlan", "udp_port": 8472, "packets": 90, "vnis": [1], "by_plausibility": 0},
            {"type": "native", "udp_port": None, "packets": 8, "vnis": []},
            {"type": "non-ip", "udp_port": None, "packets": 2, "vnis": []},
        ],
        "nodes": [
            {"ip": "192.168.1.10", "pods": ["10.244.1.5"], "pod_cidrs": ["10.244.1.0/24"],
             "pod_cidr_source": "inferred", "peers": ["192.168.1.11"]},
            {"ip": "192.168.1.11", "pods": ["10.244.2.7"], "pod_cidrs": ["10.244.2.0/24"],
             "pod_cidr_source": "inferred", "peers": ["192.168.1.10"]},
        ],
        "flows": [
            {"encap": "vxlan", "vni": 1, "src": "10.244.1.5", "dst": "10.244.2.7", "proto": "tcp", "sport": 40000,
             "dport": 80, "max_ip_len": 1450},
            {"encap": "native", "vni": None, "src": "192.168.1.10", "dst": "192.168.1.1", "proto": "tcp",
             "sport": 22, "dport": 50000, "max_ip_len": 1500},
        ],
        "mtu": {"underlay_mtu": 1500, "underlay_mtu_basis": "assumed", "sizes_reliable": True,
                "overlays": [{"type": "vxlan", "udp_port": 8472, "overhead": 50, "overlay_mtu": 1450}]},
        "findings": [
            {"id": "tunnel.one-way", "severity": "warning", "summary": "one way", "count": 1, "evidence": {}},
            {"id": "capture.offload", "severity": "info", "summary": "offload", "count": 1, "evidence": {}},
        ],
    }
    report.update(overrides)
    return report


def judge(**expectations):
    return {r.name: r for r in check_report(fake_report(), expectations)}


def test_library_results_carry_name_passed_expected_observed_evidence():
    results = check_report(fake_report(), {"udp_port": 4789, "encap": "vxlan"})
    assert [r.name for r in results] == ["encap", "udp_port"]  # the fixed order, not the dict's
    port = results[1]
    assert (port.passed, port.expected, port.observed) == (False, [4789], [8472])
    assert port.line() == "FAIL udp_port: expected 4789, observed 8472 - vxlan/8472 90 packets"
    assert results[0].line().startswith("PASS encap: vxlan (observed vxlan)")


def test_encap_tolerates_native_chatter_unless_native_is_expected():
    assert judge(encap=["vxlan"])["encap"].passed
    assert judge(encap=["vxlan", "native"])["encap"].passed
    result = judge(encap=["native"])["encap"]
    assert not result.passed and "unexpected vxlan" not in result.message  # one value each side: no breakdown
    assert result.message == "expected native, observed vxlan, native"
    assert not judge(encap=["geneve"])["encap"].passed
    only_native = fake_report(encapsulation=[{"type": "native", "udp_port": None, "packets": 5, "vnis": []}])
    assert check_report(only_native, {"encap": "native"})[0].passed


def test_node_and_pod_cidr_comparison_is_by_set_and_names_the_difference():
    assert judge(nodes=2)["nodes"].passed
    assert not judge(nodes=3)["nodes"].passed
    assert judge(node_addresses=["192.168.1.11", "192.168.1.10"])["node_addresses"].passed
    result = judge(node_addresses=["192.168.1.10", "192.168.1.12"])["node_addresses"]
    assert result.message == "expected 2 addresses, missing 192.168.1.12; unexpected 192.168.1.11"
    # only the listed nodes are judged
    assert judge(pod_cidrs={"192.168.1.10": ["10.244.1.0/24"]})["pod_cidrs"].passed
    result = judge(pod_cidrs={"192.168.1.10": ["10.244.1.0/24", "10.244.9.0/24"], "192.168.1.11": ["10.244.3.0/24"],
                              "192.168.1.99": []})["pod_cidrs"]
    assert not result.passed
    assert "192.168.1.10 missing 10.244.9.0/24" in result.message
    assert "192.168.1.11 missing 10.244.3.0/24, unexpected 10.244.2.0/24" in result.message
    assert "node 192.168.1.99 (expected none) not in the capture" in result.message
    assert result.observed["192.168.1.99"] is None


def test_mtus_are_exact_and_inner_size_is_an_upper_bound():
    assert judge(underlay_mtu=1500)["underlay_mtu"].passed
    assert not judge(underlay_mtu=9000)["underlay_mtu"].passed
    assert judge(overlay_mtu=1450)["overlay_mtu"].passed
    assert not judge(overlay_mtu=1500)["overlay_mtu"].passed
    # the tunnelled flows count, not the 1500-byte SSH on the underlay
    assert judge(max_inner_size=1450)["max_inner_size"].observed == 1450
    assert judge(max_inner_size=9000)["max_inner_size"].passed
    result = judge(max_inner_size=1400)["max_inner_size"]
    assert not result.passed and "10.244.1.5:40000 > 10.244.2.7:80 tcp (vxlan VNI 1): 1450 bytes" in result.evidence
    native = fake_report(flows=[dict(fake_report()["flows"][1], encap="native")])
    assert check_report(native, {"max_inner_size": 1500})[0].observed == 1500


def test_findings_at_or_above_a_severity_with_ignores():
    assert not judge(fail_on="warning")["findings"].passed
    assert judge(fail_on="error")["findings"].passed
    assert not judge(fail_on="info")["findings"].passed
    result = judge(fail_on="warning", ignore_findings=["tunnel.one-way"])["findings"]
    assert result.passed and "ignored: tunnel.one-way" in result.evidence
    assert judge(fail_on="warning")["findings"].observed == ["tunnel.one-way (warning)"]


def test_baseline_round_trips_through_toml():
    report = fake_report()
    text = render_toml(report)
    assert load_from_text(text) == baseline_from_report(report)
    assert not any(r for r in check_report(report, load_from_text(text)) if not r.passed and r.name != "findings")
    assert "NOTE: this capture itself has 1 such finding: tunnel.one-way" in text


def test_baseline_of_ipv6_nodes_quotes_keys():
    report = fake_report(nodes=[{"ip": "fd00::1", "pods": ["fd10::5"], "pod_cidrs": ["fd10::/64"],
                                 "pod_cidr_source": "inferred", "peers": []}])
    expectations = load_from_text(render_toml(report))
    assert expectations.pod_cidrs == {"fd00::1": ["fd10::/64"]}
    assert check_report(report, expectations)[0].passed


def load_from_text(text: str) -> Expectations:
    return parse_expectations(tomllib.loads(text))


def test_parse_accepts_scalars_for_lists_and_normalises():
    expectations = parse_expectations({"encap": "VXLAN", "udp_port": 8472, "node_addresses": "fd00:0::1",
                                       "pod_cidrs": {"192.168.1.10": "10.244.1.0/24"}})
    assert expectations.encap == ["vxlan"] and expectations.udp_port == [8472]
    assert expectations.node_addresses == ["fd00::1"]
    assert expectations.pod_cidrs == {"192.168.1.10": ["10.244.1.0/24"]}
    with pytest.raises(ExpectationError) as info:
        parse_expectations({"udp_port": True})
    assert info.value.key == "udp_port"


def test_the_duplicated_catalogues_stay_in_step():
    from pcapdiag.catalogue import SEVERITIES as ANALYZER_SEVERITIES   # the findings rank by it (severity_rank)
    from pcapdiag.analyzers.overhead import NOMINAL_OVERHEAD
    from pcapdiag.cli_common import SEVERITY_CHOICES

    assert set(ENCAP_CLASSES) == set(NOMINAL_OVERHEAD)
    assert SEVERITIES == ANALYZER_SEVERITIES == SEVERITY_CHOICES


@pytest.mark.parametrize("first_import", ["pcapdiag.cli", "pcapdiag.cli_check"])
def test_commands_register_without_pandas_whatever_is_imported_first(first_import):
    code = (f"import sys, {first_import}\nfrom pcapdiag.cli import main\n"
            "assert {'analyze', 'baseline', 'check'} <= set(main.commands), main.commands\n"
            "assert 'pandas' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
