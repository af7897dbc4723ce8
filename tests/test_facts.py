"""The packet facts column store (decode/facts.py Facts, TextColumn) on real decoded batches.

The fast decoder hands text columns over as codes into tables of distinct texts; reading some rows
(take), selecting rows (facts[mask]), reading a column whole and building a DataFrame must all give
the texts the reference decoder's plain object columns give.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import SAMPLES
from pcapdiag.capture import open_capture
from pcapdiag.decode import ReferenceDecoder
from pcapdiag.decode.facts import COLUMNS, Facts, TextColumn
from pcapdiag.decode.fast import FastDecoder

TEXT = [name for name, kind, _ in COLUMNS if kind == "s"]


def decoded(path, decoder, records=64):
    with open_capture(str(path)) as capture:
        return [decoder.decode_batch(batch) for batch in capture.batches(records)]


@pytest.mark.parametrize("name", ["vxlan-mtu-broken.pcap", "native-bgp.pcap", "vxlan-mtu-broken.node1-any.pcap"])
def test_text_columns_read_any_way_give_the_reference_texts(name):
    fast, reference = decoded(SAMPLES / name, FastDecoder()), decoded(SAMPLES / name, ReferenceDecoder())
    assert any(isinstance(batch.columns[column], TextColumn) for batch in fast for column in TEXT)
    rng = np.random.default_rng(7)
    for got, expected in zip(fast, reference):
        rows = np.flatnonzero(rng.random(len(got)) < 0.5)
        mask = rng.random(len(got)) < 0.3
        for column in TEXT:
            assert got.take(column, rows).tolist() == expected[column][rows].tolist()
            assert got[mask].take(column, np.arange(mask.sum())).tolist() == expected[column][mask].tolist()
        assert got.frame(TEXT, rows).equals(expected.frame(TEXT, rows))
        for column in TEXT:                      # read whole (and kept so), then read again
            assert got[column].tolist() == expected[column].tolist()
            assert got[column] is got[column]
    assert Facts.concat(fast).frame().equals(Facts.concat(reference).frame())


def test_text_column_with_rows_set_keeps_the_others():
    texts = np.array(["10.0.0.1", "10.0.0.2", ""], dtype=object)
    column = TextColumn(np.array([0, -1, 1, 0], dtype=np.intp), texts)
    changed = column.with_rows(np.array([1, 3]), ["fd00::1", ""])
    assert changed[np.arange(4)].tolist() == ["10.0.0.1", "fd00::1", "10.0.0.2", ""]
    assert column[np.arange(4)].tolist() == ["10.0.0.1", "", "10.0.0.2", "10.0.0.1"]   # unchanged
    assert changed.select(np.array([True, True, False, False]))[np.arange(2)].tolist() == ["10.0.0.1", "fd00::1"]
