"""The mtu.* checks: packets too big for the overlay, fragments, ICMP too-big, PMTUD black holes, MSS.

Each check takes the FindingBuilder (the capture's analyzer results and the MTU model) and adds at most
one finding; corroborate() then ties the other symptoms of a too-large pod MTU to the error naming it."""
from __future__ import annotations

from ..analyzers.mtu import flow_text, quoted_overhead
from ..catalogue import ENCRYPTED_CLASSES, TUNNEL_CLASSES
from . import path as path_checks
from .budgets import TCP_IP_HEADERS, mss_budget, native_path_mtu
from .evidence import (EXAMPLES, flow, frame_of, frame_suffix, instant, node_pair, pairs_text, span, table_flow,
                       with_text)

_MESSAGE_TEXT_KEYS = ("icmp", "from", "to", "mtu", "quoted", "quoted_encap", "quoted_len")


def _tunnel_end(cls: str, address: str):
    """An outer address names a tunnel endpoint only when the packet was tunnelled."""
    return None if cls == "native" else address


def inner_too_big(b):
    table = b.mtu.large_inner
    if table is None:
        return
    hits = []
    for row in table.itertuples(index=False):
        overlay = b.overlay_for(row.outer_class, row.inner_src)
        if not overlay:
            continue
        # a tunnel packet carries its own overhead (Geneve options differ per packet); a pod's own
        # native packet must fit the overlay MTU of its node's tunnel
        own_overhead = row.packet_overhead if row.outer_class in TUNNEL_CLASSES else overlay["overhead"]
        if row.inner_len + own_overhead > b.underlay:
            hits.append((row, overlay))
    if not hits:
        return
    overlay = hits[0][1]
    count = sum(int(r.count) for r, _ in hits)
    largest = max(int(r.inner_len) for r, _ in hits)
    flows = [flow(r.inner_src, r.inner_dst, encap=r.outer_class, outer_src=_tunnel_end(r.outer_class, r.outer_src),
                  packets=int(r.count), inner_len=int(r.inner_len), **frame_of(r))
             for r, _ in sorted(hits, key=lambda h: -h[0].count)[:EXAMPLES]]
    b.add("mtu.inner-too-big",
          f"{_senders(b, [r for r, _ in hits])} send {largest}-byte packets, more than the "
          f"{overlay['overlay_mtu']} bytes a {overlay['type'].upper()} packet can carry ({b.underlay} underlay - "
          f"{overlay['overhead']} overhead)",
          count,
          with_text({**span(min(r.first for r, _ in hits), max(r.last for r, _ in hits)),
                     "largest_inner": largest, "overlay_mtu": overlay["overlay_mtu"], "underlay_mtu": b.underlay,
                     "overhead": overlay["overhead"], "flows": flows},
                    ("flow", [f"{f['src']} > {f['dst']} ({f['packets']} x {f['inner_len']} bytes, {f['encap']})"
                              + frame_suffix(f) for f in flows])),
          fix=b.fix("mtu.inner-too-big", overlay_mtu=overlay["overlay_mtu"],
                    underlay_needed=largest + overlay["overhead"]),
          mtu_finding=True)


def _senders(b, rows) -> str:
    """Who sent these evidence rows' packets: the pods, or, where encryption hides them, the nodes' tunnels."""
    hidden = sorted({r.outer_src for r in rows if r.outer_class in ENCRYPTED_CLASSES})
    pods = [r.inner_src for r in rows if r.outer_class not in ENCRYPTED_CLASSES]
    tunnels = (f"pods behind {', '.join(hidden[:EXAMPLES])} (hidden by the encryption; {len(hidden)} node(s))"
               if hidden else "")
    return " and ".join(text for text in (b.pods_text(pods) if pods else "", tunnels) if text)


