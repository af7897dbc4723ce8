"""Seeded damage for capture files, and small builders for hand-made hostile captures.

Used by test_mutations.py (the mutation harness over real captures) and test_hostile.py; the packets
and the pcapng blocks of hand-made captures come from pcapdiag.testing.
Everything is deterministic for a given seed, so a failing case is reproduced by its id:

    data, what = mutate(first_records(path.read_bytes(), 200), seed=17)

Mutations work on the bytes of a pcap or pcapng file (a gzip file is decompressed first) and
know just enough of both formats to aim at the interesting places: record and block lengths,
timestamps, the file header, the end of the file.
"""
from __future__ import annotations

import gzip
import os
import random
import struct
import zlib
from pathlib import Path

from pcapdiag.testing.files import Record, pcap_bytes

PCAP_MAGICS = {  # first four bytes -> (byte order, record header length)
    b"\xd4\xc3\xb2\xa1": ("<", 16), b"\xa1\xb2\xc3\xd4": (">", 16),
    b"\x4d\x3c\xb2\xa1": ("<", 16), b"\xa1\xb2\x3c\x4d": (">", 16),
    b"\x34\xcd\xb2\xa1": ("<", 24), b"\xa1\xb2\xcd\x34": (">", 24),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
PCAPNG_ORDER = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
PCAP_HEADER_LEN = 24
PACKET_BLOCKS = (2, 3, 6)       # obsolete PB, SPB, EPB
T0 = 1_700_000_000              # 2023-11-14: a plausible capture date


# -- corpus ----------------------------------------------------------------------------------

def corpus_dirs() -> list[Path]:
    """PCAPDIAG_CORPUS (default ../shared/corpus) and its lab/ folder, those that exist."""
    repo = Path(__file__).resolve().parent.parent
    corpus = Path(os.environ.get("PCAPDIAG_CORPUS", repo.parent / "shared" / "corpus"))
    return [folder for folder in (corpus, corpus / "lab") if folder.is_dir()]


def corpus_captures(max_bytes: int = 1 << 20) -> list[Path]:
    """Capture files of the corpus (pcap, pcapng, gzip), smallest first; none when it is absent."""
    found = [p for folder in corpus_dirs() for p in folder.iterdir()
             if p.is_file() and p.suffix in (".pcap", ".pcapng", ".gz", ".cap") and p.stat().st_size <= max_bytes]
    return sorted(found, key=lambda p: (p.stat().st_size, p.name))


def load_base(path: Path, max_records: int = 200) -> bytes:
    """A corpus capture, uncompressed, cut to its first max_records records (bounds the time)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = _gunzip_tolerant(data)
    return first_records(data, max_records)


def _gunzip_tolerant(data: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return inflater.decompress(data)
    except zlib.error:
        return b""


# -- the formats, just enough --------------------------------------------------------------

def file_format(data: bytes) -> str | None:
    if data[:4] in PCAP_MAGICS:
        return "pcap"
    if data[:4] == PCAPNG_SHB:
        return "pcapng"
    return None


def record_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each record (pcap) or block (pcapng), walked until the framing breaks."""
    fmt = file_format(data)
    spans = []
    if fmt == "pcap":
        order, hdr_len = PCAP_MAGICS[data[:4]]
        pos = PCAP_HEADER_LEN
        while pos + hdr_len <= len(data):
            caplen = struct.unpack_from(order + "I", data, pos + 8)[0]
            end = pos + hdr_len + caplen
            if end > len(data):
                break
            spans.append((pos, end))
            pos = end
    elif fmt == "pcapng":
        pos, order = 0, "<"
        while pos + 12 <= len(data):
            if data[pos:pos + 4] == PCAPNG_SHB:
                order = PCAPNG_ORDER.get(data[pos + 8:pos + 12], order)
            length = struct.unpack_from(order + "I", data, pos + 4)[0]
            if length < 12 or length % 4 or pos + length > len(data):
                break
            spans.append((pos, pos + length))
            pos += length
    return spans


def _block_type(data: bytes, start: int, order: str) -> int:
    return struct.unpack_from(order + "I", data, start)[0]


def _pcapng_order(data: bytes) -> str:
    return PCAPNG_ORDER.get(data[8:12], "<")


def packet_spans(data: bytes) -> list[tuple[int, int]]:
    """Spans of the packet records only (pcap: every record; pcapng: EPB/SPB/PB)."""
    spans = record_spans(data)
    if file_format(data) != "pcapng":
        return spans
    order = _pcapng_order(data)
    return [(s, e) for s, e in spans if _block_type(data, s, order) in PACKET_BLOCKS]


def first_records(data: bytes, n: int) -> bytes:
    """The file up to the end of its n-th packet record (everything when it has fewer)."""
    packets = packet_spans(data)
    if len(packets) <= n:
        return data
    return data[:packets[n - 1][1]]


def count_whole_records(data: bytes, cut: int) -> int:
    """Packet records that end at or before byte ``cut`` (pcap: what a reader must still deliver)."""
    return sum(1 for _, end in packet_spans(data) if end <= cut)


# -- mutations ----------------------------------------------------------------------------------

INTERESTING_LENGTHS = (0, 1, 3, 12, 13, 15, 16, 17, 0x7F, 0x80, 0xFFFF, 0x10000, 262144, 262145,
                       64 << 20, (64 << 20) + 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFF)


def _pick_span(data: bytes, rng: random.Random):
    spans = record_spans(data)
    return rng.choice(spans) if spans else None


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    spans = record_spans(data)
    if spans and rng.random() < 0.5:       # near a record boundary: mid-header cuts
        start, end = rng.choice(spans)
        cut = min(max(rng.choice((start, end)) + rng.randint(-3, 20), 0), len(data))
    else:
        cut = rng.randint(0, len(data))
    return data[:cut], f"truncate at {cut} of {len(data)}"


def bit_flips(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    if not out:
        return data, "bit flips (nothing to flip)"
    count = rng.choice((1, 1, 2, 4, 8, 32))
    for _ in range(count):
        at = rng.randrange(len(out))
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out), f"{count} bit flips"


def zero_run(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return data, "zero run (empty)"
    start = rng.randrange(len(data))
    length = rng.choice((1, 4, 16, 64, 256, 4096))
    out = bytearray(data)
    out[start:start + length] = bytes(len(out[start:start + length]))
    return bytes(out), f"zeroed {length} bytes at {start}"


def bogus_length(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A record's caplen (pcap) or a block's length field / EPB caplen (pcapng) set to a lie."""
    span = _pick_span(data, rng)
    if span is None:
        return garbage_tail(data, rng)
    start, end = span
    value = rng.choice(INTERESTING_LENGTHS + (end - start + 4, end - start - 4, rng.getrandbits(32)))
    out = bytearray(data)
    if file_format(data) == "pcap":
        order, _ = PCAP_MAGICS[data[:4]]
        field = rng.choice((8, 8, 12))     # caplen mostly, sometimes the wire length
        struct.pack_into(order + "I", out, start + field, value & 0xFFFFFFFF)
        return bytes(out), f"record at {start}: {'caplen' if field == 8 else 'wirelen'} := {value}"
    order = _pcapng_order(data)
    where = rng.choice(("length", "trailer", "caplen"))
    if where == "length":
        struct.pack_into(order + "I", out, start + 4, value & 0xFFFFFFFF)
    elif where == "trailer":
        struct.pack_into(order + "I", out, end - 4, value & 0xFFFFFFFF)
    elif end - start >= 24:
        struct.pack_into(order + "I", out, start + 20, value & 0xFFFFFFFF)
    return bytes(out), f"block at {start}: {where} := {value}"


def lying_wirelen(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """caplen > wire length (a writer bug seen in the wild)."""
    if file_format(data) != "pcap":
        return bogus_length(data, rng)
    span = _pick_span(data, rng)
    if span is None:
        return data, "wirelen (no records)"
    order, _ = PCAP_MAGICS[data[:4]]
    out = bytearray(data)
    caplen = struct.unpack_from(order + "I", data, span[0] + 8)[0]
    struct.pack_into(order + "I", out, span[0] + 12, max(caplen - rng.randint(1, 64), 0))
    return bytes(out), f"record at {span[0]}: wirelen < caplen"


def time_travel(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A record's timestamp moved back (or far away)."""
    span = _pick_span(data, rng)
    if span is None or file_format(data) != "pcap":
        return bit_flips(data, rng)
    order, _ = PCAP_MAGICS[data[:4]]
    out = bytearray(data)
    seconds = struct.unpack_from(order + "I", data, span[0])[0]
    new = rng.choice((max(seconds - 3600, 0), 0, 0xFFFFFFFF, seconds + 86400 * 365 * 20))
    new &= 0xFFFFFFFF
    struct.pack_into(order + "I", out, span[0], new)
    return bytes(out), f"record at {span[0]}: ts_sec := {new}"


def splice_repeat(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A piece of the file inserted again elsewhere, possibly many times (a confused writer)."""
    if len(data) < 2:
        return garbage_tail(data, rng)
    spans = record_spans(data)
    if spans and rng.random() < 0.5:
        start, end = rng.choice(spans)
        where = rng.choice(spans)[rng.randrange(2)]
    else:
        start = rng.randrange(len(data))
        end = min(len(data), start + rng.randint(1, 512))
        where = rng.randrange(len(data) + 1)
    times = rng.choice((1, 2, 8, 64))
    piece = data[start:end] * times
    return data[:where] + piece + data[where:], f"{times} x bytes [{start}:{end}] inserted at {where}"


def garbage_tail(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    kind = rng.choice(("random", "zeros", "text", "header"))
    size = rng.choice((1, 3, 7, 15, 16, 100, 4096))
    if kind == "random":
        tail = rng.randbytes(size)
    elif kind == "zeros":
        tail = bytes(size)
    elif kind == "text":
        tail = (b"-- end of capture --\n" * size)[:size]
    else:                                   # a record header promising more than follows
        tail = struct.pack("<IIII", T0, 0, 1500, 1500) + rng.randbytes(rng.randint(0, 100))
    return data + tail, f"{len(tail)} bytes of {kind} appended"


def damage_file_header(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    fmt = file_format(data)
    if fmt == "pcap" and len(out) >= PCAP_HEADER_LEN:
        order, _ = PCAP_MAGICS[data[:4]]
        choice = rng.choice(("snaplen", "linktype", "version", "magic", "zone"))
        if choice == "snaplen":
            struct.pack_into(order + "I", out, 16, rng.choice((0, 1, 64, 0xFFFFFFFF, rng.getrandbits(32))))
        elif choice == "linktype":
            struct.pack_into(order + "I", out, 20, rng.choice((0, 1, 12, 101, 105, 113, 127, 228, 229, 276,
                                                               4242, rng.getrandbits(32))))
        elif choice == "version":
            struct.pack_into(order + "HH", out, 4, rng.getrandbits(16), rng.getrandbits(16))
        elif choice == "magic":
            out[rng.randrange(4)] ^= 1 << rng.randrange(8)
        else:
            struct.pack_into(order + "i", out, 8, rng.getrandbits(31))
        return bytes(out), f"pcap file header: {choice}"
    if fmt == "pcapng" and len(out) >= 28:
        order = _pcapng_order(data)
        choice = rng.choice(("shb length", "byte order", "version", "idb linktype", "idb snaplen", "tsresol"))
        if choice == "shb length":
            struct.pack_into(order + "I", out, 4, rng.choice(INTERESTING_LENGTHS))
        elif choice == "byte order":
            out[8 + rng.randrange(4)] ^= 0xFF
        elif choice == "version":
            struct.pack_into(order + "HH", out, 12, rng.choice((0, 2, 0xFFFF)), rng.getrandbits(16))
        else:
            spans = record_spans(data)
            idbs = [s for s, _ in spans if _block_type(data, s, order) == 1]
            if not idbs:
                return bit_flips(data, rng)
            at = rng.choice(idbs)
            if choice == "idb linktype":
                struct.pack_into(order + "H", out, at + 8, rng.choice((105, 4242, 0xFFFF, 101, 276)))
            elif choice == "idb snaplen":
                struct.pack_into(order + "I", out, at + 12, rng.choice((0, 1, 20, 0xFFFFFFFF)))
            else:   # options: flip a byte in them (if_tsresol lives there)
                if at + 20 < len(out):
                    out[at + 16 + rng.randrange(4)] = rng.getrandbits(8)
        return bytes(out), f"pcapng header: {choice}"
    return bit_flips(data, rng)


MUTATIONS = {
    "truncate": (truncate, 3),
    "bit_flips": (bit_flips, 3),
    "zero_run": (zero_run, 2),
    "bogus_length": (bogus_length, 3),
    "lying_wirelen": (lying_wirelen, 1),
    "time_travel": (time_travel, 1),
    "splice_repeat": (splice_repeat, 2),
    "garbage_tail": (garbage_tail, 2),
    "damage_file_header": (damage_file_header, 2),
}


def gzip_wrap(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    packed = gzip.compress(data, mtime=0)
    kind = rng.choice(("whole", "truncated", "corrupt", "trailing"))
    if kind == "truncated":
        packed = packed[:rng.randint(10, max(len(packed) - 1, 10))]
    elif kind == "corrupt" and len(packed) > 20:
        out = bytearray(packed)
        out[rng.randrange(10, len(out))] ^= 0xFF
        packed = bytes(out)
    elif kind == "trailing":
        packed += rng.randbytes(rng.randint(1, 64))
    return packed, f"gzip ({kind})"


def mutate(data: bytes, seed: int, mutations: tuple[str, ...] | None = None) -> tuple[bytes, list[str]]:
    """1-3 seeded mutations of a capture (sometimes gzip-wrapped afterwards); returns (bytes, what was done)."""
    rng = random.Random(seed)
    names = list(mutations or MUTATIONS)
    weights = [MUTATIONS[name][1] for name in names]
    done = []
    for name in rng.choices(names, weights, k=rng.choice((1, 1, 2, 3))):
        data, what = MUTATIONS[name][0](data, rng)
        done.append(what)
    if mutations is None and rng.random() < 0.12:
        data, what = gzip_wrap(data, rng)
        done.append(what)
    return data, done


# -- hand-made captures with lying record headers ---------------------------------------------

def pcap_file(records, *, linktype: int = 1, snaplen: int = 262144, byte_order: str = "<") -> bytes:
    """A classic µs pcap. records: bytes, or (data, dict(ts=, caplen=, wirelen=)) to write lying headers
    (caplen is what the header says; the bytes written are data as given)."""
    as_records = []
    for index, item in enumerate(records):
        data, fields = (item, {}) if isinstance(item, (bytes, bytearray)) else item
        as_records.append(Record(bytes(data), ts=fields.get("ts", T0 + index * 0.001),
                                 caplen=fields.get("caplen", len(data)), wirelen=fields.get("wirelen", len(data))))
    return pcap_bytes(as_records, linktype=linktype, snaplen=snaplen, byte_order=byte_order)
