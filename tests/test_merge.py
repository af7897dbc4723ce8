"""Mergeable analyzer state: any split of a capture, analysed in parts and merged in order, gives the
same report as one pass (the property --jobs and multi-file analysis rely on)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import LAB, needs_corpus
from pcapdiag.analyzers import AnalyzerSet
from pcapdiag.capture import open_capture
from pcapdiag.decode import ReferenceDecoder
from pcapdiag.pipeline import build_report

pytestmark = needs_corpus
INFO = {"format": "pcap", "link_types": [1], "damage": {}, "warnings": []}


def facts_of(path):
    decoder = ReferenceDecoder()
    with open_capture(str(path)) as capture:
        facts = pd.concat([decoder.decode_batch(batch) for batch in capture.batches()], ignore_index=True)
    facts["duplicate"] = False
    return facts


def report_json(state) -> str:
    return json.dumps(build_report("x", state, INFO).to_dict(), sort_keys=True, default=str)


@pytest.mark.parametrize("scenario", ["vxlan-mtu-broken", "vxlan-mtu-outerfrag", "native-bgp", "geneve-userspace"])
@pytest.mark.parametrize("cuts", [[200], [150, 300], [100, 101, 102, 400], [1, 2, 3, 250, 251]])
def test_split_and_merge_equals_one_pass(scenario, cuts):
    facts = facts_of(LAB / f"{scenario}.pcap")
    whole = AnalyzerSet()
    whole.update(facts)
    parts, previous = [], 0
    for cut in cuts + [len(facts)]:
        part = AnalyzerSet(continuation=bool(parts))
        part.update(facts.iloc[previous:cut])
        parts.append(part)
        previous = cut
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    assert report_json(merged) == report_json(whole)


def test_retransmissions_across_a_split_are_found():
    """A segment carried before the split and again after it is a retransmission of the merged flow."""
    facts = facts_of(LAB / "vxlan-mtu-broken.pcap")
    data = facts[(facts["sport"] == 40179) & (facts["tcp_payload"] > 0)]
    first_retransmit = data.index[3]  # split right before a data segment
    head, tail = AnalyzerSet(), AnalyzerSet(continuation=True)
    head.update(facts.loc[:first_retransmit - 1])
    resent = facts.loc[[data.index[2]]].copy()  # re-send a segment the head already carried
    tail.update(pd.concat([resent, facts.loc[first_retransmit:]]))
    head.merge(tail)
    flow = head.flows.result().set_index("sport").loc[40179]
    assert int(flow["retransmits"]) == 6 + 1
