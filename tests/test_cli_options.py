"""Every option of every command, driven through click's CliRunner on the repository's sample captures.

Each test says which options it covers (@covers); test_every_option_is_covered fails when a command
gains an option that no test here drives.
"""
from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from conftest import SAMPLES
from pcapdiag.testing.files import write_pcap
from test_cli_docs import commands, long_options

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

FLANNEL = SAMPLES / "vxlan-flannel-8472.pcap"   # vxlan/8472 VNI 1, 3 nodes, clean
BROKEN = SAMPLES / "vxlan-mtu-broken.pcap"      # mtu.inner-fragmented (error), mtu.mss-too-big (warning)
VXLAN_4789 = SAMPLES / "vxlan-4789.pcap"
ANALYSIS_OPTIONS = ("--vxlan-port", "--underlay-mtu", "--decoder", "--jobs", "--flow-cap", "--address-cap",
                    "--quiet")

COVERED: set = set()


def covers(command: str, *options: str):
    """Record that the decorated test drives these options of this command ("" is the group)."""
    COVERED.update((command, option) for option in options)
    return lambda test: test


def invoke(*args, input=None):
    from pcapdiag.cli import main

    try:  # stdout and stderr apart (click >= 8.2 always does; 8.1 needs mix_stderr=False)
        runner = CliRunner(mix_stderr=False)
    except TypeError:
        runner = CliRunner()
    return runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def every_option():
    return {(name, option) for name, command in commands().items() for option in long_options(command, name)}


def test_every_option_is_covered():
    uncovered = sorted(every_option() - COVERED)
    assert not uncovered, f"options no test in this file drives: {uncovered}"
    assert not COVERED - every_option(), "a test claims an option that does not exist"


# -- the group -----------------------------------------------------------------------

@covers("", "--version", "--help")
@covers("analyze", "--help")
@covers("baseline", "--help")
@covers("check", "--help")
def test_version_and_help():
    version = invoke("--version")
    assert version.exit_code == 0 and version.stdout.startswith("pcapdiag, version ")
    for flag in ("--help", "-h"):
        result = invoke(flag)
        assert result.exit_code == 0
        assert all(name in result.stdout for name in ("analyze", "baseline", "check"))
    for command in ("analyze", "baseline", "check"):
        assert invoke(command, "-h").stdout.startswith(f"Usage: main {command} ")


# -- analyze -------------------------------------------------------------------------

@covers("analyze", "--format", "--table")
def test_analyze_formats_and_tables():
    text = invoke("analyze", FLANNEL, "-q", "--format", "text").stdout
    assert text.startswith("pcapdiag ") and "Encapsulation" in text
    assert invoke("analyze", FLANNEL, "-q").stdout == text  # text is the default
    report = json.loads(invoke("analyze", FLANNEL, "-q", "--format", "json").stdout)
    assert report["mtu"]["underlay_mtu"] == 1500
    for table, column in (("flows", "max_ip_len"), ("nodes", "pod_cidrs"), ("encapsulation", "overhead_pct")):
        rows = list(csv.DictReader(io.StringIO(invoke("analyze", FLANNEL, "-q", "--format", "csv", "--table",
                                                      table).stdout)))
        assert rows and column in rows[0], table
    assert invoke("analyze", FLANNEL, "--format", "xml").exit_code == 2


@covers("analyze", "--top")
def test_analyze_top():
    assert "Top 1 flows by bytes" in invoke("analyze", FLANNEL, "-q", "--top", "1").stdout
    assert "Top 10 flows by bytes" in invoke("analyze", FLANNEL, "-q").stdout


@covers("analyze", "--fail-on")
def test_analyze_fail_on():
    assert invoke("analyze", BROKEN, "-q").exit_code == 0
    assert invoke("analyze", BROKEN, "-q", "--fail-on", "error").exit_code == 1
    assert invoke("analyze", FLANNEL, "-q", "--fail-on", "info").exit_code == 0


@covers("analyze", "--output")
def test_analyze_output(tmp_path):
    for flag in ("--output", "-o"):
        target = tmp_path / f"report{flag}.json"
        result = invoke("analyze", FLANNEL, "-q", "--format", "json", flag, target)
        assert result.exit_code == 0 and result.stdout == ""
        assert json.loads(target.read_text())["capture"]["packets"] == 178


# -- the analysis options, shared by the three commands ---------------------------------

