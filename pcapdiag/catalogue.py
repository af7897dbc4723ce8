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
    # encrypted: the inner packet's size is hidden, so these are what is added before the padding, which
    # makes the overhead a range (OVERHEAD_PADDING): WireGuard's UDP 8 + 16-byte header + 16-byte tag;
    # ESP's header 8 + IV 8 + trailer 2 + ICV 16 for AES-GCM-128 (Cilium's and flannel's default; the sizes
    # say when it is a block cipher instead, and ESP-in-UDP adds 8: analyzers/overhead.py)
    "wireguard": {4: 60, 6: 80},
    "esp": {4: 54, 6: 74},
    "native": {4: 0, 6: 0},
}
# Padding on top of the nominal overhead, per packet (the inner size is known only within it): WireGuard pads
# the plaintext to 16 bytes, AES-GCM ESP to 4
OVERHEAD_PADDING = {"wireguard": 15, "esp": 3}
ENCRYPTED_CLASSES = frozenset(OVERHEAD_PADDING)
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
