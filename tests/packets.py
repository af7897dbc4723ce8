"""A small packet builder for tests: dpkt does the headers, lengths and checksums; struct writes the pcap.

Layers return bytes so they nest freely::

    inner = ipv4("10.244.1.5", "10.244.2.7", tcp(40000, 80, flags="S", mss=1460))
    frame = ethernet(vxlan_packet("192.168.1.10", "192.168.1.11", inner, vni=1))
    write_pcap(tmp_path / "x.pcap", [frame])

The writer takes explicit caplen / wirelen per record (dpkt.pcap.Writer always
writes caplen == wirelen), so snaplen cuts and damaged files can be expressed.
"""
from __future__ import annotations

import ipaddress
import itertools
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import dpkt
from dpkt import ethernet as _eth, icmp as _icmp, icmp6 as _icmp6, ip as _ip, ip6 as _ip6, tcp as _tcp, udp as _udp

ETH_IP, ETH_IP6, ETH_TEB = 0x0800, 0x86DD, 0x6558
VXLAN_PORT, VXLAN_IANA_PORT, GENEVE_PORT = 8472, 4789, 6081
BASE_TS = 1_700_000_000.0
LINKTYPE_ETHERNET, LINKTYPE_RAW = 1, 101

MAC_NODE_A = "02:00:00:00:00:0a"
MAC_NODE_B = "02:00:00:00:00:0b"
MAC_VTEP_A = "66:00:00:00:00:0a"   # flannel.1 on node A
MAC_VTEP_B = "66:00:00:00:00:0b"

_ids = itertools.count(0x1000)
_TCP_FLAGS = {"F": _tcp.TH_FIN, "S": _tcp.TH_SYN, "R": _tcp.TH_RST, "P": _tcp.TH_PUSH, "A": _tcp.TH_ACK,
              "U": _tcp.TH_URG}


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


def _inet(address: str) -> bytes:
    parsed = ipaddress.ip_address(address)
    return socket.inet_pton(socket.AF_INET6 if parsed.version == 6 else socket.AF_INET, address)


def _version(address: str) -> int:
    return ipaddress.ip_address(address).version


def ones_sum(data: bytes) -> int:
    """Folded 16-bit one's complement sum, not complemented (dpkt computes it)."""
    return ~dpkt.in_cksum(data) & 0xFFFF


def _payload(payload) -> bytes:
    return b"\x00" * payload if isinstance(payload, int) else bytes(payload)


# -- transport -----------------------------------------------------------------

def tcp(sport: int, dport: int, *, flags="A", seq: int = 0, ack: int = 0, mss: int | None = None,
        payload=b"", win: int = 64240) -> _tcp.TCP:
    """A TCP segment (checksum filled in by ipv4()/ipv6()); payload is bytes or a byte count."""
    if isinstance(flags, str):
        flags = sum(_TCP_FLAGS[c] for c in flags)
    opts = struct.pack(">BBH", _tcp.TCP_OPT_MSS, 4, mss) if mss is not None else b""
    segment = _tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=win, opts=opts,
                       data=_payload(payload))
    segment.off = 5 + len(opts) // 4
    return segment


def udp(sport: int, dport: int, payload=b"") -> _udp.UDP:
    """A UDP datagram whose checksum ipv4()/ipv6() compute; use udp_datagram() to choose the checksum."""
    data = _payload(payload)
    return _udp.UDP(sport=sport, dport=dport, ulen=8 + len(data), data=data)


def icmp_echo(ident: int = 1, seq: int = 1, payload=56) -> _icmp.ICMP:
    return _icmp.ICMP(type=8, code=0, data=struct.pack(">HH", ident, seq) + _payload(payload))


def icmp_frag_needed(mtu: int, quoted: bytes, quote_len: int = 128) -> _icmp.ICMP:
    """ICMP 3/4 (fragmentation needed and DF set, RFC 1191) quoting the first quote_len bytes of a packet."""
    return _icmp.ICMP(type=3, code=4, data=struct.pack(">HH", 0, mtu) + quoted[:quote_len])


def icmp6_too_big(mtu: int, quoted: bytes, quote_len: int = 1232) -> _icmp6.ICMP6:
    """ICMPv6 type 2 (packet too big, RFC 4443 3.2)."""
    return _icmp6.ICMP6(type=2, code=0, data=struct.pack(">I", mtu) + quoted[:quote_len])


