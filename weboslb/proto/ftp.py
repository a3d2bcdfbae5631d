"""FTP control lines for FTP SLB (``ftpp``): the data-connection announcements PORT, EPRT, 227
and 229, and their rewriting when the switch translates addresses.

Rules (shared with the C extractor):

* A line ends at LF; a CR before it is dropped; the content may be at most 512 bytes (a
  longer one is TOO_LONG).  ``split_lines`` keeps at most 514 bytes of an unfinished line, so
  a buffer never grows and an overlong line still comes out (as TOO_LONG) once it ends.
* Client commands, verb case-insensitive, up to the first space: ``PORT h1,h2,h3,h4,p1,p2``
  (six numbers 0-255, spaces around them tolerated); ``EPRT <d>1<d>a.b.c.d<d>port<d>`` or
  ``<d>2<d>ipv6<d>port<d>`` (d any byte 33-126, spaces around the argument tolerated, port
  0-65535; addresses as inet_pton reads them).
* Server replies, the code followed by a space, ``-`` or the end: ``227`` - the first run of
  six comma-separated numbers in the text (spaces around them tolerated, parentheses
  optional); ``229`` - ``(<d><d><d>port<d>)``, the address being the control connection's.
* Anything out of range or unparsable in these four is MALFORMED; any other line is NONE.
"""
from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass

MAX_LINE = 512
_KEEP = MAX_LINE + 2  # enough of an unfinished line to know it is too long, CR or not

_SIX = re.compile(rb"(?<!\d)(\d+) *(?:, *(\d+) *){5}")  # checked number by number below
_NUMBER = re.compile(rb"\d+")
_EPSV = re.compile(rb"\(([!-~])\1\1(\d+)\1\)")


class FtpStatus(enum.IntEnum):
    """Numbered as C's ``enum l7_status`` (csrc/l7.h)."""

    OK = 0
    NONE = 1  # not a line that announces a data connection
    MALFORMED = 4
    TOO_LONG = 5


class FtpKind(enum.IntEnum):
    PORT = 1
    EPRT = 2
    PASV227 = 3
    EPSV229 = 4


@dataclass(frozen=True, slots=True)
class FtpResult:
    status: FtpStatus
    kind: FtpKind | None = None
    family: int = 0  # 4 or 6; 0 for 229 (the control connection's address)
    addr: bytes = b""  # packed address; empty for 229
    port: int = 0
    span: tuple[int, int] = (0, 0)  # the bytes of the line rewrite_line replaces

    @property
    def ok(self) -> bool:
        return self.status == FtpStatus.OK


_NONE = FtpResult(FtpStatus.NONE)
_MALFORMED = FtpResult(FtpStatus.MALFORMED)
_TOO_LONG = FtpResult(FtpStatus.TOO_LONG)


