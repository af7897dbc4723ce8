"""The runner and the analyzer contract: analyze() over one path or several, every analyzer's declarations
(result type, columns read, which frames it sees), and frame numbers made whole-file when chunks merge."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import pcapdiag
from conftest import LAB, needs_corpus
from pcapdiag.analyzers import DUPLICATE_COLUMN, FRAME_COLUMN, DuplicateMarker, make_analyzers, results, update_all
from pcapdiag.analyzers.table import Table
from pcapdiag.capture import open_capture
from pcapdiag.decode import ReferenceDecoder
from pcapdiag.decode.facts import COLUMN_NAMES, KEY_SUFFIX, KEYED, Facts
from pcapdiag.report.machine import render_json
from pcapdiag.runner import merge_states

pytestmark = needs_corpus
BROKEN, OUTERFRAG = LAB / "vxlan-mtu-broken.node1-any.pcap", LAB / "vxlan-mtu-outerfrag.pcap"


def facts_of(path) -> Facts:
    """A capture's facts, duplicates marked once over the whole of it (as one pass marks them)."""
    decoder = ReferenceDecoder()
    with open_capture(str(path)) as capture:
        facts = Facts.concat([decoder.decode_batch(batch) for batch in capture.batches()])
    return DuplicateMarker().mark(facts)


def test_analyze_takes_one_path_or_several():
    one = render_json(pcapdiag.analyze(str(BROKEN)))
    assert render_json(pcapdiag.analyze([BROKEN])) == one
    both = json.loads(render_json(pcapdiag.analyze([BROKEN, OUTERFRAG])))
    assert both["capture"]["file"] == f"{BROKEN.name}, {OUTERFRAG.name}"
    assert both["capture"]["packets"] == json.loads(one)["capture"]["packets"] + \
        json.loads(render_json(pcapdiag.analyze(OUTERFRAG)))["capture"]["packets"]


def test_analyze_needs_a_path():
    with pytest.raises(ValueError, match="at least one"):
        pcapdiag.analyze([])


@pytest.mark.parametrize("analyzer", make_analyzers(), ids=lambda analyzer: analyzer.name)
def test_every_analyzer_follows_the_contract(analyzer):
    """Its result is a frozen dataclass, and it reads no column but those it declares, all in the facts
    schema: fed only those (and the integer keys of the text ones), it gives the result it gives on all."""
    # FRAME_COLUMN: the decoders' record number, read where present (the decode/ rewrite adds it to the schema)
    assert set(analyzer.reads) <= set(COLUMN_NAMES) | {DUPLICATE_COLUMN, FRAME_COLUMN}
    facts = facts_of(BROKEN)
    declared = [name for name in analyzer.reads if name in facts] + \
        [name + KEY_SUFFIX for name in analyzer.reads if name in KEYED]
    fed = type(analyzer)()
    fed.update(Facts({name: facts[name] for name in declared}))
    analyzer.update(facts)
    result = fed.result()
    assert dataclasses.is_dataclass(result) and type(result).__dataclass_params__.frozen
    assert json.dumps(_plain(result), default=str) == json.dumps(_plain(analyzer.result()), default=str)


def _plain(result) -> dict:
    return {field.name: (value.frame().to_dict("split") if isinstance(value, Table) else value)
            for field in dataclasses.fields(result) for value in [getattr(result, field.name)]}


def test_duplicates_reach_only_the_analyzers_that_count_frames():
    facts = facts_of(BROKEN)
    facts[DUPLICATE_COLUMN] = np.ones(len(facts), dtype=bool)     # every frame a copy of one seen before
    state = make_analyzers()
    update_all(state, facts)
    found = results(state)
    assert found["stats"].packets == sum(item["packets"] for item in found["overhead"].classes) == len(facts)
    assert found["flows"].table.empty and found["mtu"].large_inner is None and found["mtu"].icmp_total == 0


def _info(path, start, frames):
    return {"path": path, "range_start": start, "frames": frames, "link_types": [1], "damage": {}, "warnings": []}


def _numbered(facts: Facts, first: int, stop: int) -> Facts:
    part = facts[np.arange(first, stop)]
    part[FRAME_COLUMN] = np.arange(1, stop - first + 1, dtype=np.int64)    # from 1 in each unit, as decoders number
    return part


@pytest.mark.parametrize("path", [BROKEN, OUTERFRAG], ids=lambda path: path.name)
def test_frames_of_merged_chunks_are_the_files(path):
    """Evidence keeps the first frame of each group; chunks numbered from 1 each, merged in order, name the
    frames one pass names."""
    facts = facts_of(path)
    whole = make_analyzers()
    update_all(whole, _numbered(facts, 0, len(facts)))
    cuts = [0, len(facts) // 5, len(facts) // 2, len(facts) * 3 // 4, len(facts)]
    outcomes = []
    for index, (first, stop) in enumerate(zip(cuts, cuts[1:])):
        state = make_analyzers(continuation=index > 0)
        update_all(state, _numbered(facts, first, stop))
        outcomes.append((state, _info(str(path), None if index == 0 else first, stop - first)))
    merged, _ = merge_states(outcomes)
    expected, found, compared = results(whole)["mtu"], results(merged)["mtu"], 0
    for name in ("inner_fragments", "outer_fragments", "large_inner", "after_icmp"):
        table = getattr(expected, name)
        if table is not None:
            assert getattr(found, name)[FRAME_COLUMN].tolist() == table[FRAME_COLUMN].tolist()
            compared += 1
    assert compared >= 2
    if path == OUTERFRAG:    # a frame number is the record's: the first outer fragment of each node pair
        table = expected.outer_fragments
        for row in table.itertuples(index=False):
            first = np.flatnonzero((facts["outer_src"] == row.outer_src) & (facts["outer_dst"] == row.outer_dst)
                                   & (facts["outer_mf"] | (facts["outer_frag_off"] > 0)))[0]
            assert row.frame == first + 1


def test_frames_of_separate_files_are_not_shifted():
    facts = facts_of(OUTERFRAG)
    outcomes = []
    for index in range(2):      # the same file given twice: each counts its own frames
        state = make_analyzers(continuation=index > 0)
        update_all(state, _numbered(facts, 0, len(facts)))
        outcomes.append((state, _info(str(OUTERFRAG), None, len(facts))))
    single = make_analyzers()
    update_all(single, _numbered(facts, 0, len(facts)))
    merged, info = merge_states(outcomes)
    assert results(merged)["mtu"].outer_fragments[FRAME_COLUMN].tolist() == \
        results(single)["mtu"].outer_fragments[FRAME_COLUMN].tolist()
    assert info["frames"] == 2 * len(facts)
