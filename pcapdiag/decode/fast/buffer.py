"""The batch buffer as the fast decoder reads it: windows of bytes at per-row offsets, and checksums.

Every header is read from a window: a fixed number of bytes gathered at each row's header offset, one
numpy gather per layer (layouts.Layout gives the window's bytes their names). The outer UDP checksum of a
tunnel packet is summed over whole datagrams of the buffer at once.
"""
from __future__ import annotations

import numpy as np

from ...protocols import CSUM_BAD, CSUM_GOOD, CSUM_NONE, CSUM_PARTIAL, CSUM_UNCHECKED, IPPROTO_UDP, JUMBO_FRAME_MAX

_I64 = np.int64


class Buffer:
    """The batch buffer, with fixed-width windows of bytes gathered at any offsets.

    The first HEAD bytes of every record are gathered once (a single pass over the records'
    first cache lines); the header windows of the layers are then cut out of that compact copy,
    and only windows reaching past it are gathered from the buffer itself.
    """

    HEAD = 128

    def __init__(self, raw, start):
        self.u8 = np.frombuffer(raw, dtype=np.uint8)
        self.size = len(self.u8)
        self.start = start
        self._views: dict[int, np.ndarray] = {}
        self.head = self.gather(self.u8, self._views, np.maximum(start, 0), self.HEAD)
        self._head_views: dict[int, np.ndarray] = {}

    @staticmethod
    def gather(u8, views, pos, width):
        """(len(pos), width) uint8: bytes [pos, pos + width) of u8 per row (zeros past its end)."""
        k, size = len(pos), len(u8)
        if k == 0:
            return np.zeros((0, width), dtype=np.uint8)
        view = views.get(width)
        if view is None and size >= width:
            # one "void" item of `width` bytes at every byte offset: one gather copies a whole header
            view = views[width] = np.ndarray((size - width + 1,), dtype=np.dtype((np.void, width)),
                                             buffer=u8, strides=(1,))
        if int(pos.max()) <= size - width:
            return view[pos].view(np.uint8).reshape(k, width)
        out = np.zeros((k, width), dtype=np.uint8)
        near = pos > size - width
        inside = np.flatnonzero(~near)
        if len(inside):
            out[inside] = view[pos[inside]].view(np.uint8).reshape(len(inside), width)
        tail = np.flatnonzero(near)
        first = min(int(pos[tail].min()), size)
        padded = np.zeros(int(pos[tail].max()) - first + width, dtype=np.uint8)
        padded[:size - first] = u8[first:]
        out[tail] = padded[(pos[tail] - first)[:, None] + np.arange(width)]
        return out

    def window(self, rows, pos, width):
        """Bytes [pos, pos + width) of the buffer for records rows (pos: absolute buffer offsets)."""
        rel = pos - self.start[rows]
        inside = (rel >= 0) & (rel <= self.HEAD - width)
        flat = rows * self.HEAD + rel
        head = self.head.reshape(-1)
        if inside.all():
            return self.gather(head, self._head_views, flat, width)
        out = np.empty((len(rows), width), dtype=np.uint8)
        k = np.flatnonzero(inside)
        out[k] = self.gather(head, self._head_views, flat[k], width)
        k = np.flatnonzero(~inside)
        out[k] = self.gather(self.u8, self._views, pos[k], width)
        return out

    def byte(self, pos):
        return self.u8.take(pos).astype(_I64)



def take(idx, *arrays):
    """The rows idx (sorted, unique: np.flatnonzero) of each array."""
    if len(idx) == len(arrays[0]):        # everything
        return arrays
    return tuple(a.take(idx, axis=0) for a in arrays)


def udp_checksum_states(B, udp, t, plen, src, dst, wire, cut):
    """The reference's udp_checksum_state for the IPv4 UDP datagrams at t (udp: their headers, plen bytes each,
    src and dst: the IPv4 addresses). Returns (state, partial mask, unsure mask: rows to leave to the reference).
    """
    k = len(t)
    csum = udp.sum
    state = np.full(k, CSUM_NONE, dtype=_I64)
    unsure = np.zeros(k, dtype=bool)
    nonzero = csum != 0
    check = nonzero & (wire <= JUMBO_FRAME_MAX) & ~cut & (udp.ulen == plen)
    state[nonzero & ~check] = CSUM_UNCHECKED
    c = np.flatnonzero(check)
    if len(c):
        s = t[c]
        weighted = _weighted_sums(B, s, s + plen[c])
        if weighted is None:               # records overlap in the buffer: let the reference do it
            unsure[c] = True
        else:
            pseudo = (src[c] >> 16) + (src[c] & 0xFFFF) + (dst[c] >> 16) + (dst[c] & 0xFFFF) + IPPROTO_UDP + plen[c]
            # the big-endian word sum is 256 * weighted (s even) or weighted (s odd), modulo 0xFFFF
            body = np.where(s % 2 == 0, (weighted % 0xFFFF) * 256, weighted)
            total = _fold(pseudo + body)
            state[c] = np.where(total == 0xFFFF, CSUM_GOOD,
                                np.where(csum[c] == _fold(pseudo), CSUM_PARTIAL, CSUM_BAD))
    return state, state == CSUM_PARTIAL, unsure


def _fold(x):
    """The one's complement folding of dpkt.in_cksum (which the reference uses), for positive integer totals."""
    return (x - 1) % 0xFFFF + 1


def _weighted_sums(B, s, e):
    """For each byte range [s, e): the sum of its bytes weighted 1 at even and 256 at odd buffer offsets.

    Modulo 0xFFFF that is the little-endian 16-bit (or 32-bit) word sum, so the whole 32-bit
    words are summed by one np.add.reduceat over the buffer and the 0..3 edge bytes apart.
    Returns None when the ranges overlap (reduceat needs them disjoint and in order).
    """
    order = np.argsort(s, kind="stable")
    so, eo = s[order], e[order]
    a = (so + 3) // 4                 # first whole word
    b = np.maximum(a, eo // 4)        # end of the whole words
    if len(so) > 1 and np.any(a[1:] < b[:-1]):
        return None
    words = B.u8[:B.size // 4 * 4].view("<u4")
    sums = np.zeros(len(so), dtype=np.uint64)
    full = np.flatnonzero(b > a)
    if len(full):
        fa, fb = a[full], b[full]
        lo, hi = int(fa[0]), int(fb[-1])
        idx = np.empty(2 * len(full), dtype=_I64)
        idx[0::2] = fa - lo
        idx[1::2] = fb - lo
        # the last range runs to the end of the slice; every index reduceat gets is inside it
        sums[full] = np.add.reduceat(words[lo:hi], idx[:-1], dtype=np.uint64)[0::2]
    total = (sums % np.uint64(0xFFFF)).astype(_I64)
    head_end = np.minimum(4 * a, eo)
    for j in range(3):
        p = so + j                    # head bytes [s, 4a)
        m = np.flatnonzero(p < head_end)
        total[m] += B.byte(p[m]) << (8 * (p[m] & 1))
        p = 4 * b + j                 # tail bytes [4b, e)
        m = np.flatnonzero(p < eo)
        total[m] += B.byte(p[m]) << (8 * (p[m] & 1))
    result = np.empty(len(s), dtype=_I64)
    result[order] = total
    return result

