"""Every public capture in the shared corpus through the real CLI, checked against tshark's counts."""
from __future__ import annotations

import csv

import pytest

from conftest import CORPUS, LAB, analyze_json, corpus_files, needs_corpus, run_cli

pytestmark = needs_corpus

# manifest column -> our class name (tshark counts packets that contain the protocol anywhere in the stack)
MANIFEST_CLASSES = {"vxlan": "vxlan", "geneve": "geneve", "ipip": "ipip", "ip6_in_ip": "6in4", "ip_in_ip6": "4in6",
                    "ip6_in_ip6": "6in6", "gre": "gre"}
# Where tshark is wrong, and why (the test still pins our answer).
TSHARK_WRONG = {
    # BIG TCP: the outer IPv4 total length is 0, tshark stops at UDP; the frame is VXLAN on 8472 (offload super-frame)
    "tcpdump__bigtcp-ipv4-vxlan-ipv4.pcap": {"vxlan": 1},
    # BIG TCP over IPv6 (payload length 0, jumbo): tshark stops at UDP; it is Geneve on 6081
    "tcpdump__bigtcp-ipv6-geneve-ipv6.pcap": {"geneve": 1},
}
# IPIP inside UDP (GUE, port 6080): tshark shows udp:data; we find the IPv4 packet by plausibility
UDP_TUNNEL = {"kaorimatz-pcaps__gue-ipip__ping__veth2.pcap": 2}


def manifest() -> dict:
    with open(CORPUS / "manifest.tsv") as handle:
        return {row["local_name"]: row for row in csv.DictReader(handle, delimiter="\t")}


def contains_counts(report: dict, name: str) -> int:
    return sum(n for chain, n in report["encapsulation_chains"].items() if name in chain.split(">"))


@pytest.mark.parametrize("path", corpus_files(CORPUS) + corpus_files(LAB), ids=lambda p: p.name)
def test_every_capture_gives_valid_json(path):
    result = run_cli("analyze", path, "--format", "json", "-q")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    import json
    report = json.loads(result.stdout)
    assert {"version", "capture", "encapsulation", "nodes", "flows", "mtu", "findings"} <= set(report)


@pytest.mark.parametrize("name", sorted(manifest()) if CORPUS.is_dir() else [])
def test_class_counts_match_tshark_or_documented(name):
    row = manifest()[name]
    report = analyze_json(CORPUS / name)
    assert report["capture"]["packets"] == int(row["packets"])
    for column, cls in MANIFEST_CLASSES.items():
        expected = TSHARK_WRONG.get(name, {}).get(cls, int(row[column]))
        assert contains_counts(report, cls) == expected, (cls, report["encapsulation_chains"])
    assert contains_counts(report, "udp-tunnel") == UDP_TUNNEL.get(name, 0)


def test_vxlan_on_unlisted_port_found_by_plausibility(tmp_path):
    """tcpdump's vxlan.pcap moved from UDP 4789 to 9999 (real frames, port rewritten): found by plausibility."""
    import dpkt

    moved = tmp_path / "vxlan-9999.pcap"
    with open(CORPUS / "tcpdump__vxlan.pcap", "rb") as source, open(moved, "wb") as target:
        reader = dpkt.pcap.Reader(source)
        writer = dpkt.pcap.Writer(target, snaplen=65535)
        for ts, frame in reader:
            eth = dpkt.ethernet.Ethernet(frame)
            eth.data.data.dport, eth.data.data.sum = 9999, 0  # checksum 0: "not computed" is legal over IPv4
            writer.writepkt(bytes(eth), ts)
    report = analyze_json(moved)
    [vxlan] = [e for e in report["encapsulation"] if e["type"] == "vxlan"]
    assert (vxlan["udp_port"], vxlan["packets"], vxlan["by_plausibility"]) == (9999, 10, 10)
    [finding] = [f for f in report["findings"] if f["id"] == "tunnel.nonstandard-port"]
    assert finding["fix"] == "pass --vxlan-port 9999 to decode it by port"
    told = analyze_json(moved, "--vxlan-port", "9999")
    [vxlan] = [e for e in told["encapsulation"] if e["type"] == "vxlan"]
    assert vxlan["by_plausibility"] == 0
    # the GUE capture carries IPIP in UDP 6080: plausibility is the only way to see it, so no finding
    report = analyze_json(CORPUS / "kaorimatz-pcaps__gue-ipip__ping__veth2.pcap")
    [tunnel] = [e for e in report["encapsulation"] if e["type"] == "udp-tunnel"]
    assert tunnel["udp_port"] == 6080 and tunnel["by_plausibility"] == 2


