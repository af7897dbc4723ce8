"""pcapdiag.decode.encrypted: WireGuard, ESP, ESP-in-UDP, IKE and NAT keepalives from their headers, on
hand-made payloads and on the lab captures of sample_pcaps/encrypted (whose truth.json was measured
with tshark: the counts here must be tshark's)."""
from __future__ import annotations

import collections
import json
import random
import struct

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from pcapdiag.decode.encrypted import (classify_udp, esp_block_estimate, esp_packet, esp_screen, ike_message,
                                       wireguard_inner_range, wireguard_message, wireguard_screen)

ENCRYPTED = SAMPLES / "encrypted"
TRUTH = json.loads((ENCRYPTED / "truth.json").read_text())


def wg(kind, size, sender=0x11223344, receiver=0x55667788, counter=7):
    fields = {1: struct.pack("<I", sender), 2: struct.pack("<II", sender, receiver), 3: struct.pack("<I", receiver),
              4: struct.pack("<IQ", receiver, counter)}[kind]
    head = bytes([kind, 0, 0, 0]) + fields
    return head + bytes(size - len(head))


def ike(exchange=34, response=False, ispi=b"\x01" * 8, body=b"\x00" * 40, version=0x20):
    length = 28 + len(body)
    return struct.pack("!8s8sBBBBII", ispi, bytes(8), 33, version, exchange, 0x20 if response else 0x08, 0,
                       length) + body


@pytest.mark.parametrize("kind,size,name", [(1, 148, "initiation"), (2, 92, "response"), (3, 64, "cookie-reply"),
                                            (4, 32, "transport-data"), (4, 1452, "transport-data")])
def test_wireguard_messages_by_type_and_size(kind, size, name):
    found = classify_udp(51871, 51871, wg(kind, size))
    assert (found.kind, found.message, found.by_port) == ("wireguard", name, True)
    assert found.sender == (0x11223344 if kind in (1, 2) else None)
    assert found.receiver == (0x55667788 if kind in (2, 3, 4) else None)


def test_wireguard_fields_are_little_endian_and_survive_a_snaplen_cut():
    found = wireguard_message(wg(2, 92)[:20], 92)
    assert (found.sender, found.receiver) == (0x11223344, 0x55667788)
    assert wireguard_message(wg(4, 64)[:8], 64).counter is None      # cut inside the counter: still data


@pytest.mark.parametrize("payload,size", [
    (wg(1, 148)[:1] + b"\x00\x01\x00" + wg(1, 148)[4:], 148),   # reserved bytes not zero
    (wg(1, 149), 149), (wg(2, 148), 148), (wg(3, 92), 92),     # handshake messages at the wrong size
    (wg(4, 31), 31),                                            # shorter than header and tag
    (bytes([5, 0, 0, 0]) + bytes(60), 64),                      # no such type
])
def test_not_wireguard(payload, size):
    assert wireguard_message(payload, size, by_port=True) is None


def test_off_port_transport_data_needs_wireguards_padding():
    assert classify_udp(40000, 40001, wg(4, 96)).by_port is False
    assert classify_udp(40000, 40001, wg(4, 1452)) is None              # unpadded (MTU-sized): only on its port
    assert classify_udp(51820, 40001, wg(4, 1452)).message == "transport-data"
    assert classify_udp(40000, 40001, wg(1, 148)).message == "initiation"   # handshakes: any port


@pytest.mark.parametrize("payload_len,expected", [(32, (0, 0)), (96, (49, 64)), (1456, (1409, 1424)),
                                                  (1452, (1409, 1420)), (1532, (1489, 1500)), (31, None)])
def test_inner_size_is_a_range(payload_len, expected):
    # 1452 = a full packet at WireGuard's MTU 1420, which is no multiple of 16 and so is not padded
    assert wireguard_inner_range(payload_len) == expected


def test_udp_4500_tells_esp_ike_and_keepalives_apart():
    esp = struct.pack("!II", 0xC0000001, 1) + bytes(60)
    assert classify_udp(4500, 4500, esp).spi == 0xC0000001
    found = classify_udp(4500, 4500, b"\x00" * 4 + ike(35, response=True))
    assert (found.kind, found.message, found.response) == ("ike", "ike_auth", True)
    assert classify_udp(4500, 4500, b"\xff").kind == "nat-keepalive"
    assert classify_udp(4500, 4500, b"\x00") is None
    # IKE without the marker is ESP to the receiving stack as well: only the marker says IKE on 4500
    assert classify_udp(4500, 4500, ike(35)).kind == "esp"


def test_ike_on_500_checks_version_length_and_initiator_spi():
    assert classify_udp(500, 500, ike()).ike_spis == ("01" * 8, "00" * 8)
    assert ike_message(ike(), 200) is None                       # the header's length is not the payload's
    assert ike_message(ike(version=0x30), 68) is None
    assert ike_message(ike(ispi=bytes(8)), 68) is None


@pytest.mark.parametrize("spi,seq,size,ok", [(0xC0000001, 1, 100, True), (255, 1, 100, False), (0, 1, 100, False),
                                             (0xC0000001, 0, 100, False), (0xC0000001, 1, 20, False)])
