"""The fast decoder: numpy over a whole RecordBatch, the reference for everything else.

The vectorised path covers the common stacks of a Kubernetes underlay:

    link:   Ethernet (II, optionally one 802.1Q tag), raw IPv4 (101/228/12/14/229 with
            version nibble 4), Linux cooked SLL (113) and SLL2 (276) carrying IPv4
    outer:  IPv4, IHL 5..15, not a fragment (MF = 0, offset = 0), total length
            between the header length and the captured bytes
    then:   (a) UDP to a port of the VXLAN set, flags without the GPE bit
                -> inner Ethernet (no tag) -> inner IPv4
            (b) IPv4 protocol 4 (IPIP) -> inner IPv4
            (c) native: the outer IPv4 is the innermost
    inner IPv4 (a, b): the same header checks; fragments allowed (no L4 past a
            non-first one), innermost L4 = TCP (any options; MSS parsed on SYNs),
            UDP (proven not to be a tunnel), ICMP other than the error types.

Every gather is guarded by a captured-length check made before it. A row
that fails any check -- snaplen-cut records, outer fragments (the reference's
FragmentAttribution table must see all of them, in order), IPv6, ARP, GRE,
Geneve, BGP, ICMP errors, UDP whose payload might pass one of the reference's
plausibility tests, malformed headers -- is decoded by the reference decoder
(one ReferenceDecoder per FastDecoder, so its fragment table persists across
batches) and merged back in record order.

Values that the reference computes in a surprising way are reproduced, not
corrected: the TCP payload is ``2*total - len(buf) - ihl - thl`` (clamped at 0)
where ``len(buf)`` is the bytes after the link header (Ethernet padding lowers
it), and the UDP plausibility tests run on the bytes bounded by the IP total
length, not by the UDP length.
"""
from __future__ import annotations

import socket

import numpy as np
import pandas as pd

from . import ReferenceDecoder
from .facts import COLUMNS, COLUMN_NAMES, rows_to_frame
from .reference import (BGP_PORT, CSUM_BAD, CSUM_GOOD, CSUM_NONE, CSUM_PARTIAL, DEFAULT_VXLAN_PORTS,
                        GENEVE_PORTS, JUMBO_FRAME_MAX, LINK_RAW)

ENCAP_NAMES = ("", "native", "vxlan", "ipip")
ENC_NATIVE, ENC_VXLAN, ENC_IPIP = 1, 2, 3
_ICMP_ERRORS = (3, 4, 5, 11, 12)   # the reference decodes the quoted packet of these
_TH_SYN = 0x02
_I64 = np.int64


def _empty_int(n, value):
    return np.full(n, value, dtype=_I64)


class _Batch:
    """Views over one batch's buffer: bytes, unaligned big-endian 16- and 32-bit words."""

    def __init__(self, raw):
        buf = np.frombuffer(raw, dtype=np.uint8)
        self.u8 = buf
        self.size = n = len(buf)
        # word at *every* byte position (stride 1): one gather per field, no shifting
        self.u16 = np.ndarray((max(n - 1, 0),), dtype=">u2", buffer=buf, strides=(1,))
        self.u32 = np.ndarray((max(n - 3, 0),), dtype=">u4", buffer=buf, strides=(1,))

    def b(self, pos):
        return self.u8[pos].astype(_I64)

    def h(self, pos):
        return self.u16[pos].astype(_I64)

    def w(self, pos):
        return self.u32[pos].astype(_I64)

    def h_if(self, pos, ok):
        """16-bit words at pos where ok (others read position 0 and are meaningless)."""
        return self.u16[np.where(ok, pos, 0)].astype(_I64)


