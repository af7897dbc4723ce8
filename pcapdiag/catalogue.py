"""The project's fixed tables, in one place and free of heavy imports (the CLI and the expectation
checker read them without loading pandas)."""

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

# Finding id -> severity. CI and users key on these ids: never rename one.
CATALOGUE = {
    "mtu.inner-too-big": "error",
    "mtu.inner-fragmented": "error",
    "mtu.outer-fragmented": "error",
    "mtu.icmp-too-big": "warning",
    "mtu.pmtud-blackhole": "error",
    "mtu.mss-too-big": "warning",
    "capture.offload": "info",
    "capture.truncated": "info",
    "capture.malformed": "info",
    "capture.too-deep": "info",
    "capture.damaged": "warning",
    "capture.out-of-order": "info",
    "capture.flow-cap": "info",
    "capture.address-cap": "info",
    "tunnel.one-way": "warning",
    "tunnel.nonstandard-port": "info",
    "tunnel.bad-outer-checksum": "warning",
    "topology.pod-ip-conflict": "error",
}
