"""Property tests: random bytes and mutated real packets into every decoder entry point.

Nothing may escape a decoder: a malformed packet is a counted fact (malformed / truncated /
too_deep), never an exception. The seeds are real stacks (built with dpkt in pcapdiag/testing/packets.py,
plus the first packets of each corpus capture when the corpus is present); hypothesis flips,
overwrites, cuts, inserts and deletes bytes, and re-reads frames under other link types.

Example counts are moderate so that the whole file stays well under a minute.
"""
from __future__ import annotations

import ipaddress
import struct

import dpkt
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pcapdiag.testing.packets as P
from mutate import corpus_captures
from pcapdiag.testing.packets import linux_sll, linux_sll2, null_loopback
from pcapdiag.capture import RecordBatch
from pcapdiag.decode import ReferenceDecoder
from pcapdiag.decode.facts import COLUMN_NAMES, MAX_DEPTH
from pcapdiag.decode.reference import (PacketWalker, _ethernet_plausible, bare_ip_plausible, bgp_announced_prefixes,
                                       geneve_plausible, gue_plausible, ip_header_plausible, link_to_network,
                                       vxlan_plausible)
from pcapdiag.decode.tunnels import NSH, VXLAN, Geneve, GeneveOption

try:
    from pcapdiag.decode.fast import FastDecoder
except ImportError:   # the vectorised decoder is optional
    FastDecoder = None

SUPPORTED_LINKTYPES = (0, 1, 12, 101, 108, 113, 228, 229, 276)
FEW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

A, B = "192.168.1.10", "192.168.1.11"
A6, B6 = "fd00::a", "fd00::b"
POD1, POD2 = "10.244.1.5", "10.244.2.7"


# -- seeds: real stacks, as IP packets ---------------------------------------------------------

def _bgp_message(kind: int, body: bytes) -> bytes:
    return b"\xff" * 16 + struct.pack(">HB", 19 + len(body), kind) + body


def _bgp_update() -> bytes:
    """An UPDATE announcing 10.244.1.0/24 (NLRI) and fd10:0:0:1::/64 (MP_REACH_NLRI), then a KEEPALIVE."""
    mp_reach = struct.pack(">HBB", 2, 1, 16) + bytes(16) + b"\x00" + bytes([64]) + bytes.fromhex("fd10000000000001")
    attributes = (struct.pack(">BBBB", 0x40, 1, 1, 0) + struct.pack(">BBB", 0x40, 2, 0)
                  + struct.pack(">BBB4s", 0x40, 3, 4, bytes([192, 168, 1, 10]))
                  + struct.pack(">BBB", 0x80, 14, len(mp_reach)) + mp_reach)
    update = struct.pack(">HH", 0, len(attributes)) + attributes + bytes([24, 10, 244, 1])
    return _bgp_message(2, update) + _bgp_message(4, b"")


def _vxlan_gpe_nsh(inner_ip: bytes) -> bytes:
    nsh = struct.pack(">HBBI", (0 << 14) | (63 << 6) | 6, 1, 1, 0x000101FF) + bytes(16)   # MD type 1, length 6
    gpe = struct.pack(">B2xBI", 0x0C, 4, 7 << 8)                                            # I + P, next = NSH
    return P.ipv4(A, B, P.udp(50000, 4790, gpe + nsh + inner_ip), proto=17)


def _deep_vxlan(inner_ip: bytes, depth: int) -> bytes:
    packet = inner_ip
    for _ in range(depth):
        packet = P.vxlan_packet(A, B, packet)
    return packet


def _ah(inner: bytes) -> bytes:
    header = struct.pack(">BBHII", 4, 4, 0, 0x100, 1) + bytes(12)   # next IPIP, 24 bytes
    return P.ipv4(A, B, header + inner, proto=51)


def _ike_sa_init() -> bytes:
    """An IKEv2 IKE_SA_INIT request header with 40 bytes of payloads (RFC 7296 3.1)."""
    return struct.pack(">8s8sBBBBII", b"\x01" * 8, bytes(8), 33, 0x20, 34, 0x08, 0, 68) + bytes(40)


