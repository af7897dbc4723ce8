"""The command line as a user drives it: formats, stdin, several files, exit codes, fast start-up."""
from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys

import pytest

from conftest import LAB, REPO, needs_corpus, run_cli


def test_help_does_not_import_pandas():
    code = ("import sys; from pcapdiag.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "try:\n    main(['analyze', '--format', 'nope', 'x'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pandas', 'numpy', 'dpkt') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_usage_error_is_exit_2_without_traceback():
    result = run_cli("analyze", "--format", "xml", "whatever.pcap")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_missing_file_is_one_line_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pcapdiag", "analyze", str(tmp_path / "nope.pcap")],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no such file" in result.stderr
    assert "Traceback" not in result.stderr


@needs_corpus
def test_csv_tables():
    for table, column in (("flows", "max_ip_len"), ("nodes", "pod_cidrs"), ("encapsulation", "overhead_pct")):
        result = run_cli("analyze", LAB / "vxlan-flannel.pcap", "--format", "csv", "--table", table, "-q")
        assert result.exit_code == 0
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert rows and column in rows[0]
    nodes = list(csv.DictReader(io.StringIO(run_cli("analyze", LAB / "vxlan-flannel.pcap", "--format", "csv",
                                                    "--table", "nodes", "-q").stdout)))
    assert {row["pod_cidrs"] for row in nodes} == {"10.116.65.0/24", "10.116.114.0/24"}


@needs_corpus
def test_stdin_and_gzip_give_the_same_report(tmp_path):
    raw = (LAB / "ipip-userspace.pcap").read_bytes()
    direct = json.loads(run_cli("analyze", LAB / "ipip-userspace.pcap", "--format", "json", "-q").stdout)
    piped = json.loads(run_cli("analyze", "-", "--format", "json", "-q", input=gzip.compress(raw)).stdout)
    for report in (direct, piped):
        report["capture"].pop("file"), report["capture"].pop("compressed")
    assert piped == direct


@needs_corpus
def test_several_files_make_one_report():
    one = json.loads(run_cli("analyze", LAB / "ipip-userspace.pcap", "--format", "json", "-q").stdout)
    two = json.loads(run_cli("analyze", LAB / "ipip-userspace.pcap", LAB / "geneve-userspace.pcap", "--format",
                             "json", "-q", "--jobs", "2").stdout)
    assert {e["type"] for e in two["encapsulation"]} >= {"ipip", "geneve"}
    assert two["capture"]["packets"] > one["capture"]["packets"]
    assert len(two["nodes"]) == 4


@needs_corpus
def test_output_file_and_top(tmp_path):
    target = tmp_path / "report.txt"
    result = run_cli("analyze", LAB / "vxlan-flannel.pcap", "--top", "2", "-o", target, "-q")
    assert result.exit_code == 0 and result.stdout == ""
    text = target.read_text()
    assert "Top 2 flows by bytes" in text


@needs_corpus
@pytest.mark.parametrize("decoder", ["fast", "reference"])
def test_decoders_agree_on_the_report(decoder, lab_reports):
    assert lab_reports("vxlan-mtu-broken.pcap", "--decoder", decoder) == lab_reports("vxlan-mtu-broken.pcap")


def test_version():
    result = run_cli("--version")
    assert result.exit_code == 0 and "pcapdiag" in result.output


def test_progress_bar_on_a_terminal_only(capsys):
    from pcapdiag.cli_common import Progress

    bar = Progress(enabled=True)
    bar(50_000_000, 100_000_000, 123_456)
    bar.done()
    drawn = capsys.readouterr().err
    assert "123,456 packets" in drawn and "MB/s" in drawn and "50.0%" in drawn and "ETA" in drawn
    quiet = Progress(enabled=False)
    quiet(50_000_000, 100_000_000, 1)
    assert capsys.readouterr().err == ""
