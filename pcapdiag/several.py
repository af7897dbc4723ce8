"""Several captures given to one analysis (runner.analyze): each file read once, stdin kept for the
several reads correlating needs, and the captures matched packet by packet (pcapdiag.correlate), which
tells the runner which of each capture's packets another capture counts (README: how packets are counted).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager

from .capture import open_capture


def checked(paths: list) -> list:
    """The paths, each opened first so that one that cannot be opened fails before any work (stdin: when
    read), without a file given again: the same file is one capture, reading it twice counts nothing new."""
    for path in paths:
        if path != "-":
            open_capture(path).close()
    kept = []
    for path in paths:
        if not any(path == other or (path != "-" != other and os.path.samefile(path, other)) for other in kept):
            kept.append(path)
    return kept


@contextmanager
def stdin_as_file(paths: list):
    """The paths, with stdin ("-") copied to a temporary file named "-" (as the report names stdin)."""
    if "-" not in paths:
        yield paths
        return
    with tempfile.TemporaryDirectory(prefix="pcapdiag-") as folder:
        spool = os.path.join(folder, "-")
        with open(spool, "wb") as stream:
            shutil.copyfileobj(sys.stdin.buffer, stream)
        yield [spool if path == "-" else path for path in paths]


def correlate_captures(paths: list, settings):
    """The captures matched packet by packet: where each was taken, what went between them, and
    (Correlation.copies) which of each one's packets count in another."""
    from .correlate import correlate

    return correlate(paths, decoder=settings.decoder, vxlan_ports=settings.vxlan_ports)


__all__ = ["checked", "correlate_captures", "stdin_as_file"]
