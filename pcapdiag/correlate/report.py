"""A Correlation as findings, as a JSON-ready dict and as the text of a "Between captures" section."""
from __future__ import annotations

import datetime

from tabulate import tabulate

from .journey import OUTBOUND
from .paths import CHECKSUM_STATES, lost_flows
from .sightings import STAGE_NAMES

# Finding id -> severity (to be merged into catalogue.CATALOGUE)
CATALOGUE = {
    "path.loss-between-captures": "error",
    "node.dropped-inside": "error",
    "path.rewritten": "warning",
}
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp"}
MAX_FLOWS = 10
EXPECTED_CHANGES = ("outer_ttl", "inner_ttl")       # routers decrement TTLs: told, not warned about


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat(timespec="microseconds")


def times(first: float, last: float) -> dict:
    return {"first": first, "first_iso": iso(first), "last": last, "last_iso": iso(last)}


def flow_object(flow: tuple, names: dict) -> dict:
    src, dst, proto, sport, dport = flow
    return {"src": names.get(src, str(src)), "sport": sport if sport >= 0 else None,
            "dst": names.get(dst, str(dst)), "dport": dport if dport >= 0 else None,
            "proto": PROTOCOLS.get(proto, proto)}


def _flows(items, names) -> list:
    return [{"flow": flow_object(flow, names), "count": count, **times(first, last),
             "sizes": dict(sorted(sizes.items()))} for flow, count, first, last, sizes in items[:MAX_FLOWS]]


def _value(field: str, value: int, names: dict):
    if field in ("outer_src", "outer_dst"):
        return names.get(value, value)
    if field == "outer_udp_checksum":
        return CHECKSUM_STATES.get(value, value)
    return value


def _direction_json(summary: dict, source, target, names: dict) -> dict:
    changes = []
    for field, kinds in summary["changes"].items():
        for (before, after), (count, first, flow) in sorted(kinds.items(), key=lambda item: -item[1][0]):
            changes.append({"field": field, "before": _value(field, before, names), "after": _value(field, after, names),
                            "count": count, "first": first, "first_iso": iso(first), "example_flow": flow_object(flow, names)})
    result = {key: summary[key] for key in ("sent", "received", "lost", "loss_ratio", "duplicated", "reordered",
                                             "delay", "delay_includes_clock_offset", "lost_by_size")}
    result.update({"from": source.name, "to": target.name, "from_node": source.node, "to_node": target.node,
                   "lost_flows": _flows(lost_flows(summary["lost_table"]), names), "changes": changes})
    return result


def vantage_json(point) -> dict:
    return {"capture": point.name, "path": point.path, "node": point.node, "cooked": point.cooked,
            "interfaces": point.interfaces, "pods": point.pods, "link_types": point.link_types,
            "records": point.records, "ip_packets": point.ip_records, "distinct_packets": point.distinct,
            "counted_packets": point.counted, "first": point.first, "first_iso": iso(point.first),
            "last": point.last, "last_iso": iso(point.last), "damage": point.damage}


def path_json(path: dict, names: dict) -> dict:
    overlap = path["overlap"]
    return {"a": path["a"].name, "b": path["b"].name, "a_node": path["a"].node, "b_node": path["b"].node,
            "same_node": path["same_node"], "clock_offset": path["clock_offset"],
            "overlap": None if overlap is None else {**times(*overlap), "seconds": overlap[1] - overlap[0]},
            "directions": [_direction_json(summary, source, target, names)
                           for _, source, target, summary in path["directions"]]}


def journey_json(journey, correlation) -> dict:
    point = correlation.vantage_points[journey.cap]
    stopped = []
    for stop in journey.stops():
        stage = stop["after_stage"]
        stopped.append({"direction": stop["direction"], "last_stage": STAGE_NAMES[stage],
                        "count": sum(item[1] for item in stop["flows"]),
                        "flows": _flows(stop["flows"], correlation.names)})
    return {"capture": point.name, "node": point.node, "interfaces": point.interfaces,
            "vtep_known": point.vtep_ifindex >= 0,
            **{direction: {"packets": journey.packets[direction],
                           "seen_at": dict(zip(STAGE_NAMES, journey.seen[direction].tolist()))}
               for direction in journey.packets},
            "stopped": stopped}


