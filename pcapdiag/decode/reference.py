"""The reference decoder: dpkt, one packet at a time, every stack we support.

Shaped like Zeek's packet analysis: each layer parses its own header and hands
the rest on by a key (ethertype, IP protocol, UDP port) through dispatch
tables; nesting is capped at MAX_DEPTH; anomalies become counted facts
(truncated / malformed / too_deep), never exceptions.
"""
from __future__ import annotations

import socket
import struct

import dpkt
from dpkt import ah, bgp, ethernet, gre, ip, ip6, sll, sll2, tcp, udp

from .facts import MAX_DEPTH, new_row
from .tunnels import VXLAN, Geneve, NSH, ETH_TYPE_TEB, NSH_NEXT_PROTO, VXLAN_FLAG_VNI

DEFAULT_VXLAN_PORTS = frozenset({4789, 8472, 4790})  # IANA, Linux/flannel/Cilium default, VXLAN-GPE
GENEVE_PORTS = frozenset({6081})
BGP_PORT = 179

# Class names by the key that introduces them (one place; overhead lives in analyze/overhead.py).
IP_IN_IP_CLASS = {(4, 4): "ipip", (4, 41): "6in4", (6, 4): "4in6", (6, 41): "6in6"}
ETH_TYPE_IP, ETH_TYPE_IP6 = 0x0800, 0x86DD
IP_ETHERTYPES = {ETH_TYPE_IP: 4, ETH_TYPE_IP6: 6}
# Link types: how to reach the network layer. Raw IP types pick the version from the first nibble.
LINK_RAW = {12, 14, 101, 228, 229}
LINK_NULL = {0, 108}  # BSD loopback: 4-byte address family in host (0) or network (108) order
BSD_AF_INET6 = {24, 28, 30}

_UNREACH = (3, 4)  # ICMP destination unreachable, fragmentation needed and DF set (RFC 1191)
_TOO_BIG = 2       # ICMPv6 packet too big (RFC 4443 3.2)
_ECHO_TYPES = {1: (0, 8), 58: (128, 129)}


SEQ_SPACE = 1 << 32   # TCP sequence numbers count modulo 2**32
CSUM_NONE, CSUM_GOOD, CSUM_BAD, CSUM_PARTIAL = 0, 1, 2, 3
JUMBO_FRAME_MAX = 9216 + 18  # no link MTU in use is larger: a bigger frame was never on the wire as one


class Truncated(Exception):
    """The bytes ran out before a header we wanted: snaplen or a short quote."""


