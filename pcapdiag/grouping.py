"""numpy group-by helpers: factorize, the first row of each group, row codes over several columns, pandas'
sort order, lookups by value. Plain numpy and nothing of the package, so the decoders, the analyzers and the
findings share them without pandas (a plain analysis imports none).
"""
from __future__ import annotations

import numpy as np

_NA = object()   # None and NaN of an object array: one value, as pandas factorizes them


def factorize(values):
    """(codes, uniques): the distinct values numbered in order of first appearance, as pandas' factorize
    with use_na_sentinel=False (NaN, and None in an object array, is one value; its unique is NaN)."""
    values = np.asarray(values)
    if values.dtype == object:
        return _factorize_objects(values)
    if not len(values):
        return np.zeros(0, dtype=np.int64), values
    # one unstable sort (no mergesort, as np.unique's return_index would do); the first appearance of
    # each value is the smallest position among its sorted run
    order = np.argsort(values)
    ranked = values[order]
    new = np.empty(len(values), dtype=bool)
    new[0] = True
    np.not_equal(ranked[1:], ranked[:-1], out=new[1:])
    if values.dtype.kind in "fc":
        nan = np.isnan(ranked)
        new[1:] &= ~(nan[1:] & nan[:-1])
    starts = np.flatnonzero(new)
    by_appearance = np.argsort(np.minimum.reduceat(order, starts))
    rank = np.empty(len(starts), dtype=np.int64)
    rank[by_appearance] = np.arange(len(starts))
    codes = np.empty(len(values), dtype=np.int64)
    codes[order] = rank[np.cumsum(new) - 1]
    return codes, ranked[starts[by_appearance]]


def _factorize_objects(values):
    index: dict = {}
    codes = np.fromiter((index.setdefault(_NA if value is None or value != value else value, len(index))
                         for value in values.tolist()), dtype=np.int64, count=len(values))
    uniques = np.empty(len(index), dtype=object)
    for at, value in enumerate(index):
        uniques[at] = np.nan if value is _NA else value
    return codes, uniques


def first_rows(codes):
    """The first row of each group, for codes numbered in order of first appearance (as factorize
    numbers them): the rows where the running maximum grows. No sort."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, codes[1:] > np.maximum.accumulate(codes)[:-1]])


def row_codes(columns: list):
    """The distinct rows of some equally long columns numbered in order of first appearance: (code per row,
    first row of each group)."""
    combined = None
    for values in columns:
        codes, uniques = factorize(values)
        # renumbered at every step: the product stays below rows squared
        combined = codes if combined is None else factorize(combined * len(uniques) + codes)[0]
    if combined is None:
        raise ValueError("row_codes needs at least one column")
    return combined, first_rows(combined)


def sort_order(values, ascending: bool = True):
    """The positions that sort a column as pandas' sort_values does: its default quicksort, descending by
    sorting the reversed column and reversing the result; so equal values come out in pandas' order."""
    values = np.asarray(values)
    if ascending:
        return values.argsort(kind="quicksort")
    backwards = np.arange(len(values))[::-1]
    return backwards[values[::-1].argsort(kind="quicksort")][::-1]


def isin(values, collection):
    """Which values (an array, text included) are in a collection (a set, dict or list of plain values)."""
    collection = collection if isinstance(collection, (set, frozenset, dict)) else set(collection)
    return np.fromiter((value in collection for value in np.asarray(values).tolist()), dtype=bool,
                       count=len(values))


def positions(keys, wanted):
    """Each wanted value's position in keys (distinct values), -1 where it is not there (as pandas'
    Index(keys).get_indexer(wanted))."""
    keys, wanted = np.asarray(keys), np.asarray(wanted)
    if not len(keys):
        return np.full(len(wanted), -1, dtype=np.intp)
    order = np.argsort(keys)
    at = np.minimum(np.searchsorted(keys, wanted, sorter=order), len(keys) - 1)
    return np.where(keys[order[at]] == wanted, order[at], -1)
