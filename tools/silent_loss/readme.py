"""README.md of the capture folder, written from truth.json so that it always matches the files."""
from __future__ import annotations

from .common import OVERHEAD, POD_MTU, SCENARIOS, STALL_S


def readme(truth):
    lines = ["# Silent-loss captures (issue 12: big packets vanish, small ones pass)", "",
             "Made by `sudo python3 tools/silent_loss_lab.py --out sample_pcaps/silent-loss` on real kernel",
             "network namespaces (see the script's docstring for the topology). Every scenario is captured on",
             "both nodes' underlay interface eth0: `node1-eth0` is the sending side (pod1 uploads to pod2),",
             "`node2-eth0` the receiving side. Classic pcap, Ethernet, snaplen 200 with the original lengths",
             "kept. Traffic in each: a TCP connection with three 200-byte request/response exchanges, `ping -M do`",
             "from pod1 to pod2 with sizes 100 ... 1472 (those that fit the pod MTU, three each), then a bulk",
             f"TCP upload pod1 -> pod2 (stalled uploads are watched for {STALL_S:g} s of retransmission backoff).", "",
             "Faults are made in the middle namespace, a Linux bridge acting as the switch, with nftables:",
             "`meta length > MTU drop` for the path-MTU cases (a switch dropping oversized frames: no ICMP, no",
             "fragments), `numgen random mod 1000 < 50 drop` on node1's tunnel packets for random loss, and a",
             "drop of every node2 tunnel packet for the one-way tunnel. IPIP uses a userspace encapsulator (TUN",
             "device tunl0 plus a raw protocol-4 socket, outer DF set) because the kernel ipip device is not",
             "available where these were made; the pod traffic inside is real kernel TCP/ICMP.", "",
             "`truth.json` (one entry per file): configuration (encapsulation, nodes, pods, pod MTU, path MTU),",
             "`expected` (silent loss or not, the window the path MTU lies in, lossy direction, loss",
             "probability), `measured` (tshark on the file: TCP retransmissions per inner direction, echo",
             "requests/replies by ping size, ICMP errors, outer fragments, per-stream unacknowledged bytes),",
             "`between_captures` (packets seen on the sending node but not on the receiving one, per",
             "direction, by outer IP length), the switch's nft counters, and what the applications saw.", "",
             "Timestamps, TCP sequence numbers, IP IDs, outer UDP source ports and, for random loss, which",
             "packets are dropped differ between runs; the shape of each capture does not.", "",
             "| file | bytes | frames | scenario | path MTU | pod MTU | retransmissions | echo replies/requests | path MTU window |",
             "| --- | ---: | ---: | --- | ---: | ---: | --- | ---: | --- |"]
    for name, t in truth.items():
        m = t["measured"]
        rtx = ", ".join(f"{k}: {v}" for k, v in m["tcp_retransmissions"].items()) or "0"
        echo = f'{sum(m["echo_replies_by_size"].values())}/{sum(m["echo_requests_by_size"].values())}'
        win = t["expected"]["path_mtu_window"]
        lines.append(f'| {name} | {m["bytes"]} | {m["frames"]} | {t["scenario"]} | {t["path_mtu"]} | {t["pod_mtu"]} '
                     f'| {rtx} | {echo} | {f"{win[0]}-{win[1]}" if win else "-"} |')
    lines.append("")
    seen = set()
    for t in truth.values():
        if t["scenario"] in seen:
            continue
        seen.add(t["scenario"])
        sc = next(s for s in SCENARIOS if s.name == t["scenario"])
        lines += [f"## {sc.name}", "", sc.about + ".", "", scenario_notes(sc, t), ""]
    return "\n".join(lines)


def scenario_notes(sc, t):
    cmp, apps = t["between_captures"], t["applications"]
    fwd, back = cmp["node1->node2"], cmp["node2->node1"]
    text = (f'Small exchange: {"ok" if apps["small"]["ok"] else "failed"}; bulk upload of {sc.bulk_bytes} bytes: '
            f'{"completed" if apps["bulk"].get("ok") else "did not complete"}. Between the two captures '
            f'{fwd["vanished"]} of {fwd["sent"]} node1->node2 packets and {back["vanished"]} of {back["sent"]} '
            f'node2->node1 packets vanished; switch counters: '
            + ", ".join(f"{k} {v}" for k, v in t["switch_counters"].items()) + ".")
    if sc.fault == "pmtu" and "path_mtu_window" in cmp:
        text += (f' Largest outer packet delivered: {cmp["path_mtu_window"][0]} bytes, smallest vanished: '
                 f'{cmp["path_mtu_window"][1] + 1}; the configured path MTU {sc.path_mtu} lies in between, while '
                 f'the pods send up to {POD_MTU[sc.encap]} + {OVERHEAD[sc.encap]} bytes of tunnel overhead. '
                 'No ICMP error and no fragment appears on either side.')
    rtx = t["measured"]["tcp_retransmissions"]
    if sc.fault in ("none", "cut") and rtx:
        text += (f" The {sum(rtx.values())} retransmission(s) tshark marks were sent twice and arrived twice (nothing "
                 "vanished between the nodes): TCP's own timing, e.g. a tail-loss probe, not loss.")
    if sc.fault == "cut":
        text += f" Both captures were stopped by tcpdump -c {sc.cut_packets} while the upload was running."
    return text
