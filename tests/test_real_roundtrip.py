"""Issue 19, item 6: `check` accepts every file `baseline` writes.

A GRE key is 32 bits; the report lists it among the tunnel's VNIs, and `baseline` writes it into `vni`: the
file must load, and the capture it came from must pass it. Then the round trip on every capture of the shared
corpus and lab (and the samples): never a rejected file (exit 2), and a pass wherever the capture is healthy
(no error finding in its own analysis; the baseline is written with fail_on = "error").
"""
from __future__ import annotations

import struct

import pytest

import pcapdiag
from conftest import CORPUS, LAB, SAMPLES, corpus_files, needs_corpus, run_cli
from pcapdiag.check import check, load_expectations, render_toml
from pcapdiag.testing.files import write_pcap
from pcapdiag.testing.packets import ETH_TEB, ethernet, ipv4, tcp

NODE_A, NODE_B, POD_A, POD_B = "192.168.1.10", "192.168.1.11", "10.244.1.5", "10.244.2.7"
GRE_KEY = 0xDEADBEEF   # more than 24 bits


def keyed_gre(src, dst, inner: bytes) -> bytes:
    """GRE with the key present (RFC 2890), transparent Ethernet bridging, as a keyed L2 overlay sends it."""
    header = struct.pack(">HHI", 0x2000, ETH_TEB, GRE_KEY)
    return ethernet(ipv4(src, dst, header + ethernet(inner), proto=47))


def test_gre_key_round_trips_through_the_command_line(tmp_path):
    frames = [keyed_gre(NODE_A, NODE_B, ipv4(POD_A, POD_B, tcp(40000, 80, flags="S", mss=1400))),
              keyed_gre(NODE_B, NODE_A, ipv4(POD_B, POD_A, tcp(80, 40000, flags="SA", ack=1, mss=1400)))]
    capture = write_pcap(tmp_path / "gre.pcap", frames)
    expect = tmp_path / "expect.toml"
    assert run_cli("baseline", capture, "-o", expect, "-q").exit_code == 0
    assert f"vni = [{GRE_KEY}]" in expect.read_text()
    result = run_cli("check", capture, "--expect", expect, "-q")
    assert result.exit_code == 0, result.output


def test_near_miss_a_vni_beyond_32_bits_is_still_rejected(tmp_path):
    expect = tmp_path / "expect.toml"
    expect.write_text(f"vni = [{1 << 32}]\n")
    result = run_cli("check", tmp_path / "none.pcap", "--expect", expect, "-q")
    assert result.exit_code == 2 and "vni" in result.output


def _captures() -> list:
    return corpus_files(CORPUS) + corpus_files(LAB) + corpus_files(SAMPLES)


@needs_corpus
@pytest.mark.parametrize("capture", _captures(), ids=lambda path: path.name)
def test_every_capture_passes_its_own_baseline(capture, tmp_path):
    report = pcapdiag.analyze(capture)
    expect = tmp_path / "expect.toml"
    expect.write_text(render_toml(report, fail_on="error"))
    load_expectations(str(expect))          # never rejected: ExpectationError is exit 2
    result = check(capture, expect, analyze=lambda _: report)
    if not report.findings_at_or_above("error"):
        assert result.passed, result.to_text()
