"""The answer key of the samples: sample_pcaps/truth.json (per capture: how it was made, the topology,
the fault, and the checker's analysis) and sample_pcaps/README.md rendered from it."""
from __future__ import annotations

import json
import os

from .checker import jsonable

DESCRIPTIONS = {
    "vxlan-flannel-8472.pcap": """\
Real kernel lab shaped like flannel's `vxlan` backend: one network namespace per node and per pod,
node `eth0` veths plugged into a bridge in a "switch" namespace (the underlay, captured there with
tcpdump), `flannel.1` = `ip link add flannel.1 type vxlan id 1 dstport 8472 local <node ip> dev eth0
nolearning` (address `10.244.N.0/32`, MTU 1450) with the static FDB / neighbour / `onlink` routes that
flanneld programs for every remote node, and the pods behind a `cni0` bridge (pod MTU 1450).
Offloads are off on every interface, so frame sizes are wire sizes and checksums are final.
Outer UDP checksums are present and correct (the kernel's default when neither `udpcsum` nor
`noudpcsum` is given, as with flanneld), outer DF is clear, outer TTL 64; the outer UDP source port
is the kernel's hash of the inner flow. Underlay ARP between the nodes is in the capture; there is no
ARP inside the tunnel (static neighbours, `nolearning`).""",
    "vxlan-4789.pcap": """\
Same kind of real kernel lab as the flannel capture, on the IANA VXLAN port: device `vxlan42`
(`type vxlan id 42 dstport 4789 nolearning`, MTU 1450), two nodes, two pods each, pod MTU 1450.""",
    "ipip.pcap": """\
IPv4-in-IPv4 (IP protocol 4) like Calico's `tunl0`. The kernel here cannot create ipip devices, so the
pod traffic was made for real in a routed kernel lab (pods at MTU 1480, pod CIDRs routed node to node
without encapsulation) and every pod-to-pod packet seen on the underlay was then wrapped with dpkt in an
outer IPv4 header node IP -> node IP: DF set (tunl0 `pmtudisc`), TTL inherited from the inner packet
(tunl0's default `ttl inherit`), IP ID counting up per node pair, header checksum computed; the outer
Ethernet header is the node MACs. Underlay ARP between nodes is kept as captured.""",
    "geneve.pcap": """\
Geneve on UDP 6081 (OVN / Antrea style), built like the IPIP capture: real pod traffic from a routed
kernel lab with pods at MTU 1450, each pod-to-pod packet wrapped with dpkt in Ethernet / IPv4 (node ->
node, DF set, TTL 64) / UDP (source port hashed from the inner flow, checksum computed) / Geneve
(VNI 100, protocol 0x6558) / inner Ethernet (dst = destination pod MAC, src = the destination subnet's
router MAC `0a:58:<gateway ip>`). ICMP and UDP packets carry one 8-byte Geneve option (OVN class
0x0102, type 0x80, 4 bytes of data: overhead 58); TCP packets carry none (overhead 50). All outer
packets stay within 1500 bytes.""",
    "native-bgp.pcap": """\
No encapsulation: a real kernel routed lab where every node routes the other nodes' pod CIDRs to their
node IPs (`ip route add <cidr> via <node ip>`), so pod IPs appear directly on the underlay (pod MTU
1500, TTL 63 after the sending node's hop). Before the pod traffic the nodes bring up an iBGP full mesh
(AS 64512, like Calico's BIRD) over real kernel TCP sessions on port 179: each side sends OPEN
(hold time 9 s, capabilities multiprotocol IPv4 unicast, route refresh, 4-octet AS), KEEPALIVE, one
UPDATE announcing its own pod CIDR (ORIGIN IGP, empty AS_PATH, NEXT_HOP = the node IP, LOCAL_PREF 100),
an End-of-RIB (empty UPDATE), then a KEEPALIVE every 3 s. The BGP messages were built with dpkt.bgp
and parsed back with it. The sessions are still up when the capture ends.""",
    "vxlan-mtu-broken.pcap": """\
Real kernel flannel-style VXLAN lab (UDP 8472, VNI 1, flannel.1 MTU 1450) where the pods (and cni0)
were left at MTU 1500: the classic overlay MTU mismatch. Captured on the underlay bridge. What happens:

* small pings pass;
* 1500-byte pings with DF clear are fragmented by the node in front of flannel.1, so the underlay
  carries *inner* IPv4 fragments inside VXLAN (1444 + 76 bytes); the replies come back fragmented too;
* 1500-byte pings with DF set are dropped by node 1, which answers its pod with ICMP 3/4 "fragmentation
  needed, next-hop MTU 1450" (not visible on the underlay: see the node capture);
* TCP handshakes advertise MSS 1460 (pod MTU 1500) although only 1410 fits; full-size 1448-byte
  segments are dropped at the node; where the ICMP reaches the sender it lowers its path MTU and resends
  1398-byte segments (so on the underlay no segment exceeds 1450 bytes of inner IP);
* pod 10.244.1.4 never receives the ICMP (a tc filter on its eth0 drops ICMP type 3) and has
  tcp_mtu_probing=1: its upload (client port 40005) stalls on retransmitted full-size segments that
  never leave node 1 (a PMTU black hole). On the underlay only the handshake, the small request
  line and the short last segment get through (the receiver SACKs it: "previous segment not
  captured"), then nothing for about 3 s until TCP black-hole detection falls back to 1024-byte
  segments, which pass (seen as retransmissions of the missing range);
* UDP echo (client port 41006, sizes 100, 1200, 1472, 1472, 1472, 100, DF set as Linux does by
  default): the first 1472-byte datagram never reaches the underlay (dropped at node 1, ICMP to the
  pod); the second is fragmented by the pod itself (it has learnt the path MTU) and delivered, but the
  1500-byte echo is dropped at node 2; the third goes through fragmented in both directions.""",
    "vxlan-mtu-broken.node1-any.pcap": """\
The same run as vxlan-mtu-broken.pcap, captured at the same time on node 1 with `tcpdump -i any -y
LINUX_SLL` (link type 113, Linux cooked capture v1). Each packet appears once per interface it crosses
(pod veth, cni0, flannel.1 as bare inner IP, eth0 as VXLAN). This is where the node's ICMP type 3
code 4 (next-hop MTU 1450) back to its pods is visible, as are the 1500-byte packets that never
reach flannel.1 and the black-holed pod's retransmissions.""",
}


