"""The C Layer-7 extractors (csrc/l7.c through weboslb.proto.cdecode): the persistence keys a
switch reads from TLS hellos, HTTP heads and FTP control lines, table by table, and from the
sample captures checked against tshark."""
from __future__ import annotations

import csv
import ipaddress
import random
import struct
from collections import defaultdict

import pytest

from tests.proto.test_cdecode import (
    PCAPS,
    decode_capture,
    read_frames,
    sample_paths,
    truth_rows,
)
from weboslb.proto import cdecode
from weboslb.proto.cdecode import FtpKind, HelloKind, L7Status
from weboslb.proto.packet import Reason, TcpFlag

OK, NONE, NEED_MORE = L7Status.OK, L7Status.NONE, L7Status.NEED_MORE
NOT_TLS, MALFORMED, TOO_LONG = L7Status.NOT_TLS, L7Status.MALFORMED, L7Status.TOO_LONG

# ---- TLS ---------------------------------------------------------------------------------------

SID = bytes(range(0xA0, 0xC0))  # 32 bytes
RANDOM = b"\x5a" * 32


def ext(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def versions_ext(*versions: int) -> bytes:
    body = b"".join(struct.pack("!H", v) for v in versions)
    return ext(43, bytes([len(body)]) + body)


def handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def client_hello(version=0x0303, sid=SID, suites=b"\x13\x01\x00\x2f", comp=b"\x00",
                 exts: list[bytes] | None = None, raw_exts: bytes | None = None) -> bytes:
    body = struct.pack("!H", version) + RANDOM + bytes([len(sid)]) + sid
    body += struct.pack("!H", len(suites)) + suites + bytes([len(comp)]) + comp
    if exts is not None:
        joined = b"".join(exts)
        body += struct.pack("!H", len(joined)) + joined
    return handshake(1, body + (raw_exts or b""))


def server_hello(version=0x0303, sid=SID, exts: list[bytes] | None = None,
                 raw_exts: bytes | None = None) -> bytes:
    body = struct.pack("!H", version) + RANDOM + bytes([len(sid)]) + sid + b"\x13\x01\x00"
    if exts is not None:
        joined = b"".join(exts)
        body += struct.pack("!H", len(joined)) + joined
    return handshake(2, body + (raw_exts or b""))


def records(hs: bytes, *sizes: int, version=0x0301, kind=22) -> bytes:
    """hs split into handshake records of the given sizes (the rest in a last record)."""
    out, pos = b"", 0
    for size in [*sizes, len(hs)]:
        chunk = hs[pos:pos + size]
        out += struct.pack("!BHH", kind, version, len(chunk)) + chunk
        pos += len(chunk)
        if pos >= len(hs):
            return out
    return out


def sslv2(version=0x0301, sid=b"", specs=b"\x00\x00\x04" * 3, challenge=b"c" * 16,
          lengths: tuple[int, int, int] | None = None, kind=1) -> bytes:
    ls, li, lc = lengths or (len(specs), len(sid), len(challenge))
    msg = bytes([kind]) + struct.pack("!HHHH", version, ls, li, lc) + specs + sid + challenge
    return struct.pack("!H", 0x8000 | len(msg)) + msg


HELLOS = {
    # name: (stream bytes, (kind, version, session id, tls13))
    "tls 1.0 client": (records(client_hello(0x0301)), (1, 0x0301, SID, False)),
    "tls 1.1 client, no extensions": (records(client_hello(0x0302)), (1, 0x0302, SID, False)),
    "tls 1.2 client, empty session id": (records(client_hello(sid=b"", exts=[ext(0, b"\0" * 9)])),
                                         (1, 0x0303, b"", False)),
    "tls 1.3 client": (records(client_hello(exts=[ext(10, b"\0\2\0\x1d"),
                                                  versions_ext(0x0a0a, 0x0304, 0x0303)])),
                       (1, 0x0303, SID, True)),
    "tls 1.2 client offering 1.2 and 1.1": (records(client_hello(exts=[versions_ext(0x0303,
                                                                                    0x0302)])),
                                            (1, 0x0303, SID, False)),
    "short session id": (records(client_hello(sid=b"\x01\x02")), (1, 0x0303, b"\x01\x02", False)),
    "tls 1.2 server": (records(server_hello(exts=[ext(0xFF01, b"\0")])), (2, 0x0303, SID, False)),
    "tls 1.0 server, no extensions": (records(server_hello(0x0301)), (2, 0x0301, SID, False)),
    "tls 1.3 server": (records(server_hello(exts=[ext(51, b"\0" * 36), ext(43, b"\x03\x04")])),
                       (2, 0x0303, SID, True)),
    "hello retry request": (records(server_hello(exts=[ext(43, b"\x03\x04"), ext(51, b"\0\x1d")])),
                            (2, 0x0303, SID, True)),
    "server selecting 1.2": (records(server_hello(exts=[ext(43, b"\x03\x03")])),
                             (2, 0x0303, SID, False)),
    "split over two records": (records(client_hello(exts=[versions_ext(0x0304)]), 50),
                               (1, 0x0303, SID, True)),
    "split inside the header and session id": (records(client_hello(), 2, 1, 38, 5),
                                               (1, 0x0303, SID, False)),
    "one byte per record, empty records": (
        b"".join(struct.pack("!BHH", 22, 0x0301, 0) + records(bytes([b]))
                 for b in client_hello(exts=[versions_ext(0x0304)])),
        (1, 0x0303, SID, True)),
    "followed by more records": (records(server_hello()) + b"\x14\x03\x03\x00\x01\x01",
                                 (2, 0x0303, SID, False)),
    "hello and certificate in one record, cut": (
        records(server_hello() + handshake(11, b"c" * 900))[:200], (2, 0x0303, SID, False)),
    "trailing bytes after the extensions": (records(client_hello(exts=[], raw_exts=b"\0\0\0")),
                                            (1, 0x0303, SID, False)),
    "sslv2 compatible, no session id": (sslv2(), (1, 0x0301, b"", False)),
    "sslv2 compatible, 16-byte session id": (sslv2(sid=SID[:16]), (1, 0x0301, SID[:16], False)),
    "sslv2, version 2": (sslv2(0x0002, sid=SID), (1, 0x0002, SID, False)),
    "sslv2 with trailing data": (sslv2(lengths=(9, 0, 15)), (1, 0x0301, b"", False)),
}


@pytest.mark.parametrize("name", sorted(HELLOS))
def test_hello(name):
    data, (kind, version, sid, tls13) = HELLOS[name]
    assert cdecode.tls_hello(data) == (OK, HelloKind(kind), version, sid, tls13)


@pytest.mark.parametrize("name", sorted(HELLOS))
def test_every_prefix_of_a_hello_needs_more(name):
    data, _ = HELLOS[name]
    full = next(n for n in range(len(data) + 1) if cdecode.tls_hello(data[:n])[0] is OK)
    for n in range(full):
        assert cdecode.tls_hello(data[:n]) == (NEED_MORE, 0, 0, b"", False), n


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\r\n\r\n",
    b"\x17\x03\x03\x00\x05hello",           # application data
    b"\x15\x03\x03\x00\x02\x02\x28",        # alert
    b"\x16\x02",                            # major version 2
    b"\x16\x7f\x01",
    b"\x00\x00",
    b"\x80\x2e\x04\x00\x02",                # SSLv2 server hello
    b"SSH-2.0-OpenSSH_9.0\r\n",
], ids=repr)
def test_not_tls(data):
    assert cdecode.tls_hello(data)[0] is NOT_TLS


