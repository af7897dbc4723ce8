"""Several processes over one large capture or several captures; analyzer state merged in order.

A large uncompressed pcap or pcapng is split at record boundaries (found by the capture
layer's resynchronisation heuristic); each worker checks that its walk ends
exactly where the next chunk starts (and, in a pcapng, meets no block whose
meaning depends on what came before it), and if any does not, the file is
analysed again in one process, so a bad split can cost time but never change
a result. What a range cannot know of the one before it: analyzer state is
merged exactly (flows, retransmissions, ICMP budgets, ...) and a timestamp
going back at the join is counted; two things are not carried over: a later
outer fragment whose first fragment lies in the previous range is not given
its datagram's class, and an `-i any` copy of a packet seen just before the
join is not recognised as a copy (both affect at most the packets at a join).
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor


MIN_CHUNK_BYTES = 32 * 1024 * 1024  # smaller captures are not worth a process


def plan_chunks(path: str, jobs: int):
    from .capture import split_offsets

    if path == "-" or jobs <= 1:
        return None
    try:
        parts = min(jobs, max(1, os.path.getsize(path) // MIN_CHUNK_BYTES))
    except OSError:
        return None
    if parts <= 1:
        return None
    offsets = split_offsets(path, parts)
    if not offsets or len(offsets) < 3:
        return None
    return list(zip(offsets[:-1], offsets[1:]))


def _worker(args):
    from .pipeline import analyze_range

    path, settings, start, end, continuation, last = args
    state, info = analyze_range(path, settings, start=start, end=end, continuation=continuation)
    if last:
        state.flows.forget_sequences()  # the last chunk: nothing merges after it, only its leading segments count
    return state, info


def merge_info(infos: list[dict]) -> dict:
    """The capture facts of consecutive ranges (or files), as one read of them all would give them."""
    from .capture.damage import ts_backwards_warning

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
    return merged


def merge_in_processes(tasks, jobs, state):
    """Run the tasks in worker processes and merge their states into `state` in task order, each as it
    arrives (so the parent holds the merged state and one chunk's, not every chunk's at once)."""
    infos = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for chunk_state, info in pool.map(_worker, tasks):
            state.merge(chunk_state)
            infos.append(info)
            del chunk_state
    return state, merge_info(infos)


def analyze_parallel(path, chunks, settings, progress=None):
    from .pipeline import analyze_range

    tasks = [(path, settings, start, end, index > 0, index == len(chunks) - 1)
             for index, (start, end) in enumerate(chunks)]
    state, info = merge_in_processes(tasks, len(chunks), settings.analyzers())
    if not info["exact_end"]:
        return analyze_range(path, settings, progress=progress)
    return state, info
