"""The CNI guess on every sample (sample_pcaps/**), lab and corpus capture, against a table checked by hand.

How each row was checked: the sample and lab captures' README/truth.json say what they imitate, and the
guess names a CNI only where the wire carries that CNI's own default marks; "Calico-like" or
"Antrea-like" captures whose marks are generic (IPIP without BGP or a tunl0 address, Geneve whose
option classes the report does not carry, BIRD announcing /24s, VXLAN 4789 with a random VNI) stay
unknown.  The public corpus captures come from protocol test suites (tcpdump, zeek, suricata, nDPI,
libpcap) and namespace experiments (kaorimatz/pcaps), not from Kubernetes clusters (manifest.tsv's repo
column names every origin; none is a cluster, the GCP and AWS ones are cloud networks, not CNIs): none
carries a CNI's defaults (VNIs 100, 5001, 4242, a 4789/VNI 1 Linux test, AWS mirroring VNI 5569041,
GCP/AWS Geneve), so every one is unknown, with the mode its tunnel shows.
"""
from __future__ import annotations

import pytest

import pcapdiag
from conftest import CORPUS, LAB, SAMPLES
from pcapdiag.cni import guess_cni

EXPECTED = {
    # flannel's defaults: VXLAN 8472, VNI 1, one VTEP MAC per node
    "sample_pcaps/vxlan-flannel-8472.pcap": ("flannel", "vxlan"),
    "sample_pcaps/vxlan-mtu-broken.node1-any.pcap": ("flannel", "vxlan"),
    "sample_pcaps/vxlan-mtu-broken.pcap": ("flannel", "vxlan"),
    "lab/vxlan-flannel-offload.pcap": ("flannel", "vxlan"),
    "lab/vxlan-flannel.node2-any.pcap": ("flannel", "vxlan"),
    "lab/vxlan-flannel.pcap": ("flannel", "vxlan"),
    "lab/vxlan-mtu-broken.node1-any.pcap": ("flannel", "vxlan"),
    "lab/vxlan-mtu-broken.pcap": ("flannel", "vxlan"),
    "lab/vxlan-mtu-outerfrag.pcap": ("flannel", "vxlan"),
    # the same kernel flannel.1 lab (multi/README.md, silent-loss/truth.json: "kernel vxlan device flannel.1",
    # 8472, VNI 1); vxlan-one-way.node1 sees one node's VTEP MAC only, so it is flannel with medium confidence
    "sample_pcaps/multi/node1-any.pcap": ("flannel", "vxlan"),
    "sample_pcaps/multi/node1-eth0.pcap": ("flannel", "vxlan"),
    "sample_pcaps/multi/node2-any.pcap": ("flannel", "vxlan"),
    "sample_pcaps/multi/node2-eth0.pcap": ("flannel", "vxlan"),
    **{f"sample_pcaps/silent-loss/vxlan-{scenario}.node{n}-eth0.pcap": ("flannel", "vxlan")
       for scenario in ("capture-cut", "healthy", "one-way", "pmtu1300", "pmtu1380", "pmtu1400", "random-loss")
       for n in (1, 2)},
    # generic marks: "unknown" (see the module docstring)
    "sample_pcaps/geneve.pcap": ("unknown", "geneve"),
    "sample_pcaps/ipip.pcap": ("unknown", "ipip"),
    "sample_pcaps/native-bgp.pcap": ("unknown", "bgp"),
    "sample_pcaps/vxlan-4789.pcap": ("unknown", "vxlan"),
    "lab/geneve-userspace.pcap": ("unknown", "geneve"),
    "lab/ipip-userspace.pcap": ("unknown", "ipip"),
    "lab/native-bgp.pcap": ("unknown", "bgp"),
    "lab/vxlan-4789.pcap": ("unknown", "vxlan"),
    "lab/vxlan-4789.pcapng": ("unknown", "vxlan"),
    # a userspace tunl0 without BGP; routes via the other node with no BGP on the wire
    "sample_pcaps/silent-loss/ipip-pmtu1380.node1-eth0.pcap": ("unknown", "ipip"),
    "sample_pcaps/silent-loss/ipip-pmtu1380.node2-eth0.pcap": ("unknown", "ipip"),
    "sample_pcaps/silent-loss/native-pmtu1300.node1-eth0.pcap": ("unknown", None),
    "sample_pcaps/silent-loss/native-pmtu1300.node2-eth0.pcap": ("unknown", None),
    # the encrypted lab: Cilium's WireGuard port 51871 names Cilium (only the port so far: medium);
    # 51820/51821 are Calico's and flannel's alike; IPsec never names a CNI
    "sample_pcaps/encrypted/esp-in-udp-4500.pcap": ("unknown", "ipsec"),
    "sample_pcaps/encrypted/esp-tunnel.pcap": ("unknown", "ipsec"),
    "sample_pcaps/encrypted/ike-unanswered.pcap": ("unknown", "ipsec"),
    "sample_pcaps/encrypted/wg-device-mtu-1500.pcap": ("unknown", "wireguard"),
    "sample_pcaps/encrypted/wg-handshake-blocked.pcap": ("cilium", "wireguard"),
    "sample_pcaps/encrypted/wg-healthy.pcap": ("cilium", "wireguard"),
    "sample_pcaps/encrypted/wg-ipv6-underlay.pcap": ("unknown", "wireguard"),
    "sample_pcaps/encrypted/wg-pod-mtu-1500.pcap": ("unknown", "wireguard"),
    # public captures with a tunnel but no CNI's defaults
    "corpus/kaorimatz-pcaps__ipip__ping__veth2.pcap": ("unknown", "ipip"),
    "corpus/kaorimatz-pcaps__vxlan__ping__veth2.pcap": ("unknown", "vxlan"),
    "corpus/libpcap__geneve.pcap": ("unknown", "geneve"),
    "corpus/nDPI__4in4tunnel.pcap": ("unknown", "ipip"),
    "corpus/suricata-verify__bug-6402-01__input.pcap": ("unknown", "geneve"),
    "corpus/suricata-verify__geneve-decoder__input.pcap": ("unknown", "geneve"),
    "corpus/suricata-verify__vxlan-decoder-03__vxlan.pcap": ("unknown", "vxlan"),
    "corpus/suricata-verify__vxlan-non-zero-reserved-fields__input.pcap": ("unknown", "vxlan"),
    "corpus/tcpdump__bigtcp-ipv4-vxlan-ipv4.pcap": ("unknown", "vxlan"),
    "corpus/tcpdump__bigtcp-ipv6-geneve-ipv6.pcap": ("unknown", "geneve"),
    "corpus/tcpdump__geneve-gcp.pcap": ("unknown", "geneve"),
    "corpus/tcpdump__geneve.pcap": ("unknown", "geneve"),
    "corpus/tcpdump__gso-ipv4-geneve-ipv6.pcap": ("unknown", "geneve"),
    "corpus/tcpdump__gso-ipv4-vxlan-ipv4.pcap": ("unknown", "vxlan"),
    "corpus/tcpdump__gso-ipv6-vxlan-ipv6.pcap": ("unknown", "vxlan"),
    "corpus/tcpdump__nsh-over-vxlan-gpe.pcap": ("unknown", "vxlan"),
    "corpus/tcpdump__vxlan.pcap": ("unknown", "vxlan"),
    "corpus/tcpdump__vxlan_port_8472.pcap": ("unknown", "vxlan"),
    "corpus/zeek__4in4.pcap": ("unknown", "ipip"),
    "corpus/zeek__geneve-47101.pcap": ("unknown", "geneve"),
    "corpus/zeek__geneve-ipv6.pcap": ("unknown", "geneve"),
    "corpus/zeek__geneve-many-options.pcap": ("unknown", "geneve"),
    "corpus/zeek__geneve-tagged-udp-packet.pcap": ("unknown", "geneve"),
    "corpus/zeek__geneve-truncated.pcapng": ("unknown", "geneve"),
    "corpus/zeek__geneve-vxlan-dns-truncated.pcap": ("unknown", "geneve"),
    "corpus/zeek__vxlan-encapsulated-http.pcap": ("unknown", "vxlan"),
    "corpus/zeek__vxlan-overlapping-http-get.pcap": ("unknown", "vxlan"),
    "corpus/zeek__vxlan-triple-v2.pcap": ("unknown", "vxlan"),
    # tunnels no CNI uses by default (GRE, 6in4, 4in6, 6in6, GUE on 6080): unknown, the tunnel as the mode
    "corpus/kaorimatz-pcaps__gue-ipip__ping__veth2.pcap": ("unknown", "udp-tunnel"),
    "corpus/nDPI__4in6tunnel.pcap": ("unknown", "4in6"),
    "corpus/nDPI__6in4tunnel.pcap": ("unknown", "6in4"),
    "corpus/nDPI__gre.pcapng": ("unknown", "gre"),
    "corpus/suricata-verify__tunnel-pkt-flows.pcap": ("unknown", "4in6"),
    "corpus/tcpdump__pptp.pcap": ("unknown", "gre"),
    "corpus/tcpdump__various_gre.pcap": ("unknown", "gre"),
    "corpus/zeek__4in6.pcap": ("unknown", "4in6"),
    "corpus/zeek__6in4.pcap": ("unknown", "6in4"),
    "corpus/zeek__6in6.pcap": ("unknown", "6in6"),
    "corpus/zeek__6in6in6.pcap": ("unknown", "6in6"),
    "corpus/zeek__gre-sample.pcap": ("unknown", "gre"),
    "corpus/zeek__ping6-in-ipv4.pcap": ("unknown", "6in4"),
}
# public captures with no tunnel, WireGuard, IPsec or BGP at all (captures on a tunnel device itself hold
# only the inner packets): (unknown, None)
NO_OVERLAY = [
    "kaorimatz-pcaps__802.1q__ping__veth2.pcap",
    "kaorimatz-pcaps__gre-ip__ping__gre2.pcap",
    "kaorimatz-pcaps__ipip__ping__tunl2.pcap",
    "kaorimatz-pcaps__vxlan__ping__vxlan2.pcap",
    "libpcap__ah-ipip-ping.pcap",
    "suricata-verify__decode-sll2-01__input.pcap",
    "suricata-verify__decode-sll2-02__input.pcap",
    "suricata-verify__decode-too-many-layers__input.pcap",
    "suricata-verify__flow-test-01.pcap",
    "suricata-verify__frag-eth-vlan-ip-tcp-syn.pcap",
    "suricata-verify__http-mime-truncated__input.pcap",
    "suricata-verify__toobig.pcap",
    "tcpdump__802.1ad_QinQ.pcap",
    "tcpdump__LINKTYPE_IPV4.pcap",
    "tcpdump__ipv4_tcp_http_xml_tso.pcap",
    "tcpdump__mptcp-v1.pcap",
    "tcpdump__tcp-handshake-nano.pcap",
    "zeek__fragmented-1.pcap",
    "zeek__fragmented-3.pcap",
    "zeek__get-to-ssh-server.pcap",
    "zeek__icmp6-toobig.pcap",
    "zeek__icmp_dot1q.pcap",
    "zeek__ipv6-fragmented-dns.pcap",
    "zeek__linux_dlt_sll2.pcap",
    "zeek__linuxsll-arp.pcap",
]
EXPECTED.update({f"corpus/{name}": ("unknown", None) for name in NO_OVERLAY})


def captures():
    found = sorted(SAMPLES.rglob("*.pcap*"))
    found += sorted(LAB.glob("*.pcap*")) + sorted(CORPUS.glob("*.pcap*"))
    return found


def key(path):
    if path.parent == LAB:
        return f"lab/{path.name}"
    if path.parent == CORPUS:
        return f"corpus/{path.name}"
    return path.relative_to(SAMPLES.parent).as_posix()


def test_every_capture_has_a_row_and_every_row_a_capture():
    keys = {key(p) for p in captures()}
    assert keys - set(EXPECTED) == set(), "new captures need a hand-checked row"
    if CORPUS.is_dir():
        assert set(EXPECTED) - keys == set()


@pytest.mark.parametrize("path", captures(), ids=key)
def test_guess(path):
    guess = guess_cni(pcapdiag.analyze(str(path)).to_dict())
    assert (guess["name"], guess["mode"]) == EXPECTED[key(path)], guess["evidence"]
    assert guess["evidence"]
    assert (guess["mtu_setting"] is None) == (guess["name"] == "unknown")
