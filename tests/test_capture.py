"""capture/: capture files in, records out.

Captures are built byte by byte in the tests (struct, dpkt.pcap.Writer), then
read back the way the product reads them; the real corpus checks packet
counts against its manifest and everything against dpkt's readers.

Long by design (~780 lines): one test module per package, as the README's map names them; its sections
follow capture/'s modules (sniffing, pcap, pcapng, gzip and stdin, chunks and splits).
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcapdiag.capture import (LINKTYPE_NAMES, CaptureError, Record, RecordBatch, open_capture,
                              split_offsets)
from pcapdiag.capture import capture as capture_module
from pcapdiag.capture import chunks as chunks_module
from pcapdiag.capture import pcap as pcap_module

T0 = 1_700_000_000   # 2023-11-14, a plausible capture date

# -- building captures ----------------------------------------------------------


def packets(n, size=60, step=37):
    """n (ts_sec, frac, data, wirelen) with varied lengths and snaplen-cut ones."""
    out = []
    for i in range(n):
        data = bytes((i + k) & 0xFF for k in range(size + (i * step) % 300))
        wirelen = len(data) + (100 if i % 4 == 3 else 0)   # every 4th record cut by a snaplen
        out.append((T0 + i, (i * 1234) % 1_000_000, data, wirelen))
    return out


def pcap_bytes(records, *, byte_order="<", nanosecond=False, modified=False, linktype=1,
               snaplen=262144):
    magic = 0xA1B23C4D if nanosecond else 0xA1B2CD34 if modified else 0xA1B2C3D4
    out = [struct.pack(byte_order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts_sec, frac, data, wirelen in records:
        out.append(struct.pack(byte_order + "IIII", ts_sec, frac, len(data), wirelen))
        if modified:
            out.append(struct.pack(byte_order + "IHBx", 2, 0x0800, 0))   # ifindex, protocol, pkt_type
        out.append(data)
    return b"".join(out)


def pad4(data):
    return data + b"\0" * (-len(data) % 4)


def block(bo, block_type, body):
    body = pad4(body)
    total = 12 + len(body)
    return struct.pack(bo + "II", block_type, total) + body + struct.pack(bo + "I", total)


def option(bo, code, value):
    return struct.pack(bo + "HH", code, len(value)) + pad4(value)


def shb(bo="<", major=1, minor=0):
    return block(bo, 0x0A0D0D0A, struct.pack(bo + "IHHq", 0x1A2B3C4D, major, minor, -1))


def idb(bo="<", linktype=1, snaplen=0, tsresol=None, tsoffset=None):
    options = b""
    if tsresol is not None:
        options += option(bo, 9, bytes([tsresol]))
    if tsoffset is not None:
        options += option(bo, 14, struct.pack(bo + "q", tsoffset))
    if options:
        options += option(bo, 0, b"")
    return block(bo, 1, struct.pack(bo + "HHI", linktype, 0, snaplen) + options)


def epb(bo, interface_id, units, data, wirelen=None):
    fields = struct.pack(bo + "IIIII", interface_id, units >> 32, units & 0xFFFFFFFF, len(data),
                         len(data) if wirelen is None else wirelen)
    return block(bo, 6, fields + data)


def spb(bo, data, wirelen=None):
    return block(bo, 3, struct.pack(bo + "I", len(data) if wirelen is None else wirelen) + data)


def obsolete_pb(bo, interface_id, units, data, wirelen=None):
    fields = struct.pack(bo + "HHIIII", interface_id, 0, units >> 32, units & 0xFFFFFFFF, len(data),
                         len(data) if wirelen is None else wirelen)
    return block(bo, 2, fields + data)


def pcapng_bytes(records, bo="<", linktype=1):
    """One section, one µs interface, one EPB per record."""
    out = [shb(bo), idb(bo, linktype)]
    for ts_sec, frac, data, wirelen in records:
        out.append(epb(bo, 0, ts_sec * 1_000_000 + frac, data, wirelen))
    return b"".join(out)


def write(tmp_path, data, name="capture.bin"):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def read(path, **kw):
    """All records of a capture, and the (closed) capture for its counters."""
    with open_capture(path, **kw) as capture:
        records = list(capture.records())
    return capture, records


def as_tuples(records):
    return [(r.ts, r.caplen, r.wirelen, r.linktype, bytes(r.data)) for r in records]


def expected(records, linktype=1, divisor=1e6):
    return [(ts + frac / divisor, len(data), wirelen, linktype, data) for ts, frac, data, wirelen in records]


def no_damage(capture):
    return not any(capture.damage.values()) and capture.warnings == []


# -- formats ----------------------------------------------------------------------


@pytest.mark.parametrize("byte_order", ["<", ">"])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_pcap_both_byte_orders_micro_and_nanosecond(tmp_path, byte_order, nanosecond):
    recs = packets(20)
    if nanosecond:
        recs = [(s, f * 1000 + 7, d, w) for s, f, d, w in recs]
    path = write(tmp_path, pcap_bytes(recs, byte_order=byte_order, nanosecond=nanosecond, linktype=113))
    capture, got = read(path)
    assert (capture.format, capture.nanosecond, capture.compressed) == ("pcap", nanosecond, False)
    assert capture.link_types == [113]
    assert as_tuples(got) == expected(recs, 113, 1e9 if nanosecond else 1e6)
    assert capture.damage["caplen_gt_wirelen"] == 0 and no_damage(capture)
    assert capture.size == capture.bytes_read == os.path.getsize(path)


def test_wirelen_is_kept_for_snaplen_cut_records(tmp_path):
    recs = [(T0, 0, b"x" * 64, 1514)]
    _, got = read(write(tmp_path, pcap_bytes(recs, snaplen=64)))
    assert (got[0].caplen, got[0].wirelen) == (64, 1514)


def test_modified_kuznetzov_pcap(tmp_path):
    recs = packets(5)
    capture, got = read(write(tmp_path, pcap_bytes(recs, modified=True)))
    assert as_tuples(got) == expected(recs)
    assert no_damage(capture)


def test_pcap_written_by_dpkt(tmp_path):
    path = tmp_path / "dpkt.pcap"
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_RAW)
        for i in range(10):
            writer.writepkt(bytes([0x45]) + bytes(19 + i), ts=T0 + i / 10)
    capture, got = read(str(path))
    assert [(r.caplen, r.wirelen) for r in got] == [(20 + i, 20 + i) for i in range(10)]
    assert got[3].ts == pytest.approx(T0 + 0.3)
    assert capture.link_types == [dpkt.pcap.DLT_RAW]


@pytest.mark.parametrize("bo", ["<", ">"])
def test_pcapng_interfaces_resolutions_and_packet_block_kinds(tmp_path, bo):
    data = b"".join([
        shb(bo),
        idb(bo, linktype=1),                                   # 0: µs (no if_tsresol)
        idb(bo, linktype=276, tsresol=9),                      # 1: ns
        idb(bo, linktype=101, tsresol=0x80 | 20, tsoffset=100),  # 2: 2^-20 s, +100 s
        block(bo, 4, b"\x00" * 8),                             # NRB: skipped
        epb(bo, 0, (T0 * 10**6) + 250_000, b"a" * 60),
        epb(bo, 1, (T0 + 1) * 10**9 + 5, b"b" * 61, wirelen=1500),
        epb(bo, 2, (T0 << 20) + (1 << 19), b"c" * 62),
        block(bo, 5, struct.pack(bo + "III", 0, 0, 0)),        # ISB: skipped
        block(bo, 0x0A, b"secrets!"),                          # DSB: skipped
        block(bo, 0x00000BAD, b"\x00\x00\x00\x01custom"),      # custom: skipped
        obsolete_pb(bo, 1, (T0 + 200) * 10**9 + 9, b"d" * 40, wirelen=90),
    ])
    capture, got = read(write(tmp_path, data))
    assert capture.format == "pcapng" and capture.nanosecond
    assert capture.link_types == [1, 276, 101]
    assert [(r.linktype, r.caplen, r.wirelen, bytes(r.data[:1])) for r in got] == [
        (1, 60, 60, b"a"), (276, 61, 1500, b"b"), (101, 62, 62, b"c"), (276, 40, 90, b"d")]
    assert got[0].ts == T0 + 0.25
    assert got[1].ts == pytest.approx(T0 + 1 + 5e-9, abs=1e-7)
    assert got[2].ts == T0 + 100 + 0.5
    assert got[3].ts == pytest.approx(T0 + 200 + 9e-9, abs=1e-7)
    assert no_damage(capture)


def test_pcapng_simple_packet_block_caplen_is_capped_by_snaplen(tmp_path):
    bo = "<"
    data = shb(bo) + idb(bo, snaplen=50) + epb(bo, 0, T0 * 10**6, b"e" * 60, 60) \
        + spb(bo, b"s" * 50, wirelen=1400) + spb(bo, b"t" * 41, wirelen=41)
    capture, got = read(write(tmp_path, data))
    assert [(r.caplen, r.wirelen) for r in got] == [(60, 60), (50, 1400), (41, 41)]
    # An SPB has no timestamp: it takes the previous packet's.
    assert got[1].ts == got[0].ts == T0
    assert got[2].data == b"t" * 41   # padding is not data
    assert no_damage(capture)


def test_pcapng_several_sections_of_both_byte_orders(tmp_path):
    data = (shb("<") + idb("<", 1) + epb("<", 0, T0 * 10**6, b"L" * 70)
            + shb(">") + idb(">", 113) + idb(">", 228) + epb(">", 1, (T0 + 1) * 10**6, b"B" * 71)
            + epb(">", 0, (T0 + 2) * 10**6, b"b" * 72))
    capture, got = read(write(tmp_path, data))
    assert [(r.linktype, r.caplen, r.ts) for r in got] == [(1, 70, T0), (228, 71, T0 + 1), (113, 72, T0 + 2)]
    assert capture.link_types == [1, 113, 228]
    assert capture.interface_link_types == [1, 113, 228]
    assert no_damage(capture)


def test_pcapng_unsupported_interface_is_allowed_next_to_a_supported_one(tmp_path):
    data = shb() + idb(linktype=105) + idb(linktype=1) + epb("<", 0, T0 * 10**6, b"w" * 30) \
        + epb("<", 1, T0 * 10**6, b"e" * 30)
    capture, got = read(write(tmp_path, data))
    assert [r.linktype for r in got] == [105, 1]   # the decoder counts what it cannot decode
    assert capture.link_types == [105, 1]


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_gzip_compressed(tmp_path, kind):
    recs = packets(50)
    raw = pcap_bytes(recs) if kind == "pcap" else pcapng_bytes(recs)
    capture, got = read(write(tmp_path, gzip.compress(raw), "capture.pcap"))
    assert capture.compressed and capture.format == kind
    assert as_tuples(got) == expected(recs)
    assert capture.bytes_read == capture.size and no_damage(capture)


def test_concatenated_gzip_members(tmp_path):
    raw = pcap_bytes(packets(30))
    data = gzip.compress(raw[:1000]) + gzip.compress(raw[1000:])
    capture, got = read(write(tmp_path, data))
    assert len(got) == 30 and no_damage(capture)


def test_truncated_gzip_yields_what_decompressed(tmp_path):
    recs = packets(400)
    compressed = gzip.compress(pcap_bytes(recs), compresslevel=1)
    capture, got = read(write(tmp_path, compressed[: len(compressed) * 2 // 3]))
    assert 0 < len(got) < 400
    assert as_tuples(got) == expected(recs)[: len(got)]
    assert capture.damage["truncated_tail"] == 1
    assert any("gzip stream ends early" in w for w in capture.warnings)


class FakeStdin:
    def __init__(self, data):
        self.buffer = io.BytesIO(data)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_stdin(monkeypatch, kind, compress):
    recs = packets(25)
    raw = pcap_bytes(recs) if kind == "pcap" else pcapng_bytes(recs)
    monkeypatch.setattr(sys, "stdin", FakeStdin(gzip.compress(raw) if compress else raw))
    capture, got = read("-")
    assert as_tuples(got) == expected(recs)
    assert capture.size is None and capture.compressed == compress
    assert split_offsets("-", 4) is None


def test_batches_are_columns_over_one_buffer(tmp_path):
    recs = packets(10)
    with open_capture(write(tmp_path, pcap_bytes(recs))) as capture:
        batches = list(capture.batches(max_records=4))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert all(isinstance(b, RecordBatch) for b in batches)
    assert batches[0].buf is batches[2].buf        # slices share the chunk, nothing copied
    batch = batches[1]
    assert batch.offsets.dtype.name == "int64" and batch.ts.dtype.name == "float64"
    assert batch.data(0) == recs[4][2]
    assert list(batch.wirelens) == [w for _, _, _, w in recs[4:8]]


def test_a_capture_is_read_once(tmp_path):
    with open_capture(write(tmp_path, pcap_bytes(packets(2)))) as capture:
        list(capture.batches())
        with pytest.raises(RuntimeError):
            list(capture.batches())


def test_importing_capture_does_not_import_numpy():
    code = "import sys, pcapdiag.capture; assert 'numpy' not in sys.modules and 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_supported_link_types_table():
    assert LINKTYPE_NAMES[1] == "ethernet" and LINKTYPE_NAMES[276] == "linux_sll2"
    assert Record(1.0, 1, 1, 1, b"x").caplen == 1


# -- inputs that are not captures: one clear line -----------------------------------


def error_of(path):
    with pytest.raises(CaptureError) as info:
        open_capture(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert error_of(str(tmp_path / "nope.pcap")) == f"no such file: {tmp_path / 'nope.pcap'}"


def test_directory(tmp_path):
    assert "is a directory" in error_of(str(tmp_path))


def test_permission_denied_is_one_line(tmp_path, monkeypatch):
    path = write(tmp_path, pcap_bytes(packets(1)))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", refuse)
    assert error_of(path) == f"permission denied: {path}"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_for_real(tmp_path):
    path = write(tmp_path, pcap_bytes(packets(1)))
    os.chmod(path, 0)
    assert error_of(path) == f"permission denied: {path}"


def test_empty_file(tmp_path):
    path = write(tmp_path, b"")
    assert error_of(path) == f"empty file: {path}"


def test_empty_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(b""))
    assert error_of("-") == "empty input on stdin"


@pytest.mark.parametrize("content, looks_like", [
    (b"GET / HTTP/1.1\r\nHost: example\r\n\r\n" * 3, "looks like a text file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "looks like a PNG image"),
    (b"\x7fELF\x02\x01\x01" + bytes(100), "looks like an ELF executable"),
    (bytes(range(256)), "unknown data"),
    (b"ab", "only 2 bytes long"),
])
def test_not_a_capture(tmp_path, content, looks_like):
    path = write(tmp_path, content, "trace.pcap")   # the name says pcap; the bytes decide
    message = error_of(path)
    assert message.startswith("not a capture file: ") and looks_like in message


def test_gzip_of_something_that_is_not_a_capture(tmp_path):
    message = error_of(write(tmp_path, gzip.compress(b"just some notes\n" * 20), "x.pcap.gz"))
    assert "gzip-compressed" in message and "text file" in message


def test_unsupported_link_type_is_named(tmp_path):
    path = write(tmp_path, pcap_bytes(packets(2), linktype=105))
    assert error_of(path) == f"unsupported link type 105 (IEEE 802.11) in {path}"
    path = write(tmp_path, pcapng_bytes(packets(2), linktype=4242), "b.pcapng")
    assert error_of(path) == f"unsupported link type 4242 in {path}"


def test_unknown_pcapng_version(tmp_path):
    path = write(tmp_path, shb(major=2) + idb() + epb("<", 0, 0, b"x" * 20))
    assert error_of(path) == f"unsupported pcapng version 2.0 in {path} (only 1.x exists)"


def test_broken_pcapng_section_header(tmp_path):
    data = bytearray(pcapng_bytes(packets(3)))
    data[4:8] = struct.pack("<I", 13)               # block length not a multiple of 4
    message = error_of(write(tmp_path, bytes(data)))
    assert message.startswith("broken pcapng section header in ") and "bad block length 13" in message
    bad_magic = shb()[:8] + b"\x01\x02\x03\x04" + shb()[12:]
    assert "byte-order magic" in error_of(write(tmp_path, bad_magic, "m.pcapng"))


def test_truncated_pcap_file_header(tmp_path):
    path = write(tmp_path, pcap_bytes([])[:20])
    assert error_of(path) == f"truncated pcap file header in {path} (the file has 20 of its 24 bytes)"


def test_byte_ranges_need_an_uncompressed_file(tmp_path):
    path = write(tmp_path, gzip.compress(pcap_bytes(packets(2))), "capture.pcap.gz")
    with pytest.raises(CaptureError, match="byte ranges need an uncompressed capture file"):
        open_capture(path, start=0, end=100)


# -- damage inside a capture: counted, described, never raised -------------------------


def test_file_ends_mid_record(tmp_path):
    recs = packets(30)
    data = pcap_bytes(recs)
    capture, got = read(write(tmp_path, data[:-37]))
    assert as_tuples(got) == expected(recs)[:29]
    assert capture.damage["truncated_tail"] == 1
    tail = 16 + len(recs[-1][2]) - 37
    assert capture.warnings == [
        f"file ends mid-record after 29 records (the last {tail} bytes are an incomplete record)"]


def test_file_ends_mid_record_header(tmp_path):
    recs = packets(5)
    capture, got = read(write(tmp_path, pcap_bytes(recs) + struct.pack("<II", T0 + 5, 0)))
    assert len(got) == 5
    assert capture.damage["truncated_tail"] == 1
    assert capture.warnings == ["file ends mid-record after 5 records (the last 8 bytes are an incomplete "
                                "record header)"]


def test_impossible_caplen_resynchronises(tmp_path):
    recs = packets(20)
    good = pcap_bytes(recs)
    bad_header = struct.pack("<IIII", T0 + 100, 0, 0xFFFFFF00, 0xFFFFFF00) + b"junkjunk"
    cut = len(pcap_bytes(recs[:10]))
    capture, got = read(write(tmp_path, good[:cut] + bad_header + good[cut:]))
    assert as_tuples(got) == expected(recs)               # every real record survives
    assert capture.damage["bad_records"] == 1
    assert capture.damage["skipped_bytes"] == len(bad_header)
    assert capture.warnings == [f"record 11 (byte {cut}) has an impossible captured length (4294967040 bytes); "
                                f"skipped {len(bad_header)} bytes to the next valid record"]


def test_several_resyncs_are_summarised(tmp_path):
    recs = packets(30)
    parts = [pcap_bytes(recs[:10])]
    for chunk in (recs[10:20], recs[20:]):
        parts.append(struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 5) + b"?" * 3)
        parts.append(pcap_bytes(chunk)[24:])
    capture, got = read(write(tmp_path, b"".join(parts)))
    assert len(got) == 30 and capture.damage["bad_records"] == 2
    assert capture.warnings == ["2 damaged places were skipped by resynchronising on the next valid "
                                "record (38 bytes skipped)"]


def test_damage_without_resync_point_stops_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(pcap_module, "RESYNC_WINDOW", 4096)
    recs = packets(10)
    data = pcap_bytes(recs[:5]) + struct.pack("<IIII", 1, 2, 0xFFFFFFFF, 3) + b"\xee" * 20000 \
        + pcap_bytes(recs[5:])[24:]
    capture, got = read(write(tmp_path, data))
    assert as_tuples(got) == expected(recs)[:5]
    assert capture.damage["bad_records"] == 1
    assert capture.warnings[0].endswith("no valid record follows within 4096 bytes; stopped reading there")


def test_trailing_garbage(tmp_path):
    recs = packets(7)
    capture, got = read(write(tmp_path, pcap_bytes(recs) + b"this is not a record, just text" * 3))
    assert as_tuples(got) == expected(recs)
    assert capture.damage["trailing_garbage_bytes"] == 93 and capture.damage["truncated_tail"] == 0
    assert capture.warnings == ["ignored 93 bytes of garbage after the last record (record 7)"]


def test_zero_padding_after_the_last_record_is_not_records(tmp_path):
    recs = packets(3)
    capture, got = read(write(tmp_path, pcap_bytes(recs) + bytes(4096)))
    assert len(got) == 3 and capture.damage["trailing_garbage_bytes"] == 4096


def test_caplen_larger_than_wirelen_is_kept_and_counted(tmp_path):
    recs = [(T0, 0, b"a" * 80, 60), (T0 + 1, 0, b"b" * 60, 60)]
    capture, got = read(write(tmp_path, pcap_bytes(recs)))
    assert [(r.caplen, r.wirelen) for r in got] == [(80, 60), (60, 60)]
    assert capture.damage["caplen_gt_wirelen"] == 1
    assert capture.warnings == ["1 record has a captured length larger than their original length "
                                "(kept as captured; the writer's lengths are wrong)"]


def test_timestamps_going_backwards_are_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(capture_module, "DEFAULT_BATCH_RECORDS", 3)
    recs = [(T0 + s, 0, b"x" * 40, 40) for s in (5, 4, 6, 7, 3, 8, 2)]   # back at 4, 3, 2
    capture, got = read(write(tmp_path, pcap_bytes(recs)))
    assert len(got) == 7 and capture.damage["ts_backwards"] == 3


def test_pcapng_ends_mid_block(tmp_path):
    recs = packets(12)
    capture, got = read(write(tmp_path, pcapng_bytes(recs)[:-50]))
    assert as_tuples(got) == expected(recs)[:11]
    assert capture.damage["truncated_tail"] == 1
    assert capture.warnings[0].startswith("file ends mid-block after 11 records")


def test_pcapng_unknown_interface_is_a_bad_record(tmp_path):
    data = shb() + idb() + epb("<", 0, T0 * 10**6, b"1" * 20) + epb("<", 7, T0 * 10**6, b"2" * 20) \
        + epb("<", 0, T0 * 10**6, b"3" * 20)
    capture, got = read(write(tmp_path, data))
    assert [bytes(r.data[:1]) for r in got] == [b"1", b"3"]
    assert capture.damage["bad_records"] == 1
    assert "refers to interface 7" in capture.warnings[0]


def test_pcapng_packet_longer_than_its_block_is_a_bad_record(tmp_path):
    bad = bytearray(epb("<", 0, T0 * 10**6, b"2" * 20))
    bad[20:24] = struct.pack("<I", 500)        # caplen beyond the block
    data = shb() + idb() + epb("<", 0, T0 * 10**6, b"1" * 20) + bytes(bad) + epb("<", 0, T0 * 10**6, b"3" * 20)
    capture, got = read(write(tmp_path, data))
    assert [bytes(r.data[:1]) for r in got] == [b"1", b"3"]
    assert capture.damage["bad_records"] == 1
    assert "declares 500 captured bytes but holds only 20" in capture.warnings[0]


def test_pcapng_broken_block_length_resynchronises(tmp_path):
    recs = packets(20)
    blocks = [shb(), idb()] + [epb("<", 0, s * 10**6 + f, d, w) for s, f, d, w in recs]
    broken = bytearray(blocks[2 + 8])
    broken[-4:] = struct.pack("<I", 12345)     # trailing length disagrees
    blocks[2 + 8] = bytes(broken)
    capture, got = read(write(tmp_path, b"".join(blocks)))
    assert as_tuples(got) == expected(recs[:8] + recs[9:])
    assert capture.damage["bad_records"] == 1 and capture.damage["skipped_bytes"] == len(broken)
    assert "two length fields that disagree" in capture.warnings[0]


def test_pcapng_trailing_garbage(tmp_path):
    capture, got = read(write(tmp_path, pcapng_bytes(packets(4)) + b"garbage garbage garbage!"))
    assert len(got) == 4 and capture.damage["trailing_garbage_bytes"] == 24


# -- chunking and robustness -------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=40), chunk=st.integers(1, 5000),
       kind=st.sampled_from(["pcap", "pcapng", "pcap.gz"]))
def test_records_across_chunk_boundaries(tmp_path, sizes, chunk, kind):
    recs = [(T0 + i, i, bytes([i % 251]) * size, size + 1) for i, size in enumerate(sizes)]
    raw = pcapng_bytes(recs) if kind == "pcapng" else pcap_bytes(recs)
    data = gzip.compress(raw) if kind.endswith(".gz") else raw
    path = write(tmp_path, data, "chunked.bin")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chunks_module, "CHUNK_SIZE", chunk)
        patch.setattr(capture_module, "CHUNK_SIZE", chunk)
        capture, got = read(path)
    assert as_tuples(got) == expected(recs)
    assert no_damage(capture)


def _mutations(base):
    return st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)), max_size=8).map(
        lambda edits: _apply(base, edits)) | st.integers(0, len(base)).map(lambda n: base[:n])


def _apply(base, edits):
    data = bytearray(base)
    for at, value in edits:
        data[at] = value
    return bytes(data)


_FUZZ_PCAP = pcap_bytes(packets(12, size=20, step=11))
_FUZZ_PCAPNG = shb() + idb(tsresol=9) + spb("<", b"s" * 9) + b"".join(
    epb("<", 0, T0 * 10**9 + i, bytes(20 + i)) for i in range(8)) + obsolete_pb("<", 0, 5, b"p" * 7)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_mutations(_FUZZ_PCAP) | _mutations(_FUZZ_PCAPNG) | _mutations(gzip.compress(_FUZZ_PCAP)))
def test_damaged_input_never_raises_anything_but_capture_error(tmp_path, data):
    path = write(tmp_path, data, "fuzz.bin")
    try:
        with open_capture(path) as capture:
            for batch in capture.batches():
                assert (batch.caplens >= 0).all()
                assert (batch.offsets + batch.caplens <= len(batch.buf)).all()
            assert all(isinstance(w, str) and "\n" not in w for w in capture.warnings)
    except CaptureError as error:
        assert "\n" not in str(error)


# -- splitting one big pcap for parallel workers ----------------------------------------------


@pytest.fixture(scope="module")
def big_pcap(tmp_path_factory):
    rng = random.Random(7)
    recs = []
    size = 24
    i = 0
    while size < 8 << 20:
        length = rng.choice([60, 64, 90, 1514, 1514, rng.randint(40, 9000)])
        recs.append((T0 + i // 1000, (i % 1000) * 1000, rng.randbytes(length), length))
        size += 16 + length
        i += 1
    path = tmp_path_factory.mktemp("split") / "big.pcap"
    path.write_bytes(pcap_bytes(recs))
    return str(path)


def _columns(capture):
    out = []
    for batch in capture.batches():
        out.extend(zip(batch.ts.tolist(), batch.caplens.tolist(), batch.wirelens.tolist(),
                       (batch.data(i) for i in range(len(batch)))))
    return out


def test_split_offsets_does_not_apply(tmp_path, big_pcap):
    assert split_offsets(write(tmp_path, pcap_bytes(packets(10)), "small.pcap"), 4) is None
    big = Path(big_pcap).read_bytes()
    assert split_offsets(write(tmp_path, gzip.compress(big, 1), "big.pcap.gz"), 4) is None
    assert split_offsets(write(tmp_path, pcapng_bytes(packets(10)), "small.pcapng"), 4) is None
    assert split_offsets(str(tmp_path / "missing.pcap"), 4) is None


@pytest.fixture(scope="module")
def big_pcapng(tmp_path_factory, big_pcap):
    """The big pcap's packets as a pcapng (one section, one interface, EPBs)."""
    with open_capture(big_pcap) as capture:
        recs = [(int(r.ts), round((r.ts - int(r.ts)) * 1e6), bytes(r.data), r.wirelen) for r in capture.records()]
    path = tmp_path_factory.mktemp("split") / "big.pcapng"
    path.write_bytes(pcapng_bytes(recs))
    return str(path)


