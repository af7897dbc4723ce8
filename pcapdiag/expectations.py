"""Expectations: what a healthy capture of a cluster looks like, and the comparison of a report with them.

    exp = load_expectations("expect.toml")            # or parse_expectations({...}), or baseline_from_report(r)
    for result in check_report(report, exp):          # report: a Report or its to_dict()
        print(result.line())                          # PASS encap: vxlan (observed vxlan) - vxlan/8472 447 packets

The file is TOML, every key optional (see docs/check.md and render_toml, which writes
one with a comment per key). Keys are validated strictly: an unknown key or a bad
value raises ExpectationError naming the key. This module imports neither pandas
nor the analysis pipeline, so the command line can load it cheaply.
"""
from __future__ import annotations

import difflib
import ipaddress
import sys
from dataclasses import asdict, dataclass, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .catalogue import ENCAP_CLASSES, SEVERITIES  # noqa: F401 (re-exported)

# key -> what it holds (for messages and documentation); the order is the order of the checks
KEYS = {
    "encap": "encapsulation classes carrying pod traffic",
    "udp_port": "UDP ports of the tunnel traffic",
    "vni": "VXLAN/Geneve network identifiers",
    "nodes": "number of nodes",
    "node_addresses": "node (underlay) addresses",
    "pod_cidrs": "pod CIDRs per node address",
    "underlay_mtu": "underlay MTU",
    "overlay_mtu": "overlay MTU",
    "max_inner_size": "largest inner IP packet allowed",
    "fail_on": "fail on findings at or above this severity",
    "ignore_findings": "finding ids exempt from fail_on",
}
EXAMPLES = 3  # addresses, flows, findings quoted in one line of evidence


class ExpectationError(ValueError):
    """An expectation that cannot be used: unknown key, bad value, unreadable file. `key` names it."""

    def __init__(self, key: str | None, message: str):
        super().__init__(f"key '{key}': {message}" if key else message)
        self.key = key
        self.detail = message


@dataclass
class Expectations:
    """Every field optional: None means "not checked". Lists are compared as sets."""
    encap: list[str] | None = None
    udp_port: list[int] | None = None
    vni: list[int] | None = None
    nodes: int | None = None
    node_addresses: list[str] | None = None
    pod_cidrs: dict[str, list[str]] | None = None
    underlay_mtu: int | None = None
    overlay_mtu: int | None = None
    max_inner_size: int | None = None
    fail_on: str | None = None
    ignore_findings: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        """True when nothing would be checked (ignore_findings alone checks nothing)."""
        return all(getattr(self, key) is None for key in KEYS if key != "ignore_findings")

    def merged(self, override: "Expectations") -> "Expectations":
        """These expectations with every key `override` sets replacing ours (pod_cidrs: per node)."""
        result = Expectations(**asdict(self))
        for key in KEYS:
            value = getattr(override, key)
            if key == "pod_cidrs" and value is not None and result.pod_cidrs is not None:
                result.pod_cidrs = {**result.pod_cidrs, **value}
            elif key == "ignore_findings":
                result.ignore_findings = sorted(set(result.ignore_findings) | set(value))
            elif value is not None:
                setattr(result, key, value)
        return result

    def to_dict(self) -> dict:
        """The keys that are set, as they would appear in the TOML file."""
        return {key: value for key, value in asdict(self).items()
                if value is not None and not (key == "ignore_findings" and not value)}


@dataclass
class CheckResult:
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


# -- reading and validating ------------------------------------------------------

