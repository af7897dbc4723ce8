"""Encrypted tunnel sessions per peer pair: WireGuard handshakes and sessions, IPsec's ESP SAs and IKE exchanges.

The decoders classify each encrypted-overlay packet (decode/encrypted.py) into the crypto_* fact columns;
this analyzer keeps, per direction (outer source > outer destination) and per kind of tunnel:

- every message kind's tally: packets, outer IP bytes, first/last time and frame number (WireGuard message
  names; "esp"; "<IKE exchange> request|response"; "keepalive" for NAT-T keepalives);
- WireGuard: the sessions its responses open (responder and initiator index); the initiations not answered
  yet (sender index -> time, frame), matched by a later response's or cookie reply's receiver index in the
  opposite direction; responses whose initiation this state never saw (kept for the merge, where an
  earlier chunk's initiation may take them); the distinct receiver indices of transport data (one per
  session and direction); per pair, the initiations sent after the first completed handshake (rekeys);
- ESP: per SPI (an SA; a new SPI in a direction is a rekey) its tally and its sequence numbers as runs: a
  run ends where the number falls back by more than the anti-replay window (a reset), and a run's missing
  numbers are its span less its packets (reordering inside a run costs nothing).

Merging a later chunk's state gives what one pass over both gives: responses are matched against the
earlier chunk's unanswered initiations, a run continues across the seam unless it resets there. Memory is
bounded by the caps below; what they leave out is counted (`dropped`), never silently lost.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..decode.encrypted import WIREGUARD_MESSAGES
from ..decode.facts import Facts, keys_of
from .groups import group_codes
from .mtu import FRAME

WG_INITIATION, WG_RESPONSE, WG_COOKIE, WG_DATA = (WIREGUARD_MESSAGES[kind][0] for kind in (1, 2, 3, 4))
WIREGUARD, IPSEC = "wireguard", "ipsec"
TUNNEL_OF_KIND = {"wireguard": WIREGUARD, "esp": IPSEC, "ike": IPSEC, "nat-keepalive": IPSEC}
DIRECTION_CAP = 4096    # (tunnel, src, dst) directions kept; the packets of further ones are counted only
PENDING_CAP = 256       # unanswered initiations kept per direction (WireGuard retries every 5 s with a new index)
ORPHAN_CAP = 256        # responses whose initiation was not seen, kept per direction for the merge
INDEX_CAP = 64          # WireGuard receiver indices / ESP SPIs kept per direction
EXAMPLES = 5            # the first unanswered initiations are never evicted: they are the finding's evidence
REPLAY_WINDOW = 64      # ESP anti-replay window (RFC 4303 3.4.3): a fall further back is a reset, not reordering
# a tally: packets, bytes, first ts, last ts, first frame, last frame
PACKETS, BYTES, FIRST, LAST, FIRST_FRAME, LAST_FRAME = range(6)


def _tally(packets, size, first, last, first_frame, last_frame) -> list:
    return [int(packets), int(size), float(first), float(last), int(first_frame), int(last_frame)]


def _add_tally(mine: list | None, later: list) -> list:
    """Two tallies of one message kind, `later` counted after `mine`."""
    if mine is None:
        return list(later)
    return [mine[PACKETS] + later[PACKETS], mine[BYTES] + later[BYTES], mine[FIRST], later[LAST],
            mine[FIRST_FRAME], later[LAST_FRAME]]


def _missing(run) -> int:
    low, high, packets = run
    return max(0, high - low + 1 - packets)


@dataclass
class _SA:
    """One ESP SPI in one direction: its tally and sequence-number runs (the first, the last, and the
    missing numbers of those between)."""
    tally: list
    first_seq: int
    last_seq: int
    head: tuple          # (lowest, highest, packets) of the first run
    tail: tuple | None   # of the last run, None while there is one run
    inner_missing: int   # missing numbers of the runs between head and tail
    runs: int

    def join(self, later: "_SA") -> None:
        """Take on the SA's packets that follow (a later batch or chunk)."""
        mine = [self.head] + ([self.tail] if self.tail else [])
        theirs = [later.head] + ([later.tail] if later.tail else [])
        runs = self.runs + later.runs
        if later.first_seq >= self.last_seq - REPLAY_WINDOW:      # the seam continues the last run
            last, first = mine.pop(), theirs.pop(0)
            mine.append((min(last[0], first[0]), max(last[1], first[1]), last[2] + first[2]))
            runs -= 1
        pieces = mine + theirs
        middle = pieces[1:-1]       # the seam's runs become inner ones
        self.inner_missing += later.inner_missing + sum(_missing(run) for run in middle)
        self.head, self.tail = pieces[0], (pieces[-1] if len(pieces) > 1 else None)
        self.runs, self.last_seq = runs, later.last_seq
        self.tally = _add_tally(self.tally, later.tally)

    @property
    def missing(self) -> int:
        return _missing(self.head) + self.inner_missing + (_missing(self.tail) if self.tail else 0)


