"""Opening a capture: sniff the format, check it can be read, hand out batches."""
from __future__ import annotations

import struct

from .chunks import ChunkedInput, mapped_file
from .damage import DamageLog
from .errors import CaptureError
from .linktypes import describe_link_type, is_supported
from .pcap import FILE_HEADER_LEN, LIBPCAP_MAX_SNAPLEN, PcapWalker, find_record_start, parse_file_header
from .pcapng import (BYTE_ORDER_MAGIC, EPB_TYPE, MAX_BLOCK_LEN, MIN_BLOCK_LEN, PcapngWalker, find_block_start,
                     packet_section, prescan_interfaces)
from .sniff import describe_non_capture, sniff_format
from .source import CHUNK_SIZE, GzipSource, RawSource, display_name, open_raw

DEFAULT_BATCH_RECORDS = 65536


def open_capture(path: str, start: int | None = None, end: int | None = None) -> "Capture":
    """Open a pcap or pcapng file (gzip-compressed or not; "-" reads stdin).

    ``start``/``end`` restrict reading to the records that *start* in
    [start, end) of an uncompressed pcap or pcapng file, for parallel workers
    splitting one file with ``split_offsets``.

    Raises CaptureError, with one user-facing line, when the input cannot be
    read as a capture at all. Damage inside a readable capture never raises.
    """
    name = display_name(path)
    fileobj, size, seekable = open_raw(path)
    try:
        return Capture._open(path, name, fileobj, size, seekable, start, end)
    except BaseException:
        if path != "-":
            fileobj.close()
        raise


