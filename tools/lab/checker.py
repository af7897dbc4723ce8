"""The sample maker's own check of what it wrote (the `analysis` block of sample_pcaps/truth.json):
every frame decoded with dpkt, counted by class, flow, fragment, ICMP error and BGP message, with
every checksum or length that does not add up; an extra tshark check where tshark is installed; and
the sanity rules a regenerated sample must pass."""
from __future__ import annotations

import collections
import ipaddress
import os
import shutil
import socket
import struct

import dpkt
from dpkt import bgp as dbgp

from pcapdiag.testing.checksum import internet_checksum, pseudo_header

from .netns import sh

MAX_BYTES = 300 * 1024
TUNNEL_UDP = {8472: "vxlan", 4789: "vxlan", 6081: "geneve"}
LINKTYPE_SLL = 113


def _link(linktype, buf):
    """(ethertype, layer-3 bytes) of an Ethernet or Linux cooked (SLL) frame."""
    if linktype == dpkt.pcap.DLT_EN10MB:
        return dpkt.ethernet.Ethernet(buf).type, buf[14:]
    if linktype == LINKTYPE_SLL:
        return dpkt.sll.SLL(buf).ethtype, buf[16:]
    raise ValueError("unexpected link type %d" % linktype)


def _ip(b):
    """The IPv4 header of b as a dict (fields by dpkt; raw and payload cut to the total length), or
    None when b holds no IPv4 header."""
    if len(b) < 20 or b[0] >> 4 != 4:
        return None
    ip = dpkt.ip.IP(b)
    ihl, tot = ip.hl * 4, ip.len
    return dict(ihl=ihl, len=tot, id=ip.id, df=bool(ip.df), mf=bool(ip.mf), off=ip.offset, ttl=ip.ttl, proto=ip.p,
                src=socket.inet_ntoa(ip.src), dst=socket.inet_ntoa(ip.dst), hdr_ok=internet_checksum(b[:ihl]) == 0,
                raw=b[:tot], payload=b[ihl:tot], truncated=len(b) < tot)


def _l4_ok(ip, proto):
    seg = ip["payload"]
    return internet_checksum(pseudo_header(socket.inet_aton(ip["src"]), socket.inet_aton(ip["dst"]), proto, len(seg))
                             + seg) == 0


