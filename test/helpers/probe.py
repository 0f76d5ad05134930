#!/usr/bin/env python3
"""Real connections for the policy tests, run inside a pod's network namespace
(`ip netns exec NS python3 probe.py ...`). Clients print one word: what happened.

  serve tcp|udp PORT...             echo servers on the ports until killed; prints "ready"
  connect tcp|udp HOST PORT [--sport N] [--timeout S] [--size N]
                                    a connection (TCP), or a datagram and its echo (UDP):
                                    "ok", "refused" (RST, ICMP unreachable) or "timeout".
                                    TCP closes with FIN after the echo. --size: the
                                    message's bytes (past the MTU: a fragmented datagram).
  send-udp HOST PORT --sport N      one datagram from a given source port; no answer awaited
  listen-udp PORT [--timeout S]     "got" if a datagram arrives in time, else "nothing"
  tcp-ack SRC SPORT DST DPORT       one bare TCP ACK (raw socket), as a peer whose
                                    connection the other side forgot would send
  matrix PROTO:HOST:PORT... [--timeout S]
                                    connect to every target at once; prints a JSON object
                                    of target -> "ok" | "refused" | "timeout"
"""
import argparse
import json
import select
import threading
import socket
import struct
import sys


def serve(proto, ports):
    socks = []
    for port in ports:
        if proto == 'tcp':
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('0.0.0.0', port))
            s.listen(64)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # send-udp may speak from it
            s.bind(('0.0.0.0', port))
        socks.append(s)
    print('ready', flush=True)
    while True:
        readable, _, _ = select.select(socks, [], [])
        for s in readable:
            if proto == 'udp':
                data, peer = s.recvfrom(65536)
                s.sendto(data, peer)
                continue
            conn, _ = s.accept()
            conn.settimeout(2)
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    conn.sendall(data)
            except OSError:
                pass
            conn.close()


def connect(proto, host, port, sport, timeout, size):
    kind = socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(timeout)
    if sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('0.0.0.0', sport))
    try:
        s.connect((host, port))
        message = (b'probe' * (size // 5 + 1))[:size]
        s.sendall(message)
        got = b''
        while len(got) < len(message):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
            if proto == 'udp':
                break
        return 'ok' if got == message else 'timeout'
    except ConnectionRefusedError:
        return 'refused'
    except (socket.timeout, TimeoutError):
        return 'timeout'
    except OSError as e:  # EHOSTUNREACH and the like: nothing answered as asked
        return 'timeout' if e.errno != 111 else 'refused'
    finally:
        s.close()


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_ack(src, sport, dst, dport):
    header = struct.pack('!HHIIBBHHH', sport, dport, 1000, 1000, 5 << 4, 0x10, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, socket.IPPROTO_TCP, len(header))
    header = header[:16] + struct.pack('!H', checksum(pseudo + header)) + header[18:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    s.sendto(header, (dst, 0))
    return 'sent'


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    sv = sub.add_parser('serve')
    sv.add_argument('proto', choices=['tcp', 'udp'])
    sv.add_argument('ports', type=int, nargs='+')
    c = sub.add_parser('connect')
    c.add_argument('proto', choices=['tcp', 'udp'])
    c.add_argument('host')
    c.add_argument('port', type=int)
    c.add_argument('--sport', type=int, default=0)
    c.add_argument('--timeout', type=float, default=1.0)
    c.add_argument('--size', type=int, default=5)
    su = sub.add_parser('send-udp')
    su.add_argument('host')
    su.add_argument('port', type=int)
    su.add_argument('--sport', type=int, required=True)
    lu = sub.add_parser('listen-udp')
    lu.add_argument('port', type=int)
    lu.add_argument('--timeout', type=float, default=1.0)
    mx = sub.add_parser('matrix')
    mx.add_argument('targets', nargs='+')
    mx.add_argument('--timeout', type=float, default=1.0)
    ta = sub.add_parser('tcp-ack')
    ta.add_argument('src')
    ta.add_argument('sport', type=int)
    ta.add_argument('dst')
    ta.add_argument('dport', type=int)
    a = p.parse_args()
    if a.cmd == 'serve':
        serve(a.proto, a.ports)
    elif a.cmd == 'connect':
        print(connect(a.proto, a.host, a.port, a.sport, a.timeout, a.size))
    elif a.cmd == 'send-udp':
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('0.0.0.0', a.sport))
        s.sendto(b'probe', (a.host, a.port))
        print('sent')
    elif a.cmd == 'listen-udp':
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('0.0.0.0', a.port))
        s.settimeout(a.timeout)
        try:
            s.recvfrom(2048)
            print('got')
        except (socket.timeout, TimeoutError):
            print('nothing')
    elif a.cmd == 'matrix':
        results = {}

        def one(target):
            proto, host, port = target.split(':')
            results[target] = connect(proto, host, int(port), 0, a.timeout, 5)

        threads = [threading.Thread(target=one, args=(t,)) for t in a.targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(json.dumps(results))
    elif a.cmd == 'tcp-ack':
        print(tcp_ack(a.src, a.sport, a.dst, a.dport))


if __name__ == '__main__':
    sys.exit(main())