def _hello_body_edit(hs: bytes, at: int, new: bytes) -> bytes:
    return hs[:at] + new + hs[at + len(new):]


MALFORMED_HELLOS = {
    "session id of 33": records(client_hello(sid=b"x" * 33)),
    "cipher suites past the end": records(_hello_body_edit(client_hello(), 4 + 35 + 32,
                                                           b"\x40\x00")),
    "compression past the end": records(client_hello(comp=b"")[:-1] + b"\x05"),
    "one byte where extensions start": records(client_hello(raw_exts=b"\x00")),
    "extensions longer than the message": records(client_hello(raw_exts=b"\x00\x10\x00\x00")),
    "extension header cut": records(client_hello(raw_exts=b"\x00\x03\x00\x2b\x00")),
    "extension past its block": records(client_hello(raw_exts=b"\x00\x04\x00\x00\x00\x05")),
    "versions list past the extension": records(client_hello(exts=[ext(43, b"\x06\x03\x04")])),
    "empty supported_versions": records(client_hello(exts=[ext(43, b"")])),
    "server supported_versions of 1 byte": records(server_hello(exts=[ext(43, b"\x03")])),
    "server session id of 40": records(server_hello(sid=b"s" * 40)),
    "server hello without cipher": records(handshake(2, b"\x03\x03" + RANDOM + b"\x00\x13")),
    "handshake longer than 64 KiB": b"\x16\x03\x01\x00\x04\x01\x01\x00\x01",
    "certificate first": records(handshake(11, b"\0" * 10)),
    "certificate first, incomplete": records(handshake(11, b"\0" * 10))[:9],
    "empty client hello": records(handshake(1, b"")),
    "application data inside the hello": records(client_hello(), 20)[:25] + b"\x17\x03\x03\x00\x90",
    "record of major version 2 inside": records(client_hello(), 20)[:25] + b"\x16\x02\x00\x00\x90",
    "sslv2 session id of 8": sslv2(sid=b"s" * 8),
    "sslv2 session id of 33": sslv2(sid=b"s" * 33),
    "sslv2 fields past the record": sslv2(lengths=(9, 0, 17)),
    "sslv2 record of 5": b"\x80\x05\x01\x03\x01\x00\x00",
    "sslv2 record of 5, incomplete": b"\x80\x05\x01",
    "sslv2 session id of 8, incomplete": sslv2(sid=b"s" * 8)[:12],
}


@pytest.mark.parametrize("name", sorted(MALFORMED_HELLOS))
def test_malformed_hello(name):
    assert cdecode.tls_hello(MALFORMED_HELLOS[name]) == (MALFORMED, 0, 0, b"", False)


