"""decode/: record batches in, packet facts (one row per packet, fixed columns) out."""
from __future__ import annotations

from collections import OrderedDict

from .facts import COLUMN_NAMES, rows_to_facts
from .reference import DEFAULT_VXLAN_PORTS, PacketWalker

FRAGMENT_TABLE_SIZE = 4096  # datagrams in flight; the oldest are forgotten (bounded memory)
_CLASS_FIELDS = ("encap", "outer_class", "tunnel_port", "vni", "by_plausibility")


class FragmentAttribution:
    """Gives a non-first outer IP fragment the class of its datagram.

    DESIGN: a fragment belongs to the class of the datagram it is part of,
    matched by (source, destination, protocol, IP ID) with the first fragment.
    """

    def __init__(self, size: int = FRAGMENT_TABLE_SIZE):
        self.size = size
        self.first_fragments: OrderedDict = OrderedDict()

    def apply(self, row: dict) -> None:
        if not (row["outer_mf"] or row["outer_frag_off"]):
            return
        key = (row["outer_src"], row["outer_dst"], row["outer_proto"], row["outer_ip_id"])
        if row["outer_frag_off"] == 0:
            self.first_fragments[key] = {name: row[name] for name in _CLASS_FIELDS}
            if len(self.first_fragments) > self.size:
                self.first_fragments.popitem(last=False)
        elif key in self.first_fragments:
            row.update(self.first_fragments[key])


class ReferenceDecoder:
    """dpkt, one packet at a time: the truth the fast decoder is tested against."""

    name = "reference"

    def __init__(self, vxlan_ports=DEFAULT_VXLAN_PORTS):
        self.walker = PacketWalker(vxlan_ports)
        self.fragments = FragmentAttribution()

    def decode_rows_at(self, batch, indices) -> list[dict]:
        """Rows for the records of a RecordBatch at the given indices (the fast decoder's fallback)."""
        buf, offsets, caplens, wirelens = batch.buf, batch.offsets, batch.caplens, batch.wirelens
        walker, fragments, rows = self.walker, self.fragments, []
        first_frame = batch.first_frame
        for i in indices:
            start = int(offsets[i])
            caplen = int(caplens[i])
            row = walker.decode(float(batch.ts[i]), caplen, int(wirelens[i]), int(batch.linktypes[i]),
                                bytes(buf[start:start + caplen]))
            row["frame"] = first_frame + i
            fragments.apply(row)
            rows.append(row)
        return rows

    def decode_batch(self, batch):
        return rows_to_facts(self.decode_rows_at(batch, range(len(batch.offsets))))


__all__ = ["COLUMN_NAMES", "DEFAULT_VXLAN_PORTS", "ReferenceDecoder", "FragmentAttribution", "rows_to_facts"]
