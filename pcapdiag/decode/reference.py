"""The reference decoder: dpkt, one packet at a time, every stack we support.

Shaped like Zeek's packet analysis: each layer parses its own header and hands the rest on by a key
through a dispatch table -- link type -> link layer (dpkt_layers.LINK_LAYERS), ethertype -> network
layer, IP protocol -> upper layer, UDP port -> tunnel header (then the plausibility detectors, in
order, for the other ports); nesting is capped at MAX_DEPTH; anomalies become counted facts
(truncated / malformed / too_deep), never exceptions.
"""
from __future__ import annotations

import socket
import struct
from collections import OrderedDict
from typing import NamedTuple

import dpkt
from dpkt import ah, arp, bgp, ip, ip6, tcp, udp

from ..protocols import (ARP_PROTO, BGP_PORT, CSUM_BAD, CSUM_GOOD, CSUM_NONE, CSUM_PARTIAL, CSUM_UNCHECKED, DEFAULT_VXLAN_PORTS,
                         ETH_TYPE_ARP, ETH_TYPE_ERSPAN, ETH_TYPE_ERSPAN3, ETH_TYPE_IP, ETH_TYPE_IP6,
                         ETH_TYPE_TEB, GENEVE_PORTS, LINKTYPE_ETHERNET, ICMP6_FIRST_INFO_TYPE,
                         ICMP6_PACKET_TOO_BIG, ICMP_ECHO_TYPES, ICMP_ERROR_TYPES, ICMP_FRAG_NEEDED,
                         IP_VERSION_OF_ETHERTYPE, IPPROTO_AH, IPPROTO_GRE, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_IPIP,
                         IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, JUMBO_FRAME_MAX, SEQ_SPACE, TCP_OPT_EOL, TCP_OPT_MSS,
                         TCP_OPT_SACK, TH_ACK, TH_SYN, IPPROTO_ESP)
from .dpkt_layers import (Ethernet, ShallowGRE, TooDeep, Truncated, address_text, ethernet_payload,
                          link_to_network, mac_text, parse)
from .encrypted import TUNNEL_KINDS, classify_udp, crypto_columns, esp_packet, hidden_inner_length
from .facts import MAX_DEPTH, new_row, rows_to_facts
from .plausible import PLAUSIBILITY
from .plausible import (_ethernet_plausible, bare_ip_plausible, geneve_plausible,  # noqa: F401 (the tests
                        gue_plausible, ip_header_plausible, vxlan_plausible)       # read them from here)
from .tunnels import ERSPAN2, ERSPAN3, NSH, NSH_NEXT_PROTO, VXLAN, Geneve

# Earlier names other modules import from here (decap.py: IP_ETHERTYPES, _ShallowGRE, link_to_network, ETH_TYPE_TEB;
# correlate/: DEFAULT_VXLAN_PORTS); new code takes them from protocols.py and dpkt_layers.py.
_ShallowGRE = ShallowGRE
IP_ETHERTYPES = IP_VERSION_OF_ETHERTYPE

# Class names by the key that introduces them (one place; overhead lives in analyzers/overhead.py).
IP_IN_IP_CLASS = {(4, IPPROTO_IPIP): "ipip", (4, IPPROTO_IPV6): "6in4", (6, IPPROTO_IPIP): "4in6",
                  (6, IPPROTO_IPV6): "6in6"}
UDP_TUNNEL_CLASS = {"vxlan": "vxlan", "geneve": "geneve", "bare-ip": "udp-tunnel", "gue": "udp-tunnel"}
FRAGMENT_TABLE_SIZE = 4096  # datagrams in flight; the oldest are forgotten (bounded memory)
_CLASS_FIELDS = ("encap", "outer_class", "tunnel_port", "vni", "by_plausibility")


def udp_tunnel_ports(vxlan_ports) -> dict:
    """UDP destination port -> the tunnel header behind it (a port in both sets is VXLAN's)."""
    ports = dict.fromkeys(GENEVE_PORTS, "geneve")
    ports.update(dict.fromkeys(vxlan_ports, "vxlan"))
    return ports


