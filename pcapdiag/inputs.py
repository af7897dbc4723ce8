"""The capture files an analysis is given: plain paths as they are, globs and directories expanded.

A glob (``captures/*.pcap.gz``, quoted so the shell leaves it) or a directory stands for the captures in it,
in the order they were taken: by the timestamp of each file's first record (a ring buffer's files, the
nodes' captures of one incident). A directory takes the files that open as captures (a README or a
truth.json beside them is left out); a glob takes every file it matches, so one that is not a capture is
an error, as a plain path is. Plain paths keep the order given.
"""
from __future__ import annotations

import glob
import math
import os

from .capture import CaptureError, open_capture


def expand_inputs(paths: list[str]) -> list[str]:
    """Every capture file the given paths, globs and directories stand for (see the module docstring)."""
    expanded = []
    for path in paths:
        if path == "-" or os.path.isfile(path):
            expanded.append(path)
        elif os.path.isdir(path):
            names = sorted(os.path.join(path, name) for name in os.listdir(path) if not name.startswith("."))
            found = [name for name in names if os.path.isfile(name) and _is_capture(name)]
            if not found:
                raise CaptureError(f"no capture file in directory {path}")
            expanded += by_start_time(found)
        elif glob.has_magic(path):
            found = sorted(name for name in glob.glob(path) if os.path.isfile(name))
            if not found:
                raise CaptureError(f"no file matches {path}")
            expanded += by_start_time(found)
        else:
            expanded.append(path)   # left for the reader to say what is wrong with it (or a worker to read)
    return expanded


def by_start_time(paths: list[str]) -> list[str]:
    """The captures in the order of their first record's timestamp (empty ones last; ties by name)."""
    return sorted(paths, key=lambda path: (start_time(path), path))


def start_time(path: str) -> float:
    """The timestamp of a capture's first record (infinity for one with none)."""
    with open_capture(path) as capture:
        for _ in capture.batches(1):
            break
        return math.inf if capture.first_ts is None else capture.first_ts


def _is_capture(path: str) -> bool:
    try:
        open_capture(path).close()
    except CaptureError:
        return False
    return True
