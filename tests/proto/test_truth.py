"""The parsers against tshark on the real captures of ../shared/samples/pcaps: every frame's
addresses, ports and flags; every ClientHello/ServerHello session ID; every Cookie and
Set-Cookie header; every PORT/EPRT/227/229 announcement.

Addresses are the outermost IP header's (tshark lists inner ones after it, e.g. the packet an
ICMP error quotes).  TLS and HTTP are read from the reassembled bytes of each direction, as
the engine feeds them; tshark reports a message on the frame that completes it.
"""
from __future__ import annotations

import functools
import ipaddress

import pytest

from tests.proto.samples import (
    Direction, captures, captures_with, frames, tcp_directions, truth,
)
from weboslb.proto.frame import decode, payload
from weboslb.proto.ftp import FtpKind, FtpStatus, parse_line, split_lines
from weboslb.proto.http import MAX_HEAD, HttpStatus, parse_request, parse_response
from weboslb.proto.packet import Reason
from weboslb.proto.tls import HelloStatus, parse_hello

CAPTURES = captures()
TLS = captures_with("tls_full", "tls_resumed", "tls_full_resumption_refused", "tls_tls13",
                    "tls_client_hello_only")
COOKIES = captures_with("cookie_headers", "set_cookie_headers")
FTP = captures_with("ftp_PORT", "ftp_EPRT", "ftp_227", "ftp_229")
pytestmark = pytest.mark.skipif(not CAPTURES, reason="../shared/samples/pcaps is absent")
ICMP = {1, 58}


def _ip(addr: bytes) -> str:
    return str(ipaddress.ip_address(addr))


@functools.lru_cache(maxsize=2)
def _flows(name: str) -> tuple[dict, dict[int, Direction]]:
    """The capture's TCP directions, and the direction each frame belongs to."""
    flows = tcp_directions(name)
    return flows, {number: d for d in flows.values() for number in d.ranges}


@pytest.mark.parametrize("name", CAPTURES)
def test_decoder_agrees_with_tshark_on_every_frame(name):
    rows = truth(name)
    wrong = []
    for number, link, data in frames(name):
        pkt, row = decode(data, link), rows[number]
        if pkt.reason == Reason.MPLS:  # tshark looks inside MPLS, the switch does not
            ok = {"0x8847", "0x8848"} & set(row["eth.type"])
        elif pkt.family == 0:
            ok = not (row["ip.src"] or row["ipv6.src"])
        else:
            col = "ip" if pkt.family == 4 else "ipv6"
            ok = [_ip(pkt.src), _ip(pkt.dst)] == row[f"{col}.src"][:1] + row[f"{col}.dst"][:1]
        if pkt.reason == Reason.OK and pkt.proto == 6:
            ok = ok and [pkt.sport, pkt.dport, pkt.flags] == [int(row["tcp.srcport"][0]),
                                                              int(row["tcp.dstport"][0]),
                                                              int(row["tcp.flags"][0], 16)]
        elif row["tcp.srcport"]:  # tshark shows a TCP header: the one an ICMP error quotes
            ok = ok and pkt.reason == Reason.NOT_TCP_UDP and pkt.proto in ICMP
        if not ok:
            wrong.append((number, pkt, {k: v for k, v in row.items() if v and k[:3] in
                                        ("eth", "ip.", "ipv", "tcp")}))
    assert wrong == []


def _hellos(row: dict[str, list[str]]) -> list[tuple[int, str]]:
    """(handshake type, session ID hex) of each ClientHello/ServerHello tshark saw in a frame
    (the session ID column skips empty IDs: align through the lengths)."""
    types = [int(t) for t in row["tls.handshake.type"] if t in ("1", "2")]
    lengths = [int(n) for n in row["tls.handshake.session_id_length"]]
    assert len(types) == len(lengths)
    ids = iter(row["tls.handshake.session_id"])
    return [(t, next(ids).replace(":", "") if n else "") for t, n in zip(types, lengths)]


