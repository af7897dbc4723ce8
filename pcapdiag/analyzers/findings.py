"""The finding catalogue: stable ids and severities in one table, and the judgement that raises them.

Every finding carries id, severity, a one-sentence summary, a count and
evidence. Nothing is raised without evidence, and MTU findings in a capture
whose sizes are not wire sizes (offload super-frames) are downgraded to info
and marked unreliable rather than raised as errors.
"""
from __future__ import annotations

import ipaddress
from functools import cached_property

import pandas as pd

from ..catalogue import CATALOGUE, SEVERITIES, TUNNEL_CLASSES
from .mtu import ETHERNET_MTU, flow_text, quoted_overhead

ONE_WAY_MIN_PACKETS = 10   # fewer packets than this one way is too little to call a tunnel one-way
EXAMPLES = 5
TCP_IP_HEADERS = {4: 40, 6: 60}


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def super_segment_flows(flows: pd.DataFrame) -> list[str]:
    """TCP flows carrying segments larger than the MSS their receiver advertised: TSO/GSO/GRO merged them,
    so these frames were never on the wire at that size (veth GSO makes 2-3 MSS frames with a real length)."""
    if flows.empty:
        return []
    tcp = flows[(flows["inner_proto"] == 6)]
    advertised = tcp.assign(mss=tcp[["syn_mss", "synack_mss"]].max(axis=1))
    advertised = advertised[advertised["mss"] > 0].groupby(
        ["inner_src", "inner_dst", "sport", "dport"])["mss"].max().to_dict()   # a dict: one lookup per flow
    found = []
    for row in tcp[tcp["max_payload"] > 0].itertuples(index=False):
        receiver_mss = advertised.get((row.inner_dst, row.inner_src, row.dport, row.sport))
        if receiver_mss is not None and row.max_payload > receiver_mss:
            found.append(f"{flow_text(6, row.inner_src, row.sport, row.inner_dst, row.dport)}: {int(row.max_payload)}"
                         f"-byte segments against an MSS of {int(receiver_mss)} ({row.encap})")
    return found


def mtu_model(overhead: dict, mtu, underlay_mtu: int | None, super_flows=()) -> dict:
    """Underlay MTU (given, or inferred from the largest real outer packet) and overlay MTU per class."""
    reliable = mtu.offload_frames == 0 and not super_flows
    if underlay_mtu:
        basis = "given with --underlay-mtu"
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
    for entry in overhead["classes"]:
        if entry["type"] not in TUNNEL_CLASSES:
            continue
        per_packet = _class_overhead(entry)
        overlays.append({"type": entry["type"], "udp_port": entry["udp_port"], "overhead": per_packet,
                         "overlay_mtu": underlay_mtu - per_packet})
    return {"underlay_mtu": underlay_mtu, "underlay_mtu_basis": basis,
            "sizes_reliable": reliable, "overlays": overlays, "super_segment_flows": list(super_flows)}


def _class_overhead(entry: dict) -> int:
    """The overhead most packets of the class carry; Geneve options and GRE keys add to the nominal."""
    nominal = entry["nominal_overhead"] or 0
    common = entry.get("overhead_common")
    return common if common is not None and common >= nominal else nominal


