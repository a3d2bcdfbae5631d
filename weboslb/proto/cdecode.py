"""The C frame decoder and Layer-7 key extractors (csrc/decode.c, csrc/l7.c) behind checked
calls.

``decode_many`` is the batch form the replay path uses: one C call over frames that already
sit in one buffer (an mmap'ed pcap, say), read in place through ``ffi.from_buffer``; the
result is a cdata array of ``struct fr_pkt`` records, read field by field or turned into
``Packet`` values with ``to_packet``.  The l7 wrappers are one call per payload (first
payloads and control lines are the slow path's business) and return plain tuples:

    tls_hello(data)                      -> (status, kind, version, session_id, tls13)
    http_head(data, response)            -> (status, head_len)
    cookie(head, pattern, response)      -> (status, value_off, value_len)  offsets into head
    uri_cookie(head, pattern)            -> (status, value_off, value_len)
    cookie_key(value_len, offset, length)-> (status, key_off, key_len)      within the value
    ftp_line(data, from_client)          -> (status, kind, family, addr, port, line_len)

Fields that do not apply are 0 / b"".  Bad input bytes give a status, never an exception;
only a wrong argument (type, size) raises ValueError.
"""
from __future__ import annotations

import enum
from array import array
from collections.abc import Sequence

from weboslb._native import ffi, lib
from weboslb.proto.packet import Link, Packet, Reason

_PKT = ffi.typeof("struct fr_pkt")
_ITEMSIZE = {"Q": 8, "I": 4}  # uint64_t offsets, uint32_t capture lengths
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class L7Status(enum.IntEnum):
    """What an extractor found (enum l7_status)."""

    OK = 0
    NONE = 1  # well formed, nothing to extract
    NEED_MORE = 2  # consistent so far; wait for more bytes
    NOT_TLS = 3
    MALFORMED = 4
    TOO_LONG = 5


class HelloKind(enum.IntEnum):
    CLIENT = 1
    SERVER = 2


class FtpKind(enum.IntEnum):
    PORT = 1
    EPRT = 2
    PASV227 = 3
    EPSV229 = 4


def _bytes_in(name: str, data) -> object:
    """A zero-copy uint8_t[] view of a bytes-like object (bytes, bytearray, memoryview, mmap)."""
    if isinstance(data, str):
        raise ValueError(f"{name} must be bytes-like, not str")
    try:
        return ffi.from_buffer("uint8_t[]", data)
    except TypeError as exc:
        raise ValueError(f"{name} must be a contiguous bytes-like object: {exc}") from None


def _column(name: str, values, code: str):
    """values as a C array of `code` items: zero-copy for a matching buffer, else a copy."""
    try:
        view = memoryview(values)
    except TypeError:
        view = None
    if (view is not None and view.ndim == 1 and view.c_contiguous
            and view.format in (code, "L") and view.itemsize == _ITEMSIZE[code]):
        return values, len(view)
    try:
        arr = array(code, values)
    except (TypeError, OverflowError) as exc:
        limit = "64" if code == "Q" else "32"
        raise ValueError(f"{name} must be unsigned {limit}-bit integers: {exc}") from None
    return arr, len(arr)


def _link(link) -> int:
    if isinstance(link, bool) or not isinstance(link, int) or not _INT_MIN <= link <= _INT_MAX:
        raise ValueError(f"link must be a pcap link type number, not {link!r}")
    return int(link)


def _frames_in(buf, offsets, lengths):
    """The C views of a batch of frames (buffer, offsets, lengths) and its size, checked."""
    cbuf = _bytes_in("buf", buf)
    offs, n = _column("offsets", offsets, "Q")
    caps, n_caps = _column("lengths", lengths, "I")
    if n != n_caps:
        raise ValueError(f"{n} offsets but {n_caps} lengths")
    if n >= 2**32:
        raise ValueError(f"{n} frames: at most 2**32 - 1 per call")
    return cbuf, offs, caps, n


def _first_bad_frame(offsets, lengths, buflen: int) -> str:
    for i, (off, cap) in enumerate(zip(offsets, lengths)):
        if off > buflen or cap > buflen - off:
            return f"frame {i} (offset {off}, length {cap}) lies past the {buflen}-byte buffer"
    return "a frame lies outside the buffer"


def decode_many(buf, offsets: Sequence[int], lengths: Sequence[int],
                link: Link | int = Link.ETHERNET, out=None):
    """Decodes the frames ``buf[offsets[i]:offsets[i] + lengths[i]]`` in one C call.

    ``offsets`` and ``lengths`` are read in place when they are array('Q') / array('I') (or
    any buffer of those C types), otherwise copied.  ``out`` may be a ``struct fr_pkt[]``
    from an earlier call to reuse; the result is that array (or a new one) of len(offsets)
    records."""
    cbuf, offs, caps, n = _frames_in(buf, offsets, lengths)
    if out is None:
        out = ffi.new("struct fr_pkt[]", n)
    elif not (isinstance(out, ffi.CData) and ffi.typeof(out).kind == "array"
              and ffi.typeof(out).item is _PKT and len(out) >= n):
        raise ValueError(f"out must be a struct fr_pkt[] of at least {n} records")
    rc = lib.fr_decode_many(cbuf, len(cbuf), ffi.from_buffer("uint64_t[]", offs),
                            ffi.from_buffer("uint32_t[]", caps), n, _link(link), out)
    if rc == lib.FR_ERANGE:
        raise ValueError(_first_bad_frame(offs, caps, len(cbuf)))
    if rc != 0:
        raise ValueError(f"fr_decode_many: invalid argument (error {rc})")
    return out


