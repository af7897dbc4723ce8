"""The fast decoder's output: a batch's columns as the stages fill them, and the Facts made of them.

Text columns (addresses, MACs, encapsulation) leave as TextColumns: codes into a table of the batch's
distinct texts, each formatted once, with their int64 keys (facts.text_key) computed from the numbers.
"""
from __future__ import annotations

import socket

import numpy as np

from ...grouping import factorize
from ...protocols import JUMBO_FRAME_MAX
from ..facts import COLUMNS, MAC_KEY_BASE, UNKNOWN_KEY, Facts, TextColumn, key_columns, text_key

_I64 = np.int64
ENCAP_NAMES = ("", "native", "vxlan", "ipip", "non-ip", "geneve")
ENC_NATIVE, ENC_VXLAN, ENC_IPIP, ENC_NON_IP, ENC_GENEVE = 1, 2, 3, 4, 5
_ENCAP_TEXTS = np.array(ENCAP_NAMES + ("",), dtype=object)    # a TextColumn's table: "" last, for code -1
_ENCAP_KEYS = np.array([text_key(name) for name in ENCAP_NAMES], dtype=np.int64)


class Columns:
    """The columns of one batch at their missing values, filled as layers decode; the records' own columns
    (frame, ts, lengths, link type) set from the batch."""

    def __init__(self, batch):
        n = self.n = len(batch.offsets)
        self.cols: dict[str, np.ndarray] = {}
        for name, kind, missing in COLUMNS:
            if kind == "i":
                self.cols[name] = np.full(n, missing, dtype=_I64)
            elif kind == "b":
                self.cols[name] = np.full(n, missing, dtype=bool)
            elif kind == "f":
                self.cols[name] = np.full(n, missing, dtype=np.float64)
        self.start = np.asarray(batch.offsets, dtype=_I64)     # of each record's bytes in the buffer
        self.caplen = np.asarray(batch.caplens, dtype=_I64)
        self.wirelen = np.asarray(batch.wirelens, dtype=_I64)
        self.linktype = np.asarray(batch.linktypes, dtype=_I64)
        self.end = self.start + self.caplen
        self.cut = self.caplen < self.wirelen          # snaplen-cut: IP lengths may run past the bytes
        cols = self.cols
        cols["frame"] = batch.first_frame + np.arange(n, dtype=_I64)
        cols["ts"] = np.array(batch.ts, dtype=np.float64)
        cols["caplen"] = self.caplen.copy()
        cols["wirelen"] = self.wirelen.copy()
        cols["linktype"] = self.linktype.copy()
        cols["offload"] = self.wirelen > JUMBO_FRAME_MAX
        self.enc = np.zeros(n, dtype=np.int8)
        self.done = np.zeros(n, dtype=bool)        # every column of the row is set
        self.addr_rows, self.addr_src, self.addr_dst = [], [], []      # (rows, outer src, outer dst)
        self.inner_rows, self.inner_src, self.inner_dst = [], [], []
        # the same for IPv6 headers: (rows, 16-byte source and destination addresses as (k, 16) arrays)
        self.addr6_rows, self.addr6_src, self.addr6_dst = [], [], []
        self.inner6_rows, self.inner6_src, self.inner6_dst = [], [], []
        self.mac_rows, self.mac_src, self.mac_dst = [], [], []

    def __setitem__(self, key, value):
        name, rows = key
        self.cols[name][rows] = value


