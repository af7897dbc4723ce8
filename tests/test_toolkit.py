"""The shared test toolkit (pcapdiag.testing) and the sample maker's offline parts (tools/lab): the one
checksum agrees with dpkt's, and the dpkt-built samples and the answer key's analysis come out of the
sample maker exactly as committed (re-wrapping the routed-lab traffic unwrapped from the samples)."""
from __future__ import annotations

import json
import random
import struct
import sys

import dpkt
import pytest

from conftest import REPO, SAMPLES
from pcapdiag.testing.checksum import internet_checksum, ones_sum
from pcapdiag.testing.packets import correct_udp_checksum, udp_datagram

sys.path.insert(0, str(REPO / "tools"))
from lab import checker, netns, samples  # noqa: E402  (tools/ is not a package: its folder goes on the path)

TRUTH = json.loads((SAMPLES / "truth.json").read_text())


@pytest.mark.parametrize("size", [0, 1, 2, 3, 20, 21, 1500])
def test_checksum_matches_dpkt(size):
    data = random.Random(size).randbytes(size)
    assert internet_checksum(data) == dpkt.in_cksum(data)
    assert ones_sum(data) == ~dpkt.in_cksum(data) & 0xFFFF


def test_good_udp_checksum_verifies():
    datagram = udp_datagram("10.0.0.1", "10.0.0.2", 1000, 8472, b"payload", checksum="good")
    assert struct.unpack("!H", datagram[6:8])[0] == correct_udp_checksum("10.0.0.1", "10.0.0.2", datagram) != 0


def _nodes(truth: dict) -> list:
    return [netns.Node(idx=i, name=f"n{i}", ns="-", ip=ip, mac=node["mac"], net=node["pod_cidr"].rsplit(".", 1)[0],
                       cidr=node["pod_cidr"], gw=node["gateway"]) for i, (ip, node) in enumerate(truth["nodes"].items(), 1)]


def _unwrap(sample, out):
    """The routed-lab capture a dpkt-built sample was made from: each tunnel frame back to the node-to-node
    frame it wrapped (same Ethernet header, the inner IP packet)."""
    with open(sample, "rb") as fi, open(out, "wb") as fo:
        writer = dpkt.pcap.Writer(fo, snaplen=262144, linktype=dpkt.pcap.DLT_EN10MB)
        for ts, buf in dpkt.pcap.Reader(fi):
            ip = buf[14:]
            if buf[12:14] == b"\x08\x00" and ip[9] == 4:
                buf = buf[:14] + ip[20:]
            elif buf[12:14] == b"\x08\x00" and ip[9] == 17 and ip[22:24] == b"\x17\xc1":    # UDP 6081
                options = (ip[28] & 0x3F) * 4
                buf = buf[:14] + ip[28 + 8 + options + 14:]
            writer.writepkt(buf, ts)


@pytest.mark.parametrize("name", ["ipip.pcap", "geneve.pcap"])
def test_dpkt_built_samples_are_reproduced(tmp_path, name):
    raw, rebuilt = tmp_path / "raw.pcap", tmp_path / name
    _unwrap(SAMPLES / name, raw)
    nodes = _nodes(TRUTH[name])
    if name == "ipip.pcap":
        samples.wrap_ipip(raw, rebuilt, nodes)
    else:
        samples.wrap_geneve(raw, rebuilt, nodes, TRUTH[name]["vni"])
    assert rebuilt.read_bytes() == (SAMPLES / name).read_bytes()


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_checker_reproduces_the_answer_key(name):
    truth = TRUTH[name]
    cidrs = [node["pod_cidr"] for node in truth["nodes"].values()]
    infra = [node.get(k) for node in truth["nodes"].values() for k in ("gateway", "vtep_ip") if node.get(k)]
    analysis = json.loads(json.dumps(checker.jsonable(checker.analyze(str(SAMPLES / name), cidrs, infra))))
    assert analysis == truth["analysis"]
