"""ESP, ESP-in-UDP and IKEv2 captures built byte by byte (the kernel here has no ESP transform).

The headers are the real ones (RFC 4303 ESP, RFC 3948 UDP encapsulation with the non-ESP marker and
NAT keepalives, RFC 7296 IKEv2 with a well-formed IKE_SA_INIT); what a cipher would make unreadable is
deterministic random bytes of exactly the length that cipher gives: IV, ciphertext of the padded inner
packet (RFC 4303 section 2.4: pad so that payload + 2 trailer bytes fill the cipher's block, at least 4),
ICV.  The inner packets are the sizes pod traffic has (a TCP handshake, request/response, a bulk
transfer at pod MTU 1400, pings), between the pods 10.247.1.2 and 10.247.2.2 behind the two nodes.
"""
from __future__ import annotations

import os
import random
import socket
import struct
from dataclasses import dataclass

from pcapdiag.testing.checksum import internet_checksum
from pcapdiag.testing.files import Record, write_pcap

from .common import SNAPLEN, UNDERLAY_MTU
from .truth import common_counts, first, outer_ip_len, rows

NODES = {1: "192.168.72.11", 2: "192.168.72.12"}
MACS = {1: bytes.fromhex("525400a8480b"), 2: bytes.fromhex("525400a8480c")}
PODS = {1: "10.247.1.2", 2: "10.247.2.2"}
POD_MTU = 1400
START = 1796119200.0  # 2026-12-01T10:00:00Z: fixed, so every run writes the same bytes

# name -> (IV bytes, the block the padded payload + trailer must fill, ICV bytes)
CIPHERS = {
    "aes-gcm-128": (8, 4, 16),                   # RFC 4106: 8-byte IV, no block alignment beyond 4, 16-byte tag
    "aes-cbc-128+hmac-sha256-128": (16, 16, 16),  # RFC 3602 + RFC 4868
}


@dataclass
class EspCapture:
    name: str
    mode: str          # esp | nat-t | ike-unanswered
    cipher: str
    about: str
    expect: dict


ESP_CAPTURES = [
    EspCapture("esp-tunnel", "esp", "aes-gcm-128",
               "IKEv2 on UDP 500 (IKE_SA_INIT, IKE_AUTH), then ESP (IP protocol 50) in tunnel mode with AES-GCM-128 "
               "between the nodes; a CREATE_CHILD_SA exchange halfway rekeys the child SAs (new SPIs both ways)",
               {"handshakes_complete": True, "overhead_range": [54, 57], "finding": None}),
    EspCapture("esp-in-udp-4500", "nat-t", "aes-cbc-128+hmac-sha256-128",
               "NAT traversal (RFC 3948): IKEv2 on UDP 4500 behind the 4-byte zero non-ESP marker, ESP-in-UDP on "
               "4500 with AES-CBC-128 + HMAC-SHA-256-128, and 1-byte NAT keepalives (0xff)",
               {"handshakes_complete": True, "overhead_range": [70, 85], "finding": None}),
    EspCapture("ike-unanswered", "ike-unanswered", "aes-gcm-128",
               "IKE_SA_INIT requests from node1 to node2 on UDP 500, retransmitted with strongSwan's back-off "
               "(0, 4, 11.2, 24.2 s), never answered: UDP 500 blocked on the way",
               {"handshakes_complete": False, "finding": "tunnel.handshake-incomplete"}),
]


class Builder:
    """Frames node to node, with per-direction IP IDs, and the pcap records they make."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.ip_id = {1: 0x1000, 2: 0x5000}
        self.records = []
        self.inner_lens = []  # (outer IP length, inner IP length) of every ESP packet

    def opaque(self, n):
        return self.rng.randbytes(n)

    def frame(self, t, src, proto, payload, df=True):
        dst = 3 - src
        self.ip_id[src] += 1
        total = 20 + len(payload)
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, self.ip_id[src] & 0xFFFF, 0x4000 if df else 0, 64,
                             proto, 0, socket.inet_aton(NODES[src]), socket.inet_aton(NODES[dst]))
        header = header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]
        frame = MACS[dst] + MACS[src] + b"\x08\x00" + header + payload
        self.records.append((START + t, frame))

    def udp(self, t, src, sport, dport, payload):
        # zero UDP checksum: allowed for UDP-encapsulated ESP and IKE over IPv4 (RFC 3948 section 2.1), and
        # what Linux sends for them
        self.frame(t, src, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload, df=False)

    def esp(self, spi, seq, inner_len, cipher):
        iv, block, icv = CIPHERS[cipher]
        pad = -(inner_len + 2) % block
        self.inner_lens.append(inner_len)
        # the trailer (padding, pad length, next header 4 = IPv4) is encrypted with the inner packet
        return struct.pack("!II", spi, seq) + self.opaque(iv + inner_len + pad + 2 + icv)

    def write(self, path):
        write_pcap(path, [Record(frame, ts=ts, caplen=min(len(frame), SNAPLEN)) for ts, frame in self.records],
                   snaplen=SNAPLEN)


def ike(ispi, rspi, exchange, response, msg_id, body, marker=False):
    """An IKEv2 message; the first payload's type leads the body."""
    next_payload, payloads = body
    flags = (0x20 if response else 0) | (0 if response else 0x08)   # R for responses, I from the initiator
    header = struct.pack("!8s8sBBBBII", ispi, rspi, next_payload, 0x20, exchange, flags, msg_id, 28 + len(payloads))
    return (b"\0\0\0\0" if marker else b"") + header + payloads