def inner_fragmented(b):
    table = b.mtu.inner_fragments
    if table is None:
        return
    overlay = b.overlay_for(table["outer_class"][0], "")
    pods = set(table["inner_src"])
    mtu_text = f"the {overlay['overlay_mtu']} bytes the overlay can carry" if overlay else "the overlay MTU"
    # A pod with the right MTU also fragments its own large datagrams (DNS over UDP, NFS...), and the
    # fragments look the same on the underlay. Blame the pod MTU only with corroboration: fragments cut
    # twice, SYNs from these pods advertising an MSS the overlay cannot carry, or ICMP too-big sent to them.
    corroboration = []
    if int(table["refragmented"].sum()):
        corroboration.append("datagrams fragmented twice (by the pod at its MTU, again at the overlay)")
    if pods & {hit[0].inner_src for hit in b.mss_hits}:
        corroboration.append("their SYNs advertise an MSS larger than the overlay carries")
    if pods & {event["to"] for event in b.mtu.icmp_events}:
        corroboration.append("they were sent ICMP too-big")
    flows = [flow(r.inner_src, r.inner_dst, encap=r.outer_class, outer_src=r.outer_src, fragments=int(r.count),
                  largest_fragment=int(r.max_len), **frame_of(r))
             for r in table.sort_values("count", ascending=False).head(EXAMPLES).itertuples()]
    evidence = with_text({**span(table["first"].min(), table["last"].max()),
                          "largest_fragment": int(table["max_len"].max()), "corroboration": corroboration,
                          "flows": flows},
                         ("flow", [f"{f['src']} > {f['dst']} ({f['fragments']} fragments, {f['encap']} via "
                                   f"{f['outer_src']})" + frame_suffix(f) for f in flows]))
    fix = b.fix("mtu.inner-fragmented", overlay_mtu=overlay["overlay_mtu"]) if overlay else "lower the pod MTU"
    if corroboration:
        b.add("mtu.inner-fragmented",
              f"{b.pods_text(pods)} send packets larger than {mtu_text} without DF: they are fragmented "
              f"before encapsulation, so the pod MTU is larger than the overlay's",
              int(table["count"].sum()), evidence, fix=fix, mtu_finding=True)
    else:
        b.add("mtu.inner-fragmented",
              f"{b.pods_text(pods)} send IP fragments through the tunnel; an application sending "
              f"datagrams larger than {mtu_text} does this too, and nothing else suggests a wrong pod MTU",
              int(table["count"].sum()), evidence, fix=f"if these pods' MTU is above the overlay's: {fix}",
              mtu_finding=True, severity="info")


def outer_fragmented(b):
    table = b.mtu.outer_fragments
    if table is None:
        return
    cls = table["outer_class"][0]
    overlay = b.overlay_for(cls, "")
    largest_inner = int(table["inner_len"].max())
    explanation = ""
    if overlay and largest_inner > overlay["overlay_mtu"]:
        explanation = (f": inner packets of up to {largest_inner} bytes plus {overlay['overhead']} bytes of "
                       f"{cls.upper()} exceed the {b.underlay}-byte underlay - the tunnel device lets them through, "
                       f"so its MTU is the underlay's where it would need to be {overlay['overlay_mtu']}")
    pairs = [node_pair(r.outer_class, r.outer_src, r.outer_dst, fragments=int(r.count), **frame_of(r))
             for r in table.head(EXAMPLES).itertuples()]
    examples = sorted({e for e in table["example"] if e})[:EXAMPLES]   # "inner source > inner destination"
    flows = [flow(*example.split(" > ", 1), encap=cls) for example in examples]
    rule = " (RFC 7348 4.3 forbids VTEP fragmentation)" if cls in ("vxlan", "geneve") else ""
    b.add("mtu.outer-fragmented",
          f"the nodes fragment outer {cls.upper()} packets{rule}" + explanation,
          int(table["count"].sum()),
          with_text({**span(table["first"].min(), table["last"].max()), "largest_inner": largest_inner,
                     "underlay_mtu": b.underlay, "node_pairs": pairs, "flows": flows},
                    ("flow", examples),
                    ("node_pair", [f"{p['src']} > {p['dst']} ({p['fragments']} fragments)" + frame_suffix(p)
                                   for p in pairs])),
          fix=b.fix("mtu.outer-fragmented", overlay_mtu=overlay["overlay_mtu"]) if overlay else None,
          mtu_finding=True)


