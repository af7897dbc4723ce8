#!/usr/bin/env python3
"""Generate a large synthetic capture of Kubernetes overlay traffic, fast.

The capture mimics what `tcpdump -i eth0` on a node of a 3-node cluster sees:

* ~50 % VXLAN (flannel: UDP dst port 8472, VNI 1, outer UDP checksum 0 as the
  Linux vxlan driver sends it by default), inner Ethernet (flannel.1 VTEP MACs)
  / IPv4 / TCP or UDP;
* ~25 % IPIP (IPv4 protocol 4, Calico-style), inner IPv4 / TCP or UDP;
* ~25 % native IPv4 (pod-to-pod without encapsulation, plus node-to-node
  control-plane traffic);
* ~0.3 % odd packets: ARP, native IPv6, 802.1Q-tagged frames, IPv4 options
  (IHL 6), snaplen-truncated frames (caplen < wire length), inner IPv4
  fragments inside VXLAN/IPIP, and a few ICMP "fragmentation needed".

Nodes are 192.168.0.11-13, pods 10.244.{1,2,3}.2-11 (10 per node); there are
about 2,000 inner flows with Zipf-like popularity.  TCP flows start with a
SYN / SYN-ACK / ACK handshake (MSS, SACK, timestamps, window scale options),
sequence and acknowledgement numbers advance per flow, and data segments are
sized to the MTU: every pod has MTU 1450 (the VXLAN overlay's, so the same pod
can talk over VXLAN, IPIP or natively without an MTU finding), node-to-node
host traffic 1500. Full VXLAN frames are 1514 bytes, IPIP 1484, native pod
1464, host 1514; pure ACKs are 66-byte frames before encapsulation.

Speed comes from templates: each (flow, direction, payload length, TCP flags)
is built once, slowly and carefully, with every variable field (IP IDs, TCP
seq/ack, TCP timestamps) set to zero.  For each packet the template is copied
and only those fields are patched with struct.pack_into; the IPv4 header and
TCP checksums are updated incrementally (RFC 1624: the one's-complement sum of
the zeroed template plus the new 16-bit words), so every checksum is correct
without touching the payload again.  Random choices are drawn in bulk with
numpy.  1M packets take a few seconds.

The output is deterministic for a given --seed (and numpy's PCG64 stream).

    python bench/make_capture.py -o /tmp/k8s.pcap --packets 1000000
    python bench/make_capture.py -o /tmp/k8s.pcapng --format pcapng
"""
from __future__ import annotations

import argparse
import collections
import socket
import struct
import sys
import time

import numpy as np

# --------------------------------------------------------------------------
# Cluster layout
# --------------------------------------------------------------------------
NODE_IPS = ["192.168.0.11", "192.168.0.12", "192.168.0.13"]
NODE_MACS = ["52:54:00:00:00:11", "52:54:00:00:00:12", "52:54:00:00:00:13"]
VTEP_MACS = ["ce:8a:1f:00:00:01", "ce:8a:1f:00:00:02", "ce:8a:1f:00:00:03"]  # flannel.1
GATEWAY_IP = "192.168.0.1"
GATEWAY_MAC = "52:54:00:00:00:01"
PODS_PER_NODE = 10
POD_IPS = [[f"10.244.{n + 1}.{h + 2}" for h in range(PODS_PER_NODE)] for n in range(3)]
POD6_IPS = [[f"fd00:10:244:{n + 1}::{h + 2:x}" for h in range(PODS_PER_NODE)] for n in range(3)]

VXLAN_PORT = 8472  # flannel's (the Linux kernel's historical) VXLAN port
VNI = 1

# Shares of the packet stream (odd packets come on top, drawn separately).
CLASS_SHARES = {"vxlan": 0.50, "ipip": 0.25, "native": 0.25}
FLOWS_PER_CLASS = {"vxlan": 1000, "ipip": 500, "native": 500}
ODD_SHARE = 0.003
ODD_KINDS = [  # (kind, weight)
    ("arp", 15), ("ipv6", 20), ("vlan", 15), ("ip_options", 15),
    ("truncated", 20), ("inner_fragment", 10), ("icmp_frag_needed", 5),
]

