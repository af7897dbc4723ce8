"""One packet builder for the tests, the benchmark and the sample maker: dpkt builds the transport and
link-layer messages (TCP, UDP, ICMP, ARP); struct writes the IP headers (fast enough for the benchmark's
templates) and the fields that must lie (IHL, total length, UDP length, checksums).

Layers return bytes (or dpkt TCP/UDP/ICMP objects, whose checksums ipv4()/ipv6() fill in) so they nest::

    inner = ipv4("10.244.1.5", "10.244.2.7", tcp(40000, 80, flags="S", mss=1460))
    frame = ethernet(vxlan_packet("192.168.1.10", "192.168.1.11", inner, vni=1))

Addresses are text ("10.0.0.1", "fd00::1", "02:00:00:00:00:0a") or already packed bytes. A transport
layer given as bytes is taken as it is (its checksum untouched), so a test can send a wrong one.
"""
from __future__ import annotations

import itertools
import socket
import struct

import dpkt
from dpkt import arp as _arp, icmp as _icmp, icmp6 as _icmp6, tcp as _tcp, udp as _udp

from .checksum import internet_checksum, ones_sum, pseudo_header

ETH_IP, ETH_IP6, ETH_ARP, ETH_TEB = 0x0800, 0x86DD, 0x0806, 0x6558
ETH_VLAN, ETH_QINQ = 0x8100, 0x88A8
VXLAN_PORT, VXLAN_IANA_PORT, GENEVE_PORT = 8472, 4789, 6081

MAC_NODE_A = "02:00:00:00:00:0a"
MAC_NODE_B = "02:00:00:00:00:0b"
MAC_VTEP_A = "66:00:00:00:00:0a"   # flannel.1 on node A
MAC_VTEP_B = "66:00:00:00:00:0b"
SLL_ADDRESS = b"\x02\x00\x00\x00\x00\x01"

_ids = itertools.count(0x1000)
_TCP_FLAGS = {"F": _tcp.TH_FIN, "S": _tcp.TH_SYN, "R": _tcp.TH_RST, "P": _tcp.TH_PUSH, "A": _tcp.TH_ACK,
              "U": _tcp.TH_URG}
_PROTO_OF = {_tcp.TCP: 6, _udp.UDP: 17, _icmp.ICMP: 1, _icmp6.ICMP6: 58}


def mac_bytes(mac) -> bytes:
    """A MAC address as 6 bytes, from "aa:bb:cc:dd:ee:ff" or bytes."""
    return bytes(mac) if isinstance(mac, (bytes, bytearray)) else bytes(int(part, 16) for part in mac.split(":"))


def inet(address) -> bytes:
    """An IPv4 or IPv6 address packed (4 or 16 bytes); bytes pass through."""
    if isinstance(address, (bytes, bytearray)):
        return bytes(address)
    try:
        return socket.inet_pton(socket.AF_INET, address)
    except OSError:
        return socket.inet_pton(socket.AF_INET6, address)


def ip_version(address) -> int:
    if isinstance(address, (bytes, bytearray)):
        return 4 if len(address) == 4 else 6
    return 6 if ":" in address else 4


def _payload(payload) -> bytes:
    return b"\x00" * payload if isinstance(payload, int) else bytes(payload)


# -- transport -----------------------------------------------------------------

def tcp(sport: int, dport: int, *, flags="A", seq: int = 0, ack: int = 0, mss: int | None = None,
        options: bytes = b"", payload=b"", win: int = 64240, off: int | None = None) -> _tcp.TCP:
    """A TCP segment (checksum filled in by ipv4()/ipv6(); bytes(segment) keeps it zero). payload is
    bytes or a byte count; options (after the MSS option when mss is given) are padded with zeros to
    whole words unless off sets the data offset, which may then lie."""
    if isinstance(flags, str):
        flags = sum(_TCP_FLAGS[c] for c in flags)
    opts = (struct.pack(">BBH", _tcp.TCP_OPT_MSS, 4, mss) if mss is not None else b"") + options
    if off is None:
        opts += b"\x00" * (-len(opts) % 4)
    segment = _tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=win, opts=opts,
                       data=_payload(payload))
    segment.off = 5 + len(opts) // 4 if off is None else off
    return segment


