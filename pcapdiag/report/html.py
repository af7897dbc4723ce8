"""The HTML report: one self-contained page, with pictures, of everything the text report says.

Built from the report's JSON dict (the stable interface) and the SeriesCollector's aggregates (size
histograms, time series). The page holds no script and loads nothing: its Content-Security-Policy forbids
every fetch and every script, charts are inline SVG and styles inline CSS, so it opens offline, prints,
and anything a capture smuggles into a name or a string stays text (everything from it goes through esc()).
"""
from __future__ import annotations

import ipaddress
import json
import re

from .charts import PALETTE, PROBLEM, cluster_graph, esc, histogram, size_text, stacked_bars, timeline

FLOW_ROWS = 100        # flows listed (largest first); the JSON has them all
NODES_DRAWN = 24       # the busiest nodes drawn in the graph; the table lists all
TIME_BINS_DRAWN = 400  # time bins across the plot at most (the collector keeps finer ones)
GROUPS_DRAWN = 7       # node pairs drawn as their own line on the time line; the rest are summed
EVIDENCE_LINES = 5     # evidence lines of each kind shown under a finding (all are in its details)
SEVERITY_LABEL = {"error": "ERROR", "warning": "WARN", "info": "info"}
EVIDENCE_KEYS = ("flows", "messages", "node_pairs", "conflicts", "retransmissions", "mss", "unanswered_syns",
                 "examples", "warnings", "ports")
