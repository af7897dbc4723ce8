"""An awkward synthetic capture: every corner the fast decoder must either decode exactly like the
reference or hand to it. (~500 lines, nearly all of them the table of awkward packets.)

    records = ethernet_records()            # [(frame, wirelen)], Ethernet link type
    write_awkward(folder)                   # awkward.pcap (Ethernet) + awkward.pcapng (every link type)
    python tests/awkward.py OUT_FOLDER

dpkt builds the headers (Ethernet payloads, IPv4, IPv6, UDP, TCP, ICMP, ARP); struct patches
the fields that must lie (IHL, total length, UDP length, checksums, fragment bits) and writes the
files, with an explicit wire length per record (dpkt.pcap.Writer always writes caplen ==
wirelen; snaplen cuts need caplen < wirelen). Contents:

* VXLAN (8472, 4789, 4790 GPE) over Ethernet, 802.1Q and QinQ underlays, with inner TCP / UDP /
  ICMP / ARP / IPv6 / 802.1Q frames, every VXLAN flag variant, outer UDP checksums zero, good,
  bad, partial (offload) and 0xFFFF, odd datagram lengths (checksum alignment), bogus UDP lengths;
* IPIP, nested tunnels (VXLAN in VXLAN, Geneve, GUE, bare IP in UDP, VXLAN by plausibility);
* IPv4 options (IHL 6..15), IHL < 5, total length 0 (offload), below the header and beyond the
  frame, Ethernet padding after short packets, a GSO super-frame with a partial checksum;
* outer and inner fragments, in and out of order;
* TCP SYNs with MSS (and option lists dpkt stumbles on), data offsets below 5 and beyond the
  segment, BGP on 179; ICMP echo, timestamp, frag-needed quoting a VXLAN packet, time exceeded;
* ARP, IPv6, LLDP, 802.3 frames, an empty record, caplen > wirelen;
* every VXLAN (and IPIP, SYN, VLAN) packet cut at every byte offset (caplen k, wirelen kept);
* seeded random byte mutations of the header bytes of all of the above.
"""
from __future__ import annotations

import functools
import random
import struct
import sys
from pathlib import Path

import dpkt

import pcapdiag.testing.packets as build
from pcapdiag.testing.checksum import internet_checksum, ones_sum, pseudo_header
from pcapdiag.testing.files import (LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_RAW, LINKTYPE_SLL, LINKTYPE_SLL2,
                                    Record, pcapng_epb, pcapng_idb, pcapng_shb, write_pcap as _write_pcap)
from pcapdiag.testing.packets import icmp_message as icmp, inet as _a4, udp_checksummed, vxlan

NODE_A, NODE_B, GATEWAY = "192.168.0.11", "192.168.0.12", "192.168.0.1"
POD_A, POD_B = "10.244.1.2", "10.244.2.3"
POD6_A, POD6_B = "fd00:10:244:1::2", "fd00:10:244:2::3"
MAC_A, MAC_B = bytes.fromhex("525400000011"), bytes.fromhex("525400000012")
VTEP_A, VTEP_B = bytes.fromhex("ce8a1f000001"), bytes.fromhex("ce8a1f000002")
T0 = 1_700_000_000


# -- the shared builder with this capture's defaults: bytes out, transport checksums left zero --------

ethernet = functools.partial(build.ethernet, src=MAC_A, dst=MAC_B)
geneve = functools.partial(build.geneve, vni=5)


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ident: int = 0x1234, df: bool = False,
         total: int | None = None, **fields) -> bytes:
    """IPv4 around bytes (so no transport checksum is filled in); total and ihl may lie."""
    return build.ipv4(src, dst, bytes(payload), proto=proto, ident=ident, df=df, total_length=total, **fields)


def ipv6(src: str, dst: str, nxt: int, payload: bytes) -> bytes:
    return build.ipv6(src, dst, bytes(payload), nxt=nxt)


def udp(sport: int, dport: int, payload: bytes = b"", *, length: int | None = None) -> bytes:
    return bytes(build.udp(sport, dport, payload, length=length))


def tcp(sport: int, dport: int, *, flags: int = dpkt.tcp.TH_ACK, seq: int = 1000, ack: int = 1,
        options: bytes = b"", payload: bytes = b"", off: int | None = None) -> bytes:
    return bytes(build.tcp(sport, dport, flags=flags, seq=seq, ack=ack, options=options, payload=payload,
                           win=dpkt.tcp.TCP_WIN_MAX, off=off))


def icmp_echo(kind: int = 8, ident: int = 0x4242, seq: int = 7, size: int = 56) -> bytes:
    return icmp(kind, 0, struct.pack(">HH", ident, seq) + bytes(range(size % 256))[:size])


def arp() -> bytes:
    return build.arp(MAC_A, NODE_A, NODE_B)


def inner_tcp(payload: int = 100, *, flags: int = dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, options: bytes = b"",
              src: str = POD_A, dst: str = POD_B, **ip_options) -> bytes:
    return ipv4(src, dst, 6, tcp(40000, 8080, flags=flags, options=options, payload=b"x" * payload), df=True,
                **ip_options)


