"""The finding catalogue on minimal synthetic captures: for every finding id, the smallest capture that
must raise it (id, severity, count and the evidence a user acts on) and a near miss that must not.

Long by design (~1,300 lines): one section per catalogue entry, in the registry's order, sharing one cast
and one set of capture builders; TRIGGERS at the end holds every id to a minimal capture.

Captures are built here with pcapdiag.testing (dpkt headers, struct-written pcap records) and run
through the real CLI (`pcapdiag analyze FILE --format json -q`) or `pcapdiag.analyze()`.

The cast: two flannel nodes A (192.168.1.10) and B (192.168.1.11), a third node C (192.168.1.12);
pod a (10.244.1.5) behind A, pod b (10.244.2.7) behind B; VXLAN on UDP 8472, VNI 1; a 1500-byte
underlay, so a 1450-byte VXLAN overlay and a 1410-byte TCP MSS budget.
"""
from __future__ import annotations

import json
import struct

import pytest
from click.testing import CliRunner

import pcapdiag
from pcapdiag.catalogue import CATALOGUE, CONTRACT
from pcapdiag.cli import main
from pcapdiag.cni import MTU_FIX_WORDS
from pcapdiag.findings import EXTERNAL_CHECKS, SPEC_BY_ID, SPECS
from pcapdiag.findings.evidence import iso

from pcapdiag.testing.files import BASE_TS, Record, write_pcap
from pcapdiag.testing.packets import (MAC_VTEP_A, MAC_VTEP_B, correct_udp_checksum, ethernet, fragments,
                                      geneve_packet, icmp6_too_big, icmp_frag_needed, ipip_packet, ipv4, ipv6, tcp,
                                      udp, udp_ip_packet, vxlan_packet)

NODE_A, NODE_B, NODE_C = "192.168.1.10", "192.168.1.11", "192.168.1.12"
POD_A, POD_B, GW_A = "10.244.1.5", "10.244.2.7", "10.244.1.1"
ROUTER = "192.168.1.1"
NODE6_A, NODE6_B = "2001:db8:1::10", "2001:db8:1::11"
POD6_A, POD6_B, GW6_A = "fd00:10:244:1::5", "fd00:10:244:2::7", "fd00:10:244:1::1"
SPORT, DPORT = 40000, 80
MSS_OK, MSS_BIG = 1410, 1460        # the budget on a 1500 underlay over VXLAN is 1410


# -- running pcapdiag ---------------------------------------------------------------

def run(path, *args):
    return CliRunner().invoke(main, ["analyze", str(path), *map(str, args)], catch_exceptions=False)


# the minimal captures carry flannel's VXLAN defaults (UDP 8472, VNI 1, one VTEP MAC per node): the MTU fixes end
# with where flannel keeps the MTU (pcapdiag.cni)
FLANNEL = f" ({MTU_FIX_WORDS['flannel']})"


