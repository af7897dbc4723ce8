"""Baseline: the expectations a known-good capture implies, as Expectations or as a commented,
human-editable TOML file (what `pcapdiag baseline` writes).

    open("expect.toml", "w").write(render_toml(pcapdiag.analyze("good.pcap")))
"""
from __future__ import annotations

import ipaddress

from ..catalogue import ENCAP_CLASSES, SEVERITIES
from .expectations import Expectations
from .observed import Observed, class_order, ip_key, list_text, net_key, plural, port_text, report_data


def baseline_from_report(report, fail_on: str = "warning") -> Expectations:
    """The expectations a known-good capture implies (what render_toml writes, without the comments)."""
    return _baseline(Observed(report_data(report)), fail_on)[0]


def _baseline(obs: Observed, fail_on: str):
    notes = {}
    exp = Expectations(fail_on=fail_on)
    tunnel = sorted({e["type"] for e in obs.tunnel_entries}, key=class_order)
    if tunnel:
        exp.encap = tunnel
    elif obs.native_packets:
        exp.encap = ["native"]
    ports = sorted({int(e["udp_port"]) for e in obs.tunnel_entries if e.get("udp_port")})
    if ports:
        exp.udp_port = ports
    vnis = sorted({int(v) for e in obs.tunnel_entries for v in e.get("vnis", [])})
    if vnis:
        exp.vni = vnis
    exp.nodes = len(obs.nodes)
    exp.node_addresses = sorted(obs.nodes, key=ip_key)
    if obs.nodes:
        exp.pod_cidrs = {ip: sorted({str(ipaddress.ip_network(c, strict=False)) for c in n.get("pod_cidrs", [])},
                                    key=net_key) for ip, n in sorted(obs.nodes.items(), key=lambda i: ip_key(i[0]))}
    if obs.mtu.get("underlay_mtu") is not None:
        exp.underlay_mtu = int(obs.mtu["underlay_mtu"])
    overlay_values = sorted({int(o["overlay_mtu"]) for o in obs.mtu.get("overlays", [])})
    if len(overlay_values) == 1:
        exp.overlay_mtu = overlay_values[0]
    elif overlay_values:
        notes["overlay_mtu"] = f"several overlays with different MTUs ({list_text(overlay_values)})"
    if not obs.entries_with_ip():
        exp.allow_empty = True   # what this capture shows: checking it against its own baseline must pass
    flows = obs.inner_flows()
    if flows:
        size = max(int(f["max_ip_len"]) for f in flows)
        if obs.mtu.get("sizes_reliable") is False:
            notes["max_inner_size"] = (f"not set: offload super-frames make sizes in this capture unreliable "
                                       f"(largest seen {size})")
        else:
            exp.max_inner_size = max(size, 20)  # the smallest value the schema accepts
    return exp, notes


