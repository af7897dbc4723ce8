"""Where capture bytes come from: a file, stdin, or a gzip stream of either.

A ``ByteSource`` hands out the *uncompressed* bytes in order and in big
pieces, and keeps the on-disk numbers a progress bar needs (``size``,
``bytes_read``). Memory stays bounded: nothing here holds more than the piece
asked for (gzip output is capped with ``max_length``, so a decompression bomb
cannot blow up a read).
"""
from __future__ import annotations

import errno
import os
import stat
import sys
import zlib

from .errors import CaptureError

# Big reads keep the per-read Python overhead negligible next to the record walk.
CHUNK_SIZE = 16 << 20

# Compressed bytes per inflate call: zlib raises on corrupt data and drops that
# call's output, so small feeds keep nearly everything before the damage.
FEED_SIZE = 64 << 10


def display_name(path: str) -> str:
    return "stdin" if path == "-" else path


def open_raw(path: str):
    """Open ``path`` (or stdin for "-") for binary reading.

    Returns (file object, on-disk size or None, seekable). Every OS failure
    becomes a one-line CaptureError.
    """
    if path == "-":
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        return stream, _regular_file_size(stream), False
    try:
        if os.path.isdir(path):
            raise CaptureError(f"is a directory, not a capture file: {path}")
        fileobj = open(path, "rb", buffering=0)
    except CaptureError:
        raise
    except FileNotFoundError:
        raise CaptureError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise CaptureError(f"is a directory, not a capture file: {path}") from None
    except PermissionError:
        raise CaptureError(f"permission denied: {path}") from None
    except OSError as exc:
        raise CaptureError(f"cannot open {path}: {exc.strerror or exc}") from None
    size = _regular_file_size(fileobj)
    return fileobj, size, size is not None


def _regular_file_size(fileobj) -> int | None:
    try:
        info = os.fstat(fileobj.fileno())
    except (OSError, AttributeError, ValueError):
        return None  # e.g. a test double for stdin, or a pipe we cannot stat
    return info.st_size if stat.S_ISREG(info.st_mode) else None


class RawSource:
    """Uncompressed bytes straight from the file object."""

    compressed = False

    def __init__(self, fileobj, name: str, size: int | None, prefix: bytes = b""):
        self.file = fileobj
        self.name = name
        self.size = size
        self._prefix = prefix       # bytes already read while sniffing
        self.bytes_read = len(prefix)
        self.notes: list[tuple[str, str]] = []  # (kind, sentence) for the capture's warnings

    def read(self, n: int) -> bytes:
        """Up to n bytes; fewer only at the end of the input."""
        parts = []
        have = 0
        if self._prefix:
            parts.append(self._prefix[:n])
            have = len(parts[0])
            self._prefix = self._prefix[have:]
        while have < n:
            data = _read_some(self.file, n - have, self.name)
            if not data:
                break
            parts.append(data)
            have += len(data)
            self.bytes_read += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)


def _read_some(fileobj, n: int, name: str) -> bytes:
    try:
        return fileobj.read(n) or b""
    except IsADirectoryError:
        raise CaptureError(f"is a directory, not a capture file: {name}") from None
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise CaptureError(f"is a directory, not a capture file: {name}") from None
        raise CaptureError(f"cannot read {name}: {exc.strerror or exc}") from None


class GzipSource:
    """Streaming gunzip of a RawSource.

    Handles concatenated gzip members (``cat a.gz b.gz`` is a valid gzip
    file). A stream that stops before its end marker, or holds corrupt
    deflate data, yields what decompressed and leaves a note: the capture
    then reports a warning rather than failing.
    """

    compressed = True

    def __init__(self, raw: RawSource):
        self._raw = raw
        self.name = raw.name
        self.size = raw.size
        self.notes = raw.notes
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # 16+: gzip header and trailer
        self._pending_input = memoryview(b"")   # compressed bytes not yet given to the inflater
        self._member_started = False   # the current member has received input
        self._members_done = 0
        self._finished = False
        self.ignored_bytes = 0          # bytes after the last gzip member that are not gzip

    @property
    def bytes_read(self) -> int:
        return self._raw.bytes_read

    def read(self, n: int) -> bytes:
        parts = []
        have = 0
        while have < n and not self._finished:
            data = self._inflater.unconsumed_tail or self._next_feed()
            if not data:
                self._end_of_input()
                break
            first_input_of_member = not self._member_started
            self._member_started = True
            try:
                out = self._inflater.decompress(data, n - have)
            except zlib.error as exc:
                self._finished = True
                if self._members_done and first_input_of_member:
                    unread = self.size - self._raw.bytes_read if self.size is not None else 0
                    self.ignored_bytes = len(data) + len(self._pending_input) + max(unread, 0)
                    self.notes.append(("gzip_trailing", "ignored bytes after the end of the gzip stream"))
                else:
                    self.notes.append(("gzip_corrupt", f"the gzip data is corrupt ({exc}); "
                                                       "analysed what decompressed before it"))
                break
            parts.append(out)
            have += len(out)
            if self._inflater.eof:
                self._members_done += 1
                self._start_next_member(self._inflater.unused_data + bytes(self._pending_input))
        return b"".join(parts)

    def _next_feed(self):
        """The next FEED_SIZE compressed bytes (a zero-copy slice), or empty at the end."""
        if not self._pending_input:
            self._pending_input = memoryview(self._raw.read(CHUNK_SIZE))
        feed = self._pending_input[:FEED_SIZE]
        self._pending_input = self._pending_input[FEED_SIZE:]
        return feed

    def _start_next_member(self, leftover: bytes) -> None:
        if leftover and not leftover.strip(b"\x00"):
            # Zero padding after the last member (tape/block devices add it): not data.
            leftover = b""
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending_input = memoryview(leftover)
        self._member_started = False

    def _end_of_input(self) -> None:
        self._finished = True
        if self._member_started and not self._inflater.eof:
            self.notes.append(("gzip_truncated", "the gzip stream ends early (truncated compressed file); "
                                                 "analysed what decompressed"))
