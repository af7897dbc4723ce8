"""Problems: findings grouped by cause. One problem is one cause and one fix; the findings it explains are
attached as its evidence (their ids), so the verdict can name a diagnosis instead of listing symptoms.

A pod MTU above the overlay's shows up as five findings at once (inner packets too big, fragmented before
encapsulation, an MSS the path cannot carry, ICMP too-big, retransmitted full-size segments): one problem.
A tunnel device at the underlay's MTU shows the same symptoms plus outer fragments, and needs a larger fix
(the device and the pods). Rules are tried in order; the first whose root finding is present claims it
and every finding it explains. Any other finding of warning or worse is a problem of its own; info
findings no rule claims are notes, not problems.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..catalogue import severity_rank
from . import SPEC_BY_ID

# what a too-large pod or tunnel device MTU shows; mtu.path-blackhole (big packets vanish silently) too: with
# no pod or device MTU at fault it is a problem of its own (a path whose MTU is smaller than the underlay's)
_MTU_SYMPTOMS = ("mtu.inner-too-big", "mtu.inner-fragmented", "mtu.outer-fragmented", "mtu.icmp-too-big",
                 "mtu.pmtud-blackhole", "mtu.mss-too-big", "mtu.path-blackhole")


@dataclass(frozen=True)
class ProblemRule:
    id: str
    title: str
    roots: tuple            # finding ids, any of which (reliable, warning or worse) raises the problem
    explains: Callable      # finding -> whether the problem claims it as evidence
    cause: Callable         # (findings by id, MTU model) -> the cause in one sentence
    fix: Callable           # (findings by id, MTU model) -> the complete fix
    severity: str | None = None   # None: the worst of its findings


def _overlay(model: dict) -> dict | None:
    return model["overlays"][0] if model.get("overlays") else None


def _budget_text(model: dict) -> str:
    overlay = _overlay(model)
    if not overlay:
        return "the overlay's budget"
    return (f"the {overlay['overlay_mtu']} bytes a {overlay['type'].upper()} packet can carry "
            f"({model['underlay_mtu']} underlay - {overlay['overhead']} overhead)")


def _largest_sent(found: dict) -> int | None:
    sizes = [f["evidence"].get("largest_inner") for f in found.values() if f["evidence"].get("largest_inner")]
    return max(sizes) if sizes else None


def _mss(found: dict) -> str:
    mss = found.get("mtu.mss-too-big")
    if not mss:
        return ""
    advertised = sorted({flow["mss"] for flow in mss["evidence"].get("flows", []) if flow["mss"] > mss["evidence"]
                         ["budget"]})
    return f", and their SYNs advertise MSS {'/'.join(map(str, advertised))} (budget {mss['evidence']['budget']})"


def _tunnel_device_cause(found: dict, model: dict) -> str:
    outer = found["mtu.outer-fragmented"]
    overlay = _overlay(model)
    largest = outer["evidence"].get("largest_inner")
    if overlay and largest and largest > overlay["overlay_mtu"]:
        return (f"the tunnel device passes {largest}-byte pod packets, so its MTU is at least the underlay's "
                f"({model['underlay_mtu']}) instead of {overlay['overlay_mtu']}: with {overlay['overhead']} bytes of "
                f"{overlay['type'].upper()} they exceed the underlay and the nodes fragment the tunnel packets; "
                f"the pods, at the same MTU, send them")
    return ("the nodes fragment tunnel packets on the underlay: the tunnel device's MTU leaves no room for the "
            "tunnel overhead")


def _tunnel_device_fix(found: dict, model: dict) -> str:
    overlay = _overlay(model)
    if not overlay:
        return found["mtu.outer-fragmented"].get("fix") or "lower the tunnel device and pod MTU"
    return f"set the tunnel device and pod MTU to {overlay['overlay_mtu']}"


def _pod_mtu_cause(found: dict, model: dict) -> str:
    largest = _largest_sent(found)
    fragmented = found.get("mtu.inner-fragmented", {}).get("severity") == "error"
    if largest:
        sent = f"pods send {largest}-byte packets, more than {_budget_text(model)}"
    else:
        sent = f"pods send packets larger than {_budget_text(model)}"
    if fragmented:
        sent += ", which the nodes fragment before encapsulation"
    if "mtu.pmtud-blackhole" in found:
        sent += "; path MTU discovery does not bring them down"
    return f"{sent}{_mss(found)}: their MTU is set above the overlay's"


def _pod_mtu_fix(found: dict, model: dict) -> str:
    overlay = _overlay(model)
    return f"set the pod MTU to {overlay['overlay_mtu']}" if overlay else "set the pod MTU to the overlay's"


def _offload_cause(found: dict, model: dict) -> str:
    largest = found["capture.offload"]["evidence"].get("largest_outer_ip")
    return ("the capture was taken with segmentation/receive offloads on: the kernel handed the capture merged "
            "super-frames" + (f" of up to {largest} bytes" if largest else "")
            + ", so sizes are not wire sizes and the MTU cannot be judged from them")


def _reliable(finding: dict) -> bool:
    return finding.get("reliable", True)


RULES = (
    ProblemRule("capture.sizes-not-wire-sizes", "sizes in this capture are not wire sizes (offload)",
                ("capture.offload",), lambda f: f["id"] == "capture.offload" or not _reliable(f),
                _offload_cause, lambda found, model: found["capture.offload"]["fix"], severity="info"),
    ProblemRule("mtu.tunnel-device-mtu", "the tunnel device's MTU is not below the underlay's",
                ("mtu.outer-fragmented",), lambda f: f["id"] in _MTU_SYMPTOMS,
                _tunnel_device_cause, _tunnel_device_fix),
    ProblemRule("mtu.pod-mtu-too-big", "the pod MTU is larger than the overlay's",
                ("mtu.inner-too-big", "mtu.inner-fragmented", "mtu.pmtud-blackhole"),
                lambda f: f["id"] in _MTU_SYMPTOMS, _pod_mtu_cause, _pod_mtu_fix),
)


def _raises(rule: ProblemRule, finding: dict) -> bool:
    if finding["id"] not in rule.roots:
        return False
    return rule.severity == "info" or (_reliable(finding) and severity_rank(finding["severity"]) >= 1)


def group_problems(findings: list[dict], model: dict) -> list[dict]:
    """The problems the findings show, worst first: id, title, cause, fix, severity and the ids of the findings
    that are its evidence (each finding in at most one problem)."""
    unclaimed = list(findings)
    problems = []
    for rule in RULES:
        if not any(_raises(rule, f) for f in unclaimed):
            continue
        claimed = [f for f in unclaimed if rule.explains(f)]
        unclaimed = [f for f in unclaimed if not rule.explains(f)]
        found = {f["id"]: f for f in claimed}
        severity = rule.severity or max((f["severity"] for f in claimed), key=severity_rank)
        problems.append(_problem(rule.id, rule.title, rule.cause(found, model), rule.fix(found, model), severity,
                                 claimed))
    for finding in unclaimed:
        if severity_rank(finding["severity"]) >= 1:
            problems.append(_problem(finding["id"], SPEC_BY_ID[finding["id"]].title, finding["summary"],
                                     finding.get("fix") or "", finding["severity"], [finding]))
    problems.sort(key=lambda p: -severity_rank(p["severity"]))
    return problems


def _problem(problem_id, title, cause, fix, severity, findings) -> dict:
    return {"id": problem_id, "title": title, "cause": cause, "fix": fix, "severity": severity,
            "findings": [f["id"] for f in findings]}


def notes(findings: list[dict], problems: list[dict]) -> list[dict]:
    """The findings no problem claims (info: worth knowing, nothing to fix)."""
    claimed = {finding_id for problem in problems for finding_id in problem["findings"]}
    return [f for f in findings if f["id"] not in claimed]


__all__ = ["RULES", "ProblemRule", "group_problems", "notes"]
