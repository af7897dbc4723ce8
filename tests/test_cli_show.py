"""The HTML report, the evidence export and `decap` through the command line (the libraries behind them are
tested in test_html*, test_export* and test_decap*)."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from test_cli_options import BROKEN, covers, invoke


@covers("analyze", "--format")
def test_html_report_to_a_file(tmp_path):
    out = tmp_path / "report.html"
    result = invoke("analyze", BROKEN, "--format", "html", "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "mtu.inner-fragmented" in page and "<svg" in page
    assert "<script" not in page.lower()


def test_html_needs_a_file_not_stdin():
    result = invoke("analyze", "-", "--format", "html", "-q", input=BROKEN.read_bytes())
    assert result.exit_code == 2 and "not stdin" in result.stderr


@covers("analyze", "--export", "--export-limit", "--export-flow", "--export-pair")
def test_export_writes_a_capture_per_finding_and_per_chosen_flow_and_pair(tmp_path):
    result = invoke("analyze", BROKEN, "--format", "json", "-q", "--export", tmp_path / "ev", "--export-limit", 5,
                    "--export-flow", "10.244.1.2<>10.244.2.2", "--export-pair", "192.168.90.11>192.168.90.12")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    names = {path.name for path in (tmp_path / "ev").iterdir()}
    assert {f"{f['id']}.pcapng" for f in report["findings"]} <= names
    assert {"flow-1.pcapng", "pair-1.pcapng"} <= names
    assert "exported 5 packet(s)" in result.stderr     # the limit holds (14 fragments stand behind the finding)
    if shutil.which("tshark"):
        for name in names:
            listed = subprocess.run(["tshark", "-r", str(tmp_path / "ev" / name)], capture_output=True, text=True)
            assert listed.returncode == 0 and 0 < len(listed.stdout.splitlines()) <= 5


def test_a_bad_flow_spec_is_an_input_error(tmp_path):
    result = invoke("analyze", BROKEN, "-q", "--export", tmp_path, "--export-flow", "nonsense")
    assert result.exit_code == 2 and result.stderr.startswith("pcapdiag: error:")


@covers("decap", "--help", "--output", "--class", "--pair", "--vni", "--keep-native", "--vxlan-port", "--decoder")
def test_decap_writes_the_inner_packets(tmp_path):
    out = tmp_path / "inner.pcapng"
    result = invoke("decap", BROKEN, "-o", out, "--class", "vxlan", "--pair", "192.168.90.11<>192.168.90.12",
                    "--vni", 1, "--keep-native", "--vxlan-port", 8472, "--decoder", "reference")
    assert result.exit_code == 0, result.stderr
    # the two ARP frames are neither in the pair nor the VNI asked for: filtered, not kept
    assert "decapsulated vxlan 94" in result.stderr and "filtered 2" in result.stderr
    assert out.stat().st_size > 0
    assert invoke("decap", "--help").exit_code == 0
    filtered = invoke("decap", BROKEN, "-o", tmp_path / "none.pcapng", "--vni", 7)
    assert "0 packet(s) written" in filtered.stderr
