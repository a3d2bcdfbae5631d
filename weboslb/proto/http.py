"""HTTP heads for cookie persistence and URL hashing: request and response heads, Cookie and
Set-Cookie values, cookie names with ``*`` wildcards, cookies in the URI, and the two edits the
switch makes (inserting a Set-Cookie line, rewriting part of a Set-Cookie value).

Rules (shared with the C extractor):

* A head is the bytes up to and including the first empty line (CRLFCRLF; a bare LF ends a
  line too, a CR before it is dropped), at most 8192 bytes: no end in the first 8192 bytes ->
  TOO_LONG, no end yet -> NEED_MORE.  The first line must be ``METHOD SP target SP HTTP/d.d``
  (three non-empty fields split on single spaces) or ``HTTP/d.d SP 3DIGIT`` followed by a
  space or the end of the line, else MALFORMED.
* Header lines: name up to the first colon (lowercased, not trimmed), value trimmed of spaces
  and tabs; lines without a colon are skipped.  Cookie headers, any number, in order:
  ``name=value`` pairs split on ``;`` and trimmed, split at the first ``=``; a pair without
  ``=`` is skipped.  Set-Cookie: the pair up to the first ``;`` (read the same way), the
  trimmed attributes after it.
* Cookie-name patterns: ``*`` matches any run of bytes, everything else itself (case matters);
  the first matching cookie wins.
"""
from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

MAX_HEAD = 8192
MAX_KEY = 64  # the longest persistence key taken from a cookie value

_BLANKS = b" \t"
_REQUEST_VERSION = re.compile(rb"HTTP/\d\.\d")
_STATUS_LINE = re.compile(rb"(HTTP/\d\.\d) (\d{3})(?: |\Z)")
_URI_PARAM = re.compile(rb"[;?&]([^;?&#]*)")


class HttpStatus(enum.IntEnum):
    """The parser's verdict on a head; numbered as C's ``enum l7_status`` (csrc/l7.h)."""

    OK = 0
    NEED_MORE = 2
    MALFORMED = 4
    TOO_LONG = 5


Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class RequestResult:
    status: HttpStatus
    method: bytes = b""
    target: bytes = b""
    version: bytes = b""  # b"HTTP/1.1"
    headers: Headers = ()  # (lowercase name, value) in order
    head_len: int = 0  # bytes of the head, the empty line included
    host: bytes | None = None  # the first Host header
    cookies: tuple[tuple[bytes, bytes], ...] = ()  # (name, value) of every Cookie header


@dataclass(frozen=True, slots=True)
class ResponseResult:
    status: HttpStatus
    code: int = 0
    version: bytes = b""
    headers: Headers = ()
    head_len: int = 0
    set_cookies: tuple[tuple[bytes, bytes, bytes], ...] = ()  # (name, value, attributes)


def parse_request(data: bytes | bytearray | memoryview) -> RequestResult:
    """The request head at the start of ``data``; never raises on its content."""
    head = _head(data)
    if isinstance(head, HttpStatus):
        return RequestResult(head)
    lines = _lines(head)
    parts = head[lines[0][0]:lines[0][1]].split(b" ") if lines else []
    if len(parts) != 3 or not all(parts) or not _REQUEST_VERSION.fullmatch(parts[2]):
        return RequestResult(HttpStatus.MALFORMED, head_len=len(head))
    fields = list(_fields(head, lines))
    cookies = tuple((head[ns:ne], head[vs:ve]) for name, start, end in fields
                    if name == b"cookie" for ns, ne, vs, ve in _cookie_pairs(head, start, end))
    host = next((head[s:e] for name, s, e in fields if name == b"host"), None)
    return RequestResult(HttpStatus.OK, parts[0], parts[1], parts[2], _values(head, fields),
                         len(head), host, cookies)


