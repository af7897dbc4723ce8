"""What the lab builds: addresses, MTUs, traffic sizes and the WireGuard scenarios."""
from __future__ import annotations

from dataclasses import dataclass

PREFIX = "clab-"                      # every namespace this lab makes; nothing else is touched
UNDERLAY4 = {1: "192.168.71.11", 2: "192.168.71.12"}
UNDERLAY6 = {1: "fd71::11", 2: "fd71::12"}
PODS = {1: "10.246.1.2", 2: "10.246.2.2"}
CIDRS = {1: "10.246.1.0/24", 2: "10.246.2.0/24"}
GATEWAYS = {1: "10.246.1.1", 2: "10.246.2.1"}
UNDERLAY_MTU = 1500
SNAPLEN = 128                         # enough for every WireGuard, ESP and IKE header over IPv6 (+ Ethernet)
SERVER_PORT = 8080
SMALL_BYTES, SMALL_ROUNDS = 200, 3
PING_SIZES = [56, 500, 1000, 1300, 1352, 1372, 1392, 1400, 1412, 1452, 1472]
TOOLS = ("ip", "nft", "tcpdump", "tshark", "capinfos", "ping", "wg", "wireguard-go", "ethtool")

# WireGuard's cost on the wire (wireguard.com/papers/wireguard.pdf, section 5.4.6): outer IP + UDP 8 +
# 16-byte data header (type, reserved, receiver index, counter) + 16-byte Poly1305 tag, and the plaintext
# padded to a multiple of 16 (so one to fifteen bytes more, for inner sizes that are not a multiple of 16).
WG_FIXED = {4: 20 + 8 + 32, 6: 40 + 8 + 32}
# The ports the CNIs give their WireGuard devices (Cilium's cilium_wg0; Calico's wireguard.cali and
# flannel's flannel-wg use 51820, and 51821 for the IPv6 device).
WG_PORTS = {"cilium": 51871, "calico/flannel": 51820, "calico/flannel IPv6": 51821}


@dataclass
class WgScenario:
    name: str
    port: int
    wg_mtu: int
    pod_mtu: int
    about: str
    ip_version: int = 4               # of the underlay the tunnel runs over
    fault: str = "none"               # none | blocked (the responder drops the WireGuard port)
    rekey: bool = False               # drop and re-add the peer midway: a second handshake, new indices
    bulk_bytes: int = 300_000
    expect: dict | None = None        # what a diagnosis should conclude

    @property
    def underlay(self):
        return UNDERLAY6 if self.ip_version == 6 else UNDERLAY4


SCENARIOS = [
    WgScenario("wg-healthy", 51871, 1420, 1420,
               "WireGuard on Cilium's port 51871, device MTU 1420 on a 1500 underlay, pods at 1420; the peer is "
               "removed and re-added halfway, so the capture holds two handshakes (two sessions)",
               rekey=True, expect={"handshakes_complete": True, "mtu_fault": None, "cni": "cilium"}),
    WgScenario("wg-ipv6-underlay", 51821, 1420, 1420,
               "WireGuard over an IPv6 underlay on port 51821 (Calico's and flannel's IPv6 WireGuard port), "
               "device MTU 1420 = 1500 - 80: full-size packets make outer IPv6 packets of exactly 1500 bytes",
               ip_version=6, expect={"handshakes_complete": True, "mtu_fault": None}),
    WgScenario("wg-pod-mtu-1500", 51820, 1420, 1500,
               "WireGuard on port 51820 (Calico/flannel), device MTU 1420, but the pods left at 1500: the node "
               "answers DF packets with ICMP frag-needed (mtu 1420) on its own side and fragments the others "
               "before encryption, so the underlay carries pairs of WireGuard packets for one pod packet",
               expect={"handshakes_complete": True, "mtu_fault": "pod MTU 1500 > WireGuard MTU 1420"}),
    WgScenario("wg-device-mtu-1500", 51820, 1500, 1500,
               "WireGuard device MTU 1500 on a 1500 underlay (pods 1500): a full-size pod packet becomes a "
               "1560-byte outer packet that does not fit the underlay",
               expect={"handshakes_complete": True, "mtu_fault": "WireGuard MTU 1500 + 60 > underlay 1500"}),
    WgScenario("wg-handshake-blocked", 51871, 1420, 1420,
               "WireGuard on 51871 where node2 drops the port (nftables input rule, as a firewall would): node1 "
               "sends handshake initiations every 5 s and never gets a response; no pod packet crosses",
               fault="blocked", bulk_bytes=0,
               expect={"handshakes_complete": False, "finding": "tunnel.handshake-incomplete"}),
]
