"""Reading `kubectl get nodes,pods,services -A -o json` (or -o yaml) into a Cluster.

Accepted: the `List` kubectl prints, the API's NodeList/PodList/ServiceList, one object, several
files (one per kind), gzip-compressed or not, "-" for stdin. Other kinds in a List are skipped.
Every problem is a ClusterError whose message names the file, the item and the field.
"""
from __future__ import annotations

import gzip
import ipaddress
import json
import sys
from datetime import datetime, timezone

from .model import Backend, Cluster, ClusterError, Node, Pod, Service, normal_address

KINDS = ("Node", "Pod", "Service")
USAGE = "give the output of `kubectl get nodes,pods,services -A -o json`"

FLANNEL = "flannel.alpha.coreos.com/"
CALICO = "projectcalico.org/"
# flannel backend-type -> the encapsulation classes pcapdiag sees between nodes (empty: routed natively).
# wireguard is UDP that pcapdiag cannot look into (native), so a tunnel class there is a mismatch too.
FLANNEL_CLASSES = {"vxlan": {"vxlan"}, "host-gw": set(), "udp": {"udp-tunnel"}, "ipip": {"ipip"},
                   "wireguard": set()}
READ_ERRORS = ((FileNotFoundError, "no such file"), (IsADirectoryError, "is a directory, not a cluster dump"),
               (PermissionError, "permission denied"))
# Calico annotates a tunnel address only for the encapsulation its IP pools use: address -> (device, class)
CALICO_TUNNELS = {CALICO + "IPv4IPIPTunnelAddr": ("tunl0 (Calico IPIP)", "ipip"),
                  CALICO + "IPv4VXLANTunnelAddr": ("vxlan.calico", "vxlan"),
                  CALICO + "IPv6VXLANTunnelAddr": ("vxlan-v6.calico", "vxlan")}
# Cilium's annotations, current spelling first, then the pre-1.9 one
CILIUM_PREFIXES = ("network.cilium.io/", "io.cilium.network.")


def load_cluster(*paths) -> Cluster:
    """Read one or more kubectl dumps (JSON, or YAML when PyYAML is installed) into one Cluster.

    Parameters: paths -- files as `kubectl get nodes,pods,services -A -o json` writes them (one List,
    or one file per kind), gzip-compressed or not; "-" reads stdin.
    Raises ClusterError (one line, naming the file) for anything that is not such a dump.
    """
    if not paths:
        raise ClusterError(f"no cluster dump given: {USAGE}")
    documents = [(str(path), document) for path in paths for document in _read(path)]
    return cluster_from_documents(*documents)


def cluster_from_documents(*documents) -> Cluster:
    """A Cluster from already parsed kubectl output: dicts, or (source name, dict) pairs."""
    items = []
    sources = []
    for number, entry in enumerate(documents, 1):
        source, document = entry if isinstance(entry, tuple) else (f"document {number}", entry)
        sources.append(source)
        items.extend(_items(source, document))
    wanted = [(source, kind, item) for source, kind, item in items if kind in KINDS]
    if not wanted:
        others = sorted({kind for _, kind, _ in items})
        where = ", ".join(dict.fromkeys(sources))
        if others:
            raise ClusterError(f"{where}: holds only {', '.join(others)}, no Node, Pod or Service: {USAGE}")
        raise ClusterError(f"{where}: an empty list: {USAGE}")
    nodes, pods, services = {}, [], []
    for source, kind, item in wanted:
        if kind == "Node":
            node = _node(_Item(source, kind, item))
            nodes[node.name] = node
        elif kind == "Pod":
            pods.append(_pod(_Item(source, kind, item)))
        else:
            services.append(_service(_Item(source, kind, item)))
    return Cluster(nodes, pods, services, tuple(dict.fromkeys(sources)))


# -- files -----------------------------------------------------------------------

