"""Per-batch grouping on integer keys: the one group-by every analyzer builds on.

Text columns are grouped by their int64 keys (decode/facts.py KEYED), never by the strings; the
text of a group is read from its first row only.
"""
from __future__ import annotations

import numpy as np

from ..catalogue import TUNNEL_CLASSES
from ..decode.facts import Facts, grouping_column, text_key
from ..grouping import factorize, first_rows
from .table import Table


def group_codes(facts: Facts, names: list, rows=None):
    """Number the distinct combinations of the named columns (or arrays as long as the frame) over `rows`
    (all rows when None) in order of first appearance: (code per row, first row of each group, as positions
    into `rows`)."""
    columns = []
    for name in names:
        if isinstance(name, np.ndarray):
            values = name
        else:
            values = grouping_column(facts, name)
        columns.append(values if rows is None else values[rows])
    if not columns:
        raise ValueError("group_codes needs at least one column")
    words = _packed(columns)
    if len(words) > 1 and all(values.dtype.kind in "iu" for values in words):
        found = _mixed_codes(words)
        if found is not None:
            return found
    combined, size = None, 1
    for values in words:
        codes, uniques = factorize(values)   # NaN is a value here, not -1
        if combined is None:
            combined, size = codes.astype(np.int64), len(uniques)
            continue
        if size * len(uniques) >= 1 << 62:
            # renumber densely (below the row count) before the product could overflow
            combined, uniques_so_far = factorize(combined)
            size = len(uniques_so_far)
        combined = combined * len(uniques) + codes
        size *= len(uniques)
    # numbered in order of first appearance, as the factors of the product are
    combined = factorize(combined)[0]
    return combined, first_rows(combined)


PACK_BITS = 62
_MIX = np.uint64(0x9E3779B97F4A7C15)   # odd: w -> w * _MIX is a bijection of 64-bit words


def _mixed_codes(words: list):
    """group_codes of several integer words by one factorisation of a 64-bit mix of them (instead of one
    per word and one of their product), checked exactly: every row's words must equal its group's first
    row's, else (two distinct rows mixed alike) None, and the caller numbers them word by word."""
    mixed = words[0].astype(np.int64, copy=False).view(np.uint64)
    for values in words[1:]:
        mixed = mixed * _MIX + values.astype(np.int64, copy=False).view(np.uint64)   # wraps modulo 2**64
    codes = factorize(mixed)[0]
    first = first_rows(codes)
    for values in words:
        if not np.array_equal(values[first].take(codes), values):
            return None
    return codes, first


def _packed(columns: list) -> list:
    """The columns with small value ranges packed side by side into int64 words (value - minimum, in as
    many bits as the range needs), so one factorisation serves several: ports, protocols, VNIs and the
    addresses of a few nodes or pods take a few bits each. Equal rows stay equal and distinct ones
    distinct."""
    if len(columns[0]) == 0:
        return columns
    words, wide = [], []
    word, used = None, 0
    for values in columns:
        if values.dtype.kind not in "iub":     # only integers pack
            wide.append(values)
            continue
        values = values.astype(np.int64, copy=False)
        low, high = int(values.min()), int(values.max())
        bits = (high - low).bit_length()
        if bits > PACK_BITS // 2:
            wide.append(values)
            continue
        if word is not None and used + bits > PACK_BITS:
            words.append(word)
            word, used = None, 0
        shifted = values - low
        word = shifted if word is None else (word << bits) | shifted
        used += bits
    if word is not None:
        words.append(word)
    return words + wide


def stable_order(codes):
    """np.argsort(codes, kind="stable") for non-negative codes, by radix sort when they fit 16 bits (a
    batch's group codes always do): ~20x faster than the general sort."""
    if len(codes) and int(codes.max()) < 1 << 16:
        return np.argsort(codes.astype(np.uint16), kind="stable")
    return np.argsort(codes, kind="stable")


def rows_of(facts: Facts, columns: list, at) -> Facts:
    """Some columns at some row positions (a per-batch piece of evidence, folded into a Table)."""
    return Table({name: facts.take(name, at) for name in columns})


def class_keys(names) -> np.ndarray:
    """The keys of some class names (e.g. the tunnel classes), for np.isin on an outer_class_key column."""
    return np.array(sorted(text_key(name) for name in names), dtype=np.int64)


TUNNEL_KEYS = class_keys(TUNNEL_CLASSES)   # for np.isin on outer_class_key


def sums_by(codes, groups: int, columns: dict) -> dict:
    """Per group, the int64 sum of each named array (summed in float64: exact below 2**53, far above what a
    batch of packet lengths can reach)."""
    return {name: np.bincount(codes, weights=values, minlength=groups).astype(np.int64)
            for name, values in columns.items()}


def as_frame(parts: list) -> Table:
    """Pieces of rows (Facts or Tables, the same columns) as one Table, in order."""
    return Table.concat(parts)


class FoldedTable:
    """An evidence table kept grouped by `fold` (a group-by over concatenated rows), folded lazily.

    Batches' rows wait in a list and are folded in when there are many of them or the table is read:
    for the few hundred rows a batch adds, a group-by's cost per call dwarfs its cost per row.
    """

    BATCHES, ROWS = 32, 200_000

    def __init__(self, fold, cap: int | None = None):
        """cap: the fold keeps at most this many rows (dropping some): once the table could reach it, every
        batch is folded at once, so what is dropped does not depend on when folds happen."""
        self.fold = fold
        self.cap = cap
        self._table = None
        self._pending: list = []
        self._pending_rows = 0

    def add(self, frame) -> None:
        """frame: a Table or Facts of rows to fold in."""
        if frame is None or frame.empty:
            return
        self._pending.append(frame)
        self._pending_rows += len(frame)
        near_cap = self.cap is not None and self._pending_rows + (0 if self._table is None else len(self._table)) \
            >= self.cap
        if near_cap or len(self._pending) >= self.BATCHES or self._pending_rows >= self.ROWS:
            self._fold()

    def _fold(self) -> None:
        if not self._pending:
            return
        frames = ([] if self._table is None else [self._table]) + self._pending
        self._pending, self._pending_rows = [], 0
        self._table = self.fold(as_frame(frames))

    @property
    def table(self):
        """The folded table (None when nothing was added)."""
        self._fold()
        return self._table

    def shift(self, column: str, offset: int) -> None:
        """Add offset to a numbered column of every row (when the rows have it)."""
        table = self.table
        if table is not None and column in table:
            table[column] += offset

    def __getstate__(self):
        self._fold()   # a worker sends its folded table, not the pile of batches behind it
        return self.__dict__