def icmp_too_big(b):
    events = b.mtu.icmp_events
    if not events:
        return
    pod_mtu = min(e["mtu"] - quoted_overhead(e["quoted_encap"]) for e in events)
    first = events[0]
    messages = [{**instant(e["ts"]), **frame_of(e), "icmp": e["icmp"], "from": e["from"],
                 "to": e["to"], "mtu": e["mtu"], "quoted": _quoted_flow(e), "quoted_encap": e["quoted_encap"],
                 "quoted_len": e["quoted_len"]} for e in events[:EXAMPLES]]
    b.add("mtu.icmp-too-big",
          f"{first['from']} told {first['to']} to use a next-hop MTU of {first['mtu']}"
          + (f" for {first['quoted']}" if first["quoted"] else "")
          + (f" (quoted packet inside {first['quoted_encap']})" if first["quoted_encap"] not in (None, "native")
             else ""),
          b.mtu.icmp_total,
          with_text({**span(events[0]["ts"], events[-1]["ts"]), "next_hop_mtus": sorted({e["mtu"] for e in events}),
                     "pod_mtu": pod_mtu, "messages": messages},
                    ("message", [pairs_text({k: e[k] for k in _MESSAGE_TEXT_KEYS}) + frame_suffix(m)
                                 for e, m in zip(events, messages)])),
          fix=b.fix("mtu.icmp-too-big", pod_mtu=pod_mtu))


def _quoted_flow(event: dict):
    """The flow of the packet an ICMP message quotes (tunnels in the quote unwrapped), or None."""
    src, dst, proto, sport, dport = event["quoted_key"]
    return flow(src, dst, proto, sport, dport, encap=event["quoted_encap"] or "native") if src else None


def pmtud_blackhole(b):
    hits, texts, count, names = [], [], 0, set()
    table = b.mtu.after_icmp
    if table is not None:
        for row in table.itertuples(index=False):
            count += int(row.count)
            name = flow_text(row.inner_proto, row.inner_src, row.sport, row.inner_dst, row.dport)
            names.add(name)
            hits.append((row, flow(row.inner_src, row.inner_dst, row.inner_proto, row.sport, row.dport,
                                   reason="after-icmp", packets=int(row.count), largest=int(row.max_len),
                                   told_mtu=int(row.told_mtu), **frame_of(row))))
            texts.append(f"{name} sent {int(row.count)} packets of up to {int(row.max_len)} bytes after being told "
                         f"MTU {int(row.told_mtu)}")
    flows = b.flows
    if not flows.empty:
        for row in flows[flows["retransmits"] >= 2].itertuples(index=False):
            overlay = b.overlay_for(row.encap.split(">")[0], row.inner_src)
            if overlay and row.max_retransmit_len > overlay["overlay_mtu"]:
                count += int(row.retransmits)
                name = flow_text(row.inner_proto, row.inner_src, row.sport, row.inner_dst, row.dport)
                names.add(name)
                hits.append((row, table_flow(row, reason="retransmitted", retransmits=int(row.retransmits),
                                             largest=int(row.max_retransmit_len), overlay_mtu=overlay["overlay_mtu"])))
                texts.append(f"{name} retransmitted {int(row.retransmits)} segments of up to "
                             f"{int(row.max_retransmit_len)} bytes (overlay MTU {overlay['overlay_mtu']})")
    if not hits:
        return
    b.add("mtu.pmtud-blackhole",
          f"{len(names)} flow(s) keep sending or retransmitting segments larger than the path allows: "
          f"path MTU discovery is not taking effect", count,
          with_text({**span(min(row.first for row, _ in hits), max(row.last for row, _ in hits)),
                     "flows": [item for _, item in hits[:EXAMPLES]]},
                    ("flow", [text + frame_suffix(item) for text, (_, item) in zip(texts[:EXAMPLES], hits)])),
          fix=b.fix("mtu.pmtud-blackhole"), mtu_finding=True)


