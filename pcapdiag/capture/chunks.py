"""A sliding window over the uncompressed capture bytes.

Walkers parse ``buf`` in place and, when a record or block runs past its end,
call ``advance`` to drop what they have parsed and append the next big read.
Only the unparsed tail (at most one record) is copied, so memory stays near
one chunk plus one maximum-size record.

A regular uncompressed file is not read at all past the first chunk: each
window is mapped (mmap) straight from the page cache, so nothing is copied;
the window before is unmapped as soon as the last array viewing it is gone,
which keeps the resident set to about two windows.
"""
from __future__ import annotations

import os

from .source import CHUNK_SIZE

MIN_READ, MAX_READ = 1 << 20, 16 << 20


class ChunkedInput:
    def __init__(self, source, first, base: int = 0, mapped=None):
        self.source = source
        self.buf = first
        self.base = base   # stream offset of buf[0]
        # A short first read already proves the input has ended.
        self.eof = False
        self.read_size = CHUNK_SIZE
        self.mapped = mapped   # MappedFile of the input, or None: read and copy

    def fit(self, record_bytes: float, records: int) -> None:
        """Read about `records` records of this average size at a time: a batch's worth, so small
        packets do not hold a 16 MB window and big ones still fill a whole batch."""
        self.read_size = int(min(MAX_READ, max(MIN_READ, record_bytes * records * 1.1)))

    def advance(self, pos: int, min_len: int = 0) -> bool:
        """Drop buf[:pos] and read on until buf holds min_len bytes (or the input ends).

        Returns False when nothing new could be read (the input has ended).
        """
        if self.mapped is not None and not self.eof:
            return self._map_next(pos, min_len)
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

    def _map_next(self, pos: int, min_len: int) -> bool:
        keep = len(self.buf) - pos
        self.base += pos
        # the same window the copying path builds: the unparsed tail, then a read's worth
        want = keep + max(self.read_size, min_len - keep)
        self.buf = self.mapped.window(self.base, want)
        self.eof = len(self.buf) < want      # the file, as long as it is now, ends inside this window
        self.source.bytes_read = max(self.source.bytes_read, self.base + len(self.buf))
        return len(self.buf) > keep


class MappedFile:
    """Windows of a regular file mapped read-only (a window is a memoryview; the mapping lives as long as
    anything views it). The file's length is taken afresh for every window, so a capture still being
    written is read as far as it has got, as reading it would."""

    def __init__(self, fileobj):
        self.fileobj = fileobj

    def window(self, offset: int, length: int):
        import mmap

        fileno = self.fileobj.fileno()      # a closed file raises here, as a read would
        length = min(length, os.fstat(fileno).st_size - offset)
        if length <= 0:
            return memoryview(b"")
        aligned = offset - offset % mmap.ALLOCATIONGRANULARITY
        # MAP_POPULATE: the kernel maps the whole window in one go, cheaper than a fault per page later
        mapping = mmap.mmap(fileno, length + offset - aligned, offset=aligned, prot=mmap.PROT_READ,
                            flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0))
        return memoryview(mapping)[offset - aligned:]


def mapped_file(fileobj, size):
    """A MappedFile for a regular file that can be mapped, else None (pipes, stdin, odd filesystems)."""
    import mmap

    if size is None or size == 0:
        return None
    try:
        mmap.mmap(fileobj.fileno(), min(size, 4096), access=mmap.ACCESS_READ).close()
    except (OSError, ValueError, AttributeError):
        return None
    return MappedFile(fileobj)
