"""Choose a decoder by name: "reference" (dpkt, per packet) or "fast" (vectorised, reference fallback)."""
from __future__ import annotations

from .reference import ReferenceDecoder

DECODERS = ("fast", "reference")


def make_decoder(name: str, vxlan_ports):
    if name == "reference":
        return ReferenceDecoder(vxlan_ports)
    if name == "fast":
        from .fast import FastDecoder

        return FastDecoder(vxlan_ports)
    raise ValueError(f"unknown decoder {name!r}; choose one of {', '.join(DECODERS)}")
