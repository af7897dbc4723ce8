"""Programs run inside the namespaces with python3 -c (stdlib only)."""

APP_SRC = r'''
import json, socket, sys, threading, time

def recv_exact(c, n):
    buf = b""
    while len(buf) < n:
        d = c.recv(n - len(buf))
        if not d:
            break
        buf += d
    return buf

def read_line(c):
    buf = b""
    while not buf.endswith(b"\n") and (byte := c.recv(1)):
        buf += byte
    return buf.decode().strip()

def handle(c):
    with c:
        words = read_line(c).split()
        if words == ["SMALL"]:
            while len(recv_exact(c, SMALL)) == SMALL:
                c.sendall(b"r" * SMALL)
        elif words and words[0] == "PUT":
            want, got = int(words[1]), 0
            while got < want:
                d = c.recv(65536)
                if not d:
                    break
                got += len(d)
            c.sendall(b"OK %d\n" % got)

def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # a modest receive window keeps bursts short: the veth backlogs of a busy 2-core host would
    # otherwise drop parts of a window-sized burst, and "healthy" would show real retransmissions
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.bind(("0.0.0.0", port))
    s.listen(8)
    print("READY", flush=True)
    while True:
        threading.Thread(target=handle, args=(s.accept()[0],), daemon=True).start()

def client(mode, host, port, size, rounds):
    res, t0, sent = {"mode": mode}, time.time(), 0
    try:
        c = socket.create_connection((host, port), timeout=3)
        c.settimeout(60)
        if mode == "small":
            c.sendall(b"SMALL\n")
            for _ in range(rounds):
                c.sendall(b"q" * SMALL)
                sent += SMALL
                if len(recv_exact(c, SMALL)) != SMALL:
                    raise EOFError("short reply")
            c.shutdown(socket.SHUT_WR)
            res["ok"] = True
        else:
            c.sendall(b"PUT %d\n" % size)
            data = bytes(range(256)) * (65536 // 256)
            while sent < size:
                sent += c.send(data[:min(65536, size - sent)])
            reply = read_line(c)
            res["ok"] = reply == "OK %d" % size
            res["reply"] = reply
        c.close()
    except Exception as e:
        res["ok"], res["error"] = False, repr(e)
    res["bytes_sent"], res["seconds"] = sent, round(time.time() - t0, 2)
    print(json.dumps(res), flush=True)

SMALL = int(sys.argv[-1])
if sys.argv[1] == "serve":
    serve(int(sys.argv[2]))
else:
    client(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
'''

# Userspace IPIP: TUN device <-> raw IP protocol 4 socket (the kernel ipip device is unavailable).
IPIP_SRC = r'''
import fcntl, os, select, socket, struct, sys
name, peer = sys.argv[1], sys.argv[2]
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, 0x400454CA, struct.pack("16sH", name.encode(), 0x0001 | 0x1000))  # TUNSETIFF, IFF_TUN|IFF_NO_PI
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
raw.setsockopt(socket.IPPROTO_IP, 10, 2)   # IP_MTU_DISCOVER = IP_PMTUDISC_DO: outer DF, like tunl0 pmtudisc
print("READY", flush=True)
while True:
    ready = select.select([tun, raw], [], [])[0]
    if tun in ready:
        packet = os.read(tun, 65535)
        try:
            raw.sendto(packet, (peer, 0))
        except OSError:
            pass
    if raw in ready:
        packet, (src, _) = raw.recvfrom(65535)
        if src == peer:
            os.write(tun, packet[(packet[0] & 15) * 4:])
'''
