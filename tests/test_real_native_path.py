"""Issue 19, items 5 and 9 (IPv6 half): native traffic is judged by its own path.

An untunnelled capture on a node of a jumbo-frame LAN: the local hosts advertise MSS 8940 (IPv6, 9000 - 60)
to each other, and the node talks to an Internet host that advertises 1440. Nothing in the capture says the
path is 1500 bytes: the hosts' handshakes are the evidence of a 9000-byte native path, and none of these
hosts is a pod.
"""
from __future__ import annotations

from test_findings_minimal import analyze_json, ids, pcap, the
from pcapdiag.testing.packets import ethernet, ip_packet, tcp

NODE6, LAN6, INTERNET6 = "2001:db8:1::10", "2001:db8:1::20", "2606:2800:220:1::34"
NODE4, LAN4 = "192.168.1.10", "192.168.1.20"


def handshake(client, server, client_mss, server_mss, sport=40000, dport=22) -> list[bytes]:
    return [ethernet(ip_packet(client, server, tcp(sport, dport, flags="S", mss=client_mss))),
            ethernet(ip_packet(server, client, tcp(dport, sport, flags="SA", ack=1, mss=server_mss))),
            ethernet(ip_packet(client, server, tcp(sport, dport, flags="A", seq=1, ack=1)))]


def jumbo_lan_v6() -> list[bytes]:
    return handshake(NODE6, LAN6, 8940, 8940) + handshake(NODE6, INTERNET6, 8940, 1440, sport=40001, dport=443)


def test_jumbo_lan_mss_is_not_judged_against_an_assumed_1500(tmp_path):
    report = analyze_json(pcap(tmp_path, jumbo_lan_v6()))
    assert "mtu.mss-too-big" not in ids(report)
    assert report["findings"] == [] and report["verdict"].startswith("OK")
    assert report["mtu"]["underlay_mtu"] == 1500     # the underlay model itself is unchanged: no tunnel here
    assert report["nodes"] == []                     # no pods, no tunnel endpoints


def test_ipv4_jumbo_lan_budget_counts_40_bytes(tmp_path):
    report = analyze_json(pcap(tmp_path, handshake(NODE4, LAN4, 8960, 8960)))
    assert report["findings"] == []


def test_ipv6_budget_counts_60_bytes_of_headers(tmp_path):
    """8940 + 60 = 9000 is the path both ends agree on; an MSS of 8960 from one of them does not fit it."""
    frames = jumbo_lan_v6() + handshake(LAN6, NODE6, 8960, 8940, sport=40002)
    finding = the(analyze_json(pcap(tmp_path, frames)), "mtu.mss-too-big")
    assert finding["evidence"]["budget"] == 8940
    assert finding["summary"].startswith(f"hosts {LAN6} advertise TCP MSS 8960 in SYNs against a 8940-byte budget "
                                         f"(9000 native path MTU - TCP/IP headers)")


def test_given_underlay_judges_native_hosts_and_calls_them_hosts(tmp_path):
    """With --underlay-mtu 1500 the path is known: the node's jumbo MSS does not fit it. The node and the
    Internet host are hosts, not pods."""
    finding = the(analyze_json(pcap(tmp_path, jumbo_lan_v6()), "--underlay-mtu", 1500), "mtu.mss-too-big")
    assert finding["summary"].startswith(f"hosts {NODE6}, {LAN6} advertise TCP MSS 8940")
    assert "pods" not in finding["summary"]
