"""Rows as numpy columns, and the group-by, sort and join the analyzers and findings use on them.

A plain analysis imports no pandas (its import is most of the start-up of a small capture): evidence
tables are folded, and the findings read them, as numpy columns. The few methods named as pandas' behave
as pandas' do (same order of groups, rows and ties), so the report is the same byte for byte; a DataFrame
is built only where one is handed out (Table.frame(), Report.flows_table, CSV).
"""
from __future__ import annotations

from collections import namedtuple
from functools import lru_cache

import numpy as np

from ..decode.facts import Facts
from ..grouping import row_codes, sort_order

# per reduction: for float columns (NaN skipped, as pandas skips it) and for the others
_REDUCE = {"sum": (np.add, np.add), "min": (np.fmin, np.minimum), "max": (np.fmax, np.maximum)}


def _reduce(values, reduction: str, order, starts):
    """The reduction of values (ordered so each group is a run starting at starts) per group."""
    if not len(starts):
        return values[:0]
    if values.dtype == bool and reduction == "sum":
        values = values.astype(np.int64)
    floats = values.dtype.kind == "f"
    if floats and reduction == "sum":
        values = np.where(np.isnan(values), 0.0, values)
    return _REDUCE[reduction][0 if floats else 1].reduceat(values[order], starts)


@lru_cache(maxsize=64)
def _row_type(names: tuple):
    return namedtuple("Row", names)


class Table(Facts):
    """Rows of named numpy columns (text as object arrays): the analyzers' evidence tables and the flow table.

    table["name"] is a column; table[["a", "b"]] some columns; table[mask, positions or slice] some rows.
    aggregate() and groups() group rows by key columns; frame() is the DataFrame of it (imports pandas)."""

    __slots__ = ()

    @classmethod
    def empty_of(cls, columns: dict) -> "Table":
        """A table without rows: column name -> dtype."""
        return cls({name: np.zeros(0, dtype=dtype) for name, dtype in columns.items()})

    def __getitem__(self, key):
        if isinstance(key, str):
            return super().__getitem__(key)
        if isinstance(key, list) and key and all(isinstance(name, str) for name in key):
            return Table({name: self[name] for name in key})
        if isinstance(key, list):
            key = np.asarray(key, dtype=bool if key and isinstance(key[0], (bool, np.bool_)) else np.intp)
        return Table({name: self[name][key] for name in self.columns})

    def itertuples(self, index: bool = False):
        """The rows as namedtuples of plain Python values (with index: their position first, as Index)."""
        names = (["Index"] if index else []) + list(self.columns)
        columns = ([range(len(self))] if index else []) + [self[name].tolist() for name in self.columns]
        return map(_row_type(tuple(names))._make, zip(*columns))

    def records(self) -> list[dict]:
        """The rows as dicts of plain Python values."""
        return [dict(zip(self.columns, row)) for row in zip(*(self[name].tolist() for name in self.columns))]

    def head(self, rows: int) -> "Table":
        return self[:rows]

    def sort_values(self, column: str, ascending: bool = True) -> "Table":
        """The rows sorted by one column, equal values in the order pandas' sort_values leaves them."""
        return self[sort_order(self[column], ascending)]

    def drop_duplicates(self, keys: list) -> "Table":
        """The first row of each distinct combination of the key columns, in order."""
        return self[row_codes([self[name] for name in keys])[1]]

    def aggregate(self, keys: list, how: dict, sort: bool = False) -> "Table":
        """One row per distinct combination of the key columns (in order of first appearance, or sorted by
        the keys), with how's columns reduced per group: {column: "sum" | "min" | "max"}, or
        {output: (column, reduction)}. As pandas' groupby(keys, sort=...).agg(how).reset_index()."""
        codes, first = self._codes(keys, sort)
        out = Table({name: self[name][first] for name in keys})
        order = np.argsort(codes, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0]) if len(codes) else codes
        for name, spec in how.items():
            column, reduction = spec if isinstance(spec, tuple) else (name, spec)
            out[name] = _reduce(self[column], reduction, order, starts)
        return out

    def groups(self, keys: list, sort: bool = False):
        """(key values as a tuple, the group's rows as a Table) per distinct combination of the key columns,
        in order of first appearance or sorted by the keys; rows in their order. As iterating pandas'
        groupby(keys, sort=...)."""
        codes, first = self._codes(keys, sort)
        if not len(codes):
            return
        order = np.argsort(codes, kind="stable")
        bounds = np.r_[0, np.flatnonzero(np.diff(codes[order])) + 1, len(codes)]
        firsts = list(zip(*(self[name][first].tolist() for name in keys)))
        for group, key in enumerate(firsts):
            yield key, self[order[bounds[group]:bounds[group + 1]]]

    def _codes(self, keys: list, sort: bool):
        """Group codes and first rows by the key columns; with sort, groups numbered in key order."""
        if not len(self):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        codes, first = row_codes([self[name] for name in keys])
        if sort:
            firsts = list(zip(*(self[name][first].tolist() for name in keys)))
            ranked = sorted(range(len(first)), key=firsts.__getitem__)
            rank = np.empty(len(first), dtype=np.int64)
            rank[ranked] = np.arange(len(first))
            codes, first = rank[codes], first[ranked]
        return codes, first

    def join(self, other: "Table", on: list, suffix: str) -> "Table":
        """The inner join on the `on` columns, as pandas' merge(how="inner", suffixes=("", suffix)): each row
        of this table in order, once per matching row of the other (in its order); the other's columns
        beside it, suffixed where this table has one of the name."""
        mine = len(self)
        codes = row_codes([np.concatenate([self[name], other[name]]) for name in on])[0]
        order = np.argsort(codes[mine:], kind="stable")
        ranked = codes[mine:][order]
        low = np.searchsorted(ranked, codes[:mine], side="left")
        matches = np.searchsorted(ranked, codes[:mine], side="right") - low
        left = np.repeat(np.arange(mine), matches)
        within = np.arange(len(left)) - np.repeat(np.cumsum(matches) - matches, matches)
        right = order[np.repeat(low, matches) + within]
        joined = Table({name: self[name][left] for name in self.columns})
        for name in other.columns:
            if name not in on:
                joined[name + suffix if name in self.columns else name] = other[name][right]
        return joined

    @classmethod
    def concat(cls, parts: list) -> "Table":
        return cls(Facts.concat(parts).columns) if len(parts) > 1 else cls(dict(parts[0].columns))
