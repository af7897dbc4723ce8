"""Packets seen once per interface they cross (`tcpdump -i any`).

On a node, `-i any` records a pod's packet on the pod's veth, on cni0, on the
tunnel device and (encapsulated) on eth0. Within one view (the same outermost
class) the later sightings are the same packet, not new traffic: they are
marked `duplicate` so flows and retransmission counts see each packet once.
The encapsulated sighting is a different view (class) and is kept, so the
tunnel's own counters stay whole.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pandas as pd

from ..decode.facts import Facts

# Linux cooked captures are where `-i any` comes from
ANY_INTERFACE_LINKTYPES = frozenset({113, 276})
_ANY_LINKTYPES = np.array(sorted(ANY_INTERFACE_LINKTYPES))
IDENTITY = ["outer_class", "inner_src", "inner_dst", "inner_proto", "inner_ip_id", "inner_len", "inner_frag_off",
            "sport", "dport", "tcp_seq", "tcp_flags", "icmp_type", "icmp_echo"]
WINDOW_SECONDS = 1.0   # a packet crosses a node's interfaces within microseconds; 1 s is generous
MEMORY = 65536         # identities remembered across batches (bounded)


class DuplicateMarker:
    def __init__(self):
        self.recent: OrderedDict = OrderedDict()  # identity hash -> last seen ts

    def mark(self, facts: Facts) -> Facts:
        marks = facts["duplicate"] = np.zeros(len(facts), dtype=bool)
        cooked = np.flatnonzero(np.isin(facts["linktype"], _ANY_LINKTYPES) & (facts["inner_ipv"] > 0))
        if not len(cooked):
            return facts
        hashes = pd.util.hash_pandas_object(facts.frame(IDENTITY, cooked), index=False).to_numpy()
        times = facts["ts"][cooked]
        duplicate = np.zeros(len(hashes), dtype=bool)
        recent = self.recent
        for index, (identity, ts) in enumerate(zip(hashes.tolist(), times.tolist())):
            seen = recent.get(identity)
            if seen is not None and ts - seen <= WINDOW_SECONDS:
                duplicate[index] = True
            recent[identity] = ts
            recent.move_to_end(identity)
        while len(recent) > MEMORY:
            recent.popitem(last=False)
        marks[cooked] = duplicate
        return facts