def analyze(path, pod_cidrs=(), not_pods=()):
    """Decode a capture with dpkt (link, IP, UDP, TCP, ICMP, BGP; the 8-byte VXLAN / Geneve headers by
    struct); count classes, flows, fragments, ICMP errors, BGP, and every checksum or length that does
    not add up."""
    nets = [ipaddress.IPv4Network(c) for c in pod_cidrs]
    not_pods = set(not_pods)
    st = dict(frames=0, bytes=os.path.getsize(path), classes=collections.Counter(),
              inner_proto=collections.Counter(), vni=collections.Counter(), udp_port=collections.Counter(),
              outer_pairs=collections.Counter(), errors=collections.Counter(), icmp=collections.Counter(),
              frag_needed=[], inner_fragments=0, outer_fragments=0, max_frame=0, max_outer_ip=0,
              max_inner_ip=0, overhead=collections.Counter(), geneve_with_options=0, outer_df=0,
              outer_udp_csum_zero=0, pods_seen=set(), syn_mss=collections.Counter(), bgp=collections.Counter(),
              bgp_announcements=[], linktype=None, snaplen=None)
    flows = {}
    bgp_buf = {}
    with open(path, "rb") as f:
        r = dpkt.pcap.Reader(f)
        lt = r.datalink()
        st["linktype"], st["snaplen"] = lt, r.snaplen
        for ts, buf in r:
            st["frames"] += 1
            st["max_frame"] = max(st["max_frame"], len(buf))
            etype, l3 = _link(lt, buf)
            if etype == 0x0806:
                st["classes"]["arp"] += 1
                continue
            if etype != 0x0800:
                st["classes"]["other"] += 1
                continue
            ip = outer = _ip(l3)
            if ip is None:
                st["errors"]["bad_ip"] += 1
                continue
            st["max_outer_ip"] = max(st["max_outer_ip"], ip["len"])
            chain = []
            while True:
                if not ip["hdr_ok"]:
                    st["errors"]["ip_header_checksum"] += 1
                if ip["truncated"]:
                    st["errors"]["ip_truncated"] += 1
                frag = ip["mf"] or ip["off"]
                p = ip["payload"]
                udp = dpkt.udp.UDP(p) if ip["proto"] == 17 and not frag and len(p) >= 16 else None
                if udp is not None and udp.dport in TUNNEL_UDP:
                    dport = udp.dport
                    kind = TUNNEL_UDP[dport]
                    if udp.sum == 0:
                        if not chain:
                            st["outer_udp_csum_zero"] += 1
                    elif not _l4_ok(ip, 17):
                        st["errors"]["tunnel_udp_checksum"] += 1
                    if udp.ulen != len(p):
                        st["errors"]["tunnel_udp_length"] += 1
                    if kind == "vxlan":
                        if not p[8] & 0x08:
                            st["errors"]["vxlan_flags"] += 1
                        vni = struct.unpack("!I", p[12:16])[0] >> 8
                        inner_eth = p[16:]
                    else:
                        optlen = (p[8] & 0x3F) * 4
                        if struct.unpack("!H", p[10:12])[0] != 0x6558:
                            st["errors"]["geneve_proto"] += 1
                        vni = struct.unpack("!I", p[12:16])[0] >> 8
                        if optlen and not chain:
                            st["geneve_with_options"] += 1
                        inner_eth = p[16 + optlen:]
                    if not chain:
                        st["vni"][vni] += 1
                        st["udp_port"][dport] += 1
                    chain.append(kind)
                    if struct.unpack("!H", inner_eth[12:14])[0] != 0x0800:
                        st["classes"][kind + ">non-ip"] += 1
                        ip = None
                        break
                    nxt = _ip(inner_eth[14:])
                elif ip["proto"] == 4 and not frag:
                    chain.append("ipip")
                    nxt = _ip(p)
                else:
                    break
                if nxt is None:
                    st["errors"]["bad_inner_ip"] += 1
                    ip = None
                    break
                ip = nxt
            if ip is None:
                continue
            cls = chain[0] if chain else "native"
            st["classes"][cls] += 1
            if chain:
                st["outer_pairs"]["%s>%s" % (outer["src"], outer["dst"])] += 1
                st["overhead"][outer["len"] - ip["len"]] += 1
                st["max_inner_ip"] = max(st["max_inner_ip"], ip["len"])
                if outer["df"]:
                    st["outer_df"] += 1
                if outer["mf"] or outer["off"]:
                    st["outer_fragments"] += 1
                if ip["mf"] or ip["off"]:
                    st["inner_fragments"] += 1
            else:
                st["max_inner_ip"] = max(st["max_inner_ip"], ip["len"])
                if ip["mf"] or ip["off"]:
                    st["inner_fragments"] += 1
            for a in (ip["src"], ip["dst"]):
                if a not in not_pods and any(ipaddress.IPv4Address(a) in n for n in nets):
                    st["pods_seen"].add(a)
            pname = {1: "icmp", 6: "tcp", 17: "udp"}.get(ip["proto"], str(ip["proto"]))
            if ip["mf"] or ip["off"]:
                st["inner_proto"][pname + "-fragment"] += 1
                continue
            st["inner_proto"][pname] += 1
            p = ip["payload"]
            if ip["proto"] in (1, 6, 17) and not ip["truncated"]:
                if ip["proto"] == 17 and dpkt.udp.UDP(p).sum == 0:
                    pass
                elif (ip["proto"] == 1 and internet_checksum(p) != 0) or (ip["proto"] != 1 and not _l4_ok(ip, ip["proto"])):
                    st["errors"][pname + "_checksum"] += 1
            if ip["proto"] == 1:
                icmp = dpkt.icmp.ICMP(p)
                st["icmp"]["%d/%d" % (icmp.type, icmp.code)] += 1
                if icmp.type == 3 and icmp.code == 4:
                    q = _ip(p[8:]) if len(p) >= 28 else None
                    st["frag_needed"].append(dict(src=ip["src"], dst=ip["dst"], mtu=icmp.data.mtu,
                                                  quoted_src=q and q["src"], quoted_dst=q and q["dst"],
                                                  quoted_len=q and q["len"]))
            elif ip["proto"] in (6, 17):
                transport = (dpkt.tcp.TCP if ip["proto"] == 6 else dpkt.udp.UDP)(p)
                sport, dport = transport.sport, transport.dport
                key = (pname, ip["src"], sport, ip["dst"], dport)
                rkey = (pname, ip["dst"], dport, ip["src"], sport)
                if rkey in flows:
                    fl, d = flows[rkey], "rev"
                else:
                    fl, d = flows.setdefault(key, dict(fwd=[0, 0], rev=[0, 0], syn_mss=None, synack_mss=None,
                                                       max_seg=0, retrans=0, seen={}, first=ts, last=ts,
                                                       fin=0, rst=0)), "fwd"
                fl["last"] = ts
                if pname == "udp":
                    fl[d][0] += 1
                    fl[d][1] += len(p) - 8
                    continue
                seq = transport.seq
                doff = transport.off * 4
                flags = transport.flags
                plen = len(p) - doff
                fl[d][0] += 1
                fl[d][1] += plen
                fl["max_seg"] = max(fl["max_seg"], plen)
                if flags & 0x01:
                    fl["fin"] += 1
                if flags & 0x04:
                    fl["rst"] += 1
                if flags & 0x02:
                    mss = _tcp_mss(transport.opts)
                    if flags & 0x10:
                        fl["synack_mss"] = mss
                    else:
                        fl["syn_mss"] = mss
                    st["syn_mss"][mss] += 1
                if plen:
                    s = fl["seen"].setdefault(d, set())
                    if seq in s:
                        fl["retrans"] += 1
                    s.add(seq)
                if 179 in (sport, dport) and plen:
                    _bgp_feed(st, bgp_buf, (ip["src"], sport, ip["dst"], dport), p[doff:])
    st["flows"] = []
    for (proto, a, ap, b, bp), fl in flows.items():
        st["flows"].append(dict(proto=proto, client="%s:%d" % (a, ap), server="%s:%d" % (b, bp),
                                packets=[fl["fwd"][0], fl["rev"][0]], payload_bytes=[fl["fwd"][1], fl["rev"][1]],
                                syn_mss=fl["syn_mss"], synack_mss=fl["synack_mss"], max_segment=fl["max_seg"],
                                repeated_seq=fl["retrans"], fin=fl["fin"], rst=fl["rst"],
                                duration=round(fl["last"] - fl["first"], 3)))
    st["pods_seen"] = sorted(st["pods_seen"], key=lambda s: ipaddress.IPv4Address(s))
    grouped = collections.Counter(tuple(sorted(f.items())) for f in st["frag_needed"])
    st["frag_needed"] = [dict(k, count=c) for k, c in grouped.items()]
    return st

