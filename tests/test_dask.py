"""The Dask engine on a LocalCluster of 2 worker processes: the captures of the repository (and the lab's, with
the corpus), plus a generated one split into several tasks, give the report of --jobs 1, several captures of
one incident correlated as there; also when a worker is killed during the run. Skipped where
dask.distributed is not installed (pip install '.[dask]')."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import pytest

import pcapdiag
from conftest import LAB, SAMPLES, run_cli
from pcapdiag.report.machine import render_json
from test_parallel import _bench_generator

distributed = pytest.importorskip("distributed")

CHUNK_BYTES = 4 << 20    # the generated capture (~20 MB) becomes about five tasks


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """The sample and silent-loss captures, the lab's when the corpus is there, and a generated large one."""
    big = tmp_path_factory.mktemp("dask") / "mixed.pcap"
    _bench_generator().generate(str(big), 30_000, seed=7, fmt="pcap")
    lab = sorted(p for p in LAB.glob("*.pcap*")) if LAB.is_dir() else []
    files = sorted(SAMPLES.glob("*.pcap")) + sorted(SAMPLES.glob("silent-loss/*.pcap")) + lab + [big]
    assert len(files) >= 20
    return [str(path) for path in files]


@pytest.fixture(scope="module")
def serial_json(captures):
    return render_json(pcapdiag.analyze(captures, jobs=1))


def test_the_cluster_gives_the_serial_report(client, captures, serial_json):
    assert len(pcapdiag.runner.plan_chunks(captures[-1], 1 << 20, CHUNK_BYTES)) >= 4
    assert json.loads(serial_json)["correlation"]["paths"]      # the captures of one incident were matched
    assert render_json(pcapdiag.analyze(captures, client=client, chunk_bytes=CHUNK_BYTES)) == serial_json


def vantage_sets() -> list:
    """Captures of one incident at several vantage points: the multi-capture lab, and the lab's underlay and
    `-i any` captures of one run (with the corpus)."""
    sets = [sorted(SAMPLES.glob("multi/*.pcap")), [SAMPLES / "vxlan-mtu-broken.pcap",
                                                   SAMPLES / "vxlan-mtu-broken.node1-any.pcap"]]
    if LAB.is_dir():
        sets += [[LAB / "vxlan-flannel.pcap", LAB / "vxlan-flannel.node2-any.pcap"],
                 [LAB / "vxlan-mtu-broken.pcap", LAB / "vxlan-mtu-broken.node1-any.pcap"]]
    return [[str(path) for path in paths] for paths in sets]


@pytest.mark.parametrize("paths", vantage_sets(), ids=lambda paths: os.path.basename(paths[-1]))
def test_several_vantage_points_count_each_packet_once_on_the_cluster(client, paths):
    serial = render_json(pcapdiag.analyze(paths, jobs=1))
    document = json.loads(serial)
    assert document["capture"]["packets"] < sum(point["records"] for point in document["correlation"]["vantage_points"])
    assert render_json(pcapdiag.analyze(paths, client=client)) == serial


def test_a_file_given_twice_is_read_once_on_the_cluster(client):
    path = str(SAMPLES / "multi" / "node1-eth0.pcap")
    assert render_json(pcapdiag.analyze([path, path], client=client)) == render_json(pcapdiag.analyze(path))


class KillOnce(distributed.WorkerPlugin):
    """Kills its worker process (SIGKILL, as the OOM killer would) shortly after the first unit task of the
    run starts on it; the marker file makes it happen once in the whole cluster, restarts included."""

    def __init__(self, marker: str):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or "pcapdiag-unit" not in str(key):
            return
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGKILL)).start()


def test_a_worker_killed_mid_run_changes_nothing(client, captures, serial_json, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the workers cannot import this test module
    marker = tmp_path / "killed"
    before = set(client.scheduler_info()["workers"])
    client.register_plugin(KillOnce(str(marker)), name="kill-once")
    try:
        report = pcapdiag.analyze(captures, client=client, chunk_bytes=CHUNK_BYTES)
    finally:
        client.unregister_worker_plugin("kill-once")
    assert marker.exists()
    assert render_json(report) == serial_json
    # the kill lands 0.2 s after its task starts, possibly after the run ended: wait for the replacement
    # worker, so that the kill does not fall into the next test's run
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = set(client.scheduler_info()["workers"])
        if len(workers) == len(before) and workers != before:
            break
        time.sleep(0.1)


def test_progress_counts_every_task_and_packet(client, captures):
    calls, tasks = [], []

    class Recorder:
        def __call__(self, done, total, packets):
            calls.append((done, total, packets))

        def tasks_done(self, done, total):
            tasks.append((done, total))

    report = pcapdiag.analyze(captures[:3], client=client, progress=Recorder())
    assert tasks[-1] == (3, 3)
    assert calls[-1][0] == calls[-1][1] == sum(os.path.getsize(path) for path in captures[:3])
    assert calls[-1][2] == report.to_dict()["capture"]["packets"]


def test_a_file_no_worker_can_read_is_one_line(client, tmp_path):
    missing = tmp_path / "gone.pcap"
    with pytest.raises(pcapdiag.runner.CaptureError, match=r"no such file: .*gone.pcap \(on Dask worker tcp://"):
        pcapdiag.analyze([str(SAMPLES / "ipip.pcap"), str(missing)], client=client)


def test_stdin_is_refused_on_a_cluster(client):
    with pytest.raises(pcapdiag.runner.CaptureError, match="stdin"):
        pcapdiag.analyze("-", client=client)


def test_cli_scheduler_local(tmp_path):
    out = tmp_path / "report.json"
    result = run_cli("analyze", SAMPLES / "silent-loss", "--scheduler", "local", "-j", "1", "-q", "--format",
                     "json", "-o", out)
    assert result.exit_code in (0, 1), result.output
    assert out.read_text() == render_json(pcapdiag.analyze(str(SAMPLES / "silent-loss"), jobs=1))
