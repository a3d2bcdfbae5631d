"""Checksums, the NAT of forwarded frames and the segments the switch originates: the rewritten
frame decodes to the new fields, and scapy finds every checksum right."""
from __future__ import annotations

import random
import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Ether
from scapy.utils import checksum as scapy_checksum

from tests.proto.builders import MAC, V4, V6, eth, tcp4, tcp6, udp4, vlan_stack
from weboslb.proto.checksum import internet_checksum, l4_checksum, l4_checksum_ok, ones_sum
from weboslb.proto.frame import decode, payload
from weboslb.proto.packet import Link, Reason, TcpFlag
from weboslb.proto.rewrite import build_tcp, nat, seq_add, seq_diff

A4, B4 = bytes([10, 0, 0, 1]), bytes([172, 16, 5, 9])
A6 = bytes.fromhex("fd000000000000000000000000000001")
B6 = bytes.fromhex("fd00000000000000000000000000beef")


# --- checksum ------------------------------------------------------------------------------

def test_rfc1071_example():
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ones_sum(data) == 0xDDF2
    assert internet_checksum(data) == 0x220D


@pytest.mark.parametrize("length", [0, 1, 2, 3, 19, 20, 1499, 1500, 65535])
def test_internet_checksum_agrees_with_scapy(length):
    data = random.Random(length).randbytes(length)
    assert internet_checksum(data) == scapy_checksum(data)