class TextTables:
    """Turns filled Columns into Facts, remembering the texts of addresses and MACs across batches."""

    def __init__(self):
        self._addr_cache: dict[int, str] = {}
        self._addr6_cache: dict[bytes, tuple] = {}     # 16 bytes -> (text, key)
        self._mac_cache: dict[int, str] = {}

    @staticmethod
    def _pair_texts(keys, cache, fmt_pair):
        """Factorize pair keys; the (first, second) texts per unique key, "" appended (code -1 -> last)."""
        codes, uniques = factorize(keys)
        first = np.empty(len(uniques) + 1, dtype=object)
        second = np.empty(len(uniques) + 1, dtype=object)
        first[-1] = second[-1] = ""
        for j, key in enumerate(uniques.tolist()):
            texts = cache.get(key)
            if texts is None:
                if len(cache) > 1 << 16:
                    cache.clear()
                texts = cache[key] = fmt_pair(key)
            first[j], second[j] = texts
        return codes, first, second

    def _address_columns(self, out, n):
        """outer_src, outer_dst, inner_src, inner_dst: codes into the texts of the batch's distinct addresses,
        each formatted once (one factorisation of all the 32-bit IPv4 addresses, one of all the 16-byte IPv6
        ones); and their keys (facts.text_key: an IPv4 address's own 32 bits, an IPv6 address's digest)."""
        cache, cache6 = self._addr_cache, self._addr6_cache
        for kept in (cache, cache6):
            if len(kept) > 1 << 16:
                kept.clear()
        # per version: the rows of the outer and of the inner headers, and their addresses in the order
        # outer source, inner source, outer destination, inner destination
        v4_rows = (np.concatenate(out.addr_rows), np.concatenate(out.inner_rows))
        v4 = [np.concatenate(part) for part in (out.addr_src, out.inner_src, out.addr_dst, out.inner_dst)]
        codes4, uniques = factorize(np.concatenate(v4))
        texts = []
        for address in uniques.tolist():
            text = cache.get(address)
            if text is None:
                text = cache[address] = socket.inet_ntoa(address.to_bytes(4, "big"))
            texts.append(text)
        keys4 = np.concatenate(v4)
        v6_rows = (_joined(out.addr6_rows), _joined(out.inner6_rows))
        v6 = [_joined(part, (0, 16), np.uint8)
              for part in (out.addr6_src, out.inner6_src, out.addr6_dst, out.inner6_dst)]
        packed = np.ascontiguousarray(np.concatenate(v6)).view(np.dtype((np.void, 16))).ravel()
        uniques6, inverse = np.unique(packed, return_inverse=True)
        spelled = []
        for raw in uniques6.tolist():
            found = cache6.get(raw)
            if found is None:
                text = socket.inet_ntop(socket.AF_INET6, raw)
                found = cache6[raw] = (text, text_key(text))
            spelled.append(found)
        inverse = inverse.reshape(-1)
        codes6 = len(texts) + inverse
        keys6 = np.array([key for _, key in spelled], dtype=_I64).take(inverse)
        table = np.empty(len(texts) + len(spelled) + 1, dtype=object)
        table[:len(texts)] = texts
        table[len(texts):-1] = [text for text, _ in spelled]
        table[-1] = ""                          # code -1: no address
        text, known = {}, {}
        for side, (outer_part, inner_part) in (("src", (0, 1)), ("dst", (2, 3))):
            codes, keys = {}, {}
            for name, part in (("outer", outer_part), ("inner", inner_part)):
                codes[name] = [_part(codes4, v4, part), _part(codes6, v6, part)]
                keys[name] = [_part(keys4, v4, part), _part(keys6, v6, part)]
            outer = np.full(n, -1, dtype=np.intp)
            outer_key = np.full(n, -1, dtype=_I64)
            for rows, code, key in zip((v4_rows[0], v6_rows[0]), codes["outer"], keys["outer"]):
                outer[rows], outer_key[rows] = code, key
            # the innermost header is the outer one unless a tunnel says so
            inner, inner_key = outer.copy(), outer_key.copy()
            for rows, code, key in zip((v4_rows[1], v6_rows[1]), codes["inner"], keys["inner"]):
                inner[rows], inner_key[rows] = code, key
            text["outer_" + side], text["inner_" + side] = TextColumn(outer, table), TextColumn(inner, table)
            known["outer_" + side], known["inner_" + side] = outer_key, inner_key
        return text, known

    def _mac_columns(self, out, n):
        """inner_smac, inner_dmac: one factorization of the pairs (as exact complex numbers: 48 bits each);
        and the source MAC's key (facts.text_key: MAC_KEY_BASE + its 48 bits)."""
        rows = np.concatenate(out.mac_rows)
        sources = np.concatenate(out.mac_src)
        keys = sources.astype(np.float64) + 1j * np.concatenate(out.mac_dst).astype(np.float64)
        codes, smac, dmac = self._pair_texts(keys, self._mac_cache, _mac_pair)
        full = np.full(n, -1, dtype=np.intp)
        full[rows] = codes
        source_key = np.full(n, -1, dtype=_I64)
        source_key[rows] = sources + MAC_KEY_BASE
        return TextColumn(full, smac), TextColumn(full, dmac), source_key

    def facts(self, out, defer, rows) -> Facts:
        """The Facts of the batch: out's columns, the rows defer given by the reference (rows)."""
        n, cols = out.n, out.cols
        # text columns stay codes into their distinct texts (TextColumn): rows are looked up where read
        encap = TextColumn(out.enc.astype(np.intp), _ENCAP_TEXTS)
        text, known = self._address_columns(out, n)
        text["encap"], text["outer_class"] = encap, encap
        text["inner_smac"], text["inner_dmac"], known["inner_smac"] = self._mac_columns(out, n)
        known["encap"] = _ENCAP_KEYS.take(out.enc)
        known["outer_class"] = known["encap"].copy()
        empty = TextColumn(np.full(n, -1, dtype=np.intp), _ENCAP_TEXTS[-1:])
        for name, kind, _ in COLUMNS:
            if kind == "s" and name not in text:
                text[name] = empty
        if len(defer):
            for name, kind, _ in COLUMNS:
                values = [row[name] for row in rows]
                if kind == "s":
                    text[name] = text[name].with_rows(defer, values)
                else:
                    cols[name][defer] = values
            for values in known.values():
                values[defer] = UNKNOWN_KEY
        data = {name: text[name] if kind == "s" else cols[name] for name, kind, _ in COLUMNS}
        data.update(key_columns(text, known))
        return Facts(data)


def _joined(parts: list, shape=(0,), dtype=np.intp):
    """The parts one after another (an empty array of this shape when there are none)."""
    return np.concatenate(parts) if parts else np.zeros(shape, dtype=dtype)


def _part(values, parts: list, index: int):
    """values[...] for parts[index], where values runs over all the parts one after another."""
    offset = sum(len(part) for part in parts[:index])
    return values[offset:offset + len(parts[index])]


def _mac_pair(key: complex) -> tuple[str, str]:
    return _mac_text(int(key.real)), _mac_text(int(key.imag))


def _mac_text(value: int) -> str:
    return ":".join(f"{x:02x}" for x in value.to_bytes(6, "big"))