class FindingBuilder:
    def __init__(self, model, overhead, topology, flows: pd.DataFrame, mtu, stats, capture_info: dict,
                 limits: dict | None = None):
        self.model, self.overhead, self.topology = model, overhead, topology
        self.limits = limits or {}
        self.flows, self.mtu, self.stats = flows, mtu, stats
        self.capture_damage = capture_info.get("damage", {})
        self.capture_warnings = capture_info.get("warnings", [])
        self.findings: list[dict] = []
        self.overlay_by_class = {}
        for overlay in model["overlays"]:
            self.overlay_by_class.setdefault(overlay["type"], overlay)
        self.node_of_pod = {pod: node["ip"] for node in topology["nodes"] for pod in node["pods"]}
        self.cidrs_of_node = {node["ip"]: node["pod_cidrs"] for node in topology["nodes"]}
        self.underlay = model["underlay_mtu"]

    def add(self, finding_id: str, summary: str, count: int, evidence: dict, fix: str | None = None,
            mtu_finding: bool = False, severity: str | None = None) -> None:
        """severity defaults to the catalogue's; a check lowers it only when the evidence is ambiguous."""
        severity = severity or CATALOGUE[finding_id]
        reliable = True
        if mtu_finding and not self.model["sizes_reliable"]:
            severity, reliable = "info", False
            summary += " (sizes unreliable in this capture: offload super-frames present)"
        self.findings.append({"id": finding_id, "severity": severity, "summary": summary, "count": int(count),
                              "evidence": evidence, "fix": fix, "reliable": reliable})

    def build(self) -> list[dict]:
        for check in (self._inner_too_big, self._inner_fragmented, self._outer_fragmented, self._icmp_too_big,
                      self._pmtud_blackhole, self._mss_too_big, self._offload, self._damage, self._one_way,
                      self._nonstandard_port, self._bad_checksum, self._conflicts, self._caps):
            check()
        self._corroborate()
        self.findings.sort(key=lambda f: (-severity_rank(f["severity"]), f["id"]))
        return self.findings

    # -- helpers ----------------------------------------------------------
    def _overlay_for(self, cls: str, pod: str):
        """The overlay a packet of this class (or a native packet from a known pod) must fit."""
        if cls in self.overlay_by_class:
            return self.overlay_by_class[cls]
        if cls == "native" and pod in self.node_of_pod and self.overlay_by_class:
            return next(iter(self.overlay_by_class.values()))
        return None

    def _pods_text(self, pods) -> str:
        pods = sorted(set(pods))
        cidrs = sorted({c for p in pods for c in self.cidrs_of_node.get(self.node_of_pod.get(p), [])
                        if _contains(c, p)})
        shown = ", ".join(pods[:EXAMPLES]) + (f" and {len(pods) - EXAMPLES} more" if len(pods) > EXAMPLES else "")
        return f"pods on {', '.join(cidrs)} ({shown})" if cidrs else f"pods {shown}"

    # -- the catalogue ------------------------------------------------------
    def _inner_too_big(self):
        table = self.mtu.large_inner
        if table is None:
            return
        hits = []
        for row in table.itertuples(index=False):
            overlay = self._overlay_for(row.outer_class, row.inner_src)
            if not overlay:
                continue
            # a tunnel packet carries its own overhead (Geneve options differ per packet); a pod's own
            # native packet must fit the overlay MTU of its node's tunnel
            own_overhead = row.packet_overhead if row.outer_class in TUNNEL_CLASSES else overlay["overhead"]
            if row.inner_len + own_overhead > self.underlay:
                hits.append((row, overlay))
        if not hits:
            return
        overlay = hits[0][1]
        count = sum(int(r.count) for r, _ in hits)
        largest = max(int(r.inner_len) for r, _ in hits)
        pods = [r.inner_src for r, _ in hits]
        self.add("mtu.inner-too-big",
                 f"{self._pods_text(pods)} send {largest}-byte packets into a {overlay['overlay_mtu']}-byte "
                 f"{overlay['type'].upper()} overlay ({self.underlay} underlay - {overlay['overhead']} overhead)",
                 count,
                 {"first": min(r.first for r, _ in hits), "last": max(r.last for r, _ in hits),
                  "largest_inner": largest, "overlay_mtu": overlay["overlay_mtu"], "underlay_mtu": self.underlay,
                  "overhead": overlay["overhead"],
                  "flows": [f"{r.inner_src} > {r.inner_dst} ({int(r.count)} x {int(r.inner_len)} bytes, {r.outer_class})"
                            for r, _ in sorted(hits, key=lambda h: -h[0].count)[:EXAMPLES]]},
                 fix=f"set the pod MTU to {overlay['overlay_mtu']} (or raise the underlay MTU to "
                     f"{largest + overlay['overhead']})", mtu_finding=True)

    def _inner_fragmented(self):
        table = self.mtu.inner_fragments
        if table is None:
            return
        overlay = self._overlay_for(table["outer_class"].iloc[0], "")
        pods = set(table["inner_src"])
        largest = int(table["max_len"].max())
        mtu_text = f"the {overlay['overlay_mtu']}-byte overlay MTU" if overlay else "the overlay MTU"
        # A pod with the right MTU also fragments its own large datagrams (DNS over UDP, NFS...), and the
        # fragments look the same on the underlay. Blame the pod MTU only with corroboration: fragments cut
        # twice, SYNs from these pods advertising an MSS the overlay cannot carry, or ICMP too-big sent to them.
        corroboration = []
        if int(table["refragmented"].sum()):
            corroboration.append("datagrams fragmented twice (by the pod at its MTU, again at the overlay)")
        if pods & self._mss_too_big_pods():
            corroboration.append("their SYNs advertise an MSS larger than the overlay carries")
        if pods & {event["to"] for event in self.mtu.icmp_events}:
            corroboration.append("they were sent ICMP too-big")
        evidence = {"first": float(table["first"].min()), "last": float(table["last"].max()),
                    "largest_fragment": largest, "corroboration": corroboration,
                    "flows": [f"{r.inner_src} > {r.inner_dst} ({int(r.count)} fragments, {r.outer_class} via "
                              f"{r.outer_src})" for r in table.sort_values("count", ascending=False)
                              .head(EXAMPLES).itertuples()]}
        fix = f"set the pod MTU to {overlay['overlay_mtu']}" if overlay else "lower the pod MTU"
        if corroboration:
            self.add("mtu.inner-fragmented",
                     f"{self._pods_text(pods)} send packets larger than {mtu_text} without DF: they are fragmented "
                     f"before encapsulation, so the pod MTU is larger than the overlay's",
                     int(table["count"].sum()), evidence, fix=fix, mtu_finding=True)
        else:
            self.add("mtu.inner-fragmented",
                     f"{self._pods_text(pods)} send IP fragments through the tunnel; an application sending "
                     f"datagrams larger than {mtu_text} does this too, and nothing else suggests a wrong pod MTU",
                     int(table["count"].sum()), evidence, fix=f"if these pods' MTU is above the overlay's: {fix}",
                     mtu_finding=True, severity="info")

    def _mss_too_big_pods(self) -> set:
        return {hit[0].inner_src for hit in self._mss_hits}

    def _outer_fragmented(self):
        table = self.mtu.outer_fragments
        if table is None:
            return
        cls = table["outer_class"].iloc[0]
        overlay = self._overlay_for(cls, "")
        largest_inner = int(table["inner_len"].max())
        explanation = ""
        if overlay and largest_inner > overlay["overlay_mtu"]:
            explanation = (f": inner packets of up to {largest_inner} bytes plus {overlay['overhead']} bytes of "
                           f"{cls.upper()} exceed the {self.underlay}-byte underlay - the overlay MTU equals the "
                           f"underlay's instead of {overlay['overlay_mtu']}")
        self.add("mtu.outer-fragmented",
                 f"the nodes fragment outer {cls.upper()} packets (RFC 7348 4.3 forbids VTEP fragmentation)"
                 + explanation,
                 int(table["count"].sum()),
                 {"first": float(table["first"].min()), "last": float(table["last"].max()),
                  "largest_inner": largest_inner, "underlay_mtu": self.underlay,
                  "node_pairs": [f"{r.outer_src} > {r.outer_dst} ({int(r.count)} fragments)" for r in
                                 table.head(EXAMPLES).itertuples()],
                  "flows": sorted({e for e in table["example"] if e})[:EXAMPLES]},
                 fix=f"set the overlay (tunnel device) and pod MTU to {overlay['overlay_mtu']}" if overlay else None,
                 mtu_finding=True)

    def _icmp_too_big(self):
        events = self.mtu.icmp_events
        if not events:
            return
        mtus = sorted({e["mtu"] for e in events})
        pod_budgets = sorted({e["mtu"] - quoted_overhead(e["quoted_encap"]) for e in events})
        first = events[0]
        self.add("mtu.icmp-too-big",
                 f"{first['from']} told {first['to']} to use a next-hop MTU of {first['mtu']}"
                 + (f" for {first['quoted']}" if first["quoted"] else "")
                 + (f" (quoted packet inside {first['quoted_encap']})" if first["quoted_encap"] not in (None, "native")
                    else ""),
                 self.mtu.icmp_total,
                 {"first": events[0]["ts"], "last": events[-1]["ts"], "next_hop_mtus": mtus,
                  "messages": [{k: e[k] for k in ("ts", "icmp", "from", "to", "mtu", "quoted", "quoted_encap",
                                                  "quoted_len")} for e in events[:EXAMPLES]]},
                 fix=f"make the sending pods' MTU at most {min(pod_budgets)}")

    def _pmtud_blackhole(self):
        evidence, count, flow_names = [], 0, set()
        table = self.mtu.after_icmp
        if table is not None:
            for row in table.itertuples(index=False):
                count += int(row.count)
                name = flow_text(row.inner_proto, row.inner_src, row.sport, row.inner_dst, row.dport)
                flow_names.add(name)
                evidence.append(f"{name} sent {int(row.count)} packets of up to {int(row.max_len)} bytes after being told "
                                f"MTU {int(row.told_mtu)}")
        flows = self.flows
        if not flows.empty:
            for row in flows[flows["retransmits"] >= 2].itertuples(index=False):
                overlay = self._overlay_for(row.encap.split(">")[0], row.inner_src)
                if overlay and row.max_retransmit_len > overlay["overlay_mtu"]:
                    count += int(row.retransmits)
                    name = flow_text(row.inner_proto, row.inner_src, row.sport, row.inner_dst, row.dport)
                    flow_names.add(name)
                    evidence.append(f"{name} retransmitted {int(row.retransmits)} segments of up to "
                                    f"{int(row.max_retransmit_len)} bytes (overlay MTU {overlay['overlay_mtu']})")
        if not evidence:
            return
        self.add("mtu.pmtud-blackhole",
                 f"{len(flow_names)} flow(s) keep sending or retransmitting segments larger than the path allows: "
                 f"path MTU discovery is not taking effect", count, {"flows": evidence[:EXAMPLES]},
                 fix="make the pod MTU match the overlay, or clamp the TCP MSS on the nodes", mtu_finding=True)

    def _mss_too_big(self):
        hits = self._mss_hits
        if not hits:
            return
        row, mss, budget, kind = hits[0]
        clamped = self._one_sided(hits)
        self.add("mtu.mss-too-big",
                 f"{self._pods_text([h[0].inner_src for h in hits])} advertise TCP MSS {mss} in {kind}s against a "
                 f"{budget}-byte budget ({self.underlay} underlay - overhead - TCP/IP headers)" + clamped,
                 len(hits),
                 {"budget": budget, "underlay_mtu": self.underlay,
                  "flows": [f"{flow_text(6, h[0].inner_src, h[0].sport, h[0].inner_dst, h[0].dport)} {h[3]} MSS {h[1]}"
                            for h in hits[:EXAMPLES]]},
                 fix=f"set the pod MTU so the MSS is at most {budget}, or clamp MSS to {budget} on the nodes",
                 mtu_finding=True)

    @cached_property
    def _mss_hits(self) -> list:
        """(flow, advertised MSS, budget, SYN or SYN-ACK) for handshakes whose MSS the path cannot carry
        (two checks ask; worked out once)."""
        flows = self.flows
        if flows.empty:
            return []
        hits = []
        for row in flows[(flows["syn_mss"] > 0) | (flows["synack_mss"] > 0)].itertuples(index=False):
            overlay = self._overlay_for(row.encap.split(">")[0], row.inner_src)
            overhead = overlay["overhead"] if overlay else 0
            version = 6 if ":" in row.inner_src else 4
            budget = self.underlay - overhead - TCP_IP_HEADERS[version]
            mss = max(row.syn_mss, row.synack_mss)
            if mss > budget:
                hits.append((row, mss, budget, "SYN" if row.syn_mss > 0 else "SYN-ACK"))
        return hits

    def _one_sided(self, hits) -> str:
        """One-sided clamping: one direction of a handshake fits, the other does not."""
        flows = self.flows.set_index(["inner_src", "inner_dst", "sport", "dport"])
        for row, _, budget, kind in hits:
            reverse = (row.inner_dst, row.inner_src, row.dport, row.sport)
            if reverse in flows.index:
                other = flows.loc[[reverse]]
                other_mss = int(max(other["syn_mss"].max(), other["synack_mss"].max()))
                if 0 < other_mss <= budget:
                    return (f"; in {row.inner_src} <> {row.inner_dst} the other side advertises {other_mss}, which "
                            f"fits: only one side's MTU or MSS clamping is right")
        return ""

    def _corroborate(self):
        """Tie the other symptoms of a too-large pod MTU to the error that names the pods.

        On the underlay, a pod whose MTU exceeds the overlay's shows three things at once: its
        unfragmentable full-size segments die at the tunnel device (so they are retransmitted, smaller,
        once PMTUD reacts), its SYNs advertise an MSS the path cannot carry, and its DF-clear packets
        are fragmented before encapsulation. One error should carry all three.
        """
        errors = [f for f in self.findings if f["id"] in ("mtu.inner-fragmented", "mtu.inner-too-big")
                  and f["severity"] == "error"]
        mss = next((f for f in self.findings if f["id"] == "mtu.mss-too-big"), None)
        if not errors or self.flows.empty:
            return
        flows = self.flows
        retransmitted = flows[(flows["retransmits"] > 0) & (flows["max_retransmit_len"] >= flows["max_ip_len"])
                              & (flows["max_ip_len"] > 0)]
        full_size = [f"{flow_text(r.inner_proto, r.inner_src, r.sport, r.inner_dst, r.dport)}: {int(r.retransmits)} "
                     f"full-size ({int(r.max_retransmit_len)}-byte) segments retransmitted"
                     for r in retransmitted.itertuples(index=False)]
        for finding in errors:
            also = []
            if mss:
                also.append(mss["summary"].split(" advertise ", 1)[-1].split(";")[0])
                finding["evidence"]["mss"] = mss["evidence"]["flows"]
            if full_size:
                also.append(f"{int(retransmitted['retransmits'].sum())} full-size segments retransmitted")
                finding["evidence"]["retransmissions"] = full_size[:EXAMPLES]
            if also:
                finding["summary"] += " (also: " + "; ".join(also) + ")"

    def _offload(self):
        super_flows = self.model["super_segment_flows"]
        if not self.mtu.offload_frames and not super_flows:
            return
        artefacts = self.stats.counts["bad_outer_checksum"] if self.mtu.offload_frames else 0
        what = []
        if self.mtu.offload_frames:
            what.append(f"{self.mtu.offload_frames} GSO/GRO/TSO super-frames or partially checksummed packets")
        if super_flows:
            what.append(f"{len(super_flows)} TCP flow(s) with segments larger than the negotiated MSS")
        self.add("capture.offload",
                 f"{' and '.join(what)}: sizes in "
                 f"this capture are not wire sizes, so MTU findings are marked unreliable"
                 + (f"; {artefacts} outer checksums fail as an offload artefact, not a fault" if artefacts else ""),
                 self.mtu.offload_frames + len(super_flows),
                 {"largest_outer_ip": self.mtu.max_outer_len_any, "examples": self.stats.examples.get("offload", []),
                  "failed_checksums_ignored": artefacts, "flows": super_flows[:EXAMPLES]},
                 fix="capture with offloads off (ethtool -K IFACE gso off gro off tso off tx off) for wire sizes")

    def _damage(self):
        counts, examples = self.stats.counts, self.stats.examples
        for finding_id, key, text in (
                ("capture.truncated", "truncated", "packets were cut by the snaplen before their headers ended; "
                                                   "they are counted but not fully decoded"),
                ("capture.malformed", "malformed", "packets have headers that do not parse (bad lengths or fields); "
                                                   "they are counted, not decoded"),
                ("capture.too-deep", "too_deep", "packets nest tunnels deeper than 4 levels; unwrapping stopped there")):
            if counts[key]:
                self.add(finding_id, f"{counts[key]} {text}", counts[key], {"examples": examples.get(key, [])})
        damaged = any(v for k, v in self.capture_damage.items() if k != "ts_backwards")
        if damaged:
            self.add("capture.damaged", "the capture file is damaged: " + "; ".join(self.capture_warnings),
                     len(self.capture_warnings), {"warnings": self.capture_warnings,
                                                  "counters": {k: v for k, v in self.capture_damage.items() if v}})
        elif self.capture_damage.get("ts_backwards"):
            # `-i any` and merged captures interleave interfaces: out of order is expected there, not damage
            self.add("capture.out-of-order", "; ".join(self.capture_warnings), self.capture_damage["ts_backwards"],
                     {"warnings": self.capture_warnings})

    def _one_way(self):
        pairs = {(p["type"], p["src"], p["dst"]): p["packets"] for p in self.overhead["node_pairs"]}
        lonely = [(k, n) for k, n in pairs.items() if n >= ONE_WAY_MIN_PACKETS and (k[0], k[2], k[1]) not in pairs]
        unanswered = []
        flows = self.flows
        if not flows.empty:
            tunnelled = flows[flows["encap"] != "native"]
            # anything coming back answers a SYN: a SYN-ACK, or an RST refusing the connection
            rows = list(zip(*(tunnelled[name].tolist() for name in ("inner_src", "inner_dst", "sport", "dport",
                                                                     "packets", "syn"))))
            answered = {(dst, src, dport, sport) for src, dst, sport, dport, packets, _ in rows if packets > 0}
            unanswered = [f"{src}:{sport} > {dst}:{dport}" for src, dst, sport, dport, _, syn in rows
                          if syn > 0 and (src, dst, sport, dport) not in answered]
        if not lonely and len(unanswered) < 1:
            return
        parts = [f"{cls} {src} > {dst} carries {n} packets with none coming back" for (cls, src, dst), n in lonely]
        if unanswered:
            parts.append(f"{len(unanswered)} inner TCP SYN(s) with nothing coming back")
        self.add("tunnel.one-way", "; ".join(parts[:3]), len(lonely) + len(unanswered),
                 {"node_pairs": [f"{src} > {dst} ({cls}, {n} packets)" for (cls, src, dst), n in lonely],
                  "unanswered_syns": unanswered[:EXAMPLES],
                  "note": "a capture taken on one side of an asymmetric path also looks like this"},
                 fix="check the return route and firewall for the tunnel's UDP port / IP protocol on the far node")

    def _nonstandard_port(self):
        # bare IP / GUE in UDP has no port of its own: plausibility is how it is always recognised
        ports = {key: n for key, n in self.stats.plausibility_ports.items() if key[0] != "udp-tunnel"}
        if not ports:
            return
        text = ", ".join(f"{cls.upper()} on UDP {port} ({n} packets)" for (cls, port), n in sorted(ports.items()))
        vxlan_ports = sorted({port for cls, port in ports if cls == "vxlan"})
        fix = (f"pass --vxlan-port {' --vxlan-port '.join(map(str, vxlan_ports))} to decode it by port"
               if vxlan_ports else "nothing to do: it is decoded by plausibility (there is no port option for it)")
        self.add("tunnel.nonstandard-port", f"recognised by header plausibility, not by port: {text}",
                 sum(ports.values()), {"ports": [{"type": c, "udp_port": p, "packets": n}
                                                 for (c, p), n in sorted(ports.items())]}, fix=fix)

    def _bad_checksum(self):
        bad = self.stats.counts["bad_outer_checksum"]
        if not bad or self.mtu.offload_frames:
            return  # with offload, failing checksums are the sender's unfinished sums, not damage
        self.add("tunnel.bad-outer-checksum",
                 f"{bad} of {self.stats.counts['checked_outer_checksum']} outer UDP checksums fail; only trustworthy "
                 f"in a capture taken on the receiving side (a sender-side capture sees unfinished sums)",
                 bad, {"examples": self.stats.examples.get("bad_outer_checksum", [])},
                 fix="look for a NIC or middlebox rewriting tunnel packets; compare with a capture on the receiver")

    def _caps(self):
        """The memory bounds were reached: say what the report leaves out."""
        limits = self.limits
        if limits.get("evicted_flows"):
            self.add("capture.flow-cap",
                     f"the flow table cap ({limits['flow_cap']}) was hit: {limits['evicted_flows']} smallest flows "
                     f"({limits['evicted_packets']} packets) are not listed", limits["evicted_flows"],
                     {"cap": limits["flow_cap"], "evicted_packets": limits["evicted_packets"]}, fix="raise --flow-cap")
        if limits.get("addresses_dropped"):
            self.add("capture.address-cap",
                     f"the address cap ({limits['address_cap']} node/pod pairings) was hit: "
                     f"{limits['addresses_dropped']} more were seen, so node pod lists are incomplete",
                     limits["addresses_dropped"], {"cap": limits["address_cap"]})

    def _conflicts(self):
        conflicts = self.topology["conflicts"]
        if not conflicts:
            return
        first = conflicts[0]
        self.add("topology.pod-ip-conflict",
                 f"pod IP {first['pod']} appears behind {len(first['nodes'])} nodes ({', '.join(first['nodes'])})"
                 + (f" and {len(conflicts) - 1} more addresses do too" if len(conflicts) > 1 else ""),
                 len(conflicts), {"conflicts": conflicts[:EXAMPLES]},
                 fix="check the IPAM: two nodes were given overlapping pod CIDRs, or a stale route/FDB entry")


def _contains(cidr: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
