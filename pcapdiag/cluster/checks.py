"""The cluster's own view held against the capture: findings in the report's shape (see __init__)."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta, timezone

from .load import parse_time
from .model import Cluster, inside
from .names import names_for
from .wire import address_key, as_dict, inner_packets, is_ordinary, tunnel_flows, wire_pods

# id -> severity (the highest a finding of that id takes); CI keys on the ids: never rename one
FINDINGS = {
    "cluster.pod-on-wrong-node": "error",
    "cluster.stale-vtep-mac": "error",
    "cluster.backend-mismatch": "error",
    "cluster.unknown-node": "warning",
    "cluster.pod-outside-cidr": "warning",
    "cluster.stale-dump": "warning",
    "cluster.unknown-address": "info",
}
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
EXAMPLES = 5          # lines of evidence["examples"] (the text report shows the first three)
LISTED = 50           # structured evidence entries kept per finding
# kubelet rewrites node status at least every 5 minutes (nodeStatusReportFrequency), so a dump whose
# newest heartbeat is older than this before the capture was taken before it
STALE_BEFORE = timedelta(hours=1)


def cross_check(report, cluster: Cluster) -> list:
    """Findings (dicts: id, severity, summary, count, evidence, fix, reliable) where the capture and the
    cluster dump disagree, errors first; [] when they agree. `report` is a Report or its to_dict()."""
    data = as_dict(report)
    misplaced = _misplaced_pods(data, cluster)
    found = [_pod_on_wrong_node(misplaced, cluster), _stale_vtep_mac(data, cluster), _backend_mismatch(data, cluster),
             _unknown_node(data, cluster), _pod_outside_cidr(data, cluster, {r["address"] for r in misplaced}),
             _stale_dump(data, cluster), _unknown_address(data, cluster)]
    return sorted((f for f in found if f), key=lambda f: SEVERITY_ORDER[f["severity"]])


def _finding(finding_id, summary, count, evidence, fix, severity=None) -> dict:
    return {"id": finding_id, "severity": severity or FINDINGS[finding_id], "summary": summary, "count": count,
            "evidence": evidence, "fix": fix, "reliable": True}


def _node_text(cluster, address) -> str:
    node = cluster.node_at(address)
    return f"{node.name} ({address})" if node else address


def _some(items, limit=3) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


# -- pods ----------------------------------------------------------------------------

def _misplaced_pods(data, cluster) -> list:
    """Pods the wire shows behind a node of the cluster other than the one the dump places them on."""
    rows = []
    for address, behind in sorted(wire_pods(data).items(), key=lambda i: address_key(i[0])):
        pod = cluster.pod_at(address)
        if pod is None or pod.node is None or pod.node not in cluster.nodes:
            continue
        for underlay in behind:
            seen = cluster.node_at(underlay)
            # behind an address that is no node: cluster.unknown-node says so
            if seen is not None and seen.name != pod.node:
                rows.append({"address": address, "pod": pod.full_name, "cluster_node": pod.node,
                             "cluster_node_address": cluster.nodes[pod.node].address,
                             "seen_behind": underlay, "seen_node": seen.name})
    return rows


def _pod_on_wrong_node(rows, cluster):
    if not rows:
        return None
    examples = [f"{r['pod']} {r['address']}: cluster places it on {r['cluster_node']} "
                f"({r['cluster_node_address']}), the wire shows it behind {r['seen_node']} ({r['seen_behind']})"
                for r in rows]
    first = rows[0]
    if len(rows) == 1:
        summary = (f"pod {first['pod']} ({first['address']}) sends from behind node {first['seen_node']} "
                   f"({first['seen_behind']}) but the cluster places it on {first['cluster_node']}: a stale route or "
                   f"an IPAM bug hands its address to a pod on another node")
    else:
        summary = (f"{len(rows)} pod addresses send from behind other nodes than the cluster places them on "
                   f"({_some([r['pod'] for r in rows])}): stale routes or an IPAM bug hand their addresses out twice")
    return _finding("cluster.pod-on-wrong-node", summary, len(rows),
                    {"pods": rows[:LISTED], "examples": examples[:EXAMPLES],
                     "names": names_for(cluster, [r["address"] for r in rows] + [r["seen_behind"] for r in rows])},
                    f"on {first['seen_node']} look for a second holder of {first['address']} (ip -br addr in its pods, "
                    f"the host-local IPAM files in /var/lib/cni/networks) and for a route to it that should point "
                    f"at {first['cluster_node']}; recreate the pod that should not have the address")


def _pod_outside_cidr(data, cluster, already):
    rows = []
    seen = set(wire_pods(data)) | set(inner_packets(data))
    behind = wire_pods(data)
    for address in sorted(seen - set(already), key=address_key):
        pod = cluster.pod_at(address)
        if pod is not None:
            node = cluster.nodes.get(pod.node)
        else:   # not in the dump: the node it was seen behind is its node
            nodes = {cluster.node_at(u).name for u in behind.get(address, []) if cluster.node_at(u)}
            known = cluster.lookup(address) is not None   # a node's or service's own address
            node = cluster.nodes[nodes.pop()] if len(nodes) == 1 and not known else None
        if node is None or not node.ipam_cidrs:
            continue
        if not inside(address, node.ipam_cidrs):
            rows.append({"address": address, "pod": pod.full_name if pod else None, "node": node.name,
                         "node_pod_cidrs": list(node.ipam_cidrs)})
    if not rows:
        return None
    examples = [f"{r['pod'] or 'unnamed'} {r['address']} on {r['node']} outside {' '.join(r['node_pod_cidrs'])}"
                for r in rows]
    first = rows[0]
    return _finding(
        "cluster.pod-outside-cidr",
        (f"{len(rows)} pod addresses on the wire lie outside the pod CIDR of their node" if len(rows) > 1 else
         "a pod address on the wire lies outside the pod CIDR of its node")
        + f" ({_some(examples)}): other nodes route that range "
        f"elsewhere, so replies go astray",
        len(rows), {"pods": rows[:LISTED], "examples": examples[:EXAMPLES],
                    "names": names_for(cluster, [r["address"] for r in rows])},
        f"check the CNI's IPAM on {first['node']} (host-local ranges in the CNI config, /var/lib/cni/networks) "
        f"against its pod CIDR {' '.join(first['node_pod_cidrs'])}; recreate pods with addresses from an old range")


# -- nodes and the tunnel -------------------------------------------------------------

def _stale_vtep_mac(data, cluster):
    rows = []
    for entry in data.get("nodes", []):
        node = cluster.node_at(entry["ip"])
        if node is None or node.backend is None or not node.backend.vtep_mac or not entry.get("macs"):
            continue
        seen = [m.lower() for m in entry["macs"]]
        if node.backend.vtep_mac not in seen:
            rows.append({"node": node.name, "address": entry["ip"], "annotated_vtep_mac": node.backend.vtep_mac,
                         "seen_macs": seen})
    if not rows:
        return None
    examples = [f"{r['node']} ({r['address']}) sends from {' '.join(r['seen_macs'])}, its annotation says "
                f"{r['annotated_vtep_mac']}" for r in rows]
    first = rows[0]
    return _finding(
        "cluster.stale-vtep-mac",
        f"node {first['node']} ({first['address']}) sends VXLAN from VTEP MAC {first['seen_macs'][0]} but its "
        f"flannel annotation advertises {first['annotated_vtep_mac']}: the other nodes program that MAC into their "
        f"FDB and neighbour tables, so the packets they tunnel to it are dropped (the flannel outage after a node "
        f"or flannel.1 was recreated)" + (f"; {len(rows) - 1} more node(s) likewise" if len(rows) > 1 else ""),
        len(rows), {"nodes": rows, "examples": examples[:EXAMPLES],
                    "names": names_for(cluster, [r["address"] for r in rows])},
        f"restart the flannel pod on {first['node']} so it re-annotates the node, then check on the other nodes "
        f"that `bridge fdb show dev flannel.1` and `ip neigh show dev flannel.1` hold its new MAC")


def _backend_mismatch(data, cluster):
    by_node = defaultdict(lambda: {"classes": Counter(), "vnis": Counter()})
    packets = 0   # each flow once, though both of its nodes may name it
    for flow in tunnel_flows(data):
        mismatched = False
        for key in ("outer_src", "outer_dst"):
            node = cluster.node_at(flow[key])
            if node is None or node.backend is None or node.backend.classes is None:
                continue
            backend = node.backend
            wrong_class = flow["encap"] not in backend.classes
            wrong_vni = (not wrong_class and backend.vni is not None and flow["encap"] == "vxlan"
                         and flow.get("vni") is not None and int(flow["vni"]) != backend.vni)
            if wrong_class or wrong_vni:
                mismatched = True
                seen = by_node[node.name]
                seen["classes"][flow["encap"]] += int(flow.get("packets") or 0)
                if flow.get("vni") is not None:
                    seen["vnis"][int(flow["vni"])] += int(flow.get("packets") or 0)
        packets += int(flow.get("packets") or 0) if mismatched else 0
    if not by_node:
        return None
    rows = []
    for name, seen in sorted(by_node.items(), key=lambda i: address_key(cluster.nodes[i[0]].address)):
        node = cluster.nodes[name]
        rows.append({"node": name, "address": node.address, "configured": node.backend.describe(),
                     "configured_classes": sorted(node.backend.classes) or ["native"],
                     "configured_vni": node.backend.vni, "seen_classes": dict(seen["classes"]),
                     "seen_vnis": sorted(seen["vnis"])})
    examples = [f"{r['node']}: configured {r['configured']}, on the wire "
                + ", ".join(f"{c} ({n} packets)" for c, n in r["seen_classes"].items())
                + (f" VNI {' '.join(map(str, r['seen_vnis']))}" if r["seen_vnis"] else "") for r in rows]
    first = rows[0]
    wire = ", ".join(first["seen_classes"]) + (f" VNI {' '.join(map(str, first['seen_vnis']))}"
                                               if first["seen_vnis"] else "")
    return _finding(
        "cluster.backend-mismatch",
        f"the CNI is configured for {first['configured']} on {_some([r['node'] for r in rows])} but the tunnel "
        f"traffic of those nodes is {wire}: nodes that disagree on the encapsulation drop each other's pod traffic",
        packets, {"nodes": rows, "examples": examples[:EXAMPLES],
                  "names": names_for(cluster, [r["address"] for r in rows])},
        "make every node run the configured backend: after changing it (flannel: net-conf.json in the "
        "kube-flannel-cfg ConfigMap) restart the CNI agents everywhere and delete the old tunnel devices")


def _unknown_node(data, cluster):
    packets = Counter()
    peers = defaultdict(set)
    for flow in tunnel_flows(data):
        ends = (flow["outer_src"], flow.get("outer_dst"))
        for address, other in (ends, ends[::-1]):
            if address and cluster.node_at(address) is None:
                packets[address] += int(flow.get("packets") or 0)
                if other:
                    peers[address].add(other)
    if not packets:
        return None
    rows = [{"address": a, "packets": n, "peers": sorted(peers[a], key=address_key),
             "peer_names": [cluster.name(p) for p in sorted(peers[a], key=address_key)]}
            for a, n in sorted(packets.items(), key=lambda i: address_key(i[0]))]
    examples = [f"{r['address']}: {r['packets']} tunnel packets with "
                + ", ".join(_node_text(cluster, p) for p in r["peers"]) for r in rows]
    first = rows[0]
    return _finding(
        "cluster.unknown-node",
        f"tunnel traffic goes to {_some([r['address'] for r in rows])}, which "
        f"{'is no node' if len(rows) == 1 else 'are no nodes'} of the cluster: a removed node still routed to "
        f"(stale routes or FDB entries on its peers), or a node missing from the dump",
        sum(r["packets"] for r in rows),
        {"addresses": rows, "examples": examples[:EXAMPLES],
         "names": names_for(cluster, [p for r in rows for p in r["peers"]])},
        f"on {', '.join(_node_text(cluster, p) for p in first['peers'][:3])} remove the routes, FDB and neighbour "
        f"entries that point at {first['address']} (flannel: restart its pod there), or dump the cluster again "
        f"if the node exists")


def _unknown_address(data, cluster):
    packets = inner_packets(data)
    behind = wire_pods(data)
    unknown = [a for a in set(packets) | set(behind) if is_ordinary(a) and cluster.lookup(a) is None]
    if not unknown:
        return None
    rows = []
    for address in sorted(unknown, key=address_key):
        holder = cluster.node_with_cidr(address)
        rows.append({"address": address, "packets": packets.get(address, 0), "seen_behind": behind.get(address, []),
                     "in_pod_cidr_of": holder.name if holder else None})
    examples = [f"{r['address']}: {r['packets']} packets"
                + (f", behind {' '.join(_node_text(cluster, u) for u in r['seen_behind'])}" if r["seen_behind"] else "")
                + (f", in the pod CIDR of {r['in_pod_cidr_of']} (a pod missing from the dump, or the node's bridge)"
                   if r["in_pod_cidr_of"] else "") for r in rows]
    return _finding(
        "cluster.unknown-address",
        f"{len(rows)} address{'es' if len(rows) > 1 else ''} on the wire {'are' if len(rows) > 1 else 'is'} neither "
        f"pod, node nor service of the cluster ({_some([r['address'] for r in rows])}): pods deleted since, "
        f"hosts outside the cluster, or a dump of another cluster",
        len(rows), {"addresses": rows[:LISTED], "examples": examples[:EXAMPLES]},
        "dump the cluster while (or right after) capturing, so short-lived pods are in it")


# -- the dump's age --------------------------------------------------------------------

def _stale_dump(data, cluster):
    capture = data.get("capture", {})
    start, end = parse_time(capture.get("start")), parse_time(capture.get("end"))
    if start is None or end is None:
        return None
    seen = set(inner_packets(data)) | set(wire_pods(data))
    later = []
    for pod in cluster.pods:
        born = max((t for t in (pod.created, pod.started) if t is not None), default=None)
        if born is not None and born > end:
            on_wire = [a for a in pod.addresses if a in seen and not pod.host_network]
            later.append({"pod": pod.full_name, "started": _iso(born), "addresses_on_wire": on_wire})
    stamps = [t for n in cluster.nodes.values() for t in (n.heartbeat, n.created)]
    stamps += [t for p in cluster.pods for t in (p.created, p.started)]
    newest = max((t for t in stamps if t is not None), default=None)
    older = newest is not None and newest < start - STALE_BEFORE
    if not later and not older:
        return None
    named_wrong = [r for r in later if r["addresses_on_wire"]]
    evidence = {"capture_start": capture.get("start"), "capture_end": capture.get("end"),
                "newest_in_dump": _iso(newest) if newest else None, "started_after_capture": later[:LISTED]}
    if later:
        evidence["examples"] = [f"{r['pod']} started {r['started']}"
                                + (f", its address {' '.join(r['addresses_on_wire'])} is in the capture"
                                   if r["addresses_on_wire"] else "") for r in later[:EXAMPLES]]
        summary = (f"the cluster dump is from after the capture: {len(later)} pod(s) started after it ended "
                   f"({_some([r['pod'] for r in later])})")
        if named_wrong:
            summary += (f"; {len(named_wrong)} of them have addresses seen in the capture, which belonged to "
                        f"other pods then: those names may be wrong")
        else:
            summary += "; pods deleted since are missing, so some names may be stale"
    else:
        hours = (start - newest).total_seconds() / 3600
        summary = (f"the cluster dump is older than the capture: its newest time stamp is {_iso(newest)}, "
                   f"{hours:.1f} h before the capture started; pods made since are missing and names may be stale")
        evidence["examples"] = [f"newest node heartbeat or pod start {_iso(newest)}, capture from "
                                f"{capture.get('start')}"]
    return _finding("cluster.stale-dump", summary, len(later) or 1, evidence,
                    "dump the cluster (kubectl get nodes,pods,services -A -o json) while capturing",
                    severity="warning" if named_wrong else "info")


def _iso(stamp) -> str:
    return stamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
