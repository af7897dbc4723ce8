"""--jobs N: a capture split at record boundaries and analysed in worker processes gives the report of one pass."""
from __future__ import annotations

import importlib.util
import json

import pytest

import pcapdiag.runner as runner
from conftest import REPO
from pcapdiag.report.machine import render_json


def _bench_generator():
    spec = importlib.util.spec_from_file_location("make_capture", REPO / "bench" / "make_capture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mixed_capture(tmp_path_factory):
    """The benchmark's mixed capture (VXLAN, IPIP, native, odd packets, ICMP too-big), 30,000 packets."""
    path = tmp_path_factory.mktemp("parallel") / "mixed.pcap"
    _bench_generator().generate(str(path), 30_000, seed=7, fmt="pcap")
    return path


def report_text(path, **options) -> str:
    report = json.loads(render_json(__import__("pcapdiag").analyze(str(path), **options)))
    report["capture"].pop("warnings")  # each chunk words its own damage sentences
    return json.dumps(report, sort_keys=True)


@pytest.mark.parametrize("jobs", [2, 3, 5])
def test_jobs_give_the_one_pass_report(mixed_capture, monkeypatch, jobs):
    monkeypatch.setattr(runner, "MIN_CHUNK_BYTES", 1 << 20)  # split this small file too
    chunks = runner.plan_chunks(str(mixed_capture), jobs)
    assert chunks and len(chunks) == jobs
    assert report_text(mixed_capture, jobs=jobs) == report_text(mixed_capture, jobs=1)


def test_small_files_are_not_split(mixed_capture):
    assert runner.plan_chunks(str(mixed_capture), 4) is None  # below MIN_CHUNK_BYTES per part
    assert runner.plan_chunks("-", 4) is None


@pytest.fixture(scope="module")
def mixed_pcapng(tmp_path_factory):
    """The same mixed traffic as a pcapng."""
    path = tmp_path_factory.mktemp("parallel") / "mixed.pcapng"
    _bench_generator().generate(str(path), 30_000, seed=7, fmt="pcapng")
    return path


@pytest.mark.parametrize("jobs", [2, 3])
def test_pcapng_jobs_give_the_one_pass_report(mixed_pcapng, monkeypatch, jobs):
    monkeypatch.setattr(runner, "MIN_CHUNK_BYTES", 1 << 20)
    chunks = runner.plan_chunks(str(mixed_pcapng), jobs)
    assert chunks and len(chunks) == jobs
    assert report_text(mixed_pcapng, jobs=jobs) == report_text(mixed_pcapng, jobs=1)


def test_a_pcapng_with_a_late_interface_is_read_serially(mixed_pcapng, tmp_path, monkeypatch):
    """An interface described mid-file: the ranges cannot know it, so the workers' result is thrown away
    and the file read in one pass: the same report as --jobs 1, never a different one."""
    import struct

    data = mixed_pcapng.read_bytes()
    section_len = struct.unpack_from("<I", data, 4)[0]
    idb_len = struct.unpack_from("<I", data, section_len + 4)[0]
    header, body = data[:section_len + idb_len], data[section_len + idb_len:]
    # a second interface, described a quarter of the way in (at a block boundary)
    pos = 0
    while pos < len(body) // 4:
        pos += struct.unpack_from("<I", body, pos + 4)[0]
    late = tmp_path / "late-interface.pcapng"
    late.write_bytes(header + body[:pos] + data[section_len:section_len + idb_len] + body[pos:])
    monkeypatch.setattr(runner, "MIN_CHUNK_BYTES", 1 << 20)
    assert runner.plan_chunks(str(late), 2)
    calls = []
    serial = runner.run_unit

    def counting(unit, *args, **kwargs):
        calls.append(unit.start)
        return serial(unit, *args, **kwargs)

    monkeypatch.setattr(runner, "run_unit", counting)
    parallel_report = report_text(late, jobs=2)
    assert calls == [None]          # the workers' ranges were not exact: re-read in one pass, in this process
    assert parallel_report == report_text(late, jobs=1)


def test_a_timestamp_going_back_at_a_split_is_counted(mixed_capture, tmp_path, monkeypatch):
    """The record that starts the second range is earlier than the one that ends the first: one read
    counts it, and so must the merge of the two ranges (warnings included)."""
    import struct

    monkeypatch.setattr(runner, "MIN_CHUNK_BYTES", 1 << 20)
    [(_, boundary), _] = runner.plan_chunks(str(mixed_capture), 2)
    data = bytearray(mixed_capture.read_bytes())
    seconds = struct.unpack_from("<I", data, boundary)[0]
    struct.pack_into("<I", data, boundary, seconds - 1000)
    back = tmp_path / "back.pcap"
    back.write_bytes(bytes(data))

    def capture_section(jobs):
        report = json.loads(render_json(__import__("pcapdiag").analyze(str(back), jobs=jobs)))
        return report["capture"]["damage"], report["capture"]["warnings"]

    assert capture_section(2) == capture_section(1)
    assert capture_section(1)[0]["ts_backwards"] >= 1
