"""Counting damage inside a capture and wording it for the user.

Damage never raises: the walkers count it here and carry on (or stop
cleanly), and the capture reports one sentence per kind of damage.
"""
from __future__ import annotations

DAMAGE_COUNTERS = (
    "truncated_tail",          # 0/1: the input ends inside a record or record header
    "bad_records",             # records/blocks dropped as unreadable (impossible length, unknown interface, ...)
    "skipped_bytes",           # bytes jumped over while resynchronising on the next valid record
    "caplen_gt_wirelen",       # records kept although captured length > original length
    "ts_backwards",            # records whose timestamp is earlier than the previous record's
    "trailing_garbage_bytes",  # bytes after the last record that are not a record
)


class DamageLog:
    def __init__(self) -> None:
        self.counters: dict[str, int] = {name: 0 for name in DAMAGE_COUNTERS}
        # kind -> [first sentence, times seen, summary template or None]
        self._notes: dict[str, list] = {}

    def note(self, kind: str, sentence: str, summary: str | None = None) -> None:
        """Record one occurrence of a kind of damage.

        The first occurrence's sentence is kept (it names the place); if the
        kind happens again, ``summary`` (formatted with ``count`` and the
        counters) replaces it in the warnings.
        """
        entry = self._notes.get(kind)
        if entry is None:
            self._notes[kind] = [sentence, 1, summary]
        else:
            entry[1] += 1

    def warnings(self) -> list[str]:
        out = []
        for sentence, count, summary in self._notes.values():
            out.append(summary.format(count=count, **self.counters) if summary and count > 1 else sentence)
        mismatched = self.counters["caplen_gt_wirelen"]
        if mismatched:
            out.append(f"{_records(mismatched)} captured length larger than their original "
                       "length (kept as captured; the writer's lengths are wrong)")
        if self.counters["ts_backwards"]:
            out.append(ts_backwards_warning(self.counters["ts_backwards"]))
        return out


def ts_backwards_warning(count: int) -> str:
    return f"{_records(count)} timestamp earlier than the record before (merged or multi-interface capture?)"


def plural(n: int, word: str) -> str:
    """'1 byte', '37 bytes'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def human_size(n: int) -> str:
    """'16 MiB' for whole mebibytes, else '4096 bytes'."""
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else plural(n, "byte")


def be(n: int) -> str:
    return "is" if n == 1 else "are"


def _records(n: int) -> str:
    return "1 record has a" if n == 1 else f"{n} records have a"


def resynchronise(walker, pos: int, where: str, reason: str, find_next, unit: str, window: int, at_end):
    """After a damaged header at pos: the position of the next valid `unit` (record or block), or None.

    Looks in what is buffered first, so dense damage costs no copying; only if that fails, reads the
    whole window and looks again. Counts the damage and words it once per kind (see DamageLog).
    """
    chunks, counters = walker.chunks, walker.log.counters
    found = find_next(pos)
    if found is None and not chunks.eof and len(chunks.buf) - pos < window:
        chunks.advance(pos, window)
        pos = 0
        found = find_next(pos)
    if found is None:
        if chunks.eof and len(chunks.buf) - pos <= window:
            at_end()
            walker._trailing_garbage(len(chunks.buf) - pos)
        else:
            counters["bad_records"] += 1
            walker.log.note("resync_failed", f"{where} has {reason} and no valid {unit} follows within "
                                             f"{human_size(window)}; stopped reading there")
        return None
    counters["bad_records"] += 1
    counters["skipped_bytes"] += found - pos
    walker.log.note("resync", f"{where} has {reason}; skipped {plural(found - pos, 'byte')} to the next valid {unit}",
                    summary="{count} damaged places were skipped by resynchronising on the next valid "
                            + unit + " ({skipped_bytes} bytes skipped)")
    return found


def note_cut_tail(walker, tail_len: int, plausible: bool, ends: str, piece: str) -> None:
    """The file's last few bytes: a record (pcap) or block (pcapng) cut short when they could start one,
    else garbage after the last whole one. ends: "mid-record" / "mid-block"; piece: what is incomplete."""
    if plausible:
        walker.log.counters["truncated_tail"] = 1
        walker.log.note("truncated_tail",
                        f"file ends {ends} after {plural(walker.records, 'record')} (the last "
                        f"{plural(tail_len, 'byte')} {be(tail_len)} an incomplete {piece})")
    else:
        walker._trailing_garbage(tail_len)
