"""What capture/ hands to decode/: one Record, or a RecordBatch of many.

A RecordBatch is columns over one shared buffer, so the fast decoder can work
on whole arrays and nothing is copied per packet.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported lazily so that importing capture/ stays cheap
    import numpy as np


@dataclass(slots=True)
class Record:
    ts: float        # seconds since the epoch
    caplen: int      # bytes captured (len(data))
    wirelen: int     # the packet's original length on the wire
    linktype: int    # LINKTYPE_* number of this record's interface
    data: bytes


@dataclass
class RecordBatch:
    """Records i = 0..n-1: data is buf[offsets[i] : offsets[i] + caplens[i]]."""

    buf: bytes
    offsets: "np.ndarray"    # int64
    caplens: "np.ndarray"    # int64
    wirelens: "np.ndarray"   # int64
    ts: "np.ndarray"         # float64, seconds
    linktypes: "np.ndarray"  # int64
    # The number of record 0 as Wireshark numbers frames: 1 for a file's first record. A reader of a byte
    # range of a file (open_capture(path, start, end)) numbers from 1 at the range's start, not knowing
    # how many records came before it: whoever joins the ranges shifts the later ones.
    first_frame: int = 1

    def __len__(self) -> int:
        return len(self.offsets)

    def data(self, i: int) -> bytes:
        start = int(self.offsets[i])
        return self.buf[start:start + int(self.caplens[i])]

    def slice(self, lo: int, hi: int) -> "RecordBatch":
        """Records lo..hi-1, sharing the buffer."""
        return RecordBatch(self.buf, self.offsets[lo:hi], self.caplens[lo:hi],
                           self.wirelens[lo:hi], self.ts[lo:hi], self.linktypes[lo:hi], self.first_frame + lo)

    def records(self):
        buf = self.buf
        for start, caplen, wirelen, ts, linktype in zip(
                self.offsets.tolist(), self.caplens.tolist(), self.wirelens.tolist(),
                self.ts.tolist(), self.linktypes.tolist()):
            yield Record(ts, caplen, wirelen, linktype, buf[start:start + caplen])


def make_batch(np: Any, buf: bytes, columns: list[dict]) -> RecordBatch:
    """One batch from pieces of columns (dicts of arrays) over the same buffer."""
    names = ("offsets", "caplens", "wirelens", "ts", "linktypes")
    if len(columns) == 1:
        return RecordBatch(buf, *(columns[0][name] for name in names))
    return RecordBatch(buf, *(np.concatenate([piece[name] for piece in columns]) for name in names))


def split_batch(batch: RecordBatch, max_records: int):
    """Yield the batch in slices of at most max_records."""
    n = len(batch)
    if n <= max_records:
        if n:
            yield batch
        return
    for lo in range(0, n, max_records):
        yield batch.slice(lo, min(lo + max_records, n))