def udp(sport: int, dport: int, payload=b"", *, length: int | None = None) -> _udp.UDP:
    """A UDP datagram whose checksum ipv4()/ipv6() compute (bytes(datagram) keeps it zero; use
    udp_datagram() to choose it); length overrides the length field."""
    data = _payload(payload)
    return _udp.UDP(sport=sport, dport=dport, ulen=8 + len(data) if length is None else length, data=data)


def udp_checksummed(src, dst, datagram: bytes, checksum="zero") -> bytes:
    """datagram with its checksum set: "zero", "good", "bad" (good + 0x0101), "partial"
    (CHECKSUM_PARTIAL: the folded pseudo-header sum a NIC would finish), or an explicit 16-bit value."""
    datagram = bytes(datagram)
    if checksum == "zero":
        value = 0
    elif checksum == "partial":
        value = ones_sum(pseudo_header(inet(src), inet(dst), 17, len(datagram)))
    elif checksum in ("good", "bad"):
        value = correct_udp_checksum(src, dst, datagram)
        if checksum == "bad":
            value = (value + 0x0101) & 0xFFFF or 1
    else:
        value = int(checksum)
    return datagram[:6] + struct.pack(">H", value) + datagram[8:]


def udp_datagram(src, dst, sport: int, dport: int, payload=b"", checksum="zero") -> bytes:
    """UDP bytes from src to dst with a chosen checksum (see udp_checksummed)."""
    return udp_checksummed(src, dst, bytes(udp(sport, dport, payload)), checksum)


def correct_udp_checksum(src, dst, datagram: bytes) -> int:
    """The value a correct checksum field holds for this UDP datagram (0xffff for a computed 0, RFC 768)."""
    zeroed = bytes(datagram[:6]) + b"\x00\x00" + bytes(datagram[8:])
    return internet_checksum(pseudo_header(inet(src), inet(dst), 17, len(datagram)) + zeroed) or 0xFFFF


def icmp_message(kind: int, code: int, body: bytes) -> bytes:
    """An ICMP (or ICMPv6 without the pseudo-header) message as bytes, checksum over the message."""
    message = struct.pack(">BBH", kind, code, 0) + body
    return message[:2] + struct.pack(">H", internet_checksum(message)) + message[4:]


def icmp_echo(ident: int = 1, seq: int = 1, payload=56) -> _icmp.ICMP:
    return _icmp.ICMP(type=8, code=0, data=struct.pack(">HH", ident, seq) + _payload(payload))


def icmp_frag_needed(mtu: int, quoted: bytes, quote_len: int = 128) -> _icmp.ICMP:
    """ICMP 3/4 (fragmentation needed and DF set, RFC 1191) quoting the first quote_len bytes of a packet."""
    return _icmp.ICMP(type=3, code=4, data=struct.pack(">HH", 0, mtu) + quoted[:quote_len])


def icmp6_too_big(mtu: int, quoted: bytes, quote_len: int = 1232) -> _icmp6.ICMP6:
    """ICMPv6 type 2 (packet too big, RFC 4443 3.2)."""
    return _icmp6.ICMP6(type=2, code=0, data=struct.pack(">I", mtu) + quoted[:quote_len])


def arp(sender_mac, sender_ip, target_ip, *, op: int = 1, target_mac=b"\x00" * 6) -> bytes:
    """An Ethernet/IPv4 ARP request (op 1) or reply (op 2)."""
    return bytes(_arp.ARP(op=op, sha=mac_bytes(sender_mac), spa=inet(sender_ip), tha=mac_bytes(target_mac),
                          tpa=inet(target_ip)))


# -- network ---------------------------------------------------------------------

