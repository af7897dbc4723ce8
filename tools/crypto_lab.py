#!/usr/bin/env python3
"""Encrypted-overlay captures for issue 17, with an answer key.

    sudo python3 tools/crypto_lab.py --out sample_pcaps/encrypted [--only NAME ...]

WireGuard: real traffic between two node namespaces running wireguard-go (see crypto_lab/wireguard.py
for the topology), pods behind each node routed through the tunnel, captured on node1's underlay eth0
with snaplen 128 (original lengths kept).  Scenarios: healthy with a second handshake, IPv6 underlay,
pods at 1500 over a 1420 tunnel, a 1500 tunnel over a 1500 underlay, and a responder that drops the
WireGuard port (handshakes never complete).

ESP: the kernel here has no ESP transform (`ip xfrm state add ... proto esp` fails with "Requested
type not found"), so the ESP, ESP-in-UDP and IKE captures are built byte by byte (crypto_lab/esp.py)
with the sizes real ciphers give: IKEv2 on 500, then ESP (IP protocol 50) with AES-GCM-128; NAT-T on
4500 (IKE behind the 4-byte zero non-ESP marker, ESP-in-UDP, NAT keepalives) with AES-CBC +
HMAC-SHA-256-128; and an IKE_SA_INIT that is never answered.

Needs root, iproute2, nftables, tcpdump, tshark, wireguard-go and wireguard-tools; stdlib Python only.
Every namespace it makes is called clab-*; they are deleted before each scenario and on the way out,
also when a step fails or the script is interrupted.  No traffic leaves those namespaces.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

# the ESP builder uses pcapdiag.testing's checksum and pcap writer (standard library only), so the lab
# runs under a plain `sudo python3` from a checkout without installing anything
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from crypto_lab.common import SCENARIOS, TOOLS
from crypto_lab.esp import ESP_CAPTURES, write_esp_capture
from crypto_lab.readme import readme
from crypto_lab.truth import wireguard_entry
from crypto_lab.wireguard import WgLab, teardown


def preflight(needs_namespaces):
    """Why this run cannot go ahead (None when it can): the WireGuard captures need root and the lab's
    tools; the byte-built ESP ones only tshark, which measures every answer key."""
    if needs_namespaces and os.geteuid() != 0:
        return "needs root: the WireGuard captures are made in network namespaces"
    missing = [t for t in (TOOLS if needs_namespaces else ("tshark",)) if not shutil.which(t)]
    if missing:
        return ("missing tools: " + " ".join(missing) + " (apt-get install iproute2 nftables tcpdump tshark ethtool "
                "iputils-ping wireguard-go wireguard-tools)")
    return None


def main():
    names = [s.name for s in SCENARIOS] + [e.name for e in ESP_CAPTURES]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="sample_pcaps/encrypted")
    ap.add_argument("--only", nargs="*", choices=names, metavar="NAME", help="captures to make (default: all): "
                    + " ".join(names))
    args = ap.parse_args()
    chosen = set(args.only or names)
    wg = [s for s in SCENARIOS if s.name in chosen]
    problem = preflight(needs_namespaces=bool(wg))
    if problem:
        sys.exit(problem)
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    truth_file = out_dir / "truth.json"
    truth = json.loads(truth_file.read_text()) if args.only and truth_file.exists() else {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    with tempfile.TemporaryDirectory(prefix="clab-") as tmp:
        for sc in wg:
            with WgLab(sc, tmp) as lab:
                path, apps = lab.traffic(tmp)
            path = shutil.move(path, out_dir / os.path.basename(path))
            truth[os.path.basename(path)] = wireguard_entry(sc, path, apps)
            print(f"{sc.name}: {os.path.getsize(path)} B", flush=True)
    for spec in ESP_CAPTURES:
        if spec.name in chosen:
            name, entry = write_esp_capture(spec, out_dir)
            truth[name] = entry
            print(f"{spec.name}: {entry['measured']['bytes']} B", flush=True)
    truth = dict(sorted(truth.items()))
    truth_file.write_text(json.dumps(truth, indent=1) + "\n")
    (out_dir / "README.md").write_text(readme(truth) + "\n")


if __name__ == "__main__":
    try:
        main()
    finally:
        if os.geteuid() == 0:
            teardown()