def test_incomplete_hello_with_a_bad_field_needs_more_until_complete():
    """Lengths inside the message are checked once the whole message is there."""
    data = records(client_hello(sid=b"x" * 33))
    assert cdecode.tls_hello(data[:60])[0] is NEED_MORE
    assert cdecode.tls_hello(data)[0] is MALFORMED


# ---- HTTP --------------------------------------------------------------------------------------

REQUEST = (b"GET /shop/cart.jsp;jsessionid=J123?item=7&SID=q9#top HTTP/1.1\r\n"
           b"Host: www.example.com\r\n"
           b"Cookie: theme=dark; ASPSESSIONIDQQ=AB12CD\r\n"
           b"X-Note no colon here\r\n"
           b"cOOKIE:\t lang = en ;flag; ASPSESSIONIDZZ=second; =anon\t\r\n"
           b"Cookie: JSESSIONID=xyz=1|2,3\r\n"
           b"\r\n")
RESPONSE = (b"HTTP/1.1 200 OK\r\n"
            b"Set-Cookie: noequals; Path=/\r\n"
            b"Set-Cookie: ASPSESSIONIDAB=srv1; path=/; HttpOnly\r\n"
            b"set-cookie:  SERVERID = s2 ; Max-Age=60\r\n"
            b"Cookie: client=not-here\r\n"
            b"Content-Length: 0\r\n"
            b"\r\n")


@pytest.mark.parametrize("data, response, want", [
    (REQUEST, False, (OK, len(REQUEST))),
    (RESPONSE, True, (OK, len(RESPONSE))),
    (REQUEST + b"body after the head", False, (OK, len(REQUEST))),
    (b"GET / HTTP/1.0\n\n", False, (OK, 16)),
    (b"GET / HTTP/1.0\nHost: a\r\n\n", False, (OK, 25)),
    (b"GET / HTTP/1.0\n\r\n", False, (OK, 17)),
    (b"GET /\x01\t HTTP/1.1\r\n\r\n", False, (OK, 20)),
    (b"HTTP/1.1 204\r\n\r\n", True, (OK, 16)),
    (b"HTTP/1.0 404 Not Found\n\n", True, (OK, 24)),
    (b"GET / HTTP/1.1\r\nHost: a\r\n", False, (NEED_MORE, 0)),
    (b"", False, (NEED_MORE, 0)),
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 1362 + b"\r\n", False, (OK, 8190)),
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 1362 + b"ab\r\n\r\n", False, (TOO_LONG, 0)),
    (b"GET / HTTP/1.1\r\n" + b"X" * 8175, False, (NEED_MORE, 0)),
    (b"GET / HTTP/1.1\r\n" + b"X" * 8176, False, (TOO_LONG, 0)),
    (b"GET / HTTP/1.1\r\n\r\n", True, (MALFORMED, 0)),
    (b"HTTP/1.1 200 OK\r\n\r\n", False, (MALFORMED, 0)),
    (b"GET /  HTTP/1.1\r\n\r\n", False, (MALFORMED, 0)),
    (b"GET / HTTP/1.1 \r\n\r\n", False, (MALFORMED, 0)),
    (b" GET / HTTP/1.1\r\n\r\n", False, (MALFORMED, 0)),
    (b"GET / HTTP/11\r\n\r\n", False, (MALFORMED, 0)),
    (b"GET / http/1.1\r\n\r\n", False, (MALFORMED, 0)),
    (b"GET\r\n\r\n", False, (MALFORMED, 0)),
    (b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", False, (MALFORMED, 0)),
    (b"HTTP/1.1 20 OK\r\n\r\n", True, (MALFORMED, 0)),
    (b"HTTP/1.1 200OK\r\n\r\n", True, (MALFORMED, 0)),
    (b"HTTP/1.1  200 OK\r\n\r\n", True, (MALFORMED, 0)),
    (b"\x16\x03\x01\x00\x05\n\n", False, (MALFORMED, 0)),
], ids=lambda v: repr(v)[:40])
def test_http_head(data, response, want):
    assert cdecode.http_head(data, response) == want


def _value(head: bytes, pattern, response) -> tuple[L7Status, bytes]:
    status, off, length = cdecode.cookie(head, pattern, response)
    return status, head[off:off + length]


@pytest.mark.parametrize("pattern, response, want", [
    (b"theme", False, b"dark"),
    (b"ASPSESSION*", False, b"AB12CD"),           # the first match wins
    (b"ASPSESSIONIDZZ", False, b"second"),        # a later Cookie header, names case-blind
    (b"lang", False, None),                       # the pair is trimmed, not its name
    (b"lang ", False, b" en"),
    (b"*", False, b"dark"),
    (b"*ZZ", False, b"second"),
    (b"A*S*Z", False, b"second"),
    (b"", False, b"anon"),                        # an empty name is still a name
    (b"JSESSIONID", False, b"xyz=1|2,3"),         # the value runs past a second '='
    (b"flag", False, None),                       # a pair without '=' is skipped
    (b"aspsessionidqq", False, None),             # cookie names are case-sensitive
    (b"theme*x", False, None),
    (b"client", False, None),
    (b"ASPSESSION*", True, b"srv1"),
    (b"SERVERID ", True, b" s2"),
    (b"*", True, b"srv1"),
    (b"Path", True, None),                        # attributes are not cookies
    (b"noequals", True, None),
    (b"client", True, None),                      # a response's Cookie header is not read
    (b"theme", True, None),
])
def test_cookie(pattern, response, want):
    head = RESPONSE if response else REQUEST
    assert _value(head, pattern, response) == ((OK, want) if want is not None else (NONE, b""))