class FastDecoder:
    """Vectorised decoder of the common stacks; every row it cannot prove goes to the reference."""

    name = "fast"

    def __init__(self, vxlan_ports=DEFAULT_VXLAN_PORTS):
        self.vxlan_ports = frozenset(int(p) for p in vxlan_ports)
        self.reference = ReferenceDecoder(self.vxlan_ports)
        self._is_vxlan_port = np.zeros(65536, dtype=bool)
        self._is_tunnel_port = np.zeros(65536, dtype=bool)
        for port in self.vxlan_ports:
            if 0 <= port < 65536:
                self._is_vxlan_port[port] = self._is_tunnel_port[port] = True
        for port in GENEVE_PORTS:
            self._is_tunnel_port[port] = True
        self._addr_cache: dict[int, str] = {}
        self._mac_cache: dict[int, str] = {}
        self.packets = 0       # rows decoded in all
        self.fallback = 0      # rows the reference decoded

    # ------------------------------------------------------------------
    def decode_batch(self, batch) -> pd.DataFrame:
        n = len(batch.offsets)
        self.packets += n
        if n == 0:
            return rows_to_frame([])
        B = _Batch(batch.buf)
        start = np.asarray(batch.offsets, dtype=_I64)
        cap = np.asarray(batch.caplens, dtype=_I64)
        wire = np.asarray(batch.wirelens, dtype=_I64)
        lt = np.asarray(batch.linktypes, dtype=_I64)
        end = start + cap

        cols = _Columns(n)
        cols.i["caplen"][:] = cap
        cols.i["wirelen"][:] = wire
        cols.i["linktype"][:] = lt
        cols.f["ts"][:] = batch.ts
        cols.b["offload"][:] = wire > JUMBO_FRAME_MAX
        fast = np.zeros(n, dtype=bool)        # rows whose every column the fast path set

        # -- link layer: where the outer IPv4 header starts (-1: not on the fast path) ----
        ok = (start >= 0) & (end <= B.size) & (cap >= wire) & (B.size >= 4)
        l3 = np.full(n, -1, dtype=_I64)
        r = np.flatnonzero(ok & (lt == 1) & (cap >= 14))
        if len(r):
            p = start[r]
            et = B.h(p + 12)
            m = et == 0x0800
            l3[r[m]] = p[m] + 14
            m = (et == 0x8100) & (cap[r] >= 18)
            rv, pv = r[m], p[m]
            m = B.h(pv + 16) == 0x0800
            l3[rv[m]] = pv[m] + 18
        r = np.flatnonzero(ok & np.isin(lt, list(LINK_RAW)) & (cap >= 1))
        if len(r):
            m = (B.b(start[r]) >> 4) == 4
            l3[r[m]] = start[r[m]]
        r = np.flatnonzero(ok & (lt == 113) & (cap >= 16))
        if len(r):
            m = B.h(start[r] + 14) == 0x0800
            l3[r[m]] = start[r[m]] + 16
        r = np.flatnonzero(ok & (lt == 276) & (cap >= 20))
        if len(r):
            m = B.h(start[r]) == 0x0800
            l3[r[m]] = start[r[m]] + 20

        # -- outer IPv4 --------------------------------------------------------------
        r = np.flatnonzero(l3 >= 0)
        ip = self._ipv4(B, r, l3[r], end[r] - l3[r], fragments_ok=False)
        r, hl, tot = ip["rows"], ip["hl"], ip["len"]
        ci = cols.i
        for side in ("outer", "inner"):
            ci[f"{side}_ipv"][r] = 4
            ci[f"{side}_proto"][r] = ip["proto"]
            ci[f"{side}_len"][r] = tot
            ci[f"{side}_ip_id"][r] = ip["id"]
            cols.b[f"{side}_df"][r] = ip["df"]
        ci["outer_ttl"][r] = ip["ttl"]
        # outer_mf / outer_frag_off / inner_mf / inner_frag_off stay False / 0: no fragments here
        outer_src, outer_dst = ip["src"], ip["dst"]
        t0 = ip["l4"]
        plen = tot - hl
        tlen = ip["tlen"]
        proto = ip["proto"]
        enc = np.zeros(n, dtype=np.int8)
        addr_rows = [r]                     # rows whose outer_src/outer_dst come from these arrays
        addr_vals = [(outer_src, outer_dst)]

        # native L4 (the outer header is the innermost)
        m = proto == 6
        done = self._tcp(B, cols, r[m], t0[m], plen[m], tlen[m])
        enc[done] = ENC_NATIVE
        fast[done] = True
        m = proto == 1
        done = self._icmp(B, cols, r[m], t0[m], plen[m])
        enc[done] = ENC_NATIVE
        fast[done] = True

        # UDP: VXLAN by port, or native UDP proven not to be a tunnel
        m = (proto == 17) & (plen >= 8)
        ru, tu, pu = r[m], t0[m], plen[m]
        usrc, udst = outer_src[m], outer_dst[m]
        dport = B.h(tu + 2)
        vx = self._is_vxlan_port[dport]
        done = self._udp(B, cols, ru[~vx], tu[~vx], pu[~vx])
        enc[done] = ENC_NATIVE
        fast[done] = True

        inner_rows, inner_pos, inner_avail = [], [], []
        # VXLAN: UDP 8 + VXLAN 8 + inner Ethernet 14, flags without the GPE (P) bit, inner IPv4
        rx, tx, px, dx = ru[vx], tu[vx], pu[vx], dport[vx]
        sx, ds = usrc[vx], udst[vx]
        m = px >= 8 + 8 + 14
        rx, tx, px, dx, sx, ds = rx[m], tx[m], px[m], dx[m], sx[m], ds[m]
        m = ((B.b(tx + 8) & 0x04) == 0) & (B.h(tx + 16 + 12) == 0x0800)
        rx, tx, px, dx, sx, ds = rx[m], tx[m], px[m], dx[m], sx[m], ds[m]
        if len(rx):
            ci["tunnel_port"][rx] = dx
            ci["vni"][rx] = B.w(tx + 12) >> 8
            csum, partial, unsure = self._udp_checksum_state(B, tx, px, sx, ds, wire[rx])
            ci["outer_udp_csum"][rx] = csum
            cols.b["offload"][rx[partial]] = True
            keep = ~unsure
            rx, tx, px = rx[keep], tx[keep], px[keep]
            e = tx + 16
            cols.mac_rows.append(rx)
            cols.mac_vals.append(((B.h(e + 6) << 32) | B.w(e + 8),     # source MAC
                                  (B.h(e) << 32) | B.w(e + 2)))        # destination MAC
            enc[rx] = ENC_VXLAN
            inner_rows.append(rx)
            inner_pos.append(e + 14)
            inner_avail.append(px - 30)
        # IPIP: the inner IPv4 is the outer payload
        m = proto == 4
        enc[r[m]] = ENC_IPIP
        inner_rows.append(r[m])
        inner_pos.append(t0[m])
        inner_avail.append(plen[m])

        # -- inner IPv4 of VXLAN / IPIP -------------------------------------------------
        ri = np.concatenate(inner_rows)
        pi = np.concatenate(inner_pos)
        ai = np.concatenate(inner_avail)
        ip = self._ipv4(B, ri, pi, ai, fragments_ok=True)
        r2 = ip["rows"]
        ci["inner_proto"][r2] = ip["proto"]
        ci["inner_len"][r2] = ip["len"]
        ci["inner_ip_id"][r2] = ip["id"]
        cols.b["inner_df"][r2] = ip["df"]
        cols.b["inner_mf"][r2] = ip["mf"]
        ci["inner_frag_off"][r2] = ip["frag_off"]
        cols.inner_rows.append(r2)
        cols.inner_vals.append((ip["src"], ip["dst"]))
        frag = ip["frag_off"] != 0
        fast[r2[frag]] = True              # a non-first inner fragment: no L4 header to read
        first = ~frag
        r2, t2, h2, proto2 = r2[first], ip["l4"][first], ip["hl"][first], ip["proto"][first]
        p2 = ip["len"][first] - h2
        tl2 = ip["tlen"][first]
        m = proto2 == 6
        fast[self._tcp(B, cols, r2[m], t2[m], p2[m], tl2[m])] = True
        m = proto2 == 17
        fast[self._udp(B, cols, r2[m], t2[m], p2[m])] = True
        m = proto2 == 1
        fast[self._icmp(B, cols, r2[m], t2[m], p2[m])] = True

        cols.outer_rows, cols.outer_vals = addr_rows, addr_vals
        # -- the rest: the reference, in record order ------------------------------------
        defer = np.flatnonzero(~fast)
        rows = self.reference.decode_rows_at(batch, defer.tolist()) if len(defer) else []
        self.fallback += len(defer)
        return self._frame(n, cols, enc, fast, rows, defer)

    # ------------------------------------------------------------------
    @staticmethod
    def _ipv4(B, rows, pos, avail, fragments_ok):
        """Checks and fields of IPv4 headers at pos with avail bytes; rows that pass."""
        m = avail >= 20
        rows, pos, avail = rows[m], pos[m], avail[m]
        b0 = B.b(pos)
        tot = B.h(pos + 2)
        ff = B.h(pos + 6)
        hl = (b0 & 0x0F) * 4
        m = ((b0 >> 4) == 4) & (hl >= 20) & (tot >= hl) & (tot <= avail)
        if not fragments_ok:
            m &= (ff & 0x3FFF) == 0
        rows, pos, avail, tot, ff, hl = rows[m], pos[m], avail[m], tot[m], ff[m], hl[m]
        proto = B.b(pos + 9)
        return {
            "rows": rows, "hl": hl, "len": tot, "proto": proto,
            "id": B.h(pos + 4), "ttl": B.b(pos + 8),
            "df": (ff & 0x4000) != 0, "mf": (ff & 0x2000) != 0, "frag_off": (ff & 0x1FFF) * 8,
            "src": B.w(pos + 12), "dst": B.w(pos + 16),
            "l4": pos + hl,
            # the reference's transport length: total - (len(buf) - len(payload))
            "tlen": 2 * tot - avail - hl,
        }

    def _tcp(self, B, cols, rows, t, plen, tlen):
        """TCP at t with plen bytes before the IP end; returns the rows decoded."""
        m = plen >= 20
        rows, t, plen, tlen = rows[m], t[m], plen[m], tlen[m]
        sport, dport = B.h(t), B.h(t + 2)
        off_flags = B.h(t + 12)
        thl = (off_flags >> 12) * 4
        flags = off_flags & 0x1FF
        m = (thl >= 20) & (sport != BGP_PORT) & (dport != BGP_PORT)
        rows, t, plen, tlen, sport, dport, thl, flags = (
            rows[m], t[m], plen[m], tlen[m], sport[m], dport[m], thl[m], flags[m])
        mss = np.full(len(rows), -1, dtype=_I64)
        good = np.ones(len(rows), dtype=bool)
        syn = np.flatnonzero(((flags & _TH_SYN) != 0) & (thl > 20))
        if len(syn):
            mss[syn], good[syn] = self._mss(B, t[syn] + 20, t[syn] + np.minimum(thl[syn], plen[syn]))
        rows = rows[good]
        ci = cols.i
        ci["sport"][rows] = sport[good]
        ci["dport"][rows] = dport[good]
        ci["tcp_flags"][rows] = flags[good]
        ci["tcp_seq"][rows] = B.w(t[good] + 4)
        ci["tcp_payload"][rows] = np.maximum(tlen[good] - thl[good], 0)
        ci["tcp_mss"][rows] = mss[good]
        return rows

    @staticmethod
    def _mss(B, pos, end):
        """dpkt's parse_opts over [pos, end): (last MSS value or -1, parsed without a bad option)."""
        k = len(pos)
        mss = np.full(k, -1, dtype=_I64)
        good = np.ones(k, dtype=bool)
        pos = pos.copy()
        live = np.flatnonzero(pos < end)
        while len(live):
            p, e = pos[live], end[live]
            kind = B.b(p)
            single = kind <= 1                      # EOL and NOP: one byte, and parsing goes on
            bad = ~single & (p + 1 >= e)            # no length byte: dpkt appends None (a TypeError later)
            good[live[bad]] = False
            two = ~single & ~bad
            length = np.ones(len(live), dtype=_I64)
            length[two] = np.maximum(B.b(p[two] + 1), 2)
            value_len = np.minimum(p + length, e) - (p + 2)
            is_mss = two & (kind == 2) & (value_len == 2)
            mss[live[is_mss]] = B.h(p[is_mss] + 2)
            pos[live] = p + length
            live = live[~bad]
            live = live[pos[live] < end[live]]
        return mss, good

    def _udp(self, B, cols, rows, t, plen):
        """UDP at t that is no tunnel (by port or by any plausibility test); returns the rows decoded."""
        m = plen >= 8
        rows, t, plen = rows[m], t[m], plen[m]
        sport, dport = B.h(t), B.h(t + 2)
        m = ~self._is_tunnel_port[dport] & ~self._maybe_tunnel(B, t + 8, plen - 8)
        rows = rows[m]
        cols.i["sport"][rows] = sport[m]
        cols.i["dport"][rows] = dport[m]
        return rows

    @staticmethod
    def _maybe_tunnel(B, body, size):
        """False where the UDP payload fails every plausibility test of the reference for sure."""
        has4 = size >= 4
        at = np.where(has4, body, 0)
        b0 = B.b(at)
        b1 = B.b(at + 1)
        w2 = B.h(at + 2)
        top = b0 >> 6
        # gue_plausible: version 0, C bit clear, protocol 4 or 41
        maybe = has4 & (top == 0) & ((b0 & 0x20) == 0) & ((b1 == 4) | (b1 == 41))
        # geneve_plausible: version 0, protocol TEB / IPv4 / IPv6
        maybe |= (size >= 8) & (top == 0) & ((w2 == 0x6558) | (w2 == 0x0800) | (w2 == 0x86DD))
        # bare_ip_plausible: IPv4 total length or IPv6 payload length + 40 equal to the payload
        has20 = size >= 20
        version = b0 >> 4
        w4 = B.h_if(body + 4, has20)
        maybe |= has20 & (((version == 4) & (w2 == size)) | ((version == 6) & (w4 + 40 == size)))
        # vxlan_plausible: I flag, no P flag, inner ethertype ARP / 802.1Q / IPv4 / IPv6
        has22 = size >= 22
        et = B.h_if(body + 20, has22)
        maybe |= has22 & ((b0 & 0x0C) == 0x08) & (
            (et == 0x0800) | (et == 0x86DD) | (et == 0x0806) | (et == 0x8100))
        return maybe

    @staticmethod
    def _icmp(B, cols, rows, t, plen):
        """ICMP other than the error types (which quote a packet); returns the rows decoded."""
        m = plen >= 8
        rows, t = rows[m], t[m]
        kind = B.b(t)
        m = ~np.isin(kind, _ICMP_ERRORS)
        rows, t = rows[m], t[m]
        kind = kind[m]
        cols.i["icmp_type"][rows] = kind
        cols.i["icmp_code"][rows] = B.b(t + 1)
        echo = (kind == 0) | (kind == 8)    # identifier << 16 | sequence
        cols.i["icmp_echo"][rows[echo]] = B.w(t[echo] + 4)
        return rows

    @staticmethod
    def _udp_checksum_state(B, t, plen, src, dst, wire):
        """The reference's udp_checksum_state for UDP datagrams at t (plen bytes, IPv4, not fragments).

        Returns (state, partial mask, unsure mask: rows to leave to the reference).
        """
        k = len(t)
        csum = B.h(t + 6)
        ulen = B.h(t + 4)
        state = np.full(k, CSUM_NONE, dtype=_I64)
        unsure = np.zeros(k, dtype=bool)
        partial = np.zeros(k, dtype=bool)
        nonzero = csum != 0
        check = nonzero & (wire <= JUMBO_FRAME_MAX) & (ulen == plen)
        state[nonzero & ~check] = -1
        c = np.flatnonzero(check)
        if not len(c):
            return state, partial, unsure
        s, e = t[c], t[c] + plen[c]
        weighted = _weighted_sums(B, s, e)
        if weighted is None:                       # overlapping records: let the reference do it
            unsure[c] = True
            return state, partial, unsure
        pseudo = (src[c] >> 16) + (src[c] & 0xFFFF) + (dst[c] >> 16) + (dst[c] & 0xFFFF) + 17 + plen[c]
        # big-endian word sum == 256 * weighted (s even) or weighted (s odd), modulo 0xFFFF
        body = np.where(s % 2 == 0, (weighted % 0xFFFF) * 256, weighted)
        total = _fold(pseudo + body)
        pseudo_sum = _fold(pseudo)
        st = np.where(total == 0xFFFF, CSUM_GOOD, np.where(csum[c] == pseudo_sum, CSUM_PARTIAL, CSUM_BAD))
        state[c] = st
        partial[c] = st == CSUM_PARTIAL
        return state, partial, unsure

    # ------------------------------------------------------------------
    def _strings(self, values, cache, fmt):
        """Object array of the text of integer values (few distinct ones): factorize, then a dict."""
        codes, uniques = pd.factorize(values, sort=False)
        texts = np.empty(len(uniques), dtype=object)
        for j, value in enumerate(uniques.tolist()):
            text = cache.get(value)
            if text is None:
                if len(cache) > 1 << 16:
                    cache.clear()
                text = cache[value] = fmt(value)
            texts[j] = text
        return texts[codes]

    def _frame(self, n, cols, enc, fast, rows, defer=None):
        data = {}
        s = {name: None for name, kind, _ in COLUMNS if kind == "s"}
        encap = np.array(ENCAP_NAMES, dtype=object)[enc]
        s["encap"] = encap
        s["outer_class"] = encap.copy()
        empty = np.full(n, "", dtype=object)
        for name in ("outer_src", "outer_dst", "inner_src", "inner_dst"):
            s[name] = empty.copy()
        for name in ("inner_smac", "inner_dmac"):
            s[name] = empty.copy()
        # outer addresses (and, until a tunnel overwrites them, the inner ones)
        if cols.outer_rows:
            rr = np.concatenate(cols.outer_rows)
            src = np.concatenate([v[0] for v in cols.outer_vals])
            dst = np.concatenate([v[1] for v in cols.outer_vals])
            ir = np.concatenate(cols.inner_rows) if cols.inner_rows else rr[:0]
            isrc = np.concatenate([v[0] for v in cols.inner_vals]) if cols.inner_vals else src[:0]
            idst = np.concatenate([v[1] for v in cols.inner_vals]) if cols.inner_vals else dst[:0]
            texts = self._strings(np.concatenate([src, dst, isrc, idst]), self._addr_cache, _ipv4_text)
            a, b, c = len(rr), 2 * len(rr), 2 * len(rr) + len(ir)
            s["outer_src"][rr] = texts[:a]
            s["outer_dst"][rr] = texts[a:b]
            s["inner_src"][rr] = texts[:a]
            s["inner_dst"][rr] = texts[a:b]
            s["inner_src"][ir] = texts[b:c]
            s["inner_dst"][ir] = texts[c:]
        if cols.mac_rows:
            mr = np.concatenate(cols.mac_rows)
            smac = np.concatenate([v[0] for v in cols.mac_vals])
            dmac = np.concatenate([v[1] for v in cols.mac_vals])
            texts = self._strings(np.concatenate([smac, dmac]), self._mac_cache, _mac_text)
            s["inner_smac"][mr] = texts[:len(mr)]
            s["inner_dmac"][mr] = texts[len(mr):]
        if defer is not None and len(defer):
            for name, kind, _ in COLUMNS:
                values = [row[name] for row in rows]
                if kind == "s":
                    target = s[name]
                    if target is None:
                        target = s[name] = empty.copy()
                    target[defer] = values
                elif kind == "i":
                    cols.i[name][defer] = values
                elif kind == "b":
                    cols.b[name][defer] = values
                else:
                    cols.f[name][defer] = values
        to_text = _text_array()
        for name, kind, _ in COLUMNS:
            if kind == "s":
                data[name] = to_text(s[name] if s[name] is not None else empty)
            elif kind == "i":
                data[name] = cols.i[name]
            elif kind == "b":
                data[name] = cols.b[name]
            else:
                data[name] = cols.f[name]
        # every array is new and owned by the frame: no copy (pandas would consolidate the blocks)
        return pd.DataFrame(data, columns=list(COLUMN_NAMES), copy=False)