def vxlan_frame(inner_ip: bytes, *, port: int = 8472, checksum: str = "zero", vni: int = 1, flags: int = 0x08,
                inner_type: int = 0x0800, inner_tags: tuple = (), tags: tuple = (), outer_options: bytes = b"",
                udp_length: int | None = None, outer_total: int | None = None, **vx) -> bytes:
    inner = ethernet(inner_ip, inner_type, src=VTEP_A, dst=VTEP_B, tags=inner_tags)
    datagram = udp(51234, port, vxlan(inner, vni, flags=flags, **vx))
    datagram = udp_checksummed(NODE_A, NODE_B, datagram, checksum)
    if udp_length is not None:
        datagram = datagram[:4] + struct.pack(">H", udp_length) + datagram[6:]
    return ethernet(ipv4(NODE_A, NODE_B, 17, datagram, options=outer_options, total=outer_total), tags=tags)


def ipip_frame(inner_ip: bytes, **options) -> bytes:
    return ethernet(ipv4(NODE_A, NODE_B, 4, inner_ip, df=True, **options))


# -- the records ------------------------------------------------------------------------------

def _syn_options():
    mss = struct.pack(">BBH", 2, 4, 1460)
    linux = mss + b"\x04\x02\x08\x0a" + struct.pack(">II", 1, 0) + b"\x01\x03\x03\x07"
    return {
        "linux": linux,
        "mss-only": mss,
        "nop-mss": b"\x01\x01" + mss + b"\x01\x01",
        "eol-then-mss": b"\x00" + mss + b"\x01\x01\x01",         # dpkt walks on past EOL
        "two-mss": mss + struct.pack(">BBH", 2, 4, 1400),       # the last one wins
        "mss-len3": b"\x02\x03\x05\x01",                          # value of one byte: no MSS
        "mss-len5": b"\x02\x05\x05\xb4\x00\x01\x01\x01",
        "len0": b"\x08\x00\x01\x01" + mss,                        # length 0 counts as 2
        "len1": b"\x08\x01" + mss + b"\x01\x01",
        "len-past-end": mss + b"\x08\x20\x00\x00",
        "lone-kind": mss + b"\x01\x01\x01\x03",                  # kind without length: dpkt yields None
        "mss-cut": b"\x01\x01\x01\x02",                           # MSS kind as the last byte
        "mss-at-end-2": b"\x01\x01\x02\x04",                      # MSS with an empty value
        "sackok": b"\x04\x02\x01\x01",
    }


def base_packets() -> dict[str, bytes]:
    """Whole Ethernet frames (caplen == wirelen), by name."""
    return dict(_base_packets())


