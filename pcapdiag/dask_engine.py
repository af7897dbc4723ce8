"""The Dask engine: the runner's units of every file as tasks on a dask.distributed cluster.

Used only when asked for (``pcapdiag.analyze(paths, client=...)``, ``pcapdiag analyze --scheduler``), as the
runner's ``engine`` (cluster_engine); dask is the optional extra ``pcapdiag[dask]`` and is imported inside the
functions that need it, so importing this module imports no dask.

Paths are read as the workers see them (shared storage). Each file is planned on a worker (opened, and cut at
record boundaries into ranges of about ``chunk_bytes``, as ``runner.plan_chunks`` does for --jobs); every range
is a task (``runner.run_unit``). States are merged on the workers, each part after all before it (merge_tree
says why not as a tree), in unit order: first the ranges of each file (a later range's frame numbers shifted
by the records before it; a file whose split proves bad is read again whole, as the process pool does), then
the files. Only each unit's packet count (for the progress bar) and the final analyzers' results reach the
client, which builds the report. A worker lost mid-run is Dask's business: the tasks are pure functions of
their unit, and Dask runs again whatever the lost worker held.

Several captures are correlated as the serial run correlates them (runner.analyze, pcapdiag.several), so the
report is the same: the correlation reads every capture together in time order (one task: its matching is a
stream over all of them, in bounded windows), and gives each capture the record numbers of its packets that
another capture counts (its copies), which stay on the workers: each unit leaves its own out as it reads
(a range's numbers counted from the records of the ranges before it, counted by a walk of the records). The
client receives the correlation without the copies (vantage points, paths, journeys: what the report shows).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import logging
import os
import uuid

from . import runner, several
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
    """(the analyzers' results, the capture facts, the correlation of several captures or None, the paths
    analysed: a file given twice once) of the files as one analysis, computed on the client's cluster.
    progress: called as progress(bytes done, bytes of all files, packets) as units finish; one with a
    tasks_done(done, total) method is told the task count too."""
    from distributed import as_completed

    if "-" in paths:
        raise CaptureError("'-' (stdin) cannot be analysed on a Dask cluster: its workers cannot read it")
    run = uuid.uuid4().hex[:12]   # keys unique to this run: a shared cluster may run several at once
    if len(paths) > 1:
        paths = client.submit(on_worker, several.checked, paths, key=f"pcapdiag-paths-{run}").result()
    plans = client.gather([client.submit(plan_file, path, chunk_bytes, key=f"pcapdiag-plan-{run}-{index}")
                           for index, path in enumerate(paths)])
    correlation, copies = None, None
    if len(paths) > 1:
        correlated = client.submit(several.correlate_captures, paths, settings, key=f"pcapdiag-correlate-{run}")
        copies = [client.submit(copies_of, correlated, index, key=f"pcapdiag-copies-{run}-{index}")
                  for index in range(len(paths))]
        correlation = client.submit(dataclasses.replace, correlated, copies=[], key=f"pcapdiag-correlation-{run}")
    final, counts = submit_analysis(client.submit, paths, plans, settings, run, copies)
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
    found, info = final.result()
    return found, info, correlation.result() if correlation is not None else None, paths


def submit_analysis(submit, paths: list, plans: list, settings: runner.Settings, run: str, copies=None):
    """The whole graph, given each file's byte ranges (plans): (the final task, [(a unit's packet-count task,
    its bytes)]). submit is client.submit, or any call that runs submit(function, *arguments, key=...).
    copies: per file, the (task giving the) record numbers of its packets another capture counts, or None."""
    files, counts = [], []
    for index, (path, ranges) in enumerate(zip(paths, plans)):
        first, last = index == 0, index == len(paths) - 1
        mine = copies[index] if copies is not None else None
        units = file_units(path, ranges, first, last)
        # a range leaves out its copies by their numbers in the file: it needs the records of the ranges before
        before = [[]] * len(units) if mine is None or len(units) == 1 else \
            records_before(submit, path, ranges[:-1], f"{run}-{index}")
        leaves = [submit(run_unit, unit, settings, mine, earlier, key=f"pcapdiag-unit-{run}-{index}-{number}")
                  for number, (unit, earlier) in enumerate(zip(units, before))]
        counts += [(submit(unit_packets, leaf, key=f"pcapdiag-count-{run}-{index}-{number}"), end - start)
                   for number, (leaf, (start, end)) in enumerate(zip(leaves, ranges))]
        merged = merge_tree(submit, leaves, True, f"{run}-{index}")
        if len(leaves) > 1:
            whole = file_units(path, ranges[:1], first, last)[0]
            merged = submit(settle_file, merged, whole, settings, mine, key=f"pcapdiag-settle-{run}-{index}")
        files.append(merged)
    return submit(finish, merge_tree(submit, files, False, run), key=f"pcapdiag-finish-{run}"), counts


def records_before(submit, path: str, ranges: list, name: str) -> list:
    """Per range of a file (ranges: all but its last), the tasks counting the records of the ranges before it."""
    walked = [submit(range_records, path, start, end, key=f"pcapdiag-records-{name}-{number}")
              for number, (start, end) in enumerate(ranges)]
    return [walked[:number] for number in range(len(ranges) + 1)]


def range_records(path: str, start: int, end: int) -> int:
    """On a worker: the records of a byte range, counted as runner.run_unit counts them (no decoding)."""
    with open_capture(path, start=start, end=end) as capture:
        return sum(len(batch) for batch in capture.batches(runner.BATCH_RECORDS))


def copies_of(correlation, index: int):
    """On a worker: the record numbers of capture `index`'s packets another capture counts."""
    return correlation.copies[index]