class _Columns:
    """The numeric columns of a batch, at their missing values, plus the pieces of the text ones."""

    def __init__(self, n):
        self.i, self.b, self.f = {}, {}, {}
        for name, kind, missing in COLUMNS:
            if kind == "i":
                self.i[name] = np.full(n, missing, dtype=_I64)
            elif kind == "b":
                self.b[name] = np.full(n, missing, dtype=bool)
            elif kind == "f":
                self.f[name] = np.full(n, missing, dtype=np.float64)
        self.outer_rows, self.outer_vals = [], []
        self.inner_rows, self.inner_vals = [], []
        self.mac_rows, self.mac_vals = [], []


_TEXT_DTYPES: dict = {}


def _text_array():
    """How pandas stores a column built from an object array of str (rows_to_frame's way), made cheaply.

    With pandas' string inference (the default from pandas 3) that is a StringArray; building it
    through the dtype's _from_sequence skips the per-element type inference of the DataFrame constructor.
    """
    key = pd.get_option("future.infer_string") if "future.infer_string" in _OPTIONS else None
    maker = _TEXT_DTYPES.get(key)
    if maker is None:
        dtype = pd.DataFrame({"x": np.array(["x"], dtype=object)})["x"].dtype
        if isinstance(dtype, pd.StringDtype):
            array_type = dtype.construct_array_type()

            def maker(values, array_type=array_type, dtype=dtype):
                return array_type._from_sequence(values, dtype=dtype)
        else:
            def maker(values):
                return values
        _TEXT_DTYPES[key] = maker
    return maker


