"""The lab agent: the traffic one pod or node of the sample lab sends and answers, run inside its network
namespace by tools/lab/netns.py as a script file (`ip netns exec NS python tools/lab/agent.py CMD ...`).

Commands: tcp-server / tcp-client (GET or PUT a number of bytes), udp-echo / udp-client, ping (ICMP echo
like iputils ping, DF on or off), bgp (an iBGP speaker sending prepared messages, see bgp.py). Each
prints READY once it listens, so the lab knows when to start the clients.
"""
import argparse
import json
import random
import select
import socket
import struct
import threading
import time

from pcapdiag.testing.checksum import internet_checksum


def say(*a):
    print(*a, flush=True)


def blob(n):
    return random.Random(n).randbytes(n)


def recv_line(c):
    b = b""
    while not b.endswith(b"\n"):
        d = c.recv(1)
        if not d:
            break
        b += d
    return b.decode(errors="replace").strip()


def drain(c):
    n = 0
    while True:
        d = c.recv(65536)
        if not d:
            return n
        n += len(d)


def tcp_server(a):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.bind, a.port))
    s.listen(16)
    say("READY")
    for _ in range(a.conns):
        c, peer = s.accept()
        c.settimeout(60)
        req = recv_line(c).split()
        if req and req[0] == "GET":
            c.sendall(blob(int(req[1])))
            c.shutdown(socket.SHUT_WR)
            drain(c)
        elif req and req[0] == "PUT":
            want, got = int(req[1]), 0
            while got < want:
                d = c.recv(min(65536, want - got))
                if not d:
                    break
                got += len(d)
            c.sendall(("OK %d\n" % got).encode())
            drain(c)
        c.close()
        say("served", peer, req)


def tcp_client(a):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.sport:
        c.bind(("", a.sport))
    c.settimeout(a.timeout)
    t0 = time.time()
    c.connect((a.dst, a.port))
    if a.get:
        c.sendall(("GET %d\n" % a.get).encode())
        say("got", drain(c))
    else:
        c.sendall(("PUT %d\n" % a.put).encode())
        c.sendall(blob(a.put))
        say(recv_line(c))
    c.close()
    say("elapsed %.3f" % (time.time() - t0))


def udp_echo(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.bind, a.port))
    say("READY")
    while True:
        d, peer = s.recvfrom(65535)
        try:
            s.sendto(d, peer)
        except OSError as e:
            say("send error", e)