# (fixture, where its packets start, a byte past a split boundary that is not the start of a record/block)
SPLIT_CASES = [("big_pcap", 24, 1), ("big_pcapng", len(shb("<") + idb("<", 1)), 4)]


@pytest.mark.parametrize("fixture, data_start, off_boundary", SPLIT_CASES)
def test_split_offsets_parts_concatenate_to_a_single_read(request, fixture, data_start, off_boundary):
    path = request.getfixturevalue(fixture)
    with open_capture(path) as capture:
        whole = _columns(capture)
    offsets = split_offsets(path, 4)
    assert offsets[0] == data_start and offsets[-1] == os.path.getsize(path) and len(offsets) == 5
    assert offsets == sorted(set(offsets))
    pieces = []
    for start, end in zip(offsets, offsets[1:]):
        with open_capture(path, start=start, end=end) as part:
            pieces.extend(_columns(part))
            assert part.reached_end_exactly and no_damage(part) and part.link_types == [1]
    assert pieces == whole


@pytest.mark.parametrize("fixture, data_start, off_boundary", SPLIT_CASES)
def test_a_bad_split_is_detected(request, fixture, data_start, off_boundary):
    path = request.getfixturevalue(fixture)
    offsets = split_offsets(path, 2)
    with open_capture(path, start=offsets[0], end=offsets[1] + off_boundary) as part:
        _columns(part)
        assert not part.reached_end_exactly


