"""Matching one packet's sightings across captures, in bounded memory.

All captures are read at once, always advancing the one that is furthest behind in (its own) time. A
packet's sightings are those with the same identity where each follows the one before by at most `window`
seconds, in any capture: the window must cover the largest clock offset between the captures plus the
longest delay. A group is complete -- handed on, and its rows forgotten -- once every capture still being
read is past its last sighting by more than the window. Memory: the sightings of about one window (plus one
batch per capture).
"""
from __future__ import annotations

import numpy as np

from .sightings import UNDERLAY, concat, take

DEFAULT_WINDOW = 5.0       # seconds: clocks within a few seconds of each other, delays well below
STEP_ROWS = 1 << 17        # sightings read between two looks for complete groups


def group_stream(readers: list, window: float = DEFAULT_WINDOW):
    """Yield (groups, horizon): groups is a table of sightings (see CaptureReader) with `cap` (index of the
    reader) and `gid` (group number, increasing) columns, sorted by gid then time; horizon is the time every
    unfinished capture has read up to (inf at the end). Each packet's group comes exactly once."""
    streams = [iter(reader) for reader in readers]
    reached = [-np.inf] * len(streams)
    pending, pending_rows, next_gid = [], 0, 0
    while True:
        active = [i for i, at in enumerate(reached) if at != np.inf]
        if active:
            i = min(active, key=reached.__getitem__)
            table = next(streams[i], None)
            if table is None:
                reached[i] = np.inf
            else:
                table["cap"] = np.full(len(table["ts"]), i, dtype=np.int16)
                reached[i] = float(table["ts"].max()) if len(table["ts"]) else reached[i]
                pending.append(table)
                pending_rows += len(table["ts"])
                if pending_rows < STEP_ROWS:
                    continue
        horizon = min(reached)
        if pending:
            groups, rest = _split_complete(concat(pending), horizon, window, next_gid)
            pending, pending_rows = ([rest] if len(rest["ts"]) else []), len(rest["ts"])
            if len(groups["ts"]):
                next_gid = int(groups["gid"][-1]) + 1
                yield groups, horizon
        if not active:
            return


def _split_complete(table: dict, horizon: float, window: float, first_gid: int):
    """(complete groups numbered from first_gid, the rows of incomplete ones)."""
    order = np.lexsort((table["ts"], table["ident"]))
    table = take(table, order)
    ident, ts = table["ident"], table["ts"]
    starts = np.r_[True, (ident[1:] != ident[:-1]) | (ts[1:] - ts[:-1] > window)]
    gid = np.cumsum(starts) - 1
    last_ts = ts[np.r_[np.flatnonzero(starts)[1:] - 1, len(ts) - 1]]
    complete = (last_ts < horizon - window)[gid]
    groups = take(table, complete)
    groups["gid"] = np.unique(gid[complete], return_inverse=True)[1].astype(np.int64) + first_gid
    return groups, take(table, ~complete)


def first_rows(gid, mask):
    """(group ids, row of each one's first row where mask holds) for rows sorted by gid then time."""
    rows = np.flatnonzero(mask)
    if not len(rows):
        return np.zeros(0, dtype=np.int64), rows
    keep = np.r_[True, gid[rows][1:] != gid[rows][:-1]]
    return gid[rows][keep], rows[keep]


def counted_elsewhere(groups: dict, node_of_capture) -> np.ndarray:
    """True on the sightings of a packet that, in their view (tunnelled or not), counts in another capture
    (counted_copies by view): a merged analysis leaves them to that capture. The capture a view counts in
    keeps all its sightings of it (its own `-i any` copies are its duplicate marker's business)."""
    views = (groups["stage"] == UNDERLAY).astype(np.int64)
    counted = counted_copies(groups, node_of_capture, views)
    key = (groups["gid"] - groups["gid"][0]) * 2 + views
    owners = np.zeros(int(key.max()) + 1 if len(key) else 0, dtype=np.int64)
    owners[key[counted]] = groups["cap"][counted]
    return groups["cap"] != owners[key]


def lookup(keys, values, wanted, missing):
    """values[i] where keys[i] == wanted (keys sorted and unique), else missing."""
    at = np.clip(np.searchsorted(keys, wanted), 0, max(len(keys) - 1, 0))
    found = (keys[at] == wanted) if len(keys) else np.zeros(len(wanted), dtype=bool)
    result = np.full(len(wanted), missing, dtype=np.asarray(values).dtype)
    result[found] = np.asarray(values)[at[found]]
    return result, found


def counted_copies(groups: dict, node_of_capture, views=None) -> np.ndarray:
    """Which sighting counts when merged totals count each packet once: True on exactly one row per group.

    The copy that counts is the one in a capture taken at the packet's sending node (the source address
    of its first tunnel sighting), so a packet lost on the way is still counted where it was sent; among
    those (or among all, when no capture is at the sender or the packet was never seen tunnelled) the
    capture given first, and in it the earliest sighting. node_of_capture: node key per capture index.
    views: a small integer per row (e.g. tunnelled or not): then one row per group and view counts."""
    gid, cap = groups["gid"], groups["cap"].astype(np.int64)
    sender_gids, sender_rows = first_rows(gid, groups["stage"] == UNDERLAY)
    sender, _ = lookup(sender_gids, groups["outer_src"][sender_rows], gid, -2)
    at_sender = np.asarray(node_of_capture, dtype=np.int64)[cap] == sender
    view = np.zeros(len(gid), dtype=np.int64) if views is None else np.asarray(views, dtype=np.int64)
    order = np.lexsort((groups["ts"], cap, ~at_sender, view, gid))
    firsts = order[np.r_[True, (gid[order][1:] != gid[order][:-1]) | (view[order][1:] != view[order][:-1])]]
    counted = np.zeros(len(gid), dtype=bool)
    counted[firsts] = True
    return counted
