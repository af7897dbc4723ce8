"""The Dask engine's graph run in this process (no dask needed): every file's ranges analysed, merged in order
of adjacent pairs (ranges, then files), give the report of --jobs 1. This pins what the cluster relies on:
the analyzers' merge is associative (a merged pair merges after an earlier state as its parts would)."""
from __future__ import annotations

import json

import pytest

import pcapdiag
import pcapdiag.dask_engine as engine
from conftest import SAMPLES
from pcapdiag.report.machine import render_json
from pcapdiag.runner import Settings, build_report
from test_parallel import _bench_generator


def run_here(function, *arguments, key=None):
    """submit for the graph with no cluster: the task runs at once, its result stands for its future."""
    return function(*arguments)


def report_of_tree(paths, chunk_bytes) -> str:
    settings = Settings.make()
    plans = [engine.plan_file(path, chunk_bytes) for path in paths]
    found, info = engine.submit_analysis(run_here, paths, plans, settings, "here")[0]
    return render_json(build_report(", ".join(path.rsplit("/", 1)[-1] for path in paths), found, info))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    path = tmp_path_factory.mktemp("tree") / "mixed.pcap"
    # seed 7: an ICMP too-big in one range explains big packets ranges later (MtuAnalyzer._explain_later)
    _bench_generator().generate(str(path), 30_000, seed=7, fmt="pcap")
    return str(path)


def test_a_tree_of_many_ranges_gives_the_serial_report(mixed):
    assert len(engine.plan_file(mixed, 1 << 20)) >= 9     # many ranges, merged one after another
    assert report_of_tree([mixed], 1 << 20) == render_json(pcapdiag.analyze(mixed, jobs=1))


def test_a_tree_of_files_and_ranges_gives_the_serial_report(mixed):
    # captures of different incidents (each scenario seen from its sending node): nothing to correlate
    paths = [str(path) for path in sorted(SAMPLES.glob("silent-loss/*.node1-eth0.pcap"))[:5]] + [mixed] \
        + [str(SAMPLES / "vxlan-mtu-broken.pcap")]
    serial = json.loads(render_json(pcapdiag.analyze(paths, jobs=1)))
    # the serial run also matches the captures packet by packet; an engine merges them as they are (runner
    # docs), so everything but that section must agree
    assert serial.pop("correlation")["paths"] == []
    assert json.loads(report_of_tree(paths, 2 << 20)) == serial


def test_merge_tree_pairs_neighbours_in_order():
    merged = engine.merge_tree(lambda function, a, b, same_file, key: f"({a}{b})", list("abcde"), True, "t")
    assert merged == "((((ab)c)d)e)"

