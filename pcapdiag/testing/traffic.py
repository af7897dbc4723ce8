"""The traffic model of the benchmark's synthetic capture (bench/make_capture.py writes it and says what
it holds; tests make small ones through it too): the cluster
layout, the flows, and the Generator that builds each (flow, direction, size, flags) packet once as a
template with the shared builder (pcapdiag.testing) and then patches the per-packet fields, checksums
updated incrementally (RFC 1624)."""
from __future__ import annotations

import collections
import struct

import numpy as np

from .checksum import ones_sum, pseudo_header
from .packets import (arp, ethernet, icmp_message, inet, ipip_packet, ipv4, ipv6, tcp, udp, udp_datagram,
                      vxlan_packet)

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
WINDOW = 502  # the TCP window of every segment but the SYN and SYN-ACK

_H = struct.Struct("!H")
_II = struct.Struct("!II")


# --------------------------------------------------------------------------
# Slow, careful builders (templates and odd packets): pcapdiag.testing, plus the TCP options
# --------------------------------------------------------------------------
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
        self.addrs = (inet(src_ip), inet(dst_ip))
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
        smac, dmac = NODE_MACS[sn], NODE_MACS[dn]
        if self.cls == "native":
            if sn == dn:  # node-local control-plane flows leave via the gateway
                dmac = GATEWAY_MAC
            return ethernet(inner_ip, ETH_TYPE_IPV4, src=smac, dst=dmac), None
        src, dst = NODE_IPS[sn], NODE_IPS[dn]
        if self.cls == "vxlan":
            outer_sport = self.outer_sport if d == 0 else (self.outer_sport ^ 0x1F1) | 0x8000
            outer = vxlan_packet(src, dst, inner_ip, vni=VNI, port=VXLAN_PORT, sport=outer_sport,
                                 inner_smac=VTEP_MACS[sn], inner_dmac=VTEP_MACS[dn], df=False, ident=outer_ident)
        else:  # ipip: Linux ipip tunnels default to pmtudisc, so the outer DF is set
            outer = ipip_packet(src, dst, inner_ip, df=True, ident=outer_ident)
        return ethernet(outer, ETH_TYPE_IPV4, src=smac, dst=dmac), 14

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
            l4 = tcp(sport, dport, flags=flags, payload=pay, options=ts_option(0, 0), win=WINDOW)
            df = True
        else:
            l4 = udp(sport, dport, pay)
            df = False
        frame, outer_off = flow.wrap(d, ipv4(src, dst, l4, ident=0, df=df), 0)
        inner_off = flow.inner_offset()
        outer_base = ones_sum(frame[outer_off:outer_off + 10] + frame[outer_off + 12:outer_off + 20]) \
            if outer_off is not None else -1
        inner_base = ones_sum(frame[inner_off:inner_off + 10] + frame[inner_off + 12:inner_off + 20])
        if flow.proto == 6:
            t_off = inner_off + 20
            seg = frame[t_off:]
            tcp_base = ones_sum(pseudo_header(src, dst, 6, len(seg)) + seg[:16] + b"\0\0" + seg[18:])
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
                    ts_us: int = START_TS_US, advance: bool = True, window: int = WINDOW) -> bytes:
        """A TCP packet of `flow` built from scratch (handshakes, odd packets)."""
        src, dst, sport, dport = flow.endpoints(d)
        ms = ts_us // 1000
        if options is None:
            options = ts_option((ms + flow.ts_off[d]) & 0xFFFFFFFF, (ms - 1 + flow.ts_off[1 - d]) & 0xFFFFFFFF)
        seq, ack = flow.seq[d], flow.seq[1 - d]
        if advance:
            flow.seq[d] = (seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        flow.ipid[d] = (flow.ipid[d] + 1) & 0xFFFF
        seg = tcp(sport, dport, flags=flags, seq=seq, ack=ack if flags & ACK else 0, payload=payload, options=options,
                  win=window)
        sn = flow.nodes[d]
        self.node_ipid[sn] = (self.node_ipid[sn] + 1) & 0xFFFF
        return flow.wrap(d, ipv4(src, dst, seg, ident=flow.ipid[d]), self.node_ipid[sn])[0]

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
            tha = NODE_MACS[b] if op == 2 else b"\0" * 6
            message = arp(NODE_MACS[a], NODE_IPS[a], NODE_IPS[b], op=op, target_mac=tha)
            frame = ethernet(message, ETH_TYPE_ARP, src=NODE_MACS[a], dst=b"\xff" * 6 if op == 1 else NODE_MACS[b])
            return frame, len(frame)
        if kind == "ipv6":
            src = POD6_IPS[a][n % PODS_PER_NODE]
            dst = POD6_IPS[b][(n >> 4) % PODS_PER_NODE]
            if (n >> 7) % 2:
                l4 = udp(40000 + n % 2000, 53, self.payload_blob[:48])
            else:
                l4 = tcp(40000 + n % 2000, 8080, flags=ACK | PSH, seq=n & 0xFFFFFFFF, ack=(n * 7) & 0xFFFFFFFF,
                         payload=self.payload_blob[:(n % 1200) + 1], options=ts_option(n & 0xFFFF, n & 0xFFF),
                         win=WINDOW)
            frame = ethernet(ipv6(src, dst, l4), ETH_TYPE_IPV6, src=NODE_MACS[a], dst=NODE_MACS[b])
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
            l4 = udp(5000 + n % 100, 5001, self.payload_blob[:(n % 400) + 20])
            pkt = ipv4(src, dst, l4, ident=n & 0xFFFF, df=False, options=b"\x94\x04\x00\x00")
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
            ident = (n * 13) & 0xFFFF
            first_len = ((POD_MTU - 20) // 8) * 8  # fragment payload, multiple of 8
            # the UDP header (length and checksum of the whole datagram) travels in the first fragment
            datagram = udp_datagram(src, dst, 33000 + n % 1000, 7000, body, checksum="good")
            frag1 = ipv4(src, dst, datagram[:first_len], proto=17, ident=ident, df=False, mf=True)
            frag2 = ipv4(src, dst, datagram[first_len:], proto=17, ident=ident, df=False, frag_off=first_len)
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
                icmp = icmp_message(3, 4, struct.pack("!HH", 0, 1400) + quoted)
                pkt = ipv4(GATEWAY_IP, NODE_IPS[sender], icmp, proto=1, ident=n & 0xFFFF, df=False, ttl=254)
                frame = ethernet(pkt, ETH_TYPE_IPV4, src=GATEWAY_MAC, dst=NODE_MACS[sender])
            else:
                # inside the overlay: a router on the far side answers a 1500-byte
                # segment (a sender with the wrong MTU) with next-hop MTU 1450; the
                # ICMP comes back through the tunnel, so it is quoted inside VXLAN
                flow = self.flows["vxlan"][n % len(self.flows["vxlan"])]
                src, dst, sport, dport = flow.endpoints(0)
                seg = tcp(sport, dport, flags=ACK, seq=flow.seq[0], ack=flow.seq[1], payload=self.payload_blob[:1448],
                          options=ts_option(1, 1), win=WINDOW)
                orig = ipv4(src, dst, seg, ident=n & 0xFFFF)
                quoted = orig[:548]
                icmp = icmp_message(3, 4, struct.pack("!HH", 0, POD_MTU) + quoted)
                router = f"10.244.{flow.nodes[1] + 1}.1"  # cni0 gateway on the far node
                pkt = ipv4(router, src, icmp, proto=1, ident=n & 0xFFFF, df=False)
                frame, _ = flow.wrap(1, pkt, n & 0xFFFF)
            return frame, len(frame)
        raise ValueError(kind)