@functools.lru_cache(maxsize=1)
def _base_packets() -> dict[str, bytes]:
    P: dict[str, bytes] = {}
    syn, ack, psh = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH
    # VXLAN, the common stack and its checksums
    P["vxlan-tcp"] = vxlan_frame(inner_tcp())
    for mode in ("good", "bad", "partial"):
        for size in (100, 101, 0, 1, 1399):
            P[f"vxlan-tcp-csum-{mode}-{size}"] = vxlan_frame(inner_tcp(size), checksum=mode, port=4789)
    P["vxlan-tcp-csum-ffff"] = _vxlan_csum_ffff()
    P["vxlan-udp"] = vxlan_frame(ipv4(POD_A, POD_B, 17, udp(53000, 53, b"\x12\x34\x01\x00" + b"q" * 30)))
    P["vxlan-udp-csum"] = vxlan_frame(ipv4(POD_A, POD_B, 17, udp(53000, 53, b"abc")), checksum="good")
    P["vxlan-icmp-echo"] = vxlan_frame(ipv4(POD_A, POD_B, 1, icmp_echo(8)))
    P["vxlan-icmp-reply"] = vxlan_frame(ipv4(POD_B, POD_A, 1, icmp_echo(0)))
    P["vxlan-icmp-timestamp"] = vxlan_frame(ipv4(POD_B, POD_A, 1, icmp(13, 0, b"\x00" * 16)))
    P["vxlan-icmp-frag-needed"] = vxlan_frame(ipv4(POD_B, POD_A, 1, icmp(3, 4, struct.pack(">HH", 0, 1400)
                                                                          + inner_tcp(1400)[:60])))
    P["vxlan-syn-mss"] = vxlan_frame(inner_tcp(0, flags=syn, options=_syn_options()["linux"]))
    P["vxlan-arp"] = vxlan_frame(arp(), inner_type=0x0806)
    P["vxlan-ipv6"] = vxlan_frame(ipv6(POD6_A, POD6_B, 6, tcp(40000, 80)), inner_type=0x86DD)
    P["vxlan-inner-vlan"] = vxlan_frame(inner_tcp(), inner_tags=((0x8100, 5),))
    P["vxlan-inner-ipv6-type-v4-packet"] = vxlan_frame(inner_tcp(), inner_type=0x86DD)
    P["vxlan-inner-unknown-type"] = vxlan_frame(inner_tcp(), inner_type=0x88CC)
    P["vxlan-inner-ip-options"] = vxlan_frame(ipv4(POD_A, POD_B, 6, tcp(1, 2), options=b"\x01" * 8))
    P["vxlan-inner-ihl-15"] = vxlan_frame(ipv4(POD_A, POD_B, 6, tcp(1, 2), options=b"\x01" * 40))
    P["vxlan-inner-ihl-4"] = vxlan_frame(inner_tcp(ihl=4))
    P["vxlan-inner-total-0"] = vxlan_frame(inner_tcp(total=0))
    P["vxlan-inner-total-short"] = vxlan_frame(inner_tcp(total=12))
    P["vxlan-inner-total-long"] = vxlan_frame(inner_tcp(total=1400))
    P["vxlan-inner-total-padded"] = vxlan_frame(inner_tcp(4) + b"\x00" * 10)   # inner frame padding
    P["vxlan-inner-frag-first"] = vxlan_frame(inner_tcp(200, mf=True))
    P["vxlan-inner-frag-next"] = vxlan_frame(ipv4(POD_A, POD_B, 6, b"y" * 100, frag_off=208, df=False))
    P["vxlan-inner-frag-next-udp"] = vxlan_frame(ipv4(POD_A, POD_B, 17, b"y" * 3, frag_off=8, mf=True))
    P["vxlan-inner-version-6-nibble"] = vxlan_frame(b"\x65" + inner_tcp()[1:])
    P["vxlan-inner-tcp-off-4"] = vxlan_frame(ipv4(POD_A, POD_B, 6, tcp(1, 2, off=4)))
    P["vxlan-inner-tcp-off-15"] = vxlan_frame(ipv4(POD_A, POD_B, 6, tcp(1, 2, off=15, payload=b"z" * 10)))
    P["vxlan-inner-bgp"] = vxlan_frame(ipv4(POD_A, POD_B, 6, tcp(179, 40000, payload=_bgp_update())))
    P["vxlan-inner-gre"] = vxlan_frame(ipv4(POD_A, POD_B, 47, b"\x00\x00\x08\x00" + inner_tcp()))
    P["vxlan-inner-sctp"] = vxlan_frame(ipv4(POD_A, POD_B, 132, b"\x00" * 16))
    P["vxlan-inner-udp-short"] = vxlan_frame(ipv4(POD_A, POD_B, 17, b"\x00\x01\x00"))
    P["vxlan-inner-tcp-short"] = vxlan_frame(ipv4(POD_A, POD_B, 6, b"\x00\x01\x00\x02" * 4))
    P["vxlan-inner-icmp-short"] = vxlan_frame(ipv4(POD_A, POD_B, 1, b"\x08\x00\x00"))
    for flags in (0x00, 0x08, 0x0C, 0x88, 0x48, 0xFF, 0xF7, 0x80, 0x04):
        P[f"vxlan-flags-{flags:02x}"] = vxlan_frame(inner_tcp(), flags=flags, next_proto=3 if flags & 4 else 0)
    P["vxlan-reserved"] = vxlan_frame(inner_tcp(), reserved=b"\xab\xcd", next_proto=0x77, reserved2=0x99)
    P["vxlan-vni-max"] = vxlan_frame(inner_tcp(), vni=0xFFFFFF)
    P["vxlan-gpe-ipv4"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(1000, 4790, vxlan(b"", flags=0x0C, next_proto=1)
                                                                       + inner_tcp())))
    P["vxlan-gpe-port-plain"] = vxlan_frame(inner_tcp(), port=4790)
    P["vxlan-in-vxlan"] = vxlan_frame(ipv4(POD_A, POD_B, 17, udp(1, 4789, vxlan(ethernet(inner_tcp())))))
    P["vxlan-inner-udp-geneve-port"] = vxlan_frame(ipv4(POD_A, POD_B, 17, udp(1, 6081, b"\x00" * 30)))
    P["vxlan-inner-udp-plausible"] = vxlan_frame(ipv4(POD_A, POD_B, 17, udp(1, 9999, inner_tcp(10))))
    P["vxlan-bogus-udp-length-long"] = vxlan_frame(inner_tcp(), checksum="good", udp_length=1400)
    P["vxlan-bogus-udp-length-short"] = vxlan_frame(inner_tcp(), checksum="good", udp_length=4)
    P["vxlan-bogus-udp-length-zero-csum"] = vxlan_frame(inner_tcp(), udp_length=3)
    P["vxlan-outer-options"] = vxlan_frame(inner_tcp(), outer_options=b"\x94\x04\x00\x00")
    P["vxlan-outer-ihl-15"] = vxlan_frame(inner_tcp(), outer_options=b"\x01" * 39 + b"\x00", checksum="good")
    P["vxlan-outer-total-0"] = vxlan_frame(inner_tcp(), outer_total=0)
    P["vxlan-outer-total-long"] = vxlan_frame(inner_tcp(), outer_total=2000)
    P["vxlan-outer-total-short"] = vxlan_frame(inner_tcp(), outer_total=16)
    P["vxlan-outer-total-cuts-vxlan"] = vxlan_frame(inner_tcp(), outer_total=20 + 8 + 6)
    P["vxlan-outer-total-cuts-inner"] = vxlan_frame(inner_tcp(), outer_total=20 + 8 + 8 + 14 + 30)
    P["vxlan-vlan"] = vxlan_frame(inner_tcp(), tags=((0x8100, 100),))
    P["vxlan-vlan-csum"] = vxlan_frame(inner_tcp(33), tags=((0x8100, 100),), checksum="good")
    P["vxlan-qinq"] = vxlan_frame(inner_tcp(), tags=((0x88A8, 10), (0x8100, 100)))
    P["vxlan-dot1q-dot1q"] = vxlan_frame(inner_tcp(), tags=((0x8100, 10), (0x8100, 100)))
    P["vxlan-padded"] = vxlan_frame(ipv4(POD_A, POD_B, 6, tcp(1, 2))) + b"\x00" * 7
    P["vxlan-trailer"] = vxlan_frame(inner_tcp(), checksum="good") + b"\xde\xad\xbe\xef"
    # Geneve and the plausibility tests on other ports
    P["geneve"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 6081, geneve(ethernet(inner_tcp(), src=VTEP_A)))))
    _geneve_packets(P)
    P["vxlan-plausible-port"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 5555, vxlan(ethernet(inner_tcp())))))
    P["vxlan-plausible-arp"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 5555, vxlan(ethernet(arp(), 0x0806)))))
    P["geneve-plausible-port"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 5556, geneve(inner_tcp(), proto=0x0800))))
    P["bare-ip-udp"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(8285, 8285, inner_tcp())))
    P["gue"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 5555, b"\x00\x04\x00\x00" + inner_tcp())))
    # near misses: pass the cheap tests, fail the expensive ones
    P["udp-vxlan-flags-bad-ip"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 5555, vxlan(ethernet(b"\x45" + b"\x00" * 30)))))
    P["udp-geneve-like"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 5555, b"\x00\x00\x08\x00" + b"\x00" * 40)))
    P["udp-bare-len"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 5555, b"\x45\x00\x00\x18" + b"\x00" * 20)))
    P["udp-gue-like"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 5555, b"\x00\x29\x00\x00" + b"\x60" + b"\x00" * 50)))
    P["udp-dns"] = ethernet(ipv4(NODE_A, "8.8.8.8", 17, udp(40000, 53, b"\xab\xcd\x01\x00\x00\x01" + b"\x00" * 20)))
    P["udp-random"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 7000, bytes(random.Random(1).randbytes(64)))))
    P["udp-empty"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 7000)))
    P["udp-short-header"] = ethernet(ipv4(NODE_A, NODE_B, 17, b"\x00\x01\x00"))
    P["udp-dport-4789-short"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 4789, b"\x08\x00\x00")))
    # IPIP
    P["ipip-tcp"] = ipip_frame(inner_tcp())
    P["ipip-udp"] = ipip_frame(ipv4(POD_A, POD_B, 17, udp(1000, 2000, b"hello")))
    P["ipip-icmp"] = ipip_frame(ipv4(POD_A, POD_B, 1, icmp_echo()))
    P["ipip-syn"] = ipip_frame(inner_tcp(0, flags=syn, options=_syn_options()["linux"]))
    P["ipip-inner-options"] = ipip_frame(ipv4(POD_A, POD_B, 6, tcp(1, 2), options=b"\x01\x01\x01\x00"))
    P["ipip-inner-frag"] = ipip_frame(ipv4(POD_A, POD_B, 6, b"q" * 40, frag_off=1480))
    P["ipip-ipip"] = ipip_frame(ipv4(POD_A, POD_B, 4, inner_tcp()))
    P["ipip-inner-ihl-3"] = ipip_frame(inner_tcp(ihl=3))
    P["ipip-outer-options"] = ipip_frame(inner_tcp(), options=b"\x01" * 12)
    # native
    P["tcp"] = ethernet(inner_tcp(500))
    P["tcp-padded-40"] = ethernet(ipv4(POD_A, POD_B, 6, tcp(1, 2))) + b"\x00" * 6
    P["tcp-padded-44"] = ethernet(ipv4(POD_A, POD_B, 6, tcp(1, 2, payload=b"abcd"))) + b"\x00" * 2
    P["udp-padded"] = ethernet(ipv4(POD_A, POD_B, 17, udp(1, 2, b"ab"))) + b"\x00" * 16
    for name, options in _syn_options().items():
        P[f"syn-{name}"] = ethernet(inner_tcp(0, flags=syn, options=options))
        P[f"synack-{name}"] = ethernet(inner_tcp(0, flags=syn | ack, options=options))
    P["ack-with-options"] = ethernet(inner_tcp(10, options=b"\x01\x01\x08\x0a" + b"\x00" * 8))
    P["tcp-off-4"] = ethernet(ipv4(POD_A, POD_B, 6, tcp(1, 2, off=4)))
    P["tcp-off-15-short"] = ethernet(ipv4(POD_A, POD_B, 6, tcp(1, 2, off=15)))
    P["tcp-all-flags"] = ethernet(ipv4(POD_A, POD_B, 6, tcp(1, 2, flags=0x1FF)))
    reserved = bytearray(tcp(1, 2, flags=0x12))
    reserved[12] |= 0x0E                                       # the three reserved bits of the offset byte
    P["tcp-reserved-bits"] = ethernet(ipv4(POD_A, POD_B, 6, bytes(reserved)))
    P["bgp-update"] = ethernet(ipv4(NODE_A, NODE_B, 6, tcp(179, 40000, flags=psh | ack, payload=_bgp_update())))
    P["bgp-empty"] = ethernet(ipv4(NODE_A, NODE_B, 6, tcp(40000, 179)))
    P["icmp-echo"] = ethernet(ipv4(NODE_A, NODE_B, 1, icmp_echo()))
    P["icmp-echo-short"] = ethernet(ipv4(NODE_A, NODE_B, 1, b"\x08\x00\x00\x00\x00\x01"))
    P["icmp-timestamp"] = ethernet(ipv4(NODE_A, NODE_B, 1, icmp(13, 0, b"\x00" * 16)))
    P["icmp-router-advert"] = ethernet(ipv4(NODE_A, NODE_B, 1, icmp(9, 0, b"\x00" * 12)))
    P["icmp-frag-needed-vxlan"] = ethernet(ipv4(GATEWAY, NODE_A, 1, icmp(3, 4, struct.pack(">HH", 0, 1400)
                                                                      + P["vxlan-tcp"][14:14 + 548]), ttl=254))
    P["icmp-time-exceeded"] = ethernet(ipv4(GATEWAY, NODE_A, 1, icmp(11, 0, b"\x00" * 4 + P["ipip-tcp"][14:80])))
    P["icmp-redirect"] = ethernet(ipv4(GATEWAY, NODE_A, 1, icmp(5, 1, _a4(GATEWAY) + P["tcp"][14:62])))
    P["igmp"] = ethernet(ipv4(NODE_A, "224.0.0.1", 2, b"\x11\x64\xee\x9b\x00\x00\x00\x00"))
    P["esp"] = ethernet(ipv4(NODE_A, NODE_B, 50, b"\x00" * 32))
    P["ah-tcp"] = ethernet(ipv4(NODE_A, NODE_B, 51, b"\x06\x04\x00\x00" + b"\x00" * 20 + tcp(1, 2)))
    P["ip-version-5"] = ethernet(b"\x55" + inner_tcp()[1:])
    P["ip-ihl-4"] = ethernet(inner_tcp(ihl=4))
    P["ip-ihl-0"] = ethernet(inner_tcp(ihl=0))
    P["ip-total-0"] = ethernet(inner_tcp(300, total=0))
    P["ip-total-short"] = ethernet(inner_tcp(total=19))
    P["ip-total-eq-ihl"] = ethernet(inner_tcp(total=20))
    P["ip-total-long"] = ethernet(inner_tcp(total=9000))
    P["ip-options-cut-by-total"] = ethernet(ipv4(POD_A, POD_B, 6, tcp(1, 2), options=b"\x01" * 40, total=40))
    P["ip-rf-bit"] = ethernet(bytes(_set_flags(inner_tcp(), 0x8000)))
    # outer fragments (a VXLAN datagram in two, and the pieces out of order too)
    whole = vxlan_frame(inner_tcp(1000))[14:]
    datagram = whole[20:]
    first = ipv4(NODE_A, NODE_B, 17, datagram[:496], ident=0x7777, mf=True, total=20 + 496)
    second = ipv4(NODE_A, NODE_B, 17, datagram[496:], ident=0x7777, frag_off=496, total=20 + len(datagram) - 496)
    P["outer-frag-1"] = ethernet(first)
    P["outer-frag-2"] = ethernet(second)
    P["outer-frag-2-alone"] = ethernet(ipv4(NODE_A, NODE_B, 17, datagram[496:], ident=0x7778, frag_off=496))
    P["outer-frag-first-short"] = ethernet(ipv4(NODE_A, NODE_B, 17, datagram[:16], ident=0x7779, mf=True))
    P["outer-frag-ipip"] = ethernet(ipv4(NODE_A, NODE_B, 4, inner_tcp(500)[:200], ident=0x777A, mf=True))
    P["outer-frag-df-mf"] = ethernet(ipv4(NODE_A, NODE_B, 6, tcp(1, 2), mf=True, df=True))
    # link-layer oddities
    P["arp"] = ethernet(arp(), 0x0806)
    P["arp-padded"] = ethernet(arp(), 0x0806) + b"\x00" * 18
    P["arp-short"] = ethernet(arp()[:10], 0x0806)
    P["arp-vlan"] = ethernet(arp(), 0x0806, tags=((0x8100, 7),))
    P["ipv6-tcp"] = ethernet(ipv6(POD6_A, POD6_B, 6, tcp(1, 2)), 0x86DD)
    P["ipv6-udp"] = ethernet(ipv6(POD6_A, POD6_B, 17, udp(1, 2, b"abc")), 0x86DD)
    P["ipv6-vlan"] = ethernet(ipv6(POD6_A, POD6_B, 6, tcp(1, 2)), 0x86DD, tags=((0x8100, 7),))
    _ipv6_packets(P)
    P["lldp"] = ethernet(b"\x02\x07\x04" + MAC_A + b"\x00" * 30, 0x88CC)
    P["ieee8023"] = MAC_B + MAC_A + struct.pack(">H", 38) + b"\xaa\xaa\x03" + b"\x00" * 35
    P["vlan-unknown"] = ethernet(b"\x00" * 40, 0x9999, tags=((0x8100, 7),))
    P["eth-ipv4-type-v6-packet"] = ethernet(ipv6(POD6_A, POD6_B, 6, tcp(1, 2)), 0x0800)
    P["eth-ipv6-type-v4-packet"] = ethernet(inner_tcp(), 0x86DD)
    P["mpls"] = ethernet(b"\x00\x01\x01\x40" + inner_tcp(), 0x8847)
    P["pppoe"] = ethernet(b"\x11\x00\x00\x01\x00\x16\x00\x21" + inner_tcp()[:20], 0x8864)
    _encrypted_packets(P)
    return P


