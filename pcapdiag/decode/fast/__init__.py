"""The fast decoder: numpy over a whole RecordBatch, the reference decoder for everything else.

The vectorised path covers the common stacks of a Kubernetes underlay:

    link    Ethernet II (with at most one 802.1Q tag), raw IP link types (12, 14, 101, 228,
            229, by the version nibble), Linux cooked SLL (113) and SLL2 (276) carrying IPv4
            or IPv6; Ethernet ARP (a "non-ip" row)
    outer   IPv4, IHL 5..15, not a fragment (MF = 0, offset = 0), total length at least the
            header length and within the captured bytes -- or beyond them when the record is
            snaplen-cut (caplen < wirelen), as the reference allows
    then    (a) UDP to a port of the VXLAN set, VXLAN flags without the GPE (P) bit, or to the
                Geneve port, protocol Ethernet, options of any length
                -> inner Ethernet (untagged IPv4 or IPv6) -> inner IP, with the outer UDP
                checksum state (none / good / bad / partial) computed over the whole datagram
            (b) IPv4 protocol 4 (IPIP) -> inner IPv4
            (c) native: the outer IPv4 is the innermost
    inner   the same IPv4 checks, fragments allowed (nothing past a non-first one);
    L4      TCP (any options; dpkt's option walk for a SYN's MSS and the SACK blocks), UDP proven by its port
            and payload to be no tunnel, ICMP other than the error types (echo identity kept)
    IPv6    outer (native) or inner (in VXLAN or Geneve over IPv4): a fixed header followed
            directly by TCP or UDP (no extension headers), payload length not 0 and within the
            captured bytes (or beyond them when snaplen-cut)

The first 128 bytes of every record are copied out of the batch buffer with one numpy gather;
each layer's header is then a fixed-width window cut out of that copy at a per-row offset
(one gather per layer, from the buffer itself only past 128 bytes), its fields are columns
of the window, and every field is guarded by a captured-length check made before it is
used. A row that fails any check -- a header cut short, outer IP
fragments (the reference's FragmentAttribution table must see all of them, in order),
IPv6 extension headers, ICMPv6, tunnels over an IPv6 underlay, 6in4, GRE, Geneve carrying
IP directly, BGP, ICMP errors, UDP whose payload might pass one of the reference's
plausibility tests, encrypted overlays (ESP, UDP on IKE's ports 500 and 4500, UDP starting
with WireGuard's type and reserved bytes), malformed headers, anything unknown -- is decoded by the reference
decoder (one ReferenceDecoder per FastDecoder, so its fragment table persists across
batches) and merged back in record order.

Values the reference computes in a surprising way are reproduced, not corrected: the TCP
payload is total - (len(buf) - len(payload)) - data offset, so Ethernet padding after a
short IP packet lowers it; the plausibility tests see the UDP payload bounded by the IP
total length, not by the UDP length.

The package, by what it holds:

    decoder.py   FastDecoder and its stages, named after the reference decoder's layers
    layouts.py   the headers it reads: dpkt's declarations as numpy structured dtypes
    buffer.py    windows of the batch buffer at per-row offsets; the outer UDP checksum sums
    columns.py   the batch's columns as the stages fill them; the Facts, text columns as TextColumns
"""
from .decoder import FastDecoder

__all__ = ["FastDecoder"]