@pytest.mark.parametrize("head, want", [
    (b"GET / HTTP/1.1\r\nCookie: a=\r\n\r\n", (OK, b"")),
    (b"GET / HTTP/1.1\r\nCookie : a=1\r\n\r\n", (NONE, b"")),   # the name is the whole token
    (b"GET / HTTP/1.1\r\nCookie: b=1\r\n\r\nCookie: a=2\r\n", (NONE, b"")),  # after the head
    (b"GET / HTTP/1.1\r\nCookie: x=1;;; a=2 ;\r\n", (OK, b"2")),             # no end: to n
    (b"GET / HTTP/1.1\nCookie: a=lf-only\n\n", (OK, b"lf-only")),
    (b"Cookie: a=start-line\r\n\r\n", (NONE, b"")),
    (b"", (NONE, b"")),
])
def test_cookie_edges(head, want):
    assert _value(head, "a", False) == want


@pytest.mark.parametrize("pattern, want", [
    ("jsessionid", (OK, b"J123")),
    ("item", (OK, b"7")),
    ("SID", (OK, b"q9")),
    ("*", (OK, b"J123")),
    ("top", (NONE, b"")),
    ("shop", (NONE, b"")),
])
def test_uri_cookie(pattern, want):
    status, off, length = cdecode.uri_cookie(REQUEST, pattern)
    assert (status, REQUEST[off:off + length]) == want


@pytest.mark.parametrize("head, want", [
    (b"GET /a;b=1/c?d HTTP/1.1\r\n\r\n", (OK, b"1/c")),
    (b"GET /?b=&b=2 HTTP/1.1\r\n\r\n", (OK, b"")),
    (b"GET /#?b=1 HTTP/1.1\r\n\r\n", (NONE, b"")),
    (b"GET /?a=1;b=2 HTTP/1.1", (OK, b"2")),
    (b"HTTP/1.1 200 OK\r\n\r\n", (MALFORMED, b"")),
])
def test_uri_cookie_edges(head, want):
    status, off, length = cdecode.uri_cookie(head, b"b")
    assert (status, head[off:off + length]) == want


@pytest.mark.parametrize("vlen, offset, length, want", [
    (10, 1, 0, (OK, 0, 10)),
    (10, 1, 4, (OK, 0, 4)),
    (10, 3, 4, (OK, 2, 4)),
    (10, 8, 5, (OK, 7, 3)),
    (10, 10, 0, (OK, 9, 1)),
    (10, 11, 0, (NONE, 0, 0)),
    (0, 1, 0, (NONE, 0, 0)),
    (200, 1, 0, (OK, 0, 64)),
    (200, 64, 64, (OK, 63, 64)),
])
def test_cookie_key(vlen, offset, length, want):
    assert cdecode.cookie_key(vlen, offset, length) == want


@pytest.mark.parametrize("call, message", [
    (lambda: cdecode.cookie_key(10, 0, 0), "offset must be an integer in 1"),
    (lambda: cdecode.cookie_key(-1, 1, 0), "value_len"),
    (lambda: cdecode.cookie(REQUEST, "caf\u00e9", False), "not ASCII"),
    (lambda: cdecode.cookie("GET / HTTP/1.1", "a", False), "head must be bytes-like"),
    (lambda: cdecode.tls_hello(None), "data must be a contiguous bytes-like"),
    (lambda: cdecode.ftp_line(12, True), "data must be"),
])
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---- FTP ---------------------------------------------------------------------------------------

V4 = bytes([192, 168, 1, 2])


def v6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


