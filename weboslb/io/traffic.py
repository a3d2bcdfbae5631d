"""Synthetic traffic for ``weboslb demo`` and ``weboslb bench replay``: what a tap on the
switch's client-facing port sees while clients use every persistence mode of one address plan.

  192.0.2.100:80   HTTP; the servers set JSESSIONID on a client's first response (passive
                   cookie), the client returns it on every later request, new connections too
  192.0.2.100:443  HTTPS; a TLS 1.2 full handshake issues a session ID, the client's later
                   connections resume it, a few from another address (roaming: what sslid is for)
  192.0.2.100:21   FTP with USER/PASS; passive transfers (227, data to the VIP's announced
                   port) and active ones (PORT, data from the VIP's port 20); clientip binds it
  192.0.2.101:80   HTTP for URL hashing: a handful of URLs every client asks for

Frames are Ethernet/IPv4/TCP with SYN options, handshakes, sequence and acknowledgement
numbers kept right, delayed ACKs and slow-start rounds, FIN teardown and valid checksums.
``TcpPath.segment`` is the one place a segment is built: each direction's fixed headers (a
template: scapy builds it for the demo, struct for the benchmark) with the segment's ports,
numbers, flags, lengths and checksums packed in.  Per-packet scapy would take minutes for a
million frames.  A session (one connection, or an FTP control connection and its data
connections) is scripted whole into time-ordered lists when it starts; the lists of all
sessions are merged by time into the capture.
"""
from __future__ import annotations

import base64
import bisect
import heapq
import math
import os
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from operator import itemgetter
from pathlib import Path

from weboslb.io.pcap import PcapWriter
from weboslb.proto.frame import decode
from weboslb.proto.packet import Link, Reason, TcpFlag

VERSION = 1  # of what the generators write: part of the cached capture's name
EPOCH = 1796117400.0  # 2026-12-01 09:30:00 UTC: where the captures' clocks start
VIP_WWW = bytes((192, 0, 2, 100))
VIP_CACHE = bytes((192, 0, 2, 101))
VIPS = (VIP_WWW, VIP_CACHE)
HTTP, HTTPS, FTP, FTP_DATA = 80, 443, 21, 20
SWITCH_MAC = bytes.fromhex("0060cf412ea0")  # Alteon WebSystems OUI
GATEWAY_MACS = (bytes.fromhex("001b543a7c01"), bytes.fromhex("288a1c4e9002"))  # two routers
DEMO_NETS = ((198, 51, 100), (203, 0, 113))  # the demo's clients (RFC 5737)
BENCH_NET = (198, 18)  # the benchmark's clients: 198.18.0.0/15 (RFC 2544), 131,070 hosts
PASSIVE_PORTS = (50000, 60000)  # the range FTP servers announce in 227 replies

CLIENT, VIP = 0, 1  # the two sides of a connection
SYN, ACK, FIN, PSH = int(TcpFlag.SYN), int(TcpFlag.ACK), int(TcpFlag.FIN), int(TcpFlag.PSH)
MSS = 1460
INITIAL_WINDOW = 10  # segments in the first slow-start round (RFC 6928)
# MSS 1460, NOP, window scale 7, NOP, NOP, SACK permitted (what scapy's TCP options encode)
SYN_OPTIONS = bytes.fromhex("020405b40103030701010402")
SYN_WINDOW = (64240, 65160)
WINDOW = (502, 509)  # after the handshake, scaled by 2**7
GAP = (2.4e-5, 1.2e-5)  # between back-to-back segments of one side (client links are slower)

_HEAD = struct.Struct("!14sBBHHHBBH4s4sHHIIBBHHH")  # Ethernet, IPv4 without options, TCP


def payload_sum(data: bytes) -> int:
    """The ones' complement sum of ``data`` as 16-bit words (RFC 1071), modulo 0xFFFF.

    2**16 = 1 (mod 0xFFFF), so the sum of a number's 16-bit digits is the number itself
    modulo 0xFFFF: one C-speed big-int operation instead of a Python loop over the words
    (``checksum.ones_sum`` gives the same residue, 4x slower on a full segment).
    """
    n = int.from_bytes(data, "big")
    return (n << 8 if len(data) & 1 else n) % 0xFFFF


class TcpPath:
    """One direction between two hosts: the Ethernet header and IPv4 fields every segment
    shares (the template), with their share of both checksums summed once."""

    __slots__ = ("_ip", "_tcp", "dst", "l2", "src", "ttl")

    def __init__(self, l2: bytes, src: bytes, dst: bytes, ttl: int = 64) -> None:
        if len(l2) != 14 or l2[12:14] != b"\x08\x00":
            raise ValueError("a TCP path needs an untagged Ethernet header announcing IPv4")
        if len(src) != 4 or len(dst) != 4 or not 0 < ttl < 256:
            raise ValueError("a TCP path joins two IPv4 addresses with a TTL of 1..255")
        self.l2, self.src, self.dst, self.ttl = bytes(l2), bytes(src), bytes(dst), ttl
        addrs = payload_sum(self.src + self.dst)
        # version/IHL/TOS, the header's 20 bytes of total length, DF, TTL/protocol, addresses
        self._ip = 0x4500 + 20 + 0x4000 + (ttl << 8 | 6) + addrs
        self._tcp = addrs + 6  # the pseudo-header less the TCP length

    @classmethod
    def from_frame(cls, frame: bytes) -> TcpPath:
        """The path of a template Ethernet/IPv4/TCP frame (scapy's, say): its Ethernet
        header, addresses and TTL."""
        pkt = decode(frame)
        if pkt.reason is not Reason.OK or pkt.family != 4 or pkt.proto != 6 \
                or pkt.l3_off != 14 or pkt.l4_off != 34:
            raise ValueError("a template must be an untagged Ethernet/IPv4/TCP frame "
                             "without IP options")
        return cls(bytes(frame[:14]), pkt.src, pkt.dst, frame[22])

    def segment(self, sport: int, dport: int, seq: int, ack: int, flags: int, window: int,
                ipid: int, payload: bytes = b"", options: bytes = b"",
                psum: int | None = None) -> bytes:
        """A frame carrying one segment: DF set, no IP options, TCP ``options`` (a multiple
        of 4 bytes) then ``payload``; ``psum`` is ``payload_sum(payload)`` when known."""
        hlen = 20 + len(options)
        tcp_len = hlen + len(payload)
        ip_sum = self._ip + tcp_len + ipid
        ip_sum = (ip_sum & 0xFFFF) + (ip_sum >> 16)
        ip_sum = (ip_sum & 0xFFFF) + (ip_sum >> 16)
        offset = hlen << 2  # the data offset in 32-bit words, in the byte's upper nibble
        total = (self._tcp + tcp_len + sport + dport + (seq >> 16) + (seq & 0xFFFF)
                 + (ack >> 16) + (ack & 0xFFFF) + (offset << 8 | flags) + window
                 + (payload_sum(payload) if psum is None else psum)
                 + (payload_sum(options) if options else 0))
        total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        return _HEAD.pack(self.l2, 0x45, 0, 20 + tcp_len, ipid, 0x4000, self.ttl, 6,
                          ~ip_sum & 0xFFFF, self.src, self.dst, sport, dport, seq, ack,
                          offset, flags, window, ~total & 0xFFFF, 0) + options + payload


