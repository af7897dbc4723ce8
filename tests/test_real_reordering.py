"""Issue 19, item 4: reordering is not retransmission.

A segment that arrives after a later one is out of order; a retransmission repeats a range already seen
(the union of the ranges seen so far, not everything below the highest end). A pod-to-pod flow over VXLAN
whose full-size segments arrive out of order (ECMP, a multi-queue NIC) has nothing retransmitted, so no
full-size retransmission is cited as MTU evidence; the flow counts them in its `reordered` column.
"""
from __future__ import annotations

import itertools

import pytest

from test_findings_minimal import (MSS_BIG, POD_A, POD_B, a_to_b, analyze_json, data_segment, handshake, native, pcap,
                                   the)
from pcapdiag.analyzers import results
from test_merge import facts_of, split_and_merge

SIZE, PAYLOAD = 1450, 1410


def segments(order) -> list[bytes]:
    """Full-size segments of pod a's flow, numbered from 0, in the order given."""
    return [a_to_b(data_segment(SIZE, seq=1 + n * PAYLOAD)) for n in order]


def flow_of(report: dict) -> dict:
    [data] = [f for f in report["flows"] if f["src"] == POD_A and f["dst"] == POD_B and f["packets"] > 2]
    return data


def test_reordered_full_size_segments_are_not_retransmissions(tmp_path):
    """A healthy overlay whose full-size segments arrive 0 2 1 4 3 5."""
    report = analyze_json(pcap(tmp_path, handshake() + segments([0, 2, 1, 4, 3, 5])))
    data = flow_of(report)
    assert (data["retransmits"], data["reordered"]) == (0, 2)
    assert "mtu.pmtud-blackhole" not in {f["id"] for f in report["findings"]}


def test_near_miss_a_repeated_range_is_a_retransmission(tmp_path):
    report = analyze_json(pcap(tmp_path, handshake() + segments([0, 2, 1, 2, 3, 1])))
    data = flow_of(report)
    assert (data["retransmits"], data["reordered"]) == (2, 1)


def test_reordering_beside_an_mtu_error_is_not_cited_as_full_size_retransmission(tmp_path):
    """Node A's view of pods with the 1500 MTU (an error: inner-too-big): on the pod's veth its full-size
    segments arrive 0 2 1. The error names no retransmitted segment."""
    frames = handshake(MSS_BIG, MSS_BIG) + [native(data_segment(1500, seq=1 + n * 1460)) for n in (0, 2, 1)]
    report = analyze_json(pcap(tmp_path, frames))
    finding = the(report, "mtu.inner-too-big")
    assert "retransmitted" not in finding["summary"]
    assert "retransmissions" not in finding["evidence"]
    assert (flow_of(report)["retransmits"], flow_of(report)["reordered"]) == (0, 1)


def _counts(state) -> list:
    table = results(state)["flows"].table
    return sorted(table[["inner_src", "sport", "retransmits", "reordered", "max_retransmit_len"]]
                  .frame().itertuples(index=False, name=None))


ORDER = [0, 3, 1, 2, 2, 5, 4, 7, 6, 6, 9, 0, 8, 10]


@pytest.mark.parametrize("cuts", [list(c) for n in (1, 2) for c in itertools.combinations(range(1, 17), n)])
def test_any_split_counts_as_one_pass(tmp_path_factory, cuts):
    """Chunks analysed apart and merged (--jobs, several files) count reordering and retransmission as one pass
    does, wherever the splits fall (in a gap, on its filling segment, between a segment and its repeat)."""
    path = tmp_path_factory.getbasetemp() / "reorder-split.pcap"
    if not path.exists():
        pcap(path.parent, handshake() + segments(ORDER), name=path.name)
    merged, whole = split_and_merge(facts_of(path), cuts)
    assert _counts(merged) == _counts(whole)