@pytest.mark.parametrize("name", TLS)
def test_tls_session_ids_agree_with_tshark(name):
    rows = truth(name)
    reported = [(number, hello) for number, row in rows.items() for hello in _hellos(row)]
    assert reported
    flows, direction_of = _flows(name)
    seen: set[int] = set()
    wrong = []
    for number, (kind, sid) in reported:
        direction = direction_of[number]
        if id(direction) not in seen:  # the first hello of a direction: from its first byte
            seen.add(id(direction))
            result = parse_hello(direction.stream())
        else:  # a later hello: from the record that starts the reporting segment
            start, run, lo, hi = direction.block_of(number)
            result = parse_hello(run[lo - start:])
        got = (result.status, result.hello and (result.hello.kind, result.hello.session_id.hex()))
        if got != (HelloStatus.OK, (kind, sid)):
            wrong.append((number, kind, sid, result))
    assert wrong == []


def _heads_ending_in(direction: Direction, number: int):
    """Every request/response head that ends inside frame ``number``'s bytes (tshark shows a
    head on the frame that completes it), found at the line starts before it."""
    start, run, lo, hi = direction.block_of(number)
    lo, hi = lo - start, hi - start
    starts = {0} | {i + 1 for i in range(max(0, lo - MAX_HEAD), hi) if run[i] == 0x0A}
    for at in sorted(s for s in starts if s < hi):
        for parse in (parse_request, parse_response):
            head = parse(run[at:])
            if head.status == HttpStatus.OK and lo < at + head.head_len <= hi:
                yield head


def _pairs(header: bytes) -> list[tuple[bytes, bytes]]:
    """The test's own reading of a Cookie value (the spec, said plainly)."""
    pairs = [p.strip(b" \t").split(b"=", 1) for p in header.split(b";")]
    return [(p[0], p[1]) for p in pairs if len(p) == 2]


@pytest.mark.parametrize("name", COOKIES)
def test_every_cookie_header_tshark_shows_is_found(name):
    rows = truth(name)
    reported = {n: (row["nodesegbody.http.cookie"], row["nodesegbody.http.set_cookie"])
                for n, row in rows.items()
                if row["nodesegbody.http.cookie"] or row["nodesegbody.http.set_cookie"]}
    assert reported
    _, direction_of = _flows(name)
    missing = []
    for number, (cookies, set_cookies) in reported.items():
        heads = list(_heads_ending_in(direction_of[number], number))
        found = {(name, value) for h in heads for name, value in h.headers}
        parsed = {c for h in heads for c in getattr(h, "cookies", ())}
        parsed_set = {c[:2] for h in heads for c in getattr(h, "set_cookies", ())}
        for column, values in (("cookie", cookies), ("set-cookie", set_cookies)):
            for value in values:
                raw = value.encode("utf-8", "surrogateescape")
                pairs = _pairs(raw) if column == "cookie" else _pairs(raw.split(b";")[0])
                if (column.encode(), raw) not in found or \
                        not set(pairs) <= (parsed if column == "cookie" else parsed_set):
                    missing.append((number, column, value))
    assert missing == []


FTP_COLUMNS = [(FtpKind.PORT, ("ftp.active.cip",), "ftp.active.port"),
               (FtpKind.EPRT, ("ftp.eprt.ip", "ftp.eprt.ipv6"), "ftp.eprt.port"),
               (FtpKind.PASV227, ("ftp.passive.ip",), "ftp.passive.port"),
               (FtpKind.EPSV229, (), "ftp.epsv.port")]  # 229: the control connection's address


def _announced(row: dict[str, list[str]]) -> list[tuple[FtpKind, str, int]]:
    out = []
    for kind, ip_columns, port_column in FTP_COLUMNS:
        ips = [ip for column in ip_columns for ip in row[column]] or [""] * len(row[port_column])
        out += [(kind, ip, int(port)) for ip, port in zip(ips, row[port_column])]
    return sorted(out)


@pytest.mark.parametrize("name", FTP)
def test_ftp_announcements_agree_with_tshark(name):
    rows = truth(name)
    checked, wrong = 0, []
    for number, link, data in frames(name):
        row = rows[number]
        if not (row["ftp.request.command"] or row["ftp.response.code"]):
            continue
        lines, _ = split_lines(payload(data, decode(data, link)))
        results = [r for r in (parse_line(line, bool(row["ftp.request.command"]))
                               for line in lines) if r.status != FtpStatus.NONE]
        got = sorted((r.kind, _ip(r.addr) if r.addr else "", r.port) for r in results)
        expected = _announced(row)
        checked += len(expected)
        if got != expected or any(r.status != FtpStatus.OK for r in results):
            wrong.append((number, expected, results))
    assert wrong == [] and checked