def write_answer_key(out_dir, results):
    truth_path = os.path.join(out_dir, "truth.json")
    truth = {}
    if os.path.exists(truth_path):
        with open(truth_path) as f:
            truth = json.load(f)
    for name, t in results.items():
        t = dict(t)
        t["analysis"] = jsonable(t["analysis"])
        truth[name] = t
    truth = {k: truth[k] for k in sorted(truth) if os.path.exists(os.path.join(out_dir, k))}
    with open(truth_path, "w") as f:
        json.dump(truth, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(render_readme(truth))
    return truth_path


def render_readme(truth):
    L = ["# Sample captures", "",
         "Regenerate everything with `sudo .venv/bin/python tools/make_samples.py [--out sample_pcaps]` (the",
         "project venv's Python, as root: it builds network namespaces; needs iproute2, tcpdump, ethtool, dpkt).",
         "Addresses, MACs, payloads and the traffic script are fixed, so a rerun gives captures of the same",
         "shape; timestamps, IP IDs, TCP sequence numbers, ephemeral/outer UDP source ports and exact packet",
         "counts (retransmissions, keepalives) can differ. `truth.json` is the machine-readable answer key:",
         "per file `encapsulation`, `udp_port`, `vni`, `overhead_per_packet`, MTUs,",
         "`nodes: {node_ip: {pods, pod_cidr, mac, ...}}`, `fault` (null or `\"mtu_mismatch\"`), and an",
         "`analysis` block computed from the written file by the generator's own dpkt-based checker",
         "(class counts, flows, fragments, ICMP, BGP announcements, checksum errors).",
         "", "All files are classic pcap (microsecond), snaplen 262144, Ethernet link type unless noted.", ""]
    L += ["| file | bytes | frames | encapsulation | port | VNI | overhead | pod MTU | fault |",
          "| --- | ---: | ---: | --- | --- | --- | --- | --- | --- |"]
    for name, t in truth.items():
        a = t["analysis"]
        L.append("| %s | %d | %d | %s | %s | %s | %s | %s | %s |" % (
            name, a["bytes"], a["frames"], t["encapsulation"], t["udp_port"] or "-", t["vni"] if t["vni"] is not None else "-",
            t["overhead_per_packet"], t["pod_mtu"], t["fault"] or "none"))
    L.append("")
    for name, t in truth.items():
        a = t["analysis"]
        L += ["## %s" % name, "", DESCRIPTIONS.get(name, ""), ""]
        L += ["* encapsulation: **%s**%s%s, overhead %d bytes per packet%s" % (
            t["encapsulation"], ", UDP port %s" % t["udp_port"] if t["udp_port"] else "",
            ", VNI %s" % t["vni"] if t["vni"] is not None else "", t["overhead_per_packet"],
            " (+8 with the Geneve option)" if t.get("geneve_option_bytes") else ""),
              "* MTUs: underlay %s, tunnel %s, pods %s" % (t["underlay_mtu"], t["tunnel_mtu"] or "-", t["pod_mtu"]),
              "* link type %d%s" % (t.get("linktype", 1), " (Linux cooked SLL)" if t.get("linktype") == 113 else " (Ethernet)"),
              "* fault: %s" % (t["fault"] or "none")]
        if t.get("fault_detail"):
            L.append("* fault detail: `%s`" % json.dumps(t["fault_detail"]))
        if t.get("capture_point"):
            L.append("* capture point: %s" % t["capture_point"])
        L += ["", "| node IP | node MAC | pod CIDR | pods |%s" % (" VTEP MAC |" if "vtep_mac" in next(iter(t["nodes"].values())) else ""),
              "| --- | --- | --- | --- |%s" % (" --- |" if "vtep_mac" in next(iter(t["nodes"].values())) else "")]
        for ip, n in t["nodes"].items():
            L.append("| %s | %s | %s | %s |%s" % (ip, n["mac"], n["pod_cidr"], ", ".join(n["pods"]),
                                                 (" %s |" % n["vtep_mac"]) if "vtep_mac" in n else ""))
        L += ["", "Contents (from the checker): %d frames; classes %s; inner protocols %s." % (
            a["frames"], _fmt(a["classes"]), _fmt(a["inner_proto"]))]
        if a.get("vni"):
            L.append("VNIs %s; tunnel UDP ports %s; outer UDP checksum zero on %d packets; outer DF on %d." % (
                _fmt(a["vni"]), _fmt(a["udp_port"]), a["outer_udp_csum_zero"], a["outer_df"]))
        if a.get("overhead"):
            L.append("Outer minus inner IP length: %s." % _fmt(a["overhead"]))
        L.append("Largest frame %d bytes, largest outer IP %d, largest inner IP %d; inner fragments %d; "
                 "SYN MSS %s; ICMP %s." % (a["max_frame"], a["max_outer_ip"], a["max_inner_ip"],
                                           a["inner_fragments"], _fmt(a["syn_mss"]), _fmt(a["icmp"])))
        if a.get("geneve_with_options"):
            L.append("Geneve packets with an option: %d." % a["geneve_with_options"])
        if a.get("frag_needed"):
            L.append("ICMP frag-needed: %s." % "; ".join("%d x %s -> %s mtu %d (quoting %s -> %s, %s bytes)" % (
                f["count"], f["src"], f["dst"], f["mtu"], f["quoted_src"], f["quoted_dst"], f["quoted_len"])
                for f in a["frag_needed"]))
        if a.get("bgp"):
            L.append("BGP messages: %s; announcements: %s." % (_fmt(a["bgp"]), "; ".join(
                "%s -> %s: %s next-hop %s" % (x["speaker"], x["peer"], x["prefix"], x["next_hop"])
                for x in a["bgp_announcements"])))
        L.append("Pod IPs seen: %s." % ", ".join(a["pods_seen"]))
        L.append("Checksum/length errors found: %s." % (_fmt(a["errors"]) if a["errors"] else "none"))
        if t.get("tshark"):
            L.append("tshark: %s." % ", ".join("%s %s" % kv for kv in t["tshark"].items()))
        L += ["", "| proto | client | server | pkts c->s / s->c | payload bytes | SYN MSS c/s | max seg | repeated seq | dur s |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for fl in a["flows"]:
            L.append("| %s | %s | %s | %d / %d | %d / %d | %s / %s | %d | %d | %.2f |" % (
                fl["proto"], fl["client"], fl["server"], fl["packets"][0], fl["packets"][1],
                fl["payload_bytes"][0], fl["payload_bytes"][1], fl["syn_mss"], fl["synack_mss"],
                fl["max_segment"], fl["repeated_seq"], fl["duration"]))
        L.append("")
    return "\n".join(L) + "\n"


def _fmt(d):
    return ", ".join("%s: %s" % (k, v) for k, v in d.items()) if d else "none"
