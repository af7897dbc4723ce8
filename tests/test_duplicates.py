"""`-i any` duplicates (analyzers/duplicates.py): the vectorised marker against the plain definition.

The definition, one sighting at a time: a sighting is a duplicate when the last sighting of the same
identity came at most WINDOW_SECONDS before it; every sighting becomes its identity's last; after each
batch only the MEMORY identities sighted most recently are remembered. The marker does a batch at a
time with sorts and searches; it must agree with the definition on any sequence of batches.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from hypothesis import given, settings, strategies as st

from pcapdiag.analyzers import duplicates
from pcapdiag.analyzers.duplicates import WINDOW_SECONDS, DuplicateMarker


def by_definition(batches, memory):
    recent, marked = OrderedDict(), []
    for identities, times in batches:
        for identity, ts in zip(identities.tolist(), times.tolist()):
            seen = recent.get(identity)
            marked.append(seen is not None and ts - seen <= WINDOW_SECONDS)
            recent[identity] = ts
            recent.move_to_end(identity)
        while len(recent) > memory:
            recent.popitem(last=False)
    return marked


sighting = st.tuples(st.integers(0, 12), st.sampled_from((0.0, 0.0001, 0.5, 0.9999, 1.0, 1.5, 3.0, -0.2)))
batch = st.lists(sighting, max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.lists(batch, min_size=1, max_size=6), st.sampled_from((1, 3, 8, 65536)))
def test_marker_agrees_with_the_definition(batch_items, memory):
    batches, clock = [], 1.7e9
    for items in batch_items:
        identities = np.array([(identity * 0x9E3779B97F4A7C15) % 2**64 for identity, _ in items], dtype=np.uint64)
        steps = np.array([step for _, step in items], dtype=np.float64)
        times = clock + np.cumsum(steps)
        clock = float(times[-1]) if len(times) else clock
        batches.append((identities, times))
    original = duplicates.MEMORY
    duplicates.MEMORY = memory
    try:
        marker = DuplicateMarker()
        got = [flag for identities, times in batches for flag in marker.sighted(identities, times).tolist()]
    finally:
        duplicates.MEMORY = original
    assert got == by_definition(batches, memory)