class _Sums(dict):
    """Payload sums of the payloads that recur (bodies served to many clients): a segment
    of a full-sized payload costs a dictionary lookup instead of a sum."""

    LIMIT = 1 << 14  # payloads remembered (the recurring ones come early and often)

    def __missing__(self, payload: bytes) -> int:
        value = payload_sum(payload)
        if len(self) < self.LIMIT:
            self[payload] = value
        return value


# ---- one TCP connection -------------------------------------------------------------------

class _Conn:
    """One TCP connection between a client and a VIP port, scripted forward in time.

    ``t`` is the time at the tap of the script's last step.  The client is ``rtt`` away
    (it answers what the tap saw one round trip later); the VIP side, the switch and its
    reals, answers within ``srv``.  Frames are kept in the order built and sorted by time
    once the script ends (acknowledgements may overtake later data).
    """

    __slots__ = ("_sums", "frames", "ipid", "paths", "ports", "rtt", "seq", "srv", "t")

    def __init__(self, up: TcpPath, down: TcpPath, cport: int, vport: int, t: float,
                 rtt: float, rng: random.Random, sums: _Sums) -> None:
        self.paths = (up, down)
        self.ports = ((cport, vport), (vport, cport))
        self.seq = [rng.getrandbits(32), rng.getrandbits(32)]  # next sequence number per side
        self.ipid = [rng.getrandbits(16), rng.getrandbits(16)]
        self.t, self.rtt, self.srv = t, rtt, rng.uniform(5e-5, 2e-4)
        self.frames: list[tuple[float, bytes]] = []
        self._sums = sums

    def _emit(self, side: int, flags: int, payload: bytes = b"", t: float | None = None,
              options: bytes = b"") -> None:
        seqs, ipids = self.seq, self.ipid
        seq, ipid = seqs[side], ipids[side]
        n = len(payload)
        sport, dport = self.ports[side]
        frame = self.paths[side].segment(
            sport, dport, seq, seqs[1 - side] if flags & ACK else 0, flags,
            SYN_WINDOW[side] if flags & SYN else WINDOW[side], ipid, payload, options,
            (self._sums[payload] if n > 256 else payload_sum(payload)) if n else 0)
        ipids[side] = (ipid + 1) & 0xFFFF
        seqs[side] = (seq + n + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        self.frames.append((self.t if t is None else t, frame))

    def delay(self, side: int) -> float:
        """How long after the tap saw a packet the answer of ``side`` reaches it."""
        return self.rtt if side == CLIENT else self.srv

    def wait(self, seconds: float) -> None:
        self.t += seconds

    def open(self, by: int = CLIENT) -> None:
        """The three-way handshake, opened by ``by`` (the VIP opens active FTP data)."""
        other = 1 - by
        self._emit(by, SYN, options=SYN_OPTIONS)
        self.t += self.delay(other)
        self._emit(other, SYN | ACK, options=SYN_OPTIONS)
        self.t += self.delay(by)
        self._emit(by, ACK)

    def send(self, side: int, data: bytes, *, acks: bool = True) -> None:
        """``data`` from ``side`` in MSS-sized segments, in slow-start rounds.  With ``acks``
        the other side acknowledges every second segment and the last (without, its next
        data carries the acknowledgement: a reply follows at once)."""
        other = 1 - side
        delay = self.delay(other)
        gap = GAP[side]
        t = start = end = self.t
        cwnd, in_round, unacked = INITIAL_WINDOW, 0, 0
        n = len(data)
        for off in range(0, n, MSS):
            last = off + MSS >= n
            self._emit(side, ACK | PSH if last else ACK, data[off:off + MSS], t)
            end = max(end, t)
            unacked += 1
            if acks and (unacked == 2 or last):
                self._emit(other, ACK, t=t + delay)
                end, unacked = t + delay, 0
            in_round += 1
            if in_round == cwnd and not last:
                # the next round leaves when the first acknowledgements are back
                t = start = max(t + gap, start + delay)
                cwnd, in_round = cwnd * 2, 0
            else:
                t += gap
        self.t = end

    def close(self, first: int = CLIENT) -> None:
        """FIN from ``first``, FIN from the other side, the last ACK."""
        other = 1 - first
        self._emit(first, FIN | ACK)
        self.t += self.delay(other)
        self._emit(other, FIN | ACK)
        self.t += self.delay(first)
        self._emit(first, ACK)

    def done(self) -> list[tuple[float, bytes]]:
        self.frames.sort(key=itemgetter(0))
        return self.frames


# ---- what the clients say -----------------------------------------------------------------

AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Safari/605.1.15"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"),
)
APP_HOST, CACHE_HOST = "www.example.com", "static.example.com"
# the application's pages (192.0.2.100:80): path -> (title, body size)
PAGES = {
    "/": ("Example Shop", 3120), "/login": ("Sign in", 1380), "/catalog": ("Catalog", 4310),
    "/catalog/item": ("Item", 2240), "/cart": ("Your cart", 1730),
    "/checkout": ("Checkout", 2950), "/account": ("Your account", 1520),
}
# what the caches serve (192.0.2.101:80): URL -> (content type, size, popularity)
URLS = {
    "/index.html": ("text/html", 4810, 10), "/css/site.css": ("text/css", 8630, 8),
    "/js/app.js": ("application/javascript", 17820, 7), "/img/logo.png": ("image/png", 4150, 6),
    "/img/hero.jpg": ("image/jpeg", 21470, 5), "/img/icons.svg": ("image/svg+xml", 3100, 4),
    "/fonts/sans.woff2": ("font/woff2", 12620, 3),
    "/api/catalog.json": ("application/json", 2600, 2), "/favicon.ico": ("image/x-icon", 1150, 1),
}
FILES = {  # the FTP server's files: name -> size
    "README.txt": 1843, "CHANGES.txt": 5210, "firmware-25.4.2.img": 14336,
    "backup-2026-11-30.tar.gz": 9120, "docs/manual.pdf": 12040,
}
TLS_SIZES = (1024, 2048, 4096, 6144, 8192, 12288, 16384, 24576)  # response plaintexts

