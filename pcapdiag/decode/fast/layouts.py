"""The headers the fast decoder reads, declared once: dpkt's own declarations, as numpy structured dtypes.

A dpkt header class lists its fields (__hdr__: name and struct format) and the bit fields packed into
some of them (__bit_fields__); the reference decoder parses one packet with it. Layout turns the same
declaration into a numpy dtype, so the fast decoder reads a whole batch of headers -- rows of bytes
gathered at each record's header -- by the same names: ip.len, ip.hl, tcp.seq, vxlan.vni.
"""
from __future__ import annotations

import numpy as np
from dpkt import ethernet, icmp, ip, ip6, sll, sll2, tcp, udp

from ..tunnels import VXLAN, Geneve

_I64 = np.int64
_INTEGERS = {"B": "u1", "H": "u2", "I": "u4", "i": "i4"}
_HIGH16, _LOW32 = ":high16", ":low32"


class Layout:
    """A dpkt header class's fields as a numpy structured dtype (placed at any offset of a wider row)."""

    def __init__(self, header_class):
        order = header_class.__hdr_fmt__[0]
        self.name = header_class.__name__
        self.fields: list[tuple[str, object, int]] = []     # (name, numpy format, offset)
        offset = 0
        for name, fmt, *_ in header_class.__hdr__:
            if fmt == "6s":
                # a MAC address as one 48-bit integer: its top 16 and low 32 bits (see Header)
                self.fields += [(name + _HIGH16, order + "u2", offset), (name + _LOW32, order + "u4", offset + 2)]
                offset += 6
                continue
            if fmt.endswith("s"):
                size = int(fmt[:-1])
                # addresses of 4 bytes are read as one integer (the fast decoder's IPv4 address)
                numpy_format = order + "u4" if size == 4 else ("u1", size)
            else:
                numpy_format = order + _INTEGERS[fmt]
                size = np.dtype(numpy_format).itemsize
            self.fields.append((name, numpy_format, offset))
            offset += size
        self.size = offset
        # bit field -> (the field holding it, shift, mask or None), widths counted from the top bit as dpkt does
        self.bits: dict[str, tuple[str, int, int | None]] = {}
        for word, parts in getattr(header_class, "__bit_fields__", {}).items():
            top = left = 8 * np.dtype(next(f for n, f, _ in self.fields if n == word)).itemsize
            for part, width in parts:
                left -= width
                # the top bits need no mask, the low bits no shift
                self.bits[part] = (word, left, None if left + width == top else (1 << width) - 1)
        self._dtypes: dict[tuple[int, int], np.dtype] = {}

    def read(self, window, at: int = 0) -> "Header":
        """The header at byte `at` of every row of window ((k, width) uint8, C-contiguous)."""
        width = window.shape[1]
        dtype = self._dtypes.get((at, width))
        if dtype is None:
            dtype = self._dtypes[(at, width)] = np.dtype({
                "names": [name for name, _, _ in self.fields],
                "formats": [numpy_format for _, numpy_format, _ in self.fields],
                "offsets": [at + offset for _, _, offset in self.fields], "itemsize": width})
        return Header(self, window.view(dtype)[:, 0])


class Header:
    """A batch of one header, its fields by dpkt's names: int64 columns (bit fields too; 6 bytes: a 48-bit
    MAC), other byte strings as (k, n) uint8. Each field is computed once, when first read."""

    def __init__(self, layout: Layout, records):
        self._layout = layout
        self._records = records

    def __getattr__(self, name):
        bits = self._layout.bits.get(name)
        if bits is not None:
            word, shift, mask = bits
            value = getattr(self, word)
            if shift:
                value = value >> shift
            if mask is not None:
                value = value & mask
        else:
            fields = self._records.dtype.fields
            if name + _HIGH16 in fields:
                value = (self._records[name + _HIGH16].astype(_I64) << 32) | self._records[name + _LOW32]
            elif name in fields:
                value = self._records[name]
                if value.ndim == 1:
                    value = value.astype(_I64)
            else:
                raise AttributeError(f"{self._layout.name} has no field {name!r}")
        self.__dict__[name] = value
        return value


def uint_at(window, offset: int, width: int):
    """The big-endian integers of width bytes (1, 2 or 4) at offset of every row of window, as int64: for
    fields no header declares (the plausibility screens' peeks into a UDP payload, a TCP option word)."""
    if not len(window):
        return np.zeros(0, dtype=_I64)
    dtype = {1: "u1", 2: ">u2", 4: ">u4"}[width]
    return np.ndarray((len(window),), dtype=dtype, buffer=window, offset=offset,
                      strides=(window.strides[0],)).astype(_I64)


ETHERNET = Layout(ethernet.Ethernet)
VLAN_TAG = Layout(ethernet.VLANtag8021Q)     # after an Ethernet header of type 802.1Q
SLL = Layout(sll.SLL)
SLL2 = Layout(sll2.SLL2)
IP = Layout(ip.IP)
IP6 = Layout(ip6.IP6)
TCP = Layout(tcp.TCP)
UDP = Layout(udp.UDP)
ICMP = Layout(icmp.ICMP)
ICMP_ECHO = Layout(icmp.ICMP.Echo)           # after the ICMP header of an echo request or reply
VXLAN_HEADER = Layout(VXLAN)
GENEVE_HEADER = Layout(Geneve)