# Interface MTUs: data segments fill them. One pod MTU for every class (the
# smallest overlay's: 1500 underlay - 50 VXLAN), as a CNI configures it.
POD_MTU = 1450
HOST_MTU = 1500
TCP_TS_OPT_LEN = 12  # NOP NOP TS(10): data offset 8, 32-byte TCP header
ETH_TYPE_IPV4, ETH_TYPE_IPV6, ETH_TYPE_ARP, ETH_TYPE_VLAN = 0x0800, 0x86DD, 0x0806, 0x8100

START_TS_US = 1_700_000_000 * 1_000_000
MEAN_GAP_US = 8.0  # ~125k packets/s on the wire

ACK, PSH, SYN, FIN = 0x10, 0x08, 0x02, 0x01

_pack_into = struct.pack_into
_H = struct.Struct("!H")
_II = struct.Struct("!II")
PCAP_REC = struct.Struct("<IIII")
EPB_HDR = struct.Struct("<IIIIIII")
_U32 = struct.Struct("<I")


# --------------------------------------------------------------------------
# Slow, careful builders (used for templates and odd packets)
# --------------------------------------------------------------------------
def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ip4(text: str) -> bytes:
    return socket.inet_aton(text)


def ip6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


def sum16(data: bytes) -> int:
    """One's-complement sum of big-endian 16-bit words, folded to 16 bits."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksum(data: bytes) -> int:
    return ~sum16(data) & 0xFFFF


def pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!I3xB", length, proto)


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes, vlan: int | None = None) -> bytes:
    if vlan is not None:
        return dst + src + struct.pack("!HHH", ETH_TYPE_VLAN, vlan, ethertype) + payload
    return dst + src + struct.pack("!H", ethertype) + payload


def ipv4(src: bytes, dst: bytes, proto: int, payload: bytes, ident: int = 0, df: bool = True,
         mf: bool = False, frag_off: int = 0, ttl: int = 64, options: bytes = b"", tos: int = 0) -> bytes:
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    total = ihl * 4 + len(payload)
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_off >> 3)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, total, ident, flags, ttl, proto, 0, src, dst) + options
    return hdr[:10] + _H.pack(checksum(hdr)) + hdr[12:] + payload


def ipv6(src: bytes, dst: bytes, nxt: int, payload: bytes, hlim: int = 64, flow: int = 0) -> bytes:
    return struct.pack("!IHBB", (6 << 28) | flow, len(payload), nxt, hlim) + src + dst + payload


def tcp(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
        payload: bytes = b"", options: bytes = b"", window: int = 502) -> bytes:
    assert len(options) % 4 == 0
    off = (20 + len(options)) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, window, 0, 0) + options + payload
    c = checksum(pseudo_header(src, dst, 6, len(seg)) + seg)
    return seg[:16] + _H.pack(c) + seg[18:]


def udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, with_checksum: bool = True,
        length: int | None = None, body_for_checksum: bytes | None = None) -> bytes:
    """UDP datagram. `length`/`body_for_checksum` let a first IP fragment carry
    the header of the whole datagram (RFC 768 checksum covers all of it)."""
    ln = length if length is not None else 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, ln, 0)
    if not with_checksum:
        return hdr + payload
    body = body_for_checksum if body_for_checksum is not None else payload
    c = checksum(pseudo_header(src, dst, 17, ln) + hdr + body) or 0xFFFF
    return hdr[:6] + _H.pack(c) + payload


def vxlan(vni: int, inner_frame: bytes) -> bytes:
    return struct.pack("!B3xI", 0x08, vni << 8) + inner_frame


def ts_option(tsval: int, tsecr: int) -> bytes:
    return b"\x01\x01\x08\x0a" + struct.pack("!II", tsval, tsecr)


def syn_options(mss: int, tsval: int, tsecr: int) -> bytes:
    # MSS, SACK-permitted, timestamps, NOP, window scale 7 (Linux order) = 20 bytes
    return (struct.pack("!BBH", 2, 4, mss) + b"\x04\x02" + b"\x08\x0a" + struct.pack("!II", tsval, tsecr)
            + b"\x01" + b"\x03\x03\x07")


# --------------------------------------------------------------------------
# Flows
# --------------------------------------------------------------------------
class Flow:
    """One inner conversation. Direction 0 is client->server, 1 is the reverse."""

    __slots__ = ("fid", "cls", "proto", "nodes", "addrs", "ports", "outer_sport", "profile",
                 "sizes", "seq", "ts_off", "ipid", "started", "mtu", "mss", "payload_off")

    def __init__(self, fid, cls, proto, src_node, dst_node, src_ip, dst_ip, sport, dport,
                 outer_sport, profile, sizes, isn, ts_off, payload_off, mtu):
        self.fid = fid
        self.cls = cls
        self.proto = proto
        self.nodes = (src_node, dst_node)
        self.addrs = (ip4(src_ip), ip4(dst_ip))
        self.ports = (sport, dport)
        self.outer_sport = outer_sport  # VXLAN: hash of the inner flow (Linux udp_flow_src_port)
        self.profile = profile          # "bulk" (data 1->0... see below) or "rpc" / "dns" / "stream"
        self.sizes = sizes              # payload sizes the flow uses, per direction
        self.seq = [isn[0], isn[1]]     # next sequence number to send, per direction
        self.ts_off = ts_off            # TCP timestamp clock offset per direction
        self.ipid = [isn[0] & 0xFFFF, isn[1] & 0xFFFF]
        self.started = proto != 6
        self.mtu = mtu
        self.mss = mtu - 40  # advertised in the SYN; segments carry 12 bytes of TS option
        self.payload_off = payload_off

    def endpoints(self, d):
        a, b = self.addrs
        pa, pb = self.ports
        return (a, b, pa, pb) if d == 0 else (b, a, pb, pa)

    def wrap(self, d: int, inner_ip: bytes, outer_ident: int = 0) -> tuple[bytes, int | None]:
        """Encapsulate an inner IPv4 packet for direction d.
        Returns (frame, offset of the outer IPv4 header or None)."""
        sn, dn = self.nodes if d == 0 else self.nodes[::-1]
        smac, dmac = mac(NODE_MACS[sn]), mac(NODE_MACS[dn])
        if self.cls == "native":
            if sn == dn:  # node-local control-plane flows leave via the gateway
                dmac = mac(GATEWAY_MAC)
            return ethernet(dmac, smac, ETH_TYPE_IPV4, inner_ip), None
        src, dst = ip4(NODE_IPS[sn]), ip4(NODE_IPS[dn])
        if self.cls == "vxlan":
            inner_eth = ethernet(mac(VTEP_MACS[dn]), mac(VTEP_MACS[sn]), ETH_TYPE_IPV4, inner_ip)
            outer_sport = self.outer_sport if d == 0 else (self.outer_sport ^ 0x1F1) | 0x8000
            dgram = udp(src, dst, outer_sport, VXLAN_PORT, vxlan(VNI, inner_eth), with_checksum=False)
            return ethernet(dmac, smac, ETH_TYPE_IPV4, ipv4(src, dst, 17, dgram, outer_ident, df=False)), 14
        # ipip: Linux ipip tunnels default to pmtudisc, so the outer DF is set
        return ethernet(dmac, smac, ETH_TYPE_IPV4, ipv4(src, dst, 4, inner_ip, outer_ident, df=True)), 14

    def inner_offset(self) -> int:
        return {"vxlan": 14 + 20 + 8 + 8 + 14, "ipip": 14 + 20, "native": 14}[self.cls]


class Generator:
    def __init__(self, seed: int):
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        self.payload_blob = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
        self.flows: dict[str, list[Flow]] = {}
        self.weights: dict[str, np.ndarray] = {}
        fid = 0
        for cls, count in FLOWS_PER_CLASS.items():
            flows = []
            for k in range(count):
                flows.append(self._make_flow(fid, cls, k))
                fid += 1
            self.flows[cls] = flows
            # Zipf-like popularity (a few elephants, a long tail of mice); shuffled
            w = 1.0 / np.arange(1, count + 1) ** 0.9
            rng.shuffle(w)
            self.weights[cls] = np.cumsum(w) / w.sum()
        self.templates: dict = {}
        self.node_ipid = [0x1000, 0x2000, 0x3000]
        self.pending: collections.deque = collections.deque()

    def _make_flow(self, fid: int, cls: str, k: int) -> Flow:
        rng = self.rng
        r = rng.random()
        src_node = int(rng.integers(0, 3))
        dst_node = (src_node + 1 + int(rng.integers(0, 2))) % 3
        src_ip = POD_IPS[src_node][int(rng.integers(0, PODS_PER_NODE))]
        dst_ip = POD_IPS[dst_node][int(rng.integers(0, PODS_PER_NODE))]
        sport = int(rng.integers(32768, 61000))
        if cls == "native" and k < 100:
            # node <-> node control plane (apiserver, kubelet, etcd), no pod addresses
            src_ip, dst_ip = NODE_IPS[src_node], NODE_IPS[dst_node]
            proto, dport, profile = 6, int(rng.choice([6443, 10250, 2379, 2380])), "rpc"
            mtu = HOST_MTU
        elif r < 0.85:
            mtu, proto = POD_MTU, 6
            if r < 0.40:
                profile, dport = "bulk", int(rng.choice([80, 8080, 9000, 5432]))
            else:
                profile, dport = "rpc", int(rng.choice([80, 443, 8080, 6379, 9090, 3306]))
        elif r < 0.95:
            mtu, proto, profile, dport = POD_MTU, 17, "dns", 53
        else:
            mtu, proto, profile, dport = POD_MTU, 17, "stream", int(rng.choice([5201, 4001, 7946]))
        mss = mtu - 40 - TCP_TS_OPT_LEN  # payload of a full segment
        if profile == "bulk":
            # data flows server->client (direction 1); the client only ACKs
            sizes = ((0,), (mss,) * 7 + (int(rng.integers(200, mss)),))
        elif profile == "rpc":
            sizes = ((0, 0, int(rng.integers(60, 400)), int(rng.integers(60, 800))),
                     (0, int(rng.integers(100, 1400)), mss, mss))
        elif profile == "dns":
            sizes = ((int(rng.integers(30, 60)),), (int(rng.integers(60, 300)),))
        else:
            big = mtu - 28
            sizes = ((big, int(rng.integers(100, big))), (int(rng.integers(20, 200)),))
        isn = (int(rng.integers(0, 2**32)), int(rng.integers(0, 2**32)))
        ts_off = (int(rng.integers(0, 2**31)), int(rng.integers(0, 2**31)))
        outer_sport = int(rng.integers(32768, 61000))
        return Flow(fid, cls, proto, src_node, dst_node, src_ip, dst_ip, sport, dport, outer_sport,
                    profile, sizes, isn, ts_off, int(rng.integers(0, 1024)), mtu)

    # ---- templates -------------------------------------------------------
    def payload(self, flow: Flow, n: int) -> bytes:
        o = flow.payload_off
        return self.payload_blob[o:o + n]

    def template(self, flow: Flow, d: int, size: int, flags: int):
        key = (flow.fid, d, size, flags)
        t = self.templates.get(key)
        if t is not None:
            return t
        src, dst, sport, dport = flow.endpoints(d)
        pay = self.payload(flow, size)
        if flow.proto == 6:
            l4 = tcp(src, dst, sport, dport, 0, 0, flags, pay, ts_option(0, 0))
            df = True
        else:
            l4 = udp(src, dst, sport, dport, pay)
            df = False
        frame, outer_off = flow.wrap(d, ipv4(src, dst, flow.proto, l4, 0, df=df), 0)
        inner_off = flow.inner_offset()
        outer_base = sum16(frame[outer_off:outer_off + 10] + frame[outer_off + 12:outer_off + 20]) \
            if outer_off is not None else -1
        inner_base = sum16(frame[inner_off:inner_off + 10] + frame[inner_off + 12:inner_off + 20])
        if flow.proto == 6:
            t_off = inner_off + 20
            seg = frame[t_off:]
            tcp_base = sum16(pseudo_header(src, dst, 6, len(seg)) + seg[:16] + b"\0\0" + seg[18:])
        else:
            t_off, tcp_base = -1, -1
        t = (frame, outer_off if outer_off is not None else -1, outer_base, inner_off, inner_base, t_off, tcp_base)
        self.templates[key] = t
        return t

    # ---- per-packet fast path --------------------------------------------
    def flow_packet(self, flow: Flow, u: float, ts_us: int) -> bytes:
        """One ordinary packet of `flow`; u in [0,1) picks direction and size."""
        if not flow.started:
            return self.handshake(flow, ts_us)
        prof = flow.profile
        if prof == "bulk":
            d = 1 if u < 0.55 else 0
        elif prof == "dns":
            d = 0 if u < 0.5 else 1
        elif prof == "stream":
            d = 0 if u < 0.9 else 1
        else:
            d = 0 if u < 0.45 else 1
        sizes = flow.sizes[d]
        size = sizes[int(u * 1000003) % len(sizes)]
        if flow.proto == 6:
            # PSH on short segments and on every ~5th full one (end of a write)
            flags = ACK | PSH if size and (int(u * 7919) % 5 == 0 or size < flow.mss - TCP_TS_OPT_LEN) else ACK
        else:
            flags = 0
        frame, o_off, o_base, i_off, i_base, t_off, t_base = self.template(flow, d, size, flags)
        b = bytearray(frame)
        if o_off >= 0:
            sn = flow.nodes[d]
            ident = self.node_ipid[sn] = (self.node_ipid[sn] + 1) & 0xFFFF
            _H.pack_into(b, o_off + 4, ident)
            s = o_base + ident
            _H.pack_into(b, o_off + 10, ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF)
        ident = flow.ipid[d] = (flow.ipid[d] + 1) & 0xFFFF
        _H.pack_into(b, i_off + 4, ident)
        s = i_base + ident
        _H.pack_into(b, i_off + 10, ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF)
        if t_off >= 0:
            seqs = flow.seq
            seq = seqs[d]
            ack = seqs[1 - d]
            seqs[d] = (seq + size) & 0xFFFFFFFF
            ms = ts_us // 1000
            tsval = (ms + flow.ts_off[d]) & 0xFFFFFFFF
            tsecr = (ms - 1 + flow.ts_off[1 - d]) & 0xFFFFFFFF
            _II.pack_into(b, t_off + 4, seq, ack)
            _II.pack_into(b, t_off + 24, tsval, tsecr)
            s = (t_base + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) + (ack & 0xFFFF)
                 + (tsval >> 16) + (tsval & 0xFFFF) + (tsecr >> 16) + (tsecr & 0xFFFF))
            s = (s & 0xFFFF) + (s >> 16)
            s = (s & 0xFFFF) + (s >> 16)
            _H.pack_into(b, t_off + 16, ~s & 0xFFFF)
        return b

    def slow_packet(self, flow: Flow, d: int, flags: int, payload: bytes = b"", options: bytes | None = None,
                    ts_us: int = START_TS_US, advance: bool = True, window: int = 502) -> bytes:
        """A TCP packet of `flow` built from scratch (handshakes, odd packets)."""
        src, dst, sport, dport = flow.endpoints(d)
        ms = ts_us // 1000
        if options is None:
            options = ts_option((ms + flow.ts_off[d]) & 0xFFFFFFFF, (ms - 1 + flow.ts_off[1 - d]) & 0xFFFFFFFF)
        seq, ack = flow.seq[d], flow.seq[1 - d]
        if advance:
            flow.seq[d] = (seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        flow.ipid[d] = (flow.ipid[d] + 1) & 0xFFFF
        seg = tcp(src, dst, sport, dport, seq, ack if flags & ACK else 0, flags, payload, options, window)
        sn = flow.nodes[d]
        self.node_ipid[sn] = (self.node_ipid[sn] + 1) & 0xFFFF
        return flow.wrap(d, ipv4(src, dst, 6, seg, flow.ipid[d]), self.node_ipid[sn])[0]

    def handshake(self, flow: Flow, ts_us: int) -> bytes:
        flow.started = True
        ms = ts_us // 1000
        syn = self.slow_packet(flow, 0, SYN, options=syn_options(flow.mss, (ms + flow.ts_off[0]) & 0xFFFFFFFF, 0),
                               ts_us=ts_us, window=64240)
        synack = self.slow_packet(flow, 1, SYN | ACK, ts_us=ts_us, window=65160, options=syn_options(
            flow.mss, (ms + flow.ts_off[1]) & 0xFFFFFFFF, (ms + flow.ts_off[0]) & 0xFFFFFFFF))
        ack = self.slow_packet(flow, 0, ACK, ts_us=ts_us)
        self.pending.append(synack)
        self.pending.append(ack)
        return syn

    # ---- odd packets -------------------------------------------------------
    def odd_packet(self, kind: str, r: float, ts_us: int) -> tuple[bytes, int]:
        """Returns (captured bytes, wire length)."""
        n = int(r * 1_000_003)
        a, b = n % 3, (n % 3 + 1 + (n >> 3) % 2) % 3
        if kind == "arp":
            op = 1 + (n >> 5) % 2
            sha, tha = mac(NODE_MACS[a]), (mac(NODE_MACS[b]) if op == 2 else b"\0" * 6)
            arp = struct.pack("!HHBBH6s4s6s4s", 1, ETH_TYPE_IPV4, 6, 4, op,
                              sha, ip4(NODE_IPS[a]), tha, ip4(NODE_IPS[b]))
            dst = b"\xff" * 6 if op == 1 else mac(NODE_MACS[b])
            frame = ethernet(dst, sha, ETH_TYPE_ARP, arp)
            return frame, len(frame)
        if kind == "ipv6":
            src = ip6(POD6_IPS[a][n % PODS_PER_NODE])
            dst = ip6(POD6_IPS[b][(n >> 4) % PODS_PER_NODE])
            if (n >> 7) % 2:
                l4 = udp(src, dst, 40000 + n % 2000, 53, self.payload_blob[:48])
                pkt = ipv6(src, dst, 17, l4)
            else:
                l4 = tcp(src, dst, 40000 + n % 2000, 8080, n & 0xFFFFFFFF, (n * 7) & 0xFFFFFFFF, ACK | PSH,
                         self.payload_blob[:(n % 1200) + 1], ts_option(n & 0xFFFF, n & 0xFFF))
                pkt = ipv6(src, dst, 6, l4)
            frame = ethernet(mac(NODE_MACS[b]), mac(NODE_MACS[a]), ETH_TYPE_IPV6, pkt)
            return frame, len(frame)
        if kind == "vlan":
            cls = ("native", "vxlan")[(n >> 6) % 2]
            flow = self.flows[cls][n % len(self.flows[cls])]
            if not flow.started:
                flow.started = True  # skip its handshake; this is a one-off
            frame = bytes(self.flow_packet(flow, r, ts_us))
            frame = frame[:12] + struct.pack("!HH", ETH_TYPE_VLAN, 100 + (n % 3)) + frame[12:]
            return frame, len(frame)
        if kind == "ip_options":
            # IHL 6: Router Alert (RFC 2113), as IGMP and RSVP carry it; native UDP
            flow = self.flows["native"][n % len(self.flows["native"])]
            src, dst = flow.addrs
            l4 = udp(src, dst, 5000 + n % 100, 5001, self.payload_blob[:(n % 400) + 20])
            pkt = ipv4(src, dst, 17, l4, n & 0xFFFF, df=False, options=b"\x94\x04\x00\x00")
            frame, _ = flow.wrap(0, pkt)
            return frame, len(frame)
        if kind == "truncated":
            cls = ("vxlan", "ipip", "native")[n % 3]
            flow = self.flows[cls][(n >> 2) % len(self.flows[cls])]
            flow.started = True
            frame = bytes(self.flow_packet(flow, r, ts_us))
            snap = (54, 64, 96, 128)[(n >> 4) % 4]
            if snap >= len(frame):
                snap = len(frame) - 1
            return frame[:snap], len(frame)
        if kind == "inner_fragment":
            # a pod sends a 2000-byte UDP datagram without DF; the kernel fragments
            # it to the pod MTU *before* encapsulation (mtu.inner-fragmented)
            cls = ("vxlan", "ipip")[n % 2]
            flow = self.flows[cls][(n >> 1) % len(self.flows[cls])]
            src, dst = flow.addrs
            body = self.payload_blob[:1992]
            ln = 8 + len(body)
            ident = (n * 13) & 0xFFFF
            first_len = ((POD_MTU - 20) // 8) * 8  # fragment payload, multiple of 8
            hdr_and_start = udp(src, dst, 33000 + n % 1000, 7000, body[:first_len - 8], length=ln,
                                body_for_checksum=body)
            frag1 = ipv4(src, dst, 17, hdr_and_start, ident, df=False, mf=True, frag_off=0)
            rest = body[first_len - 8:]
            frag2 = ipv4(src, dst, 17, rest, ident, df=False, mf=False, frag_off=first_len)
            f1, _ = flow.wrap(0, frag1, (n * 3) & 0xFFFF)
            f2, _ = flow.wrap(0, frag2, (n * 3 + 1) & 0xFFFF)
            self.pending.append(f2)
            return f1, len(f1)
        if kind == "icmp_frag_needed":
            if (n >> 3) % 2:
                # underlay: a router on the path says the VXLAN packet is too big
                flow = self.flows["vxlan"][n % len(self.flows["vxlan"])]
                d = 1 if flow.profile == "bulk" else 0
                # the template itself is a valid packet (IDs, seq, ack all zero)
                too_big = self.template(flow, d, max(flow.sizes[d]), ACK if flow.proto == 6 else 0)[0]
                quoted = too_big[14:14 + 548]  # RFC 1812 4.3.2.3: quote as much as fits in 576
                sender = flow.nodes[d]
                icmp = struct.pack("!BBHHH", 3, 4, 0, 0, 1400) + quoted
                icmp = icmp[:2] + _H.pack(checksum(icmp)) + icmp[4:]
                pkt = ipv4(ip4(GATEWAY_IP), ip4(NODE_IPS[sender]), 1, icmp, n & 0xFFFF, df=False, ttl=254)
                frame = ethernet(mac(NODE_MACS[sender]), mac(GATEWAY_MAC), ETH_TYPE_IPV4, pkt)
            else:
                # inside the overlay: a router on the far side answers a 1500-byte
                # segment (a sender with the wrong MTU) with next-hop MTU 1450; the
                # ICMP comes back through the tunnel, so it is quoted inside VXLAN
                flow = self.flows["vxlan"][n % len(self.flows["vxlan"])]
                src, dst, sport, dport = flow.endpoints(0)
                seg = tcp(src, dst, sport, dport, flow.seq[0], flow.seq[1], ACK, self.payload_blob[:1448],
                          ts_option(1, 1))
                orig = ipv4(src, dst, 6, seg, n & 0xFFFF)
                quoted = orig[:548]
                icmp = struct.pack("!BBHHH", 3, 4, 0, 0, POD_MTU) + quoted
                icmp = icmp[:2] + _H.pack(checksum(icmp)) + icmp[4:]
                router = ip4(f"10.244.{flow.nodes[1] + 1}.1")  # cni0 gateway on the far node
                pkt = ipv4(router, src, 1, icmp, n & 0xFFFF, df=False)
                frame, _ = flow.wrap(1, pkt, n & 0xFFFF)
            return frame, len(frame)
        raise ValueError(kind)


# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------
def pcap_header(snaplen: int = 262144, linktype: int = 1) -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def pcapng_header(snaplen: int = 262144, linktype: int = 1) -> bytes:
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + _U32.pack(28)
    opts = struct.pack("<HH", 2, 4) + b"eth0" + struct.pack("<HH", 0, 0)  # if_name, opt_endofopt
    length = 20 + len(opts)
    idb = struct.pack("<IIHHI", 1, length, linktype, 0, snaplen) + opts + _U32.pack(length)
    return shb + idb


def generate(path: str, packets: int, seed: int, fmt: str, progress: bool = False) -> dict:
    t0 = time.perf_counter()
    gen = Generator(seed)
    rng = gen.rng
    classes = list(CLASS_SHARES)
    cls_idx = rng.choice(len(classes), size=packets, p=np.array(list(CLASS_SHARES.values())))
    u_flow = rng.random(packets)
    flow_idx = np.zeros(packets, dtype=np.int64)
    for c, name in enumerate(classes):
        mask = cls_idx == c
        flow_idx[mask] = np.searchsorted(gen.weights[name], u_flow[mask], side="right")
    u_pkt = rng.random(packets).tolist()
    gaps = (1 + rng.exponential(MEAN_GAP_US - 1, packets)).astype(np.int64)
    ts_list = (START_TS_US + np.cumsum(gaps)).tolist()  # strictly increasing µs
    odd = rng.random(packets) < ODD_SHARE
    kinds, weights = zip(*ODD_KINDS)
    odd_kind = rng.choice(len(kinds), size=packets, p=np.array(weights) / sum(weights))
    odd_at = {int(i): kinds[int(odd_kind[i])] for i in np.flatnonzero(odd)}
    flow_lists = [gen.flows[name] for name in classes]
    cls_list = cls_idx.tolist()
    fidx_list = flow_idx.tolist()

    counts = collections.Counter()
    pending = gen.pending
    flow_packet = gen.flow_packet
    pcapng = fmt == "pcapng"
    rec_pack = PCAP_REC.pack
    epb_pack = EPB_HDR.pack
    u32 = _U32.pack
    pads = [b"", b"\0\0\0", b"\0\0", b"\0"]
    out_bytes = 0
    with open(path, "wb", buffering=1 << 22) as f:
        f.write(pcapng_header() if pcapng else pcap_header())
        parts: list = []
        append = parts.append
        for i in range(packets):
            ts = ts_list[i]
            if pending:
                data = pending.popleft()
                wirelen = len(data)
                counts["pending"] += 1
            elif i in odd_at:
                kind = odd_at[i]
                data, wirelen = gen.odd_packet(kind, u_pkt[i], ts)
                counts[kind] += 1
            else:
                data = flow_packet(flow_lists[cls_list[i]][fidx_list[i]], u_pkt[i], ts)
                wirelen = len(data)
            caplen = len(data)
            if pcapng:
                pad = (-caplen) & 3
                total = 32 + caplen + pad
                append(epb_pack(6, total, 0, ts >> 32, ts & 0xFFFFFFFF, caplen, wirelen))
                append(data)
                append(pads[caplen & 3] + u32(total))
            else:
                append(rec_pack(ts // 1_000_000, ts % 1_000_000, caplen, wirelen))
                append(data)
            if len(parts) >= 65536 * 2:
                blob = b"".join(parts)
                out_bytes += len(blob)
                f.write(blob)
                parts.clear()
                if progress:
                    print(f"\r{i + 1:,}/{packets:,} packets", end="", file=sys.stderr, flush=True)
        blob = b"".join(parts)
        out_bytes += len(blob)
        f.write(blob)
    if progress:
        print(file=sys.stderr)
    elapsed = time.perf_counter() - t0
    return {
        "file": path, "format": fmt, "packets": packets, "seed": seed, "seconds": round(elapsed, 3),
        "bytes": out_bytes, "odd_packets": {k: v for k, v in counts.items() if k != "pending"},
        "handshake_and_fragment_followups": counts["pending"],
        "flows": sum(len(v) for v in gen.flows.values()),
        "first_ts_us": ts_list[0] if packets else None, "last_ts_us": ts_list[-1] if packets else None,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default="bench/out/synthetic.pcap", help="output file")
    ap.add_argument("--packets", "-n", type=int, default=1_000_000, help="number of packets (default 1,000,000)")
    ap.add_argument("--format", choices=("pcap", "pcapng"), default="pcap")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--progress", action="store_true", help="progress on stderr")
    ap.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    args = ap.parse_args(argv)
    info = generate(args.output, args.packets, args.seed, args.format, progress=args.progress)
    if args.json:
        import json
        print(json.dumps(info))
    else:
        mb = info["bytes"] / 1e6
        print(f"wrote {args.output}: {info['packets']:,} packets, {mb:,.1f} MB, {info['format']}, "
              f"seed {args.seed}, {info['seconds']:.2f} s ({info['packets'] / max(info['seconds'], 1e-9):,.0f} pkt/s)",
              file=sys.stderr)
        print(f"odd packets: {info['odd_packets']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
