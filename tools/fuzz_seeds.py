#!/usr/bin/env python3
"""Seed corpora for the C fuzz targets (csrc/fuzz/), one directory per target.

Seeds come from two places: the real captures of ../shared/samples/pcaps (their frames, the
TLS hellos, HTTP heads and FTP control lines they carry, and their first kilobytes as small
captures), and inputs built here with scapy and struct (frames of every link type, VLAN
stacks, IPv6 extension headers, hellos split over records, SSLv2, heads with cookies, FTP
lines of every kind, pcapng sections with options, mirror records of every kind, table
operation programs).  Each seed carries its target's header bytes (csrc/fuzz/fuzz_*.c say
what they are), so the fuzzers start deep in every parser.

    tools/fuzz_seeds.py --out build/fuzz/corpus            everything (samples + built)
    tools/fuzz_seeds.py --out csrc/fuzz/corpus --small     the built ones only, a few each

The --small set is what csrc/fuzz/corpus/ commits: small, deterministic, needs no samples.
Without ../shared/samples the sample seeds are left out; without scapy, the scapy frames.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import struct
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / ".." / "shared" / "samples" / "pcaps"
sys.path.insert(0, str(ROOT))

LINK_INDEX = {1: 0, 101: 1, 113: 2, 276: 3, 228: 4, 229: 5}  # fuzz_decode.c LINKS[]
PST_KINDS = {1: 4, 2: 16, 3: 32, 4: 64, 5: 6, 6: 18, 7: 8}  # kind: key width
PST_MIN = {1: 4, 2: 16, 3: 1, 4: 1, 5: 6, 6: 18, 7: 8}
FRAMES_PER_CAPTURE = 40
MAX_SEEDS = 400  # per target, from the samples


# ---- target headers --------------------------------------------------------------------------

def decode_seed(frame: bytes, link: int, vips: int = 1) -> bytes:
    """fuzz_decode: link index, VIP mode (1: destination, 2: source, 3: both)."""
    return bytes([LINK_INDEX.get(link, 6) | vips << 4]) + frame


def http_seed(head: bytes, response: bool, pattern: bytes = b"*", name: bytes = b"host",
              offset: int = 1, length: int = 0) -> bytes:
    """fuzz_http: flags and key offset, key length, pattern, header name, head."""
    return (bytes([(offset << 1 | response) & 0xFF, length, len(pattern)]) + pattern +
            bytes([len(name)]) + name + head)


def ftp_seed(lines: bytes, from_client: bool) -> bytes:
    return bytes([from_client]) + lines


def capwalk_seed(capture: bytes, pcapng: bool, cap: int = 4, grow: int = 3) -> bytes:
    """fuzz_capwalk: format bit, column room (1-8), window growth (1-16 x 7 bytes)."""
    return bytes([pcapng | (cap - 1) << 1 | (grow - 1) << 4]) + capture


def import_seed(kind: int, opt: int, now: int, held: int, split: int,
                records: Iterable[bytes]) -> bytes:
    return struct.pack(">BBIHB", kind - 1, opt, now, held, split) + b"".join(records)


# ---- frames ----------------------------------------------------------------------------------

def scapy_frames() -> Iterator[tuple[bytes, int]]:
    """(frame, link) built with scapy: every link type and the decoder's corner cases."""
    try:
        from scapy.layers.inet import IP, TCP, UDP
        from scapy.layers.inet6 import (
            IPv6,
            IPv6ExtHdrDestOpt,
            IPv6ExtHdrFragment,
            IPv6ExtHdrHopByHop,
            IPv6ExtHdrRouting,
        )
        from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
    except ImportError:
        return
    v4 = {"src": "10.0.0.1", "dst": "192.168.1.10"}
    v6 = {"src": "2001:db8::1", "dst": "2001:db8::10"}
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    get = b"GET /a;jsessionid=1 HTTP/1.1\r\nHost: h\r\nCookie: sid=abc\r\n\r\n"
    yield bytes(eth / IP(**v4) / TCP(sport=40000, dport=80, flags="PA") / get), 1
    yield bytes(eth / IP(**v4) / TCP(sport=40000, dport=80, flags="S",
                                     options=[("MSS", 1460), ("SAckOK", b"")])), 1
    yield bytes(eth / IP(**v4) / UDP(sport=5353, dport=53) / b"query"), 1
    yield bytes(eth / IP(**v4, options=b"\x94\x04\x00\x00") / TCP(flags="A") / b"opt"), 1
    yield bytes(eth / IP(**v4, flags="MF") / TCP() / b"frag"), 1
    yield bytes(eth / IP(**v4, proto=1) / b"\x08\x00\x00\x00"), 1
    yield bytes(eth / Dot1Q(vlan=10) / IP(**v4) / TCP(flags="A") / b"vlan"), 1
    yield bytes(eth / Dot1AD(vlan=100) / Dot1Q(vlan=10) / IP(**v4) / UDP() / b"qinq"), 1
    yield bytes(eth / IPv6(**v6) / TCP(sport=40000, dport=443, flags="A") / b"v6"), 1
    yield bytes(eth / IPv6(**v6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
                IPv6ExtHdrRouting() / TCP(flags="PA") / b"ext"), 1
    yield bytes(eth / IPv6(**v6) / IPv6ExtHdrFragment() / UDP() / b"frag6"), 1
    yield bytes(eth / IPv6(**v6) / UDP(sport=1, dport=2) / b"udp6"), 1
    yield bytes(CookedLinux(proto=0x0800) / IP(**v4) / TCP(flags="PA") / b"sll"), 113
    yield bytes(CookedLinuxV2(proto=0x86DD) / IPv6(**v6) / TCP(flags="PA") / b"sll2"), 276
    yield bytes(IP(**v4) / TCP(flags="PA") / b"raw4"), 101
    yield bytes(IPv6(**v6) / UDP() / b"raw6"), 101
    yield bytes(IP(**v4) / UDP() / b"ipv4"), 228
    yield bytes(IPv6(**v6) / TCP(flags="A") / b"ipv6"), 229
    yield bytes(eth)[:12] + b"\x88\x47" + b"\x00\x01\x01\x40" + bytes(IP(**v4) / UDP()), 1  # MPLS
    deep = IPv6ExtHdrDestOpt()
    for _ in range(8):
        deep = deep / IPv6ExtHdrDestOpt()
    yield bytes(eth / IPv6(**v6) / deep / TCP() / b"deep"), 1     # one header too many
    short = bytes(eth / IP(**v4) / TCP(flags="PA") / (b"x" * 200))
    yield short[:80], 1                                     # cut by the snapshot length
    yield bytes(eth / IP(**v4) / TCP(flags="A") / b"p") + bytes(20), 1   # Ethernet padding


def struct_frames() -> Iterator[tuple[bytes, int]]:
    """Frames built byte by byte, for a machine without scapy."""
    def ipv4(proto: int, l4: bytes) -> bytes:
        return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                           bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + l4

    tcp = struct.pack(">HHIIBBHHH", 40000, 80, 1, 2, 0x50, 0x18, 512, 0, 0) + b"GET / HTTP/1.1"
    udp = struct.pack(">HHHH", 53, 53, 12, 0) + b"dns!"
    mac = bytes(12)
    yield mac + b"\x08\x00" + ipv4(6, tcp), 1
    yield mac + b"\x81\x00\x00\x0a\x08\x00" + ipv4(17, udp), 1
    yield mac + b"\x88\x47" + bytes(8), 1
    yield ipv4(6, tcp), 228
    v6 = struct.pack(">IHBB16s16s", 0x60000000, len(udp), 17, 64, bytes(15) + b"\x01",
                     bytes(15) + b"\x02") + udp
    yield v6, 229
    yield b"\x08\x00" + bytes(18) + ipv4(6, tcp), 276


def capture_paths() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.iterdir() if p.suffix in (".pcap", ".pcapng"))


