"""decode/: record batches in, packet facts (one row per packet, fixed columns) out.

    facts.py        the columns (COLUMNS) and their store (Facts)
    reference.py    ReferenceDecoder: dpkt, one packet at a time, through dispatch tables (the truth)
    fast/           FastDecoder: numpy over a whole batch, the reference for the rows it cannot prove
    plausible.py    tunnels recognised by their headers: one ordered list both decoders use
    dpkt_layers.py  dpkt's headers parsed one at a time; link type -> link layer
    tunnels.py      the tunnel headers dpkt lacks (VXLAN, Geneve, NSH)
    select.py       a decoder by name
"""
from __future__ import annotations

from ..protocols import DEFAULT_VXLAN_PORTS
from .facts import COLUMN_NAMES, rows_to_facts
from .reference import FragmentAttribution, ReferenceDecoder

__all__ = ["COLUMN_NAMES", "DEFAULT_VXLAN_PORTS", "ReferenceDecoder", "FragmentAttribution", "rows_to_facts"]