@pytest.fixture
def runner_calls(monkeypatch):
    """The keyword arguments every command hands the runner (which still runs)."""
    import pcapdiag.runner

    calls, real = [], pcapdiag.runner.analyze

    def recording(files, **options):
        calls.append(dict(options, files=files))
        return real(files, **options)

    monkeypatch.setattr(pcapdiag.runner, "analyze", recording)
    return calls


COMMAND_ARGS = {"analyze": ["--format", "json"], "baseline": [], "check": ["--fail-on", "error"]}


@pytest.mark.parametrize("command", ["analyze", "baseline", "check"])
@covers("analyze", *ANALYSIS_OPTIONS)
@covers("baseline", *ANALYSIS_OPTIONS)
@covers("check", *ANALYSIS_OPTIONS)
def test_analysis_options_reach_the_runner(command, runner_calls):
    result = invoke(command, FLANNEL, *COMMAND_ARGS[command], "--vxlan-port", 5555, "--vxlan-port", 6000,
                    "--underlay-mtu", 9000, "--decoder", "reference", "--jobs", 1, "--flow-cap", 100,
                    "--address-cap", 10, "--quiet")
    assert result.exit_code == 0, result.stderr
    [call] = runner_calls
    assert call["files"] == [str(FLANNEL)]
    assert (tuple(call["vxlan_ports"]), call["underlay_mtu"], call["decoder"], call["jobs"], call["flow_cap"],
            call["address_cap"]) == ((5555, 6000), 9000, "reference", 1, 100, 10)
    # and the underlay MTU given is the one reported
    assert {"analyze": '"underlay_mtu": 9000', "baseline": "underlay_mtu = 9000",
            "check": ""}[command] in result.stdout
    runner_calls.clear()
    assert invoke(command, FLANNEL, *COMMAND_ARGS[command], "-j", 2, "-q").exit_code == 0
    assert runner_calls[0]["jobs"] == 2 and runner_calls[0]["decoder"] == "fast"


@pytest.mark.parametrize("bad", [["--jobs", "0"], ["--flow-cap", "99"], ["--underlay-mtu", "67"],
                                 ["--vxlan-port", "65536"], ["--decoder", "slow"]])
def test_analysis_options_out_of_range_are_usage_errors(bad):
    result = invoke("analyze", FLANNEL, *bad)
    assert result.exit_code == 2 and bad[0] in result.stderr and result.stderr.count("\n") == 1


def test_progress_on_a_terminal_unless_quiet(monkeypatch):
    import pcapdiag.cli_common

    monkeypatch.setattr(pcapdiag.cli_common, "stderr_is_terminal", lambda: True)
    drawn = invoke("analyze", FLANNEL, "--format", "json").stderr
    assert "178 packets" in drawn and "MB/s" in drawn
    assert invoke("analyze", FLANNEL, "--format", "json", "-q").stderr == ""


# -- baseline --------------------------------------------------------------------------

@covers("baseline", "--output", "--fail-on")
def test_baseline_output_and_fail_on(tmp_path):
    to_stdout = invoke("baseline", FLANNEL, "-q")
    assert to_stdout.exit_code == 0 and tomllib.loads(to_stdout.stdout)["fail_on"] == "warning"
    target = tmp_path / "expect.toml"
    result = invoke("baseline", BROKEN, "-q", "--output", target, "--fail-on", "error")
    assert result.exit_code == 0 and result.stdout == ""
    assert tomllib.loads(target.read_text())["fail_on"] == "error"
    # the warning names only the findings at or above the severity written
    assert "(mtu.inner-fragmented at or above error)" in result.stderr
    assert "mtu.inner-fragmented, mtu.mss-too-big at or above warning" in invoke("baseline", BROKEN, "-q",
                                                                                  "-o", target).stderr


# -- check -----------------------------------------------------------------------------

def check_lines(*args):
    result = invoke("check", FLANNEL, "-q", *args)
    return result.exit_code, {line.split(":", 1)[0] for line in result.stdout.splitlines()[:-1]}


@covers("check", "--expect-encap", "--expect-port", "--expect-vni", "--nodes", "--expect-node", "--expect-pod-cidr",
        "--expect-underlay-mtu", "--expect-overlay-mtu", "--max-inner-size", "--fail-on")