def split_lines(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The complete lines of ``buffer`` (without LF and an optional CR) and the unfinished
    rest to prepend to the next bytes; an overlong rest is cut to 514 bytes."""
    *lines, rest = bytes(buffer).split(b"\n")
    return [line[:-1] if line.endswith(b"\r") else line for line in lines], rest[:_KEEP]


def parse_line(line: bytes, from_client: bool) -> FtpResult:
    """What a control line announces; never raises on its content."""
    line = bytes(line)
    if line.endswith(b"\n"):  # a line given with its end: drop it as split_lines does
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    if len(line) > MAX_LINE:
        return _TOO_LONG
    if from_client:
        verb, _, _ = line.partition(b" ")
        verb = verb.upper()
        start = len(verb) + 1
        if verb == b"PORT":
            return _port(line, start)
        if verb == b"EPRT":
            return _eprt(line, start)
        return _NONE
    code = line[:3]
    if len(line) > 3 and line[3:4] not in (b" ", b"-"):
        return _NONE
    if code == b"227":
        return _pasv(line)
    if code == b"229":
        return _epsv(line)
    return _NONE


def rewrite_line(line: bytes, result: FtpResult, addr: bytes, port: int) -> bytes:
    """``line`` announcing ``addr``:``port`` instead, all other text kept (229: the port only,
    it carries no address).  ValueError for a result that is not OK or an address the
    command cannot carry (PORT and 227 are IPv4 only)."""
    if result.status != FtpStatus.OK or result.kind is None:
        raise ValueError("only a parsed PORT, EPRT, 227 or 229 line can be rewritten")
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"port {port} out of range")
    if result.kind == FtpKind.EPSV229:
        text = b"%d" % port
    elif result.kind == FtpKind.EPRT:
        if len(addr) not in (4, 16):
            raise ValueError("EPRT carries an IPv4 or IPv6 address")
        d = line[result.span[0]:result.span[0] + 1]
        proto = b"1" if len(addr) == 4 else b"2"
        text = d + proto + d + str(ipaddress.ip_address(bytes(addr))).encode() + d \
            + b"%d" % port + d
    else:
        if len(addr) != 4:
            raise ValueError(f"{result.kind.name} carries an IPv4 address")
        text = b",".join(b"%d" % n for n in (*addr, port >> 8, port & 0xFF))
    start, end = result.span
    return line[:start] + text + line[end:]


def _six(line: bytes, match: re.Match[bytes] | None, kind: FtpKind) -> FtpResult:
    """A PORT or 227 result from a run of six numbers (each 0-255)."""
    if match is None:
        return _MALFORMED
    numbers = [int(n) for n in _NUMBER.findall(match[0])]
    if any(n > 255 for n in numbers):
        return _MALFORMED
    span = (match.start(1), match.start(1) + len(match[0].rstrip(b" ")))
    return FtpResult(FtpStatus.OK, kind, 4, bytes(numbers[:4]), numbers[4] << 8 | numbers[5],
                     span)


def _port(line: bytes, start: int) -> FtpResult:
    arg_end = len(line.rstrip(b" "))
    pos = start
    while pos < arg_end and line[pos] == 0x20:
        pos += 1
    return _six(line, _SIX.fullmatch(line, pos, arg_end), FtpKind.PORT)


def _pasv(line: bytes) -> FtpResult:
    return _six(line, _SIX.search(line, 4), FtpKind.PASV227)


def _eprt(line: bytes, start: int) -> FtpResult:
    end = len(line.rstrip(b" "))
    while start < end and line[start] == 0x20:
        start += 1
    arg = line[start:end]
    if len(arg) < 2 or not 33 <= arg[0] <= 126 or arg[-1] != arg[0]:
        return _MALFORMED
    fields = arg[1:-1].split(arg[:1])
    if len(fields) != 3 or fields[0] not in (b"1", b"2") or not _is_port(fields[2]):
        return _MALFORMED
    family = 4 if fields[0] == b"1" else 6
    addr = _inet_pton(family, fields[1])
    if addr is None:
        return _MALFORMED
    return FtpResult(FtpStatus.OK, FtpKind.EPRT, family, addr, int(fields[2]), (start, end))


def _epsv(line: bytes) -> FtpResult:
    match = _EPSV.search(line, 4)
    if match is None or not _is_port(match[2]):
        return _MALFORMED
    return FtpResult(FtpStatus.OK, FtpKind.EPSV229, 0, b"", int(match[2]), match.span(2))


def _is_port(text: bytes) -> bool:
    return text.isdigit() and len(text) <= 5 and int(text) <= 0xFFFF


def _inet_pton(family: int, text: bytes) -> bytes | None:
    """The packed address of ``text`` as inet_pton reads it (no zone IDs, no leading zeros in
    IPv4 numbers), or None."""
    try:
        name = text.decode("ascii")
        if family == 4:
            return ipaddress.IPv4Address(name).packed
        if "%" in name:
            return None
        return ipaddress.IPv6Address(name).packed
    except (UnicodeDecodeError, ValueError):
        return None