def mss_hits(b) -> list:
    """(flow row, advertised MSS, budget, SYN or SYN-ACK) for handshakes whose MSS the path cannot carry."""
    flows = b.flows
    if flows.empty:
        return []
    hits, native_path = [], None
    for row in flows[(flows["syn_mss"] > 0) | (flows["synack_mss"] > 0)].itertuples(index=False):
        overlay = b.overlay_for(row.encap.split(">")[0], row.inner_src)
        path = b.underlay
        if _native_host(b, row):
            native_path = native_path or native_path_mtu(flows, b.underlay, b.mtu.given_underlay is not None)
            path = native_path
        budget = mss_budget(path, overlay["overhead"] if overlay else 0, row.inner_src)
        mss = max(row.syn_mss, row.synack_mss)
        if mss > budget:
            hits.append((row, mss, budget, "SYN" if row.syn_mss > 0 else "SYN-ACK"))
    return hits


def mss_too_big(b):
    hits = b.mss_hits
    if not hits:
        return
    row, mss, budget, kind = hits[0]
    flows = [table_flow(h[0], handshake=h[3], mss=int(h[1]), budget=int(h[2]), **frame_of(h[0]))
             for h in hits[:EXAMPLES]]
    path = (f"{budget + TCP_IP_HEADERS[6 if ':' in row.inner_src else 4]} native path MTU" if _native_host(b, row)
            else f"{b.underlay} underlay - overhead")
    b.add("mtu.mss-too-big",
          f"{_senders_text(b, [h[0] for h in hits])} advertise TCP MSS {mss} in {kind}s against a "
          f"{budget}-byte budget ({path} - TCP/IP headers)" + _one_sided(b, hits),
          len(hits),
          with_text({**span(min(h[0].first for h in hits), max(h[0].last for h in hits)),
                     "budget": budget, "underlay_mtu": b.underlay, "flows": flows},
                    ("flow", [f"{flow_text(6, h[0].inner_src, h[0].sport, h[0].inner_dst, h[0].dport)} {h[3]} MSS "
                              f"{h[1]}" + frame_suffix(item) for h, item in zip(hits, flows)])),
          fix=b.fix("mtu.mss-too-big", budget=budget), mtu_finding=True)


def _native_host(b, row) -> bool:
    """A host off the pod side talking untunnelled (the node itself, a LAN or Internet host): judged by its own
    (native) path, and not called a pod."""
    return row.encap == "native" and row.inner_src not in b.node_of_pod


def _senders_text(b, rows) -> str:
    """The flows' sources: the pod-side ones as pods_text names them, then the other (native) hosts."""
    pods = sorted({row.inner_src for row in rows if not _native_host(b, row)})
    hosts = sorted({row.inner_src for row in rows if _native_host(b, row)})
    hosts_text = "hosts " + b.pods_text(hosts).removeprefix("pods ") if hosts else ""
    return " and ".join(text for text in (b.pods_text(pods) if pods else "", hosts_text) if text)


def _one_sided(b, hits) -> str:
    """One direction of a handshake fits, the other does not: say only what the capture shows of why."""
    flows = b.flows
    rows_of: dict = {}     # (source, destination, ports) -> its flows' rows
    for at, key in enumerate(zip(*(flows[name].tolist() for name in ("inner_src", "inner_dst", "sport", "dport")))):
        rows_of.setdefault(key, []).append(at)
    for row, _, budget, kind in hits:
        reverse = (row.inner_dst, row.inner_src, row.dport, row.sport)
        if reverse in rows_of:
            other = flows[rows_of[reverse]]
            other_mss = int(max(other["syn_mss"].max(), other["synack_mss"].max()))
            if 0 < other_mss <= budget:
                return _smaller_mss_text(b, row.inner_dst, row.inner_src, other_mss, float(other["first"].min()))
    return ""


