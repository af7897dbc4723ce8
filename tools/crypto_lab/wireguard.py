"""Two node namespaces joined by a bridge 'switch', each with a pod behind it, and WireGuard between the
nodes (wireguard-go: the kernel module is absent here, /dev/net/tun is present).

    pod1 (clab-p1) eth0 10.246.1.2 -- veth -- node1 (clab-n1) wgn1 ~~ eth0 192.168.71.11 / fd71::11
                                                                       | veth
                                                        switch (clab-sw) bridge br0
                                                                       | veth
    pod2 (clab-p2) eth0 10.246.2.2 -- veth -- node2 (clab-n2) wgn2 ~~ eth0 192.168.71.12 / fd71::12

Each node routes the other pod CIDR into its WireGuard device, whose only peer is the other node
(AllowedIPs = that pod CIDR), like Cilium's and Calico's node-to-node WireGuard.  The devices have
different names (wgn1, wgn2) because wireguard-go's control sockets share one directory,
/var/run/wireguard, whatever the namespace.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

from lab.netns import Lab, sh, wait_for_output
from silent_loss.programs import APP_SRC
from silent_loss_lab import client_result

from .common import CIDRS, GATEWAYS, PING_SIZES, PODS, PREFIX, SERVER_PORT, SMALL_BYTES, SMALL_ROUNDS, SNAPLEN


def teardown():
    """Delete this lab's namespaces (clab-*, nobody else's), killing by pid only what runs inside them."""
    for ns in [line.split()[0] for line in sh(["ip", "netns", "list"], check=False).splitlines()
               if line.startswith(PREFIX)]:
        for pid in sh(["ip", "netns", "pids", ns], check=False).split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        sh(["ip", "netns", "del", ns], check=False)
    for dev in ("wgn1", "wgn2"):  # a killed wireguard-go leaves its control socket behind
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"/var/run/wireguard/{dev}.sock")


class WgLab(Lab):
    """One scenario: its namespaces, background processes and capture; a context manager that builds the
    lab on the way in and stops everything and deletes the namespaces on the way out."""

    def __init__(self, sc, tmp):
        super().__init__(tmp)
        self.sc, self.keys = sc, {}

    def __enter__(self):
        teardown()
        self.build()
        return self

    def __exit__(self, *exc):
        self.stop_procs()
        teardown()

    @staticmethod
    def nsx(ns, *args, check=True, timeout=60):
        return sh(["ip", "netns", "exec", PREFIX + ns, *args], check=check, timeout=timeout)

    def spawn(self, ns, *args, ready=None, stream="stdout"):
        p = subprocess.Popen(["ip", "netns", "exec", PREFIX + ns, *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.procs.append(p)
        if ready and ready not in wait_for_output(p, getattr(p, stream), ready, 10):
            raise RuntimeError(f"{args[0]} in {ns} did not start")
        return p

    def add_netns(self, ns, ipv6):
        self.netns(PREFIX + ns)
        if ipv6:
            self.nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0")

    def build(self):
        sc, v6 = self.sc, self.sc.ip_version == 6
        for ns in ("sw", "n1", "n2", "p1", "p2"):
            self.add_netns(ns, v6 and ns.startswith("n"))
        self.nsx("sw", "ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        self.nsx("sw", "ip", "link", "set", "br0", "up")
        for i in (1, 2):
            node, pod = f"n{i}", f"p{i}"
            sh(["ip", "link", "add", "eth0", "netns", PREFIX + node, "address", f"52:54:00:a8:47:{10 + i:02x}",
                "type", "veth", "peer", "name", f"sw-n{i}", "netns", PREFIX + "sw"])
            self.nsx("sw", "ip", "link", "set", f"sw-n{i}", "master", "br0", "up")
            self.offloads_off(PREFIX + "sw", f"sw-n{i}")
            for key in ("ip_forward=1", "conf.all.rp_filter=0", "conf.default.rp_filter=0"):
                self.nsx(node, "sysctl", "-qw", f"net.ipv4.{key}")
            if v6:  # no router solicitations or DAD delay on the underlay: the address is usable at once
                self.nsx(node, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0",
                         "net.ipv6.conf.eth0.router_solicitations=0")
            self.nsx(node, "ip", "addr", "add", f"{sc.underlay[i]}/{64 if v6 else 24}", "dev", "eth0")
            self.nsx(node, "ip", "link", "set", "eth0", "up")
            self.offloads_off(PREFIX + node, "eth0")
            sh(["ip", "link", "add", "veth0", "netns", PREFIX + node, "mtu", str(sc.pod_mtu), "type", "veth",
                "peer", "name", "eth0", "netns", PREFIX + pod, "address", f"0a:58:0a:f6:{i:02x}:02",
                "mtu", str(sc.pod_mtu)])
            self.nsx(node, "ip", "addr", "add", f"{GATEWAYS[i]}/24", "dev", "veth0")
            self.nsx(node, "ip", "link", "set", "veth0", "up")
            self.nsx(pod, "ip", "addr", "add", f"{PODS[i]}/24", "dev", "eth0")
            self.nsx(pod, "ip", "link", "set", "eth0", "up")
            self.nsx(pod, "ip", "route", "add", "default", "via", GATEWAYS[i])
            self.offloads_off(PREFIX + node, "veth0")
            self.offloads_off(PREFIX + pod, "eth0")
            # -f: stay in the foreground, so the process we started is the one we stop.  (Daemon mode
            # re-executes itself; with WG_PROCESS_FOREGROUND=0 in the environment it does so forever.)
            self.spawn(node, "wireguard-go", "-f", f"wgn{i}")
            deadline = time.time() + 10
            while not os.path.exists(f"/var/run/wireguard/wgn{i}.sock") and time.time() < deadline:
                time.sleep(0.1)
            key = os.path.join(self.workdir, f"n{i}.key")
            with open(key, "w") as f:
                f.write(sh(["wg", "genkey"]))
            self.keys[i] = (key, subprocess.run(["wg", "pubkey"], input=open(key).read(), text=True,
                                                stdout=subprocess.PIPE, check=True).stdout.strip())
        for i in (1, 2):
            node, other = f"n{i}", 3 - i
            self.nsx(node, "wg", "set", f"wgn{i}", "listen-port", str(sc.port), "private-key", self.keys[i][0])
            self.add_peer(i)
            self.nsx(node, "ip", "link", "set", f"wgn{i}", "mtu", str(sc.wg_mtu), "up")
            self.nsx(node, "ip", "route", "add", CIDRS[other], "dev", f"wgn{i}")
        if sc.fault == "blocked":  # node2 drops WireGuard arriving on its underlay, as a host firewall would
            ruleset = (f"table inet clab {{\n chain input {{\n  type filter hook input priority 0;\n"
                       f"  udp dport {sc.port} counter drop comment \"blocked WireGuard port\"\n }}\n}}\n")
            subprocess.run(["ip", "netns", "exec", PREFIX + "n2", "nft", "-f", "-"], input=ruleset, text=True,
                           check=True)

    def add_peer(self, i):
        other = 3 - i
        endpoint = f"[{self.sc.underlay[other]}]" if self.sc.ip_version == 6 else self.sc.underlay[other]
        self.nsx(f"n{i}", "wg", "set", f"wgn{i}", "peer", self.keys[other][1],
                 "endpoint", f"{endpoint}:{self.sc.port}", "allowed-ips", CIDRS[other])

    def app(self, *args):
        return [sys.executable, "-u", "-c", APP_SRC, *map(str, args), str(SMALL_BYTES)]

    def pings(self, sizes, df="do"):
        for size in sizes:
            self.nsx("p1", "ping", "-n", "-q", "-M", df, "-c", "2", "-i", "0.2", "-W", "1", "-s", str(size),
                     PODS[2], check=False)

    def traffic(self, out_dir):
        sc = self.sc
        path = os.path.join(out_dir, f"{sc.name}.pcap")
        # --immediate-mode: packets still waiting in a ring block when tcpdump is stopped are lost
        cap = self.spawn("n1", "tcpdump", "-n", "-i", "eth0", "-s", str(SNAPLEN), "-Z", "root", "-U",
                         "--immediate-mode", "-w", path, ready=b"listening on", stream="stderr")
        apps = {}
        if sc.fault == "blocked":
            # wireguard-go retries the handshake every 5 s (REKEY_TIMEOUT) while packets wait for it
            self.nsx("p1", "ping", "-n", "-q", "-c", "13", "-i", "1", "-W", "1", PODS[2], check=False, timeout=30)
            apps["ping"] = "no reply (the handshake never completed)"
        else:
            self.spawn("p2", *self.app("serve", SERVER_PORT), ready=b"READY")
            time.sleep(0.3)
            small = self.nsx("p1", *self.app("small", PODS[2], SERVER_PORT, 0, SMALL_ROUNDS), timeout=30)
            apps["small"] = json.loads(small)
            self.pings([s for s in PING_SIZES if s + 28 <= sc.pod_mtu])
            if sc.pod_mtu > sc.wg_mtu:  # packets without DF that the node must fragment before encrypting
                self.pings([1472], df="dont")
            if sc.rekey:  # forget the peer: its sessions go, and the next packet needs a new handshake
                self.nsx("n1", "wg", "set", "wgn1", "peer", self.keys[2][1], "remove")
                self.add_peer(1)
                time.sleep(0.2)
                self.pings([56, 1000])
            bulk = self.spawn("p1", *self.app("bulk", PODS[2], SERVER_PORT, sc.bulk_bytes, 0))
            try:
                bulk.wait(timeout=15)
                time.sleep(1.0)  # the last ACKs and FINs
                apps["bulk"] = client_result(bulk)
            except subprocess.TimeoutExpired:
                apps["bulk"] = {"mode": "bulk", "ok": False, "stalled": True}
        apps["wg_show_node1"] = self.nsx("n1", "wg", "show", "wgn1", "transfer").strip().split("\t")[1:]
        cap.send_signal(signal.SIGINT)
        cap.wait(timeout=10)
        return path, apps