class _Direction:
    """What one direction (src > dst) of one tunnel carried."""

    def __init__(self):
        self.messages: dict[str, list] = {}      # message name -> tally
        self.port = -1                            # the tunnel's UDP port, where the facts give one
        self.pending: dict[int, tuple] = {}       # WireGuard: unanswered initiation sender -> (ts, frame)
        self.expired = 0                          # unanswered initiations evicted from pending
        self.answered = 0                         # initiations a response or cookie reply matched
        self.orphans: dict[int, tuple] = {}       # responses / cookie replies whose initiation was not seen
        self.indices: dict[int, object] = {}      # WireGuard receiver index -> data packets; ESP SPI -> _SA
        self.sessions: list[tuple] = []           # WireGuard responses sent: (sender, receiver), one per session
        self.dropped_indices = 0                  # receiver indices / SPIs beyond INDEX_CAP
        self.dropped_orphans = 0

    def count(self, name: str, tally: list) -> None:
        self.messages[name] = _add_tally(self.messages.get(name), tally)

    def add_pending(self, sender: int, seen: tuple) -> None:
        self.pending[sender] = seen
        if len(self.pending) > PENDING_CAP:       # evict the oldest after the first few (the evidence)
            del self.pending[list(self.pending)[EXAMPLES]]
            self.expired += 1

    def add_orphan(self, receiver: int, seen: tuple) -> None:
        if len(self.orphans) < ORPHAN_CAP:
            self.orphans[receiver] = seen
        else:
            self.dropped_orphans += 1

    def add_session(self, session: tuple) -> None:
        if len(self.sessions) < INDEX_CAP:
            self.sessions.append(session)
        else:
            self.dropped_indices += 1

    def add_index(self, index: int, value, combine) -> None:
        if index in self.indices:
            self.indices[index] = combine(self.indices[index], value)
        elif len(self.indices) < INDEX_CAP:
            self.indices[index] = value
        else:
            self.dropped_indices += 1

    def shift(self, offset: int) -> None:
        tallies = list(self.messages.values()) + [sa.tally for sa in self.indices.values() if isinstance(sa, _SA)]
        for tally in tallies:
            tally[FIRST_FRAME] += offset
            tally[LAST_FRAME] += offset
        for table in (self.pending, self.orphans):
            for key, (ts, frame) in table.items():
                table[key] = (ts, frame + offset)


def _join_sa(mine: _SA, later: _SA) -> _SA:
    mine.join(later)
    return mine


@dataclass(frozen=True)
class SessionsResult:
    """pairs: one entry per tunnel (wireguard, ipsec) and peer pair, JSON-ready (the report's `sessions`
    section, described in the README); dropped: what the caps left out."""
    pairs: list
    dropped: dict