def udp_client(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.sport:
        s.bind(("", a.sport))
    s.settimeout(a.wait)
    for size in a.sizes.split(","):
        n = int(size)
        try:
            s.sendto(blob(n), (a.dst, a.port))
            d, _ = s.recvfrom(65535)
            say("udp", n, "echo", len(d))
        except (socket.timeout, OSError) as e:
            say("udp", n, "error", repr(e))
        time.sleep(a.gap)


def ping(a):
    # like iputils ping: 16-byte timeval then bytes equal to their offset; DF as -M do/dont
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setsockopt(socket.IPPROTO_IP, 10, 2 if a.df else 0)   # IP_MTU_DISCOVER: DO / DONT
    for seq in range(1, a.count + 1):
        now = time.time()
        if a.size >= 16:
            payload = struct.pack("=qq", int(now), int((now % 1) * 1e6))
            payload += bytes(i & 0xFF for i in range(16, a.size))
        else:
            payload = bytes(range(a.size))
        c = internet_checksum(struct.pack("!BBHHH", 8, 0, 0, a.ident, seq) + payload)
        pkt = struct.pack("!BBHHH", 8, 0, c, a.ident, seq) + payload
        try:
            s.sendto(pkt, (a.dst, 0))
        except OSError as e:
            say("ping", seq, "send error", e.strerror)
            time.sleep(a.interval)
            continue
        deadline, got = time.time() + a.wait, None
        while True:
            left = deadline - time.time()
            if left <= 0:
                break
            r, _, _ = select.select([s], [], [], left)
            if not r:
                break
            d, src = s.recvfrom(65535)
            ihl = (d[0] & 15) * 4
            t, code, _, rid, rseq = struct.unpack("!BBHHH", d[ihl:ihl + 8])
            if t == 0 and rid == a.ident and rseq == seq:
                got = len(d) - ihl - 8
                break
            if t == 3:
                say("ping", seq, "icmp error from", src[0], "type", t, "code", code)
        say("ping", seq, "reply" if got is not None else "timeout", got)
        time.sleep(a.interval)


def bgp_session(c, msgs, ka, name):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf, seen = b"", []
    def pump(timeout):
        nonlocal buf
        r, _, _ = select.select([c], [], [], timeout)
        if not r:
            return
        d = c.recv(65535)
        if not d:
            raise EOFError
        buf += d
        while len(buf) >= 19:
            ln = struct.unpack("!H", buf[16:18])[0]
            if len(buf) < ln:
                break
            seen.append(buf[18])
            buf = buf[ln:]
    def wait_for(t):
        while t not in seen:
            pump(30)
        seen.remove(t)
    try:
        c.sendall(msgs["open"])
        wait_for(1)
        c.sendall(msgs["keepalive"])
        wait_for(4)
        say("ESTABLISHED", name)
        time.sleep(0.05)
        c.sendall(msgs["update"])
        time.sleep(0.05)
        c.sendall(msgs["eor"])
        nxt = time.time() + ka
        while True:
            pump(max(0.0, nxt - time.time()))
            if time.time() >= nxt:
                c.sendall(msgs["keepalive"])
                nxt += ka
    except (EOFError, OSError):
        return


def bgp(a):
    msgs = {k: bytes.fromhex(v) for k, v in json.load(open(a.msgs)).items()}
    ls = None
    if a.listen:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((a.local, 179))
        ls.listen(8)
    say("READY")
    def acceptor():
        for _ in range(a.listen):
            c, peer = ls.accept()
            threading.Thread(target=bgp_session, args=(c, msgs, a.keepalive, peer[0]), daemon=True).start()
    if ls is not None:
        threading.Thread(target=acceptor, daemon=True).start()
    for peer in [p for p in a.connect.split(",") if p]:
        c = socket.socket()
        c.bind((a.local, 0))
        c.connect((peer, 179))
        threading.Thread(target=bgp_session, args=(c, msgs, a.keepalive, peer), daemon=True).start()
    while True:
        time.sleep(1)


COMMANDS = {"tcp-server": tcp_server, "tcp-client": tcp_client, "udp-echo": udp_echo, "udp-client": udp_client,
            "ping": ping, "bgp": bgp}


def parse(argv=None):
    p = argparse.ArgumentParser(description="traffic of one lab pod or node")
    sub = p.add_subparsers(dest="cmd", required=True)
    servers = {"tcp-server": sub.add_parser("tcp-server"), "udp-echo": sub.add_parser("udp-echo")}
    for q in servers.values():
        q.add_argument("--bind", default="0.0.0.0")
        q.add_argument("--port", type=int)
    servers["tcp-server"].add_argument("--conns", type=int, default=1)
    clients = {name: sub.add_parser(name) for name in ("tcp-client", "udp-client", "ping")}
    for q in clients.values():
        q.add_argument("--dst")
    for name in ("tcp-client", "udp-client"):
        clients[name].add_argument("--port", type=int)
        clients[name].add_argument("--sport", type=int, default=0)
    q = clients["tcp-client"]
    q.add_argument("--get", type=int, default=0)
    q.add_argument("--put", type=int, default=0)
    q.add_argument("--timeout", type=float, default=30)
    q = clients["udp-client"]
    q.add_argument("--sizes")
    q.add_argument("--wait", type=float, default=1.0)
    q.add_argument("--gap", type=float, default=0.05)
    q = clients["ping"]
    q.add_argument("--count", type=int, default=3)
    q.add_argument("--size", type=int, default=56)
    q.add_argument("--df", action="store_true")
    q.add_argument("--ident", type=int, default=0x1234)
    q.add_argument("--interval", type=float, default=0.2)
    q.add_argument("--wait", type=float, default=1.0)
    q = sub.add_parser("bgp")
    q.add_argument("--local")
    q.add_argument("--listen", type=int, default=0)
    q.add_argument("--connect", default="")
    q.add_argument("--msgs")
    q.add_argument("--keepalive", type=float, default=3.0)
    return p.parse_args(argv)


if __name__ == "__main__":
    args = parse()
    COMMANDS[args.cmd](args)
