"""Encrypted overlays through the decoders and the analysis (issue 17): the lab captures of
sample_pcaps/encrypted classified as their truth.json (counted with tshark) says, their overhead measured as a
range, the MTU faults found on the faulty ones and no error on the healthy ones; an ICMP too-big quoting a
WireGuard packet read as one. (The decoders' agreement on these packets: test_differential and
test_properties.)"""
from __future__ import annotations

import collections
import json

import pytest

import pcapdiag
from conftest import SAMPLES
from pcapdiag.capture import open_capture
from pcapdiag.decode import ReferenceDecoder
from pcapdiag.decode.fast import FastDecoder
from pcapdiag.testing import packets as P
from pcapdiag.testing.files import write_pcap

ENCRYPTED = SAMPLES / "encrypted"
TRUTH = json.loads((ENCRYPTED / "truth.json").read_text())
WIREGUARD = sorted(name for name, entry in TRUTH.items() if entry["kind"] == "wireguard")
IPSEC = sorted(name for name, entry in TRUTH.items() if entry["kind"] != "wireguard")
HEALTHY = ["wg-healthy.pcap", "wg-ipv6-underlay.pcap", "esp-tunnel.pcap", "esp-in-udp-4500.pcap"]
TSHARK_NAMES = {"initiation": "initiation", "response": "response", "cookie-reply": "cookie_reply",
                "transport-data": "transport_data"}


def facts_of(name, decoder=FastDecoder):
    with open_capture(str(ENCRYPTED / name)) as capture:
        batches = [decoder().decode_batch(batch) for batch in capture.batches(1 << 16)]
    assert len(batches) == 1
    return batches[0]


def report_of(name):
    return pcapdiag.analyze(str(ENCRYPTED / name)).to_dict()


@pytest.mark.parametrize("name", WIREGUARD)
@pytest.mark.parametrize("decoder", [FastDecoder, ReferenceDecoder], ids=["fast", "reference"])
def test_wireguard_captures_are_classified_as_tshark_counts(name, decoder):
    truth, facts = TRUTH[name]["measured"], facts_of(name, decoder)
    messages = collections.Counter(facts["crypto_msg"][facts["crypto_kind"] == "wireguard"].tolist())
    assert {TSHARK_NAMES[k]: v for k, v in messages.items()} == {k: v for k, v in truth["wireguard_messages"].items()
                                                                  if v}
    # every frame of the tunnel is of the class: the non-first outer fragments too (of their datagram)
    wireguard = facts["outer_class"] == "wireguard"
    assert wireguard.sum() == sum(truth["wireguard_messages"].values()) + truth["outer_fragments"] // 2
    assert set(facts["tunnel_port"][wireguard].tolist()) == {TRUTH[name]["udp_port"]}
    assert not facts["by_plausibility"][wireguard].any()       # on the CNIs' WireGuard ports
    responses = facts["crypto_msg"] == "response"
    assert facts["crypto_reply"].tolist() == responses.tolist()
    sessions = sorted(f"0x{s:08x}<->0x{r:08x}" for s, r in zip(facts["crypto_sender"][responses].tolist(),
                                                             facts["crypto_receiver"][responses].tolist()))
    assert sessions == truth["sessions_by_receiver_index"]
    # the pods are hidden: the innermost address seen is the node's own
    assert (facts["inner_src"][wireguard] == facts["outer_src"][wireguard]).all()


