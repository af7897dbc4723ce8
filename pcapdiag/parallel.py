"""Several processes over one large capture or several captures; analyzer state merged in order.

A large uncompressed pcap or pcapng is split at record boundaries (found by the capture
layer's resynchronisation heuristic); each worker checks that its walk ends
exactly where the next chunk starts (and, in a pcapng, meets no block whose
meaning depends on what came before it), and if any does not, the file is
analysed again in one process, so a bad split can cost time but never change
a result.
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
        state.flows.seq_state.clear()  # the last chunk: nothing merges after it, only its leading segments count
    return state, info


def merge_info(infos: list[dict]) -> dict:
    merged = dict(infos[0])
    merged["link_types"] = sorted({lt for info in infos for lt in info["link_types"]})
    merged["damage"] = {}
    for info in infos:
        for key, value in info["damage"].items():
            merged["damage"][key] = merged["damage"].get(key, 0) + value
    merged["warnings"] = [w for info in infos for w in info["warnings"]]
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
