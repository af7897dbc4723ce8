"""Judging a report against expectations: one ExpectationResult per expectation that is set.

    for result in check_report(report, expectations):   # report: a Report or its to_dict()
        print(result.line())    # PASS encap: vxlan (observed vxlan) - vxlan/8472 447 packets

Reads the JSON contract of the report, so it imports no pandas.
"""
from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass

from ..catalogue import SEVERITIES
from .expectations import Expectations, parse_expectations
from .observed import (EXAMPLES, Observed, class_order, examples, ip_key, list_text, net_key, plural, port_text,
                       report_data)


@dataclass
class ExpectationResult:
    """One expectation judged against one capture."""
    name: str            # the expectation (a TOML key; "findings" for fail_on/ignore_findings)
    passed: bool
    expected: object     # JSON-ready
    observed: object     # JSON-ready
    message: str         # "vxlan (observed vxlan)" or "expected 8472, observed 4789"
    evidence: str = ""   # where the observed value comes from, in words

    def line(self) -> str:
        text = f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.message}"
        return text + (f" - {self.evidence}" if self.evidence else "")

    def to_dict(self) -> dict:
        return asdict(self)


def check_report(report, expectations) -> list[ExpectationResult]:
    """Judge one report (a Report or its to_dict()) against expectations (Expectations or a dict of keys)."""
    if not isinstance(expectations, Expectations):
        expectations = parse_expectations(expectations)
    observed = Observed(report_data(report))
    results = []
    if not expectations.allow_empty and not observed.entries_with_ip():
        results.append(_empty_capture(observed))
    for key, judge in _CHECKS:
        expected = getattr(expectations, key)
        if expected is not None:
            results.append(judge(observed, expected, expectations))
    return results


def _empty_capture(obs: Observed) -> ExpectationResult:
    """A capture with no IP packets meets every other expectation vacuously (no finding, no wrong port): a
    wrong capture filter or interface must not pass CI. Judged unless allow_empty is set."""
    packets = int(obs.data.get("capture", {}).get("packets") or 0)
    return ExpectationResult("capture", False, "IP packets", 0,
                             f"expected IP packets, observed none ({plural(packets, 'packet')} in the capture)",
                             "check the capture interface and filter; allow_empty = true (--allow-empty) passes it")


def _set_result(name, expected: list, observed: list, evidence: str, describe=list_text) -> ExpectationResult:
    passed = set(expected) == set(observed)
    if passed:
        message = f"{describe(expected)} (observed {describe(observed)})"
    else:
        message = f"expected {describe(expected)}, observed {describe(observed)}"
        missing = [v for v in expected if v not in observed]
        unexpected = [v for v in observed if v not in expected]
        if missing and unexpected and (len(expected) > 1 or len(observed) > 1):
            message += f" (missing {describe(missing)}; unexpected {describe(unexpected)})"
    return ExpectationResult(name, passed, list(expected), list(observed), message, evidence)


def _check_encap(obs: Observed, expected, _exp) -> ExpectationResult:
    tunnel = sorted({e["type"] for e in obs.tunnel_entries}, key=class_order)
    observed = list(tunnel)
    # native underlay chatter (ARP aside: SSH, DNS, BGP) is tolerated unless native is expected
    # or there is nothing but native traffic
    if obs.native_packets and ("native" in expected or not tunnel):
        observed.append("native")
    return _set_result("encap", sorted(expected, key=class_order), observed, obs.classes_text())


def _check_udp_port(obs: Observed, expected, _exp) -> ExpectationResult:
    entries = [e for e in obs.tunnel_entries if e.get("udp_port")]
    observed = sorted({int(e["udp_port"]) for e in entries})
    evidence = "; ".join(f"{port_text(e)} {plural(int(e['packets']), 'packet')}"
                         + (f" ({int(e['by_plausibility'])} recognised by plausibility)"
                            if e.get("by_plausibility") else "") for e in entries)
    return _set_result("udp_port", sorted(expected), observed, evidence or "no UDP tunnel traffic")