def udp_datagram(src: str, dst: str, sport: int, dport: int, payload=b"", checksum="zero") -> bytes:
    """UDP bytes with a chosen checksum: "zero", "good", "partial" (CHECKSUM_PARTIAL: the folded
    pseudo-header sum a NIC would finish), or an explicit 16-bit value."""
    data = _payload(payload)
    length = 8 + len(data)
    header = struct.pack(">HHHH", sport, dport, length, 0)
    if _version(src) == 4:
        pseudo = _inet(src) + _inet(dst) + struct.pack(">xBH", 17, length)
    else:
        pseudo = _inet(src) + _inet(dst) + struct.pack(">IxxxB", length, 17)
    if checksum == "zero":
        value = 0
    elif checksum == "good":
        value = (~ones_sum(pseudo + header + data)) & 0xFFFF or 0xFFFF
    elif checksum == "partial":
        value = ones_sum(pseudo)
    else:
        value = int(checksum)
    return struct.pack(">HHHH", sport, dport, length, value) + data


def correct_udp_checksum(src: str, dst: str, datagram: bytes) -> int:
    """The value a correct checksum field holds for this UDP datagram (0xffff for a computed 0)."""
    zeroed = datagram[:6] + b"\x00\x00" + datagram[8:]
    if _version(src) == 4:
        pseudo = _inet(src) + _inet(dst) + struct.pack(">xBH", 17, len(datagram))
    else:
        pseudo = _inet(src) + _inet(dst) + struct.pack(">IxxxB", len(datagram), 17)
    return (~ones_sum(pseudo + zeroed)) & 0xFFFF or 0xFFFF


# -- network ---------------------------------------------------------------------

_PROTO_OF = {_tcp.TCP: 6, _udp.UDP: 17, _icmp.ICMP: 1, _icmp6.ICMP6: 58}


def _patch_ipv4(raw: bytearray, **fields) -> bytes:
    if "total_length" in fields:
        raw[2:4] = struct.pack(">H", fields["total_length"])
    raw[10:12] = b"\x00\x00"
    header_len = (raw[0] & 0x0F) * 4
    raw[10:12] = struct.pack(">H", (~ones_sum(bytes(raw[:header_len]))) & 0xFFFF)
    return bytes(raw)


