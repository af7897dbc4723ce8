"""Encrypted overlays recognised from their headers: WireGuard, ESP and, on UDP 4500, ESP-in-UDP told apart
from IKE and NAT keepalives.  Pure functions over a packet's bytes, for both decoders to call.

* WireGuard (whitepaper section 5.4, wireguard.com/papers/wireguard.pdf): a one-byte message type 1-4
  followed by three zero reserved bytes, little-endian fields, and fixed sizes: initiation 148 bytes,
  response 92, cookie reply 64, transport data a 16-byte header (receiver index, 8-byte counter) + the
  encrypted inner packet, padded to a multiple of 16, + a 16-byte Poly1305 tag.  Any port (Cilium uses
  51871, Calico and flannel 51820 and 51821 for IPv6), so the sizes and reserved bytes are the test.
* ESP (RFC 4303 section 2): IP protocol 50, a 32-bit SPI (1-255 reserved by IANA, 0 never sent) and a
  sequence number that starts at 1; the rest is cipher-specific (IV, padded payload, ICV).
* UDP 4500 (RFC 3948 section 2): ESP-in-UDP starts with the (non-zero) SPI; IKE starts with the 4-byte
  zero non-ESP marker; a NAT keepalive is the single byte 0xff.  UDP 500 carries IKE (RFC 7296 3.1).

The screens at the bottom are the fast decoder's batch tests in plausible.py's (peek, size) form: each
passes every payload the exact test could accept, so only those rows need the exact test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import dpkt
from dpkt.esp import ESP

from ..protocols import IKE_PORT, NAT_T_PORT, WIREGUARD_PORTS
WIREGUARD_HEADER, WIREGUARD_TAG, WIREGUARD_PAD = 16, 16, 16
NON_ESP_MARKER = b"\x00\x00\x00\x00"
NAT_KEEPALIVE = b"\xff"
ESP_FIRST_SPI = 256             # SPIs 1-255 are reserved (RFC 4303 2.1), 0 is for local use only
ESP_MIN_LEN = 8 + 20 + 2        # header, the smallest inner IP packet, pad length and next header
IKE_HEADER_LEN = 28
TUNNEL_KINDS = ("wireguard", "esp")   # the kinds that carry pod packets (the class names too); IKE and NAT
                                      # keepalives are the nodes' own control traffic
IKE_EXCHANGES = {2: "ikev1-identity", 4: "ikev1-aggressive", 5: "ikev1-informational", 32: "ikev1-quick",
                 34: "ike_sa_init", 35: "ike_auth", 36: "create_child_sa", 37: "informational"}
IKE_FLAG_RESPONSE = 0x20        # RFC 7296 3.1: the R bit
# What ESP adds around the inner packet besides the outer IP (and UDP) header, for the cipher assumed when
# the sizes cannot tell (one packet alone never can): AES-GCM-128 as RFC 4106 runs it, an 8-byte IV and a
# 16-byte ICV, the default of Cilium's IPsec and of flannel's ipsec backend.  ESP header 8 + IV 8 + pad
# length and next header 2 + ICV 16; the padding to 4 bytes (0-3) comes on top.
ESP_GCM_OVERHEAD = 8 + 8 + 2 + 16
# AES-CBC-128 with HMAC-SHA-256-128, the block-cipher suite a 16-byte step in the sizes points to: IV 16 and
# ICV 16, padding to 16 bytes (0-15)
ESP_CBC_OVERHEAD = 8 + 16 + 2 + 16


# The messages' fixed fields up to the indices and counter: the rest (keys, timestamps, MACs, cookie,
# ciphertext) is opaque and stays in .data, so a snaplen that cuts a handshake still yields its indices.
_TYPE_RESERVED = (("type", "B", 0), ("reserved", "3s", b"\x00" * 3))


class WireGuardMessage(dpkt.Packet):
    __byte_order__ = "<"            # WireGuard's integers are little-endian, unlike the IETF protocols'
    __hdr__ = _TYPE_RESERVED


class WireGuardInitiation(WireGuardMessage):
    __hdr__ = _TYPE_RESERVED + (("sender", "I", 0),)


class WireGuardResponse(WireGuardMessage):
    __hdr__ = _TYPE_RESERVED + (("sender", "I", 0), ("receiver", "I", 0))


class WireGuardCookieReply(WireGuardMessage):
    __hdr__ = _TYPE_RESERVED + (("receiver", "I", 0),)


class WireGuardData(WireGuardMessage):
    """Transport data: .data is the encrypted, padded inner packet and the 16-byte Poly1305 tag."""
    __hdr__ = _TYPE_RESERVED + (("receiver", "I", 0), ("counter", "Q", 0))


# type -> (message name, header class, exact message size or None for transport data): the initiation
# carries 32 ephemeral + 48 static + 28 timestamp + 2 x 16 MAC bytes, the response 32 + 16 + 2 x 16, the
# cookie reply a 24-byte nonce and a 32-byte encrypted cookie
WIREGUARD_MESSAGES = {
    1: ("initiation", WireGuardInitiation, 148),
    2: ("response", WireGuardResponse, 92),
    3: ("cookie-reply", WireGuardCookieReply, 64),
    4: ("transport-data", WireGuardData, None),
}


class IKEHeader(dpkt.Packet):
    """IKE header (RFC 7296 3.1; IKEv1's has the same layout, RFC 2408 3.1)."""
    __hdr__ = (("ispi", "8s", b"\x00" * 8), ("rspi", "8s", b"\x00" * 8), ("next_payload", "B", 0),
               ("version", "B", 0x20), ("exchange", "B", 34), ("flags", "B", 0), ("msg_id", "I", 0),
               ("length", "I", IKE_HEADER_LEN))


@dataclass(frozen=True)
class Encrypted:
    """What the headers of one encrypted-overlay packet say."""
    kind: str                      # "wireguard", "esp", "ike" or "nat-keepalive"
    message: str                   # WireGuard message name, "esp", the IKE exchange, "keepalive"
    by_port: bool                  # on the protocol's usual port (False: recognised by its headers alone)
    sender: int | None = None      # WireGuard sender index (initiation, response)
    receiver: int | None = None    # WireGuard receiver index (response, cookie reply, transport data)
    counter: int | None = None     # WireGuard transport counter
    spi: int | None = None         # ESP SPI
    seq: int | None = None         # ESP sequence number
    ike_spis: tuple | None = None  # (initiator SPI, responder SPI) as hex; the responder's is zeros at first
    response: bool | None = None   # IKE R flag
    inner_range: tuple | None = None   # WireGuard transport data: smallest and largest inner IP length


def wireguard_inner_range(payload_len: int) -> tuple[int, int] | None:
    """The inner IP packet lengths a transport-data message of payload_len UDP payload bytes can carry.

    The plaintext is padded to a multiple of 16 but never beyond the device MTU, so a padded length that
    is a multiple of 16 holds 15 bytes less up to all of it, and one that is not (a packet at an MTU
    such as 1420) holds exactly the lengths that round up past it: 1409-1420 for 1420.  A keepalive
    (nothing inside) gives (0, 0)."""
    padded = payload_len - WIREGUARD_HEADER - WIREGUARD_TAG
    if padded < 0:
        return None
    return (0, 0) if padded == 0 else (padded - (padded - 1) % WIREGUARD_PAD, padded)


def wireguard_message(payload: bytes, payload_len: int, by_port: bool = False) -> Encrypted | None:
    """The WireGuard message in a UDP payload, or None.  payload_len is the UDP length - 8 (the payload
    may be cut by the snaplen; the sizes are judged on the wire length)."""
    if len(payload) < 4 or payload[0] not in WIREGUARD_MESSAGES or payload[1:4] != b"\x00\x00\x00":
        return None
    name, header, size = WIREGUARD_MESSAGES[payload[0]]
    if size is not None and payload_len != size:
        return None
    if size is None and (payload_len < WIREGUARD_HEADER + WIREGUARD_TAG
                         or not by_port and (payload_len - WIREGUARD_HEADER - WIREGUARD_TAG) % WIREGUARD_PAD):
        # off the usual ports only padded sizes count: a message at an MTU that is not a multiple of 16
        # is left unpadded, but four bytes 04 00 00 00 alone are too weak a sign
        return None
    try:
        fields = header(payload)
    except dpkt.NeedData:           # cut inside the indices (a snaplen under 58 bytes): type and size still tell
        fields = None
    return Encrypted("wireguard", name, by_port,
                     sender=getattr(fields, "sender", None), receiver=getattr(fields, "receiver", None),
                     counter=getattr(fields, "counter", None),
                     inner_range=wireguard_inner_range(payload_len) if size is None else None)


def esp_packet(payload: bytes, payload_len: int, by_port: bool = True) -> Encrypted | None:
    """An ESP header (IP protocol 50, or the payload of UDP 4500 after the marker test), or None."""
    if len(payload) < 8 or payload_len < ESP_MIN_LEN:
        return None
    esp = ESP(payload[:8])
    if esp.spi < ESP_FIRST_SPI or esp.seq == 0:
        return None
    return Encrypted("esp", "esp", by_port, spi=esp.spi, seq=esp.seq)


def ike_message(payload: bytes, payload_len: int, by_port: bool = True) -> Encrypted | None:
    """An IKE message (without the non-ESP marker), or None: the header's length must be the payload's."""
    if len(payload) < IKE_HEADER_LEN or payload_len < IKE_HEADER_LEN:
        return None
    header = IKEHeader(payload[:IKE_HEADER_LEN])
    if header.version >> 4 not in (1, 2) or header.length != payload_len or header.ispi == bytes(8):
        return None
    return Encrypted("ike", IKE_EXCHANGES.get(header.exchange, f"exchange-{header.exchange}"), by_port,
                     ike_spis=(header.ispi.hex(), header.rspi.hex()), response=bool(header.flags & IKE_FLAG_RESPONSE))


def nat_t(payload: bytes, payload_len: int) -> Encrypted | None:
    """A UDP 4500 payload (RFC 3948 2.2): keepalive, IKE behind the non-ESP marker, or ESP."""
    if payload_len == 1:
        return Encrypted("nat-keepalive", "keepalive", True) if payload == NAT_KEEPALIVE else None
    if payload[:4] == NON_ESP_MARKER:
        return ike_message(payload[4:], payload_len - 4)
    return esp_packet(payload, payload_len)


def classify_udp(sport: int, dport: int, payload: bytes, payload_len: int | None = None) -> Encrypted | None:
    """The encrypted overlay in a UDP datagram's payload, or None.

    sport, dport: the UDP ports; payload: the captured payload bytes; payload_len: the UDP length - 8
    (defaults to len(payload)).  UDP 4500 and 500 are IKE's; WireGuard is recognised on any other port
    by its message sizes, with by_port telling whether the port is one of the CNIs' WireGuard ports.
    """
    payload_len = len(payload) if payload_len is None else payload_len
    ports = {sport, dport}
    if NAT_T_PORT in ports:
        return nat_t(payload, payload_len)
    if IKE_PORT in ports:
        return ike_message(payload, payload_len)
    return wireguard_message(payload, payload_len, by_port=bool(ports & WIREGUARD_PORTS))


def crypto_columns(found: Encrypted) -> dict:
    """The facts columns (crypto_*, decode/facts.py) of a classified payload: -1 where a value is absent."""
    counter = found.counter if found.counter is not None and found.counter < 1 << 63 else None
    values = {"crypto_kind": found.kind, "crypto_msg": found.message,
              "crypto_sender": found.sender, "crypto_receiver": found.receiver if found.spi is None else found.spi,
              "crypto_seq": counter if found.seq is None else found.seq,
              "crypto_reply": found.message == "response" or bool(found.response)}
    return {name: -1 if value is None else value for name, value in values.items()}


def hidden_inner_length(found: Encrypted, payload_len: int) -> int:
    """The inner_len fact of a WireGuard or ESP packet whose payload (UDP payload, or IP payload for ESP) is
    payload_len bytes on the wire: the largest inner IP packet it can carry, -1 for none.

    WireGuard: the padded plaintext (the top of wireguard_inner_range; the inner packet is 0-15 bytes less);
    a handshake carries no inner packet.  ESP: the payload less ESP_GCM_OVERHEAD (the default cipher: with
    AES-CBC the inner packet is 8-23 bytes less; the overhead analyzer measures which from the sizes)."""
    if found.kind == "wireguard":
        return found.inner_range[1] if found.inner_range else -1
    if found.kind == "esp":
        return payload_len - ESP_GCM_OVERHEAD if payload_len >= ESP_GCM_OVERHEAD else -1
    return -1


def esp_block_estimate(esp_lengths) -> dict | None:
    """What the ESP packet lengths of one SA say about its cipher, measured, not assumed.

    Every ESP payload is IV + ciphertext + ICV with the ciphertext padded to the cipher's block (at least
    4 bytes, RFC 4303 2.4), so all lengths differ by multiples of the block: their greatest common
    difference is the block, or a multiple of it when few packets were seen.  16 means a block cipher
    such as AES-CBC (padding 0-15 bytes per packet); 4 or 8 an AEAD in counter mode such as AES-GCM or
    ChaCha20-Poly1305 (padding 0-3).  Returns None with fewer than two distinct lengths."""
    lengths = sorted({n for n in esp_lengths if isinstance(n, int) and n > 0})
    if len(lengths) < 2:
        return None
    step = math.gcd(*(n - lengths[0] for n in lengths[1:]))
    if step % 16 == 0:
        family = "block cipher (AES-CBC or similar): 0-15 bytes of padding per packet"
    elif step % 4 == 0:
        family = "4-byte aligned AEAD (AES-GCM, ChaCha20-Poly1305): 0-3 bytes of padding per packet"
    else:
        family = "lengths that do not keep ESP's 4-byte alignment: not one SA, or not ESP"
    return {"step": step, "family": family, "distinct_lengths": len(lengths), "smallest": lengths[0],
            "largest": lengths[-1]}


# The fast decoder's screens, in plausible.py's form: peek(offset, width) gives big-endian ints of the
# payloads' first bytes over a batch, size their UDP payload lengths.
SCREEN_BYTES = 8


def wireguard_screen(peek, size):
    """Type 1-4 followed by three zero bytes: the handshake messages at their exact sizes, transport data
    from the header and tag's 32 bytes up."""
    head = peek(0, 4)
    passed = (head == 4 << 24) & (size >= WIREGUARD_HEADER + WIREGUARD_TAG)
    for kind, (_, _, exact) in WIREGUARD_MESSAGES.items():
        if exact:
            passed = passed | ((head == kind << 24) & (size == exact))
    return passed


def esp_screen(peek, size):
    """An SPI from 256 up and a non-zero sequence number (IP protocol 50, or UDP 4500 without the marker)."""
    return (size >= ESP_MIN_LEN) & (peek(0, 4) >= ESP_FIRST_SPI) & (peek(4, 4) != 0)
