"""The Report: everything one analysis found, as Python objects, a JSON-ready dict and DataFrames (pandas is
imported only when a DataFrame is asked for)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from ..analyzers.overhead import OverheadResult
from ..analyzers.stats import StatsResult
from ..analyzers.table import Table
from ..analyzers.topology import TopologyResult
from ..catalogue import CONTRACT, severity_rank
from ..cni import ESP_PROTO, FLOW_PORTS, guess_cni, in_cni_terms

from ..protocols import PROTO_NAMES   # noqa: F401 (findings.evidence reads it from here)


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
    flows: Table               # FlowsResult.table
    mtu: dict                  # the MTU model (underlay, overlays) the findings were judged by
    findings: list = field(default_factory=list)
    delivery: dict = field(default_factory=dict)   # per node pair: loss counts and size windows (delivery.py)
    context: object = None     # report/context.py's Context (several captures, a cluster dump); None: neither
    endpoints: list = field(default_factory=list)   # per pod and node, sizes against the MTU
    vantage: dict | None = None   # the node an `-i any` capture was taken on (findings/endpoints.py)
    sessions: object = None       # encrypted tunnel sessions per peer pair (analyzers/sessions.py's SessionsResult)
    cni: dict | None = None       # the CNI guess (cni.guess_cni); None: worked out from this report

    def __post_init__(self):
        """The CNI guess, made once so the text, JSON and HTML show the same; the MTU fixes name where that CNI
        keeps the MTU (problems get the same in the problems property)."""
        if self.cni is None:
            self.cni = guess_cni({"encapsulation": self.overhead.classes, "nodes": self.topology.nodes,
                                  "flows": self._cni_flows()})
        self.findings = in_cni_terms(self.findings, self.cni)

    def _cni_flows(self) -> list:
        """The flows guess_cni reads (ESP, its UDP ports), as the JSON has them: a few of possibly 200,000."""
        flows = self.flows
        if not len(flows):
            return []
        ports = list(FLOW_PORTS)
        wanted = ((np.asarray(flows["inner_proto"]) == ESP_PROTO) | np.isin(flows["sport"], ports)
                  | np.isin(flows["dport"], ports))
        columns = _contract_columns(flows[wanted])
        return [dict(zip(_FLOW_COLUMNS, row)) for row in zip(*columns.values())]

    # -- views ----------------------------------------------------------------
    @property
    def flows_table(self):
        """Flows with the JSON contract's column names, largest first, as a pandas DataFrame: counts as int64,
        values a flow may lack (VNI, ports, MSS) as nullable Int64, first/last as datetime64[ns, UTC]."""
        import pandas as pd

        columns = _contract_columns(self.flows)
        for name in ("first", "last"):   # seconds since the epoch; a damaged record's impossible time is NaT
            columns[name] = pd.to_datetime(self.flows[name].astype("float64"), unit="s", utc=True,
                                           errors="coerce").round("us").array   # a float holds no more
        return pd.DataFrame(columns, columns=list(_FLOW_COLUMNS)).astype(_FLOW_DTYPES)

    def flow_records(self, chunk: int = 10_000):
        """The flows as JSON-ready dicts, a chunk at a time (200,000 flows need not be in memory twice)."""
        for start in range(0, len(self.flows), chunk):
            columns = _contract_columns(self.flows[start:start + chunk])
            for row in zip(*columns.values()):
                record = dict(zip(_FLOW_COLUMNS, row))
                yield record if self.context is None else self.context.name_flow(record)



    @property
    def nodes_table(self):
        import pandas as pd

        rows = [{**node, **{k: " ".join(str(v) for v in node[k]) for k in
                            ("macs", "pods", "pod_cidrs", "bgp_advertised", "vnis", "peers")}}
                for node in self.topology.nodes]
        return pd.DataFrame(rows, columns=["ip", "macs", "pods", "pod_cidrs", "pod_cidr_source", "bgp_advertised",
                                           "vnis", "peers"])

    @property
    def encapsulation_table(self):
        import pandas as pd

        rows = [{**entry, "vnis": " ".join(str(v) for v in entry["vnis"])} for entry in self.overhead.classes]
        return pd.DataFrame(rows, columns=list(_ENCAPSULATION_DTYPES)).astype(_ENCAPSULATION_DTYPES)

    @property
    def endpoints_table(self):
        """mtu_by_endpoint as a table (a pandas DataFrame): one row per pod and node, MSS values joined by
        spaces."""
        import pandas as pd

        rows = [{**entry, "mss_advertised": " ".join(map(str, entry["mss_advertised"]))} for entry in self.endpoints]
        return pd.DataFrame(rows, columns=list(_ENDPOINT_DTYPES)).astype(_ENDPOINT_DTYPES)

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
                "vantage": self.vantage,
            },
            "cni": self.cni,
            "encapsulation": self.overhead.classes,
            "encapsulation_chains": self.overhead.chains,
            "node_pairs": self.overhead.node_pairs,
            "nodes": self.topology.nodes,
            "pod_ip_conflicts": self.topology.conflicts,
            "pod_cidr_overlaps": self.topology.cidr_overlaps,
            "flows": list(self.flow_records()) if flows else [],
            "mtu": {**self.mtu, "findings": [f for f in self.findings if f["id"].startswith("mtu.")]},
            "mtu_by_endpoint": self.endpoints,
            "problems": self.problems,
            "findings": self.findings,
            "delivery": self.delivery,
            "sessions": sessions_section(self.sessions),
            "verdict": self.verdict(),
        }
        return data if self.context is None else self.context.extend(data)

    def verdict(self) -> str:
        """One line: the worst problem and its complete fix (and how many more there are), or why there is
        nothing to judge, or OK with the classes seen."""
        if not self.ip_packets:
            held = (f"{_plural(self.stats.packets, 'packet')} and none is IP" if self.stats.packets
                    else "no packets")
            return f"NO IP TRAFFIC: the capture holds {held}, so nothing can be judged - check the capture " \
                   f"interface and filter"
        if self.problems:
            first = self.problems[0]
            label = {"error": "PROBLEM", "warning": "WARNING"}.get(first["severity"], "NOTE")
            more = len(self.problems) - 1
            return (f"{label}: {first['title']}" + (f" - fix: {first['fix']}" if first["fix"] else "")
                    + (f" (and {_plural(more, 'more problem')})" if more else ""))
        return f"OK: no errors or warnings ({self.classes_text()})"

    def mtu_warnings(self) -> list[str]:
        """What contradicts the MTU the user gave (the command line prints these on stderr)."""
        seen = self.mtu.get("largest_outer_ip_seen")
        if not seen:
            return []
        return [f"--underlay-mtu {self.mtu['underlay_mtu']} is smaller than the {seen}-byte outer IP packets in the "
                f"capture: the findings are judged against the MTU given, which the capture contradicts"]

    @property
    def problems(self) -> list:
        """The findings grouped by cause (findings/problems.py), worked out from the findings as they are now:
        findings a context adds (report/context.py) are grouped too."""
        from ..findings.problems import group_problems

        return in_cni_terms(group_problems(self.findings, self.mtu), self.cni)

    @property
    def ip_packets(self) -> int:
        return sum(c["packets"] for c in self.overhead.classes if c["type"] != "non-ip")

    def classes_text(self) -> str:
        """The classes seen ("vxlan/8472, native"); in an `-i any` capture the native class is mostly the pods'
        side of tunnelled flows, and is named so rather than suggest native routing."""
        native = "pod-side copies" if self.vantage else "native"
        return ", ".join(native if c["type"] == "native" else c["type"] + (f"/{c['udp_port']}" if c["udp_port"]
                                                                           else "")
                         for c in sorted(self.overhead.classes, key=lambda c: c["type"] == "native")
                         if c["type"] != "non-ip") or "no IP traffic"


def sessions_section(sessions) -> dict:
    """The JSON `sessions` section: the tunnel pairs (times with ISO-8601 beside them) and what the caps left out."""
    def timed(item):
        if isinstance(item, dict):
            return {**{k: timed(v) for k, v in item.items()},
                    **{f"{k}_iso": _iso(item[k]) for k in ("first", "last", "ts") if k in item}}
        return [timed(v) for v in item] if isinstance(item, list) else item

    if sessions is None:       # a Report made without the sessions analyzer: the section of no traffic
        from ..analyzers.sessions import SessionsAnalyzer

        sessions = SessionsAnalyzer().result()
    return {"pairs": timed(sessions.pairs), "dropped": dict(sessions.dropped)}


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}es" if noun.endswith("ss") else f"{count} {noun}s"


def _contract_columns(frame: Table) -> dict:
    """Flow rows with the JSON contract's names and nulls: columns (in _FLOW_COLUMNS order) of plain Python
    values, ready for json.dumps."""
    def present(name):          # an int column with -1 for absent: None (JSON null) there
        return [value if value is not None and value >= 0 else None for value in frame[name].tolist()]

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
        "max_ip_len": present("max_ip_len"),     # null for ARP (no IP header)
        "first": [_iso(ts) for ts in plain("first")], "last": [_iso(ts) for ts in plain("last")],
        "syn": plain("syn"), "synack": plain("synack"), "fin": plain("fin"), "rst": plain("rst"),
        "retransmits": plain("retransmits"), "reordered": plain("reordered"),
        "syn_mss": present("syn_mss"), "synack_mss": present("synack_mss"),
    }


_FLOW_DTYPES = {"encap": object, "outer_src": object, "outer_dst": object, "vni": "Int64", "src": object,
                "dst": object, "proto": object, "sport": "Int64", "dport": "Int64", "packets": "int64",
                "bytes": "int64", "inner_bytes": "int64", "max_ip_len": "Int64", "first": "datetime64[ns, UTC]",
                "last": "datetime64[ns, UTC]", "syn": "int64", "synack": "int64", "fin": "int64", "rst": "int64",
                "retransmits": "int64", "syn_mss": "Int64", "synack_mss": "Int64"}
_ENCAPSULATION_DTYPES = {"type": object, "udp_port": "Int64", "packets": "int64", "wire_bytes": "int64",
                         "inner_bytes": "int64", "overhead_bytes": "int64", "overhead_pct": "float64",
                         "overhead_per_packet": "float64", "nominal_overhead": "Int64", "vnis": object,
                         "by_plausibility": "int64", "offload_frames": "int64"}
_ENDPOINT_DTYPES = {"address": object, "role": object, "node": object, "largest_packet": "Int64",
                    "mss_advertised": object, "fragments_sent": "int64", "icmp_too_big_received": "int64",
                    "full_size_retransmits": "int64", "over_budget": "boolean"}

_FLOW_COLUMNS = ("encap", "outer_src", "outer_dst", "vni", "src", "dst", "proto", "sport", "dport", "packets",
                 "bytes", "inner_bytes", "max_ip_len", "first", "last", "syn", "synack", "fin", "rst", "retransmits",
                 "reordered", "syn_mss", "synack_mss")


def _linktype_name(linktype: int) -> str:
    from ..capture.linktypes import LINKTYPE_NAMES, OTHER_LINKTYPE_NAMES
    return LINKTYPE_NAMES.get(linktype) or OTHER_LINKTYPE_NAMES.get(linktype) or f"linktype-{linktype}"


__all__ = ["Report"]
