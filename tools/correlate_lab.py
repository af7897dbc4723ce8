"""Several captures of one incident, from a real kernel lab: the answer key for pcapdiag.correlate.

    sudo python3 tools/correlate_lab.py --out sample_pcaps/multi

Builds, in network namespaces it creates (and removes again, also on failure):

* a middle namespace `cl-mid` with a bridge `br0`: the underlay wire between the nodes. Its nftables
  bridge-family rules drop a fraction (--loss, 5%) of node1 -> node2 VXLAN packets at random
  (`numgen random`) and set DSCP CS1 on every node2 -> node1 VXLAN packet (a field rewritten in
  transit); both rules count what they did (the kernel's counters are the truth);
* node1 `cl-n1` (192.168.77.11, pod 10.244.1.2 behind the bridge cni0) and node2 `cl-n2`
  (192.168.77.12, pod 10.244.2.2), flannel-style: the kernel vxlan device flannel.1 on UDP 8472, VNI 1;
* on node1 an iptables FORWARD rule dropping the pod's UDP to port 9999 (a drop inside the node).

Captured at the same time, snaplen 128: `-i eth0` and `-i any` on each node. Traffic: a TCP bulk
transfer node1 pod -> node2 pod, pings between the pods, UDP datagrams to the dropped port.

truth.json holds the kernel counters, the setup, and counts derived with tshark (inner packets of
the tunnel matched by inner addresses, IP ID, protocol and TCP sequence between the two eth0 captures).
Only the standard library, iproute2, nftables, iptables, tcpdump and tshark are needed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PREFIX = "cl-"
MIDDLE = PREFIX + "mid"
UNDERLAY = "192.168.77"
VXLAN_PORT = 8472
VNI = 1
SNAPLEN = 128
DROPPED_PORT = 9999
BULK_PORT = 5001
NODES = {
    "node1": {"ns": PREFIX + "n1", "ip": UNDERLAY + ".11", "net": "10.244.1", "vtep_mac": "0e:00:00:00:01:01"},
    "node2": {"ns": PREFIX + "n2", "ip": UNDERLAY + ".12", "net": "10.244.2", "vtep_mac": "0e:00:00:00:01:02"},
}

TCP_SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1); print("READY", flush=True)
c, _ = s.accept(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    n += len(b)
c.sendall(str(n).encode()); c.close(); print("GOT", n, flush=True)
"""
TCP_CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
c.sendall(bytes(range(256)) * (int(sys.argv[3]) // 256)); c.shutdown(socket.SHUT_WR)
print("ACK", c.recv(100).decode(), flush=True)
"""
UDP_SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    s.sendto(b"x" * 100, (sys.argv[1], int(sys.argv[2]))); time.sleep(0.005)
"""


def sh(args, check=True, timeout=120, capture=True):
    result = subprocess.run(args, capture_output=capture, text=True, timeout=timeout)
    if check and result.returncode:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def nsx(ns, *args, **kw):
    return sh(["ip", "netns", "exec", ns, *args], **kw)


def teardown():
    for line in sh(["ip", "netns", "list"], check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith(PREFIX):
            for pid in sh(["ip", "netns", "pids", name], check=False).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh(["ip", "netns", "del", name], check=False)


def new_namespace(name):
    sh(["ip", "netns", "add", name])
    nsx(name, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    nsx(name, "ip", "link", "set", "lo", "up")


def offloads_off(ns, dev):
    # captured frames must be wire-size packets, not GSO/GRO super-frames
    nsx(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off", check=False)


def build(loss_percent):
    new_namespace(MIDDLE)
    nsx(MIDDLE, "ip", "link", "add", "br0", "type", "bridge")
    nsx(MIDDLE, "ip", "link", "set", "br0", "up")
    for index, (name, node) in enumerate(NODES.items(), start=1):
        ns, net = node["ns"], node["net"]
        new_namespace(ns)
        nsx(ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        nsx(ns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", f"m{index}", "netns", MIDDLE)
        nsx(ns, "ip", "addr", "add", node["ip"] + "/24", "dev", "eth0")
        nsx(ns, "ip", "link", "set", "eth0", "up")
        nsx(MIDDLE, "ip", "link", "set", f"m{index}", "master", "br0", "up")
        offloads_off(ns, "eth0")
        offloads_off(MIDDLE, f"m{index}")
        nsx(ns, "ip", "link", "add", "cni0", "type", "bridge")
        nsx(ns, "ip", "addr", "add", net + ".1/24", "dev", "cni0")
        nsx(ns, "ip", "link", "set", "cni0", "mtu", "1450", "up")
        pod = ns + "p1"
        node["pod"], node["pod_ns"] = net + ".2", pod
        new_namespace(pod)
        nsx(ns, "ip", "link", "add", f"veth{index}", "type", "veth", "peer", "name", "eth0", "netns", pod)
        nsx(ns, "ip", "link", "set", f"veth{index}", "mtu", "1450", "master", "cni0", "up")
        nsx(pod, "ip", "addr", "add", node["pod"] + "/24", "dev", "eth0")
        nsx(pod, "ip", "link", "set", "eth0", "mtu", "1450", "up")
        nsx(pod, "ip", "route", "add", "default", "via", net + ".1")
        for ns_, dev in ((ns, f"veth{index}"), (ns, "cni0"), (pod, "eth0")):
            offloads_off(ns_, dev)
        nsx(ns, "ip", "link", "add", "flannel.1", "type", "vxlan", "id", str(VNI), "dstport", str(VXLAN_PORT),
            "local", node["ip"], "dev", "eth0", "nolearning")
        nsx(ns, "ip", "link", "set", "flannel.1", "address", node["vtep_mac"], "mtu", "1450", "up")
        nsx(ns, "ip", "addr", "add", net + ".0/32", "dev", "flannel.1")
        offloads_off(ns, "flannel.1")
    for name, node in NODES.items():             # what flanneld programs towards every other node
        for other_name, other in NODES.items():
            if other is node:
                continue
            nsx(node["ns"], "ip", "neigh", "add", other["net"] + ".0", "lladdr", other["vtep_mac"],
                "dev", "flannel.1", "nud", "permanent")
            nsx(node["ns"], "bridge", "fdb", "add", other["vtep_mac"], "dev", "flannel.1", "dst", other["ip"],
                "self", "permanent")
            nsx(node["ns"], "ip", "route", "add", other["net"] + ".0/24", "via", other["net"] + ".0",
                "dev", "flannel.1", "onlink")
    node1, node2 = NODES["node1"], NODES["node2"]
    rules = [
        "add table bridge wire",
        "add chain bridge wire forward { type filter hook forward priority 0; }",
        f"add rule bridge wire forward ip saddr {node2['ip']} udp dport {VXLAN_PORT} ip dscp set cs1 counter",
        f"add rule bridge wire forward ip saddr {node1['ip']} udp dport {VXLAN_PORT} "
        f"numgen random mod 1000 < {int(loss_percent * 10)} counter drop",
    ]
    for rule in rules:
        nsx(MIDDLE, "nft", rule)
    nsx(node1["ns"], "iptables", "-A", "FORWARD", "-s", node1["pod"], "-p", "udp", "--dport", str(DROPPED_PORT),
        "-j", "DROP")


def start_capture(ns, iface, path):
    process = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-s", str(SNAPLEN), "-nn", "--immediate-mode",
                                "-U", "-w", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = b""
    deadline = time.time() + 15
    while b"listening on" not in seen and time.time() < deadline and process.poll() is None:
        seen += process.stderr.read1(4096)
    if b"listening on" not in seen:
        raise RuntimeError(f"tcpdump did not start on {iface} in {ns}: {seen.decode(errors='replace')}")
    return process


def stop_capture(process):
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    text = err.decode(errors="replace")
    if not re.search(r"(^|\D)0 packets dropped by kernel", text):
        raise RuntimeError("tcpdump dropped packets: " + " ".join(text.split()))


def run_traffic(bulk_bytes, pings, udp_datagrams):
    node1, node2 = NODES["node1"], NODES["node2"]
    server = subprocess.Popen(["ip", "netns", "exec", node2["pod_ns"], sys.executable, "-u", "-c", TCP_SERVER,
                               str(BULK_PORT)], stdout=subprocess.PIPE, text=True)
    if "READY" not in server.stdout.readline():
        raise RuntimeError("TCP server did not start")
    nsx(node1["pod_ns"], "ping", "-c", str(pings), "-i", "0.01", "-W", "1", node2["pod"], check=False)
    nsx(node1["pod_ns"], sys.executable, "-c", TCP_CLIENT, node2["pod"], str(BULK_PORT), str(bulk_bytes))
    server.communicate(timeout=30)
    nsx(node2["pod_ns"], "ping", "-c", str(pings), "-i", "0.01", "-W", "1", node1["pod"], check=False)
    nsx(node1["pod_ns"], sys.executable, "-c", UDP_SENDER, node2["pod"], str(DROPPED_PORT), str(udp_datagrams))


def nft_counters():
    listing = nsx(MIDDLE, "nft", "list", "table", "bridge", "wire")
    counts = [int(n) for n in re.findall(r"counter packets (\d+)", listing)]
    return {"rewritten_dscp_node2_to_node1": counts[0], "dropped_node1_to_node2": counts[1]}


def iptables_drops():
    listing = nsx(NODES["node1"]["ns"], "iptables", "-L", "FORWARD", "-v", "-n", "-x")
    return int(listing.splitlines()[2].split()[0])


def tshark_tunnel_packets(path):
    """Inner packets of the node-to-node tunnel in an eth0 capture, as tshark decodes them:
    {(outer src, inner src, inner dst, IP ID, protocol, TCP seq)}."""
    out = sh(["tshark", "-r", path, "-d", f"udp.port=={VXLAN_PORT},vxlan", "-Y", "vxlan", "-T", "fields",
              "-E", "occurrence=a", "-E", "separator=|", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.id", "-e", "ip.proto",
              "-e", "tcp.seq_raw"])
    packets = set()
    for line in out.splitlines():
        sources, destinations, ids, protocols, seq = line.split("|")
        outer_src, inner_src = sources.split(",")[:2]
        inner_dst = destinations.split(",")[1]
        packets.add((outer_src, inner_src, inner_dst, ids.split(",")[1], protocols.split(",")[1], seq))
    return packets


def tshark_truth(out):
    eth = {name: tshark_tunnel_packets(os.path.join(out, f"{name}-eth0.pcap")) for name in NODES}
    truth = {}
    for a, b in (("node1", "node2"), ("node2", "node1")):
        sent = {p for p in eth[a] if p[0] == NODES[a]["ip"]}
        received = {p for p in eth[b] if p[0] == NODES[a]["ip"]}
        truth[f"{a}->{b}"] = {"sent": len(sent), "received": len(received & sent), "lost": len(sent - received)}
    return truth


def write_readme(out, truth):
    lines = [
        "# Several captures of one incident",
        "",
        "Regenerate with `sudo python3 tools/correlate_lab.py --out sample_pcaps/multi` (root: network",
        "namespaces; needs iproute2, nftables, iptables, ethtool, tcpdump and tshark). The run is random (which",
        "packets are lost, IP IDs, sequence numbers): the counts differ from run to run, and `truth.json` is",
        "rewritten with them.",
        "",
        "Two flannel-style nodes: node1 192.168.77.11 (pod 10.244.1.2 behind cni0), node2 192.168.77.12",
        "(pod 10.244.2.2); VXLAN UDP 8472, VNI 1, device flannel.1; the underlay is a bridge in a middle",
        "namespace. Traffic: pings both ways, a TCP bulk transfer node1 pod -> node2 pod, UDP to port 9999.",
        "",
        "Faults, with the kernel's counters in truth.json:",
        f"* the middle drops {truth['loss_percent']}% of node1 -> node2 VXLAN packets at random"
        f" (this run: {truth['kernel']['dropped_node1_to_node2']});",
        "* the middle sets DSCP CS1 (8) on every node2 -> node1 VXLAN packet (a rewrite in transit);",
        f"* node1's FORWARD chain drops the pod's UDP to port 9999 ({truth['kernel']['dropped_inside_node1']}"
        " datagrams): seen on the pod side, never on flannel.1 or eth0.",
        "",
        "| file | taken | link type |",
        "| --- | --- | --- |",
    ]
    for name in sorted(truth["captures"]):
        where = truth["captures"][name]
        lines.append(f"| {name} | `tcpdump -i {where['interface']} -s {SNAPLEN}` on {where['node']} | "
                     f"{'Linux cooked v2' if where['interface'] == 'any' else 'Ethernet'} |")
    lines += ["", "All four captures ran at the same time on one clock: the true clock offset between any two is 0",
              "(the tests shift one capture's timestamps and expect the shift back)."]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="sample_pcaps/multi")
    parser.add_argument("--loss", type=float, default=5.0, help="percent of node1 -> node2 tunnel packets dropped")
    parser.add_argument("--bulk", type=int, default=300_000, help="bytes of the TCP bulk transfer")
    parser.add_argument("--pings", type=int, default=40)
    parser.add_argument("--udp", type=int, default=30, help="datagrams to the port node1 drops")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    for tool in ("ip", "nft", "iptables", "tcpdump", "tshark", "ethtool"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (apt-get install iproute2 nftables iptables tcpdump tshark ethtool)")
    os.makedirs(args.out, exist_ok=True)
    teardown()
    captures = []
    try:
        build(args.loss)
        with tempfile.TemporaryDirectory() as tmp:
            paths = {}
            for name, node in NODES.items():
                for iface in ("eth0", "any"):
                    paths[f"{name}-{iface}.pcap"] = os.path.join(tmp, f"{name}-{iface}.pcap")
                    captures.append(start_capture(node["ns"], iface, paths[f"{name}-{iface}.pcap"]))
            time.sleep(0.5)
            run_traffic(args.bulk, args.pings, args.udp)
            time.sleep(1.5)     # what is in flight arrives, and every tcpdump has written it
            for process in captures:
                stop_capture(process)
            captures = []
            for name, path in paths.items():
                shutil.copyfile(path, os.path.join(args.out, name))
        kernel = nft_counters()
        kernel["dropped_inside_node1"] = iptables_drops()
    finally:
        for process in captures:
            process.kill()
        teardown()
    truth = {
        "loss_percent": args.loss,
        "vxlan_port": VXLAN_PORT, "vni": VNI, "snaplen": SNAPLEN, "dropped_port": DROPPED_PORT,
        "nodes": {name: {"ip": node["ip"], "pod": node["net"] + ".2", "pod_cidr": node["net"] + ".0/24"}
                  for name, node in NODES.items()},
        "captures": {f"{name}-{iface}.pcap": {"node": name, "interface": iface}
                     for name in NODES for iface in ("eth0", "any")},
        "kernel": kernel,
        "tshark": tshark_truth(args.out),
        "clock_offset": 0.0,
    }
    with open(os.path.join(args.out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=2, sort_keys=True)
        f.write("\n")
    write_readme(args.out, truth)
    print(json.dumps(truth["kernel"]), json.dumps(truth["tshark"]))


if __name__ == "__main__":
    main()