def parse_response(data: bytes | bytearray | memoryview) -> ResponseResult:
    """The response head at the start of ``data``; never raises on its content."""
    head = _head(data)
    if isinstance(head, HttpStatus):
        return ResponseResult(head)
    lines = _lines(head)
    match = _STATUS_LINE.match(head, lines[0][0], lines[0][1]) if lines else None
    if match is None:
        return ResponseResult(HttpStatus.MALFORMED, head_len=len(head))
    fields = list(_fields(head, lines))
    set_cookies = tuple((head[ns:ne], head[vs:ve], head[as_:ae])
                        for ns, ne, vs, ve, as_, ae in _set_cookie_spans(head, fields))
    return ResponseResult(HttpStatus.OK, int(match[2]), match[1], _values(head, fields),
                          len(head), set_cookies)


def name_matches(name: bytes, pattern: bytes | str) -> bool:
    """Whether cookie ``name`` matches ``pattern`` (``*`` = any run; case-sensitive).  Greedy
    search of the literal pieces, no backtracking: an attacker-chosen name cannot make it slow."""
    first, *middle = _bytes(pattern).split(b"*")
    if not middle:
        return name == first
    last = middle.pop()
    if len(name) < len(first) + len(last) or not name.startswith(first) \
            or not name.endswith(last):
        return False
    pos, stop = len(first), len(name) - len(last)
    for piece in middle:
        found = name.find(piece, pos, stop)
        if found < 0:
            return False
        pos = found + len(piece)
    return True


def find_cookie(cookies: Sequence[tuple[bytes, ...]], pattern: bytes | str) -> bytes | None:
    """The value of the first cookie (or Set-Cookie triple) whose name matches ``pattern``."""
    for cookie in cookies:
        if name_matches(cookie[0], pattern):
            return cookie[1]
    return None


def persist_value(value: bytes, offset: int, length: int) -> bytes | None:
    """The persistence key inside a cookie value: ``length`` bytes (0 = to the end) from the
    1-based ``offset``, at most 64; None when the value is shorter than the offset."""
    if offset < 1 or length < 0 or len(value) < offset:
        return None
    key = value[offset - 1:offset - 1 + length] if length else value[offset - 1:]
    return bytes(key[:MAX_KEY])


def cookie_in_uri(target: bytes, name_pattern: bytes | str) -> bytes | None:
    """A cookie carried in the request target: ``;name=value`` (JSESSIONID style) or a query
    parameter ``?name=value`` / ``&name=value``, up to ``;``, ``?``, ``&``, ``#`` or the end.
    Nothing after ``#`` (the fragment) is looked at."""
    fragment = target.find(b"#")
    for match in _URI_PARAM.finditer(target, 0, len(target) if fragment < 0 else fragment):
        name, eq, value = match[1].partition(b"=")
        if eq and name_matches(name, name_pattern):
            return value
    return None


def url_hash_input(req: RequestResult, use_host: bool, limit: int = 255) -> bytes:
    """What URL hashing hashes: the request target as sent, after the Host value when
    ``use_host`` (and the request has one), at most ``limit`` bytes."""
    if req.status != HttpStatus.OK:
        return b""
    text = (req.host or b"") + req.target if use_host else req.target
    return text[:max(limit, 0)]


def add_header(head: bytes, line: bytes) -> bytes:
    """``head`` with header ``line`` added before its empty line, with the head's line ending
    (cookie insert).  ValueError if the head does not end with an empty line or ``line``
    holds a line break."""
    line = line.rstrip(b"\r\n")
    if b"\r" in line or b"\n" in line:
        raise ValueError("a header line cannot contain a line break")
    eol = b"\r\n" if head.endswith(b"\n\r\n") else b"\n" if head.endswith(b"\n\n") else None
    if eol is None:
        raise ValueError("head does not end with an empty line")
    return head[:-len(eol)] + line + eol + eol