@pytest.mark.parametrize("block", ["idb", "shb", "spb"])
def test_a_pcapng_range_that_needs_what_came_before_is_not_exact(tmp_path, block):
    """A new interface or section inside a range changes how later ranges read; a simple packet block
    takes the time of the packet before it: such a range says it is not exact (the file is then read
    serially), though it reads its own blocks."""
    recs = packets(40000, size=200)
    middle = {"idb": idb("<", 1), "shb": shb("<") + idb("<", 1), "spb": spb("<", bytes(60), 60)}[block]
    data = pcapng_bytes(recs[:10000]) + middle + pcapng_bytes(recs[10000:])[len(shb("<") + idb("<", 1)):]
    path = write(tmp_path, data, "with-block.pcapng")
    offsets = split_offsets(path, 2)
    assert len(offsets) == 3
    exact = []
    for start, end in zip(offsets, offsets[1:]):
        with open_capture(path, start=start, end=end) as part:
            _columns(part)
            exact.append(part.reached_end_exactly)
    assert exact.count(False) == 1


# -- the real corpus ------------------------------------------------------------------------------

CORPUS = Path(os.environ.get("PCAPDIAG_CORPUS", "/work/shared/corpus"))


def corpus_expectations():
    """(path, expected packet count) for every capture in the corpus and its lab/."""
    if not (CORPUS / "manifest.tsv").is_file():
        return []
    with open(CORPUS / "manifest.tsv", newline="") as f:
        out = [(CORPUS / row["local_name"], int(row["packets"])) for row in csv.DictReader(f, delimiter="\t")]
    for path in sorted((CORPUS / "lab").glob("*.pcap*")):
        # <scenario>.pcap: the underlay capture; <scenario>.pcapng: its nanosecond twin;
        # <scenario>.<view>.pcap: another capture point, e.g. node2-any.
        scenario, *view = path.name[: -len(path.suffix)].split(".")
        stats = json.loads((CORPUS / "lab" / f"{scenario}.truth.json").read_text())["capture"]["stats"]
        key = view[0] if view else ("underlay-nano" if path.suffix == ".pcapng" else "underlay")
        out.append((path, stats[key]["captured"]))
    return out


