"""Mergeable analyzer state: any split of a capture, analysed in parts and merged in order, gives the
same report as one pass (the property --jobs and multi-file analysis rely on)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import LAB, needs_corpus
from pcapdiag.analyzers import make_analyzers, merge_all, results, update_all
from pcapdiag.capture import open_capture
from pcapdiag.decode import ReferenceDecoder
from pcapdiag.decode.facts import Facts
from pcapdiag.runner import build_report

pytestmark = needs_corpus
INFO = {"format": "pcap", "link_types": [1], "damage": {}, "warnings": []}


def facts_of(path):
    decoder = ReferenceDecoder()
    with open_capture(str(path)) as capture:
        facts = Facts.concat([decoder.decode_batch(batch) for batch in capture.batches()]).frame()
    facts["duplicate"] = False
    return facts


def report_json(state) -> str:
    return json.dumps(build_report("x", results(state), INFO).to_dict(), sort_keys=True, default=str)


@pytest.mark.parametrize("scenario", ["vxlan-mtu-broken", "vxlan-mtu-outerfrag", "native-bgp", "geneve-userspace"])
@pytest.mark.parametrize("cuts", [[200], [150, 300], [100, 101, 102, 400], [1, 2, 3, 250, 251]])
def test_split_and_merge_equals_one_pass(scenario, cuts):
    merged, whole = split_and_merge(facts_of(LAB / f"{scenario}.pcap"), cuts)
    assert report_json(merged) == report_json(whole)


def split_and_merge(facts, cuts):
    """(the analyzers of the parts cut at `cuts`, merged in order; those of one pass over all the facts)."""
    whole = make_analyzers()
    update_all(whole, Facts.of_frame(facts))
    parts, previous = [], 0
    for cut in cuts + [len(facts)]:
        part = make_analyzers(continuation=bool(parts))
        update_all(part, Facts.of_frame(facts.iloc[previous:cut]))
        parts.append(part)
        previous = cut
    for part in parts[1:]:
        merge_all(parts[0], part)
    return parts[0], whole


def test_retransmissions_across_a_split_are_found():
    """A segment carried before the split and again after it is a retransmission of the merged flow."""
    facts = facts_of(LAB / "vxlan-mtu-broken.pcap")
    data = facts[(facts["sport"] == 40179) & (facts["tcp_payload"] > 0)]
    first_retransmit = data.index[3]  # split right before a data segment
    whole = make_analyzers()
    update_all(whole, Facts.of_frame(facts))
    one_pass = int(results(whole)["flows"].table.frame().set_index("sport").loc[40179]["retransmits"])
    head, tail = make_analyzers(), make_analyzers(continuation=True)
    update_all(head, Facts.of_frame(facts.loc[:first_retransmit - 1]))
    resent = facts.loc[[data.index[2]]].copy()  # re-send a segment the head already carried
    update_all(tail, Facts.of_frame(pd.concat([resent, facts.loc[first_retransmit:]])))
    merge_all(head, tail)
    flow = results(head)["flows"].table.frame().set_index("sport").loc[40179]
    assert int(flow["retransmits"]) == one_pass + 1


def _segments(seqs, payload):
    from pcapdiag.decode.facts import new_row, rows_to_facts

    rows = []
    for index, seq in enumerate(seqs):
        row = new_row()
        row.update(ts=float(index), caplen=100, wirelen=100, linktype=1, encap="native", outer_class="native",
                   outer_ipv=4, outer_src="10.0.0.1", outer_dst="10.0.0.2", inner_ipv=4, inner_src="10.0.0.1",
                   inner_dst="10.0.0.2", inner_proto=6, inner_len=payload + 40, sport=1000, dport=80,
                   tcp_flags=0x10, tcp_seq=seq % (1 << 32), tcp_payload=payload)
        rows.append(row)
    facts = rows_to_facts(rows)
    facts["duplicate"] = np.zeros(len(facts), dtype=bool)
    return facts


def test_retransmissions_over_a_flow_longer_than_the_sequence_space():
    """A flow moving 6 GiB wraps the 32-bit sequence space (and passes 2**31 from its start) twice:
    nothing is a retransmission until a segment really repeats."""
    payload = 64 * 1024
    seqs = [123_456_789 + i * payload for i in range(100_000)]          # 6.1 GiB
    state = make_analyzers()
    for start in range(0, len(seqs), 7_000):                             # batches, as the pipeline feeds them
        update_all(state, _segments(seqs[start:start + 7_000], payload))
    assert int(results(state)["flows"].table["retransmits"].sum()) == 0
    update_all(state, _segments([seqs[-3]], payload))                     # a real retransmission
    assert int(results(state)["flows"].table["retransmits"].sum()) == 1