FTP_LINES = [
    # (line, from_client, (status, kind, family, addr, port))
    (b"PORT 192,168,1,2,4,1\r\n", True, (OK, FtpKind.PORT, 4, V4, 1025)),
    (b"port 192,168,1,2,0,21\n", True, (OK, FtpKind.PORT, 4, V4, 21)),
    (b"PORT  192 , 168,1 ,2, 255 ,255 \r\n", True, (OK, FtpKind.PORT, 4, V4, 65535)),
    (b"PORT 192,168,001,002,4,1\r\n", True, (OK, FtpKind.PORT, 4, V4, 1025)),
    (b"PORT 192,168,1,256,4,1\r\n", True, (MALFORMED,)),
    (b"PORT 192,168,1,2,4\r\n", True, (MALFORMED,)),
    (b"PORT 192,168,1,2,4,1,7\r\n", True, (MALFORMED,)),
    (b"PORT 192,168,1,2,4,x\r\n", True, (MALFORMED,)),
    (b"PORT 192,168,1,2,,1\r\n", True, (MALFORMED,)),
    (b"PORT 192,168,1,2,4,-1\r\n", True, (MALFORMED,)),
    (b"PORT 192,168,1,2,4,\t1\r\n", True, (MALFORMED,)),
    (b"PORT 192,168,1,2,4,1\t\r\n", True, (MALFORMED,)),
    (b"PORT 1 92,168,1,2,4,1\r\n", True, (MALFORMED,)),
    (b"PORT 99999999999999999999,1,1,1,1,1\r\n", True, (MALFORMED,)),
    (b"PORT\r\n", True, (MALFORMED,)),
    (b"EPRT |1|192.168.1.2|6275|\r\n", True, (OK, FtpKind.EPRT, 4, V4, 6275)),
    (b"eprt !1!192.168.1.2!0!\r\n", True, (OK, FtpKind.EPRT, 4, V4, 0)),
    (b"EPRT |2|2001:470:1f11:81f:c999:d94:aa7c:2e3e|49189|\r\n", True,
     (OK, FtpKind.EPRT, 6, v6("2001:470:1f11:81f:c999:d94:aa7c:2e3e"), 49189)),
    (b"EPRT ~2~::1~65535~\r\n", True, (OK, FtpKind.EPRT, 6, v6("::1"), 65535)),
    (b"EPRT |2|::|1|\r\n", True, (OK, FtpKind.EPRT, 6, v6("::"), 1)),
    (b"EPRT |2|fe80::1:2|21|\r\n", True, (OK, FtpKind.EPRT, 6, v6("fe80::1:2"), 21)),
    (b"EPRT |2|1::|21|\r\n", True, (OK, FtpKind.EPRT, 6, v6("1::"), 21)),
    (b"EPRT |2|::ffff:10.0.0.1|21|\r\n", True, (OK, FtpKind.EPRT, 6, v6("::ffff:10.0.0.1"), 21)),
    (b"EPRT |2|1:2:3:4:5:6:7::|21|\r\n", True, (OK, FtpKind.EPRT, 6, v6("1:2:3:4:5:6:7::"), 21)),
    (b"EPRT |2|1:2:3:4:5:6:1.2.3.4|21|\r\n", True,
     (OK, FtpKind.EPRT, 6, v6("1:2:3:4:5:6:1.2.3.4"), 21)),
    (b"EPRT |2|ABCD:EF01::|21|\r\n", True, (OK, FtpKind.EPRT, 6, v6("abcd:ef01::"), 21)),
    (b"EPRT   |1|192.168.1.2|21|  \r\n", True, (OK, FtpKind.EPRT, 4, V4, 21)),
    (b"EPRT |2|fe80::1%eth0|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |1|192.168.1.2|000021|\r\n", True, (MALFORMED,)),
    (b"EPRT\t|1|192.168.1.2|21|\r\n", True, (NONE,)),
    (b"EPRT |1|192.168.1.2|21|\t\r\n", True, (MALFORMED,)),
    (b"EPRT |1|192.168.1.2|65536|\r\n", True, (MALFORMED,)),
    (b"EPRT |1|192.168.1|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |1|192.168.01.2|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |1|192.168.1.2.3|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |1|::1|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |2|192.168.1.2|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |3|192.168.1.2|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |1|192.168.1.2|21\r\n", True, (MALFORMED,)),
    (b"EPRT |1|192.168.1.2|21|x\r\n", True, (MALFORMED,)),
    (b"EPRT |1|192.168.1.2||\r\n", True, (MALFORMED,)),
    (b"EPRT \x7f1\x7f192.168.1.2\x7f21\x7f\r\n", True, (MALFORMED,)),
    (b"EPRT |2|1:2:3:4:5:6:7:8:9|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |2|1::2::3|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |2|:1::2|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |2|1:2:3:4:5:6:7:8::|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |2|12345::|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |2|g::|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |2|1:2:3:4:5:6:7|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |2|::1.2.3|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |2|fe80::1%|21|\r\n", True, (MALFORMED,)),
    (b"EPRT |2|::1/64|21|\r\n", True, (MALFORMED,)),
    (b"EPRT\r\n", True, (MALFORMED,)),
    (b"227 Entering Passive Mode (192,168,1,2,4,1).\r\n", False,
     (OK, FtpKind.PASV227, 4, V4, 1025)),
    (b"227 Entering Passive Mode 192,168,1,2,4,1\r\n", False, (OK, FtpKind.PASV227, 4, V4, 1025)),
    (b"227 =192,168,1,2,4,1\n", False, (OK, FtpKind.PASV227, 4, V4, 1025)),
    (b"227 Mode 2 (192,168,1,2,4,1,9)\r\n", False, (OK, FtpKind.PASV227, 4, V4, 1025)),
    (b"227 1,2,3 then (192,168,1,2,4,1)\r\n", False, (OK, FtpKind.PASV227, 4, V4, 1025)),
    (b"227-multi 192,168,1,2,4,1\r\n", False, (OK, FtpKind.PASV227, 4, V4, 1025)),
    (b"227 Entering Passive Mode (192,168,1,300,4,1)\r\n", False, (MALFORMED,)),
    (b"227 Entering Passive Mode (192,168,1,2,4)\r\n", False, (MALFORMED,)),
    (b"227 Entering Passive Mode (192, 168, 1 ,2,4 , 1)\r\n", False,
     (OK, FtpKind.PASV227, 4, V4, 1025)),
    (b"227 Entering Passive Mode (192,168,1,2,4,\t1)\r\n", False, (MALFORMED,)),
    (b"227 x 1,2,3,4,5, then 192,168,1,2,4,1\r\n", False, (OK, FtpKind.PASV227, 4, V4, 1025)),
    (b"227\r\n", False, (MALFORMED,)),
    (b"229 Entering Extended Passive Mode (|||6446|)\r\n", False,
     (OK, FtpKind.EPSV229, 0, b"", 6446)),
    (b"229 EPSV ok (!!!1!)\n", False, (OK, FtpKind.EPSV229, 0, b"", 1)),
    (b"229 (x) then (|||21|)\r\n", False, (OK, FtpKind.EPSV229, 0, b"", 21)),
    (b"229 (111231)\r\n", False, (OK, FtpKind.EPSV229, 0, b"", 23)),
    (b"229 Entering Extended Passive Mode (|||65536|)\r\n", False, (MALFORMED,)),
    (b"229 Entering Extended Passive Mode (|||006446|)\r\n", False, (MALFORMED,)),
    (b"229 Entering Extended Passive Mode (|||6446)\r\n", False, (MALFORMED,)),
    (b"229 Entering Extended Passive Mode (||6446|)\r\n", False, (MALFORMED,)),
    (b"229 Entering Extended Passive Mode (|||x|)\r\n", False, (MALFORMED,)),
    (b"229 Entering Extended Passive Mode (   6446 )\r\n", False, (MALFORMED,)),
    (b"USER anonymous\r\n", True, (NONE,)),
    (b"PASV\r\n", True, (NONE,)),
    (b"PORTS 1,2,3,4,5,6\r\n", True, (NONE,)),
    (b"227 Entering Passive Mode (192,168,1,2,4,1)\r\n", True, (NONE,)),
    (b"PORT 192,168,1,2,4,1\r\n", False, (NONE,)),
    (b"220 Welcome\r\n", False, (NONE,)),
    (b"2270 (192,168,1,2,4,1)\r\n", False, (NONE,)),
    (b"\r\n", False, (NONE,)),
    (b"\r\n", True, (NONE,)),
]


