#!/usr/bin/env python3
"""Regenerate the sample captures in sample_pcaps/ together with their answer key.

Run as root (it builds network namespaces):

    sudo /work/venv/bin/python tools/make_samples.py [--out sample_pcaps] [--only FILE ...]

What it makes (see sample_pcaps/README.md, written by this script, for the details):

* vxlan-flannel-8472.pcap   real kernel VXLAN lab, flannel-like (UDP 8472, VNI 1, 3 nodes)
* vxlan-4789.pcap           real kernel VXLAN lab on the IANA port (UDP 4789, VNI 42, 2 nodes)
* ipip.pcap                 IPv4-in-IPv4 (Calico tunl0-like): real pod packets from a routed
                            kernel lab (pod MTU 1480), each wrapped in an outer IPv4 header
* geneve.pcap               Geneve (UDP 6081, VNI 100, pod MTU 1450): real pod packets from a
                            routed kernel lab, wrapped in Ethernet/IPv4/UDP/Geneve/Ethernet
* native-bgp.pcap           real kernel routed lab without encapsulation plus an iBGP full mesh
                            on TCP 179 (real kernel TCP sessions carrying dpkt.bgp messages)
* vxlan-mtu-broken.pcap     real kernel flannel lab whose pods are left at MTU 1500 while
                            flannel.1 is 1450 (fragmentation, MSS 1460, PMTUD and a PMTU black hole)
* vxlan-mtu-broken.node1-any.pcap  the same run captured on node 1 with `tcpdump -i any`
                            (Linux cooked/SLL link type) where the ICMP frag-needed is visible

plus sample_pcaps/truth.json (machine-readable answer key) and sample_pcaps/README.md.

Needs: iproute2 (ip, bridge, tc), tcpdump, ethtool (offloads must be off so that captured sizes
are wire sizes), dpkt.  tshark is used for an extra check when installed.  All traffic stays
inside network namespaces named pcd-*, which are torn down before and after the run.
"""
from __future__ import annotations

import argparse
import collections
import ipaddress
import json
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field

try:
    import dpkt
    from dpkt import bgp as dbgp
except ImportError:  # pragma: no cover
    sys.exit("make_samples.py needs dpkt: run it with the project's venv python")

PREFIX = "pcd-"             # every namespace this script creates starts with this
SEED = 4242
MAX_BYTES = 300 * 1024
SNAPLEN = 262144
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERBOSE = False

# --------------------------------------------------------------------------------------------
# The agent: runs inside a pod / node namespace (stdlib only).
# --------------------------------------------------------------------------------------------
AGENT_SRC = r'''
import argparse, json, random, select, socket, struct, sys, threading, time

def say(*a):
    print(*a, flush=True)

def blob(n):
    return random.Random(n).randbytes(n)

def recv_line(c):
    b = b""
    while not b.endswith(b"\n"):
        d = c.recv(1)
        if not d:
            break
        b += d
    return b.decode(errors="replace").strip()

def drain(c):
    n = 0
    while True:
        d = c.recv(65536)
        if not d:
            return n
        n += len(d)

def tcp_server(a):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.bind, a.port))
    s.listen(16)
    say("READY")
    for _ in range(a.conns):
        c, peer = s.accept()
        c.settimeout(60)
        req = recv_line(c).split()
        if req and req[0] == "GET":
            c.sendall(blob(int(req[1])))
            c.shutdown(socket.SHUT_WR)
            drain(c)
        elif req and req[0] == "PUT":
            want, got = int(req[1]), 0
            while got < want:
                d = c.recv(min(65536, want - got))
                if not d:
                    break
                got += len(d)
            c.sendall(("OK %d\n" % got).encode())
            drain(c)
        c.close()
        say("served", peer, req)

def tcp_client(a):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.sport:
        c.bind(("", a.sport))
    c.settimeout(a.timeout)
    t0 = time.time()
    c.connect((a.dst, a.port))
    if a.get:
        c.sendall(("GET %d\n" % a.get).encode())
        say("got", drain(c))
    else:
        c.sendall(("PUT %d\n" % a.put).encode())
        c.sendall(blob(a.put))
        say(recv_line(c))
    c.close()
    say("elapsed %.3f" % (time.time() - t0))

def udp_echo(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.bind, a.port))
    say("READY")
    while True:
        d, peer = s.recvfrom(65535)
        try:
            s.sendto(d, peer)
        except OSError as e:
            say("send error", e)

def udp_client(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.sport:
        s.bind(("", a.sport))
    s.settimeout(a.wait)
    for size in a.sizes.split(","):
        n = int(size)
        try:
            s.sendto(blob(n), (a.dst, a.port))
            d, _ = s.recvfrom(65535)
            say("udp", n, "echo", len(d))
        except (socket.timeout, OSError) as e:
            say("udp", n, "error", repr(e))
        time.sleep(a.gap)

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

def ping(a):
    # like iputils ping: 16-byte timeval then bytes equal to their offset; DF as -M do/dont
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setsockopt(socket.IPPROTO_IP, 10, 2 if a.df else 0)   # IP_MTU_DISCOVER: DO / DONT
    for seq in range(1, a.count + 1):
        now = time.time()
        if a.size >= 16:
            payload = struct.pack("=qq", int(now), int((now % 1) * 1e6))
            payload += bytes(i & 0xFF for i in range(16, a.size))
        else:
            payload = bytes(range(a.size))
        c = csum(struct.pack("!BBHHH", 8, 0, 0, a.ident, seq) + payload)
        pkt = struct.pack("!BBHHH", 8, 0, c, a.ident, seq) + payload
        try:
            s.sendto(pkt, (a.dst, 0))
        except OSError as e:
            say("ping", seq, "send error", e.strerror)
            time.sleep(a.interval)
            continue
        deadline, got = time.time() + a.wait, None
        while True:
            left = deadline - time.time()
            if left <= 0:
                break
            r, _, _ = select.select([s], [], [], left)
            if not r:
                break
            d, src = s.recvfrom(65535)
            ihl = (d[0] & 15) * 4
            t, code, _, rid, rseq = struct.unpack("!BBHHH", d[ihl:ihl + 8])
            if t == 0 and rid == a.ident and rseq == seq:
                got = len(d) - ihl - 8
                break
            if t == 3:
                say("ping", seq, "icmp error from", src[0], "type", t, "code", code)
        say("ping", seq, "reply" if got is not None else "timeout", got)
        time.sleep(a.interval)

def bgp_session(c, msgs, ka, name):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf, seen = b"", []
    def pump(timeout):
        nonlocal buf
        r, _, _ = select.select([c], [], [], timeout)
        if not r:
            return
        d = c.recv(65535)
        if not d:
            raise EOFError
        buf += d
        while len(buf) >= 19:
            ln = struct.unpack("!H", buf[16:18])[0]
            if len(buf) < ln:
                break
            seen.append(buf[18])
            buf = buf[ln:]
    def wait_for(t):
        while t not in seen:
            pump(30)
        seen.remove(t)
    try:
        c.sendall(msgs["open"])
        wait_for(1)
        c.sendall(msgs["keepalive"])
        wait_for(4)
        say("ESTABLISHED", name)
        time.sleep(0.05)
        c.sendall(msgs["update"])
        time.sleep(0.05)
        c.sendall(msgs["eor"])
        nxt = time.time() + ka
        while True:
            pump(max(0.0, nxt - time.time()))
            if time.time() >= nxt:
                c.sendall(msgs["keepalive"])
                nxt += ka
    except (EOFError, OSError):
        return

def bgp(a):
    msgs = {k: bytes.fromhex(v) for k, v in json.load(open(a.msgs)).items()}
    ls = None
    if a.listen:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((a.local, 179))
        ls.listen(8)
    say("READY")
    def acceptor():
        for _ in range(a.listen):
            c, peer = ls.accept()
            threading.Thread(target=bgp_session, args=(c, msgs, a.keepalive, peer[0]), daemon=True).start()
    if ls is not None:
        threading.Thread(target=acceptor, daemon=True).start()
    for peer in [p for p in a.connect.split(",") if p]:
        c = socket.socket()
        c.bind((a.local, 0))
        c.connect((peer, 179))
        threading.Thread(target=bgp_session, args=(c, msgs, a.keepalive, peer), daemon=True).start()
    while True:
        time.sleep(1)

p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="cmd", required=True)
q = sub.add_parser("tcp-server"); q.add_argument("--bind", default="0.0.0.0"); q.add_argument("--port", type=int); q.add_argument("--conns", type=int, default=1)
q = sub.add_parser("tcp-client"); q.add_argument("--dst"); q.add_argument("--port", type=int); q.add_argument("--sport", type=int, default=0)
q.add_argument("--get", type=int, default=0); q.add_argument("--put", type=int, default=0); q.add_argument("--timeout", type=float, default=30)
q = sub.add_parser("udp-echo"); q.add_argument("--bind", default="0.0.0.0"); q.add_argument("--port", type=int)
q = sub.add_parser("udp-client"); q.add_argument("--dst"); q.add_argument("--port", type=int); q.add_argument("--sport", type=int, default=0)
q.add_argument("--sizes"); q.add_argument("--wait", type=float, default=1.0); q.add_argument("--gap", type=float, default=0.05)
q = sub.add_parser("ping"); q.add_argument("--dst"); q.add_argument("--count", type=int, default=3); q.add_argument("--size", type=int, default=56)
q.add_argument("--df", action="store_true"); q.add_argument("--ident", type=int, default=0x1234)
q.add_argument("--interval", type=float, default=0.2); q.add_argument("--wait", type=float, default=1.0)
q = sub.add_parser("bgp"); q.add_argument("--local"); q.add_argument("--listen", type=int, default=0); q.add_argument("--connect", default="")
q.add_argument("--msgs"); q.add_argument("--keepalive", type=float, default=3.0)
a = p.parse_args()
{"tcp-server": tcp_server, "tcp-client": tcp_client, "udp-echo": udp_echo, "udp-client": udp_client,
 "ping": ping, "bgp": bgp}[a.cmd](a)
'''


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def log(*a):
    print(*a, flush=True)


