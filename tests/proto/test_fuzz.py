"""Hostile input: random bytes and mutated valid frames, hellos, heads and lines.  Every parser
answers with a status (never an exception), its answer is consistent, and a verdict other
than NEED_MORE does not change when more bytes arrive (the engine may decide on it)."""
from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, CookedLinuxV2

from tests.proto.builders import (
    V4, V6, client_hello, eth, extensions, record, records, server_hello, sni, sslv2_hello,
    tcp4, tcp6, udp4, vlan_stack, versions_offered,
)
from weboslb.proto.frame import decode, payload
from weboslb.proto.ftp import MAX_LINE, FtpStatus, parse_line, split_lines
from weboslb.proto.http import (
    HttpStatus, cookie_in_uri, name_matches, parse_request, parse_response, persist_value,
)
from weboslb.proto.packet import Link, Packet, Reason
from weboslb.proto.rewrite import nat
from weboslb.proto.tls import HelloStatus, parse_hello

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SEED_FRAMES = [
    (bytes(eth(tcp4(b"GET / HTTP/1.1\r\n\r\n", options=[("MSS", 1460)]))), Link.ETHERNET),
    (bytes(eth(udp4(b"query"))), Link.ETHERNET),
    (vlan_stack([1, 2, 3], [0x88A8, 0x9100, 0x8100]), Link.ETHERNET),
    (bytes(eth(IPv6(**V6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / TCP() / b"x")),
     Link.ETHERNET),
    (bytes(eth(IP(**V4, options=b"\x94\x04\x00\x00") / TCP() / b"opt")), Link.ETHERNET),
    (bytes(CookedLinux(proto=0x0800) / tcp4(b"sll")), Link.LINUX_SLL),
    (bytes(CookedLinuxV2(proto=0x86DD) / tcp6(b"sll2")), Link.LINUX_SLL2),
    (bytes(tcp6(b"raw")), Link.RAW),
    (bytes(udp4(b"v4")), Link.IPV4),
    (bytes(tcp6(b"v6")), Link.IPV6),
]

SEED_HELLOS = [
    record(client_hello(bytes(32), exts=extensions(sni(b"a.example"),
                                                   versions_offered(0x0304, 0x0303)))),
    records(server_hello(bytes(range(32))), [3, 30]),
    sslv2_hello(bytes(16)),
]

SEED_HEADS = [
    b"GET /a;jsessionid=1?b=2 HTTP/1.1\r\nHost: h\r\nCookie: a=1; b=2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nSet-Cookie: s=1; path=/\r\nSet-Cookie: t=2\r\n\r\n",
]

SEED_LINES = [b"PORT 10,0,0,1,4,5", b"EPRT |2|::1|21|", b"227 ok (1,2,3,4,5,6)",
              b"229 ok (|||21|)"]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A seed with a few bytes overwritten, maybe cut, maybe with bytes appended."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for pos, value in draw(st.lists(st.tuples(st.integers(0, len(data) - 1),
                                              st.integers(0, 255)), max_size=4)):
        data[pos] = value
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=8))


LINKS = st.sampled_from([*Link, 0, 147, -1])
FRAMES = st.one_of(st.tuples(st.binary(max_size=200), LINKS),
                   st.sampled_from(SEED_FRAMES).flatmap(lambda seed: st.tuples(
                       mutated([seed[0]]), st.just(seed[1]))))


def _consistent(frame: bytes, pkt: Packet) -> None:
    assert isinstance(pkt.reason, Reason)
    if pkt.reason != Reason.OK:
        assert pkt.payload_len == 0 and payload(frame, pkt) == b""
        return
    assert pkt.family in (4, 6) and pkt.proto in (6, 17)
    assert len(pkt.src) == len(pkt.dst) == (4 if pkt.family == 4 else 16)
    assert pkt.l3_off < pkt.l4_off < pkt.payload_off <= pkt.payload_off + pkt.payload_len \
        <= len(frame)
    assert len(payload(frame, pkt)) == pkt.payload_len


@FUZZ
@given(FRAMES)
def test_decode_never_raises_and_is_consistent(case):
    frame, link = case
    pkt = decode(frame, link)
    _consistent(frame, pkt)


@FUZZ
@given(FRAMES)
def test_an_unchanged_rewrite_of_any_decodable_frame_decodes_the_same(case):
    frame, link = case
    pkt = decode(frame, link)
    if pkt.reason != Reason.OK:
        return
    out = nat(frame, pkt)
    again = decode(out, link)
    keep = ("reason", "family", "proto", "src", "dst", "sport", "dport", "seq", "ack", "flags",
            "vlans", "l3_off", "l4_off", "payload_off", "payload_len")
    assert [getattr(again, k) for k in keep] == [getattr(pkt, k) for k in keep]
    assert not again.short


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutated(SEED_HELLOS)), st.binary(max_size=40))
def test_parse_hello_never_raises_and_its_verdicts_are_final(data, more):
    result = parse_hello(data)
    assert isinstance(result.status, HelloStatus)
    assert (result.hello is not None) == (result.status == HelloStatus.OK)
    if result.hello is not None:
        assert len(result.hello.session_id) <= 32
    if result.status != HelloStatus.NEED_MORE:
        assert parse_hello(data + more) == result


@FUZZ
@given(st.one_of(st.binary(max_size=300), mutated(SEED_HEADS)), st.binary(max_size=40))
def test_http_parsers_never_raise_and_their_verdicts_are_final(data, more):
    for parse in (parse_request, parse_response):
        result = parse(data)
        assert isinstance(result.status, HttpStatus)
        assert 0 <= result.head_len <= min(len(data), 8192)
        if result.status != HttpStatus.NEED_MORE:
            assert parse(data + more) == result


@FUZZ
@given(st.binary(max_size=60), st.binary(max_size=60))
def test_cookie_helpers_never_raise(target, value):
    found = cookie_in_uri(target, "s*")
    assert found is None or found in target
    key = persist_value(value, 3, 5)
    assert key is None or 1 <= len(key) <= 5


@FUZZ
@given(st.text("ab*", max_size=6), st.binary(max_size=10).map(
    lambda b: bytes(b"ab"[x % 2] for x in b)))
def test_name_patterns_match_like_a_regular_expression_would(pattern, name):
    regex = b".*".join(re.escape(p) for p in pattern.encode().split(b"*"))
    assert name_matches(name, pattern) == (re.fullmatch(regex, name, re.DOTALL) is not None)


@FUZZ
@given(st.one_of(st.binary(max_size=600), mutated(SEED_LINES)), st.booleans())
def test_parse_line_never_raises(line, from_client):
    result = parse_line(line, from_client)
    assert isinstance(result.status, FtpStatus)
    if result.status == FtpStatus.OK:
        assert len(result.addr) in ((0,) if result.family == 0 else (4, 16))
        assert 0 <= result.port <= 0xFFFF


@FUZZ
@given(st.lists(st.binary(max_size=700), max_size=5))
def test_split_lines_keeps_every_line_and_bounds_the_rest(chunks):
    rest, lines = b"", []
    for chunk in chunks:
        new, rest = split_lines(rest + chunk)
        lines += new
        assert len(rest) <= MAX_LINE + 2 and b"\n" not in rest
    assert len(lines) == b"".join(chunks).count(b"\n")