def _read(path) -> list:
    name = str(path)
    try:
        if name == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as stream:
                raw = stream.read()
    except OSError as exc:
        reason = next((text for kind, text in READ_ERRORS if isinstance(exc, kind)),
                      f"cannot read it: {exc.strerror or exc}")
        raise ClusterError(f"{name}: {reason}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ClusterError(f"{name}: a damaged gzip file ({exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ClusterError(f"{name}: not JSON or YAML text (binary data): {USAGE}") from None
    if not text.strip():
        raise ClusterError(f"{name}: empty file: {USAGE}")
    if text.lstrip()[:1] in ("{", "["):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as exc:
            raise ClusterError(f"{name}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") \
                from None
    return _read_yaml(name, text)


def _read_yaml(name, text) -> list:
    try:
        import yaml
    except ImportError:
        raise ClusterError(f"{name}: not JSON, and PyYAML is not installed to read it as YAML "
                           f"(pip install pyyaml, or use kubectl -o json)") from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1} column {mark.column + 1})" if mark else ""
        raise ClusterError(f"{name}: neither JSON nor valid YAML{where}: {USAGE}") from None
    return documents


# -- documents and items ---------------------------------------------------------

def _items(source, document) -> list:
    """(source, kind, item) for each object of one kubectl document."""
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        raise ClusterError(f"{source}: not kubectl output (no \"kind\" at the top): {USAGE}")
    kind = document["kind"]
    if not kind.endswith("List"):
        return [(source, kind, document)]
    items = document.get("items")
    if not isinstance(items, list):
        raise ClusterError(f"{source}: a {kind} without an \"items\" list: {USAGE}")
    # the API's NodeList etc. leave out each item's kind; kubectl's List keeps it
    implied = kind[:-len("List")] or None
    found = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ClusterError(f"{source}: item {number} of the {kind} is not an object")
        item_kind = item.get("kind", implied)
        if not isinstance(item_kind, str):
            raise ClusterError(f"{source}: item {number} of the {kind} has no \"kind\"")
        found.append((f"{source} item {number}", item_kind, item))
    return found


class _Item:
    """One API object, with typed field access whose errors name the field."""

    def __init__(self, source, kind, data):
        self.source, self.kind, self.data = source, kind, data
        name = _dig(data, "metadata.name")
        self.label = f"{source} ({kind} {name})" if isinstance(name, str) else f"{source} ({kind})"

    def get(self, path, expected, required=False):
        value = _dig(self.data, path)
        if value is None:
            if required:
                raise ClusterError(f"{self.label}: {path} is missing")
            return None
        if not isinstance(value, expected):
            wanted = {str: "a string", list: "a list", dict: "an object", bool: "true or false"}[expected]
            raise ClusterError(f"{self.label}: {path} is not {wanted}")
        return value

    def fail(self, message):
        raise ClusterError(f"{self.label}: {message}")

    def address(self, path, value) -> str:
        address = normal_address(value)
        if address is None:
            self.fail(f"{path} {value!r} is not an IP address")
        return address

    def addresses(self, path) -> tuple:
        return tuple(dict.fromkeys(self.address(path, v) for v in self.strings(path)))

    def strings(self, path) -> list:
        values = self.get(path, list) or []
        for value in values:
            if not isinstance(value, str):
                self.fail(f"{path} holds {value!r}, not a string")
        return values

    def cidr(self, path, value) -> str:
        try:
            return str(ipaddress.ip_network(value.strip(), strict=False))
        except (ValueError, AttributeError):
            self.fail(f"{path} {value!r} is not a CIDR")

    def time(self, path) -> datetime | None:
        return self.stamp(path, _dig(self.data, path))

    def stamp(self, path, value) -> datetime | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):   # YAML without quotes gives datetimes
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        stamp = parse_time(value)
        if stamp is None:
            self.fail(f"{path} {value!r} is not a time like 2024-01-31T12:00:00Z")
        return stamp

    def annotations(self) -> dict:
        annotations = self.get("metadata.annotations", dict) or {}
        for key, value in annotations.items():
            if not isinstance(value, str):
                self.fail(f"annotation {key} is not a string")
        return annotations


