"""The journey inside one node, from its `-i any` capture: the stages each packet was seen at and where it
stopped.

Stages: the pod side (a veth or the bridge: the plain IP packet), the VTEP device (plain IP on the
interface found to be the tunnel device) and the underlay (the tunnel packet). A packet leaving the node
(from one of its pods, to a pod prefix behind a peer node) should reach the underlay; a packet arriving
(tunnelled to this node, for one of its pods) should reach the pod side. One that does not stopped inside
the node, after the last stage it was seen at. Pod-to-pod traffic within the node is not judged.
"""
from __future__ import annotations

import numpy as np

from .paths import FLOW_FIELDS, LOST_MEMORY, lost_flows
from .sightings import PLAIN, UNDERLAY, VTEP

OUTBOUND, INBOUND = "leaving", "arriving"


def _prefix_mask(keys, prefixes) -> np.ndarray:
    ipv4 = (keys >= 0) & (keys < 1 << 32)
    return ipv4 & np.isin(np.where(ipv4, keys >> 8, -1), list(prefixes))


class Journey:
    """One cooked capture's packets, by direction: how many were seen at each stage, and the ones that
    stopped inside the node (remembered one by one up to LOST_MEMORY)."""

    def __init__(self, cap: int, node_key: int, local_prefixes: set, remote_prefixes: set):
        self.cap, self.node_key = cap, node_key
        self.local, self.remote = local_prefixes, remote_prefixes - local_prefixes
        self.seen = {OUTBOUND: np.zeros(3, dtype=np.int64), INBOUND: np.zeros(3, dtype=np.int64)}
        self.packets = {OUTBOUND: 0, INBOUND: 0}
        self.stopped = []        # tables: ts, inner_len, flow fields, direction (0 leaving, 1 arriving), stage
        self.stopped_rows = self.stopped_unitemised = 0

    def consume(self, groups: dict) -> None:
        rows = np.flatnonzero(groups["cap"] == self.cap)
        if not len(rows):
            return
        gid = groups["gid"][rows]
        starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
        firsts = rows[starts]
        stages = np.bitwise_or.reduceat(1 << groups["stage"][rows].astype(np.int64), starts)
        arrived = np.bitwise_or.reduceat(((groups["stage"][rows] == UNDERLAY) &
                                          (groups["outer_dst"][rows] == self.node_key)).astype(np.int64), starts)
        source, destination = groups["inner_src"][firsts], groups["inner_dst"][firsts]
        to_local = _prefix_mask(destination, self.local)
        leaving = (groups["stage"][firsts] != UNDERLAY) & _prefix_mask(source, self.local) & \
            _prefix_mask(destination, self.remote) & ~to_local
        arriving = (arrived > 0) & to_local
        for direction, chosen, goal in ((OUTBOUND, leaving, UNDERLAY), (INBOUND, arriving, PLAIN)):
            self.packets[direction] += int(chosen.sum())
            for stage in (PLAIN, VTEP, UNDERLAY):
                self.seen[direction][stage] += int(np.count_nonzero(chosen & (stages & (1 << stage) > 0)))
            short = chosen & (stages & (1 << goal) == 0)
            if short.any():
                # leaving: stopped after the furthest stage reached; arriving: after the nearest to the pod
                last = np.where(stages[short] & (1 << VTEP), VTEP, PLAIN if direction == OUTBOUND else UNDERLAY)
                self._remember(groups, firsts[short], direction, last)

    def _remember(self, groups, rows, direction, stage):
        room = max(LOST_MEMORY - self.stopped_rows, 0)
        self.stopped_unitemised += max(len(rows) - room, 0)
        if room:
            table = {name: groups[name][rows[:room]] for name in ("ts", "inner_len") + FLOW_FIELDS}
            table["direction"] = np.full(len(table["ts"]), 0 if direction == OUTBOUND else 1)
            table["stage"] = stage[:room]
            self.stopped.append(table)
            self.stopped_rows += len(table["ts"])

    def stops(self) -> list:
        """[{direction, after_stage (code), flows: lost_flows(...)}] of the packets that stopped in the node."""
        if not self.stopped:
            return []
        table = {name: np.concatenate([part[name] for part in self.stopped]) for name in self.stopped[0]}
        result = []
        for code, direction in enumerate((OUTBOUND, INBOUND)):
            for stage in (PLAIN, VTEP, UNDERLAY):
                mine = (table["direction"] == code) & (table["stage"] == stage)
                if mine.any():
                    result.append({"direction": direction, "after_stage": stage,
                                   "flows": lost_flows({name: values[mine] for name, values in table.items()})})
        return result
