"""Packets seen once per interface they cross (`tcpdump -i any`).

On a node, `-i any` records a pod's packet on the pod's veth, on cni0, on the
tunnel device and (encapsulated) on eth0. Within one view (the same outermost
class) the later sightings are the same packet, not new traffic: they are
marked `duplicate` so flows and retransmission counts see each packet once.
The encapsulated sighting is a different view (class) and is kept, so the
tunnel's own counters stay whole.
"""
from __future__ import annotations

import numpy as np

from ..decode.facts import Facts, grouping_column
from .flows import _flow_hashes

# The column mark() adds to the facts (True: a later sighting of a packet): the one fact column no decoder
# writes, read by the analyzers (analyzers.update_all) beside the facts schema's own.
DUPLICATE_COLUMN = "duplicate"
# Linux cooked captures are where `-i any` comes from
ANY_INTERFACE_LINKTYPES = frozenset({113, 276})
_ANY_LINKTYPES = np.array(sorted(ANY_INTERFACE_LINKTYPES))
IDENTITY = ["outer_class", "inner_src", "inner_dst", "inner_proto", "inner_ip_id", "inner_len", "inner_frag_off",
            "sport", "dport", "tcp_seq", "tcp_flags", "icmp_type", "icmp_echo"]
WINDOW_SECONDS = 1.0   # a packet crosses a node's interfaces within microseconds; 1 s is generous
MEMORY = 65536         # identities remembered across batches (bounded)


class DuplicateMarker:
    """A packet is a duplicate when the last sighting of its identity (a 64-bit hash of IDENTITY) was at
    most WINDOW_SECONDS before it. The identities of the MEMORY most recent sightings are remembered
    across batches, as arrays sorted by identity; within a batch everything is vectorised."""

    def __init__(self):
        self.identities = np.zeros(0, dtype=np.uint64)
        self.last_seen = np.zeros(0, dtype=np.float64)     # time of each identity's last sighting
        self.last_order = np.zeros(0, dtype=np.int64)      # and its place among all sightings
        self.sightings = 0

    def mark(self, facts: Facts) -> Facts:
        marks = facts[DUPLICATE_COLUMN] = np.zeros(len(facts), dtype=bool)
        cooked = np.flatnonzero(np.isin(facts["linktype"], _ANY_LINKTYPES) & (facts["inner_ipv"] > 0))
        if len(cooked):
            # text columns by their integer keys: the same identity for the same texts, no string hashing
            identity = _flow_hashes([grouping_column(facts, name)[cooked] for name in IDENTITY])
            marks[cooked] = self.sighted(identity, facts["ts"][cooked])
        return facts

    def sighted(self, identity, times) -> np.ndarray:
        """Take these sightings (identity hashes and times, in capture order); True where a sighting is a
        duplicate of the one before it of the same identity."""
        count = len(identity)
        if not count:
            return np.zeros(0, dtype=bool)
        order = np.argsort(identity, kind="stable")        # each identity's sightings together, in order
        ranked = identity[order]
        repeat = np.r_[False, ranked[1:] == ranked[:-1]]    # not the identity's first sighting in the batch
        before = np.full(count, np.nan)
        before[order[repeat]] = times[order[np.flatnonzero(repeat) - 1]]
        firsts = order[~repeat]
        if len(self.identities):
            at = np.minimum(np.searchsorted(self.identities, identity[firsts]), len(self.identities) - 1)
            known = self.identities[at] == identity[firsts]
            before[firsts[known]] = self.last_seen[at[known]]
        duplicate = times - before <= WINDOW_SECONDS      # no sighting before: NaN, never a duplicate
        self._remember(ranked, times, order, np.r_[ranked[1:] != ranked[:-1], True])
        return duplicate

    def _remember(self, ranked, times, order, last):
        """Each identity's last sighting of the batch replaces what was remembered of it; the MEMORY most
        recent sightings are kept."""
        latest = ranked[last]
        kept = ~np.isin(self.identities, latest, assume_unique=True)
        identities = np.concatenate([self.identities[kept], latest])
        seen = np.concatenate([self.last_seen[kept], times[order[last]]])
        places = np.concatenate([self.last_order[kept], self.sightings + order[last]])
        self.sightings += len(times)
        if len(identities) > MEMORY:
            newest = np.argpartition(places, len(places) - MEMORY)[len(places) - MEMORY:]
            identities, seen, places = identities[newest], seen[newest], places[newest]
        by_identity = np.argsort(identities)
        self.identities, self.last_seen, self.last_order = \
            identities[by_identity], seen[by_identity], places[by_identity]
