#!/usr/bin/env python3
"""Regenerate the sample captures in sample_pcaps/ together with their answer key.

Run as root (it builds network namespaces):

    sudo .venv/bin/python tools/make_samples.py [--out sample_pcaps] [--only FILE ...] [--keep-tmp] [-v]

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

The parts are in tools/lab/: netns.py (namespaces, links, tcpdump, the traffic runner), agent.py (the
program each pod runs), bgp.py (the iBGP mesh), samples.py (the dpkt-wrapped IPIP and Geneve samples),
scenarios.py + scenarios.json (the labs and their traffic), checker.py (the analysis written into
truth.json and the sanity rules), answer_key.py (truth.json and sample_pcaps/README.md).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import sys
import tempfile

if importlib.util.find_spec("dpkt") is None or importlib.util.find_spec("pcapdiag") is None:
    sys.exit("make_samples.py needs dpkt and pcapdiag: run it with the project's venv python")

from lab import netns  # noqa: E402  (after the check above, which explains a failing import)
from lab.answer_key import write_answer_key  # noqa: E402
from lab.checker import check_results  # noqa: E402
from lab.netns import log, teardown_all  # noqa: E402
from lab.samples import SEED  # noqa: E402
from lab.scenarios import make_all  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "sample_pcaps"))
    ap.add_argument("--only", nargs="*", help="regenerate only these file names")
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    netns.VERBOSE = args.verbose
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
