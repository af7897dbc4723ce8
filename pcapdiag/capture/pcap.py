"""Classic libpcap files: the file header, the record walk, resynchronisation.

File layout (https://www.tcpdump.org/manpages/pcap-savefile.5.html): a
24-byte file header, then records of a 16-byte header (ts_sec, ts_frac,
caplen, wirelen) and caplen bytes of packet data.

The walk is the hot loop of the product. It touches one field per record
(caplen, to find the next record) and appends the record's start to a list;
every other field is gathered afterwards for the whole chunk at once with
numpy, through an overlapping uint32 view that can read at any byte offset.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from .damage import DamageLog, be as _be, note_cut_tail, plural, resynchronise
from .errors import CaptureError
from .linktypes import LINKTYPE_MASK
from .records import make_batch, split_batch
from .sniff import PCAP_MAGICS

FILE_HEADER_LEN = 24

# libpcap refuses records longer than max(snaplen, 262144) (MAXIMUM_SNAPLEN);
# beyond 64 MiB no link layer can be meant, whatever the snaplen says.
LIBPCAP_MAX_SNAPLEN = 262144
ABSURD_LENGTH = 64 << 20

# Resynchronising looks this far ahead for the next valid record header.
RESYNC_WINDOW = 16 << 20
# A candidate header must agree with the capture's first timestamp this closely.
PLAUSIBLE_TS_SPAN = 10 * 365 * 86400


@dataclass(frozen=True)
class PcapHeader:
    byte_order: str          # "<" or ">"
    nanosecond: bool
    record_header_len: int   # 16, or 24 for the modified (Kuznetzov) format
    version: tuple[int, int]
    snaplen: int
    linktype: int

    @property
    def max_caplen(self) -> int:
        return min(max(self.snaplen, LIBPCAP_MAX_SNAPLEN), ABSURD_LENGTH)

    @property
    def ts_divisor(self) -> int:
        return 1_000_000_000 if self.nanosecond else 1_000_000


def parse_file_header(head: bytes, name: str) -> PcapHeader:
    flavour = PCAP_MAGICS[head[:4]]
    if len(head) < FILE_HEADER_LEN:
        raise CaptureError(f"truncated pcap file header in {name} "
                           f"(the file has {len(head)} of its {FILE_HEADER_LEN} bytes)")
    major, minor, _thiszone, _sigfigs, snaplen, linktype = struct.unpack_from(
        flavour.byte_order + "HHiIII", head, 4)
    return PcapHeader(flavour.byte_order, flavour.nanosecond, flavour.record_header_len,
                      (major, minor), snaplen, linktype & LINKTYPE_MASK)


def walk_records(buf: bytes, pos: int, stop: int, hdr_len: int, max_caplen: int,
                 caplen_at, starts: list, limit: int) -> int:
    """Append the start of each whole record from pos on; return where the walk stopped.

    Stops before a record that starts at or after ``stop``, runs past the end
    of ``buf``, or declares more than ``max_caplen`` bytes, and after ``limit``
    records (so a chunk of small records never builds more than a batch). ``stop``
    must be at most len(buf) - hdr_len + 1 so that every header read is in bounds.
    """
    buflen = len(buf)
    append = starts.append
    while pos < stop and len(starts) < limit:
        caplen = caplen_at(buf, pos + 8)[0]
        end = pos + hdr_len + caplen
        if end > buflen or caplen > max_caplen:
            break
        append(pos)
        pos = end
    return pos


LANE_BYTES = 32 << 10        # one lane of the lockstep walk per this many bytes of a chunk
LANE_WINDOW = 1600           # where a lane looks for its first record: more than a full-size Ethernet record
LANE_TS_SPAN = 86400         # a lane's first record is within a day of the chunk's first


def walk_lanes(np, buf: bytes, pos: int, stop: int, header: "PcapHeader", limit: int):
    """The record walk of a long stretch, vectorised: (starts of whole records from pos on, as an array;
    where walk_records must carry on).

    The stretch is cut into lanes; each lane starts at the first plausible record header near its nominal
    start, and all lanes walk in lockstep (one numpy step moves every lane one record on). A lane's records
    count only when the lane before it ended exactly where it began, so every record returned is on the
    true chain from pos: a false start (packet bytes that look like a header) only shortens the result,
    and the sequential walk does the rest, damage and all.
    """
    hdr_len = header.record_header_len
    lanes = min((stop - pos) // LANE_BYTES, 1 << 15)     # lane numbers fit the 16-bit sort below
    if lanes < 4 or limit < 4 * lanes:
        return np.zeros(0, dtype=np.int64), pos
    u32 = u32_at_every_offset(np, buf, header.byte_order)
    starts = _lane_starts(np, u32, np.frombuffer(buf, dtype=np.uint8), pos, lanes, header)
    if len(starts) < lanes // 2:
        # few lanes means long ones, and a step per record of the longest: the sequential walk is faster
        return np.zeros(0, dtype=np.int64), pos
    bound = np.append(starts[1:], stop)
    current = starts.copy()
    walked, walkers = [], []
    live = np.flatnonzero(current < bound)
    while len(live):
        at = current[live]
        caplen = u32[at + 8].astype(np.int64)
        following = at + hdr_len + caplen
        # a lane stops before anything the sequential walk must see for itself: a length past the limit or
        # the chunk, and an empty record (zero padding would otherwise be walked 16 bytes per step)
        whole = (caplen <= header.max_caplen) & (following <= len(buf)) & (caplen > 0)
        walked.append(at[whole])
        walkers.append(live[whole])
        current[live[whole]] = following[whole]
        bound[live[~whole]] = at[~whole]          # a lane stops before a record it cannot take
        live = live[whole]
        live = live[current[live] < bound[live]]
    # lanes 0..last are on the true chain: each lane before `last` ended exactly where the next one began
    chained = np.append(current[:-1] == starts[1:], False)
    last = int(np.argmin(chained))
    records = np.zeros(0, dtype=np.int64)
    if walked:
        # in file order: by lane (a stable radix sort on the lane number), each lane's records in step order
        records = np.concatenate(walked)[np.argsort(np.concatenate(walkers).astype(np.uint16), kind="stable")]
    if last + 1 < len(starts):
        records = records[records < starts[last + 1]]     # later lanes may have started falsely
    resume = int(current[last])                           # the next record, or one the lane could not take
    if len(records) > limit:
        resume, records = int(records[limit]), records[:limit]
    return records, resume


def _lane_starts(np, u32, raw, pos: int, lanes: int, header: "PcapHeader"):
    """pos, then for each further lane the first position in the window at its nominal start where a
    plausible record header is followed by another (lanes whose window has none are left out)."""
    span, first, count = LANE_BYTES, pos + LANE_BYTES, lanes - 1
    ref = int(u32[pos])
    # every window at once, as a (lane, offset) view of the top byte of the seconds field: within a chunk
    # records are close in time, so that byte is one of very few values -- a cheap, selective first test
    top_at = 3 if header.byte_order == "<" else 0
    top = np.lib.stride_tricks.as_strided(raw[first + top_at:], shape=(count, LANE_WINDOW), strides=(span, 1),
                                          writeable=False)
    tops = sorted({(max(ref - LANE_TS_SPAN, 0) >> 24) & 0xFF, (ref >> 24) & 0xFF, ((ref + LANE_TS_SPAN) >> 24) & 0xFF})
    near = top == tops[0]
    for value in tops[1:]:
        near |= top == value
    lane, offset = np.nonzero(near)
    at = first + lane * span + offset
    seconds = u32[at].astype(np.int64)
    keep = np.abs(seconds - ref) <= LANE_TS_SPAN
    lane, offset = lane[keep], offset[keep]
    at = first + lane * span + offset
    ok = _plausible_header(np, u32, at, header)
    following = at + header.record_header_len + u32[at + 8]
    ok &= following + header.record_header_len < len(u32)
    ok[ok] = _plausible_header(np, u32, following[ok], header)
    ok[ok] &= np.abs(u32[following[ok]].astype(np.int64) - ref) <= LANE_TS_SPAN
    lane, at = lane[ok], at[ok]
    firsts = np.flatnonzero(np.r_[True, lane[1:] != lane[:-1]]) if len(lane) else np.zeros(0, dtype=np.int64)
    return np.concatenate([[pos], at[firsts]]).astype(np.int64)


def _plausible_header(np, u32, at, header: "PcapHeader"):
    return sane_lengths_and_fraction(header, u32[at + 4], u32[at + 8], u32[at + 12])


def sane_lengths_and_fraction(header: "PcapHeader", frac, caplen, wirelen):
    """Vectorised over record header fields: the sub-second field in range, caplen <= wirelen, both lengths
    sane (HeaderCheck and the lanes' starts share this test)."""
    return ((frac < header.ts_divisor) & (caplen <= header.max_caplen) & (wirelen > 0)
            & (wirelen <= ABSURD_LENGTH) & (caplen <= wirelen))


def u32_at_every_offset(np, buf: bytes, byte_order: str):
    """A read-only uint32 view whose element i is the 4 bytes at buf[i:i+4]."""
    count = max(len(buf) - 3, 0)
    return np.ndarray((count,), dtype=byte_order + "u4", buffer=buf, offset=0, strides=(1,))


class HeaderCheck:
    """Is there a believable record header at a position nothing vouches for?

    Stricter than the walk: the sub-second field must be in range, caplen <=
    wirelen, lengths sane, and the timestamp within ten years of the
    capture's first record (when one is known).
    """

    def __init__(self, header: PcapHeader, ref_ts_sec: int | None):
        self.header = header
        self.ref_ts_sec = ref_ts_sec
        self._fields_at = struct.Struct(header.byte_order + "IIII").unpack_from

    def next_record(self, buf: bytes, pos: int) -> int:
        """Where the record whose header is at pos ends."""
        return pos + self.header.record_header_len + self._fields_at(buf, pos)[2]

    def at(self, buf: bytes, pos: int) -> bool:
        ts_sec, frac, caplen, wirelen = self._fields_at(buf, pos)
        header = self.header
        return (frac < header.ts_divisor and caplen <= header.max_caplen
                and 0 < wirelen <= ABSURD_LENGTH and caplen <= wirelen
                and (self.ref_ts_sec is None or abs(ts_sec - self.ref_ts_sec) <= PLAUSIBLE_TS_SPAN))

    def candidates(self, np, u32, lo: int, count: int):
        """Positions lo..lo+count-1 that pass ``at``, vectorised over slices of the view."""
        header = self.header
        ts_sec = u32[lo:lo + count]
        frac = u32[lo + 4:lo + 4 + count]
        caplen = u32[lo + 8:lo + 8 + count]
        wirelen = u32[lo + 12:lo + 12 + count]
        ok = sane_lengths_and_fraction(header, frac, caplen, wirelen)
        if self.ref_ts_sec is not None:
            ok &= ts_sec >= max(self.ref_ts_sec - PLAUSIBLE_TS_SPAN, 0)
            ok &= ts_sec <= self.ref_ts_sec + PLAUSIBLE_TS_SPAN
        return np.flatnonzero(ok) + lo


def scan_slices(lo: int, last: int):
    """(start, count) slices covering positions lo..last, small ones first.

    The next good record is usually close to the damage, so a short first
    slice finds it without building masks over the whole window.
    """
    size = 1 << 16
    while lo <= last:
        count = min(size, last + 1 - lo)
        yield lo, count
        lo += count
        size = 1 << 20


def find_record_start(np, buf: bytes, lo: int, header: PcapHeader, ref_ts_sec: int | None,
                      min_chain: int, ends_at_eof: bool, hi: int | None = None) -> int | None:
    """First position in [lo, hi) where a plausible header starts a chain of records.

    A candidate is accepted when it and the ``min_chain`` records after it all
    have plausible headers, or when its chain lands exactly on the end of the
    input (``ends_at_eof``: the buffer holds the last byte of the capture).
    """
    hdr_len = header.record_header_len
    last = len(buf) - hdr_len          # last position where a whole header fits
    if hi is not None:
        last = min(last, hi - 1)
    check = HeaderCheck(header, ref_ts_sec)
    u32 = u32_at_every_offset(np, buf, header.byte_order)
    for slice_lo, count in scan_slices(lo, last):
        for start in check.candidates(np, u32, slice_lo, count).tolist():
            if _chains(buf, start, check, min_chain, ends_at_eof):
                return start
    return None


def _chains(buf: bytes, start: int, check: HeaderCheck, min_chain: int, ends_at_eof: bool) -> bool:
    """Do the min_chain records after the one at start all look real?"""
    last = len(buf) - check.header.record_header_len
    pos = start
    for _ in range(min_chain):
        pos = check.next_record(buf, pos)
        if pos == len(buf):
            return ends_at_eof
        if pos > last or not check.at(buf, pos):
            return False
    return True


class PcapWalker:
    """Turns the records of one classic pcap stream into RecordBatches.

    Damage policy (counted in ``log``, never raised):

    * input ends inside a record or record header: everything before is
      yielded, ``truncated_tail`` = 1. A tail too short to be a header and not
      plausible as one is counted as ``trailing_garbage_bytes`` instead.
    * a record header with an impossible length (caplen > max(snaplen,
      262144), or above 64 MiB) or a header of all zeros: the walk
      RESYNCHRONISES — it scans up to 16 MiB ahead for the next plausible
      header that starts a chain of 3 plausible records (or a chain ending
      exactly at the end of the input), counts one ``bad_records`` and the
      ``skipped_bytes``, and carries on from there. If nothing plausible
      follows before the input ends, the rest is ``trailing_garbage_bytes``.
      If nothing is found within 16 MiB and the input goes on, the walk STOPS
      there with a warning (reading further would be guessing).
    * caplen > wirelen and timestamps going backwards are counted by the
      Capture as the batches pass; the records are kept.
    """

    def __init__(self, chunks, header: PcapHeader, log: DamageLog, start_pos: int,
                 end: int | None = None):
        self.chunks = chunks
        self.header = header
        self.log = log
        self.pos = start_pos          # in chunks.buf
        self.end = end                # stream offset where records must stop starting
        self.records = 0
        self.ref_ts_sec: int | None = None
        self.reached_end_exactly = False

    def batches(self, max_records: int):
        import numpy as np

        chunks, header = self.chunks, self.header
        hdr_len = header.record_header_len
        caplen_at = struct.Struct(header.byte_order + "I").unpack_from
        max_caplen = header.max_caplen
        pos = self.pos
        while True:
            buf = chunks.buf
            stop = len(buf) - hdr_len + 1
            if self.end is not None:
                stop = min(stop, self.end - chunks.base)
            walked_from = pos
            lane_starts, pos = walk_lanes(np, buf, pos, stop, header, max_records)
            rest: list[int] = []
            pos = walk_records(buf, pos, stop, hdr_len, max_caplen, caplen_at, rest, max_records - len(lane_starts))
            starts = np.concatenate([lane_starts, np.array(rest, dtype=np.int64)]) if rest else lane_starts
            limited = len(starts) == max_records
            if len(starts):
                chunks.fit((pos - walked_from) / len(starts), max_records)
            zero_header_at = None
            if len(starts):
                columns, zero_header_at = self._columns(np, buf, starts)
                n = len(columns["offsets"])
                self.records += n
                if zero_header_at is not None:
                    pos = int(starts[zero_header_at])
                if n:
                    yield from split_batch(make_batch(np, buf, [columns]), max_records)

            if self.end is not None and chunks.base + pos >= self.end:
                self.reached_end_exactly = chunks.base + pos == self.end
                return
            if limited and zero_header_at is None:
                continue                                           # a full batch: walk on in this chunk
            if zero_header_at is None:
                if pos + hdr_len > len(buf):                      # header cut by the chunk
                    read_more = chunks.advance(pos, hdr_len)
                    pos = 0
                    if read_more:
                        continue
                    self._input_ends_mid_header()
                    return
                caplen = caplen_at(buf, pos + 8)[0]
                if caplen <= max_caplen:                           # record cut by the chunk
                    if not chunks.eof:
                        chunks.advance(pos, hdr_len + caplen)
                        pos = 0
                        continue
                    self._input_ends_mid_record(pos)
                    return
                reason = f"an impossible captured length ({caplen} bytes)"
            else:
                reason = "a header of all zeros"
            pos = self._resync(np, pos, reason)
            if pos is None:
                return

    def _columns(self, np, buf: bytes, starts):
        header = self.header
        starts_arr = np.asarray(starts, dtype=np.int64)
        # the four header fields of every record: one gather of 16 bytes per record, read as four uint32
        raw = np.frombuffer(buf, dtype=np.uint8)
        every_header = np.lib.stride_tricks.as_strided(raw, shape=(max(len(raw) - 15, 0), 16), strides=(1, 1),
                                                       writeable=False)
        fields = every_header[starts_arr].view(header.byte_order + "u4")
        ts_sec, frac = fields[:, 0], fields[:, 1]
        caplens, wirelens = fields[:, 2].astype(np.int64), fields[:, 3].astype(np.int64)
        # Zero padding (preallocated or badly closed files) walks as 16-byte
        # "records" of length 0; no real record has a zero header.
        zero = (ts_sec | frac | caplens | wirelens) == 0
        zero_header_at = int(np.argmax(zero)) if zero.any() else None
        if zero_header_at is not None:
            keep = zero_header_at
            starts_arr, ts_sec, frac = starts_arr[:keep], ts_sec[:keep], frac[:keep]
            caplens, wirelens = caplens[:keep], wirelens[:keep]
        if self.ref_ts_sec is None and len(ts_sec):
            self.ref_ts_sec = int(ts_sec[0])
        # Same arithmetic as dpkt (sec + frac / 1e6) so timestamps compare equal.
        ts = ts_sec.astype(np.float64) + frac / float(header.ts_divisor)
        columns = {
            "offsets": starts_arr + header.record_header_len,
            "caplens": caplens,
            "wirelens": wirelens,
            "ts": ts,
            "linktypes": np.full(len(starts_arr), header.linktype, dtype=np.int64),
        }
        return columns, zero_header_at

    # -- damage -------------------------------------------------------------

    def _where(self, pos: int) -> str:
        return f"record {self.records + 1} (byte {self.chunks.base + pos})"

    def _input_ends_mid_header(self) -> None:
        buf = self.chunks.buf
        self._reached_input_end()
        if not buf:
            return
        note_cut_tail(self, len(buf), self._tail_is_plausible(buf), "mid-record", "record header")

    def _tail_is_plausible(self, tail: bytes) -> bool:
        """Could these few bytes be the start of a record header? Without four
        bytes there is nothing to judge, so a cut header is assumed."""
        header = self.header
        fields = [struct.unpack_from(header.byte_order + "I", tail, at)[0]
                  for at in range(0, min(len(tail), 16) - 3, 4)]
        if fields and self.ref_ts_sec is not None and abs(fields[0] - self.ref_ts_sec) > PLAUSIBLE_TS_SPAN:
            return False
        if len(fields) > 1 and fields[1] >= header.ts_divisor:
            return False
        if len(fields) > 2 and fields[2] > header.max_caplen:
            return False
        return True

    def _input_ends_mid_record(self, pos: int) -> None:
        buf = self.chunks.buf
        tail = len(buf) - pos
        self._reached_input_end()
        if not self._tail_is_plausible(buf[pos:pos + 16]):
            self._trailing_garbage(tail)
            return
        self.log.counters["truncated_tail"] = 1
        self.log.note("truncated_tail",
                      f"file ends mid-record after {plural(self.records, 'record')} (the last "
                      f"{plural(tail, 'byte')} {_be(tail)} an incomplete record)")

    def _trailing_garbage(self, nbytes: int) -> None:
        self.log.counters["trailing_garbage_bytes"] += nbytes
        self.log.note("trailing_garbage",
                      f"ignored {plural(nbytes, 'byte')} of garbage after the last record (record {self.records})")

    def _reached_input_end(self) -> None:
        end_of_input = self.chunks.base + len(self.chunks.buf)
        self.reached_end_exactly = self.end is None or self.end >= end_of_input

    def _next_plausible_record(self, np, pos: int) -> int | None:
        return find_record_start(np, self.chunks.buf, pos + 1, self.header, self.ref_ts_sec,
                                 min_chain=2, ends_at_eof=self.chunks.eof, hi=pos + RESYNC_WINDOW)

    def _resync(self, np, pos: int, reason: str) -> int | None:
        """Find the next plausible record after a damaged header at pos (see class doc)."""
        return resynchronise(self, pos, self._where(pos), reason, lambda at: self._next_plausible_record(np, at),
                             "record", RESYNC_WINDOW, self._reached_input_end)