class SessionsAnalyzer:
    name = "sessions"
    distinct_only = True     # an `-i any` copy of a handshake is not another handshake
    reads = ("crypto_kind", "crypto_msg", "crypto_sender", "crypto_receiver", "crypto_seq", "crypto_reply",
             "outer_src", "outer_dst", "tunnel_port", "outer_len", "ts", FRAME)

    def __init__(self):
        self.directions: dict[tuple, _Direction] = {}
        # WireGuard pair (low, high) -> [handshake completed, initiations before that, initiations after]
        self.pairs: dict[tuple, list] = {}
        self.dropped = {"directions": 0, "packets": 0}

    # -- per batch -------------------------------------------------------------------------------------
    def update(self, facts: Facts) -> None:
        if facts.empty:
            return
        rows = facts.filled("crypto_kind")
        if not len(rows):
            return      # the common case: no encrypted overlay in the batch
        kind = facts.take("crypto_kind", rows)
        message = facts.take("crypto_msg", rows)
        data = (kind == "wireguard") & (message == WG_DATA)
        esp = kind == "esp"
        self._tallies(facts, rows, kind, message)
        if data.any():
            self._wireguard_data(facts, rows[data])
        if esp.any():
            self._esp(facts, rows[esp])
        handshakes = np.flatnonzero((kind == "wireguard") & ~data)
        if len(handshakes):
            self._handshakes(facts, rows[handshakes], message[handshakes])

    def _direction(self, tunnel: str, src: str, dst: str, create: bool = True) -> _Direction | None:
        key = (tunnel, src, dst)
        found = self.directions.get(key)
        if found is None and create:
            if len(self.directions) >= DIRECTION_CAP:
                self.dropped["directions"] += 1
                return None
            found = self.directions[key] = _Direction()
        return found

    def _tallies(self, facts: Facts, rows, kind, message) -> None:
        """Every message kind's tally per direction: one grouping of the batch's encrypted rows."""
        ike = kind == "ike"
        if ike.any():
            message = message.copy()
            message[ike] = message[ike] + np.where(facts.take("crypto_reply", rows)[ike], " response", " request")
        codes, firsts = _groups(facts, rows, message)
        count = len(firsts)
        lasts = np.zeros(count, dtype=np.int64)
        lasts[codes] = np.arange(len(codes))      # the last write of each group wins: its last row
        size = np.bincount(codes, np.maximum(facts.take("outer_len", rows), 0), minlength=count)
        packets = np.bincount(codes, minlength=count)
        ts, frames, ports = facts.take("ts", rows), facts.take(FRAME, rows), facts.take("tunnel_port", rows)
        src, dst = facts.take("outer_src", rows[firsts]), facts.take("outer_dst", rows[firsts])
        for group, first in enumerate(firsts):
            direction = self._direction(TUNNEL_OF_KIND.get(kind[first], IPSEC), src[group], dst[group])
            if direction is None:
                self.dropped["packets"] += int(packets[group])
                continue
            last = lasts[group]
            direction.count(str(message[first]), _tally(packets[group], size[group], ts[first], ts[last],
                                                         frames[first], frames[last]))
            if ports[first] >= 0:
                direction.port = int(ports[first])

    def _wireguard_data(self, facts: Facts, rows) -> None:
        """The distinct receiver indices of transport data per direction: one per session."""
        receivers = facts.take("crypto_receiver", rows)
        codes, firsts = _groups(facts, rows, receivers)
        packets = np.bincount(codes, minlength=len(firsts))
        src, dst = facts.take("outer_src", rows[firsts]), facts.take("outer_dst", rows[firsts])
        for group, first in enumerate(firsts):
            direction = self._direction(WIREGUARD, src[group], dst[group], create=False)
            if direction is not None and receivers[first] >= 0:
                direction.add_index(int(receivers[first]), int(packets[group]), int.__add__)

    def _esp(self, facts: Facts, rows) -> None:
        """Per SPI and direction: the SA's tally and its sequence-number runs in this batch (vectorised: an
        SA's packets side by side, a run starting at each SA and at each reset)."""
        spi, seq = facts.take("crypto_receiver", rows), facts.take("crypto_seq", rows)
        codes, firsts = _groups(facts, rows, spi)
        order = np.argsort(codes, kind="stable")          # each SA's packets together, in capture order
        group, numbers = codes[order], seq[order]
        new_group = np.r_[True, group[1:] != group[:-1]]
        reset = ~new_group & (numbers < np.r_[0, numbers[:-1]] - REPLAY_WINDOW)
        starts = np.flatnonzero(new_group | reset)
        run_low, run_high = np.minimum.reduceat(numbers, starts), np.maximum.reduceat(numbers, starts)
        run_packets = np.diff(np.r_[starts, len(numbers)])
        missing_before = np.r_[0, np.cumsum(np.maximum(0, run_high - run_low + 1 - run_packets))]
        sa_runs = np.flatnonzero(new_group[starts])                 # each SA's first run
        sa_run_ends = np.r_[sa_runs[1:], len(starts)]
        sa_rows = np.flatnonzero(new_group)
        sa_row_ends = np.r_[sa_rows[1:], len(group)]
        ts, frames, size = facts.take("ts", rows), facts.take(FRAME, rows), facts.take("outer_len", rows)
        src, dst = facts.take("outer_src", rows[firsts]), facts.take("outer_dst", rows[firsts])
        for sa in range(len(firsts)):
            direction = self._direction(IPSEC, src[sa], dst[sa], create=False)
            if direction is None:
                continue
            mine = order[sa_rows[sa]:sa_row_ends[sa]]
            first, last = mine[0], mine[-1]
            head, stop = sa_runs[sa], sa_run_ends[sa]
            runs = [(int(run_low[r]), int(run_high[r]), int(run_packets[r])) for r in (head, stop - 1)]
            state = _SA(_tally(len(mine), np.maximum(size[mine], 0).sum(), ts[first], ts[last], frames[first],
                               frames[last]),
                        int(seq[first]), int(seq[last]), runs[0], runs[1] if stop - head > 1 else None,
                        int(missing_before[stop - 1] - missing_before[head + 1]) if stop - head > 2 else 0,
                        int(stop - head))
            direction.add_index(int(spi[first]), state, _join_sa)

    def _handshakes(self, facts: Facts, rows, message) -> None:
        """WireGuard handshake messages, one at a time in capture order (a few per peer every two minutes):
        initiations wait for the response or cookie reply whose receiver index is their sender index."""
        sender, receiver = facts.take("crypto_sender", rows), facts.take("crypto_receiver", rows)
        src, dst = facts.take("outer_src", rows), facts.take("outer_dst", rows)
        ts, frames = facts.take("ts", rows), facts.take(FRAME, rows)
        for at, name in enumerate(message):
            direction = self.directions.get((WIREGUARD, src[at], dst[at]))
            if direction is None:      # left out by the direction cap (and counted there)
                continue
            seen = (float(ts[at]), int(frames[at]))
            pair = self.pairs.setdefault(_pair_key(src[at], dst[at]), [False, 0, 0])
            if name == WG_INITIATION:
                pair[2 if pair[0] else 1] += 1
                if sender[at] >= 0:
                    direction.add_pending(int(sender[at]), seen)
            elif name in (WG_RESPONSE, WG_COOKIE):
                if name == WG_RESPONSE:
                    pair[0] = True
                    direction.add_session((int(sender[at]), int(receiver[at])))
                self._answer(src[at], dst[at], int(receiver[at]), seen)

    def _answer(self, src: str, dst: str, receiver: int, seen: tuple) -> None:
        """A response or cookie reply src > dst answers the initiation dst > src with sender index receiver."""
        asked = self.directions.get((WIREGUARD, dst, src))
        if asked is not None and asked.pending.pop(receiver, None) is not None:
            asked.answered += 1
            return
        answering = self.directions.get((WIREGUARD, src, dst))
        if answering is not None:
            answering.add_orphan(receiver, seen)

    # -- merging and the result ------------------------------------------------------------------------
    def merge(self, other: "SessionsAnalyzer") -> None:
        """Take on the state of the chunk or file that follows."""
        for key, theirs in other.directions.items():
            mine = self._direction(*key)
            if mine is None:
                self.dropped["packets"] += sum(tally[PACKETS] for tally in theirs.messages.values())
                continue
            for name, tally in theirs.messages.items():
                mine.count(name, tally)
            mine.port = theirs.port if theirs.port >= 0 else mine.port
            for index, value in theirs.indices.items():
                mine.add_index(index, value, _join_sa if isinstance(value, _SA) else int.__add__)
            for session in theirs.sessions:
                mine.add_session(session)
            mine.dropped_indices += theirs.dropped_indices
            mine.expired += theirs.expired
            mine.answered += theirs.answered
            mine.dropped_orphans += theirs.dropped_orphans
        # their responses answer our initiations; only then do their own unanswered initiations follow ours
        for (_, src, dst), theirs in other.directions.items():
            for receiver, seen in theirs.orphans.items():
                self._answer(src, dst, receiver, seen)
        for key, theirs in other.directions.items():
            mine = self.directions.get(key)
            for sender, seen in theirs.pending.items() if mine is not None else ():
                mine.add_pending(sender, seen)
        for key, (completed, before, after) in other.pairs.items():
            pair = self.pairs.setdefault(key, [False, 0, 0])
            pair[1:] = [pair[1], pair[2] + before + after] if pair[0] else [pair[1] + before, pair[2] + after]
            pair[0] = pair[0] or completed
        for name, count in other.dropped.items():
            self.dropped[name] += count

    def shift_frames(self, offset: int) -> None:
        """This state's unit starts `offset` records into its file: its frame numbers become the file's."""
        for direction in self.directions.values():
            direction.shift(offset)

    def result(self) -> SessionsResult:
        pairs: dict[tuple, dict] = {}
        for (tunnel, src, dst), direction in sorted(self.directions.items()):
            low, high = _pair_key(src, dst)
            pair = pairs.setdefault((tunnel, low, high), {"tunnel": tunnel, "peers": [low, high], "directions": []})
            pair["directions"].append(_direction_json(tunnel, src, dst, direction))
        for (tunnel, low, high), pair in pairs.items():
            pair.update(_wireguard_summary(pair["directions"], self.pairs.get((low, high), [False, 0, 0])[2])
                        if tunnel == WIREGUARD else _ipsec_summary(pair["directions"]))
        dropped = {**self.dropped, "indices": sum(d.dropped_indices for d in self.directions.values()),
                   "expired_initiations": sum(d.expired for d in self.directions.values()),
                   "responses": sum(d.dropped_orphans for d in self.directions.values())}
        return SessionsResult(list(pairs.values()), dropped)


