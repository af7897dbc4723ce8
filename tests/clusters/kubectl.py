"""Cluster dumps for the tests, shaped exactly as `kubectl get nodes,pods,services -A -o json` prints them.

flannel-8472.json (beside this file) is the hand-made dump of the cluster in
sample_pcaps/vxlan-flannel-8472.pcap. Dumps of other captures are built from its Node and Pod items
as templates (so they have the same shape), with names and addresses from a truth.json; the edits
the cross-check tests make to a dump are here too, each one a real-world mistake.
"""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLANNEL_8472 = HERE / "flannel-8472.json"

FLANNEL = "flannel.alpha.coreos.com/"
CALICO = "projectcalico.org/"
CILIUM = "network.cilium.io/"


def flannel_dump() -> dict:
    """A fresh copy of the hand-made dump (tests edit it)."""
    return json.loads(FLANNEL_8472.read_text())


def items(dump, kind) -> list:
    return [item for item in dump["items"] if item["kind"] == kind]


def item(dump, kind, name) -> dict:
    return next(i for i in items(dump, kind) if i["metadata"]["name"] == name)


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- dumps of other clusters, from the templates ------------------------------------

def build_dump(nodes, pods, capture_start: datetime) -> dict:
    """nodes: [(name, address, pod_cidr, annotations)]; pods: [(namespace, name, node name, address)].
    Times: created 20 minutes, heartbeats a minute before the capture started."""
    template = flannel_dump()
    node_template, pod_template = items(template, "Node")[0], item(template, "Pod", "n1p1")
    created, heartbeat = stamp(capture_start - timedelta(minutes=20)), stamp(capture_start - timedelta(minutes=1))
    result = []
    addresses = {}
    for name, address, cidr, annotations in nodes:
        node = copy.deepcopy(node_template)
        meta = node["metadata"]
        meta.update(name=name, creationTimestamp=created)
        meta["labels"]["kubernetes.io/hostname"] = name
        meta["annotations"] = {k: v for k, v in meta["annotations"].items() if not k.startswith(FLANNEL)}
        meta["annotations"].update(annotations)
        node["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr]}
        node["status"]["addresses"] = [{"address": address, "type": "InternalIP"},
                                       {"address": name, "type": "Hostname"}]
        node["status"]["conditions"][0].update(lastHeartbeatTime=heartbeat, lastTransitionTime=created)
        addresses[name] = address
        result.append(node)
    for namespace, name, node_name, address in pods:
        pod = copy.deepcopy(pod_template)
        meta = pod["metadata"]
        meta.update(name=name, namespace=namespace, creationTimestamp=created, generateName=name.rsplit("-", 1)[0])
        meta["ownerReferences"][0]["name"] = name.rsplit("-", 1)[0]
        pod["spec"]["nodeName"] = node_name
        pod["status"].update(hostIP=addresses[node_name], hostIPs=[{"ip": addresses[node_name]}], podIP=address,
                             podIPs=[{"ip": address}], startTime=created)
        result.append(pod)
    result += items(template, "Service")
    return {"apiVersion": "v1", "items": result, "kind": "List", "metadata": {"resourceVersion": ""}}


def flannel_annotations(address, vtep_mac, vni=1) -> dict:
    return {FLANNEL + "backend-data": json.dumps({"VNI": vni, "VtepMAC": vtep_mac}, separators=(",", ":")),
            FLANNEL + "backend-type": "vxlan", FLANNEL + "kube-subnet-manager": "true",
            FLANNEL + "public-ip": address}


def calico_annotations(address, ipip_tunnel=None) -> dict:
    annotations = {CALICO + "IPv4Address": f"{address}/24"}
    if ipip_tunnel:
        annotations[CALICO + "IPv4IPIPTunnelAddr"] = ipip_tunnel
    return annotations


def cilium_annotations(pod_cidr, health_ip) -> dict:
    return {CILIUM + "ipv4-pod-cidr": pod_cidr, CILIUM + "ipv4-health-ip": health_ip}


# -- mistakes made to a dump ----------------------------------------------------------

def set_vtep_mac(dump, node, mac):
    """The node's flannel annotation names another VTEP MAC than its flannel.1 has."""
    annotations = item(dump, "Node", node)["metadata"]["annotations"]
    data = json.loads(annotations[FLANNEL + "backend-data"])
    annotations[FLANNEL + "backend-data"] = json.dumps({**data, "VtepMAC": mac}, separators=(",", ":"))
    return dump


def set_vni(dump, vni):
    for node in items(dump, "Node"):
        annotations = node["metadata"]["annotations"]
        data = json.loads(annotations[FLANNEL + "backend-data"])
        annotations[FLANNEL + "backend-data"] = json.dumps({**data, "VNI": vni}, separators=(",", ":"))
    return dump


def set_backend_type(dump, backend, nodes=None):
    for node in items(dump, "Node"):
        if nodes is None or node["metadata"]["name"] in nodes:
            node["metadata"]["annotations"][FLANNEL + "backend-type"] = backend
    return dump


def move_pod(dump, pod, node):
    """The dump places the pod on another node than the one it runs on."""
    target = item(dump, "Node", node)["status"]["addresses"][0]["address"]
    entry = item(dump, "Pod", pod)
    entry["spec"]["nodeName"] = node
    entry["status"].update(hostIP=target, hostIPs=[{"ip": target}])
    return dump


def drop_node(dump, node):
    """The node was deleted (and with it its pods), but the capture still shows it."""
    dump["items"] = [i for i in dump["items"] if not (i["kind"] == "Node" and i["metadata"]["name"] == node)
                     and not (i["kind"] == "Pod" and i["spec"].get("nodeName") == node)]
    return dump


def drop_pod(dump, pod):
    dump["items"] = [i for i in dump["items"] if not (i["kind"] == "Pod" and i["metadata"]["name"] == pod)]
    return dump


def set_pod_cidr(dump, node, cidr):
    item(dump, "Node", node)["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr]}
    return dump


def start_pod_at(dump, pod, moment: str):
    entry = item(dump, "Pod", pod)
    entry["metadata"]["creationTimestamp"] = moment
    entry["status"]["startTime"] = moment
    return dump


def age(dump, days):
    """Every time stamp in the dump moved `days` earlier: a dump from before the capture."""
    def shift(value):
        return stamp(datetime.fromisoformat(value.replace("Z", "+00:00")) - timedelta(days=days))
    for entry in dump["items"]:
        entry["metadata"]["creationTimestamp"] = shift(entry["metadata"]["creationTimestamp"])
        if entry["kind"] == "Pod":
            entry["status"]["startTime"] = shift(entry["status"]["startTime"])
        for condition in entry.get("status", {}).get("conditions", []) if entry["kind"] == "Node" else []:
            for key in ("lastHeartbeatTime", "lastTransitionTime"):
                condition[key] = shift(condition[key])
    return dump
