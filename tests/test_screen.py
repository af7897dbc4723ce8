"""The rough edges a first-time user hits (issue 18): CI checks that pass on nothing, options that accept
impossible values or typos, tables with the wrong dtypes, and the small things on the first screen."""
from __future__ import annotations

import csv
import io
import re

import pandas as pd
import pytest

import pcapdiag
from conftest import REPO, SAMPLES, run_cli
from pcapdiag.testing.files import write_pcap
from test_findings_minimal import MSS_BIG, MSS_OK, POD_B, a_to_b, b_to_a, handshake, pod_tcp

BROKEN = SAMPLES / "vxlan-mtu-broken.pcap"


# -- CI checks that pass on nothing -------------------------------------------------

def arp_frame() -> bytes:
    """An ARP request: a packet, but not an IP one."""
    return (b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01"
            + b"\x02\x00\x00\x00\x00\x01" + bytes([192, 168, 1, 10]) + b"\x00" * 6 + bytes([192, 168, 1, 11]))


@pytest.mark.parametrize("records", [[], [arp_frame()]], ids=["header-only", "no-ip"])
def test_a_capture_with_no_ip_packets_fails_check_by_default(tmp_path, records):
    path = write_pcap(tmp_path / "empty.pcap", records)
    result = run_cli("check", path, "-q", "--fail-on", "warning")
    assert result.exit_code == 1, result.stdout
    assert "FAIL capture: expected IP packets, observed none" in result.stdout
    assert run_cli("check", path, "-q", "--fail-on", "warning", "--allow-empty").exit_code == 0
    expect = tmp_path / "expect.toml"
    expect.write_text('fail_on = "warning"\nallow_empty = true\n')
    assert run_cli("check", path, "-q", "--expect", expect).exit_code == 0
    lines = run_cli("analyze", path, "-q").stdout.splitlines()
    verdict = lines[lines.index("") + 1]   # the header (capture, CNI), a blank line, the verdict
    assert verdict.startswith("NO IP TRAFFIC") and "OK" not in verdict


def test_the_baseline_of_a_capture_without_ip_allows_it(tmp_path):
    """What baseline writes, check passes: a baseline taken from an IP-less capture says so."""
    path, expect = write_pcap(tmp_path / "arp.pcap", [arp_frame()]), tmp_path / "expect.toml"
    assert run_cli("baseline", path, "-q", "-o", expect).exit_code == 0
    assert "\nallow_empty = true\n" in expect.read_text()
    assert run_cli("check", path, "-q", "--expect", expect).exit_code == 0
    healthy = tmp_path / "healthy.toml"
    assert run_cli("baseline", BROKEN, "-q", "-o", healthy, "--fail-on", "error").exit_code == 0
    assert "allow_empty" not in healthy.read_text()


def test_a_capture_with_ip_packets_shows_no_capture_line():
    result = run_cli("check", BROKEN, "-q", "--fail-on", "error")
    assert "capture:" not in result.stdout and result.exit_code == 1


def test_a_mistyped_finding_id_is_an_error_with_a_suggestion(tmp_path):
    result = run_cli("check", BROKEN, "-q", "--fail-on", "warning", "--ignore-finding", "mtu.mss-to-big")
    assert result.exit_code == 2
    assert "did you mean 'mtu.mss-too-big'?" in result.stderr and "--ignore-finding" in result.stderr
    expect = tmp_path / "expect.toml"
    expect.write_text('fail_on = "warning"\nignore_findings = ["mtu.mss-to-big"]\n')
    result = run_cli("check", BROKEN, "-q", "--expect", expect)
    assert result.exit_code == 2 and "key 'ignore_findings'" in result.stderr
    assert "did you mean 'mtu.mss-too-big'?" in result.stderr


@pytest.mark.parametrize("mtu", ["68", "575", "65536"])
def test_an_impossible_underlay_mtu_is_rejected(mtu):
    result = run_cli("analyze", BROKEN, "-q", "--underlay-mtu", mtu)
    assert result.exit_code == 2 and "--underlay-mtu" in result.stderr and "576" in result.stderr
    assert "pod MTU to 18" not in result.stdout


def test_the_library_rejects_an_impossible_underlay_mtu_too():
    with pytest.raises(ValueError, match="576-65535"):
        pcapdiag.analyze(BROKEN, underlay_mtu=68)


def test_an_underlay_mtu_the_capture_contradicts_is_warned_about():
    result = run_cli("analyze", BROKEN, "-q", "--underlay-mtu", "1400")
    assert result.exit_code == 0
    assert "warning: --underlay-mtu 1400 is smaller than the 1500-byte outer IP packets" in result.stderr
    assert "warning" not in run_cli("analyze", BROKEN, "-q", "--underlay-mtu", "1500").stderr


# -- the library's tables and CSV ---------------------------------------------------

def test_flows_table_has_real_dtypes():
    table = pcapdiag.analyze(BROKEN).flows_table
    assert table["packets"].dtype == "int64" and table["bytes"].dtype == "int64"
    assert str(table["vni"].dtype) == "Int64" and str(table["sport"].dtype) == "Int64"
    assert str(table["syn_mss"].dtype) == "Int64"
    assert str(table["first"].dtype) == "datetime64[ns, UTC]"
    top = table.nlargest(3, "bytes")
    assert list(top["bytes"]) == sorted(table["bytes"], reverse=True)[:3]
    assert table["first"].min() >= pd.Timestamp("2026-11-28T07:33:13Z")
    icmp = table[table["proto"] == "icmp"]
    assert icmp["sport"].isna().all()


