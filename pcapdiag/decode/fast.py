"""The fast decoder: numpy over a whole RecordBatch, the reference decoder for everything else.

The vectorised path covers the common stacks of a Kubernetes underlay:

    link    Ethernet II (with at most one 802.1Q tag), raw IP link types (12, 14, 101, 228,
            229, by the version nibble), Linux cooked SLL (113) and SLL2 (276) carrying IPv4
            or IPv6; Ethernet ARP (a "non-ip" row)
    outer   IPv4, IHL 5..15, not a fragment (MF = 0, offset = 0), total length at least the
            header length and within the captured bytes -- or beyond them when the record is
            snaplen-cut (caplen < wirelen), as the reference allows
    then    (a) UDP to a port of the VXLAN set, VXLAN flags without the GPE (P) bit, or to the
                Geneve port, protocol Ethernet, options of any length
                -> inner Ethernet (untagged IPv4 or IPv6) -> inner IP, with the outer UDP
                checksum state (none / good / bad / partial) computed over the whole datagram
            (b) IPv4 protocol 4 (IPIP) -> inner IPv4
            (c) native: the outer IPv4 is the innermost
    inner   the same IPv4 checks, fragments allowed (nothing past a non-first one);
    L4      TCP (any options; dpkt's option walk for the MSS of SYNs), UDP proven by its port
            and payload to be no tunnel, ICMP other than the error types (echo identity kept)
    IPv6    outer (native) or inner (in VXLAN or Geneve over IPv4): a fixed header followed
            directly by TCP or UDP (no extension headers), payload length not 0 and within the
            captured bytes (or beyond them when snaplen-cut)

The first 128 bytes of every record are copied out of the batch buffer with one numpy gather;
each layer's header is then a fixed-width window cut out of that copy at a per-row offset
(one gather per layer, from the buffer itself only past 128 bytes), its fields are columns
of the window, and every field is guarded by a captured-length check made before it is
used. A row that fails any check -- a header cut short, outer IP
fragments (the reference's FragmentAttribution table must see all of them, in order),
IPv6 extension headers, ICMPv6, tunnels over an IPv6 underlay, 6in4, GRE, Geneve carrying
IP directly, BGP, ICMP errors, UDP whose payload might pass one of the reference's
plausibility tests, malformed headers, anything unknown -- is decoded by the reference
decoder (one ReferenceDecoder per FastDecoder, so its fragment table persists across
batches) and merged back in record order.

Values the reference computes in a surprising way are reproduced, not corrected: the TCP
payload is total - (len(buf) - len(payload)) - data offset, so Ethernet padding after a
short IP packet lowers it; the plausibility tests see the UDP payload bounded by the IP
total length, not by the UDP length.
"""
from __future__ import annotations

import socket

import numpy as np
import pandas as pd

from ..protocols import (BGP_PORT, CSUM_BAD, CSUM_GOOD, CSUM_NONE, CSUM_PARTIAL, DEFAULT_VXLAN_PORTS,
                         JUMBO_FRAME_MAX, LINKTYPES_RAW, SEQ_SPACE)
from .facts import COLUMNS, MAC_KEY_BASE, UNKNOWN_KEY, Facts, TextColumn, key_columns, rows_to_facts, text_key
from .plausible import PLAUSIBILITY
from .reference import ReferenceDecoder, udp_tunnel_ports

ENCAP_NAMES = ("", "native", "vxlan", "ipip", "non-ip", "geneve")
ENC_NATIVE, ENC_VXLAN, ENC_IPIP, ENC_NON_IP, ENC_GENEVE = 1, 2, 3, 4, 5
_ENCAP_TEXTS = np.array(ENCAP_NAMES + ("",), dtype=object)    # a TextColumn's table: "" last, for code -1
_ENCAP_KEYS = np.array([text_key(name) for name in ENCAP_NAMES], dtype=np.int64)
_ICMP_ERRORS = (3, 4, 5, 11, 12)   # the reference decodes the packet these quote
_TH_SYN, _TH_ACK = 0x02, 0x10
_NOP_NOP_TIMESTAMP = 0x0101080A   # NOP, NOP, timestamp option (kind 8, length 10): the usual 12 option bytes
_I64 = np.int64
_RAW_LINKS = np.array(sorted(LINKTYPES_RAW), dtype=_I64)
L4_WINDOW = 30   # UDP 8 + VXLAN 8 + inner Ethernet 14; TCP 20; UDP + the 22 bytes the plausibility tests read


