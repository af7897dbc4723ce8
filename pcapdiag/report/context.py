"""What a report shows beyond one capture's analysis, when asked for: the correlation of several captures
(pcapdiag.correlate) and a cluster dump's names and cross-checks (pcapdiag.cluster).

    report = add_context(report, correlation, cluster)   # runner.analyze does this

Their findings join the report's (so the verdict, --fail-on and check's fail_on see them), in the shape the
builder gives its own (counts_what from the registry, evidence text lines). A report without either has
no context (Report.context is None) and is exactly what it was without them. With a cluster, the JSON gets
names as added fields (cluster.annotate: nodes[].name, pods_named, flows[].src_name ..., evidence names, a
"cluster" summary), the text report names beside the addresses and a "Cluster" section; with several
captures, the JSON gets "correlation" (correlate.correlation_json) and the text a "Between captures" section.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..catalogue import severity_rank
from ..findings import SPEC_BY_ID
from ..findings.evidence import instant, iso, with_text

FLOW_NAMES = (("src", "src_name"), ("dst", "dst_name"), ("outer_src", "outer_src_name"),
              ("outer_dst", "outer_dst_name"))   # as cluster.annotate names a flow's addresses


@dataclass
class Context:
    correlation: object = None        # correlate.Correlation of the captures
    correlation_document: dict | None = None   # its correlation_json
    cluster: object = None            # cluster.Cluster

    def extend(self, data: dict) -> dict:
        """The report's JSON with the names and the correlation added (existing keys untouched)."""
        if self.cluster is not None:
            from ..cluster import annotate

            named = annotate({**data, "flows": []}, self.cluster)
            named["flows"] = data["flows"]          # already named, one by one (name_flow)
            data = named
        if self.correlation_document is not None:
            data["correlation"] = self.correlation_document
        return data

    def name_flow(self, record: dict) -> dict:
        """A flow of the JSON with its addresses' names added (None where unknown)."""
        if self.cluster is not None:
            for address_field, name_field in FLOW_NAMES:
                address = record.get(address_field)
                record[name_field] = self.cluster.name(address) if address else None
        return record

    def name_columns(self, frame, table: str):
        """A CSV table (flows or nodes) with name columns beside the address columns."""
        if self.cluster is None or table not in ("flows", "nodes"):
            return frame
        frame = frame.copy()
        pairs = FLOW_NAMES if table == "flows" else (("ip", "name"),)
        for address_field, name_field in pairs:
            frame.insert(frame.columns.get_loc(address_field) + 1, name_field,
                         [self.cluster.name(a) if a else None for a in frame[address_field]])
        return frame


def as_cluster(cluster):
    """A Cluster from a Cluster, a kubectl dump's path or several paths (None stays None). Raises
    ClusterError (one line) for a dump it cannot use."""
    if cluster is None:
        return None
    from ..cluster import Cluster, load_cluster

    if isinstance(cluster, Cluster):
        return cluster
    return load_cluster(*([cluster] if isinstance(cluster, (str, os.PathLike)) else cluster))


def add_context(report, correlation=None, cluster=None):
    """The report with the correlation of its captures and the cluster's names and cross-checks added."""
    if correlation is None and cluster is None:
        return report
    context = Context()
    if correlation is not None:
        from ..correlate import correlation_findings, correlation_json

        context.correlation, context.correlation_document = correlation, correlation_json(correlation)
        add_findings(report, correlation_findings(correlation, context.correlation_document))
    report.context = context
    if cluster is not None:
        from ..cluster import cross_check

        cluster = as_cluster(cluster)
        add_findings(report, cross_check(report.to_dict(), cluster))
        context.cluster = cluster
    return report


def add_findings(report, found: list) -> None:
    """Findings of an external family into the report's, all in the builder's order (worst first, then id)."""
    report.findings = sorted(report.findings + [adopted(finding) for finding in found],
                             key=lambda f: (-severity_rank(f["severity"]), f["id"]))


def adopted(finding: dict) -> dict:
    """A cluster or correlation finding in the shape of the builder's: counts_what from the registry, times
    in the report's ISO form, and text lines for the text report (its examples, else its flows)."""
    evidence = dict(finding.get("evidence") or {})
    if "first" in evidence and "last" not in evidence:       # one packet's time (the first rewritten): an instant
        evidence.pop("first_iso", None)
        evidence.update(instant(evidence.pop("first")))
    for key in ("first", "last"):
        if isinstance(evidence.get(key), (int, float)):
            evidence[f"{key}_iso"] = iso(evidence[key])
    if isinstance(evidence.get("flows"), list):
        evidence["flows"] = [_flow_object(item) for item in evidence["flows"]]
    if "text" not in evidence:
        flows = [_flow_text(item) for item in evidence.get("flows", [])]
        evidence = with_text(evidence, ("example", evidence.get("examples", [])), ("flow", flows))
    return {"id": finding["id"], "severity": finding["severity"], "summary": finding["summary"],
            "count": int(finding["count"]), "counts_what": SPEC_BY_ID[finding["id"]].counts_what,
            "evidence": evidence, "fix": finding.get("fix"), "reliable": finding.get("reliable", True)}


def _flow_object(item: dict) -> dict:
    """A correlation evidence flow ({"flow": {...}, "count": ...}, or the flow itself) as the contract's flow
    object: the report's flow keys (null where unknown), then the numbers about it (times in the report's ISO)."""
    flow, numbers = (item["flow"], {k: v for k, v in item.items() if k != "flow"}) if "flow" in item else (item, {})
    times = {f"{key}_iso": iso(numbers[key]) for key in ("first", "last") if isinstance(numbers.get(key), (int, float))}
    return {**dict.fromkeys(_FLOW_KEYS), **flow, **numbers, **times}


_FLOW_KEYS = ("proto", "src", "sport", "dst", "dport", "encap", "outer_src", "outer_dst", "vni")


def _flow_text(flow: dict) -> str:
    ends = [f"{flow.get(host)}" + (f":{flow[port]}" if flow.get(port) is not None else "")
            for host, port in (("src", "sport"), ("dst", "dport"))]
    count = f", {flow['count']} packets" if "count" in flow else ""
    return f"{flow.get('proto')} {ends[0]} > {ends[1]}{count}"


# -- the text report's parts (report/text.py calls each from one line) --------------------------

def named(report, address, port=None) -> str:
    """An address (and port) for the text report, with its cluster name beside it when one is known."""
    text = f"{address}{f':{port}' if port is not None else ''}"
    cluster = report.context.cluster if report.context is not None else None
    name = cluster.name(address) if cluster is not None and address else None
    return f"{text} ({name})" if name else text


def cluster_lines(report) -> list[str]:
    """The "Cluster" section (after the nodes), when a cluster dump was given."""
    if report.context is None or report.context.cluster is None:
        return []
    from ..cluster import text_lines

    return ["", *text_lines(report.to_dict(flows=False), report.context.cluster)]


def correlation_lines(report) -> list[str]:
    """The "Between captures" section, when several captures were given."""
    if report.context is None or report.context.correlation is None:
        return []
    from ..correlate import render_text

    context = report.context
    return ["", *render_text(context.correlation, context.correlation_document).rstrip("\n").splitlines()]


__all__ = ["Context", "add_context", "add_findings", "adopted", "as_cluster", "cluster_lines", "correlation_lines",
           "named"]
