"""The tunnel.* checks: traffic that goes one way, tunnels on unexpected ports, failing outer checksums,
tunnels looped into themselves, and port mirrors (which are not broken tunnels)."""
from __future__ import annotations

from .evidence import EXAMPLES, node_pair, packet, packet_text, table_flow, with_text

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
