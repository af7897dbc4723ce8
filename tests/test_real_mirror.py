"""Issue 19, item 8: port mirrors are not broken tunnels.

A switch mirrors a port to a collector in ERSPAN (types I, II and III) or in GRE with transparent Ethernet
bridging: one way, carrying both directions of the mirrored conversations. ERSPAN is unwrapped and what it
carries is analysed like any capture (a VXLAN packet inside is the nodes' VXLAN); a GRE/TEB mirror is
recognised by the both-ways traffic inside it. Neither is a one-way tunnel; a real one still is.
"""
from __future__ import annotations

import struct

import pytest

from test_findings_minimal import NODE_A, NODE_B, POD_A, POD_B, analyze_json, healthy_conversation, ids, pcap, the
from pcapdiag.testing.packets import ETH_TEB, ethernet, ipv4

SWITCH, COLLECTOR, SESSION = "10.0.0.1", "10.0.0.9", 7
GRE_SEQUENCE = 0x1000       # the S bit: a sequence number follows the GRE header


def erspan(kind: int, frame: bytes, seq: int) -> bytes:
    """The switch's copy of a frame, ERSPAN type `kind`, to the collector."""
    if kind == 1:    # GRE protocol 0x88be, no sequence number, the frame right after
        body = struct.pack(">HH", 0, 0x88BE) + frame
    elif kind == 2:  # version 1, session id in the low 10 bits of the second word
        body = struct.pack(">HHI", GRE_SEQUENCE, 0x88BE, seq) + struct.pack(">HHI", 0x1000, SESSION, seq) + frame
    else:            # GRE protocol 0x22eb, version 2, with an 8-byte platform subheader (the O bit)
        body = struct.pack(">HHI", GRE_SEQUENCE, 0x22EB, seq) + struct.pack(">HHIHH", 0x2000, SESSION, 0, 0, 1) \
            + bytes(8) + frame
    return ethernet(ipv4(SWITCH, COLLECTOR, body, proto=47))


def gre_teb(frame: bytes) -> bytes:
    return ethernet(ipv4(SWITCH, COLLECTOR, struct.pack(">HH", 0, ETH_TEB) + frame, proto=47))


@pytest.mark.parametrize("decoder", ["fast", "reference"])
@pytest.mark.parametrize("kind", [1, 2, 3])
def test_erspan_is_unwrapped_and_its_vxlan_analysed(tmp_path, kind, decoder):
    mirrored = healthy_conversation()
    report = analyze_json(pcap(tmp_path, [erspan(kind, frame, n) for n, frame in enumerate(mirrored)]),
                          "--decoder", decoder)
    assert "tunnel.one-way" not in ids(report)
    mirror = the(report, "tunnel.port-mirror")
    assert (mirror["severity"], mirror["count"]) == ("info", len(mirrored))
    session = "" if kind == 1 else f" session {SESSION}"
    assert mirror["evidence"]["mirrors"] == [{"mirror": f"erspan-{kind} {SWITCH} > {COLLECTOR}{session}",
                                              "frames": len(mirrored)}]
    assert mirror["summary"].startswith(f"ERSPAN type {kind} {SWITCH} > {COLLECTOR}")
    assert report["encapsulation_chains"] == {"vxlan": len(mirrored)}
    assert {node["ip"]: node["pods"] for node in report["nodes"]} == {NODE_A: [POD_A], NODE_B: [POD_B]}
    assert report["capture"]["packets"] == len(mirrored) and report["verdict"].startswith("OK")


def test_gre_teb_mirror_carrying_both_directions_is_no_one_way_tunnel(tmp_path):
    report = analyze_json(pcap(tmp_path, [gre_teb(frame) for frame in healthy_conversation()]))
    assert "tunnel.one-way" not in ids(report)
    mirror = the(report, "tunnel.port-mirror")
    assert mirror["summary"] == (f"GRE {SWITCH} > {COLLECTOR} carries both directions of 1 conversation(s) one way "
                                 f"(11 packets): a port mirror, not a broken tunnel")


def test_near_miss_a_one_way_tunnel_is_still_one_way(tmp_path):
    """GRE/TEB carrying only A's side of the conversation, nothing back: a broken return path."""
    a_side = [frame for n, frame in enumerate(healthy_conversation()) if n in (0, 2, 3, 5, 7, 9)]
    a_side += a_side[-2:] * 2
    report = analyze_json(pcap(tmp_path, [gre_teb(frame) for frame in a_side]))
    assert "tunnel.one-way" in ids(report)
    assert "tunnel.port-mirror" not in ids(report)