class Capture:
    """One capture being read, front to back, once.

    Attributes: ``path``, ``format`` ("pcap" | "pcapng"), ``nanosecond``,
    ``compressed`` (gzip), ``link_types`` (distinct, in order first seen),
    ``interface_link_types`` (pcapng: one per interface), ``snaplen``,
    ``size`` (bytes on disk, None for a pipe) and, while reading,
    ``bytes_read``, ``records_read``, ``damage`` and ``warnings``.
    """

    def __init__(self, path: str, fileobj, fmt: str, source, walker, compressed: bool):
        self.path = path
        self._fileobj = fileobj
        self.format = fmt
        self.compressed = compressed
        self._source = source
        self._walker = walker
        self._log = walker.log
        self.damage: dict[str, int] = self._log.counters
        self.records_read = 0
        self._started = False
        self.first_ts = self.last_ts = None   # of the first and last record read (ranges are checked at joins)
        self._pcap_header = None          # classic pcap
        self._prescan_interfaces = []     # pcapng: interfaces defined before the first packet
        self.snaplen: int | None = None

    # -- opening -------------------------------------------------------------

    @classmethod
    def _open(cls, path, name, fileobj, size, seekable, start, end) -> "Capture":
        fmt, source, data = _sniff(path, name, RawSource(fileobj, name, size))
        compressed = source.compressed
        ranged = start is not None or end is not None
        if ranged and (compressed or not seekable):
            raise CaptureError(f"byte ranges need an uncompressed capture file: {name}")
        data = _read_at_least(source, data, _header_len(fmt, data))
        log = DamageLog()

        if fmt == "pcap":
            header = parse_file_header(data, name)
            if not is_supported(header.linktype):
                raise CaptureError(f"unsupported link type {describe_link_type(header.linktype)} in {name}")
            if ranged:
                start = max(start or FILE_HEADER_LEN, FILE_HEADER_LEN)
                fileobj.seek(start)
                source = RawSource(fileobj, name, size)
                source.bytes_read = start   # a position in the file, as the mapped windows count it
                chunks = ChunkedInput(source, source.read(CHUNK_SIZE), base=start, mapped=mapped_file(fileobj, size))
                walker = PcapWalker(chunks, header, log, start_pos=0, end=end)
            else:
                mapped = None if compressed or path == "-" else mapped_file(fileobj, size)
                walker = PcapWalker(ChunkedInput(source, data, mapped=mapped), header, log, start_pos=FILE_HEADER_LEN)
            capture = cls(path, fileobj, fmt, source, walker, compressed)
            capture._pcap_header = header
            capture.snaplen = header.snaplen
            return capture

        interfaces = prescan_interfaces(data, name)
        if interfaces and not any(is_supported(i.linktype) for i in interfaces):
            first = describe_link_type(interfaces[0].linktype)
            also = f" (and on all {len(interfaces)} interfaces)" if len(interfaces) > 1 else ""
            raise CaptureError(f"unsupported link type {first} in {name}{also}")
        if ranged:
            section, first_packet = packet_section(data, name)
            start = max(start or first_packet, first_packet)
            fileobj.seek(start)
            source = RawSource(fileobj, name, size)
            source.bytes_read = start   # a position in the file, as the mapped windows count it
            chunks = ChunkedInput(source, source.read(CHUNK_SIZE), base=start, mapped=mapped_file(fileobj, size))
            walker = PcapngWalker(chunks, log, section=section, end=end)
        else:
            mapped = None if compressed or path == "-" else mapped_file(fileobj, size)
            walker = PcapngWalker(ChunkedInput(source, data, mapped=mapped), log)
        capture = cls(path, fileobj, fmt, source, walker, compressed)
        capture._prescan_interfaces = interfaces
        capture.snaplen = interfaces[0].snaplen if interfaces else None
        return capture

    # -- what is known about the capture -------------------------------------

    @property
    def interface_link_types(self) -> list[int]:
        if self.format == "pcap":
            return [self._pcap_header.linktype]
        seen = self._walker.interface_link_types
        prescan = [i.linktype for i in self._prescan_interfaces]
        return list(seen) if len(seen) >= len(prescan) else prescan

    @property
    def link_types(self) -> list[int]:
        return list(dict.fromkeys(self.interface_link_types))

    @property
    def nanosecond(self) -> bool:
        if self.format == "pcap":
            return self._pcap_header.nanosecond
        interfaces = self._prescan_interfaces
        if self._walker.section is not None:
            interfaces = interfaces + self._walker.section.interfaces
        return any(i.ts_divisor > 1_000_000 for i in interfaces)

    @property
    def size(self) -> int | None:
        return self._source.size

    @property
    def bytes_read(self) -> int:
        return self._source.bytes_read

    @property
    def reached_end_exactly(self) -> bool:
        """True when the walk stopped exactly at ``end`` (or, with no ``end``
        or an ``end`` at or past the end of the file, reached the file's end)."""
        return self._walker.reached_end_exactly

    @property
    def warnings(self) -> list[str]:
        return self._log.warnings() + [sentence for _kind, sentence in self._source.notes]

    # -- reading -------------------------------------------------------------

    def batches(self, max_records: int = DEFAULT_BATCH_RECORDS):
        """Yield RecordBatches of at most ``max_records`` records, in file order."""
        import numpy as np

        if self._started:
            raise RuntimeError("a Capture is a stream: it can be read only once")
        self._started = True
        counters = self.damage
        last_ts = None
        for batch in self._walker.batches(max_records):
            counters["caplen_gt_wirelen"] += int(np.count_nonzero(batch.caplens > batch.wirelens))
            ts = batch.ts
            backwards = int(np.count_nonzero(ts[1:] < ts[:-1]))
            if last_ts is not None and ts[0] < last_ts:
                backwards += 1
            counters["ts_backwards"] += backwards
            if last_ts is None:
                self.first_ts = float(ts[0])
            last_ts = self.last_ts = float(ts[-1])
            batch.first_frame = self.records_read + 1   # every record the walkers hand out is a frame
            self.records_read += len(batch)
            yield batch
        if any(kind in ("gzip_truncated", "gzip_corrupt") for kind, _ in self._source.notes):
            # Compressed data is missing at the end, whether or not a record was cut.
            counters["truncated_tail"] = 1
        if any(kind == "gzip_trailing" for kind, _ in self._source.notes):
            # Not gzip after the last member: garbage after the capture, counted like any other.
            counters["trailing_garbage_bytes"] += max(getattr(self._source, "ignored_bytes", 0), 1)

    def records(self):
        """Yield one Record per packet (slower than batches(); for simple consumers)."""
        for batch in self.batches():
            yield from batch.records()

    __iter__ = records

    def close(self) -> None:
        if self.path != "-":       # stdin belongs to the process, not to us
            self._fileobj.close()

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<Capture {self.path!r} {self.format}{' gzip' if self.compressed else ''} "
                f"link_types={self.link_types} records_read={self.records_read}>")


# Enough bytes to recognise the format and describe what is not a capture.
SNIFF_LEN = 4096


def _sniff(path: str, name: str, raw: RawSource):
    """(format, uncompressed source, its first bytes), or CaptureError saying what the input is."""
    head = raw.read(max(CHUNK_SIZE, SNIFF_LEN))
    if not head:
        raise CaptureError(f"empty file: {name}" if path != "-" else "empty input on stdin")
    fmt = sniff_format(head)
    if fmt is None:
        if len(head) < 4:
            raise CaptureError(f"not a capture file: {name} is only {len(head)} bytes long")
        raise CaptureError(f"not a capture file: {name} looks like {describe_non_capture(head)}")
    if fmt != "gzip":
        return fmt, raw, head
    source = GzipSource(RawSource(raw.file, name, raw.size, prefix=head))
    data = source.read(max(CHUNK_SIZE, SNIFF_LEN))
    if not data:
        why = source.notes[0][1] if source.notes else "it holds no data"
        raise CaptureError(f"cannot read {name}: it is gzip-compressed, but {why.split(';')[0]}")
    fmt = sniff_format(data)
    if fmt is None or fmt == "gzip":
        what = "gzip-compressed data" if fmt else describe_non_capture(data)
        raise CaptureError(f"not a capture file: {name} is gzip-compressed, but what it holds looks like {what}")
    return fmt, source, data