def _known_options():
    try:
        pd.get_option("future.infer_string")
        return {"future.infer_string"}
    except (KeyError, pd.errors.OptionError):
        return set()


_OPTIONS = _known_options()


def _fold(x):
    """The reference's _ones_complement_sum folding of a positive integer total."""
    return (x - 1) % 0xFFFF + 1


def _weighted_sums(B, s, e):
    """For each byte range [s, e): sum of bytes, weighted 1 at even and 256 at odd buffer positions.

    Modulo 0xFFFF this is the little-endian 16-bit (or 32-bit) word sum, so whole 32-bit words
    are summed with one np.add.reduceat over the buffer and the 0..3 edge bytes added apart.
    Returns None when the ranges overlap (reduceat needs them disjoint and ordered).
    """
    order = np.argsort(s, kind="stable")
    so, eo = s[order], e[order]
    a = (so + 3) // 4          # first whole word
    b = eo // 4                # end of the whole words
    b = np.maximum(a, b)
    if len(so) > 1 and np.any(a[1:] < b[:-1]):
        return None
    size = B.size // 4 * 4
    words = B.u8[:size].view("<u4")
    sums = np.zeros(len(so), dtype=np.uint64)
    full = np.flatnonzero(b > a)
    if len(full):
        fa, fb = a[full], b[full]
        lo, hi = int(fa[0]), int(fb[-1])
        idx = np.empty(2 * len(full), dtype=_I64)
        idx[0::2] = fa - lo
        idx[1::2] = fb - lo
        # the last range runs to the end of the slice; reduceat wants every index inside it
        sums[full] = np.add.reduceat(words[lo:hi], idx[:-1], dtype=np.uint64)[0::2]
    total = (sums % np.uint64(0xFFFF)).astype(_I64)
    # head bytes [s, 4a) and tail bytes [4b, e) when the range is shorter than its words
    for j in range(3):
        p = so + j
        m = p < np.minimum(4 * a, eo)
        total[m] += B.b(p[m]) * np.where(p[m] % 2 == 0, 1, 256)
        p = 4 * b + j
        m = (p < eo) & (p >= 4 * a)
        total[m] += B.b(p[m]) * np.where(p[m] % 2 == 0, 1, 256)
    out = np.empty(len(s), dtype=_I64)
    out[order] = total
    return out


def _ipv4_text(value: int) -> str:
    return socket.inet_ntoa(value.to_bytes(4, "big"))


def _mac_text(value: int) -> str:
    raw = value.to_bytes(6, "big")
    return ":".join(f"{x:02x}" for x in raw)


__all__ = ["FastDecoder"]
