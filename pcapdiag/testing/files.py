"""Capture files for tests, the benchmark and the sample maker: classic pcap and pcapng, written by
struct so that every length can be chosen (dpkt.pcap.Writer always writes caplen == wirelen).

    write_pcap(tmp_path / "x.pcap", [frame, Record(big, caplen=96), (ts, frame)])
    data = pcapng_shb() + pcapng_idb(LINKTYPE_ETHERNET, 262144) + pcapng_epb(0, BASE_TS, frame)
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

BASE_TS = 1_700_000_000.0     # 2023-11-14: a plausible capture date
LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_SLL2 = 1, 101, 113, 228, 229, 276
PCAP_MAGIC, PCAPNG_SHB_TYPE, PCAPNG_BYTE_ORDER = 0xA1B2C3D4, 0x0A0D0D0A, 0x1A2B3C4D
PCAPNG_EPB_TYPE = 6
SNAPLEN = 262144


@dataclass
class Record:
    """One pcap record: data is what was on the wire; caplen cuts it (snaplen) or, beyond len(data), is a
    header that lies; wirelen overrides the original length (defaults to len(data))."""
    data: bytes
    ts: float | None = None
    caplen: int | None = None
    wirelen: int | None = None


def pcap_header(snaplen: int = SNAPLEN, linktype: int = LINKTYPE_ETHERNET, byte_order: str = "<") -> bytes:
    """The 24-byte header of a classic microsecond pcap, version 2.4."""
    return struct.pack(byte_order + "IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, snaplen, linktype)


def _record(item) -> Record:
    if isinstance(item, (bytes, bytearray)):
        return Record(bytes(item))
    if isinstance(item, tuple):
        return Record(bytes(item[1]), ts=item[0])
    return item


def pcap_bytes(records, *, linktype: int = LINKTYPE_ETHERNET, snaplen: int = SNAPLEN, start: float = BASE_TS,
               step: float = 0.001, byte_order: str = "<") -> bytes:
    """A classic microsecond pcap. records are bytes, (ts, bytes) or Record; a record without a timestamp
    gets start + index * step."""
    out = [pcap_header(snaplen, linktype, byte_order)]
    for index, item in enumerate(records):
        item = _record(item)
        ts = start + index * step if item.ts is None else item.ts
        wirelen = len(item.data) if item.wirelen is None else item.wirelen
        caplen = min(len(item.data), wirelen) if item.caplen is None else item.caplen
        micros = round(ts * 1_000_000)
        out.append(struct.pack(byte_order + "IIII", micros // 1_000_000, micros % 1_000_000, caplen, wirelen))
        out.append(item.data[:caplen])
    return b"".join(out)


def write_pcap(path, records, *, cut_tail: int = 0, **options) -> Path:
    """pcap_bytes(records, **options) written to path; cut_tail drops that many bytes off the end of the
    file (a capture that ends mid-record)."""
    data = pcap_bytes(records, **options)
    path = Path(path)
    path.write_bytes(data[:len(data) - cut_tail])
    return path


# -- pcapng ----------------------------------------------------------------------------

def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def pcapng_block(block_type: int, body: bytes, order: str = "<") -> bytes:
    body = _pad4(body)
    total = 12 + len(body)
    return struct.pack(order + "II", block_type, total) + body + struct.pack(order + "I", total)


def pcapng_shb(order: str = "<", major: int = 1, minor: int = 0) -> bytes:
    """A section header block of unknown section length."""
    return pcapng_block(PCAPNG_SHB_TYPE, struct.pack(order + "IHHq", PCAPNG_BYTE_ORDER, major, minor, -1), order)


def pcapng_option(code: int, value: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + _pad4(value)


def pcapng_idb(linktype: int, snaplen: int = 0, order: str = "<", tsresol: int | None = None,
               tsoffset: int | None = None, name: str | None = None) -> bytes:
    """An interface; name is if_name, tsresol the if_tsresol byte (6: µs, 9: ns, 0x80|n: 2^-n), tsoffset
    if_tsoffset seconds."""
    options = b""
    if name is not None:
        options += pcapng_option(2, name.encode(), order)
    if tsresol is not None:
        options += pcapng_option(9, bytes([tsresol]), order)
    if tsoffset is not None:
        options += pcapng_option(14, struct.pack(order + "q", tsoffset), order)
    if options:
        options += pcapng_option(0, b"", order)
    return pcapng_block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + options, order)


def pcapng_epb(interface: int, ts: float, data: bytes, wirelen: int | None = None, order: str = "<",
               units: int | None = None) -> bytes:
    """An enhanced packet block; the timestamp in µs from ts, or raw units in the interface's resolution."""
    micros = round(ts * 1_000_000) if units is None else units
    body = struct.pack(order + "IIIII", interface, micros >> 32, micros & 0xFFFFFFFF, len(data),
                       len(data) if wirelen is None else wirelen) + data
    return pcapng_block(PCAPNG_EPB_TYPE, body, order)
