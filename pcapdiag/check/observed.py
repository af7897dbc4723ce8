"""The facts of a report that expectations are about, and their wording: shared by judging a report
(judge.py) and writing a baseline from one (baseline.py). Reads the JSON contract (Report.to_dict()), so
it imports no pandas.
"""
from __future__ import annotations

import ipaddress

from ..catalogue import ENCAP_CLASSES

EXAMPLES = 3  # addresses, flows, findings quoted in one line of evidence


def report_data(report) -> dict:
    """The JSON contract of a report: a Report's to_dict(), or the dict itself."""
    return report.to_dict() if hasattr(report, "to_dict") else report


def port_text(entry) -> str:
    return f"{entry['type']}/{entry['udp_port']}" if entry.get("udp_port") else entry["type"]


def plural(count, word) -> str:
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word}" + ("es" if word.endswith(("s", "ch")) else "s")


def list_text(values) -> str:
    return ", ".join(str(v) for v in values) if values else "none"


def examples(values, limit=EXAMPLES) -> str:
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

    def entries_with_ip(self) -> list:
        """The encapsulation entries (classes) that carry IP packets."""
        return [e for e in self.entries if e["type"] != "non-ip"]

    def classes_text(self) -> str:
        parts = [f"{port_text(e)} {plural(int(e['packets']), 'packet')}" for e in self.tunnel_entries]
        if self.native_packets:
            parts.append(f"native {plural(int(self.native_packets), 'packet')}")
        return "; ".join(parts) or "no IP packets"

    def inner_flows(self) -> list:
        """Flows whose packets are inner packets: the tunnelled ones, or every flow when nothing is tunnelled."""
        tunnelled = [f for f in self.flows if f.get("encap") not in (None, "native")]
        return [f for f in (tunnelled or self.flows) if f.get("max_ip_len") is not None]


def class_order(name):
    """Sort key: encapsulation classes in catalogue order, unknown ones last."""
    return ENCAP_CLASSES.index(name) if name in ENCAP_CLASSES else len(ENCAP_CLASSES)


def ip_key(text):
    """Sort key: IPv4 addresses before IPv6, each numerically."""
    address = ipaddress.ip_address(text)
    return (address.version, address)


def net_key(text):
    """Sort key: IPv4 networks before IPv6, each numerically."""
    network = ipaddress.ip_network(text, strict=False)
    return (network.version, network)