def _tcp_mss(options):
    """The MSS of a TCP option list (dpkt.tcp.parse_opts), None without one."""
    for option in dpkt.tcp.parse_opts(options):
        if option is None:                          # a kind without its length byte: the list ends
            break
        kind, value = option
        if kind == dpkt.tcp.TCP_OPT_EOL:
            break
        if kind == dpkt.tcp.TCP_OPT_MSS and len(value) == 2:
            return struct.unpack("!H", value)[0]
    return None


def _bgp_feed(st, bufs, key, data):
    b = bufs.get(key, b"") + data
    while len(b) >= 19:
        ln = struct.unpack("!H", b[16:18])[0]
        if len(b) < ln:
            break
        m = dbgp.BGP(b[:ln])
        b = b[ln:]
        name = {1: "open", 2: "update", 3: "notification", 4: "keepalive"}.get(m.type, str(m.type))
        if m.type == dbgp.UPDATE and not m.update.announced and not m.update.attributes:
            name = "end-of-rib"
        st["bgp"][name] += 1
        if m.type == dbgp.UPDATE:
            nh = [str(ipaddress.IPv4Address(a.next_hop.ip)) for a in m.update.attributes if a.type == dbgp.NEXT_HOP]
            for r in m.update.announced:
                st["bgp_announcements"].append(dict(speaker=key[0], peer=key[2],
                                                    prefix="%s/%d" % (ipaddress.IPv4Address(r.prefix), r.len),
                                                    next_hop=nh[0] if nh else None))
    bufs[key] = b