@pytest.mark.parametrize("line, from_client, want", FTP_LINES, ids=lambda v: repr(v)[:48])
def test_ftp_line(line, from_client, want):
    status, kind, family, addr, port, line_len = cdecode.ftp_line(line, from_client)
    assert (status, kind, family, addr, port)[:len(want)] == want
    if status is not OK:
        assert (kind, family, addr, port) == (0, 0, b"", 0)
    assert line_len == len(line)


@pytest.mark.parametrize("data, want", [
    (b"PORT 1,2,3,4,5,6", (NEED_MORE, 0)),
    (b"", (NEED_MORE, 0)),
    (b"X" * 512 + b"\r", (NEED_MORE, 0)),
    (b"X" * 513, (TOO_LONG, 0)),
    (b"X" * 512 + b"\r\n", (NONE, 514)),
    (b"X" * 513 + b"\n", (TOO_LONG, 514)),
    (b"USER a\r\nPORT 1,2,3,4,5,6\r\n", (NONE, 8)),
])
def test_ftp_line_limits(data, want):
    status, *_, line_len = cdecode.ftp_line(data, True)
    assert (status, line_len) == want


def test_ftp_lines_one_after_another():
    data = b"USER a\r\nPORT 10,0,0,1,0,20\r\nEPRT |1|10.0.0.1|21|\r\n"
    seen = []
    while data:
        status, kind, *_, line_len = cdecode.ftp_line(data, True)
        seen.append((status, kind))
        data = data[line_len:]
    assert seen == [(NONE, 0), (OK, FtpKind.PORT), (OK, FtpKind.EPRT)]


# ---- real captures ------------------------------------------------------------------------------

def streams(path) -> dict[tuple[bytes, int, bytes, int], bytes]:
    """Per TCP direction (src, sport, dst, dport): the first 70 kB of contiguous payload from
    the SYN on (retransmissions and duplicates dropped)."""
    segs: dict[tuple, dict[int, bytes]] = defaultdict(dict)
    start: dict[tuple, int] = {}
    for (frame, _), pkt in zip(read_frames(path), decode_capture(path)):
        if pkt.reason is not Reason.OK or pkt.proto != 6:
            continue
        key = (pkt.src, pkt.sport, pkt.dst, pkt.dport)
        if pkt.flags & TcpFlag.SYN:
            start[key] = (pkt.seq + 1) & 0xFFFFFFFF
        elif pkt.payload_len:
            start.setdefault(key, pkt.seq)
            segs[key].setdefault(pkt.seq, frame[pkt.payload_off:pkt.payload_off + pkt.payload_len])
    out = {}
    for key, by_seq in segs.items():
        pos, buf = start[key], bytearray()
        while len(buf) < 70000:
            hit = next(((s, d) for s, d in by_seq.items() if s <= pos < s + len(d)), None)
            if hit is None:
                break
            buf += hit[1][pos - hit[0]:]
            pos = hit[0] + len(hit[1])
        out[key] = bytes(buf)
    return out


