"""Progress in every mode (issue 18): a capture split over worker processes, or several files read at
once, reports its progress as a one-process read does; -q and a redirected stderr silence it."""
from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

import pcapdiag
import pcapdiag.runner as runner
from conftest import SAMPLES
from test_parallel import mixed_capture  # noqa: F401  (the fixture: 30,000 packets of mixed traffic)


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, bytes_read, size, packets):
        self.calls.append((bytes_read, size, packets))


def test_a_split_capture_reports_progress_from_its_workers(mixed_capture, monkeypatch):  # noqa: F811
    monkeypatch.setattr(runner, "MIN_CHUNK_BYTES", 1 << 20)   # split this small file
    chunks = runner.plan_chunks(str(mixed_capture), 2)
    assert len(chunks) == 2
    progress = Recorder()
    report = pcapdiag.analyze(mixed_capture, jobs=2, progress=progress)
    assert progress.calls, "no progress while the workers ran"
    read, size, packets = progress.calls[-1]
    assert size == chunks[-1][1] - chunks[0][0] and read == size        # all of it, never past it
    assert packets == report.stats.packets == 30_000
    assert all(a[0] <= b[0] and a[2] <= b[2] for a, b in zip(progress.calls, progress.calls[1:]))


def test_several_files_in_parallel_report_progress():
    paths = [SAMPLES / "vxlan-mtu-broken.pcap", SAMPLES / "vxlan-flannel-8472.pcap"]
    progress = Recorder()
    report = pcapdiag.analyze(paths, jobs=2, progress=progress)
    read, size, packets = progress.calls[-1]
    assert size == sum(os.path.getsize(p) for p in paths) and 0 < read <= size
    assert packets == report.stats.packets


@pytest.mark.parametrize("quiet, terminal, shown", [(False, True, True), (True, True, False),
                                                    (False, False, False)])
def test_the_bar_in_the_default_parallel_mode(monkeypatch, quiet, terminal, shown):
    import pcapdiag.cli_common
    from pcapdiag.cli import main

    monkeypatch.setattr(pcapdiag.cli_common, "stderr_is_terminal", lambda: terminal)
    args = ["analyze", str(SAMPLES / "vxlan-mtu-broken.pcap"), str(SAMPLES / "geneve.pcap"), "--format", "json",
            "--jobs", "2"] + (["-q"] if quiet else [])
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0
    assert ("packets" in result.stderr and "MB/s" in result.stderr) is shown
