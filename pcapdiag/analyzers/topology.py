"""Node <-> pod topology: who lives behind which underlay address.

Tunnelled traffic tells it directly: the inner source is behind the outer
source and the inner destination behind the outer destination. Natively
routed traffic does not; there the BGP UPDATEs in the capture (each node
advertising its pod CIDR) are the truth, and pod addresses are matched to them.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np

from ..decode.facts import Facts, keys_of, text_key
from .groups import TUNNEL_KEYS, group_codes

ADDRESS_CAP = 50_000  # (node, vni, pod) triples kept; beyond it new ones are counted, not stored
DEFAULT_NODE_PREFIX = {4: 24, 6: 64}
BGP_PORT = 179
NATIVE_KEY = text_key("native")
_TUNNEL_COLUMNS = ["outer_src", "outer_dst", "vni", "inner_src", "inner_dst", "inner_smac"]  # Kubernetes' default per-node pod CIDR sizes (--node-cidr-mask-size)


@dataclass(frozen=True)
class TopologyResult:
    nodes: list           # per underlay address: its pods, pod CIDRs, MACs, VNIs, peers
    conflicts: list       # pod addresses sending from behind two nodes in one VNI
    cidr_overlaps: list   # pairs of nodes whose pod CIDRs overlap
    dropped: int          # pairings seen beyond the cap, not kept
    cap: int              # the address cap


class TopologyAnalyzer:
    name = "topology"
    distinct_only = False
    reads = ("outer_class", "inner_ipv", "inner_src", "inner_dst", "outer_src", "outer_dst", "vni", "inner_smac",
             "sport", "dport", "inner_proto", "bgp_prefixes", "nested_loop")

    def __init__(self, cap: int = ADDRESS_CAP):
        self.cap = cap
        self.pods: set = set()          # (node ip, vni, pod ip): the pod sent from behind the node
        self.receivers: set = set()     # (node ip, vni, pod ip): the pod was sent to behind the node
        self.macs: set = set()          # (node ip, inner source MAC) - the VTEP MAC
        self.peers: set = set()         # (node ip, peer node ip)
        self.native_addresses: set = set()
        self.bgp_routes: set = set()    # (speaker ip, prefix)
        self.dropped = 0

    def _add(self, target: set, items) -> None:
        for item in items:
            if len(target) < self.cap:
                target.add(item)
            elif item not in target:
                self.dropped += 1

    def update(self, facts: Facts) -> None:
        outer_class = keys_of(facts, "outer_class")
        inner_src = keys_of(facts, "inner_src")
        tunnelled = np.isin(outer_class, TUNNEL_KEYS)
        # every tunnel endpoint is a node, whatever its tunnel carries (ARP, or the node's own packets)
        ends = np.flatnonzero(tunnelled)
        if len(ends):
            first = group_codes(facts, ["outer_src", "outer_dst"], ends)[1]
            self._add(self.peers, dict.fromkeys(zip(facts.take("outer_src", ends[first]).tolist(),
                                                    facts.take("outer_dst", ends[first]).tolist())))
        # a tunnel looped into itself (nested_loop) carries its pods behind an inner level's nodes, not the
        # outer one's: only the tunnel.nested-loop finding speaks of those packets
        tunnel = np.flatnonzero(tunnelled & (facts["inner_ipv"] > 0) & (inner_src != keys_of(facts, "outer_src"))
                                & ~facts["nested_loop"])
        if len(tunnel):
            # one de-duplication per batch (on integer keys); the few distinct rows feed every set
            first = group_codes(facts, _TUNNEL_COLUMNS, tunnel)[1]
            seen = {name: facts.take(name, tunnel[first]).tolist() for name in _TUNNEL_COLUMNS}
            node, peer, vni = seen["outer_src"], seen["outer_dst"], seen["vni"]
            self._add(self.pods, dict.fromkeys(zip(node, vni, seen["inner_src"])))
            self._add(self.receivers, dict.fromkeys(zip(peer, vni, seen["inner_dst"])))
            self._add(self.macs, dict.fromkeys((ip, mac) for ip, mac in zip(node, seen["inner_smac"]) if mac))
        native = outer_class == NATIVE_KEY
        if native.any():
            rows = np.flatnonzero(native)
            for side in ("inner_src", "inner_dst"):
                first = group_codes(facts, [side], rows)[1]
                self._add(self.native_addresses, facts.take(side, rows[first]).tolist())
            # natively routed nodes talk BGP (TCP 179) to each other: those sessions are the node peerings
            bgp = native & ((facts["sport"] == BGP_PORT) | (facts["dport"] == BGP_PORT)) \
                & (facts["inner_proto"] == 6)
            if bgp.any():
                self._add(self.peers, dict.fromkeys(zip(facts.take("outer_src", bgp).tolist(),
                                                        facts.take("outer_dst", bgp).tolist())))
                # only BGP segments carry announced prefixes
                announcing = bgp & (facts["bgp_prefixes"] != "")
                for speaker, prefixes in zip(facts.take("outer_src", announcing).tolist(),
                                             facts.take("bgp_prefixes", announcing).tolist()):
                    self._add(self.bgp_routes, ((speaker, prefix) for prefix in prefixes.split()))

    def merge(self, other: "TopologyAnalyzer") -> None:
        for name in ("pods", "receivers", "macs", "peers", "native_addresses", "bgp_routes"):
            self._add(getattr(self, name), getattr(other, name))
        self.dropped += other.dropped

    def result(self) -> TopologyResult:
        nodes: dict[str, dict] = {}

        def node(ip):
            return nodes.setdefault(ip, {"ip": ip, "macs": set(), "pods": set(), "pod_cidrs": [],
                                         "pod_cidr_source": None, "peers": set(), "vnis": set(),
                                         "advertised": set()})

        senders = {(vni, pod) for _, vni, pod in self.pods}
        # a node's own address is no pod, even where a tunnel inside a tunnel (a loop) carries it as inner
        endpoints = {address for pair in self.peers for address in pair}
        # a destination is behind the node it was tunnelled to, unless it is seen sending from elsewhere
        # (mirrored or hairpinned traffic carries both directions inside one tunnel direction)
        receivers = {item for item in self.receivers if (item[1], item[2]) not in senders
                     and is_pod_address(item[2], sender=False) and item[2] not in endpoints}
        for node_ip, vni, pod in {item for item in self.pods if is_pod_address(item[2]) and item[2] not in endpoints} \
                | receivers:
            entry = node(node_ip)
            entry["pods"].add(pod)
            if vni >= 0:
                entry["vnis"].add(int(vni))
        for node_ip, mac in self.macs:
            node(node_ip)["macs"].add(mac)
        for node_ip, peer in self.peers:
            node(node_ip)["peers"].add(peer)
            node(peer)["peers"].add(node_ip)
        for speaker, prefix in self.bgp_routes:
            node(speaker)["advertised"].add(prefix)
        self._native_pods(nodes)
        conflicts = self._conflicts(endpoints)
        _infer_pod_cidrs(nodes)
        out = []
        for ip in sorted(nodes, key=_address_sort_key):
            entry = nodes[ip]
            out.append({
                "ip": ip,
                "macs": sorted(entry["macs"]),
                "pods": sorted(entry["pods"], key=_address_sort_key),
                "pod_cidrs": entry["pod_cidrs"],
                "pod_cidr_source": entry["pod_cidr_source"],
                "bgp_advertised": sorted(entry["advertised"]),
                "vnis": sorted(entry["vnis"]),
                "peers": sorted(entry["peers"], key=_address_sort_key),
            })
        return TopologyResult(nodes=out, conflicts=conflicts, cidr_overlaps=_cidr_overlaps(out), dropped=self.dropped,
                              cap=self.cap)

    def _native_pods(self, nodes: dict) -> None:
        routes = []
        for speaker, prefix in self.bgp_routes:
            try:
                routes.append((ipaddress.ip_network(prefix, strict=False), speaker))
            except ValueError:
                continue
        if not routes:
            return
        for address in self.native_addresses:
            if not is_pod_address(address):
                continue
            parsed = ipaddress.ip_address(address)
            for network, speaker in routes:
                if parsed.version == network.version and parsed in network and address != speaker:
                    nodes[speaker]["pods"].add(address)

    def _conflicts(self, endpoints: set) -> list[dict]:
        """A pod address *sending* from behind two nodes in one VNI: the strongest evidence there is."""
        behind: dict = {}
        for node_ip, vni, pod in self.pods:
            if not is_pod_address(pod) or pod in endpoints:
                continue
            behind.setdefault((pod, vni), set()).add(node_ip)
        return [{"pod": pod, "vni": vni if vni >= 0 else None, "nodes": sorted(nodes_)}
                for (pod, vni), nodes_ in sorted(behind.items(), key=lambda kv: (_address_sort_key(kv[0][0]), kv[0][1]))
                if len(nodes_) > 1]


def is_pod_address(address: str, sender: bool = True) -> bool:
    """Whether an address can be a pod's: not multicast, broadcast, link-local, loopback, unspecified or
    reserved. A destination ending in .255 that never sends is a subnet's broadcast (a pod at the top of a
    block, as Calico assigns them, also sends)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    if parsed.is_multicast or parsed.is_unspecified or parsed.is_loopback or parsed.is_link_local:
        return False
    if parsed.version == 4:
        return not parsed.is_reserved and (sender or not address.endswith(".255"))
    return True


