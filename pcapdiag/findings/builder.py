"""FindingBuilder: runs every catalogue check over one capture's analyzer results, in registry order.

Every finding carries id, severity, a one-sentence summary, a count (and what it counts) and evidence.
Nothing is raised without evidence, and MTU findings in a capture whose sizes are not wire sizes (offload
super-frames) are downgraded to info and marked unreliable rather than raised as errors.
"""
from __future__ import annotations

import importlib
import ipaddress
from functools import cached_property


from ..analyzers.table import Table
from ..catalogue import severity_rank
from . import EXTERNAL_CHECKS, SPEC_BY_ID, SPECS
from . import capture as capture_checks, mtu as mtu_checks, path as path_checks, topology as topology_checks
from . import tunnel as tunnel_checks
from .budgets import super_segment_flows
from .endpoints import ip_sort_key
from .evidence import EXAMPLES

_FAMILY_MODULES = {"mtu": mtu_checks, "capture": capture_checks, "tunnel": tunnel_checks, "path": path_checks,
                   "topology": topology_checks}


def check_of(spec):
    """The function that raises the spec's finding: of the builder's checks, it takes the builder and calls
    its add(); an external check (EXTERNAL_CHECKS) is its package's entry point, imported only when asked for."""
    if spec.check in EXTERNAL_CHECKS:
        return getattr(importlib.import_module(EXTERNAL_CHECKS[spec.check]), spec.check)
    return getattr(_FAMILY_MODULES[spec.family], spec.check)


class FindingBuilder:
    def __init__(self, model, overhead, topology, flows: Table, mtu, stats, capture_info: dict,
                 limits: dict | None = None, delivery: dict | None = None, sessions=None):
        self.model, self.overhead, self.topology = model, overhead, topology
        self.limits = limits or {}
        self.flows, self.mtu, self.stats = flows, mtu, stats
        self.delivery = delivery or {"pairs": [], "size_windows": []}
        self.sessions = sessions       # analyzers/sessions.py's SessionsResult (None: not analysed)
        self.capture_damage = capture_info.get("damage", {})
        self.capture_warnings = capture_info.get("warnings", [])
        self.findings: list[dict] = []
        self.overlay_by_class = {}
        for overlay in model["overlays"]:
            self.overlay_by_class.setdefault(overlay["type"], overlay)
        self.node_of_pod = {pod: node["ip"] for node in topology.nodes for pod in node["pods"]}
        self.cidrs_of_node = {node["ip"]: node["pod_cidrs"] for node in topology.nodes}
        self.underlay = model["underlay_mtu"]

    def add(self, finding_id: str, summary: str, count: int, evidence: dict, fix: str | None = None,
            mtu_finding: bool = False, severity: str | None = None) -> None:
        """severity defaults to the catalogue's; a check lowers it only when the evidence is ambiguous."""
        spec = SPEC_BY_ID[finding_id]
        severity = severity or spec.severity
        reliable = True
        if mtu_finding and not self.model["sizes_reliable"]:
            severity, reliable = "info", False
            summary += " (sizes unreliable in this capture: offload super-frames present)"
        self.findings.append({"id": finding_id, "severity": severity, "summary": summary, "count": int(count),
                              "counts_what": spec.counts_what, "evidence": evidence, "fix": fix,
                              "reliable": reliable})

    @staticmethod
    def fix(finding_id: str, **values) -> str | None:
        """The catalogue's fix for the finding, filled in with the check's numbers."""
        return SPEC_BY_ID[finding_id].fix_text(**values)

    def build(self) -> list[dict]:
        for spec in SPECS:
            if spec.check not in EXTERNAL_CHECKS:     # raised by their own packages (report/context.py)
                check_of(spec)(self)
        mtu_checks.corroborate(self)
        self.findings.sort(key=lambda f: (-severity_rank(f["severity"]), f["id"]))
        return self.findings

    # -- what several checks ask ---------------------------------------------
    def overlay_for(self, cls: str, pod: str):
        """The overlay a packet of this class (or a native packet from a known pod) must fit."""
        if cls in self.overlay_by_class:
            return self.overlay_by_class[cls]
        if cls == "native" and pod in self.node_of_pod and self.overlay_by_class:
            return next(iter(self.overlay_by_class.values()))
        return None

    def pods_text(self, pods) -> str:
        pods = sorted(set(pods), key=ip_sort_key)   # 10.244.1.2 before 10.244.1.10
        cidrs = sorted({c for p in pods for c in self.cidrs_of_node.get(self.node_of_pod.get(p), [])
                        if _contains(c, p)})
        shown = ", ".join(pods[:EXAMPLES]) + (f" and {len(pods) - EXAMPLES} more" if len(pods) > EXAMPLES else "")
        return f"pods on {', '.join(cidrs)} ({shown})" if cidrs else f"pods {shown}"

    @cached_property
    def mss_hits(self) -> list:
        """Handshakes whose MSS the path cannot carry (two checks ask; worked out once)."""
        return mtu_checks.mss_hits(self)

    @cached_property
    def super_flows(self) -> list[dict]:
        return super_segment_flows(self.flows)


def _contains(cidr: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
