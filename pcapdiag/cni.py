"""Which CNI is behind this traffic? A guess from what the wire shows, with its evidence.

    >>> import pcapdiag
    >>> from pcapdiag.cni import guess_cni
    >>> guess_cni(pcapdiag.analyze("sample_pcaps/vxlan-flannel-8472.pcap").to_dict())["name"]
    'flannel'

The guess works on the report's JSON dict only (encapsulation classes, UDP ports, VNIs, VTEP MACs,
the addresses behind each node, BGP advertisements, flows), so it also runs on saved reports.  Each CNI
leaves a few marks that are its defaults, not laws: flannel's VXLAN is UDP 8472 with VNI 1 and one
VTEP MAC per node; Calico's is UDP 4789 with VNI 4096, its IPIP device tunl0 takes the first address
of a /26 IPAM block, and its BGP announces those /26 blocks; Cilium puts the sender's security
identity into the VNI (many VNIs, 256 and up, are normal) and runs WireGuard on UDP 51871; Weave uses
TCP/UDP 6783 and VXLAN on 6784.  When the marks fit more than one CNI, or none, the answer is
"unknown" with the candidates and what would tell them apart: never a wrong name.

Every report carries the guess (Report.cni, the JSON's "cni", the "CNI:" header line of the text and
HTML reports), and in_cni_terms follows its MTU fixes with where that CNI keeps the MTU (MTU_FIX_WORDS).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

__all__ = ["guess_cni", "in_cni_terms", "MTU_SETTINGS", "MTU_FIX_WORDS", "CONFIDENCE", "ESP_PROTO", "FLOW_PORTS"]

CONFIDENCE = ("none", "low", "medium", "high")   # weakest first

# Where each CNI keeps the MTU it gives pods, so a fix can be phrased in its terms.
MTU_SETTINGS = {
    "flannel": "flannel has no MTU option: it takes the MTU of the interface chosen by --iface (or of the default "
               "route's) and subtracts the backend's overhead (VXLAN 50, WireGuard 80), writing FLANNEL_MTU to "
               "/run/flannel/subnet.env for the CNI plugin; net-conf.json (ConfigMap kube-flannel-cfg) only picks the "
               "backend, port and VNI. Fix the node interface's MTU (or --iface), then restart flannel and the pods; "
               "an \"mtu\" in the delegate of cni-conf.json (same ConfigMap) overrides FLANNEL_MTU for the pods",
    "calico": "Installation spec.calicoNetwork.mtu (operator install) or veth_mtu in the calico-config ConfigMap "
              "(manifest install) for the pods; FelixConfiguration ipipMTU / vxlanMTU / wireguardMTU (wireguardMTUV6) "
              "for the tunnel devices",
    "cilium": "mtu in the cilium-config ConfigMap (Helm value MTU; 0 = detect from the node and subtract the tunnel "
              "and encryption overhead)",
    "antrea": "defaultMTU in antrea-agent.conf (ConfigMap antrea-config); unset, the agent subtracts the tunnel "
              "overhead from the node interface's MTU",
    "ovn-kubernetes": "mtu in the [default] section of ovnkube-config (OpenShift: the Network operator's "
                      "ovnKubernetesConfig.mtu)",
    "weave": "the WEAVE_MTU environment variable of the weave container in the weave-net DaemonSet (default 1376)",
    "kube-router": "--auto-mtu (default true) sets the pod bridge's MTU from the node interface's; with it off, "
                   "set the kube-bridge MTU yourself",
}

# The same, short enough to follow a fix ("set the pod MTU to 1450 (flannel: ...)"): by (CNI, mode) where the
# tunnel device has a setting of its own, else by CNI. in_cni_terms adds them only to a guess of medium or more.
MTU_FIX_WORDS = {
    "flannel": "flannel: pods get FLANNEL_MTU from /run/flannel/subnet.env, the --iface interface's MTU minus the "
               "backend's overhead, unless cni-conf.json's delegate sets \"mtu\"",
    "calico": "Calico: Installation spec.calicoNetwork.mtu, or veth_mtu in the calico-config ConfigMap",
    ("calico", "vxlan"): "Calico: Installation spec.calicoNetwork.mtu, or veth_mtu in the calico-config ConfigMap; "
                         "vxlan.calico: FelixConfiguration vxlanMTU",
    ("calico", "ipip"): "Calico: Installation spec.calicoNetwork.mtu, or veth_mtu in the calico-config ConfigMap; "
                        "tunl0: FelixConfiguration ipipMTU",
    ("calico", "wireguard"): "Calico: Installation spec.calicoNetwork.mtu, or veth_mtu in the calico-config "
                             "ConfigMap; wireguard.cali: FelixConfiguration wireguardMTU",
    "cilium": "Cilium: mtu in the cilium-config ConfigMap (Helm value MTU)",
    "antrea": "Antrea: defaultMTU in antrea-agent.conf (ConfigMap antrea-config)",
    "ovn-kubernetes": "OVN-Kubernetes: mtu in the [default] section of ovnkube-config",
    "weave": "Weave: WEAVE_MTU in the weave-net DaemonSet",
    "kube-router": "kube-router: the kube-bridge MTU (--auto-mtu takes it from the node interface)",
}
MTU_FAMILY = "mtu."   # the findings and problems whose fix sets a pod or tunnel device MTU

# Defaults the guess relies on (each CNI's documentation)
FLANNEL_VXLAN = (8472, 1)
CALICO_VXLAN = (4789, 4096)
CILIUM_TUNNEL_PORTS = {8472: "vxlan", 6081: "geneve"}
CILIUM_FIRST_CLUSTER_IDENTITY = 256   # 1-8 are reserved (host, world, ..., ingress), cluster identities start here
CALICO_BLOCK = 26                     # Calico's default IPv4 IPAM block size, announced as such over BGP
WIREGUARD_PORT_OWNERS = {51871: ("cilium",), 51820: ("calico", "flannel"), 51821: ("calico", "flannel")}
WEAVE_PORTS = {6783: "sleeve", 6784: "fastdp"}
FLANNEL_UDP_PORT = 8285
IKE_PORTS = (500, 4500)
# the only flows the rules read (besides ESP): a report can hand guess_cni these alone
FLOW_PORTS = frozenset(WIREGUARD_PORT_OWNERS) | frozenset(WEAVE_PORTS) | frozenset(IKE_PORTS)
ESP_PROTO = 50


@dataclass
class Guess:
    name: str                      # a key of MTU_SETTINGS, or "unknown"
    mode: str | None
    confidence: str                # one of CONFIDENCE
    evidence: list
    candidates: list = field(default_factory=list)
    needed: str | None = None      # what would decide between the candidates
    marks: str = ""                # the wire's marks in a few words, for the report's header line

    def summary(self) -> str:
        """One line: "flannel vxlan (high) - VXLAN on UDP 8472 with VNI 1 ..." or "unknown ipip - ...; could be
        calico or kube-router"."""
        head = " ".join(part for part in (self.name, self.mode) if part)
        if self.name != "unknown":
            head += f" ({self.confidence})"
        could_be = f"; could be {_either(self.candidates)}" if self.name == "unknown" and self.candidates else ""
        return f"{head} - {self.marks or self.evidence[0]}{could_be}"

    def as_dict(self):
        return {"name": self.name, "mode": self.mode, "confidence": self.confidence, "summary": self.summary(),
                "evidence": self.evidence, "candidates": self.candidates, "needed": self.needed,
                "mtu_setting": MTU_SETTINGS.get(self.name)}