def correlation_json(correlation) -> dict:
    """{"vantage_points": [...], "paths": [...], "journeys": [...], "packets": {...}}: plain JSON types."""
    return _plain({
        "vantage_points": [vantage_json(point) for point in correlation.vantage_points],
        "paths": [path_json(path, correlation.names) for path in correlation.paths],
        "journeys": [journey_json(journey, correlation) for journey in correlation.journeys],
        "packets": {"distinct": correlation.distinct_packets, "window_seconds": correlation.window,
                    "counting": "in the capture at its sending node (else the first given that saw it)",
                    "notes": correlation.notes},
    })


def _plain(value):
    """numpy scalars to Python ones, tuples to lists (json.dumps takes the result as it is)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def _first_per_node_pair(document: dict):
    """Each direction between two nodes once: from the first pair of captures that saw it."""
    seen = set()
    for path in document["paths"]:
        for direction in path["directions"]:
            key = (direction["from_node"], direction["to_node"])
            if key not in seen:
                seen.add(key)
                yield direction, [f"{d['from']} -> {d['to']}" for p in document["paths"] for d in p["directions"]
                                  if (d["from_node"], d["to_node"]) == key]


def correlation_findings(correlation, document: dict | None = None) -> list:
    """Findings (dicts: id, severity, summary, count, evidence, fix) of a Correlation."""
    document = document or correlation_json(correlation)
    findings = []
    for direction, pairs in _first_per_node_pair(document):
        findings += _loss_finding(direction, pairs) + _rewrite_findings(direction, pairs)
    for journey in document["journeys"]:
        for stop in journey["stopped"]:
            findings.append(_inside_finding(journey, stop))
    return findings


def _finding(finding_id, summary, count, evidence, fix):
    return {"id": finding_id, "severity": CATALOGUE[finding_id], "summary": summary, "count": count,
            "evidence": evidence, "fix": fix}


def _loss_finding(direction: dict, pairs: list) -> list:
    if not direction["lost"]:
        return []
    sizes = {row["sizes"]: row for row in direction["lost_by_size"]}
    lost_sizes = [label for label, row in sizes.items() if row["lost"]]
    size_note = ""
    if len(lost_sizes) == 1 and len(sizes) > 1:
        size_note = f"; only {lost_sizes[0]} packets were lost: size-dependent loss (an MTU or a policer)"
    flows = direction["lost_flows"]
    summary = (f"{direction['lost']} of {direction['sent']} packets ({direction['loss_ratio']:.1%}) sent from node "
               f"{direction['from_node']} to node {direction['to_node']} were seen leaving ({direction['from']}) "
               f"and never arrived ({direction['to']}){size_note}")
    evidence = {"from": direction["from"], "to": direction["to"], "from_node": direction["from_node"],
                "to_node": direction["to_node"], "sent": direction["sent"], "lost": direction["lost"],
                "lost_by_size": direction["lost_by_size"], "flows": flows, "also_between": pairs}
    if flows:
        evidence.update({"first": min(f["first"] for f in flows), "first_iso": min(f["first_iso"] for f in flows),
                         "last": max(f["last"] for f in flows), "last_iso": max(f["last_iso"] for f in flows)})
    fix = ("the underlay between these nodes drops tunnel packets: check the NICs' and switches' drop counters, "
           "firewalls/security groups for the tunnel's UDP port, and policers on the path")
    if size_note:
        fix = "lower the pod MTU or raise the underlay MTU on the path (large packets only are lost); " + fix
    return [_finding("path.loss-between-captures", summary, direction["lost"], evidence, fix)]


def _rewrite_findings(direction: dict, pairs: list) -> list:
    findings = []
    for change in direction["changes"]:
        field = change["field"]
        if field in EXPECTED_CHANGES and isinstance(change["before"], int) and change["after"] < change["before"]:
            continue          # a routed hop decrements the TTL: expected, not a rewrite
        summary = (f"{field} was rewritten in transit from node {direction['from_node']} to node "
                   f"{direction['to_node']}: {change['before']} -> {change['after']} on {change['count']} of "
                   f"{direction['received']} packets")
        evidence = {"from": direction["from"], "to": direction["to"], "field": field, "before": change["before"],
                    "after": change["after"], "received": direction["received"], "flows": [change["example_flow"]],
                    "first": change["first"], "first_iso": change["first_iso"], "also_between": pairs}
        fix = {"tcp_mss": "MSS clamping on the path: make sure it matches the pod MTU",
               "outer_udp_checksum": "a NIC or middlebox changes tunnel checksums: check checksum offload settings"
               }.get(field, "a device on the path rewrites this field: check QoS/DSCP remarking and NAT on the "
                            "underlay")
        findings.append(_finding("path.rewritten", summary, change["count"], evidence, fix))
    return findings


def _inside_finding(journey: dict, stop: dict) -> dict:
    flows = stop["flows"]
    pairs = {}
    for item in flows:
        key = (item["flow"]["src"], item["flow"]["dst"])
        pairs[key] = pairs.get(key, 0) + item["count"]
    (src, dst), _ = max(pairs.items(), key=lambda kv: kv[1])
    others = f" (and {stop['count'] - pairs[(src, dst)]} more of other flows)" if len(pairs) > 1 else ""
    if stop["direction"] == OUTBOUND:
        where = f"were seen on the {stop['last_stage']} and never left through the underlay"
    else:
        where = f"arrived (seen on the {stop['last_stage']}) and never reached the pod side"
    summary = (f"{pairs[(src, dst)]} packets from {src} to {dst} {where}: dropped inside node {journey['node']} "
               f"({journey['capture']}){others}")
    evidence = {"capture": journey["capture"], "node": journey["node"], "direction": stop["direction"],
                "last_stage": stop["last_stage"], "flows": flows,
                "first": min(f["first"] for f in flows), "first_iso": min(f["first_iso"] for f in flows),
                "last": max(f["last"] for f in flows), "last_iso": max(f["last_iso"] for f in flows)}
    fix = ("check the node's firewall (iptables/nftables FORWARD rules, NetworkPolicy), its routes and rp_filter "
           "for these flows")
    return _finding("node.dropped-inside", summary, stop["count"], evidence, fix)


def _ms(seconds) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3f}"


def render_text(correlation, document: dict | None = None) -> str:
    """The "Between captures" section of the text report."""
    document = document or correlation_json(correlation)
    lines = ["Between captures", ""]
    rows = []
    for point in document["vantage_points"]:
        interfaces = ", ".join(f"{i['ifindex']} {i['role']}" for i in point["interfaces"]) or "-"
        span = (f"{point['first_iso']} +{point['last'] - point['first']:.3f} s" if point["first"] is not None else "-")
        rows.append([point["capture"], point["node"] or "?", " ".join(point["pods"][:4]) or "-", interfaces, span,
                     point["ip_packets"], point["distinct_packets"], point["counted_packets"]])
    lines.append(tabulate(rows, headers=["capture", "node", "pods", "interfaces (-i any)", "time", "IP packets",
                                         "distinct", "counted here"]))
    lines += ["", f"{document['packets']['distinct']} distinct packets; each counted once, "
              f"{document['packets']['counting']}."]
    rows = []
    for path in document["paths"]:
        offset = path["clock_offset"]
        clock = "-" if offset is None else f"{_ms(offset['seconds'])} ms ± {_ms(offset['uncertainty'])}"
        for d in path["directions"]:
            delay = d["delay"] or {}
            rows.append([f"{d['from']} -> {d['to']}", d["sent"], d["received"], d["lost"], d["duplicated"],
                         d["reordered"], " / ".join(_ms(delay.get(k)) for k in ("p50", "p90", "p99", "max"))
                         + (" (raw)" if d["delay_includes_clock_offset"] else ""), clock])
        if path["same_node"]:
            rows.append([f"{path['a']} = {path['b']} (same node)", "", "", "", "", "", "", clock])
    lines += ["", tabulate(rows, headers=["path", "sent", "received", "lost", "dup", "reord",
                                         "delay ms p50/p90/p99/max", "clock offset b-a"])]
    for finding in correlation_findings(correlation, document):
        lines.append(f"  [{finding['severity']}] {finding['id']}: {finding['summary']}")
    for journey in document["journeys"]:
        out, back = journey["leaving"], journey["arriving"]
        lines.append(f"  inside {journey['node']} ({journey['capture']}): leaving "
                     + ", ".join(f"{k} {v}" for k, v in out["seen_at"].items())
                     + f" of {out['packets']}; arriving " + ", ".join(f"{k} {v}" for k, v in back["seen_at"].items())
                     + f" of {back['packets']}" + ("" if journey["vtep_known"] else " (VTEP not told apart)"))
    return "\n".join(lines) + "\n"


__all__ = ["CATALOGUE", "correlation_findings", "correlation_json", "render_text"]