def vlog(*a):
    if VERBOSE:
        print("   ", *a, flush=True)


def sh(args, check=True, timeout=120):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
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


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def csum16(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s >> 16) + (s & 0xFFFF)
    return ~s & 0xFFFF


def ip_aton(ip):
    return bytes(octets(ip))


def ipv4_header(src, dst, proto, payload_len, ident, ttl, df=True, tos=0):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + payload_len, ident & 0xFFFF,
                      0x4000 if df else 0, ttl, proto, 0, ip_aton(src), ip_aton(dst))
    return hdr[:10] + struct.pack("!H", csum16(hdr)) + hdr[12:]


def udp_segment(src, dst, sport, dport, payload, with_csum=True):
    ln = 8 + len(payload)
    seg = struct.pack("!HHHH", sport, dport, ln, 0) + payload
    if not with_csum:
        return seg
    pseudo = ip_aton(src) + ip_aton(dst) + struct.pack("!BBH", 0, 17, ln)
    c = csum16(pseudo + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def flow_src_port(data, lo=32768, hi=61000):
    """Like the kernel's udp_flow_src_port(): a hash of the inner flow mapped into a port range."""
    return lo + zlib.crc32(data) % (hi - lo)


# --------------------------------------------------------------------------------------------
# the namespace lab
# --------------------------------------------------------------------------------------------
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
        self.agent = os.path.join(workdir, "agent.py")
        with open(self.agent, "w") as f:
            f.write(AGENT_SRC)
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
        out = sh(["ip", "netns", "exec", ns, sys.executable, self.agent, *map(str, args)], timeout=timeout)
        vlog(ns, " ".join(map(str, args)), "->", " | ".join(out.strip().splitlines()))
        return out

    def agent_bg(self, ns, *args, ready="READY"):
        p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-u", self.agent, *map(str, args)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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


# --------------------------------------------------------------------------------------------
# traffic
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# BGP messages (dpkt.bgp), verified by parsing them back
# --------------------------------------------------------------------------------------------
BGP_ASN = 64512
BGP_HOLD = 9
BGP_KEEPALIVE = 3.0


def _bgp_wrap(msg_type, body):
    m = dbgp.BGP(marker=b"\xff" * 16, len=19 + len(body), type=msg_type)
    m.data = body
    return bytes(m.pack_hdr()) + body


def bgp_messages(node_ip, cidr):
    caps = [(1, struct.pack("!HBB", dbgp.AFI_IPV4, 0, dbgp.SAFI_UNICAST)),   # multiprotocol IPv4 unicast
            (2, b""),                                                         # route refresh
            (65, struct.pack("!I", BGP_ASN))]                                  # 4-octet AS
    params = []
    for code, val in caps:
        cap = dbgp.BGP.Open.Parameter.Capability(code=code, len=len(val))
        cap.data = val
        par = dbgp.BGP.Open.Parameter(type=dbgp.CAPABILITY, len=len(bytes(cap)))
        par.data = cap
        params.append(par)
    op = dbgp.BGP.Open(v=4, asn=BGP_ASN, holdtime=BGP_HOLD, identifier=int(ipaddress.IPv4Address(node_ip)))
    op.parameters = params
    A = dbgp.BGP.Update.Attribute
    attrs = []
    for atype, body in ((dbgp.ORIGIN, bytes(A.Origin(type=dbgp.ORIGIN_IGP))),
                        (dbgp.AS_PATH, b""),                                   # iBGP: empty AS_PATH
                        (dbgp.NEXT_HOP, bytes(A.NextHop(ip=int(ipaddress.IPv4Address(node_ip))))),
                        (dbgp.LOCAL_PREF, bytes(A.LocalPref(value=100)))):
        at = A(flags=0x40, type=atype)
        at.len = len(body)
        at.data = body
        attrs.append(at)
    net = ipaddress.IPv4Network(cidr)
    route = dbgp.RouteIPV4(len=net.prefixlen)
    route.prefix = net.network_address.packed
    upd = dbgp.BGP.Update()
    upd.withdrawn, upd.attributes, upd.announced = [], attrs, [route]
    msgs = {"open": _bgp_wrap(dbgp.OPEN, bytes(op)),
            "keepalive": _bgp_wrap(dbgp.KEEPALIVE, b""),
            "update": _bgp_wrap(dbgp.UPDATE, bytes(upd)),
            "eor": _bgp_wrap(dbgp.UPDATE, b"\x00\x00\x00\x00")}
    # parse back with dpkt
    o = dbgp.BGP(msgs["open"])
    assert o.type == dbgp.OPEN and o.open.asn == BGP_ASN and o.open.holdtime == BGP_HOLD
    assert [p.capability.code for p in o.open.parameters] == [1, 2, 65]
    u = dbgp.BGP(msgs["update"])
    assert u.type == dbgp.UPDATE
    got = ["%s/%d" % (ipaddress.IPv4Address(r.prefix), r.len) for r in u.update.announced]
    assert got == [cidr], got
    nh = [a.next_hop.ip for a in u.update.attributes if a.type == dbgp.NEXT_HOP]
    assert nh == [int(ipaddress.IPv4Address(node_ip))]
    k = dbgp.BGP(msgs["keepalive"])
    assert k.type == dbgp.KEEPALIVE and k.len == 19
    e = dbgp.BGP(msgs["eor"])
    assert e.type == dbgp.UPDATE and not e.update.announced and not e.update.attributes
    return msgs


def start_bgp_mesh(lab: Lab, nodes):
    """iBGP full mesh: node i connects to every node j > i (j listens)."""
    procs = []
    for n in reversed(nodes):
        path = os.path.join(lab.workdir, f"bgp-{n.name}.json")
        with open(path, "w") as f:
            json.dump({k: v.hex() for k, v in bgp_messages(n.ip, n.cidr).items()}, f)
        listen = sum(1 for m in nodes if m.idx < n.idx)
        connect = ",".join(m.ip for m in nodes if m.idx > n.idx)
        procs.append(lab.agent_bg(n.ns, "bgp", "--local", n.ip, "--listen", listen, "--connect", connect,
                                  "--msgs", path, "--keepalive", BGP_KEEPALIVE))
    return procs


# --------------------------------------------------------------------------------------------
# dpkt-built encapsulations from real (routed lab) pod packets
# --------------------------------------------------------------------------------------------
def _owner(nodes, ip):
    a = ipaddress.IPv4Address(ip)
    for n in nodes:
        if a in ipaddress.IPv4Network(n.cidr):
            return n
    return None


def _ip_src_dst(ipb):
    return ".".join(map(str, ipb[12:16])), ".".join(map(str, ipb[16:20]))


def _wrap_cross_node(src_pcap, dst_pcap, nodes, wrap):
    """Copy a native capture, replacing each IPv4 frame between pods of two different nodes by
    wrap(ipb, src, dst, src_node, dst_node): the tunnel frame that crosses the underlay instead."""
    with open(src_pcap, "rb") as fi, open(dst_pcap, "wb") as fo:
        w = dpkt.pcap.Writer(fo, snaplen=SNAPLEN, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, buf in dpkt.pcap.Reader(fi):
            if struct.unpack("!H", buf[12:14])[0] == 0x0800:
                ipb = buf[14:]
                ipb = ipb[:struct.unpack("!H", ipb[2:4])[0]]
                s, d = _ip_src_dst(ipb)
                sn, dn = _owner(nodes, s), _owner(nodes, d)
                if sn and dn and sn is not dn:
                    buf = wrap(ipb, s, d, sn, dn)
            w.writepkt(buf, ts)


def _next_ip_id(ids, rnd, sn, dn):
    """Per node pair, IP IDs counting up from a random start (as the kernel's per-destination counter)."""
    key = (sn.ip, dn.ip)
    ids[key] = ids.get(key, rnd.randrange(0x10000)) + 1
    return ids[key]


def wrap_ipip(src_pcap, dst_pcap, nodes):
    """Calico tunl0-like IPIP: outer IPv4 node->node, protocol 4, DF set (pmtudisc), TTL inherited
    from the inner packet (tunl0 default `ttl inherit`), outer Ethernet = the node MACs."""
    rnd, ids, wrapped = random.Random(SEED + 4), {}, [0]

    def wrap(ipb, s, d, sn, dn):
        outer = ipv4_header(sn.ip, dn.ip, 4, len(ipb), _next_ip_id(ids, rnd, sn, dn), ttl=ipb[8], df=True)
        wrapped[0] += 1
        return mac_bytes(dn.mac) + mac_bytes(sn.mac) + b"\x08\x00" + outer + ipb

    _wrap_cross_node(src_pcap, dst_pcap, nodes, wrap)
    return wrapped[0]


GENEVE_OPT_CLASS = 0x0102      # OVN
GENEVE_OPT_TYPE = 0x80


def wrap_geneve(src_pcap, dst_pcap, nodes, vni):
    """Geneve (UDP 6081): outer IPv4 node->node with DF (OVS default) and TTL 64, UDP source port
    hashed from the inner flow, UDP checksum present, Geneve protocol 0x6558 (inner Ethernet:
    dst = destination pod MAC, src = destination subnet's router MAC). ICMP and UDP packets carry one
    8-byte OVN-style option (class 0x0102 type 0x80, 4 bytes data); TCP packets carry none."""
    rnd, ids, counts = random.Random(SEED + 6), {}, {"wrapped": 0, "options": 0}

    def wrap(ipb, s, d, sn, dn):
        opts = b""
        if ipb[9] != 6:
            si = int(s.split(".")[3]) + 16 * sn.idx
            di = int(d.split(".")[3]) + 16 * dn.idx
            opts = struct.pack("!HBB", GENEVE_OPT_CLASS, GENEVE_OPT_TYPE, 1) + struct.pack("!HH", si, di)
            counts["options"] += 1
        gen = struct.pack("!BBH", len(opts) // 4, 0, 0x6558) + struct.pack("!I", vni << 8) + opts
        inner = mac_bytes(mac_0a58(d)) + mac_bytes(mac_0a58(dn.gw)) + b"\x08\x00" + ipb
        ihl = (ipb[0] & 15) * 4
        sport = flow_src_port(ipb[9:10] + ipb[12:20] + ipb[ihl:ihl + 4])
        udp = udp_segment(sn.ip, dn.ip, sport, 6081, gen + inner, with_csum=True)
        outer = ipv4_header(sn.ip, dn.ip, 17, len(udp), _next_ip_id(ids, rnd, sn, dn), ttl=64, df=True)
        assert 20 + len(udp) <= 1500, "Geneve packet larger than the underlay MTU"
        counts["wrapped"] += 1
        return mac_bytes(dn.mac) + mac_bytes(sn.mac) + b"\x08\x00" + outer + udp

    _wrap_cross_node(src_pcap, dst_pcap, nodes, wrap)
    return counts["wrapped"], counts["options"]


# --------------------------------------------------------------------------------------------
# independent verification (dpkt + own checksum code) and statistics
# --------------------------------------------------------------------------------------------
TUNNEL_UDP = {8472: "vxlan", 4789: "vxlan", 6081: "geneve"}


def _ip(b):
    if len(b) < 20 or b[0] >> 4 != 4:
        return None
    ihl = (b[0] & 15) * 4
    tot, ident, fo = struct.unpack("!HHH", b[2:8])
    return dict(ihl=ihl, len=tot, id=ident, df=bool(fo & 0x4000), mf=bool(fo & 0x2000),
                off=(fo & 0x1FFF) * 8, ttl=b[8], proto=b[9],
                src=".".join(map(str, b[12:16])), dst=".".join(map(str, b[16:20])),
                hdr_ok=csum16(b[:ihl]) == 0, raw=b[:tot], payload=b[ihl:tot], truncated=len(b) < tot)


def _l4_ok(ip, proto):
    seg = ip["payload"]
    pseudo = ip_aton(ip["src"]) + ip_aton(ip["dst"]) + struct.pack("!BBH", 0, proto, len(seg))
    return csum16(pseudo + seg) == 0


def analyze(path, pod_cidrs=(), not_pods=()):
    """Decode a capture with dpkt's pcap reader and this module's own header parsing; count
    classes, flows, fragments, ICMP errors, BGP, and every checksum or length that does not add up."""
    nets = [ipaddress.IPv4Network(c) for c in pod_cidrs]
    not_pods = set(not_pods)
    st = dict(frames=0, bytes=os.path.getsize(path), classes=collections.Counter(),
              inner_proto=collections.Counter(), vni=collections.Counter(), udp_port=collections.Counter(),
              outer_pairs=collections.Counter(), errors=collections.Counter(), icmp=collections.Counter(),
              frag_needed=[], inner_fragments=0, outer_fragments=0, max_frame=0, max_outer_ip=0,
              max_inner_ip=0, overhead=collections.Counter(), geneve_with_options=0, outer_df=0,
              outer_udp_csum_zero=0, pods_seen=set(), syn_mss=collections.Counter(), bgp=collections.Counter(),
              bgp_announcements=[], linktype=None, snaplen=None)
    flows = {}
    bgp_buf = {}
    with open(path, "rb") as f:
        r = dpkt.pcap.Reader(f)
        lt = r.datalink()
        st["linktype"], st["snaplen"] = lt, r.snaplen
        for ts, buf in r:
            st["frames"] += 1
            st["max_frame"] = max(st["max_frame"], len(buf))
            if lt == dpkt.pcap.DLT_EN10MB:
                etype, l3 = struct.unpack("!H", buf[12:14])[0], buf[14:]
            elif lt == 113:             # Linux cooked (SLL)
                etype, l3 = struct.unpack("!H", buf[14:16])[0], buf[16:]
            else:
                raise ValueError("unexpected link type %d" % lt)
            if etype == 0x0806:
                st["classes"]["arp"] += 1
                continue
            if etype != 0x0800:
                st["classes"]["other"] += 1
                continue
            ip = outer = _ip(l3)
            if ip is None:
                st["errors"]["bad_ip"] += 1
                continue
            st["max_outer_ip"] = max(st["max_outer_ip"], ip["len"])
            chain = []
            while True:
                if not ip["hdr_ok"]:
                    st["errors"]["ip_header_checksum"] += 1
                if ip["truncated"]:
                    st["errors"]["ip_truncated"] += 1
                frag = ip["mf"] or ip["off"]
                p = ip["payload"]
                if ip["proto"] == 17 and not frag and len(p) >= 16 and struct.unpack("!H", p[2:4])[0] in TUNNEL_UDP:
                    dport = struct.unpack("!H", p[2:4])[0]
                    kind = TUNNEL_UDP[dport]
                    if struct.unpack("!H", p[6:8])[0] == 0:
                        if not chain:
                            st["outer_udp_csum_zero"] += 1
                    elif not _l4_ok(ip, 17):
                        st["errors"]["tunnel_udp_checksum"] += 1
                    if struct.unpack("!H", p[4:6])[0] != len(p):
                        st["errors"]["tunnel_udp_length"] += 1
                    if kind == "vxlan":
                        if not p[8] & 0x08:
                            st["errors"]["vxlan_flags"] += 1
                        vni = struct.unpack("!I", p[12:16])[0] >> 8
                        inner_eth = p[16:]
                    else:
                        optlen = (p[8] & 0x3F) * 4
                        if struct.unpack("!H", p[10:12])[0] != 0x6558:
                            st["errors"]["geneve_proto"] += 1
                        vni = struct.unpack("!I", p[12:16])[0] >> 8
                        if optlen and not chain:
                            st["geneve_with_options"] += 1
                        inner_eth = p[16 + optlen:]
                    if not chain:
                        st["vni"][vni] += 1
                        st["udp_port"][dport] += 1
                    chain.append(kind)
                    if struct.unpack("!H", inner_eth[12:14])[0] != 0x0800:
                        st["classes"][kind + ">non-ip"] += 1
                        ip = None
                        break
                    nxt = _ip(inner_eth[14:])
                elif ip["proto"] == 4 and not frag:
                    chain.append("ipip")
                    nxt = _ip(p)
                else:
                    break
                if nxt is None:
                    st["errors"]["bad_inner_ip"] += 1
                    ip = None
                    break
                ip = nxt
            if ip is None:
                continue
            cls = chain[0] if chain else "native"
            st["classes"][cls] += 1
            if chain:
                st["outer_pairs"]["%s>%s" % (outer["src"], outer["dst"])] += 1
                st["overhead"][outer["len"] - ip["len"]] += 1
                st["max_inner_ip"] = max(st["max_inner_ip"], ip["len"])
                if outer["df"]:
                    st["outer_df"] += 1
                if outer["mf"] or outer["off"]:
                    st["outer_fragments"] += 1
                if ip["mf"] or ip["off"]:
                    st["inner_fragments"] += 1
            else:
                st["max_inner_ip"] = max(st["max_inner_ip"], ip["len"])
                if ip["mf"] or ip["off"]:
                    st["inner_fragments"] += 1
            for a in (ip["src"], ip["dst"]):
                if a not in not_pods and any(ipaddress.IPv4Address(a) in n for n in nets):
                    st["pods_seen"].add(a)
            pname = {1: "icmp", 6: "tcp", 17: "udp"}.get(ip["proto"], str(ip["proto"]))
            if ip["mf"] or ip["off"]:
                st["inner_proto"][pname + "-fragment"] += 1
                continue
            st["inner_proto"][pname] += 1
            p = ip["payload"]
            if ip["proto"] in (1, 6, 17) and not ip["truncated"]:
                if ip["proto"] == 17 and struct.unpack("!H", p[6:8])[0] == 0:
                    pass
                elif (ip["proto"] == 1 and csum16(p) != 0) or (ip["proto"] != 1 and not _l4_ok(ip, ip["proto"])):
                    st["errors"][pname + "_checksum"] += 1
            if ip["proto"] == 1:
                t, c = p[0], p[1]
                st["icmp"]["%d/%d" % (t, c)] += 1
                if t == 3 and c == 4:
                    q = _ip(p[8:]) if len(p) >= 28 else None
                    st["frag_needed"].append(dict(src=ip["src"], dst=ip["dst"], mtu=struct.unpack("!H", p[6:8])[0],
                                                  quoted_src=q and q["src"], quoted_dst=q and q["dst"],
                                                  quoted_len=q and q["len"]))
            elif ip["proto"] in (6, 17):
                sport, dport = struct.unpack("!HH", p[:4])
                key = (pname, ip["src"], sport, ip["dst"], dport)
                rkey = (pname, ip["dst"], dport, ip["src"], sport)
                if rkey in flows:
                    fl, d = flows[rkey], "rev"
                else:
                    fl, d = flows.setdefault(key, dict(fwd=[0, 0], rev=[0, 0], syn_mss=None, synack_mss=None,
                                                       max_seg=0, retrans=0, seen={}, first=ts, last=ts,
                                                       fin=0, rst=0)), "fwd"
                fl["last"] = ts
                if pname == "udp":
                    fl[d][0] += 1
                    fl[d][1] += len(p) - 8
                    continue
                seq = struct.unpack("!I", p[4:8])[0]
                doff = (p[12] >> 4) * 4
                flags = p[13]
                plen = len(p) - doff
                fl[d][0] += 1
                fl[d][1] += plen
                fl["max_seg"] = max(fl["max_seg"], plen)
                if flags & 0x01:
                    fl["fin"] += 1
                if flags & 0x04:
                    fl["rst"] += 1
                if flags & 0x02:
                    mss = _tcp_mss(p[20:doff])
                    if flags & 0x10:
                        fl["synack_mss"] = mss
                    else:
                        fl["syn_mss"] = mss
                    st["syn_mss"][mss] += 1
                if plen:
                    s = fl["seen"].setdefault(d, set())
                    if seq in s:
                        fl["retrans"] += 1
                    s.add(seq)
                if 179 in (sport, dport) and plen:
                    _bgp_feed(st, bgp_buf, (ip["src"], sport, ip["dst"], dport), p[doff:])
    st["flows"] = []
    for (proto, a, ap, b, bp), fl in flows.items():
        st["flows"].append(dict(proto=proto, client="%s:%d" % (a, ap), server="%s:%d" % (b, bp),
                                packets=[fl["fwd"][0], fl["rev"][0]], payload_bytes=[fl["fwd"][1], fl["rev"][1]],
                                syn_mss=fl["syn_mss"], synack_mss=fl["synack_mss"], max_segment=fl["max_seg"],
                                repeated_seq=fl["retrans"], fin=fl["fin"], rst=fl["rst"],
                                duration=round(fl["last"] - fl["first"], 3)))
    st["pods_seen"] = sorted(st["pods_seen"], key=lambda s: ipaddress.IPv4Address(s))
    grouped = collections.Counter(tuple(sorted(f.items())) for f in st["frag_needed"])
    st["frag_needed"] = [dict(k, count=c) for k, c in grouped.items()]
    return st


def _tcp_mss(opts):
    i = 0
    while i < len(opts):
        k = opts[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(opts):
            break
        ln = opts[i + 1]
        if k == 2 and ln == 4:
            return struct.unpack("!H", opts[i + 2:i + 4])[0]
        i += max(ln, 2)
    return None


def _bgp_feed(st, bufs, key, data):
    b = bufs.get(key, b"") + data
    while len(b) >= 19:
        ln = struct.unpack("!H", b[16:18])[0]
        if len(b) < ln:
            break
        m = dbgp.BGP(b[:ln])
        b = b[ln:]
        name = {1: "open", 2: "update", 3: "notification", 4: "keepalive"}.get(m.type, str(m.type))
        if m.type == dbgp.UPDATE and not m.update.announced and not m.update.attributes:
            name = "end-of-rib"
        st["bgp"][name] += 1
        if m.type == dbgp.UPDATE:
            nh = [str(ipaddress.IPv4Address(a.next_hop.ip)) for a in m.update.attributes if a.type == dbgp.NEXT_HOP]
            for r in m.update.announced:
                st["bgp_announcements"].append(dict(speaker=key[0], peer=key[2],
                                                    prefix="%s/%d" % (ipaddress.IPv4Address(r.prefix), r.len),
                                                    next_hop=nh[0] if nh else None))
    bufs[key] = b


def tshark_check(path, decode_as):
    """Extra check with tshark when it is installed: no expert errors (bad checksums, malformed)."""
    tshark = shutil.which("tshark")
    if not tshark:
        return None
    base = [tshark, "-n", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
            "-o", "udp.check_checksum:TRUE", "-o", "tcp.desegment_tcp_streams:FALSE",
            "--disable-protocol", "http"]
    for d in decode_as:
        base += ["-d", d]

    def count(flt):
        out = sh(base + ["-Y", flt, "-T", "fields", "-e", "frame.number"], check=False)
        return len(out.split())
    # checksum status 0 = bad. The TCP/UDP header quoted inside an ICMP error is cut short, so
    # tshark's check of it is meaningless: those frames only count their ICMP checksum.
    bad = ("(!icmp && (ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0))"
           " || icmp.checksum.status == 0")
    return dict(frames=count("frame"), vxlan=count("vxlan"), geneve=count("geneve"),
                ipip=count("ip.proto == 4"), bgp_update=count("bgp.type == 2"),
                bad_checksums=count(bad), malformed=count("_ws.malformed"))


# --------------------------------------------------------------------------------------------
# the samples
# --------------------------------------------------------------------------------------------
FLANNEL = LabSpec(key="fl", underlay="192.168.50", n_nodes=3, pods_per_node=[3, 3, 3], pod_net="10.244.{n}",
                  mode="vxlan", pod_mtu=1450, tunnel_mtu=1450, vxlan_port=8472, vni=1, vxlan_dev="flannel.1")
FLANNEL_ACTIONS = [
    ("ping", "n1p1", "n2p1", 3, 56, True),
    ("ping", "n1p2", "n3p1", 3, 56, True),
    ("ping", "n2p2", "n3p2", 3, 56, True),
    ("ping", "n3p3", "n1p3", 3, 56, True),
    ("ping", "n2p3", "n1p1", 2, 56, True),
    ("ping", "n1p1", "n3p2", 2, 1422, True),           # 1450-byte inner IP packets: exactly the pod MTU
    ("get", "n1p1", "n2p1", 8080, 40000),
    ("get", "n3p1", "n2p1", 8080, 12000),
    ("put", "n1p2", "n3p3", 9090, 20000),
    ("udp", "n2p2", "n3p1", 5000, [32, 200, 512, 1000, 1400, 64]),
]

VXLAN4789 = LabSpec(key="vx", underlay="192.168.60", n_nodes=2, pods_per_node=[2, 2], pod_net="10.42.{n}",
                    mode="vxlan", pod_mtu=1450, tunnel_mtu=1450, vxlan_port=4789, vni=42, vxlan_dev="vxlan42")
VXLAN4789_ACTIONS = [
    ("ping", "n1p1", "n2p1", 3, 56, True),
    ("ping", "n2p2", "n1p2", 3, 56, True),
    ("get", "n1p2", "n2p1", 8080, 20000),
    ("udp", "n1p1", "n2p2", 5000, [64, 700, 1400]),
]

IPIP = LabSpec(key="ip", underlay="10.10.0", n_nodes=3, pods_per_node=[2, 2, 2], pod_net="10.100.{n}",
               mode="routed", pod_mtu=1480)
IPIP_ACTIONS = [
    ("ping", "n1p1", "n2p1", 3, 56, True),
    ("ping", "n3p1", "n1p2", 3, 56, True),
    ("ping", "n2p2", "n3p2", 2, 1452, True),           # 1480-byte inner IP packets
    ("get", "n1p1", "n2p2", 8080, 30000),
    ("put", "n3p2", "n1p1", 9090, 10000),
    ("udp", "n2p1", "n3p1", 5000, [100, 1000]),
]

GENEVE = LabSpec(key="ge", underlay="10.20.0", n_nodes=2, pods_per_node=[2, 2], pod_net="10.200.{n}",
                 mode="routed", pod_mtu=1450)
GENEVE_VNI = 100
GENEVE_ACTIONS = [
    ("ping", "n1p1", "n2p1", 3, 56, True),
    ("ping", "n2p2", "n1p2", 3, 56, True),
    ("get", "n1p2", "n2p1", 8080, 25000),
    ("put", "n2p2", "n1p1", 9090, 8000),
    ("udp", "n1p1", "n2p2", 5000, [64, 512, 1000]),
]

NATIVE = LabSpec(key="na", underlay="10.30.0", n_nodes=3, pods_per_node=[2, 2, 2], pod_net="10.130.{n}",
                 mode="routed", pod_mtu=1500)
NATIVE_ACTIONS = [
    ("ping", "n1p1", "n2p1", 3, 56, True),
    ("ping", "n2p2", "n3p1", 3, 56, True),
    ("ping", "n3p2", "n1p2", 2, 1472, True),           # 1500-byte pod packets: no overhead on native routing
    ("get", "n1p1", "n3p1", 8080, 30000),
    ("put", "n2p1", "n1p2", 9090, 10000),
    ("udp", "n3p2", "n2p2", 5000, [100, 1400]),
]

MTU = LabSpec(key="mt", underlay="192.168.90", n_nodes=2, pods_per_node=[3, 2], pod_net="10.244.{n}",
              mode="vxlan", pod_mtu=1500, tunnel_mtu=1450, vxlan_port=8472, vni=1, vxlan_dev="flannel.1")
MTU_BLACKHOLE_POD = "n1p3"
MTU_ACTIONS = [
    ("ping", "n1p1", "n2p1", 3, 56, True),             # small: fine
    ("ping", "n1p1", "n2p1", 2, 1472, False),          # 1500-byte, DF clear: node fragments -> inner fragments
    ("ping", "n1p2", "n2p2", 2, 1472, True),           # 1500-byte, DF: dropped at node 1 + ICMP 3/4 (mtu 1450)
    ("put", "n1p2", "n2p1", 8080, 7000),               # MSS 1460; 1448-byte segments dropped, ICMP, resent smaller
    ("get", "n1p1", "n2p2", 8080, 7000),               # same on the server side (node 2 drops, ICMP to n2p2)
    ("put", MTU_BLACKHOLE_POD, "n2p2", 8080, 7000),    # ICMP filtered at the pod: PMTU black hole until MTU probing
    ("udp", "n1p1", "n2p1", 5000, [100, 1200, 1472, 1472, 1472, 100]),
]


def kernel_capture(lab, spec, actions, pcap_path, bgp=False, pod_hook=None, node_any=None):
    sw, nodes = lab.build(spec)
    if pod_hook:
        pod_hook(lab, nodes)
    caps = []
    try:
        caps.append(Capture(sw, "br0", pcap_path))
        if node_any:
            caps.append(Capture(nodes[0].ns, "any", node_any, linktype="LINUX_SLL"))
        if bgp:
            start_bgp_mesh(lab, nodes)
            time.sleep(1.0)
        run_actions(lab, nodes, actions)
        if bgp:
            time.sleep(BGP_KEEPALIVE + 0.5)           # let one more keepalive round go by
        time.sleep(0.5)
    finally:
        for c in caps:
            c.stop()
        lab.stop_procs()
    return nodes


def blackhole_hook(lab, nodes):
    """Pod n1p3 never receives ICMP dest-unreachable (a filter on its eth0 ingress drops them: tc u32
    -> mirred to a down device) and has tcp_mtu_probing=1 (black-hole detection after RTOs)."""
    pod = {p.name: p for n in nodes for p in n.pods}[MTU_BLACKHOLE_POD]
    lab.x(pod.ns, "ip", "link", "add", "blackhole0", "type", "veth", "peer", "name", "blackhole1")
    lab.x(pod.ns, "tc", "qdisc", "add", "dev", "eth0", "ingress")
    lab.x(pod.ns, "tc", "filter", "add", "dev", "eth0", "parent", "ffff:", "protocol", "ip", "prio", "1", "u32",
          "match", "ip", "protocol", "1", "0xff", "match", "u8", "3", "0xff", "at", "20",
          "action", "mirred", "egress", "redirect", "dev", "blackhole0")
    lab.x(pod.ns, "sysctl", "-q", "-w", "net.ipv4.tcp_mtu_probing=1")


def topology(nodes, spec=None, with_vtep=False):
    out = {}
    for n in nodes:
        d = dict(name=n.name, mac=n.mac, pod_cidr=n.cidr, pods=[p.ip for p in n.pods], gateway=n.gw)
        if with_vtep:
            d.update(vtep_mac=n.vtep_mac, vtep_ip=n.tunnel_ip)
        out[n.ip] = d
    return out


def make_all(out_dir, only, workdir, results):
    lab = Lab(workdir)

    def want(name):
        return not only or name in only

    def tmp(name):
        return os.path.join(workdir, name)

    def finish(name, truth, decode_as=(), linktype=1):
        path = os.path.join(out_dir, name)
        cidrs = [v["pod_cidr"] for v in truth["nodes"].values()]
        infra = [v.get(k) for v in truth["nodes"].values() for k in ("gateway", "vtep_ip") if v.get(k)]
        st = analyze(path, cidrs, infra)
        truth["analysis"] = st
        truth["tshark"] = tshark_check(path, decode_as)
        truth["linktype"] = linktype
        results[name] = truth
        log("   wrote %s: %d bytes, %d frames, classes %s, errors %s" % (
            path, st["bytes"], st["frames"], dict(st["classes"]), dict(st["errors"]) or "none"))

    def kernel_sample(name, what, spec, actions, decode_as=(), **truth):
        """A sample captured from a real kernel VXLAN lab: run it, copy the capture, write its truth."""
        if not want(name):
            return
        log("== %s (kernel VXLAN lab, %s)" % (name, what))
        teardown_all()
        nodes = kernel_capture(lab, spec, actions, tmp(name))
        teardown_all()
        shutil.copyfile(tmp(name), os.path.join(out_dir, name))
        finish(name, dict(encapsulation="vxlan", overhead_per_packet=50, underlay_mtu=1500, tunnel_mtu=1450,
                          pod_mtu=1450, nodes=topology(nodes, with_vtep=True), fault=None, made_with="kernel",
                          actions=[list(a) for a in actions], **truth), decode_as=decode_as)

    # 1. flannel VXLAN 8472 --------------------------------------------------------------------
    kernel_sample("vxlan-flannel-8472.pcap", "3 nodes", FLANNEL, FLANNEL_ACTIONS, decode_as=["udp.port==8472,vxlan"],
                  udp_port=8472, vni=1, tunnel_device="flannel.1")

    # 2. VXLAN 4789 ----------------------------------------------------------------------------
    kernel_sample("vxlan-4789.pcap", "2 nodes", VXLAN4789, VXLAN4789_ACTIONS,
                  udp_port=4789, vni=42, tunnel_device="vxlan42")

    # 3. IPIP ----------------------------------------------------------------------------------
    name = "ipip.pcap"
    if want(name):
        log("== %s (routed kernel lab, pod MTU 1480, wrapped in IPIP with dpkt)" % name)
        teardown_all()
        raw = tmp("ipip-inner.pcap")
        nodes = kernel_capture(lab, IPIP, IPIP_ACTIONS, raw)
        teardown_all()
        n = wrap_ipip(raw, os.path.join(out_dir, name), nodes)
        log("   wrapped %d pod packets in IPIP" % n)
        finish(name, dict(
            encapsulation="ipip", udp_port=None, vni=None, overhead_per_packet=20,
            underlay_mtu=1500, tunnel_mtu=1480, pod_mtu=1480, tunnel_device="tunl0",
            nodes=topology(nodes), fault=None, made_with="kernel routed lab + dpkt IPIP wrap",
            actions=[list(a) for a in IPIP_ACTIONS]))

    # 4. Geneve --------------------------------------------------------------------------------
    name = "geneve.pcap"
    if want(name):
        log("== %s (routed kernel lab, pod MTU 1450, wrapped in Geneve with dpkt)" % name)
        teardown_all()
        raw = tmp("geneve-inner.pcap")
        nodes = kernel_capture(lab, GENEVE, GENEVE_ACTIONS, raw)
        teardown_all()
        n, n_opt = wrap_geneve(raw, os.path.join(out_dir, name), nodes, GENEVE_VNI)
        log("   wrapped %d pod packets in Geneve (%d with an option)" % (n, n_opt))
        finish(name, dict(
            encapsulation="geneve", udp_port=6081, vni=GENEVE_VNI, overhead_per_packet=50,
            geneve_option_bytes=8, underlay_mtu=1500, tunnel_mtu=1450, pod_mtu=1450,
            tunnel_device="genev_sys_6081", nodes=topology(nodes), fault=None,
            made_with="kernel routed lab + dpkt Geneve wrap", actions=[list(a) for a in GENEVE_ACTIONS]))

    # 5. native + BGP --------------------------------------------------------------------------
    name = "native-bgp.pcap"
    if want(name):
        log("== %s (routed kernel lab + iBGP full mesh)" % name)
        teardown_all()
        nodes = kernel_capture(lab, NATIVE, NATIVE_ACTIONS, tmp(name), bgp=True)
        teardown_all()
        shutil.copyfile(tmp(name), os.path.join(out_dir, name))
        finish(name, dict(
            encapsulation="native", udp_port=None, vni=None, overhead_per_packet=0,
            underlay_mtu=1500, tunnel_mtu=None, pod_mtu=1500, tunnel_device=None,
            nodes=topology(nodes), fault=None, made_with="kernel routed lab; BGP messages built with dpkt.bgp",
            bgp=dict(asn=BGP_ASN, hold_time=BGP_HOLD, keepalive_interval=BGP_KEEPALIVE,
                     sessions=[[a.ip, b.ip] for a in nodes for b in nodes if a.idx < b.idx]),
            actions=[list(a) for a in NATIVE_ACTIONS]))

    # 6. VXLAN MTU mismatch --------------------------------------------------------------------
    name = "vxlan-mtu-broken.pcap"
    any_name = "vxlan-mtu-broken.node1-any.pcap"
    if want(name) or want(any_name):
        log("== %s + %s (kernel VXLAN lab, pods MTU 1500 over flannel.1 MTU 1450)" % (name, any_name))
        teardown_all()
        nodes = kernel_capture(lab, MTU, MTU_ACTIONS, tmp(name), pod_hook=blackhole_hook,
                               node_any=tmp(any_name))
        teardown_all()
        shutil.copyfile(tmp(name), os.path.join(out_dir, name))
        detail = dict(kind="mtu_mismatch", pod_mtu=1500, tunnel_mtu=1450, vxlan_overhead=50,
                      correct_pod_mtu=1450, advertised_mss=1460, mss_that_fits=1410,
                      blackhole_pod=[p.ip for n in nodes for p in n.pods if p.name == MTU_BLACKHOLE_POD][0])
        finish(name, dict(
            encapsulation="vxlan", udp_port=8472, vni=1, overhead_per_packet=50,
            underlay_mtu=1500, tunnel_mtu=1450, pod_mtu=1500, tunnel_device="flannel.1",
            nodes=topology(nodes, with_vtep=True), fault="mtu_mismatch", fault_detail=detail, made_with="kernel",
            actions=[list(a) for a in MTU_ACTIONS]), decode_as=["udp.port==8472,vxlan"])
        any_path = os.path.join(out_dir, any_name)
        shutil.copyfile(tmp(any_name), any_path)
        if os.path.getsize(any_path) > MAX_BYTES:
            log("   %s is over %d bytes: dropped (optional capture)" % (any_name, MAX_BYTES))
            os.unlink(any_path)
        else:
            finish(any_name, dict(
                encapsulation="vxlan", udp_port=8472, vni=1, overhead_per_packet=50,
                underlay_mtu=1500, tunnel_mtu=1450, pod_mtu=1500, tunnel_device="flannel.1",
                capture_point="node %s (%s), tcpdump -i any (Linux cooked SLL): every packet is seen on "
                              "several interfaces (pod veth, cni0, flannel.1, eth0)" % (nodes[0].ip, nodes[0].name),
                nodes=topology(nodes, with_vtep=True), fault="mtu_mismatch", fault_detail=detail,
                made_with="kernel", actions=[list(a) for a in MTU_ACTIONS]),
                decode_as=["udp.port==8472,vxlan"], linktype=113)
    return results


# --------------------------------------------------------------------------------------------
# answer key: truth.json and README.md
# --------------------------------------------------------------------------------------------
def _jsonable(st):
    out = {}
    for k, v in st.items():
        if isinstance(v, collections.Counter):
            out[k] = {str(a): b for a, b in sorted(v.items(), key=lambda kv: str(kv[0]))}
        else:
            out[k] = v
    return out


DESCRIPTIONS = {
    "vxlan-flannel-8472.pcap": """\
Real kernel lab shaped like flannel's `vxlan` backend: one network namespace per node and per pod,
node `eth0` veths plugged into a bridge in a "switch" namespace (the underlay, captured there with
tcpdump), `flannel.1` = `ip link add flannel.1 type vxlan id 1 dstport 8472 local <node ip> dev eth0
nolearning` (address `10.244.N.0/32`, MTU 1450) with the static FDB / neighbour / `onlink` routes that
flanneld programs for every remote node, and the pods behind a `cni0` bridge (pod MTU 1450).
Offloads are off on every interface, so frame sizes are wire sizes and checksums are final.
Outer UDP checksums are present and correct (the kernel's default when neither `udpcsum` nor
`noudpcsum` is given, as with flanneld), outer DF is clear, outer TTL 64; the outer UDP source port
is the kernel's hash of the inner flow. Underlay ARP between the nodes is in the capture; there is no
ARP inside the tunnel (static neighbours, `nolearning`).""",
    "vxlan-4789.pcap": """\
Same kind of real kernel lab as the flannel capture, on the IANA VXLAN port: device `vxlan42`
(`type vxlan id 42 dstport 4789 nolearning`, MTU 1450), two nodes, two pods each, pod MTU 1450.""",
    "ipip.pcap": """\
IPv4-in-IPv4 (IP protocol 4) like Calico's `tunl0`. The kernel here cannot create ipip devices, so the
pod traffic was made for real in a routed kernel lab (pods at MTU 1480, pod CIDRs routed node to node
without encapsulation) and every pod-to-pod packet seen on the underlay was then wrapped with dpkt in an
outer IPv4 header node IP -> node IP: DF set (tunl0 `pmtudisc`), TTL inherited from the inner packet
(tunl0's default `ttl inherit`), IP ID counting up per node pair, header checksum computed; the outer
Ethernet header is the node MACs. Underlay ARP between nodes is kept as captured.""",
    "geneve.pcap": """\
Geneve on UDP 6081 (OVN / Antrea style), built like the IPIP capture: real pod traffic from a routed
kernel lab with pods at MTU 1450, each pod-to-pod packet wrapped with dpkt in Ethernet / IPv4 (node ->
node, DF set, TTL 64) / UDP (source port hashed from the inner flow, checksum computed) / Geneve
(VNI 100, protocol 0x6558) / inner Ethernet (dst = destination pod MAC, src = the destination subnet's
router MAC `0a:58:<gateway ip>`). ICMP and UDP packets carry one 8-byte Geneve option (OVN class
0x0102, type 0x80, 4 bytes of data: overhead 58); TCP packets carry none (overhead 50). All outer
packets stay within 1500 bytes.""",
    "native-bgp.pcap": """\
No encapsulation: a real kernel routed lab where every node routes the other nodes' pod CIDRs to their
node IPs (`ip route add <cidr> via <node ip>`), so pod IPs appear directly on the underlay (pod MTU
1500, TTL 63 after the sending node's hop). Before the pod traffic the nodes bring up an iBGP full mesh
(AS 64512, like Calico's BIRD) over real kernel TCP sessions on port 179: each side sends OPEN
(hold time 9 s, capabilities multiprotocol IPv4 unicast, route refresh, 4-octet AS), KEEPALIVE, one
UPDATE announcing its own pod CIDR (ORIGIN IGP, empty AS_PATH, NEXT_HOP = the node IP, LOCAL_PREF 100),
an End-of-RIB (empty UPDATE), then a KEEPALIVE every 3 s. The BGP messages were built with dpkt.bgp
and parsed back with it. The sessions are still up when the capture ends.""",
    "vxlan-mtu-broken.pcap": """\
Real kernel flannel-style VXLAN lab (UDP 8472, VNI 1, flannel.1 MTU 1450) where the pods (and cni0)
were left at MTU 1500: the classic overlay MTU mismatch. Captured on the underlay bridge. What happens:

* small pings pass;
* 1500-byte pings with DF clear are fragmented by the node in front of flannel.1, so the underlay
  carries *inner* IPv4 fragments inside VXLAN (1444 + 76 bytes); the replies come back fragmented too;
* 1500-byte pings with DF set are dropped by node 1, which answers its pod with ICMP 3/4 "fragmentation
  needed, next-hop MTU 1450" (not visible on the underlay: see the node capture);
* TCP handshakes advertise MSS 1460 (pod MTU 1500) although only 1410 fits; full-size 1448-byte
  segments are dropped at the node; where the ICMP reaches the sender it lowers its path MTU and resends
  1398-byte segments (so on the underlay no segment exceeds 1450 bytes of inner IP);
* pod 10.244.1.4 never receives the ICMP (a tc filter on its eth0 drops ICMP type 3) and has
  tcp_mtu_probing=1: its upload (client port 40005) stalls on retransmitted full-size segments that
  never leave node 1 (a PMTU black hole). On the underlay only the handshake, the small request
  line and the short last segment get through (the receiver SACKs it: "previous segment not
  captured"), then nothing for about 3 s until TCP black-hole detection falls back to 1024-byte
  segments, which pass (seen as retransmissions of the missing range);
* UDP echo (client port 41006, sizes 100, 1200, 1472, 1472, 1472, 100, DF set as Linux does by
  default): the first 1472-byte datagram never reaches the underlay (dropped at node 1, ICMP to the
  pod); the second is fragmented by the pod itself (it has learnt the path MTU) and delivered, but the
  1500-byte echo is dropped at node 2; the third goes through fragmented in both directions.""",
    "vxlan-mtu-broken.node1-any.pcap": """\
The same run as vxlan-mtu-broken.pcap, captured at the same time on node 1 with `tcpdump -i any -y
LINUX_SLL` (link type 113, Linux cooked capture v1). Each packet appears once per interface it crosses
(pod veth, cni0, flannel.1 as bare inner IP, eth0 as VXLAN). This is where the node's ICMP type 3
code 4 (next-hop MTU 1450) back to its pods is visible, as are the 1500-byte packets that never
reach flannel.1 and the black-holed pod's retransmissions.""",
}


def write_answer_key(out_dir, results):
    truth_path = os.path.join(out_dir, "truth.json")
    truth = {}
    if os.path.exists(truth_path):
        with open(truth_path) as f:
            truth = json.load(f)
    for name, t in results.items():
        t = dict(t)
        t["analysis"] = _jsonable(t["analysis"])
        truth[name] = t
    truth = {k: truth[k] for k in sorted(truth) if os.path.exists(os.path.join(out_dir, k))}
    with open(truth_path, "w") as f:
        json.dump(truth, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(render_readme(truth))
    return truth_path


def render_readme(truth):
    L = ["# Sample captures", "",
         "Regenerate everything with `sudo /work/venv/bin/python tools/make_samples.py [--out sample_pcaps]`",
         "(root: it builds network namespaces; needs iproute2, tcpdump, ethtool, dpkt).",
         "Addresses, MACs, payloads and the traffic script are fixed, so a rerun gives captures of the same",
         "shape; timestamps, IP IDs, TCP sequence numbers, ephemeral/outer UDP source ports and exact packet",
         "counts (retransmissions, keepalives) can differ. `truth.json` is the machine-readable answer key:",
         "per file `encapsulation`, `udp_port`, `vni`, `overhead_per_packet`, MTUs,",
         "`nodes: {node_ip: {pods, pod_cidr, mac, ...}}`, `fault` (null or `\"mtu_mismatch\"`), and an",
         "`analysis` block computed from the written file by the generator's own dpkt-based checker",
         "(class counts, flows, fragments, ICMP, BGP announcements, checksum errors).",
         "", "All files are classic pcap (microsecond), snaplen 262144, Ethernet link type unless noted.", ""]
    L += ["| file | bytes | frames | encapsulation | port | VNI | overhead | pod MTU | fault |",
          "| --- | ---: | ---: | --- | --- | --- | --- | --- | --- |"]
    for name, t in truth.items():
        a = t["analysis"]
        L.append("| %s | %d | %d | %s | %s | %s | %s | %s | %s |" % (
            name, a["bytes"], a["frames"], t["encapsulation"], t["udp_port"] or "-", t["vni"] if t["vni"] is not None else "-",
            t["overhead_per_packet"], t["pod_mtu"], t["fault"] or "none"))
    L.append("")
    for name, t in truth.items():
        a = t["analysis"]
        L += ["## %s" % name, "", DESCRIPTIONS.get(name, ""), ""]
        L += ["* encapsulation: **%s**%s%s, overhead %d bytes per packet%s" % (
            t["encapsulation"], ", UDP port %s" % t["udp_port"] if t["udp_port"] else "",
            ", VNI %s" % t["vni"] if t["vni"] is not None else "", t["overhead_per_packet"],
            " (+8 with the Geneve option)" if t.get("geneve_option_bytes") else ""),
              "* MTUs: underlay %s, tunnel %s, pods %s" % (t["underlay_mtu"], t["tunnel_mtu"] or "-", t["pod_mtu"]),
              "* link type %d%s" % (t.get("linktype", 1), " (Linux cooked SLL)" if t.get("linktype") == 113 else " (Ethernet)"),
              "* fault: %s" % (t["fault"] or "none")]
        if t.get("fault_detail"):
            L.append("* fault detail: `%s`" % json.dumps(t["fault_detail"]))
        if t.get("capture_point"):
            L.append("* capture point: %s" % t["capture_point"])
        L += ["", "| node IP | node MAC | pod CIDR | pods |%s" % (" VTEP MAC |" if "vtep_mac" in next(iter(t["nodes"].values())) else ""),
              "| --- | --- | --- | --- |%s" % (" --- |" if "vtep_mac" in next(iter(t["nodes"].values())) else "")]
        for ip, n in t["nodes"].items():
            L.append("| %s | %s | %s | %s |%s" % (ip, n["mac"], n["pod_cidr"], ", ".join(n["pods"]),
                                                 (" %s |" % n["vtep_mac"]) if "vtep_mac" in n else ""))
        L += ["", "Contents (from the checker): %d frames; classes %s; inner protocols %s." % (
            a["frames"], _fmt(a["classes"]), _fmt(a["inner_proto"]))]
        if a.get("vni"):
            L.append("VNIs %s; tunnel UDP ports %s; outer UDP checksum zero on %d packets; outer DF on %d." % (
                _fmt(a["vni"]), _fmt(a["udp_port"]), a["outer_udp_csum_zero"], a["outer_df"]))
        if a.get("overhead"):
            L.append("Outer minus inner IP length: %s." % _fmt(a["overhead"]))
        L.append("Largest frame %d bytes, largest outer IP %d, largest inner IP %d; inner fragments %d; "
                 "SYN MSS %s; ICMP %s." % (a["max_frame"], a["max_outer_ip"], a["max_inner_ip"],
                                           a["inner_fragments"], _fmt(a["syn_mss"]), _fmt(a["icmp"])))
        if a.get("geneve_with_options"):
            L.append("Geneve packets with an option: %d." % a["geneve_with_options"])
        if a.get("frag_needed"):
            L.append("ICMP frag-needed: %s." % "; ".join("%d x %s -> %s mtu %d (quoting %s -> %s, %s bytes)" % (
                f["count"], f["src"], f["dst"], f["mtu"], f["quoted_src"], f["quoted_dst"], f["quoted_len"])
                for f in a["frag_needed"]))
        if a.get("bgp"):
            L.append("BGP messages: %s; announcements: %s." % (_fmt(a["bgp"]), "; ".join(
                "%s -> %s: %s next-hop %s" % (x["speaker"], x["peer"], x["prefix"], x["next_hop"])
                for x in a["bgp_announcements"])))
        L.append("Pod IPs seen: %s." % ", ".join(a["pods_seen"]))
        L.append("Checksum/length errors found: %s." % (_fmt(a["errors"]) if a["errors"] else "none"))
        if t.get("tshark"):
            L.append("tshark: %s." % ", ".join("%s %s" % kv for kv in t["tshark"].items()))
        L += ["", "| proto | client | server | pkts c->s / s->c | payload bytes | SYN MSS c/s | max seg | repeated seq | dur s |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for fl in a["flows"]:
            L.append("| %s | %s | %s | %d / %d | %d / %d | %s / %s | %d | %d | %.2f |" % (
                fl["proto"], fl["client"], fl["server"], fl["packets"][0], fl["packets"][1],
                fl["payload_bytes"][0], fl["payload_bytes"][1], fl["syn_mss"], fl["synack_mss"],
                fl["max_segment"], fl["repeated_seq"], fl["duration"]))
        L.append("")
    return "\n".join(L) + "\n"


def _fmt(d):
    return ", ".join("%s: %s" % (k, v) for k, v in d.items()) if d else "none"


# --------------------------------------------------------------------------------------------
def check_results(results):
    """Sanity checks on what was written; returns a list of problems."""
    problems = []
    for name, t in results.items():
        a = t["analysis"]
        if a["bytes"] > MAX_BYTES:
            problems.append("%s: %d bytes > %d" % (name, a["bytes"], MAX_BYTES))
        if a["errors"]:
            problems.append("%s: checksum/length errors %s" % (name, dict(a["errors"])))
        if t.get("tshark") and (t["tshark"]["bad_checksums"] or t["tshark"]["malformed"]):
            problems.append("%s: tshark found bad checksums / malformed packets: %s" % (name, t["tshark"]))
        if t.get("linktype", 1) == 1:
            pods = sorted((p for n in t["nodes"].values() for p in n["pods"]), key=ipaddress.IPv4Address)
            if a["pods_seen"] != pods:
                problems.append("%s: pods seen %s != configured %s" % (name, a["pods_seen"], pods))
            if a["max_frame"] > 1514:
                problems.append("%s: frame of %d bytes (offloads on?)" % (name, a["max_frame"]))
            enc = t["encapsulation"]
            if enc != "native" and not a["classes"].get(enc):
                problems.append("%s: no %s packets" % (name, enc))
            if enc == "native" and set(a["classes"]) - {"native", "arp"}:
                problems.append("%s: unexpected classes %s" % (name, dict(a["classes"])))
            if enc in ("vxlan", "geneve") and set(a["vni"]) != {t["vni"]}:
                problems.append("%s: VNIs %s" % (name, dict(a["vni"])))
            if t["fault"] is None and a["inner_fragments"]:
                problems.append("%s: unexpected inner fragments" % name)
            if t["fault"] is None and a["max_inner_ip"] > t["pod_mtu"]:
                problems.append("%s: inner IP %d > pod MTU" % (name, a["max_inner_ip"]))
        if name == "native-bgp.pcap":
            ann = {(x["speaker"], x["prefix"], x["next_hop"]) for x in a["bgp_announcements"]}
            want = {(ip, n["pod_cidr"], ip) for ip, n in t["nodes"].items()}
            if {(s, p, h) for s, p, h in ann} != want:
                problems.append("%s: BGP announcements %s != %s" % (name, ann, want))
        if name == "vxlan-mtu-broken.pcap":
            if not a["inner_fragments"]:
                problems.append("%s: no inner fragments" % name)
            if not a["syn_mss"].get(1460):
                problems.append("%s: no SYN with MSS 1460" % name)
            if a["max_inner_ip"] > 1450:
                problems.append("%s: inner IP above 1450 on the underlay" % name)
        if name == "vxlan-mtu-broken.node1-any.pcap":
            if not any(f["mtu"] == 1450 for f in a["frag_needed"]):
                problems.append("%s: no ICMP frag-needed with MTU 1450" % name)
    return problems


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "sample_pcaps"))
    ap.add_argument("--only", nargs="*", help="regenerate only these file names")
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose
    if os.geteuid() != 0:
        sys.exit("make_samples.py must run as root (it creates network namespaces)")
    missing = [t for t in ("ip", "bridge", "tc", "tcpdump", "ethtool") if not shutil.which(t)]
    if missing:
        sys.exit("missing tools: %s (apt-get install -y iproute2 tcpdump ethtool)" % " ".join(missing))
    os.makedirs(args.out, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="pcd-samples-")
    random.seed(SEED)
    results = {}
    try:
        make_all(os.path.abspath(args.out), set(args.only or ()), workdir, results)
    finally:
        teardown_all()
        if args.keep_tmp:
            log("temporary files kept in", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        if results:                 # keep the answer key in step with the captures already rewritten
            write_answer_key(args.out, results)
    truth_path = os.path.join(args.out, "truth.json")
    log("wrote %s and %s" % (truth_path, os.path.join(args.out, "README.md")))
    problems = check_results(results)
    for p in problems:
        log("PROBLEM:", p)
    for name in sorted(results):
        log("  %-36s %7d bytes" % (name, os.path.getsize(os.path.join(args.out, name))))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
