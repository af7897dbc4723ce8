"""The numpy group-by helpers (pcapdiag/grouping.py) and Table (analyzers/table.py) against a plain Python
reference and against the pandas calls they replaced: the same groups, in the same order, the same ties."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from pcapdiag.analyzers.table import Table
from pcapdiag.grouping import factorize, first_rows, isin, positions, row_codes, sort_order

SMALL = st.integers(min_value=-3, max_value=3)
WIDE = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
TEXT = st.sampled_from(["", "a", "b", "10.0.0.1", "vxlan"])


def reference_factorize(values: list):
    """Codes in order of first appearance; None and NaN are one value."""
    def canonical(value):
        return "NA" if value is None or (isinstance(value, float) and math.isnan(value)) else value
    seen: dict = {}
    codes = [seen.setdefault(canonical(value), len(seen)) for value in values]
    return codes, list(seen)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(SMALL, WIDE), max_size=60))
def test_factorize_numbers_integers_in_order_of_first_appearance(values):
    codes, uniques = factorize(np.array(values, dtype=np.int64))
    expected_codes, expected_uniques = reference_factorize(values)
    assert codes.tolist() == expected_codes and uniques.tolist() == expected_uniques
    assert codes.dtype == np.int64


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from([0.0, 1.5, -2.0, math.nan, math.inf]), st.floats()), max_size=40))
def test_factorize_keeps_nan_as_one_value_as_pandas_does(values):
    array = np.array(values, dtype=np.float64)
    codes, uniques = factorize(array)
    expected_codes, expected_uniques = pd.factorize(array, use_na_sentinel=False)
    assert codes.tolist() == expected_codes.tolist()
    np.testing.assert_array_equal(uniques, expected_uniques)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(TEXT, st.none(), st.just(math.nan)), max_size=40))
def test_factorize_of_text_takes_none_and_nan_for_one_value(values):
    array = np.empty(len(values), dtype=object)
    array[:] = values
    codes, uniques = factorize(array)
    expected_codes, expected_uniques = reference_factorize(values)
    assert codes.tolist() == expected_codes
    assert ["NA" if value is not value or isinstance(value, float) else value for value in uniques.tolist()] \
        == expected_uniques
    pandas_codes, _ = pd.factorize(array, use_na_sentinel=False)
    assert codes.tolist() == pandas_codes.tolist()


def test_factorize_of_nothing():
    codes, uniques = factorize(np.zeros(0, dtype=np.uint64))
    assert codes.dtype == np.int64 and len(codes) == len(uniques) == 0
    assert first_rows(codes).tolist() == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(SMALL, TEXT, WIDE), min_size=1, max_size=50))
def test_row_codes_group_rows_in_order_of_first_appearance(rows):
    columns = [np.array([row[i] for row in rows], dtype=object if i == 1 else np.int64) for i in range(3)]
    codes, first = row_codes(columns)
    expected, _ = reference_factorize(rows)
    assert codes.tolist() == expected
    assert first.tolist() == [expected.index(code) for code in range(max(expected) + 1)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4), max_size=80), st.booleans())
def test_sort_order_leaves_ties_where_pandas_does(values, ascending):
    series = pd.Series(values, dtype=np.int64)
    expected = series.sort_values(ascending=ascending).index.tolist()
    assert sort_order(np.array(values, dtype=np.int64), ascending).tolist() == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(WIDE, unique=True, max_size=30), st.lists(WIDE, max_size=30))
def test_positions_find_values_as_an_index_does(keys, extra):
    keys_array = np.array(keys, dtype=np.int64)
    wanted = np.array(keys[::2] + extra, dtype=np.int64)
    assert positions(keys_array, wanted).tolist() == pd.Index(keys_array).get_indexer(wanted).tolist()


def test_isin_takes_text_and_any_collection():
    values = np.array(["a", "b", "", "c"], dtype=object)
    assert isin(values, {"a": 1, "c": 2}).tolist() == [True, False, False, True]
    assert isin(values, ["b"]).tolist() == [False, True, False, False]
    assert isin(values[:0], {"a"}).tolist() == []


def table_of(rows: list) -> Table:
    return Table({"node": np.array([row[0] for row in rows], dtype=object),
                  "port": np.array([row[1] for row in rows], dtype=np.int64),
                  "count": np.array([row[2] for row in rows], dtype=np.int64),
                  "ts": np.array([row[3] for row in rows], dtype=np.float64)})


ROWS = st.lists(st.tuples(TEXT, SMALL, st.integers(min_value=0, max_value=9),
                          st.one_of(st.floats(min_value=0, max_value=10), st.just(math.nan))), max_size=40)
HOW = {"count": "sum", "ts": "min", "last": ("ts", "max"), "largest": ("count", "max")}


@settings(max_examples=150, deadline=None)
@given(ROWS, st.booleans())
def test_aggregate_is_pandas_groupby_agg(rows, sort):
    table = table_of(rows)
    found = table.aggregate(["node", "port"], HOW, sort=sort)
    expected = table.frame().groupby(["node", "port"], sort=sort).agg(
        count=("count", "sum"), ts=("ts", "min"), last=("ts", "max"), largest=("count", "max")).reset_index()
    pd.testing.assert_frame_equal(found.frame(), expected, check_dtype=False)


@settings(max_examples=100, deadline=None)
@given(ROWS, st.booleans())
def test_groups_are_pandas_groupby_iterated(rows, sort):
    table = table_of(rows)
    found = [(key, group["count"].tolist()) for key, group in table.groups(["node", "port"], sort=sort)]
    expected = [(key, group["count"].tolist()) for key, group in table.frame().groupby(["node", "port"], sort=sort)]
    assert found == expected


@settings(max_examples=100, deadline=None)
@given(ROWS, ROWS)
def test_join_is_pandas_inner_merge(left, right):
    mine, theirs = table_of(left), table_of(right)[["node", "port", "ts"]]
    found = mine.join(theirs, ["node", "port"], suffix="_other")
    expected = mine.frame().merge(theirs.frame(), on=["node", "port"], suffixes=("", "_other"))
    pd.testing.assert_frame_equal(found.frame(), expected, check_dtype=False)


@settings(max_examples=100, deadline=None)
@given(ROWS)
def test_rows_selections_and_duplicates_as_pandas(rows):
    table = table_of(rows)
    frame = table.frame()
    pd.testing.assert_frame_equal(table.drop_duplicates(["node"]).frame(),
                                  frame.drop_duplicates(["node"]).reset_index(drop=True))
    pd.testing.assert_frame_equal(table.sort_values("count", ascending=False).head(5).frame(),
                                  frame.sort_values("count", ascending=False).head(5).reset_index(drop=True))
    # compared as text: NaN equals no NaN
    assert repr(list(table.itertuples())) == repr(list(frame.itertuples(index=False, name="Row")))
    assert repr(table.records()) == repr(frame.to_dict("records"))


def test_a_table_selects_columns_rows_and_positions():
    table = table_of([("a", 1, 2, 0.5), ("b", 2, 3, 1.5), ("a", 3, 4, 2.5)])
    assert list(table[["port", "node"]].columns) == ["port", "node"]
    assert table[table["node"] == "a"]["port"].tolist() == [1, 3]
    assert table[[2, 0]]["count"].tolist() == [4, 2]
    assert table[[False, True, False]]["node"].tolist() == ["b"]
    assert len(table[[]]) == 0 and table[0:0].empty
    empty = Table.empty_of({"node": object, "count": np.int64})
    assert empty.empty and len(empty.aggregate(["node"], {"count": "sum"})) == 0
    assert list(empty.groups(["node"])) == [] and empty.records() == []


@pytest.mark.parametrize("rows, distinct", [(262_144, 200), (10_000, 10_000)])
def test_factorize_agrees_with_pandas_on_big_batches(rows, distinct):
    rng = np.random.default_rng(rows)
    values = rng.integers(0, 1 << 32, distinct)[rng.integers(0, distinct, rows)]
    codes, uniques = factorize(values)
    expected_codes, expected_uniques = pd.factorize(values)
    assert np.array_equal(codes, expected_codes) and np.array_equal(uniques, expected_uniques)