def _check_vni(obs: Observed, expected, _exp) -> ExpectationResult:
    observed = sorted({int(v) for e in obs.tunnel_entries for v in e.get("vnis", [])})
    evidence = "; ".join(f"{port_text(e)} VNI {list_text(e['vnis'])}" for e in obs.tunnel_entries if e.get("vnis"))
    return _set_result("vni", sorted(expected), observed, evidence or "no VXLAN/Geneve traffic")


def _check_nodes(obs: Observed, expected, _exp) -> ExpectationResult:
    observed = len(obs.nodes)
    passed = observed == expected
    message = f"{expected} (observed {observed})" if passed else f"expected {expected}, observed {observed}"
    return ExpectationResult("nodes", passed, expected, observed, message, examples(sorted(obs.nodes, key=ip_key), 8))


def _check_node_addresses(obs: Observed, expected, _exp) -> ExpectationResult:
    observed = sorted(obs.nodes, key=ip_key)
    expected = sorted(expected, key=ip_key)
    missing = [a for a in expected if a not in obs.nodes]
    unexpected = [a for a in observed if a not in expected]
    passed = not missing and not unexpected
    if passed:
        message = f"{plural(len(expected), 'address')} (observed all of them)" if expected else \
            "no nodes (observed none)"
    else:
        parts = [f"missing {list_text(missing)}"] if missing else []
        parts += [f"unexpected {list_text(unexpected)}"] if unexpected else []
        message = f"expected {plural(len(expected), 'address')}, " + "; ".join(parts)
    evidence = "; ".join(f"{ip} peers {list_text(obs.nodes[ip].get('peers', []))}" for ip in observed[:EXAMPLES])
    return ExpectationResult("node_addresses", passed, expected, observed, message, evidence)


def _check_pod_cidrs(obs: Observed, expected, _exp) -> ExpectationResult:
    problems, evidence, observed = [], [], {}
    nodes = sorted(expected, key=ip_key)
    for node in nodes:
        want = sorted(expected[node], key=net_key)
        if node not in obs.nodes:
            problems.append(f"node {node} (expected {list_text(want)}) not in the capture")
            observed[node] = None
            continue
        entry = obs.nodes[node]
        have = sorted({str(ipaddress.ip_network(c, strict=False)) for c in entry.get("pod_cidrs", [])}, key=net_key)
        observed[node] = have
        missing = [c for c in want if c not in have]
        unexpected = [c for c in have if c not in want]
        if missing or unexpected:
            parts = [f"missing {list_text(missing)}"] if missing else []
            parts += [f"unexpected {list_text(unexpected)}"] if unexpected else []
            problems.append(f"{node} " + ", ".join(parts))
        source = entry.get("pod_cidr_source")
        pods = entry.get("pods", [])
        if source and source.startswith("inferred"):
            evidence.append(f"{node} {source} from {plural(len(pods), 'pod address')}")
        else:
            evidence.append(f"{node} {source or 'no pods seen'}")
    if any(observed[n] is None for n in nodes):
        evidence.append(f"nodes in the capture: {examples(sorted(obs.nodes, key=ip_key), 8) or 'none'}")
    passed = not problems
    if passed:
        message = "; ".join(f"{n} {list_text(observed[n])}" for n in nodes) + " (observed the same)"
    else:
        message = "; ".join(problems)
    return ExpectationResult("pod_cidrs", passed, {n: sorted(expected[n], key=net_key) for n in nodes}, observed,
                       message, "; ".join(evidence))


def _exact(name, expected, observed, evidence) -> ExpectationResult:
    passed = observed == expected
    shown = observed if observed is not None else "none"
    message = f"{expected} (observed {shown})" if passed else f"expected {expected}, observed {shown}"
    return ExpectationResult(name, passed, expected, observed, message, evidence)


def _check_underlay_mtu(obs: Observed, expected, _exp) -> ExpectationResult:
    observed = obs.mtu.get("underlay_mtu")
    return _exact("underlay_mtu", expected, int(observed) if observed is not None else None,
                  obs.mtu.get("underlay_mtu_basis", ""))