def _either(names):
    return " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))


def _records(report, key):
    value = report.get(key) if isinstance(report, dict) else None
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _ints(values):
    if not isinstance(values, list):
        return []
    return sorted({v for v in values if isinstance(v, int) and not isinstance(v, bool)})


class Wire:
    """What the report shows, reduced to the facts the rules ask about."""

    def __init__(self, report):
        self.tunnels = [e for e in _records(report, "encapsulation")
                        if e.get("type") not in (None, "native", "non-ip") and _ints([e.get("packets")]) > [0]]
        self.nodes = _records(report, "nodes")
        self.flows = _records(report, "flows")

    def tunnel(self, kind, port=None):
        return [e for e in self.tunnels if e.get("type") == kind and (port is None or e.get("udp_port") == port)]

    def udp_between_nodes(self, port):
        """Native UDP flows from port to the same port (how WireGuard, IKE and Weave peers talk)."""
        return [f for f in self.flows if f.get("proto") == "udp" and f.get("sport") == port and f.get("dport") == port]

    def tcp_port(self, port):
        return [f for f in self.flows if f.get("proto") == "tcp" and port in (f.get("sport"), f.get("dport"))]

    def advertised(self):
        return sorted({p for n in self.nodes for p in n.get("bgp_advertised") or [] if isinstance(p, str)})

    def vtep_macs(self):
        return [len(n.get("macs") or []) for n in self.nodes if n.get("macs")]


