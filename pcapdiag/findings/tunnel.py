"""The tunnel.* checks: traffic that goes one way, tunnels on unexpected ports, failing outer checksums,
tunnels looped into themselves, port mirrors (which are not broken tunnels), and encrypted tunnels whose
handshakes go unanswered."""
from __future__ import annotations

from .evidence import EXAMPLES, node_pair, packet, packet_text, span, table_flow, with_text

ONE_WAY_MIN_PACKETS = 10   # fewer packets than this one way is too little to call a tunnel one-way


def mirror_pairs(b) -> dict:
    """One-way tunnel node pairs that carry both directions of their conversations: a port mirror (GRE
    transparent Ethernet bridging, say), not a tunnel whose return path is broken. (class, src, dst) ->
    (packets, conversations seen both ways)."""
    pairs = {(p["type"], p["src"], p["dst"]): p["packets"] for p in b.overhead.node_pairs}
    lonely = {k: n for k, n in pairs.items() if (k[0], k[2], k[1]) not in pairs}
    flows = b.flows
    if not lonely or flows.empty:
        return {}
    found = {}
    tunnelled = flows[flows["encap"] != "native"]
    for (src, dst), group in tunnelled.groups(["outer_src", "outer_dst"]):
        inside = set(zip(group["inner_src"], group["inner_dst"]))
        both_ways = len({frozenset(pair) for pair in inside if pair[::-1] in inside and pair[0] != pair[1]})
        for key in (k for k in lonely if k[1:] == (src, dst)):
            if both_ways:
                found[key] = (lonely[key], both_ways)
    return found


def one_way(b):
    pairs = {(p["type"], p["src"], p["dst"]): p["packets"] for p in b.overhead.node_pairs}
    mirrors = mirror_pairs(b)
    lonely = [(k, n) for k, n in pairs.items() if n >= ONE_WAY_MIN_PACKETS and (k[0], k[2], k[1]) not in pairs
              and k not in mirrors]
    unanswered, unanswered_flows = [], []
    flows = b.flows
    if not flows.empty:
        tunnelled = flows[flows["encap"] != "native"]
        if mirrors:    # a mirror's SYNs are answered, if at all, inside it
            mirrored = {key[1:] for key in mirrors}
            tunnelled = tunnelled[[pair not in mirrored for pair in zip(tunnelled["outer_src"],
                                                                         tunnelled["outer_dst"])]]
        # anything coming back answers a SYN: a SYN-ACK, or an RST refusing the connection
        rows = list(zip(*(tunnelled[name].tolist() for name in ("inner_src", "inner_dst", "sport", "dport",
                                                                 "packets", "syn"))))
        answered = {(dst, src, dport, sport) for src, dst, sport, dport, packets, _ in rows if packets > 0}
        unanswered = [at for at, (src, dst, sport, dport, _, syn) in enumerate(rows)
                      if syn > 0 and (src, dst, sport, dport) not in answered]
        unanswered_flows = [table_flow(row) for row in tunnelled[unanswered[:EXAMPLES]].itertuples(index=False)]
    if not lonely and not unanswered:
        return
    parts = [f"{cls} {src} > {dst} carries {n} packets with none coming back" for (cls, src, dst), n in lonely]
    if unanswered:
        parts.append(f"{len(unanswered)} inner TCP SYN(s) with nothing coming back")
    node_pairs = [node_pair(cls, src, dst, packets=n) for (cls, src, dst), n in lonely]
    b.add("tunnel.one-way", "; ".join(parts[:3]), len(lonely) + len(unanswered),
          with_text({"node_pairs": node_pairs, "unanswered_syns": unanswered_flows,
                     "unanswered_syn_flows": len(unanswered),
                     "note": "a capture taken on one side of an asymmetric path also looks like this"},
                    ("node_pair", [f"{p['src']} > {p['dst']} ({p['type']}, {p['packets']} packets)"
                                   for p in node_pairs])),
          fix=b.fix("tunnel.one-way"))