def load_expectations(path: str) -> Expectations:
    """Read and validate an expectations file; ExpectationError (key None for I/O and syntax) on any problem."""
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError:
        raise ExpectationError(None, f"no such expectations file: {path}") from None
    except IsADirectoryError:
        raise ExpectationError(None, f"expectations file is a directory: {path}") from None
    except OSError as exc:
        raise ExpectationError(None, f"cannot read expectations file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ExpectationError(None, f"{path} is not valid TOML: {exc}") from None
    return parse_expectations(data)


def parse_expectations(data: dict) -> Expectations:
    """Validate a dict (parsed TOML, or built from command-line flags) into Expectations."""
    if not isinstance(data, dict):
        raise ExpectationError(None, "expectations must be a table of keys")
    unknown = [key for key in data if key not in KEYS]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, KEYS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ExpectationError(key, f"not a known key{hint}; known keys: {', '.join(KEYS)}")
    values = {}
    for key, value in data.items():
        values[key] = _VALIDATORS[key](key, value)
    return Expectations(**values)


def _describe(value) -> str:
    return f"{value!r} ({_toml_type(value)})"


def _toml_type(value) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)


def _as_list(key, value, item_check, *, allow_empty=True) -> list:
    items = value if isinstance(value, list) else [value]
    if not items and not allow_empty:
        raise ExpectationError(key, "must not be empty: remove the key to stop checking it")
    checked = [item_check(key, item) for item in items]
    return sorted(set(checked), key=checked.index)


