"""The integer keys the analyzers group by, and the grouping itself, against plain pandas.

Text columns (addresses, MACs, encapsulation chains) are grouped by int64 keys (decode/facts.py): two
rows must share a key exactly when they share the text. group_codes (analyzers/groups.py) packs narrow
columns into shared words before factorising: it must number the groups exactly as pandas' own
group-by does (order of first appearance).
"""
from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st

from pcapdiag.analyzers.groups import first_rows, group_codes, stable_order
from pcapdiag.decode.facts import Facts, column_keys, text_key

ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
mac = st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))
chain = st.lists(st.sampled_from(["vxlan", "geneve", "ipip", "gre", "native", "non-ip", "6in4"]), min_size=1,
                 max_size=3).map(">".join)
texts = st.one_of(st.just(""), ipv4, ipv6, mac, chain, st.text(max_size=20))


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, min_size=1, max_size=60))
def test_equal_keys_exactly_for_equal_texts(values):
    keys = column_keys(np.array(values, dtype=object)).tolist()
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            assert (keys[i] == keys[j]) == (a == b), (a, b)
    assert keys == [text_key(v) for v in values]


def test_key_ranges():
    assert text_key("") == -1
    assert text_key("10.0.1.5") == 0x0A000105
    assert text_key("02:42:ac:11:00:02") == (1 << 32) + 0x0242AC110002
    assert text_key("02:42:AC:11:00:02") >= 1 << 62 and text_key("010.0.1.5") >= 1 << 62   # not the decoders' spelling
    assert text_key("fd00::1") >= 1 << 62 and text_key("vxlan>ipip") >= 1 << 62


column = st.sampled_from(["small", "ports", "wide", "addresses"])   # value ranges: packed, or not


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300), st.lists(column, min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_group_codes_number_groups_as_pandas_does(rows, kinds, seed):
    rng = np.random.default_rng(seed)
    frame = {}
    for index, kind in enumerate(kinds):
        if kind == "small":
            values = rng.integers(-1, 4, rows)
        elif kind == "ports":
            values = rng.choice([-1, 53, 8472, 65535], rows)
        elif kind == "wide":
            values = rng.choice([-2**63, 2**63 - 1, 0, 1 << 62], rows)
        else:
            values = rng.choice([text_key("10.244.1.2"), text_key("fd00::9"), -1], rows)
        frame[f"c{index}"] = values.astype(np.int64)
    frame = pd.DataFrame(frame)
    subset = np.flatnonzero(rng.random(rows) < 0.7)
    if not len(subset):
        subset = np.arange(rows)
    codes, first = group_codes(Facts.of_frame(frame), list(frame.columns), subset)
    expected = frame.iloc[subset].groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    assert codes.tolist() == expected.tolist()
    assert first.tolist() == first_rows(codes).tolist() == np.unique(codes, return_index=True)[1].tolist()
    assert stable_order(codes).tolist() == np.argsort(codes, kind="stable").tolist()


def test_group_codes_when_the_mix_of_two_rows_collides():
    """Several words are numbered by one factorisation of a 64-bit mix of them; two distinct rows that mix
    to the same value must still be two groups (the exact check falls back to word by word)."""
    from pcapdiag.analyzers.groups import _MIX, _mixed_codes

    mix = int(_MIX)
    wide = np.array([mix - (1 << 64), 0, 0, mix - (1 << 64)], dtype=np.int64)   # _MIX's bits, as an int64
    small = np.array([0, 1, 1, 0], dtype=np.int64)
    assert _mixed_codes([small, wide]) is None       # rows 0 and 1: 0 * _MIX + _MIX == 1 * _MIX + 0
    frame = pd.DataFrame({"small": small, "wide": wide})
    codes, first = group_codes(Facts.of_frame(frame), ["small", "wide"])
    assert codes.tolist() == [0, 1, 1, 0] and first.tolist() == [0, 1]