def _encrypted_packets(P: dict) -> None:
    """WireGuard, ESP, ESP-in-UDP, IKE and NAT keepalives: the reference's (decode/encrypted.py), which the
    fast decoder must hand over whatever their cut."""
    wg = build.wireguard
    P["wg-data"] = ethernet(build.wireguard_packet(NODE_A, NODE_B, wg(4, 1400, counter=1 << 40), checksum="good"))
    P["wg-data-unpadded-off-port"] = ethernet(build.wireguard_packet(NODE_A, NODE_B, wg(4, 1400)[:-4], port=40000,
                                                                     sport=40000))
    P["wg-initiation-off-port"] = ethernet(build.wireguard_packet(NODE_A, NODE_B, wg(1), port=40000, sport=41000))
    P["wg-response-v6"] = ethernet(build.wireguard_packet(POD6_A, POD6_B, wg(2), port=51821))
    P["wg-cookie-wrong-size"] = ethernet(build.wireguard_packet(NODE_A, NODE_B, wg(3) + b"x", port=40000))
    P["wg-counter-past-int64"] = ethernet(build.wireguard_packet(NODE_A, NODE_B, wg(4, 16, counter=(1 << 64) - 1)))
    P["esp"] = ethernet(build.esp_packet(NODE_A, NODE_B, 1400))
    P["esp-v6"] = ethernet(build.esp_packet(POD6_A, POD6_B, 100))
    P["esp-reserved-spi"] = ethernet(build.esp_packet(NODE_A, NODE_B, 100, spi=255))
    P["esp-in-udp"] = ethernet(build.esp_packet(NODE_A, NODE_B, 1300, udp_port=4500))
    P["nat-keepalive"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(4500, 4500, b"\xff")))
    ike = struct.pack(">8s8sBBBBII", b"\x01" * 8, b"\x02" * 8, 33, 0x20, 35, 0x20, 1, 28)
    P["ike-4500"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(4500, 4500, bytes(4) + ike)))
    P["ike-500"] = ethernet(ipv4(NODE_A, NODE_B, 17, udp(500, 500, ike)))


