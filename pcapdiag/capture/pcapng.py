"""pcapng files: sections, interfaces, packet blocks, resynchronisation.

Layout (https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/): a
sequence of blocks, each ``type, total_length, body, total_length``. A
Section Header Block (SHB) sets the byte order and starts a fresh list of
interfaces; each Interface Description Block (IDB) adds one interface with its
own link type, snaplen and timestamp resolution; packets come in Enhanced
Packet Blocks (EPB), Simple Packet Blocks (SPB, no timestamp, interface 0) or
the obsolete Packet Block (PB). Every other block (name resolution,
statistics, decryption secrets, custom) is skipped.

As for classic pcap, the hot loop only frames blocks: it checks that each
block is an EPB whose trailing length agrees, and remembers where it starts.
Interface ids, timestamps and lengths are then gathered for the whole run
with numpy. Every other block type leaves the fast loop and is handled one at
a time.

Why one module of ~550 lines: the block walker, its damage handling and resynchronisation share one
state machine (the section's byte order and the interface table that every later block depends on);
split, each half would have to carry that state across.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from .damage import DamageLog, note_cut_tail, plural, resynchronise
from .errors import CaptureError
from .linktypes import LINKTYPE_MASK
from .pcap import ABSURD_LENGTH, RESYNC_WINDOW, scan_slices, u32_at_every_offset
from .records import make_batch, split_batch

SHB_TYPE = 0x0A0D0D0A
IDB_TYPE = 1
PB_TYPE = 2          # obsolete Packet Block
SPB_TYPE = 3
NRB_TYPE = 4
ISB_TYPE = 5
EPB_TYPE = 6
DSB_TYPE = 0x0A
CUSTOM_TYPES = (0x00000BAD, 0x40000BAD)
KNOWN_BLOCK_TYPES = (SHB_TYPE, IDB_TYPE, PB_TYPE, SPB_TYPE, NRB_TYPE, ISB_TYPE, EPB_TYPE,
                     7, 8, 9, DSB_TYPE, *CUSTOM_TYPES)
PACKET_BLOCK_TYPES = (EPB_TYPE, SPB_TYPE, PB_TYPE)

BYTE_ORDER_MAGIC = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}

MIN_BLOCK_LEN = 12        # type, length, trailing length
MIN_SHB_LEN = 28
MIN_IDB_LEN = 20
EPB_FIXED_LEN = 32        # also PB: 28 bytes of header fields + trailing length
SPB_FIXED_LEN = 16
MAX_BLOCK_LEN = ABSURD_LENGTH + 4096

OPT_END = 0
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14
DEFAULT_TS_DIVISOR = 1_000_000   # no if_tsresol: microseconds

_UINT64_LIMIT = 1 << 64


class BrokenBlock(Exception):
    """A block whose framing or fixed fields make no sense (message says why)."""


class UnsupportedVersion(Exception):
    pass


@dataclass
class Interface:
    linktype: int
    snaplen: int
    ts_divisor: int = DEFAULT_TS_DIVISOR   # timestamp units per second
    ts_offset: int = 0                     # seconds added to every timestamp (if_tsoffset)

    def seconds(self, units: int) -> float:
        whole, frac = divmod(units, self.ts_divisor)
        return self.ts_offset + whole + frac / self.ts_divisor


class Section:
    """Byte order and interfaces of one section (everything an SHB resets)."""

    def __init__(self, byte_order: str):
        self.byte_order = byte_order
        self.head_at = struct.Struct(byte_order + "II").unpack_from
        self.u32_at = struct.Struct(byte_order + "I").unpack_from
        self.interfaces: list[Interface] = []
        self._tables = None

    def add_interface(self, interface: Interface) -> None:
        self.interfaces.append(interface)
        self._tables = None

    def tables(self, np):
        """Per-interface lookup arrays for the vectorised path."""
        if self._tables is None:
            ifs = self.interfaces
            self._tables = {
                "linktypes": np.array([i.linktype for i in ifs], dtype=np.int64),
                "exact": all(i.ts_divisor < _UINT64_LIMIT for i in ifs),
                "divisors": np.array([min(i.ts_divisor, _UINT64_LIMIT - 1) for i in ifs], dtype=np.uint64),
                "float_divisors": np.array([float(i.ts_divisor) for i in ifs], dtype=np.float64),
                "offsets": np.array([i.ts_offset for i in ifs], dtype=np.int64),
                "uniform": len({(i.ts_divisor, i.ts_offset) for i in ifs}) <= 1,
            }
        return self._tables


def parse_section_header(buf: bytes, pos: int) -> tuple[Section, int]:
    """Section and block length of the SHB at pos (whole block in buf, or the input ends)."""
    available = len(buf) - pos
    if available < MIN_BLOCK_LEN:
        raise BrokenBlock(f"it ends after {available} bytes")
    byte_order = BYTE_ORDER_MAGIC.get(buf[pos + 8:pos + 12])
    if byte_order is None:
        raise BrokenBlock(f"bad byte-order magic {buf[pos + 8:pos + 12].hex()}")
    (block_len,) = struct.unpack_from(byte_order + "I", buf, pos + 4)
    if block_len < MIN_SHB_LEN or block_len % 4 or block_len > MAX_BLOCK_LEN:
        raise BrokenBlock(f"bad block length {block_len}")
    if available < 16:
        raise BrokenBlock(f"it ends after {available} bytes")
    major, minor = struct.unpack_from(byte_order + "HH", buf, pos + 12)
    if major != 1:
        raise UnsupportedVersion(f"{major}.{minor}")
    if available < block_len:
        raise BrokenBlock(f"it ends after {available} of its {block_len} bytes")
    if struct.unpack_from(byte_order + "I", buf, pos + block_len - 4)[0] != block_len:
        raise BrokenBlock("its two length fields disagree")
    return Section(byte_order), block_len


def iter_options(buf: bytes, start: int, end: int, byte_order: str):
    """(code, value) of each option in buf[start:end]; stops at opt_endofopt or bad framing."""
    code_len_at = struct.Struct(byte_order + "HH").unpack_from
    pos = start
    while pos + 4 <= end:
        code, length = code_len_at(buf, pos)
        if code == OPT_END or pos + 4 + length > end:
            return
        yield code, buf[pos + 4:pos + 4 + length]
        pos += 4 + length + (-length % 4)   # values are padded to 32 bits


def parse_interface(buf: bytes, pos: int, block_len: int, byte_order: str) -> Interface:
    if block_len < MIN_IDB_LEN:
        raise BrokenBlock(f"interface description block of {block_len} bytes")
    linktype, _reserved, snaplen = struct.unpack_from(byte_order + "HHI", buf, pos + 8)
    interface = Interface(linktype & LINKTYPE_MASK, snaplen)
    for code, value in iter_options(buf, pos + 16, pos + block_len - 4, byte_order):
        if code == OPT_IF_TSRESOL and len(value) >= 1:
            # High bit clear: 10^-n seconds; set: 2^-n seconds.
            exponent = value[0] & 0x7F
            interface.ts_divisor = 2 ** exponent if value[0] & 0x80 else 10 ** exponent
        elif code == OPT_IF_TSOFFSET and len(value) >= 8:
            interface.ts_offset = struct.unpack_from(byte_order + "q", value)[0]
    return interface


def prescan_interfaces(buf: bytes, name: str) -> list[Interface]:
    """Check the first SHB and collect the interfaces defined before the first packet.

    Raises CaptureError for a file that cannot be read at all: broken or
    unsupported first section header.
    """
    return packet_section(buf, name)[0].interfaces


def packet_section(buf: bytes, name: str) -> tuple[Section, int]:
    """The first section as it stands before its first packet (byte order and the interfaces defined by
    then), and where that first packet block (or whatever ends the run of header blocks) starts."""
    try:
        section, pos = parse_section_header(buf, 0)
    except UnsupportedVersion as exc:
        raise CaptureError(f"unsupported pcapng version {exc} in {name} (only 1.x exists)") from None
    except BrokenBlock as exc:
        raise CaptureError(f"broken pcapng section header in {name}: {exc}") from None
    while pos + MIN_BLOCK_LEN <= len(buf):
        block_type, block_len = section.head_at(buf, pos)
        if (block_type in PACKET_BLOCK_TYPES or block_type == SHB_TYPE or block_len < MIN_BLOCK_LEN
                or block_len % 4 or pos + block_len > len(buf)):
            break
        if block_type == IDB_TYPE:
            try:
                section.add_interface(parse_interface(buf, pos, block_len, section.byte_order))
            except BrokenBlock:
                break
        pos += block_len
    return section, pos


def walk_epbs(buf: bytes, pos: int, head_at, u32_at, starts: list, stop: int | None = None) -> int:
    """Append the start of each well-framed EPB from pos on (starting before stop); return where the walk
    stopped."""
    buflen = len(buf)
    stop = buflen - 7 if stop is None else min(stop, buflen - 7)   # a block's type and length must be readable
    append = starts.append
    while pos < stop:
        block_type, block_len = head_at(buf, pos)
        end = pos + block_len
        if (block_type != EPB_TYPE or end > buflen or block_len < EPB_FIXED_LEN or block_len & 3
                or u32_at(buf, end - 4)[0] != block_len):
            break
        append(pos)
        pos = end
    return pos


def block_is_framed(buf: bytes, pos: int, section: Section) -> bool:
    if pos + MIN_BLOCK_LEN > len(buf):
        return False
    block_type, block_len = section.head_at(buf, pos)
    return (block_type in KNOWN_BLOCK_TYPES and MIN_BLOCK_LEN <= block_len <= MAX_BLOCK_LEN
            and not block_len & 3 and pos + block_len <= len(buf)
            and section.u32_at(buf, pos + block_len - 4)[0] == block_len)


def find_block_start(np, buf: bytes, lo: int, section: Section, min_chain: int,
                     ends_at_eof: bool, hi: int | None = None) -> int | None:
    """First position in [lo, hi) where a well-framed known block starts a chain of
    ``min_chain`` more well-framed blocks (or a chain ending exactly at the end
    of the input)."""
    last = len(buf) - MIN_BLOCK_LEN
    if hi is not None:
        last = min(last, hi - 1)
    u32 = u32_at_every_offset(np, buf, section.byte_order)
    known = np.array(KNOWN_BLOCK_TYPES, dtype=np.uint32)
    for slice_lo, count in scan_slices(lo, last):
        block_type = u32[slice_lo:slice_lo + count]
        block_len = u32[slice_lo + 4:slice_lo + 4 + count].astype(np.int64)
        positions = np.arange(slice_lo, slice_lo + count, dtype=np.int64)
        ok = np.isin(block_type, known) & (block_len >= MIN_BLOCK_LEN) & ((block_len & 3) == 0)
        ok &= positions + block_len <= len(buf)
        candidates = positions[ok]
        trailer_ok = u32[candidates + block_len[ok] - 4] == block_len[ok]
        for start in candidates[trailer_ok].tolist():
            pos = start
            for _ in range(min_chain):
                pos += section.head_at(buf, pos)[1]
                if pos == len(buf):
                    if ends_at_eof:
                        return start
                    break
                if not block_is_framed(buf, pos, section):
                    break
            else:
                return start
    return None


class PcapngWalker:
    """Turns the packet blocks of one pcapng stream into RecordBatches.

    Damage policy (counted in ``log``, never raised):

    * input ends inside a block: everything before is yielded,
      ``truncated_tail`` = 1 (or ``trailing_garbage_bytes`` when the tail does
      not look like the start of a block).
    * a block with an impossible length, or whose two length fields disagree:
      RESYNCHRONISE — scan up to 16 MiB ahead for a well-framed known block
      followed by two more, count one ``bad_records`` and the
      ``skipped_bytes``, carry on. Nothing found before the input ends: the
      rest is ``trailing_garbage_bytes``. Nothing within 16 MiB while the input
      goes on: STOP there with a warning.
    * a packet block naming an interface no IDB defined, or declaring more
      captured bytes than it holds: count in ``bad_records``, skip the block.
    * a later section with an unsupported version: stop with a warning.
    * SPBs carry no timestamp: they get the previous packet's timestamp.
    """

    def __init__(self, chunks, log: DamageLog, section: Section | None = None, end: int | None = None):
        """section, end: a worker's byte range of the file, starting at a block boundary past the header
        blocks, in the section they define; blocks starting at or after `end` are the next range's."""
        self.chunks = chunks
        self.log = log
        self.section: Section | None = section
        self.sections = 0 if section is None else 1
        # every interface of every section, in order
        self.interface_link_types: list[int] = [] if section is None else [i.linktype for i in section.interfaces]
        self.records = 0
        self.last_ts = 0.0
        self.reached_end_exactly = False
        self.end = end
        self.ranged = section is not None
        # a range is only exact without blocks whose meaning depends on what came before it: a new section or
        # interface (the following ranges would not know it), a simple packet block (it takes the previous
        # packet's time)
        self.self_contained = True

    def batches(self, max_records: int):
        import numpy as np

        chunks = self.chunks
        pos = 0
        pieces: list = []   # column dicts (EPB runs) and row lists (other packet blocks), in file order
        while True:
            buf = chunks.buf
            section = self.section
            stop = None if self.end is None else self.end - chunks.base
            if section is not None:
                run: list[int] = []
                pos = walk_epbs(buf, pos, section.head_at, section.u32_at, run, stop)
                if run:
                    columns = self._epb_columns(np, buf, run, section)
                    if columns is not None:
                        pieces.append(columns)
            if stop is not None and pos >= stop:
                yield from self._emit(np, buf, pieces, max_records)
                self.reached_end_exactly = pos == stop and self.self_contained
                return

            # The block at pos is not a whole, well-framed EPB, or buf has ended.
            if len(buf) - pos < MIN_BLOCK_LEN:
                yield from self._emit(np, buf, pieces, max_records)
                read_more = chunks.advance(pos, MIN_BLOCK_LEN)
                pos = 0
                if read_more:
                    continue
                self._input_ends(chunks.buf)
                return
            block_type = struct.unpack_from("<I", buf, pos)[0]   # SHB type reads the same either way
            if block_type == SHB_TYPE:
                order = BYTE_ORDER_MAGIC.get(buf[pos + 8:pos + 12], "<")
                block_len = struct.unpack_from(order + "I", buf, pos + 4)[0]
            else:
                block_type, block_len = section.head_at(buf, pos)
            framing_ok = MIN_BLOCK_LEN <= block_len <= MAX_BLOCK_LEN and not block_len & 3
            if framing_ok and pos + block_len > len(buf):          # block cut by the chunk
                yield from self._emit(np, buf, pieces, max_records)
                if not chunks.eof:
                    chunks.advance(pos, block_len)
                    pos = 0
                    continue
                self._input_ends(buf[pos:])
                return
            if block_type == SHB_TYPE and framing_ok:
                self.self_contained = not self.ranged
                try:
                    new_section, _ = parse_section_header(buf, pos)
                except UnsupportedVersion as exc:
                    yield from self._emit(np, buf, pieces, max_records)
                    self.log.counters["bad_records"] += 1   # the rest is not read: damage, not a footnote
                    self.log.note("unsupported_section",
                                  f"section {self.sections + 1} (byte {chunks.base + pos}) has unsupported "
                                  f"pcapng version {exc}; stopped reading there")
                    return
                except BrokenBlock:
                    framing_ok = False
                else:
                    self.section = new_section
                    self.sections += 1
                    pos += block_len
                    continue
            if not framing_ok or section.u32_at(buf, pos + block_len - 4)[0] != block_len:
                yield from self._emit(np, buf, pieces, max_records)
                pos = self._resync(np, pos, block_type, block_len)
                if pos is None:
                    return
                continue
            self._odd_block(buf, pos, block_type, block_len, pieces)
            pos += block_len

    # -- blocks the fast loop leaves to us ------------------------------------

    def _odd_block(self, buf, pos, block_type, block_len, pieces) -> None:
        section = self.section
        if block_type in (IDB_TYPE, SPB_TYPE):
            self.self_contained = not self.ranged
        if block_type == IDB_TYPE:
            try:
                interface = parse_interface(buf, pos, block_len, section.byte_order)
            except BrokenBlock as exc:
                self._bad_block(pos, f"has a broken {exc}")
                return
            section.add_interface(interface)
            self.interface_link_types.append(interface.linktype)
        elif block_type == EPB_TYPE:
            self._bad_block(pos, f"is an enhanced packet block of only {block_len} bytes")
        elif block_type == SPB_TYPE:
            self._simple_packet(buf, pos, block_len, pieces)
        elif block_type == PB_TYPE:
            self._obsolete_packet(buf, pos, block_len, pieces)
        # Anything else (NRB, ISB, DSB, custom, unknown) carries no packets.

    def _simple_packet(self, buf, pos, block_len, pieces) -> None:
        section = self.section
        if block_len < SPB_FIXED_LEN:
            self._bad_block(pos, f"is a simple packet block of only {block_len} bytes")
            return
        if not section.interfaces:
            self._unknown_interface(pos, 0)
            return
        interface = section.interfaces[0]     # an SPB always belongs to the section's first interface
        wirelen = section.u32_at(buf, pos + 8)[0]
        caplen = min(wirelen, block_len - SPB_FIXED_LEN)
        if interface.snaplen:
            caplen = min(caplen, interface.snaplen)
        self._add_row(pieces, pos + 12, caplen, wirelen, self.last_ts, interface.linktype)

    def _obsolete_packet(self, buf, pos, block_len, pieces) -> None:
        section = self.section
        if block_len < EPB_FIXED_LEN:
            self._bad_block(pos, f"is a packet block of only {block_len} bytes")
            return
        interface_id, _drops, ts_high, ts_low, caplen, wirelen = struct.unpack_from(
            section.byte_order + "HHIIII", buf, pos + 8)
        if interface_id >= len(section.interfaces):
            self._unknown_interface(pos, interface_id)
            return
        if caplen > block_len - EPB_FIXED_LEN:
            self._overlong_packet(pos, caplen, block_len - EPB_FIXED_LEN)
            return
        interface = section.interfaces[interface_id]
        self._add_row(pieces, pos + 28, caplen, wirelen, interface.seconds(ts_high << 32 | ts_low),
                      interface.linktype)

    def _add_row(self, pieces, offset, caplen, wirelen, ts, linktype) -> None:
        if not pieces or not isinstance(pieces[-1], list):
            pieces.append([])
        pieces[-1].append((offset, caplen, wirelen, ts, linktype))
        self.records += 1
        self.last_ts = ts

    def _epb_columns(self, np, buf, run, section):
        starts = np.array(run, dtype=np.int64)
        u32 = u32_at_every_offset(np, buf, section.byte_order)
        interface_ids = u32[starts + 8]
        caplens = u32[starts + 20].astype(np.int64)
        room = u32[starts + 4].astype(np.int64) - EPB_FIXED_LEN
        ok = (interface_ids < len(section.interfaces)) & (caplens <= room)
        if not ok.all():
            self._report_bad_epbs(np, starts, ok, interface_ids, caplens, room, len(section.interfaces))
            starts, interface_ids, caplens = starts[ok], interface_ids[ok], caplens[ok]
            if not len(starts):
                return None
        tables = section.tables(np)
        interface_ids = interface_ids.astype(np.intp)
        units = (u32[starts + 12].astype(np.uint64) << np.uint64(32)) | u32[starts + 16].astype(np.uint64)
        ts = self._timestamps(np, units, interface_ids, tables)
        self.records += len(starts)
        self.last_ts = float(ts[-1])
        return {
            "offsets": starts + 28,
            "caplens": caplens,
            "wirelens": u32[starts + 24].astype(np.int64),
            "ts": ts,
            "linktypes": tables["linktypes"][interface_ids],
        }

    @staticmethod
    def _timestamps(np, units, interface_ids, tables):
        """Seconds as float64: whole seconds and the fraction are split in
        integers first, so nanosecond timestamps keep their precision."""
        if not tables["exact"]:   # resolution finer than 2^-64 s: nothing better than float
            return units.astype(np.float64) / tables["float_divisors"][interface_ids] \
                + tables["offsets"][interface_ids]
        if tables["uniform"]:
            divisor = tables["divisors"][0]
            offset = int(tables["offsets"][0])
            seconds = units // divisor
            frac = units - seconds * divisor
            return (seconds.astype(np.int64) + offset).astype(np.float64) + frac / float(divisor)
        divisors = tables["divisors"][interface_ids]
        seconds = units // divisors
        frac = units - seconds * divisors
        return (seconds.astype(np.int64) + tables["offsets"][interface_ids]).astype(np.float64) \
            + frac / divisors.astype(np.float64)

    def _emit(self, np, buf, pieces, max_records):
        if not pieces:
            return
        columns = [piece if isinstance(piece, dict) else _rows_to_columns(np, piece) for piece in pieces]
        pieces.clear()
        yield from split_batch(make_batch(np, buf, columns), max_records)

    # -- damage -------------------------------------------------------------

    def _where(self, pos: int) -> str:
        return f"block at byte {self.chunks.base + pos}"

    def _bad_block(self, pos: int, what: str) -> None:
        self.log.counters["bad_records"] += 1
        self.log.note("bad_block", f"the {self._where(pos)} {what} (skipped)",
                      summary="{count} broken blocks were skipped")

    def _unknown_interface(self, pos: int, interface_id: int) -> None:
        self.log.counters["bad_records"] += 1
        self.log.note("unknown_interface",
                      f"the packet {self._where(pos)} refers to interface {interface_id}, which no "
                      "interface description block defined (skipped)",
                      summary="{count} packet blocks refer to an interface no interface description "
                              "block defined (skipped)")

    def _overlong_packet(self, pos: int, caplen: int, room: int) -> None:
        self.log.counters["bad_records"] += 1
        self.log.note("overlong_packet",
                      f"the packet {self._where(pos)} declares {caplen} captured bytes but holds "
                      f"only {max(room, 0)} (skipped)",
                      summary="{count} packet blocks declare more captured bytes than they hold (skipped)")

    def _report_bad_epbs(self, np, starts, ok, interface_ids, caplens, room, n_interfaces) -> None:
        for i in np.flatnonzero(~ok).tolist():
            if interface_ids[i] >= n_interfaces:
                self._unknown_interface(int(starts[i]), int(interface_ids[i]))
            else:
                self._overlong_packet(int(starts[i]), int(caplens[i]), int(room[i]))

    def _input_ends(self, tail: bytes) -> None:
        self.reached_end_exactly = self.self_contained
        if not tail:
            return
        note_cut_tail(self, len(tail), self._tail_is_plausible(tail), "mid-block", "block")

    def _tail_is_plausible(self, tail: bytes) -> bool:
        if len(tail) < 4:
            return True
        order = self.section.byte_order if self.section else "<"
        block_type = struct.unpack_from(order + "I", tail)[0]
        if block_type not in KNOWN_BLOCK_TYPES:
            return False
        if len(tail) >= 8 and block_type != SHB_TYPE:
            block_len = struct.unpack_from(order + "I", tail, 4)[0]
            return MIN_BLOCK_LEN <= block_len <= MAX_BLOCK_LEN and not block_len & 3
        return True

    def _trailing_garbage(self, nbytes: int) -> None:
        self.log.counters["trailing_garbage_bytes"] += nbytes
        self.log.note("trailing_garbage",
                      f"ignored {plural(nbytes, 'byte')} of garbage after the last block (record {self.records})")

    def _next_framed_block(self, np, pos: int) -> int | None:
        return find_block_start(np, self.chunks.buf, pos + 1, self.section, min_chain=2,
                                ends_at_eof=self.chunks.eof, hi=pos + RESYNC_WINDOW)

    def _resync(self, np, pos: int, block_type: int, block_len: int) -> int | None:
        where = self._where(pos)
        reason = (f"an impossible length ({block_len} bytes)"
                  if not (MIN_BLOCK_LEN <= block_len <= MAX_BLOCK_LEN and not block_len & 3)
                  else "two length fields that disagree")
        return resynchronise(self, pos, f"the {where}", reason, lambda at: self._next_framed_block(np, at),
                             "block", RESYNC_WINDOW, self._reached_end)

    def _reached_end(self) -> None:
        self.reached_end_exactly = self.self_contained


def _rows_to_columns(np, rows: list[tuple]) -> dict:
    offsets, caplens, wirelens, ts, linktypes = zip(*rows)
    return {
        "offsets": np.array(offsets, dtype=np.int64),
        "caplens": np.array(caplens, dtype=np.int64),
        "wirelens": np.array(wirelens, dtype=np.int64),
        "ts": np.array(ts, dtype=np.float64),
        "linktypes": np.array(linktypes, dtype=np.int64),
    }
