"""pcapdiag.cni.guess_cni: each CNI's marks on hand-made report dicts, then the guess on every sample,
lab and corpus capture against a table checked by hand (test_cni_captures.py)."""
from __future__ import annotations

import pytest

from pcapdiag.cni import MTU_SETTINGS, guess_cni


def vxlan(port, vnis, packets=100, kind="vxlan"):
    return {"type": kind, "udp_port": port, "packets": packets, "vnis": vnis}


def node(ip, macs=(), pods=(), bgp=()):
    return {"ip": ip, "macs": list(macs), "pods": list(pods), "bgp_advertised": list(bgp)}


def udp(src, dst, port, proto="udp"):
    return {"encap": "native", "src": src, "dst": dst, "proto": proto, "sport": port, "dport": port, "packets": 10}


def report(encapsulation=(), nodes=(), flows=()):
    return {"encapsulation": [{"type": "native", "udp_port": None, "packets": 5, "vnis": []}, *encapsulation],
            "nodes": list(nodes), "flows": list(flows)}


TWO_NODES = [node("192.168.1.11", ["6e:7f:00:00:01:01"]), node("192.168.1.12", ["6e:7f:00:00:01:02"])]


def test_flannel_vxlan_defaults_name_flannel_with_its_mtu_setting():
    guess = guess_cni(report([vxlan(8472, [1])], TWO_NODES))
    assert (guess["name"], guess["mode"], guess["confidence"]) == ("flannel", "vxlan", "high")
    assert any("one VTEP MAC per node (2 nodes)" in e for e in guess["evidence"])
    assert guess["mtu_setting"] == MTU_SETTINGS["flannel"] and "--iface" in guess["mtu_setting"]


def test_flannel_ports_without_one_vtep_mac_per_node_lower_the_confidence():
    nodes = [node("192.168.1.11", ["0a:00:00:00:00:01", "0a:00:00:00:00:02"]), node("192.168.1.12", ["0a:00:00:00:00:03"])]
    guess = guess_cni(report([vxlan(8472, [1])], nodes))
    assert (guess["name"], guess["confidence"]) == ("flannel", "medium")


def test_calico_vxlan_is_port_4789_with_vni_4096():
    guess = guess_cni(report([vxlan(4789, [4096])], TWO_NODES))
    assert (guess["name"], guess["mode"], guess["confidence"]) == ("calico", "vxlan", "high")
    assert "vxlanMTU" in guess["mtu_setting"] and "veth_mtu" in guess["mtu_setting"]


@pytest.mark.parametrize("port,mode", [(8472, "vxlan"), (6081, "geneve")])
def test_many_vnis_from_256_up_are_cilium_security_identities(port, mode):
    kind = "vxlan" if port == 8472 else "geneve"
    guess = guess_cni(report([vxlan(port, [2, 6, 16834, 23001], kind=kind)], TWO_NODES))
    assert (guess["name"], guess["mode"], guess["confidence"]) == ("cilium", mode, "high")
    assert "mtu in the cilium-config ConfigMap" in guess["mtu_setting"]


def test_one_odd_vni_on_flannels_port_is_unknown_between_flannel_and_cilium():
    guess = guess_cni(report([vxlan(8472, [100])], TWO_NODES))
    assert (guess["name"], guess["mode"], guess["candidates"]) == ("unknown", "vxlan", ["flannel", "cilium"])
    assert guess["mtu_setting"] is None and "identity" in guess["needed"]


def test_vxlan_4789_with_another_vni_is_unknown():
    guess = guess_cni(report([vxlan(4789, [42])], TWO_NODES))
    assert (guess["name"], guess["confidence"]) == ("unknown", "none")
    assert guess["candidates"] == ["flannel", "calico", "antrea"] and "vxlan.calico" in guess["needed"]


def test_geneve_without_identities_needs_the_option_classes():
    guess = guess_cni(report([dict(vxlan(6081, [100], kind="geneve"), overhead_per_packet=51.7,
                                   overhead_common=50, nominal_overhead=50)], TWO_NODES))
    assert (guess["name"], guess["mode"]) == ("unknown", "geneve")
    assert "0x0102" in guess["needed"] and "ovn-kubernetes" in guess["candidates"]
    assert "some packets carry options (51.7 bytes overhead against 50)" in guess["evidence"][0]