def _check_overlay_mtu(obs: Observed, expected, _exp) -> ExpectationResult:
    overlays = obs.mtu.get("overlays", [])
    values = sorted({int(o["overlay_mtu"]) for o in overlays})
    evidence = "; ".join(f"{port_text(o)}: {obs.mtu.get('underlay_mtu')} - {o['overhead']} overhead = "
                         f"{o['overlay_mtu']}" for o in overlays) or "no tunnel traffic, so no overlay"
    if len(values) <= 1:
        return _exact("overlay_mtu", expected, values[0] if values else None, evidence)
    passed = False  # one expected value, several overlays with different MTUs
    return ExpectationResult("overlay_mtu", passed, expected, values,
                       f"expected {expected}, observed {list_text(values)} (several overlays)", evidence)


def _check_max_inner_size(obs: Observed, expected, _exp) -> ExpectationResult:
    flows = obs.inner_flows()
    if not flows:
        return ExpectationResult("max_inner_size", True, expected, None, f"at most {expected} (observed no IP packets)",
                           "no flows in the capture")
    largest = max(int(f["max_ip_len"]) for f in flows)
    over = sorted((f for f in flows if int(f["max_ip_len"]) > expected), key=lambda f: -int(f["max_ip_len"]))
    passed = not over
    if passed:
        message = f"at most {expected} (observed {largest})"
        examples = [f for f in flows if int(f["max_ip_len"]) == largest][:1]
    else:
        message = f"expected at most {expected}, observed {largest} in {plural(len(over), 'flow')}"
        examples = over[:EXAMPLES]
    evidence = "; ".join(f"{_flow_text(f)}: {int(f['max_ip_len'])} bytes" for f in examples)
    if obs.mtu.get("sizes_reliable") is False:
        evidence += " (sizes unreliable: offload super-frames in this capture are not wire sizes)"
    return ExpectationResult("max_inner_size", passed, expected, largest, message, evidence)


def _flow_text(flow) -> str:
    ports = f":{flow['sport']}" if flow.get("sport") is not None else ""
    dports = f":{flow['dport']}" if flow.get("dport") is not None else ""
    text = f"{flow['src']}{ports} > {flow['dst']}{dports} {flow.get('proto')}"
    if flow.get("encap") not in (None, "native"):
        text += f" ({flow['encap']}" + (f" VNI {flow['vni']}" if flow.get("vni") is not None else "") + ")"
    return text


def _check_findings(obs: Observed, severity, exp: Expectations) -> ExpectationResult:
    ignored = set(exp.ignore_findings)
    rank = SEVERITIES.index(severity)
    relevant = [f for f in obs.findings if f.get("severity") in SEVERITIES and SEVERITIES.index(f["severity"]) >= rank]
    offending = [f for f in relevant if f["id"] not in ignored]
    skipped = [f for f in relevant if f["id"] in ignored]
    observed = [f"{f['id']} ({f['severity']})" for f in offending]
    passed = not offending
    if passed:
        message = f"none at or above {severity} (observed none)"
        others = [f"{f['id']} ({f['severity']})" for f in obs.findings]
        evidence = (f"other findings: {examples(others)}" if others else "no findings")
    else:
        message = f"expected none at or above {severity}, observed {examples(observed)}"
        evidence = "; ".join(f"{f['id']}: {f['summary']}" for f in offending[:EXAMPLES])
    if skipped:
        evidence += f"; ignored: {list_text(sorted({f['id'] for f in skipped}))}"
    return ExpectationResult("findings", passed, f"none at or above {severity}", observed, message, evidence)


_CHECKS = (
    ("encap", _check_encap),
    ("udp_port", _check_udp_port),
    ("vni", _check_vni),
    ("nodes", _check_nodes),
    ("node_addresses", _check_node_addresses),
    ("pod_cidrs", _check_pod_cidrs),
    ("underlay_mtu", _check_underlay_mtu),
    ("overlay_mtu", _check_overlay_mtu),
    ("max_inner_size", _check_max_inner_size),
    ("fail_on", _check_findings),
)


__all__ = ["ExpectationResult", "check_report"]