def _geneve_packets(P: dict) -> None:
    """Geneve on its port as OVN-Kubernetes and Antrea send it (options of any length, an Ethernet payload)
    and the variants the fast decoder must leave to the reference or get right anyway."""
    option = struct.pack(">HBB", 0x0102, 0x80, 1) + b"\x00\x00\x00\x07"     # class, type, one word of data

    def on_port(body, checksum="zero", **options):
        datagram = udp_checksummed(NODE_A, NODE_B, udp(51234, 6081, body), checksum)
        return ethernet(ipv4(NODE_A, NODE_B, 17, datagram, **options))

    frame = ethernet(inner_tcp(), src=VTEP_A, dst=VTEP_B)
    P["geneve-options"] = on_port(geneve(frame, options=option * 3))
    P["geneve-options-63"] = on_port(geneve(frame, options=b"\x00" * 252))
    P["geneve-options-past-end"] = on_port(geneve(frame, options=option)[:20])
    P["geneve-csum-good"] = on_port(geneve(frame, vni=77, options=option), checksum="good")
    P["geneve-csum-bad"] = on_port(geneve(frame, options=option), checksum="bad")
    P["geneve-oam-critical-v1"] = on_port(b"\x40\xc0" + geneve(frame)[2:])
    P["geneve-ipv4-payload"] = on_port(geneve(inner_tcp(), proto=0x0800))
    P["geneve-inner-vlan"] = on_port(geneve(ethernet(inner_tcp(), tags=((0x8100, 9),))))
    P["geneve-inner-arp"] = on_port(geneve(ethernet(arp(), 0x0806)))
    P["geneve-inner-ipv6"] = on_port(geneve(ethernet(ipv6(POD6_A, POD6_B, 17, udp(5353, 53, b"q" * 12)), 0x86DD),
                                            options=option))
    P["geneve-inner-udp"] = on_port(geneve(ethernet(ipv4(POD_A, POD_B, 17, udp(53000, 53, b"abc")))))