def ip_seeds() -> list[bytes]:
    syn = P.ipv4(POD1, POD2, P.tcp(40000, 80, flags="S", mss=1460))
    data = P.ipv4(POD1, POD2, P.tcp(40000, 80, flags="PA", seq=1000, payload=1400))
    dns = P.ipv4(POD1, POD2, P.udp(5353, 53, b"\x12\x34" + bytes(30)))
    echo = P.ipv4(POD1, POD2, P.icmp_echo())
    v6_syn = P.ipv6("fd10::5", "fd10::7", P.tcp(40000, 443, flags="S", mss=1440))
    vxlan = P.vxlan_packet(A, B, data, vni=1)
    seeds = [
        syn, data, dns, echo, v6_syn,
        vxlan,
        P.vxlan_packet(A, B, syn, port=4789, checksum="good"),
        P.vxlan_packet(A, B, dns, port=9999),                                  # by plausibility
        P.vxlan_packet(A6, B6, v6_syn, port=4789),
        P.geneve_packet(A, B, syn, options=struct.pack(">HBB", 0x0102, 0x80, 1) + bytes(4)),
        P.geneve_packet(A, B, v6_syn),
        P.ipip_packet(A, B, syn),
        P.ipv4(A, B, v6_syn, proto=41),                                        # 6in4
        P.ipv6(A6, B6, syn, nxt=4),                                            # 4in6
        P.ipv6(A6, B6, v6_syn, nxt=41),                                        # 6in6
        P.ipv4(A, B, struct.pack(">HHI", 0x2000, 0x6558, 42) + P.ethernet(syn), proto=47),   # GRE key, TEB
        P.ipv4(A, B, struct.pack(">HH", 0, 0x0800) + syn, proto=47),                         # plain GRE
        _ah(syn),
        P.ipv4(A, B, P.udp(6080, 6080, struct.pack(">BBH", 0, 4, 0) + syn), proto=17),       # GUE
        P.udp_ip_packet(A, B, syn),                                                          # flannel UDP
        _vxlan_gpe_nsh(syn),
        P.ipv4(B, A, P.icmp_frag_needed(1450, vxlan)),
        P.ipv6(B6, A6, P.icmp6_too_big(1280, P.vxlan_packet(A6, B6, v6_syn, port=4789))),
        P.ipv4(A, B, P.tcp(179, 40000, flags="PA", payload=_bgp_update())),
        P.ipv4(POD1, POD2, P.tcp(40000, 80, flags="PA", payload=60000), total_length=0),     # offload
        # encrypted overlays: WireGuard on and off its ports, ESP, ESP-in-UDP, IKE and NAT keepalives
        P.wireguard_packet(A, B, P.wireguard(4, 1400, counter=9)),
        P.wireguard_packet(A, B, P.wireguard(1), port=40000, sport=40001),
        P.wireguard_packet(A6, B6, P.wireguard(2), port=51821),
        P.vxlan_packet(A, B, P.wireguard_packet(POD1, POD2, P.wireguard(4, 100))),
        P.esp_packet(A, B, 1400), P.esp_packet(A6, B6, 200), P.esp_packet(A, B, 600, udp_port=4500),
        P.ipv4(A, B, P.udp(4500, 4500, bytes(4) + _ike_sa_init())),
        P.ipv4(A, B, P.udp(500, 500, _ike_sa_init())),
        P.ipv4(A, B, P.udp(4500, 4500, b"\xff")),
        _deep_vxlan(syn, MAX_DEPTH + 2),
    ]
    seeds += P.fragments(P.ipv4(POD1, POD2, P.udp(1, 2, 3000), df=False), 1400)[:2]
    return seeds


def frame_for(linktype: int, packet: bytes) -> bytes:
    if linktype == 1:
        return P.ethernet(packet)
    if linktype == 0:
        return null_loopback(packet)
    if linktype == 108:
        return null_loopback(packet, network_order=True)
    if linktype == 113:
        return linux_sll(packet, 0x86DD if packet[0] >> 4 == 6 else 0x0800)
    if linktype == 276:
        return linux_sll2(packet, 0x86DD if packet[0] >> 4 == 6 else 0x0800)
    return packet   # raw IP: 12, 14, 101, 228, 229