def nonstandard_port(b):
    # bare IP / GUE in UDP has no port of its own: plausibility is how it is always recognised
    ports = {key: n for key, n in b.stats.plausibility_ports.items() if key[0] != "udp-tunnel"}
    if not ports:
        return
    text = ", ".join(f"{cls.upper()} on UDP {port} ({n} packets)" for (cls, port), n in sorted(ports.items()))
    vxlan_ports = sorted({port for cls, port in ports if cls == "vxlan"})
    fix = (b.fix("tunnel.nonstandard-port", port_options=" ".join(f"--vxlan-port {port}" for port in vxlan_ports))
           if vxlan_ports else "nothing to do: it is decoded by plausibility (there is no port option for it)")
    b.add("tunnel.nonstandard-port", f"recognised by header plausibility, not by port: {text}",
          sum(ports.values()), with_text({"ports": [{"type": c, "udp_port": p, "packets": n}
                                                    for (c, p), n in sorted(ports.items())]}), fix=fix)


def bad_outer_checksum(b):
    counts = b.stats.counts
    bad = counts["bad_outer_checksum"]
    if not bad or b.mtu.offload_frames:
        return  # with offload, failing checksums are the sender's unfinished sums, not damage
    examples = [packet(e) for e in b.stats.examples.get("bad_outer_checksum", [])]
    b.add("tunnel.bad-outer-checksum",
          f"{bad} of {counts['checked_outer_checksum']} outer UDP checksums fail; only trustworthy "
          f"in a capture taken on the receiving side (a sender-side capture sees unfinished sums)",
          bad, with_text({"checked": counts["checked_outer_checksum"], "examples": examples},
                         ("example", [packet_text(item) for item in examples])),
          fix=b.fix("tunnel.bad-outer-checksum"))


def nested_loop(b):
    count = b.stats.counts["nested_loop"]
    if not count:
        return
    examples = [packet(e) for e in b.stats.examples.get("nested_loop", [])]
    loops = sorted({chain for chain in b.overhead.chains if ">" in chain})
    b.add("tunnel.nested-loop",
          f"{count} tunnel packets carry a tunnel between the same two nodes inside them"
          + (f" ({', '.join(loops)})" if loops else "") + ": the nodes send their tunnel packets back into the "
          "tunnel (a VTEP misconfiguration or a routing loop); the inner addresses of the outer level are these "
          "nodes, not pods",
          count, with_text({"chains": loops, "examples": examples},
                           ("example", [packet_text(item) for item in examples])),
          fix=b.fix("tunnel.nested-loop"))


def port_mirror(b):
    erspan = b.stats.mirrors
    pairs = mirror_pairs(b)
    if not erspan and not pairs:
        return
    parts = [f"{mirror.replace('erspan-', 'ERSPAN type ')}: {frames} frames, unwrapped and analysed as the "
             f"frames they mirror" for mirror, frames in sorted(erspan.items())]
    parts += [f"{cls.upper()} {src} > {dst} carries both directions of {conversations} conversation(s) one way "
              f"({packets} packets): a port mirror, not a broken tunnel" for (cls, src, dst), (packets, conversations)
              in sorted(pairs.items())]
    mirrors = [{"mirror": mirror, "frames": frames} for mirror, frames in sorted(erspan.items())] + \
        [node_pair(cls, src, dst, packets=packets, conversations_both_ways=conversations)
         for (cls, src, dst), (packets, conversations) in sorted(pairs.items())]
    b.add("tunnel.port-mirror", "; ".join(parts[:3]),
          sum(erspan.values()) + sum(packets for packets, _ in pairs.values()),
          with_text({"mirrors": mirrors}, ("mirror", parts)))


# A peer that never answers: at least this many initiations (a retry, not one sent as the capture ended).
NEVER_ANSWERED_MIN = 2
# Some handshakes complete but many fail (a flapping path, a rekey the peer refuses): at least this many
# unanswered, and at least this share of the direction's initiations.
FAILING_MIN, FAILING_SHARE = 3, 0.25
_TUNNEL_NAMES = {"wireguard": "WireGuard", "ipsec": "IKE"}