def _dig(data, path):
    for key in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def parse_time(value) -> datetime | None:
    """An RFC 3339 time as the API and the report write them ("...Z"), in UTC; None if it is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


# -- the three kinds -------------------------------------------------------------

def _node(item: _Item) -> Node:
    name = item.get("metadata.name", str, required=True)
    annotations = item.annotations()
    roles = {}
    # the address the CNI tunnels to comes first: flannel's public-ip, Calico's IPv4Address
    for key, role in ((FLANNEL + "public-ip", "flannel public-ip"), (FLANNEL + "public-ipv6", "flannel public-ipv6"),
                      (CALICO + "IPv4Address", "Calico IPv4Address"), (CALICO + "IPv6Address", "Calico IPv6Address")):
        if key in annotations:
            # Calico writes the interface address with its prefix length: "192.168.1.5/24"
            roles.setdefault(item.address(f"annotation {key}", annotations[key].split("/")[0]), role)
    for number, entry in enumerate(item.get("status.addresses", list) or [], 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            item.fail(f"status.addresses[{number}] has no type")
        if entry["type"] in ("InternalIP", "ExternalIP"):
            roles.setdefault(item.address(f"status.addresses[{number}]", entry.get("address")), entry["type"])
    tunnel = {}
    calico_classes = set()
    for key, (role, encapsulation) in CALICO_TUNNELS.items():
        if key in annotations:
            tunnel[item.address(f"annotation {key}", annotations[key])] = role
            calico_classes.add(encapsulation)
    cilium_cidrs = []
    for family in ("ipv4", "ipv6"):
        for prefix in CILIUM_PREFIXES:
            for suffix, role in (("health-ip", "cilium-health"), ("cilium-host", "cilium_host")):
                key = f"{prefix}{family}-{suffix}"
                if key in annotations:
                    tunnel.setdefault(item.address(f"annotation {key}", annotations[key]), role)
            key = f"{prefix}{family}-pod-cidr"
            if key in annotations:
                cilium_cidrs.append(item.cidr(f"annotation {key}", annotations[key]))
    spec_cidrs = [item.cidr("spec.podCIDRs", c) for c in item.strings("spec.podCIDRs")]
    if not spec_cidrs and item.get("spec.podCIDR", str):
        spec_cidrs = [item.cidr("spec.podCIDR", item.get("spec.podCIDR", str))]
    backend = _flannel_backend(item, annotations) or (
        Backend("calico", "+".join(sorted(calico_classes)), frozenset(calico_classes)) if calico_classes else None)
    if backend and backend.source == "flannel":
        for cidr in spec_cidrs:
            network = ipaddress.ip_network(cidr)
            # flanneld gives flannel.1 the subnet's own address (10.244.1.0 of 10.244.1.0/24), and its CNI
            # plugin makes cni0 the pods' gateway on the first host address (host-local's default, .1)
            if backend.kind == "vxlan":
                tunnel.setdefault(str(network.network_address), "flannel.1")
            tunnel.setdefault(str(network.network_address + 1), "cni0")
    heartbeats = [_condition_time(item, number, condition)
                  for number, condition in enumerate(item.get("status.conditions", list) or [], 1)]
    heartbeats = [stamp for stamp in heartbeats if stamp is not None]
    return Node(
        name=name, underlay=tuple(roles), underlay_roles=roles, tunnel=tunnel,
        spec_pod_cidrs=tuple(dict.fromkeys(spec_cidrs)), cni_pod_cidrs=tuple(dict.fromkeys(cilium_cidrs)),
        calico=any(key.startswith(CALICO) for key in annotations), backend=backend,
        created=item.time("metadata.creationTimestamp"), heartbeat=max(heartbeats, default=None))


def _condition_time(item, number, condition):
    if not isinstance(condition, dict):
        item.fail(f"status.conditions[{number}] is not an object")
    return item.stamp(f"status.conditions[{number}].lastHeartbeatTime", condition.get("lastHeartbeatTime"))


def _flannel_backend(item, annotations) -> Backend | None:
    kind = annotations.get(FLANNEL + "backend-type")
    if kind is None:
        return None
    kind = kind.strip().lower()
    data = {}
    raw = annotations.get(FLANNEL + "backend-data")
    if raw:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            item.fail(f"annotation {FLANNEL}backend-data is not JSON: {raw[:60]!r}")
    data = data if isinstance(data, dict) else {}   # host-gw writes "null"
    vni = data.get("VNI")
    if vni is not None and (isinstance(vni, bool) or not isinstance(vni, int)):
        item.fail(f"annotation {FLANNEL}backend-data VNI {vni!r} is not a number")
    mac = data.get("VtepMAC")
    if mac is not None and not isinstance(mac, str):
        item.fail(f"annotation {FLANNEL}backend-data VtepMAC {mac!r} is not a string")
    if kind != "vxlan":   # (older flannel wrote only VtepMAC: then the VNI is not checked)
        vni = mac = None
    classes = FLANNEL_CLASSES.get(kind)   # extension, alloc: nothing to hold the wire against
    return Backend("flannel", kind, frozenset(classes) if classes is not None else None, vni,
                   mac.lower() if mac else None)


def _pod(item: _Item) -> Pod:
    name = item.get("metadata.name", str, required=True)
    namespace = item.get("metadata.namespace", str, required=True)
    addresses = []
    for number, entry in enumerate(item.get("status.podIPs", list) or [], 1):
        if not isinstance(entry, dict):
            item.fail(f"status.podIPs[{number}] is not an object")
        addresses.append(item.address(f"status.podIPs[{number}].ip", entry.get("ip")))
    if item.get("status.podIP", str):
        addresses.insert(0, item.address("status.podIP", item.get("status.podIP", str)))
    owner = None
    for reference in item.get("metadata.ownerReferences", list) or []:
        if isinstance(reference, dict) and (reference.get("controller") or owner is None):
            owner = f"{reference.get('kind', '?')}/{reference.get('name', '?')}"
    return Pod(namespace=namespace, name=name, node=item.get("spec.nodeName", str) or None,
               addresses=tuple(dict.fromkeys(addresses)), host_network=bool(item.get("spec.hostNetwork", bool)),
               owner=owner, phase=item.get("status.phase", str), created=item.time("metadata.creationTimestamp"),
               started=item.time("status.startTime"))


def _service(item: _Item) -> Service:
    name = item.get("metadata.name", str, required=True)
    namespace = item.get("metadata.namespace", str, required=True)
    # headless services say "None"; ExternalName services have no cluster IP
    values = item.strings("spec.clusterIPs") or [item.get("spec.clusterIP", str) or "None"]
    addresses = tuple(dict.fromkeys(item.address("spec.clusterIPs", v) for v in values if v != "None"))
    ports = []
    for number, port in enumerate(item.get("spec.ports", list) or [], 1):
        if not isinstance(port, dict) or isinstance(port.get("port"), bool) or not isinstance(port.get("port"), int):
            item.fail(f"spec.ports[{number}].port is not a number")
        ports.append(f"{port['port']}/{port.get('protocol') or 'TCP'}")
    return Service(namespace, name, addresses, tuple(ports), item.time("metadata.creationTimestamp"))
