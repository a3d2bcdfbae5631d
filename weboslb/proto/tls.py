"""The TLS/SSL hello reader behind ``pbind sslid``: the session ID of the first ClientHello or
ServerHello of one direction of a TCP stream.

Input is the bytes from the start of that direction, possibly incomplete.  Rules (shared with
the C extractor):

* TLS records: content type 22 and major version 3 (the first record otherwise: NOT_TLS, a
  later one: MALFORMED).  Handshake fragments are concatenated across records, the bytes of a
  record not yet complete included, until the first handshake message is complete; its type
  must be 1 or 2 and its length at most 65536 (else MALFORMED, decided as soon as the 4-byte
  handshake header is there).
* ClientHello: legacy_version, random(32), session_id (<= 32), cipher suites (2-byte length),
  compression methods (1-byte length), then optional extensions: a 2-byte total that fits the
  message, each type+length fitting the total (bytes after the block are ignored).  ``tls13``
  = supported_versions (43: 1-byte list length that fits the extension) offers 0x0304.
* ServerHello: legacy_version, random, session_id, cipher(2), compression(1), optional
  extensions as above; ``tls13`` = supported_versions (a 2-byte value, the extension at least
  2 bytes long) selects 0x0304, which a HelloRetryRequest does too.
* SSLv2-compatible ClientHello: first byte with the high bit set, 15-bit record length, type 1
  (else NOT_TLS), version, cipher_spec_length, session_id_length (0 or 16..32), challenge
  length; the record must hold 9 + the three lengths (else MALFORMED).
* Any field running past a complete message is MALFORMED; running past the bytes given while
  consistent so far is NEED_MORE.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

HANDSHAKE = 22
CLIENT_HELLO = 1
SERVER_HELLO = 2
MAX_MESSAGE = 65536
MAX_SESSION_ID = 32
SUPPORTED_VERSIONS = 43
TLS13 = 0x0304


class HelloStatus(enum.IntEnum):
    """The reader's verdict; numbered as C's ``enum l7_status`` (csrc/l7.h)."""

    OK = 0
    NEED_MORE = 2  # consistent so far, more bytes needed
    NOT_TLS = 3  # does not start like a handshake record or an SSLv2 hello
    MALFORMED = 4  # inconsistent lengths or not a hello


class HelloKind(enum.IntEnum):
    CLIENT = CLIENT_HELLO
    SERVER = SERVER_HELLO


@dataclass(frozen=True, slots=True)
class Hello:
    kind: HelloKind
    version: int  # legacy_version (0x0300 SSL 3.0 ... 0x0303 TLS 1.2 and 1.3)
    session_id: bytes  # empty when the hello carries none
    tls13: bool  # the client offers / the server selects TLS 1.3


@dataclass(frozen=True, slots=True)
class HelloResult:
    status: HelloStatus
    hello: Hello | None = None


_NEED_MORE = HelloResult(HelloStatus.NEED_MORE)
_NOT_TLS = HelloResult(HelloStatus.NOT_TLS)
_MALFORMED = HelloResult(HelloStatus.MALFORMED)


class _Malformed(Exception):
    """A length that runs past a complete message (internal; never escapes parse_hello)."""


def parse_hello(data: bytes | bytearray | memoryview) -> HelloResult:
    """The first hello of a TLS stream direction; never raises on stream content."""
    data = bytes(data)
    if not data:
        return _NEED_MORE
    if data[0] & 0x80:
        return _sslv2(data)
    if data[0] != HANDSHAKE or (len(data) > 1 and data[1] != 3):
        return _NOT_TLS
    message = _first_message(data)
    if isinstance(message, HelloResult):
        return message
    try:
        return HelloResult(HelloStatus.OK, _hello(message))
    except _Malformed:
        return _MALFORMED


def _first_message(data: bytes) -> bytes | HelloResult:
    """The first complete handshake message (header included), or the verdict so far."""
    fragments = bytearray()
    pos = 0
    while True:
        if len(fragments) >= 4:
            if fragments[0] not in (CLIENT_HELLO, SERVER_HELLO):
                return _MALFORMED
            size = int.from_bytes(fragments[1:4], "big")
            if size > MAX_MESSAGE:
                return _MALFORMED
            if len(fragments) >= 4 + size:
                return bytes(fragments[:4 + size])
        if pos >= len(data):
            return _NEED_MORE
        header = data[pos:pos + 5]
        if header[0] != HANDSHAKE or (len(header) > 1 and header[1] != 3):
            return _MALFORMED  # the first record was checked by the caller
        if len(header) < 5:
            return _NEED_MORE
        length = int.from_bytes(header[3:5], "big")
        fragments += data[pos + 5:pos + 5 + length]
        pos += 5 + length


class _Reader:
    """Bounded reads over one complete message; running past its end is _Malformed."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int, end: int) -> None:
        self.buf, self.pos, self.end = buf, pos, end

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise _Malformed
        self.pos += n
        return self.buf[self.pos - n:self.pos]

    def int(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, length_bytes: int) -> bytes:
        return self.take(self.int(length_bytes))


def _hello(message: bytes) -> Hello:
    kind = HelloKind(message[0])
    r = _Reader(message, 4, len(message))
    version = r.int(2)
    r.take(32)
    session_id = r.vector(1)
    if len(session_id) > MAX_SESSION_ID:
        raise _Malformed
    if kind == HelloKind.CLIENT:
        r.vector(2)  # cipher suites
        r.vector(1)  # compression methods
    else:
        r.take(3)  # cipher suite, compression method
    tls13 = False
    if r.pos < r.end:
        block = r.vector(2)
        exts = _Reader(block, 0, len(block))
        while exts.pos < exts.end:
            ext_type = exts.int(2)
            body = exts.vector(2)
            if ext_type == SUPPORTED_VERSIONS:
                tls13 |= _offers_tls13(body) if kind == HelloKind.CLIENT else _selects_tls13(body)
    return Hello(kind, version, session_id, tls13)


def _offers_tls13(body: bytes) -> bool:
    versions = _Reader(body, 0, len(body)).vector(1)
    return any(versions[i:i + 2] == b"\x03\x04" for i in range(0, len(versions) - 1, 2))


def _selects_tls13(body: bytes) -> bool:
    return _Reader(body, 0, len(body)).int(2) == TLS13


def _sslv2(data: bytes) -> HelloResult:
    """An SSLv2-compatible ClientHello (2-byte record header, RFC 5246 appendix E.2)."""
    if len(data) < 3:
        return _NEED_MORE
    if data[2] != CLIENT_HELLO:
        return _NOT_TLS
    length = ((data[0] & 0x7F) << 8) | data[1]
    if length < 9:
        return _MALFORMED
    if len(data) < 11:
        return _NEED_MORE
    version, cipher_len, sid_len, challenge_len = (
        int.from_bytes(data[i:i + 2], "big") for i in (3, 5, 7, 9))
    if (sid_len != 0 and not 16 <= sid_len <= 32) or \
            9 + cipher_len + sid_len + challenge_len > length:
        return _MALFORMED
    if len(data) < 2 + length:
        return _NEED_MORE
    sid_off = 11 + cipher_len
    return HelloResult(HelloStatus.OK, Hello(HelloKind.CLIENT, version,
                                             data[sid_off:sid_off + sid_len], False))