def replace_set_cookie_value(head: bytes, name_pattern: bytes | str, new_value: bytes,
                             offset: int, length: int) -> bytes | None:
    """Cookie rewrite: ``head`` with the ``length`` bytes (0 = to the end) at the 1-based
    ``offset`` of the first matching Set-Cookie value replaced by ``new_value``.  None if no
    Set-Cookie matches or its value is shorter than the offset."""
    if any(c in new_value for c in b"\r\n;"):
        raise ValueError("a cookie value cannot contain CR, LF or ';'")
    lines = _lines(head)
    for ns, ne, vs, ve, _, _ in _set_cookie_spans(head, _fields(head, lines)):
        if name_matches(head[ns:ne], name_pattern):
            if offset < 1 or length < 0 or ve - vs < offset:
                return None
            start = vs + offset - 1
            stop = ve if length == 0 else min(start + length, ve)
            return head[:start] + new_value + head[stop:]
    return None


def _bytes(pattern: bytes | str) -> bytes:
    return pattern.encode() if isinstance(pattern, str) else bytes(pattern)


def _head(data: bytes | bytearray | memoryview) -> bytes | HttpStatus:
    """The head at the start of ``data`` (empty line included), or why there is none yet."""
    window = bytes(data[:MAX_HEAD])
    ends = [found + len(blank) for blank in (b"\n\r\n", b"\n\n")
            if (found := window.find(blank)) >= 0]
    if ends:
        return window[:min(ends)]
    return HttpStatus.TOO_LONG if len(data) >= MAX_HEAD else HttpStatus.NEED_MORE


def _lines(head: bytes) -> list[tuple[int, int]]:
    """(start, end) of each line before the empty line, without its LF and optional CR."""
    spans = []
    pos = 0
    while pos < len(head):
        nl = head.find(b"\n", pos)
        nl = len(head) if nl < 0 else nl
        end = nl - 1 if nl > pos and head[nl - 1] == 0x0D else nl
        if end == pos:
            break
        spans.append((pos, end))
        pos = nl + 1
    return spans


def _trim(buf: bytes, start: int, end: int) -> tuple[int, int]:
    while start < end and buf[start] in _BLANKS:
        start += 1
    while end > start and buf[end - 1] in _BLANKS:
        end -= 1
    return start, end


def _fields(head: bytes, lines: list[tuple[int, int]]) -> Iterator[tuple[bytes, int, int]]:
    """(lowercase name, value start, value end) of each header line after the first line."""
    for start, end in lines[1:]:
        colon = head.find(b":", start, end)
        if colon >= 0:
            yield (head[start:colon].lower(), *_trim(head, colon + 1, end))


def _values(head: bytes, fields: list[tuple[bytes, int, int]]) -> Headers:
    return tuple((name, head[start:end]) for name, start, end in fields)


def _pair(buf: bytes, start: int, end: int) -> tuple[int, int, int, int] | None:
    """Spans of name and value of a trimmed ``name=value`` pair; None without ``=``."""
    start, end = _trim(buf, start, end)
    eq = buf.find(b"=", start, end)
    return None if eq < 0 else (start, eq, eq + 1, end)


def _cookie_pairs(head: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """The pairs of one Cookie header value."""
    while start <= end:
        semi = head.find(b";", start, end)
        stop = end if semi < 0 else semi
        pair = _pair(head, start, stop)
        if pair is not None:
            yield pair
        start = stop + 1


def _set_cookie_spans(head: bytes, fields: Iterable[tuple[bytes, int, int]]
                      ) -> Iterator[tuple[int, int, int, int, int, int]]:
    """Spans of name, value and attributes of every Set-Cookie header with a ``name=value``."""
    for name, start, end in fields:
        if name != b"set-cookie":
            continue
        semi = head.find(b";", start, end)
        pair = _pair(head, start, end if semi < 0 else semi)
        if pair is not None:
            yield (*pair, *(_trim(head, semi + 1, end) if semi >= 0 else (end, end)))
