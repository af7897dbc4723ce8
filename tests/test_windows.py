"""Reading through small windows: mapped (mmap) and copied reads must see the same records.

Real captures are smaller than the 16 MB first read, so here the window sizes are shrunk until every
capture advances through dozens of windows: records then straddle window ends, the pcap walk switches
between its lanes and the sequential walk, and the mapped windows start at unaligned offsets. Every
capture of the corpus, the samples and the awkward synthetic captures (damage included) must give the
same records, damage counters and warnings both ways, and the same as one big window.
"""
from __future__ import annotations

import hashlib

import pytest

from awkward import write_awkward
from conftest import CORPUS, LAB, SAMPLES, corpus_files
from pcapdiag.capture import capture as capture_module, chunks as chunks_module, open_capture

CAPTURES = corpus_files(CORPUS) + corpus_files(LAB) + sorted(SAMPLES.glob("*.pcap*"))


def read_all(path, batch_records=997, batches=None):
    """Every record (time, lengths, link type, a digest of the bytes), the damage and the warnings; the
    batch sizes appended to `batches` when given (analysis results may depend on where batches end)."""
    records = []
    with open_capture(str(path)) as capture:
        for batch in capture.batches(batch_records):
            if batches is not None:
                batches.append(len(batch))
            for i in range(len(batch)):
                start, caplen = int(batch.offsets[i]), int(batch.caplens[i])
                data = bytes(batch.buf[start:start + caplen])
                records.append((float(batch.ts[i]), caplen, int(batch.wirelens[i]), int(batch.linktypes[i]),
                                hashlib.blake2b(data, digest_size=8).hexdigest()))
        return records, dict(capture.damage), list(capture.warnings)


def small_windows(monkeypatch, size: int, mapped: bool):
    monkeypatch.setattr(capture_module, "CHUNK_SIZE", size)
    monkeypatch.setattr(chunks_module, "CHUNK_SIZE", size)
    monkeypatch.setattr(chunks_module, "MIN_READ", size)
    monkeypatch.setattr(chunks_module, "MAX_READ", size)
    if not mapped:
        monkeypatch.setattr(capture_module, "mapped_file", lambda fileobj, size: None)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_mapped_and_copied_windows_read_the_same_records(path, monkeypatch):
    whole = read_all(path)
    for size in (8192, 300_000):          # the second is wide enough for the lockstep walk's lanes
        mapped_batches, copied_batches = [], []
        with monkeypatch.context() as patch:
            small_windows(patch, size, mapped=True)
            mapped = read_all(path, batches=mapped_batches)
        with monkeypatch.context() as patch:
            small_windows(patch, size, mapped=False)
            copied = read_all(path, batches=copied_batches)
        assert mapped == copied == whole, size
        assert mapped_batches == copied_batches, size


def test_small_windows_on_damaged_captures(tmp_path, monkeypatch):
    for path in write_awkward(tmp_path):
        whole = read_all(path)
        for size in (4096, 70_000):
            for mapped in (True, False):
                with monkeypatch.context() as patch:
                    small_windows(patch, size, mapped)
                    assert read_all(path) == whole, (path.name, size, mapped)


def test_the_lanes_do_run_in_these_windows(monkeypatch):
    """The 300 kB windows above are wide enough for the lockstep walk (else that test proves less)."""
    from pcapdiag.capture import pcap

    walked = []
    real = pcap.walk_lanes

    def counting(*args):
        starts, resume = real(*args)
        walked.append(len(starts))
        return starts, resume

    biggest = max((p for p in CAPTURES if p.suffix == ".pcap"), key=lambda p: p.stat().st_size, default=None)
    if biggest is None or biggest.stat().st_size < 1_000_000:
        pytest.skip("no pcap of a megabyte or more to read")
    monkeypatch.setattr(pcap, "walk_lanes", counting)
    small_windows(monkeypatch, 300_000, mapped=True)
    read_all(biggest)
    assert sum(walked) > 0


def test_a_capture_still_being_written_is_read_as_far_as_it_has_got(tmp_path, monkeypatch):
    """Mapped windows take the file's length afresh: records appended while the capture is read are
    read, as a reading loop would read them."""
    source = max((p for p in CAPTURES if p.suffix == ".pcap"), key=lambda p: p.stat().st_size)
    data = source.read_bytes()
    path = tmp_path / "growing.pcap"
    path.write_bytes(data[: len(data) // 3])
    small_windows(monkeypatch, 8192, mapped=True)
    whole = read_all(source)
    with open_capture(str(path)) as capture:
        batches = capture.batches(997)
        first = next(batches)
        with open(path, "ab") as more:   # the rest arrives
            more.write(data[len(data) // 3:])
        count = len(first) + sum(len(batch) for batch in batches)
    assert count == len(whole[0])
