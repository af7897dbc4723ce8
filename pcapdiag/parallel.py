"""Several processes over one large capture or several captures; analyzer state merged in order.

A large uncompressed pcap is split at record boundaries (found by the capture
layer's resynchronisation heuristic); each worker checks that its walk ends
exactly where the next chunk starts, and if any does not, the file is analysed
again in one process, so a bad split can cost time but never change a result.
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor


MIN_CHUNK_BYTES = 32 * 1024 * 1024  # smaller captures are not worth a process


def plan_chunks(path: str, jobs: int):
    from .capture import split_offsets

    if path == "-" or jobs <= 1:
        return None
    try:
        import os
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

    path, settings, start, end, continuation = args
    return analyze_range(path, settings, start=start, end=end, continuation=continuation)


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


def run_in_processes(tasks, jobs):
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_worker, tasks))


def analyze_parallel(path, chunks, settings, progress=None):
    from .pipeline import analyze_range

    tasks = [(path, settings, start, end, index > 0) for index, (start, end) in enumerate(chunks)]
    results = run_in_processes(tasks, len(chunks))
    if not all(info.get("exact_end", True) for _, info in results):
        return analyze_range(path, settings, progress=progress)
    state = settings.analyzers()
    for chunk_state, _ in results:
        state.merge(chunk_state)
    return state, merge_info([info for _, info in results])
