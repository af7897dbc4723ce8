"""The fast decoder against the reference: identical packet facts, row for row, dtype for dtype.

Captures: the shared corpus (PCAPDIAG_CORPUS, default ../shared/corpus, and its lab/ folder;
skipped when absent), sample_pcaps/, a bench/make_capture.py capture, and the awkward synthetic
capture of tests/awkward.py (every header boundary cut, lying lengths, fragments, checksums,
random header damage). The whole pipeline is compared too: analyze(decoder="fast") must report
exactly what analyze(decoder="reference") reports.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from awkward import base_packets, ethernet_records, write_awkward, write_pcap
from conftest import CORPUS, LAB, REPO, SAMPLES, corpus_files
from pcapdiag.capture import RecordBatch, open_capture
from pcapdiag.decode import DEFAULT_VXLAN_PORTS, ReferenceDecoder
from pcapdiag.decode.facts import Facts
from pcapdiag.decode.fast import FastDecoder

CORPUS_FILES = corpus_files(CORPUS) + corpus_files(LAB)
SAMPLE_FILES = (sorted(SAMPLES.glob("*.pcap")) + sorted(SAMPLES.glob("*.pcapng"))
                + sorted(SAMPLES.glob("encrypted/*.pcap")))


def assert_same_facts(got, expected, where: str = "") -> None:
    got, expected = got.frame(), expected.frame()
    try:
        pd.testing.assert_frame_equal(got, expected, check_dtype=True)
    except AssertionError as error:
        lines = [f"fast and reference facts differ {where}: {error}"]
        if len(got) == len(expected) and list(got.columns) == list(expected.columns):
            for name in expected.columns:
                a, b = got[name].to_numpy(), expected[name].to_numpy()
                bad = np.flatnonzero(a != b)
                if len(bad):
                    rows = ", ".join(f"row {i}: fast {a[i]!r} reference {b[i]!r}" for i in bad[:5])
                    lines.append(f"  {name} ({len(bad)} rows): {rows}")
        raise AssertionError("\n".join(lines)) from None


def compare_capture(path, ports=DEFAULT_VXLAN_PORTS, batch_records: int = 65536) -> FastDecoder:
    """Decode every batch of path with both decoders and demand identical facts; the fast decoder back."""
    reference, fast = ReferenceDecoder(ports), FastDecoder(ports)
    first = 0
    with open_capture(str(path)) as capture:
        for batch in capture.batches(batch_records):
            expected = reference.decode_batch(batch)
            got = fast.decode_batch(batch)
            assert_same_facts(got, expected, f"in {Path(path).name}, records {first}..{first + len(batch) - 1}")
            first += len(batch)
    assert fast.packets == first
    return fast


@pytest.fixture(scope="module")
def awkward_files(tmp_path_factory):
    return write_awkward(tmp_path_factory.mktemp("awkward"))


@pytest.fixture(scope="module")
def bench_capture(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("make_capture", REPO / "bench" / "make_capture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("bench") / "bench-20k.pcap"
    module.generate(str(path), 20_000, 1, "pcap")
    return path


# -- captures ---------------------------------------------------------------------------------

@pytest.mark.skipif(not CORPUS_FILES, reason=f"shared corpus not found at {CORPUS}")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_capture(path):
    compare_capture(path)


@pytest.mark.skipif(not SAMPLE_FILES, reason="sample_pcaps/ holds no capture")
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_capture(path):
    compare_capture(path)


def test_bench_capture(bench_capture):
    fast = compare_capture(bench_capture)
    # the common stacks must stay on the fast path: only the odd packets (~0.3 %) may fall back
    assert fast.fallback / fast.packets < 0.005, f"{fast.fallback} of {fast.packets} rows fell back"


def test_bench_capture_in_small_batches(bench_capture):
    compare_capture(bench_capture, batch_records=1000)


@pytest.mark.parametrize("name", ["awkward.pcap", "awkward.pcapng"])
def test_awkward_capture(awkward_files, name):
    path = next(p for p in awkward_files if p.name == name)
    fast = compare_capture(path)
    assert 0 < fast.fallback < fast.packets     # both paths taken


@pytest.mark.parametrize("batch_records", [1, 7, 256])
def test_awkward_capture_in_small_batches(tmp_path, batch_records):
    """Fragments split across batches (the reference's fragment table lives on in the fast decoder)."""
    path = tmp_path / "small.pcap"
    write_pcap(path, ethernet_records(mutations=300)[:1500 if batch_records > 1 else 600])
    compare_capture(path, batch_records=batch_records)


def test_awkward_capture_with_more_vxlan_ports(awkward_files):
    """--vxlan-port: 5555 carries the plausibility test packets; 53 makes DNS a VXLAN port."""
    ports = frozenset(DEFAULT_VXLAN_PORTS) | {5555, 53, 179}
    for path in awkward_files:
        compare_capture(path, ports=ports)


def test_records_at_the_very_end_of_the_buffer():
    """Each record alone in a buffer of exactly its bytes: the header windows run past the end."""
    records = ethernet_records(mutations=300)
    reference, fast = ReferenceDecoder(), FastDecoder()
    for i, (data, wirelen) in enumerate(records[::5]):
        batch = RecordBatch(data, np.zeros(1, dtype=np.int64), np.array([len(data)], dtype=np.int64),
                            np.array([wirelen], dtype=np.int64), np.array([1.5 + i]), np.ones(1, dtype=np.int64))
        assert_same_facts(fast.decode_batch(batch), reference.decode_batch(batch), f"record {i} alone")


def test_records_out_of_buffer_order_and_shared():
    """Offsets need not increase, and two records may share bytes: the checksum sums must still hold."""
    packets = base_packets()
    frames = [packets[name] for name in sorted(packets) if "csum" in name or name.startswith("vxlan-tcp")]
    buf = b"".join(frames)
    starts = np.cumsum([0] + [len(f) for f in frames[:-1]]).astype(np.int64)
    lengths = np.array([len(f) for f in frames], dtype=np.int64)
    order = np.arange(len(frames))[::-1]
    offsets = np.concatenate([starts[order], starts[:3]])            # reversed, then three repeats
    caps = np.concatenate([lengths[order], lengths[:3]])
    batch = RecordBatch(buf, offsets, caps, caps.copy(), np.arange(len(offsets), dtype=np.float64),
                        np.ones(len(offsets), dtype=np.int64))
    assert_same_facts(FastDecoder().decode_batch(batch), ReferenceDecoder().decode_batch(batch))


def test_empty_batch():
    batch = RecordBatch(b"", *(np.zeros(0, dtype=np.int64) for _ in range(3)), np.zeros(0), np.zeros(0, dtype=np.int64))
    assert_same_facts(FastDecoder().decode_batch(batch), ReferenceDecoder().decode_batch(batch))


def test_outer_fragments_go_through_the_reference_table(tmp_path):
    """A non-first outer fragment takes its datagram's class from the first one, seen in an earlier batch."""
    packets = base_packets()
    path = tmp_path / "frags.pcap"
    frames = [packets["outer-frag-1"], packets["tcp"], packets["vxlan-tcp"], packets["outer-frag-2"]]
    write_pcap(path, [(f, len(f)) for f in frames])
    fast = compare_capture(path, batch_records=2)
    with open_capture(str(path)) as capture:
        decoder = FastDecoder()
        facts = Facts.concat([decoder.decode_batch(batch) for batch in capture.batches(2)])
    assert list(facts["encap"]) == ["vxlan", "native", "vxlan", "vxlan"]
    assert fast.fallback == 2


# -- the pipeline ------------------------------------------------------------------------------

PIPELINE_FILES = [p for p in corpus_files(LAB) if p.suffix in (".pcap", ".pcapng")]


@pytest.mark.skipif(not PIPELINE_FILES, reason=f"lab captures not found at {LAB}")
@pytest.mark.parametrize("path", PIPELINE_FILES, ids=lambda p: p.name)
def test_pipeline_lab(path):
    import pcapdiag

    assert pcapdiag.analyze(str(path), decoder="fast").to_dict() == \
        pcapdiag.analyze(str(path), decoder="reference").to_dict()


def test_pipeline_synthetic(awkward_files, bench_capture):
    import pcapdiag

    for path in [*awkward_files, bench_capture]:
        fast = pcapdiag.analyze(str(path), decoder="fast").to_dict()
        assert fast == pcapdiag.analyze(str(path), decoder="reference").to_dict(), path.name


def test_fast_decoder_is_selected():
    from pcapdiag.decode.select import make_decoder

    assert make_decoder("fast", DEFAULT_VXLAN_PORTS).name == "fast"


if __name__ == "__main__":      # python tests/test_differential.py [captures...]: compare, print fallback shares
    import sys

    for arg in sys.argv[1:] or [str(p) for p in CORPUS_FILES]:
        decoder = compare_capture(arg)
        share = decoder.fallback / max(decoder.packets, 1)
        print(f"{os.path.basename(arg)}: {decoder.packets} packets, {decoder.fallback} to the reference ({share:.1%})")
