"""The Report: everything one analysis found, as Python objects, a JSON-ready dict and DataFrames."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from ..analyzers.overhead import OverheadResult
from ..analyzers.stats import StatsResult
from ..analyzers.topology import TopologyResult
from ..catalogue import CONTRACT, severity_rank

PROTO_NAMES = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp", 51: "ah", 58: "icmpv6",
               89: "ospf", 112: "vrrp", 132: "sctp"}


def _iso(ts):
    """ISO-8601 UTC, or None for a timestamp no calendar date holds (a damaged record can carry any)."""
    if ts is None:
        return None
    try:
        return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return None


@dataclass
class Report:
    version: str
    file: str
    info: dict                 # capture facts (format, link types, damage, warnings, ...)
    stats: StatsResult
    overhead: OverheadResult
    topology: TopologyResult
    flows: pd.DataFrame        # FlowsResult.table
    mtu: dict                  # the MTU model (underlay, overlays) the findings were judged by
    findings: list = field(default_factory=list)
    delivery: dict = field(default_factory=dict)   # per node pair: loss counts and size windows (delivery.py)
    context: object = None     # report/context.py's Context (several captures, a cluster dump); None: neither

    # -- views ----------------------------------------------------------------
    @property
    def flows_table(self) -> pd.DataFrame:
        """Flows with the JSON contract's column names, largest first."""
        if self.flows.empty:
            return pd.DataFrame(columns=list(_FLOW_COLUMNS))
        return pd.DataFrame(_contract_columns(self.flows), columns=list(_FLOW_COLUMNS), dtype=object)

    def flow_records(self, chunk: int = 10_000):
        """The flows as JSON-ready dicts, a chunk at a time (200,000 flows need not be in memory twice)."""
        for start in range(0, len(self.flows), chunk):
            columns = _contract_columns(self.flows.iloc[start:start + chunk])
            for row in zip(*columns.values()):
                record = dict(zip(_FLOW_COLUMNS, row))
                yield record if self.context is None else self.context.name_flow(record)



    @property
    def nodes_table(self) -> pd.DataFrame:
        rows = [{**node, **{k: " ".join(str(v) for v in node[k]) for k in
                            ("macs", "pods", "pod_cidrs", "bgp_advertised", "vnis", "peers")}}
                for node in self.topology.nodes]
        return pd.DataFrame(rows, columns=["ip", "macs", "pods", "pod_cidrs", "pod_cidr_source", "bgp_advertised",
                                           "vnis", "peers"])

    @property
    def encapsulation_table(self) -> pd.DataFrame:
        rows = [{**entry, "vnis": " ".join(str(v) for v in entry["vnis"])} for entry in self.overhead.classes]
        return pd.DataFrame(rows, columns=["type", "udp_port", "packets", "wire_bytes", "inner_bytes",
                                           "overhead_bytes", "overhead_pct", "overhead_per_packet",
                                           "nominal_overhead", "vnis", "by_plausibility", "offload_frames"])

    @property
    def worst_severity(self) -> str | None:
        if not self.findings:
            return None
        return max((f["severity"] for f in self.findings), key=severity_rank)

    def findings_at_or_above(self, severity: str) -> list:
        return [f for f in self.findings if severity_rank(f["severity"]) >= severity_rank(severity)]

    # -- the JSON contract -----------------------------------------------------
    def to_dict(self, flows: bool = True) -> dict:
        """The JSON contract; flows=False leaves the flow list out (for streaming it, see machine.py)."""
        stats = self.stats
        counts = stats.counts
        data = {
            "version": self.version, "contract": CONTRACT,
            "capture": {
                "file": self.file, "format": self.info["format"],
                "link_types": [_linktype_name(lt) for lt in self.info["link_types"]],
                "packets": stats.packets, "bytes": stats.bytes, "captured_bytes": stats.captured_bytes,
                "start": _iso(stats.start), "end": _iso(stats.end),
                "duration_s": round(stats.end - stats.start, 6) if stats.start is not None else None,
                "malformed": counts["malformed"], "truncated": counts["truncated"],
                "too_deep": counts["too_deep"], "offload_frames": counts["offload"],
                "duplicates": counts["duplicates"],
                "nanosecond": self.info.get("nanosecond", False), "compressed": self.info.get("compressed", False),
                "damage": self.info.get("damage", {}), "warnings": self.info.get("warnings", []),
            },
            "encapsulation": self.overhead.classes,
            "encapsulation_chains": self.overhead.chains,
            "node_pairs": self.overhead.node_pairs,
            "nodes": self.topology.nodes,
            "pod_ip_conflicts": self.topology.conflicts,
            "pod_cidr_overlaps": self.topology.cidr_overlaps,
            "flows": list(self.flow_records()) if flows else [],
            "mtu": {**self.mtu, "findings": [f for f in self.findings if f["id"].startswith("mtu.")]},
            "findings": self.findings,
            "delivery": self.delivery,
            "verdict": self.verdict(),
        }
        return data if self.context is None else self.context.extend(data)

    def verdict(self) -> str:
        worst = self.worst_severity
        errors = len(self.findings_at_or_above("error"))
        warnings = len([f for f in self.findings if f["severity"] == "warning"])
        what = ", ".join(f"{c['type']}" + (f"/{c['udp_port']}" if c["udp_port"] else "")
                         for c in self.overhead.classes if c["type"] != "non-ip") or "no IP traffic"
        if worst == "error":
            first = self.findings_at_or_above("error")[0]
            fix = f" - fix: {first['fix']}" if first.get("fix") else ""
            return f"PROBLEM: {errors} error(s), {warnings} warning(s); first: {first['id']}{fix}"
        if worst == "warning":
            return f"WARNING: {warnings} warning(s), no errors ({what})"
        return f"OK: no errors or warnings ({what})"




