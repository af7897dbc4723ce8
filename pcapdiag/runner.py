"""Running an analysis: capture/ -> decode/ -> analyzers/ -> Report, over one file or several.

The work is cut into WorkUnits (a file, or a byte range of a large one); an engine maps units to analyzer
states, which are merged in unit order, and the report is built from the merged state's results.

A large uncompressed pcap or pcapng is split at record boundaries (found by the capture layer's
resynchronisation heuristic); each worker checks that its walk ends exactly where the next chunk starts
(and, in a pcapng, meets no block whose meaning depends on what came before it), and if any does not, the
file is analysed again in one process, so a bad split can cost time but never change a result. What a range
cannot know of the one before it: analyzer state is merged exactly (flows, retransmissions, ICMP budgets,
...) and a timestamp going back at the join is counted; two things are not carried over: a later outer
fragment whose first fragment lies in the previous range is not given its datagram's class, and an `-i any`
copy of a packet seen just before the join is not recognised as a copy (both affect at most the packets at
a join).

Engines are plain functions (units, settings, ...) -> iterator of (state, info) in unit order: serially in
this process, or in a local process pool. A cluster's engine runs the whole analysis instead (analyze's
`engine`: pcapdiag.dask_engine), with the units and merge functions from here, several captures correlated
as here.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np

from . import __version__, several
from .analyzers.delivery import summarize_delivery
from .analyzers import (FRAME_COLUMN, DuplicateMarker, forget_carry, make_analyzers, merge_all, results,
                        shift_frames, update_all)
from .capture import CaptureError, open_capture, split_offsets
from .capture.damage import ts_backwards_warning
from .decode import DEFAULT_VXLAN_PORTS
from .decode.select import make_decoder
from .findings.budgets import mtu_model, super_segment_flows
from .findings.builder import FindingBuilder
from .findings.endpoints import capture_vantage, mtu_by_endpoint
from .inputs import expand_inputs
from .report.context import add_context, as_cluster
from .report.model import Report

BATCH_RECORDS = 32768  # smaller ones cost more per packet; larger are no faster and cost memory (measured)
# The collector is paused while batches stream: its passes over every container would run every few
# thousand allocations, for the few dozen cyclic objects a batch leaves; a full pass every this many
# batches bounds that garbage instead.
COLLECT_EVERY = 64
MIN_CHUNK_BYTES = 32 * 1024 * 1024  # smaller captures are not worth a process


@dataclass(frozen=True)
class Settings:
    """What every worker needs to analyse a file or a chunk the same way (picklable)."""
    vxlan_ports: frozenset = DEFAULT_VXLAN_PORTS
    decoder: str = "fast"
    flow_cap: int | None = None
    underlay_mtu: int | None = None
    address_cap: int | None = None

    @classmethod
    def make(cls, vxlan_ports=(), decoder="fast", flow_cap=None, underlay_mtu=None, address_cap=None) -> "Settings":
        ports = frozenset(DEFAULT_VXLAN_PORTS) | frozenset(int(p) for p in vxlan_ports)
        return cls(ports, decoder, flow_cap, underlay_mtu, address_cap)

    def analyzers(self, continuation: bool = False) -> list:
        return make_analyzers(self.flow_cap, continuation=continuation, underlay_mtu=self.underlay_mtu,
                              address_cap=self.address_cap)


@dataclass(frozen=True)
class WorkUnit:
    """A file ("-": stdin), or the byte range [start, end) of one. continuation: its state is merged after
    an earlier unit's; last: nothing is merged after it. copies: the sorted record numbers (from 1) of its
    packets counted in another capture of the same analysis (correlate), left out."""
    path: str
    start: int | None = None
    end: int | None = None
    continuation: bool = False
    last: bool = False
    copies: object = field(default=None, compare=False)


def plan_chunks(path: str, jobs: int, chunk_bytes: int | None = None):
    """The byte ranges a large capture is split into for `jobs` processes, or None (not worth it, or not
    splittable). chunk_bytes: the smallest range worth a process (default MIN_CHUNK_BYTES)."""
    if path == "-" or jobs <= 1:
        return None
    try:
        parts = min(jobs, max(1, os.path.getsize(path) // (chunk_bytes or MIN_CHUNK_BYTES)))
    except OSError:
        return None
    if parts <= 1:
        return None
    offsets = split_offsets(path, parts)
    if not offsets or len(offsets) < 3:
        return None
    return list(zip(offsets[:-1], offsets[1:]))


def run_unit(unit: WorkUnit, settings: Settings, progress=None):
    """Analyse the records of one unit: (its analyzers' state, what the capture layer saw of it)."""
    state = settings.analyzers(unit.continuation)
    decoder = make_decoder(settings.decoder, settings.vxlan_ports)
    duplicates = DuplicateMarker()
    packets = frames = 0
    collecting = gc.isenabled()
    gc.disable()
    try:
        with open_capture(unit.path, start=unit.start, end=unit.end) as capture:
            for index, batch in enumerate(capture.batches(BATCH_RECORDS)):
                facts = decoder.decode_batch(batch)
                if FRAME_COLUMN in facts and len(facts):
                    frames = int(facts[FRAME_COLUMN][-1])   # the unit's records so far, numbered from 1
                if unit.copies is not None:
                    facts = without_copies(facts, unit.copies, packets)
                duplicates.mark(facts)
                update_all(state, facts)
                packets += len(batch)
                if progress:
                    progress(capture.bytes_read, capture.size, packets)
                if index % COLLECT_EVERY == COLLECT_EVERY - 1:
                    gc.collect()
            info = {"format": capture.format, "link_types": list(capture.link_types),
                    "damage": dict(capture.damage), "warnings": list(capture.warnings),
                    "nanosecond": capture.nanosecond, "compressed": capture.compressed,
                    "exact_end": getattr(capture, "reached_end_exactly", True),
                    "path": unit.path, "first_ts": capture.first_ts, "last_ts": capture.last_ts,
                    "range_start": unit.start, "frames": frames}
    finally:
        if collecting:
            gc.enable()
    if unit.last:
        forget_carry(state)   # nothing merges after it: only its flows' leading segments count
    return state, info


def without_copies(facts, copies, before: int):
    """The facts of a batch (records before+1, ...) without the rows whose record numbers are in `copies`
    (sorted): packets another capture of the same analysis counts."""
    low, high = copies.searchsorted([before + 1, before + len(facts) + 1])
    if low == high:
        return facts
    keep = np.ones(len(facts), dtype=bool)
    keep[copies[low:high] - before - 1] = False
    return facts[keep]


def run_serially(units, settings: Settings, progress=None):
    """The serial engine: each unit in this process, in order."""
    for unit in units:
        yield run_unit(unit, settings, progress)


def run_in_processes(units, settings: Settings, jobs: int, progress=None):
    """The local parallel engine: units in `jobs` worker processes, their states yielded in unit order as
    they arrive (so the caller holds the merged state and one unit's, not every unit's at once).

    progress: called as run_unit calls it, a few times a second while the workers run, with their bytes
    and packets summed: each worker writes its own two counters in an array shared with this process."""
    units = list(units)
    counters = multiprocessing.get_context().Array("q", 2 * len(units), lock=False) if progress else None
    total = sum(_unit_size(unit) for unit in units) if progress else None
    with ProcessPoolExecutor(max_workers=jobs, initializer=_share_counters, initargs=(counters,)) as pool:
        futures = [pool.submit(_run_in_worker, unit, settings, slot) for slot, unit in enumerate(units)]
        while futures:
            future = futures.pop(0)
            while progress:   # at least once per unit, so even a quick run reports where it got to
                finished = wait([future], timeout=PROGRESS_EVERY).done
                progress(sum(counters[0::2]), total, sum(counters[1::2]))
                if finished:
                    break
            yield future.result()
            del future


PROGRESS_EVERY = 0.25   # seconds between the parallel engine's progress reports
_COUNTERS = None        # in a worker: the array it reports progress through (run_in_processes)


def _share_counters(counters) -> None:
    global _COUNTERS
    _COUNTERS = counters


def _unit_size(unit: WorkUnit) -> int:
    try:
        end = unit.end if unit.end is not None else os.path.getsize(unit.path)
    except OSError:
        return 0
    return end - (unit.start or 0)


def _run_in_worker(unit: WorkUnit, settings: Settings, slot: int = 0):
    """run_unit as the pool calls it (a module-level name, picklable whatever wraps run_unit here); its
    progress goes to its slot of the shared counters, when there are any."""
    counters, length = _COUNTERS, _unit_size(unit)

    def report(bytes_read, size, packets):   # a range's reads may look past its end: count its own bytes
        counters[2 * slot], counters[2 * slot + 1] = min(bytes_read - (unit.start or 0), length), packets

    return run_unit(unit, settings, report if counters is not None else None)


def merge_states(outcomes):
    """Merge the (state, info) of consecutive units, in order, into one (state, info). A later chunk of a
    file has its frame numbers shifted by the records of the chunks before it."""
    state, infos, offset = None, [], 0
    for unit_state, info in outcomes:
        if state is None:
            state = unit_state
        else:
            offset = offset + infos[-1]["frames"] if info["range_start"] is not None else 0
            shift_frames(unit_state, offset)
            merge_all(state, unit_state)
        infos.append(info)
        del unit_state
    return state, merge_info(infos)


def merge_info(infos: list[dict]) -> dict:
    """The capture facts of consecutive ranges (or files), as one read of them all would give them."""
    merged = dict(infos[0])
    merged["link_types"] = sorted({lt for info in infos for lt in info["link_types"]})
    merged["damage"] = {}
    for info in infos:
        for key, value in info["damage"].items():
            merged["damage"][key] = merged["damage"].get(key, 0) + value
    # a record earlier than the one before it, where that one ended the previous range of the same file
    joins = [(before.get("last_ts"), after.get("first_ts")) for before, after in zip(infos, infos[1:])
             if before.get("path") == after.get("path")]
    backwards = sum(1 for last, first in joins if last is not None and first is not None and first < last)
    merged["warnings"] = [w for info in infos for w in info["warnings"]
                          if w != ts_backwards_warning(info["damage"].get("ts_backwards", 0))]
    if backwards or merged["damage"].get("ts_backwards"):
        merged["damage"]["ts_backwards"] = merged["damage"].get("ts_backwards", 0) + backwards
        merged["warnings"].append(ts_backwards_warning(merged["damage"]["ts_backwards"]))
    merged["first_ts"], merged["last_ts"] = infos[0].get("first_ts"), infos[-1].get("last_ts")
    merged["exact_end"] = all(info.get("exact_end", True) for info in infos)
    merged["frames"] = sum(info.get("frames", 0) for info in infos)
    return merged


def _analyze_file(path: str, settings: Settings, jobs: int, progress):
    chunks = plan_chunks(path, jobs) if jobs > 1 else None
    if chunks:
        units = [WorkUnit(path, start, end, continuation=index > 0, last=index == len(chunks) - 1)
                 for index, (start, end) in enumerate(chunks)]
        state, info = merge_states(run_in_processes(units, settings, len(chunks), progress))
        if info["exact_end"]:
            return state, info
    return run_unit(WorkUnit(path), settings, progress)


def _analyze_files(paths: list, settings: Settings, jobs: int, progress, copies):
    units = [WorkUnit(path, continuation=index > 0, copies=copies[index]) for index, path in enumerate(paths)]
    if jobs > 1 and "-" not in paths:
        return merge_states(run_in_processes(units, settings, min(jobs, len(paths)), progress))
    return merge_states(run_serially(units, settings, progress))


def analyze(paths, *, vxlan_ports=(), underlay_mtu: int | None = None, decoder: str = "fast",
            jobs: int | None = 1, flow_cap: int | None = None, address_cap: int | None = None,
            progress=None, engine=None, cluster=None) -> Report:
    """Analyse one capture file or several (one report of them all) and return the Report.

    paths: a path ("-" for stdin), a glob or a directory, or a list of them, opened first so that one that
        cannot be opened fails before any work. A glob or a directory stands for its captures in capture
        start-time order (pcapdiag.inputs). Several captures are matched packet by packet
        (pcapdiag.correlate: the report's `correlation`), and a packet seen in several is counted in one (at
        its sending node; its other sightings are left out); a file given twice is read once.
    cluster: a pcapdiag.cluster.Cluster, or the paths of kubectl dumps (load_cluster): names beside the
        addresses and its cross-checks as findings.
    vxlan_ports: UDP ports decoded as VXLAN besides the default set (4789, 8472, 4790).
    underlay_mtu: the underlay MTU, instead of the one inferred from the largest outer packet.
    decoder: "fast" (vectorised, falls back to dpkt per packet) or "reference" (dpkt only).
    jobs: worker processes; > 1 splits a large uncompressed pcap or pcapng into chunks (the report is
        that of one pass) and analyses several files at once.
    flow_cap, address_cap: the most flows and node/pod pairings kept (findings say when they are hit).
    progress: called as progress(bytes read, bytes of the file(s), packets) after every batch read in this
        process, and a few times a second while worker processes read (their numbers summed).
    engine: run the analysis elsewhere (jobs then unused): called as engine(paths, settings, progress), it
        returns (the analyzers' results, the capture facts, the correlation of several captures or None, the
        paths analysed), the report of the serial run; dask_engine.cluster_engine is one.
    Raises CaptureError for a file that cannot be read as a capture, ClusterError for a cluster dump it
    cannot use, ValueError for no path.
    """
    paths = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("analyze needs at least one capture path")
    if underlay_mtu is not None and not 576 <= underlay_mtu <= 65535:   # RFC 791: every IPv4 path takes 576
        raise ValueError(f"underlay_mtu {underlay_mtu} is not a possible MTU (576-65535)")
    paths = expand_inputs(paths)
    cluster = as_cluster(cluster)    # a dump it cannot use fails before any work
    if len(paths) > 1 and engine is None:    # an engine's workers read the paths as they see them
        paths = several.checked(paths)
    settings = Settings.make(vxlan_ports, decoder, flow_cap, underlay_mtu, address_cap)
    jobs = jobs or 1
    correlation = None
    if engine is not None:
        found, info, correlation, paths = engine(paths, settings, progress)
    elif len(paths) == 1:
        state, info = _analyze_file(paths[0], settings, jobs, progress)
        found = results(state)
    else:
        with several.stdin_as_file(paths) as files:
            correlation = several.correlate_captures(files, settings)
            state, info = _analyze_files(files, settings, jobs, progress, correlation.copies)
        found = results(state)
    name = ", ".join("-" if path == "-" else os.path.basename(path) for path in paths)
    return add_context(build_report(name, found, info, underlay_mtu), correlation, cluster)


def build_report(file: str, found: dict, info: dict, underlay_mtu=None) -> Report:
    """The Report of one analysis from its analyzers' results (analyzers.results) and its capture facts."""
    stats, flows, overhead, topology, mtu = (found[name] for name in ("stats", "flows", "overhead", "topology",
                                                                      "mtu"))
    model = mtu_model(overhead, mtu, underlay_mtu, super_segment_flows(flows.table))
    limits = {"flow_cap": flows.cap, "evicted_flows": flows.evicted_flows,
              "evicted_packets": flows.evicted_packets, "address_cap": topology.cap,
              "addresses_dropped": topology.dropped}
    delivery = summarize_delivery(found["delivery"], flows.table)
    builder = FindingBuilder(model, overhead, topology, flows.table, mtu, stats, info, limits, delivery=delivery,
                             sessions=found["sessions"])
    findings = builder.build()
    return Report(version=__version__, file=file, info=info, stats=stats, overhead=overhead,
                  topology=topology, flows=flows.table, mtu=model, findings=findings, delivery=delivery,
                  endpoints=mtu_by_endpoint(builder), vantage=capture_vantage(flows.table),
                  sessions=found["sessions"])


__all__ = ["BATCH_RECORDS", "CaptureError", "MIN_CHUNK_BYTES", "Settings", "WorkUnit", "analyze", "build_report",
           "merge_info", "merge_states", "plan_chunks", "run_in_processes", "run_serially", "run_unit"]