CORPUS_FILES = corpus_expectations()


@pytest.mark.parametrize("path, packets_expected", CORPUS_FILES, ids=[p.name for p, _ in CORPUS_FILES])
def test_corpus_packet_counts(path, packets_expected):
    with open_capture(str(path)) as capture:
        n = 0
        for batch in capture.batches():
            assert (batch.wirelens >= batch.caplens).all()
            n += len(batch)
    assert n == packets_expected
    if path.name == "suricata-verify__http-mime-truncated__input.pcap":   # the corpus file cut mid-record
        assert capture.damage["truncated_tail"] == 1


def dpkt_records(path):
    with open(path, "rb") as f:
        try:
            reader = dpkt.pcap.Reader(f)
        except ValueError:
            f.seek(0)
            reader = dpkt.pcapng.Reader(f)
        out = []
        try:
            for ts, buf in reader:
                out.append((float(ts), buf))
        except dpkt.NeedData:
            pass   # dpkt stops at a record cut by the end of the file; so do we, quietly
        return reader.datalink(), out


@pytest.mark.parametrize("path", [p for p, _ in CORPUS_FILES], ids=[p.name for p, _ in CORPUS_FILES])
def test_corpus_agrees_with_dpkt(path):
    datalink, theirs = dpkt_records(path)
    _, ours = read(str(path))
    if path.suffix == ".pcapng" and len(ours) != len(theirs):
        pytest.skip("dpkt's pcapng reader follows only the first interface")
    assert len(ours) == len(theirs)
    for mine, (ts, buf) in zip(ours, theirs):
        assert mine.data == buf and mine.caplen == len(buf)
        assert mine.ts == pytest.approx(ts, abs=1e-6)
        if path.suffix == ".pcap":
            assert mine.linktype == datalink