@pytest.mark.parametrize("name", IPSEC)
@pytest.mark.parametrize("decoder", [FastDecoder, ReferenceDecoder], ids=["fast", "reference"])
def test_ipsec_captures_are_classified_as_tshark_counts(name, decoder):
    truth, facts = TRUTH[name]["measured"], facts_of(name, decoder)
    kinds = collections.Counter(zip(facts["outer_class"].tolist(), facts["crypto_kind"].tolist()))
    assert kinds[("esp", "esp")] == truth["esp_packets"] == (facts["outer_class"] == "esp").sum()
    assert kinds[("native", "ike")] == sum(truth["ike_messages_by_exchange_type_and_port"].values())
    assert kinds[("native", "nat-keepalive")] == truth["nat_keepalives"]
    esp = facts["crypto_kind"] == "esp"
    assert sorted({f"0x{spi:08x}" for spi in facts["crypto_receiver"][esp].tolist()}) == truth["spis"]
    assert set(facts["tunnel_port"][esp].tolist()) <= {-1, 4500}
    assert (facts["tunnel_port"][esp] == 4500).sum() == truth["esp_in_udp"]
    ike = facts["crypto_kind"] == "ike"
    # every IKE request here is answered but the unanswered capture's: the R flag marks the answers
    assert facts["crypto_reply"][ike].sum() == (0 if name == "ike-unanswered.pcap" else ike.sum() // 2)


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_overhead_is_the_range_the_truth_gives(name):
    truth = TRUTH[name]
    entries = [e for e in report_of(name)["encapsulation"] if e["type"] in ("wireguard", "esp")]
    if truth["kind"] == "ike":        # IKE alone is the nodes' own UDP: no tunnel
        assert entries == []
        return
    (entry,) = entries
    fixed, (low, high) = truth["overhead"]["fixed"], truth["overhead"]["padding"]
    assert entry["overhead_range"] == [fixed + low, fixed + high] == [entry["nominal_overhead"], fixed + high]
    assert "pods behind them are not visible" in entry["pods_hidden"]
    if entry["type"] == "wireguard" and truth["measured"]["wireguard_messages"]["transport_data"]:
        assert entry["device_mtu_seen"] == truth["wg_mtu"]


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_encrypted_captures_raise_no_error(name):
    report = report_of(name)
    assert [f["id"] for f in report["findings"] if f["severity"] == "error"] == []
    # the node pair is the topology; the pods behind it are not guessed
    nodes = {node["ip"]: node for node in report["nodes"]}
    assert set(nodes) == set(TRUTH[name]["nodes"].values())
    assert all(node["pods"] == [] and len(node["peers"]) == 1 for node in nodes.values())


def test_a_wireguard_device_at_the_underlay_mtu_is_found():
    """wg-device-mtu-1500: 1500-byte pod packets + 60 do not fit the 1500 underlay, so the node fragments
    its WireGuard packets."""
    report = report_of("wg-device-mtu-1500.pcap")
    errors = {f["id"]: f for f in report["findings"] if f["severity"] == "error"}
    assert set(errors) == {"mtu.inner-too-big", "mtu.outer-fragmented"}
    assert errors["mtu.outer-fragmented"]["count"] == TRUTH["wg-device-mtu-1500.pcap"]["measured"]["outer_fragments"]
    too_big = errors["mtu.inner-too-big"]
    assert too_big["evidence"]["largest_inner"] == 1500 and too_big["evidence"]["overlay_mtu"] == 1440
    assert "hidden by the encryption" in too_big["summary"]


def test_icmp_too_big_quoting_a_wireguard_packet(tmp_path):
    """A router on the underlay answers a full WireGuard packet with frag-needed 1400: the quote is read as
    WireGuard, the pods' budget is 1400 - 60, and the tunnel that keeps sending more is a black hole."""
    node_a, node_b, router = "192.168.71.11", "192.168.71.12", "192.168.71.1"
    big = P.wireguard_packet(node_a, node_b, P.wireguard(4, 1420), df=True)
    frames = [P.ethernet(P.wireguard_packet(node_a, node_b, P.wireguard(1))),
              P.ethernet(P.wireguard_packet(node_b, node_a, P.wireguard(2))),
              P.ethernet(big), P.ethernet(P.ipv4(router, node_a, P.icmp_frag_needed(1400, big)))]
    frames += [P.ethernet(P.wireguard_packet(node_a, node_b, P.wireguard(4, 1420, counter=n), df=True))
               for n in range(2, 6)]
    report = pcapdiag.analyze(str(write_pcap(tmp_path / "wg-icmp.pcap", frames))).to_dict()
    findings = {f["id"]: f for f in report["findings"]}
    icmp = findings["mtu.icmp-too-big"]
    assert icmp["evidence"]["messages"][0]["quoted_encap"] == "wireguard"
    assert icmp["evidence"]["pod_mtu"] == 1400 - 60
    blackhole = findings["mtu.pmtud-blackhole"]["evidence"]["flows"][0]
    # 1420 bytes padded to 1424 (the builder pads as a device with a larger MTU would): the most they hold
    assert (blackhole["told_mtu"], blackhole["packets"], blackhole["largest"]) == (1340, 4, 1424)