def _vlan(frame: bytes, tags: int) -> bytes:
    tagged = frame[:12]
    for i in range(tags):
        tagged += struct.pack(">HH", 0x88A8 if i == 0 and tags == 2 else 0x8100, 100 + i)
    return tagged + frame[12:]


IP_SEEDS = ip_seeds()
SEED_FRAMES = [(lt, frame_for(lt, packet)) for lt in SUPPORTED_LINKTYPES for packet in IP_SEEDS]
SEED_FRAMES += [(1, _vlan(P.ethernet(packet), tags)) for packet in IP_SEEDS[:8] for tags in (1, 2)]


def _corpus_frames(per_file: int = 8) -> list[tuple[int, bytes]]:
    from pcapdiag.capture import CaptureError, open_capture

    frames = []
    for path in corpus_captures(max_bytes=1 << 20):
        try:
            with open_capture(str(path)) as capture:
                for index, record in enumerate(capture.records()):
                    if index >= per_file:
                        break
                    frames.append((record.linktype, record.data))
        except CaptureError:
            continue
    return frames


SEED_FRAMES += _corpus_frames()


# -- strategies --------------------------------------------------------------------------------

EDIT = st.tuples(st.sampled_from(("flip", "set", "cut", "insert", "delete", "zero")),
                 st.integers(0, 1 << 16), st.integers(0, 255))


