"""The namespace lab behind the sample captures: network namespaces for a switch, nodes and pods,
veth links, a cni0 bridge per node, VXLAN devices or plain routes between the nodes, tcpdump on the
switch bridge, and the agent (agent.py) run in the pods for the traffic. Needs root, iproute2, tcpdump
and ethtool; every namespace it creates is named pcd-* and is removed by teardown_all().
"""
from __future__ import annotations

import collections
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "pcd-"             # every namespace this lab creates starts with this
AGENT = Path(__file__).resolve().with_name("agent.py")
REPO = AGENT.parent.parent.parent
VERBOSE = False


def agent_env() -> dict:
    """The environment of the agent: the checkout first on the path (it imports pcapdiag.testing)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def log(*a):
    print(*a, flush=True)


def vlog(*a):
    if VERBOSE:
        print("   ", *a, flush=True)


def sh(args, check=True, timeout=120, env=None):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(args), r.stdout, r.stderr))
    return r.stdout


def octets(ip):
    return [int(o) for o in ip.split(".")]


def mac_0a58(ip):
    """Kubernetes CNI bridge/host-local style MAC: 0a:58 followed by the IPv4 address."""
    return "0a:58:" + ":".join("%02x" % o for o in octets(ip))


def node_mac(ip):
    """Node NIC MAC: a QEMU/KVM style 52:54:00 prefix and the low three bytes of the node IP."""
    return "52:54:00:" + ":".join("%02x" % o for o in octets(ip)[1:])


def vtep_mac(vni, idx):
    return "6e:7f:00:%02x:%02x:%02x" % ((vni >> 8) & 0xFF, vni & 0xFF, idx)


def our_namespaces():
    out = sh(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.split() and line.split()[0].startswith(PREFIX)]


def teardown_all():
    """Delete every pcd-* namespace (left over from an earlier run, or this one)."""
    for ns in our_namespaces():
        pids = sh(["ip", "netns", "pids", ns], check=False).split()
        for pid in pids:                      # processes this script started in its own namespaces
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sh(["ip", "netns", "del", ns], check=False)


@dataclass
class Pod:
    name: str          # n1p1
    ns: str
    ip: str
    mac: str
    node: "Node"
    host_veth: str


@dataclass
class Node:
    idx: int
    name: str          # n1
    ns: str
    ip: str
    mac: str
    net: str           # "10.244.1"
    cidr: str
    gw: str
    pods: list = field(default_factory=list)
    vtep_mac: str = ""
    tunnel_ip: str = ""


@dataclass
class LabSpec:
    key: str                      # short tag used in namespace names
    underlay: str                 # first three octets of the node /24
    n_nodes: int
    pods_per_node: list           # pods per node, one entry per node
    pod_net: str                  # "10.244.{n}" -> node n gets {pod_net}.0/24
    mode: str                     # "vxlan" or "routed"
    pod_mtu: int
    tunnel_mtu: int = 0
    vxlan_port: int = 0
    vni: int = 0
    vxlan_dev: str = "flannel.1"


class Lab:
    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []
        self.ethtool = shutil.which("ethtool")
        self.counter = 0

    # -- plumbing
    def netns(self, name):
        sh(["ip", "netns", "add", name])
        self.x(name, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
               "net.ipv6.conf.default.disable_ipv6=1")
        self.x(name, "ip", "link", "set", "lo", "up")

    def x(self, ns, *args, check=True):
        return sh(["ip", "netns", "exec", ns, *args], check=check)

    def offloads_off(self, ns, dev):
        # segmentation/checksum offloads off: captured frames are wire-size with final checksums
        self.x(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off",
               "rx", "off", check=False)

    def agent_run(self, ns, *args, timeout=90):
        out = sh(["ip", "netns", "exec", ns, sys.executable, str(AGENT), *map(str, args)], timeout=timeout,
                 env=agent_env())
        vlog(ns, " ".join(map(str, args)), "->", " | ".join(out.strip().splitlines()))
        return out

    def agent_bg(self, ns, *args, ready="READY"):
        p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-u", str(AGENT), *map(str, args)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=agent_env())
        self.procs.append(p)
        if ready:
            seen = wait_for_output(p, p.stdout, ready.encode(), 15)
            if ready.encode() not in seen:
                raise RuntimeError("agent %s in %s did not get ready: %s" % (args, ns, seen.decode(errors="replace")))
        return p

    def stop_procs(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []

    # -- topology
    def build(self, spec: LabSpec):
        sw = f"{PREFIX}{spec.key}-sw"
        self.netns(sw)
        self.x(sw, "ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        self.x(sw, "ip", "link", "set", "br0", "up")
        self.offloads_off(sw, "br0")
        nodes = []
        for i in range(1, spec.n_nodes + 1):
            ns = f"{PREFIX}{spec.key}-n{i}"
            self.netns(ns)
            self.x(ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            ip = f"{spec.underlay}.{10 + i}"
            net = spec.pod_net.format(n=i)
            node = Node(idx=i, name=f"n{i}", ns=ns, ip=ip, mac=node_mac(ip), net=net,
                        cidr=f"{net}.0/24", gw=f"{net}.1")
            self.x(ns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", f"sw{i}", "netns", sw)
            self.x(ns, "ip", "link", "set", "eth0", "address", node.mac, "mtu", "1500")
            self.x(ns, "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
            self.x(ns, "ip", "link", "set", "eth0", "up")
            self.x(sw, "ip", "link", "set", f"sw{i}", "master", "br0", "up")
            self.offloads_off(ns, "eth0")
            self.offloads_off(sw, f"sw{i}")
            # cni0 bridge with the pods behind it (like the CNI bridge plugin used by flannel)
            self.x(ns, "ip", "link", "add", "cni0", "type", "bridge", "mcast_snooping", "0")
            self.x(ns, "ip", "link", "set", "cni0", "address", mac_0a58(node.gw), "mtu", str(spec.pod_mtu))
            self.x(ns, "ip", "addr", "add", f"{node.gw}/24", "dev", "cni0")
            self.x(ns, "ip", "link", "set", "cni0", "up")
            for k in range(1, spec.pods_per_node[i - 1] + 1):
                pip = f"{net}.{1 + k}"
                pns = f"{ns}p{k}"
                self.netns(pns)
                hv = "veth" + "".join("%02x" % o for o in octets(pip))
                pod = Pod(name=f"n{i}p{k}", ns=pns, ip=pip, mac=mac_0a58(pip), node=node, host_veth=hv)
                self.x(ns, "ip", "link", "add", hv, "type", "veth", "peer", "name", "eth0", "netns", pns)
                self.x(ns, "ip", "link", "set", hv, "mtu", str(spec.pod_mtu), "master", "cni0", "up")
                self.x(pns, "ip", "link", "set", "eth0", "address", pod.mac, "mtu", str(spec.pod_mtu))
                self.x(pns, "ip", "addr", "add", f"{pip}/24", "dev", "eth0")
                self.x(pns, "ip", "link", "set", "eth0", "up")
                self.x(pns, "ip", "route", "add", "default", "via", node.gw)
                self.offloads_off(ns, hv)
                self.offloads_off(pns, "eth0")
                node.pods.append(pod)
            self.offloads_off(ns, "cni0")
            nodes.append(node)

        if spec.mode == "vxlan":
            dev = spec.vxlan_dev
            for n in nodes:
                n.vtep_mac = vtep_mac(spec.vni, n.idx)
                n.tunnel_ip = f"{n.net}.0"
                self.x(n.ns, "ip", "link", "add", dev, "type", "vxlan", "id", str(spec.vni), "dstport",
                       str(spec.vxlan_port), "local", n.ip, "dev", "eth0", "nolearning")
                self.x(n.ns, "ip", "link", "set", dev, "address", n.vtep_mac, "mtu", str(spec.tunnel_mtu))
                self.x(n.ns, "ip", "addr", "add", f"{n.tunnel_ip}/32", "dev", dev)
                self.x(n.ns, "ip", "link", "set", dev, "up")
                self.offloads_off(n.ns, dev)
            for n in nodes:             # what flanneld programs for every remote node
                for m in nodes:
                    if m is n:
                        continue
                    self.x(n.ns, "ip", "neigh", "add", m.tunnel_ip, "lladdr", m.vtep_mac, "dev", dev,
                           "nud", "permanent")
                    self.x(n.ns, "bridge", "fdb", "add", m.vtep_mac, "dev", dev, "dst", m.ip, "self", "permanent")
                    self.x(n.ns, "ip", "route", "add", m.cidr, "via", m.tunnel_ip, "dev", dev, "onlink")
        else:                           # native routing: pod CIDRs routed to the node IPs
            for n in nodes:
                for m in nodes:
                    if m is not n:
                        self.x(n.ns, "ip", "route", "add", m.cidr, "via", m.ip, "dev", "eth0")
        return sw, nodes


def wait_for_output(proc, pipe, marker, timeout):
    """Read a child's pipe (unbuffered, straight from the fd) until marker shows up, the child
    exits or timeout passes; returns what was read. The rest of the output is left in the pipe."""
    fd, seen = pipe.fileno(), b""
    deadline = time.time() + timeout
    while marker not in seen and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    return seen


class Capture:
    def __init__(self, ns, iface, path, linktype=None):
        args = ["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-s", "0", "-nn", "-U", "-Z", "root",
                "-w", path]
        if linktype:
            args += ["-y", linktype]
        self.path = path
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seen = wait_for_output(self.p, self.p.stderr, b"listening on", 15)
        if b"listening on" not in seen:
            raise RuntimeError("tcpdump did not start on %s in %s: %s" % (iface, ns, seen.decode(errors="replace")))
        self.head = seen
        time.sleep(0.3)

    def stop(self):
        time.sleep(0.3)
        self.p.send_signal(signal.SIGINT)
        try:
            _, err = self.p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            _, err = self.p.communicate()
        err = (self.head + err).decode(errors="replace")
        vlog("tcpdump:", " ".join(err.split()))
        if "0 packets dropped by kernel" not in err:
            log("   warning: tcpdump reported drops:", " ".join(err.split()))


def run_actions(lab: Lab, nodes, actions):
    """actions: ("ping", src, dst, count, size, df) | ("get"/"put", client, server, port, size)
    | ("udp", client, server, port, [sizes]) | ("sleep", s); src/dst/client/server are pod names."""
    pods = {p.name: p for n in nodes for p in n.pods}
    tcp_servers = collections.Counter()
    udp_servers = set()
    for a in actions:
        if a[0] in ("get", "put"):
            tcp_servers[(a[2], a[3])] += 1
        elif a[0] == "udp":
            udp_servers.add((a[2], a[3]))
    for (srv, port), conns in sorted(tcp_servers.items()):
        lab.agent_bg(pods[srv].ns, "tcp-server", "--port", port, "--conns", conns)
    for srv, port in sorted(udp_servers):
        lab.agent_bg(pods[srv].ns, "udp-echo", "--port", port)
    for i, a in enumerate(actions):
        kind = a[0]
        if kind == "ping":
            _, src, dst, count, size, df = a
            args = ["ping", "--dst", pods[dst].ip, "--count", count, "--size", size, "--ident", 0x4100 + i]
            if df:
                args.append("--df")
            lab.agent_run(pods[src].ns, *args)
        elif kind in ("get", "put"):
            _, cli, srv, port, size = a
            lab.agent_run(pods[cli].ns, "tcp-client", "--dst", pods[srv].ip, "--port", port,
                          "--sport", 40000 + i, "--" + kind, size)
        elif kind == "udp":
            _, cli, srv, port, sizes = a
            lab.agent_run(pods[cli].ns, "udp-client", "--dst", pods[srv].ip, "--port", port,
                          "--sport", 41000 + i, "--sizes", ",".join(map(str, sizes)))
        elif kind == "sleep":
            time.sleep(a[1])
        time.sleep(0.15)