@pytest.mark.parametrize("ip", [IP(src="10.0.0.1", dst="10.0.0.2"),
                                IPv6(src="fd00::1", dst="fd00::2")], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("l4", [TCP(sport=1, dport=2) / b"odd", UDP(sport=1, dport=2) / b"even"],
                         ids=["tcp", "udp"])
def test_l4_checksum_over_the_pseudo_header(ip, l4):
    built = bytes(ip / l4)  # scapy fills in the checksum
    pkt = decode(built, Link.RAW)
    seg = built[pkt.l4_off:]
    assert l4_checksum_ok(pkt.src, pkt.dst, pkt.proto, seg)
    off = 16 if pkt.proto == 6 else 6
    zeroed = seg[:off] + b"\0\0" + seg[off + 2:]
    assert l4_checksum(pkt.src, pkt.dst, pkt.proto, zeroed) == struct.unpack_from("!H", seg, off)[0]
    assert not l4_checksum_ok(pkt.src, pkt.dst, pkt.proto, seg[:-1] + b"?")


def test_a_udp_checksum_of_zero_is_sent_as_ffff():
    # a segment whose sum is 0xFFFF before inversion: the checksum would be 0
    src, dst = bytes(4), bytes(4)
    segment = bytearray(struct.pack("!HHHH", 0, 0, 8, 0))
    pseudo = ones_sum(src + dst + struct.pack("!BBH", 0, 17, 8))
    struct.pack_into("!H", segment, 0, 0xFFFF - ones_sum(bytes(segment), pseudo))
    assert l4_checksum(src, dst, 17, bytes(segment)) == 0xFFFF


def test_pseudo_header_needs_two_addresses_of_one_family():
    with pytest.raises(ValueError):
        l4_checksum(A4, B6, 6, bytes(20))


# --- nat -----------------------------------------------------------------------------------

PARSERS = {Link.ETHERNET: Ether, Link.LINUX_SLL: CookedLinux, Link.LINUX_SLL2: CookedLinuxV2,
           Link.IPV4: IP, Link.IPV6: IPv6}


def scapy_checksums_ok(frame: bytes, link: Link) -> bool:
    """scapy recomputes the IPv4 and TCP/UDP checksums and finds the frame's values."""
    if link == Link.RAW:
        link = Link.IPV4 if frame[0] >> 4 == 4 else Link.IPV6
    pkt = PARSERS[link](frame)
    ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
    clone = ip.copy()
    if isinstance(ip, IP):
        del clone.chksum
    l4 = clone.getlayer(TCP) or clone.getlayer(UDP)
    del l4.chksum
    fresh = type(ip)(bytes(clone))
    return bytes(fresh) == bytes(ip)


CHANGES4 = dict(src=A4, dst=B4, sport=1111, dport=8080, seq=0xFFFFFFF0, ack=12345,
                flags=TcpFlag.SYN | TcpFlag.ACK, payload=b"rewritten payload!")
CHANGES6 = dict(CHANGES4, src=A6, dst=B6)

NAT = [
    ("eth-ipv4-tcp-all-fields", bytes(eth(tcp4(b"original"))), Link.ETHERNET, CHANGES4),
    ("eth-ipv4-tcp-dst-only", bytes(eth(tcp4(b"x"))), Link.ETHERNET, dict(dst=B4)),
    ("vlan-stack", vlan_stack([1, 2, 3], [0x88A8, 0x8100, 0x8100]), Link.ETHERNET,
     dict(dst=B4, dport=81)),
    ("ipv4-and-tcp-options", bytes(eth(IP(**V4, options=b"\x94\x04\x00\x00") / TCP(
        options=[("MSS", 1460), ("SAckOK", b"")]) / b"abc")), Link.ETHERNET,
     dict(src=A4, payload=b"a much longer payload than before")),
    ("eth-ipv6-tcp", bytes(eth(tcp6(b"hello"))), Link.ETHERNET, CHANGES6),
    ("ipv6-extension-headers", bytes(eth(IPv6(**V6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
                                         / TCP() / b"data")), Link.ETHERNET,
     dict(dst=B6, payload=b"")),
    ("eth-ipv4-udp", bytes(eth(udp4(b"query"))), Link.ETHERNET,
     dict(src=A4, dport=5353, payload=b"longer query")),
    ("eth-ipv6-udp", bytes(eth(IPv6(**V6) / UDP(sport=53, dport=5353) / b"a")), Link.ETHERNET,
     dict(dst=B6, sport=1053)),
    ("sll-ipv4", bytes(CookedLinux(proto=0x0800) / tcp4(b"s")), Link.LINUX_SLL,
     dict(dst=B4, seq=1)),
    ("sll2-ipv6", bytes(CookedLinuxV2(proto=0x86DD) / tcp6(b"s")), Link.LINUX_SLL2,
     dict(src=A6, ack=2)),
    ("raw-ipv4", bytes(tcp4(b"r")), Link.RAW, dict(dport=443, payload=b"rr")),
    ("raw-ipv6", bytes(tcp6(b"r")), Link.RAW, dict(sport=2)),
    ("link-ipv4", bytes(udp4(b"u")), Link.IPV4, dict(dst=B4)),
    ("link-ipv6", bytes(tcp6(b"u")), Link.IPV6, dict(dst=B6, flags=TcpFlag.RST)),
]


@pytest.mark.parametrize("frame,link,changes", [n[1:] for n in NAT], ids=[n[0] for n in NAT])
def test_nat_round_trip(frame, link, changes):
    before = decode(frame, link)
    out = nat(frame, before, **changes)
    after = decode(out, link)
    assert after.reason == Reason.OK and not after.short
    fields = {k: v for k, v in changes.items() if k != "payload"}
    assert {k: getattr(after, k) for k in fields} == fields
    unchanged = {"family", "proto", "vlans", "l3_off", "l4_off", "payload_off"} | (
        {"src", "dst", "sport", "dport", "seq", "ack", "flags"} - set(changes))
    assert {k: getattr(after, k) for k in unchanged} == {k: getattr(before, k) for k in unchanged}
    assert payload(out, after) == changes.get("payload", payload(frame, before))
    assert out[:before.l3_off] == frame[:before.l3_off]
    assert scapy_checksums_ok(out, link)


@pytest.mark.parametrize("frame,link", [n[1:3] for n in NAT], ids=[n[0] for n in NAT])
def test_a_rewrite_that_changes_nothing_gives_the_frame_back(frame, link):
    assert nat(frame, decode(frame, link)) == frame


def test_ipv4_udp_without_checksum_keeps_none():
    frame = bytes(eth(IP(**V4) / UDP(sport=1, dport=2, chksum=0) / b"x"))
    out = nat(frame, decode(frame), dst=B4, payload=b"xyz")
    pkt = decode(out)
    assert out[pkt.l4_off + 6:pkt.l4_off + 8] == b"\0\0"
    assert struct.unpack_from("!H", out, pkt.l4_off + 4)[0] == 11
    assert IP(out[14:]).len == 31


def test_nat_drops_ethernet_padding():
    frame = bytes(eth(tcp4())) + bytes(6)
    out = nat(frame, decode(frame), dport=81)
    assert len(out) == len(frame) - 6 and scapy_checksums_ok(out, Link.ETHERNET)


def test_nat_of_a_snapped_frame_describes_what_is_there():
    frame = bytes(eth(tcp4(b"y" * 500)))[:100]
    out = nat(frame, decode(frame), dst=B4)
    after = decode(out)
    assert (after.reason, after.short, after.payload_len) == (Reason.OK, False, 100 - 54)
    assert scapy_checksums_ok(out, Link.ETHERNET)


@pytest.mark.parametrize("frame,changes", [
    (bytes(eth(IP(**V4, flags="MF") / TCP())), dict(dst=B4)),  # a fragment
    (bytes(eth(tcp4())), dict(dst=B6)),  # wrong family
    (bytes(eth(tcp6())), dict(src=A4)),
    (bytes(eth(udp4())), dict(seq=1)),  # TCP field on UDP
    (bytes(eth(udp4())), dict(flags=2)),
    (bytes(eth(tcp4())), dict(dport=65536)),
    (bytes(eth(tcp4())), dict(seq=1 << 32)),
    (bytes(eth(tcp4())), dict(flags=256)),
    (bytes(eth(tcp4())), dict(payload=bytes(70000))),
])
def test_nat_refuses_what_does_not_fit(frame, changes):
    with pytest.raises(ValueError):
        nat(frame, decode(frame), **changes)


# --- build_tcp -----------------------------------------------------------------------------

@pytest.mark.parametrize("l2,family,src,dst,link", [
    (bytes(Ether(**MAC, type=0x0800)), 4, A4, B4, Link.ETHERNET),
    (bytes(Ether(**MAC, type=0x86DD)), 6, A6, B6, Link.ETHERNET),
    (b"", 4, A4, B4, Link.RAW),
    (b"", 6, A6, B6, Link.IPV6),
])
@pytest.mark.parametrize("flags,data", [(TcpFlag.RST | TcpFlag.ACK, b""), (TcpFlag.SYN, b""),
                                        (TcpFlag.PSH | TcpFlag.ACK, b"GET / HTTP/1.1\r\n\r\n")])
def test_build_tcp_makes_a_segment_that_decodes(l2, family, src, dst, link, flags, data):
    out = build_tcp(l2, family, src, dst, 33000, 80, 0xFFFFFFFF, 7, flags, data, window=1024)
    pkt = decode(out, link)
    assert (pkt.reason, pkt.family, pkt.src, pkt.dst, pkt.sport, pkt.dport, pkt.seq, pkt.ack,
            pkt.flags) == (Reason.OK, family, src, dst, 33000, 80, 0xFFFFFFFF, 7, flags)
    assert payload(out, pkt) == data and out[:len(l2)] == l2
    assert struct.unpack_from("!H", out, pkt.l4_off + 14)[0] == 1024
    assert scapy_checksums_ok(out, link)


def test_build_tcp_refuses_mismatched_addresses():
    with pytest.raises(ValueError):
        build_tcp(b"", 4, A6, B6, 1, 2, 0, 0, TcpFlag.RST)
    with pytest.raises(ValueError):
        build_tcp(b"", 5, A4, B4, 1, 2, 0, 0, TcpFlag.RST)


@pytest.mark.parametrize("a,d,expected", [(0xFFFFFFFF, 1, 0), (5, -10, 0xFFFFFFFB),
                                          (100, 0, 100), (0, 1 << 32, 0)])
def test_sequence_arithmetic_wraps(a, d, expected):
    assert seq_add(a, d) == expected
    assert seq_diff(expected, a) == (d + (1 << 31)) % (1 << 32) - (1 << 31)
