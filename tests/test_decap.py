"""Decapsulation: the inner packets of every tunnel as pcapng, with their original timestamps and their outer
context as comments; what tshark counts in it is pcapdiag's flow table (tshark parts skipped without tshark).
"""
from __future__ import annotations

import collections
import shutil
import subprocess

import pytest

import pcapdiag
from pcapdiag.capture import open_capture
from pcapdiag.decap import decap

from conftest import LAB, SAMPLES, corpus_files
from pcapdiag.testing.files import write_pcap
from pcapdiag.testing.packets import ethernet, fragments, ipv4, udp, vxlan_packet

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt-get install tshark)")
CAPTURES = sorted(SAMPLES.glob("*.pcap")) + corpus_files(LAB)
FIELDS = ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto", "ipv6.nxt", "tcp.srcport", "tcp.dstport",
          "udp.srcport", "udp.dstport", "ip.frag_offset", "frame.comment")
PROTO_NAMES = {"1": "icmp", "6": "tcp", "17": "udp", "58": "icmpv6"}


def records_of(path) -> list:
    with open_capture(str(path)) as capture:
        return list(capture.records())


def tshark_flows(path) -> collections.Counter:
    """Packets per inner (src, dst, proto, sport, dport) as tshark reads them, IP reassembly off (pcapdiag's
    flows count a fragmented datagram by its first fragment: later fragments are left out here)."""
    out = subprocess.run([TSHARK, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", "-r", str(path),
                          "-T", "fields", "-E", "separator=|", *[a for f in FIELDS for a in ("-e", f)]],
                         capture_output=True, text=True, check=True)
    flows = collections.Counter()
    for line in out.stdout.splitlines():
        ip_src, ip_dst, ip6_src, ip6_dst, proto, nxt, tsport, tdport, usport, udport, offset, _ = line.split("|")
        if offset.split(",")[-1] not in ("", "0"):
            continue
        # the innermost header where tshark still sees tunnels inside (the last of each list)
        src, dst = (ip_src or ip6_src).split(",")[-1], (ip_dst or ip6_dst).split(",")[-1]
        proto = (proto or nxt).split(",")[-1]
        sport, dport = (tsport or usport).split(",")[-1], (tdport or udport).split(",")[-1]
        flows[(src, dst, PROTO_NAMES.get(proto, proto), sport, dport)] += 1
    return flows


def pcapdiag_flows(capture) -> collections.Counter:
    flows = collections.Counter()
    for flow in pcapdiag.analyze(str(capture)).flow_records():
        if flow["encap"] != "native":
            key = (flow["src"], flow["dst"], flow["proto"], str(flow["sport"] if flow["sport"] is not None else ""),
                   str(flow["dport"] if flow["dport"] is not None else ""))
            flows[key] += flow["packets"]
    return flows


@needs_tshark
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_tshark_counts_the_flow_table_in_the_inner_packets(tmp_path, capture):
    out = tmp_path / "inner.pcapng"
    counts = decap(str(capture), str(out))
    assert counts["written"] == sum(counts["decapsulated"].values()) and counts["undecodable"] == 0
    assert tshark_flows(out) == pcapdiag_flows(capture)


def test_inner_packets_keep_their_timestamps_and_say_where_they_came_from(tmp_path):
    capture = SAMPLES / "vxlan-mtu-broken.pcap"
    out = tmp_path / "inner.pcapng"
    counts = decap(str(capture), str(out))
    report = pcapdiag.analyze(str(capture)).to_dict()
    tunnelled = sum(e["packets"] for e in report["encapsulation"] if e["type"] == "vxlan")
    assert counts == {"records": 96, "written": tunnelled, "decapsulated": {"vxlan": tunnelled}, "reassembled": 0,
                      "native": 0, "filtered": 0, "undecodable": 0}
    inner, original = records_of(out), records_of(capture)
    with open_capture(str(out)) as reader:
        assert reader.link_types == [1]              # VXLAN carries Ethernet
    by_time = {round(r.ts, 6): r for r in original}
    for record in inner:
        outer = by_time[round(record.ts, 6)]
        assert bytes(outer.data).endswith(bytes(record.data))      # the inner frame is the tail of the outer one


@needs_tshark
def test_wireshark_shows_the_outer_context(tmp_path):
    out = tmp_path / "inner.pcapng"
    decap(str(SAMPLES / "vxlan-mtu-broken.pcap"), str(out))
    comments = [line for line in subprocess.run([TSHARK, "-r", str(out), "-T", "fields", "-e", "frame.comment"],
                                                capture_output=True, text=True, check=True).stdout.splitlines()]
    assert comments and all(c.startswith("vxlan udp/8472 vni 1 192.168.90.1") for c in comments)
    assert "outer IP 1500 bytes; frame " in "\n".join(comments)


def test_ip_carrying_tunnels_are_written_as_raw_ip(tmp_path):
    out = tmp_path / "inner.pcapng"
    counts = decap(str(SAMPLES / "ipip.pcap"), str(out))
    assert counts["decapsulated"] == {"ipip": counts["written"]} and counts["written"] > 0
    with open_capture(str(out)) as reader:
        records = list(reader.records())
        assert reader.link_types == [101]
    assert all(r.data[0] >> 4 == 4 for r in records)


def test_filters_choose_class_pair_vni_and_native(tmp_path):
    capture = SAMPLES / "vxlan-mtu-broken.pcap"
    report = pcapdiag.analyze(str(capture)).to_dict()
    pair = report["node_pairs"][0]
    total = decap(str(capture), str(tmp_path / "all.pcapng"))["written"]
    assert decap(str(capture), str(tmp_path / "g.pcapng"), classes={"geneve"})["written"] == 0
    assert decap(str(capture), str(tmp_path / "v.pcapng"), classes="vxlan", vni=1)["written"] == total
    assert decap(str(capture), str(tmp_path / "n.pcapng"), vni=[7, 8])["written"] == 0
    one_way = decap(str(capture), str(tmp_path / "p.pcapng"), pair=f"{pair['src']}>{pair['dst']}")
    assert one_way["written"] == pair["packets"]
    assert decap(str(capture), str(tmp_path / "b.pcapng"), pair=f"{pair['src']}<>{pair['dst']}")["written"] == total
    kept = decap(str(capture), str(tmp_path / "k.pcapng"), keep_native=True)
    assert kept["written"] == kept["records"] == 96 and kept["native"] == 96 - total
    with pytest.raises(ValueError):
        decap(str(capture), str(tmp_path / "x.pcapng"), pair="node-a>node-b")


def test_outer_fragments_are_reassembled_before_decapsulation(tmp_path):
    inner = ipv4("10.244.1.5", "10.244.2.7", udp(5000, 53, b"d" * 1400), df=False)
    outer = vxlan_packet("192.168.1.10", "192.168.1.11", inner)
    pieces = [ethernet(piece) for piece in fragments(outer, 1000)]
    # another tunnel packet between the two fragments (the decoder gives a later fragment its first's class)
    capture = write_pcap(tmp_path / "frag.pcap", [pieces[0], ethernet(vxlan_packet(
        "192.168.1.10", "192.168.1.11", ipv4("10.244.1.5", "10.244.2.7", udp(5001, 53, b"s"))))] + [pieces[1]])
    out = tmp_path / "inner.pcapng"
    counts = decap(str(capture), str(out))
    assert counts["reassembled"] == 1 and counts["written"] == 2
    records = records_of(out)
    assert len(records[1].data) == 14 + len(inner) and bytes(records[1].data).endswith(inner)
