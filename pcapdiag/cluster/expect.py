"""What `pcapdiag baseline` may record from a cluster dump, in the expectations file's vocabulary."""
from __future__ import annotations

from .model import Cluster
from .wire import address_key


def expectations(cluster: Cluster) -> dict:
    """Expected facts of captures of this cluster, keyed like the expectations file (expectations.KEYS):

    - nodes: the number of nodes; node_addresses: each node's tunnel address (flannel public-ip,
      Calico IPv4Address, else its InternalIP, else ExternalIP); pod_cidrs: {that address: [CIDRs]}
      for nodes whose pod CIDRs the dump tells (Cilium's annotation, else spec.podCIDRs; not for Calico)
    - encap and vni: only when every node's CNI annotations name the same backend (flannel's
      backend-type and VNI, Calico's tunnel addresses)
    - node_names: {address: node name}, a key the expectations file does not know yet
    Nodes without any address are left out of the address keys.
    """
    nodes = [n for n in cluster.nodes.values() if n.address]
    nodes.sort(key=lambda n: address_key(n.address))
    result = {"nodes": len(cluster.nodes), "node_addresses": [n.address for n in nodes]}
    cidrs = {n.address: list(n.ipam_cidrs) for n in nodes if n.ipam_cidrs}
    if cidrs:
        result["pod_cidrs"] = cidrs
    # the VTEP MAC differs per node by nature; the rest of the backend must agree on every node
    backends = {(b.classes, b.vni) if b else None for b in (n.backend for n in cluster.nodes.values())}
    if len(backends) == 1 and None not in backends:
        classes, vni = backends.pop()
        if classes is not None:
            result["encap"] = sorted(classes) or ["native"]
            if vni is not None:
                result["vni"] = [vni]
    result["node_names"] = {n.address: n.name for n in nodes}
    return result