def to_packet(rec) -> Packet:
    """The ``Packet`` of one ``struct fr_pkt`` record ``recs[i]``; hold on to ``recs``: a
    record does not keep its array alive."""
    alen = 4 if rec.family == 4 else 16 if rec.family == 6 else 0
    return Packet(
        reason=Reason(rec.reason),
        family=rec.family,
        proto=rec.proto,
        src=ffi.buffer(rec.src, alen)[:],
        dst=ffi.buffer(rec.dst, alen)[:],
        sport=rec.sport,
        dport=rec.dport,
        flags=rec.flags,
        seq=rec.seq,
        ack=rec.ack,
        vlans=tuple(rec.vlan[0:rec.nvlan]),
        l3_off=rec.l3_off,
        l4_off=rec.l4_off,
        payload_off=rec.payload_off,
        payload_len=rec.payload_len,
        short=bool(rec.is_short),
    )


def decode(frame, link: Link | int = Link.ETHERNET) -> Packet:
    """One frame, the same call shape as the Python decoder (tests, the slow path)."""
    n = len(_bytes_in("frame", frame))
    recs = decode_many(frame, array("Q", [0]), array("I", [n]), link)
    return to_packet(recs[0])  # recs[0] does not keep the array alive: recs must


def tls_hello(data) -> tuple[L7Status, int, int, bytes, bool]:
    """The first handshake message of a TLS stream: (status, kind (HelloKind, 0 unless OK),
    legacy version, session ID, tls13)."""
    out = ffi.new("struct l7_hello *")
    cdata = _bytes_in("data", data)
    st = L7Status(lib.l7_tls_hello(cdata, len(cdata), out))
    return st, out.kind, out.version, ffi.buffer(out.sid, out.sid_len)[:], bool(out.tls13)


def http_head(data, response: bool) -> tuple[L7Status, int]:
    """(status, length of the head through its empty line) of a request or response head."""
    size = ffi.new("size_t *")
    cdata = _bytes_in("data", data)
    return L7Status(lib.l7_http_head(cdata, len(cdata), int(bool(response)), size)), size[0]


def _pattern(pattern) -> object:
    if isinstance(pattern, str):
        try:
            pattern = pattern.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"cookie name pattern {pattern!r} is not ASCII") from None
    return _bytes_in("pattern", pattern)


def cookie(head, pattern: bytes | str, response: bool) -> tuple[L7Status, int, int]:
    """The first cookie named like ``pattern`` ('*' = any run) in the Cookie headers of a
    request head or the Set-Cookie headers of a response head: (status, offset, length) of
    its value in ``head``; status NONE when none matches."""
    voff, vlen = ffi.new("size_t *"), ffi.new("size_t *")
    chead, cpat = _bytes_in("head", head), _pattern(pattern)
    st = lib.l7_cookie(chead, len(chead), int(bool(response)), cpat, len(cpat), voff, vlen)
    return L7Status(st), voff[0], vlen[0]


def uri_cookie(head, pattern: bytes | str) -> tuple[L7Status, int, int]:
    """The same for a cookie in the request target (";name=value", "?name=" or "&name=")."""
    voff, vlen = ffi.new("size_t *"), ffi.new("size_t *")
    chead, cpat = _bytes_in("head", head), _pattern(pattern)
    st = lib.l7_uri_cookie(chead, len(chead), cpat, len(cpat), voff, vlen)
    return L7Status(st), voff[0], vlen[0]


def cookie_key(value_len: int, offset: int, length: int) -> tuple[L7Status, int, int]:
    """Where the persistence key lies in a cookie value (pbind offset 1-based, length 0 = to
    the end, at most 64 bytes): (status, offset, length); NONE when the value is too short."""
    for name, v, lo, hi in (("value_len", value_len, 0, 2**63 - 1),
                            ("offset", offset, 1, 2**32 - 1), ("length", length, 0, 2**32 - 1)):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"{name} must be an integer in {lo}..{hi}, not {v!r}")
    koff, klen = ffi.new("size_t *"), ffi.new("size_t *")
    st = lib.l7_cookie_key(value_len, offset, length, koff, klen)
    return L7Status(st), koff[0], klen[0]


def ftp_line(data, from_client: bool) -> tuple[L7Status, int, int, bytes, int, int]:
    """The first FTP control line in ``data``: (status, kind (FtpKind, 0 unless OK), family,
    address bytes (4, 16, or b"" for 229), port, line length including the LF (0 while
    the line is incomplete))."""
    out = ffi.new("struct l7_ftp *")
    cdata = _bytes_in("data", data)
    st = L7Status(lib.l7_ftp_line(cdata, len(cdata), int(bool(from_client)), out))
    alen = 4 if out.family == 4 else 16 if out.family == 6 else 0
    return st, out.kind, out.family, ffi.buffer(out.addr, alen)[:], out.port, out.line_len
