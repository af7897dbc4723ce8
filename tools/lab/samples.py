"""The dpkt-built samples: real pod traffic from a routed kernel lab (no encapsulation), each packet
between pods of two nodes wrapped afterwards in the tunnel the kernel here cannot make (IPIP) or that
the lab does not run (Geneve), with the shared packet builder (pcapdiag.testing)."""
from __future__ import annotations

import ipaddress
import random
import socket
import struct
import zlib

import dpkt

from pcapdiag.testing.packets import ETH_IP, GENEVE_PORT, ethernet, geneve, ipv4, udp_datagram

from .netns import mac_0a58

SEED = 4242
SNAPLEN = 262144


def flow_src_port(data, lo=32768, hi=61000):
    """Like the kernel's udp_flow_src_port(): a hash of the inner flow mapped into a port range."""
    return lo + zlib.crc32(data) % (hi - lo)


def _owner(nodes, ip):
    a = ipaddress.IPv4Address(ip)
    for n in nodes:
        if a in ipaddress.IPv4Network(n.cidr):
            return n
    return None


def _wrap_cross_node(src_pcap, dst_pcap, nodes, wrap):
    """Copy a native capture, replacing each IPv4 frame between pods of two different nodes by
    wrap(ipb, src, dst, src_node, dst_node): the tunnel frame that crosses the underlay instead.
    ipb is the IPv4 packet as captured, cut to its total length (Ethernet padding dropped)."""
    with open(src_pcap, "rb") as fi, open(dst_pcap, "wb") as fo:
        w = dpkt.pcap.Writer(fo, snaplen=SNAPLEN, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, buf in dpkt.pcap.Reader(fi):
            eth = dpkt.ethernet.Ethernet(buf)
            if buf[12:14] == b"\x08\x00" and isinstance(eth.data, dpkt.ip.IP):     # untagged IPv4
                s, d = socket.inet_ntoa(eth.data.src), socket.inet_ntoa(eth.data.dst)
                sn, dn = _owner(nodes, s), _owner(nodes, d)
                if sn and dn and sn is not dn:
                    buf = wrap(buf[14:14 + eth.data.len], s, d, sn, dn)
            w.writepkt(buf, ts)


def _next_ip_id(ids, rnd, sn, dn):
    """Per node pair, IP IDs counting up from a random start (as the kernel's per-destination counter)."""
    key = (sn.ip, dn.ip)
    ids[key] = ids.get(key, rnd.randrange(0x10000)) + 1
    return ids[key]


def wrap_ipip(src_pcap, dst_pcap, nodes):
    """Calico tunl0-like IPIP: outer IPv4 node->node, protocol 4, DF set (pmtudisc), TTL inherited
    from the inner packet (tunl0 default `ttl inherit`), outer Ethernet = the node MACs."""
    rnd, ids, wrapped = random.Random(SEED + 4), {}, [0]

    def wrap(ipb, s, d, sn, dn):
        outer = ipv4(sn.ip, dn.ip, ipb, proto=4, ident=_next_ip_id(ids, rnd, sn, dn) & 0xFFFF, ttl=ipb[8], df=True)
        wrapped[0] += 1
        return ethernet(outer, ETH_IP, src=sn.mac, dst=dn.mac)

    _wrap_cross_node(src_pcap, dst_pcap, nodes, wrap)
    return wrapped[0]


GENEVE_OPT_CLASS = 0x0102      # OVN
GENEVE_OPT_TYPE = 0x80


def wrap_geneve(src_pcap, dst_pcap, nodes, vni):
    """Geneve (UDP 6081): outer IPv4 node->node with DF (OVS default) and TTL 64, UDP source port
    hashed from the inner flow, UDP checksum present, Geneve protocol 0x6558 (inner Ethernet:
    dst = destination pod MAC, src = destination subnet's router MAC). ICMP and UDP packets carry one
    8-byte OVN-style option (class 0x0102 type 0x80, 4 bytes data); TCP packets carry none."""
    rnd, ids, counts = random.Random(SEED + 6), {}, {"wrapped": 0, "options": 0}

    def wrap(ipb, s, d, sn, dn):
        opts = b""
        if ipb[9] != 6:
            si = int(s.split(".")[3]) + 16 * sn.idx
            di = int(d.split(".")[3]) + 16 * dn.idx
            opts = struct.pack("!HBB", GENEVE_OPT_CLASS, GENEVE_OPT_TYPE, 1) + struct.pack("!HH", si, di)
            counts["options"] += 1
        body = geneve(ethernet(ipb, ETH_IP, src=mac_0a58(dn.gw), dst=mac_0a58(d)), vni, opts)
        ihl = (ipb[0] & 15) * 4
        sport = flow_src_port(ipb[9:10] + ipb[12:20] + ipb[ihl:ihl + 4])
        udp = udp_datagram(sn.ip, dn.ip, sport, GENEVE_PORT, body, checksum="good")
        outer = ipv4(sn.ip, dn.ip, udp, proto=17, ident=_next_ip_id(ids, rnd, sn, dn) & 0xFFFF, ttl=64, df=True)
        assert len(outer) <= 1500, "Geneve packet larger than the underlay MTU"
        counts["wrapped"] += 1
        return ethernet(outer, ETH_IP, src=sn.mac, dst=dn.mac)

    _wrap_cross_node(src_pcap, dst_pcap, nodes, wrap)
    return counts["wrapped"], counts["options"]
