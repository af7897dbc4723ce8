"""The samples: the lab of each (scenarios.json: topology and traffic script, data so that it reads as
one table), how it is captured, and the answer key entry written for it. make_all() runs them."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from .bgp import BGP_ASN, BGP_HOLD, BGP_KEEPALIVE, start_bgp_mesh
from .checker import MAX_BYTES, analyze, tshark_check
from .netns import Capture, Lab, LabSpec, log, run_actions, teardown_all
from .samples import wrap_geneve, wrap_ipip

SCENARIOS = json.loads(Path(__file__).with_name("scenarios.json").read_text())
GENEVE_VNI = 100


def lab_spec(scenario: str) -> LabSpec:
    return LabSpec(**SCENARIOS[scenario]["lab"])


def lab_actions(scenario: str) -> list[tuple]:
    """The traffic script: ("ping", src, dst, count, size, df) | ("get"/"put", client, server, port, size)
    | ("udp", client, server, port, [sizes]); see netns.run_actions."""
    return [tuple(action) for action in SCENARIOS[scenario]["actions"]]


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
    pod = {p.name: p for n in nodes for p in n.pods}[SCENARIOS["mtu"]["blackhole_pod"]]
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

    def kernel_sample(name, what, scenario, decode_as=(), **truth):
        """A sample captured from a real kernel VXLAN lab: run it, copy the capture, write its truth."""
        if not want(name):
            return
        log("== %s (kernel VXLAN lab, %s)" % (name, what))
        teardown_all()
        actions = lab_actions(scenario)
        nodes = kernel_capture(lab, lab_spec(scenario), actions, tmp(name))
        teardown_all()
        shutil.copyfile(tmp(name), os.path.join(out_dir, name))
        finish(name, dict(encapsulation="vxlan", overhead_per_packet=50, underlay_mtu=1500, tunnel_mtu=1450,
                          pod_mtu=1450, nodes=topology(nodes, with_vtep=True), fault=None, made_with="kernel",
                          actions=[list(a) for a in actions], **truth), decode_as=decode_as)

    def wrapped_sample(name, what, scenario, wrap, *, tunnel_device, made_with, **truth):
        """A sample made in a routed kernel lab (no encapsulation) and wrapped afterwards with dpkt."""
        if not want(name):
            return
        log("== %s (routed kernel lab, %s)" % (name, what))
        teardown_all()
        raw = tmp(name.replace(".pcap", "-inner.pcap"))
        spec, actions = lab_spec(scenario), lab_actions(scenario)
        nodes = kernel_capture(lab, spec, actions, raw)
        teardown_all()
        log("   " + wrap(raw, os.path.join(out_dir, name), nodes))
        finish(name, dict(truth, underlay_mtu=1500, tunnel_mtu=spec.pod_mtu, pod_mtu=spec.pod_mtu,
                          tunnel_device=tunnel_device, nodes=topology(nodes), fault=None, made_with=made_with,
                          actions=[list(a) for a in actions]))

    # 1. flannel VXLAN 8472 --------------------------------------------------------------------
    kernel_sample("vxlan-flannel-8472.pcap", "3 nodes", "flannel", decode_as=["udp.port==8472,vxlan"],
                  udp_port=8472, vni=1, tunnel_device="flannel.1")

    # 2. VXLAN 4789 ----------------------------------------------------------------------------
    kernel_sample("vxlan-4789.pcap", "2 nodes", "vxlan4789", udp_port=4789, vni=42, tunnel_device="vxlan42")

    # 3. IPIP ----------------------------------------------------------------------------------
    def ipip(raw, out, nodes):
        return "wrapped %d pod packets in IPIP" % wrap_ipip(raw, out, nodes)

    wrapped_sample("ipip.pcap", "pod MTU 1480, wrapped in IPIP with dpkt", "ipip", ipip,
                   encapsulation="ipip", udp_port=None, vni=None, overhead_per_packet=20, tunnel_device="tunl0",
                   made_with="kernel routed lab + dpkt IPIP wrap")

    # 4. Geneve --------------------------------------------------------------------------------
    def geneve(raw, out, nodes):
        return "wrapped %d pod packets in Geneve (%d with an option)" % wrap_geneve(raw, out, nodes, GENEVE_VNI)

    wrapped_sample("geneve.pcap", "pod MTU 1450, wrapped in Geneve with dpkt", "geneve", geneve,
                   encapsulation="geneve", udp_port=6081, vni=GENEVE_VNI, overhead_per_packet=50,
                   geneve_option_bytes=8, tunnel_device="genev_sys_6081",
                   made_with="kernel routed lab + dpkt Geneve wrap")

    # 5. native + BGP --------------------------------------------------------------------------
    name = "native-bgp.pcap"
    if want(name):
        log("== %s (routed kernel lab + iBGP full mesh)" % name)
        teardown_all()
        actions = lab_actions("native")
        nodes = kernel_capture(lab, lab_spec("native"), actions, tmp(name), bgp=True)
        teardown_all()
        shutil.copyfile(tmp(name), os.path.join(out_dir, name))
        finish(name, dict(
            encapsulation="native", udp_port=None, vni=None, overhead_per_packet=0,
            underlay_mtu=1500, tunnel_mtu=None, pod_mtu=1500, tunnel_device=None,
            nodes=topology(nodes), fault=None, made_with="kernel routed lab; BGP messages built with dpkt.bgp",
            bgp=dict(asn=BGP_ASN, hold_time=BGP_HOLD, keepalive_interval=BGP_KEEPALIVE,
                     sessions=[[a.ip, b.ip] for a in nodes for b in nodes if a.idx < b.idx]),
            actions=[list(a) for a in actions]))

    # 6. VXLAN MTU mismatch --------------------------------------------------------------------
    name = "vxlan-mtu-broken.pcap"
    any_name = "vxlan-mtu-broken.node1-any.pcap"
    if want(name) or want(any_name):
        log("== %s + %s (kernel VXLAN lab, pods MTU 1500 over flannel.1 MTU 1450)" % (name, any_name))
        teardown_all()
        actions = lab_actions("mtu")
        nodes = kernel_capture(lab, lab_spec("mtu"), actions, tmp(name), pod_hook=blackhole_hook,
                               node_any=tmp(any_name))
        teardown_all()
        shutil.copyfile(tmp(name), os.path.join(out_dir, name))
        detail = dict(kind="mtu_mismatch", pod_mtu=1500, tunnel_mtu=1450, vxlan_overhead=50,
                      correct_pod_mtu=1450, advertised_mss=1460, mss_that_fits=1410,
                      blackhole_pod=[p.ip for n in nodes for p in n.pods
                                     if p.name == SCENARIOS["mtu"]["blackhole_pod"]][0])
        finish(name, dict(
            encapsulation="vxlan", udp_port=8472, vni=1, overhead_per_packet=50,
            underlay_mtu=1500, tunnel_mtu=1450, pod_mtu=1500, tunnel_device="flannel.1",
            nodes=topology(nodes, with_vtep=True), fault="mtu_mismatch", fault_detail=detail, made_with="kernel",
            actions=[list(a) for a in actions]), decode_as=["udp.port==8472,vxlan"])
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
                made_with="kernel", actions=[list(a) for a in actions]),
                decode_as=["udp.port==8472,vxlan"], linktype=113)
    return results
