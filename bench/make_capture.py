#!/usr/bin/env python3
"""Generate a large synthetic capture of Kubernetes overlay traffic, fast.

The capture mimics what `tcpdump -i eth0` on a node of a 3-node cluster sees:

* ~50 % VXLAN (flannel: UDP dst port 8472, VNI 1, outer UDP checksum 0 as the
  Linux vxlan driver sends it by default), inner Ethernet (flannel.1 VTEP MACs)
  / IPv4 / TCP or UDP;
* ~25 % IPIP (IPv4 protocol 4, Calico-style), inner IPv4 / TCP or UDP;
* ~25 % native IPv4 (pod-to-pod without encapsulation, plus node-to-node
  control-plane traffic);
* ~0.3 % odd packets: ARP, native IPv6, 802.1Q-tagged frames, IPv4 options
  (IHL 6), snaplen-truncated frames (caplen < wire length), inner IPv4
  fragments inside VXLAN/IPIP, and a few ICMP "fragmentation needed".

Nodes are 192.168.0.11-13, pods 10.244.{1,2,3}.2-11 (10 per node); there are
about 2,000 inner flows with Zipf-like popularity.  TCP flows start with a
SYN / SYN-ACK / ACK handshake (MSS, SACK, timestamps, window scale options),
sequence and acknowledgement numbers advance per flow, and data segments are
sized to the MTU: every pod has MTU 1450 (the VXLAN overlay's, so the same pod
can talk over VXLAN, IPIP or natively without an MTU finding), node-to-node
host traffic 1500. Full VXLAN frames are 1514 bytes, IPIP 1484, native pod
1464, host 1514; pure ACKs are 66-byte frames before encapsulation.

Speed comes from templates: each (flow, direction, payload length, TCP flags)
is built once, slowly and carefully, with every variable field (IP IDs, TCP
seq/ack, TCP timestamps) set to zero.  For each packet the template is copied
and only those fields are patched with struct.pack_into; the IPv4 header and
TCP checksums are updated incrementally (RFC 1624: the one's-complement sum of
the zeroed template plus the new 16-bit words), so every checksum is correct
without touching the payload again.  Random choices are drawn in bulk with
numpy.  1M packets take a few seconds.

The output is deterministic for a given --seed (and numpy's PCG64 stream).

    python bench/make_capture.py -o /tmp/k8s.pcap --packets 1000000
    python bench/make_capture.py -o /tmp/k8s.pcapng --format pcapng
"""
from __future__ import annotations

import argparse
import collections
import struct
import sys
import time

import numpy as np

from pcapdiag.testing.files import pcap_header, pcapng_idb, pcapng_shb
from pcapdiag.testing.traffic import CLASS_SHARES, MEAN_GAP_US, ODD_KINDS, ODD_SHARE, START_TS_US, Generator

PCAP_REC = struct.Struct("<IIII")
EPB_HDR = struct.Struct("<IIIIIII")
_U32 = struct.Struct("<I")


def generate(path: str, packets: int, seed: int, fmt: str, progress: bool = False) -> dict:
    t0 = time.perf_counter()
    gen = Generator(seed)
    rng = gen.rng
    classes = list(CLASS_SHARES)
    cls_idx = rng.choice(len(classes), size=packets, p=np.array(list(CLASS_SHARES.values())))
    u_flow = rng.random(packets)
    flow_idx = np.zeros(packets, dtype=np.int64)
    for c, name in enumerate(classes):
        mask = cls_idx == c
        flow_idx[mask] = np.searchsorted(gen.weights[name], u_flow[mask], side="right")
    u_pkt = rng.random(packets).tolist()
    gaps = (1 + rng.exponential(MEAN_GAP_US - 1, packets)).astype(np.int64)
    ts_list = (START_TS_US + np.cumsum(gaps)).tolist()  # strictly increasing µs
    odd = rng.random(packets) < ODD_SHARE
    kinds, weights = zip(*ODD_KINDS)
    odd_kind = rng.choice(len(kinds), size=packets, p=np.array(weights) / sum(weights))
    odd_at = {int(i): kinds[int(odd_kind[i])] for i in np.flatnonzero(odd)}
    flow_lists = [gen.flows[name] for name in classes]
    cls_list = cls_idx.tolist()
    fidx_list = flow_idx.tolist()

    counts = collections.Counter()
    pending = gen.pending
    flow_packet = gen.flow_packet
    pcapng = fmt == "pcapng"
    rec_pack = PCAP_REC.pack
    epb_pack = EPB_HDR.pack
    u32 = _U32.pack
    pads = [b"", b"\0\0\0", b"\0\0", b"\0"]
    out_bytes = 0
    with open(path, "wb", buffering=1 << 22) as f:
        f.write(pcapng_shb() + pcapng_idb(1, 262144, name="eth0") if pcapng else pcap_header())
        parts: list = []
        append = parts.append
        for i in range(packets):
            ts = ts_list[i]
            if pending:
                data = pending.popleft()
                wirelen = len(data)
                counts["pending"] += 1
            elif i in odd_at:
                kind = odd_at[i]
                data, wirelen = gen.odd_packet(kind, u_pkt[i], ts)
                counts[kind] += 1
            else:
                data = flow_packet(flow_lists[cls_list[i]][fidx_list[i]], u_pkt[i], ts)
                wirelen = len(data)
            caplen = len(data)
            if pcapng:
                pad = (-caplen) & 3
                total = 32 + caplen + pad
                append(epb_pack(6, total, 0, ts >> 32, ts & 0xFFFFFFFF, caplen, wirelen))
                append(data)
                append(pads[caplen & 3] + u32(total))
            else:
                append(rec_pack(ts // 1_000_000, ts % 1_000_000, caplen, wirelen))
                append(data)
            if len(parts) >= 65536 * 2:
                blob = b"".join(parts)
                out_bytes += len(blob)
                f.write(blob)
                parts.clear()
                if progress:
                    print(f"\r{i + 1:,}/{packets:,} packets", end="", file=sys.stderr, flush=True)
        blob = b"".join(parts)
        out_bytes += len(blob)
        f.write(blob)
    if progress:
        print(file=sys.stderr)
    elapsed = time.perf_counter() - t0
    return {
        "file": path, "format": fmt, "packets": packets, "seed": seed, "seconds": round(elapsed, 3),
        "bytes": out_bytes, "odd_packets": {k: v for k, v in counts.items() if k != "pending"},
        "handshake_and_fragment_followups": counts["pending"],
        "flows": sum(len(v) for v in gen.flows.values()),
        "first_ts_us": ts_list[0] if packets else None, "last_ts_us": ts_list[-1] if packets else None,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default="bench/out/synthetic.pcap", help="output file")
    ap.add_argument("--packets", "-n", type=int, default=1_000_000, help="number of packets (default 1,000,000)")
    ap.add_argument("--format", choices=("pcap", "pcapng"), default="pcap")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--progress", action="store_true", help="progress on stderr")
    ap.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    args = ap.parse_args(argv)
    info = generate(args.output, args.packets, args.seed, args.format, progress=args.progress)
    if args.json:
        import json
        print(json.dumps(info))
    else:
        mb = info["bytes"] / 1e6
        print(f"wrote {args.output}: {info['packets']:,} packets, {mb:,.1f} MB, {info['format']}, "
              f"seed {args.seed}, {info['seconds']:.2f} s ({info['packets'] / max(info['seconds'], 1e-9):,.0f} pkt/s)",
              file=sys.stderr)
        print(f"odd packets: {info['odd_packets']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
