"""The TLS hello reader: the session ID that ``pbind sslid`` binds on, from SSLv2-compatible
hellos to TLS 1.3, whole, split across records and cut across segments."""
from __future__ import annotations

import struct

import pytest

from tests.proto.builders import (
    HRR_RANDOM, client_hello, extensions, handshake, record, records, server_hello, sni,
    sslv2_hello, version_selected, versions_offered,
)
from weboslb.proto.tls import Hello, HelloKind, HelloResult, HelloStatus, parse_hello

SID = bytes(range(0xA0, 0xC0))  # 32 bytes
CLIENT, SERVER = HelloKind.CLIENT, HelloKind.SERVER
CERTIFICATE = handshake(11, b"\x00\x00\x03\x00\x00\x00")

OK = [
    ("tls1.0-client-new", record(client_hello(version=0x0301)), Hello(CLIENT, 0x0301, b"", False)),
    ("tls1.0-client-resume", record(client_hello(SID, 0x0301)), Hello(CLIENT, 0x0301, SID, False)),
    ("ssl3-client", record(client_hello(SID[:16], 0x0300), version=0x0300),
     Hello(CLIENT, 0x0300, SID[:16], False)),
    ("tls1.1-server", record(server_hello(SID, 0x0302), version=0x0302),
     Hello(SERVER, 0x0302, SID, False)),
    ("tls1.2-client-sni", record(client_hello(SID, exts=extensions(sni(b"example.com")))),
     Hello(CLIENT, 0x0303, SID, False)),
    ("tls1.2-client-no-ext-block", record(client_hello(SID, exts=None)),
     Hello(CLIENT, 0x0303, SID, False)),
    ("tls1.2-server-empty-sid", record(server_hello(b"")), Hello(SERVER, 0x0303, b"", False)),
    ("tls1.2-server-with-ext", record(server_hello(SID, exts=extensions((0xFF01, b"\x00")))),
     Hello(SERVER, 0x0303, SID, False)),
    ("tls1.3-client", record(client_hello(SID, exts=extensions(
        sni(b"a.example"), versions_offered(0x0304, 0x0303)))), Hello(CLIENT, 0x0303, SID, True)),
    ("tls1.3-offer-last", record(client_hello(exts=extensions(
        versions_offered(0x0302, 0x0303, 0x0304)))), Hello(CLIENT, 0x0303, b"", True)),
    ("tls1.2-only-offered", record(client_hello(exts=extensions(
        versions_offered(0x0303, 0x0302)))), Hello(CLIENT, 0x0303, b"", False)),
    ("tls1.3-server", record(server_hello(SID, exts=extensions(version_selected(0x0304))),
                             version=0x0303), Hello(SERVER, 0x0303, SID, True)),
    ("tls1.3-server-selects-1.2", record(server_hello(SID, exts=extensions(
        version_selected(0x0303)))), Hello(SERVER, 0x0303, SID, False)),
    ("hello-retry-request", record(server_hello(SID, random=HRR_RANDOM, exts=extensions(
        version_selected(0x0304), (51, b"\x00\x1d")))), Hello(SERVER, 0x0303, SID, True)),
    ("sslv2-new", sslv2_hello(), Hello(CLIENT, 0x0301, b"", False)),
    ("sslv2-resume-16", sslv2_hello(SID[:16], 0x0300), Hello(CLIENT, 0x0300, SID[:16], False)),
    ("sslv2-resume-32", sslv2_hello(SID), Hello(CLIENT, 0x0301, SID, False)),
    ("split-over-3-records", records(client_hello(SID), [1, 40]),
     Hello(CLIENT, 0x0303, SID, False)),
    ("split-1-byte-records", records(server_hello(SID), [1] * 60),
     Hello(SERVER, 0x0303, SID, False)),
    ("empty-record-between", record(client_hello(SID)[:10]) + record(b"")
     + record(client_hello(SID)[10:]), Hello(CLIENT, 0x0303, SID, False)),
    ("server-hello-then-certificate", record(server_hello(SID) + CERTIFICATE),
     Hello(SERVER, 0x0303, SID, False)),
    ("certificate-record-unfinished", record(server_hello(SID) + CERTIFICATE * 100)[:200],
     Hello(SERVER, 0x0303, SID, False)),
    ("trailing-application-data", record(client_hello(SID)) + record(b"xx", ctype=23),
     Hello(CLIENT, 0x0303, SID, False)),
]


@pytest.mark.parametrize("data,hello", [o[1:] for o in OK], ids=[o[0] for o in OK])
def test_hellos_give_their_session_id(data, hello):
    assert parse_hello(data) == HelloResult(HelloStatus.OK, hello)


