"""Text report: the verdict and findings first (errors first), then the tables an operator reads."""
from __future__ import annotations

import textwrap

from tabulate import tabulate

from .context import cluster_lines, correlation_lines, named
from .model import Report

SCREEN_WIDTH = 118
SEVERITY_LABEL = {"error": "ERROR", "warning": "WARN", "info": "info"}


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_text(report: Report, top: int = 10, detail: bool = True) -> str:
    data = report.to_dict()
    capture = data["capture"]
    lines = [
        f"pcapdiag {data['version']}  {capture['file']}  ({capture['format']}, {', '.join(capture['link_types'])})",
        f"{capture['packets']} packets, {_size(capture['bytes'])} on the wire, "
        f"{capture['start'] or '-'} .. {capture['end'] or '-'}"
        + (f" ({capture['duration_s']:.3f} s)" if capture["duration_s"] is not None else ""),
        "",
        data["verdict"],
        "",
    ]
    lines += _findings(report.findings)
    lines += ["", "Encapsulation"]
    rows = [[e["type"], e["udp_port"] or "", e["packets"], _size(e["wire_bytes"]), _size(e["overhead_bytes"]),
             f"{e['overhead_pct']:.1f}%", e["overhead_per_packet"], e["nominal_overhead"] if e["nominal_overhead"]
             is not None else "", " ".join(map(str, e["vnis"][:5])) + (" ..." if len(e["vnis"]) > 5 else "")]
            for e in data["encapsulation"]]
    lines.append(tabulate(rows, headers=["class", "udp port", "packets", "wire", "overhead", "share",
                                         "per packet", "nominal", "VNIs"]))
    mtu = data["mtu"]
    overlays = ", ".join(f"{o['type']}{'/' + str(o['udp_port']) if o['udp_port'] else ''} overlay "
                         f"{o['overlay_mtu']} (-{o['overhead']})" for o in mtu["overlays"])
    lines += ["", f"MTU: underlay {mtu['underlay_mtu']} ({mtu['underlay_mtu_basis']})"
              + (f"; {overlays}" if overlays else "")
              + ("" if mtu["sizes_reliable"] else "; sizes unreliable (offload)")]
    if data["nodes"]:
        lines += ["", "Nodes (underlay address -> pods behind it)"]
        rows = [[named(report, n["ip"]), _short(n["pods"]),
                 " ".join(n["pod_cidrs"]) + (f" ({n['pod_cidr_source']})" if n["pod_cidr_source"] else ""),
                 " ".join(n["macs"][:2]), " ".join(n["peers"][:3])] for n in data["nodes"]]
        lines.append(tabulate(rows, headers=["node", "pods", "pod CIDR", "VTEP MAC", "peers"]))
    lines += cluster_lines(report)
    flows = report.flows_table.head(top)
    if not flows.empty:
        lines += ["", f"Top {len(flows)} flows by bytes"]
        rows = [[f["encap"], f"{named(report, f['outer_src'])} > {named(report, f['outer_dst'])}" if f["outer_src"]
                 else "", f["vni"] if f["vni"] is not None else "", f["proto"],
                 f"{named(report, f['src'], f['sport'])} > {named(report, f['dst'], f['dport'])}",
                 f["packets"], _size(f["bytes"]), f["max_ip_len"], f["retransmits"] or ""]
                for f in flows.to_dict("records")]
        lines.append(tabulate(rows, headers=["encap", "nodes", "VNI", "proto", "inner flow", "packets", "bytes",
                                             "max IP", "retx"]))
    lines += correlation_lines(report)
    if detail:
        lines += _detail(data)
    return "\n".join(lines) + "\n"


def _short(items, limit=4) -> str:
    return " ".join(items[:limit]) + (f" (+{len(items) - limit})" if len(items) > limit else "")


def _findings(findings) -> list[str]:
    if not findings:
        return ["No findings."]
    lines = ["Findings"]
    for finding in findings:
        # the sentence an on-call engineer reads first: folded to the screen, never cut
        lines.extend(textwrap.wrap(f"  {SEVERITY_LABEL[finding['severity']]:<5} {finding['id']}: "
                                   f"{finding['summary']} [{finding['count']}]", width=SCREEN_WIDTH,
                                   subsequent_indent=" " * 8, break_on_hyphens=False))
        # the evidence's own text lines (contract 2): the first few flows, messages, examples... in words
        lines.extend(f"          {line}" for line in finding["evidence"].get("text", ()))
        if finding.get("fix"):
            lines.append(f"          fix: {finding['fix']}")
    return lines


def _detail(data) -> list[str]:
    lines = []
    if data["node_pairs"]:
        lines += ["", "Tunnel traffic per node pair"]
        lines.append(tabulate([[p["type"], p["src"], p["dst"], p["packets"], _size(p["wire_bytes"]),
                                _size(p["overhead_bytes"])] for p in data["node_pairs"]],
                              headers=["class", "from node", "to node", "packets", "wire", "overhead"]))
    chains = {k: v for k, v in data["encapsulation_chains"].items() if ">" in k}
    if chains:
        lines += ["", "Nested encapsulation: " + ", ".join(f"{k} ({v})" for k, v in chains.items())]
    for overlap in data["pod_cidr_overlaps"]:
        lines += ["", f"Pod CIDRs overlap: {overlap['nodes'][0]} {overlap['cidrs'][0]} and "
                      f"{overlap['nodes'][1]} {overlap['cidrs'][1]}"]
    capture = data["capture"]
    damage = {k: v for k, v in capture["damage"].items() if v}
    if damage or capture["malformed"] or capture["truncated"]:
        lines += ["", f"Capture damage: malformed {capture['malformed']}, truncated {capture['truncated']}"
                  + ("".join(f", {k} {v}" for k, v in damage.items()))]
    if capture["duplicates"]:
        lines += ["", f"{capture['duplicates']} frames are the same packet seen again on another interface "
                      f"(-i any capture); flows count each packet once per view"]
    return lines
