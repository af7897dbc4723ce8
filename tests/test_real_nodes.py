"""Issue 19, item 9: every tunnel endpoint is a node in the nodes table, also when its inner traffic is only ARP
or starts at the node itself (a node pinging its peer's tunnel address, health checks from the VTEP)."""
from __future__ import annotations

from test_findings_minimal import NODE_A, NODE_B, NODE_C, a_to_b, analyze_json, healthy_conversation, pcap
from pcapdiag.testing.packets import (ETH_ARP, MAC_VTEP_A, arp, ethernet, icmp_echo, ipv4, udp_datagram, vxlan,
                                      vxlan_packet)


def arp_in_vxlan(src, dst, sender_ip, target_ip) -> bytes:
    """An ARP request inside VXLAN (an L2 overlay floods it to every VTEP)."""
    body = vxlan(ethernet(arp(MAC_VTEP_A, sender_ip, target_ip), ETH_ARP, src=MAC_VTEP_A, dst="ff:ff:ff:ff:ff:ff"))
    return ethernet(ipv4(src, dst, udp_datagram(src, dst, 51000, 8472, body), proto=17, df=False))


def test_endpoints_carrying_only_arp_or_their_own_traffic_are_nodes(tmp_path):
    frames = healthy_conversation() + [
        arp_in_vxlan(NODE_A, NODE_C, "10.244.1.1", "10.244.3.1"),          # A and C: only ARP between them
        ethernet(vxlan_packet(NODE_C, "192.168.1.13", ipv4(NODE_C, "192.168.1.13", icmp_echo())))]   # C's own ping
    report = analyze_json(pcap(tmp_path, frames))
    nodes = {node["ip"]: node for node in report["nodes"]}
    assert set(nodes) == {NODE_A, NODE_B, NODE_C, "192.168.1.13"}
    assert nodes[NODE_C]["pods"] == [] and nodes["192.168.1.13"]["pods"] == []
    assert nodes[NODE_C]["peers"] == [NODE_A, "192.168.1.13"]
    assert nodes[NODE_A]["peers"] == [NODE_B, NODE_C]


def test_near_miss_native_traffic_makes_no_node(tmp_path):
    report = analyze_json(pcap(tmp_path, [ethernet(ipv4(NODE_A, NODE_C, icmp_echo()))] + [a_to_b(ipv4(
        "10.244.1.5", "10.244.2.7", icmp_echo()))]))
    assert [node["ip"] for node in report["nodes"]] == [NODE_A, NODE_B]