def tshark_check(path, decode_as):
    """Extra check with tshark when it is installed: no expert errors (bad checksums, malformed)."""
    tshark = shutil.which("tshark")
    if not tshark:
        return None
    base = [tshark, "-n", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
            "-o", "udp.check_checksum:TRUE", "-o", "tcp.desegment_tcp_streams:FALSE",
            "--disable-protocol", "http"]
    for d in decode_as:
        base += ["-d", d]

    def count(flt):
        out = sh(base + ["-Y", flt, "-T", "fields", "-e", "frame.number"], check=False)
        return len(out.split())
    # checksum status 0 = bad. The TCP/UDP header quoted inside an ICMP error is cut short, so
    # tshark's check of it is meaningless: those frames only count their ICMP checksum.
    bad = ("(!icmp && (ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0))"
           " || icmp.checksum.status == 0")
    return dict(frames=count("frame"), vxlan=count("vxlan"), geneve=count("geneve"),
                ipip=count("ip.proto == 4"), bgp_update=count("bgp.type == 2"),
                bad_checksums=count(bad), malformed=count("_ws.malformed"))


def jsonable(st):
    out = {}
    for k, v in st.items():
        if isinstance(v, collections.Counter):
            out[k] = {str(a): b for a, b in sorted(v.items(), key=lambda kv: str(kv[0]))}
        else:
            out[k] = v
    return out


def check_results(results):
    """Sanity checks on what was written; returns a list of problems."""
    problems = []
    for name, t in results.items():
        a = t["analysis"]
        if a["bytes"] > MAX_BYTES:
            problems.append("%s: %d bytes > %d" % (name, a["bytes"], MAX_BYTES))
        if a["errors"]:
            problems.append("%s: checksum/length errors %s" % (name, dict(a["errors"])))
        if t.get("tshark") and (t["tshark"]["bad_checksums"] or t["tshark"]["malformed"]):
            problems.append("%s: tshark found bad checksums / malformed packets: %s" % (name, t["tshark"]))
        if t.get("linktype", 1) == 1:
            pods = sorted((p for n in t["nodes"].values() for p in n["pods"]), key=ipaddress.IPv4Address)
            if a["pods_seen"] != pods:
                problems.append("%s: pods seen %s != configured %s" % (name, a["pods_seen"], pods))
            if a["max_frame"] > 1514:
                problems.append("%s: frame of %d bytes (offloads on?)" % (name, a["max_frame"]))
            enc = t["encapsulation"]
            if enc != "native" and not a["classes"].get(enc):
                problems.append("%s: no %s packets" % (name, enc))
            if enc == "native" and set(a["classes"]) - {"native", "arp"}:
                problems.append("%s: unexpected classes %s" % (name, dict(a["classes"])))
            if enc in ("vxlan", "geneve") and set(a["vni"]) != {t["vni"]}:
                problems.append("%s: VNIs %s" % (name, dict(a["vni"])))
            if t["fault"] is None and a["inner_fragments"]:
                problems.append("%s: unexpected inner fragments" % name)
            if t["fault"] is None and a["max_inner_ip"] > t["pod_mtu"]:
                problems.append("%s: inner IP %d > pod MTU" % (name, a["max_inner_ip"]))
        if name == "native-bgp.pcap":
            ann = {(x["speaker"], x["prefix"], x["next_hop"]) for x in a["bgp_announcements"]}
            want = {(ip, n["pod_cidr"], ip) for ip, n in t["nodes"].items()}
            if {(s, p, h) for s, p, h in ann} != want:
                problems.append("%s: BGP announcements %s != %s" % (name, ann, want))
        if name == "vxlan-mtu-broken.pcap":
            if not a["inner_fragments"]:
                problems.append("%s: no inner fragments" % name)
            if not a["syn_mss"].get(1460):
                problems.append("%s: no SYN with MSS 1460" % name)
            if a["max_inner_ip"] > 1450:
                problems.append("%s: inner IP above 1450 on the underlay" % name)
        if name == "vxlan-mtu-broken.node1-any.pcap":
            if not any(f["mtu"] == 1450 for f in a["frag_needed"]):
                problems.append("%s: no ICMP frag-needed with MTU 1450" % name)
    return problems