def _ipv6_packets(P: dict) -> None:
    """IPv6 the fast decoder takes (TCP and UDP straight after the fixed header, natively or inside VXLAN)
    beside the IPv6 it must leave to the reference (extension headers, ICMPv6, jumbograms, tunnels over
    an IPv6 underlay, lengths that lie)."""
    syn = dpkt.tcp.TH_SYN

    def v6(nxt, payload, **fields):
        raw = bytearray(ipv6(POD6_A, POD6_B, nxt, payload))
        if "plen" in fields:
            raw[4:6] = struct.pack(">H", fields["plen"])
        return bytes(raw)

    segment = tcp(40000, 80, payload=b"x" * 200)
    P["ipv6-syn-mss"] = ethernet(v6(6, tcp(40000, 80, flags=syn, options=_syn_options()["linux"])), 0x86DD)
    P["ipv6-tcp-data"] = ethernet(v6(6, segment), 0x86DD)
    P["ipv6-udp-dns"] = ethernet(v6(17, udp(53000, 53, b"\x12\x34\x01\x00" + b"q" * 30)), 0x86DD)
    P["ipv6-udp-vxlan-port"] = ethernet(v6(17, udp(51234, 4789, vxlan(ethernet(inner_tcp(), src=VTEP_A,
                                                                                  dst=VTEP_B)))), 0x86DD)
    P["ipv6-udp-vxlan-plausible"] = ethernet(v6(17, udp(51234, 7000, vxlan(ethernet(inner_tcp(), src=VTEP_A,
                                                                                       dst=VTEP_B)))), 0x86DD)
    P["ipv6-hop-by-hop"] = ethernet(v6(0, bytes([6, 0, 1, 4, 0, 0, 0, 0]) + segment), 0x86DD)
    P["ipv6-jumbo-plen0"] = ethernet(v6(6, segment, plen=0), 0x86DD)
    P["ipv6-plen-beyond"] = ethernet(v6(6, segment, plen=len(segment) + 100), 0x86DD)
    P["ipv6-plen-short"] = ethernet(v6(6, segment, plen=len(segment) - 50), 0x86DD)
    P["ipv6-plen-under-tcp"] = ethernet(v6(6, segment, plen=12), 0x86DD)
    P["ipv6-bgp"] = ethernet(v6(6, tcp(179, 40000, payload=_bgp_update())), 0x86DD)
    P["ipv6-icmp6-echo"] = ethernet(v6(58, icmp(128, 0, b"\x00\x01\x00\x02" + b"p" * 20)), 0x86DD)
    P["ipv6-sll-like-padding"] = ethernet(v6(17, udp(1, 2, b"abc")), 0x86DD) + b"\x00" * 6
    P["vxlan-ipv6-udp"] = vxlan_frame(v6(17, udp(53000, 53, b"q" * 20)), inner_type=0x86DD)
    P["vxlan-ipv6-syn"] = vxlan_frame(v6(6, tcp(40000, 80, flags=syn, options=_syn_options()["mss-only"])),
                                      inner_type=0x86DD, checksum="good", port=4789)
    P["vxlan-ipv6-icmp6"] = vxlan_frame(v6(58, icmp(128, 0, b"\x00\x01\x00\x02")), inner_type=0x86DD)
    P["vxlan-ipv6-plen-beyond"] = vxlan_frame(v6(6, segment, plen=len(segment) + 8), inner_type=0x86DD)
    P["vxlan-ipv6-hop-by-hop"] = vxlan_frame(v6(0, bytes([17, 0, 1, 4, 0, 0, 0, 0]) + udp(1, 2, b"abc")),
                                             inner_type=0x86DD)


