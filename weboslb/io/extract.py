"""``weboslb extract CAPTURE ...``: the persistence keys the switch sees, one TSV row each.

A row is one message the switch reads a key from: a client's SYN (the client IP), an HTTP
request head (Cookie) or response head (Set-Cookie), a TLS ClientHello or ServerHello (the
session ID), an FTP command or reply line (PORT, EPRT, 227 and 229 announce a data endpoint).
Several captures are merged by time; ``frame`` is the 1-based number in the row's capture.

Each direction of a TCP connection is read as a byte stream, as tshark does with its default
reassembly: a head or hello spread over several segments is reported on the frame that
completes it, a retransmission adds nothing, and a segment after bytes the capture lost starts
afresh (it is not held back waiting for them).  A packet carrying several messages (pipelined
requests, several FTP lines) gives several rows with the same ``frame``.  The bounds are the
switch's: an HTTP head is read up to 8 KB (``http.MAX_HEAD``) and a hello up to
``REQUEST_LIMIT`` (8 KB); only the first hello of each direction is read, as ``pbind sslid``,
and it is reported once the hello message is complete (tshark waits for the end of the TLS
record, which may hold more handshake messages).  UDP is not read.

What a direction carries is decided from its first payload, the way a switch configured for
each service would read it: port 21 is FTP control; bytes that start a TLS record (or an SSLv2
hello) are TLS; anything else is HTTP, where a message is looked for at the start of a segment
that begins like one (a method token, or ``HTTP/``) and after each message of known length.
Connections to an announced FTP data endpoint are not read.  The parsing is the switch's own
(``weboslb.proto``); only the stream bookkeeping lives here.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field, fields
from typing import TextIO

from weboslb.engine.l7 import REQUEST_LIMIT
from weboslb.io.capture import Capture, CaptureError, merge, open_capture
from weboslb.proto import ftp, http, tls
from weboslb.proto.frame import decode
from weboslb.proto.packet import Reason, TcpFlag

FTP_CONTROL_PORT = 21
KINDS = ("syn", "http-request", "http-response", "tls-client-hello", "tls-server-hello",
         "ftp-command", "ftp-reply", "ftp-data-endpoint")
FAMILIES = ("http", "tls", "ftp")  # --kind tls = every tls-* kind
MAX_PENDING_METHODS = 64  # requests awaiting a response on one connection (pipelining)

_SEQ = 0xFFFFFFFF
_HALF = 0x80000000
_SYN, _ACK, _FIN, _RST = TcpFlag.SYN, TcpFlag.ACK, TcpFlag.FIN, TcpFlag.RST
# how a request line starts: an upper-case method (GET, CCM_POST, M-SEARCH ...) and a space
_METHOD = re.compile(rb"[A-Z][!#$%&'*+.^_`|~0-9A-Z-]{0,31}(?: |\Z)")
_VERSIONS = {0x0002: "SSL2.0", 0x0300: "SSL3.0", 0x0301: "TLS1.0", 0x0302: "TLS1.1",
             0x0303: "TLS1.2", 0x0304: "TLS1.3"}


@dataclass(frozen=True, slots=True)
class Row:
    """One message carrying a persistence key.  Text fields are str decoded from the wire
    with ``surrogateescape`` (lossless); ``write_tsv`` escapes them."""

    capture: str
    frame: int
    time: float
    src: str
    sport: int
    dst: str
    dport: int
    kind: str
    client_ip: str  # the connection's client: sender of the SYN
    http: str = ""  # "METHOD target" of a request, the status code of a response
    cookie: str = ""  # the Cookie pairs, "name=value; name=value"
    set_cookie: str = ""  # the name=value of each Set-Cookie header, joined by "; "
    tls_version: str = ""  # the hello's legacy version: TLS1.0, TLS1.2 ...
    tls_session_id: str = ""  # lowercase hex; empty when the hello carries none
    ftp: str = ""  # the control line
    data_endpoint: str = ""  # addr:port ([v6]:port) a PORT/EPRT/227/229 announces
    note: str = ""  # malformed, too-long, tls1.3, begins at frame N, ftp-data of frame N


COLUMNS = tuple(f.name for f in fields(Row))


@dataclass(slots=True)
class Progress:
    """What ``rows`` read: frames delivered, and the captures that could not be read whole."""

    frames: int = 0
    errors: list[CaptureError] = field(default_factory=list)


def rows(paths: Iterable[str | os.PathLike], progress: Progress | None = None) -> Iterator[Row]:
    """The rows of the captures ``paths``, merged by time.

    With ``progress``, a capture that cannot be opened or read on is recorded there and the
    others go on; without, its ``CaptureError`` is raised (after the rows before the bad spot).
    ValueError if a capture is named twice (frame numbers would be ambiguous).
    """
    captures: list[Capture] = []
    try:
        for path in paths:
            try:
                captures.append(open_capture(path))
            except CaptureError as exc:
                if progress is None:
                    raise
                progress.errors.append(exc)
        names = [c.path for c in captures]
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"{twice}: named twice")
        extractor = _Extractor()
        numbered = dict.fromkeys(names, 0)
        for batch in merge(captures):
            first = numbered[batch.path]
            numbered[batch.path] = first + len(batch)
            if progress is not None:
                progress.frames += len(batch)
            times = batch.times
            for i in range(len(batch)):
                yield from extractor.frame(batch.path, first + i + 1, times[i], batch.frame(i),
                                           batch.link(i))
        errors = [c.error for c in captures if c.error is not None]
        if progress is not None:
            progress.errors.extend(errors)
        elif errors:
            raise errors[0]
    finally:
        for capture in captures:
            capture.close()


def write_tsv(rows: Iterable[Row], out: TextIO, *, header: bool = True,
              capture: bool = False) -> int:
    """Write ``rows`` as TSV (a header line first unless told not to; the ``capture`` column
    only when asked, for several captures).  Tabs, line breaks, backslashes and bytes that are
    not UTF-8 are escaped (``\\t``, ``\\n``, ``\\r``, ``\\\\``, ``\\xNN``).  Returns the rows."""
    columns = COLUMNS if capture else COLUMNS[1:]
    if header:
        out.write("\t".join(columns) + "\n")
    count = 0
    for row in rows:
        out.write("\t".join(_cell(getattr(row, c)) for c in columns) + "\n")
        count += 1
    return count


# ---- the command line ----------------------------------------------------------------------

_DESCRIPTION = """\
Print, as TSV, the persistence keys the switch sees in CAPTURE (pcap or pcapng; '-' reads
standard input): client IP on each SYN, HTTP Cookie and Set-Cookie, TLS hello session IDs, FTP
commands, replies and announced data endpoints.  One row per message, on the frame that
completes it; several captures are merged by time.  Columns: see docs/extract.md."""


def add_parser(sub) -> None:
    p = sub.add_parser("extract", help="print the persistence keys found in captures, as TSV",
                       description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("captures", nargs="+", metavar="CAPTURE")
    p.add_argument("--kind", action="append", type=_kinds, metavar="KIND[,KIND...]",
                   help="only these kinds (repeatable): " + ", ".join(KINDS)
                   + "; or a family: " + ", ".join(FAMILIES))
    p.add_argument("--no-header", action="store_true", help="no column-name line")
    p.set_defaults(run=run)


def run(args) -> int:
    from weboslb.main import UsageError

    twice = {name for name in args.captures if args.captures.count(name) > 1}
    if twice:
        raise UsageError(f"{min(twice)}: named twice")
    wanted = set().union(*args.kind) if args.kind else None
    progress = Progress()
    out = sys.stdout
    with suppress(AttributeError, ValueError):  # not a TextIOWrapper: leave it be
        out.reconfigure(errors="backslashreplace")
    found = rows(args.captures, progress)
    if wanted is not None:
        found = (r for r in found if r.kind in wanted)
    try:
        write_tsv(found, out, header=not args.no_header, capture=len(args.captures) > 1)
        out.flush()
    except BrokenPipeError:  # `| head`: the reader has all it wants
        with suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 0
    for error in progress.errors:
        print(f"weboslb extract: {error}", file=sys.stderr)
    return 1 if progress.errors and not progress.frames else 0


def _kinds(text: str) -> set[str]:
    chosen: set[str] = set()
    for word in filter(None, (w.strip() for w in text.split(","))):
        if word in KINDS:
            chosen.add(word)
        elif word in FAMILIES:
            chosen.update(k for k in KINDS if k.startswith(word + "-"))
        else:
            raise argparse.ArgumentTypeError(f"unknown kind {word!r} (one of {', '.join(KINDS)}"
                                             f"; or {', '.join(FAMILIES)})")
    if not chosen:
        raise argparse.ArgumentTypeError("no kind given")
    return chosen


# ---- text ----------------------------------------------------------------------------------

_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_SPECIAL = re.compile("[\\\\\x00-\x1f\x7f\udc80-\udcff]")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, str):
        return _SPECIAL.sub(_escape, value)
    return str(value)


def _escape(match: re.Match[str]) -> str:
    c = match[0]
    return _ESCAPES.get(c) or f"\\x{ord(c) & 0xFF:02x}"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _pairs(pairs: Iterable[tuple[bytes, ...]]) -> str:
    return "; ".join(_text(p[0] + b"=" + p[1]) for p in pairs)


def _addr(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed))


def _endpoint(packed: bytes, port: int) -> str:
    return f"[{_addr(packed)}]:{port}" if len(packed) == 16 else f"{_addr(packed)}:{port}"


def _version(version: int) -> str:
    return _VERSIONS.get(version, f"0x{version:04x}")


# ---- messages -> row fields ----------------------------------------------------------------

Fields = dict[str, str]
# The parsers share C's l7_status numbers; NEED_MORE gets here only at the bound.
_STATUS_NOTES = {http.HttpStatus.NEED_MORE: "too-long", http.HttpStatus.MALFORMED: "malformed",
                 http.HttpStatus.TOO_LONG: "too-long"}


def _request(r: http.RequestResult) -> Fields:
    if r.status != http.HttpStatus.OK:
        return {"kind": "http-request", "note": _STATUS_NOTES[r.status]}
    return {"kind": "http-request", "http": _text(r.method + b" " + r.target),
            "cookie": _pairs(r.cookies)}


def _response(r: http.ResponseResult) -> Fields:
    if r.status != http.HttpStatus.OK:
        return {"kind": "http-response", "note": _STATUS_NOTES[r.status]}
    return {"kind": "http-response", "http": str(r.code), "set_cookie": _pairs(r.set_cookies)}


def _hello(r: tls.HelloResult, from_client: bool) -> Fields:
    hello = r.hello
    if hello is None:  # malformed, or no hello within the bound
        return {"kind": "tls-client-hello" if from_client else "tls-server-hello",
                "note": _STATUS_NOTES[r.status]}
    kind = "tls-client-hello" if hello.kind == tls.HelloKind.CLIENT else "tls-server-hello"
    return {"kind": kind, "tls_version": _version(hello.version),
            "tls_session_id": hello.session_id.hex(), "note": "tls1.3" if hello.tls13 else ""}


def _ftp_line(line: bytes, r: ftp.FtpResult, from_client: bool, addr: bytes) -> Fields:
    if r.ok:
        return {"kind": "ftp-data-endpoint", "ftp": _text(line),
                "data_endpoint": _endpoint(addr, r.port)}
    return {"kind": "ftp-command" if from_client else "ftp-reply", "ftp": _text(line),
            "note": _STATUS_NOTES.get(r.status, "")}


# ---- one direction of a connection, read as a stream ---------------------------------------

class _HttpReader:
    """Request heads (client side) or response heads (server side), message after message:
    a body of known length is passed over; after one of unknown length (chunked, until close)
    or a bad head, the next message is looked for at the start of a segment."""

    def __init__(self, response: bool, methods: deque[bytes]) -> None:
        self.response, self.methods = response, methods
        self.head = bytearray()
        self.began = 0  # frame where the head being gathered began
        self.skip = 0  # body bytes still to pass over
        self.sync = True  # waiting for a segment that starts like a message

    def gap(self) -> None:
        self.head.clear()
        self.skip, self.sync = 0, True

    def feed(self, data: bytes, at_start: bool, frame: int) -> list[Fields]:
        out: list[Fields] = []
        if self.sync:
            if not (at_start and self._starts(data)):
                return out
            self.sync = False
        pos, end = 0, len(data)
        while pos < end:
            if self.skip:
                step = min(self.skip, end - pos)
                self.skip -= step
                pos += step
                continue
            if not self.head:
                while pos < end and data[pos] in b"\r\n":  # blank lines between messages
                    pos += 1
                if pos == end:
                    break
                if not self._starts(data[pos:pos + 40]):
                    self.sync = True
                    break
                self.began = frame
            before = len(self.head)
            taken = min(end - pos, http.MAX_HEAD - before)
            self.head += data[pos:pos + taken]
            result = (http.parse_response if self.response else http.parse_request)(self.head)
            if result.status == http.HttpStatus.NEED_MORE:
                pos += taken
                continue
            self.head.clear()
            row = _response(result) if self.response else _request(result)
            if self.began != frame:
                row["note"] = _join(row.get("note", ""), f"begins at frame {self.began}")
            out.append(row)
            if result.status != http.HttpStatus.OK:
                self.sync = True
                break
            pos += result.head_len - before
            self._body(result)
        return out

    def _starts(self, data: bytes) -> bool:
        if self.response:
            return data[:5] == b"HTTP/"[:len(data[:5])]
        return _METHOD.match(data) is not None

    def _body(self, r: http.RequestResult | http.ResponseResult) -> None:
        """Where the next message starts: after ``skip`` bytes, or at a segment start."""
        headers = dict(reversed(r.headers))  # the first of each name
        if self.response:
            if 100 <= r.code < 200:  # interim: the final response follows
                return
            method = self.methods.popleft() if self.methods else b""
            if method == b"HEAD" or r.code in (204, 304):
                return
        else:
            if len(self.methods) < MAX_PENDING_METHODS:
                self.methods.append(r.method)
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            self.sync = True
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit():
            self.skip = int(length)
        elif self.response or length is not None:  # until close, or a length we cannot read
            self.sync = True


class _TlsReader:
    """The first hello of the direction (what ``pbind sslid`` reads), up to REQUEST_LIMIT."""

    def __init__(self, from_client: bool) -> None:
        self.from_client = from_client
        self.buf = bytearray()
        self.began = 0
        self.done = False

    def gap(self) -> None:
        if self.buf:  # part of the hello is lost: nothing to read any more
            self.done, self.buf = True, bytearray()

    def feed(self, data: bytes, at_start: bool, frame: int) -> list[Fields]:
        if self.done:
            return []
        if not self.buf:
            self.began = frame
        self.buf += data[:REQUEST_LIMIT - len(self.buf)]
        result = tls.parse_hello(self.buf)
        if result.status == tls.HelloStatus.NEED_MORE and len(self.buf) < REQUEST_LIMIT:
            return []
        self.done, self.buf = True, bytearray()
        if result.status == tls.HelloStatus.NOT_TLS:
            return []
        row = _hello(result, self.from_client)
        if self.began != frame:
            row["note"] = _join(row.get("note", ""), f"begins at frame {self.began}")
        return [row]


class _FtpReader:
    """FTP control lines: every client command, every server line that starts with a code.
    The data endpoints announced go to ``endpoints`` (a 229 names the server's address)."""

    def __init__(self, from_client: bool, server: bytes,
                 endpoints: dict[tuple[bytes, int], int]) -> None:
        self.from_client, self.server, self.endpoints = from_client, server, endpoints
        self.rest = b""
        self.began = 0

    def gap(self) -> None:
        self.rest = b""

    def feed(self, data: bytes, at_start: bool, frame: int) -> list[Fields]:
        if not self.rest:
            self.began = frame
        lines, self.rest = ftp.split_lines(self.rest + data)
        out = []
        for line in lines:
            if (self.from_client and line) or _reply_line(line):
                result = ftp.parse_line(line, self.from_client)
                addr = result.addr or self.server
                if result.ok:
                    self.endpoints[(addr, result.port)] = frame
                row = _ftp_line(line, result, self.from_client, addr)
                if self.began != frame:
                    row["note"] = _join(row.get("note", ""), f"begins at frame {self.began}")
                out.append(row)
            self.began = frame
        return out


def _reply_line(line: bytes) -> bool:
    return line[:3].isdigit() and len(line) >= 3 and line[3:4] in (b"", b" ", b"-")


def _join(*notes: str) -> str:
    return ", ".join(n for n in notes if n)


Reader = _HttpReader | _TlsReader | _FtpReader


@dataclass(slots=True)
class _Direction:
    next: int | None = None  # the sequence number of the next byte to read
    reader: Reader | None = None


@dataclass(slots=True)
class _Flow:
    """One TCP connection: who the client is, and a reader per direction."""

    client: tuple[bytes, int]
    server: tuple[bytes, int]
    syn: int | None = None  # the client's initial sequence number, when its SYN was seen
    ftp_data: bool = False  # to an announced FTP data endpoint: not read
    fins: int = 0  # bit 1: the client's FIN, bit 2: the server's
    closed: bool = False
    methods: deque[bytes] | None = None  # request methods awaiting a response (HEAD)
    to_server: _Direction = field(default_factory=_Direction)
    to_client: _Direction = field(default_factory=_Direction)


class _Extractor:
    """Frames in, rows out: the connection table and the FTP data endpoints announced."""

    def __init__(self) -> None:
        self.flows: dict[tuple, _Flow] = {}
        self.endpoints: dict[tuple[bytes, int], int] = {}  # (addr, port) -> announcing frame

    def frame(self, capture: str, number: int, time: float, data, link: int) -> list[Row]:
        pkt = decode(data, link)
        if pkt.reason != Reason.OK or pkt.proto != 6:
            return []
        src, dst = (pkt.src, pkt.sport), (pkt.dst, pkt.dport)
        key = (src, dst) if src <= dst else (dst, src)
        flags = pkt.flags
        flow = self.flows.get(key)
        messages: list[Fields] = []
        if flags & _SYN and not flags & _ACK:
            if flow is None or flow.closed or (flow.client, flow.syn) != (src, pkt.seq):
                flow = self.flows[key] = _Flow(src, dst, syn=pkt.seq)
                announced = self.endpoints.get(dst)
                flow.ftp_data = announced is not None
                messages.append({"kind": "syn", "note": f"ftp-data of frame {announced}"
                                 if announced is not None else ""})
        elif flags & _SYN and flow is None:  # SYN+ACK: the receiver is the client
            flow = self.flows[key] = _Flow(dst, src)
        if flow is None:
            if not pkt.payload_len:
                return []
            flow = self.flows[key] = _Flow(*_guess_client(src, dst))
        if flow.closed:
            return []
        from_client = src == flow.client
        if pkt.payload_len or flags & _SYN:
            payload = bytes(data[pkt.payload_off:pkt.payload_off + pkt.payload_len])
            messages += self._stream(flow, from_client, pkt.seq, flags, payload, number)
        if flags & _RST:
            flow.closed = True
        elif flags & _FIN:
            flow.fins |= 1 if from_client else 2
            flow.closed = flow.fins == 3
        if flow.closed:  # kept, small, so that late retransmissions stay retransmissions
            flow.to_server, flow.to_client, flow.methods = _Direction(), _Direction(), None
        if not messages:
            return []
        where = (capture, number, time, _addr(pkt.src), pkt.sport, _addr(pkt.dst), pkt.dport)
        client = _addr(flow.client[0])
        return [Row(*where, client_ip=client, **m) for m in messages]

    def _stream(self, flow: _Flow, from_client: bool, seq: int, flags: int, data: bytes,
                frame: int) -> list[Fields]:
        d = flow.to_server if from_client else flow.to_client
        if flags & _SYN:
            seq = (seq + 1) & _SEQ
            if d.next is None or d.reader is None:
                d.next = seq
        if not data:
            return []
        if d.next is None:
            d.next = seq
        at_start = True
        ahead = (seq - d.next) & _SEQ
        if ahead >= _HALF:  # it begins with bytes already read: a retransmission
            behind = (d.next - seq) & _SEQ
            if behind >= len(data):
                return []
            data, at_start = data[behind:], False
        elif ahead:  # the capture lost the bytes before it
            if d.reader is not None:
                d.reader.gap()
            d.next = seq
        d.next = (d.next + len(data)) & _SEQ
        if d.reader is None:
            d.reader = self._reader(flow, from_client, data)
            if d.reader is None:
                return []
        return d.reader.feed(data, at_start, frame)

    def _reader(self, flow: _Flow, from_client: bool, first: bytes) -> Reader | None:
        if flow.ftp_data:
            return None
        if flow.server[1] == FTP_CONTROL_PORT:
            return _FtpReader(from_client, flow.server[0], self.endpoints)
        if tls.parse_hello(first).status != tls.HelloStatus.NOT_TLS:
            return _TlsReader(from_client)
        if flow.methods is None:
            flow.methods = deque()
        return _HttpReader(not from_client, flow.methods)


def _guess_client(a: tuple[bytes, int], b: tuple[bytes, int]
                  ) -> tuple[tuple[bytes, int], tuple[bytes, int]]:
    """(client, server) of a connection first seen without its SYN, ``a`` its first sender:
    the side on a well-known port (below 1024) is the server; failing that, ``a`` is the
    client."""
    return (b, a) if a[1] < 1024 <= b[1] else (a, b)
