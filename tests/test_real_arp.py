"""Issue 19, item 7: ARP inside a tunnel is ARP (an L2 overlay floods it to every VTEP), not a "udp" flow
between the node addresses in the top flows and the CSV."""
from __future__ import annotations

import pytest

from test_findings_minimal import NODE_A, NODE_C, analyze_json, healthy_conversation, pcap
from test_real_nodes import arp_in_vxlan
from conftest import run_cli


@pytest.mark.parametrize("decoder", ["fast", "reference"])
def test_arp_in_vxlan_is_an_arp_flow(tmp_path, decoder):
    frames = healthy_conversation() + [arp_in_vxlan(NODE_A, NODE_C, "10.244.1.1", "10.244.3.1")] * 4
    path = pcap(tmp_path, frames)
    report = analyze_json(path, "--decoder", decoder)
    [arp] = [f for f in report["flows"] if f["proto"] == "arp"]
    assert (arp["encap"], arp["outer_src"], arp["outer_dst"], arp["src"], arp["dst"], arp["packets"]) == (
        "vxlan", NODE_A, NODE_C, "10.244.1.1", "10.244.3.1", 4)
    assert arp["max_ip_len"] is None and arp["sport"] is None
    assert not [f for f in report["flows"] if f["src"] in (NODE_A, NODE_C)]     # no "udp" flow of the nodes
    csv = run_cli("analyze", path, "--format", "csv", "--table", "flows", "-q", "--decoder", decoder).stdout
    assert f"vxlan,{NODE_A},{NODE_C},1,10.244.1.1,10.244.3.1,arp," in csv
    assert f",{NODE_A},{NODE_C},udp" not in csv
