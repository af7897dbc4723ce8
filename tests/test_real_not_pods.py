"""Issue 19, item 3: multicast, broadcast, link-local, loopback and unspecified addresses are not pods.

An L2 overlay carries, besides pod traffic, what every LAN carries: IGMP reports to 224.0.0.22, mDNS to
224.0.0.251, NetBIOS broadcasts to the subnet's .255, DHCP from 0.0.0.0, DHCPv6 from fe80:: to ff02::1:2.
None of those addresses is a pod, and no pod CIDR may be inferred from them (nor written by `baseline`).
"""
from __future__ import annotations

from test_findings_minimal import (NODE_A, NODE_B, POD_A, POD_B, a_to_b, analyze_json, b_to_a, healthy_conversation,
                                   pcap)
from conftest import run_cli
from pcapdiag.testing.packets import ipv4, ipv6, udp

LAN_BROADCAST = "192.168.100.255"


def lan_noise() -> list[bytes]:
    return [a_to_b(ipv4(POD_A, "224.0.0.22", b"\x22" + bytes(15), proto=2)),
            a_to_b(ipv4(POD_A, "224.0.0.251", udp(5353, 5353, bytes(40)))),
            b_to_a(ipv4(POD_B, "224.0.0.251", udp(5353, 5353, bytes(40)))),
            a_to_b(ipv4(POD_A, LAN_BROADCAST, udp(137, 137, bytes(50)))),
            a_to_b(ipv4("0.0.0.0", "255.255.255.255", udp(68, 67, bytes(300)))),
            a_to_b(ipv4("127.0.0.1", "127.0.0.1", udp(1, 2, b"x"))),
            a_to_b(ipv6("fe80::5", "ff02::1:2", udp(546, 547, bytes(30)))),
            b_to_a(ipv6("fe80::7", "ff02::1", udp(546, 547, bytes(30))))]


def test_special_addresses_are_neither_pods_nor_pod_cidrs(tmp_path):
    report = analyze_json(pcap(tmp_path, healthy_conversation() + lan_noise()))
    nodes = {node["ip"]: node for node in report["nodes"]}
    assert set(nodes) == {NODE_A, NODE_B}
    assert nodes[NODE_A]["pods"] == [POD_A]
    assert nodes[NODE_B]["pods"] == [POD_B]
    assert nodes[NODE_A]["pod_cidrs"] == ["10.244.1.0/24"]
    assert nodes[NODE_B]["pod_cidrs"] == ["10.244.2.0/24"]
    assert report["pod_ip_conflicts"] == []


def test_baseline_writes_no_special_pod_cidr(tmp_path):
    path = pcap(tmp_path, healthy_conversation() + lan_noise())
    result = run_cli("baseline", path, "-q")
    text = result.stdout
    for cidr in ("224.0.0.0", "ff02::", "fe80::", "127.0.0", "0.0.0.0/", "255.255.255"):
        assert cidr not in text.split("[pod_cidrs]", 1)[1], cidr
    assert f'"{NODE_A}" = ["10.244.1.0/24"]' in text


def test_near_miss_a_pod_at_the_top_of_a_block_that_sends_is_a_pod(tmp_path):
    """Calico hands out every address of a /26 block, .255 included: an address that sends is a pod."""
    top = "10.244.1.255"
    report = analyze_json(pcap(tmp_path, [a_to_b(ipv4(top, POD_B, udp(1000, 53, bytes(20)))),
                                          b_to_a(ipv4(POD_B, top, udp(53, 1000, bytes(20))))]))
    assert {node["ip"]: node["pods"] for node in report["nodes"]} == {NODE_A: [top], NODE_B: [POD_B]}
