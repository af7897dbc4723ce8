"""Tunnel headers dpkt 1.9.8 lacks, declared the way dpkt declares its own.

VXLAN (RFC 7348 section 5), VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe), Geneve
(RFC 8926 section 3.4), NSH (RFC 8300 section 2.2) and ERSPAN types II and III
(draft-foschiano-erspan section 4; type I has no header of its own): the header
is data, the only code is where the layout is not fixed (Geneve, NSH and the
ERSPAN III platform subheader lengths).
"""
import dpkt

from ..protocols import ETH_TYPE_IP, ETH_TYPE_IP6, ETH_TYPE_TEB

VXLAN_FLAG_VNI = 0x08   # the I bit: the VNI is valid (RFC 7348 5)
VXLAN_GPE_FLAG_P = 0x04  # next-protocol field present (VXLAN-GPE)
NSH_NEXT_PROTO = {1: ETH_TYPE_IP, 2: ETH_TYPE_IP6, 3: ETH_TYPE_TEB}   # to ethertype
GPE_NEXT_PROTO = {**NSH_NEXT_PROTO, 4: "nsh"}


class VXLAN(dpkt.Packet):
    """VXLAN header: 8 bits flags, 24 reserved, 24 bits VNI, 8 reserved."""

    __hdr__ = (
        ("flags", "B", VXLAN_FLAG_VNI),
        ("reserved1", "2s", b"\x00\x00"),
        ("next_proto", "B", 0),  # reserved in RFC 7348; next protocol in VXLAN-GPE
        ("_vni_reserved", "I", 0),
    )
    __bit_fields__ = {"_vni_reserved": (("vni", 24), ("reserved2", 8))}

    @property
    def is_gpe(self):
        return bool(self.flags & VXLAN_GPE_FLAG_P)

    @property
    def payload_ethertype(self):
        """What follows the header, as an ethertype (Ethernet for plain VXLAN)."""
        if self.is_gpe:
            return GPE_NEXT_PROTO.get(self.next_proto)
        return ETH_TYPE_TEB


class GeneveOption(dpkt.Packet):
    __hdr__ = (("opt_class", "H", 0), ("type", "B", 0), ("_rsvd_len", "B", 0))
    __bit_fields__ = {"_rsvd_len": (("reserved", 3), ("len", 5))}

    def unpack(self, buf):
        dpkt.Packet.unpack(self, buf)
        self.data = self.data[: self.len * 4]


class Geneve(dpkt.Packet):
    """Geneve header (RFC 8926 3.4); options are opt_len 4-byte words."""

    __hdr__ = (
        ("_ver_optlen", "B", 0),
        ("_o_c_rsvd", "B", 0),
        ("proto", "H", ETH_TYPE_TEB),
        ("_vni_reserved", "I", 0),
    )
    __bit_fields__ = {
        "_ver_optlen": (("ver", 2), ("opt_len", 6)),
        "_o_c_rsvd": (("oam", 1), ("critical", 1), ("reserved", 6)),
        "_vni_reserved": (("vni", 24), ("reserved2", 8)),
    }

    def unpack(self, buf):
        dpkt.Packet.unpack(self, buf)
        options_len = self.opt_len * 4
        if len(self.data) < options_len:
            raise dpkt.NeedData("Geneve options run past the end")
        self.options_raw = self.data[:options_len]
        self.data = self.data[options_len:]

    @property
    def header_len(self):
        return self.__hdr_len__ + self.opt_len * 4


class NSH(dpkt.Packet):
    """Network Service Header (RFC 8300 2.2), seen inside VXLAN-GPE."""

    __hdr__ = (
        ("_ver_flags_ttl_len", "H", 0),
        ("md_type", "B", 2),
        ("next_proto", "B", 1),
        ("_spi_si", "I", 0),
    )
    __bit_fields__ = {"_ver_flags_ttl_len": (("ver", 2), ("oam", 1), ("unused", 1), ("ttl", 6), ("length", 6))}

    def unpack(self, buf):
        dpkt.Packet.unpack(self, buf)
        header_len = self.length * 4
        if header_len < self.__hdr_len__ or len(buf) < header_len:
            raise dpkt.UnpackError("NSH length out of range")
        self.data = buf[header_len:]


class ERSPAN2(dpkt.Packet):
    """ERSPAN type II (GRE protocol 0x88BE with a sequence number): version 1, the mirrored frame follows."""

    __hdr__ = (
        ("_ver_vlan", "H", 0x1000),
        ("_cos_en_t_session", "H", 0),
        ("_reserved_index", "I", 0),
    )
    __bit_fields__ = {
        "_ver_vlan": (("ver", 4), ("vlan", 12)),
        "_cos_en_t_session": (("cos", 3), ("en", 2), ("t", 1), ("session", 10)),
        "_reserved_index": (("reserved", 12), ("index", 20)),
    }


class ERSPAN3(dpkt.Packet):
    """ERSPAN type III (GRE protocol 0x22EB): version 2; an 8-byte platform subheader follows when O is set."""

    __hdr__ = (
        ("_ver_vlan", "H", 0x2000),
        ("_cos_bso_t_session", "H", 0),
        ("timestamp", "I", 0),
        ("sgt", "H", 0),
        ("_flags", "H", 0),
    )
    __bit_fields__ = {
        "_ver_vlan": (("ver", 4), ("vlan", 12)),
        "_cos_bso_t_session": (("cos", 3), ("bso", 2), ("t", 1), ("session", 10)),
        "_flags": (("p", 1), ("ft", 5), ("hw_id", 6), ("d", 1), ("gra", 2), ("o", 1)),
    }
    PLATFORM_SUBHEADER = 8

    def unpack(self, buf):
        dpkt.Packet.unpack(self, buf)
        if self.o:
            if len(self.data) < self.PLATFORM_SUBHEADER:
                raise dpkt.NeedData("ERSPAN III platform subheader runs past the end")
            self.data = self.data[self.PLATFORM_SUBHEADER:]
