#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Abusive clients for test-ctl-abuse.sh (loopback only). Each mode prints one result line.
#   uploads HOST PORT URLPATH N SIZE SRC...  N unauthenticated POSTs announcing SIZE bytes, each
#       sending all but the last byte, then holding; prints "answered=A 401=B" (A: connections
#       the server answered before the body was complete), then waits for SIGTERM/stdin EOF
#   idle HOST PORT N SRC                    N TCP connections that never send a byte; holds them
#       until stdin closes; prints "open=N"
#   loris HOST PORT N SRC INTERVAL TLS      N connections sending one byte per INTERVAL s (of a
#       TLS handshake when TLS=0, of request headers inside TLS when TLS=1); prints the seconds
#       after which the server closed each ("closed=[..]"), or -1 when still open after 60 s
import socket, ssl, sys, threading, time

def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c

def conn(host, port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect((host, port))
    return s

def uploads(host, port, path, n, size, srcs):
    socks, answered, unauth = [], 0, 0
    for i in range(n):
        t = ctx().wrap_socket(conn(host, port, srcs[i % len(srcs)]))
        t.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n" % (path, size)).encode())
        socks.append(t)
    chunk = b" " * 16384
    for t in socks:
        left = size - 1
        t.settimeout(0.5)
        try:
            while left > 0:
                k = min(left, len(chunk))
                t.sendall(chunk[:k])
                left -= k
        except (OSError, ssl.SSLError):
            pass
    for t in socks:
        t.settimeout(1)
        try:
            data = t.recv(200)
        except (OSError, ssl.SSLError):
            data = b""
        if data:
            answered += 1
            if b" 401 " in data.split(b"\r\n")[0]:
                unauth += 1
    print("answered=%d 401=%d" % (answered, unauth), flush=True)
    sys.stdin.read()

def idle(host, port, n, src):
    socks = [conn(host, port, src) for _ in range(n)]
    print("open=%d" % len(socks), flush=True)
    sys.stdin.read()

def loris(host, port, n, src, interval, tls):
    res = [None] * n
    def one(i):
        t0 = time.monotonic()
        s = conn(host, port, src)
        try:
            if tls:
                s = ctx().wrap_socket(s)
                data = b"GET /v1/fleet HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
            else:
                data = b"\x16\x03\x01\x02\x00" + b"\x01" * 1000  # a ClientHello that never ends
            s.settimeout(interval)
            for b in data:
                if time.monotonic() - t0 > 60:
                    res[i] = -1
                    return
                s.send(bytes([b]))
                try:
                    if s.recv(1) == b"":
                        break
                except (socket.timeout, ssl.SSLWantReadError):
                    continue
                except (OSError, ssl.SSLError):
                    break
        except (OSError, ssl.SSLError):
            pass
        res[i] = round(time.monotonic() - t0, 1)
    th = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in th: t.start()
    for t in th: t.join()
    print("closed=%s" % res, flush=True)

m = sys.argv[1]
if m == "uploads":
    uploads(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), sys.argv[7:])
elif m == "idle":
    idle(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
elif m == "loris":
    loris(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6]), sys.argv[7] == "1")
