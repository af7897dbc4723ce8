"""The MTU model: the underlay MTU (given, or inferred from the largest real outer packet), the overlay MTU
and per-packet overhead of each tunnel class, and the byte budgets the MTU checks hold packets to."""
from __future__ import annotations

import numpy as np

from ..analyzers.mtu import ETHERNET_MTU, flow_text
from ..analyzers.table import Table
from ..catalogue import TUNNEL_CLASSES
from .evidence import flow

TCP_IP_HEADERS = {4: 40, 6: 60}
_HANDSHAKE = ["inner_src", "inner_dst", "sport", "dport"]


def _largest_by_handshake(table: Table, column: str) -> dict:
    """(inner source, destination, source port, destination port) -> the largest value of the column."""
    largest = table.aggregate(_HANDSHAKE, {column: "max"})
    return dict(zip(zip(*(largest[name].tolist() for name in _HANDSHAKE)), largest[column].tolist()))


def mss_budget(underlay_mtu: int, overhead: int, address: str) -> int:
    """The largest TCP MSS a packet from this address can advertise and still fit the underlay."""
    return underlay_mtu - overhead - TCP_IP_HEADERS[6 if ":" in address else 4]


def native_path_mtu(flows: Table, underlay_mtu: int, given: bool) -> int:
    """The MTU of the native (untunnelled, not pod-side) path: the underlay's when given; else the largest of the
    inferred underlay and the evidence of the capture's native handshakes, each the smaller MSS of its two ends
    plus their TCP/IP headers (60 bytes on IPv6): both ends' links carry that much (a jumbo-frame LAN)."""
    if given or flows.empty:
        return underlay_mtu
    native = flows[flows["encap"] == "native"]
    # a handshake is two flow rows (SYN one way, SYN-ACK the other): pair each SYN with its answer
    synack = _largest_by_handshake(native[native["synack_mss"] > 0], "synack_mss")
    agreed = [min(row.syn_mss, answer) + TCP_IP_HEADERS[6 if ":" in row.inner_src else 4]
              for row in native[native["syn_mss"] > 0].itertuples(index=False)
              if (answer := synack.get((row.inner_dst, row.inner_src, row.dport, row.sport), 0)) > 0]
    return max([underlay_mtu, *agreed])


def super_segment_flows(flows: Table) -> list[dict]:
    """TCP flows carrying segments larger than the MSS their receiver advertised: TSO/GSO/GRO merged them,
    so these frames were never on the wire at that size (veth GSO makes 2-3 MSS frames with a real length).
    Flow objects, with the largest segment and the MSS it exceeds."""
    if flows.empty:
        return []
    tcp = flows[(flows["inner_proto"] == 6)]
    tcp["mss"] = np.maximum(tcp["syn_mss"], tcp["synack_mss"])
    advertised = _largest_by_handshake(tcp[tcp["mss"] > 0], "mss")   # a dict: one lookup per flow
    found = []
    for row in tcp[tcp["max_payload"] > 0].itertuples(index=False):
        receiver_mss = advertised.get((row.inner_dst, row.inner_src, row.dport, row.sport))
        if receiver_mss is not None and row.max_payload > receiver_mss:
            found.append(flow(row.inner_src, row.inner_dst, 6, row.sport, row.dport, row.encap,
                              largest_segment=int(row.max_payload), mss=int(receiver_mss)))
    return found


def super_segment_text(item: dict) -> str:
    return (f"{flow_text(6, item['src'], item['sport'], item['dst'], item['dport'])}: {item['largest_segment']}"
            f"-byte segments against an MSS of {item['mss']} ({item['encap']})")


def mtu_model(overhead, mtu, underlay_mtu: int | None, super_flows=()) -> dict:
    """Underlay MTU (given, or inferred from the largest real outer packet) and overlay MTU per class;
    super_flows: super_segment_flows() of the capture."""
    # only aggregates make sizes unreliable: a partially checksummed packet that fits the link is a wire packet
    reliable = mtu.aggregate_frames == 0 and not super_flows
    contradicted = None
    if underlay_mtu:
        basis = "given with --underlay-mtu"
        if reliable and mtu.max_outer_len > underlay_mtu:   # a real wire packet larger than the MTU given
            contradicted = mtu.max_outer_len
            basis += (f", but the capture holds {contradicted}-byte outer IP packets: the underlay carries at least "
                      f"that")
    elif mtu.max_outer_len > ETHERNET_MTU and not reliable:
        underlay_mtu = ETHERNET_MTU
        basis = (f"largest outer IP packet seen is {mtu.max_outer_len} bytes, but offload merged segments in this "
                 f"capture; assuming the Ethernet default 1500")
    elif mtu.max_outer_len > ETHERNET_MTU:
        underlay_mtu, basis = mtu.max_outer_len, f"largest outer IP packet seen ({mtu.max_outer_len} bytes)"
    else:
        underlay_mtu = ETHERNET_MTU
        basis = (f"largest outer IP packet seen is {mtu.max_outer_len} bytes; assuming the Ethernet default 1500"
                 if mtu.max_outer_len else "no IP packets; assuming the Ethernet default 1500")
    overlays = []
    for entry in overhead.classes:
        if entry["type"] not in TUNNEL_CLASSES:
            continue
        per_packet = _class_overhead(entry)
        overlays.append({"type": entry["type"], "udp_port": entry["udp_port"], "overhead": per_packet,
                         "overlay_mtu": underlay_mtu - per_packet})
    model = {"underlay_mtu": underlay_mtu, "underlay_mtu_basis": basis, "sizes_reliable": reliable,
             "overlays": overlays, "super_segment_flows": [super_segment_text(item) for item in super_flows]}
    if contradicted:
        model["largest_outer_ip_seen"] = contradicted
    return model


def _class_overhead(entry: dict) -> int:
    """The overhead most packets of the class carry; Geneve options and GRE keys add to the nominal."""
    nominal = entry["nominal_overhead"] or 0
    common = entry.get("overhead_common")
    return common if common is not None and common >= nominal else nominal