def _vxlan_csum_ffff() -> bytes:
    """A VXLAN datagram whose good checksum is sent as 0xFFFF (the computed value was 0): the VNI
    is chosen so that the one's complement sum of everything else plus the VNI word is 0xFFFF."""
    plain = vxlan_frame(inner_tcp(), port=4789, vni=0)
    datagram = plain[14 + 20:]
    rest = ones_sum(pseudo_header(_a4(NODE_A), _a4(NODE_B), 17, len(datagram)) + datagram)
    frame = vxlan_frame(inner_tcp(), checksum="good", port=4789, vni=(0xFFFF - rest) << 8)
    assert frame[14 + 20 + 6:14 + 20 + 8] == b"\xff\xff"
    return frame


def _set_flags(packet: bytes, bits: int) -> bytearray:
    raw = bytearray(packet)
    raw[6:8] = struct.pack(">H", struct.unpack(">H", raw[6:8])[0] | bits)
    raw[10:12] = b"\x00\x00"
    raw[10:12] = struct.pack(">H", internet_checksum(bytes(raw[:20])))
    return raw


def _bgp_update() -> bytes:
    nlri = b"\x18\x0a\xf4\x01"                      # 10.244.1.0/24
    attrs = b"\x40\x01\x01\x00" + b"\x40\x02\x00" + b"\x40\x03\x04" + _a4(NODE_A)
    body = struct.pack(">H", 0) + struct.pack(">H", len(attrs)) + attrs + nlri
    return b"\xff" * 16 + struct.pack(">HB", 19 + len(body), 2) + body


def gso_super_frame() -> bytes:
    """A 12 kB VXLAN GSO frame as the sender's stack hands it to tcpdump: partial checksum."""
    return vxlan_frame(inner_tcp(12000 - 104), checksum="partial", port=8472)


CUT_EVERYWHERE = ("vxlan-tcp", "vxlan-tcp-csum-good-101", "vxlan-syn-mss", "vxlan-vlan", "vxlan-udp",
                  "vxlan-icmp-echo", "ipip-tcp", "ipip-syn", "syn-linux", "tcp", "udp-dns", "vxlan-outer-options",
                  "bgp-update", "icmp-frag-needed-vxlan", "outer-frag-1", "ipv6-syn-mss", "ipv6-udp-dns",
                  "vxlan-ipv6-syn", "vxlan-ipv6-udp", "geneve-options", "geneve-inner-ipv6", "wg-data",
                  "wg-initiation-off-port", "esp", "esp-in-udp", "ike-4500")


def mutants(packets: dict[str, bytes], count: int, seed: int = 7) -> list[tuple[bytes, int]]:
    """Seeded random damage to the header bytes: (frame, wirelen), a few of them snaplen-cut."""
    rng = random.Random(seed)
    names = sorted(packets)
    found = []
    for _ in range(count):
        frame = bytearray(packets[rng.choice(names)])
        for _ in range(rng.choice((1, 1, 2, 3))):
            at = rng.randrange(min(len(frame), 120)) if frame else 0
            if frame:
                frame[at] = rng.choice((0, 0xFF, rng.randrange(256), frame[at] ^ (1 << rng.randrange(8))))
        wirelen = len(frame)
        if rng.random() < 0.15:
            frame = frame[:rng.randrange(len(frame) + 1)]
        found.append((bytes(frame), wirelen))
    return found


