"""pcapdiag.check as a library: check() gives what `pcapdiag check` prints, without click.

Runs on the repository's sample captures, so it needs no corpus.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from pcapdiag.capture import CaptureError
from pcapdiag.check import CheckResult, ExpectationError, Expectations, check, check_report, render_toml

from conftest import SAMPLES
from test_cli_options import invoke as cli

FLANNEL, VXLAN_4789 = SAMPLES / "vxlan-flannel-8472.pcap", SAMPLES / "vxlan-4789.pcap"


def without_times(text: str) -> str:
    """seconds, time and timestamp differ from run to run; the rest must not."""
    text = re.sub(r'"seconds": [0-9.]+', '"seconds": 0', text)
    text = re.sub(r'"timestamp": "[^"]*"', '"timestamp": ""', text)
    return re.sub(r'(time|timestamp)="[^"]*"', r'\1=""', text)


@pytest.fixture(scope="module")
def expect_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("expect") / "expect.toml"
    assert cli("baseline", FLANNEL, "-q", "-o", path).exit_code == 0
    return path


def test_check_gives_what_the_command_prints(expect_file, tmp_path):
    result = check([FLANNEL, VXLAN_4789], expect_file, jobs=1)
    assert isinstance(result, CheckResult) and result.passed is False
    assert [c.passed for c in result.captures] == [True, False]
    assert result.source == str(expect_file)
    assert result.to_text() == cli("check", FLANNEL, VXLAN_4789, "--expect", expect_file, "-q").stdout
    junit = tmp_path / "check.xml"
    as_json = cli("check", FLANNEL, VXLAN_4789, "--expect", expect_file, "-q", "--format", "json", "--junit", junit)
    assert without_times(result.to_json()) == without_times(as_json.stdout)
    assert json.loads(result.to_json()) == result.to_dict()
    assert without_times(result.to_junit()) == without_times(junit.read_text())


def test_one_capture_and_expectations_as_a_dict_or_object():
    one = check(FLANNEL, {"udp_port": 8472, "nodes": 3}, decoder="reference", jobs=1)
    assert one.passed and one.source == "" and [c.file for c in one.captures] == [str(FLANNEL)]
    assert [r.name for r in one.captures[0].results] == ["udp_port", "nodes"]
    assert one.to_text().endswith(f"{FLANNEL}: PASS, 2 of 2 expectations met\n")  # no totals for one capture
    failing = check(str(FLANNEL), Expectations(vni=[2]), source="my rules", jobs=1)
    assert not failing.passed and failing.to_dict()["expectations_source"] == "my rules"
    assert failing.captures[0].failed[0].line() == "FAIL vni: expected 2, observed 1 - vxlan/8472 VNI 1"


def test_each_capture_is_shown_as_it_is_judged_and_analyze_can_be_replaced():
    import pcapdiag

    seen, order = [], []

    def analyze(path):
        order.append(("analyze", path))
        return pcapdiag.analyze(path, jobs=1)

    def each(capture):
        order.append(("judged", capture.file))
        seen.append(capture)

    result = check([FLANNEL, VXLAN_4789], {"encap": "vxlan"}, analyze=analyze, each=each)
    assert seen == result.captures
    assert [step for step, _ in order] == ["analyze", "judged", "analyze", "judged"]


def test_bad_input_fails_before_any_work(tmp_path):
    analysed = []
    with pytest.raises(CaptureError, match="no such file"):
        check([FLANNEL, tmp_path / "nope.pcap"], {"nodes": 3}, analyze=analysed.append)
    assert analysed == []
    with pytest.raises(ExpectationError, match="no such expectations file"):
        check(FLANNEL, tmp_path / "nope.toml")
    with pytest.raises(ExpectationError) as info:
        check(FLANNEL, {"udp_prot": 8472})
    assert info.value.key == "udp_prot"
    with pytest.raises(TypeError, match="decoder"):  # options would go nowhere with analyze given
        check(FLANNEL, {"nodes": 3}, analyze=analysed.append, decoder="reference")


def test_a_saved_json_report_is_judged_like_the_capture(expect_file):
    saved = json.loads(cli("analyze", FLANNEL, "-q", "--format", "json").stdout)
    from pcapdiag.check import load_expectations

    results = check_report(saved, load_expectations(str(expect_file)))
    assert [r.line() for r in results] == [r.line() for r in check(FLANNEL, expect_file).captures[0].results]
    assert "udp_port = [8472]" in render_toml(saved)


def test_the_library_imports_neither_click_nor_pandas():
    code = ("import sys, pcapdiag.check\n"
            "print(sorted(m for m in ('click', 'pandas', 'numpy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
