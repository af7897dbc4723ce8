"""--jobs N: a capture split at record boundaries and analysed in worker processes gives the report of one pass."""
from __future__ import annotations

import importlib.util
import json

import pytest

import pcapdiag.parallel as parallel
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
    monkeypatch.setattr(parallel, "MIN_CHUNK_BYTES", 1 << 20)  # split this small file too
    chunks = parallel.plan_chunks(str(mixed_capture), jobs)
    assert chunks and len(chunks) == jobs
    assert report_text(mixed_capture, jobs=jobs) == report_text(mixed_capture, jobs=1)


def test_small_files_are_not_split(mixed_capture):
    assert parallel.plan_chunks(str(mixed_capture), 4) is None  # below MIN_CHUNK_BYTES per part
    assert parallel.plan_chunks("-", 4) is None