def _smaller_mss_text(b, host: str, peer: str, mss: int, since: float) -> str:
    """Why a host advertises an MSS that fits, as far as the capture shows. A smaller MSS after an ICMP
    too-big is the path MTU the host cached for that destination (Linux lowers the route's MTU, and the MSS
    of later handshakes on it), not a correct interface MTU; the same host advertising more elsewhere shows
    the same."""
    told = [e for e in b.mtu.icmp_events if e["to"] == host and e["ts"] <= since]
    if told:
        return (f"; {host} advertises {mss} to {peer} after an ICMP too-big told it MTU {told[-1]['mtu']}: a path "
                f"MTU it cached for that destination, not a correct MTU")
    flows = b.flows
    mine = flows[flows["inner_src"] == host]
    elsewhere = max(mine["syn_mss"].max(initial=-1), mine["synack_mss"].max(initial=-1))
    if elsewhere > mss:
        return (f"; {host} advertises {mss} to {peer} but {int(elsewhere)} in other handshakes: a limit for that "
                f"destination (a path MTU cached after an ICMP too-big, or a route's MTU), not its interface MTU")
    return (f"; in {peer} <> {host} the other side advertises {mss}, which fits (its MTU, MSS clamping or a "
            f"cached path MTU is smaller: the capture does not show which)")


def corroborate(b):
    """Tie the other symptoms of a too-large pod MTU to the error that names the pods.

    On the underlay, a pod whose MTU exceeds the overlay's shows three things at once: its
    unfragmentable full-size segments die at the tunnel device (so they are retransmitted, smaller,
    once PMTUD reacts), its SYNs advertise an MSS the path cannot carry, and its DF-clear packets
    are fragmented before encapsulation. One error should carry all three.
    """
    errors = [f for f in b.findings if f["id"] in ("mtu.inner-fragmented", "mtu.inner-too-big")
              and f["severity"] == "error"]
    mss = next((f for f in b.findings if f["id"] == "mtu.mss-too-big"), None)
    if not errors or b.flows.empty:
        return
    flows = b.flows
    retransmitted = flows[(flows["retransmits"] > 0) & (flows["max_retransmit_len"] >= flows["max_ip_len"])
                          & (flows["max_ip_len"] > 0)]
    full_size, full_size_text = [], []
    for r in retransmitted.head(EXAMPLES).itertuples(index=False):
        full_size.append(table_flow(r, retransmits=int(r.retransmits), segment_len=int(r.max_retransmit_len)))
        full_size_text.append(f"{flow_text(r.inner_proto, r.inner_src, r.sport, r.inner_dst, r.dport)}: "
                              f"{int(r.retransmits)} full-size ({int(r.max_retransmit_len)}-byte) segments "
                              f"retransmitted")
    for finding in errors:
        also, evidence = [], dict(finding["evidence"])
        text = evidence.pop("text")
        if mss:
            also.append(mss["summary"].split(" advertise ", 1)[-1].split(";")[0])
            evidence["mss"] = mss["evidence"]["flows"]
        if full_size:
            also.append(f"{int(retransmitted['retransmits'].sum())} full-size segments retransmitted")
            evidence["retransmissions"] = full_size
        finding["evidence"] = with_text({**evidence, "text": text}, ("retransmission", full_size_text))
        if also:
            finding["summary"] += " (also: " + "; ".join(also) + ")"


def path_blackhole(b):
    """mtu.path-blackhole: an MTU finding, worded in path.py beside the loss check that reads the same
    delivery evidence."""
    path_checks.blackhole(b)