def _pairs(flows):
    ends = sorted({f"{f.get('src')} > {f.get('dst')}" for f in flows})
    return ", ".join(ends[:3]) + (f" (+{len(ends) - 3} more)" if len(ends) > 3 else "")


def _vni_text(vnis):
    return ", ".join(map(str, vnis[:6])) + (f" ... ({len(vnis)} VNIs)" if len(vnis) > 6 else "")


def _vxlan(wire):
    guesses = []
    for entry in wire.tunnel("vxlan"):
        port, vnis = entry.get("udp_port"), _ints(entry.get("vnis"))
        seen = f"VXLAN on UDP {port} with VNI {_vni_text(vnis)} ({entry.get('packets')} packets)"
        if port == 6784:
            guesses.append(Guess("weave", "fastdp", "high", [seen + ": Weave's fast datapath port"], marks=seen))
        elif port == FLANNEL_VXLAN[0] and vnis == [FLANNEL_VXLAN[1]]:
            macs = wire.vtep_macs()
            one_each = len(macs) >= 2 and all(n == 1 for n in macs)   # one node's single MAC shows nothing yet
            evidence = [seen + ": flannel's VXLAN defaults (flannel.1, VNI 1, kernel port 8472)"]
            evidence.append(f"one VTEP MAC per node ({len(macs)} nodes)" if one_each else
                            "not one VTEP MAC per node, as flannel.1 would give" if any(n > 1 for n in macs) else
                            f"VTEP MACs of {len(macs)} node{'s' * (len(macs) != 1)} only: one per node not shown")
            guesses.append(Guess("flannel", "vxlan", "high" if one_each else "medium", evidence,
                                 marks=f"{seen}, {evidence[1].split(',')[0].split(':')[0]}"))
        elif port == CALICO_VXLAN[0] and vnis == [CALICO_VXLAN[1]]:
            guesses.append(Guess("calico", "vxlan", "high",
                                 [seen + ": Calico's VXLAN defaults (vxlan.calico, VNI 4096)"], marks=seen))
        elif port in CILIUM_TUNNEL_PORTS and _identities(vnis):
            guesses.append(_cilium_tunnel("vxlan", seen, vnis))
        elif port == FLANNEL_VXLAN[0]:
            guesses.append(Guess("unknown", "vxlan", "none", [seen + ": flannel's port with another VNI than its "
                                                              "default 1, or Cilium with a single security identity"],
                                 ["flannel", "cilium"],
                                 "traffic from more pods: Cilium's VNI changes with the sending pod's identity, "
                                 "flannel's (set in net-conf.json) never does", marks=seen))
        else:
            guesses.append(Guess("unknown", "vxlan", "none", [seen + ": none of the CNIs' default port and VNI pairs "
                                                              "(flannel 8472/1, Calico 4789/4096)"],
                                 ["flannel", "calico", "antrea"] if port == 4789 else [],
                                 "the node's VXLAN device: flannel.1 (Port and VNI set in net-conf.json), "
                                 "vxlan.calico (FelixConfiguration vxlanVNI changed), antrea-tun0 (tunnelType vxlan)",
                                 marks=seen))
    return guesses


def _identities(vnis):
    """VNIs that look like Cilium security identities: several, cluster identities among them."""
    return len(vnis) >= 2 and any(v >= CILIUM_FIRST_CLUSTER_IDENTITY for v in vnis)


def _cilium_tunnel(mode, seen, vnis):
    return Guess("cilium", mode, "high" if len(vnis) >= 3 else "medium",
                 [seen + ": several VNIs, 256 and up, as Cilium's (the VNI carries the sending pod's security "
                         "identity, so each pod label set has its own)"], marks=seen + ", security identities")


def _geneve(wire):
    guesses = []
    for entry in wire.tunnel("geneve"):
        vnis = _ints(entry.get("vnis"))
        seen = f"Geneve on UDP {entry.get('udp_port')} with VNI {_vni_text(vnis)} ({entry.get('packets')} packets)"
        if entry.get("udp_port") == 6081 and _identities(vnis):
            guesses.append(_cilium_tunnel("geneve", seen, vnis))
            continue
        options = entry.get("overhead_per_packet"), entry.get("overhead_common"), entry.get("nominal_overhead")
        if all(isinstance(v, (int, float)) for v in options) and max(options[:2]) > options[2]:
            seen += f"; some packets carry options ({max(options[:2]):g} bytes overhead against {options[2]})"
        guesses.append(Guess("unknown", "geneve", "none", [seen], ["ovn-kubernetes", "antrea", "cilium", "kube-ovn"],
                             "the Geneve option classes, which the report does not carry: OVN-Kubernetes (and "
                             "Kube-OVN) put OVN's class 0x0102 on every packet; Cilium's VNI is the sender's "
                             "security identity (several values from 256 up)", marks=seen.split(";")[0]))
    return guesses


