"""Link-layer header types: the ones pcapdiag decodes, and names for the rest.

Numbers are LINKTYPE_* values from https://www.tcpdump.org/linktypes.html
(the IANA "pcap" registry); pcap and pcapng store the same numbers.
"""
from __future__ import annotations

# The supported set: decode/ knows how to find the network layer behind these.
LINKTYPE_NAMES: dict[int, str] = {
    0: "null",          # BSD loopback, 4-byte AF_ value in host byte order
    1: "ethernet",
    12: "raw",          # raw IP (OpenBSD DLT_RAW number)
    14: "raw",          # raw IP (BSD/OS DLT_RAW number)
    101: "raw",         # LINKTYPE_RAW: raw IPv4 or IPv6, version from the first nibble
    108: "loop",        # OpenBSD loopback, 4-byte AF_ value in network byte order
    113: "linux_sll",   # Linux cooked capture (tcpdump -i any before libpcap 1.10)
    228: "ipv4",
    229: "ipv6",
    276: "linux_sll2",  # Linux cooked capture v2 (tcpdump -i any since libpcap 1.10)
}

# Names of well-known types we do not decode, so an error can say what the file is.
OTHER_LINKTYPE_NAMES: dict[int, str] = {
    3: "AX.25",
    6: "IEEE 802.5 Token Ring",
    7: "ARCNET",
    8: "SLIP",
    9: "PPP",
    10: "FDDI",
    50: "PPP in HDLC-like framing",
    51: "PPPoE",
    100: "ATM RFC 1483",
    104: "Cisco HDLC",
    105: "IEEE 802.11",
    107: "Frame Relay",
    117: "OpenBSD pflog",
    119: "IEEE 802.11 Prism",
    122: "IP over Fibre Channel",
    123: "SunATM",
    127: "IEEE 802.11 radiotap",
    129: "ARCNET (Linux)",
    138: "IP over IEEE 1394",
    139: "MTP2 with pseudo-header",
    140: "MTP2",
    141: "MTP3",
    142: "SCCP",
    143: "DOCSIS",
    144: "Linux IrDA",
    163: "IEEE 802.11 AVS",
    165: "BACnet MS/TP",
    166: "PPP (pppd)",
    169: "GPRS LLC",
    177: "Linux LAPD",
    187: "Bluetooth HCI H4",
    189: "USB (Linux)",
    192: "PPI",
    195: "IEEE 802.15.4",
    197: "Endace ERF",
    201: "Bluetooth HCI H4 with pseudo-header",
    215: "IEEE 802.15.4 (non-ASK PHY)",
    220: "USB (Linux, memory-mapped)",
    227: "SocketCAN",
    230: "IEEE 802.15.4 (no FCS)",
    231: "D-Bus",
    239: "Linux netfilter NFLOG",
    240: "netANALYZER",
    243: "MPEG-2 transport stream",
    249: "USBPcap",
    251: "Bluetooth LE link layer",
    253: "Linux netlink",
    254: "Bluetooth Linux monitor",
    256: "Bluetooth LE link layer with pseudo-header",
    258: "Apple PKTAP",
}
OTHER_LINKTYPE_NAMES.update({n: f"user-defined (DLT_USER{n - 147})" for n in range(147, 163)})

# pcap's link-type field also carries FCS-length bits above bit 26 (libpcap's
# LT_LINKTYPE() mask); only the low bits are the type.
LINKTYPE_MASK = 0x03FFFFFF


def is_supported(linktype: int) -> bool:
    return linktype in LINKTYPE_NAMES


def describe_link_type(linktype: int) -> str:
    """'105 (IEEE 802.11)', '1 (ethernet)', or just '4242' when unknown."""
    name = LINKTYPE_NAMES.get(linktype) or OTHER_LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)
