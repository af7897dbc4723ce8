"""A sliding window over the uncompressed capture bytes.

Walkers parse ``buf`` in place and, when a record or block runs past its end,
call ``advance`` to drop what they have parsed and append the next big read.
Only the unparsed tail (at most one record) is copied, so memory stays near
one chunk plus one maximum-size record.
"""
from __future__ import annotations

from .source import CHUNK_SIZE

MIN_READ, MAX_READ = 1 << 20, 16 << 20


class ChunkedInput:
    def __init__(self, source, first: bytes, base: int = 0):
        self.source = source
        self.buf = first
        self.base = base   # stream offset of buf[0]
        # A short first read already proves the input has ended.
        self.eof = False
        self.read_size = CHUNK_SIZE

    def fit(self, record_bytes: float, records: int) -> None:
        """Read about `records` records of this average size at a time: a batch's worth, so small
        packets do not hold a 16 MB window and big ones still fill a whole batch."""
        self.read_size = int(min(MAX_READ, max(MIN_READ, record_bytes * records * 1.1)))

    def advance(self, pos: int, min_len: int = 0) -> bool:
        """Drop buf[:pos] and read on until buf holds min_len bytes (or the input ends).

        Returns False when nothing new could be read (the input has ended).
        """
        keep = self.buf[pos:]
        self.base += pos
        if self.eof:
            self.buf = keep
            return False
        want = max(self.read_size, min_len - len(keep))
        more = self.source.read(want)
        if len(more) < want:
            self.eof = True
        self.buf = keep + more if keep else more
        return bool(more)

    def ensure(self, pos: int, length: int) -> int:
        """Make buf[pos:pos+length] available if the input has it; return the new pos."""
        if pos + length <= len(self.buf) or self.eof:
            return pos
        self.advance(pos, length)
        return 0