def on_worker(function, *arguments):
    """function(*arguments) on a worker, a file it cannot read failing with one line naming the worker."""
    try:
        return function(*arguments)
    except (CaptureError, OSError) as exc:
        raise CaptureError(f"{exc} (on Dask worker {_worker_address()})") from None


def plan_file(path: str, chunk_bytes: int | None):
    """On a worker: the byte ranges [(start, end)] of a file's units (one range, (0, size), when it is not
    split). Raises CaptureError naming the worker when it cannot read the file."""
    size = on_worker(_opened_size, path)
    return runner.plan_chunks(path, ALL_PARTS, chunk_bytes) or [(0, size)]


def _opened_size(path: str) -> int:
    open_capture(path).close()
    return os.path.getsize(path)


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


def run_unit(unit: runner.WorkUnit, settings: runner.Settings, copies=None, before=()):
    """On a worker: one unit's (analyzer state, [its capture facts]), the shape merge_pair takes. copies: the
    file's record numbers counted in another capture (sorted), left out; before: the records of the file
    before this unit's range."""
    if copies is not None:
        offset = sum(before)
        unit = dataclasses.replace(unit, copies=copies[copies.searchsorted(offset, side="right"):] - offset)
    state, info = runner.run_unit(unit, settings)
    return state, [info]


def unit_packets(part) -> int:
    """The packets one unit read (what the client's progress bar counts), from its stats analyzer."""
    return next(analyzer.packets for analyzer in part[0] if analyzer.name == "stats")


def merge_tree(submit, parts: list, same_file: bool, name: str):
    """The parts merged in order on the workers, each into the merge of all before it: submit is client.submit
    (parts are futures), or any call that runs submit(merge_pair, earlier, later, same_file, key=...).

    A chain, not a tree of pairs, because the flow table's merge (analyzers/flows.py FlowAnalyzer.merge) is
    exact only when its earlier side is the whole prefix (starts at the first unit): a part judges the TCP
    segments below the first sequence number it saw of a flow as unknown and keeps its first
    LEADING_SEGMENTS new-data segments per flow for the merge with what came before to judge, and merge()
    settles them for good. In a tree, b+c settles c's segments against b alone: (1) c's segments below its
    first one, of a flow b carried no data of, are counted as retransmissions ("no earlier part saw the flow"),
    and counted again when a judges them in a+(b+c); (2) for a flow b also carried, c's leading segments are
    judged against b and dropped (the merge keeps b's), so one that b took for new data or that lies below b's
    own first segment is never judged against a; (3) the last unit forgets its sequence state (forget_carry),
    so its flows' leading segments are not taken on by b+c. (1) and (3) are small to change; (2) needs the
    merged state to carry c's unsettled segments on, and with LEADING_SEGMENTS bounding what a state keeps
    per flow, b+c keeps other segments than c alone does, so a tree and a chain still differ where a flow's
    retransmissions run past that bound (tests/test_dask_merge.py shows a+(b+c) != (a+b)+c on ranges of one
    capture). The chain costs a merge per part in sequence; the merges are small next to the units' reads."""
    merged = parts[0]
    for at, later in enumerate(parts[1:], 1):
        merged = submit(merge_pair, merged, later, same_file, key=f"pcapdiag-merge-{name}-{int(same_file)}-{at}")
    return merged


def merge_pair(earlier, later, same_file: bool):
    """Merge the (state, infos) of the parts just after each other; same_file: ranges of one file, so the later
    part's frame numbers follow the earlier part's records (files number their frames each from 1).

    The inputs are copied first: a worker hands a task's result by reference to the next task it runs, and
    the same part is read by other tasks too (its progress count, a merge Dask runs again after losing a
    worker), which must not see it already merged into (the progress test caught a count of two files)."""
    state, infos = copy.deepcopy(earlier)
    later_state, later_infos = copy.deepcopy(later)
    if same_file:
        shift_frames(later_state, sum(info["frames"] for info in infos))
    merge_all(state, later_state)
    return state, infos + later_infos


def settle_file(part, whole: runner.WorkUnit, settings: runner.Settings, copies=None):
    """A split file's merged ranges as one part, or (when a range did not end where the next began: a bad
    split) the file read again as one unit."""
    state, infos = part
    if all(info.get("exact_end", True) for info in infos):
        return state, [runner.merge_info(infos)]
    return run_unit(whole, settings, copies)


def finish(part):
    """The analyzers' results and the capture facts of the whole run (what build_report takes)."""
    state, infos = part
    return results(state), infos[0] if len(infos) == 1 else runner.merge_info(infos)