def sa_init_body(builder):
    """SA (AES-GCM-16-128, PRF-HMAC-SHA2-256, Curve25519) + KE + Nonce + the two NAT detection notifies."""
    transforms = (struct.pack("!BBHBBHHH", 3, 0, 12, 1, 0, 20, 0x800E, 128)     # ENCR AES-GCM-16, key 128
                  + struct.pack("!BBHBBH", 3, 0, 8, 2, 0, 5)                    # PRF HMAC-SHA2-256
                  + struct.pack("!BBHBBH", 0, 0, 8, 4, 0, 31))                  # DH Curve25519
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(transforms), 1, 1, 0, 3) + transforms
    sa = struct.pack("!BBH", 34, 0, 4 + len(proposal)) + proposal
    ke = struct.pack("!BBHHH", 40, 0, 8 + 32, 31, 0) + builder.opaque(32)
    nonce = struct.pack("!BBH", 41, 0, 4 + 32) + builder.opaque(32)
    nat_src = struct.pack("!BBHBBH", 41, 0, 8 + 20, 0, 0, 16388) + builder.opaque(20)
    nat_dst = struct.pack("!BBHBBH", 0, 0, 8 + 20, 0, 0, 16389) + builder.opaque(20)
    return 33, sa + ke + nonce + nat_src + nat_dst


def encrypted_body(builder, plain_len):
    """An SK payload (46): IV, encrypted payloads, 16-byte ICV (AES-GCM)."""
    inner = 8 + plain_len + 16
    return 46, struct.pack("!BBH", 36 if plain_len > 100 else 0, 0, 4 + inner) + builder.opaque(inner)


def handshake(b, t, auth_port):
    """IKE_SA_INIT on 500 and IKE_AUTH on auth_port (4500 after NAT detection, behind the non-ESP marker:
    RFC 7296 section 2.23) between node1 (initiator) and node2; returns the IKE SPIs."""
    ispi, rspi = b.opaque(8), b.opaque(8)
    marker = auth_port == 4500
    b.udp(t, 1, 500, 500, ike(ispi, bytes(8), 34, False, 0, sa_init_body(b)))
    b.udp(t + 0.002, 2, 500, 500, ike(ispi, rspi, 34, True, 0, sa_init_body(b)))
    b.udp(t + 0.010, 1, auth_port, auth_port, ike(ispi, rspi, 35, False, 1, encrypted_body(b, 380), marker))
    b.udp(t + 0.014, 2, auth_port, auth_port, ike(ispi, rspi, 35, True, 1, encrypted_body(b, 300), marker))
    return ispi, rspi


def pod_traffic(b, t, spis, cipher, wrap):
    """A TCP exchange, a DNS query, a bulk upload at pod MTU 1400 and pings, each inner packet in one ESP packet."""
    seq = {1: 0, 2: 0}
    # inner IP lengths are whatever the pods send: a handshake, an HTTP-ish request and answer, DNS
    sizes = [(1, 60), (2, 60), (1, 52), (1, 239), (2, 52), (2, 517), (1, 52), (1, 73), (2, 129)]
    sizes += [(1, POD_MTU) if i % 2 == 0 else (2, 52) for i in range(60)]
    sizes += [(1, 84), (2, 84), (1, 1028), (2, 1028), (1, 1328), (2, 1328)]
    for src, inner in sizes:
        seq[src] += 1
        t += 0.0004
        wrap(t, src, b.esp(spis[src], seq[src], inner, cipher))
    return t