def test_esp_header_rules(spi, seq, size, ok):
    assert (esp_packet(struct.pack("!II", spi, seq) + bytes(size - 8), size) is not None) == ok


def test_esp_block_from_the_lengths():
    assert esp_block_estimate([100, 116, 148, 100])["step"] == 16
    gcm = esp_block_estimate([104, 108, 120])
    assert gcm["step"] == 4 and "AEAD" in gcm["family"]
    assert esp_block_estimate([100]) is None


def peek_of(payload):
    return lambda offset, width: int.from_bytes(payload[offset:offset + width].ljust(width, b"\x00"), "big")


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=160), st.sampled_from([51871, 40000]))
def test_screens_pass_whatever_the_exact_tests_accept(payload, port):
    if wireguard_message(payload, len(payload), by_port=port == 51871):
        assert wireguard_screen(peek_of(payload), len(payload))
    if esp_packet(payload, len(payload)):
        assert esp_screen(peek_of(payload), len(payload))


def lab_messages(name):
    """Every packet of a lab capture through the classifier: (source, Encrypted or None, ESP length)."""
    with open(ENCRYPTED / name, "rb") as f:
        for _, frame in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(frame).data
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):   # the nodes' ARP
                continue
            src = ip.src
            if getattr(ip, "p", getattr(ip, "nxt", None)) == 50:
                size = ip.len - ip.hl * 4      # the wire length: the capture is cut at 128 bytes
                yield src, esp_packet(bytes(ip.data), size), size
            elif isinstance(ip.data, dpkt.udp.UDP):
                udp = ip.data
                yield src, classify_udp(udp.sport, udp.dport, bytes(udp.data), udp.ulen - 8), udp.ulen - 8
            else:
                yield src, None, None


WIREGUARD_CAPTURES = sorted(k for k, v in TRUTH.items() if v["kind"] == "wireguard")
WG_NAMES = {"initiation": "initiation", "response": "response", "cookie-reply": "cookie_reply",
            "transport-data": "transport_data"}


@pytest.mark.parametrize("name", WIREGUARD_CAPTURES)
def test_wireguard_lab_captures_agree_with_tshark(name):
    truth = TRUTH[name]["measured"]
    found = [m for _, m, _ in lab_messages(name) if m and m.kind == "wireguard"]
    counts = collections.Counter(WG_NAMES[m.message] for m in found)
    assert {k: counts.get(k, 0) for k in truth["wireguard_messages"]} == truth["wireguard_messages"]
    sessions = sorted(f"0x{m.sender:08x}<->0x{m.receiver:08x}" for m in found if m.message == "response")
    assert sessions == truth["sessions_by_receiver_index"]


def test_wireguard_inner_sizes_fit_the_devices_mtu():
    truth = TRUTH["wg-healthy.pcap"]
    ranges = [m.inner_range for _, m, _ in lab_messages("wg-healthy.pcap") if m and m.message == "transport-data"]
    assert max(hi for _, hi in ranges) == truth["wg_mtu"] == 1420
    assert (1409, 1420) in ranges      # full-size segments: the inner size is only known to lie in this range


def test_a_blocked_handshake_is_initiations_from_one_side_only():
    messages = [(src, m.message) for src, m, _ in lab_messages("wg-handshake-blocked.pcap") if m]
    assert len(messages) == TRUTH["wg-handshake-blocked.pcap"]["measured"]["wireguard_messages"]["initiation"] == 3
    assert {message for _, message in messages} == {"initiation"} and len({src for src, _ in messages}) == 1


@pytest.mark.parametrize("name", ["esp-tunnel.pcap", "esp-in-udp-4500.pcap", "ike-unanswered.pcap"])
def test_ipsec_lab_captures_agree_with_tshark(name):
    truth = TRUTH[name]
    found = [(m, size) for _, m, size in lab_messages(name) if m]
    kinds = collections.Counter(m.kind for m, _ in found)
    assert kinds["esp"] == truth["measured"]["esp_packets"]
    assert kinds["nat-keepalive"] == truth["measured"]["nat_keepalives"]
    assert sorted({f"0x{m.spi:08x}" for m, _ in found if m.kind == "esp"}) == truth["measured"]["spis"]
    assert kinds["ike"] == sum(truth["measured"]["ike_messages_by_exchange_type_and_port"].values())
    if kinds["esp"]:
        spi = next(m.spi for m, _ in found if m.kind == "esp")
        estimate = esp_block_estimate([size for m, size in found if m.kind == "esp" and m.spi == spi])
        assert estimate["step"] == {"aes-gcm-128": 4, "aes-cbc-128+hmac-sha256-128": 16}[truth["cipher"]]


def test_lab_captures_are_small_and_described():
    for name, entry in TRUTH.items():
        assert (ENCRYPTED / name).stat().st_size == entry["measured"]["bytes"] <= 200_000
        assert name in (ENCRYPTED / "README.md").read_text()


def test_random_udp_payloads_are_rarely_taken_for_wireguard():
    rng = random.Random(17)
    taken = sum(classify_udp(40000, 40001, rng.randbytes(rng.randrange(20, 200))) is not None for _ in range(5000))
    assert taken == 0