def analyze_json(path, *args) -> dict:
    result = run(path, "--format", "json", "-q", *args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    check_contract(report)
    return report


def expected_severity(finding: dict) -> str:
    """The catalogue's severity, lowered to info only where the product says the evidence is ambiguous:
    sizes that are not wire sizes, or inner fragmentation nothing corroborates."""
    if not finding.get("reliable", True):
        return "info"
    if finding["id"] == "mtu.inner-fragmented" and not finding["evidence"]["corroboration"]:
        return "info"
    return CATALOGUE[finding["id"]]


FLOW_KEYS = ("proto", "src", "sport", "dst", "dport", "encap", "outer_src", "outer_dst", "vni")


def flow(**known) -> dict:
    """A flow object of the evidence: the report's flow keys (null where the evidence does not know them) and
    the finding's numbers."""
    return {**dict.fromkeys(FLOW_KEYS), **known}


def lines(finding: dict, label: str) -> list[str]:
    """The finding's text lines of one kind ("flow", "message"...), as the text report shows them."""
    return [line.split(": ", 1)[1] for line in finding["evidence"]["text"] if line.startswith(label + ": ")]


def check_contract(report: dict) -> None:
    """What every finding must carry (DESIGN: id, severity, summary, count and what it counts, evidence; no
    finding without it), and the structured evidence of contract 2 (times in epoch and ISO, flows as objects,
    text lines for the text report)."""
    assert report["contract"] == CONTRACT == 2
    for finding in report["findings"]:
        assert finding["id"] in CATALOGUE, finding["id"]
        assert finding["severity"] == expected_severity(finding), finding
        assert finding["summary"] and isinstance(finding["summary"], str)
        assert finding["count"] > 0 and finding["evidence"], finding
        assert finding["counts_what"] == SPEC_BY_ID[finding["id"]].counts_what
        evidence = finding["evidence"]
        assert all(isinstance(line, str) for line in evidence["text"]), finding
        if "first" in evidence:
            assert (evidence["first_iso"], evidence["last_iso"]) == (iso(evidence["first"]), iso(evidence["last"]))
            assert evidence["first"] <= evidence["last"] or finding["id"] == "mtu.icmp-too-big", finding
        for item in evidence.get("flows", []):
            assert set(FLOW_KEYS) <= set(item), item
    assert report["mtu"]["findings"] == [f for f in report["findings"] if f["id"].startswith("mtu.")]


def ids(report: dict) -> set:
    return {f["id"] for f in report["findings"]}


def the(report: dict, finding_id: str) -> dict:
    """The one finding with this id (a finding id is raised at most once per report)."""
    found = [f for f in report["findings"] if f["id"] == finding_id]
    assert len(found) == 1, (finding_id, [f["id"] for f in report["findings"]])
    return found[0]


def assert_triggers(report: dict, finding_id: str, count: int) -> dict:
    finding = the(report, finding_id)
    assert finding["severity"] == CATALOGUE[finding_id]
    assert finding["reliable"] is True
    assert finding["count"] == count, finding
    return finding


# -- building blocks ---------------------------------------------------------------------

def pod_tcp(src=POD_A, dst=POD_B, sport=SPORT, dport=DPORT, **segment) -> bytes:
    """A pod's TCP segment as an inner IP packet (DF set, as Linux TCP does)."""
    return ipv4(src, dst, tcp(sport, dport, **segment), df=True) if ":" not in src else \
        ipv6(src, dst, tcp(sport, dport, **segment))


def data_segment(size: int, seq: int = 1, src=POD_A, dst=POD_B, sport=SPORT, dport=DPORT) -> bytes:
    """A full TCP data segment whose inner IPv4 packet is `size` bytes long."""
    return pod_tcp(src, dst, sport, dport, flags="PA", seq=seq, ack=1, payload=size - 40)


def a_to_b(inner: bytes, **options) -> bytes:
    return ethernet(vxlan_packet(NODE_A, NODE_B, inner, **options))


def b_to_a(inner: bytes, **options) -> bytes:
    options.setdefault("inner_smac", MAC_VTEP_B)
    options.setdefault("inner_dmac", MAC_VTEP_A)
    return ethernet(vxlan_packet(NODE_B, NODE_A, inner, **options))


def handshake(mss_syn=MSS_OK, mss_synack=MSS_OK, tunnel=(a_to_b, b_to_a), src=POD_A, dst=POD_B) -> list[bytes]:
    there, back = tunnel
    return [there(pod_tcp(src, dst, flags="S", seq=0, mss=mss_syn)),
            back(pod_tcp(dst, src, DPORT, SPORT, flags="SA", seq=0, ack=1, mss=mss_synack)),
            there(pod_tcp(src, dst, flags="A", seq=1, ack=1))]


def healthy_conversation(size: int = 1450) -> list[bytes]:
    """Handshake with a fitting MSS, three full-size segments each way, FIN: what a working overlay shows."""
    frames = handshake()
    for i in range(3):
        frames.append(a_to_b(data_segment(size, seq=1 + i * (size - 40))))
        frames.append(b_to_a(data_segment(size, seq=1 + i * (size - 40), src=POD_B, dst=POD_A, sport=DPORT,
                                          dport=SPORT)))
    frames.append(a_to_b(pod_tcp(flags="FA", seq=1 + 3 * (size - 40), ack=1)))
    frames.append(b_to_a(pod_tcp(POD_B, POD_A, DPORT, SPORT, flags="FA", seq=1 + 3 * (size - 40), ack=2)))
    return frames


def native(packet: bytes) -> bytes:
    """A frame as seen on the pod's veth / cni0 (`tcpdump -i any` on the node): no tunnel."""
    return ethernet(packet)


def pcap(tmp_path, records, name="capture.pcap", **options):
    return write_pcap(tmp_path / name, records, **options)


# ======================================================================================
# healthy baseline
# ======================================================================================

def test_healthy_vxlan_conversation_has_no_findings(tmp_path):
    report = analyze_json(pcap(tmp_path, healthy_conversation()))
    assert report["findings"] == []
    assert report["verdict"].startswith("OK")
    assert report["mtu"]["underlay_mtu"] == 1500
    assert [(o["type"], o["udp_port"], o["overhead"], o["overlay_mtu"]) for o in report["mtu"]["overlays"]] == [
        ("vxlan", 8472, 50, 1450)]
    assert report["mtu"]["sizes_reliable"] is True


# ======================================================================================
# mtu.inner-too-big
# ======================================================================================

def too_big_from_pod_capture(tmp_path, size=1500):
    """Node A's `-i any` view: the tunnel tells pcapdiag pod a lives behind A; on the pod's veth the pod
    sends `size`-byte packets that must cross the 1450-byte overlay."""
    # pods with MTU `size` advertise MSS size - 40 (1460 for 1500, 1410 for 1450): a real stack never sends
    # more than its peer's MSS, segments above it would be offload super-frames
    mss = size - 40
    frames = handshake(mss, mss) + [native(data_segment(size, seq=1 + i * (size - 40))) for i in range(3)]
    return pcap(tmp_path, frames)


def test_inner_too_big_pod_sends_1500_into_1450_overlay(tmp_path):
    report = analyze_json(too_big_from_pod_capture(tmp_path))
    finding = assert_triggers(report, "mtu.inner-too-big", count=3)
    assert finding["summary"].startswith(
        "pods on 10.244.1.0/24 (10.244.1.5) send 1500-byte packets, more than the 1450 bytes a VXLAN packet can "
        "carry (1500 underlay - 50 overhead)")
    evidence = finding["evidence"]
    assert (evidence["largest_inner"], evidence["overlay_mtu"], evidence["underlay_mtu"], evidence["overhead"]) == (
        1500, 1450, 1500, 50)
    assert evidence["flows"] == [flow(src=POD_A, dst=POD_B, encap="native", packets=3, inner_len=1500, frame=4)]
    assert lines(finding, "flow") == ["10.244.1.5 > 10.244.2.7 (3 x 1500 bytes, native) (frame 4)"]
    assert evidence["first"] == pytest.approx(BASE_TS + 0.003) and evidence["last"] == pytest.approx(BASE_TS + 0.005)
    assert evidence["first_iso"] == iso(BASE_TS + 0.003) and evidence["first_iso"].endswith("Z")
    assert finding["fix"] == "set the pod MTU to 1450 (or raise the underlay MTU to 1550)" + FLANNEL
    assert report["verdict"].startswith("PROBLEM")
    # the 1500-MTU pods' handshake advertises MSS 1460: a warning of its own, and carried by the error
    assert ids(report) == {"mtu.inner-too-big", "mtu.mss-too-big"}
    assert the(report, "mtu.mss-too-big")["severity"] == "warning"
    assert "(also: TCP MSS 1460 in SYNs against a 1410-byte budget" in finding["summary"]
    assert report["mtu"]["sizes_reliable"] is True


def test_inner_too_big_with_given_underlay_mtu_inside_the_tunnel(tmp_path):
    """A 1550-byte outer packet: inferred, the underlay is 1550 (so the inner and MSS 1460 fit); told 1500,
    they do not."""
    path = pcap(tmp_path, handshake(MSS_BIG, MSS_BIG) + [a_to_b(data_segment(1500))])
    inferred = analyze_json(path)
    assert inferred["mtu"]["underlay_mtu"] == 1550
    assert "largest outer IP packet seen (1550 bytes)" in inferred["mtu"]["underlay_mtu_basis"]
    assert inferred["mtu"]["sizes_reliable"] is True
    assert inferred["findings"] == []
    told = analyze_json(path, "--underlay-mtu", 1500)
    assert ids(told) == {"mtu.inner-too-big", "mtu.mss-too-big"}
    finding = assert_triggers(told, "mtu.inner-too-big", count=1)
    assert finding["evidence"]["flows"] == [flow(src=POD_A, dst=POD_B, encap="vxlan", outer_src=NODE_A, packets=1,
                                                 inner_len=1500, frame=4)]
    assert lines(finding, "flow") == ["10.244.1.5 > 10.244.2.7 (1 x 1500 bytes, vxlan) (frame 4)"]
    assert "1500-byte packets, more than the 1450 bytes a VXLAN packet can carry" in finding["summary"]


def test_inner_too_big_near_miss_1450_inner_on_1500_underlay(tmp_path):
    """A 1450-MTU pod: 1450-byte packets, MSS 1410 both ways: nothing to raise."""
    report = analyze_json(too_big_from_pod_capture(tmp_path, size=1450))
    assert "mtu.inner-too-big" not in ids(report)
    assert report["findings"] == []


def test_inner_too_big_near_miss_node_traffic_is_not_pod_traffic(tmp_path):
    """1500-byte native packets between the nodes themselves (not pods) fit the 1500 underlay."""
    frames = handshake() + [native(data_segment(1500, src=NODE_A, dst=NODE_B, sport=22, dport=50000))]
    report = analyze_json(pcap(tmp_path, frames))
    assert "mtu.inner-too-big" not in ids(report)


def test_underlay_mtu_9000_changes_the_model_and_silences_inner_too_big(tmp_path):
    path = too_big_from_pod_capture(tmp_path)
    report = analyze_json(path, "--underlay-mtu", 9000)
    assert report["mtu"]["underlay_mtu"] == 9000
    assert report["mtu"]["underlay_mtu_basis"] == "given with --underlay-mtu"
    assert [(o["type"], o["overlay_mtu"]) for o in report["mtu"]["overlays"]] == [("vxlan", 8950)]
    assert "mtu.inner-too-big" not in ids(report)
    assert report["findings"] == []
    # and the library agrees with the CLI
    library = pcapdiag.analyze(str(path), underlay_mtu=9000).to_dict()
    assert library["mtu"]["overlays"][0]["overlay_mtu"] == 8950 and library["findings"] == []


# ======================================================================================
# mtu.inner-fragmented
# ======================================================================================

def inner_fragments_capture(tmp_path, datagram: int, cuts=(1450,), before=(), name="capture.pcap"):
    """Pod a sends a `datagram`-byte UDP packet without DF; it is cut at each MTU of `cuts` in turn before
    VXLAN encapsulation (1450: by the node at the overlay MTU, or by a 1450-MTU pod itself; (1500, 1450):
    by a 1500-MTU pod at its own MTU, then again by the node). `before`: frames preceding it."""
    pieces = [ipv4(POD_A, POD_B, udp(5000, 5001, datagram - 28), df=False)]
    for mtu in cuts:
        pieces = [piece for packet in pieces for piece in fragments(packet, mtu)]
    return pcap(tmp_path, list(before) + [a_to_b(piece) for piece in pieces], name=name)


INNER_FRAGMENTED_SUMMARY = ("pods on 10.244.1.0/24 (10.244.1.5) send packets larger than the 1450 bytes the overlay "
                            "can carry without DF: they are fragmented before encapsulation, so the pod MTU is larger than the "
                            "overlay's")


def test_inner_fragmented_cut_twice_pod_mtu_1500_over_1450_overlay(tmp_path):
    """A 1500-MTU pod cuts its 2000-byte datagram into 1500 + 520, the node cuts the 1500 again into 1444 + 76:
    a non-last fragment (76) shorter than another (1444) is the pod's MTU showing through."""
    report = analyze_json(inner_fragments_capture(tmp_path, 2000, cuts=(1500, 1450)))
    assert ids(report) == {"mtu.inner-fragmented"}
    finding = assert_triggers(report, "mtu.inner-fragmented", count=3)
    assert finding["summary"] == INNER_FRAGMENTED_SUMMARY
    assert finding["evidence"]["corroboration"] == [
        "datagrams fragmented twice (by the pod at its MTU, again at the overlay)"]
    assert finding["evidence"]["largest_fragment"] == 1444
    assert finding["evidence"]["flows"] == [flow(src=POD_A, dst=POD_B, encap="vxlan", outer_src=NODE_A, fragments=3,
                                                 largest_fragment=1444, frame=1)]
    assert lines(finding, "flow") == ["10.244.1.5 > 10.244.2.7 (3 fragments, vxlan via 192.168.1.10) (frame 1)"]
    assert finding["fix"] == "set the pod MTU to 1450" + FLANNEL
    assert "mtu.outer-fragmented" not in ids(report)


def test_inner_fragmented_corroborated_by_the_pods_mss(tmp_path):
    """The same 1444 + 76 alone is ambiguous; with the pods' handshake advertising MSS 1460 (a 1500 pod MTU)
    it is the pod MTU."""
    report = analyze_json(inner_fragments_capture(tmp_path, 1500, before=handshake(MSS_BIG, MSS_BIG)))
    assert ids(report) == {"mtu.inner-fragmented", "mtu.mss-too-big"}
    finding = assert_triggers(report, "mtu.inner-fragmented", count=2)
    assert finding["summary"].startswith(INNER_FRAGMENTED_SUMMARY)
    assert finding["evidence"]["corroboration"] == ["their SYNs advertise an MSS larger than the overlay carries"]
    assert finding["evidence"]["largest_fragment"] == 1444
    assert lines(finding, "flow") == ["10.244.1.5 > 10.244.2.7 (2 fragments, vxlan via 192.168.1.10) (frame 4)"]
    vxlan = {"proto": "tcp", "encap": "vxlan", "vni": 1, "mss": 1460, "budget": 1410}
    assert finding["evidence"]["mss"] == [
        flow(src=POD_A, sport=SPORT, dst=POD_B, dport=DPORT, outer_src=NODE_A, outer_dst=NODE_B, handshake="SYN",
             **vxlan),
        flow(src=POD_B, sport=DPORT, dst=POD_A, dport=SPORT, outer_src=NODE_B, outer_dst=NODE_A,
             handshake="SYN-ACK", **vxlan)]
    assert finding["evidence"]["mss"] == the(report, "mtu.mss-too-big")["evidence"]["flows"]
    assert finding["fix"] == "set the pod MTU to 1450" + FLANNEL


def test_inner_fragmented_corroborated_by_icmp_too_big_to_the_pod(tmp_path):
    """The same 1444 + 76, after cni0's gateway told pod a (by ICMP 3/4) that 1450 is the most it can send."""
    probe = ipv4(POD_A, POD_B, udp(5002, 5003, 1472), df=True)   # a 1500-byte DF datagram the pod tried
    told = [native(ipv4(GW_A, POD_A, icmp_frag_needed(1450, probe)))]
    report = analyze_json(inner_fragments_capture(tmp_path, 1500, before=told))
    assert ids(report) == {"mtu.inner-fragmented", "mtu.icmp-too-big"}
    finding = assert_triggers(report, "mtu.inner-fragmented", count=2)
    assert finding["summary"] == INNER_FRAGMENTED_SUMMARY
    assert finding["evidence"]["corroboration"] == ["they were sent ICMP too-big"]
    assert finding["fix"] == "set the pod MTU to 1450" + FLANNEL
    assert the(report, "mtu.icmp-too-big")["fix"] == "make the sending pods' MTU at most 1450" + FLANNEL


@pytest.mark.parametrize("datagram", [
    pytest.param(2000, id="1450-pod-cuts-its-own-2000-byte-datagram"),   # 1444 + 576
    pytest.param(1500, id="1500-byte-datagram-cut-once"),                 # 1444 + 76
])
def test_inner_fragmented_uncorroborated_is_info(tmp_path, datagram):
    """Near miss: a pod with the right MTU (1450, MSS 1410) fragmenting its own large datagram looks the same
    on the underlay as a node fragmenting for a too-large pod MTU; cut once and nothing else pointing at the
    pod MTU, it is no error, only information."""
    path = inner_fragments_capture(tmp_path, datagram, before=handshake(MSS_OK, MSS_OK))
    report = analyze_json(path)
    assert [f for f in report["findings"] if f["severity"] != "info"] == []
    assert ids(report) == {"mtu.inner-fragmented"}
    finding = the(report, "mtu.inner-fragmented")
    assert (finding["severity"], finding["reliable"], finding["count"]) == ("info", True, 2)
    assert finding["summary"] == (
        "pods on 10.244.1.0/24 (10.244.1.5) send IP fragments through the tunnel; an application sending "
        "datagrams larger than the 1450 bytes the overlay can carry does this too, and nothing else suggests a wrong pod MTU")
    assert finding["evidence"]["corroboration"] == []
    assert finding["evidence"]["largest_fragment"] == 1444
    assert finding["fix"] == "if these pods' MTU is above the overlay's: set the pod MTU to 1450" + FLANNEL
    assert run(path, "-q", "--fail-on", "warning").exit_code == 0


def test_inner_fragmented_near_miss_unfragmented_traffic(tmp_path):
    report = analyze_json(pcap(tmp_path, healthy_conversation()))
    assert "mtu.inner-fragmented" not in ids(report)


# ======================================================================================
# mtu.outer-fragmented
# ======================================================================================

def test_outer_fragmented_vtep_fragments_vxlan(tmp_path):
    """The overlay MTU equals the underlay's: a 1500-byte inner becomes a 1550-byte outer, cut at 1500."""
    outer = vxlan_packet(NODE_A, NODE_B, data_segment(1500), df=False)
    frames = handshake(MSS_BIG, MSS_BIG) + [ethernet(piece) for piece in fragments(outer, 1500)]
    report = analyze_json(pcap(tmp_path, frames))
    # the 1500-byte inner does not fit 1450, and the 1500-MTU pods advertise MSS 1460
    assert ids(report) == {"mtu.outer-fragmented", "mtu.inner-too-big", "mtu.mss-too-big"}
    assert report["mtu"]["sizes_reliable"] is True
    finding = assert_triggers(report, "mtu.outer-fragmented", count=2)
    assert finding["summary"] == (
        "the nodes fragment outer VXLAN packets (RFC 7348 4.3 forbids VTEP fragmentation): inner packets of up "
        "to 1500 bytes plus 50 bytes of VXLAN exceed the 1500-byte underlay - the tunnel device lets them through, "
        "so its MTU is the underlay's where it would need to be 1450")
    assert finding["evidence"]["node_pairs"] == [{"type": "vxlan", "src": NODE_A, "dst": NODE_B, "fragments": 2,
                                                      "frame": 4}]
    assert finding["evidence"]["flows"] == [flow(src=POD_A, dst=POD_B, encap="vxlan")]
    assert finding["evidence"]["text"] == ["flow: 10.244.1.5 > 10.244.2.7",
                                           "node_pair: 192.168.1.10 > 192.168.1.11 (2 fragments) (frame 4)"]
    assert finding["evidence"]["largest_inner"] == 1500 and finding["evidence"]["underlay_mtu"] == 1500
    assert finding["fix"] == "set the overlay (tunnel device) and pod MTU to 1450" + FLANNEL
    # both fragments are counted as VXLAN (the second by its datagram's first fragment)
    assert [(e["type"], e["packets"]) for e in report["encapsulation"]] == [("vxlan", 5)]


def test_outer_fragmented_near_miss_native_fragments_and_inner_fragments(tmp_path):
    """Fragmented native traffic between nodes, and inner (pre-encapsulation) fragments, are not VTEP
    fragmentation."""
    native_datagram = ipv4(NODE_A, NODE_B, udp(5000, 5001, 2972), df=False)
    frames = handshake() + [native(piece) for piece in fragments(native_datagram, 1500)]
    assert analyze_json(pcap(tmp_path, frames))["findings"] == []
    inner = analyze_json(inner_fragments_capture(tmp_path, 2000, cuts=(1500, 1450), name="inner.pcap"))
    assert ids(inner) == {"mtu.inner-fragmented"}


# ======================================================================================
# mtu.icmp-too-big
# ======================================================================================

def icmp_quoting_vxlan_capture(tmp_path, mtu=1400, after=()):
    """A router tells node A its 1550-byte VXLAN packet (pod a's 1500-byte TCP segment: a 1500-MTU pod, MSS
    1460 both ways) needs MTU `mtu`."""
    big = vxlan_packet(NODE_A, NODE_B, data_segment(1500))
    frames = handshake(MSS_BIG, MSS_BIG) + [ethernet(big), ethernet(ipv4(ROUTER, NODE_A, icmp_frag_needed(mtu, big)))]
    return pcap(tmp_path, frames + list(after))


def test_icmp_too_big_quoting_a_vxlan_packet_names_the_pod_flow(tmp_path):
    report = analyze_json(icmp_quoting_vxlan_capture(tmp_path), "--underlay-mtu", 1500)
    assert ids(report) == {"mtu.icmp-too-big", "mtu.inner-too-big", "mtu.mss-too-big"}
    finding = assert_triggers(report, "mtu.icmp-too-big", count=1)
    assert finding["summary"] == ("192.168.1.1 told 192.168.1.10 to use a next-hop MTU of 1400 for "
                                  "tcp 10.244.1.5:40000 > 10.244.2.7:80 (quoted packet inside vxlan)")
    assert finding["evidence"]["next_hop_mtus"] == [1400]
    message = finding["evidence"]["messages"][0]
    assert message == {"ts": pytest.approx(BASE_TS + 0.004), "ts_iso": iso(message["ts"]), "icmp": "icmp frag-needed",
                       "from": ROUTER, "to": NODE_A, "mtu": 1400,
                       "quoted": flow(proto="tcp", src=POD_A, sport=SPORT, dst=POD_B, dport=DPORT, encap="vxlan"),
                       "quoted_encap": "vxlan", "quoted_len": 1500}
    assert finding["evidence"]["pod_mtu"] == 1350
    assert lines(finding, "message") == [
        "icmp=icmp frag-needed, from=192.168.1.1, to=192.168.1.10, mtu=1400, quoted=tcp 10.244.1.5:40000 > "
        "10.244.2.7:80, quoted_encap=vxlan, quoted_len=1500"]


def test_icmp_too_big_fix_subtracts_the_tunnel_overhead(tmp_path):
    """The MTU applies to the quoted VXLAN (outer) packet: pods must stay at 1400 - 50 = 1350."""
    report = analyze_json(icmp_quoting_vxlan_capture(tmp_path), "--underlay-mtu", 1500)
    finding = the(report, "mtu.icmp-too-big")
    assert finding["fix"] == "make the sending pods' MTU at most 1350" + FLANNEL
    assert finding["evidence"]["next_hop_mtus"] == [1400]   # the evidence keeps the MTU the router named


def test_icmpv6_packet_too_big(tmp_path):
    segment = ipv6(POD6_A, POD6_B, tcp(SPORT, 443, flags="PA", seq=1, payload=1440))   # 1500 bytes
    frames = [native(segment), native(ipv6(GW6_A, POD6_A, icmp6_too_big(1280, segment)))]
    report = analyze_json(pcap(tmp_path, frames))
    finding = assert_triggers(report, "mtu.icmp-too-big", count=1)
    assert finding["summary"] == ("fd00:10:244:1::1 told fd00:10:244:1::5 to use a next-hop MTU of 1280 for "
                                  "tcp fd00:10:244:1::5:40000 > fd00:10:244:2::7:443")
    message = finding["evidence"]["messages"][0]
    assert (message["icmp"], message["mtu"], message["quoted_encap"], message["quoted_len"]) == (
        "icmpv6 packet-too-big", 1280, "native", 1500)
    assert finding["fix"] == "make the sending pods' MTU at most 1280"


def test_icmp_too_big_near_miss_other_icmp_errors(tmp_path):
    """Port unreachable (3/3), ICMPv6 destination unreachable (1) and echo are not 'too big'."""
    probe = ipv4(POD_A, POD_B, udp(5000, 5001, 20))
    probe6 = ipv6(POD6_A, POD6_B, udp(5000, 5001, 20))
    from dpkt import icmp as dicmp, icmp6 as dicmp6
    frames = [
        native(probe),
        native(ipv4(POD_B, POD_A, dicmp.ICMP(type=3, code=3, data=b"\x00" * 4 + probe))),
        native(probe6),
        native(ipv6(POD6_B, POD6_A, dicmp6.ICMP6(type=1, code=4, data=b"\x00" * 4 + probe6))),
        native(ipv4(POD_A, POD_B, dicmp.ICMP(type=8, code=0, data=b"\x00\x01\x00\x01" + b"x" * 56))),
    ]
    report = analyze_json(pcap(tmp_path, frames))
    assert "mtu.icmp-too-big" not in ids(report)
    assert "mtu.pmtud-blackhole" not in ids(report)


# ======================================================================================
# mtu.pmtud-blackhole
# ======================================================================================

def told_then_keeps_sending_capture(tmp_path, later_size: int):
    """On node A's `-i any` view: pod a sends a 1500-byte segment, cni0's gateway answers ICMP 3/4 with
    MTU 1450, and the flow goes on sending `later_size`-byte segments."""
    first = data_segment(1500, seq=1)
    frames = handshake(MSS_BIG, MSS_BIG) + [native(first), native(ipv4(GW_A, POD_A, icmp_frag_needed(1450, first)))]
    frames += [native(data_segment(later_size, seq=1 + 1460 + i * (later_size - 40))) for i in range(3)]
    return pcap(tmp_path, frames)


def test_pmtud_blackhole_flow_ignores_the_icmp(tmp_path):
    report = analyze_json(told_then_keeps_sending_capture(tmp_path, 1500))
    assert ids(report) == {"mtu.pmtud-blackhole", "mtu.icmp-too-big", "mtu.inner-too-big", "mtu.mss-too-big"}
    finding = assert_triggers(report, "mtu.pmtud-blackhole", count=3)
    assert finding["evidence"]["flows"] == [flow(proto="tcp", src=POD_A, sport=SPORT, dst=POD_B, dport=DPORT,
                                                 reason="after-icmp", packets=3, largest=1500, told_mtu=1450,
                                                 frame=6)]
    assert lines(finding, "flow") == [
        "tcp 10.244.1.5:40000 > 10.244.2.7:80 sent 3 packets of up to 1500 bytes after being told MTU 1450 (frame 6)"]
    assert finding["summary"].startswith("1 flow(s) keep sending or retransmitting segments larger than the path")
    assert the(report, "mtu.icmp-too-big")["evidence"]["messages"][0]["quoted"] == flow(
        proto="tcp", src=POD_A, sport=SPORT, dst=POD_B, dport=DPORT, encap="native")


def test_pmtud_blackhole_near_miss_flow_obeys_the_icmp(tmp_path):
    report = analyze_json(told_then_keeps_sending_capture(tmp_path, 1450))
    assert "mtu.pmtud-blackhole" not in ids(report)
    assert the(report, "mtu.icmp-too-big")["fix"] == "make the sending pods' MTU at most 1450" + FLANNEL


def test_pmtud_blackhole_icmp_quoting_a_tunnel_compares_against_the_reduced_budget(tmp_path):
    """An ICMP quoting a VXLAN packet gives the outer path MTU (1400): the pod flow's inner budget is 1350, so
    1380-byte inners (1430-byte outers) still exceed the path."""
    after = [a_to_b(data_segment(1380, seq=1461 + i * 1340)) for i in range(3)]
    report = analyze_json(icmp_quoting_vxlan_capture(tmp_path, mtu=1400, after=after), "--underlay-mtu", 1500)
    finding = assert_triggers(report, "mtu.pmtud-blackhole", count=3)
    assert lines(finding, "flow") == [
        "tcp 10.244.1.5:40000 > 10.244.2.7:80 sent 3 packets of up to 1380 bytes after being told MTU 1350 (frame 6)"]
    assert (finding["evidence"]["flows"][0]["largest"], finding["evidence"]["flows"][0]["told_mtu"]) == (1380, 1350)


def test_pmtud_blackhole_near_miss_icmp_quoting_a_tunnel_obeyed(tmp_path):
    """The flow drops to 1350-byte inners (1400-byte outers): it obeys the ICMP quoting its VXLAN packet."""
    after = [a_to_b(data_segment(1350, seq=1461 + i * 1310)) for i in range(3)]
    report = analyze_json(icmp_quoting_vxlan_capture(tmp_path, mtu=1400, after=after), "--underlay-mtu", 1500)
    assert ids(report) == {"mtu.icmp-too-big", "mtu.inner-too-big", "mtu.mss-too-big"}


def retransmission_capture(tmp_path, size: int, copies: int = 3, mss: int = MSS_BIG):
    """Pod a's `size`-byte segment (seen on its veth) goes out `copies` times: never acknowledged. The pods
    advertise `mss` (1460: a 1500-MTU pod)."""
    frames = handshake(mss, mss) + [native(data_segment(size, seq=1)) for _ in range(copies)]
    return pcap(tmp_path, frames)


def test_pmtud_blackhole_full_size_segments_retransmitted(tmp_path):
    report = analyze_json(retransmission_capture(tmp_path, 1500))
    assert ids(report) == {"mtu.pmtud-blackhole", "mtu.inner-too-big", "mtu.mss-too-big"}
    finding = assert_triggers(report, "mtu.pmtud-blackhole", count=2)
    assert finding["evidence"]["flows"] == [flow(proto="tcp", src=POD_A, sport=SPORT, dst=POD_B, dport=DPORT,
                                                 encap="native", reason="retransmitted", retransmits=2, largest=1500,
                                                 overlay_mtu=1450)]
    assert lines(finding, "flow") == [
        "tcp 10.244.1.5:40000 > 10.244.2.7:80 retransmitted 2 segments of up to 1500 bytes (overlay MTU 1450)"]
    assert [f["retransmits"] for f in report["flows"] if f["encap"] == "native"] == [2]
    # the error naming the pods carries the retransmissions too
    too_big = the(report, "mtu.inner-too-big")
    assert "2 full-size segments retransmitted" in too_big["summary"]


def test_pmtud_blackhole_near_miss_small_segments_retransmitted(tmp_path):
    """A 1450-MTU pod (MSS 1410) retransmitting segments that fit the overlay: loss, not a black hole."""
    report = analyze_json(retransmission_capture(tmp_path, 1400, mss=MSS_OK))
    assert [f["retransmits"] for f in report["flows"] if f["encap"] == "native"] == [2]
    assert "mtu.pmtud-blackhole" not in ids(report)
    assert report["findings"] == []


# ======================================================================================
# mtu.mss-too-big
# ======================================================================================

def test_mss_too_big_1460_over_vxlan_on_1500_underlay(tmp_path):
    report = analyze_json(pcap(tmp_path, handshake(MSS_BIG, MSS_BIG)))
    finding = assert_triggers(report, "mtu.mss-too-big", count=2)
    assert finding["summary"] == ("pods on 10.244.1.0/24, 10.244.2.0/24 (10.244.1.5, 10.244.2.7) advertise TCP MSS "
                                  "1460 in SYNs against a 1410-byte budget (1500 underlay - overhead - TCP/IP headers)")
    assert finding["evidence"]["budget"] == 1410 and finding["evidence"]["underlay_mtu"] == 1500
    assert lines(finding, "flow") == ["tcp 10.244.1.5:40000 > 10.244.2.7:80 SYN MSS 1460",
                                      "tcp 10.244.2.7:80 > 10.244.1.5:40000 SYN-ACK MSS 1460"]
    assert [(f["src"], f["sport"], f["handshake"], f["mss"], f["budget"]) for f in finding["evidence"]["flows"]] == [
        (POD_A, SPORT, "SYN", 1460, 1410), (POD_B, DPORT, "SYN-ACK", 1460, 1410)]
    assert finding["fix"] == ("set the pod MTU so the MSS is at most 1410, or clamp MSS to 1410 on the nodes"
                              + FLANNEL)


def test_mss_too_big_one_sided_clamping(tmp_path):
    report = analyze_json(pcap(tmp_path, handshake(MSS_OK, MSS_BIG)))
    finding = assert_triggers(report, "mtu.mss-too-big", count=1)
    assert lines(finding, "flow") == ["tcp 10.244.2.7:80 > 10.244.1.5:40000 SYN-ACK MSS 1460"]
    assert finding["summary"] == (
        "pods on 10.244.2.0/24 (10.244.2.7) advertise TCP MSS 1460 in SYN-ACKs against a 1410-byte budget "
        "(1500 underlay - overhead - TCP/IP headers); in 10.244.2.7 <> 10.244.1.5 the other side advertises "
        "1410, which fits (its MTU, MSS clamping or a cached path MTU is smaller: the capture does not show which)")


def test_mss_too_big_near_miss_1410(tmp_path):
    report = analyze_json(pcap(tmp_path, handshake(MSS_OK, MSS_OK)))
    assert "mtu.mss-too-big" not in ids(report)
    assert report["findings"] == []


GENEVE_OPTION = bytes.fromhex("0102030100000000")   # one 8-byte TLV: Geneve overhead 58


def _ipv6_underlay(there: bool):
    src, dst = (NODE6_A, NODE6_B) if there else (NODE6_B, NODE6_A)
    return lambda inner: ethernet(vxlan_packet(src, dst, inner))


TUNNELS = {
    # name: (there, back, TCP MSS budget on a 1500 underlay)
    "vxlan": (a_to_b, b_to_a, 1410),
    "geneve": (lambda i: ethernet(geneve_packet(NODE_A, NODE_B, i)),
               lambda i: ethernet(geneve_packet(NODE_B, NODE_A, i)), 1410),
    "ipip": (lambda i: ethernet(ipip_packet(NODE_A, NODE_B, i)),
             lambda i: ethernet(ipip_packet(NODE_B, NODE_A, i)), 1440),
    "vxlan-over-ipv6": (_ipv6_underlay(True), _ipv6_underlay(False), 1390),
    "geneve-8-byte-options": (lambda i: ethernet(geneve_packet(NODE_A, NODE_B, i, options=GENEVE_OPTION)),
                              lambda i: ethernet(geneve_packet(NODE_B, NODE_A, i, options=GENEVE_OPTION)), 1402),
}


@pytest.mark.parametrize("name", TUNNELS)
@pytest.mark.parametrize("excess", [0, 1])
def test_mss_budget_per_tunnel_class(tmp_path, name, excess):
    """The budget is underlay - class overhead (50 VXLAN/Geneve, 20 IPIP, 70 VXLAN over IPv6, Geneve plus its
    options) - 40."""
    there, back, budget = TUNNELS[name]
    report = analyze_json(pcap(tmp_path, handshake(budget + excess, budget + excess, tunnel=(there, back))))
    if excess:
        finding = assert_triggers(report, "mtu.mss-too-big", count=2)
        assert finding["evidence"]["budget"] == budget
        assert f"MSS {budget + 1} in SYNs against a {budget}-byte budget" in finding["summary"]
    else:
        assert report["findings"] == []


def test_mss_too_big_inner_ipv6_counts_60_bytes_of_headers(tmp_path):
    """IPv6 pods over an IPv4 VXLAN underlay: 1500 - 50 - 60 = 1390."""
    frames = [a_to_b(pod_tcp(POD6_A, POD6_B, flags="S", mss=1391)),
              b_to_a(pod_tcp(POD6_B, POD6_A, DPORT, SPORT, flags="SA", ack=1, mss=1390))]
    report = analyze_json(pcap(tmp_path, frames))
    finding = assert_triggers(report, "mtu.mss-too-big", count=1)
    assert finding["evidence"]["budget"] == 1390
    assert lines(finding, "flow") == ["tcp fd00:10:244:1::5:40000 > fd00:10:244:2::7:80 SYN MSS 1391"]
    assert finding["evidence"]["flows"][0]["src"] == POD6_A and finding["evidence"]["flows"][0]["mss"] == 1391


# ======================================================================================
# capture.offload
# ======================================================================================

def super_frame() -> bytes:
    """A TSO/GRO super-frame as the capture saw it: 4040 bytes of IP with total length 0."""
    return native(ipv4(NODE_A, NODE_B, tcp(22, 50000, flags="PA", seq=1, ack=1, payload=4000), total_length=0))


def test_offload_ip_total_length_zero(tmp_path):
    report = analyze_json(pcap(tmp_path, healthy_conversation() + [super_frame()]))
    finding = assert_triggers(report, "capture.offload", count=1)
    assert finding["summary"].startswith("1 GSO/GRO/TSO super-frames or partially checksummed packets: sizes in "
                                         "this capture are not wire sizes")
    assert finding["evidence"]["largest_outer_ip"] == 4040
    assert finding["evidence"]["failed_checksums_ignored"] == 0
    assert report["capture"]["offload_frames"] == 1 and report["mtu"]["sizes_reliable"] is False
    assert report["mtu"]["underlay_mtu"] == 1500   # a super-frame is no evidence of a jumbo underlay
    assert ids(report) == {"capture.offload"}


def test_offload_partial_udp_checksum(tmp_path):
    frames = healthy_conversation() + [a_to_b(data_segment(100, seq=99999), checksum="partial")]
    report = analyze_json(pcap(tmp_path, frames))
    assert_triggers(report, "capture.offload", count=1)
    assert "tunnel.bad-outer-checksum" not in ids(report)


def test_offload_near_miss_jumbo_underlay_frames_are_real(tmp_path):
    """9000-byte IP packets (a jumbo underlay) are real wire sizes, not super-frames."""
    frames = handshake() + [native(data_segment(9000, src=NODE_A, dst=NODE_B, sport=22, dport=50000))]
    report = analyze_json(pcap(tmp_path, frames))
    assert "capture.offload" not in ids(report)
    assert report["mtu"]["sizes_reliable"] is True and report["mtu"]["underlay_mtu"] == 9000


def gso_on_veth() -> list[bytes]:
    """Node A's `-i any` view with veth GSO on (the Linux default): pod a negotiated MSS 1410, then its
    segments are seen on the veth as 2-MSS super-frames (2860-byte IP packets with a real total length)."""
    return [native(pod_tcp(flags="PA", seq=1 + i * 2820, ack=1, payload=2820)) for i in range(3)]


def gro_on_eth0() -> list[bytes]:
    """Node A's eth0 with GRO on: two VXLAN packets from B merged into one 2910-byte outer packet."""
    return [b_to_a(pod_tcp(POD_B, POD_A, DPORT, SPORT, flags="PA", seq=1 + i * 2820, ack=1, payload=2820))
            for i in range(3)]


@pytest.mark.parametrize("super_frames, flow_text, outer", [
    (gso_on_veth, "tcp 10.244.1.5:40000 > 10.244.2.7:80: 2820-byte segments against an MSS of 1410 (native)", 2860),
    (gro_on_eth0, "tcp 10.244.2.7:80 > 10.244.1.5:40000: 2820-byte segments against an MSS of 1410 (vxlan)", 2910),
], ids=["veth-gso", "eth0-gro"])
def test_offload_super_frames_below_jumbo_size_exceed_the_receivers_mss(tmp_path, super_frames, flow_text, outer):
    """Super-frames with a real IP total length: no stack sends 2820 bytes to a peer that advertised MSS 1410,
    so these sizes are not wire sizes. The underlay MTU is not inferred from them and nothing is an error."""
    report = analyze_json(pcap(tmp_path, handshake() + super_frames()))
    offload = assert_triggers(report, "capture.offload", count=1)
    assert offload["summary"].startswith("1 TCP flow(s) with segments larger than the negotiated MSS: sizes in "
                                         "this capture are not wire sizes")
    assert lines(offload, "flow") == [flow_text]
    assert [(f["largest_segment"], f["mss"]) for f in offload["evidence"]["flows"]] == [(2820, 1410)]
    assert report["mtu"]["sizes_reliable"] is False and report["mtu"]["super_segment_flows"] == [flow_text]
    assert report["mtu"]["underlay_mtu"] == 1500
    assert report["mtu"]["underlay_mtu_basis"] == (
        f"largest outer IP packet seen is {outer} bytes, but offload merged segments in this capture; assuming "
        f"the Ethernet default 1500")
    assert [f for f in report["findings"] if f["severity"] != "info"] == []
    # (that the merged frames' inner-too-big is still reported, as unreliable info: the test below)
    for finding in report["mtu"]["findings"]:
        assert (finding["severity"], finding["reliable"]) == ("info", False), finding
        assert finding["summary"].endswith("(sizes unreliable in this capture: offload super-frames present)")


def test_offload_segment_above_the_receivers_mss_not_the_senders(tmp_path):
    """One-sided MSS: a advertises 1460, b 1410. b's 1460-byte payload to a fits a's MSS (a wire packet: the
    1550-byte outer makes the underlay 1550); a's 1460-byte payload to b exceeds b's MSS (a super-frame)."""
    b_sends = [b_to_a(data_segment(1500, src=POD_B, dst=POD_A, sport=DPORT, dport=SPORT))]
    fits = analyze_json(pcap(tmp_path, handshake(MSS_BIG, MSS_OK) + b_sends, name="b.pcap"))
    assert fits["findings"] == []
    assert fits["mtu"]["sizes_reliable"] is True and fits["mtu"]["underlay_mtu"] == 1550
    merged = analyze_json(pcap(tmp_path, handshake(MSS_BIG, MSS_OK) + [a_to_b(data_segment(1500))], name="a.pcap"))
    assert the(merged, "capture.offload")["evidence"]["flows"] == [
        flow(proto="tcp", src=POD_A, sport=SPORT, dst=POD_B, dport=DPORT, encap="vxlan", largest_segment=1460,
             mss=1410)]
    assert lines(the(merged, "capture.offload"), "flow") == [
        "tcp 10.244.1.5:40000 > 10.244.2.7:80: 1460-byte segments against an MSS of 1410 (vxlan)"]
    assert merged["mtu"]["sizes_reliable"] is False and merged["mtu"]["underlay_mtu"] == 1500
    mss = the(merged, "mtu.mss-too-big")
    assert (mss["severity"], mss["reliable"]) == ("info", False)
    assert [f for f in merged["findings"] if f["severity"] != "info"] == []


def one_sided_mss_vxlan() -> list[bytes]:
    """a advertises 1460, b 1410, and a's 1500-byte segment (1460 payload) goes out over VXLAN: a super-frame."""
    return handshake(MSS_BIG, MSS_OK) + [a_to_b(data_segment(1500))]


@pytest.mark.parametrize("frames", [
    pytest.param(lambda: handshake() + gso_on_veth(), id="veth-gso"),
    pytest.param(lambda: handshake() + gro_on_eth0(), id="eth0-gro"),
    pytest.param(one_sided_mss_vxlan, id="one-sided-mss-vxlan"),
])
def test_offload_assumed_1500_underlay_judges_like_a_given_one(tmp_path, frames):
    """With super-segment flows the underlay MTU is assumed 1500: the findings must be those of
    --underlay-mtu 1500, including the (unreliable, info) inner-too-big of the merged frames."""
    path = pcap(tmp_path, frames())
    assumed, given = analyze_json(path), analyze_json(path, "--underlay-mtu", 1500)
    assert assumed["mtu"]["underlay_mtu"] == given["mtu"]["underlay_mtu"] == 1500
    too_big = the(given, "mtu.inner-too-big")
    assert (too_big["severity"], too_big["reliable"]) == ("info", False)
    assert assumed["findings"] == given["findings"]


def test_offload_near_miss_segments_exactly_at_the_mss(tmp_path):
    """1410-byte payloads against MSS 1410 both ways (the healthy conversation) are wire sizes."""
    report = analyze_json(pcap(tmp_path, healthy_conversation()))
    assert report["mtu"]["sizes_reliable"] is True and report["mtu"]["super_segment_flows"] == []
    assert "capture.offload" not in ids(report)


def test_offload_downgrades_mtu_findings_and_silences_bad_checksums(tmp_path):
    frames = handshake(MSS_BIG, MSS_BIG) + [a_to_b(data_segment(200, seq=1), checksum=0x1234), super_frame()]
    report = analyze_json(pcap(tmp_path, frames))
    assert "tunnel.bad-outer-checksum" not in ids(report)
    offload = the(report, "capture.offload")
    assert offload["evidence"]["failed_checksums_ignored"] == 1
    assert "1 outer checksums fail as an offload artefact, not a fault" in offload["summary"]
    mss = the(report, "mtu.mss-too-big")
    assert (mss["severity"], mss["reliable"]) == ("info", False)
    assert mss["summary"].endswith("(sizes unreliable in this capture: offload super-frames present)")
    assert [f for f in report["findings"] if f["severity"] != "info"] == []
    path = tmp_path / "capture.pcap"
    assert run(path, "-q", "--fail-on", "warning").exit_code == 0
    assert run(path, "-q", "--fail-on", "info").exit_code == 1


# ======================================================================================
# capture.truncated
# ======================================================================================

VXLAN_HEADERS = 14 + 20 + 8 + 8 + 14   # outer Ethernet, IP, UDP, VXLAN, inner Ethernet


def snaplen_capture(tmp_path, snaplen: int):
    frame = a_to_b(data_segment(1450))
    return pcap(tmp_path, healthy_conversation() + [Record(frame, caplen=snaplen, wirelen=len(frame))],
                snaplen=snaplen)


def test_truncated_snaplen_inside_the_inner_ip_header(tmp_path):
    report = analyze_json(snaplen_capture(tmp_path, VXLAN_HEADERS + 10))
    finding = assert_triggers(report, "capture.truncated", count=1)
    assert finding["summary"].startswith("1 packets were cut by the snaplen before their headers ended")
    assert finding["evidence"]["examples"][0]["packet"] == (
        "vxlan 192.168.1.10 > 192.168.1.11, 1514 bytes on the wire, 74 captured")
    assert finding["evidence"]["examples"][0]["ts_iso"] == iso(finding["evidence"]["examples"][0]["ts"])
    assert lines(finding, "example") == ["packet=vxlan 192.168.1.10 > 192.168.1.11, 1514 bytes on the wire, "
                                         "74 captured"]
    assert report["capture"]["truncated"] == 1
    assert report["capture"]["bytes"] == sum(len(f) for f in healthy_conversation()) + 1514


def test_truncated_near_miss_snaplen_after_the_inner_headers(tmp_path):
    """tcpdump -s 128: the payload is cut, every header is whole."""
    report = analyze_json(snaplen_capture(tmp_path, 128))
    assert "capture.truncated" not in ids(report)
    assert report["capture"]["truncated"] == 0 and report["findings"] == []


# ======================================================================================
# capture.malformed
# ======================================================================================

def test_malformed_ip_total_length_beyond_the_frame(tmp_path):
    lying = ethernet(vxlan_packet(NODE_A, NODE_B, data_segment(100), total_length=3000))
    report = analyze_json(pcap(tmp_path, healthy_conversation() + [lying]))
    finding = assert_triggers(report, "capture.malformed", count=1)
    assert finding["summary"].startswith("1 packets have headers that do not parse")
    assert "192.168.1.10 > 192.168.1.11" in finding["evidence"]["examples"][0]["packet"]
    assert report["capture"]["malformed"] == 1


def test_malformed_inner_ihl_below_five(tmp_path):
    bad_inner = ipv4(POD_A, POD_B, udp(5000, 5001, 20), ihl=4)
    report = analyze_json(pcap(tmp_path, healthy_conversation() + [a_to_b(bad_inner)]))
    assert_triggers(report, "capture.malformed", count=1)


def test_malformed_near_miss_ethernet_padding(tmp_path):
    """A 54-byte frame padded to the 60-byte Ethernet minimum is not a lying IP length."""
    frames = healthy_conversation() + [ethernet(ipv4(NODE_A, NODE_B, tcp(22, 50000, flags="A")), pad=True)]
    assert len(frames[-1]) == 60
    report = analyze_json(pcap(tmp_path, frames))
    assert "capture.malformed" not in ids(report) and report["capture"]["malformed"] == 0


# ======================================================================================
# capture.too-deep
# ======================================================================================

def nested_vxlan(depth: int) -> bytes:
    packet = pod_tcp(flags="A", seq=1, ack=1)
    for level in range(depth):
        packet = vxlan_packet(f"192.168.{100 + level}.1", f"192.168.{100 + level}.2", packet, vni=level + 1)
    return ethernet(packet)


def test_too_deep_vxlan_nested_six_levels(tmp_path):
    report = analyze_json(pcap(tmp_path, healthy_conversation() + [nested_vxlan(6)]))
    finding = assert_triggers(report, "capture.too-deep", count=1)
    assert finding["summary"].startswith("1 packets nest tunnels deeper than 4 levels")
    assert finding["evidence"]["examples"][0]["packet"].startswith("vxlan>vxlan>vxlan>vxlan 192.168.105.1 > ")
    assert report["capture"]["too_deep"] == 1


def test_too_deep_near_miss_four_levels(tmp_path):
    report = analyze_json(pcap(tmp_path, healthy_conversation() + [nested_vxlan(4)]))
    assert "capture.too-deep" not in ids(report)
    assert report["encapsulation_chains"]["vxlan>vxlan>vxlan>vxlan"] == 1


# ======================================================================================
# capture.damaged / capture.out-of-order
# ======================================================================================

def test_damaged_file_ends_mid_record(tmp_path):
    frames = healthy_conversation()[:4]
    report = analyze_json(pcap(tmp_path, frames, cut_tail=10))
    finding = assert_triggers(report, "capture.damaged", count=1)
    assert finding["summary"].startswith("the capture file is damaged: file ends mid-record after 3 records")
    assert finding["evidence"]["counters"] == {"truncated_tail": 1}
    assert report["capture"]["packets"] == 3


def test_damaged_near_miss_whole_file(tmp_path):
    report = analyze_json(pcap(tmp_path, healthy_conversation()[:4]))
    assert "capture.damaged" not in ids(report) and report["capture"]["packets"] == 4


def test_out_of_order_timestamps(tmp_path):
    frames = healthy_conversation()
    records = [(BASE_TS + t, frame) for t, frame in zip([0, 2, 1, 3, 4, 5, 6, 7, 8, 9, 10], frames)]
    report = analyze_json(pcap(tmp_path, records))
    finding = assert_triggers(report, "capture.out-of-order", count=1)
    assert "1 record has a timestamp earlier than the record before" in finding["summary"]
    assert "capture.damaged" not in ids(report)


def test_out_of_order_near_miss_equal_timestamps(tmp_path):
    records = [(BASE_TS + (i // 2), frame) for i, frame in enumerate(healthy_conversation())]
    report = analyze_json(pcap(tmp_path, records))
    assert report["findings"] == []


# ======================================================================================
# capture.flow-cap
# ======================================================================================

def many_flows(tmp_path, flows: int):
    frames = [native(ipv4(NODE_A, NODE_B, udp(10000 + i, 53, 20))) for i in range(flows)]
    return pcap(tmp_path, frames)


def test_flow_cap_library(tmp_path):
    report = pcapdiag.analyze(str(many_flows(tmp_path, 150)), flow_cap=100).to_dict()
    check_contract(report)
    finding = assert_triggers(report, "capture.flow-cap", count=50)
    assert finding["evidence"] == {"cap": 100, "evicted_packets": 50, "text": []}
    assert finding["counts_what"] == "flows"
    assert finding["summary"] == ("the flow table cap (100) was hit: 50 smallest flows (50 packets) are not listed")
    assert len(report["flows"]) == 100


def test_flow_cap_cli(tmp_path):
    report = analyze_json(many_flows(tmp_path, 150), "--flow-cap", 100)
    assert_triggers(report, "capture.flow-cap", count=50)


def test_flow_cap_near_miss_exactly_at_the_cap(tmp_path):
    report = pcapdiag.analyze(str(many_flows(tmp_path, 100)), flow_cap=100).to_dict()
    assert "capture.flow-cap" not in ids(report) and len(report["flows"]) == 100


# ======================================================================================
# capture.address-cap
# ======================================================================================

def many_pods(tmp_path, pods: int):
    """One pod per flow behind node A: `pods` distinct inner sources in VXLAN, answered by pod b."""
    frames = []
    for i in range(pods):
        pod = f"10.244.{1 + i // 250}.{1 + i % 250}"
        frames.append(a_to_b(pod_tcp(pod, POD_B, flags="A", seq=1, ack=1)))
        frames.append(b_to_a(pod_tcp(POD_B, pod, DPORT, SPORT, flags="A", seq=1, ack=1)))
    return pcap(tmp_path, frames)


def test_address_cap_is_reported(tmp_path):
    report = analyze_json(many_pods(tmp_path, 60), "--address-cap", 50)
    # 61 senders (60 pods behind A, b behind B) and 61 receivers: 11 of each beyond the cap of 50
    finding = assert_triggers(report, "capture.address-cap", count=22)
    assert finding["evidence"] == {"cap": 50, "text": []}
    assert finding["summary"] == ("the address cap (50 node/pod pairings) was hit: 22 more were seen, so node "
                                  "pod lists are incomplete")


def test_address_cap_near_miss_within_the_cap(tmp_path):
    report = analyze_json(many_pods(tmp_path, 10), "--address-cap", 50)
    assert "capture.address-cap" not in ids(report)
    [node_a] = [n for n in report["nodes"] if n["ip"] == NODE_A]
    assert len(node_a["pods"]) == 10


# ======================================================================================
# tunnel.one-way
# ======================================================================================

def one_way_udp(packets: int, back: int = 0) -> list[bytes]:
    frames = [a_to_b(ipv4(POD_A, POD_B, udp(5000, 5001, 100))) for _ in range(packets)]
    return frames + [b_to_a(ipv4(POD_B, POD_A, udp(5001, 5000, 100))) for _ in range(back)]


def test_one_way_tunnel_ten_packets_none_back(tmp_path):
    report = analyze_json(pcap(tmp_path, one_way_udp(10)))
    finding = assert_triggers(report, "tunnel.one-way", count=1)
    assert finding["summary"] == "vxlan 192.168.1.10 > 192.168.1.11 carries 10 packets with none coming back"
    assert finding["evidence"]["node_pairs"] == [{"type": "vxlan", "src": NODE_A, "dst": NODE_B, "packets": 10}]
    assert lines(finding, "node_pair") == ["192.168.1.10 > 192.168.1.11 (vxlan, 10 packets)"]
    assert finding["evidence"]["unanswered_syns"] == [] and finding["evidence"]["unanswered_syn_flows"] == 0


def test_one_way_inner_syn_without_synack(tmp_path):
    report = analyze_json(pcap(tmp_path, [a_to_b(pod_tcp(flags="S", mss=MSS_OK))] + one_way_udp(0, back=1)))
    finding = assert_triggers(report, "tunnel.one-way", count=1)
    assert finding["summary"] == "1 inner TCP SYN(s) with nothing coming back"
    assert finding["evidence"]["unanswered_syns"] == [flow(proto="tcp", src=POD_A, sport=SPORT, dst=POD_B, dport=DPORT,
                                                           encap="vxlan", outer_src=NODE_A, outer_dst=NODE_B, vni=1)]
    assert finding["evidence"]["node_pairs"] == []


@pytest.mark.parametrize("frames", [
    pytest.param(lambda: one_way_udp(9), id="nine-packets"),
    pytest.param(lambda: one_way_udp(10, back=1), id="two-way"),
    pytest.param(lambda: handshake(), id="syn-answered"),
])
def test_one_way_near_miss(tmp_path, frames):
    report = analyze_json(pcap(tmp_path, frames()))
    assert "tunnel.one-way" not in ids(report)
    assert report["findings"] == []


def test_one_way_near_miss_syn_answered_by_rst(tmp_path):
    """A SYN refused through the tunnel (RST-ACK back): traffic plainly comes back."""
    frames = [a_to_b(pod_tcp(flags="S", mss=MSS_OK)), b_to_a(pod_tcp(POD_B, POD_A, DPORT, SPORT, flags="RA", ack=1))]
    report = analyze_json(pcap(tmp_path, frames))
    assert "tunnel.one-way" not in ids(report)
    assert report["findings"] == []


# ======================================================================================
# tunnel.nonstandard-port
# ======================================================================================

def port_9999_capture(tmp_path):
    frames = handshake(tunnel=(lambda i: a_to_b(i, port=9999), lambda i: b_to_a(i, port=9999)))
    return pcap(tmp_path, frames)


def test_nonstandard_port_vxlan_on_9999(tmp_path):
    report = analyze_json(port_9999_capture(tmp_path))
    finding = assert_triggers(report, "tunnel.nonstandard-port", count=3)
    assert finding["summary"] == "recognised by header plausibility, not by port: VXLAN on UDP 9999 (3 packets)"
    assert finding["evidence"]["ports"] == [{"type": "vxlan", "udp_port": 9999, "packets": 3}]
    assert finding["fix"] == "pass --vxlan-port 9999 to decode it by port"
    assert [(e["type"], e["udp_port"], e["packets"]) for e in report["encapsulation"]] == [("vxlan", 9999, 3)]


def test_nonstandard_port_near_miss_port_given_or_standard(tmp_path):
    given = analyze_json(port_9999_capture(tmp_path), "--vxlan-port", 9999)
    assert given["findings"] == []
    assert [(e["type"], e["udp_port"]) for e in given["encapsulation"]] == [("vxlan", 9999)]
    iana = handshake(tunnel=(lambda i: a_to_b(i, port=4789), lambda i: b_to_a(i, port=4789)))
    assert analyze_json(pcap(tmp_path, iana, name="iana.pcap"))["findings"] == []


def geneve_7000(tmp_path, *args):
    frames = handshake(tunnel=(
        lambda i: ethernet(geneve_packet(NODE_A, NODE_B, i, port=7000, options=GENEVE_OPTION)),
        lambda i: ethernet(geneve_packet(NODE_B, NODE_A, i, port=7000, options=GENEVE_OPTION))))
    return analyze_json(pcap(tmp_path, frames), *args)


def test_nonstandard_port_geneve_on_7000(tmp_path):
    report = geneve_7000(tmp_path)
    finding = assert_triggers(report, "tunnel.nonstandard-port", count=3)
    assert finding["summary"] == "recognised by header plausibility, not by port: GENEVE on UDP 7000 (3 packets)"
    assert finding["evidence"]["ports"] == [{"type": "geneve", "udp_port": 7000, "packets": 3}]
    assert finding["fix"] == "nothing to do: it is decoded by plausibility (there is no port option for it)"
    assert "--vxlan-port" not in finding["fix"]


def test_nonstandard_port_vxlan_fix_names_every_port(tmp_path):
    frames = (handshake(tunnel=(lambda i: a_to_b(i, port=9999), lambda i: b_to_a(i, port=9999)))
              + [a_to_b(pod_tcp(flags="A", seq=1, ack=1), port=7777)])
    finding = the(analyze_json(pcap(tmp_path, frames)), "tunnel.nonstandard-port")
    assert finding["count"] == 4
    assert finding["summary"] == ("recognised by header plausibility, not by port: VXLAN on UDP 7777 (1 packets), "
                                  "VXLAN on UDP 9999 (3 packets)")
    assert finding["fix"] == "pass --vxlan-port 7777 --vxlan-port 9999 to decode it by port"


def test_nonstandard_port_following_a_vxlan_fix_for_geneve_would_lose_the_pods(tmp_path):
    """Why the Geneve fix must not say --vxlan-port: --vxlan-port 7000 on Geneve traffic misdecodes it."""
    report = geneve_7000(tmp_path, "--vxlan-port", 7000)
    assert [(e["type"], e["udp_port"]) for e in report["encapsulation"]] == [("vxlan", 7000)]
    assert POD_A not in {f["src"] for f in report["flows"]}


def test_nonstandard_port_near_miss_flannel_udp_backend(tmp_path):
    """flannel's UDP backend (bare IP in UDP 8285) is 'udp-tunnel': recognised by plausibility by definition."""
    frames = [ethernet(udp_ip_packet(NODE_A, NODE_B, pod_tcp(flags="S", mss=1432))),
              ethernet(udp_ip_packet(NODE_B, NODE_A, pod_tcp(POD_B, POD_A, DPORT, SPORT, flags="SA", ack=1,
                                                             mss=1432)))]
    report = analyze_json(pcap(tmp_path, frames))
    assert [(e["type"], e["udp_port"]) for e in report["encapsulation"]] == [("udp-tunnel", 8285)]
    assert "tunnel.nonstandard-port" not in ids(report)
    assert report["findings"] == []


# ======================================================================================
# tunnel.bad-outer-checksum
# ======================================================================================

def test_bad_outer_checksum(tmp_path):
    good = a_to_b(data_segment(200, seq=1), checksum="good")
    outer = vxlan_packet(NODE_A, NODE_B, data_segment(200, seq=161), checksum="good")
    right = int.from_bytes(outer[26:28], "big")
    bad = ethernet(outer[:26] + (right ^ 0x5555).to_bytes(2, "big") + outer[28:])
    report = analyze_json(pcap(tmp_path, handshake() + [good, bad]))
    finding = assert_triggers(report, "tunnel.bad-outer-checksum", count=1)
    assert finding["summary"].startswith("1 of 2 outer UDP checksums fail; only trustworthy in a capture taken on "
                                         "the receiving side")
    assert finding["evidence"]["examples"][0]["packet"] == (
        "vxlan 192.168.1.10 > 192.168.1.11 (inner 10.244.1.5 > 10.244.2.7), 264 bytes on the wire, 264 captured")


def test_bad_outer_checksum_0xffff_that_is_wrong(tmp_path):
    frame = a_to_b(data_segment(200, seq=1), checksum=0xFFFF)
    report = analyze_json(pcap(tmp_path, handshake() + [frame]))
    assert_triggers(report, "tunnel.bad-outer-checksum", count=1)


def test_bad_outer_checksum_ipv6_underlay(tmp_path):
    """VXLAN over IPv6 checks against the IPv6 pseudo-header (RFC 8200 8.1)."""
    def there(checksum):
        return lambda inner: ethernet(vxlan_packet(NODE6_A, NODE6_B, inner, checksum=checksum))

    def back(inner):
        return ethernet(vxlan_packet(NODE6_B, NODE6_A, inner, checksum="good"))

    good = analyze_json(pcap(tmp_path, handshake(tunnel=(there("good"), back)), name="good.pcap"))
    assert "tunnel.bad-outer-checksum" not in ids(good)
    bad = analyze_json(pcap(tmp_path, handshake(tunnel=(there(0x1234), back)), name="bad.pcap"))
    finding = assert_triggers(bad, "tunnel.bad-outer-checksum", count=2)
    assert finding["summary"].startswith("2 of 3 outer UDP checksums fail")


def zero_sum_vxlan_packet() -> bytes:
    """A VXLAN packet whose correct UDP checksum computes to 0, so it is sent as 0xffff (RFC 768)."""
    inner = ipv4(POD_A, POD_B, udp(5000, 5001, 100))
    outer = bytearray(vxlan_packet(NODE_A, NODE_B, inner, checksum="zero"))
    # adjust two payload bytes (the last of the inner UDP payload) so the datagram sums to 0xffff
    datagram = bytes(outer[20:])
    want = correct_udp_checksum(NODE_A, NODE_B, datagram)   # value that makes the sum whole
    outer[-2:] = want.to_bytes(2, "big") if want != 0xFFFF else b"\x00\x00"
    assert correct_udp_checksum(NODE_A, NODE_B, bytes(outer[20:])) == 0xFFFF
    outer[26:28] = b"\xff\xff"
    return ethernet(bytes(outer))


@pytest.mark.parametrize("checksum", ["zero", "good", "0xffff-for-zero"])
def test_bad_outer_checksum_near_miss(tmp_path, checksum):
    if checksum == "0xffff-for-zero":
        extra = [zero_sum_vxlan_packet()]
    else:
        extra = [a_to_b(data_segment(200, seq=1), checksum=checksum)]
    report = analyze_json(pcap(tmp_path, handshake() + extra))
    assert "tunnel.bad-outer-checksum" not in ids(report)
    assert report["findings"] == []


# ======================================================================================
# topology.pod-ip-conflict
# ======================================================================================

def conflict_capture(tmp_path, second_vni: int):
    frames = [a_to_b(ipv4(POD_A, POD_B, udp(5000, 5001, 100)), vni=1),
              b_to_a(ipv4(POD_B, POD_A, udp(5001, 5000, 100)), vni=1),
              ethernet(vxlan_packet(NODE_C, NODE_B, ipv4(POD_A, POD_B, udp(5002, 5001, 100)), vni=second_vni)),
              ethernet(vxlan_packet(NODE_B, NODE_C, ipv4(POD_B, POD_A, udp(5001, 5002, 100)), vni=second_vni))]
    return pcap(tmp_path, frames)


def test_pod_ip_conflict_same_vni(tmp_path):
    report = analyze_json(conflict_capture(tmp_path, second_vni=1))
    finding = assert_triggers(report, "topology.pod-ip-conflict", count=1)
    assert finding["summary"] == "pod IP 10.244.1.5 appears behind 2 nodes (192.168.1.10, 192.168.1.12)"
    assert finding["evidence"]["conflicts"] == [{"pod": POD_A, "vni": 1, "nodes": [NODE_A, NODE_C]}]
    assert report["pod_ip_conflicts"] == finding["evidence"]["conflicts"]
    assert lines(finding, "conflict") == ["pod=10.244.1.5, vni=1, nodes=['192.168.1.10', '192.168.1.12']"]


def test_pod_ip_conflict_near_miss_different_vnis(tmp_path):
    report = analyze_json(conflict_capture(tmp_path, second_vni=2))
    assert "topology.pod-ip-conflict" not in ids(report)
    assert report["findings"] == []


# ======================================================================================
# --fail-on exit codes
# ======================================================================================

@pytest.mark.parametrize("capture, fail_on, exit_code", [
    ("error", "error", 1), ("error", "warning", 1), ("error", "info", 1), ("error", None, 0),
    ("warning", "error", 0), ("warning", "warning", 1), ("warning", "info", 1),
    ("info", "error", 0), ("info", "warning", 0), ("info", "info", 1),
    ("healthy", "error", 0), ("healthy", "warning", 0), ("healthy", "info", 0),
])
def test_fail_on_exit_codes(tmp_path, capture, fail_on, exit_code):
    path = {"error": lambda: conflict_capture(tmp_path, second_vni=1),
            "warning": lambda: pcap(tmp_path, one_way_udp(10)),
            "info": lambda: port_9999_capture(tmp_path),
            "healthy": lambda: pcap(tmp_path, healthy_conversation())}[capture]()
    worst = {f["severity"] for f in analyze_json(path)["findings"]}
    assert worst == ({capture} if capture != "healthy" else set())
    args = ["-q"] + (["--fail-on", fail_on] if fail_on else [])
    for output_format in ("text", "json"):
        result = run(path, "--format", output_format, *args)
        assert result.exit_code == exit_code, result.output


# ======================================================================================
# silent loss: mtu.path-blackhole and path.packet-loss (analyzers/delivery.py)
# ======================================================================================

def silent_blackhole_capture(tmp_path, acked_size=400, lost_size=1450, retries=4):
    """Pod a's request (acked_size bytes) is acknowledged; its full-size segments are sent, the first again
    and again with backoff, and never acknowledged: no ICMP anywhere."""
    frames = [(BASE_TS + 0.001 * i, f) for i, f in enumerate(handshake())]
    frames.append((BASE_TS + 0.01, a_to_b(data_segment(acked_size))))
    acked = 1 + acked_size - 40
    frames.append((BASE_TS + 0.011, b_to_a(pod_tcp(POD_B, POD_A, DPORT, SPORT, flags="A", seq=1, ack=acked))))
    payload = lost_size - 40
    frames += [(BASE_TS + 0.02 + 0.001 * i, a_to_b(data_segment(lost_size, seq=acked + i * payload)))
               for i in range(4)]
    ts, delay = BASE_TS + 0.02, 0.2
    for _ in range(retries):
        ts += delay
        frames.append((ts, a_to_b(data_segment(lost_size, seq=acked))))
        delay *= 2
    return pcap(tmp_path, frames)


def test_path_blackhole_big_segments_never_acknowledged_small_ones_are(tmp_path):
    report = analyze_json(silent_blackhole_capture(tmp_path))
    finding = assert_triggers(report, "mtu.path-blackhole", count=4 + 4)
    [pair] = finding["evidence"]["node_pairs"]
    assert (pair["type"], pair["src"], pair["dst"], pair["side"]) == ("vxlan", NODE_A, NODE_B, "sender")
    assert (pair["carried_inner"], pair["carried_outer"], pair["lost_inner"], pair["lost_outer"]) == \
        (400, 450, 1450, 1500)
    assert pair["path_mtu_window"] == [450, 1499]
    assert finding["fix"].startswith(f"the path between {NODE_A} and {NODE_B} drops packets larger than 450 bytes")
    assert finding["evidence"]["flows"][0]["src"] == POD_A
    assert report["delivery"]["size_windows"][0]["largest_delivered"] == 400


def test_path_blackhole_near_miss_no_retransmission(tmp_path):
    """The capture ended before the ACK: big segments sent once, never repeated."""
    assert "mtu.path-blackhole" not in ids(analyze_json(silent_blackhole_capture(tmp_path, retries=0)))


def lossy_capture(tmp_path, segments=40, lost_every=4):
    """Full-size segments from pod a; every `lost_every`th is retransmitted 0.3 s later, and all are
    acknowledged: loss at every size, not an MTU fault."""
    frames, ts, seq = handshake(), BASE_TS, 1
    frames = [(ts + 0.001 * i, f) for i, f in enumerate(frames)]
    for i in range(segments):
        ts += 0.01
        frames.append((ts, a_to_b(data_segment(1450, seq=seq))))
        if i % lost_every == 0:
            frames.append((ts + 0.3, a_to_b(data_segment(1450, seq=seq))))
        seq += 1410
        frames.append((ts + 0.301, b_to_a(pod_tcp(POD_B, POD_A, DPORT, SPORT, flags="A", seq=1, ack=seq))))
    return pcap(tmp_path, sorted(frames, key=lambda item: item[0]))


def test_packet_loss_retransmissions_spread_over_a_direction(tmp_path):
    report = analyze_json(lossy_capture(tmp_path))
    finding = assert_triggers(report, "path.packet-loss", count=10)
    [pair] = finding["evidence"]["node_pairs"]
    assert (pair["src"], pair["dst"], pair["tcp_segments"], pair["retransmits"]) == (NODE_A, NODE_B, 50, 10)
    assert "mtu.path-blackhole" not in ids(report)


def test_packet_loss_near_miss_a_healthy_rate(tmp_path):
    assert "path.packet-loss" not in ids(analyze_json(lossy_capture(tmp_path, segments=400, lost_every=100)))


# ======================================================================================
# every catalogue entry is covered here, and both decoders agree on every capture
# ======================================================================================

def wireguard_handshake(src, dst, message: int, sender: int, receiver: int = 0) -> bytes:
    """A WireGuard handshake message (whitepaper 5.4.2-5.4.7: type, three zero bytes, little-endian indices, then
    opaque bytes to the message's fixed size) between two nodes on Cilium's port 51871, in Ethernet."""
    size = {1: 148, 2: 92, 3: 64}[message]
    indices = struct.pack("<I", sender) if message == 1 else struct.pack("<II", sender, receiver) if message == 2 \
        else struct.pack("<I", receiver)
    body = bytes([message, 0, 0, 0]) + indices
    return ethernet(ipv4(src, dst, udp(51871, 51871, body + bytes(size - len(body)))))


def unanswered_wireguard_capture(tmp_path, answered: bool = False):
    """Node A asks node B for a WireGuard handshake three times, 5 s apart (the retry timer); B answers the
    third when `answered`."""
    frames = [(BASE_TS + 5 * n, wireguard_handshake(NODE_A, NODE_B, 1, 0x100 + n)) for n in range(3)]
    if answered:
        frames.append((BASE_TS + 10.001, wireguard_handshake(NODE_B, NODE_A, 2, 0x900, 0x102)))
    return pcap(tmp_path, frames)


def test_handshake_incomplete_wireguard_peer_never_answers(tmp_path):
    finding = assert_triggers(analyze_json(unanswered_wireguard_capture(tmp_path)), "tunnel.handshake-incomplete", 3)
    (pair,) = finding["evidence"]["pairs"]
    assert {key: pair[key] for key in ("tunnel", "src", "dst", "port", "sent", "unanswered", "severity", "frames")} == \
        {"tunnel": "wireguard", "src": NODE_A, "dst": NODE_B, "port": 51871, "sent": 3, "unanswered": 3,
         "severity": "error", "frames": [1, 2, 3]}
    assert (pair["first"], pair["last"], pair["first_iso"]) == (BASE_TS, BASE_TS + 10, iso(BASE_TS))
    assert finding["fix"].startswith(f"let UDP 51871 through from {NODE_A} to {NODE_B}")


def test_handshake_incomplete_near_miss_retries_then_answered(tmp_path):
    """Two lost initiations before the peer answers the third: a peer coming up, not a blocked port."""
    report = analyze_json(unanswered_wireguard_capture(tmp_path, answered=True))
    assert ids(report) == set()
    (pair,) = report["sessions"]["pairs"]
    assert (pair["initiations"], pair["handshakes"], pair["unanswered_initiations"]) == (3, 1, 2)


def looped_tunnel_capture(tmp_path):
    """B's VXLAN to A carrying A's VXLAN to B (the nodes loop tunnel packets back in): tests/test_real_nested.py."""
    data = pod_tcp(flags="PA", seq=1, ack=1, payload=100)
    return pcap(tmp_path, handshake() + [ethernet(vxlan_packet(NODE_B, NODE_A, vxlan_packet(NODE_A, NODE_B, data)))])


def erspan_capture(tmp_path):
    """A switch mirroring the healthy conversation to a collector in ERSPAN type II: tests/test_real_mirror.py."""
    body = [struct.pack(">HHI", 0x1000, 0x88BE, n) + struct.pack(">HHI", 0x1000, 7, n) + frame
            for n, frame in enumerate(healthy_conversation())]
    return pcap(tmp_path, [ethernet(ipv4("10.0.0.1", "10.0.0.9", gre, proto=47)) for gre in body])


TRIGGERS = {
    "mtu.inner-too-big": lambda p: (too_big_from_pod_capture(p), ()),
    "mtu.inner-fragmented": lambda p: (inner_fragments_capture(p, 2000, cuts=(1500, 1450)), ()),
    "mtu.outer-fragmented": lambda p: (pcap(p, handshake(MSS_BIG, MSS_BIG) + [ethernet(f) for f in fragments(
        vxlan_packet(NODE_A, NODE_B, data_segment(1500), df=False), 1500)]), ()),
    "mtu.icmp-too-big": lambda p: (icmp_quoting_vxlan_capture(p), ("--underlay-mtu", 1500)),
    "mtu.pmtud-blackhole": lambda p: (told_then_keeps_sending_capture(p, 1500), ()),
    "mtu.mss-too-big": lambda p: (pcap(p, handshake(MSS_OK, MSS_BIG)), ()),
    "capture.offload": lambda p: (pcap(p, healthy_conversation() + [super_frame()]), ()),
    "capture.truncated": lambda p: (snaplen_capture(p, VXLAN_HEADERS + 10), ()),
    "capture.malformed": lambda p: (pcap(p, healthy_conversation() + [ethernet(
        vxlan_packet(NODE_A, NODE_B, data_segment(100), total_length=3000))]), ()),
    "capture.too-deep": lambda p: (pcap(p, healthy_conversation() + [nested_vxlan(6)]), ()),
    "capture.damaged": lambda p: (pcap(p, healthy_conversation()[:4], cut_tail=10), ()),
    "capture.out-of-order": lambda p: (pcap(p, [(BASE_TS + t, f) for t, f in zip(
        [0, 2, 1, 3, 4, 5, 6, 7, 8, 9, 10], healthy_conversation())]), ()),
    "capture.flow-cap": lambda p: (many_flows(p, 150), ("--flow-cap", 100)),
    "capture.address-cap": lambda p: (many_pods(p, 60), ("--address-cap", 50)),
    "tunnel.one-way": lambda p: (pcap(p, one_way_udp(10)), ()),
    "tunnel.nonstandard-port": lambda p: (port_9999_capture(p), ()),
    "tunnel.bad-outer-checksum": lambda p: (pcap(p, handshake() + [a_to_b(data_segment(200), checksum=0x1234)]), ()),
    "tunnel.nested-loop": lambda p: (looped_tunnel_capture(p), ()),
    "tunnel.port-mirror": lambda p: (erspan_capture(p), ()),
    "tunnel.handshake-incomplete": lambda p: (unanswered_wireguard_capture(p), ()),
    "topology.pod-ip-conflict": lambda p: (conflict_capture(p, second_vni=1), ()),
    "mtu.path-blackhole": lambda p: (silent_blackhole_capture(p), ()),
    "path.packet-loss": lambda p: (lossy_capture(p), ()),
}


# what else each minimal trigger legitimately raises (anything more is a false alarm)
# (1500-MTU pods send 1500-byte packets and advertise MSS 1460, over the 1410 budget: mtu.mss-too-big)
ALSO = {
    "mtu.inner-too-big": {"mtu.mss-too-big"},
    "mtu.outer-fragmented": {"mtu.inner-too-big", "mtu.mss-too-big"},   # the 1500-byte inner does not fit 1450
    "mtu.icmp-too-big": {"mtu.inner-too-big", "mtu.mss-too-big"},       # the quoted 1500-byte inner, told 1500
    "mtu.pmtud-blackhole": {"mtu.inner-too-big", "mtu.icmp-too-big", "mtu.mss-too-big"},
}


# the ids one capture's analysis raises (cluster and correlation findings: tests/test_wire*.py)
BUILT = sorted(spec.id for spec in SPECS if spec.check not in EXTERNAL_CHECKS)


def test_every_catalogue_id_has_a_minimal_trigger():
    assert set(TRIGGERS) == set(BUILT)


@pytest.mark.parametrize("finding_id", BUILT)
def test_decoders_agree_on_the_minimal_trigger(tmp_path, finding_id):
    """`--decoder fast` (the default) and `--decoder reference` must raise the same findings."""
    path, args = TRIGGERS[finding_id](tmp_path)
    fast = analyze_json(path, *args)
    reference = analyze_json(path, *args, "--decoder", "reference")
    assert ids(fast) == {finding_id} | ALSO.get(finding_id, set())
    assert fast["findings"] == reference["findings"]
    assert fast["flows"] == reference["flows"]
