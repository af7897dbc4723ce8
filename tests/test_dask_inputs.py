"""Globs and directories as inputs (pcapdiag.inputs), for the library and the CLI: their captures in the order
they were taken, whatever their names; plain paths as given."""
from __future__ import annotations

import pytest

import pcapdiag
from conftest import run_cli
from pcapdiag.capture import CaptureError
from pcapdiag.inputs import expand_inputs
from pcapdiag.report.machine import render_json
from pcapdiag.testing.files import BASE_TS, write_pcap
from pcapdiag.testing.packets import ethernet, ip_packet, udp


@pytest.fixture
def ring(tmp_path):
    """Three captures named against their start times (as `tcpdump -W` wraps), a README and a hidden file."""
    folder = tmp_path / "captures"
    folder.mkdir()
    for name, start in (("trace.pcap0", 200), ("trace.pcap1", 300), ("trace.pcap2", 100)):
        packets = [ethernet(ip_packet("10.0.0.1", "10.0.0.2", udp(1000 + i, 53, b"x"))) for i in range(3)]
        write_pcap(folder / name, [(BASE_TS + start + i, packet) for i, packet in enumerate(packets)])
    (folder / "README.md").write_text("notes\n")
    (folder / ".trace.pcap3.swp").write_bytes(b"\0" * 64)
    return folder


def test_a_directory_is_its_captures_by_start_time(ring):
    names = [path.rsplit("/", 1)[-1] for path in expand_inputs([str(ring)])]
    assert names == ["trace.pcap2", "trace.pcap0", "trace.pcap1"]


def test_a_glob_is_its_matches_by_start_time_and_plain_paths_keep_their_order(ring):
    plain = [str(ring / "trace.pcap1"), str(ring / "trace.pcap0")]
    assert expand_inputs([str(ring / "*.pcap?")] + plain) == [str(ring / n) for n in
                                                              ("trace.pcap2", "trace.pcap0", "trace.pcap1")] + plain


def test_the_library_and_the_cli_take_a_directory(ring):
    by_time = [str(ring / n) for n in ("trace.pcap2", "trace.pcap0", "trace.pcap1")]
    expected = render_json(pcapdiag.analyze(by_time))
    assert render_json(pcapdiag.analyze(ring)) == expected
    result = run_cli("analyze", ring, "--format", "json", "-q", "-j", "1")
    assert result.exit_code in (0, 1) and result.stdout == expected


def test_nothing_to_expand_is_one_line(ring, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaptureError, match="no capture file in directory"):
        expand_inputs([str(tmp_path / "empty")])
    with pytest.raises(CaptureError, match="no file matches"):
        expand_inputs([str(ring / "*.pcapng")])
    result = run_cli("analyze", str(ring / "*.md"), "-q")
    assert result.exit_code == 2 and result.stderr.startswith("pcapdiag: error: not a capture file")
