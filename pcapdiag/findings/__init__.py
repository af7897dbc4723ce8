"""The finding registry: one FindingSpec per finding id — severity, title, what its count counts, the check
that raises it, its fix and its documentation (the README's catalogue table says the same, and a test
holds the two together).

Kept free of heavy imports: pcapdiag.catalogue builds CATALOGUE from it and the CLI reads that at
start-up. The checks live in one module per family (mtu.py, capture.py, tunnel.py, topology.py) and are
named here by function, so this table is the only place a finding is declared; builder.py runs them.
The checks of EXTERNAL_CHECKS need more than one capture's analyzer results (a cluster dump, several
captures): they live in their own packages and raise all the findings whose specs name them; the report
adds what they return (pcapdiag/report/context.py).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FindingSpec:
    id: str            # stable: CI and users key on it, never rename one
    severity: str      # the default; a check lowers it only when its evidence is ambiguous
    title: str         # a few words naming the problem
    counts_what: str   # what the finding's count counts
    check: str         # the function in the family's module that raises it
    doc: str           # when it is raised (the README catalogue's "raised when")
    fix: str = ""   # what to change, a str.format template over the check's numbers; empty: nothing known

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    def fix_text(self, **values) -> str | None:
        return self.fix.format(**values) if self.fix else None


SPECS = (   # each: id, severity, title; counts_what, check; doc (two lines); fix
    FindingSpec("mtu.inner-too-big", "error", "inner packets too big for the overlay",
                "packets", "inner_too_big",
                "inner packets + overhead exceed the underlay MTU (or a known "
                "pod sends, on its own side, packets larger than the overlay MTU)",
                fix="set the pod MTU to {overlay_mtu} (or raise the underlay MTU to {underlay_needed})"),
    FindingSpec("mtu.inner-fragmented", "error", "pod packets fragmented before encapsulation",
                "fragments", "inner_fragmented",
                "inner packets fragmented before encapsulation: the pod MTU is larger than the overlay's "
                "(carries the MSS and retransmission evidence too); info when nothing corroborates a wrong pod MTU",
                fix="set the pod MTU to {overlay_mtu}"),
    FindingSpec("mtu.outer-fragmented", "error", "tunnel packets fragmented on the underlay",
                "fragments", "outer_fragmented",
                "outer VXLAN/Geneve/IPIP packets fragmented (RFC 7348 "
                "forbids it): the overlay MTU equals the underlay's",
                fix="set the overlay (tunnel device) and pod MTU to {overlay_mtu}"),
    FindingSpec("mtu.icmp-too-big", "warning", "ICMP too-big messages",
                "ICMP messages", "icmp_too_big",
                "ICMP 3/4 or ICMPv6 2: sender, next-hop MTU and "
                "the quoted flow (tunnels in the quote unwrapped)",
                fix="make the sending pods' MTU at most {pod_mtu}"),
    FindingSpec("mtu.pmtud-blackhole", "error", "path MTU discovery not taking effect",
                "packets", "pmtud_blackhole",
                "a flow keeps sending packets larger than an ICMP told "
                "it, or retransmits segments larger than the overlay MTU",
                fix="make the pod MTU match the overlay, or clamp the TCP MSS on the nodes"),
    FindingSpec("mtu.path-blackhole", "error", "big packets vanish on the path without ICMP",
                "packets", "path_blackhole",
                "above some size, packets are sent again and again and never answered while smaller ones are "
                "(TCP ACK/SACK, echo replies), or (receiving side) data stops at a hole that is never filled",
                fix="the path between {src} and {dst} drops packets larger than {carried} bytes ({limit}): set "
                    "the pod MTU to at most {pod_mtu}, or fix the MTU of the path"),
    FindingSpec("mtu.mss-too-big", "warning", "TCP MSS larger than the path carries",
                "flows", "mss_too_big",
                "SYN/SYN-ACK MSS + 40 (60 on IPv6) + overhead "
                "> underlay MTU; one-sided clamping named",
                fix="set the pod MTU so the MSS is at most {budget}, or clamp MSS to {budget} on the nodes"),
    FindingSpec("capture.offload", "info", "offload: sizes are not wire sizes",
                "frames and flows", "offload",
                "GSO/GRO/TSO/BIG TCP super-frames or partial checksums: sizes are not wire sizes; "
                "MTU findings become info and `reliable: false`; failing checksums are not reported",
                fix="capture with offloads off (ethtool -K IFACE gso off gro off tso off tx off) for wire sizes"),
    FindingSpec("capture.truncated", "info", "packets cut by the snaplen",
                "packets", "truncated",
                "packets cut by the snaplen before their "
                "headers ended; counted, never fatal",
                fix=""),
    FindingSpec("capture.malformed", "info", "unparsable packets",
                "packets", "malformed",
                "packets whose headers do not parse (bad "
                "lengths or fields); counted, never fatal",
                fix=""),
    FindingSpec("capture.too-deep", "info", "tunnels nested too deep",
                "packets", "too_deep",
                "packets nesting tunnels deeper than "
                "4 levels; unwrapping stops there",
                fix=""),
    FindingSpec("capture.damaged", "warning", "damaged capture file",
                "warnings", "damaged",
                "the file itself is damaged (ends "
                "mid-record, bad record lengths, garbage)",
                fix=""),
    FindingSpec("capture.out-of-order", "info", "timestamps out of order",
                "records", "out_of_order",
                "timestamps go backwards "
                "(merged or `-i any` captures)",
                fix=""),
    FindingSpec("capture.flow-cap", "info", "flow table cap reached",
                "flows", "flow_cap",
                "the flow table cap was hit; the "
                "smallest flows are not listed",
                fix="raise --flow-cap"),
    FindingSpec("capture.address-cap", "info", "address cap reached",
                "node/pod pairings", "address_cap",
                "the node/pod address cap was "
                "hit; node pod lists are incomplete",
                fix=""),
    FindingSpec("tunnel.one-way", "warning", "one-way tunnel traffic",
                "node pairs and flows", "one_way",
                "≥ 10 tunnel packets A→B and none "
                "B→A, or inner SYNs without SYN-ACK",
                fix="check the return route and firewall for the tunnel's UDP port / IP protocol on the far node"),
    FindingSpec("tunnel.nonstandard-port", "info", "tunnel on a non-standard port",
                "packets", "nonstandard_port",
                "VXLAN/Geneve/UDP tunnel found by "
                "plausibility on a port outside the set",
                fix="pass {port_options} to decode it by port"),
    FindingSpec("tunnel.bad-outer-checksum", "warning", "outer UDP checksums fail",
                "packets", "bad_outer_checksum",
                "outer UDP checksums fail (never with offload "
                "present); only trustworthy on the receiving side",
                fix="look for a NIC or middlebox rewriting tunnel packets; compare with a capture on the receiver"),
    FindingSpec("tunnel.nested-loop", "error", "tunnel inside a tunnel between the same nodes",
                "packets", "nested_loop",
                "a tunnel packet carries a tunnel between the same two "
                "addresses (vxlan>vxlan A<>B): the nodes loop tunnel packets back into the tunnel",
                fix="route the peers' underlay addresses out of the underlay interface, not the tunnel device "
                    "(ip route get PEER; the VTEP's FDB/remote entries must name underlay addresses only)"),
    FindingSpec("tunnel.port-mirror", "info", "port mirror, not a tunnel",
                "frames", "port_mirror",
                "ERSPAN (types I-III) frames, unwrapped and analysed as the frames they mirror; "
                "or a one-way tunnel carrying both directions of its conversations (a GRE/TEB mirror)",
                fix=""),
    FindingSpec("tunnel.handshake-incomplete", "error", "encrypted tunnel handshakes go unanswered",
                "handshake messages", "handshake_incomplete",
                "WireGuard initiations or IKE requests get no response: error when a peer never answers (at least 2, "
                "no response and nothing coming back), warning when at least 3 and a quarter of a direction's "
                "initiations go unanswered, or an IKE exchange is never answered while others are",
                fix="let {what} through from {src} to {dst} (firewall, security group, nftables on {dst}); if it "
                    "is open, check {config} on both nodes"),
    FindingSpec("topology.pod-ip-conflict", "error", "pod IP behind two nodes",
                "addresses", "pod_ip_conflict",
                "one inner source address sending "
                "from behind two nodes in the same VNI",
                fix="check the IPAM: two nodes were given overlapping pod CIDRs, or a stale route/FDB entry"),
)
SPECS += (
    FindingSpec("path.packet-loss", "warning", "packets lost on the path at every size",
                "retransmitted or late segments", "packet_loss",
                "a node pair's direction retransmits, or receives late into holes, >= 2% of its TCP data segments "
                "(at least 10), not explained by an MTU fault or a one-way tunnel",
                fix="find the lossy hop between {src} and {dst} (interface errors and drops, a congested or "
                    "faulty link, a policer); this is not an MTU problem"),
    # Kubernetes names held against the capture (pcapdiag/cluster, `--cluster FILE`): raised by cross_check,
    # which words each finding's fix from what it found (so fix is empty here)
    FindingSpec("cluster.pod-on-wrong-node", "error", "pod behind another node than the cluster says",
                "pod addresses", "cross_check",
                "a pod address is seen behind another node than the one the cluster dump places the pod on "
                "(a stale route, or an IPAM bug giving its address out twice)",
                fix=""),
    FindingSpec("cluster.stale-vtep-mac", "error", "VTEP MAC differs from the node's annotation",
                "nodes", "cross_check",
                "a node's VXLAN traffic comes from inner source MACs none of which is its annotated flannel "
                "VtepMAC: its peers' FDB/neighbour entries are stale (node or flannel.1 recreated)",
                fix=""),
    FindingSpec("cluster.backend-mismatch", "error", "encapsulation differs from the CNI's backend",
                "packets", "cross_check",
                "a node's tunnel traffic is of another class (or VNI) than its CNI's configured backend "
                "(flannel backend-type/backend-data, Calico's tunnel addresses)",
                fix=""),
    FindingSpec("cluster.unknown-node", "warning", "tunnel traffic to an address that is no node",
                "packets", "cross_check",
                "tunnel traffic goes to or comes from an underlay address that is no node of the dump (a removed "
                "node still routed to, or a node missing from the dump)",
                fix=""),
    FindingSpec("cluster.pod-outside-cidr", "warning", "pod address outside its node's pod CIDR",
                "pod addresses", "cross_check",
                "a pod address on the wire lies outside its node's pod CIDRs (Cilium's annotation, else "
                "spec.podCIDRs; never for Calico)",
                fix=""),
    FindingSpec("cluster.stale-dump", "warning", "cluster dump from another time than the capture",
                "pods started after the capture (1 when only old)", "cross_check",
                "pods in the dump started after the capture ended (warning when their addresses are in the "
                "capture, else info), or the dump's newest time stamp is over an hour before the capture",
                fix=""),
    FindingSpec("cluster.unknown-address", "info", "address that is no pod, node or service",
                "addresses", "cross_check",
                "an inner address on the wire is no pod, node or service of the dump (multicast, broadcast, "
                "loopback, link-local and unspecified left out)",
                fix=""),
    # several captures of one incident, matched packet by packet (pcapdiag/correlate): raised by
    # correlation_findings, which also words the fixes
    FindingSpec("path.loss-between-captures", "error", "packets lost between two captures",
                "packets", "correlation_findings",
                "packets seen leaving one node's capture never appear in another node's capture (per direction, "
                "with the lost flows and sizes: size-dependent loss named)",
                fix=""),
    FindingSpec("node.dropped-inside", "error", "packets dropped inside a node",
                "packets", "correlation_findings",
                "an `-i any` capture sees packets on the pod side (or arriving on the underlay) that never "
                "leave the node (or never reach the pod): a firewall rule, a route, the VTEP's FDB",
                fix=""),
    FindingSpec("path.rewritten", "warning", "header field rewritten in transit",
                "packets", "correlation_findings",
                "a field of the same packet differs between two nodes' captures: DSCP/ECN, outer addresses, "
                "TCP MSS, outer UDP checksum (TTL decrements are expected and not reported)",
                fix=""),
)
SPEC_BY_ID = {spec.id: spec for spec in SPECS}
FAMILIES = ("mtu", "capture", "tunnel", "topology", "path")
# check -> the module (of its own package) that defines it, for the checks the builder does not run
EXTERNAL_CHECKS = {"cross_check": "pcapdiag.cluster.checks", "correlation_findings": "pcapdiag.correlate.report"}

__all__ = ["EXTERNAL_CHECKS", "FAMILIES", "FindingSpec", "SPECS", "SPEC_BY_ID"]
