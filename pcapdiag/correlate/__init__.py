"""correlate/: several captures of one incident -- where between them did the packets go?

    from pcapdiag.correlate import correlate, correlation_json, correlation_findings, render_text

    result = correlate(["node1-eth0.pcap", "node2-eth0.pcap", "node1-any.pcap"],
                       decoder="fast", vxlan_ports={8472}, window=5.0, nodes=None)
    document = correlation_json(result)          # JSON-ready: vantage_points, paths, journeys, packets
    findings = correlation_findings(result, document)   # finding dicts: id, severity, summary, count, evidence, fix
    text = render_text(result, document)         # the "Between captures" section

What it works out (each module's docstring says exactly how):

* vantage points (vantage.py): for each capture, the node it was taken at (the underlay address its tunnel
  packets are both sent from and sent to; with two nodes only, the end it is at from the cooked direction
  or from timing against the other captures; else pass nodes={path: address}), that node's pods, and for
  `-i any` captures the role of each interface index (underlay, vtep, pod side);
* the same packet across captures (sightings.py, match.py): an identity hashed from the inner packet
  (addresses, IP ID, length, fragment offset, protocol, ports, TCP sequence and flags, ICMP echo), which
  encapsulation, decapsulation and rewriting of the outer addresses leave alone; sightings of one identity
  within `window` seconds of each other are one packet. Captures are read together in time order and
  memory holds about one window of sightings;
* merged counts: each packet counted once, by match.counted_copies (the copy in the capture at the
  packet's sending node, else the first capture given); VantagePoint.counted/distinct;
* paths (paths.py), per pair of captures at different nodes and per direction: sent, received, lost (with
  the lost flows and sizes), duplicated, reordered, one-way delay min/p50/p90/p99/max, what changed in
  transit (outer addresses, TTLs, DSCP/ECN, outer UDP checksum state, TCP MSS), and the clock offset
  between the two captures (NTP-style from both directions, with its uncertainty); two captures at one
  node get the offset between them only;
* journeys (journey.py), per `-i any` capture: how many packets leaving / arriving at the node were seen
  on the pod side, the VTEP and the underlay, and the flows of those that stopped inside the node.

Result types: Correlation (core.py) with vantage_points [VantagePoint], paths [dict], journeys [Journey],
names {address key: text}, distinct_packets, notes. correlation_json turns it into plain JSON types:

* vantage_points: [{capture, path, node, cooked, interfaces: [{ifindex, role, packets_scanned}], pods,
  link_types, records, ip_packets, distinct_packets, counted_packets, first, first_iso, last, last_iso, damage}]
* paths: [{a, b, a_node, b_node, same_node, clock_offset: {seconds (b's clock - a's), uncertainty,
  by_median, method} | null, overlap: {first, first_iso, last, last_iso, seconds} | null,
  directions: [{from, to, from_node, to_node, sent, received, lost, loss_ratio, duplicated, reordered,
  delay: {min, p50, p90, p99, max} (seconds, corrected by the offset) | null, delay_includes_clock_offset,
  lost_by_size: [{sizes, sent, lost}], lost_flows: [{flow: {src, sport, dst, dport, proto}, count, first,
  first_iso, last, last_iso, sizes}], changes: [{field, before, after, count, first, first_iso,
  example_flow}]}]}]
* journeys: [{capture, node, interfaces, vtep_known, leaving: {packets, seen_at: {"pod side", "VTEP",
  "underlay"}}, arriving: {...}, stopped: [{direction, last_stage, count, flows}]}]
* packets: {distinct, window_seconds, counting, notes}

Findings (report.CATALOGUE): path.loss-between-captures (error), node.dropped-inside (error),
path.rewritten (warning; TTL decrements are expected and not reported). A loss or rewrite between two
nodes is reported once, from the first pair of captures that shows it (evidence.also_between lists all).

Bad input: an unreadable capture raises pcapdiag.capture.CaptureError with one line, as open_capture does.
"""
from .core import Correlation, correlate
from .match import DEFAULT_WINDOW, counted_copies
from .report import CATALOGUE, correlation_findings, correlation_json, render_text
from .vantage import VantagePoint

__all__ = ["CATALOGUE", "DEFAULT_WINDOW", "Correlation", "VantagePoint", "correlate", "correlation_findings",
           "correlation_json", "counted_copies", "render_text"]