def flow_rows(path):
    flows = path.with_name(path.name.rsplit(".", 1)[0] + ".flows.tsv")
    with open(flows, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_sample_session_ids_match_tshark():
    checked = 0
    for path in sample_paths():
        rows = [r for r in flow_rows(path) if r["tls_client_hello"] == "1"
                or r["tls_server_hello"] == "1"]
        if not rows:
            continue
        by_dir = streams(path)
        for row in rows:
            c = (ipaddress.ip_address(row["client_ip"]).packed, int(row["client_port"]))
            s = (ipaddress.ip_address(row["server_ip"]).packed, int(row["server_port"]))
            where = f"{path.name} stream {row['stream']}"
            if row["tls_client_hello"] == "1":
                st, kind, _, sid, _ = cdecode.tls_hello(by_dir.get(c + s, b""))
                assert (st, kind, sid.hex()) == (OK, 1, row["tls_ch_session_id"]), where
                checked += 1
            if row["tls_server_hello"] == "1":
                st, kind, version, sid, tls13 = cdecode.tls_hello(by_dir.get(s + c, b""))
                assert (st, kind, sid.hex()) == (OK, 2, row["tls_sh_session_id"]), where
                assert version == int(row["tls_version"], 16), where
                assert tls13 == (row["tls_class"] == "tls13"), where
                checked += 1
    assert checked > 300


def test_sample_ftp_lines_match_tshark():
    """Every PORT/EPRT/227/229 line tshark saw is extracted with its address and port, and
    no other control line yields one."""
    found, want = [], []
    for path in sample_paths():
        rows = truth_rows(path)
        seen = set()    # tshark does not dissect a retransmitted segment again
        for row, (frame, _), pkt in zip(rows, read_frames(path), decode_capture(path)):
            if pkt.reason is not Reason.OK or 21 not in (pkt.sport, pkt.dport):
                continue
            segment = (pkt.src, pkt.sport, pkt.seq, pkt.payload_len)
            if segment in seen:
                continue
            seen.add(segment)
            data = frame[pkt.payload_off:pkt.payload_off + pkt.payload_len]
            while data:
                status, kind, _, addr, port, line_len = cdecode.ftp_line(data, pkt.dport == 21)
                if status is OK:
                    found.append((path.name, row["frame.number"], kind, addr, port))
                if not line_len:
                    break
                data = data[line_len:]
            for ip, port, kind in (("ftp.active.cip", "ftp.active.port", FtpKind.PORT),
                                   ("ftp.eprt.ip", "ftp.eprt.port", FtpKind.EPRT),
                                   ("ftp.eprt.ipv6", "ftp.eprt.port", FtpKind.EPRT),
                                   ("ftp.passive.ip", "ftp.passive.port", FtpKind.PASV227)):
                if row[ip]:
                    want.append((path.name, row["frame.number"], kind,
                                 ipaddress.ip_address(row[ip]).packed, int(row[port])))
            if row["ftp.epsv.port"]:
                want.append((path.name, row["frame.number"], FtpKind.EPSV229, b"",
                             int(row["ftp.epsv.port"])))
    assert found == want and len(want) >= 15


def _first_cookie(values: list[str], set_cookie: bool) -> bytes | None:
    """The oracle: the first name=value in tshark's header values."""
    for value in values:
        pairs = value.split(";")[:1] if set_cookie else value.split(";")
        for pair in pairs:
            name, eq, val = pair.strip(" \t").partition("=")
            if eq:
                return val.strip(" \t").encode("latin-1")
    return None


def test_sample_cookies_match_tshark():
    """For each head that arrives whole in one frame, the first cookie ('*') is the first
    name=value tshark shows in its Cookie / Set-Cookie headers."""
    checked = 0
    for path in sample_paths():
        for row, (frame, _), pkt in zip(truth_rows(path), read_frames(path),
                                        decode_capture(path)):
            data = frame[pkt.payload_off:pkt.payload_off + pkt.payload_len]
            response = data.startswith(b"HTTP/1.")
            if pkt.reason is not Reason.OK or pkt.proto != 6:
                continue
            if response:
                column, heads = "nodesegbody.http.set_cookie", data.count(b"HTTP/1.")
            elif row["http.request.method"] and "\x1f" not in row["http.request.method"] \
                    and data.startswith(row["http.request.method"].encode() + b" "):
                column, heads = "http.cookie", 1
            else:
                continue
            status, head_len = cdecode.http_head(data, response)
            if status is not OK or heads != 1:
                continue
            values = [v for v in row[column].split("\x1f") if v]
            st, off, length = cdecode.cookie(data[:head_len], b"*", response)
            want = _first_cookie(values, response)
            got = data[off:off + length] if st is OK else None
            assert got == want, f"{path.name} frame {row['frame.number']}"
            checked += want is not None
    assert checked > 30


# ---- against the Python parsers ---------------------------------------------------------------

def _mutants(seeds: list[bytes], rng, count: int) -> list[bytes]:
    """Byte changes biased to the separators these parsers split on, and cuts."""
    out = []
    for _ in range(count):
        b = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(0, 4)):
            if b:
                b[rng.randrange(len(b))] = rng.choice([rng.randrange(256), *b" ;=,|*\t\r\n"])
        out.append(bytes(b[:rng.randint(0, len(b))] if rng.random() < 0.3 else b))
    return out


