#!/usr/bin/env python3
"""Real kernel captures of silent packet loss on a Kubernetes-like overlay (issue 12:
"big packets vanish, small ones pass"), with an answer key.

    sudo python3 tools/silent_loss_lab.py --out sample_pcaps/silent-loss [--only NAME ...]

Needs root, iproute2, nftables, tcpdump, tshark and ethtool; stdlib Python only.  Every namespace
it makes is called slab-*; they are deleted before the run and again on the way out, also when a
step fails or the script is interrupted.  No traffic leaves those namespaces.

Topology (built afresh for every scenario, so no TCP metrics or ARP state carries over):

    pod1 (slab-p1)  eth0 10.244.1.2 -- veth -- cni0 10.244.1.1  node1 (slab-n1) + tunnel device
                                                              eth0 192.168.60.11
                                                                 | veth
                                              switch (slab-sw)  sw-n1 [bridge br0 + nftables] sw-n2
                                                                 | veth
                                                              eth0 192.168.60.12
    pod2 (slab-p2)  eth0 10.244.2.2 -- veth -- cni0 10.244.2.1  node2 (slab-n2) + tunnel device

The nodes' underlay interfaces (eth0) have MTU 1500.  Between them, per encapsulation:
* vxlan:  kernel vxlan device flannel.1 (VNI 1, UDP 8472, nolearning, static FDB/neighbour entries
          like flannel), MTU 1450, pods and cni0 at 1450.  Outer DF is clear, as flannel leaves it.
* ipip:   the kernel ipip device is not available on this machine, so each node runs a small
          userspace encapsulator: a TUN device tunl0 (MTU 1480, like Calico's) whose packets are
          sent to the other node through a raw IP-protocol-4 socket with DF set (IP_PMTUDISC_DO),
          and whose received protocol-4 packets are stripped of the outer header and written back
          to tunl0.  The wire therefore carries real IPv4-in-IPv4 (outer TTL 64, kernel IP IDs)
          around real kernel pod traffic; pods and cni0 at 1480.
* native: no tunnel; each node routes the other pod CIDR via the other node; pods at 1500.

The switch is a Linux bridge.  Its nftables `bridge` table carries the fault:
* pmtu:    frames whose IP packet is longer than the path MTU are dropped (`meta length`), the way
           a switch port with a smaller MTU drops oversized frames: no ICMP, no fragmentation.
           The overlay MTU is left at its normal value, so full-size packets vanish.  (tc cBPF
           was the first idea, but tc actions cannot be loaded on this kernel.)
* random:  tunnel packets from node1 are dropped with probability 0.05 (`numgen random`).
* oneway:  every tunnel packet from node2 is dropped.
* none:    healthy; the `cut` scenario stops its captures mid-transfer instead (tcpdump -c).

Traffic in every scenario, from pod1 to pod2 (a python3 socket server runs in pod2):
1. a TCP connection with three 200-byte request/response exchanges (passes everywhere but oneway);
2. `ping -M do` with sizes 100 ... 1472 (those that fit the pod MTU), three of each;
3. a bulk TCP upload (PUT) from pod1 to pod2.  Where it stalls, the sender retransmits with
   exponential backoff for STALL_S seconds, then the captures stop.

Both node captures are written (node1 = sending side, node2 = receiving side), on eth0, with
snaplen 200 (original lengths kept).  truth.json holds, per file, the configuration, what a
diagnosis should conclude, and counts measured afterwards with tshark from the files themselves
(plus the switch's drop counters and what the applications saw).  README.md is written too.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from silent_loss.common import (CIDRS, NODES, PING_SIZES, PINGS_PER_SIZE, POD_MTU, PODS, PREFIX, RANDOM_LOSS, SCENARIOS,
                                SERVER_PORT, SMALL_BYTES, SMALL_ROUNDS, SNAPLEN, STALL_S, TOOLS, VNI, VXLAN_PORT, Scenario,
                                run)
from silent_loss.programs import APP_SRC, IPIP_SRC
from silent_loss.readme import readme
from silent_loss.truth import truth_entries


def nsx(ns, *args, check=True, timeout=60):
    return run("ip", "netns", "exec", PREFIX + ns, *args, check=check, timeout=timeout)


def wait_for_text(proc, stream, marker, timeout):
    """Read stream until marker shows up (or timeout / process exit); returns what was read."""
    seen, end = b"", time.time() + timeout
    while marker not in seen and time.time() < end and proc.poll() is None:
        if select.select([stream], [], [], 0.2)[0]:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    return seen


def our_namespaces():
    return [line.split()[0] for line in run("ip", "netns", "list", check=False).splitlines()
            if line.startswith(PREFIX)]


def teardown():
    for ns in our_namespaces():
        for pid in run("ip", "netns", "pids", ns, check=False).split():
            try:  # only processes inside our own namespaces, i.e. the ones this script started
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run("ip", "netns", "del", ns, check=False)


def client_result(proc):
    """The JSON line a client printed, or why there is none (it was killed before printing)."""
    out = proc.stdout.read().decode(errors="replace").strip()
    try:
        return json.loads(out.splitlines()[-1])
    except (IndexError, ValueError):
        return {"ok": False, "error": f"client printed no result (exit code {proc.returncode}): {out[:200]!r}"}


class Lab:
    """One scenario's namespaces, background processes and captures."""

    def __init__(self, sc: Scenario):
        self.sc, self.procs = sc, []
        self.pod_mtu = POD_MTU[sc.encap]

    def spawn(self, ns, *args, ready=None):
        p = subprocess.Popen(["ip", "netns", "exec", PREFIX + ns, *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(p)
        if ready:
            stream = p.stdout if ready == b"READY" else p.stderr
            seen = wait_for_text(p, stream, ready, 10)
            if ready not in seen:
                raise RuntimeError(f"{args[0]} in {ns} did not start: {seen!r}")
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def netns(self, ns):
        run("ip", "netns", "add", PREFIX + ns)
        nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        nsx(ns, "ip", "link", "set", "lo", "up")

    @staticmethod
    def quiet(ns, dev):
        # no segmentation/checksum offloads: captured frames are what is on the wire
        nsx(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off",
            check=False)

    def build(self):
        for ns in ("sw", "n1", "n2", "p1", "p2"):
            self.netns(ns)
        nsx("sw", "ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        nsx("sw", "ip", "link", "set", "br0", "up")
        for i in (1, 2):
            node, pod, other = f"n{i}", f"p{i}", 3 - i
            run("ip", "link", "add", "eth0", "netns", PREFIX + node, "address", f"52:54:00:a8:3c:{10 + i:02x}",
                "type", "veth", "peer", "name", f"sw-n{i}", "netns", PREFIX + "sw")
            nsx("sw", "ip", "link", "set", f"sw-n{i}", "master", "br0", "up")
            self.quiet("sw", f"sw-n{i}")
            for key in ("ip_forward=1", "conf.all.rp_filter=0", "conf.default.rp_filter=0"):
                nsx(node, "sysctl", "-qw", f"net.ipv4.{key}")
            nsx(node, "ip", "addr", "add", f"{NODES[i]}/24", "dev", "eth0")
            nsx(node, "ip", "link", "set", "eth0", "up")
            self.quiet(node, "eth0")
            # pod behind the node's cni0 bridge
            gw = f"10.244.{i}.1"
            nsx(node, "ip", "link", "add", "cni0", "address", f"0a:58:0a:f4:{i:02x}:01", "type", "bridge")
            nsx(node, "ip", "link", "set", "cni0", "mtu", str(self.pod_mtu), "up")
            nsx(node, "ip", "addr", "add", f"{gw}/24", "dev", "cni0")
            run("ip", "link", "add", f"veth{i}", "netns", PREFIX + node, "mtu", str(self.pod_mtu), "type", "veth",
                "peer", "name", "eth0", "netns", PREFIX + pod, "address", f"0a:58:0a:f4:{i:02x}:02",
                "mtu", str(self.pod_mtu))
            nsx(node, "ip", "link", "set", f"veth{i}", "master", "cni0", "up")
            nsx(pod, "ip", "addr", "add", f"{PODS[i]}/24", "dev", "eth0")
            nsx(pod, "ip", "link", "set", "eth0", "up")
            nsx(pod, "ip", "route", "add", "default", "via", gw)
            for ns, dev in ((node, "cni0"), (node, f"veth{i}"), (pod, "eth0")):
                self.quiet(ns, dev)
            getattr(self, "tunnel_" + self.sc.encap)(node, i, other)

    def tunnel_vxlan(self, node, i, other):
        mac = lambda n: f"6e:7f:00:00:01:{n:02x}"  # noqa: E731  (flannel-like fixed VTEP MACs)
        nsx(node, "ip", "link", "add", "flannel.1", "address", mac(i), "type", "vxlan", "id", str(VNI),
            "local", NODES[i], "dev", "eth0", "dstport", str(VXLAN_PORT), "nolearning")
        nsx(node, "ip", "link", "set", "flannel.1", "mtu", str(self.pod_mtu), "up")
        nsx(node, "ip", "addr", "add", f"10.244.{i}.0/32", "dev", "flannel.1")
        nsx(node, "ip", "neigh", "add", f"10.244.{other}.0", "lladdr", mac(other), "dev", "flannel.1",
            "nud", "permanent")
        nsx(node, "bridge", "fdb", "append", mac(other), "dev", "flannel.1", "dst", NODES[other])
        nsx(node, "ip", "route", "add", CIDRS[other], "via", f"10.244.{other}.0", "dev", "flannel.1", "onlink")
        self.quiet(node, "flannel.1")

    def tunnel_ipip(self, node, i, other):
        self.spawn(node, sys.executable, "-u", "-c", IPIP_SRC, "tunl0", NODES[other], ready=b"READY")
        nsx(node, "ip", "link", "set", "tunl0", "mtu", str(self.pod_mtu), "up")
        nsx(node, "ip", "addr", "add", f"10.244.{i}.0/32", "dev", "tunl0")
        nsx(node, "ip", "route", "add", CIDRS[other], "dev", "tunl0")
        self.quiet(node, "tunl0")

    def tunnel_native(self, node, i, other):
        nsx(node, "ip", "route", "add", CIDRS[other], "via", NODES[other], "dev", "eth0")

    def install_fault(self):
        rules = ['iifname "sw-n1" counter comment "from node1"', 'iifname "sw-n2" counter comment "from node2"']
        if self.sc.fault == "pmtu":
            rules.append(f'meta length > {self.sc.path_mtu} counter drop comment "longer than the path MTU"')
        elif self.sc.fault == "random":
            permille = int(RANDOM_LOSS * 1000)
            rules.append(f'iifname "sw-n1" udp dport {VXLAN_PORT} numgen random mod 1000 < {permille} '
                         'counter drop comment "random loss node1->node2"')
        elif self.sc.fault == "oneway":
            rules.append(f'iifname "sw-n2" udp dport {VXLAN_PORT} counter drop comment "one-way: node2->node1"')
        body = "\n".join("    " + r for r in rules)
        ruleset = f"table bridge slab {{\n  chain forward_c {{\n    type filter hook forward priority 0;\n{body}\n  }}\n}}\n"
        subprocess.run(["ip", "netns", "exec", PREFIX + "sw", "nft", "-f", "-"], input=ruleset, text=True, check=True)

    def switch_counters(self):
        out = nsx("sw", "nft", "list", "table", "bridge", "slab")
        return {m.group(2): int(m.group(1)) for m in
                re.finditer(r'counter packets (\d+) bytes \d+ .*?comment "([^"]+)"', out)}

    def app(self, *args):
        return [sys.executable, "-u", "-c", APP_SRC, *map(str, args), str(SMALL_BYTES)]

    def traffic(self, out_dir):
        sc, files, caps = self.sc, {}, []
        for i in (1, 2):
            files[i] = os.path.join(out_dir, f"{sc.name}.node{i}-eth0.pcap")
            extra = ["-c", str(sc.cut_packets)] if sc.cut_packets else []
            # --immediate-mode: packets still waiting in a ring block when tcpdump is stopped are lost
            caps.append(self.spawn(f"n{i}", "tcpdump", "-n", "-i", "eth0", "-s", str(SNAPLEN), "-Z", "root",
                                   "-U", "--immediate-mode", *extra, "-w", files[i], ready=b"listening on"))
        self.spawn("p2", *self.app("serve", SERVER_PORT), ready=b"READY")
        time.sleep(0.3)
        apps = {"small": json.loads(nsx("p1", *self.app("small", PODS[2], SERVER_PORT, 0, SMALL_ROUNDS), timeout=30))}
        for size in (s for s in PING_SIZES if s + 28 <= self.pod_mtu):
            nsx("p1", "ping", "-n", "-q", "-M", "do", "-c", str(PINGS_PER_SIZE), "-i", "0.2", "-W", "1",
                "-s", str(size), PODS[2], check=False)
        bulk = self.spawn("p1", *self.app("bulk", PODS[2], SERVER_PORT, sc.bulk_bytes, 0))
        try:  # a stalled upload keeps retransmitting with backoff until we stop looking
            bulk.wait(timeout=STALL_S)
            time.sleep(1.0)  # the last ACKs and FINs
        except subprocess.TimeoutExpired:
            pass
        if sc.cut_packets:
            for cap in caps:
                cap.wait(timeout=30)
        for cap in caps:
            if cap.poll() is None:
                cap.send_signal(signal.SIGINT)
                cap.wait(timeout=10)
        if bulk.poll() is None:
            apps["bulk"] = {"mode": "bulk", "ok": False, "stalled": True,
                            "note": f"still sending when the captures stopped after {STALL_S} s"}
        else:
            apps["bulk"] = client_result(bulk)
        return files, apps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="sample_pcaps/silent-loss")
    ap.add_argument("--only", nargs="*", help="scenario names (default: all)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: it builds network namespaces")
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        sys.exit("missing tools: " + " ".join(missing) + " (apt-get install iproute2 nftables tcpdump tshark "
                 "ethtool iputils-ping)")
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    truth_path = os.path.join(out_dir, "truth.json")
    truth = json.load(open(truth_path)) if args.only and os.path.exists(truth_path) else {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    unknown = set(args.only or ()) - {s.name for s in SCENARIOS}
    if unknown:
        sys.exit("unknown scenario(s): " + " ".join(sorted(unknown)) + "; known: " + " ".join(s.name for s in SCENARIOS))
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    with tempfile.TemporaryDirectory(prefix="slab-") as tmp:
        for sc in chosen:
            teardown()
            lab = Lab(sc)
            try:
                lab.build()
                lab.install_fault()
                files, apps = lab.traffic(tmp)
                drops = lab.switch_counters()
            finally:
                lab.stop_all()
                teardown()
            for i, f in files.items():
                files[i] = shutil.move(f, os.path.join(out_dir, os.path.basename(f)))
            truth.update(truth_entries(sc, files, apps, drops))
            print(f"{sc.name}: " + ", ".join(f"{os.path.basename(f)} {os.path.getsize(f)} B" for f in files.values()),
                  flush=True)
    truth = dict(sorted(truth.items()))
    with open(truth_path, "w") as f:
        json.dump(truth, f, indent=1)
        f.write("\n")
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(readme(truth) + "\n")


if __name__ == "__main__":
    try:
        main()
    finally:
        teardown()
