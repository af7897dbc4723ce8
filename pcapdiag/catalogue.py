"""The project's fixed tables, in one place and free of heavy imports (the CLI and the expectation
checker read them without loading pandas)."""
from .findings import SPECS

# Nominal bytes a class adds in front of the inner IP packet, by outer IP version (DESIGN.md's table).
NOMINAL_OVERHEAD = {
    "vxlan": {4: 50, 6: 70},    # 14 inner Ethernet + 8 VXLAN + 8 UDP + 20/40 IP
    "geneve": {4: 50, 6: 70},   # plus options
    "ipip": {4: 20}, "6in4": {4: 20}, "4in6": {6: 40}, "6in6": {6: 40},
    "gre": {4: 24, 6: 44},      # plus key/sequence
    "udp-tunnel": {4: 28, 6: 48},
    "native": {4: 0, 6: 0},
}
TUNNEL_CLASSES = frozenset(NOMINAL_OVERHEAD) - {"native"}
ENCAP_CLASSES = tuple(NOMINAL_OVERHEAD)

SEVERITIES = ("info", "warning", "error")

# Finding id -> severity, from the finding registry (pcapdiag/findings/__init__.py). CI and users key on
# these ids: never rename one.
CATALOGUE = {spec.id: spec.severity for spec in SPECS}

# The JSON contract's version (the report's "contract" key); the README lists what each version changed.
CONTRACT = 2


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)