def _cidr_overlaps(nodes: list) -> list[dict]:
    """Pairs of nodes whose pod CIDRs (advertised or inferred) overlap: two nodes claiming the same pods."""
    networks = [(node["ip"], ipaddress.ip_network(cidr, strict=False)) for node in nodes for cidr in node["pod_cidrs"]]
    return [{"nodes": [a, b], "cidrs": [str(x), str(y)]}
            for i, (a, x) in enumerate(networks) for b, y in networks[i + 1:]
            if a != b and x.version == y.version and x.overlaps(y)]


def _address_sort_key(address: str):
    try:
        parsed = ipaddress.ip_address(address)
        return (parsed.version, int(parsed))
    except ValueError:
        return (9, 0)


def _infer_pod_cidrs(nodes: dict) -> None:
    """BGP-advertised prefixes where there are any; otherwise the node's pods' covering prefix,
    widened to the Kubernetes default per-node size when that covers no other node's pod."""
    pods_by_node = {ip: [ipaddress.ip_address(p) for p in entry["pods"]] for ip, entry in nodes.items()}
    for ip, entry in nodes.items():
        if entry["advertised"]:
            entry["pod_cidrs"] = sorted(entry["advertised"])
            entry["pod_cidr_source"] = "bgp"
            continue
        cidrs = []
        for version in (4, 6):
            mine = [p for p in pods_by_node[ip] if p.version == version]
            if not mine:
                continue
            others = [p for other, pods in pods_by_node.items() if other != ip for p in pods if p.version == version]
            covering = _covering_network(mine)
            widened = covering.supernet(new_prefix=DEFAULT_NODE_PREFIX[version]) \
                if covering.prefixlen > DEFAULT_NODE_PREFIX[version] else covering
            if not any(p in widened for p in others):
                cidrs.append(str(widened))
                entry["pod_cidr_source"] = "inferred"
            elif not any(p in covering for p in others):
                cidrs.append(str(covering))
                entry["pod_cidr_source"] = "inferred (narrowed: other nodes' pods are close)"
            else:
                entry["pod_cidr_source"] = "none: this node's pods interleave with another node's"
        entry["pod_cidrs"] = cidrs


def _covering_network(addresses):
    low, high = int(min(addresses)), int(max(addresses))
    bits = 32 if addresses[0].version == 4 else 128
    prefix = bits - (low ^ high).bit_length()
    network_class = ipaddress.IPv4Network if bits == 32 else ipaddress.IPv6Network
    return network_class((low >> (bits - prefix) << (bits - prefix), prefix))
