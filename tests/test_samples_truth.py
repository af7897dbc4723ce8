"""The sample captures agree with their answer key (sample_pcaps/truth.json).

These checks decode the captures with dpkt's own protocol classes (a different code path from
tools/make_samples.py's checker), so a wrong answer key or a broken capture shows up here.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import struct
from pathlib import Path

import dpkt
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "sample_pcaps"
TRUTH_PATH = SAMPLES / "truth.json"
TRUTH = json.loads(TRUTH_PATH.read_text()) if TRUTH_PATH.exists() else {}
FILES = sorted(TRUTH)

pytestmark = pytest.mark.skipif(not TRUTH, reason="sample_pcaps/truth.json missing")


def ntoa(b):
    return socket.inet_ntoa(b)


def frames(name):
    with open(SAMPLES / name, "rb") as f:
        r = dpkt.pcap.Reader(f)
        lt = r.datalink()
        for ts, buf in r:
            if lt == dpkt.pcap.DLT_EN10MB:
                yield ts, dpkt.ethernet.Ethernet(buf)
            else:
                yield ts, dpkt.sll.SLL(buf)


def unwrap(t, ip):
    """(outer ip, inner ip, geneve option bytes) for a tunnel packet of file truth t, else None."""
    enc = t["encapsulation"]
    if enc == "ipip":
        if ip.p == 4:
            return ip, dpkt.ip.IP(bytes(ip.data)), 0
        return None
    if enc in ("vxlan", "geneve") and ip.p == 17 and isinstance(ip.data, dpkt.udp.UDP):
        udp = ip.data
        if udp.dport != t["udp_port"]:
            return None
        p = bytes(udp.data)
        if enc == "vxlan":
            assert p[0] & 0x08
            vni, optlen = struct.unpack("!I", p[4:8])[0] >> 8, 0
            inner = dpkt.ethernet.Ethernet(p[8:])
        else:
            optlen = (p[0] & 0x3F) * 4
            assert struct.unpack("!H", p[2:4])[0] == 0x6558
            vni = struct.unpack("!I", p[4:8])[0] >> 8
            inner = dpkt.ethernet.Ethernet(p[8 + optlen:])
        assert vni == t["vni"]
        return ip, inner.data, optlen
    return None


@pytest.mark.parametrize("name", FILES)
def test_file_shape(name):
    t = TRUTH[name]
    path = SAMPLES / name
    assert path.exists()
    assert path.stat().st_size <= 300 * 1024
    magic, _, _, _, _, snaplen, linktype = struct.unpack("<IHHiIII", path.read_bytes()[:24])
    assert magic == 0xA1B2C3D4                       # classic pcap, microseconds
    assert linktype == t.get("linktype", 1)
    assert snaplen >= 65535
    assert name in (SAMPLES / "README.md").read_text()
    for node_ip, n in t["nodes"].items():
        net = ipaddress.IPv4Network(n["pod_cidr"])
        assert n["pods"] and all(ipaddress.IPv4Address(p) in net for p in n["pods"])
        ipaddress.IPv4Address(node_ip)


@pytest.mark.parametrize("name", [f for f in FILES if TRUTH[f].get("linktype", 1) == 1])
def test_encapsulation_and_pods(name):
    t = TRUTH[name]
    nodes = t["nodes"]
    cidrs = {ipaddress.IPv4Network(n["pod_cidr"]): ip for ip, n in nodes.items()}
    pods = {p for n in nodes.values() for p in n["pods"]}
    seen, tunnels, overheads, inner_frags, mss = set(), 0, set(), 0, set()
    for _, eth in frames(name):
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP):
            assert isinstance(ip, dpkt.arp.ARP), "only IPv4 and ARP on the underlay"
            continue
        w = unwrap(t, ip)
        if w:
            outer, inner, optlen = w
            tunnels += 1
            overheads.add(outer.len - inner.len - optlen)
            # the outer addresses are the nodes that own the inner addresses
            assert cidrs[next(c for c in cidrs if ipaddress.IPv4Address(ntoa(inner.src)) in c)] == ntoa(outer.src)
            assert cidrs[next(c for c in cidrs if ipaddress.IPv4Address(ntoa(inner.dst)) in c)] == ntoa(outer.dst)
        else:
            assert t["encapsulation"] == "native" or ip.p == 6 and 179 in (ip.data.sport, ip.data.dport), \
                "unencapsulated packet in a tunnel capture"
            inner = ip
        for a in (ntoa(inner.src), ntoa(inner.dst)):
            if a in pods:
                seen.add(a)
        if inner.mf or inner.offset:
            inner_frags += 1
        elif isinstance(inner.data, dpkt.tcp.TCP) and inner.data.flags & dpkt.tcp.TH_SYN:
            for kind, val in dpkt.tcp.parse_opts(inner.data.opts):
                if kind == dpkt.tcp.TCP_OPT_MSS:
                    mss.add(struct.unpack("!H", val)[0])
        if not t["fault"]:
            assert inner.len <= t["pod_mtu"]
    assert seen == pods
    if t["encapsulation"] == "native":
        assert tunnels == 0
    else:
        assert tunnels > 0
        assert overheads == {t["overhead_per_packet"]}
    if t["fault"] == "mtu_mismatch":
        assert inner_frags > 0
        assert t["fault_detail"]["advertised_mss"] in mss
    else:
        assert inner_frags == 0
        assert mss <= {t["pod_mtu"] - 40}


def test_native_bgp_announces_pod_cidrs():
    name = "native-bgp.pcap"
    if name not in TRUTH:
        pytest.skip("no native-bgp capture")
    t = TRUTH[name]
    got = set()
    for _, eth in frames(name):
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        tcp = ip.data
        if 179 not in (tcp.sport, tcp.dport) or not tcp.data:
            continue
        buf = bytes(tcp.data)
        while buf:
            m = dpkt.bgp.BGP(buf)
            buf = buf[m.len:]
            if m.type == dpkt.bgp.UPDATE and m.update.announced:
                nh = [a.next_hop.ip for a in m.update.attributes if a.type == dpkt.bgp.NEXT_HOP]
                for r in m.update.announced:
                    got.add((ntoa(ip.src), "%s/%d" % (ntoa(r.prefix), r.len),
                             str(ipaddress.IPv4Address(nh[0]))))
    assert got == {(ip, n["pod_cidr"], ip) for ip, n in t["nodes"].items()}


def test_node_capture_shows_frag_needed():
    name = "vxlan-mtu-broken.node1-any.pcap"
    if name not in TRUTH:
        pytest.skip("optional node capture not present")
    mtus = set()
    for _, sll in frames(name):
        ip = sll.data
        if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.icmp.ICMP):
            icmp = ip.data
            if icmp.type == 3 and icmp.code == 4:
                mtus.add(struct.unpack("!H", bytes(icmp)[6:8])[0])
    assert mtus == {TRUTH[name]["tunnel_mtu"]}