# a self-signed ECDSA P-256 certificate for www.example.com (DER), so that dissectors read the
# server's Certificate message as the real thing
CERTIFICATE = base64.b64decode(
    "MIIB6jCCAZCgAwIBAgIEXrDBojAKBggqhkjOPQQDAjA+MQswCQYDVQQGEwJVUzEVMBMGA1UECgwMRXhhbXBsZSBTaG9w"
    "MRgwFgYDVQQDDA93d3cuZXhhbXBsZS5jb20wHhcNMjYxMTIxMjExNzM3WhcNMzYxMTE4MjExNzM3WjA+MQswCQYDVQQG"
    "EwJVUzEVMBMGA1UECgwMRXhhbXBsZSBTaG9wMRgwFgYDVQQDDA93d3cuZXhhbXBsZS5jb20wWTATBgcqhkjOPQIBBggq"
    "hkjOPQMBBwNCAASxi8PmWFo2nHFKuBYakawc9mz3Oq/aLOdRUZpTT8XK1z7/K9OkvrqqSO+F/Fo7mIjujj7nDB8kREY0"
    "rqNYjmOpo3wwejAdBgNVHQ4EFgQU204eAspKM/VhH7FCtkGr76FYcz4wHwYDVR0jBBgwFoAU204eAspKM/VhH7FCtkGr"
    "76FYcz4wDwYDVR0TAQH/BAUwAwEB/zAnBgNVHREEIDAegg93d3cuZXhhbXBsZS5jb22CC2V4YW1wbGUuY29tMAoGCCqG"
    "SM49BAMCA0gAMEUCIQDNmX2lvjmSl1MFEZddnwy+5TEha9o0zPGGue+mMYZ/VQIgb+1fqq0wN1+ltg6UMdZT2qkmwn9u"
    "KvKoyV9Yvv7/vPE=")
_SUITES = bytes.fromhex("c02bc02fc02cc030cca9cca8c013c014009c009d002f0035")
ECDHE_ECDSA_AES128_GCM = 0xC02B
GCM_OVERHEAD = 24  # explicit nonce and tag of an AES-GCM record


def _record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", ctype, version, len(body)) + body


def _handshake(mtype: int, body: bytes) -> bytes:
    return bytes((mtype,)) + len(body).to_bytes(3, "big") + body


def _ext(etype: int, body: bytes) -> bytes:
    return struct.pack("!HH", etype, len(body)) + body


def client_hello(rand: bytes, session_id: bytes, host: str = APP_HOST) -> bytes:
    """A TLS 1.2 ClientHello record as browsers send it; ``session_id`` empty for a full
    handshake, the ID to resume otherwise."""
    name = host.encode()
    exts = (_ext(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)  # server_name
            + _ext(23, b"")  # extended_master_secret
            + _ext(0xFF01, b"\x00")  # renegotiation_info
            + _ext(10, bytes.fromhex("0006001d00170018"))  # supported_groups
            + _ext(11, b"\x01\x00")  # ec_point_formats
            + _ext(13, bytes.fromhex("0012040305030603080408050806040105010601"))
            + _ext(16, b"\x00\x09\x08http/1.1"))  # ALPN
    body = (b"\x03\x03" + rand + bytes((len(session_id),)) + session_id
            + len(_SUITES).to_bytes(2, "big") + _SUITES + b"\x01\x00"
            + len(exts).to_bytes(2, "big") + exts)
    return _record(22, _handshake(1, body), 0x0301)


def server_hello(rand: bytes, session_id: bytes) -> bytes:
    """The ServerHello record naming ``session_id`` (new, or the one being resumed)."""
    exts = (_ext(0xFF01, b"\x00") + _ext(23, b"") + _ext(11, b"\x01\x00")
            + _ext(16, b"\x00\x09\x08http/1.1"))
    body = (b"\x03\x03" + rand + bytes((len(session_id),)) + session_id
            + struct.pack("!HB", ECDHE_ECDSA_AES128_GCM, 0) + len(exts).to_bytes(2, "big") + exts)
    return _record(22, _handshake(2, body))


def _certificate_records(rng: random.Random) -> bytes:
    """Certificate, ServerKeyExchange (x25519, an ECDSA signature) and ServerHelloDone."""
    chain = len(CERTIFICATE).to_bytes(3, "big") + CERTIFICATE
    key = b"\x03\x00\x1d\x20" + rng.randbytes(32)
    r, s = b"\x00" + rng.randbytes(32), rng.randbytes(32)
    sig = b"\x30\x45\x02\x21" + r + b"\x02\x20" + s
    return (_record(22, _handshake(11, len(chain).to_bytes(3, "big") + chain))
            + _record(22, _handshake(12, key + b"\x04\x03" + len(sig).to_bytes(2, "big") + sig))
            + _record(22, _handshake(14, b"")))


