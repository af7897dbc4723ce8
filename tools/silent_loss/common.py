"""What the lab builds: addresses, MTUs, the traffic, the scenarios; and run(), the one way to run a command."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass

PREFIX = "slab-"
UNDERLAY = "192.168.60"
NODES = {1: f"{UNDERLAY}.11", 2: f"{UNDERLAY}.12"}
PODS = {1: "10.244.1.2", 2: "10.244.2.2"}
CIDRS = {1: "10.244.1.0/24", 2: "10.244.2.0/24"}
VXLAN_PORT, VNI = 8472, 1
OVERHEAD = {"vxlan": 50, "ipip": 20, "native": 0}
POD_MTU = {"vxlan": 1450, "ipip": 1480, "native": 1500}
UNDERLAY_MTU = 1500
PING_SIZES = [100, 500, 1000, 1200, 1250, 1290, 1300, 1310, 1350, 1372, 1400, 1422, 1452, 1472]
PINGS_PER_SIZE = 3
SMALL_BYTES, SMALL_ROUNDS = 200, 3
STALL_S = 8.0
SNAPLEN = 200
RANDOM_LOSS = 0.05
SERVER_PORT = 8080
TOOLS = ("ip", "bridge", "nft", "tcpdump", "tshark", "capinfos", "ethtool", "ping")


@dataclass
class Scenario:
    name: str
    encap: str
    fault: str              # pmtu | random | oneway | cut | none
    path_mtu: int = UNDERLAY_MTU
    bulk_bytes: int = 200_000
    cut_packets: int = 0    # tcpdump -c on both nodes (the "capture stopped mid-transfer" case)
    about: str = ""


SILENT = "tunnel packets longer than the path MTU vanish silently"
SCENARIOS = [
    Scenario("vxlan-pmtu1400", "vxlan", "pmtu", 1400, about=f"VXLAN, path MTU 1400 < 1500: full-size {SILENT}"),
    Scenario("vxlan-pmtu1380", "vxlan", "pmtu", 1380, about=f"VXLAN, path MTU 1380: {SILENT}"),
    Scenario("vxlan-pmtu1300", "vxlan", "pmtu", 1300, about=f"VXLAN, path MTU 1300: {SILENT}"),
    Scenario("ipip-pmtu1380", "ipip", "pmtu", 1380,
             about=f"IPIP (userspace tunl0, outer DF set), path MTU 1380: {SILENT}"),
    Scenario("native-pmtu1300", "native", "pmtu", 1300,
             about="native routing (no tunnel), pod MTU 1500, path MTU 1300: packets longer than 1300 vanish silently"),
    Scenario("vxlan-random-loss", "vxlan", "random", bulk_bytes=500_000,
             about="VXLAN without MTU fault; 5% of the node1->node2 tunnel packets dropped at random; "
                   "the upload completes with retransmissions"),
    Scenario("vxlan-capture-cut", "vxlan", "cut", bulk_bytes=4_000_000, cut_packets=500,
             about="healthy VXLAN; both captures stop after 500 packets in the middle of a bulk upload "
                   "(the last segments are unacknowledged only because the capture ended)"),
    Scenario("vxlan-one-way", "vxlan", "oneway",
             about="VXLAN one-way tunnel: every node2->node1 tunnel packet is dropped, so node2's SYN-ACKs "
                   "and echo replies never reach node1"),
    Scenario("vxlan-healthy", "vxlan", "none", about="healthy VXLAN, for comparison"),
]


def run(*args, check=True, timeout=60):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"failed ({r.returncode}): {' '.join(args)}\n{r.stdout}{r.stderr}")
    return r.stdout