def _groups(facts: Facts, rows, *columns):
    """Group numbers of (outer src, outer dst, columns...) over rows, in order of first appearance, and each
    group's first row (a position into rows); text columns are numbered first (only ints are packed)."""
    words = [np.unique(values, return_inverse=True)[1].ravel() if values.dtype == object else values
             for values in columns]
    return group_codes(facts, [keys_of(facts, "outer_src")[rows], keys_of(facts, "outer_dst")[rows], *words])


def _pair_key(src: str, dst: str) -> tuple:
    return (src, dst) if src <= dst else (dst, src)


def _frame(value: int):
    return value if value >= 1 else None


def _tally_json(tally: list) -> dict:
    return {"packets": tally[PACKETS], "bytes": tally[BYTES], "first": tally[FIRST], "last": tally[LAST],
            "first_frame": _frame(tally[FIRST_FRAME]), "last_frame": _frame(tally[LAST_FRAME])}


def _direction_json(tunnel: str, src: str, dst: str, direction: _Direction) -> dict:
    entry = {"src": src, "dst": dst, "port": direction.port if direction.port >= 0 else None,
             "messages": {name: _tally_json(tally) for name, tally in sorted(direction.messages.items())}}
    if tunnel == IPSEC:
        entry["sas"] = [{"spi": f"0x{spi:08x}", **_tally_json(sa.tally), "seq_first": sa.first_seq,
                         "seq_last": sa.last_seq, "missing": sa.missing, "resets": sa.runs - 1}
                        for spi, sa in direction.indices.items()]
    else:
        entry.update({
            "receiver_indices": [f"0x{index:08x}" for index in direction.indices],
            # the responder's index <-> the initiator's, as `wg` and Wireshark pair them
            "handshake_sessions": [f"0x{sender:08x}<->0x{receiver:08x}" for sender, receiver in direction.sessions],
            "answered_initiations": direction.answered,
            "unanswered_initiations": len(direction.pending) + direction.expired,
            "unanswered": [{"sender": f"0x{sender:08x}", "ts": ts, "frame": _frame(frame)}
                           for sender, (ts, frame) in list(direction.pending.items())[:EXAMPLES]],
            "responses_without_initiation": len(direction.orphans) + direction.dropped_orphans})
    entry["indices_dropped"] = direction.dropped_indices
    return entry