@pytest.mark.parametrize("data", [o[1] for o in OK], ids=[o[0] for o in OK])
def test_every_cut_before_the_end_of_the_hello_needs_more(data):
    """A hello arriving in several segments: each prefix of the stream is NEED_MORE until the
    hello is complete, then OK (the engine feeds the bytes of the stream so far)."""
    statuses = [parse_hello(data[:cut]).status for cut in range(len(data) + 1)]
    first_ok = statuses.index(HelloStatus.OK)
    assert set(statuses[:first_ok]) == {HelloStatus.NEED_MORE}
    assert set(statuses[first_ok:]) == {HelloStatus.OK}


def _hello_body(message: bytes) -> bytes:
    return message[4:]


def _with_length(message: bytes, new_length: int) -> bytes:
    return message[:1] + new_length.to_bytes(3, "big") + message[4:]


CH = client_hello(SID, exts=extensions(sni(b"x.example")))
CH_BODY = _hello_body(CH)
SID_LEN_AT = 2 + 32  # offset of session_id length inside a hello body


def _patched(message: bytes, at: int, value: bytes) -> bytes:
    """``message`` with the body bytes at ``at`` replaced by ``value``."""
    body = bytearray(message[4:])
    body[at:at + len(value)] = value
    return handshake(message[0], bytes(body))


NOT_TLS = [
    ("http", b"GET / HTTP/1.1\r\n\r\n"),
    ("application-data-first", record(b"\x17" * 10, ctype=23)),
    ("change-cipher-spec-first", record(b"\x01", ctype=20)),
    ("record-major-2", b"\x16\x02\x00"),
    ("sslv2-server-hello", b"\x80\x20\x04" + bytes(40)),
    ("nul-bytes", bytes(8)),
]

MALFORMED = [
    ("sid-33", record(handshake(1, CH_BODY[:SID_LEN_AT] + b"\x21" + bytes(33)
                                + CH_BODY[SID_LEN_AT + 33:]))),
    ("message-longer-than-64k", record(_with_length(CH, 65537))),
    ("certificate-first", record(CERTIFICATE)),
    ("hello-request-first", record(handshake(0, b""))),
    ("cipher-suites-past-the-message", record(_patched(CH, SID_LEN_AT + 1 + 32, b"\xff\xff"))),
    ("extension-block-past-the-message", record(client_hello(exts=struct.pack("!HHH", 32, 1, 0)))),
    ("one-stray-byte-after-compression", record(client_hello(SID, exts=b"\x00"))),
    ("extension-past-its-block", record(client_hello(exts=struct.pack("!HHH", 4, 0, 9)))),
    ("extension-header-cut", record(client_hello(exts=struct.pack("!HH", 2, 0)))),
    ("supported-versions-list-too-long",
     record(client_hello(exts=extensions((43, b"\x08\x03\x04"))))),
    ("supported-versions-server-1-byte", record(server_hello(exts=extensions((43, b"\x03"))))),
    ("server-hello-cut-short", record(handshake(2, _hello_body(server_hello(SID))[:-2]))),
    ("second-record-not-handshake", record(CH[:20]) + record(CH[20:], ctype=23)),
    ("second-record-major-4", record(CH[:20]) + record(CH[20:], version=0x0401)),
    ("sslv2-sid-8", sslv2_hello(SID[:8])),
    ("sslv2-sid-33", sslv2_hello(SID + b"!")),
    ("sslv2-lengths-past-record", b"\x80\x0a\x01\x03\x01\x00\x03\x00\x00\x00\x10\x00"),
    ("sslv2-record-below-9", b"\x80\x05\x01\x03\x01\x00\x00"),
]


@pytest.mark.parametrize("data", [n[1] for n in NOT_TLS], ids=[n[0] for n in NOT_TLS])
def test_streams_that_are_not_tls(data):
    assert parse_hello(data).status == HelloStatus.NOT_TLS


@pytest.mark.parametrize("data", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_inconsistent_hellos_are_malformed(data):
    result = parse_hello(data)
    assert (result.status, result.hello) == (HelloStatus.MALFORMED, None)


@pytest.mark.parametrize("data", [b"", b"\x16", b"\x16\x03", b"\x16\x03\x01\x00",
                                  record(CH)[:5], record(CH)[:9], b"\x80", b"\x80\x30",
                                  sslv2_hello(SID)[:10], sslv2_hello(SID)[:-1]])
def test_consistent_beginnings_need_more(data):
    assert parse_hello(data).status == HelloStatus.NEED_MORE


def test_bad_length_is_malformed_as_soon_as_the_handshake_header_is_there():
    data = record(_with_length(CH, 70000))
    assert parse_hello(data[:9]).status == HelloStatus.MALFORMED
    assert parse_hello(data[:8]).status == HelloStatus.NEED_MORE


def test_input_types():
    data = record(CH)
    assert parse_hello(memoryview(data)) == parse_hello(bytearray(data)) == parse_hello(data)