def _integer(low: int, high: int, what: str):
    def check(key, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ExpectationError(key, f"{_describe(value)} is not an integer ({what}, {low}-{high})")
        if not low <= value <= high:
            raise ExpectationError(key, f"{value} is out of range for {what} ({low}-{high})")
        return value
    return check


def _encap_class(key, value):
    if not isinstance(value, str):
        raise ExpectationError(key, f"{_describe(value)} is not a string; use one of {', '.join(ENCAP_CLASSES)}")
    name = value.strip().lower()
    if name not in ENCAP_CLASSES:
        close = difflib.get_close_matches(name, ENCAP_CLASSES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ExpectationError(key, f"{value!r} is not an encapsulation class{hint}; use one of "
                                    f"{', '.join(ENCAP_CLASSES)}")
    return name


def _address(key, value):
    if not isinstance(value, str):
        raise ExpectationError(key, f"{_describe(value)} is not an IP address string")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ExpectationError(key, f"{value!r} is not an IP address") from None


def _network(key, value):
    if not isinstance(value, str):
        raise ExpectationError(key, f"{_describe(value)} is not a CIDR string like \"10.244.1.0/24\"")
    try:
        return str(ipaddress.ip_network(value.strip(), strict=True))
    except ValueError as exc:
        raise ExpectationError(key, f"{value!r} is not a CIDR like \"10.244.1.0/24\" ({exc})") from None


def _severity(key, value):
    if not isinstance(value, str) or value.strip().lower() not in SEVERITIES:
        raise ExpectationError(key, f"{value!r} is not a severity; use one of {', '.join(SEVERITIES)}")
    return value.strip().lower()


def _finding_id(key, value):
    if not isinstance(value, str) or "." not in value or not value.strip():
        raise ExpectationError(key, f"{value!r} is not a finding id like \"tunnel.bad-outer-checksum\"")
    return value.strip()


def _pod_cidrs(key, value):
    if not isinstance(value, dict):
        raise ExpectationError(key, f"{_describe(value)} is not a table of node address = [CIDRs]")
    result = {}
    for node, cidrs in value.items():
        try:
            address = str(ipaddress.ip_address(node.strip()))
        except ValueError:
            hint = (" (keys below a [pod_cidrs] header belong to that table: keep top-level keys above it)"
                    if node in KEYS else "")
            raise ExpectationError(f'{key}."{node}"', f"{node!r} is not a node IP address{hint}") from None
        if isinstance(cidrs, dict):
            raise ExpectationError(f'{key}."{node}"', "must be a list of CIDRs, not a table")
        result[address] = _as_list(f'{key}."{node}"', cidrs, _network)
    return result


_PORT = _integer(1, 65535, "a UDP port")
_VNI = _integer(0, 2 ** 24 - 1, "a 24-bit VNI")
_MTU = _integer(68, 65535, "an MTU")
_VALIDATORS = {
    "encap": lambda k, v: _as_list(k, v, _encap_class, allow_empty=False),
    "udp_port": lambda k, v: _as_list(k, v, _PORT),
    "vni": lambda k, v: _as_list(k, v, _VNI),
    "nodes": _integer(0, 1_000_000, "a node count"),
    "node_addresses": lambda k, v: _as_list(k, v, _address),
    "pod_cidrs": _pod_cidrs,
    "underlay_mtu": _MTU,
    "overlay_mtu": _MTU,
    "max_inner_size": _integer(20, 65535, "an IP packet size"),
    "fail_on": _severity,
    "ignore_findings": lambda k, v: _as_list(k, v, _finding_id),
}


# -- comparing -------------------------------------------------------------------

def check_report(report, expectations) -> list[CheckResult]:
    """Judge one report (a Report or its to_dict()) against expectations (Expectations or a dict of keys)."""
    if not isinstance(expectations, Expectations):
        expectations = parse_expectations(expectations)
    data = report.to_dict() if hasattr(report, "to_dict") else report
    observed = Observed(data)
    results = []
    for key, judge in _CHECKS:
        expected = getattr(expectations, key)
        if expected is not None:
            results.append(judge(observed, expected, expectations))
    return results


def _port_text(entry) -> str:
    return f"{entry['type']}/{entry['udp_port']}" if entry.get("udp_port") else entry["type"]


def _plural(count, word) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word}" + ("es" if word.endswith(("s", "ch")) else "s")


def _list_text(values) -> str:
    return ", ".join(str(v) for v in values) if values else "none"


def _examples(values, limit=EXAMPLES) -> str:
    values = list(values)
    text = ", ".join(str(v) for v in values[:limit])
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")


class Observed:
    """The facts of one report that expectations are about, taken from the JSON contract."""

    def __init__(self, data: dict):
        self.data = data
        self.entries = [e for e in data.get("encapsulation", []) if e.get("packets")]
        self.tunnel_entries = [e for e in self.entries if e["type"] != "native" and e["type"] != "non-ip"]
        self.native_packets = sum(e["packets"] for e in self.entries if e["type"] == "native")
        self.nodes = {str(ipaddress.ip_address(n["ip"])): n for n in data.get("nodes", [])}
        self.mtu = data.get("mtu", {})
        self.findings = data.get("findings", [])
        self.flows = data.get("flows", [])

    def classes_text(self) -> str:
        parts = [f"{_port_text(e)} {_plural(int(e['packets']), 'packet')}" for e in self.tunnel_entries]
        if self.native_packets:
            parts.append(f"native {_plural(int(self.native_packets), 'packet')}")
        return "; ".join(parts) or "no IP packets"


def _set_result(name, expected: list, observed: list, evidence: str, describe=_list_text) -> CheckResult:
    passed = set(expected) == set(observed)
    if passed:
        message = f"{describe(expected)} (observed {describe(observed)})"
    else:
        message = f"expected {describe(expected)}, observed {describe(observed)}"
        missing = [v for v in expected if v not in observed]
        unexpected = [v for v in observed if v not in expected]
        if missing and unexpected and (len(expected) > 1 or len(observed) > 1):
            message += f" (missing {describe(missing)}; unexpected {describe(unexpected)})"
    return CheckResult(name, passed, list(expected), list(observed), message, evidence)


def _check_encap(obs: Observed, expected, _exp) -> CheckResult:
    tunnel = sorted({e["type"] for e in obs.tunnel_entries}, key=_class_order)
    observed = list(tunnel)
    # native underlay chatter (ARP aside: SSH, DNS, BGP) is tolerated unless native is expected
    # or there is nothing but native traffic
    if obs.native_packets and ("native" in expected or not tunnel):
        observed.append("native")
    return _set_result("encap", sorted(expected, key=_class_order), observed, obs.classes_text())


def _class_order(name):
    return ENCAP_CLASSES.index(name) if name in ENCAP_CLASSES else len(ENCAP_CLASSES)


def _check_udp_port(obs: Observed, expected, _exp) -> CheckResult:
    entries = [e for e in obs.tunnel_entries if e.get("udp_port")]
    observed = sorted({int(e["udp_port"]) for e in entries})
    evidence = "; ".join(f"{_port_text(e)} {_plural(int(e['packets']), 'packet')}"
                         + (f" ({int(e['by_plausibility'])} recognised by plausibility)"
                            if e.get("by_plausibility") else "") for e in entries)
    return _set_result("udp_port", sorted(expected), observed, evidence or "no UDP tunnel traffic")


def _check_vni(obs: Observed, expected, _exp) -> CheckResult:
    observed = sorted({int(v) for e in obs.tunnel_entries for v in e.get("vnis", [])})
    evidence = "; ".join(f"{_port_text(e)} VNI {_list_text(e['vnis'])}" for e in obs.tunnel_entries if e.get("vnis"))
    return _set_result("vni", sorted(expected), observed, evidence or "no VXLAN/Geneve traffic")


def _check_nodes(obs: Observed, expected, _exp) -> CheckResult:
    observed = len(obs.nodes)
    passed = observed == expected
    message = f"{expected} (observed {observed})" if passed else f"expected {expected}, observed {observed}"
    return CheckResult("nodes", passed, expected, observed, message, _examples(sorted(obs.nodes, key=_ip_key), 8))


def _ip_key(text):
    address = ipaddress.ip_address(text)
    return (address.version, address)


def _net_key(text):
    network = ipaddress.ip_network(text, strict=False)
    return (network.version, network)


def _check_node_addresses(obs: Observed, expected, _exp) -> CheckResult:
    observed = sorted(obs.nodes, key=_ip_key)
    expected = sorted(expected, key=_ip_key)
    missing = [a for a in expected if a not in obs.nodes]
    unexpected = [a for a in observed if a not in expected]
    passed = not missing and not unexpected
    if passed:
        message = f"{_plural(len(expected), 'address')} (observed all of them)" if expected else \
            "no nodes (observed none)"
    else:
        parts = [f"missing {_list_text(missing)}"] if missing else []
        parts += [f"unexpected {_list_text(unexpected)}"] if unexpected else []
        message = f"expected {_plural(len(expected), 'address')}, " + "; ".join(parts)
    evidence = "; ".join(f"{ip} peers {_list_text(obs.nodes[ip].get('peers', []))}" for ip in observed[:EXAMPLES])
    return CheckResult("node_addresses", passed, expected, observed, message, evidence)


def _check_pod_cidrs(obs: Observed, expected, _exp) -> CheckResult:
    problems, evidence, observed = [], [], {}
    nodes = sorted(expected, key=_ip_key)
    for node in nodes:
        want = sorted(expected[node], key=_net_key)
        if node not in obs.nodes:
            problems.append(f"node {node} (expected {_list_text(want)}) not in the capture")
            observed[node] = None
            continue
        entry = obs.nodes[node]
        have = sorted({str(ipaddress.ip_network(c, strict=False)) for c in entry.get("pod_cidrs", [])}, key=_net_key)
        observed[node] = have
        missing = [c for c in want if c not in have]
        unexpected = [c for c in have if c not in want]
        if missing or unexpected:
            parts = [f"missing {_list_text(missing)}"] if missing else []
            parts += [f"unexpected {_list_text(unexpected)}"] if unexpected else []
            problems.append(f"{node} " + ", ".join(parts))
        source = entry.get("pod_cidr_source")
        pods = entry.get("pods", [])
        if source and source.startswith("inferred"):
            evidence.append(f"{node} {source} from {_plural(len(pods), 'pod address')}")
        else:
            evidence.append(f"{node} {source or 'no pods seen'}")
    if any(observed[n] is None for n in nodes):
        evidence.append(f"nodes in the capture: {_examples(sorted(obs.nodes, key=_ip_key), 8) or 'none'}")
    passed = not problems
    if passed:
        message = "; ".join(f"{n} {_list_text(observed[n])}" for n in nodes) + " (observed the same)"
    else:
        message = "; ".join(problems)
    return CheckResult("pod_cidrs", passed, {n: sorted(expected[n], key=_net_key) for n in nodes}, observed,
                       message, "; ".join(evidence))


def _exact(name, expected, observed, evidence) -> CheckResult:
    passed = observed == expected
    shown = observed if observed is not None else "none"
    message = f"{expected} (observed {shown})" if passed else f"expected {expected}, observed {shown}"
    return CheckResult(name, passed, expected, observed, message, evidence)


def _check_underlay_mtu(obs: Observed, expected, _exp) -> CheckResult:
    observed = obs.mtu.get("underlay_mtu")
    return _exact("underlay_mtu", expected, int(observed) if observed is not None else None,
                  obs.mtu.get("underlay_mtu_basis", ""))


def _check_overlay_mtu(obs: Observed, expected, _exp) -> CheckResult:
    overlays = obs.mtu.get("overlays", [])
    values = sorted({int(o["overlay_mtu"]) for o in overlays})
    evidence = "; ".join(f"{_port_text(o)}: {obs.mtu.get('underlay_mtu')} - {o['overhead']} overhead = "
                         f"{o['overlay_mtu']}" for o in overlays) or "no tunnel traffic, so no overlay"
    if len(values) <= 1:
        return _exact("overlay_mtu", expected, values[0] if values else None, evidence)
    passed = False  # one expected value, several overlays with different MTUs
    return CheckResult("overlay_mtu", passed, expected, values,
                       f"expected {expected}, observed {_list_text(values)} (several overlays)", evidence)


def _inner_flows(obs: Observed) -> list:
    """Flows whose packets are inner packets: the tunnelled ones, or every flow when nothing is tunnelled."""
    tunnelled = [f for f in obs.flows if f.get("encap") not in (None, "native")]
    return [f for f in (tunnelled or obs.flows) if f.get("max_ip_len") is not None]


def _check_max_inner_size(obs: Observed, expected, _exp) -> CheckResult:
    flows = _inner_flows(obs)
    if not flows:
        return CheckResult("max_inner_size", True, expected, None, f"at most {expected} (observed no IP packets)",
                           "no flows in the capture")
    largest = max(int(f["max_ip_len"]) for f in flows)
    over = sorted((f for f in flows if int(f["max_ip_len"]) > expected), key=lambda f: -int(f["max_ip_len"]))
    passed = not over
    if passed:
        message = f"at most {expected} (observed {largest})"
        examples = [f for f in flows if int(f["max_ip_len"]) == largest][:1]
    else:
        message = f"expected at most {expected}, observed {largest} in {_plural(len(over), 'flow')}"
        examples = over[:EXAMPLES]
    evidence = "; ".join(f"{_flow_text(f)}: {int(f['max_ip_len'])} bytes" for f in examples)
    if obs.mtu.get("sizes_reliable") is False:
        evidence += " (sizes unreliable: offload super-frames in this capture are not wire sizes)"
    return CheckResult("max_inner_size", passed, expected, largest, message, evidence)


def _flow_text(flow) -> str:
    ports = f":{flow['sport']}" if flow.get("sport") is not None else ""
    dports = f":{flow['dport']}" if flow.get("dport") is not None else ""
    text = f"{flow['src']}{ports} > {flow['dst']}{dports} {flow.get('proto')}"
    if flow.get("encap") not in (None, "native"):
        text += f" ({flow['encap']}" + (f" VNI {flow['vni']}" if flow.get("vni") is not None else "") + ")"
    return text


def _check_findings(obs: Observed, severity, exp: Expectations) -> CheckResult:
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
        evidence = (f"other findings: {_examples(others)}" if others else "no findings")
    else:
        message = f"expected none at or above {severity}, observed {_examples(observed)}"
        evidence = "; ".join(f"{f['id']}: {f['summary']}" for f in offending[:EXAMPLES])
    if skipped:
        evidence += f"; ignored: {_list_text(sorted({f['id'] for f in skipped}))}"
    return CheckResult("findings", passed, f"none at or above {severity}", observed, message, evidence)


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


# -- baseline --------------------------------------------------------------------

def baseline_from_report(report, fail_on: str = "warning") -> Expectations:
    """The expectations a known-good capture implies (what render_toml writes, without the comments)."""
    data = report.to_dict() if hasattr(report, "to_dict") else report
    return _baseline(Observed(data), fail_on)[0]


def _baseline(obs: Observed, fail_on: str):
    notes = {}
    exp = Expectations(fail_on=fail_on)
    tunnel = sorted({e["type"] for e in obs.tunnel_entries}, key=_class_order)
    if tunnel:
        exp.encap = tunnel
    elif obs.native_packets:
        exp.encap = ["native"]
    ports = sorted({int(e["udp_port"]) for e in obs.tunnel_entries if e.get("udp_port")})
    if ports:
        exp.udp_port = ports
    vnis = sorted({int(v) for e in obs.tunnel_entries for v in e.get("vnis", [])})
    if vnis:
        exp.vni = vnis
    exp.nodes = len(obs.nodes)
    exp.node_addresses = sorted(obs.nodes, key=_ip_key)
    if obs.nodes:
        exp.pod_cidrs = {ip: sorted({str(ipaddress.ip_network(c, strict=False)) for c in n.get("pod_cidrs", [])},
                                    key=_net_key) for ip, n in sorted(obs.nodes.items(), key=lambda i: _ip_key(i[0]))}
    if obs.mtu.get("underlay_mtu") is not None:
        exp.underlay_mtu = int(obs.mtu["underlay_mtu"])
    overlay_values = sorted({int(o["overlay_mtu"]) for o in obs.mtu.get("overlays", [])})
    if len(overlay_values) == 1:
        exp.overlay_mtu = overlay_values[0]
    elif overlay_values:
        notes["overlay_mtu"] = f"several overlays with different MTUs ({_list_text(overlay_values)})"
    flows = _inner_flows(obs)
    if flows:
        size = max(int(f["max_ip_len"]) for f in flows)
        if obs.mtu.get("sizes_reliable") is False:
            notes["max_inner_size"] = (f"not set: offload super-frames make sizes in this capture unreliable "
                                       f"(largest seen {size})")
        else:
            exp.max_inner_size = max(size, 20)  # the smallest value the schema accepts
    return exp, notes


def render_toml(report, fail_on: str = "warning", source: str | None = None, version: str = "") -> str:
    """A commented, human-editable expectations file from a known-good report."""
    data = report.to_dict() if hasattr(report, "to_dict") else report
    obs = Observed(data)
    exp, notes = _baseline(obs, fail_on)
    capture = data.get("capture", {})
    name = source or capture.get("file") or "the capture"
    lines = [
        f"# pcapdiag expectations, written by `pcapdiag baseline`{f' {version}' if version else ''}",
        f"# from {name} ({capture.get('packets', '?')} packets, {capture.get('start')} .. {capture.get('end')}).",
        "#",
        "# Check a capture against it:  pcapdiag check CAPTURE --expect THIS_FILE",
        "# Every key is optional: delete or comment out a line to stop checking it. Lists are",
        "# compared as sets. Command-line flags (--expect-port, --fail-on, ...) override keys here.",
        "",
    ]

    def key(name, value, *comment, disabled_note=None):
        lines.extend(f"# {c}" for c in comment)
        if value is None:
            lines.append(f"# {name} = ...   ({disabled_note or 'nothing observed in this capture'})")
        else:
            lines.append(f"{name} = {_toml_value(value)}")
        lines.append("")

    key("encap", exp.encap,
        f"Encapsulation classes carrying pod traffic: {', '.join(ENCAP_CLASSES)}.",
        "Every tunnel class seen must be listed and every class listed must be seen. Native (unencapsulated)",
        "underlay traffic such as SSH or BGP is tolerated unless \"native\" is listed here.",
        f"Seen: {obs.classes_text()}.")
    key("udp_port", exp.udp_port,
        "UDP destination ports of the tunnel traffic (VXLAN: 8472 Linux/flannel, 4789 IANA; Geneve: 6081).",
        disabled_note="no UDP tunnel in this capture")
    key("vni", exp.vni, "VXLAN/Geneve network identifiers (VNIs) seen on the tunnel traffic.",
        disabled_note="no VXLAN or Geneve in this capture")
    key("nodes", exp.nodes,
        "Number of nodes: underlay addresses carrying tunnel traffic (or BGP peers when routing natively).")
    key("node_addresses", exp.node_addresses,
        "The nodes' underlay addresses. A missing or an unexpected address fails and is named.")
    key("underlay_mtu", exp.underlay_mtu, f"Underlay MTU, exact. Basis: {obs.mtu.get('underlay_mtu_basis', '?')}.",
        "(pcapdiag infers it from the largest outer packet; --underlay-mtu on the command line sets it.)")
    overlays = "; ".join(f"{_port_text(o)} {o['overlay_mtu']} ({o['overhead']} bytes overhead)"
                         for o in obs.mtu.get("overlays", []))
    key("overlay_mtu", exp.overlay_mtu, "Overlay MTU, exact: underlay MTU minus the encapsulation overhead.",
        *([f"Seen: {overlays}."] if overlays else []),
        disabled_note=notes.get("overlay_mtu", "no tunnel traffic in this capture"))
    key("max_inner_size", exp.max_inner_size,
        "Largest inner (pod) IP packet allowed, in bytes: an upper bound, compared with the largest inner",
        "packet of tunnelled flows (of all flows when nothing is tunnelled). The value written is the largest",
        "seen here" + (f"; the overlay MTU ({exp.overlay_mtu}) is the natural limit for healthy traffic."
                       if exp.overlay_mtu else "."),
        disabled_note=notes.get("max_inner_size", "no IP packets in this capture"))
    present = [f for f in obs.findings if SEVERITIES.index(f["severity"]) >= SEVERITIES.index(fail_on)]
    key("fail_on", exp.fail_on,
        "Fail when a finding of this severity or worse is present: info, warning or error.",
        *([f"NOTE: this capture itself has {_plural(len(present), 'such finding')}: "
           f"{_list_text(sorted({f['id'] for f in present}))}.",
           "Checking it against this file fails until you fix the capture, raise fail_on or ignore them."]
          if present else ["This capture has none."]))
    others = sorted({f["id"] for f in obs.findings})
    key("ignore_findings", [],
        "Finding ids exempt from fail_on, e.g. [\"tunnel.bad-outer-checksum\"].",
        *([f"Findings in this capture: {_list_text(others)}."] if others else []))
    lines += [
        "# Pod CIDRs per node address, compared as sets; only the nodes listed here are checked.",
        "# Inferred from the pod addresses seen behind each node, or taken from its BGP advertisements.",
        "# Keep this table last: every key below a [table] header belongs to that table.",
    ]
    if exp.pod_cidrs:
        lines.append("[pod_cidrs]")
        for ip, cidrs in exp.pod_cidrs.items():
            node = obs.nodes[ip]
            source = node.get("pod_cidr_source") or "no pods seen"
            lines.append(f"{_toml_value(ip)} = {_toml_value(cidrs)}   # {source}, "
                         f"{_plural(len(node.get('pods', [])), 'pod address')} seen")
    else:
        lines.append("# [pod_cidrs]   (no nodes in this capture)")
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


__all__ = ["CheckResult", "ENCAP_CLASSES", "ExpectationError", "Expectations", "KEYS", "SEVERITIES",
           "baseline_from_report", "check_report", "load_expectations", "parse_expectations", "render_toml"]