def _addr(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _parse(cls, buf):
    """Parse one header; NeedData means the bytes ran out."""
    try:
        return cls(buf)
    except dpkt.NeedData as exc:
        raise Truncated(cls.__name__) from exc
    except RecursionError:
        # dpkt decodes payloads eagerly and recursively (IP in IP in IP ...): a stack nested a few
        # hundred deep exhausts Python's. Parse this one header alone; MAX_DEPTH stops the walk.
        shallow = _SHALLOW.get(cls)
        if shallow is None:
            raise
        return _parse(shallow, buf)


def link_to_network(linktype: int, data: bytes):
    """Return (ethertype, payload, src MAC) for a record, or (None, ...) when not IP-bearing."""
    if linktype == 1:
        frame = _parse(_Ethernet, data)
        return _ethernet_payload(frame)
    if linktype in LINK_RAW:
        if not data:
            raise Truncated("raw")
        version = data[0] >> 4
        return ({4: ETH_TYPE_IP, 6: ETH_TYPE_IP6}.get(version), data, "")
    if linktype == 113:
        header = _parse(sll.SLL, data)
        return header.ethtype, data[16:], ""
    if linktype == 276:
        header = _parse(sll2.SLL2, data)
        return header.ethtype, data[20:], ""
    if linktype in LINK_NULL:
        if len(data) < 4:
            raise Truncated("null")
        family = struct.unpack("<I" if linktype == 0 else ">I", data[:4])[0]
        if family > 0xFFFF:  # written in the other byte order than the reader's
            family = struct.unpack(">I" if linktype == 0 else "<I", data[:4])[0]
        ethertype = ETH_TYPE_IP if family == 2 else ETH_TYPE_IP6 if family in BSD_AF_INET6 else None
        return ethertype, data[4:], ""
    return None, b"", ""


def _ethernet_payload(frame):
    """Ethertype and payload of an Ethernet frame after dpkt stripped VLAN/QinQ/MPLS tags."""
    tags = len(getattr(frame, "vlan_tags", ()) or ()) + len(getattr(frame, "mpls_labels", ()) or ())
    ethertype = getattr(frame, "_next_type", None) or frame.type
    raw = frame.data if isinstance(frame.data, (bytes, bytearray)) else None
    if raw is None:
        # dpkt parsed the payload; slice the original bytes rather than re-serialise (that recomputes fields)
        raw = frame._original[14 + 4 * tags:]
    return ethertype, raw, _mac(frame.src)


class _Ethernet(ethernet.Ethernet):
    """dpkt's Ethernet, keeping the original bytes for slicing past the tags."""

    def unpack(self, buf):
        self._original = buf
        ethernet.Ethernet.unpack(self, buf)


class _ShallowEthernet(_Ethernet):
    _typesw: dict = {}      # no payload decoding: the walker dispatches itself


class _ShallowIP(ip.IP):
    _protosw: dict = {}


class _ShallowIP6(ip6.IP6):
    _protosw: dict = {}


class _ShallowSLL(sll.SLL):
    _typesw: dict = {}


class _ShallowSLL2(sll2.SLL2):
    _typesw: dict = {}


class _ShallowGRE(gre.GRE):
    """dpkt's GRE dispatches through Ethernet's global table: hide the protocol from it."""

    def unpack(self, buf):
        if len(buf) < 4:
            raise dpkt.NeedData("GRE")
        gre.GRE.unpack(self, buf[:2] + b"\x00\x00" + buf[4:])
        self.p = struct.unpack(">H", buf[2:4])[0]


class _ShallowAH(ah.AH):
    """dpkt's AH dispatches through IP's global table: keep the payload as bytes."""

    def unpack(self, buf):
        dpkt.Packet.unpack(self, buf)
        auth_len = max(4 * self.len - 4, 0)
        self.auth = self.data[:auth_len]
        self.data = self.data[auth_len:]


_SHALLOW = {_Ethernet: _ShallowEthernet, ip.IP: _ShallowIP, ip6.IP6: _ShallowIP6, sll.SLL: _ShallowSLL,
            sll2.SLL2: _ShallowSLL2, gre.GRE: _ShallowGRE, ah.AH: _ShallowAH}


class PacketWalker:
    """Walks one packet from the link layer to its innermost IP packet, filling a fact row."""

    def __init__(self, vxlan_ports=DEFAULT_VXLAN_PORTS):
        self.vxlan_ports = frozenset(vxlan_ports)

    # -- entry point -------------------------------------------------------
    def decode(self, ts, caplen, wirelen, linktype, data) -> dict:
        row = new_row()
        row.update(ts=ts, caplen=caplen, wirelen=wirelen, linktype=linktype, offload=wirelen > JUMBO_FRAME_MAX)
        chain: list[str] = []
        try:
            ethertype, payload, _ = link_to_network(linktype, data)
            if ethertype in IP_ETHERTYPES:
                self._ip(payload, IP_ETHERTYPES[ethertype], row, chain, outer=True)
        except _TooDeep:
            pass  # too_deep is set; the chain so far is kept
        except RecursionError:
            row["too_deep"] = True  # nested beyond what even one dpkt header parse survives (Cisco ISL in ISL ...)
        except Truncated:
            # bytes ran out: snaplen (truncated), a first fragment (expected), or lying headers (malformed)
            if caplen < wirelen:
                row["truncated"] = True
            elif not row["outer_mf"]:
                row["malformed"] = True
        except (dpkt.UnpackError, struct.error, ValueError, IndexError, TypeError, AttributeError, KeyError):
            # dpkt surfaces bad headers as any of these; a malformed packet is a counted fact
            row["malformed"] = True
        if row["outer_ipv"] == 0:
            row["encap"] = row["outer_class"] = "non-ip"
        else:
            row["encap"] = ">".join(chain) if chain else "native"
            row["outer_class"] = chain[0] if chain else "native"
        return row

    # -- network layer -------------------------------------------------------
    def _ip(self, buf, version, row, chain, outer, depth=0):
        if version == 4:
            packet = _parse(ip.IP, buf)
            if packet.v != 4:
                raise dpkt.UnpackError("not IPv4")
            total_len, proto = packet.len, packet.p
            frag_off, more_frags, dont_frag, ident = packet.offset * 8, bool(packet.mf), bool(packet.df), packet.id
            header_len = packet.hl * 4
            if header_len < 20 or (total_len and total_len < header_len):
                raise dpkt.UnpackError("bad IHL or total length")
            payload = buf[header_len:total_len] if total_len else buf[header_len:]
            ttl = packet.ttl
        else:
            packet = _parse(ip6.IP6, buf)
            if packet.v != 6:
                raise dpkt.UnpackError("not IPv6")
            total_len = packet.plen + 40 if packet.plen else 0
            frag = packet.extension_hdrs.get(44) if packet.extension_hdrs else None
            frag_off = frag.frag_off * 8 if frag else 0
            more_frags = bool(frag.m_flag) if frag else False
            dont_frag, ident, ttl = False, frag.id if frag else -1, packet.hlim
            proto = packet.p
            payload = self._ip6_upper_payload(packet, buf)
        if total_len == 0:
            # IP length 0: a GSO/TSO/BIG TCP super-frame handed to the capture before segmentation
            total_len = len(buf)
            row["offload"] = True
        src, dst = _addr(packet.src), _addr(packet.dst)
        if outer:
            row.update(outer_ipv=version, outer_src=src, outer_dst=dst, outer_proto=proto, outer_len=total_len,
                       outer_ip_id=ident, outer_df=dont_frag, outer_mf=more_frags, outer_frag_off=frag_off,
                       outer_ttl=ttl)
        # the innermost IP header so far (overwritten as tunnels unwrap)
        row.update(inner_ipv=version, inner_src=src, inner_dst=dst, inner_proto=proto, inner_len=total_len,
                   inner_ip_id=ident, inner_df=dont_frag, inner_mf=more_frags, inner_frag_off=frag_off)
        cut_short = row["caplen"] < row["wirelen"] or row["outer_mf"]  # snaplen, a quote, or a first fragment
        if total_len > len(buf) and not cut_short:
            raise dpkt.UnpackError("IP total length beyond the frame")
        if frag_off:
            return  # a non-first fragment: its headers are in the first one
        # what the IP header says the upper layer holds (Ethernet padding after the packet is not in it)
        upper_offset = header_len if version == 4 else 40 + sum(ext.length for ext in packet.all_extension_headers)
        self._transport(proto, payload, version, row, chain, depth, total_len - upper_offset)

    @staticmethod
    def _ip6_upper_payload(packet, buf):
        """The bytes after the IPv6 extension headers, bounded by the payload length (0: jumbo/BIG TCP)."""
        start = 40 + sum(ext.length for ext in packet.all_extension_headers)
        return buf[start:40 + packet.plen] if packet.plen else buf[start:]

    def _transport(self, proto, payload, version, row, chain, depth, transport_len):
        if (version, proto) in IP_IN_IP_CLASS:
            self._tunnel(IP_IN_IP_CLASS[(version, proto)], row, chain, depth)
            self._ip(payload, 4 if proto == 4 else 6, row, chain, outer=False, depth=depth + 1)
        elif proto == 51:  # IPsec AH is transparent for classification (RFC 4302 2)
            header = _parse(ah.AH, payload)
            ah_len = (header.len + 2) * 4
            self._transport(header.nxt, payload[ah_len:], version, row, chain, depth, transport_len - ah_len)
        elif proto == 47:
            self._gre(payload, row, chain, depth)
        elif proto == 17:
            self._udp(payload, row, chain, depth)
        elif proto == 6:
            self._tcp(payload, row, transport_len)
        elif proto == 1 or proto == 58:
            self._icmp(payload, proto, row)

    def _tunnel(self, name, row, chain, depth):
        if depth >= MAX_DEPTH:
            row["too_deep"] = True
            raise _TooDeep()
        chain.append(name)

    def _gre(self, payload, row, chain, depth):
        # the bytes after the GRE header as captured: dpkt's GRE would parse the inner packet, and
        # re-serialising it rewrites an inner IPv4 header whose checksum is 0 (length, checksums)
        header = _parse(_ShallowGRE, payload)
        self._tunnel("gre", row, chain, depth)
        if len(chain) == 1 and getattr(header, "key", None) is not None:
            row["vni"] = header.key
        self._ethertype_payload(header.p, bytes(header.data), row, chain, depth)

    def _ethertype_payload(self, ethertype, inner, row, chain, depth):
        if ethertype == ETH_TYPE_TEB:
            frame = _parse(_Ethernet, inner)
            ethertype, inner, _ = _ethernet_payload(frame)
            row["inner_smac"], row["inner_dmac"] = _mac(frame.src), _mac(frame.dst)
        if ethertype in IP_ETHERTYPES:
            self._ip(inner, IP_ETHERTYPES[ethertype], row, chain, outer=False, depth=depth + 1)

    # -- UDP and the tunnels it carries ------------------------------------
    def _udp(self, payload, row, chain, depth):
        if len(payload) < 8:
            raise Truncated("udp")
        header = udp.UDP(payload)
        row["sport"], row["dport"] = header.sport, header.dport
        body = payload[8:]
        tunnel, by_port = self._udp_tunnel(header, body)
        if tunnel is None:
            return
        if not chain:
            row["tunnel_port"] = header.dport
            row["by_plausibility"] = not by_port
            row["outer_udp_csum"] = udp_checksum_state(header.sum, payload, row)
            if row["outer_udp_csum"] == CSUM_PARTIAL:
                row["offload"] = True
        name, parse = tunnel
        self._tunnel(name, row, chain, depth)
        row["sport"] = row["dport"] = -1
        parse(body, row, chain, depth)

    def _udp_tunnel(self, header, body):
        """(tunnel, recognised-by-port) for a UDP payload, or (None, False)."""
        if header.dport in self.vxlan_ports:
            return ("vxlan", self._vxlan), True
        if header.dport in GENEVE_PORTS:
            return ("geneve", self._geneve), True
        if vxlan_plausible(body):
            return ("vxlan", self._vxlan), False
        if geneve_plausible(body):
            return ("geneve", self._geneve), False
        if bare_ip_plausible(body):
            return ("udp-tunnel", self._bare_ip), False
        if gue_plausible(body):
            return ("udp-tunnel", self._gue), False
        return None, False

    def _vxlan(self, body, row, chain, depth):
        header = _parse(VXLAN, body)
        if len(chain) == 1:
            row["vni"] = header.vni
        ethertype = header.payload_ethertype
        inner = header.data
        if ethertype == "nsh":
            service = _parse(NSH, inner)
            ethertype, inner = NSH_NEXT_PROTO.get(service.next_proto), service.data
        self._ethertype_payload(ethertype, inner, row, chain, depth)

    def _geneve(self, body, row, chain, depth):
        header = _parse(Geneve, body)
        if len(chain) == 1:
            row["vni"] = header.vni
        self._ethertype_payload(header.proto, header.data, row, chain, depth)

    def _gue(self, body, row, chain, depth):
        header_len = 4 + (body[0] & 0x1F) * 4
        self._ip(body[header_len:], 4 if body[1] == 4 else 6, row, chain, outer=False, depth=depth + 1)

    def _bare_ip(self, body, row, chain, depth):
        self._ip(body, body[0] >> 4, row, chain, outer=False, depth=depth + 1)

    # -- innermost L4 ---------------------------------------------------------
    def _tcp(self, payload, row, transport_len):
        if len(payload) < 20:
            raise Truncated("tcp")
        header_len = (payload[12] >> 4) * 4
        if header_len > len(payload):
            # options cut off (snaplen or an ICMP quote): the ports are still known
            row["sport"], row["dport"] = struct.unpack(">HH", payload[:4])
            raise Truncated("tcp options")
        segment = tcp.TCP(payload)
        if header_len < 20:
            raise dpkt.UnpackError("bad TCP data offset")
        row.update(sport=segment.sport, dport=segment.dport, tcp_flags=segment.flags, tcp_seq=segment.seq,
                   tcp_payload=max(transport_len - header_len, 0))
        if segment.flags & tcp.TH_ACK:
            row["tcp_ack"] = segment.ack
        self._tcp_options(segment.opts, bool(segment.flags & tcp.TH_SYN), row)
        if BGP_PORT in (segment.sport, segment.dport) and len(segment.data):
            row["bgp_prefixes"] = " ".join(bgp_announced_prefixes(bytes(segment.data)))

    @staticmethod
    def _tcp_options(options: bytes, syn: bool, row) -> None:
        """The MSS of a SYN and the largest right edge of the SACK blocks, from dpkt's option walk."""
        for option in tcp.parse_opts(options):
            if option is None or option[0] == tcp.TCP_OPT_EOL:
                break  # an option cut off, or the end of the list (RFC 9293 3.1): stop, not malformed
            kind, value = option
            if kind == tcp.TCP_OPT_MSS and syn and len(value) == 2:
                row["tcp_mss"] = struct.unpack(">H", value)[0]
            elif kind == tcp.TCP_OPT_SACK:
                # blocks of (left, right) edges (RFC 2018 3); a block cut short is no block
                for block in range(len(value) // 8):
                    right = struct.unpack_from(">I", value, 8 * block + 4)[0]
                    row["tcp_sack_right"] = later_sequence(row["tcp_sack_right"], right)

    def _icmp(self, payload, proto, row):
        if len(payload) < 8:
            raise Truncated("icmp")
        kind, code = payload[0], payload[1]
        row["icmp_type"], row["icmp_code"] = kind, code
        if kind in _ECHO_TYPES[proto]:
            row["icmp_echo"] = struct.unpack(">I", payload[4:8])[0]
        if proto == 1 and (kind, code) == _UNREACH:
            row["icmp_mtu"] = struct.unpack(">H", payload[6:8])[0]
        elif proto == 58 and kind == _TOO_BIG:
            row["icmp_mtu"] = struct.unpack(">I", payload[4:8])[0]
        if (proto == 1 and kind in (3, 4, 5, 11, 12)) or (proto == 58 and kind < 128):
            self._quoted(payload[8:], row)

    def _quoted(self, quote, row):
        """Decode the packet an ICMP error quotes, tunnels included, tolerating the quote's cut."""
        if not quote:
            return
        quoted = new_row()
        quoted.update(caplen=0, wirelen=1)  # a quote is always "cut": missing bytes are truncation
        chain: list[str] = []
        try:
            self._ip(quote, quote[0] >> 4, quoted, chain, outer=True)
        except (Truncated, dpkt.UnpackError, struct.error, ValueError, IndexError, TypeError, AttributeError,
                KeyError, RecursionError):
            pass  # a quote is cut short by design: keep whatever headers it did hold
        if quoted["inner_ipv"]:
            row.update(quoted_src=quoted["inner_src"], quoted_dst=quoted["inner_dst"],
                       quoted_proto=quoted["inner_proto"], quoted_sport=quoted["sport"],
                       quoted_dport=quoted["dport"], quoted_len=quoted["inner_len"],
                       quoted_encap=">".join(chain) if chain else "native")


class _TooDeep(Truncated):
    """Nesting beyond MAX_DEPTH: stop unwrapping, keep what we have."""


# -- plausibility tests: VXLAN/Geneve/bare IP on ports outside the sets ---------

def later_sequence(best: int, edge: int) -> int:
    """The later of two TCP sequence numbers by serial arithmetic (RFC 1982: edge is later when it is less
    than 2**31 ahead modulo 2**32, so an edge that wrapped past 2**32 still counts); best -1: none yet."""
    return edge if best < 0 or 0 < (edge - best) % SEQ_SPACE < SEQ_SPACE // 2 else best


def ip_header_plausible(buf: bytes, ethertype: int | None = None) -> bool:
    """A sane IPv4/IPv6 header at the start of buf (version, IHL, length, checksum)."""
    if len(buf) < 20:
        return False
    version = buf[0] >> 4
    if ethertype is not None and IP_ETHERTYPES.get(ethertype) != version:
        return False
    if version == 4:
        header_len = (buf[0] & 0x0F) * 4
        total_len = struct.unpack(">H", buf[2:4])[0]
        if header_len < 20 or len(buf) < header_len or (total_len and total_len < header_len):
            return False
        return dpkt.in_cksum(buf[:header_len]) == 0
    if version == 6:
        if len(buf) < 40:
            return False
        payload_len = struct.unpack(">H", buf[4:6])[0]
        return payload_len == 0 or payload_len + 40 >= len(buf) - 64  # allow Ethernet padding
    return False


def udp_checksum_state(checksum: int, datagram: bytes, row) -> int:
    """0 none sent, 1 good, 2 bad, 3 partial (offload: only the pseudo-header sum), -1 not checkable."""
    if checksum == 0:
        return CSUM_NONE
    length = len(datagram)
    if row["offload"] or row["outer_mf"] or row["caplen"] < row["wirelen"] or \
            struct.unpack(">H", datagram[4:6])[0] != length:
        return -1
    src = socket.inet_pton(socket.AF_INET6 if row["outer_ipv"] == 6 else socket.AF_INET, row["outer_src"])
    dst = socket.inet_pton(socket.AF_INET6 if row["outer_ipv"] == 6 else socket.AF_INET, row["outer_dst"])
    pseudo = src + dst + (struct.pack(">HH", 17, length) if row["outer_ipv"] == 4 else struct.pack(">IxxxB", length, 17))
    if dpkt.in_cksum(pseudo + datagram) == 0:
        return CSUM_GOOD
    # CHECKSUM_PARTIAL: the sender's NIC would have finished it; the field holds the pseudo-header sum
    return CSUM_PARTIAL if checksum == ~dpkt.in_cksum(pseudo) & 0xFFFF else CSUM_BAD


def _ethernet_plausible(frame: bytes) -> bool:
    if len(frame) < 14:
        return False
    ethertype = struct.unpack(">H", frame[12:14])[0]
    if ethertype == 0x0806:  # ARP for IPv4 over Ethernet
        return frame[14:20] == b"\x00\x01\x08\x00\x06\x04"
    if ethertype == 0x8100:
        return len(frame) >= 18 and ip_header_plausible(frame[18:], struct.unpack(">H", frame[16:18])[0])
    return ip_header_plausible(frame[14:], ethertype)


def vxlan_plausible(body: bytes) -> bool:
    # RFC 7348 5: I flag set; other flag and reserved bits are "ignored on receipt"
    return len(body) >= 8 + 14 and body[0] & VXLAN_FLAG_VNI == VXLAN_FLAG_VNI and body[0] & 0x04 == 0 \
        and _ethernet_plausible(body[8:])


def geneve_plausible(body: bytes) -> bool:
    if len(body) < 8 or body[0] >> 6 != 0:
        return False
    options_len = (body[0] & 0x3F) * 4
    proto = struct.unpack(">H", body[2:4])[0]
    inner = body[8 + options_len:]
    if proto == ETH_TYPE_TEB:
        return _ethernet_plausible(inner)
    return proto in IP_ETHERTYPES and ip_header_plausible(inner, proto)


def bare_ip_plausible(body: bytes) -> bool:
    """A whole IP packet as the UDP payload (flannel's UDP backend, FOU): length must match exactly."""
    if not ip_header_plausible(body):
        return False
    if body[0] >> 4 == 4:
        return struct.unpack(">H", body[2:4])[0] == len(body)
    return struct.unpack(">H", body[4:6])[0] + 40 == len(body)


def gue_plausible(body: bytes) -> bool:
    """GUE version 0 data message (draft-ietf-intarea-gue 3.1) carrying IPv4/IPv6 by IP protocol number."""
    if len(body) < 4 or body[0] >> 6 != 0 or body[0] & 0x20 or body[1] not in (4, 41):
        return False
    inner = body[4 + (body[0] & 0x1F) * 4:]
    return ip_header_plausible(inner, ETH_TYPE_IP if body[1] == 4 else ETH_TYPE_IP6)


def bgp_announced_prefixes(stream: bytes) -> list[str]:
    """NLRI prefixes of the BGP UPDATE messages wholly inside one TCP segment (RFC 4271 4.3)."""
    prefixes = []
    offset = 0
    while offset + 19 <= len(stream):
        length = struct.unpack(">H", stream[offset + 16:offset + 18])[0]
        if stream[offset:offset + 16] != b"\xff" * 16 or length < 19 or offset + length > len(stream):
            break
        if stream[offset + 18] == bgp.UPDATE:
            try:
                message = bgp.BGP(stream[offset:offset + length])
                update = message.data
                prefixes.extend(_route_prefix(route, 4) for route in update.announced if route.len <= 32)
                for attribute in update.attributes:
                    reach = getattr(attribute, "mp_reach_nlri", None)
                    if reach is not None and reach.afi in (bgp.AFI_IPV4, bgp.AFI_IPV6):
                        width = 4 if reach.afi == bgp.AFI_IPV4 else 16
                        # a length beyond the address width is a broken NLRI, not a prefix (0.0.0.0/33)
                        prefixes.extend(_route_prefix(route, width) for route in reach.announced
                                        if route.len <= 8 * width)
            except (dpkt.UnpackError, struct.error, ValueError, IndexError, AttributeError, TypeError):
                pass
        offset += length
    return prefixes


def _route_prefix(route, width: int) -> str:
    raw = bytes(route.prefix) + b"\x00" * (width - len(route.prefix))
    return f"{_addr(raw[:width])}/{route.len}"