def render_toml(report, fail_on: str = "warning", source: str | None = None, version: str = "") -> str:
    """A commented, human-editable expectations file from a known-good report."""
    data = report_data(report)
    obs = Observed(data)
    exp, notes = _baseline(obs, fail_on)
    capture = data.get("capture", {})
    name = source or capture.get("file") or "the capture"
    lines = [
        f"# pcapdiag expectations, written by `pcapdiag baseline`{f' {version}' if version else ''}",
        f"# from {name} ({capture.get('packets', '?')} packets, {capture.get('start')} .. {capture.get('end')}).",
        "#",
        "# Check a capture against it:  pcapdiag check CAPTURE --expect THIS_FILE",
        "# Every key is optional: delete or comment out a line to stop checking it. Lists are",
        "# compared as sets. Command-line flags (--expect-port, --fail-on, ...) override keys here.",
        "",
    ]

    def key(name, value, *comment, disabled_note=None):
        lines.extend(f"# {c}" for c in comment)
        if value is None:
            lines.append(f"# {name} = ...   ({disabled_note or 'nothing observed in this capture'})")
        else:
            lines.append(f"{name} = {_toml_value(value)}")
        lines.append("")

    key("encap", exp.encap,
        f"Encapsulation classes carrying pod traffic: {', '.join(ENCAP_CLASSES)}.",
        "Every tunnel class seen must be listed and every class listed must be seen. Native (unencapsulated)",
        "underlay traffic such as SSH or BGP is tolerated unless \"native\" is listed here.",
        f"Seen: {obs.classes_text()}.")
    key("udp_port", exp.udp_port,
        "UDP destination ports of the tunnel traffic (VXLAN: 8472 Linux/flannel, 4789 IANA; Geneve: 6081).",
        disabled_note="no UDP tunnel in this capture")
    key("vni", exp.vni, "VXLAN/Geneve network identifiers (VNIs, 24 bits) and GRE keys (32 bits) seen on the "
        "tunnel traffic.", disabled_note="no VXLAN, Geneve or keyed GRE in this capture")
    key("nodes", exp.nodes,
        "Number of nodes: underlay addresses carrying tunnel traffic (or BGP peers when routing natively).")
    key("node_addresses", exp.node_addresses,
        "The nodes' underlay addresses. A missing or an unexpected address fails and is named.",
        *_cluster_names(data))
    key("underlay_mtu", exp.underlay_mtu, f"Underlay MTU, exact. Basis: {obs.mtu.get('underlay_mtu_basis', '?')}.",
        "(pcapdiag infers it from the largest outer packet; --underlay-mtu on the command line sets it.)")
    overlays = "; ".join(f"{port_text(o)} {o['overlay_mtu']} ({o['overhead']} bytes overhead)"
                         for o in obs.mtu.get("overlays", []))
    key("overlay_mtu", exp.overlay_mtu, "Overlay MTU, exact: underlay MTU minus the encapsulation overhead.",
        *([f"Seen: {overlays}."] if overlays else []),
        disabled_note=notes.get("overlay_mtu", "no tunnel traffic in this capture"))
    key("max_inner_size", exp.max_inner_size,
        "Largest inner (pod) IP packet allowed, in bytes: an upper bound, compared with the largest inner",
        "packet of tunnelled flows (of all flows when nothing is tunnelled). The value written is the largest",
        "seen here" + (f"; the overlay MTU ({exp.overlay_mtu}) is the natural limit for healthy traffic."
                       if exp.overlay_mtu else "."),
        disabled_note=notes.get("max_inner_size", "no IP packets in this capture"))
    present = [f for f in obs.findings if SEVERITIES.index(f["severity"]) >= SEVERITIES.index(fail_on)]
    key("fail_on", exp.fail_on,
        "Fail when a finding of this severity or worse is present: info, warning or error.",
        *([f"NOTE: this capture itself has {plural(len(present), 'such finding')}: "
           f"{list_text(sorted({f['id'] for f in present}))}.",
           "Checking it against this file fails until you fix the capture, raise fail_on or ignore them."]
          if present else ["This capture has none."]))
    if exp.allow_empty:
        key("allow_empty", True, "This capture holds no IP packets, and a capture without any fails a check unless "
            "this is true:", "delete it if the captures to check must carry traffic.")
    others = sorted({f["id"] for f in obs.findings})
    key("ignore_findings", [],
        "Finding ids exempt from fail_on, e.g. [\"tunnel.bad-outer-checksum\"].",
        *([f"Findings in this capture: {list_text(others)}."] if others else []))
    lines += [
        "# Pod CIDRs per node address, compared as sets; only the nodes listed here are checked.",
        "# Inferred from the pod addresses seen behind each node, or taken from its BGP advertisements.",
        "# Keep this table last: every key below a [table] header belongs to that table.",
    ]
    if exp.pod_cidrs:
        lines.append("[pod_cidrs]")
        for ip, cidrs in exp.pod_cidrs.items():
            node = obs.nodes[ip]
            source = node.get("pod_cidr_source") or "no pods seen"
            lines.append(f"{_toml_value(ip)} = {_toml_value(cidrs)}   # {source}, "
                         f"{plural(len(node.get('pods', [])), 'pod address')} seen"
                         + (f", node {node['name']}" if node.get("name") else ""))
    else:
        lines.append("# [pod_cidrs]   (no nodes in this capture)")
    return "\n".join(lines) + "\n"


def _cluster_names(data: dict) -> list[str]:
    """Comment lines naming the nodes, when the report was made with a cluster dump (--cluster)."""
    if "cluster" not in data:
        return []
    named = [f"{n['ip']} {n['name']}" for n in data.get("nodes", []) if n.get("name")]
    missing = data["cluster"].get("not_in_capture", [])
    return ([f"Names from the cluster dump: {list_text(named)}."] if named else []) + \
        ([f"Nodes of the cluster not in this capture: {list_text(missing)}."] if missing else [])


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


__all__ = ["baseline_from_report", "render_toml"]