def handshake_incomplete(b):
    """Encrypted tunnels whose handshakes go unanswered (analyzers/sessions.py's pairs): the first thing
    that breaks when a firewall drops the tunnel's port, or when a peer's key or endpoint is wrong."""
    failing = [entry for pair in (b.sessions.pairs if b.sessions else ()) for entry in _unanswered(pair)]
    if not failing:
        return
    failing.sort(key=lambda e: (e["severity"] != "error", e["src"], e["dst"]))
    parts = [f"{_TUNNEL_NAMES[e['tunnel']]} {e['src']} > {e['dst']}"
             + (f" ({e['exchange']})" if e.get("exchange") else "")
             + f": {e['unanswered']} of {e['sent']} {'initiations' if e['tunnel'] == 'wireguard' else 'requests'} "
             f"unanswered over {e['last'] - e['first']:.1f} s"
             + (", and nothing comes back" if e["severity"] == "error" else "") for e in failing]
    first = failing[0]
    wireguard = first["tunnel"] == "wireguard"
    what = (f"UDP {first['port']}" if first.get("port") else "the WireGuard port") if wireguard else \
        "UDP 500 and 4500 and IP protocol 50 (ESP)"
    config = ("the peer's public key, allowed IPs and endpoint (wg show)" if wireguard
              else "the IKE proposals, identities and PSK or certificates")
    b.add("tunnel.handshake-incomplete",
          "; ".join(parts[:3]) + ": the tunnel's handshake port is blocked (firewall, security group) or the peer "
          "does not accept the sender (key, endpoint or identity wrong)",
          sum(e["unanswered"] for e in failing),
          with_text({"pairs": failing},
                    ("unanswered", [f"{e['src']} > {e['dst']} frames "
                                    + ", ".join(str(f) for f in e["frames"]) for e in failing if e["frames"]])),
          fix=b.fix("tunnel.handshake-incomplete", what=what, src=first["src"], dst=first["dst"], config=config),
          severity="error" if first["severity"] == "error" else "warning")


def _unanswered(pair: dict) -> list[dict]:
    """The evidence entries of one tunnel pair's unanswered handshakes, one per direction (and IKE exchange)."""
    back = {(d["dst"], d["src"]): d for d in pair["directions"]}
    found = []
    for direction in pair["directions"]:
        returned = back.get((direction["src"], direction["dst"]), {"messages": {}})["messages"]
        nothing_back = not returned or set(returned) <= {"initiation"}   # only its own initiations come back
        if pair["tunnel"] == "wireguard":
            sent, unanswered = direction["messages"].get("initiation"), direction["unanswered_initiations"]
            if sent is None or not unanswered:
                continue
            frames = [u["frame"] for u in direction["unanswered"] if u["frame"]]
            severity = ("error" if unanswered >= NEVER_ANSWERED_MIN and nothing_back else
                        "warning" if unanswered >= FAILING_MIN and unanswered >= FAILING_SHARE * sent["packets"]
                        else None)
            if severity:
                found.append(_entry(pair, direction, sent, unanswered, severity, frames))
            continue
        for name, sent in direction["messages"].items():
            exchange = name[:-len(" request")]
            if (not name.endswith(" request") or sent["packets"] < NEVER_ANSWERED_MIN
                    or f"{exchange} response" in returned):
                continue
            answered_back = any(other.endswith(" response") or other == "esp" for other in returned)
            found.append(_entry(pair, direction, sent, sent["packets"], "warning" if answered_back else "error",
                                [f for f in (sent["first_frame"], sent["last_frame"]) if f], exchange=exchange))
    return found


def _entry(pair, direction, sent, unanswered, severity, frames, **more) -> dict:
    return {"tunnel": pair["tunnel"], "src": direction["src"], "dst": direction["dst"], "port": direction["port"],
            **more, "sent": sent["packets"], "unanswered": unanswered, "severity": severity,
            **span(sent["first"], sent["last"]), "frames": sorted(set(frames))}
