"""Issue 19, item 2: a tunnel inside a tunnel between the same nodes (a VTEP misconfiguration or a routing loop).

Node A's VXLAN packets to B come back into the overlay: B->A VXLAN carrying A->B VXLAN carrying the pod's
packet, and a loop that keeps going nests past the decoder's depth (its innermost decoded header is then
one of the nodes'). The nodes are not pods, no pod is behind two nodes, the class's overhead is its own,
and the loop is named.
"""
from __future__ import annotations

import pytest

from test_findings_minimal import (MSS_OK, NODE_A, NODE_B, POD_A, POD_B, analyze_json, handshake,
                                   ids, pcap, pod_tcp, the)
from pcapdiag.testing.packets import ethernet, vxlan_packet


def looped(levels: int, inner: bytes) -> bytes:
    """The pod's packet in `levels` VXLAN headers, alternately A->B and B->A (outermost last)."""
    for level in range(levels):
        src, dst = (NODE_A, NODE_B) if level % 2 == 0 else (NODE_B, NODE_A)
        inner = vxlan_packet(src, dst, inner)
    return ethernet(inner)


def loop_capture() -> list[bytes]:
    data = pod_tcp(flags="PA", seq=1, ack=1, payload=100)
    return handshake(MSS_OK, MSS_OK) + [looped(2, data)] * 3 + [looped(6, data)] * 5


@pytest.mark.parametrize("decoder", ["fast", "reference"])
def test_a_looped_tunnel_is_named_and_its_nodes_are_not_pods(tmp_path, decoder):
    report = analyze_json(pcap(tmp_path, loop_capture()), "--decoder", decoder)
    loop = the(report, "tunnel.nested-loop")
    assert (loop["severity"], loop["count"]) == ("error", 8)
    assert loop["evidence"]["chains"] == ["vxlan>vxlan", "vxlan>vxlan>vxlan>vxlan"]
    assert "topology.pod-ip-conflict" not in ids(report) and report["pod_ip_conflicts"] == []
    assert {node["ip"]: node["pods"] for node in report["nodes"]} == {NODE_A: [POD_A], NODE_B: [POD_B]}
    assert report["mtu"]["overlays"][0]["overhead"] == 50       # the loop's doubled headers are not the class's
    assert "mtu.mss-too-big" not in ids(report)


def test_near_miss_vxlan_inside_another_overlay_is_no_loop(tmp_path):
    """A cluster inside VMs whose hypervisors tunnel too: the nodes' VXLAN inside the hypervisors' VXLAN."""
    frames = [ethernet(vxlan_packet("172.16.0.1", "172.16.0.2", vxlan_packet(NODE_A, NODE_B, pod_tcp(seq=n))))
              for n in range(3)]
    report = analyze_json(pcap(tmp_path, frames))
    assert "tunnel.nested-loop" not in ids(report)