def _contract_columns(frame: pd.DataFrame) -> dict:
    """Flow rows with the JSON contract's names and nulls: columns (in _FLOW_COLUMNS order) of plain Python
    values, ready for json.dumps."""
    def present(name):          # an int column with -1 for absent: None (JSON null) there
        return [value if value >= 0 else None for value in frame[name].tolist()]

    def plain(name):
        return frame[name].tolist()

    encap = plain("encap")
    outer = {side: [None if chain == "native" else address for chain, address in zip(encap, plain(side))]
             for side in ("outer_src", "outer_dst")}
    return {
        "encap": encap, "outer_src": outer["outer_src"], "outer_dst": outer["outer_dst"], "vni": present("vni"),
        "src": plain("inner_src"), "dst": plain("inner_dst"),
        "proto": [PROTO_NAMES.get(proto, str(proto)) for proto in plain("inner_proto")],
        "sport": present("sport"), "dport": present("dport"),
        "packets": plain("packets"), "bytes": plain("bytes"), "inner_bytes": plain("inner_bytes"),
        "max_ip_len": plain("max_ip_len"),
        "first": [_iso(ts) for ts in plain("first")], "last": [_iso(ts) for ts in plain("last")],
        "syn": plain("syn"), "synack": plain("synack"), "fin": plain("fin"), "rst": plain("rst"),
        "retransmits": plain("retransmits"),
        "syn_mss": present("syn_mss"), "synack_mss": present("synack_mss"),
    }


_FLOW_COLUMNS = ("encap", "outer_src", "outer_dst", "vni", "src", "dst", "proto", "sport", "dport", "packets",
                 "bytes", "inner_bytes", "max_ip_len", "first", "last", "syn", "synack", "fin", "rst", "retransmits",
                 "syn_mss", "synack_mss")


def _linktype_name(linktype: int) -> str:
    from ..capture.linktypes import LINKTYPE_NAMES, OTHER_LINKTYPE_NAMES
    return LINKTYPE_NAMES.get(linktype) or OTHER_LINKTYPE_NAMES.get(linktype) or f"linktype-{linktype}"


__all__ = ["Report"]