def ethernet_records(mutations: int = 3000) -> list[tuple[bytes, int]]:
    """(frame, wirelen) of the whole Ethernet part, in a fixed order."""
    packets = base_packets()
    records = [(frame, len(frame)) for frame in packets.values()]
    records.append((packets["outer-frag-2"], len(packets["outer-frag-2"])))       # a repeat: second again
    records += [(packets["outer-frag-2"], len(packets["outer-frag-2"])), (packets["outer-frag-1"], len(packets["outer-frag-1"]))]
    for name in CUT_EVERYWHERE:
        frame = packets[name]
        records += [(frame[:k], len(frame)) for k in range(len(frame))]
    big = gso_super_frame()
    records.append((big, len(big)))
    records.append((big[:200], len(big)))
    records.append((b"", 60))                                  # an empty record
    records.append((packets["tcp"], len(packets["tcp"]) - 10))  # caplen > wirelen
    records.append((packets["vxlan-tcp"], len(packets["vxlan-tcp"]) - 1))
    records += mutants(packets, mutations)
    return records


def other_link_records() -> list[tuple[int, bytes, int]]:
    """(link type, data, wirelen) for raw IPv4, Linux SLL and SLL2 captures."""
    packets = base_packets()
    ip_packets = {name: frame[14:] for name, frame in packets.items()
                  if frame[12:14] == b"\x08\x00" and len(frame) > 14}
    found = []
    for name, packet in sorted(ip_packets.items()):
        for linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
            found.append((linktype, packet, len(packet)))
        sll = build.linux_sll(packet, 0x0800, address=MAC_A)
        found.append((LINKTYPE_SLL, sll, len(sll)))
        sll2 = build.linux_sll2(packet, 0x0800, address=MAC_A, packet_type=4)
        found.append((LINKTYPE_SLL2, sll2, len(sll2)))
    ipv6_packet = packets["ipv6-tcp"][14:]
    found.append((LINKTYPE_RAW, ipv6_packet, len(ipv6_packet)))
    found.append((229, ipv6_packet, len(ipv6_packet)))
    for name in ("ipv6-syn-mss", "ipv6-udp-dns", "ipv6-hop-by-hop", "ipv6-plen-beyond"):
        packet = packets[name][14:]
        found.append((229, packet, len(packet)))
        sll = build.linux_sll(packet, 0x86DD, address=MAC_A)
        found.append((LINKTYPE_SLL, sll, len(sll)))
        sll2 = build.linux_sll2(packet, 0x86DD, address=MAC_A, packet_type=4)
        found.append((LINKTYPE_SLL2, sll2, len(sll2)))
        found.append((LINKTYPE_SLL2, sll2[:50], len(sll2)))
    found.append((229, ip_packets["tcp"], len(ip_packets["tcp"])))     # raw IPv6 link, IPv4 inside
    sll_arp = build.linux_sll(arp(), 0x0806, address=MAC_A)
    found.append((LINKTYPE_SLL, sll_arp, len(sll_arp)))
    vx = packets["vxlan-tcp-csum-good-101"][14:]
    for k in range(0, len(vx), 3):
        found.append((LINKTYPE_RAW, vx[:k], len(vx)))
        sll = build.linux_sll(vx, 0x0800, address=MAC_A)
        found.append((LINKTYPE_SLL, sll[:k + 16], len(sll)))
        sll2 = build.linux_sll2(vx, 0x0800, address=MAC_A, packet_type=4)
        found.append((LINKTYPE_SLL2, sll2[:k + 20], len(sll2)))
    found.append((LINKTYPE_SLL, b"\x00" * 10, 60))
    found.append((LINKTYPE_SLL2, b"\x08\x00" + b"\x00" * 10, 60))
    found.append((0, b"\x02\x00\x00\x00" + ip_packets["tcp"], 4 + len(ip_packets["tcp"])))    # BSD loopback
    found.append((147, ip_packets["tcp"], len(ip_packets["tcp"])))                            # a user link type
    return found


# -- writers ----------------------------------------------------------------------------------

def write_pcap(path, records, linktype: int = LINKTYPE_ETHERNET) -> None:
    """Classic pcap (µs), one (data, wirelen) per record, 1000 records a second."""
    _write_pcap(path, [Record(data, caplen=len(data), wirelen=wirelen) for data, wirelen in records],
                linktype=linktype, start=T0, step=0.001)


def write_pcapng(path, records) -> None:
    """pcapng with one interface per link type: (linktype, data, wirelen) per record."""
    interfaces: dict[int, int] = {}
    for linktype, _, _ in records:
        interfaces.setdefault(linktype, len(interfaces))
    blocks = [pcapng_shb()] + [pcapng_idb(linktype, 262144) for linktype in interfaces]
    for i, (linktype, data, wirelen) in enumerate(records):
        units = (T0 + i // 1000) * 1_000_000 + (i % 1000) * 1000
        blocks.append(pcapng_epb(interfaces[linktype], 0, data, wirelen, units=units))
    Path(path).write_bytes(b"".join(blocks))


def write_awkward(folder, mutations: int = 3000) -> list[Path]:
    """awkward.pcap (Ethernet) and awkward.pcapng (every link type) in folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ethernet_part = ethernet_records(mutations)
    write_pcap(folder / "awkward.pcap", ethernet_part)
    write_pcapng(folder / "awkward.pcapng",
                 [(LINKTYPE_ETHERNET, data, wirelen) for data, wirelen in ethernet_part[:400]]
                 + other_link_records())
    return [folder / "awkward.pcap", folder / "awkward.pcapng"]


if __name__ == "__main__":
    for written in write_awkward(sys.argv[1] if len(sys.argv) > 1 else "."):
        print(written)
