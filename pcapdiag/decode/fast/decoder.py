"""FastDecoder: a batch through the stages the reference walks one packet through (see the package doc).

    decode_batch      the stages in order; the rows no stage finished go to the reference
    _link             link_to_network: Ethernet (one 802.1Q tag), raw IP, SLL, SLL2 -> IPv4 / IPv6 rows
    _outer_ipv6       native IPv6 -> _tcp_udp
    _outer_ipv4       IPv4 -> by protocol: _tcp, _icmp, _udp (no tunnel) or _udp_tunnels, IPIP -> _inner_ipv4
    _udp_tunnels      VXLAN / Geneve by port -> the bridged Ethernet -> _inner_ipv6 or _inner_ipv4
    _ipv4, _ipv6      one IP header's fields, for the rows whose header passes the reference's checks
    _tcp, _udp, _icmp the innermost layer (_tcp_options: dpkt's option walk)

Each stage takes the rows it gets (record numbers), the buffer position of its header and the bytes from
there on, and keeps only the rows it can prove it decodes as the reference does.
"""
from __future__ import annotations

import numpy as np

from ...protocols import (BGP_PORT, DEFAULT_VXLAN_PORTS, ETH_TYPE_8021Q, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IP6,
                          ETH_TYPE_TEB, ICMP_ECHO_TYPES, ICMP_ERROR_TYPES, IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP,
                          IPPROTO_UDP, LINKTYPE_ETHERNET, LINKTYPE_SLL, LINKTYPE_SLL2, LINKTYPES_RAW, SEQ_SPACE,
                          TCP_OPT_EOL, TCP_OPT_MSS, TCP_OPT_NOP, TCP_OPT_SACK, TH_ACK, TH_SYN, IKE_PORT, NAT_T_PORT)
from ..encrypted import wireguard_screen
from ..facts import Facts, rows_to_facts
from ..plausible import PLAUSIBILITY, SCREEN_BYTES
from ..reference import ReferenceDecoder, udp_tunnel_ports
from ..tunnels import VXLAN_GPE_FLAG_P
from .buffer import Buffer, take, udp_checksum_states
from .columns import ENC_GENEVE, ENC_IPIP, ENC_NATIVE, ENC_NON_IP, ENC_VXLAN, Columns, TextTables
from .layouts import (ETHERNET, GENEVE_HEADER, ICMP, ICMP_ECHO, IP, IP6, SLL, SLL2, TCP, UDP, VLAN_TAG, VXLAN_HEADER,
                      uint_at)

_I64 = np.int64
_RAW_LINKS = np.array(sorted(LINKTYPES_RAW), dtype=_I64)
_ICMP_ECHO = np.array(ICMP_ECHO_TYPES[IPPROTO_ICMP], dtype=_I64)
# the usual 12 option bytes: NOP, NOP, timestamp (kind 8, length 10); they hold neither an MSS nor SACK blocks
_NOP_NOP_TIMESTAMP = 0x0101080A
_TCP_WINDOW = TCP.size + 4               # the fixed header and the first option word
_UDP_WINDOW = UDP.size + max(SCREEN_BYTES, VXLAN_HEADER.size + ETHERNET.size)   # what _udp and _udp_tunnels read
_IKE_PORTS = np.zeros(65536, dtype=bool)     # IKE, ESP-in-UDP and NAT keepalives: the reference tells them apart
_IKE_PORTS[[IKE_PORT, NAT_T_PORT]] = True