def _count(directions: list, message: str, key: str = "packets") -> int:
    return sum(d["messages"].get(message, {}).get(key, 0) for d in directions)


def _wireguard_summary(directions: list, rekeys: int) -> dict:
    return {"initiations": _count(directions, WG_INITIATION), "handshakes": _count(directions, WG_RESPONSE),
            "cookie_replies": _count(directions, WG_COOKIE),
            "unanswered_initiations": sum(d["unanswered_initiations"] for d in directions),
            "rekeys": rekeys,
            "sessions": sorted({session for d in directions for session in d["handshake_sessions"]}),
            "receiver_indices": len({index for d in directions for index in d["receiver_indices"]}),
            "data_packets": _count(directions, WG_DATA), "data_bytes": _count(directions, WG_DATA, "bytes")}


def _ipsec_summary(directions: list) -> dict:
    """A new SPI in a direction is a rekey (IKE's CREATE_CHILD_SA replaces both SAs at once)."""
    return {"spis": sum(len(d["sas"]) for d in directions),
            "rekeys": max([len(d["sas"]) - 1 for d in directions] + [0]),
            "esp_packets": _count(directions, "esp"), "esp_bytes": _count(directions, "esp", "bytes"),
            "ike_requests": sum(t["packets"] for d in directions for name, t in d["messages"].items()
                                if name.endswith(" request")),
            "ike_responses": sum(t["packets"] for d in directions for name, t in d["messages"].items()
                                 if name.endswith(" response")),
            "nat_keepalives": _count(directions, "keepalive")}
