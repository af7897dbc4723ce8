"""What the capture says, read from the report's JSON contract (nodes[], flows[], capture) only."""
from __future__ import annotations

import ipaddress
import re
from collections import Counter

from .model import normal_address

NOT_TUNNELS = ("native", "non-ip")
# candidates only: every match is confirmed by ipaddress; "10.244.1.0/24" is a CIDR, not an address
_ADDRESS = re.compile(r"(?<![\w.:/])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w./])")


def as_dict(report) -> dict:
    """The JSON contract of a Report, or the dict itself."""
    return report.to_dict() if hasattr(report, "to_dict") else report


def tunnel_flows(data) -> list:
    return [f for f in data.get("flows", []) if f.get("encap") not in NOT_TUNNELS and f.get("outer_src")]


def wire_pods(data) -> dict:
    """Inner address -> the underlay addresses it was seen behind (report nodes[].pods)."""
    behind = {}
    for node in data.get("nodes", []):
        for pod in node.get("pods", []):
            behind.setdefault(normal_address(pod), []).append(normal_address(node["ip"]))
    behind.pop(None, None)
    return behind


def inner_packets(data) -> Counter:
    """Inner address -> packets of the flows it sends or receives."""
    packets = Counter()
    for flow in data.get("flows", []):
        for key in ("src", "dst"):
            address = normal_address(flow.get(key))
            if address:
                packets[address] += int(flow.get("packets") or 0)
    return packets


def is_ordinary(address) -> bool:
    """An address a host or pod owns, not multicast, broadcast, loopback, link-local or unspecified."""
    ip = ipaddress.ip_address(address)
    return not (ip.is_multicast or ip.is_loopback or ip.is_link_local or ip.is_unspecified
                or (ip.version == 4 and ip == ipaddress.IPv4Address("255.255.255.255")))


def addresses_in(value) -> list:
    """Every IP address written anywhere in a JSON value (strings, keys, nested lists and dicts)."""
    found = {}
    if isinstance(value, dict):
        for key, item in value.items():
            for address in addresses_in(key) + addresses_in(item):
                found[address] = True
    elif isinstance(value, (list, tuple)):
        for item in value:
            for address in addresses_in(item):
                found[address] = True
    elif isinstance(value, str):
        for match in _ADDRESS.finditer(value):
            address = normal_address(match.group(0))
            if address:
                found[address] = True
    return list(found)


def address_key(text):
    ip = ipaddress.ip_address(text)
    return (ip.version, ip)
