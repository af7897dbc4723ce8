"""README.md of the capture folder, written from truth.json so that it always matches the files."""
from __future__ import annotations


COLUMNS = (("file", "---"), ("bytes", "---:"), ("frames", "---:"), ("kind", "---"), ("port", "---"), ("fault", "---"),
           ("largest outer IP", "---:"), ("outer fragments", "---:"), ("messages", "---"))


def readme(truth):
    lines = ["# Encrypted-overlay captures (issue 17: WireGuard, ESP, IKE)", "",
             "Made by `sudo python3 tools/crypto_lab.py --out sample_pcaps/encrypted`. Classic pcap, Ethernet,",
             "snaplen 128 with the original lengths kept; `truth.json` holds one entry per file.", "",
             "**WireGuard** captures are real: two node namespaces run `wireguard-go` (the kernel module is",
             "absent where they were made) with one peer each, a pod behind each node routed through the",
             "tunnel, captured on node1's underlay `eth0`. Traffic: a TCP connection with three 200-byte",
             "exchanges, `ping -M do` at sizes that fit the pod MTU, then a bulk TCP upload pod1 -> pod2. The",
             "pods' addresses are inside the encryption: the underlay shows only the nodes.", "",
             "**ESP and IKE** captures are built byte by byte by `tools/crypto_lab/esp.py`: the kernel has no",
             "ESP transform here (`ip xfrm state add ... proto esp` answers \"Requested type not found\"), so",
             "real headers (ESP, RFC 3948 UDP encapsulation with the non-ESP marker, IKEv2) carry random bytes",
             "of the lengths the named cipher gives. They are deterministic: a rerun writes the same bytes.", "",
             "WireGuard's cost per packet: outer IP (20 or 40) + UDP 8 + 32 (16-byte header, 16-byte tag), and",
             "the inner packet padded to a multiple of 16, so the inner size of a data packet is a range:",
             "outer length - fixed overhead - 0..15. ESP's depends on the cipher (IV, block, ICV lengths).", "",
             "| " + " | ".join(name for name, _ in COLUMNS) + " |", "| " + " | ".join(a for _, a in COLUMNS) + " |"]
    for name, t in truth.items():
        m = t["measured"]
        if t["kind"] == "wireguard":
            msgs = ", ".join(f"{k} {v}" for k, v in m["wireguard_messages"].items())
            port = t["udp_port"]
        else:
            msgs = f'ESP {m["esp_packets"]} (SPIs {len(m["spis"])}), IKE ' + ", ".join(
                f"{k} {v}" for k, v in m["ike_messages_by_exchange_type_and_port"].items())
            port = "4500" if m["esp_in_udp"] else "500 / IP 50" if m["esp_packets"] else "500"
        lines.append(f'| {name} | {m["bytes"]} | {m["frames"]} | {t["kind"]} | {port} | {t["fault"]} '
                     f'| {m["largest_outer_ip_len"]} | {m["outer_fragments"]} | {msgs} |')
    lines.append("")
    for name, t in truth.items():
        lines += [f"## {name}", "", t["description"] + ".", "", notes(t), ""]
    return "\n".join(lines)


def notes(t):
    m, o = t["measured"], t["overhead"]
    if t["kind"] == "wireguard":
        text = (f'Underlay IPv{t["underlay_ip_version"]}, MTUs: underlay {t["underlay_mtu"]}, WireGuard device '
                f'{t["wg_mtu"]}, pods {t["pod_mtu"]}. Overhead {o["fixed"]} + 0..15 padding; the largest inner '
                f'packet that fits the underlay is {t["largest_inner_that_fits"]}. Sessions (receiver indices): '
                f'{", ".join(m["sessions_by_receiver_index"]) or "none"}. ')
        low, high = m["transport_data_payload_range"]
        text += f"Transport data UDP payloads {low}..{high} bytes." if high else "No transport data."
        apps = t["applications"]
        if "bulk" in apps:
            text += f' Bulk upload: {"completed" if apps["bulk"].get("ok") else "did not complete"}.'
        return text
    if t["kind"] == "ike":
        return f'IKE messages: {m["ike_messages_by_exchange_type_and_port"]}; no ESP.'
    return (f'Cipher {t["cipher"]}: overhead {o["fixed"]} + padding {o["padding"][0]}..{o["padding"][1]}, observed '
            f'{o["observed_range"][0]}..{o["observed_range"][1]} bytes per packet. Child SAs: '
            + "; ".join(f'{s["node1->node2"]} / {s["node2->node1"]}' for s in t["child_sas"]) + ".")
