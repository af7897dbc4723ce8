"""The iBGP full mesh of the native sample: BGP messages built with dpkt.bgp (and parsed back with it to
check them), handed to the agents (agent.py bgp) on every node."""
from __future__ import annotations

import ipaddress
import json
import os
import struct

from dpkt import bgp as dbgp

from .netns import Lab

BGP_ASN = 64512
BGP_HOLD = 9
BGP_KEEPALIVE = 3.0


def _bgp_wrap(msg_type, body):
    m = dbgp.BGP(marker=b"\xff" * 16, len=19 + len(body), type=msg_type)
    m.data = body
    return bytes(m.pack_hdr()) + body


def bgp_messages(node_ip, cidr):
    caps = [(1, struct.pack("!HBB", dbgp.AFI_IPV4, 0, dbgp.SAFI_UNICAST)),   # multiprotocol IPv4 unicast
            (2, b""),                                                         # route refresh
            (65, struct.pack("!I", BGP_ASN))]                                  # 4-octet AS
    params = []
    for code, val in caps:
        cap = dbgp.BGP.Open.Parameter.Capability(code=code, len=len(val))
        cap.data = val
        par = dbgp.BGP.Open.Parameter(type=dbgp.CAPABILITY, len=len(bytes(cap)))
        par.data = cap
        params.append(par)
    op = dbgp.BGP.Open(v=4, asn=BGP_ASN, holdtime=BGP_HOLD, identifier=int(ipaddress.IPv4Address(node_ip)))
    op.parameters = params
    A = dbgp.BGP.Update.Attribute
    attrs = []
    for atype, body in ((dbgp.ORIGIN, bytes(A.Origin(type=dbgp.ORIGIN_IGP))),
                        (dbgp.AS_PATH, b""),                                   # iBGP: empty AS_PATH
                        (dbgp.NEXT_HOP, bytes(A.NextHop(ip=int(ipaddress.IPv4Address(node_ip))))),
                        (dbgp.LOCAL_PREF, bytes(A.LocalPref(value=100)))):
        at = A(flags=0x40, type=atype)
        at.len = len(body)
        at.data = body
        attrs.append(at)
    net = ipaddress.IPv4Network(cidr)
    route = dbgp.RouteIPV4(len=net.prefixlen)
    route.prefix = net.network_address.packed
    upd = dbgp.BGP.Update()
    upd.withdrawn, upd.attributes, upd.announced = [], attrs, [route]
    msgs = {"open": _bgp_wrap(dbgp.OPEN, bytes(op)),
            "keepalive": _bgp_wrap(dbgp.KEEPALIVE, b""),
            "update": _bgp_wrap(dbgp.UPDATE, bytes(upd)),
            "eor": _bgp_wrap(dbgp.UPDATE, b"\x00\x00\x00\x00")}
    # parse back with dpkt
    o = dbgp.BGP(msgs["open"])
    assert o.type == dbgp.OPEN and o.open.asn == BGP_ASN and o.open.holdtime == BGP_HOLD
    assert [p.capability.code for p in o.open.parameters] == [1, 2, 65]
    u = dbgp.BGP(msgs["update"])
    assert u.type == dbgp.UPDATE
    got = ["%s/%d" % (ipaddress.IPv4Address(r.prefix), r.len) for r in u.update.announced]
    assert got == [cidr], got
    nh = [a.next_hop.ip for a in u.update.attributes if a.type == dbgp.NEXT_HOP]
    assert nh == [int(ipaddress.IPv4Address(node_ip))]
    k = dbgp.BGP(msgs["keepalive"])
    assert k.type == dbgp.KEEPALIVE and k.len == 19
    e = dbgp.BGP(msgs["eor"])
    assert e.type == dbgp.UPDATE and not e.update.announced and not e.update.attributes
    return msgs


def start_bgp_mesh(lab: Lab, nodes):
    """iBGP full mesh: node i connects to every node j > i (j listens)."""
    procs = []
    for n in reversed(nodes):
        path = os.path.join(lab.workdir, f"bgp-{n.name}.json")
        with open(path, "w") as f:
            json.dump({k: v.hex() for k, v in bgp_messages(n.ip, n.cidr).items()}, f)
        listen = sum(1 for m in nodes if m.idx < n.idx)
        connect = ",".join(m.ip for m in nodes if m.idx > n.idx)
        procs.append(lab.agent_bg(n.ns, "bgp", "--local", n.ip, "--listen", listen, "--connect", connect,
                                  "--msgs", path, "--keepalive", BGP_KEEPALIVE))
    return procs