def build(spec):
    b = Builder(spec.name)
    if spec.mode == "ike-unanswered":
        request = ike(b.opaque(8), bytes(8), 34, False, 0, sa_init_body(b))
        for t in (0.0, 4.0, 11.2, 24.2):  # the same message, retransmitted unchanged
            b.udp(t, 1, 500, 500, request)
        return b, {}
    new_spis = lambda: {1: b.rng.randrange(0xC0000000, 0xCFFFFFFF), 2: b.rng.randrange(0xC0000000, 0xCFFFFFFF)}  # noqa: E731
    sas = [new_spis()]
    if spec.mode == "esp":
        ispi, rspi = handshake(b, 0.0, 500)
        wrap = lambda t, src, esp: b.frame(t, src, 50, esp)   # noqa: E731
        t = pod_traffic(b, 0.1, sas[0], spec.cipher, wrap)
        # CREATE_CHILD_SA: new child SAs, new SPIs; the old ones are deleted (INFORMATIONAL)
        b.udp(t + 0.5, 1, 500, 500, ike(ispi, rspi, 36, False, 2, encrypted_body(b, 220)))
        b.udp(t + 0.502, 2, 500, 500, ike(ispi, rspi, 36, True, 2, encrypted_body(b, 220)))
        sas.append(new_spis())
        b.udp(t + 0.51, 1, 500, 500, ike(ispi, rspi, 37, False, 3, encrypted_body(b, 12)))
        b.udp(t + 0.512, 2, 500, 500, ike(ispi, rspi, 37, True, 3, encrypted_body(b, 12)))
        pod_traffic(b, t + 1.0, sas[1], spec.cipher, wrap)
    else:
        handshake(b, 0.0, 4500)
        in_udp = lambda t, src, esp: b.udp(t, src, 4500, 4500, esp)  # noqa: E731
        t = pod_traffic(b, 0.1, sas[0], spec.cipher, in_udp)
        for k in range(3):  # NAT keepalives every 20 s (RFC 3948 section 2.3: one byte 0xff)
            b.udp(t + 1 + 20 * k, 1, 4500, 4500, b"\xff")
    return b, {"child_sas": [{"node1->node2": f"0x{s[1]:08x}", "node2->node1": f"0x{s[2]:08x}"} for s in sas]}


def esp_counts(path):
    table = rows(path, [])
    outer = [outer_ip_len(r) for r in table if r["esp.spi"]]
    counts = common_counts(path, table)
    exchanges = {}
    for r in table:
        if r["isakmp.exchangetype"]:
            key = f'{r["isakmp.exchangetype"][0]}/{first(r, "udp.dstport")}'
            exchanges[key] = exchanges.get(key, 0) + 1
    counts.update({
        "esp_packets": len(outer), "esp_in_udp": sum(1 for r in table if r["esp.spi"] and r["udp.dstport"]),
        "spis": sorted({r["esp.spi"][0] for r in table if r["esp.spi"]}),
        "ike_messages_by_exchange_type_and_port": dict(sorted(exchanges.items())),
        "nat_keepalives": sum(1 for r in table if r["udp.length"] == ["9"]),
        "esp_outer_ip_len_range": [min(outer, default=None), max(outer, default=None)],
    })
    return counts


def write_esp_capture(spec, out_dir):
    b, sas = build(spec)
    path = os.path.join(out_dir, f"{spec.name}.pcap")
    b.write(path)
    udp = 8 if spec.mode == "nat-t" else 0
    iv, block, icv = CIPHERS[spec.cipher]
    fixed = 20 + udp + 8 + iv + 2 + icv
    overheads = sorted({fixed + (-(n + 2) % block) for n in b.inner_lens})
    return os.path.basename(path), {
        "scenario": spec.name, "description": spec.about, "kind": "esp" if spec.mode != "ike-unanswered" else "ike",
        "made_by": "built byte by byte (crypto_lab/esp.py): the kernel here has no ESP transform",
        "fault": "blocked" if spec.mode == "ike-unanswered" else "none",
        "cipher": spec.cipher, "nodes": {f"node{n}": a for n, a in NODES.items()},
        "pods": {f"pod{n}": a for n, a in PODS.items()},
        "pods_hidden": "the pod addresses exist only inside the encrypted payload",
        "underlay_mtu": UNDERLAY_MTU, "pod_mtu": POD_MTU if spec.mode != "ike-unanswered" else None,
        "overhead": {"fixed": fixed, "padding": [0, block - 1] if block > 1 else [0, 0],
                     "observed_range": [overheads[0], overheads[-1]] if overheads else None,
                     "rule": f"outer IP {20} + {'UDP 8 + ' if udp else ''}ESP header 8 + IV {iv} + pad length and next "
                             f"header 2 + ICV {icv}, plus padding to a multiple of {block}"},
        "esp_packets_built": len(b.inner_lens), **sas,
        "expected": spec.expect,
        "measured": esp_counts(path),
    }