class FastDecoder:
    """Vectorised decoder of the common stacks; every row it cannot prove goes to the reference."""

    name = "fast"

    def __init__(self, vxlan_ports=DEFAULT_VXLAN_PORTS):
        self.vxlan_ports = frozenset(int(p) for p in vxlan_ports)
        self.reference = ReferenceDecoder(self.vxlan_ports)
        # the reference's UDP port -> tunnel table, as lookup arrays over all ports
        self._is_vxlan_port = np.zeros(65536, dtype=bool)
        self._is_geneve_port = np.zeros(65536, dtype=bool)
        self._is_tunnel_port = np.zeros(65536, dtype=bool)
        for port, header in udp_tunnel_ports(self.vxlan_ports).items():
            if 0 <= port < 65536:
                self._is_tunnel_port[port] = True
                (self._is_vxlan_port if header == "vxlan" else self._is_geneve_port)[port] = True
        self.texts = TextTables()
        self.packets = 0       # rows decoded
        self.fallback = 0      # of which the reference decoded

    def decode_batch(self, batch) -> Facts:
        n = len(batch.offsets)
        self.packets += n
        if n == 0:
            return rows_to_facts([])
        out = Columns(batch)
        B = Buffer(batch.buf, out.start)
        (rows4, at4), (rows6, at6) = self._link(B, out)
        self._outer_ipv6(B, out, rows6, at6)
        self._outer_ipv4(B, out, rows4, at4)
        # everything else: the reference, in record order
        defer = np.flatnonzero(~out.done)
        self.fallback += len(defer)
        rows = self.reference.decode_rows_at(batch, defer.tolist()) if len(defer) else []
        return self.texts.facts(out, defer, rows)

    # -- link layer ------------------------------------------------------------------------------
    @staticmethod
    def _link(B, out):
        """(rows, position of the network header) of the records carrying IPv4, and of those carrying IPv6.
        ARP over Ethernet is done here: dpkt parses it (or not), either way no IP and no exception."""
        start, caplen, linktype = out.start, out.caplen, out.linktype
        rows = np.flatnonzero((start >= 0) & (out.end <= B.size) & (caplen >= 1))
        head = B.head[rows] if len(rows) < out.n else B.head     # the first bytes of each record
        linktype, caplen = linktype[rows], caplen[rows]
        frame, tag = ETHERNET.read(head), VLAN_TAG.read(head, at=ETHERNET.size)   # the tag follows type 0x8100
        cooked, cooked2 = SLL.read(head), SLL2.read(head)
        ethernet = (linktype == LINKTYPE_ETHERNET) & (caplen >= ETHERNET.size)
        tagged = ethernet & (caplen >= ETHERNET.size + VLAN_TAG.size) & (frame.type == ETH_TYPE_8021Q)
        raw = np.isin(linktype, _RAW_LINKS)
        sll = (linktype == LINKTYPE_SLL) & (caplen >= SLL.size)
        sll2 = (linktype == LINKTYPE_SLL2) & (caplen >= SLL2.size)
        arp = rows[ethernet & (frame.type == ETH_TYPE_ARP)]
        out.enc[arp] = ENC_NON_IP
        out.done[arp] = True
        version = IP.read(head).v
        networks = []
        for ethertype, ip_version in ((ETH_TYPE_IP, 4), (ETH_TYPE_IP6, 6)):
            eth_ip = ethernet & (frame.type == ethertype)
            vlan_ip = tagged & (tag.type == ethertype)
            raw_ip = raw & (version == ip_version)
            sll_ip = sll & (cooked.ethtype == ethertype)
            sll2_ip = sll2 & (cooked2.ethtype == ethertype)
            network = (ETHERNET.size * eth_ip + (ETHERNET.size + VLAN_TAG.size) * vlan_ip + SLL.size * sll_ip
                       + SLL2.size * sll2_ip)
            k = np.flatnonzero(eth_ip | vlan_ip | raw_ip | sll_ip | sll2_ip)
            networks.append((rows[k], start[rows[k]] + network[k]))
        return networks

    # -- network layer -----------------------------------------------------------------------------
    def _outer_ipv6(self, B, out, rows, at):
        ip = self._ipv6(B, rows, at, out.end[rows] - at, out.cut[rows])
        _outer_ip(out, ip, 6)
        self._tcp_udp(B, out, ENC_NATIVE, ip)

    def _outer_ipv4(self, B, out, rows, at):
        ip = self._ipv4(B, rows, at, out.end[rows] - at, out.cut[rows], outer=True)
        rows, proto, t0, plen, tlen = ip["rows"], ip["proto"], ip["l4"], ip["plen"], ip["tlen"]
        _outer_ip(out, ip, 4)
        k = np.flatnonzero(proto == IPPROTO_TCP)
        self._tcp(B, out, ENC_NATIVE, rows[k], t0[k], plen[k], tlen[k])
        k = np.flatnonzero(proto == IPPROTO_ICMP)
        self._icmp(B, out, ENC_NATIVE, rows[k], t0[k], plen[k])
        k = np.flatnonzero((proto == IPPROTO_UDP) & (plen >= UDP.size))
        ru, tu, pu, src, dst = take(k, rows, t0, plen, ip["src"], ip["dst"])
        window = B.window(ru, tu, _UDP_WINDOW)
        tunnel = self._is_tunnel_port[UDP.read(window).dport]
        k = np.flatnonzero(~tunnel)
        self._udp(out, ENC_NATIVE, ru[k], window[k], pu[k])
        k = np.flatnonzero(tunnel)
        inner = self._udp_tunnels(B, out, *take(k, ru, window, tu, pu, src, dst))
        # IPIP: the inner IPv4 is the outer payload
        k = np.flatnonzero(proto == IPPROTO_IPIP)
        out.enc[rows[k]] = ENC_IPIP
        self._inner_ipv4(B, out, *(np.concatenate([part, whole[k]]) for part, whole in zip(inner, (rows, t0, plen))))

    def _udp_tunnels(self, B, out, rows, window, at, size, src, dst):
        """UDP to a tunnel port (window: from its header on): VXLAN without the GPE flag, or Geneve (options
        of any length) carrying Ethernet, with an untagged inner Ethernet carrying IPv4 or IPv6 (a port of
        both sets is VXLAN's, as in the reference). Decodes the inner IPv6; returns (rows, at, avail) of
        the inner IPv4."""
        udp, vxlan_header, geneve = UDP.read(window), VXLAN_HEADER.read(window, at=8), GENEVE_HEADER.read(window, at=8)
        vxlan = self._is_vxlan_port[udp.dport]
        head = np.where(vxlan, UDP.size + VXLAN_HEADER.size, UDP.size + GENEVE_HEADER.size + geneve.opt_len * 4)
        k = np.flatnonzero(np.where(vxlan, (vxlan_header.flags & VXLAN_GPE_FLAG_P) == 0, geneve.proto == ETH_TYPE_TEB)
                           & (size >= head + ETHERNET.size))
        rows, window, at, size, src, dst, vxlan, head = take(k, rows, window, at, size, src, dst, vxlan, head)
        bridged = B.window(rows, at + head, ETHERNET.size)
        inner_type = ETHERNET.read(bridged).type
        k = np.flatnonzero((inner_type == ETH_TYPE_IP) | (inner_type == ETH_TYPE_IP6))
        rows, window, at, size, src, dst, vxlan, head, bridged, inner_type = take(
            k, rows, window, at, size, src, dst, vxlan, head, bridged, inner_type)
        csum, partial, unsure = udp_checksum_states(B, UDP.read(window), at, size, src, dst, out.wirelen[rows],
                                                    out.cut[rows])
        k = np.flatnonzero(~unsure)
        rows, window, at, size, vxlan, head, bridged, inner_type, csum, partial = take(
            k, rows, window, at, size, vxlan, head, bridged, inner_type, csum, partial)
        out["tunnel_port", rows] = UDP.read(window).dport
        out["vni", rows] = VXLAN_HEADER.read(window, at=8).vni     # where Geneve keeps it too
        out["outer_udp_csum", rows] = csum
        out["offload", rows[partial]] = True
        frame = ETHERNET.read(bridged)
        out.mac_rows.append(rows)
        out.mac_dst.append(frame.dst)
        out.mac_src.append(frame.src)
        out.enc[rows] = np.where(vxlan, ENC_VXLAN, ENC_GENEVE)
        # the inner IP header, and the bytes from it on
        at, avail = at + head + ETHERNET.size, size - head - ETHERNET.size
        k = np.flatnonzero(inner_type == ETH_TYPE_IP6)
        self._inner_ipv6(B, out, rows[k], at[k], avail[k])
        k = np.flatnonzero(inner_type == ETH_TYPE_IP)
        return rows[k], at[k], avail[k]

    def _inner_ipv4(self, B, out, rows, at, avail):
        """The inner IPv4 of VXLAN / Geneve / IPIP rows."""
        ip = self._ipv4(B, rows, at, avail, out.cut[rows], outer=False)
        rows = ip["rows"]
        out["inner_proto", rows] = ip["proto"]
        out["inner_len", rows] = ip["len"]
        out["inner_ip_id", rows] = ip["id"]
        out["inner_df", rows] = ip["df"]
        out["inner_mf", rows] = ip["mf"]
        out["inner_frag_off", rows] = ip["frag_off"]
        out.inner_rows.append(rows)
        out.inner_src.append(ip["src"])
        out.inner_dst.append(ip["dst"])
        later = ip["frag_off"] != 0
        out.done[rows[later]] = True          # a non-first inner fragment: no L4 header to read
        k = np.flatnonzero(~later)
        ip = {name: ip[name][k] for name in ("rows", "proto", "l4", "plen", "tlen")}
        self._tcp_udp(B, out, 0, ip)
        k = np.flatnonzero(ip["proto"] == IPPROTO_ICMP)
        self._icmp(B, out, 0, ip["rows"][k], ip["l4"][k], ip["plen"][k])

    def _inner_ipv6(self, B, out, rows, at, avail):
        """The inner IPv6 at `at` (avail bytes from there) of tunnel rows: TCP and UDP."""
        if not len(rows):
            return
        ip = self._ipv6(B, rows, at, avail, out.cut[rows])
        rows = ip["rows"]
        out["inner_ipv", rows] = 6
        out["inner_proto", rows] = ip["proto"]
        out["inner_len", rows] = ip["len"]
        out["inner_ip_id", rows] = -1               # IPv6 has none (the outer IPv4's was set for both)
        out["inner_df", rows] = False
        out.inner6_rows.append(rows)
        out.inner6_src.append(ip["src"])
        out.inner6_dst.append(ip["dst"])
        self._tcp_udp(B, out, 0, ip)

    @staticmethod
    def _ipv4(B, rows, pos, avail, cut, outer):
        """IPv4 headers at pos with avail bytes after them: fields of the rows that pass the checks."""
        k = np.flatnonzero(avail >= IP.size)
        rows, pos, avail, cut = take(k, rows, pos, avail, cut)
        window = B.window(rows, pos, IP.size)
        header = IP.read(window)
        total, header_len = header.len, header.hl * 4
        good = (header.v == 4) & (header_len >= IP.size) & (total >= header_len) & ((total <= avail) | cut)
        if outer:
            good &= (header.mf == 0) & (header.offset == 0)     # fragments go to the reference (its fragment table)
        k = np.flatnonzero(good)
        rows, pos, avail, total, header_len, window = take(k, rows, pos, avail, total, header_len, window)
        header = IP.read(window)
        # bytes of the payload present: buf[hl:total] of the bytes there are
        return {
            "rows": rows, "len": total, "proto": header.p, "id": header.id, "ttl": header.ttl,
            "df": header.df != 0, "mf": header.mf != 0, "frag_off": header.offset * 8,
            "src": header.src, "dst": header.dst,
            "l4": pos + header_len, "plen": np.minimum(total, avail) - header_len,
            # the transport length the IP header states: total - header
            "tlen": total - header_len,
        }

    @staticmethod
    def _ipv6(B, rows, pos, avail, cut):
        """IPv6 headers at pos with avail bytes after them, followed directly by TCP or UDP (no extension
        headers, a payload length that is not 0: jumbograms and super-frames are the reference's)."""
        k = np.flatnonzero(avail >= IP6.size)
        rows, pos, avail, cut = take(k, rows, pos, avail, cut)
        window = B.window(rows, pos, IP6.size)
        header = IP6.read(window)
        total, proto = header.plen + IP6.size, header.nxt
        good = (header.v == 6) & (header.plen > 0) & ((proto == IPPROTO_TCP) | (proto == IPPROTO_UDP)) \
            & ((total <= avail) | cut)
        k = np.flatnonzero(good)
        rows, pos, avail, total, proto, window = take(k, rows, pos, avail, total, proto, window)
        header = IP6.read(window)
        return {"rows": rows, "len": total, "proto": proto, "ttl": header.hlim, "src": header.src,
                "dst": header.dst, "l4": pos + IP6.size, "plen": np.minimum(total, avail) - IP6.size,
                "tlen": total - IP6.size}

    # -- innermost L4 ------------------------------------------------------------------------------
    def _tcp_udp(self, B, out, enc, ip: dict) -> None:
        """The TCP and the UDP (no tunnel) after IP headers (ip: as _ipv4 and _ipv6 give them)."""
        rows, proto, t, plen = ip["rows"], ip["proto"], ip["l4"], ip["plen"]
        k = np.flatnonzero(proto == IPPROTO_TCP)
        self._tcp(B, out, enc, rows[k], t[k], plen[k], ip["tlen"][k])
        k = np.flatnonzero(proto == IPPROTO_UDP)
        self._udp(out, enc, rows[k], B.window(rows[k], t[k], _UDP_WINDOW), plen[k])

    def _tcp(self, B, out, enc, rows, t, plen, tlen):
        """TCP at t with plen bytes present (tlen by the IP lengths)."""
        window = B.window(rows, t, _TCP_WINDOW)
        segment = TCP.read(window)
        sport, dport, flags, header_len = segment.sport, segment.dport, segment.flags, segment.off * 4
        # options cut off (header_len > plen) and a data offset below 5 are the reference's to report
        good = (plen >= TCP.size) & (header_len >= TCP.size) & (header_len <= plen) & (sport != BGP_PORT) \
            & (dport != BGP_PORT)
        mss = np.full(len(rows), -1, dtype=_I64)
        sack = np.full(len(rows), -1, dtype=_I64)
        timestamp_only = (header_len == TCP.size + 12) & (uint_at(window, TCP.size, 4) == _NOP_NOP_TIMESTAMP)
        walk = np.flatnonzero(good & (header_len > TCP.size) & ~timestamp_only)
        if len(walk):
            found_mss, sack[walk] = self._tcp_options(B, t[walk] + TCP.size, t[walk] + header_len[walk])
            mss[walk] = np.where((flags[walk] & TH_SYN) != 0, found_mss, -1)
        k = np.flatnonzero(good)
        rows = rows[k]
        out["sport", rows] = sport[k]
        out["dport", rows] = dport[k]
        out["tcp_flags", rows] = flags[k]
        out["tcp_seq", rows] = segment.seq[k]
        out["tcp_ack", rows] = np.where((flags[k] & TH_ACK) != 0, segment.ack[k], -1)
        out["tcp_payload", rows] = np.maximum(tlen[k] - header_len[k], 0)
        out["tcp_mss", rows] = mss[k]
        out["tcp_sack_right", rows] = sack[k]
        if enc:
            out.enc[rows] = enc
        out.done[rows] = True

    @staticmethod
    def _tcp_options(B, pos, end):
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
            single = kind <= TCP_OPT_NOP                 # EOL and NOP: one byte
            bad = (~single & (p + 1 >= e)) | (kind == TCP_OPT_EOL)  # no length byte, or EOL: the list ends here
            two = np.flatnonzero(~single & ~bad)
            length = np.ones(len(live), dtype=_I64)
            length[two] = np.maximum(B.byte(p[two] + 1), 2)
            value_len = np.minimum(p + length, e) - (p + 2)
            is_mss = np.flatnonzero(~single & ~bad & (kind == TCP_OPT_MSS) & (value_len == 2))
            mss[live[is_mss]] = (B.byte(p[is_mss] + 2) << 8) | B.byte(p[is_mss] + 3)
            is_sack = np.flatnonzero(~single & ~bad & (kind == TCP_OPT_SACK) & (value_len >= 8))
            for block in range(int(value_len[is_sack].max(initial=0)) // 8):
                has = is_sack[value_len[is_sack] >= 8 * (block + 1)]
                at = p[has] + 2 + 8 * block + 4
                right = (B.byte(at) << 24) | (B.byte(at + 1) << 16) | (B.byte(at + 2) << 8) | B.byte(at + 3)
                sack[live[has]] = _later_sequence(sack[live[has]], right)
            pos[live] = p + length
            live = live[~bad]
            live = live[pos[live] < end[live]]
        return mss, sack

    def _udp(self, out, enc, rows, window, plen):
        """UDP (window: from its header on) that is no tunnel by port and fails every plausibility screen."""
        udp = UDP.read(window)
        good = (plen >= UDP.size) & ~self._is_tunnel_port[udp.dport] & ~_maybe_tunnel(window, plen - UDP.size) \
            & ~_maybe_encrypted(udp, window)
        k = np.flatnonzero(good)
        rows = rows[k]
        out["sport", rows] = udp.sport[k]
        out["dport", rows] = udp.dport[k]
        if enc:
            out.enc[rows] = enc
        out.done[rows] = True

    @staticmethod
    def _icmp(B, out, enc, rows, t, plen):
        """ICMP other than the error types (which quote a packet: the reference decodes those)."""
        window = B.window(rows, t, ICMP.size + ICMP_ECHO.size)
        message = ICMP.read(window)
        kind = message.type
        k = np.flatnonzero((plen >= 8) & ~np.isin(kind, ICMP_ERROR_TYPES))
        rows, kind = rows[k], kind[k]
        out["icmp_type", rows] = kind
        out["icmp_code", rows] = message.code[k]
        echo = np.flatnonzero(np.isin(kind, _ICMP_ECHO))
        request = ICMP_ECHO.read(window, at=ICMP.size)
        out["icmp_echo", rows[echo]] = (request.id[k[echo]] << 16) | request.seq[k[echo]]
        if enc:
            out.enc[rows] = enc
        out.done[rows] = True


def _outer_ip(out, ip: dict, version: int) -> None:
    """The columns an outer IP header sets, for the innermost header too (until a tunnel says otherwise),
    and its addresses, kept for the address columns. IPv6 has no identification or DF: those stay unset."""
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


def _maybe_tunnel(window, size):
    """False where a UDP payload (after the UDP header of window, size bytes) surely fails every plausibility
    detector of the reference; True where one might pass (plausible.PLAUSIBILITY's screens)."""
    fields = {}

    def peek(offset, width):
        if (offset, width) not in fields:
            fields[(offset, width)] = uint_at(window, UDP.size + offset, width)
        return fields[(offset, width)]

    maybe = PLAUSIBILITY[0].screen(peek, size)
    for detector in PLAUSIBILITY[1:]:
        maybe |= detector.screen(peek, size)
    return maybe


def _maybe_encrypted(udp, window):
    """False where the reference's encrypted.classify_udp surely finds nothing in a UDP datagram (window: from
    its header on): neither of IKE's ports, nor WireGuard's type and reserved bytes (encrypted.wireguard_screen,
    sized by the UDP length as the reference sizes it). WireGuard and ESP-in-UDP rows are the reference's."""
    return _IKE_PORTS[udp.sport] | _IKE_PORTS[udp.dport] | wireguard_screen(
        lambda offset, width: uint_at(window, UDP.size + offset, width), udp.ulen - UDP.size)


def _later_sequence(best, edge):
    """reference.later_sequence over arrays: edge where it is later than best (or best is -1)."""
    ahead = (edge - best) % SEQ_SPACE
    return np.where((best < 0) | ((ahead > 0) & (ahead < SEQ_SPACE // 2)), edge, best)