def _packets(entries):
    return sum(e.get("packets") or 0 for e in entries)


def _wireguard(wire):
    """WireGuard by its port pair in native UDP flows, or by the decoder's wireguard class (message types and
    sizes checked, on any port): the port names the CNI, the class only confirms it is WireGuard."""
    guesses = []
    for port, names in WIREGUARD_PORT_OWNERS.items():
        classified = wire.tunnel("wireguard", port)
        flows = wire.udp_between_nodes(port)
        if not classified and not flows:
            continue
        if classified:
            seen = marks = f"WireGuard on UDP {port} ({_packets(classified)} packets)"
        else:  # the decoder did not check the payload: the port pair alone says WireGuard
            seen = f"UDP {port} to {port} between {_pairs(flows)}, WireGuard's port pair"
            marks = f"UDP {port} to {port} ({len(flows)} flow{'s' * (len(flows) > 1)}), WireGuard's port pair"
        if len(names) == 1:
            evidence = [seen + f": {names[0]}'s WireGuard port (cilium_wg0)"]
            guesses.append(Guess(names[0], "wireguard", "high" if classified else "medium", evidence, marks=marks))
        else:
            guesses.append(Guess("unknown", "wireguard", "none", [seen + ": the WireGuard port of both Calico "
                                 "(wireguard.cali) and flannel's wireguard backend (flannel-wg)"], list(names),
                                 "the device on a node (wireguard.cali or flannel-wg) or the CNI's pods", marks=marks))
    others = [e for e in wire.tunnel("wireguard") if e.get("udp_port") not in WIREGUARD_PORT_OWNERS]
    for port in sorted({e.get("udp_port") for e in others}, key=str):
        seen = f"WireGuard on UDP {port} ({_packets([e for e in others if e.get('udp_port') == port])} packets)"
        guesses.append(Guess("unknown", "wireguard", "none", [seen + ": not a CNI's default WireGuard port"],
                             ["cilium", "calico", "flannel"],
                             "the WireGuard device on a node (cilium_wg0, wireguard.cali, flannel-wg) and the "
                             "listen port its CNI was configured with", marks=seen))
    return guesses


def _ipsec(wire):
    """ESP (IP protocol 50 flows, or the decoder's esp class, in UDP 4500 too) and IKE: IPsec, whose CNI the
    wire does not tell."""
    esp_flows, classified = [f for f in wire.flows if f.get("proto") == "esp"], wire.tunnel("esp")
    in_udp = [e for e in classified if e.get("udp_port") == IKE_PORTS[1]]
    ike, nat_t = wire.udp_between_nodes(IKE_PORTS[0]), wire.udp_between_nodes(IKE_PORTS[1])
    if not esp_flows and not classified and not ike and not nat_t:
        return []
    evidence, marks = [], []
    if esp_flows or len(in_udp) < len(classified):
        evidence.append(f"ESP (IP protocol 50) between {_pairs(esp_flows) or 'the nodes'}")
        marks.append("ESP (IP protocol 50)")
    if in_udp or nat_t:
        between = f" between {_pairs(nat_t)}" if nat_t else f" ({_packets(in_udp)} ESP packets)"
        evidence.append(f"UDP 4500{between}: NAT traversal, ESP inside UDP beside IKE (RFC 3948)")
        marks.append("ESP in UDP 4500")
    evidence.append(f"IKE on UDP 500 between {_pairs(ike)}" if ike else
                    "no IKE on UDP 500 in the capture (Cilium's IPsec keys come from a Secret, not IKE; others may "
                    "simply not have rekeyed while capturing)")
    marks += ["IKE on UDP 500"] if ike else []
    return [Guess("unknown", "ipsec", "none", evidence, ["cilium", "flannel", "antrea", "ovn-kubernetes"],
                  "the CNI's pods or configuration: ESP looks the same whichever CNI set it up (Cilium's IPsec, "
                  "flannel's ipsec backend, Antrea's and OVN-Kubernetes' IPsec modes)", marks=", ".join(marks))]