EVENT_STYLE = {"retransmit": ("TCP retransmissions", "#d62728"), "icmp_too_big": ("ICMP too-big", "#9467bd"),
               "inner_fragment": ("inner fragments", "#ff7f0e"), "outer_fragment": ("outer fragments", "#8c564b")}
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;margin:0;background:#fff}
main{max-width:1100px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:20px;margin:8px 0 4px;word-break:break-all}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #dde}
h3{font-size:14px;margin:14px 0 4px}.meta{color:#555;margin:0}
.verdict{padding:10px 14px;border-radius:6px;font-weight:600;margin:14px 0;border-left:6px solid}
.verdict.error{background:#fdecec;border-color:#d62728}.verdict.warning{background:#fff6e0;border-color:#e6a700}
.verdict.ok{background:#eaf6ec;border-color:#2ca02c}
.finding{border:1px solid #dde;border-radius:6px;padding:8px 12px;margin:8px 0;break-inside:avoid}
.finding.error{border-left:5px solid #d62728}.finding.warning{border-left:5px solid #e6a700}
.finding.info{border-left:5px solid #7f7f7f}
.badge{display:inline-block;font-size:11px;font-weight:700;padding:1px 6px;border-radius:3px;color:#fff;margin-right:6px}
.badge.error{background:#d62728}.badge.warning{background:#b8860b}.badge.info{background:#7f7f7f}
.id{font-family:ui-monospace,monospace;font-weight:600}.count{color:#555}
ul.evidence{margin:4px 0 4px 0;padding-left:18px;font-family:ui-monospace,monospace;font-size:12px}
.fix{margin:4px 0}.fix b{color:#1a7f37}
details pre{white-space:pre-wrap;word-break:break-all;font-size:11px;background:#f6f8fa;padding:6px}
table{border-collapse:collapse;margin:6px 0;font-size:12.5px;width:100%}
th,td{border-bottom:1px solid #e4e6ee;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f5f9}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafbfd}
figure{margin:10px 0 18px;break-inside:avoid}figcaption{color:#555;font-size:12px;margin-top:2px}
.note{color:#555;font-size:12px}code{font-family:ui-monospace,monospace}
@media print{main{max-width:none;padding:0}h2{break-after:avoid}details{display:none}
a{color:inherit;text-decoration:none}@page{margin:12mm}}
"""


def render_html(report, series: dict | None = None, *, flow_rows: int = FLOW_ROWS) -> str:
    """The report as one self-contained HTML page.

    report: a Report or its JSON dict (`report.to_dict()`); series: SeriesCollector.result() (or its dict) for
    the same capture (size histograms and time series; without it those charts are left out, with a note)."""
    data = report.to_dict() if hasattr(report, "to_dict") else report
    series = series.to_dict() if hasattr(series, "to_dict") else series
    capture = data.get("capture") or {}
    title = f"pcapdiag report: {capture.get('file', '')}"
    parts = [_header(data), _findings(data.get("findings") or []), _pictures(data, series),
             _tables(data, flow_rows), _footer(data)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body><main>"
            + "".join(parts) + "</main></body></html>\n")


def _worst(findings) -> str:
    severities = {f.get("severity") for f in findings}
    return "error" if "error" in severities else "warning" if "warning" in severities else "ok"


def _n(value) -> str:
    """A number for a table cell (thousands separated); anything else as escaped text."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else esc(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return esc(value)


def _cni(data: dict) -> str:
    """The CNI guess's line under the capture facts (a saved report from before the guess has none)."""
    summary = (data.get("cni") or {}).get("summary")
    return f"<p class=\"meta\">CNI: {esc(summary)}</p>" if summary else ""


def _header(data: dict) -> str:
    capture = data.get("capture") or {}
    duration = capture.get("duration_s")
    span = f"{esc(capture.get('start') or '-')} .. {esc(capture.get('end') or '-')}" + \
        (f" ({_n(duration)} s)" if duration is not None else "")
    return (f"<header><h1>pcapdiag {esc(data.get('version', ''))} &mdash; {esc(capture.get('file', ''))}</h1>"
            f"<p class=\"meta\">{esc(capture.get('format', ''))}, "
            f"{esc(', '.join(map(str, capture.get('link_types') or [])))}; {_n(capture.get('packets', 0))} packets, "
            f"{esc(size_text(capture.get('bytes') or 0))} on the wire, {span}</p>{_cni(data)}</header>"
            f"<div class=\"verdict {_worst(data.get('findings') or [])}\">{esc(data.get('verdict', ''))}</div>")


# -- findings -----------------------------------------------------------------------------------------------

def _findings(findings: list) -> str:
    if not findings:
        return "<h2>Findings</h2><p>No findings.</p>"
    out = ["<h2>Findings</h2>"]
    for finding in findings:
        severity = str(finding.get("severity", "info"))
        css = severity if severity in SEVERITY_LABEL else "info"
        what = f" {finding['counts_what']}" if finding.get("counts_what") else ""
        lines = "".join(f"<li>{esc(line)}</li>" for line in evidence_lines(finding.get("evidence") or {}))
        fix = f"<p class=\"fix\"><b>fix:</b> {esc(finding['fix'])}</p>" if finding.get("fix") else ""
        unreliable = "" if finding.get("reliable", True) else \
            "<p class=\"note\">sizes in this capture are not wire sizes (offload): this finding is unreliable</p>"
        raw = json.dumps(finding.get("evidence") or {}, indent=1, default=str)
        out.append(f"<section class=\"finding {css}\" id=\"{esc(_anchor(finding.get('id', '')))}\">"
                   f"<span class=\"badge {css}\">{esc(SEVERITY_LABEL.get(severity, severity))}</span>"
                   f"<span class=\"id\">{esc(finding.get('id', ''))}</span>: {esc(finding.get('summary', ''))} "
                   f"<span class=\"count\">[{_n(finding.get('count', ''))}{esc(what)}]</span>"
                   f"{unreliable}{'<ul class=evidence>' + lines + '</ul>' if lines else ''}{fix}"
                   f"<details><summary>all evidence (JSON)</summary><pre>{esc(raw)}</pre></details></section>")
    return "".join(out)


def _anchor(finding_id) -> str:
    return "finding-" + re.sub(r"[^a-z0-9.-]", "-", str(finding_id).lower())


def evidence_lines(evidence: dict) -> list[str]:
    """The evidence lines under a finding: the ones the report wrote (`text`, structured evidence), or the
    first few of each kind of item, as the text report prints them."""
    if isinstance(evidence.get("text"), list):
        return [str(line) for line in evidence["text"]]
    lines = []
    for key in EVIDENCE_KEYS:
        items = evidence.get(key)
        if not isinstance(items, list):
            continue
        name = key[:-1] if key.endswith("s") else key
        lines.extend(f"{name}: {_item_text(item)}" for item in items[:EVIDENCE_LINES])
    return lines


def _item_text(item) -> str:
    if isinstance(item, dict):
        return ", ".join(f"{k}={_item_text(v)}" for k, v in item.items() if v is not None and k not in ("ts",))
    if isinstance(item, list):
        return " ".join(_item_text(v) for v in item)
    return str(item)


# -- pictures -------------------------------------------------------------------------------------------------

def _pictures(data: dict, series: dict | None) -> str:
    out = ["<h2>Pictures</h2>"]
    if series:
        out.append(_size_figures(data, series))
    else:
        out.append("<p class=\"note\">Size histograms and the time line need the capture's series "
                   "(pcapdiag.report.series); this page was made without them.</p>")
    out.append(_graph_figure(data))
    if series and series.get("groups"):
        out.append(_timeline_figure(series))
    out.append(_overhead_figure(data))
    return "".join(out)


def _mtu_lines(data: dict) -> tuple[list, list, tuple | None]:
    """Markers for the inner and the outer histogram, and the path-MTU window ICMP told (or None)."""
    mtu = data.get("mtu") or {}
    underlay = mtu.get("underlay_mtu")
    inner, outer = [], []
    if isinstance(underlay, (int, float)):
        outer.append((underlay, f"underlay MTU {underlay}", "#333"))
    seen = set()
    for overlay in mtu.get("overlays") or []:
        value = overlay.get("overlay_mtu")
        if isinstance(value, (int, float)) and value not in seen:
            seen.add(value)
            inner.append((value, f"{overlay.get('type')} overlay MTU {value}", PROBLEM))
    if not inner and isinstance(underlay, (int, float)):
        inner.append((underlay, f"MTU {underlay}", "#333"))
    told = sorted({m for f in data.get("findings") or [] if f.get("id") == "mtu.icmp-too-big"
                   for m in (f.get("evidence") or {}).get("next_hop_mtus") or [] if isinstance(m, (int, float))})
    band = None
    if told:
        band = (told[0], told[-1], "path MTU told by ICMP too-big: " + ", ".join(map(str, told)))
        outer.append((told[0], f"path MTU (ICMP) {told[0]}", "#9467bd"))
    return inner, outer, band


def _size_figures(data: dict, series: dict) -> str:
    inner_lines, outer_lines, band = _mtu_lines(data)
    sizes = series.get("sizes") or {}
    limit = series.get("size_limit", 9216)
    out = []
    for side, markers, caption in (
            ("inner", inner_lines, "Inner IP packet sizes (what the pods send), by class, log scale: packets right "
                                   "of an overlay MTU line do not fit the tunnel."),
            ("outer", outer_lines, "Outer IP packet sizes of tunnel packets (what the underlay carries): packets "
                                   "right of the underlay MTU line were fragmented or dropped on the way.")):
        drawn = [(f"{cls}" + (f" ({sum(c for _, c in sides[side]):,} packets)"), PALETTE[i % len(PALETTE)],
                  sides[side]) for i, (cls, sides) in enumerate(sorted(sizes.items())) if sides.get(side)]
        if not drawn:
            continue
        over = sum(count for _, _, points in drawn for size, count in points if size > limit)
        note = f" {over:,} packets are larger than {limit:,} bytes (offload super-frames) and are drawn at " \
               f"{limit + 1:,}." if over else ""
        out.append(f"<figure>{histogram(drawn, markers, band=band if side == 'outer' else None, label=caption)}"
                   f"<figcaption>{esc(caption + note)}</figcaption></figure>")
    return f"<h3>Packet sizes and the MTU cliff</h3>{''.join(out)}" if out else ""


def _address(text):
    try:
        return str(ipaddress.ip_address(str(text)))
    except ValueError:
        return None


_ADDRESS = re.compile(r"(?<![\w:.])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w:])")


def _mentioned_nodes(item, node_of) -> list:
    """The nodes an evidence item names, in order: underlay addresses, or pods behind a node (either the
    sentences of contract 1 or the objects of contract 2: the addresses are found in their text)."""
    text = json.dumps(item, default=str) if not isinstance(item, str) else item
    nodes = []
    for found in _ADDRESS.findall(text):
        node = node_of.get(_address(found) or "")
        if node and node not in nodes:
            nodes.append(node)
    return nodes


def _problems(data: dict, node_of: dict) -> tuple[dict, dict]:
    """Finding ids per node pair (directed) and per node, from warnings and errors that name them."""
    edges, nodes = {}, {}
    for finding in data.get("findings") or []:
        if finding.get("severity") not in ("warning", "error"):
            continue
        evidence = finding.get("evidence") or {}
        items = [item for key in EVIDENCE_KEYS for item in (evidence.get(key) or [])
                 if isinstance(evidence.get(key), list)]
        for item in items:
            named = _mentioned_nodes(item, node_of)
            for node in named:
                nodes.setdefault(node, set()).add(finding["id"])
            if len(named) >= 2:
                edges.setdefault((named[0], named[1]), set()).add(finding["id"])
    return ({k: sorted(v) for k, v in edges.items()}, {k: sorted(v) for k, v in nodes.items()})


def cluster_edges(data: dict) -> list:
    """Traffic between nodes: the tunnels' node pairs, or (natively routed) pod flows mapped to their nodes."""
    totals: dict = {}
    pairs = data.get("node_pairs") or []
    if pairs:
        for pair in pairs:
            key = (pair.get("src"), pair.get("dst"))
            entry = totals.setdefault(key, {"packets": 0, "bytes": 0, "classes": set()})
            entry["packets"] += pair.get("packets") or 0
            entry["bytes"] += pair.get("wire_bytes") or 0
            entry["classes"].add(str(pair.get("type")))
    else:
        node_of = _node_of(data)
        for flow in data.get("flows") or []:
            key = (node_of.get(flow.get("src")), node_of.get(flow.get("dst")))
            if None in key or key[0] == key[1]:
                continue
            entry = totals.setdefault(key, {"packets": 0, "bytes": 0, "classes": set()})
            entry["packets"] += flow.get("packets") or 0
            entry["bytes"] += flow.get("bytes") or 0
            entry["classes"].add(str(flow.get("encap")))
    return [{"src": src, "dst": dst, "packets": entry["packets"], "bytes": entry["bytes"],
             "classes": sorted(entry["classes"])} for (src, dst), entry in totals.items()]


def _node_of(data: dict) -> dict:
    node_of = {}
    for node in data.get("nodes") or []:
        for pod in node.get("pods") or []:
            node_of[pod] = node.get("ip")
        node_of[node.get("ip")] = node.get("ip")
    return node_of


def _graph_figure(data: dict) -> str:
    nodes = data.get("nodes") or []
    if not nodes:
        return ""
    edges = cluster_edges(data)
    problem_edges, problem_nodes = _problems(data, _node_of(data))
    traffic = {}
    for edge in edges:
        for end in (edge["src"], edge["dst"]):
            traffic[end] = traffic.get(end, 0) + edge["bytes"]
    drawn = sorted(nodes, key=lambda n: -traffic.get(n.get("ip"), 0))[:NODES_DRAWN]
    drawn = sorted(drawn, key=lambda n: str(n.get("ip")))
    graph_nodes = [{"id": str(n.get("ip")), "pods": [str(p) for p in n.get("pods") or []],
                    "title": f"node {n.get('ip')}; pod CIDR {' '.join(map(str, n.get('pod_cidrs') or []))}; "
                             f"{len(n.get('pods') or [])} pods",
                    "problem": problem_nodes.get(n.get("ip"), [])} for n in drawn]
    graph_edges = [{"src": str(e["src"]), "dst": str(e["dst"]), "bytes": e["bytes"], "packets": e["packets"],
                    "label": f"{e['packets']:,} pkts, {size_text(e['bytes'])}",
                    "text": f"{e['src']} > {e['dst']} ({'/'.join(e['classes'])}): {e['packets']:,} packets, "
                            f"{size_text(e['bytes'])}",
                    "problem": problem_edges.get((e["src"], e["dst"]), [])} for e in edges]
    more = f" The {len(nodes) - len(drawn)} quietest nodes are not drawn (all are in the table)." \
        if len(nodes) > len(drawn) else ""
    caption = ("The cluster: each node with the pods behind it; an arrow per direction of traffic between two "
               "nodes, thicker for more bytes; red dashed arrows and red outlines are what warnings and errors "
               "name." + more)
    return (f"<h3>The cluster</h3><figure>{cluster_graph(graph_nodes, graph_edges, label='cluster graph')}"
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def _rebinned(points, width: float) -> list:
    """[time, count] points summed into bins of `width` seconds (anchored at multiples of it)."""
    summed: dict = {}
    for t, count in points:
        at = (t + width * 1e-6) // width * width      # a bin start is a multiple of the finer width: no drift
        summed[at] = summed.get(at, 0) + count
    return sorted(summed.items())


def _timeline_figure(series: dict) -> str:
    groups = series["groups"]
    width = series["bin_seconds"]
    while (series["end"] - series["start"]) / width > TIME_BINS_DRAWN:
        width *= 2          # the collector's bins are powers of two apart: coarser ones hold whole finer ones
    named = []
    for index, group in enumerate(groups[:GROUPS_DRAWN]):
        name = group["type"] if not group.get("src") else f"{group['type']} {group['src']} > {group['dst']}"
        named.append((name, PALETTE[index % len(PALETTE)], _rebinned(group["series"], width)))
    rest = groups[GROUPS_DRAWN:]
    if rest:
        named.append((f"{len(rest)} other series", "#bbbbbb",
                      _rebinned([point for group in rest for point in group["series"]], width)))
    events = [(EVENT_STYLE[name][0], EVENT_STYLE[name][1], _rebinned(points, width))
              for name, points in (series.get("events") or {}).items() if name in EVENT_STYLE]
    caption = (f"Packets per second per node pair (bins of {width * 1000:.3g} ms); under the plot, where TCP "
               f"retransmissions (the loss a single capture shows), ICMP too-big messages and fragments happened.")
    start = series["start"] // width * width
    chart = timeline(named, events, start=start, end=series["end"], bin_seconds=width, label=caption)
    return f"<h3>Over time</h3><figure>{chart}<figcaption>{esc(caption)}</figcaption></figure>"


def _overhead_figure(data: dict) -> str:
    rows = []
    for entry in data.get("encapsulation") or []:
        if entry.get("type") == "non-ip":
            continue
        wire, overhead = entry.get("wire_bytes") or 0, entry.get("overhead_bytes") or 0
        port = f"/{entry['udp_port']}" if entry.get("udp_port") else ""
        rows.append((f"{entry.get('type')}{port}", [(max(wire - overhead, 0), PALETTE[0], "payload and headers"),
                                                   (overhead, PROBLEM, "encapsulation overhead")],
                     f"{size_text(overhead)} overhead ({entry.get('overhead_pct', 0)}%)"))
    for pair in (data.get("node_pairs") or [])[:30]:
        wire, overhead = pair.get("wire_bytes") or 0, pair.get("overhead_bytes") or 0
        rows.append((f"{pair.get('type')} {pair.get('src')} > {pair.get('dst')}",
                     [(max(wire - overhead, 0), PALETTE[2], "payload and headers"),
                      (overhead, PROBLEM, "encapsulation overhead")],
                     f"{size_text(overhead)} of {size_text(wire)}"))
    if not rows:
        return ""
    caption = "Bytes on the wire per class, then per node pair: red is what the encapsulation adds."
    return (f"<h3>Overhead</h3><figure>{stacked_bars(rows, label=caption)}"
            f"<figcaption>{esc(caption)}</figcaption></figure>")


# -- tables ------------------------------------------------------------------------------------------------------

def _table(headers: list, rows: list, numeric: set = frozenset()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td class=\"n\">{_n(cell)}</td>" if i in numeric else f"<td>{_n(cell)}</td>"
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _join(values) -> str:
    return " ".join(str(v) for v in values or [])


def _tables(data: dict, flow_rows: int) -> str:
    out = ["<h2>Encapsulation</h2>", _table(
        ["class", "udp port", "packets", "wire", "overhead", "share", "per packet", "nominal", "VNIs"],
        [[e.get("type"), str(e.get("udp_port") or ""), e.get("packets"), size_text(e.get("wire_bytes") or 0),
          size_text(e.get("overhead_bytes") or 0), f"{e.get('overhead_pct', 0)}%", e.get("overhead_per_packet"),
          e.get("nominal_overhead"), _join((e.get("vnis") or [])[:8]) + (" ..." if len(e.get("vnis") or []) > 8 else "")]
         for e in data.get("encapsulation") or []], {2, 6, 7})]
    mtu = data.get("mtu") or {}
    out.append("<h2>MTU</h2>" + _table(
        ["", "MTU", "basis"],
        [["underlay", mtu.get("underlay_mtu"), mtu.get("underlay_mtu_basis")]]
        + [[f"{o.get('type')}{'/' + str(o['udp_port']) if o.get('udp_port') else ''} overlay", o.get("overlay_mtu"),
            f"underlay - {o.get('overhead')} overhead"] for o in mtu.get("overlays") or []], {1}))
    if mtu.get("sizes_reliable") is False:
        out.append("<p class=\"note\">Sizes are unreliable in this capture (offload super-frames).</p>")
    nodes = data.get("nodes") or []
    if nodes:
        out.append("<h2>Nodes</h2>" + _table(
            ["node", "pods", "pod CIDR", "VTEP MAC", "VNIs", "peers"],
            [[n.get("ip"), _join(n.get("pods")), _join(n.get("pod_cidrs")) + (f" ({n['pod_cidr_source']})"
                                                                          if n.get("pod_cidr_source") else ""),
              _join(n.get("macs")), _join(n.get("vnis")), _join(n.get("peers"))] for n in nodes]))
    flows = data.get("flows") or []
    if flows:
        shown = flows[:flow_rows]
        out.append(f"<h2>Top {len(shown)} flows by bytes</h2>" + _table(
            ["encap", "nodes", "VNI", "proto", "inner flow", "packets", "bytes", "max IP", "retx", "SYN MSS"],
            [[f.get("encap"), f"{f.get('outer_src')} > {f.get('outer_dst')}" if f.get("outer_src") else "",
              "" if f.get("vni") is None else str(f.get("vni")), f.get("proto"), _flow_text(f), f.get("packets"),
              size_text(f.get("bytes") or 0), f.get("max_ip_len"), f.get("retransmits") or "",
              f.get("syn_mss") or f.get("synack_mss") or ""]
             for f in shown], {2, 5, 7, 8, 9}))
        if len(flows) > len(shown):
            out.append(f"<p class=\"note\">{len(flows) - len(shown):,} smaller flows are in the JSON report.</p>")
    out.extend(_detail(data))
    return "".join(out)


def _flow_text(flow: dict) -> str:
    sport = f":{flow['sport']}" if flow.get("sport") is not None else ""
    dport = f":{flow['dport']}" if flow.get("dport") is not None else ""
    return f"{flow.get('src')}{sport} > {flow.get('dst')}{dport}"


def _detail(data: dict) -> list:
    out = []
    pairs = data.get("node_pairs") or []
    if pairs:
        out.append("<h2>Tunnel traffic per node pair</h2>" + _table(
            ["class", "from node", "to node", "packets", "wire", "overhead"],
            [[p.get("type"), p.get("src"), p.get("dst"), p.get("packets"), size_text(p.get("wire_bytes") or 0),
              size_text(p.get("overhead_bytes") or 0)] for p in pairs], {3}))
    chains = {k: v for k, v in (data.get("encapsulation_chains") or {}).items()}
    if chains:
        out.append("<h2>Encapsulation chains</h2>" + _table(["chain", "packets"], sorted(chains.items()), {1}))
    conflicts = data.get("pod_ip_conflicts") or []
    if conflicts:
        out.append("<h2>Pod IP conflicts</h2>" + _table(
            ["pod", "VNI", "nodes"], [[c.get("pod"), c.get("vni"), _join(c.get("nodes"))] for c in conflicts]))
    overlaps = data.get("pod_cidr_overlaps") or []
    if overlaps:
        out.append("<h2>Pod CIDR overlaps</h2>" + _table(
            ["nodes", "CIDRs"], [[_join(o.get("nodes")), _join(o.get("cidrs"))] for o in overlaps]))
    capture = data.get("capture") or {}
    rows = [[name, capture.get(name)] for name in ("packets", "bytes", "captured_bytes", "malformed", "truncated",
                                                   "too_deep", "offload_frames", "duplicates") if name in capture]
    rows += [[f"damage: {k}", v] for k, v in (capture.get("damage") or {}).items() if v]
    out.append("<h2>Capture</h2>" + _table(["", "count"], rows, {1}))
    warnings = capture.get("warnings") or []
    if warnings:
        out.append("<ul>" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>")
    if capture.get("duplicates"):
        out.append(f"<p class=\"note\">{_n(capture['duplicates'])} frames are the same packet seen again on another "
                   f"interface (-i any capture); flows count each packet once per view.</p>")
    return out


def _footer(data: dict) -> str:
    return (f"<footer><p class=\"note\">Made by pcapdiag {esc(data.get('version', ''))}. This page is "
            f"self-contained: it holds no script and makes no network request; the whole report is in "
            f"<code>--format json</code>.</p></footer>")


def html_report(path: str, **options) -> str:
    """Analyse a capture and render its HTML report (the analysis and the series in two passes, until the
    series collector runs as an analyzer; options as pcapdiag.analyze)."""
    from .. import analyze
    from .series import collect_series

    report = analyze(path, **options)
    series = collect_series(path, vxlan_ports=options.get("vxlan_ports", ()), decoder=options.get("decoder", "fast"))
    return render_html(report, series)


__all__ = ["render_html", "html_report", "evidence_lines", "cluster_edges", "CONTENT_SECURITY_POLICY"]