def _client_key_exchange(rng: random.Random) -> bytes:
    return _record(22, _handshake(16, b"\x20" + rng.randbytes(32)))


CHANGE_CIPHER_SPEC = _record(20, b"\x01")


def _sealed(ctype: int, plain: int, opaque: Callable[[int], bytes]) -> bytes:
    """Records of ``ctype`` carrying ``plain`` bytes of ciphertext-looking data."""
    out = []
    while plain > 0:
        n = min(plain, 16384)
        out.append(_record(ctype, opaque(n + GCM_OVERHEAD)))
        plain -= n
    return b"".join(out)


# text content by type: (head, a unit repeated to fill, tail); whitespace pads to the size
_TEXT_FORMS = {
    "text/html": ("<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n",
                  ("<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
                   "tempor incididunt ut labore et dolore magna aliqua.</p>\n"),
                  "</body></html>\n"),
    "text/css": ("/* {title} */\n", ".card{{margin:0 auto;padding:1em;border:1px solid #ddd}}\n",
                 ""),
    "application/javascript": ('"use strict";\n', "function add(a, b) {{ return a + b; }}\n",
                               ""),
    "image/svg+xml": ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">\n',
                      '<path d="M8 8h48v48H8z" fill="#36c"/>\n', "</svg>\n"),
    "application/json": ('{{"items":[{{"id":0,"name":"item"}}', ',{{"id":1,"name":"item"}}',
                         "]}}\n"),
    "text/plain": ("{title}\n\n", "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n",
                   ""),
}


def content(ctype: str, title: str, size: int) -> bytes:
    """``size`` bytes of well-formed content of type ``ctype`` (random bytes for binary
    types), the same in every run."""
    form = _TEXT_FORMS.get(ctype.partition(";")[0])
    if form is None:
        noise = random.Random(f"weboslb:{title}:{size}").randbytes(size)
        if ctype == "image/png" and size >= 57:  # signature, IHDR, IDAT, IEND
            header = struct.pack("!IIBBBBB", 64, 64, 8, 2, 0, 0, 0)  # 64x64 RGB
            return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
                    + _png_chunk(b"IDAT", noise[:size - 57]) + _png_chunk(b"IEND", b""))
        if ctype == "image/jpeg" and size >= 32:  # SOI, APP0 (JFIF), SOS, scan data, EOI
            return (bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffda000801010000"
                                  "3f00") + noise[:size - 32].replace(b"\xff", b"\xfe")
                    + b"\xff\xd9")
        return noise
    head, unit, tail = (part.format(title=title).encode() for part in form)
    fill = max(size - len(head) - len(tail), 0)
    units = fill // len(unit)
    return head + unit * units + b" " * (fill - units * len(unit)) + tail


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + ctype + data + struct.pack("!I", zlib.crc32(ctype + data))


def _listing() -> bytes:
    lines = [f"-rw-r--r--    1 1000     1000     {size:>8} Nov 30 18:{i * 7:02d} {name}\r\n"
             for i, (name, size) in enumerate(FILES.items())]
    return "".join(lines).encode()


# ---- clients and what the capture holds ---------------------------------------------------

@dataclass(eq=False, slots=True)
class _Client:
    ip: bytes
    ttl: int
    rtt: float
    port: int  # the next ephemeral port
    agent: str
    ftp: bool  # an FTP user (else a web user)
    favourite: str  # the service it returns to most
    plan: list[float]  # when its sessions would start, the first one popped first
    roams: bool = False  # it will move to another address, TLS session in hand
    cookie: bytes | None = None  # JSESSIONID
    sid: bytes | None = None  # TLS session ID
    sid_ip: bytes = b""  # the address that got it
    ftp_sessions: int = 0
    paths: dict[bytes, tuple[TcpPath, TcpPath]] = field(default_factory=dict)

    def next_port(self) -> int:
        port = self.port
        self.port = port + 1 if port < 60999 else 32768
        return port


@dataclass(frozen=True, slots=True)
class Mix:
    """What a capture holds, session by session."""

    http_connections: int  # to 192.0.2.100:80
    cookie_sets: int  # responses that set JSESSIONID (a client's first)
    cookie_connections: int  # connections whose first request returns JSESSIONID
    https_connections: int  # to 192.0.2.100:443
    tls_full: int  # full handshakes: a new session ID each
    tls_resumed: int  # resumptions of an ID, roaming ones included
    tls_roaming: int  # resumptions from another address than the one that got the ID
    ftp_connections: int  # FTP control connections
    ftp_repeat: int  # control connections of a client that had one before
    ftp_passive: int  # data connections to the VIP's announced port (227)
    ftp_active: int  # data connections from the VIP's port 20 (PORT)
    urlhash_connections: int  # to 192.0.2.101:80
    urlhash_requests: int
    urls: int  # distinct URLs requested of the caches

    @property
    def connections(self) -> int:
        return (self.http_connections + self.https_connections + self.ftp_connections
                + self.ftp_passive + self.ftp_active + self.urlhash_connections)

    def describe_mix(self) -> str:
        return (f"{self.http_connections:,} HTTP connections ({self.cookie_connections:,} "
                f"returning JSESSIONID), {self.https_connections:,} HTTPS ("
                f"{self.tls_resumed:,} resumed, {self.tls_roaming:,} from a new address), "
                f"{self.ftp_connections:,} FTP sessions ({self.ftp_passive:,} passive and "
                f"{self.ftp_active:,} active data connections), {self.urlhash_connections:,} "
                f"to the caches ({self.urlhash_requests:,} requests for {self.urls} URLs)")

    def expected_hits(self) -> dict[str, int]:
        """Persistence hits a switch with the demo's address plan should count, by pbind:
        every returned cookie, resumed session ID, FTP data connection and FTP client's
        later control connection (the bindings are learnt by the earlier ones)."""
        return {"cookie": self.cookie_connections, "sslid": self.tls_resumed,
                "ftp": self.ftp_passive + self.ftp_active, "clientip": self.ftp_repeat}