def _weave_ports(wire):
    guesses = []
    for port, mode in WEAVE_PORTS.items():
        udp, tcp = wire.udp_between_nodes(port), wire.tcp_port(port)
        if udp or tcp:
            kind = " and ".join(k for k, flows in (("UDP", udp), ("TCP", tcp)) if flows)
            guesses.append(Guess("weave", mode if udp else "control", "high",
                                 [f"{kind} port {port} between {_pairs(udp + tcp)}: Weave Net's port"],
                                 marks=f"{kind} port {port}"))
    return guesses


def _flannel_udp(wire):
    entries = wire.tunnel("udp-tunnel", FLANNEL_UDP_PORT)
    seen = f"IP in UDP on port {FLANNEL_UDP_PORT} ({entries[0].get('packets')} packets)" if entries else ""
    return [Guess("flannel", "udp", "high", [seen + ": flannel's udp backend"], marks=seen)] if entries else []


def _block_base(address):
    """True for an IPv4 address that begins a Calico /26 block (tunl0's address is taken from there)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.version == 4 and int(ip) % (1 << (32 - CALICO_BLOCK)) == 0


def _bgp_note(prefixes):
    lengths = sorted({p.rsplit("/", 1)[-1] for p in prefixes})
    return f"BGP advertises {', '.join(prefixes[:4])}{' ...' if len(prefixes) > 4 else ''} (/{', /'.join(lengths)})"


def _routed(wire):
    """IPIP (Calico's tunl0, kube-router) and plain BGP-routed pod networks."""
    prefixes = wire.advertised()
    calico_blocks = bool(prefixes) and all(p.endswith(f"/{CALICO_BLOCK}") for p in prefixes)
    ipip = wire.tunnel("ipip")
    if not ipip:
        if not prefixes:
            return []
        if calico_blocks:
            return [Guess("calico", "bgp", "medium", [_bgp_note(prefixes) + ": Calico announces its /26 IPAM "
                                                      "blocks", "no encapsulation: pods routed natively"],
                          marks=_bgp_note(prefixes) + ", no encapsulation")]
        return [Guess("unknown", "bgp", "none", [_bgp_note(prefixes), "no encapsulation: pods routed natively"],
                      ["calico", "kube-router", "cilium"],
                      "the announced prefixes: Calico (BGP without encapsulation) announces /26 IPAM blocks, "
                      "kube-router each node's podCIDR, Cilium's BGP control plane the pod CIDRs it was told to; the "
                      "BGP speaker (BIRD, GoBGP) does not show on the wire", marks=_bgp_note(prefixes) + ", no "
                      "encapsulation")]
    seen = f"IPv4-in-IPv4 between nodes ({sum(e.get('packets') or 0 for e in ipip)} packets)"
    tunl0 = [(n.get("ip"), p) for n in wire.nodes for p in n.get("pods") or [] if _block_base(p)]
    node_ips = {n.get("ip") for n in wire.nodes}
    host_sourced = [(n.get("ip"), p) for n in wire.nodes for p in n.get("pods") or [] if p in node_ips]
    if calico_blocks or tunl0:
        evidence = [seen] + ([_bgp_note(prefixes) + ": Calico's /26 IPAM blocks"] if calico_blocks else [])
        evidence += [f"{p} behind {n} begins a /26 block, as Calico's tunl0 address does" for n, p in tunl0[:3]]
        signs = [sign for sign, shown in (("/26 blocks over BGP", calico_blocks),
                                          ("a tunl0-style /26 block address", tunl0)) if shown]
        return [Guess("calico", "ipip", "high" if calico_blocks and tunl0 else "medium", evidence,
                      marks=f"{seen}, {' and '.join(signs)}")]
    if prefixes or host_sourced:
        evidence = [seen] + ([_bgp_note(prefixes)] if prefixes else [])
        evidence += [f"{n} sends its own underlay address {p} into the tunnel, as kube-router's tunnels (which have "
                     "no overlay address) do" for n, p in host_sourced[:3]]
        return [Guess("kube-router", "ipip", "low", evidence, ["kube-router", "calico"],
                      "Calico would announce /26 blocks and source node traffic from tunl0's block address",
                      marks=seen + (", BGP of other than /26 blocks" if prefixes else ", node addresses inside"))]
    return [Guess("unknown", "ipip", "none", [seen, "no BGP session and no tunl0-style address in the capture"],
                  ["calico", "kube-router"],
                  "a longer capture with the nodes' BGP sessions (Calico announces /26 blocks), or traffic from a "
                  "node itself (Calico sources it from tunl0's block address, kube-router from the node address)",
                  marks=seen)]


def _other_tunnels(wire):
    """Tunnels no rule reads (GRE, 6in4, 4in6, 6in6, IP in UDP on another port than flannel's): unknown, with the
    tunnel as the mode, so the report never says there is no tunnel."""
    guesses = []
    for entry in wire.tunnels:
        kind, port = entry.get("type"), entry.get("udp_port")
        if kind in RULED_CLASSES or (kind, port) == ("udp-tunnel", FLANNEL_UDP_PORT):
            continue
        seen = f"{kind}{f' on UDP {port}' if port else ''} ({entry.get('packets')} packets)"
        guesses.append(Guess("unknown", kind, "none", [seen + ": an encapsulation no CNI uses by default"],
                             needed="the CNI's pods or configuration", marks=seen))
    return guesses


RULES = (_wireguard, _vxlan, _geneve, _routed, _weave_ports, _flannel_udp, _ipsec, _other_tunnels)
RULED_CLASSES = ("vxlan", "geneve", "ipip", "wireguard", "esp")   # the tunnel classes the rules above read


def guess_cni(report) -> dict:
    """Name the CNI (and its mode) that most likely made the traffic in a pcapdiag report.

    Parameters
    ----------
    report : dict
        ``pcapdiag.analyze(path).to_dict()`` or the same JSON loaded from ``pcapdiag analyze --format json``.
        Anything else (missing keys, wrong types) gives ``name == "unknown"``, never an exception.

    Returns
    -------
    dict
        ``name`` (flannel, calico, cilium, antrea, ovn-kubernetes, weave, kube-router or "unknown"),
        ``mode`` (vxlan, geneve, ipip, bgp, wireguard, ipsec, udp, fastdp, sleeve ... or None),
        ``confidence`` ("high", "medium", "low"; "none" when unknown), ``summary`` (one line: name, mode,
        confidence and the wire's marks, as the report's header shows it), ``evidence`` (sentences),
        ``candidates`` (CNIs that fit equally), ``needed`` (what would decide between them) and
        ``mtu_setting`` (where that CNI keeps its MTU; None when unknown).
    """
    if hasattr(report, "to_dict"):
        report = report.to_dict()
    guesses = [g for rule in RULES for g in rule(Wire(report if isinstance(report, dict) else {}))]
    named = sorted((g for g in guesses if g.name != "unknown"), key=lambda g: -CONFIDENCE.index(g.confidence))
    if named:
        best = named[0]
        rivals = [g for g in named if g.name != best.name and g.confidence == best.confidence]
        if not rivals:
            best.evidence += [f"also seen: {g.name} {g.mode} ({g.confidence}): {'; '.join(g.evidence)}"
                              for g in named[1:] + [g for g in guesses if g.name == "unknown"]]
            return best.as_dict()
        return Guess("unknown", None, "none", [e for g in [best] + rivals for e in g.evidence],
                     sorted({g.name for g in [best] + rivals}), "one capture shows two CNIs' marks",
                     marks="; ".join(g.marks for g in [best] + rivals)).as_dict()
    if guesses:
        first = guesses[0]
        for other in guesses[1:]:
            first.evidence += other.evidence
            first.candidates += [c for c in other.candidates if c not in first.candidates]
        return first.as_dict()
    return Guess("unknown", None, "none", ["no overlay, WireGuard, IPsec or BGP traffic between nodes in this "
                                           "capture: nothing names a CNI"],
                 marks="no overlay, WireGuard, IPsec or BGP traffic between nodes").as_dict()


def in_cni_terms(items: list, guess: dict | None) -> list:
    """Findings or problems with each MTU fix followed by where the guessed CNI keeps that MTU
    ("set the pod MTU to 1450 (flannel: pods get FLANNEL_MTU ...)"), for a guess of medium confidence or more
    (MTU_FIX_WORDS); the items unchanged otherwise. A fix already in those terms is left as it is (a problem
    can carry its finding's fix)."""
    guess = guess if isinstance(guess, dict) else {}
    words = MTU_FIX_WORDS.get((guess.get("name"), guess.get("mode"))) or MTU_FIX_WORDS.get(guess.get("name"))
    if not words or CONFIDENCE.index(guess.get("confidence", "none")) < CONFIDENCE.index("medium"):
        return items
    return [{**item, "fix": f"{item['fix']} ({words})"}
            if item["id"].startswith(MTU_FAMILY) and item.get("fix") and words not in item["fix"] else item
            for item in items]