def sample_frames() -> Iterator[tuple[bytes, int, object]]:
    """(frame, link, decoded packet) of the sample captures, through the project's reader."""
    try:
        from weboslb.io.capture import CaptureError, open_capture
        from weboslb.proto.frame import decode
    except ImportError:
        return
    for path in capture_paths():
        try:
            with open_capture(path) as cap:
                for _, link, frame in cap.frames():
                    yield frame, link, decode(frame, link)
        except CaptureError as exc:
            print(f"fuzz_seeds: skipped {path.name}: {exc}", file=sys.stderr)


# ---- Layer 7 payloads ------------------------------------------------------------------------

def tls_record(body: bytes, version: int = 0x0301) -> bytes:
    return struct.pack(">BHH", 22, version, len(body)) + body


def handshake(kind: int, body: bytes) -> bytes:
    return struct.pack(">B", kind) + len(body).to_bytes(3, "big") + body


def ext(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


def client_hello(sid: bytes, exts: bytes = b"") -> bytes:
    body = (b"\x03\x03" + bytes(range(32)) + bytes([len(sid)]) + sid + b"\x00\x04\x13\x01\x00\x2f"
            + b"\x01\x00")
    if exts:
        body += struct.pack(">H", len(exts)) + exts
    return handshake(1, body)


def server_hello(sid: bytes, exts: bytes = b"") -> bytes:
    body = b"\x03\x03" + bytes(32) + bytes([len(sid)]) + sid + b"\x13\x01\x00"
    if exts:
        body += struct.pack(">H", len(exts)) + exts
    return handshake(2, body)


def built_hellos() -> list[bytes]:
    sni = ext(0, b"\x00\x0c\x00\x00\x09a.example")
    offered = ext(43, b"\x04\x03\x04\x03\x03")
    selected = ext(43, b"\x03\x04")
    ch = client_hello(bytes(range(32)), sni + offered)
    split = [ch[:3], ch[3:40], ch[40:]]
    sslv2 = (b"\x80\x2e\x01\x03\x01\x00\x09\x00\x10\x00\x10" + b"\x00\x00\x04" * 3 +
             bytes(range(16)) + b"c" * 16)
    return [tls_record(ch), tls_record(server_hello(bytes(32), selected), 0x0303),
            b"".join(tls_record(p) for p in split), tls_record(client_hello(b"")),
            tls_record(server_hello(b"\x01" * 16)), sslv2]


def built_heads() -> list[bytes]:
    return [
        http_seed(b"GET /a;jsessionid=1?b=2&sid=9 HTTP/1.1\r\nHost: www.example\r\n"
                  b"Cookie: a=1; sid=XYZ123; b=2\r\n\r\n", False, b"sid", b"host", 1, 4),
        http_seed(b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc; path=/\r\nSet-Cookie: t=2\r\n\r\n",
                  True, b"s*", b"set-cookie", 2, 0),
        http_seed(b"POST /login HTTP/1.0\nCookie:  JSESSIONID = q1w2 \nContent-Length: 3\n\nabc",
                  False, b"JSESSION*", b"content-length"),
        http_seed(b"HTTP/1.0 302\r\n\r\n", True, b"*", b"location"),
        http_seed(b"GET / HTTP/1.1\r\nX: " + b"y" * 9000 + b"\r\n\r\n", False),
    ]


def built_ftp() -> list[bytes]:
    return [
        ftp_seed(b"USER anonymous\r\nPORT 10,0,0,1,4,1\r\nEPRT |1|10.0.0.1|1025|\r\n"
                 b"EPRT |2|2001:db8::1|1026|\r\nEPRT |2|::ffff:1.2.3.4|80|\r\nport 1,2,3,4,5,6\n",
                 True),
        ftp_seed(b"220 ready\r\n227 Entering Passive Mode (192,168,1,2,19,137).\r\n"
                 b"229 Entering Extended Passive Mode (|||6446|)\r\n227-multi\r\n", False),
        ftp_seed(b"PORT 300,0,0,1,4,1\r\nEPRT !2!fe80::1:2:3:4!65536!\r\n", True),
        ftp_seed(b"229 (!!!21!)\r\n227 =1,2,3,4,5,6\r\n", False),
    ]


def tcp_payloads() -> Iterator[tuple[bytes, int, int]]:
    """(payload, sport, dport) of the samples' TCP frames that carry bytes."""
    for frame, _, pkt in sample_frames():
        if pkt.reason == 0 and pkt.proto == 6 and pkt.payload_len:
            yield frame[pkt.payload_off:pkt.payload_off + pkt.payload_len], pkt.sport, pkt.dport


# ---- captures --------------------------------------------------------------------------------

def pcapng_built() -> list[bytes]:
    """Sections in both byte orders, interfaces with if_tsresol and if_tsoffset, every packet
    block, a block the walk skips."""
    def block(order: str, btype: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        n = 12 + len(body)
        return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)

    def opt(order: str, code: int, value: bytes) -> bytes:
        return struct.pack(order + "HH", code, len(value)) + value + bytes(-len(value) % 4)

    frame = (bytes(12) + b"\x08\x00" + bytes.fromhex("4500001c0001000040110000") + bytes(8) +
             bytes.fromhex("0035003500080000"))
    out = []
    for order in "<>":
        shb = block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
        idb = block(order, 1, struct.pack(order + "HHI", 1, 0, 65535) + opt(order, 9, b"\x09") +
                    opt(order, 14, struct.pack(order + "q", 100)) + opt(order, 0, b""))
        idb2 = block(order, 1, struct.pack(order + "HHI", 101, 0, 0) + opt(order, 9, b"\x94"))
        idb3 = block(order, 1, struct.pack(order + "HHI", 1, 0, 0) + opt(order, 9, b"\x15"))
        epb = block(order, 6, struct.pack(order + "IIIII", 0, 1, 2, len(frame), len(frame)) + frame)
        epb2 = block(order, 6, struct.pack(order + "IIIII", 1, 7, 8, 20, 60) + frame[14:34])
        epb3 = block(order, 6, struct.pack(order + "IIIII", 2, 0xFFFF, 9, 4, 4) + b"abcd")
        spb = block(order, 3, struct.pack(order + "I", len(frame)) + frame)
        opb = block(order, 2, struct.pack(order + "HHIIII", 0, 0, 1, 2, len(frame), len(frame))
                    + frame)
        nrb = block(order, 4, bytes(4))
        out.append(shb + idb + idb2 + idb3 + epb + spb + epb2 + epb3 + nrb + opb)
        # the bad ones: a frame over its interface's snapshot length, a packet block too short
        small = block(order, 1, struct.pack(order + "HHI", 1, 0, 16))
        out.append(shb + small + epb)
        out.append(shb + idb + block(order, 6, struct.pack(order + "IIII", 0, 1, 2, 3)))
    return out


def pcap_built() -> list[bytes]:
    frame = bytes(12) + b"\x08\x00" + bytes(20)
    out = []
    for magic, order in ((0xA1B2C3D4, "<"), (0xA1B2C3D4, ">"), (0xA1B23C4D, "<")):
        head = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 128, 1)
        rec = struct.pack(order + "IIII", 1, 2, len(frame), len(frame)) + frame
        zero = struct.pack(order + "IIII", 1, 2, 0, 0)
        out.append(head + rec + zero + rec + rec[:20])
    return out