def test_wireguard_on_ciliums_port_from_flows_or_from_the_wireguard_class():
    flows = [udp("192.168.1.11", "192.168.1.12", 51871), udp("192.168.1.12", "192.168.1.11", 51871)]
    by_port = guess_cni(report(flows=flows))
    assert (by_port["name"], by_port["mode"], by_port["confidence"]) == ("cilium", "wireguard", "medium")
    classified = guess_cni(report([vxlan(51871, [], kind="wireguard")]))
    assert (classified["name"], classified["confidence"]) == ("cilium", "high")


def test_wireguard_on_51820_fits_calico_and_flannel_alike():
    guess = guess_cni(report(flows=[udp("192.168.1.11", "192.168.1.12", 51820)]))
    assert (guess["name"], guess["mode"], guess["candidates"]) == ("unknown", "wireguard", ["calico", "flannel"])
    assert "wireguard.cali" in guess["needed"]


def test_a_wireguard_port_as_source_only_is_not_wireguard():
    flow = dict(udp("192.168.1.11", "192.168.1.12", 51871), dport=53)
    assert guess_cni(report(flows=[flow]))["mode"] is None


@pytest.mark.parametrize("entry,flows,mode", [
    (vxlan(6784, [5000]), [], "fastdp"),
    (None, [udp("10.0.0.1", "10.0.0.2", 6783)], "sleeve"),
    (None, [dict(udp("10.0.0.1", "10.0.0.2", 6783, "tcp"), sport=41000)], "control"),
])
def test_weave_ports(entry, flows, mode):
    guess = guess_cni(report([entry] if entry else [], flows=flows))
    assert (guess["name"], guess["mode"], guess["confidence"]) == ("weave", mode, "high")
    assert "WEAVE_MTU" in guess["mtu_setting"]


def test_flannels_udp_backend_port():
    guess = guess_cni(report([vxlan(8285, [], kind="udp-tunnel")]))
    assert (guess["name"], guess["mode"]) == ("flannel", "udp")


IPIP = vxlan(None, [], kind="ipip")


def test_ipip_with_calico_blocks_and_a_tunl0_address_is_calico():
    nodes = [node("10.0.0.11", pods=["10.244.5.64", "10.244.5.70"], bgp=["10.244.5.64/26"]),
             node("10.0.0.12", pods=["10.244.9.2"], bgp=["10.244.9.0/26"])]
    guess = guess_cni(report([IPIP], nodes))
    assert (guess["name"], guess["mode"], guess["confidence"]) == ("calico", "ipip", "high")
    assert any("10.244.5.64 behind 10.0.0.11 begins a /26 block" in e for e in guess["evidence"])


def test_ipip_with_a_tunl0_address_only_is_calico_with_less_confidence():
    guess = guess_cni(report([IPIP], [node("10.0.0.11", pods=["10.244.5.128"])]))
    assert (guess["name"], guess["confidence"]) == ("calico", "medium")


def test_ipip_with_bgp_of_whole_node_cidrs_leans_to_kube_router():
    nodes = [node("10.0.0.11", pods=["10.244.1.5"], bgp=["10.244.1.0/24"])]
    guess = guess_cni(report([IPIP], nodes))
    assert (guess["name"], guess["confidence"], guess["candidates"]) == ("kube-router", "low", ["kube-router", "calico"])
    assert "--auto-mtu" in guess["mtu_setting"]


def test_ipip_carrying_a_node_address_leans_to_kube_router():
    nodes = [node("10.0.0.11", pods=["10.0.0.11", "10.244.1.5"]), node("10.0.0.12", pods=["10.244.2.5"])]
    guess = guess_cni(report([IPIP], nodes))
    assert guess["name"] == "kube-router"
    assert any("sends its own underlay address 10.0.0.11" in e for e in guess["evidence"])


def test_ipip_alone_stays_unknown():
    guess = guess_cni(report([IPIP], [node("10.0.0.11", pods=["10.244.1.5"])]))
    assert (guess["name"], guess["mode"], guess["candidates"]) == ("unknown", "ipip", ["calico", "kube-router"])