@dataclass(frozen=True, slots=True)
class DemoPlan(Mix):
    """What the demo capture holds: every connection in it is complete."""

    path: Path
    seed: int
    clients: int  # client hosts
    addresses: int  # client addresses: roaming clients add one each
    packets: int
    start: float  # time of the first frame
    end: float  # time of the last frame

    @property
    def duration(self) -> float:
        return self.end - self.start

    def describe(self) -> str:
        """One line: what the capture holds."""
        return (f"{self.packets:,} frames over {self.duration:.0f} s from {self.clients} "
                f"clients ({self.addresses} addresses): {self.describe_mix()}")


@dataclass(frozen=True, slots=True)
class BenchPlan(Mix):
    """Sessions are counted when they begin: the capture's end cuts the last ones short."""

    path: Path
    seed: int
    clients: int  # client addresses
    packets: int
    start: float
    end: float

    def describe(self) -> str:
        return (f"{self.packets:,} frames over {self.end - self.start:.0f} s from "
                f"{self.clients:,} client addresses: {self.describe_mix()}")


class _Tally:
    """Mix counters while the traffic is made."""

    def __init__(self) -> None:
        for name in Mix.__dataclass_fields__:
            setattr(self, name, 0)
        self.url_set: set[str] = set()
        self.addresses = 0

    def snapshot(self) -> dict:
        state = dict(vars(self))
        state["url_set"] = set(self.url_set)
        return state

    def restore(self, state: dict) -> None:
        vars(self).update(state)

    def mix(self) -> dict[str, int]:
        self.urls = len(self.url_set)
        return {name: getattr(self, name) for name in Mix.__dataclass_fields__}


PathMaker = Callable[[bytes, bytes, bytes, bytes, int], TcpPath]  # src/dst MAC, src/dst IP, TTL


def struct_path(src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, ttl: int) -> TcpPath:
    """The path built with struct (what the benchmark uses)."""
    return TcpPath(dst_mac + src_mac + b"\x08\x00", src, dst, ttl)