def _header_len(fmt: str, data: bytes) -> int:
    """Bytes the format's file header needs before any record (pcapng: the first SHB)."""
    if fmt == "pcap":
        return FILE_HEADER_LEN
    order = BYTE_ORDER_MAGIC.get(data[8:12])
    if order is None or len(data) < 8:
        return MIN_BLOCK_LEN
    return min(struct.unpack_from(order + "I", data, 4)[0], MAX_BLOCK_LEN)


def _read_at_least(source, data: bytes, n: int) -> bytes:
    """The first bytes of a stream read in small pieces (a pipe, tiny test chunks)."""
    while len(data) < n:
        more = source.read(max(n - len(data), CHUNK_SIZE))
        if not more:
            break
        data += more
    return data


# Parallel processing of one big file -----------------------------------------

MIN_SPLIT_SIZE = 4 << 20
SPLIT_CHAIN = 8                 # records that must follow a boundary candidate
SPLIT_WINDOW_MIN = 4 << 20
SPLIT_WINDOW_MAX = 64 << 20


def split_offsets(path: str, parts: int) -> list[int] | None:
    """Record-boundary byte offsets that cut an uncompressed pcap or pcapng into ``parts``.

    Returns [data_start, b1, ..., file_size]: a boundary is the first
    position at or after size*i/parts holding a plausible record header
    (pcap: timestamp within ten years of the first record, sane lengths;
    pcapng: an enhanced packet block whose two length fields agree) followed
    by a chain of 8 more. A boundary that cannot be found is left out (fewer,
    larger parts). Returns None when splitting does not apply: gzip, stdin,
    unreadable, or smaller than 4 MB.

    The heuristic can be fooled (a capture carried inside a packet), so
    workers read with ``open_capture(path, b_i, b_i+1)`` and check
    ``reached_end_exactly``; a part that does not land on its end (or, in a
    pcapng, meets a block that needs what came before it: a new section or
    interface) means a bad split, and the caller should read the file
    serially instead.
    """
    if path == "-" or parts < 1:
        return None
    try:
        fileobj, size, seekable = open_raw(path)
    except CaptureError:
        return None
    import numpy as np

    with fileobj:
        if not seekable or size is None or size < MIN_SPLIT_SIZE:
            return None
        head = fileobj.read(SPLIT_WINDOW_MIN)
        fmt = sniff_format(head)
        if fmt == "pcap" and len(head) >= FILE_HEADER_LEN + 16:
            header = parse_file_header(head, path)
            first_ts_sec = int.from_bytes(head[FILE_HEADER_LEN:FILE_HEADER_LEN + 4],
                                          "little" if header.byte_order == "<" else "big")
            window = min(max(SPLIT_WINDOW_MIN, (SPLIT_CHAIN + 4) * (header.max_caplen + header.record_header_len)),
                         SPLIT_WINDOW_MAX)
            offsets = [FILE_HEADER_LEN]

            def boundary(buf, ends_at_eof):
                return find_record_start(np, buf, 0, header, first_ts_sec, min_chain=SPLIT_CHAIN,
                                         ends_at_eof=ends_at_eof)
        elif fmt == "pcapng":
            try:
                section, first_packet = packet_section(head, path)
            except CaptureError:
                return None
            snaplen = max([i.snaplen or LIBPCAP_MAX_SNAPLEN for i in section.interfaces] or [LIBPCAP_MAX_SNAPLEN])
            window = min(max(SPLIT_WINDOW_MIN, (SPLIT_CHAIN + 4) * (snaplen + 64)), SPLIT_WINDOW_MAX)
            offsets = [first_packet]

            def boundary(buf, ends_at_eof):
                found = find_block_start(np, buf, 0, section, min_chain=SPLIT_CHAIN, ends_at_eof=ends_at_eof)
                # a range must begin with packets: anything else may be a block the range would need to share
                if found is None or section.head_at(buf, found)[0] != EPB_TYPE:
                    return None
                return found
        else:
            return None
        for i in range(1, parts):
            target = size * i // parts
            if target <= offsets[-1]:
                continue
            fileobj.seek(target)
            buf = fileobj.read(window)
            found = boundary(buf, target + len(buf) >= size)
            if found is not None and offsets[-1] < target + found < size:
                offsets.append(target + found)
        offsets.append(size)
        return offsets