def test_pcapng_blocks_too_short_for_their_type_are_bad_records(tmp_path):
    data = shb() + idb() + block("<", 3, b"") + block("<", 6, b"\0" * 8) + block("<", 2, b"\0" * 4) \
        + epb("<", 0, T0 * 10**6, b"ok" * 10)
    capture, got = read(write(tmp_path, data))
    assert [r.data for r in got] == [b"ok" * 10]
    assert capture.damage["bad_records"] == 3
    assert capture.warnings == ["3 broken blocks were skipped"]


def test_pcapng_later_section_with_unknown_version_stops_reading(tmp_path):
    data = pcapng_bytes(packets(3)) + shb(major=3) + idb() + epb("<", 0, T0 * 10**6, b"x" * 20)
    capture, got = read(write(tmp_path, data))
    assert len(got) == 3
    assert capture.warnings == [f"section 2 (byte {len(pcapng_bytes(packets(3)))}) has unsupported pcapng "
                                "version 3.0; stopped reading there"]


def test_corrupt_gzip_data_yields_what_decompressed(tmp_path):
    rng = random.Random(3)
    recs = [(T0 + i, 0, rng.randbytes(1000), 1000) for i in range(500)]   # incompressible: 500 kB
    compressed = bytearray(gzip.compress(pcap_bytes(recs), compresslevel=1))
    compressed[len(compressed) // 2] ^= 0xFF
    capture, got = read(write(tmp_path, bytes(compressed)))
    # Stored deflate blocks carry the flipped byte through until the CRC check
    # at the end fails; records well before the flip are intact.
    assert len(got) >= 200 and as_tuples(got)[:200] == expected(recs)[:200]
    assert capture.damage["truncated_tail"] == 1
    assert any("gzip data is corrupt" in w for w in capture.warnings)


def test_gzip_corrupt_from_the_start(tmp_path):
    compressed = bytearray(gzip.compress(pcap_bytes(packets(50))))
    compressed[12:40] = bytes(28)
    message = error_of(write(tmp_path, bytes(compressed)))
    assert "gzip" in message and "\n" not in message