def _payloads(ports: tuple[int, ...]) -> list[bytes]:
    """Payloads of the sample captures' TCP segments to or from these ports."""
    if not PCAPS.is_dir():
        return []
    out = []
    for path in sample_paths():
        for (frame, _), pkt in zip(read_frames(path), decode_capture(path)):
            if pkt.reason is Reason.OK and pkt.payload_len and {pkt.sport, pkt.dport} & set(ports):
                out.append(frame[pkt.payload_off:pkt.payload_off + pkt.payload_len])
    return out




def test_matches_python_parsers():
    """Statuses (by name), hellos, heads, cookies and FTP announcements agree with
    weboslb.proto.tls / http / ftp on the tables above, sample payloads and mutants."""
    tls = pytest.importorskip("weboslb.proto.tls")
    http = pytest.importorskip("weboslb.proto.http")
    ftp = pytest.importorskip("weboslb.proto.ftp")
    rng = random.Random(7)
    differ = []

    seeds = [d for d, _ in HELLOS.values()] + list(MALFORMED_HELLOS.values())
    seeds += [p[:3000] for p in _payloads((443,))]
    for data in seeds + [d[:n] for d in seeds[:30] for n in range(len(d))] + \
            _mutants(seeds, rng, 10000):
        r = tls.parse_hello(data)
        h = r.hello
        want = (r.status.name, *((int(h.kind), h.version, h.session_id, h.tls13) if h
                                  else (0, 0, b"", False)))
        st, *got = cdecode.tls_hello(data)
        if want != (st.name, *got):
            differ.append(("tls", data, want, got))

    patterns = [b"*", b"a", b"b ", b"ASPSESSION*", b"JSESSIONID", b"*ID*", b"", b"*=*"]
    seeds = [REQUEST, RESPONSE] + [p for p in _payloads((80,)) if p[:4] in
                                   (b"GET ", b"POST", b"HEAD", b"HTTP")]
    for data in seeds + _mutants(seeds, rng, 10000):
        for response in (False, True):
            r = http.parse_response(data) if response else http.parse_request(data)
            st, head_len = cdecode.http_head(data, response)
            if (r.status.name, r.head_len if r.status.name == "OK" else 0) != \
                    (st.name, head_len):
                differ.append(("head", data, r.status.name, st.name))
                continue
            if st is not OK:
                continue
            head, pattern = data[:head_len], rng.choice(patterns)
            want = http.find_cookie(r.set_cookies if response else r.cookies, pattern)
            st, off, length = cdecode.cookie(head, pattern, response)
            if want != (head[off:off + length] if st is OK else None):
                differ.append(("cookie", head, pattern, want))
            if not response:
                want = http.cookie_in_uri(r.target, pattern)
                st, off, length = cdecode.uri_cookie(head, pattern)
                if want != (head[off:off + length] if st is OK else None):
                    differ.append(("uri", head, pattern, want))
    for vlen in range(0, 80, 7):
        for offset in range(1, 70, 5):
            for length in range(0, 70, 6):
                want = http.persist_value(b"v" * vlen, offset, length)
                st, off, klen = cdecode.cookie_key(vlen, offset, length)
                if want != (b"v" * klen if st is OK else None):
                    differ.append(("key", vlen, offset, length))

    seeds = [line for line, _, _ in FTP_LINES]
    seeds += [x + b"\r\n" for p in _payloads((21,)) for x in p.split(b"\r\n") if x]
    for data in seeds + _mutants(seeds, rng, 20000):
        line = data.split(b"\n")[0] + b"\n"
        for from_client in (True, False):
            r = ftp.parse_line(line, from_client)
            want = (r.status.name, int(r.kind or 0), r.family, r.addr, r.port)
            st, *got = cdecode.ftp_line(line, from_client)
            if want != (st.name, *got[:4]):
                differ.append(("ftp", line, want, got))
    assert differ == [], f"{len(differ)} differ; first: {differ[0]}"


def test_python_status_numbers_are_the_c_ones():
    from weboslb._native import lib
    from weboslb.proto.ftp import FtpStatus
    from weboslb.proto.http import HttpStatus
    from weboslb.proto.tls import HelloStatus

    for enum in (HelloStatus, HttpStatus, FtpStatus):
        for member in enum:
            assert getattr(lib, "L7_" + member.name) == member.value, (enum.__name__, member)
