"""Text report: the verdict and findings first (errors first), then the tables an operator reads."""
from __future__ import annotations

import textwrap
from collections import Counter
from itertools import islice

from tabulate import tabulate

from ..findings.endpoints import ip_sort_key, pod_side_keys
from .context import cluster_lines, correlation_lines, named
from .model import PROTO_NAMES, Report

SCREEN_WIDTH = 118
SEVERITY_LABEL = {"error": "ERROR", "warning": "WARN", "info": "info"}


def _size(n: float) -> str:
    """Bytes in binary units, labelled as such (KiB = 1024 bytes)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def render_text(report: Report, top: int = 10, detail: bool = True) -> str:
    """The first screen diagnoses (verdict, then each problem with its cause, fix and evidence, then the MTU
    of each pod and node); the findings and tables follow."""
    data = report.to_dict(flows=False)
    capture = data["capture"]
    lines = [
        f"pcapdiag {data['version']}  {capture['file']}  ({capture['format']}, {', '.join(capture['link_types'])})",
        f"{_plural(capture['packets'], 'packet')}, {_size(capture['bytes'])} on the wire, "
        f"{capture['start'] or '-'} .. {capture['end'] or '-'}"
        + (f" ({capture['duration_s']:.3f} s)" if capture["duration_s"] is not None else ""),
    ]
    lines += _wrapped(f"CNI: {report.cni['summary']}", 5)   # the guess (pcapdiag.cni), one line where it fits
    lines += _vantage(report)
    lines += ["", data["verdict"], ""]
    lines += _problems(report)
    lines += _endpoints(report)
    lines += _findings(report.findings)
    lines += ["", "Encapsulation"]
    rows = [[e["type"], e["udp_port"] or "", e["packets"], _size(e["wire_bytes"]), _size(e["overhead_bytes"]),
             f"{e['overhead_pct']:.1f}%", e["overhead_per_packet"], _nominal_text(e),
             " ".join(map(str, e["vnis"][:5])) + (" ..." if len(e["vnis"]) > 5 else "")]
            for e in data["encapsulation"]]
    lines.append(tabulate(rows, headers=["class", "udp port", "packets", "wire", "overhead", "share",
                                         "per packet", "nominal", "VNIs"]))
    lines += _overhead_notes(data)
    mtu = data["mtu"]
    overlays = ", ".join(f"{o['type']}{'/' + str(o['udp_port']) if o['udp_port'] else ''} carries pod packets of "
                         f"up to {o['overlay_mtu']} bytes (budget: {mtu['underlay_mtu']} - {o['overhead']} overhead)"
                         for o in mtu["overlays"])
    lines += ["", f"MTU: underlay {mtu['underlay_mtu']} ({mtu['underlay_mtu_basis']})"
              + (f"; {overlays}" if overlays else "")
              + ("" if mtu["sizes_reliable"] else "; sizes unreliable (offload)")]
    if data["nodes"]:
        lines += ["", "Nodes (underlay address -> pods behind it)"]
        rows = [[named(report, n["ip"]), _short(sorted(n["pods"], key=ip_sort_key)), " ".join(n["pod_cidrs"])
                 + _cidr_source(n["pod_cidr_source"]), " ".join(n["macs"][:2]), " ".join(n["peers"][:3])]
                for n in data["nodes"]]
        lines.append(tabulate(rows, headers=["node", "pods", "pod CIDR", "VTEP MAC", "peers"]))
    lines += _sessions(data["sessions"])
    lines += cluster_lines(report)
    lines += _top_flows(report, top)
    lines += correlation_lines(report)
    if detail:
        lines += _detail(data)
    return "\n".join(lines) + "\n"


def _cidr_source(source: str | None) -> str:
    """" (inferred)", " (inferred, narrowed: ...)": one pair of parentheses whatever the source says."""
    if not source:
        return ""
    head, _, rest = source.partition(" (")
    return f" ({head}, {rest[:-1]})" if rest.endswith(")") else f" ({source})"


def _vantage(report: Report) -> list[str]:
    vantage = report.vantage
    if not vantage:
        return []
    return _wrapped(f"Captured inside node {vantage['node']} (an -i any capture: {vantage['flows_agreeing']} of "
                    f"{vantage['flows_seen_both_ways']} flows seen both ways place it there). Each tunnelled flow "
                    f"is seen twice: in the tunnel, and on the pod side (before encapsulation or after "
                    f"decapsulation).", 0)


def _problems(report: Report) -> list[str]:
    if not report.problems:
        return []
    by_id = {f["id"]: f for f in report.findings}
    lines = ["Problems"]
    for problem in report.problems:
        lines += _wrapped(f"  {SEVERITY_LABEL[problem['severity']]:<5} {problem['title']}", 8)
        lines += _wrapped(f"        cause: {problem['cause']}", 15)
        if problem["fix"]:
            lines += _wrapped(f"        fix: {problem['fix']}", 13)
        evidence = ", ".join(f"{fid} ({_plural(by_id[fid]['count'], _singular(by_id[fid]['counts_what']))})"
                             for fid in problem["findings"])
        lines += _wrapped(f"        evidence: {evidence}", 18)
    return lines + [""]


def _singular(counts_what: str) -> str:
    """"ICMP messages" -> "ICMP message" for _plural (counts_what is the registry's plural noun phrase)."""
    return counts_what[:-1] if counts_what.endswith("s") else counts_what


def _wrapped(text: str, indent: int) -> list[str]:
    return textwrap.wrap(text, width=SCREEN_WIDTH, subsequent_indent=" " * indent, break_on_hyphens=False)


ENDPOINT_ROWS = 12   # rows of the MTU table on the first screen; the JSON has them all


def _endpoints(report: Report) -> list[str]:
    """Which pods and nodes send more than the path carries, shown when an MTU finding is raised."""
    rows = report.endpoints
    if not rows or not any(f["id"].startswith("mtu.") for f in report.findings):
        return []
    shown = sorted(rows, key=lambda r: (not r["over_budget"], r["role"] != "pod"))[:ENDPOINT_ROWS]
    shown.sort(key=lambda r: (r["role"] != "pod", ip_sort_key(r["address"])))
    table = [[r["address"], r["role"], r["node"] or "", r["largest_packet"] or "",
              " ".join(map(str, r["mss_advertised"])), r["fragments_sent"] or "", r["icmp_too_big_received"] or "",
              r["full_size_retransmits"] or "", {True: "yes", False: "no", None: "?"}[r["over_budget"]]]
             for r in shown]
    lines = ["MTU by pod and node (what each sends; over budget: more than the path carries)",
             tabulate(table, headers=["address", "role", "node", "largest", "MSS sent",
                                      "fragments", "ICMP too-big", "full-size retx", "over budget"])]
    if len(rows) > len(shown):
        lines.append(f"(and {len(rows) - len(shown)} more: --format json lists them in mtu_by_endpoint)")
    return lines + [""]


def _overhead_notes(data) -> list[str]:
    """Why a class's observed overhead per frame differs from its nominal header size."""
    outer = next((f for f in data["findings"] if f["id"] == "mtu.outer-fragmented"), None)
    lines = []
    for entry in data["encapsulation"]:
        nominal, observed = entry["nominal_overhead"], entry["overhead_per_packet"]
        name = entry["type"] + (f"/{entry['udp_port']}" if entry["udp_port"] else "")
        if "overhead_range" in entry:
            lines.append(_encrypted_note(name, entry))
            if not outer:     # its frames' overhead is measured against an assumed inner size
                continue
        if not nominal or abs(observed - nominal) < 0.5:
            continue
        if outer and observed < nominal:
            why = (f"{_plural(outer['count'], 'frame')} are outer fragments, and a fragmented datagram's tunnel "
                   f"header is not measured frame by frame")
        elif observed > nominal:
            why = "options or keys add to the nominal header"
        else:
            why = "some frames carry no whole tunnel header of their own (fragments, truncated or offload frames)"
        lines.append(f"{name}: {observed} bytes of overhead per frame on average, not the nominal {nominal}: {why}")
    return lines


def _nominal_text(entry) -> str:
    """The nominal overhead, or the range padding makes of it (encrypted classes)."""
    if "overhead_range" in entry:
        return "{}-{}".format(*entry["overhead_range"])
    return "" if entry["nominal_overhead"] is None else str(entry["nominal_overhead"])


def _encrypted_note(name: str, entry) -> str:
    """What an encrypted class's sizes say, and what they cannot."""
    low, high = entry["overhead_range"]
    text = (f"{name}: encrypted - {low}-{high} bytes of overhead per packet (padding hides the exact inner size; "
            f"inner sizes are the most a packet can hold); the nodes are the tunnel's ends, the pods behind them "
            f"are hidden")
    if entry.get("esp_cipher"):
        text += f"; cipher by the ESP sizes: {entry['esp_cipher']}"
    if entry.get("device_mtu_seen"):
        text += f"; WireGuard device MTU seen: {entry['device_mtu_seen']}"
    return text


def _top_flows(report: Report, top: int) -> list[str]:
    flows = list(islice(report.flow_records(), top))
    if not flows:
        return []
    pod_side = pod_side_keys(report.flows) if report.vantage else set()
    rows = [[_copy_label(f, pod_side),
             f"{named(report, f['outer_src'])} > {named(report, f['outer_dst'])}" if f["outer_src"] else "",
             f["vni"] if f["vni"] is not None else "", f["proto"],
             f"{named(report, f['src'], f['sport'])} > {named(report, f['dst'], f['dport'])}",
             f["packets"], _size(f["bytes"]), f["max_ip_len"], f["retransmits"] or ""]
            for f in flows]
    heading = f"Top {len(flows)} flows by bytes"
    if pod_side:
        heading += " (an -i any capture: 'pod side' rows are the same flows as the tunnel rows, seen on the pods' side)"
    return ["", heading, tabulate(rows, headers=["encap", "nodes", "VNI", "proto", "inner flow", "packets", "bytes",
                                                  "max IP", "retx"])]


def _copy_label(flow: dict, pod_side: set) -> str:
    if flow["encap"] != "native" or not pod_side:
        return flow["encap"]
    proto = next((number for number, name in PROTO_NAMES.items() if name == flow["proto"]), None)
    proto = int(flow["proto"]) if proto is None and str(flow["proto"]).isdigit() else proto
    key = (flow["src"], flow["dst"], proto, -1 if flow["sport"] is None else flow["sport"],
           -1 if flow["dport"] is None else flow["dport"])
    return "pod side" if key in pod_side else "native"


def _sessions(section: dict) -> list[str]:
    """Encrypted tunnels per peer pair: handshakes and sessions (WireGuard), SAs and IKE exchanges (IPsec)."""
    rows = []
    for pair in section["pairs"]:
        if pair["tunnel"] == "wireguard":
            handshakes = (f"{pair['handshakes']} of {pair['initiations']} answered" if pair["initiations"]
                          else f"{pair['handshakes']} responses")
            sessions = f"{_plural(len(pair['sessions']), 'session')}, {_plural(pair['rekeys'], 'rekey')}"
            traffic = f"{pair['data_packets']} data packets, {_size(pair['data_bytes'])}"
        else:
            handshakes = f"IKE {pair['ike_responses']} responses to {pair['ike_requests']} requests"
            sessions = f"{_plural(pair['spis'], 'SPI')}, {_plural(pair['rekeys'], 'rekey')}"
            traffic = f"{pair['esp_packets']} ESP packets, {_size(pair['esp_bytes'])}"
        rows.append([pair["tunnel"], " <> ".join(pair["peers"]), handshakes, sessions, traffic])
    if not rows:
        return []
    return ["", "Encrypted tunnels per peer pair",
            tabulate(rows, headers=["tunnel", "peers", "handshakes", "sessions", "traffic"])]


def _short(items, limit=4) -> str:
    return " ".join(items[:limit]) + (f" (+{len(items) - limit})" if len(items) > limit else "")


def _findings(findings) -> list[str]:
    if not findings:
        return ["No findings."]
    lines = ["Findings"]
    for finding in findings:
        # the sentence an on-call engineer reads first: folded to the screen, never cut
        lines.extend(_wrapped(f"  {SEVERITY_LABEL[finding['severity']]:<5} {finding['id']}: "
                              f"{finding['summary']} [{finding['count']}]", 8))
        # the evidence's own text lines (contract 2), each once: an -i any capture sees a packet on several
        # interfaces, and the same line three times says nothing more
        for line, times in Counter(finding["evidence"].get("text", ())).items():
            lines.append(f"          {line}" + (f" (x{times})" if times > 1 else ""))
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