def scapy_path(src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, ttl: int) -> TcpPath:
    """The path of a template scapy builds (what the demo uses)."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    template = (Ether(src=src_mac.hex(":"), dst=dst_mac.hex(":"))
                / IP(src=".".join(map(str, src)), dst=".".join(map(str, dst)), ttl=ttl,
                     flags="DF", id=0) / TCP())
    return TcpPath.from_frame(bytes(template))


# ---- the sessions -------------------------------------------------------------------------

APP, SECURE, CACHE, FTP_USER = "app", "secure", "cache", "ftp"  # what a session is with
WEB = (APP, SECURE, CACHE)


@dataclass(frozen=True, slots=True)
class _Profile:
    fresh: bool  # new ciphertext for every TLS record, else records of one size repeat
    sticky: float  # the chance a web client's session is with its favourite service
    weights: tuple[float, float, float]  # of the WEB services
    tls_sizes: tuple[int, ...]  # TLS response plaintexts


DEMO = _Profile(True, 0.5, (0.42, 0.38, 0.20), TLS_SIZES)
# lighter sessions: ~21 frames a client, so that 1M frames hold ~48k clients
BENCH = _Profile(False, 0.75, (0.55, 0.27, 0.18), TLS_SIZES[:-1])


class _Traffic:
    """Clients, their sessions in start order, and what each session says on the wire.

    ``fresh`` draws new ciphertext for every TLS record (the demo); otherwise records of one
    size repeat (the benchmark, where repeating segments spare their checksums).
    """

    def __init__(self, rng: random.Random, make_path: PathMaker, addresses: list[bytes],
                 profile: _Profile) -> None:
        self.rng, self.make_path, self.profile = rng, make_path, profile
        self.addresses = addresses  # not yet used, taken from the end
        self.sums = _Sums()
        self.tally = _Tally()
        self.queue: list[tuple[float, int, _Client | None]] = []  # None: the next arrival
        self.arrivals: tuple[float, Callable[[float], _Client]] | None = None
        self._n = 0
        self._passive = rng.randrange(*PASSIVE_PORTS)
        self._bodies: dict[tuple[str, int], bytes] = {}
        self._dates: dict[int, str] = {}

    # -- clients --

    def new_client(self, ftp: bool, plan: list[float]) -> _Client:
        rng = self.rng
        ip = self._address()
        favourite = FTP_USER if ftp else rng.choices(WEB, self.profile.weights)[0]
        return _Client(ip=ip, ttl=rng.choice((64, 128)) - rng.randint(4, 18),
                       rtt=rng.uniform(0.002, 0.009), port=rng.randint(32768, 60000),
                       agent=rng.choice(AGENTS), ftp=ftp, favourite=favourite, plan=plan)

    def _address(self) -> bytes:
        if not self.addresses:
            raise ValueError("out of client addresses")
        self.tally.addresses += 1
        return self.addresses.pop()

    def _paths(self, c: _Client, vip: bytes) -> tuple[TcpPath, TcpPath]:
        paths = c.paths.get(vip)
        if paths is None:
            gateway = GATEWAY_MACS[c.ip[1] & 1]
            paths = c.paths[vip] = (self.make_path(gateway, SWITCH_MAC, c.ip, vip, c.ttl),
                                    self.make_path(SWITCH_MAC, gateway, vip, c.ip, 64))
        return paths

    def _conn(self, c: _Client, vip: bytes, vport: int, t: float,
              cport: int | None = None) -> _Conn:
        up, down = self._paths(c, vip)
        return _Conn(up, down, c.next_port() if cport is None else cport, vport, t, c.rtt,
                     self.rng, self.sums)

    # -- the schedule --

    def add(self, t: float, client: _Client | None) -> None:
        self._n += 1
        heapq.heappush(self.queue, (t, self._n, client))

    def next_start(self) -> float:
        return self.queue[0][0] if self.queue else math.inf

    def start_next(self) -> list[list[tuple[float, bytes]]]:
        """Script the earliest session whole; its connections' frames, each list in time
        order, all at or after the session's start."""
        t, _, c = heapq.heappop(self.queue)
        if c is None:  # an arrival: a new client, and the one after it
            interval, make = self.arrivals
            c = make(t)
            self.add(t + self.rng.expovariate(1 / interval), None)
        conns = self._session(c, t)
        end = max(conn.t for conn in conns)
        if c.plan:
            self.add(max(c.plan.pop(0), end + self.rng.uniform(0.5, 3.0)), c)
        return [conn.done() for conn in conns]

    def _session(self, c: _Client, t: float) -> list[_Conn]:
        if c.ftp:
            return self._ftp(c, t)
        profile = self.profile
        service = c.favourite if self.rng.random() < profile.sticky else \
            self.rng.choices(WEB, profile.weights)[0]
        if service == APP:
            return [self._app(c, t)]
        if service == SECURE:
            return [self._https(c, t)]
        return [self._cache(c, t)]

    # -- payloads --

    def _date(self, t: float) -> str:
        second = int(t)
        date = self._dates.get(second)
        if date is None:
            date = self._dates[second] = formatdate(second, usegmt=True)
        return date

    def _body(self, ctype: str, title: str, size: int) -> bytes:
        key = (title, size)
        body = self._bodies.get(key)
        if body is None:
            body = self._bodies[key] = content(ctype, title, size)
        return body

    def _opaque(self, n: int) -> bytes:
        """Ciphertext-looking bytes."""
        if self.profile.fresh:
            return self.rng.randbytes(n)
        return self._body("application/octet-stream", "opaque", n)

    def _request(self, c: _Client, host: str, target: str, cookie: bytes | None) -> bytes:
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}", f"User-Agent: {c.agent}",
                 "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                 "Accept-Language: en-US,en;q=0.5", "Accept-Encoding: gzip, deflate",
                 "Connection: keep-alive"]
        if cookie is not None:
            lines.append(f"Cookie: JSESSIONID={cookie.decode()}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _response(self, t: float, ctype: str, body: bytes, extra: tuple[str, ...] = ()) -> bytes:
        lines = ["HTTP/1.1 200 OK", f"Date: {self._date(t)}", "Server: Apache-Coyote/1.1",
                 *extra, f"Content-Type: {ctype}", f"Content-Length: {len(body)}",
                 "Keep-Alive: timeout=15, max=100", "Connection: Keep-Alive"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    # -- the services --

    def _app(self, c: _Client, t: float) -> _Conn:
        """Pages of the application behind the passive cookie (192.0.2.100:80)."""
        rng, tally = self.rng, self.tally
        conn = self._conn(c, VIP_WWW, HTTP, t)
        conn.open()
        if c.cookie is not None:
            tally.cookie_connections += 1
        for i in range(rng.choice((1, 1, 1, 2, 2, 3))):
            conn.wait(rng.uniform(2e-5, 5e-5) if i == 0 else rng.uniform(0.05, 1.5))
            page = rng.choice(tuple(PAGES))
            target = f"{page}?id={rng.randint(1000, 9999)}" if page == "/catalog/item" else page
            conn.send(CLIENT, self._request(c, APP_HOST, target, c.cookie), acks=False)
            conn.wait(rng.uniform(0.002, 0.025))
            extra: tuple[str, ...] = ()
            if c.cookie is None:
                c.cookie = b"%032X" % rng.getrandbits(128)
                extra = (f"Set-Cookie: JSESSIONID={c.cookie.decode()}; Path=/",)
                tally.cookie_sets += 1
            body = self._body("text/html", PAGES[page][0], PAGES[page][1])
            conn.send(VIP, self._response(conn.t, "text/html;charset=UTF-8", body, extra))
        conn.wait(rng.uniform(0.2, 3.0))
        conn.close(CLIENT)
        tally.http_connections += 1
        return conn

    def _cache(self, c: _Client, t: float) -> _Conn:
        """Static objects from the caches behind URL hashing (192.0.2.101:80)."""
        rng, tally = self.rng, self.tally
        conn = self._conn(c, VIP_CACHE, HTTP, t)
        conn.open()
        count = rng.choice((1, 1, 2))
        for i in range(count):
            conn.wait(rng.uniform(2e-5, 5e-5) if i == 0 else rng.uniform(0.01, 0.3))
            url = rng.choices(tuple(URLS), [u[2] for u in URLS.values()])[0]
            ctype, size, _ = URLS[url]
            conn.send(CLIENT, self._request(c, CACHE_HOST, url, None), acks=False)
            conn.wait(rng.uniform(0.0005, 0.003))
            etag = f'ETag: "{size:x}-5f3c2a1b"'
            conn.send(VIP, self._response(conn.t, ctype, self._body(ctype, url, size),
                                          ("Cache-Control: max-age=3600", etag)))
            tally.url_set.add(url)
        conn.wait(rng.uniform(0.2, 3.0))
        conn.close(CLIENT)
        tally.urlhash_connections += 1
        tally.urlhash_requests += count
        return conn

    def _https(self, c: _Client, t: float) -> _Conn:
        """A TLS 1.2 connection: full handshake, or resumption of the client's session ID."""
        rng, tally = self.rng, self.tally
        if c.roams and c.sid is not None and self.addresses:  # moved: same session, new address
            c.ip, c.roams = self._address(), False
            c.paths.clear()
        conn = self._conn(c, VIP_WWW, HTTPS, t)
        conn.open()
        conn.wait(rng.uniform(2e-5, 5e-5))
        conn.send(CLIENT, client_hello(rng.randbytes(32), c.sid or b""), acks=False)
        conn.wait(rng.uniform(0.0005, 0.002))
        finished = _record(22, self._opaque(16 + GCM_OVERHEAD))
        if c.sid is not None:
            conn.send(VIP, server_hello(rng.randbytes(32), c.sid) + CHANGE_CIPHER_SPEC
                      + finished, acks=False)
            conn.wait(conn.rtt + rng.uniform(2e-4, 8e-4))
            conn.send(CLIENT, CHANGE_CIPHER_SPEC + finished, acks=False)
            tally.tls_resumed += 1
            tally.tls_roaming += c.ip != c.sid_ip
        else:
            sid = rng.randbytes(32)
            conn.send(VIP, server_hello(rng.randbytes(32), sid) + _certificate_records(rng))
            conn.wait(rng.uniform(5e-4, 2e-3))  # the client's key exchange
            conn.send(CLIENT, _client_key_exchange(rng) + CHANGE_CIPHER_SPEC + finished,
                      acks=False)
            conn.wait(rng.uniform(3e-4, 1e-3))
            conn.send(VIP, CHANGE_CIPHER_SPEC + finished, acks=False)
            conn.wait(conn.rtt)
            c.sid, c.sid_ip = sid, c.ip
            tally.tls_full += 1
        for i in range(rng.choice((1, 1, 1, 2))):
            if i:
                conn.wait(rng.uniform(0.05, 1.5))
            conn.send(CLIENT, _sealed(23, rng.randint(380, 720), self._opaque), acks=False)
            conn.wait(rng.uniform(0.002, 0.02))
            conn.send(VIP, _sealed(23, rng.choice(self.profile.tls_sizes), self._opaque))
        conn.wait(rng.uniform(0.2, 3.0))
        conn.send(CLIENT, _record(21, self._opaque(2 + GCM_OVERHEAD)), acks=False)  # close_notify
        conn.wait(GAP[CLIENT])
        conn.close(CLIENT)
        tally.https_connections += 1
        return conn

    def _ftp(self, c: _Client, t: float) -> list[_Conn]:
        """An FTP session: login, one to three transfers (passive or active), QUIT."""
        rng, tally = self.rng, self.tally
        ctl = self._conn(c, VIP_WWW, FTP, t)
        conns = [ctl]

        def say(side: int, line: str, think: tuple[float, float], react: bool = True) -> None:
            """A line from ``side``: its answer to the last one, or (not ``react``) what it
            sends right after its own last packet."""
            ctl.wait((ctl.delay(side) if react else 0.0) + rng.uniform(*think))
            ctl.send(side, line.encode() + b"\r\n", acks=False)

        ctl.open()
        user = "anonymous" if rng.random() < 0.4 else f"user{rng.randint(100, 999)}"
        say(VIP, "220 (vsFTPd 3.0.3)", (0, 5e-4))
        say(CLIENT, f"USER {user}", (0.005, 0.05))
        say(VIP, "331 Please specify the password.", (0, 5e-4))
        say(CLIENT, "PASS guest@example.com" if user == "anonymous" else "PASS Hunter2!",
            (0.005, 0.05))
        say(VIP, "230 Login successful.", (0.005, 0.03))
        say(CLIENT, "TYPE I", (0.001, 0.01))
        say(VIP, "200 Switching to Binary mode.", (0, 5e-4))
        for _ in range(rng.choice((1, 1, 2, 3))):
            name = rng.choice(tuple(FILES)) if rng.random() < 0.7 else None
            command = f"RETR {name}" if name else "LIST"
            kind = "text/plain" if name and name.endswith(".txt") else ""
            body = self._body(kind, name, FILES[name]) if name else _listing()
            if rng.random() < 0.6:  # passive: the client opens the data connection
                port = self._passive_port()
                say(CLIENT, "PASV", (0.001, 0.01))
                say(VIP, f"227 Entering Passive Mode ({','.join(map(str, VIP_WWW))},"
                         f"{port >> 8},{port & 0xFF}).", (0, 5e-4))
                data = self._conn(c, VIP_WWW, port, ctl.t + ctl.rtt)
                data.open()
                ctl.t = data.t  # the command follows the data connection's last ACK
                say(CLIENT, command, (1e-5, 5e-5), react=False)
                tally.ftp_passive += 1
            else:  # active: the VIP opens it from port 20 to the port the client names
                port = c.next_port()
                say(CLIENT, "PORT " + ",".join(map(str, (*c.ip, port >> 8, port & 0xFF))),
                    (0.001, 0.01))
                say(VIP, "200 PORT command successful. Consider using PASV.", (0, 5e-4))
                say(CLIENT, command, (1e-5, 5e-5))
                data = self._conn(c, VIP_WWW, FTP_DATA, ctl.t + ctl.srv, cport=port)
                data.open(by=VIP)
                ctl.t = data.t  # the server connects before it answers 150
                tally.ftp_active += 1
            what = f"BINARY mode data connection for {name} ({len(body)} bytes)" if name \
                else "ASCII mode data connection for file list"
            say(VIP, f"150 Opening {what}.", (0, 5e-4))
            data.t = max(data.t, ctl.t) + data.srv
            data.send(VIP, body)
            data.close(VIP)
            ctl.t = max(ctl.t, data.t)
            say(VIP, "226 Transfer complete." if name else "226 Directory send OK.", (0, 5e-4))
            conns.append(data)
        say(CLIENT, "QUIT", (0.01, 0.2))
        say(VIP, "221 Goodbye.", (0, 5e-4))
        ctl.wait(ctl.srv)
        ctl.close(VIP)
        tally.ftp_connections += 1
        tally.ftp_repeat += c.ftp_sessions > 0
        c.ftp_sessions += 1
        return conns

    def _passive_port(self) -> int:
        low, high = PASSIVE_PORTS
        port = self._passive
        self._passive = low + (port - low + self.rng.randint(1, 7)) % (high - low)
        return port


# ---- writing ------------------------------------------------------------------------------

MERGE_WINDOW = 0.25  # seconds of capture time merged at once


def _write(path: str | os.PathLike, traffic: _Traffic,
           limit: float = math.inf) -> tuple[int, float, float]:
    """Merge the sessions' frames by time into ``path``; stop after ``limit`` frames.
    Returns the frames written and the times of the first and the last.

    Window by window: every session that begins before the window's end is scripted, which
    makes every frame before that end known (a session's frames never precede its start);
    those are sorted (one C sort; stable, so each connection keeps its order) and written.
    When ``limit`` cuts the capture, the tally goes back to the last session begun in it.
    """
    pending: list[tuple[float, bytes]] = []
    written = 0
    first = last = 0.0
    tally = traffic.tally
    with PcapWriter(path, Link.ETHERNET) as out:
        write = out.write
        horizon = traffic.next_start()
        while written < limit and (pending or horizon < math.inf):
            horizon = max(horizon + MERGE_WINDOW, traffic.next_start())
            marks = [(-math.inf, tally.snapshot())] if limit < math.inf else []
            while traffic.next_start() < horizon:
                begun = traffic.next_start()
                for frames in traffic.start_next():
                    pending += frames
                if marks:
                    marks.append((begun, tally.snapshot()))
            pending.sort(key=itemgetter(0))
            cut = bisect.bisect_left(pending, horizon, key=itemgetter(0))
            if written + cut > limit:
                cut = int(limit - written)
            if cut:
                if not written:
                    first = pending[0][0]
                for t, frame in pending[:cut]:
                    write(t, frame)
                written += cut
                last = pending[cut - 1][0]
                del pending[:cut]
            if written >= limit:
                tally.restore(next(state for begun, state in reversed(marks) if begun <= last))
    return written, first, last


def demo_capture(path: str | os.PathLike, *, seed: int = 1, clients: int = 300,
                 duration: float = 90.0) -> DemoPlan:
    """Write the demo's capture to ``path``: ``clients`` hosts of 198.51.100.0/24 and
    203.0.113.0/24 using the address plan's services over about ``duration`` seconds, every
    connection complete.  Templates come from scapy; the same ``seed`` writes the same file."""
    pool = [bytes((*net, host)) for net in DEMO_NETS for host in range(1, 255)]
    if not 1 <= clients <= len(pool):
        raise ValueError(f"demo clients must be 1..{len(pool)} (two /24 networks), "
                         f"not {clients}")
    if not duration > 0:
        raise ValueError(f"demo duration must be positive, not {duration}")
    rng = random.Random(seed)
    rng.shuffle(pool)
    traffic = _Traffic(rng, scapy_path, pool, DEMO)
    ftp_users = set(rng.sample(range(clients), max(1, clients // 10)))
    for i in range(clients):
        ftp = i in ftp_users
        count = rng.choice((1, 2, 2, 3)) if ftp else rng.randint(3, 7)
        plan = sorted(EPOCH + rng.uniform(0, 0.9 * duration) for _ in range(count))
        c = traffic.new_client(ftp, plan[1:])
        c.roams = not ftp and rng.random() < 0.05
        traffic.add(plan[0], c)
    packets, start, end = _write(path, traffic)
    return DemoPlan(**traffic.tally.mix(), path=Path(path), seed=seed, clients=clients,
                    addresses=traffic.tally.addresses, packets=packets, start=start, end=end)


# the benchmark's clients (with BENCH's sessions, 1M frames hold ~48k of them)
BENCH_ARRIVALS = 1000.0  # new clients per second of capture time
BENCH_SESSIONS = ((1, 2, 3), (36, 3, 1))  # sessions per client and their weights
BENCH_FTP = 0.03  # share of FTP users
BENCH_ROAMING = 0.02
BENCH_RETURN = 4.0  # mean seconds from one session of a client to its next


def bench_capture(path: str | os.PathLike, *, packets: int = 1_000_000,
                  seed: int = 1) -> BenchPlan:
    """Write ``packets`` frames of the address plan's traffic to ``path``: clients of
    198.18.0.0/15 arriving ~1,000 a second (a new user takes an address used before once the
    131,070 are spent), each doing one to three sessions; no per-packet scapy."""
    if packets < 1:
        raise ValueError(f"bench packets must be at least 1, not {packets}")
    rng = random.Random(seed)
    base = int.from_bytes(bytes((*BENCH_NET, 0, 0)), "big")
    hosts = [(base + n).to_bytes(4, "big") for n in range(1, (1 << 17) - 1)]
    rng.shuffle(hosts)
    traffic = _Traffic(rng, struct_path, hosts[:], BENCH)

    def arrive(t: float) -> _Client:
        if not traffic.addresses:
            traffic.addresses = hosts[:]
        count = rng.choices(*BENCH_SESSIONS)[0]
        plan, at = [], t
        for _ in range(count - 1):
            at += rng.expovariate(1 / BENCH_RETURN)
            plan.append(at)
        c = traffic.new_client(rng.random() < BENCH_FTP, plan)
        c.roams = not c.ftp and rng.random() < BENCH_ROAMING
        return c

    traffic.arrivals = (1 / BENCH_ARRIVALS, arrive)
    traffic.add(EPOCH, None)
    written, start, end = _write(path, traffic, packets)
    return BenchPlan(**traffic.tally.mix(), path=Path(path), seed=seed,
                     clients=traffic.tally.addresses, packets=written, start=start, end=end)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/weboslb`` (an absolute XDG_CACHE_HOME only), else ~/.cache/weboslb."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "weboslb"


def cached_bench_capture(packets: int = 1_000_000, seed: int = 1) -> Path:
    """The benchmark capture for ``packets`` and ``seed``, made once per generator version
    and kept in the cache directory; captures of other versions are removed."""
    directory = cache_dir()
    path = directory / f"bench-v{VERSION}-{packets}-s{seed}.pcap"
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("bench-v*-*-s*.pcap"):
        if not old.name.startswith(f"bench-v{VERSION}-"):
            try:
                old.unlink()
            except OSError:
                pass
    bench_capture(path, packets=packets, seed=seed)  # written beside, then renamed: atomic
    return path
