#!/usr/bin/env python3
"""Receives RTP datagrams on 127.0.0.1:<port> until <seconds> pass without one, and writes
them to <out> as records of a 2-byte big-endian length followed by the datagram."""
import socket, struct, sys

port, out, idle = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("127.0.0.1", port))
s.settimeout(30.0)  # wait for the sender to start
n = 0
with open(out, "wb") as f:
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        s.settimeout(idle)
        f.write(struct.pack(">H", len(d)) + d)
        n += 1
print(f"{n} datagrams -> {out}", file=sys.stderr)
