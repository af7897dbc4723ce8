"""State that is folded lazily must not depend on when it is folded.

Analyzers keep per-batch rows aside and fold them into their tables every few dozen batches
(FoldedTable, OverheadAnalyzer). Where a table is capped (the evidence tables keep the groups with most
packets, the overhead histogram the first sizes it saw), the result must be the one folding after every
batch gives. And a flow evicted from a later chunk's table must not bring its old leading segments back
when it returns (they would become retransmissions of packets the row no longer counts).
"""
from __future__ import annotations

import random
from functools import partial

import numpy as np
import pandas as pd
import pytest

from pcapdiag.analyzers import overhead as overhead_module
from pcapdiag.analyzers.flows import FlowAnalyzer
from pcapdiag.analyzers.groups import FoldedTable
from pcapdiag.analyzers.mtu import _group_max
from pcapdiag.analyzers.overhead import OverheadAnalyzer
from pcapdiag.analyzers.table import Table
from pcapdiag.decode.facts import new_row, rows_to_facts


def evidence(rng, rows):
    return Table({"pod": np.array([f"10.0.0.{rng.randrange(40)}" for _ in range(rows)], dtype=object),
                  "count": np.ones(rows, dtype=np.int64),
                  "max_len": np.array([rng.randrange(1200, 1500) for _ in range(rows)]),
                  "first": np.full(rows, 1.0), "last": np.full(rows, 2.0)})


@pytest.mark.parametrize("seed", range(5))
def test_a_capped_table_keeps_what_folding_every_batch_keeps(seed):
    rng = random.Random(seed)
    fold = partial(_group_max, keys=["pod"], cap=7)
    lazy, eager = FoldedTable(fold, cap=7), FoldedTable(fold, cap=7)
    eager.BATCHES = 1
    for _ in range(60):
        frame = evidence(rng, rng.randrange(1, 6))
        lazy.add(frame)
        eager.add(frame)
    pd.testing.assert_frame_equal(lazy.table.frame(), eager.table.frame())


def tunnel_rows(overheads, repeat):
    rows = []
    for size in overheads:
        for _ in range(repeat):
            row = new_row()
            row.update(ts=1.0, caplen=1500, wirelen=1500, linktype=1, encap="vxlan", outer_class="vxlan",
                       tunnel_port=4789, vni=1, outer_ipv=4, outer_src="192.168.0.1", outer_dst="192.168.0.2",
                       outer_len=1000 + size, inner_ipv=4, inner_src="10.0.0.1", inner_dst="10.0.0.2",
                       inner_len=1000)
            rows.append(row)
    return rows_to_facts(rows)


def test_the_overhead_histogram_keeps_the_sizes_seen_first(monkeypatch):
    """256 odd sizes once each, then the real overhead many times: the capped histogram is full before
    the real one arrives, whenever the batches are folded."""
    batches = [tunnel_rows(range(300, 556), 1), tunnel_rows([50], 1000)]
    results = []
    for pending in (1, overhead_module.PENDING_BATCHES):
        monkeypatch.setattr(overhead_module, "PENDING_BATCHES", pending)
        analyzer = OverheadAnalyzer()
        for batch in batches:
            analyzer.update(batch)
        analyzer.result()
        results.append(analyzer.per_packet)
    assert results[0] == results[1]
    assert 50 not in results[0][("vxlan", 4789)]


def segments(seqs, sport, payload, wirelen):
    rows = []
    for i, seq in enumerate(seqs):
        row = new_row()
        row.update(ts=float(i), caplen=100, wirelen=wirelen, linktype=1, encap="native", outer_class="native",
                   outer_ipv=4, outer_src="10.0.0.1", outer_dst="10.0.0.2", inner_ipv=4, inner_src="10.0.0.1",
                   inner_dst="10.0.0.2", inner_proto=6, inner_len=payload + 40, sport=sport, dport=80,
                   tcp_flags=0x10, tcp_seq=seq, tcp_payload=payload)
        rows.append(row)
    facts = rows_to_facts(rows)
    facts["duplicate"] = np.zeros(len(facts), dtype=bool)
    return facts


def test_an_evicted_flow_returns_without_its_old_leading_segments():
    earlier = FlowAnalyzer(cap=1000)
    earlier.update(segments([i * 100 for i in range(10)], 1000, 100, 140))      # flow A: bytes 0..1000
    later = FlowAnalyzer(cap=1, continuation=True)
    later.update(segments([0, 100, 200], 1000, 100, 140))                         # A resends 3 (first sight)
    later.update(segments([i * 1000 for i in range(5)], 2000, 1000, 1040))        # B, bigger: A is evicted
    later.update(segments([5000 + i * 100 for i in range(20)], 1000, 100, 1000))  # A again, new data
    earlier.merge(later)
    flow = earlier.result().table.frame().set_index("sport").loc[1000]
    assert flow["packets"] == 30                 # the 3 resent segments went with the eviction...
    assert flow["retransmits"] == 0              # ...so they are not retransmissions of this row


def test_a_flow_evicted_at_a_merge_forgets_its_sequence_state_as_in_one_pass():
    """With the table full, a small flow of a middle chunk is evicted when the chunks are merged; when it
    comes back later and resends what that chunk carried, the resend is new data to the merged state, as it
    is to one pass over the same batches (an evicted flow's sequence state goes with it)."""
    parts = [segments([0], 1, 1000, 1040),                                    # A fills the table (cap 1)
             segments([1000, 1100], 2, 100, 140),                             # F, small: evicted
             segments([1000] + [1200 + 1400 * k for k in range(3)], 2, 100, 1440)]   # F resends, then grows
    one_pass = FlowAnalyzer(cap=1)
    for part in parts:
        one_pass.update(part)
    chunks = [FlowAnalyzer(cap=1, continuation=index > 0) for index in range(len(parts))]
    for chunk, part in zip(chunks, parts):
        chunk.update(part)
    for chunk in chunks[1:]:
        chunks[0].merge(chunk)
    expected = one_pass.result().table.frame().set_index("sport")
    merged = chunks[0].result().table.frame().set_index("sport")
    assert list(merged.index) == list(expected.index) == [2]
    assert merged.loc[2, "retransmits"] == expected.loc[2, "retransmits"] == 0
    assert merged.loc[2, "packets"] == expected.loc[2, "packets"] == 4