def test_empty_flows_table_has_the_same_dtypes(tmp_path):
    table = pcapdiag.analyze(write_pcap(tmp_path / "empty.pcap", [])).flows_table
    assert table.empty and str(table["first"].dtype) == "datetime64[ns, UTC]" and table["packets"].dtype == "int64"


def test_csv_writes_integers_as_integers():
    text = run_cli("analyze", BROKEN, "-q", "--format", "csv", "--table", "encapsulation").stdout
    rows = {row["type"]: row for row in csv.DictReader(io.StringIO(text))}
    assert rows["vxlan"]["udp_port"] == "8472" and rows["vxlan"]["nominal_overhead"] == "50"
    assert rows["non-ip"]["udp_port"] == "" and "8472.0" not in text
    flows = list(csv.DictReader(io.StringIO(run_cli("analyze", BROKEN, "-q", "--format", "csv").stdout)))
    assert re.fullmatch(r"2026-11-28T07:33:\d\d\.\d{6}Z", flows[0]["first"])
    assert {f["sport"] for f in flows if f["proto"] == "icmp"} == {""}


def test_csv_endpoints_table():
    text = run_cli("analyze", BROKEN, "-q", "--format", "csv", "--table", "endpoints").stdout
    rows = {row["address"]: row for row in csv.DictReader(io.StringIO(text))}
    assert rows["10.244.1.4"]["mss_advertised"] == "1460" and rows["10.244.1.4"]["over_budget"] == "True"


# -- options that were silently ignored, and what the terminal says ---------------------

def test_table_with_the_text_report_is_a_usage_error():
    result = run_cli("analyze", BROKEN, "-q", "--table", "nodes")
    assert result.exit_code == 2 and "--table nodes is for --format csv" in result.stderr


def test_fail_on_with_the_report_in_a_file_says_why_it_exits_1(tmp_path):
    result = run_cli("analyze", BROKEN, "-q", "--format", "json", "-o", tmp_path / "x.json", "--fail-on", "warning")
    assert result.exit_code == 1 and result.stdout == ""
    assert "2 finding(s) at or above warning (mtu.inner-fragmented, mtu.mss-too-big)" in result.stderr


def test_bare_pcapdiag_prints_help_not_an_error():
    result = run_cli()
    assert result.exit_code == 0 and result.stdout.startswith("Usage:") and "error" not in result.stderr


def test_expect_node_help_says_exactly_this_set():
    assert "exactly these nodes" in " ".join(run_cli("check", "--help").stdout.split())


# -- small things on the first screen --------------------------------------------------

def test_one_packet_is_not_packets(tmp_path):
    path = write_pcap(tmp_path / "one.pcap", [a_to_b(pod_tcp(flags="S", seq=0, mss=MSS_OK))])
    assert run_cli("analyze", path, "-q").stdout.splitlines()[1].startswith("1 packet, ")


def test_sizes_are_labelled_in_binary_units():
    text = run_cli("analyze", BROKEN, "-q").stdout
    assert "44.0 KiB on the wire" in text and " KB" not in text and " MB" not in text


def test_pod_addresses_are_in_numeric_order(tmp_path):
    pods = ["10.244.1.10", "10.244.1.2", "10.244.1.9"]
    frames = [frame for pod in pods for frame in handshake(MSS_BIG, MSS_OK, (a_to_b, b_to_a), src=pod, dst=POD_B)]
    text = run_cli("analyze", write_pcap(tmp_path / "pods.pcap", frames), "-q").stdout
    assert "10.244.1.2 10.244.1.9 10.244.1.10" in text                   # the nodes table
    assert "pods on 10.244.1.0/24 (10.244.1.2, 10.244.1.9, 10.244.1.10) advertise" in " ".join(text.split())
    table = text[text.index("MTU by pod and node"):text.index("Findings")]
    assert table.index("10.244.1.2 ") < table.index("10.244.1.9 ") < table.index("10.244.1.10 ")


def test_a_narrowed_pod_cidr_source_is_one_parenthesis():
    from pcapdiag.report.text import _cidr_source

    assert _cidr_source("inferred (narrowed: other nodes' pods are close)") == \
        " (inferred, narrowed: other nodes' pods are close)"
    assert _cidr_source("inferred") == " (inferred)" and _cidr_source(None) == ""


@pytest.mark.parametrize("readme", ["README.md", "bench/README.md"])
def test_no_machine_specific_interpreter_path_in_the_docs(readme):
    text = (REPO / readme).read_text(encoding="utf-8")
    assert not re.search(r"(/work/|/home/|\.venv/bin/python|/opt/\S*python)", text)


def test_the_corpus_skip_reason_says_how_to_run_the_tests():
    from conftest import corpus_header

    assert "PCAPDIAG_CORPUS" in (REPO / "README.md").read_text(encoding="utf-8")
    assert corpus_header().startswith("shared corpus: ")
