"""The path checks: what the path between two nodes delivers (analyzers/delivery.py's evidence).

- mtu.path-blackhole (family mtu, raised here beside its evidence): above some size, packets vanish on the
  path without an ICMP message — the most common MTU incident, and invisible to the checks that compare
  sizes with a computed overlay MTU when the fault is outside the node.
- path.packet-loss: a node pair's direction loses packets at every size (retransmissions, SACK holes,
  unanswered echoes well above a healthy capture's), which is a fault too, just not an MTU one.  At the
  receiving node a segment lost before the capture point is never seen twice: its resent copy arrives late
  into the hole (counted as reordered), so lost-or-late segments are what the rate counts.
"""
from __future__ import annotations

from .evidence import flow, node_pair, span, with_text

# A healthy capture retransmits a segment now and then (tail-loss probes, a spurious timeout); a lossy path
# retransmits a few percent. Below these, nothing is said.
LOSS_MIN_RETRANSMITS = 10
LOSS_MIN_PERCENT = 2.0


def blackhole(b):
    windows = b.delivery["size_windows"]
    if not windows or any(f["id"].startswith("mtu.") and f["severity"] == "error" for f in b.findings):
        return   # not silent: the packets' own size or an ICMP message already explains what vanished
    pairs, texts, sends, times = [], [], 0, []
    for window in windows:
        pair = _window_evidence(window)
        pairs.append(pair)
        texts.append(_window_text(pair))
        sends += sum(lost["sent"] for lost in window.get("lost", []))
        times += [lost[key] for lost in window.get("lost", []) for key in ("first", "last")]
        if window["side"] == "receiver":
            times += [window["stalled_since"], window["last"]]
    first = pairs[0]
    limit = (f"{first['lost_outer']}-byte ones never got through" if first["lost_outer"] is not None
             else "larger ones never arrived")
    fix = b.fix("mtu.path-blackhole", src=first["src"], dst=first["dst"], carried=first["carried_outer"],
                limit=limit, pod_mtu=first["pod_mtu"])
    flows = [flow(f["src"], f["dst"], 6, f["sport"], f["dport"], f["encap"],
                  *((window["outer_src"], window["outer_dst"]) if f["encap"] != "native" else (None, None)),
                  -1 if f["vni"] is None else f["vni"])
             for window in windows for f in window.get("flows", [])]
    evidence = {**span(min(times), max(times)), "node_pairs": pairs, "flows": flows[:5]}
    b.add("mtu.path-blackhole", "; ".join(texts[:3]), sends or len(pairs),
          with_text(evidence, ("path", [_lost_text(pair) for pair in pairs])), fix=fix, mtu_finding=True)


def _window_evidence(window: dict) -> dict:
    """One node pair's window: the largest size that got through and (sender side) the smallest that never
    did, as inner and outer IP lengths; the path MTU lies between the outer ones."""
    carried, carried_outer = window["largest_delivered"], window["largest_delivered_outer"]
    lost = window.get("lost", [])
    overhead = (carried_outer - carried) if carried_outer is not None else 0
    smallest = min((item["inner_len"] for item in lost), default=None)
    smallest_outer = None if smallest is None else smallest + overhead
    return node_pair(window["encap"], window["outer_src"], window["outer_dst"], side=window["side"],
                     carried_inner=carried, carried_outer=carried_outer if carried_outer is not None else carried,
                     lost_inner=smallest, lost_outer=smallest_outer,
                     path_mtu_window=[carried_outer, None if smallest_outer is None else smallest_outer - 1],
                     pod_mtu=carried, lost_sizes=lost)


def _window_text(pair: dict) -> str:
    where = f"{pair['type']} {pair['src']} > {pair['dst']}"
    if pair["side"] == "receiver":
        return (f"{where}: packets up to {pair['carried_outer']} bytes arrive, but the peer's data stopped at a "
                f"hole that retransmissions never filled (receiving side: larger packets never arrive)")
    return (f"{where}: packets up to {pair['carried_outer']} bytes get through, {pair['lost_outer']} bytes and "
            f"larger are sent again and again and never answered (no ICMP): the path MTU is between "
            f"{pair['carried_outer']} and {pair['lost_outer'] - 1}")


def _lost_text(pair: dict) -> str:
    sizes = ", ".join(f"{item['inner_len']} inner/{item['outer_len']} outer x{item['sent']}"
                      for item in pair["lost_sizes"][:4])
    return (f"{pair['src']} > {pair['dst']}: largest through {pair['carried_inner']} inner/"
            f"{pair['carried_outer']} outer" + (f"; never through: {sizes}" if sizes else ""))


def packet_loss(b):
    if any(f["id"].startswith("mtu.") and f["severity"] == "error" for f in b.findings):
        return   # the MTU fault explains the retransmissions (they are cited as its evidence)
    windowed = {(w["encap"], w["outer_src"], w["outer_dst"]) for w in b.delivery["size_windows"]}
    lossy = [pair for pair in b.delivery["pairs"]
             if (pair["encap"], pair["outer_src"], pair["outer_dst"]) not in windowed
             and pair["tcp_flows_unacknowledged"] < pair["tcp_flows"]      # one-way: tunnel.one-way says it
             and pair["retransmits"] + pair["reordered"] >= LOSS_MIN_RETRANSMITS
             and (pair["loss_pct"] or 0) >= LOSS_MIN_PERCENT]
    if not lossy:
        return
    pairs = [node_pair(p["encap"], p["outer_src"], p["outer_dst"], tcp_segments=p["tcp_segments"],
                       retransmits=p["retransmits"], retransmit_pct=p["retransmit_pct"], reordered=p["reordered"],
                       loss_pct=p["loss_pct"], sack_acks=p["sack_acks"],
                       echo_requests=p["echo_requests"], echo_replies=p["echo_replies"]) for p in lossy]
    texts = [f"{p['type']} {p['src']} > {p['dst']}: {p['retransmits']} of {p['tcp_segments']} TCP data segments "
             f"retransmitted ({p['retransmit_pct']}%)"
             + (f", {p['reordered']} arrived late into holes (lost before this capture point and resent, or "
                f"reordered; {p['loss_pct']}% with the retransmissions)" if p["reordered"] else "")
             + f", {p['sack_acks']} ACKs reporting holes (SACK)"
             + (f", {p['echo_requests'] - p['echo_replies']} of {p['echo_requests']} echo requests unanswered"
                if p["echo_requests"] else "") for p in pairs]
    b.add("path.packet-loss", "; ".join(texts[:3]) + ": packets are lost at every size, not only large ones",
          sum(p["retransmits"] + p["reordered"] for p in pairs),
          with_text({"node_pairs": pairs, "thresholds": {"retransmits_and_late": LOSS_MIN_RETRANSMITS,
                                                         "loss_pct": LOSS_MIN_PERCENT}},
                    ("direction", texts)),
          fix=b.fix("path.packet-loss", src=pairs[0]["src"], dst=pairs[0]["dst"]))