class ReferenceDecoder:
    """dpkt, one packet at a time: the truth the fast decoder is tested against."""

    name = "reference"

    def __init__(self, vxlan_ports=DEFAULT_VXLAN_PORTS):
        self.walker = PacketWalker(vxlan_ports)
        self.fragments = FragmentAttribution()

    def decode_rows_at(self, batch, indices) -> list[dict]:
        """Rows for the records of a RecordBatch at the given indices (the fast decoder's fallback)."""
        buf, offsets, caplens, wirelens = batch.buf, batch.offsets, batch.caplens, batch.wirelens
        walker, fragments, rows = self.walker, self.fragments, []
        first_frame = batch.first_frame
        for i in indices:
            start = int(offsets[i])
            caplen = int(caplens[i])
            row = walker.decode(float(batch.ts[i]), caplen, int(wirelens[i]), int(batch.linktypes[i]),
                                bytes(buf[start:start + caplen]))
            row["frame"] = first_frame + i
            fragments.apply(row)
            rows.append(row)
        return rows

    def decode_batch(self, batch):
        return rows_to_facts(self.decode_rows_at(batch, range(len(batch.offsets))))


class FragmentAttribution:
    """Gives a non-first outer IP fragment the class of its datagram.

    DESIGN: a fragment belongs to the class of the datagram it is part of,
    matched by (source, destination, protocol, IP ID) with the first fragment.
    """

    def __init__(self, size: int = FRAGMENT_TABLE_SIZE):
        self.size = size
        self.first_fragments: OrderedDict = OrderedDict()

    def apply(self, row: dict) -> None:
        if not (row["outer_mf"] or row["outer_frag_off"]):
            return
        key = (row["outer_src"], row["outer_dst"], row["outer_proto"], row["outer_ip_id"])
        if row["outer_frag_off"] == 0:
            self.first_fragments[key] = {name: row[name] for name in _CLASS_FIELDS}
            if len(self.first_fragments) > self.size:
                self.first_fragments.popitem(last=False)
        elif key in self.first_fragments:
            row.update(self.first_fragments[key])


class Mirrored(Exception):
    """A port mirror's frame was found (ERSPAN): its decoded row stands for the record."""

    def __init__(self, row: dict):
        super().__init__("mirrored frame")
        self.row = row


class Upper(NamedTuple):
    """What an IP header says of the layer above it."""

    version: int
    proto: int
    length: int     # its bytes by the IP lengths (Ethernet padding after the packet is not in it)


