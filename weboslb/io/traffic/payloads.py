"""What the clients and the servers say: HTTP requests, pages and cached objects, TLS 1.2
handshakes and records, FTP files and listings; the same bytes for the same arguments.
"""
from __future__ import annotations

import base64
import random
import struct
import zlib
from collections.abc import Callable

# ---- HTTP ---------------------------------------------------------------------------------

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


def http_request(agent: str, host: str, target: str, cookie: bytes | None) -> bytes:
    """A browser's GET, returning JSESSIONID when it has one."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", f"User-Agent: {agent}",
             "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
             "Accept-Language: en-US,en;q=0.5", "Accept-Encoding: gzip, deflate",
             "Connection: keep-alive"]
    if cookie is not None:
        lines.append(f"Cookie: JSESSIONID={cookie.decode()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def http_response(date: str, ctype: str, body: bytes, extra: tuple[str, ...] = ()) -> bytes:
    """A Tomcat 200 carrying ``body``, ``extra`` header lines before its entity headers."""
    lines = ["HTTP/1.1 200 OK", f"Date: {date}", "Server: Apache-Coyote/1.1",
             *extra, f"Content-Type: {ctype}", f"Content-Length: {len(body)}",
             "Keep-Alive: timeout=15, max=100", "Connection: Keep-Alive"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


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


# ---- FTP ----------------------------------------------------------------------------------

FILES = {  # the FTP server's files: name -> size
    "README.txt": 1843, "CHANGES.txt": 5210, "firmware-25.4.2.img": 14336,
    "backup-2026-11-30.tar.gz": 9120, "docs/manual.pdf": 12040,
}


def ftp_listing() -> bytes:
    lines = [f"-rw-r--r--    1 1000     1000     {size:>8} Nov 30 18:{i * 7:02d} {name}\r\n"
             for i, (name, size) in enumerate(FILES.items())]
    return "".join(lines).encode()


# ---- TLS ----------------------------------------------------------------------------------

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


def tls_record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
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
    return tls_record(22, _handshake(1, body), 0x0301)


def server_hello(rand: bytes, session_id: bytes) -> bytes:
    """The ServerHello record naming ``session_id`` (new, or the one being resumed)."""
    exts = (_ext(0xFF01, b"\x00") + _ext(23, b"") + _ext(11, b"\x01\x00")
            + _ext(16, b"\x00\x09\x08http/1.1"))
    body = (b"\x03\x03" + rand + bytes((len(session_id),)) + session_id
            + struct.pack("!HB", ECDHE_ECDSA_AES128_GCM, 0) + len(exts).to_bytes(2, "big") + exts)
    return tls_record(22, _handshake(2, body))


def certificate_records(rng: random.Random) -> bytes:
    """Certificate, ServerKeyExchange (x25519, an ECDSA signature) and ServerHelloDone."""
    chain = len(CERTIFICATE).to_bytes(3, "big") + CERTIFICATE
    key = b"\x03\x00\x1d\x20" + rng.randbytes(32)
    r, s = b"\x00" + rng.randbytes(32), rng.randbytes(32)
    sig = b"\x30\x45\x02\x21" + r + b"\x02\x20" + s
    return (tls_record(22, _handshake(11, len(chain).to_bytes(3, "big") + chain))
            + tls_record(22, _handshake(12, key + b"\x04\x03"
                                        + len(sig).to_bytes(2, "big") + sig))
            + tls_record(22, _handshake(14, b"")))


def client_key_exchange(rng: random.Random) -> bytes:
    return tls_record(22, _handshake(16, b"\x20" + rng.randbytes(32)))


CHANGE_CIPHER_SPEC = tls_record(20, b"\x01")


def sealed_records(ctype: int, plain: int, opaque: Callable[[int], bytes]) -> bytes:
    """Records of ``ctype`` carrying ``plain`` bytes of ciphertext-looking data."""
    out = []
    while plain > 0:
        n = min(plain, 16384)
        out.append(tls_record(ctype, opaque(n + GCM_OVERHEAD)))
        plain -= n
    return b"".join(out)
