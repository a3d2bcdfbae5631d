"""FTP control lines: the data-connection announcements FTP SLB follows, and their rewriting."""
from __future__ import annotations

import pytest

from weboslb.proto.ftp import (
    MAX_LINE, FtpKind, FtpResult, FtpStatus, parse_line, rewrite_line, split_lines,
)

V6 = bytes.fromhex("20010470486700990000000000000021")
LOOP6 = bytes(15) + b"\x01"


def test_split_lines_on_lf_dropping_one_cr():
    assert split_lines(b"USER a\r\nPASS b\nSYST\r\r\nPWD") == \
        ([b"USER a", b"PASS b", b"SYST\r"], b"PWD")
    assert split_lines(b"") == ([], b"")
    assert split_lines(b"NOOP\r\n") == ([b"NOOP"], b"")


def test_an_overlong_line_is_bounded_and_reported_once_it_ends():
    rest = b""
    for _ in range(10):  # 10 kB without a line end: the kept rest never grows past 514
        lines, rest = split_lines(rest + b"x" * 1000)
        assert lines == [] and len(rest) == MAX_LINE + 2
    lines, rest = split_lines(rest + b"yyy\r\nPORT 1,2,3,4,0,21\r\n")
    assert [parse_line(line, True).status for line in lines] == [FtpStatus.TOO_LONG,
                                                                  FtpStatus.OK]


@pytest.mark.parametrize("content,status", [
    (b"x" * MAX_LINE, FtpStatus.NONE),
    (b"x" * (MAX_LINE + 1), FtpStatus.TOO_LONG),
])
def test_the_512_byte_bound_counts_the_content_without_cr_lf(content, status):
    lines, rest = split_lines(content + b"\r\n")
    assert [parse_line(line, True).status for line in lines] == [status] and rest == b""


CLIENT = [
    ("port", b"PORT 141,142,220,235,131,46", (FtpKind.PORT, 4, bytes([141, 142, 220, 235]),
                                             131 * 256 + 46)),
    ("port-lowercase-spaces", b"port  10 , 0,0 ,1, 4,5  ", (FtpKind.PORT, 4, bytes([10, 0, 0, 1]),
                                                            1029)),
    ("port-zero", b"Port 0,0,0,0,0,0", (FtpKind.PORT, 4, bytes(4), 0)),
    ("port-with-crlf", b"PORT 1,2,3,4,255,255\r\n", (FtpKind.PORT, 4, bytes([1, 2, 3, 4]),
                                                     65535)),
    ("eprt-v4", b"EPRT |1|132.235.1.2|6275|", (FtpKind.EPRT, 4, bytes([132, 235, 1, 2]), 6275)),
    ("eprt-v6", b"EPRT |2|2001:470:4867:99::21|49189|", (FtpKind.EPRT, 6, V6, 49189)),
    ("eprt-other-delimiter", b"eprt !2!::1!0!", (FtpKind.EPRT, 6, LOOP6, 0)),
    ("eprt-spaces-around", b"EPRT   |1|10.0.0.1|65535|  ", (FtpKind.EPRT, 4,
                                                            bytes([10, 0, 0, 1]), 65535)),
    ("eprt-v4-mapped", b"EPRT |2|::ffff:10.0.0.1|21|", (FtpKind.EPRT, 6,
                                                         bytes(10) + b"\xff\xff\x0a\0\0\x01",
                                                         21)),
]

SERVER = [
    ("227", b"227 Entering Passive Mode (192,168,0,193,28,86).",
     (FtpKind.PASV227, 4, bytes([192, 168, 0, 193]), 28 * 256 + 86)),
    ("227-no-parentheses", b"227 Entering Passive Mode 10,0,0,1,4,5",
     (FtpKind.PASV227, 4, bytes([10, 0, 0, 1]), 1029)),
    ("227-spaces", b"227 =( 10, 0, 0, 1, 4, 5 )", (FtpKind.PASV227, 4, bytes([10, 0, 0, 1]),
                                                   1029)),
    ("227-first-run-of-six", b"227 v1,2,3 mode (10,0,0,2,0,20),(9,9,9,9,9,9)",
     (FtpKind.PASV227, 4, bytes([10, 0, 0, 2]), 20)),
    ("227-continuation-line", b"227-Passive (1,2,3,4,5,6)", (FtpKind.PASV227, 4,
                                                            bytes([1, 2, 3, 4]), 1286)),
    ("229", b"229 Entering Extended Passive Mode (|||57086|)", (FtpKind.EPSV229, 0, b"", 57086)),
    ("229-other-delimiter", b"229 ok (!!!21!)", (FtpKind.EPSV229, 0, b"", 21)),
]


@pytest.mark.parametrize("line,expected", [c[1:] for c in CLIENT], ids=[c[0] for c in CLIENT])
def test_client_announcements(line, expected):
    result = parse_line(line, from_client=True)
    assert (result.status, result.kind, result.family, result.addr, result.port) == \
        (FtpStatus.OK, *expected)
    assert parse_line(line, from_client=False).status == FtpStatus.NONE