def _fix_ipv4_checksum(raw: bytearray) -> bytes:
    """Recompute the header checksum over the header IHL announces (20 bytes when it announces fewer)."""
    raw[10:12] = b"\x00\x00"
    header_len = max(20, (raw[0] & 0x0F) * 4)
    raw[10:12] = struct.pack(">H", internet_checksum(bytes(raw[:header_len])))
    return bytes(raw)


def _transport(payload, src: bytes, dst: bytes, proto: int, checksummed: tuple) -> bytes:
    """The bytes of a payload. A dpkt segment of a protocol in checksummed whose checksum is still 0 gets
    its checksum first (over the pseudo-header), as dpkt's IP classes do it: on the object, so a segment
    sent twice keeps its first checksum; a computed 0 goes out as 0xFFFF over IPv4 UDP (RFC 768)."""
    if isinstance(payload, dpkt.Packet) and proto in checksummed and getattr(payload, "sum", None) == 0:
        raw = bytes(payload)
        value = internet_checksum(pseudo_header(src, dst, proto, len(raw)) + raw)
        payload.sum = value or (0xFFFF if proto == 17 and len(src) == 4 else 0)
    return bytes(payload)


def ipv4(src, dst, payload, *, proto: int | None = None, df: bool = True, mf: bool = False, frag_off: int = 0,
         ident: int | None = None, ttl: int = 64, options: bytes = b"", total_length: int | None = None,
         ihl: int | None = None) -> bytes:
    """An IPv4 packet, header checksum computed; a dpkt TCP/UDP payload gets its checksum too unless the
    packet is a fragment. total_length / ihl override the header fields afterwards (header checksum
    recomputed) to express offload super-frames and malformed headers."""
    if proto is None:
        proto = _PROTO_OF[type(payload)] if isinstance(payload, dpkt.Packet) else 0
    src, dst = inet(src), inet(dst)
    data = bytes(payload) if mf or frag_off else _transport(payload, src, dst, proto, (6, 17))
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_off // 8)
    raw = bytearray(struct.pack(">BBHHHBBH4s4s", 0x40 | (5 + len(options) // 4), 0, 20 + len(options) + len(data),
                                next(_ids) if ident is None else ident, flags, ttl, proto, 0, src, dst)
                    + options + data)
    if total_length is not None:
        raw[2:4] = struct.pack(">H", total_length)
    if ihl is not None:
        raw[0] = 0x40 | ihl
    return _fix_ipv4_checksum(raw)


def ipv6(src, dst, payload, *, nxt: int | None = None, hlim: int = 64, payload_length: int | None = None) -> bytes:
    """An IPv6 packet (TCP/UDP/ICMPv6 checksums filled in for dpkt payloads); payload_length may lie."""
    if nxt is None:
        nxt = _PROTO_OF[type(payload)] if isinstance(payload, dpkt.Packet) else 59
    src, dst = inet(src), inet(dst)
    data = _transport(payload, src, dst, nxt, (6, 17, 58))
    length = len(data) if payload_length is None else payload_length
    return struct.pack(">IHBB", 0x60000000, length, nxt, hlim) + src + dst + data


def ip_packet(src, dst, payload, **options) -> bytes:
    return (ipv4 if ip_version(src) == 4 else ipv6)(src, dst, payload, **options)


def fragments(packet: bytes, mtu: int) -> list[bytes]:
    """Split an IPv4 packet (no DF) into fragments of at most mtu bytes, as a router would. A fragment is
    cut again as a router cuts it (RFC 791): the pieces keep its offset, and its MF flag stays on the last."""
    header_len = (packet[0] & 0x0F) * 4
    header, body = bytearray(packet[:header_len]), packet[header_len:]
    original = struct.unpack(">H", header[6:8])[0]
    base, more_after = (original & 0x1FFF) * 8, original & 0x2000
    step = (mtu - header_len) // 8 * 8
    out = []
    for offset in range(0, len(body), step):
        chunk = body[offset:offset + step]
        more = offset + step < len(body) or more_after
        piece = bytearray(header) + chunk
        piece[2:4] = struct.pack(">H", len(piece))
        piece[6:8] = struct.pack(">H", (original & 0x4000) | (0x2000 if more else 0) | ((base + offset) // 8))
        out.append(_fix_ipv4_checksum(piece))
    return out


# -- link --------------------------------------------------------------------------

def ethernet(packet: bytes, ethertype: int | None = None, *, src=MAC_NODE_A, dst=MAC_NODE_B, tags=(),
             pad: bool = False) -> bytes:
    """An Ethernet II frame (no FCS); the ethertype follows the IP version unless given. tags:
    (TPID, TCI) pairs, outermost first (802.1Q 0x8100, 802.1ad 0x88a8). pad: to the 60-byte minimum."""
    if ethertype is None:
        ethertype = ETH_IP6 if packet and packet[0] >> 4 == 6 else ETH_IP
    frame = mac_bytes(dst) + mac_bytes(src) + b"".join(struct.pack(">HH", tpid, tci) for tpid, tci in tags)
    frame += struct.pack(">H", ethertype) + bytes(packet)
    if pad and len(frame) < 60:
        frame += b"\x00" * (60 - len(frame))
    return frame


def linux_sll(packet: bytes, ethertype: int = ETH_IP, *, address: bytes = SLL_ADDRESS, packet_type: int = 0) -> bytes:
    """LINKTYPE_LINUX_SLL (113) header: packet type, ARPHRD_ETHER, address length, address, protocol."""
    return struct.pack(">HHH8sH", packet_type, 1, 6, address, ethertype) + packet


def linux_sll2(packet: bytes, ethertype: int = ETH_IP, *, address: bytes = SLL_ADDRESS, packet_type: int = 0,
               ifindex: int = 2) -> bytes:
    """LINKTYPE_LINUX_SLL2 (276) header: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address."""
    return struct.pack(">HHIHBB8s", ethertype, 0, ifindex, 1, packet_type, 6, address) + packet


def null_loopback(packet: bytes, network_order: bool = False) -> bytes:
    """LINKTYPE_NULL (0, host order) / LINKTYPE_LOOP (108, network order) with AF_INET / AF_INET6."""
    family = 2 if packet[:1] and packet[0] >> 4 == 4 else 30
    return struct.pack(">I" if network_order else "<I", family) + packet


# -- tunnels -------------------------------------------------------------------------

def vxlan(inner_frame: bytes, vni: int = 1, *, flags: int = 0x08, next_proto: int = 0,
          reserved: bytes = b"\x00\x00", reserved2: int = 0) -> bytes:
    """VXLAN header (RFC 7348 5: I flag, 24-bit VNI; GPE's next protocol byte) + the inner frame."""
    return struct.pack(">B2sBI", flags, reserved, next_proto, (vni << 8) | reserved2) + inner_frame


def geneve(inner_frame: bytes, vni: int = 1, options: bytes = b"", proto: int = ETH_TEB) -> bytes:
    """Geneve header (RFC 8926 3.4), version 0, options of len(options) / 4 words."""
    return struct.pack(">BBHI", len(options) // 4, 0, proto, vni << 8) + options + inner_frame


def _udp_tunnel(outer_src, outer_dst, body, *, port, sport, checksum, df, ident, total_length) -> bytes:
    datagram = udp_datagram(outer_src, outer_dst, sport, port, body, checksum)
    if ip_version(outer_src) == 6:
        return ipv6(outer_src, outer_dst, datagram, nxt=17)
    return ipv4(outer_src, outer_dst, datagram, proto=17, df=df, ident=ident, total_length=total_length)


def vxlan_packet(outer_src, outer_dst, inner_ip: bytes, *, vni: int = 1, port: int = VXLAN_PORT,
                 sport: int = 51000, checksum="zero", inner_smac=MAC_VTEP_A, inner_dmac=MAC_VTEP_B,
                 df: bool = False, ident: int | None = None, total_length: int | None = None) -> bytes:
    """Outer IP / UDP / VXLAN / inner Ethernet / inner IP (flannel's defaults: port 8472, VNI 1, no DF,
    zero outer UDP checksum)."""
    body = vxlan(ethernet(inner_ip, src=inner_smac, dst=inner_dmac), vni)
    return _udp_tunnel(outer_src, outer_dst, body, port=port, sport=sport, checksum=checksum, df=df, ident=ident,
                       total_length=total_length)


def geneve_packet(outer_src, outer_dst, inner_ip: bytes, *, vni: int = 1, port: int = GENEVE_PORT,
                  sport: int = 51000, checksum="zero", options: bytes = b"", inner_smac=MAC_VTEP_A,
                  inner_dmac=MAC_VTEP_B, df: bool = False) -> bytes:
    body = geneve(ethernet(inner_ip, src=inner_smac, dst=inner_dmac), vni, options)
    return _udp_tunnel(outer_src, outer_dst, body, port=port, sport=sport, checksum=checksum, df=df, ident=None,
                       total_length=None)


def udp_ip_packet(outer_src, outer_dst, inner_ip: bytes, *, port: int = 8285, sport: int = 8285,
                  checksum="zero") -> bytes:
    """A bare inner IP packet as the UDP payload (flannel's old UDP backend on 8285, FOU)."""
    return _udp_tunnel(outer_src, outer_dst, inner_ip, port=port, sport=sport, checksum=checksum, df=False,
                       ident=None, total_length=None)


def ipip_packet(outer_src, outer_dst, inner_ip: bytes, *, df: bool = False, ident: int | None = None) -> bytes:
    """IPv4 protocol 4 (Calico IPIP)."""
    return ipv4(outer_src, outer_dst, inner_ip, proto=4, df=df, ident=ident)


def wireguard(kind: int, inner_len: int = 0, *, sender: int = 0x11223344, receiver: int = 0x55667788,
              counter: int = 1) -> bytes:
    """A WireGuard message (little-endian fields, the opaque rest zeros): 1 initiation (148 bytes),
    2 response (92), 3 cookie reply (64), 4 transport data carrying inner_len bytes padded to 16 + the tag."""
    fields = {1: struct.pack("<I", sender), 2: struct.pack("<II", sender, receiver), 3: struct.pack("<I", receiver),
              4: struct.pack("<IQ", receiver, counter)}[kind]
    size = {1: 148, 2: 92, 3: 64}.get(kind) or 16 + -(-inner_len // 16) * 16 + 16
    head = bytes([kind, 0, 0, 0]) + fields
    return head + bytes(size - len(head))


def wireguard_packet(outer_src, outer_dst, message: bytes, *, port: int = 51820, sport: int = 51820,
                     checksum="zero", df: bool = False, ident: int | None = None) -> bytes:
    """Outer IP / UDP / a WireGuard message (wireguard())."""
    return _udp_tunnel(outer_src, outer_dst, message, port=port, sport=sport, checksum=checksum, df=df, ident=ident,
                       total_length=None)


def esp_packet(outer_src, outer_dst, inner_len: int, *, spi: int = 0xC0000001, seq: int = 1,
               udp_port: int | None = None) -> bytes:
    """ESP with AES-GCM-128's sizes (8-byte IV, padding to 4, 16-byte ICV) around inner_len hidden bytes:
    IP protocol 50, or ESP-in-UDP (RFC 3948) to udp_port."""
    padded = -(-(inner_len + 2) // 4) * 4
    body = struct.pack(">II", spi, seq) + bytes(8 + padded + 16)
    if udp_port is not None:
        return _udp_tunnel(outer_src, outer_dst, body, port=udp_port, sport=udp_port, checksum="zero", df=False,
                           ident=None, total_length=None)
    return ip_packet(outer_src, outer_dst, body, **({"nxt": 50} if ip_version(outer_src) == 6 else {"proto": 50}))