class _Buffer:
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


def _u8(M, c):
    return M[:, c].astype(_I64)


def _u16(M, c):
    if not len(M):
        return np.zeros(0, dtype=_I64)
    return np.ndarray((len(M),), dtype=">u2", buffer=M, offset=c, strides=(M.strides[0],)).astype(_I64)


def _u32(M, c):
    if not len(M):
        return np.zeros(0, dtype=_I64)
    return np.ndarray((len(M),), dtype=">u4", buffer=M, offset=c, strides=(M.strides[0],)).astype(_I64)


def _take(idx, *arrays):
    if len(idx) == len(arrays[0]):        # idx is sorted and unique (flatnonzero): everything
        return arrays
    return tuple(a.take(idx, axis=0) for a in arrays)


class _Out:
    """The columns of one batch at their missing values, filled as layers decode."""

    def __init__(self, n):
        self.n = n
        self.cols: dict[str, np.ndarray] = {}
        for name, kind, missing in COLUMNS:
            if kind == "i":
                self.cols[name] = np.full(n, missing, dtype=_I64)
            elif kind == "b":
                self.cols[name] = np.full(n, missing, dtype=bool)
            elif kind == "f":
                self.cols[name] = np.full(n, missing, dtype=np.float64)
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


class FastDecoder:
    """Vectorised decoder of the common stacks; every row it cannot prove goes to the reference."""

    name = "fast"

    def __init__(self, vxlan_ports=DEFAULT_VXLAN_PORTS):
        self.vxlan_ports = frozenset(int(p) for p in vxlan_ports)
        self.reference = ReferenceDecoder(self.vxlan_ports)
        self._is_vxlan_port = np.zeros(65536, dtype=bool)
        self._is_geneve_port = np.zeros(65536, dtype=bool)
        self._is_tunnel_port = np.zeros(65536, dtype=bool)
        for port, header in udp_tunnel_ports(self.vxlan_ports).items():
            if 0 <= port < 65536:
                self._is_tunnel_port[port] = True
                (self._is_vxlan_port if header == "vxlan" else self._is_geneve_port)[port] = True
        self._addr_cache: dict[int, str] = {}
        self._addr6_cache: dict[bytes, tuple] = {}     # 16 bytes -> (text, key)
        self._mac_cache: dict[int, str] = {}
        self.packets = 0       # rows decoded
        self.fallback = 0      # of which the reference decoded

    # ------------------------------------------------------------------
    def decode_batch(self, batch) -> Facts:
        n = len(batch.offsets)
        self.packets += n
        if n == 0:
            return rows_to_facts([])
        start = np.asarray(batch.offsets, dtype=_I64)
        cap = np.asarray(batch.caplens, dtype=_I64)
        wire = np.asarray(batch.wirelens, dtype=_I64)
        lt = np.asarray(batch.linktypes, dtype=_I64)
        end = start + cap
        B = _Buffer(batch.buf, start)
        out = _Out(n)
        cols = out.cols
        cols["frame"] = batch.first_frame + np.arange(n, dtype=_I64)
        cols["ts"] = np.array(batch.ts, dtype=np.float64)
        cols["caplen"] = cap.copy()
        cols["wirelen"] = wire.copy()
        cols["linktype"] = lt.copy()
        cols["offload"] = wire > JUMBO_FRAME_MAX
        cut = cap < wire          # snaplen-cut: IP lengths may run past the bytes

        # -- link layer ------------------------------------------------------------------
        rows = np.flatnonzero((start >= 0) & (end <= B.size) & (cap >= 1))
        M = B.head[rows] if len(rows) < n else B.head
        ltr, capr = lt[rows], cap[rows]
        et = _u16(M, 12)
        eth = (ltr == 1) & (capr >= 14)
        vlan = eth & (capr >= 18) & (et == 0x8100)
        raw = np.isin(ltr, _RAW_LINKS)
        sll, sll2 = (ltr == 113) & (capr >= 16), (ltr == 276) & (capr >= 20)
        arp = rows[eth & (et == 0x0806)]
        out.enc[arp] = ENC_NON_IP          # dpkt parses ARP (or not): either way no IP, no exception
        out.done[arp] = True
        l3_rows, l3_pos = [], []
        for ethertype, version in ((0x0800, 4), (0x86DD, 6)):
            eth_ip = eth & (et == ethertype)
            vlan_ip = vlan & (_u16(M, 16) == ethertype)
            raw_ip = raw & ((M[:, 0] >> 4) == version)
            sll_ip = sll & (_u16(M, 14) == ethertype)
            sll2_ip = sll2 & (_u16(M, 0) == ethertype)
            l3_off = 14 * eth_ip + 18 * vlan_ip + 16 * sll_ip + 20 * sll2_ip
            k = np.flatnonzero(eth_ip | vlan_ip | raw_ip | sll_ip | sll2_ip)
            l3_rows.append(rows[k])
            l3_pos.append(start[rows[k]] + l3_off[k])
        (rows, rows6), (l3, l3_6) = l3_rows, l3_pos

        # -- outer IPv6: native TCP and UDP --------------------------------------------------
        ip = self._ipv6(B, rows6, l3_6, end[rows6] - l3_6, cut[rows6])
        _outer_ip(out, ip, 6)
        self._tcp_udp(B, out, ENC_NATIVE, ip)

        # -- outer IPv4 ------------------------------------------------------------------
        ip = self._ipv4(B, rows, l3, end[rows] - l3, cut[rows], outer=True)
        rows, proto, t0, plen, tlen = ip["rows"], ip["proto"], ip["l4"], ip["plen"], ip["tlen"]
        _outer_ip(out, ip, 4)

        k = np.flatnonzero(proto == 6)
        self._tcp(B, out, ENC_NATIVE, rows[k], t0[k], plen[k], tlen[k])
        k = np.flatnonzero(proto == 1)
        self._icmp(B, out, ENC_NATIVE, rows[k], t0[k], plen[k])
        k = np.flatnonzero((proto == 17) & (plen >= 8))
        ru, tu, pu = _take(k, rows, t0, plen)
        Lu = B.window(ru, tu, L4_WINDOW)
        src_u, dst_u = ip["src"][k], ip["dst"][k]
        dport = _u16(Lu, 2)
        tunnel = self._is_vxlan_port[dport] | self._is_geneve_port[dport]
        k = np.flatnonzero(~tunnel)
        self._udp(out, ENC_NATIVE, ru[k], Lu[k], pu[k])

        # UDP tunnels by port: VXLAN (8 bytes, no P flag) or Geneve (8 bytes and its options, an Ethernet
        # payload), then an untagged inner Ethernet carrying IPv4 or IPv6 (a VXLAN port wins, as there)
        k = np.flatnonzero(tunnel)
        rt, Lt, tt, pt, st, dt = _take(k, ru, Lu, tu, pu, src_u, dst_u)
        vxlan = self._is_vxlan_port[_u16(Lt, 2)]
        head = np.where(vxlan, 16, 16 + (Lt[:, 8] & 0x3F).astype(_I64) * 4)   # UDP and tunnel header bytes
        k = np.flatnonzero(np.where(vxlan, (Lt[:, 8] & 0x04) == 0, _u16(Lt, 10) == 0x6558) & (pt >= head + 14))
        rt, Lt, tt, pt, st, dt, vxlan, head = _take(k, rt, Lt, tt, pt, st, dt, vxlan, head)
        E = B.window(rt, tt + head, 14)
        inner_type = _u16(E, 12)
        k = np.flatnonzero((inner_type == 0x0800) | (inner_type == 0x86DD))
        rt, Lt, tt, pt, st, dt, vxlan, head, E, inner_type = _take(k, rt, Lt, tt, pt, st, dt, vxlan, head, E,
                                                                    inner_type)
        csum, partial, unsure = self._udp_checksum_state(B, Lt, tt, pt, st, dt, wire[rt], cut[rt])
        k = np.flatnonzero(~unsure)
        rt, Lt, tt, pt, vxlan, head, E, inner_type, csum, partial = _take(k, rt, Lt, tt, pt, vxlan, head, E,
                                                                         inner_type, csum, partial)
        out["tunnel_port", rt] = _u16(Lt, 2)
        out["vni", rt] = _u32(Lt, 12) >> 8          # both keep the VNI in the top 24 bits of bytes 4..7
        out["outer_udp_csum", rt] = csum
        out["offload", rt[partial]] = True
        out.mac_rows.append(rt)
        out.mac_dst.append((_u16(E, 0) << 32) | _u32(E, 2))
        out.mac_src.append((_u16(E, 6) << 32) | _u32(E, 8))
        out.enc[rt] = np.where(vxlan, ENC_VXLAN, ENC_GENEVE)
        at, avail = tt + head + 14, pt - head - 14     # the inner IP header, and the bytes from it on
        k = np.flatnonzero(inner_type == 0x86DD)
        self._inner_ipv6(B, out, rt[k], at[k], avail[k], cut)
        k = np.flatnonzero(inner_type == 0x0800)
        rx, ix, ax = rt[k], at[k], avail[k]
        # IPIP: the inner IPv4 is the outer payload
        k = np.flatnonzero(proto == 4)
        out.enc[rows[k]] = ENC_IPIP

        # -- inner IPv4 of VXLAN / Geneve / IPIP ---------------------------------------------
        ri = np.concatenate([rx, rows[k]])
        pi = np.concatenate([ix, t0[k]])
        ai = np.concatenate([ax, plen[k]])
        ip = self._ipv4(B, ri, pi, ai, cut[ri], outer=False)
        ri = ip["rows"]
        out["inner_proto", ri] = ip["proto"]
        out["inner_len", ri] = ip["len"]
        out["inner_ip_id", ri] = ip["id"]
        out["inner_df", ri] = ip["df"]
        out["inner_mf", ri] = ip["mf"]
        out["inner_frag_off", ri] = ip["frag_off"]
        out.inner_rows.append(ri)
        out.inner_src.append(ip["src"])
        out.inner_dst.append(ip["dst"])
        later = ip["frag_off"] != 0
        out.done[ri[later]] = True          # a non-first inner fragment: no L4 header to read
        k = np.flatnonzero(~later)
        ip = {name: ip[name][k] for name in ("rows", "proto", "l4", "plen", "tlen")}
        self._tcp_udp(B, out, 0, ip)
        k = np.flatnonzero(ip["proto"] == 1)
        self._icmp(B, out, 0, ip["rows"][k], ip["l4"][k], ip["plen"][k])

        # -- everything else: the reference, in record order --------------------------------
        defer = np.flatnonzero(~out.done)
        self.fallback += len(defer)
        rows = self.reference.decode_rows_at(batch, defer.tolist()) if len(defer) else []
        return self._facts(out, defer, rows)

    # ------------------------------------------------------------------
    @staticmethod
    def _ipv4(B, rows, pos, avail, cut, outer):
        """IPv4 headers at pos with avail bytes after them: fields of the rows that pass the checks."""
        k = np.flatnonzero(avail >= 20)
        rows, pos, avail, cut = _take(k, rows, pos, avail, cut)
        H = B.window(rows, pos, 20)
        b0 = _u8(H, 0)
        tot = _u16(H, 2)
        ff = _u16(H, 6)
        hl = (b0 & 0x0F) * 4
        good = ((b0 >> 4) == 4) & (hl >= 20) & (tot >= hl) & ((tot <= avail) | cut)
        if outer:
            good &= (ff & 0x3FFF) == 0     # fragments go to the reference (its fragment table)
        k = np.flatnonzero(good)
        rows, pos, avail, tot, ff, hl, H = _take(k, rows, pos, avail, tot, ff, hl, H)
        # bytes of the payload present: buf[hl:total] of the bytes there are
        plen = np.minimum(tot, avail) - hl
        return {
            "rows": rows, "len": tot, "proto": _u8(H, 9), "id": _u16(H, 4), "ttl": _u8(H, 8),
            "df": (ff & 0x4000) != 0, "mf": (ff & 0x2000) != 0, "frag_off": (ff & 0x1FFF) * 8,
            "src": _u32(H, 12), "dst": _u32(H, 16),
            "l4": pos + hl, "plen": plen,
            # the transport length the IP header states: total - header
            "tlen": tot - hl,
        }

    @staticmethod
    def _ipv6(B, rows, pos, avail, cut):
        """IPv6 headers at pos with avail bytes after them, followed directly by TCP or UDP (no extension
        headers, a payload length that is not 0: jumbograms and super-frames are the reference's)."""
        k = np.flatnonzero(avail >= 40)
        rows, pos, avail, cut = _take(k, rows, pos, avail, cut)
        H = B.window(rows, pos, 40)
        payload_len = _u16(H, 4)
        proto = _u8(H, 6)
        tot = payload_len + 40
        good = ((H[:, 0] >> 4) == 6) & (payload_len > 0) & ((proto == 6) | (proto == 17)) & ((tot <= avail) | cut)
        k = np.flatnonzero(good)
        rows, pos, avail, tot, proto, H = _take(k, rows, pos, avail, tot, proto, H)
        return {"rows": rows, "len": tot, "proto": proto, "ttl": _u8(H, 7), "src": H[:, 8:24], "dst": H[:, 24:40],
                "l4": pos + 40, "plen": np.minimum(tot, avail) - 40, "tlen": tot - 40}

    def _inner_ipv6(self, B, out, rows, at, avail, cut):
        """The inner IPv6 at `at` (avail bytes from there) of tunnel rows: TCP and UDP."""
        if not len(rows):
            return
        ip = self._ipv6(B, rows, at, avail, cut[rows])
        ri = ip["rows"]
        out["inner_ipv", ri] = 6
        out["inner_proto", ri] = ip["proto"]
        out["inner_len", ri] = ip["len"]
        out["inner_ip_id", ri] = -1               # IPv6 has none (the outer IPv4's was set for both)
        out["inner_df", ri] = False
        out.inner6_rows.append(ri)
        out.inner6_src.append(ip["src"])
        out.inner6_dst.append(ip["dst"])
        self._tcp_udp(B, out, 0, ip)

    def _tcp_udp(self, B, out, enc, ip: dict) -> None:
        """The TCP and the UDP (no tunnel) after IP headers (ip: as _ipv4 and _ipv6 give them)."""
        rows, proto, t, plen = ip["rows"], ip["proto"], ip["l4"], ip["plen"]
        k = np.flatnonzero(proto == 6)
        self._tcp(B, out, enc, rows[k], t[k], plen[k], ip["tlen"][k])
        k = np.flatnonzero(proto == 17)
        self._udp(out, enc, rows[k], B.window(rows[k], t[k], L4_WINDOW), plen[k])

    def _tcp(self, B, out, enc, rows, t, plen, tlen):
        """TCP at t with plen bytes present."""
        L = B.window(rows, t, 24)      # the fixed header and the first option word
        sport, dport = _u16(L, 0), _u16(L, 2)
        off_flags = _u16(L, 12)
        thl = (off_flags >> 12) * 4
        flags = off_flags & 0x1FF
        # options cut off (thl > plen) and a data offset below 5 are the reference's to report
        good = (plen >= 20) & (thl >= 20) & (thl <= plen) & (sport != BGP_PORT) & (dport != BGP_PORT)
        mss = np.full(len(rows), -1, dtype=_I64)
        sack = np.full(len(rows), -1, dtype=_I64)
        # options other than the usual lone timestamp (which holds neither an MSS nor SACK blocks) are walked
        timestamp_only = (thl == 32) & (_u32(L, 20) == _NOP_NOP_TIMESTAMP)
        walk = np.flatnonzero(good & (thl > 20) & ~timestamp_only)
        if len(walk):
            found_mss, sack[walk] = self._options(B, t[walk] + 20, t[walk] + thl[walk])
            mss[walk] = np.where((flags[walk] & _TH_SYN) != 0, found_mss, -1)
        k = np.flatnonzero(good)
        rows = rows[k]
        out["sport", rows] = sport[k]
        out["dport", rows] = dport[k]
        out["tcp_flags", rows] = flags[k]
        out["tcp_seq", rows] = _u32(L, 4)[k]
        out["tcp_ack", rows] = np.where((flags[k] & _TH_ACK) != 0, _u32(L, 8)[k], -1)
        out["tcp_payload", rows] = np.maximum(tlen[k] - thl[k], 0)
        out["tcp_mss", rows] = mss[k]
        out["tcp_sack_right", rows] = sack[k]
        if enc:
            out.enc[rows] = enc
        out.done[rows] = True

    @staticmethod
    def _options(B, pos, end):
        """The reference's walk of dpkt's parse_opts over [pos, end), up to the end of the list (EOL, or an
        option with no length byte): the last MSS value, and the latest right edge of the SACK blocks
        (-1 for none)."""
        k = len(pos)
        mss = np.full(k, -1, dtype=_I64)
        sack = np.full(k, -1, dtype=_I64)
        pos = pos.copy()
        live = np.flatnonzero(pos < end)
        while len(live):
            p, e = pos[live], end[live]
            kind = B.byte(p)
            single = kind <= 1                      # EOL and NOP: one byte
            bad = (~single & (p + 1 >= e)) | (kind == 0)  # no length byte, or EOL: the list ends here
            two = np.flatnonzero(~single & ~bad)
            length = np.ones(len(live), dtype=_I64)
            length[two] = np.maximum(B.byte(p[two] + 1), 2)
            value_len = np.minimum(p + length, e) - (p + 2)
            is_mss = np.flatnonzero(~single & ~bad & (kind == 2) & (value_len == 2))
            mss[live[is_mss]] = (B.byte(p[is_mss] + 2) << 8) | B.byte(p[is_mss] + 3)
            is_sack = np.flatnonzero(~single & ~bad & (kind == 5) & (value_len >= 8))
            for block in range(int(value_len[is_sack].max(initial=0)) // 8):
                has = is_sack[value_len[is_sack] >= 8 * (block + 1)]
                at = p[has] + 2 + 8 * block + 4
                right = (B.byte(at) << 24) | (B.byte(at + 1) << 16) | (B.byte(at + 2) << 8) | B.byte(at + 3)
                sack[live[has]] = _later_sequence(sack[live[has]], right)
            pos[live] = p + length
            live = live[~bad]
            live = live[pos[live] < end[live]]
        return mss, sack

    def _udp(self, out, enc, rows, L, plen):
        """UDP (L: its window) that is no tunnel by port and fails every plausibility test."""
        sport, dport = _u16(L, 0), _u16(L, 2)
        good = (plen >= 8) & ~self._is_tunnel_port[dport] & ~_maybe_tunnel(L, plen - 8)
        k = np.flatnonzero(good)
        rows = rows[k]
        out["sport", rows] = sport[k]
        out["dport", rows] = dport[k]
        if enc:
            out.enc[rows] = enc
        out.done[rows] = True

    @staticmethod
    def _icmp(B, out, enc, rows, t, plen):
        """ICMP other than the error types (which quote a packet)."""
        L = B.window(rows, t, 8)
        kind = _u8(L, 0)
        k = np.flatnonzero((plen >= 8) & ~np.isin(kind, _ICMP_ERRORS))
        rows, kind = rows[k], kind[k]
        out["icmp_type", rows] = kind
        out["icmp_code", rows] = _u8(L, 1)[k]
        echo = np.flatnonzero((kind == 0) | (kind == 8))     # identifier << 16 | sequence
        out["icmp_echo", rows[echo]] = _u32(L, 4)[k[echo]]
        if enc:
            out.enc[rows] = enc
        out.done[rows] = True

    @staticmethod
    def _udp_checksum_state(B, L, t, plen, src, dst, wire, cut):
        """The reference's udp_checksum_state for the UDP datagrams at t (L: their windows).

        Returns (state, partial mask, unsure mask: rows to leave to the reference).
        """
        k = len(t)
        csum = _u16(L, 6)
        state = np.full(k, CSUM_NONE, dtype=_I64)
        unsure = np.zeros(k, dtype=bool)
        nonzero = csum != 0
        check = nonzero & (wire <= JUMBO_FRAME_MAX) & ~cut & (_u16(L, 4) == plen)
        state[nonzero & ~check] = -1
        c = np.flatnonzero(check)
        if len(c):
            s = t[c]
            weighted = _weighted_sums(B, s, s + plen[c])
            if weighted is None:               # records overlap in the buffer: let the reference do it
                unsure[c] = True
            else:
                pseudo = (src[c] >> 16) + (src[c] & 0xFFFF) + (dst[c] >> 16) + (dst[c] & 0xFFFF) + 17 + plen[c]
                # the big-endian word sum is 256 * weighted (s even) or weighted (s odd), modulo 0xFFFF
                body = np.where(s % 2 == 0, (weighted % 0xFFFF) * 256, weighted)
                total = _fold(pseudo + body)
                state[c] = np.where(total == 0xFFFF, CSUM_GOOD,
                                    np.where(csum[c] == _fold(pseudo), CSUM_PARTIAL, CSUM_BAD))
        return state, state == CSUM_PARTIAL, unsure

    # ------------------------------------------------------------------
    @staticmethod
    def _pair_texts(keys, cache, fmt_pair):
        """Factorize pair keys; the (first, second) texts per unique key, "" appended (code -1 -> last)."""
        codes, uniques = pd.factorize(keys, sort=False)
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
        codes4, uniques = pd.factorize(np.concatenate(v4))
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

    def _facts(self, out, defer, rows):
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


def _outer_ip(out, ip: dict, version: int) -> None:
    """The columns an outer IP header sets, for the innermost header too (until a tunnel says otherwise),
    and its addresses, kept for _address_columns. IPv6 has no identification or DF: those stay unset."""
    rows = ip["rows"]
    for side in ("outer", "inner"):
        out[f"{side}_ipv", rows] = version
        out[f"{side}_proto", rows] = ip["proto"]
        out[f"{side}_len", rows] = ip["len"]
        if version == 4:
            out[f"{side}_ip_id", rows] = ip["id"]
            out[f"{side}_df", rows] = ip["df"]
    out["outer_ttl", rows] = ip["ttl"]
    kept = (out.addr_rows, out.addr_src, out.addr_dst) if version == 4 else \
        (out.addr6_rows, out.addr6_src, out.addr6_dst)
    for target, values in zip(kept, (rows, ip["src"], ip["dst"])):
        target.append(values)


def _joined(parts: list, shape=(0,), dtype=np.intp):
    """The parts one after another (an empty array of this shape when there are none)."""
    return np.concatenate(parts) if parts else np.zeros(shape, dtype=dtype)


def _part(values, parts: list, index: int):
    """values[...] for parts[index], where values runs over all the parts one after another."""
    offset = sum(len(part) for part in parts[:index])
    return values[offset:offset + len(parts[index])]


def _maybe_tunnel(L, size):
    """False where a UDP payload (bytes 8.. of the window L, size bytes) surely fails every plausibility
    detector of the reference; True where one might pass."""
    fields = {}

    def peek(offset, width):
        key = (offset, width)
        if key not in fields:
            fields[key] = (_u8, _u16)[width - 1](L, 8 + offset)
        return fields[key]

    maybe = PLAUSIBILITY[0].screen(peek, size)
    for detector in PLAUSIBILITY[1:]:
        maybe |= detector.screen(peek, size)
    return maybe


def _later_sequence(best, edge):
    """reference.later_sequence over arrays: edge where it is later than best (or best is -1)."""
    ahead = (edge - best) % SEQ_SPACE
    return np.where((best < 0) | ((ahead > 0) & (ahead < SEQ_SPACE // 2)), edge, best)


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


def _mac_pair(key: complex) -> tuple[str, str]:
    return _mac_text(int(key.real)), _mac_text(int(key.imag))


def _mac_text(value: int) -> str:
    return ":".join(f"{x:02x}" for x in value.to_bytes(6, "big"))


__all__ = ["FastDecoder"]