def sample_captures() -> Iterator[bytes]:
    """The first kilobytes of each sample capture (a capture cut short is a capture too)."""
    for path in capture_paths():
        data = path.read_bytes()
        for size in (2048, 8192):
            yield data[:size]


# ---- mirror records and table programs -------------------------------------------------------

def record(kind: int, op: int, key: bytes, *, vsvc: int = 0, real: int = 1, sp: int = 1,
           flags: int = 1, timeout: int = 600, remaining: int = 300, age: int = 10) -> bytes:
    width = PST_KINDS[kind]
    return struct.pack(">BBHHBBIII", op, len(key), vsvc, real, sp, flags, timeout, remaining,
                       age) + key + bytes(width - len(key))


def import_seeds(rng: random.Random, count: int) -> list[bytes]:
    out = []
    for i in range(count):
        kind = 1 + i % 7
        width, lo = PST_KINDS[kind], PST_MIN[kind]
        recs = []
        for _ in range(rng.randint(1, 24)):
            klen = rng.choice((lo, width, (lo + width) // 2))
            key = bytes([rng.randrange(3)]) * klen  # few distinct keys: they repeat
            op = rng.choice((1, 1, 2, 3, 4, 5))
            timeout = rng.choice((0, 10, 600, 0xFFFFFFFF))
            recs.append(record(kind, op, key, vsvc=rng.randrange(2), real=rng.randrange(100),
                               sp=rng.randrange(4), flags=rng.choice((1, 0x11, 0xF1)),
                               timeout=timeout, remaining=rng.randint(0, timeout) if timeout
                               else rng.choice((0, 5)), age=rng.randrange(1000)))
        opt = rng.randrange(128)
        now = rng.choice((0, 1000, 0xFFFFFF00, rng.randrange(1 << 32)))
        out.append(import_seed(kind, opt, now, rng.choice((0, 1, 30)), rng.randrange(256), recs))
    # a sweep whose incremental records name more keys than the recent set holds, then the
    # bulk copies of the same keys
    incremental = [record(1, 1, bytes([k]) * 4, real=k) for k in range(12)]
    bulk = [record(1, 1, bytes([k]) * 4, real=50 + k) for k in range(12)]
    out.append(import_seed(1, 0b11, 1000, 0, 12, incremental + bulk))
    return out


def ops_seeds(rng: random.Random, count: int) -> list[bytes]:
    """Table programs: any bytes are one; these lean on inserts, the clock and the journal."""
    out = []
    for i in range(count):
        head = bytes([i % 7 | (i % 2) << 7, rng.randrange(256)])  # bit 7: a lazy table
        body = bytearray()
        for _ in range(rng.randint(20, 120)):
            op = rng.choice((0, 0, 0, 1, 2, 4, 5, 6, 7, 8, 10, 11))
            body.append(op + 13 * rng.randrange(19))
            body += bytes(rng.randrange(256) for _ in range(rng.randint(2, 7)))
        out.append(head + bytes(body))
    return out


# ---- engine conversations --------------------------------------------------------------------

ENGINE_PORTS = (80, 443, 81, 82, 8080, 85, 83, 53, 21, 20)  # fuzz_engine.c PORTS[]


class Conversation:
    """fuzz_engine input: options, the service of each of the 8 connections, then records."""

    def __init__(self, opt: int, ports: list[int]) -> None:
        self.head = bytes([opt]) + bytes(ENGINE_PORTS.index(p) if p in ENGINE_PORTS else
                                         (15 if p == 9999 else 10) for p in ports)
        self.body = bytearray()

    def seg(self, conn: int, flags: int, payload: bytes = b"", *, back: bool = False,
            end: bool = False, shift: int = 0) -> Conversation:
        for k in range(0, max(len(payload), 1), 255):
            piece = payload[k:k + 255]
            self.body += bytes([conn | back << 3 | end << 4, flags, shift, len(piece)]) + piece
        return self

    def handshake(self, conn: int) -> Conversation:
        return self.seg(conn, 0x02).seg(conn, 0x12, back=True).seg(conn, 0x10, end=True)

    def close(self, conn: int) -> Conversation:
        return self.seg(conn, 0x11).seg(conn, 0x11, back=True).seg(conn, 0x10, end=True)

    def sweep(self, seconds: int) -> Conversation:
        self.body += bytes([6 << 5, seconds])
        return self

    def toggle(self, real: int) -> Conversation:
        """A real goes down, or comes back up."""
        self.body += bytes([7 << 5 | real])
        return self

    def bytes(self) -> bytes:
        return self.head + bytes(self.body)


def engine_seeds() -> list[bytes]:
    get = (b"GET /index.html;SID=uri HTTP/1.1\r\nHost: www.example.com\r\n"
           b"Cookie: a=1; SID=aaaa\r\n\r\n")
    ok = b"HTTP/1.1 200 OK\r\nSet-Cookie: SXID=bbbbbbbbbbbb; path=/\r\n\r\n"
    ch = tls_record(client_hello(b""))
    sh = tls_record(server_hello(bytes(range(32))), 0x0303)
    ch_again = tls_record(client_hello(bytes(range(32))))
    ports = [80, 443, 81, 82, 21, 53, 80, 443]
    out = []
    c = Conversation(0x02, ports)       # cookies: a request in three pieces, its answer
    c.handshake(0).seg(0, 0x18, get[:20]).seg(0, 0x18, get[20:50]).seg(0, 0x18, get[50:], end=True)
    c.seg(0, 0x18, ok, back=True, end=True).close(0)
    c.handshake(6).seg(6, 0x18, get.replace(b"aaaa", b"bbbb"), end=True).sweep(5)
    out.append(c.bytes())
    c = Conversation(0x04, ports)       # SSL: a full handshake, then a resumption
    c.handshake(1).seg(1, 0x18, ch, end=True).seg(1, 0x18, sh, back=True, end=True).close(1)
    c.handshake(7).seg(7, 0x18, ch_again[:30]).seg(7, 0x18, ch_again[30:], end=True).sweep(2)
    out.append(c.bytes())
    c = Conversation(0x06, ports)       # URL hashing, layer 4, DNS, a reset
    c.handshake(2).seg(2, 0x18, get, end=True).seg(2, 0x18, ok, back=True).seg(2, 0x04)
    c.handshake(3).seg(3, 0x18, b"hello", end=True).seg(3, 0x18, b"world", back=True)
    c.seg(5, 0x00, b"\x12\x34\x01\x00\x00\x01", end=True).sweep(30).sweep(200)
    out.append(c.bytes())
    c = Conversation(0x08, [21, 20, 21, 82, 21, 21, 21, 21])     # FTP: PORT and 227, data
    c.handshake(0).seg(0, 0x18, b"220 ready\r\n", back=True)
    c.seg(0, 0x18, b"USER anonymous\r\nPORT 198,51,100,0,156,64\r\n", end=True)
    c.seg(0, 0x18, b"200 PORT ok\r\n227 Entering Passive Mode (192,0,2,1,156,65).\r\n",
          back=True, end=True)
    c.seg(1, 0x02, back=True).seg(1, 0x12).seg(1, 0x10, back=True, end=True)
    c.handshake(6).seg(6, 0x18, b"EPRT |2|2001:db8::10:6|40001|\r\n", end=True)
    c.seg(6, 0x18, b"229 Entering Extended Passive Mode (|||40002|)\r\n", back=True, end=True)
    out.append(c.bytes())
    c = Conversation(0x0A, ports)       # a flood of new clients, each with its own cookie
    for k in range(30):
        c.handshake(0).seg(0, 0x18, get.replace(b"aaaa", b"%04d" % k), end=True)
        c.seg(0, 0x18, ok.replace(b"bbbbbbbbbbbb", b"%012d" % k), back=True, end=True)
    c.handshake(6).seg(6, 0x04, end=True)   # a client resets before it says anything
    out.append(c.bytes())
    c = Conversation(0x00, [82] * 8)    # the group's reals all down: refused, reset
    c.toggle(0).toggle(1).toggle(2).handshake(3).toggle(1).handshake(4).sweep(9)
    out.append(c.bytes())
    c = Conversation(0x00, ports)       # a request head that never ends, out of order bytes
    c.handshake(0).seg(0, 0x18, b"GET / HTTP/1.1\r\nX: " + b"y" * 9000)
    c.handshake(6).seg(6, 0x18, get[10:], shift=0xE8).seg(6, 0x18, get, end=True)
    out.append(c.bytes())
    return out


# ---- writing ---------------------------------------------------------------------------------

def write(out: Path, target: str, seeds: Iterable[bytes], limit: int) -> int:
    """Content-named files (re-running adds nothing twice)."""
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    n = 0
    for seed in seeds:
        if n == limit:
            break
        (d / ("seed-" + hashlib.sha1(seed).hexdigest()[:16])).write_bytes(seed)
        n += 1
    return n


def built(rng: random.Random) -> dict[str, list[bytes]]:
    frames = list(scapy_frames()) or list(struct_frames())
    return {
        "decode": [decode_seed(f, link, 1 + i % 3) for i, (f, link) in enumerate(frames)],
        "tls": built_hellos(),
        "http": built_heads(),
        "ftp": built_ftp(),
        "capwalk": [capwalk_seed(c, True, 1 + i % 8, 1 + i) for i, c in enumerate(pcapng_built())]
        + [capwalk_seed(c, False, 2 + i, 2) for i, c in enumerate(pcap_built())],
        "pst_import": import_seeds(rng, 14),
        "pst_ops": ops_seeds(rng, 14),
        "engine": engine_seeds(),
    }


def from_samples() -> dict[str, list[bytes]]:
    seeds: dict[str, list[bytes]] = {k: [] for k in ("decode", "tls", "http", "ftp", "capwalk")}
    per_link: dict[int, int] = {}
    seen = set()
    for frame, link, pkt in sample_frames():
        key = (link, len(frame), pkt.reason, pkt.proto, pkt.dport)
        if key in seen or per_link.get(link, 0) >= FRAMES_PER_CAPTURE * 10:
            continue
        seen.add(key)
        per_link[link] = per_link.get(link, 0) + 1
        seeds["decode"].append(decode_seed(frame, link, 1 + len(seen) % 3))
    ftp_client, ftp_server = [], []
    for data, sport, dport in tcp_payloads():
        if data[:1] == b"\x16" and data[1:2] == b"\x03" or (data[0] & 0x80 and data[2:3] == b"\x01"):
            seeds["tls"].append(data)
        elif data[:5] == b"HTTP/":
            seeds["http"].append(http_seed(data, True, b"*", b"set-cookie"))
        elif data[:4] in (b"GET ", b"POST", b"HEAD", b"PUT "):
            name = b"sid"
            for line in data.split(b"\r\n"):
                if line.lower().startswith(b"cookie:") and b"=" in line:
                    name = line[7:].split(b"=")[0].strip()[:31]
                    break
            seeds["http"].append(http_seed(data, False, name, b"cookie"))
        elif dport == 21:
            ftp_client.append(data)
        elif sport == 21:
            ftp_server.append(data)
    for lines, client in ((ftp_client, True), (ftp_server, False)):
        for i in range(0, len(lines), 6):
            seeds["ftp"].append(ftp_seed(b"".join(lines[i:i + 6]), client))
    for i, data in enumerate(sample_captures()):
        seeds["capwalk"].append(capwalk_seed(data, data[:4] == b"\x0a\x0d\x0d\x0a",
                                             1 + i % 8, 1 + i % 16))
    return seeds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="one directory per target here")
    ap.add_argument("--small", action="store_true", help="built seeds only, no samples")
    args = ap.parse_args(argv)
    rng = random.Random(20240611)  # the same corpus on every machine
    counts: dict[str, int] = {}
    for target, seeds in built(rng).items():
        counts[target] = write(args.out, target, seeds, MAX_SEEDS)
    if not args.small:
        if not SAMPLES.is_dir():
            print(f"fuzz_seeds: no {SAMPLES}: built seeds only", file=sys.stderr)
        for target, seeds in from_samples().items():
            counts[target] += write(args.out, target, seeds, MAX_SEEDS)
    print("fuzz_seeds: " + ", ".join(f"{t} {n}" for t, n in counts.items()) + f" in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
