"""The Dask engine: the runner's units of every file as tasks on a dask.distributed cluster.

Used only when asked for (``pcapdiag.analyze(paths, client=...)``, ``pcapdiag analyze --scheduler``), as the
runner's ``engine`` (cluster_engine); dask is the optional extra ``pcapdiag[dask]`` and is imported inside the
functions that need it, so importing this module imports no dask.

Paths are read as the workers see them (shared storage). Each file is planned on a worker (opened, and cut at
record boundaries into ranges of about ``chunk_bytes``, as ``runner.plan_chunks`` does for --jobs); every range
is a task (``runner.run_unit``). States are merged on the workers as a tree of adjacent pairs, so the merge
order stays the unit order: first the ranges of each file (a later range's frame numbers shifted by the
records before it; a file whose split proves bad is read again whole, as the process pool does), then the
files. Only each unit's packet count (for the progress bar) and the final analyzers' results reach the
client, which builds the report. A worker lost mid-run is Dask's business: the tasks are pure functions of
their unit, and Dask runs again whatever the lost worker held.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import uuid

from . import runner
from .analyzers import merge_all, results, shift_frames
from .capture import CaptureError, open_capture

ALL_PARTS = 1 << 20   # runner.plan_chunks' `jobs`: on a cluster only the range size bounds a file's tasks


class SchedulerError(Exception):
    """The cluster cannot be used: dask is not installed, or the scheduler cannot be reached (one line)."""


@contextlib.contextmanager
def open_client(scheduler: str, workers: int | None = None):
    """A distributed.Client for `scheduler`: "local" starts (and at the end stops) a LocalCluster of `workers`
    single-threaded processes (default: the CPU count); anything else is a scheduler address
    (tcp://host:8786)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SchedulerError("--scheduler needs dask: pip install 'pcapdiag[dask]'") from None
    if scheduler == "local":
        # processes, one thread each: the analysis holds the GIL; no dashboard (its port may be taken); the
        # workers import the analysis as they start, together, not one after the other as tasks reach them
        with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=logging.CRITICAL,
                          preload=["pcapdiag.runner"]) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        yield client


def cluster_engine(client, chunk_bytes: int | None = None):
    """The runner's engine (runner.analyze(engine=...)) for the client's cluster; chunk_bytes: the size of a
    task's byte range (default runner.MIN_CHUNK_BYTES)."""
    return functools.partial(run_on_cluster, client, chunk_bytes=chunk_bytes)


def run_on_cluster(client, paths: list, settings: runner.Settings, progress=None, chunk_bytes: int | None = None):
    """(the analyzers' results, the capture facts) of the files as one analysis, computed on the client's
    cluster. progress: called as progress(bytes done, bytes of all files, packets) as units finish; one with a
    tasks_done(done, total) method is told the task count too."""
    from distributed import as_completed

    if "-" in paths:
        raise CaptureError("'-' (stdin) cannot be analysed on a Dask cluster: its workers cannot read it")
    run = uuid.uuid4().hex[:12]   # keys unique to this run: a shared cluster may run several at once
    plans = client.gather([client.submit(plan_file, path, chunk_bytes, key=f"pcapdiag-plan-{run}-{index}")
                           for index, path in enumerate(paths)])
    final, counts = submit_analysis(client.submit, paths, plans, settings, run)
    sizes = {future.key: size for future, size in counts}
    done_bytes = packets = done = 0
    for future, unit_count in as_completed([future for future, _ in counts], with_results=True):
        done += 1
        done_bytes += sizes[future.key]
        packets += unit_count
        if progress:
            if hasattr(progress, "tasks_done"):
                progress.tasks_done(done, len(counts))
            progress(done_bytes, sum(sizes.values()), packets)
    return final.result()