def ipv4(src: str, dst: str, payload, *, proto: int | None = None, df: bool = True, mf: bool = False,
         frag_off: int = 0, ident: int | None = None, ttl: int = 64, total_length: int | None = None,
         ihl: int | None = None) -> bytes:
    """An IPv4 packet; length and checksums by dpkt. total_length / ihl override the header fields
    afterwards (header checksum recomputed) to express offload super-frames and malformed headers."""
    if proto is None:
        proto = _PROTO_OF[type(payload)] if isinstance(payload, dpkt.Packet) else 0
    if isinstance(payload, dpkt.Packet) and frag_off == 0 and not mf:
        data = payload  # dpkt fills in the TCP/UDP checksum for non-fragments
    else:
        data = bytes(payload)
    packet = _ip.IP(src=_inet(src), dst=_inet(dst), p=proto, ttl=ttl, id=next(_ids) if ident is None else ident,
                    df=int(df), mf=int(mf), offset=frag_off // 8, data=data)
    raw = bytearray(bytes(packet))
    if total_length is not None or ihl is not None:
        if ihl is not None:
            raw[0] = 0x40 | ihl
        return _patch_ipv4(raw, **({"total_length": total_length} if total_length is not None else {}))
    return bytes(raw)


def ipv6(src: str, dst: str, payload, *, nxt: int | None = None, hlim: int = 64,
         payload_length: int | None = None) -> bytes:
    if nxt is None:
        nxt = _PROTO_OF[type(payload)] if isinstance(payload, dpkt.Packet) else 59
    size = len(bytes(payload))
    packet = _ip6.IP6(src=_inet(src), dst=_inet(dst), nxt=nxt, hlim=hlim, plen=size, data=payload)
    packet.p = nxt
    raw = bytearray(bytes(packet))
    if payload_length is not None:
        raw[4:6] = struct.pack(">H", payload_length)
    return bytes(raw)


def ip_packet(src: str, dst: str, payload, **options) -> bytes:
    return (ipv4 if _version(src) == 4 else ipv6)(src, dst, payload, **options)


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
        flags_off = (original & 0x4000) | (0x2000 if more else 0) | ((base + offset) // 8)
        piece[6:8] = struct.pack(">H", flags_off)
        out.append(_patch_ipv4(piece, total_length=len(piece)))
    return out


# -- link and tunnels ----------------------------------------------------------------

def ethernet(packet: bytes, *, src: str = MAC_NODE_A, dst: str = MAC_NODE_B, ethertype: int | None = None,
             pad: bool = False) -> bytes:
    """An Ethernet II frame (no FCS); the ethertype follows the IP version unless given."""
    if ethertype is None:
        ethertype = ETH_IP6 if packet and packet[0] >> 4 == 6 else ETH_IP
    frame = bytes(_eth.Ethernet(src=_mac(src), dst=_mac(dst), type=ethertype, data=packet))
    if pad and len(frame) < 60:
        frame += b"\x00" * (60 - len(frame))
    return frame


def vxlan(inner_frame: bytes, vni: int = 1) -> bytes:
    """VXLAN header (RFC 7348 5: I flag, 24-bit VNI) + the inner Ethernet frame."""
    return struct.pack(">B3xI", 0x08, vni << 8) + inner_frame


def geneve(inner_frame: bytes, vni: int = 1, options: bytes = b"", proto: int = ETH_TEB) -> bytes:
    """Geneve header (RFC 8926 3.4), version 0, options of len(options) / 4 words."""
    assert len(options) % 4 == 0
    return struct.pack(">BBHI", len(options) // 4, 0, proto, vni << 8) + options + inner_frame


def _udp_tunnel(outer_src, outer_dst, body, *, port, sport, checksum, df, ident, total_length) -> bytes:
    datagram = udp_datagram(outer_src, outer_dst, sport, port, body, checksum)
    if _version(outer_src) == 6:
        return ipv6(outer_src, outer_dst, datagram, nxt=17)
    return ipv4(outer_src, outer_dst, datagram, proto=17, df=df, ident=ident, total_length=total_length)


def vxlan_packet(outer_src: str, outer_dst: str, inner_ip: bytes, *, vni: int = 1, port: int = VXLAN_PORT,
                 sport: int = 51000, checksum="zero", inner_smac: str = MAC_VTEP_A,
                 inner_dmac: str = MAC_VTEP_B, df: bool = False, ident: int | None = None,
                 total_length: int | None = None) -> bytes:
    """Outer IP / UDP / VXLAN / inner Ethernet / inner IP (flannel's defaults: port 8472, VNI 1, no DF,
    zero outer UDP checksum)."""
    body = vxlan(ethernet(inner_ip, src=inner_smac, dst=inner_dmac), vni)
    return _udp_tunnel(outer_src, outer_dst, body, port=port, sport=sport, checksum=checksum, df=df, ident=ident,
                       total_length=total_length)


def geneve_packet(outer_src: str, outer_dst: str, inner_ip: bytes, *, vni: int = 1, port: int = GENEVE_PORT,
                  sport: int = 51000, checksum="zero", options: bytes = b"", inner_smac: str = MAC_VTEP_A,
                  inner_dmac: str = MAC_VTEP_B, df: bool = False) -> bytes:
    body = geneve(ethernet(inner_ip, src=inner_smac, dst=inner_dmac), vni, options)
    return _udp_tunnel(outer_src, outer_dst, body, port=port, sport=sport, checksum=checksum, df=df, ident=None,
                       total_length=None)


def udp_ip_packet(outer_src: str, outer_dst: str, inner_ip: bytes, *, port: int = 8285, sport: int = 8285,
                  checksum="zero") -> bytes:
    """A bare inner IP packet as the UDP payload (flannel's old UDP backend on 8285, FOU)."""
    return _udp_tunnel(outer_src, outer_dst, inner_ip, port=port, sport=sport, checksum=checksum, df=False,
                       ident=None, total_length=None)


def ipip_packet(outer_src: str, outer_dst: str, inner_ip: bytes, *, df: bool = False) -> bytes:
    """IPv4 protocol 4 (Calico IPIP)."""
    return ipv4(outer_src, outer_dst, inner_ip, proto=4, df=df)


# -- the capture file ------------------------------------------------------------------

@dataclass
class Record:
    """One pcap record: data is what was on the wire; caplen cuts it (snaplen), wirelen overrides
    the original length (defaults to len(data))."""
    data: bytes
    ts: float | None = None
    caplen: int | None = None
    wirelen: int | None = None


def write_pcap(path, records, *, linktype: int = LINKTYPE_ETHERNET, snaplen: int = 262144,
               start: float = BASE_TS, step: float = 0.001, cut_tail: int = 0) -> Path:
    """A classic little-endian microsecond pcap. records are bytes, (ts, bytes) or Record; a record
    without a timestamp gets start + index * step. cut_tail drops that many bytes off the end of the
    file (a capture that ends mid-record)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
    for index, item in enumerate(records):
        if isinstance(item, (bytes, bytearray)):
            item = Record(bytes(item))
        elif isinstance(item, tuple):
            item = Record(bytes(item[1]), ts=item[0])
        ts = start + index * step if item.ts is None else item.ts
        wirelen = len(item.data) if item.wirelen is None else item.wirelen
        caplen = min(len(item.data), wirelen) if item.caplen is None else item.caplen
        micros = round(ts * 1_000_000)
        out += struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, caplen, wirelen)
        out += item.data[:caplen]
    if cut_tail:
        del out[-cut_tail:]
    path = Path(path)
    path.write_bytes(bytes(out))
    return path