class PacketWalker:
    """Walks one packet from the link layer to its innermost IP packet, filling a fact row."""

    def __init__(self, vxlan_ports=DEFAULT_VXLAN_PORTS):
        self.vxlan_ports = frozenset(vxlan_ports)
        # the dispatch tables: ethertype -> network layer, IP protocol -> upper layer, UDP port -> tunnel header
        self.networks = {ETH_TYPE_IP: self._ipv4, ETH_TYPE_IP6: self._ipv6}
        self.tunnel_payloads = {**self.networks, ETH_TYPE_TEB: self._bridged}
        self.protocols = {IPPROTO_IPIP: self._ip_in_ip, IPPROTO_IPV6: self._ip_in_ip, IPPROTO_AH: self._ah,
                          IPPROTO_GRE: self._gre, IPPROTO_UDP: self._udp, IPPROTO_TCP: self._tcp,
                          IPPROTO_ESP: self._esp,
                          IPPROTO_ICMP: self._icmp, IPPROTO_ICMPV6: self._icmp}
        self.tunnel_ports = udp_tunnel_ports(self.vxlan_ports)
        self.tunnel_headers = {"vxlan": self._vxlan, "geneve": self._geneve, "bare-ip": self._bare_ip,
                               "gue": self._gue}

    # -- entry point -------------------------------------------------------
    def decode(self, ts, caplen, wirelen, linktype, data) -> dict:
        row = new_row()
        row.update(ts=ts, caplen=caplen, wirelen=wirelen, linktype=linktype, offload=wirelen > JUMBO_FRAME_MAX)
        chain: list[str] = []
        try:
            ethertype, payload, _ = link_to_network(linktype, data)
            network = self.networks.get(ethertype)
            if network:
                network(payload, row, chain, 0, outer=True)
        except Mirrored as mirrored:
            return mirrored.row
        except TooDeep:
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
    def _ipv4(self, buf, row, chain, depth, outer=False):
        self._ip(buf, 4, row, chain, outer, depth)

    def _ipv6(self, buf, row, chain, depth, outer=False):
        self._ip(buf, 6, row, chain, outer, depth)

    def _ip(self, buf, version, row, chain, outer, depth=0):
        if version == 4:
            packet = parse(ip.IP, buf)
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
            packet = parse(ip6.IP6, buf)
            if packet.v != 6:
                raise dpkt.UnpackError("not IPv6")
            total_len = packet.plen + 40 if packet.plen else 0
            frag = packet.extension_hdrs.get(44) if packet.extension_hdrs else None
            frag_off = frag.frag_off * 8 if frag else 0
            more_frags = bool(frag.m_flag) if frag else False
            dont_frag, ident, ttl = False, frag.id if frag else -1, packet.hlim
            extensions = packet.all_extension_headers
            if extensions and isinstance(extensions[-1], ip6.IP6ESPHeader):
                # dpkt takes ESP for an extension header (and sets no .p): it is the upper layer here
                extensions, proto = extensions[:-1], IPPROTO_ESP
            else:
                proto = packet.p
            header_len = 40 + sum(ext.length for ext in extensions)
            # the bytes after the extension headers, bounded by the payload length (0: jumbo/BIG TCP)
            payload = buf[header_len:40 + packet.plen] if packet.plen else buf[header_len:]
        if total_len == 0:
            # IP length 0: a GSO/TSO/BIG TCP super-frame handed to the capture before segmentation
            total_len = len(buf)
            row["offload"] = True
        src, dst = address_text(packet.src), address_text(packet.dst)
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
        self._upper(payload, Upper(version, proto, total_len - header_len), row, chain, depth)

    def _upper(self, payload, upper: Upper, row, chain, depth):
        handler = self.protocols.get(upper.proto)
        if handler:
            handler(payload, upper, row, chain, depth)

    def _tunnel(self, name, row, chain, depth):
        if depth >= MAX_DEPTH:
            row["too_deep"] = True
            raise TooDeep()
        # a tunnel carried by an IP header between the outermost tunnel's own two nodes: the nodes put their
        # tunnel packets back into the tunnel (a VTEP misconfiguration or a routing loop); a tunnel from an
        # address to itself (test captures over loopback) is no pair of nodes
        if chain and row["outer_src"] != row["outer_dst"] and \
                {row["inner_src"], row["inner_dst"]} == {row["outer_src"], row["outer_dst"]}:
            row["nested_loop"] = True
        chain.append(name)

    def _ip_in_ip(self, payload, upper, row, chain, depth):
        self._tunnel(IP_IN_IP_CLASS[(upper.version, upper.proto)], row, chain, depth)
        self._ip(payload, 4 if upper.proto == IPPROTO_IPIP else 6, row, chain, False, depth + 1)

    def _ah(self, payload, upper, row, chain, depth):
        # IPsec AH is transparent for classification (RFC 4302 2)
        header = parse(ah.AH, payload)
        ah_len = (header.len + 2) * 4
        self._upper(payload[ah_len:], Upper(upper.version, header.nxt, upper.length - ah_len), row, chain, depth)

    def _gre(self, payload, upper, row, chain, depth):
        # the bytes after the GRE header as captured: dpkt's GRE would parse the inner packet, and
        # re-serialising it rewrites an inner IPv4 header whose checksum is 0 (length, checksums)
        header = parse(ShallowGRE, payload)
        if header.p in (ETH_TYPE_ERSPAN, ETH_TYPE_ERSPAN3) and not chain:
            self._mirror(header, row)
        self._tunnel("gre", row, chain, depth)
        if len(chain) == 1 and getattr(header, "key", None) is not None:
            row["vni"] = header.key
        self._tunnel_payload(header.p, bytes(header.data), row, chain, depth)

    def _tunnel_payload(self, ethertype, inner, row, chain, depth):
        handler = self.tunnel_payloads.get(ethertype)
        if handler:
            handler(inner, row, chain, depth + 1)

    def _bridged(self, frame_bytes, row, chain, depth):
        """An Ethernet frame inside a tunnel (its source is the VTEP MAC)."""
        frame = parse(Ethernet, frame_bytes)
        ethertype, inner = ethernet_payload(frame)
        row["inner_smac"], row["inner_dmac"] = mac_text(frame.src), mac_text(frame.dst)
        network = self.networks.get(ethertype)
        if network:
            network(inner, row, chain, depth)
        elif ethertype == ETH_TYPE_ARP:
            self._arp(inner, row)

    @staticmethod
    def _arp(message_bytes, row):
        """ARP inside a tunnel: no inner IP header (the tunnel's own is not the inner one), its protocol
        addresses as the inner addresses."""
        message = parse(arp.ARP, message_bytes)
        row.update(inner_ipv=0, inner_proto=ARP_PROTO, inner_len=-1, inner_ip_id=-1, inner_df=False, inner_mf=False,
                   inner_frag_off=0, inner_src="", inner_dst="")
        if message.pln == 4 and len(message.spa) == len(message.tpa) == 4:
            row["inner_src"], row["inner_dst"] = address_text(message.spa), address_text(message.tpa)

    def _mirror(self, header, row):
        """An ERSPAN port mirror (outermost GRE): the mirrored frame is decoded as if it had been captured
        itself, and the row says which mirror brought it. Type I has no header of its own (no GRE sequence
        number), type II one of 8 bytes, type III one of 12 (and a platform subheader)."""
        data = bytes(header.data)
        if header.p == ETH_TYPE_ERSPAN3:
            session, kind = parse(ERSPAN3, data), 3
        elif getattr(header, "seq", None) is not None:
            session, kind = parse(ERSPAN2, data), 2
        else:
            session, kind = None, 1
        frame = bytes(session.data) if session is not None else data
        cut = max(row["wirelen"] - row["caplen"], 0)      # bytes the snaplen took off the end
        mirrored = self.decode(row["ts"], len(frame), len(frame) + cut, LINKTYPE_ETHERNET, frame)
        # the record's own lengths and link type: the capture's byte counts are the record's
        mirrored.update(caplen=row["caplen"], wirelen=row["wirelen"], linktype=row["linktype"])
        mirrored["mirror"] = (f"erspan-{kind} {row['outer_src']} > {row['outer_dst']}"
                              + (f" session {session.session}" if session is not None else ""))
        raise Mirrored(mirrored)

    # -- UDP and the tunnels it carries ------------------------------------
    def _udp(self, payload, upper, row, chain, depth):
        if len(payload) < 8:
            raise Truncated("udp")
        header = udp.UDP(payload)
        row["sport"], row["dport"] = header.sport, header.dport
        body = payload[8:]
        kind = self.tunnel_ports.get(header.dport)
        by_port = kind is not None
        if not by_port:
            # sized by the UDP length: a first outer fragment holds only the start of the datagram
            found = classify_udp(header.sport, header.dport, body, header.ulen - 8)
            if found is not None:
                if found.kind in TUNNEL_KINDS and not chain:
                    self._outer_udp(header, payload, row, found.by_port)
                self._encrypted(found, header.ulen - 8, row, chain, depth)
                return
            kind = next((detector.header for detector in PLAUSIBILITY if detector.test(body)), None)
            if kind is None:
                return
        if not chain:
            self._outer_udp(header, payload, row, by_port)
        self._tunnel(UDP_TUNNEL_CLASS[kind], row, chain, depth)
        row["sport"] = row["dport"] = -1
        self.tunnel_headers[kind](body, row, chain, depth)

    def _outer_udp(self, header, datagram, row, by_port):
        """The outermost UDP tunnel's columns: its port, how it was recognised, its checksum."""
        row["tunnel_port"] = header.dport
        row["by_plausibility"] = not by_port
        row["outer_udp_csum"] = udp_checksum_state(header.sum, datagram, row)
        if row["outer_udp_csum"] == CSUM_PARTIAL:
            row["offload"] = True

    def _esp(self, payload, upper, row, chain, depth):
        found = esp_packet(payload, upper.length)
        if found is not None:
            # a first fragment (the carrying header's MF) holds only the start of the ESP packet, and ESP has
            # no length of its own: its size, and so the inner one, is unknown there
            self._encrypted(found, -1 if row["inner_mf"] else upper.length, row, chain, depth)

    def _encrypted(self, found, payload_len, row, chain, depth):
        """WireGuard and ESP are tunnels whose inner packet is hidden: the innermost header seen stays the
        carrying one (its addresses are the nodes', never the pods'), inner_len the most the tunnel packet can
        hold (encrypted.hidden_inner_length) and no L4 ports.  IKE and NAT keepalives stay the nodes' UDP."""
        row.update(crypto_columns(found))
        if found.kind in TUNNEL_KINDS:
            self._tunnel(found.kind, row, chain, depth)
            row.update(inner_len=hidden_inner_length(found, payload_len), sport=-1, dport=-1)

    def _vxlan(self, body, row, chain, depth):
        header = parse(VXLAN, body)
        if len(chain) == 1:
            row["vni"] = header.vni
        ethertype = header.payload_ethertype
        inner = header.data
        if ethertype == "nsh":
            service = parse(NSH, inner)
            ethertype, inner = NSH_NEXT_PROTO.get(service.next_proto), service.data
        self._tunnel_payload(ethertype, inner, row, chain, depth)

    def _geneve(self, body, row, chain, depth):
        header = parse(Geneve, body)
        if len(chain) == 1:
            row["vni"] = header.vni
        self._tunnel_payload(header.proto, header.data, row, chain, depth)

    def _gue(self, body, row, chain, depth):
        header_len = 4 + (body[0] & 0x1F) * 4
        self._ip(body[header_len:], 4 if body[1] == IPPROTO_IPIP else 6, row, chain, False, depth + 1)

    def _bare_ip(self, body, row, chain, depth):
        self._ip(body, body[0] >> 4, row, chain, False, depth + 1)

    # -- innermost L4 ---------------------------------------------------------
    def _tcp(self, payload, upper, row, chain, depth):
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
                   tcp_payload=max(upper.length - header_len, 0))
        if segment.flags & TH_ACK:
            row["tcp_ack"] = segment.ack
        self._tcp_options(segment.opts, bool(segment.flags & TH_SYN), row)
        if BGP_PORT in (segment.sport, segment.dport) and len(segment.data):
            row["bgp_prefixes"] = " ".join(bgp_announced_prefixes(bytes(segment.data)))

    @staticmethod
    def _tcp_options(options: bytes, syn: bool, row) -> None:
        """The MSS of a SYN and the largest right edge of the SACK blocks, from dpkt's option walk."""
        for option in tcp.parse_opts(options):
            if option is None or option[0] == TCP_OPT_EOL:
                break  # an option cut off, or the end of the list (RFC 9293 3.1): stop, not malformed
            kind, value = option
            if kind == TCP_OPT_MSS and syn and len(value) == 2:
                row["tcp_mss"] = struct.unpack(">H", value)[0]
            elif kind == TCP_OPT_SACK:
                # blocks of (left, right) edges (RFC 2018 3); a block cut short is no block
                for block in range(len(value) // 8):
                    right = struct.unpack_from(">I", value, 8 * block + 4)[0]
                    row["tcp_sack_right"] = later_sequence(row["tcp_sack_right"], right)

    def _icmp(self, payload, upper, row, chain, depth):
        if len(payload) < 8:
            raise Truncated("icmp")
        proto = upper.proto
        kind, code = payload[0], payload[1]
        row["icmp_type"], row["icmp_code"] = kind, code
        if kind in ICMP_ECHO_TYPES[proto]:
            row["icmp_echo"] = struct.unpack(">I", payload[4:8])[0]
        if proto == IPPROTO_ICMP and (kind, code) == ICMP_FRAG_NEEDED:
            row["icmp_mtu"] = struct.unpack(">H", payload[6:8])[0]
        elif proto == IPPROTO_ICMPV6 and kind == ICMP6_PACKET_TOO_BIG:
            row["icmp_mtu"] = struct.unpack(">I", payload[4:8])[0]
        if (kind in ICMP_ERROR_TYPES) if proto == IPPROTO_ICMP else (kind < ICMP6_FIRST_INFO_TYPE):
            self._quoted(payload[8:], row)

    def _quoted(self, quote, row):
        """Decode the packet an ICMP error quotes, tunnels included, tolerating the quote's cut."""
        if not quote:
            return
        quoted = new_row()
        quoted.update(caplen=0, wirelen=1)  # a quote is always "cut": missing bytes are truncation
        chain: list[str] = []
        try:
            self._ip(quote, quote[0] >> 4, quoted, chain, True)
        except (Truncated, dpkt.UnpackError, struct.error, ValueError, IndexError, TypeError, AttributeError,
                KeyError, RecursionError):
            pass  # a quote is cut short by design: keep whatever headers it did hold
        if quoted["inner_ipv"]:
            row.update(quoted_src=quoted["inner_src"], quoted_dst=quoted["inner_dst"],
                       quoted_proto=quoted["inner_proto"], quoted_sport=quoted["sport"],
                       quoted_dport=quoted["dport"], quoted_len=quoted["inner_len"],
                       quoted_encap=">".join(chain) if chain else "native")


def later_sequence(best: int, edge: int) -> int:
    """The later of two TCP sequence numbers by serial arithmetic (RFC 1982: edge is later when it is less
    than 2**31 ahead modulo 2**32, so an edge that wrapped past 2**32 still counts); best -1: none yet."""
    return edge if best < 0 or 0 < (edge - best) % SEQ_SPACE < SEQ_SPACE // 2 else best


def udp_checksum_state(checksum: int, datagram: bytes, row) -> int:
    """The outer_udp_csum verdict (protocols.CSUM_*) of a UDP datagram over the row's outer IP header."""
    if checksum == 0:
        return CSUM_NONE
    length = len(datagram)
    if row["offload"] or row["outer_mf"] or row["caplen"] < row["wirelen"] or \
            struct.unpack(">H", datagram[4:6])[0] != length:
        return CSUM_UNCHECKED
    family = socket.AF_INET6 if row["outer_ipv"] == 6 else socket.AF_INET
    src, dst = socket.inet_pton(family, row["outer_src"]), socket.inet_pton(family, row["outer_dst"])
    pseudo = src + dst + (struct.pack(">HH", IPPROTO_UDP, length) if row["outer_ipv"] == 4
                          else struct.pack(">IxxxB", length, IPPROTO_UDP))
    if dpkt.in_cksum(pseudo + datagram) == 0:
        return CSUM_GOOD
    # CHECKSUM_PARTIAL: the sender's NIC would have finished it; the field holds the pseudo-header sum
    return CSUM_PARTIAL if checksum == ~dpkt.in_cksum(pseudo) & 0xFFFF else CSUM_BAD


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
    return f"{address_text(raw[:width])}/{route.len}"
