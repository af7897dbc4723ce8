"""Expectations: what a healthy capture of a cluster looks like, read from TOML or a dict and validated.

    exp = load_expectations("expect.toml")            # or parse_expectations({"udp_port": 8472, ...})

The file is TOML, every key optional (see docs/check.md, and baseline.render_toml, which writes one
with a comment per key). Keys are validated strictly: an unknown key or a bad value raises
ExpectationError naming the key. Imports neither click nor pandas.
"""
from __future__ import annotations

import difflib
import ipaddress
import os
import sys
from dataclasses import asdict, dataclass, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from ..catalogue import CATALOGUE, ENCAP_CLASSES, SEVERITIES

# key -> what it holds (for messages and documentation); the order is the order of the checks
KEYS = {
    "encap": "encapsulation classes carrying pod traffic",
    "udp_port": "UDP ports of the tunnel traffic",
    "vni": "VXLAN/Geneve network identifiers and GRE keys",
    "nodes": "number of nodes",
    "node_addresses": "node (underlay) addresses",
    "pod_cidrs": "pod CIDRs per node address",
    "underlay_mtu": "underlay MTU",
    "overlay_mtu": "overlay MTU",
    "max_inner_size": "largest inner IP packet allowed",
    "fail_on": "fail on findings at or above this severity",
    "ignore_findings": "finding ids exempt from fail_on",
    "allow_empty": "pass a capture with no IP packets (by default it fails: a wrong filter proves nothing)",
}


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
    allow_empty: bool | None = None   # None: not set, an empty capture fails

    def is_empty(self) -> bool:
        """True when nothing would be checked (ignore_findings and allow_empty alone check nothing)."""
        return all(getattr(self, key) is None for key in KEYS if key not in ("ignore_findings", "allow_empty"))

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
    return _known(key, value.strip().lower(), ENCAP_CLASSES, "an encapsulation class",
                  f"use one of {', '.join(ENCAP_CLASSES)}")


def _known(key, name: str, known, what: str, listed: str) -> str:
    """name if it is one of known; else an error that suggests the closest (a typo must not pass silently)."""
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ExpectationError(key, f"{name!r} is not {what}{hint}; {listed}")
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
    # an unknown id would exempt nothing, silently
    return _known(key, value.strip(), list(CATALOGUE), "a finding id", "the README's finding catalogue lists them")


def _boolean(key, value):
    if not isinstance(value, bool):
        raise ExpectationError(key, f"{_describe(value)} is not true or false")
    return value


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
_VNI = _integer(0, 2 ** 32 - 1, "a VNI (24 bits) or GRE key (32 bits)")
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
    "allow_empty": _boolean,
}


def as_expectations(value) -> Expectations:
    """Expectations as given: an Expectations, a dict of keys, or the path of an expectations file."""
    if isinstance(value, Expectations):
        return value
    if isinstance(value, dict):
        return parse_expectations(value)
    return load_expectations(os.fspath(value))


__all__ = ["ENCAP_CLASSES", "ExpectationError", "Expectations", "KEYS", "SEVERITIES", "as_expectations",
           "load_expectations", "parse_expectations"]