def submit_analysis(submit, paths: list, plans: list, settings: runner.Settings, run: str):
    """The whole graph, given each file's byte ranges (plans): (the final task, [(a unit's packet-count task,
    its bytes)]). submit is client.submit, or any call that runs submit(function, *arguments, key=...)."""
    files, counts = [], []
    for index, (path, ranges) in enumerate(zip(paths, plans)):
        first, last = index == 0, index == len(paths) - 1
        leaves = [submit(run_unit, unit, settings, key=f"pcapdiag-unit-{run}-{index}-{number}")
                  for number, unit in enumerate(file_units(path, ranges, first, last))]
        counts += [(submit(unit_packets, leaf, key=f"pcapdiag-count-{run}-{index}-{number}"), end - start)
                   for number, (leaf, (start, end)) in enumerate(zip(leaves, ranges))]
        merged = merge_tree(submit, leaves, True, f"{run}-{index}")
        if len(leaves) > 1:
            whole = file_units(path, ranges[:1], first, last)[0]
            merged = submit(settle_file, merged, whole, settings, key=f"pcapdiag-settle-{run}-{index}")
        files.append(merged)
    return submit(finish, merge_tree(submit, files, False, run), key=f"pcapdiag-finish-{run}"), counts


def plan_file(path: str, chunk_bytes: int | None):
    """On a worker: the byte ranges [(start, end)] of a file's units (one range, (0, size), when it is not
    split). Raises CaptureError naming the worker when it cannot read the file."""
    try:
        open_capture(path).close()
        size = os.path.getsize(path)
    except (CaptureError, OSError) as exc:
        raise CaptureError(f"{exc} (on Dask worker {_worker_address()})") from None
    return runner.plan_chunks(path, ALL_PARTS, chunk_bytes) or [(0, size)]


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:   # not in a worker (called directly)
        return "none"


def file_units(path: str, ranges: list, first: bool, last: bool) -> list:
    """The WorkUnits of one file of the run: a range each, or the whole file for a single one."""
    if len(ranges) == 1:
        return [runner.WorkUnit(path, continuation=not first, last=last)]
    return [runner.WorkUnit(path, start, end, continuation=not (first and number == 0),
                            last=last and number == len(ranges) - 1)
            for number, (start, end) in enumerate(ranges)]


def run_unit(unit: runner.WorkUnit, settings: runner.Settings):
    """On a worker: one unit's (analyzer state, [its capture facts]), the shape merge_pair takes."""
    state, info = runner.run_unit(unit, settings)
    return state, [info]


def unit_packets(part) -> int:
    """The packets one unit read (what the client's progress bar counts), from its stats analyzer."""
    return next(analyzer.packets for analyzer in part[0] if analyzer.name == "stats")


def merge_tree(submit, parts: list, same_file: bool, name: str):
    """The parts merged in order on the workers, each into the merge of all before it: submit is client.submit
    (parts are futures), or any call that runs submit(merge_pair, earlier, later, same_file, key=...).

    A chain, not a tree of pairs: the flow table's merge judges a later part's segments against the
    sequence holes of everything before it (reordering vs retransmission), which is exact only when the
    earlier side is the whole prefix; a tree of pairs gave other retransmission counts than one pass."""
    merged = parts[0]
    for at, later in enumerate(parts[1:], 1):
        merged = submit(merge_pair, merged, later, same_file, key=f"pcapdiag-merge-{name}-{int(same_file)}-{at}")
    return merged


def merge_pair(earlier, later, same_file: bool):
    """Merge the (state, infos) of the parts just after each other; same_file: ranges of one file, so the later
    part's frame numbers follow the earlier part's records (files number their frames each from 1)."""
    state, infos = earlier
    later_state, later_infos = later
    if same_file:
        shift_frames(later_state, sum(info["frames"] for info in infos))
    merge_all(state, later_state)
    return state, infos + later_infos


def settle_file(part, whole: runner.WorkUnit, settings: runner.Settings):
    """A split file's merged ranges as one part, or (when a range did not end where the next began: a bad
    split) the file read again as one unit."""
    state, infos = part
    if all(info.get("exact_end", True) for info in infos):
        return state, [runner.merge_info(infos)]
    return run_unit(whole, settings)


def finish(part):
    """The analyzers' results and the capture facts of the whole run (what build_report takes)."""
    state, infos = part
    return results(state), infos[0] if len(infos) == 1 else runner.merge_info(infos)
