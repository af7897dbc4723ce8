"""Choose a decoder by name: "reference" (dpkt, per packet) or "fast" (vectorised, reference fallback)."""
from __future__ import annotations

from . import ReferenceDecoder

DECODERS = ("fast", "reference")


def make_decoder(name: str, vxlan_ports):
    if name == "reference":
        return ReferenceDecoder(vxlan_ports)
    if name == "fast":
        try:
            from .fast import FastDecoder
        except ImportError:  # the vectorised decoder is optional; the reference is always right
            return ReferenceDecoder(vxlan_ports)
        return FastDecoder(vxlan_ports)
    raise ValueError(f"unknown decoder {name!r}; choose one of {', '.join(DECODERS)}")