@pytest.mark.parametrize("line,expected", [s[1:] for s in SERVER], ids=[s[0] for s in SERVER])
def test_server_announcements(line, expected):
    result = parse_line(line, from_client=False)
    assert (result.status, result.kind, result.family, result.addr, result.port) == \
        (FtpStatus.OK, *expected)
    assert parse_line(line, from_client=True).status == FtpStatus.NONE


MALFORMED_CLIENT = [
    b"PORT", b"PORT ", b"PORT 1,2,3,4,5", b"PORT 1,2,3,4,5,6,7", b"PORT 1,2,3,4,5,256",
    b"PORT 1,2,3,4,5,-6", b"PORT a,b,c,d,e,f", b"PORT 1,2,3,4,5,6 extra", b"PORT 1,,3,4,5,6",
    b"PORT 1.2.3.4,5,6", b"PORT 1,2,3,4,5,\t6",
    b"EPRT", b"EPRT |1|10.0.0.1|21", b"EPRT |3|10.0.0.1|21|", b"EPRT |1|::1|21|",
    b"EPRT |2|10.0.0.1|21|", b"EPRT |1|10.0.0.256|21|", b"EPRT |1|10.0.0.01|21|",
    b"EPRT |1|10.0.0.1|65536|", b"EPRT |1|10.0.0.1||", b"EPRT |1|10.0.0.1|2x|",
    b"EPRT |2|fe80::1%eth0|21|", b"EPRT |2|1::2::3|21|", b"EPRT |1|10.0.0.1|21|x",
    b"EPRT \x7f1\x7f10.0.0.1\x7f21\x7f", b"EPRT |1|10.0.0.1|21|21|", b"EPRT |1|\xff|21|",
]


@pytest.mark.parametrize("line", MALFORMED_CLIENT)
def test_unparsable_client_announcements(line):
    assert parse_line(line, from_client=True) == FtpResult(FtpStatus.MALFORMED)


MALFORMED_SERVER = [
    b"227", b"227 Entering Passive Mode", b"227 Entering Passive Mode (10,0,0,1,4)",
    b"227 (10,0,0,1,4,256)", b"227 (300,0,0,1,4,5)", b"229 Entering Extended Passive Mode",
    b"229 (|||65536|)", b"229 (|||port|)", b"229 (||21|)", b"229 (|||21|", b"229 (| | |21|)",
    b"229 ( |||21|)",
]


@pytest.mark.parametrize("line", MALFORMED_SERVER)
def test_unparsable_server_announcements(line):
    assert parse_line(line, from_client=False) == FtpResult(FtpStatus.MALFORMED)


@pytest.mark.parametrize("line,from_client", [
    (b"USER anonymous", True), (b"PASV", True), (b"EPSV", True), (b"EPSV ALL", True),
    (b"RETR file.txt", True), (b"PORTS 1,2,3,4,5,6", True), (b"", True), (b" PORT 1,2,3,4,5,6",
                                                                         True),
    (b"220 ready", False), (b"2270 (1,2,3,4,5,6)", False), (b"228 (1,2,3,4,5,6)", False),
    (b"227x(1,2,3,4,5,6)", False), (b"150 Opening BINARY mode data connection", False),
    (b"", False), (b"22", False),
])
def test_other_lines_announce_nothing(line, from_client):
    assert parse_line(line, from_client) == FtpResult(FtpStatus.NONE)


@pytest.mark.parametrize("line,from_client,addr,port,out", [
    (b"PORT 10,0,0,1,4,5", True, bytes([192, 0, 2, 7]), 5000, b"PORT 192,0,2,7,19,136"),
    (b"port  10 , 0,0 ,1, 4,5  ", True, bytes([1, 2, 3, 4]), 258, b"port  1,2,3,4,1,2  "),
    (b"227 Entering Passive Mode (192,168,0,193,28,86).\r\n", False, bytes([203, 0, 113, 9]),
     21, b"227 Entering Passive Mode (203,0,113,9,0,21).\r\n"),
    (b"EPRT |1|10.0.0.1|6275|", True, V6, 1024, b"EPRT |2|2001:470:4867:99::21|1024|"),
    (b"EPRT !2!::1!0!", True, bytes([10, 1, 2, 3]), 80, b"EPRT !1!10.1.2.3!80!"),
    (b"229 Entering Extended Passive Mode (|||57086|)", False, b"", 40000,
     b"229 Entering Extended Passive Mode (|||40000|)"),
])
def test_rewrite_keeps_the_text_around_the_address(line, from_client, addr, port, out):
    new = rewrite_line(line, parse_line(line, from_client), addr, port)
    assert new == out
    result = parse_line(new, from_client)
    assert (result.status, result.port) == (FtpStatus.OK, port)
    if addr:
        assert result.addr == addr


@pytest.mark.parametrize("line,from_client,addr,port", [
    (b"PORT 10,0,0,1,4,5", True, V6, 21),
    (b"227 (10,0,0,1,4,5)", False, b"\x01\x02", 21),
    (b"EPRT |1|10.0.0.1|6275|", True, b"abc", 21),
    (b"PORT 10,0,0,1,4,5", True, bytes(4), 65536),
    (b"USER x", True, bytes(4), 21),
])
def test_rewrite_refuses_what_the_line_cannot_carry(line, from_client, addr, port):
    with pytest.raises(ValueError):
        rewrite_line(line, parse_line(line, from_client), addr, port)
