"""The numbers of the protocols pcapdiag reads, and the names it gives them, in one place.

Wire constants only (plain ints, sets and dicts): the decoders, analyzers and reports import them from
here, and importing this module costs nothing.
"""
from __future__ import annotations

# Link types (LINKTYPE_* of https://www.tcpdump.org/linktypes.html) the decoders find IP behind
LINKTYPE_ETHERNET = 1
LINKTYPE_SLL, LINKTYPE_SLL2 = 113, 276           # Linux cooked captures (`tcpdump -i any`)
LINKTYPES_RAW = frozenset({12, 14, 101, 228, 229})  # raw IP: the version nibble says which
LINKTYPE_NULL, LINKTYPE_LOOP = 0, 108            # BSD loopback: a 4-byte address family, host / network order
BSD_AF_INET = 2
BSD_AF_INET6 = frozenset({24, 28, 30})           # AF_INET6 differs between the BSDs

# Ethertypes
ETH_TYPE_IP, ETH_TYPE_IP6 = 0x0800, 0x86DD
ETH_TYPE_ARP = 0x0806
ETH_TYPE_8021Q = 0x8100
ETH_TYPE_TEB = 0x6558      # transparent Ethernet bridging: the payload is an Ethernet frame
ETH_TYPE_ERSPAN, ETH_TYPE_ERSPAN3 = 0x88BE, 0x22EB   # GRE protocols of a port mirror: ERSPAN types I/II, III
IP_VERSION_OF_ETHERTYPE = {ETH_TYPE_IP: 4, ETH_TYPE_IP6: 6}
ETHERTYPE_OF_IP_VERSION = {4: ETH_TYPE_IP, 6: ETH_TYPE_IP6}

# IP protocol numbers, and the names reports give them
IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP = 1, 4, 6, 17
IPPROTO_IPV6, IPPROTO_GRE, IPPROTO_AH, IPPROTO_ICMPV6 = 41, 47, 51, 58
IPPROTO_ESP = 50
ARP_PROTO = 0x0806         # not an IP protocol: the inner_proto of ARP inside a tunnel (its ethertype, above 255)
PROTO_NAMES = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp", 51: "ah", 58: "icmpv6",
               89: "ospf", 112: "vrrp", 132: "sctp", ARP_PROTO: "arp"}

# UDP and TCP ports
DEFAULT_VXLAN_PORTS = frozenset({4789, 8472, 4790})  # IANA, Linux/flannel/Cilium default, VXLAN-GPE
GENEVE_PORTS = frozenset({6081})
BGP_PORT = 179
WIREGUARD_PORTS = frozenset({51820, 51821, 51871})   # Calico/flannel IPv4, their IPv6 device, Cilium
IKE_PORT, NAT_T_PORT = 500, 4500                     # IKE; NAT traversal: IKE and ESP-in-UDP (RFC 3948)

# TCP (RFC 9293): flag bits, option kinds, sequence space
TH_SYN, TH_ACK = 0x02, 0x10
TCP_OPT_EOL, TCP_OPT_NOP, TCP_OPT_MSS, TCP_OPT_SACK, TCP_OPT_TIMESTAMP = 0, 1, 2, 5, 8
SEQ_SPACE = 1 << 32        # sequence numbers count modulo 2**32

# ICMP and ICMPv6 types
ICMP_ECHO_TYPES = {IPPROTO_ICMP: (0, 8), IPPROTO_ICMPV6: (128, 129)}   # reply, request
ICMP_ERROR_TYPES = (3, 4, 5, 11, 12)   # ICMP messages that quote the packet they are about
ICMP_FRAG_NEEDED = (3, 4)              # destination unreachable, fragmentation needed and DF set (RFC 1191)
ICMP6_PACKET_TOO_BIG = 2               # RFC 4443 3.2
ICMP6_FIRST_INFO_TYPE = 128            # ICMPv6 types below it are errors that quote a packet (RFC 4443 2.1)

# The outer UDP checksum of a tunnel packet (facts column outer_udp_csum)
CSUM_UNCHECKED = -1        # not a UDP tunnel, or not checkable (cut, fragment, offload, lying length)
CSUM_NONE = 0              # zero: the sender sent none
CSUM_GOOD, CSUM_BAD = 1, 2
CSUM_PARTIAL = 3           # only the pseudo-header sum: the sender's NIC was to finish it (offload)

JUMBO_FRAME_MAX = 9216 + 18  # no link MTU in use is larger: a bigger frame was never on the wire as one
