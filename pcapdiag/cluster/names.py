"""Names from the cluster added to a report: new fields beside the addresses, existing ones untouched."""
from __future__ import annotations

import copy

from tabulate import tabulate

from .model import Cluster
from .wire import addresses_in, address_key, as_dict

FLOW_NAMES = (("src", "src_name"), ("dst", "dst_name"), ("outer_src", "outer_src_name"),
              ("outer_dst", "outer_dst_name"))


def annotate(report, cluster: Cluster) -> dict:
    """A copy of the report dict with names added (the input is left as it was):

    - nodes[].name: the node's name (None when the address is no node of the cluster)
    - nodes[].pods_named: one entry per nodes[].pods, "namespace/pod" (or a node or service name), None if unknown
    - flows[].src_name, dst_name, outer_src_name, outer_dst_name (None if unknown or no address)
    - findings[].evidence.names: {address: name} for the addresses written in the evidence, merged
      into any names already there; only added when one is known
    - cluster: {"files", "nodes", "pods", "services", "not_in_capture": node names the capture never shows}
    """
    data = copy.deepcopy(as_dict(report))
    for node in data.get("nodes", []):
        node["name"] = _node_name(cluster, node["ip"])
        node["pods_named"] = [cluster.name(pod) for pod in node.get("pods", [])]
    for flow in data.get("flows", []):
        for address_field, name_field in FLOW_NAMES:
            flow[name_field] = cluster.name(flow[address_field]) if flow.get(address_field) else None
    for finding in data.get("findings", []):
        evidence = finding.get("evidence")
        if not isinstance(evidence, dict):
            continue
        names = {a: cluster.name(a) for a in addresses_in({k: v for k, v in evidence.items() if k != "names"})}
        names = {a: n for a, n in names.items() if n}
        if names:
            evidence["names"] = {**evidence.get("names", {}), **names}
    seen = {node["name"] for node in data.get("nodes", []) if node.get("name")}
    data["cluster"] = {"files": list(cluster.sources), "nodes": len(cluster.nodes), "pods": len(cluster.pods),
                       "services": len(cluster.services),
                       "not_in_capture": [name for name in cluster.nodes if name not in seen]}
    return data


def _node_name(cluster, address):
    node = cluster.node_at(address)
    return node.name if node else None


def text_lines(report, cluster: Cluster, pods_per_node: int = 4) -> list:
    """The report's "Cluster" section: each node of the capture with its name, CNI backend and named
    pods, then the cluster's nodes the capture does not show. One string per line, no trailing newline."""
    data = as_dict(report)
    files = ", ".join(cluster.sources)
    lines = [f"Cluster ({cluster.summary()}{f' from {files}' if files else ''})"]
    rows = []
    shown = set()
    for entry in data.get("nodes", []):
        node = cluster.node_at(entry["ip"])
        shown.add(node.name if node else None)
        pods = entry.get("pods", [])
        named = [f"{pod} {cluster.name(pod)}" if cluster.name(pod) else pod for pod in pods[:pods_per_node]]
        if len(pods) > pods_per_node:
            named.append(f"(+{len(pods) - pods_per_node})")
        rows.append([entry["ip"], node.name if node else "(no node of the cluster)",
                     node.backend.describe() if node and node.backend else "", ", ".join(named)])
    if rows:
        lines += tabulate(rows, headers=["node", "name", "CNI backend", "pods (name)"]).splitlines()
    missing = [f"{n.name} ({n.address})" if n.address else n.name
               for n in cluster.nodes.values() if n.name not in shown]
    if missing:
        lines.append(f"Not in the capture: {', '.join(missing)}")
    return lines


def names_for(cluster: Cluster, addresses) -> dict:
    """{address: name} for the addresses the cluster knows, in address order."""
    known = {a: cluster.name(a) for a in addresses}
    return {a: known[a] for a in sorted(known, key=address_key) if known[a]}