@pytest.mark.parametrize("name, good, bad", [
    ("encap", ["--expect-encap", "vxlan"], ["--expect-encap", "geneve"]),
    ("udp_port", ["--expect-port", "8472"], ["--expect-port", "4789"]),
    ("vni", ["--expect-vni", "1"], ["--expect-vni", "1", "--expect-vni", "2"]),
    ("nodes", ["--nodes", "3"], ["--nodes", "2"]),
    ("node_addresses", ["--expect-node", "192.168.50.11", "--expect-node", "192.168.50.12", "--expect-node",
                        "192.168.50.13"], ["--expect-node", "192.168.50.11"]),
    ("pod_cidrs", ["--expect-pod-cidr", "192.168.50.11=10.244.1.0/24"],
     ["--expect-pod-cidr", "192.168.50.11=10.244.1.0/24,10.244.9.0/24"]),
    ("underlay_mtu", ["--expect-underlay-mtu", "1500"], ["--expect-underlay-mtu", "9000"]),
    ("overlay_mtu", ["--expect-overlay-mtu", "1450"], ["--expect-overlay-mtu", "1500"]),
    ("max_inner_size", ["--max-inner-size", "1450"], ["--max-inner-size", "1400"]),
    ("findings", ["--fail-on", "info"], None),
])
def test_each_expectation_flag_passes_and_fails(name, good, bad):
    assert check_lines(*good) == (0, {f"PASS {name}"})
    if bad:
        assert check_lines(*bad) == (1, {f"FAIL {name}"})


@covers("check", "--ignore-finding")
def test_check_fail_on_with_ignored_findings():
    result = invoke("check", BROKEN, "-q", "--fail-on", "warning", "--ignore-finding", "mtu.inner-fragmented")
    assert result.exit_code == 1 and "observed mtu.mss-too-big (warning)" in result.stdout
    result = invoke("check", BROKEN, "-q", "--fail-on", "warning", "--ignore-finding", "mtu.inner-fragmented",
                    "--ignore-finding", "mtu.mss-too-big")
    assert result.exit_code == 0
    assert "ignored: mtu.inner-fragmented, mtu.mss-too-big" in result.stdout


@covers("check", "--expect", "--format", "--junit")
def test_check_expect_file_format_and_junit(tmp_path):
    expect, junit = tmp_path / "expect.toml", tmp_path / "check.xml"
    assert invoke("baseline", FLANNEL, "-q", "-o", expect).exit_code == 0
    text = invoke("check", FLANNEL, VXLAN_4789, "-q", "--expect", expect, "--format", "text")
    assert text.exit_code == 1 and text.stdout.endswith("\n\n2 captures: 1 passed, 1 failed\n")
    as_json = invoke("check", FLANNEL, VXLAN_4789, "-q", "--expect", expect, "--format", "json", "--junit", junit)
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)
    assert document["expectations_source"] == str(expect)
    assert [c["passed"] for c in document["captures"]] == [True, False]
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [s.get("failures") for s in suites] == ["0", str(document["captures"][1]["failed"])]


@covers("check", "--allow-empty")
def test_check_allow_empty(tmp_path):
    empty = write_pcap(tmp_path / "empty.pcap", [])
    assert invoke("check", empty, "-q", "--fail-on", "error").exit_code == 1
    assert invoke("check", empty, "-q", "--fail-on", "error", "--allow-empty").exit_code == 0


def test_check_reads_stdin_once():
    result = invoke("check", "-", "-q", "--expect-port", "8472", input=FLANNEL.read_bytes())
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "-: PASS, 1 of 1 expectations met"
    twice = invoke("check", "-", "-", "-q", "--fail-on", "error")
    assert twice.exit_code == 2 and twice.stderr == "pcapdiag: error: stdin ('-') can be read only once\n"


@covers("analyze", "--scheduler")
def test_scheduler_without_dask_is_one_line(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)   # as if the dask extra were absent
    result = invoke("analyze", FLANNEL, "--scheduler", "local")
    assert result.exit_code == 2
    assert result.stderr == "pcapdiag: error: --scheduler needs dask: pip install 'pcapdiag[dask]'\n"


@covers("analyze", "--cluster")
@covers("check", "--cluster")
@covers("baseline", "--cluster")
def test_cluster_dump_on_every_command(tmp_path):
    from clusters.kubectl import FLANNEL_8472

    named = json.loads(invoke("analyze", FLANNEL, "-q", "--format", "json", "--cluster", FLANNEL_8472).stdout)
    assert [n["name"] for n in named["nodes"]] == ["n1", "n2", "n3"]
    assert invoke("check", FLANNEL, "-q", "--fail-on", "info", "--cluster", FLANNEL_8472).exit_code == 0
    expect = invoke("baseline", FLANNEL, "-q", "--cluster", FLANNEL_8472).stdout
    assert "192.168.50.13 n3" in expect