def test_native_routing_with_bgp():
    blocks = guess_cni(report(nodes=[node("10.0.0.11", bgp=["10.244.1.0/26", "10.244.1.64/26"])]))
    assert (blocks["name"], blocks["mode"], blocks["confidence"]) == ("calico", "bgp", "medium")
    node_cidrs = guess_cni(report(nodes=[node("10.0.0.11", bgp=["10.244.1.0/24"])]))
    assert (node_cidrs["name"], node_cidrs["mode"]) == ("unknown", "bgp")
    assert node_cidrs["candidates"] == ["calico", "kube-router", "cilium"]


def test_ipsec_never_names_a_cni():
    flows = [udp("10.0.0.11", "10.0.0.12", None, "esp"), udp("10.0.0.11", "10.0.0.12", 500)]
    guess = guess_cni(report(flows=flows))
    assert (guess["name"], guess["mode"]) == ("unknown", "ipsec")
    assert guess["evidence"][1] == "IKE on UDP 500 between 10.0.0.11 > 10.0.0.12"


def test_two_cnis_marks_with_equal_confidence_give_unknown():
    guess = guess_cni(report([vxlan(8472, [1]), vxlan(4789, [4096])], TWO_NODES))
    assert (guess["name"], guess["candidates"]) == ("unknown", ["calico", "flannel"])


def test_a_weaker_second_mark_is_kept_as_evidence():
    flows = [udp("192.168.1.11", "192.168.1.12", 51871)]
    guess = guess_cni(report([vxlan(8472, [1])], TWO_NODES, flows))
    assert guess["name"] == "flannel"
    assert any(e.startswith("also seen: cilium wireguard (medium)") for e in guess["evidence"])


@pytest.mark.parametrize("bad", [None, [], "report", {"encapsulation": "vxlan"}, {"nodes": [1, None]},
                                 {"encapsulation": [{"type": "vxlan", "udp_port": 8472, "packets": "x", "vnis": "1"}]},
                                 {"nodes": [{"ip": "x", "pods": ["not-an-ip"], "bgp_advertised": [5]}],
                                  "encapsulation": [{"type": "ipip", "packets": 3}]}])
def test_bad_input_is_unknown_not_an_exception(bad):
    guess = guess_cni(bad)
    assert guess["name"] == "unknown" and guess["confidence"] == "none"
    assert set(guess) == {"name", "mode", "confidence", "summary", "evidence", "candidates", "needed", "mtu_setting"}


def test_every_named_cni_has_an_mtu_setting():
    assert set(MTU_SETTINGS) == {"flannel", "calico", "cilium", "antrea", "ovn-kubernetes", "weave", "kube-router"}
    assert all(len(text) > 40 for text in MTU_SETTINGS.values())


def test_the_decoders_esp_class_in_udp_4500_and_as_ip_protocol_50():
    in_udp = guess_cni(report([vxlan(4500, [], kind="esp")]))
    assert (in_udp["name"], in_udp["mode"]) == ("unknown", "ipsec")
    assert in_udp["summary"].startswith("unknown ipsec - ESP in UDP 4500;") and "ESP (IP" not in in_udp["summary"]
    bare = guess_cni(report([vxlan(None, [], kind="esp")]))
    assert bare["evidence"][0] == "ESP (IP protocol 50) between the nodes" and bare["candidates"][0] == "cilium"


def test_wireguard_classified_on_another_port_is_wireguard_of_an_unknown_cni():
    guess = guess_cni(report([vxlan(41000, [], kind="wireguard")]))
    assert (guess["name"], guess["mode"]) == ("unknown", "wireguard")
    assert guess["candidates"] == ["cilium", "calico", "flannel"]
    assert guess["summary"] == ("unknown wireguard - WireGuard on UDP 41000 (100 packets); could be cilium, calico or "
                                "flannel")


def test_a_tunnel_no_rule_reads_is_the_mode_of_an_unknown_guess():
    guess = guess_cni(report([vxlan(None, [], kind="gre")]))
    assert (guess["name"], guess["mode"], guess["mtu_setting"]) == ("unknown", "gre", None)
    assert "no CNI uses by default" in guess["evidence"][0]


def test_one_node_with_one_vtep_mac_is_flannel_with_medium_confidence():
    guess = guess_cni(report([vxlan(8472, [1])], TWO_NODES[:1]))
    assert (guess["name"], guess["confidence"]) == ("flannel", "medium")
    assert guess["evidence"][1] == "VTEP MACs of 1 node only: one per node not shown"