def test_ipv6_underlay_vxlan():
    report = analyze_json(CORPUS / "tcpdump__gso-ipv6-vxlan-ipv6.pcap")
    [vxlan] = [e for e in report["encapsulation"] if e["type"] == "vxlan"]
    assert vxlan["nominal_overhead"] == 70
    [flow] = report["flows"]
    assert ":" in flow["outer_src"] and ":" in flow["src"]


def test_ipv6_underlay_4in6_nodes():
    report = analyze_json(CORPUS / "nDPI__4in6tunnel.pcap")
    nodes = {n["ip"] for n in report["nodes"]}
    assert nodes == {"22e0:1685:eda7:38cc:58bd:f3f1:aa3f:22d8", "344a:ba94:152a:ac34::2a"}
    [entry] = [e for e in report["encapsulation"] if e["type"] == "4in6"]
    assert entry["overhead_per_packet"] == 40


def test_qinq_vlan_underlay_ipip():
    """nDPI's 4in4 capture is IPIP behind two VLAN tags."""
    report = analyze_json(CORPUS / "nDPI__4in4tunnel.pcap")
    [entry] = [e for e in report["encapsulation"] if e["type"] == "ipip"]
    assert entry["packets"] == 5 and entry["overhead_per_packet"] == 20
    assert {f["src"] for f in report["flows"]} == {"10.10.100.25"}


def test_sll_and_sll2_link_types():
    sll = analyze_json(CORPUS / "tcpdump__mptcp-v1.pcap")
    assert sll["capture"]["link_types"] == ["linux_sll"]
    assert sum(f["packets"] for f in sll["flows"]) == 20
    sll2 = analyze_json(CORPUS / "zeek__linux_dlt_sll2.pcap")
    assert sll2["capture"]["link_types"] == ["linux_sll2"]
    assert {f["proto"] for f in sll2["flows"]} == {"icmp", "icmpv6"}


def test_pcapng_and_nanosecond_pcap_agree_with_usec_pcap(lab_reports):
    """vxlan-4789.pcapng is a concurrent nanosecond capture of the same traffic as vxlan-4789.pcap."""
    usec, nsec = lab_reports("vxlan-4789.pcap"), lab_reports("vxlan-4789.pcapng")
    assert nsec["capture"]["format"] == "pcapng" and nsec["capture"]["nanosecond"]
    assert [(e["type"], e["packets"], e["overhead_bytes"]) for e in usec["encapsulation"]] == \
        [(e["type"], e["packets"], e["overhead_bytes"]) for e in nsec["encapsulation"]]
    nano = analyze_json(CORPUS / "tcpdump__tcp-handshake-nano.pcap")
    assert nano["capture"]["nanosecond"] and "." in nano["capture"]["start"]
    handshake = {(f["src"], f["sport"]): (f["syn"], f["synack"]) for f in nano["flows"]}
    assert handshake == {("131.155.215.69", 46656): (1, 0), ("137.116.81.94", 80): (0, 1)}


def test_icmp_too_big_in_public_corpus_names_mtu():
    report = analyze_json(CORPUS / "zeek__icmp6-toobig.pcap")
    [finding] = [f for f in report["findings"] if f["id"] == "mtu.icmp-too-big"]
    assert finding["evidence"]["next_hop_mtus"] == [1280]
    quoted = finding["evidence"]["messages"][0]["quoted"]
    assert (quoted["proto"], quoted["src"], quoted["sport"], quoted["dst"], quoted["dport"]) == (
        "udp", "fe80::beef", 30000, "fe80::dead", 13000)
    assert "quoted=udp fe80::beef:30000 > fe80::dead:13000" in finding["evidence"]["text"][0]
    tunnelled = analyze_json(CORPUS / "nDPI__6in4tunnel.pcap")
    [finding] = [f for f in tunnelled["findings"] if f["id"] == "mtu.icmp-too-big"]
    message = finding["evidence"]["messages"][0]
    assert (message["icmp"], message["mtu"]) == ("icmpv6 packet-too-big", 1460)
    assert {k: message["quoted"][k] for k in ("proto", "src", "sport", "dst", "dport")} == {
        "proto": "tcp", "src": "2001:470:1f17:13f:3e97:eff:fe73:4dec", "sport": 53234,
        "dst": "2a03:2880:1010:6f03:face:b00c:0:2", "dport": 443}