def apply_edits(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for kind, at, value in edits:
        position = at % (len(out) + 1)
        if kind == "cut":
            del out[position:]
        elif kind == "insert":
            out[position:position] = bytes([value]) * (1 + value % 8)
        elif not out:
            continue
        elif kind == "delete":
            del out[position % len(out):position % len(out) + 1 + value % 16]
        elif kind == "zero":
            out[position % len(out):position % len(out) + 1 + value % 32] = bytes(
                len(out[position % len(out):position % len(out) + 1 + value % 32]))
        elif kind == "flip":
            out[position % len(out)] ^= 1 << (value % 8)
        else:
            out[position % len(out)] = value
    return bytes(out)


@st.composite
def mutated_frames(draw, linktype=None):
    """A seed frame, byte-edited, sometimes read as another link type."""
    pool = SEED_FRAMES if linktype is None else [f for f in SEED_FRAMES if f[0] == linktype] or SEED_FRAMES
    seed_linktype, data = draw(st.sampled_from(pool))
    data = apply_edits(data, draw(st.lists(EDIT, max_size=6)))
    if linktype is None:
        linktype = draw(st.sampled_from(SUPPORTED_LINKTYPES + (seed_linktype,) * 3))
    return linktype, data


def frames_of(linktype):
    return mutated_frames(linktype) | st.binary(max_size=200).map(lambda data: (linktype, data))


# -- PacketWalker.decode ------------------------------------------------------------------------

WALKER = PacketWalker()
WALKER_ODD_PORTS = PacketWalker(vxlan_ports=(4789, 8472, 4790, 53, 80, 6081))


def check_row(row: dict, caplen: int, wirelen: int) -> None:
    assert set(row) == set(COLUMN_NAMES)
    assert row["caplen"] == caplen and row["wirelen"] == wirelen
    assert isinstance(row["encap"], str) and row["encap"]
    chain = row["encap"].split(">")
    assert len(chain) <= MAX_DEPTH, row["encap"]
    if row["outer_ipv"] == 0:
        assert row["encap"] == "non-ip"
    else:
        assert row["outer_ipv"] in (4, 6) and row["outer_class"] == chain[0]
        for name in ("outer_src", "outer_dst", "inner_src", "inner_dst"):
            ipaddress.ip_address(row[name])
    for name in ("truncated", "malformed", "offload", "too_deep", "by_plausibility", "outer_df", "outer_mf"):
        assert isinstance(row[name], bool), name
    for prefix in row["bgp_prefixes"].split():
        ipaddress.ip_network(prefix, strict=False)


@pytest.mark.parametrize("linktype", SUPPORTED_LINKTYPES)
@FEW
@given(data=st.data())
def test_walker_never_raises_for_any_link_type(linktype, data):
    _, frame = data.draw(frames_of(linktype))
    extra = data.draw(st.sampled_from((0, 0, 1, 100, 70000)))   # snaplen-cut and offload-sized wire lengths
    for walker in (WALKER, WALKER_ODD_PORTS):
        row = walker.decode(1.5, len(frame), len(frame) + extra, linktype, frame)
        check_row(row, len(frame), len(frame) + extra)


@SOME
@given(frame=mutated_frames(), wirelen_delta=st.integers(-50, 100))
def test_walker_on_mutated_real_packets(frame, wirelen_delta):
    linktype, data = frame
    wirelen = max(len(data) + wirelen_delta, 0)      # caplen > wirelen happens in damaged files
    check_row(WALKER.decode(0.0, len(data), wirelen, linktype, data), len(data), wirelen)


@FEW
@given(frame=mutated_frames(), linktype=st.integers(0, 300))
def test_walker_with_any_link_type_number(frame, linktype):
    _, data = frame
    check_row(WALKER.decode(0.0, len(data), len(data), linktype, data), len(data), len(data))
    try:
        link_to_network(linktype, data)
    except dpkt.UnpackError:
        pass
    except Exception as exc:   # Truncated is the walker's own signal; anything else is a bug
        assert type(exc).__name__ in ("Truncated",), repr(exc)


def test_seeds_decode_cleanly():
    """The unmutated seeds are healthy packets: no anomaly flags except where they are the point."""
    for packet in IP_SEEDS:
        row = WALKER.decode(0.0, len(packet) + 14, len(packet) + 14, 1, P.ethernet(packet))
        assert not row["malformed"], row["encap"]
        assert row["outer_ipv"] in (4, 6)
    deep = WALKER.decode(0.0, 0, 0, 101, IP_SEEDS[-3])
    assert deep["too_deep"] and deep["encap"] == ">".join(["vxlan"] * MAX_DEPTH)


# -- batch decoders -------------------------------------------------------------------------

def make_batch(frames, guard: bytes, wirelen_extra) -> RecordBatch:
    """One RecordBatch over a buffer where records are separated by guard bytes the decoders must not read."""
    buf, offsets = bytearray(guard), []
    for _, data in frames:
        offsets.append(len(buf))
        buf += data + guard
    caplens = np.array([len(d) for _, d in frames], dtype=np.int64)
    return RecordBatch(bytes(buf), np.array(offsets, dtype=np.int64), caplens,
                       caplens + np.array(wirelen_extra[:len(frames)], dtype=np.int64),
                       np.arange(len(frames), dtype=np.float64) + 1.7e9,
                       np.array([lt for lt, _ in frames], dtype=np.int64))


BATCH = st.lists(mutated_frames() | st.tuples(st.sampled_from(SUPPORTED_LINKTYPES), st.binary(max_size=120)),
                 min_size=1, max_size=24)
EXTRA = st.lists(st.sampled_from((0, 0, 0, 4, 200, 70000)), min_size=24, max_size=24)


def _decoders():
    out = [("reference", ReferenceDecoder)]
    if FastDecoder is not None:
        out.append(("fast", FastDecoder))
    return out


@pytest.mark.parametrize("name, decoder_class", _decoders(), ids=[n for n, _ in _decoders()])
@FEW
@given(frames=BATCH, extra=EXTRA, guard=st.sampled_from((b"", b"\xff" * 64, b"\x45" * 64)))
def test_decode_batch_never_raises_and_reads_only_its_records(name, decoder_class, frames, extra, guard):
    facts = decoder_class().decode_batch(make_batch(frames, guard, extra)).frame()
    assert len(facts) == len(frames)
    assert tuple(facts.columns[:len(COLUMN_NAMES)]) == COLUMN_NAMES
    assert (facts["caplen"].to_numpy() == [len(d) for _, d in frames]).all()
    if guard:   # the bytes between records must not change any fact
        other = decoder_class().decode_batch(make_batch(frames, bytes(64), extra)).frame()
        assert facts.equals(other), f"{name} decoder read past a record's captured bytes"


@pytest.mark.skipif(FastDecoder is None, reason="no fast decoder")
@FEW
@given(frames=BATCH, extra=EXTRA)
def test_fast_and_reference_decoders_agree_on_damaged_batches(frames, extra):
    """The differential test's promise on random damage too: IPv4 and IPv6, native and tunnelled, cut and
    mutated, every link type (the fast decoder proves a row or hands it to the reference)."""
    batch = make_batch(frames, b"", extra)
    fast = FastDecoder().decode_batch(batch).frame()
    reference = ReferenceDecoder().decode_batch(batch).frame()
    pd.testing.assert_frame_equal(fast, reference)


def test_decode_batch_of_nothing():
    for _, decoder_class in _decoders():
        facts = decoder_class().decode_batch(make_batch([], b"", [])).frame()
        assert len(facts) == 0 and tuple(facts.columns[:len(COLUMN_NAMES)]) == COLUMN_NAMES


# -- plausibility tests, BGP, tunnel headers ------------------------------------------------

PAYLOADS = st.binary(max_size=160) | mutated_frames().map(lambda f: f[1]) | \
    mutated_frames().map(lambda f: f[1][42:])   # what follows an Ethernet/IPv4/UDP header


@SOME
@given(body=PAYLOADS, ethertype=st.sampled_from((None, 0x0800, 0x86DD, 0x0806, 0x8100, 0)))
def test_plausibility_functions_return_bools(body, ethertype):
    for check in (vxlan_plausible, geneve_plausible, bare_ip_plausible, gue_plausible, _ethernet_plausible):
        assert check(body) in (True, False)
    assert ip_header_plausible(body, ethertype) in (True, False)


BGP_STREAM = _bgp_update()


@SOME
@given(stream=st.binary(max_size=200) | st.lists(EDIT, max_size=6).map(lambda e: apply_edits(BGP_STREAM, e))
       | st.binary(max_size=60).map(lambda tail: b"\xff" * 16 + tail))
def test_bgp_announced_prefixes_never_raises(stream):
    prefixes = bgp_announced_prefixes(stream)
    assert isinstance(prefixes, list)
    for prefix in prefixes:
        ipaddress.ip_network(prefix, strict=False)   # only real prefixes reach the topology


def test_bgp_seed_announces_its_prefix():
    assert sorted(bgp_announced_prefixes(BGP_STREAM)) == ["10.244.1.0/24", "fd10:0:0:1::/64"]


def _use_tunnel_header(header) -> None:
    """Touch every field and property the walker reads."""
    if isinstance(header, VXLAN):
        assert 0 <= header.vni < 1 << 24
        header.is_gpe, header.payload_ethertype, bytes(header.data)
    elif isinstance(header, Geneve):
        assert header.header_len == 8 + 4 * header.opt_len
        assert len(header.options_raw) == 4 * header.opt_len
        header.vni, header.proto, header.ver, bytes(header.data)
    elif isinstance(header, NSH):
        assert header.length * 4 >= 8
        header.next_proto, bytes(header.data)
    else:
        header.opt_class, header.type, header.len, bytes(header.data)


TUNNEL_BODIES = st.binary(max_size=80) | st.lists(EDIT, max_size=4).map(
    lambda e: apply_edits(struct.pack(">BBHI", 2, 0, 0x6558, 7 << 8) + bytes(8) + P.ethernet(IP_SEEDS[0]), e)) | \
    st.lists(EDIT, max_size=4).map(lambda e: apply_edits(struct.pack(">HBBI", 6, 1, 1, 0x101FF) + bytes(16), e))


@SOME
@given(body=TUNNEL_BODIES)
def test_tunnel_headers_parse_or_raise_unpack_error(body):
    for header_class in (VXLAN, Geneve, NSH, GeneveOption):
        try:
            header = header_class(body)
        except dpkt.UnpackError:
            continue   # NeedData included: the only way a header may refuse its bytes
        _use_tunnel_header(header)


def test_vxlan_round_trips():
    body = struct.pack(">B3xI", 0x08, 0x123456 << 8) + b"inner"
    header = VXLAN(body)
    assert header.vni == 0x123456 and bytes(header) == body and header.payload_ethertype == 0x6558


def test_geneve_options_running_past_the_end_is_need_data():
    with pytest.raises(dpkt.NeedData):
        Geneve(struct.pack(">BBHI", 5, 0, 0x6558, 1 << 8) + bytes(8))   # 20 bytes of options promised
