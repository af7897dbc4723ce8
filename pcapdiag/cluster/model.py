"""The cluster as a kubectl dump describes it: nodes, pods and services, and address -> name lookups.

Only what the cross-checks and the names need is kept (see load.py for where each field comes from).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime


class ClusterError(ValueError):
    """A cluster dump that cannot be used; the message is one line naming the file and the problem."""


def normal_address(text) -> str | None:
    """An address in the report's spelling (compressed IPv6, no zone), or None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def inside(address, cidrs) -> bool:
    """True if the address lies in one of the CIDRs (of its own IP version)."""
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in map(ipaddress.ip_network, cidrs) if network.version == ip.version)


@dataclass(frozen=True)
class Backend:
    """How the CNI says a node's pod traffic crosses the underlay (from its node annotations)."""
    source: str                      # "flannel" or "calico": whose annotation says so
    kind: str                        # flannel's backend-type, or "ipip"/"vxlan" for Calico's tunnel addresses
    classes: frozenset | None        # encapsulation classes allowed between nodes (empty: native; None: unknown)
    vni: int | None = None           # flannel vxlan backend-data VNI
    vtep_mac: str | None = None      # flannel vxlan backend-data VtepMAC (lower case)

    def describe(self) -> str:
        text = f"{self.source} {self.kind}"
        return text + (f" VNI {self.vni}" if self.vni is not None else "")


@dataclass(frozen=True)
class Node:
    name: str
    underlay: tuple                  # addresses tunnels run between: the CNI's choice first, then Internal/External IPs
    underlay_roles: dict             # address -> "InternalIP", "ExternalIP", "flannel public-ip", ...
    tunnel: dict                     # node-owned overlay addresses -> role ("tunl0 (Calico IPIP)", "cilium-health")
    spec_pod_cidrs: tuple            # spec.podCIDRs (or spec.podCIDR)
    cni_pod_cidrs: tuple             # Cilium's annotated pod CIDRs, which its IPAM uses instead of spec's
    calico: bool                     # Calico annotations present: its IPAM ignores spec.podCIDR
    backend: Backend | None
    created: datetime | None
    heartbeat: datetime | None       # newest status.conditions[].lastHeartbeatTime: the dump is at least this new

    @property
    def address(self) -> str | None:
        """The address tunnel traffic to this node is sent to, as far as the dump tells."""
        return self.underlay[0] if self.underlay else None

    @property
    def ipam_cidrs(self) -> tuple:
        """The pod CIDRs the node's pods are allocated from, when the dump can tell (empty: unknown)."""
        if self.cni_pod_cidrs:
            return self.cni_pod_cidrs
        return () if self.calico else self.spec_pod_cidrs


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    node: str | None                 # spec.nodeName (None: not scheduled)
    addresses: tuple                 # status.podIPs (or podIP)
    host_network: bool
    owner: str | None                # "ReplicaSet/web-5d9c" from the controller ownerReference
    phase: str | None
    created: datetime | None
    started: datetime | None

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def finished(self) -> bool:
        """Succeeded/Failed pods keep status.podIP in the API, but the address is free for reuse."""
        return self.phase in ("Succeeded", "Failed")


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    cluster_ips: tuple
    ports: tuple                     # "53/UDP", "443/TCP"
    created: datetime | None

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Endpoint:
    """What the cluster says an address is."""
    kind: str                        # "node", "pod" or "service"
    name: str                        # node name, "namespace/pod", "namespace/service"
    node: str | None                 # the node it lives on (a node's own name for kind "node")
    role: str                        # "InternalIP", "flannel public-ip", "tunl0 (Calico IPIP)", owner, ports ...


@dataclass
class Cluster:
    """Nodes, pods and services of one kubectl dump, indexed by address.

    Lookups take any address spelling; an address several objects claim resolves to a node before a
    service, a service before a running pod, and a running pod before a finished one (whose address
    the cluster may have handed out again).
    """
    nodes: dict = field(default_factory=dict)        # name -> Node, in dump order
    pods: list = field(default_factory=list)
    services: list = field(default_factory=list)
    sources: tuple = ()                              # the files it was read from

    def __post_init__(self):
        self._index = {}
        self._underlay = {}
        for node in self.nodes.values():
            for address in node.underlay:
                self._underlay.setdefault(address, node)
                self._claim(address, Endpoint("node", node.name, node.name, node.underlay_roles[address]))
            for address, role in node.tunnel.items():
                self._claim(address, Endpoint("node", node.name, node.name, role))
        for service in self.services:
            for address in service.cluster_ips:
                self._claim(address, Endpoint("service", service.full_name, None, " ".join(service.ports)))
        for finished in (False, True):
            for pod in self.pods:
                if pod.host_network or pod.finished != finished:
                    continue
                for address in pod.addresses:
                    self._claim(address, Endpoint("pod", pod.full_name, pod.node, pod.owner or ""))
        self._pods = {}
        for pod in self.pods:
            for address in pod.addresses:
                endpoint = self._index.get(address)
                if endpoint and endpoint.kind == "pod" and endpoint.name == pod.full_name:
                    self._pods[address] = pod

    def _claim(self, address, endpoint):
        self._index.setdefault(address, endpoint)

    def lookup(self, address) -> Endpoint | None:
        """What the cluster says this address is, or None."""
        return self._index.get(normal_address(address))

    def name(self, address) -> str | None:
        """Node name, "namespace/pod" or "namespace/service" for an address, or None."""
        endpoint = self.lookup(address)
        return endpoint.name if endpoint else None

    def node_at(self, address) -> Node | None:
        """The node whose underlay address this is (tunnel/overlay addresses of nodes excluded)."""
        return self._underlay.get(normal_address(address))

    def pod_at(self, address) -> Pod | None:
        """The (non-host-network) pod this address names, or None."""
        return self._pods.get(normal_address(address))

    def node_with_cidr(self, address) -> Node | None:
        """The node whose pod CIDRs hold this address, or None."""
        return next((node for node in self.nodes.values() if inside(address, node.ipam_cidrs)), None)

    def summary(self) -> str:
        return f"{_count(len(self.nodes), 'node')}, {_count(len(self.pods), 'pod')}, " \
               f"{_count(len(self.services), 'service')}"


def _count(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"
