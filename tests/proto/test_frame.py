"""The frame decoder on frames built with scapy: every link type, VLAN stacks, IPv4 options
and fragments, IPv6 extension headers, truncated frames and headers whose lengths lie."""
from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, LLC, CookedLinux, CookedLinuxV2, Dot3

from tests.proto.builders import MAC, V4, V6, eth, tcp4, tcp6, udp4, vlan_stack
from weboslb.proto.frame import decode, payload
from weboslb.proto.packet import Link, Reason, TcpFlag

SRC4, DST4 = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7])
SRC6 = bytes.fromhex("20010db8000000000000000000000001")
DST6 = bytes.fromhex("20010db8ffff00000000000000000080")


def check(pkt, **expected) -> None:
    got = {name: getattr(pkt, name) for name in expected}
    assert got == expected


def _ext(count: int):
    """A hop-by-hop header followed by destination-options headers: ``count`` in all."""
    layers = IPv6ExtHdrHopByHop()
    for _ in range(count - 1):
        layers = layers / IPv6ExtHdrDestOpt()
    return layers


# (id, frame bytes, link, expected Packet fields)
GOOD = [
    ("eth-ipv4-tcp", bytes(eth(tcp4(b"hello", flags="PA", seq=7, ack=9))), Link.ETHERNET,
     dict(reason=Reason.OK, family=4, proto=6, src=SRC4, dst=DST4, sport=40000, dport=80,
          flags=TcpFlag.PSH | TcpFlag.ACK, seq=7, ack=9, vlans=(), l3_off=14, l4_off=34,
          payload_off=54, payload_len=5, short=False)),
    ("eth-ipv4-udp", bytes(eth(udp4(b"dns?"))), Link.ETHERNET,
     dict(reason=Reason.OK, proto=17, sport=5353, dport=53, flags=0, l4_off=34, payload_off=42,
          payload_len=4)),
    ("eth-ipv6-tcp", bytes(eth(tcp6(b"\x16\x03\x01", flags="S"))), Link.ETHERNET,
     dict(reason=Reason.OK, family=6, proto=6, src=SRC6, dst=DST6, dport=443,
          flags=TcpFlag.SYN, l3_off=14, l4_off=54, payload_off=74, payload_len=3)),
    ("ipv4-options", bytes(eth(IP(**V4, options=b"\x94\x04\x00\x00") / TCP() / b"ab")),
     Link.ETHERNET, dict(reason=Reason.OK, l4_off=38, payload_off=58, payload_len=2)),
    ("tcp-options", bytes(eth(tcp4(b"abc", options=[("MSS", 1460), ("NOP", None),
                                                     ("WScale", 7)]))), Link.ETHERNET,
     dict(reason=Reason.OK, l4_off=34, payload_off=62, payload_len=3)),
    ("ethernet-padding", bytes(eth(tcp4())) + bytes(6), Link.ETHERNET,
     dict(reason=Reason.OK, payload_off=54, payload_len=0, short=False)),
    ("snaplen-cut-payload", bytes(eth(tcp4(b"x" * 100)))[:60], Link.ETHERNET,
     dict(reason=Reason.OK, payload_off=54, payload_len=6, short=True)),
    ("vlan-802.1q", vlan_stack([100]), Link.ETHERNET,
     dict(reason=Reason.OK, vlans=(100,), l3_off=18)),
    ("vlan-qinq-3", vlan_stack([10, 20, 0xFFF], [0x88A8, 0x9100, 0x8100]), Link.ETHERNET,
     dict(reason=Reason.OK, vlans=(10, 20, 4095), l3_off=26, src=SRC4)),
    ("vlan-priority-bits", vlan_stack([0xE000 | 42]), Link.ETHERNET,
     dict(reason=Reason.OK, vlans=(42,))),
    ("vlan-8-deep", vlan_stack(list(range(1, 9))), Link.ETHERNET,
     dict(reason=Reason.OK, vlans=tuple(range(1, 9)), l3_off=46)),
    ("ipv6-ext-chain", bytes(eth(IPv6(**V6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting()
                                 / IPv6ExtHdrDestOpt() / TCP(dport=80) / b"GET")),
     Link.ETHERNET, dict(reason=Reason.OK, proto=6, dport=80, l4_off=14 + 40 + 8 + 8 + 8,
                         payload_len=3)),
    ("ipv6-8-ext", bytes(eth(IPv6(**V6) / _ext(8) / TCP() / b"z")), Link.ETHERNET,
     dict(reason=Reason.OK, l4_off=14 + 40 + 64, payload_len=1)),
    ("raw-ipv4", bytes(tcp4(b"p")), Link.RAW,
     dict(reason=Reason.OK, family=4, l3_off=0, l4_off=20, payload_len=1)),
    ("raw-ipv6", bytes(tcp6(b"p")), Link.RAW,
     dict(reason=Reason.OK, family=6, l3_off=0, l4_off=40, payload_len=1)),
    ("link-ipv4", bytes(udp4(b"q")), Link.IPV4, dict(reason=Reason.OK, proto=17)),
    ("link-ipv6", bytes(tcp6()), Link.IPV6, dict(reason=Reason.OK, family=6)),
    ("sll", bytes(CookedLinux(proto=0x0800) / tcp4(b"s")), Link.LINUX_SLL,
     dict(reason=Reason.OK, family=4, l3_off=16, l4_off=36, payload_len=1)),
    ("sll-vlan", bytes(CookedLinux(proto=0x8100)) + struct.pack("!HH", 7, 0x86DD)
     + bytes(tcp6(b"s")), Link.LINUX_SLL, dict(reason=Reason.OK, vlans=(7,), l3_off=20)),
    ("sll2", bytes(CookedLinuxV2(proto=0x86DD) / tcp6(b"s2")), Link.LINUX_SLL2,
     dict(reason=Reason.OK, family=6, l3_off=20, l4_off=60, payload_len=2)),
    ("link-as-int", bytes(tcp4()), 101, dict(reason=Reason.OK, family=4)),
]


@pytest.mark.parametrize("frame,link,expected", [g[1:] for g in GOOD], ids=[g[0] for g in GOOD])
def test_frames_that_decode(frame, link, expected):
    check(decode(frame, link), **expected)


def _ip_cut(total: int) -> bytes:
    """An Ethernet/IPv4 frame whose IP total length field says ``total``."""
    return bytes(eth(IP(**V4, len=total) / TCP() / b"0123456789"))


FULL4 = bytes(eth(tcp4(b"data", options=[("MSS", 1460)])))  # 14 + 20 + 24 + 4
BAD = [
    ("empty-ethernet", b"", Link.ETHERNET, dict(reason=Reason.TRUNCATED, vlans=())),
    ("ethernet-13", FULL4[:13], Link.ETHERNET, dict(reason=Reason.TRUNCATED)),
    ("vlan-tag-cut", vlan_stack([5, 6])[:20], Link.ETHERNET,
     dict(reason=Reason.TRUNCATED, vlans=(5,))),
    ("ipv4-header-cut", FULL4[:30], Link.ETHERNET,
     dict(reason=Reason.TRUNCATED, family=0, l3_off=14)),
    ("ipv4-options-cut", bytes(eth(IP(**V4, options=b"\x94\x04\x00\x00") / TCP()))[:36],
     Link.ETHERNET, dict(reason=Reason.TRUNCATED, family=4, src=SRC4, short=True)),
    ("tcp-header-cut", FULL4[:44], Link.ETHERNET,
     dict(reason=Reason.TRUNCATED, family=4, l4_off=34, sport=0, short=True)),
    ("tcp-options-cut", FULL4[:56], Link.ETHERNET,
     dict(reason=Reason.TRUNCATED, sport=40000, dport=80, l4_off=34)),
    ("udp-header-cut", bytes(eth(udp4()))[:40], Link.ETHERNET,
     dict(reason=Reason.TRUNCATED, proto=17)),
    ("arp", bytes(eth(ARP())), Link.ETHERNET, dict(reason=Reason.NOT_IP, family=0)),
    ("lldp", bytes(eth(type=0x88CC)) + bytes(30), Link.ETHERNET, dict(reason=Reason.NOT_IP)),
    ("802.3-length", bytes(Dot3(**MAC) / LLC() / b"stp"), Link.ETHERNET,
     dict(reason=Reason.NOT_IP)),
    ("vlan-then-arp", bytes(eth(type=0x8100)) + struct.pack("!HH", 9, 0x0806) + bytes(28),
     Link.ETHERNET, dict(reason=Reason.NOT_IP, vlans=(9,))),
    ("vlan-9-deep", vlan_stack(list(range(1, 10))), Link.ETHERNET,
     dict(reason=Reason.NOT_IP, vlans=tuple(range(1, 9)))),
    ("mpls-unicast", bytes(eth(type=0x8847)) + bytes.fromhex("0001 01ff") + bytes(tcp4()),
     Link.ETHERNET, dict(reason=Reason.MPLS)),
    ("mpls-multicast-vlan", bytes(eth(type=0x8100)) + struct.pack("!HH", 3, 0x8848) + bytes(24),
     Link.ETHERNET, dict(reason=Reason.MPLS, vlans=(3,))),
    ("icmp", bytes(eth(IP(**V4) / ICMP())), Link.ETHERNET,
     dict(reason=Reason.NOT_TCP_UDP, family=4, proto=1, src=SRC4, dst=DST4, l4_off=0)),
    ("icmpv6", bytes(eth(IPv6(**V6) / ICMPv6EchoRequest())), Link.ETHERNET,
     dict(reason=Reason.NOT_TCP_UDP, family=6, proto=58, src=SRC6, dst=DST6)),
    ("ipv6-no-next-header", bytes(eth(IPv6(**V6, nh=59) / bytes(8))), Link.ETHERNET,
     dict(reason=Reason.NOT_TCP_UDP, proto=59)),
    ("ipv4-more-fragments", bytes(eth(IP(**V4, flags="MF") / TCP() / b"x")), Link.ETHERNET,
     dict(reason=Reason.FRAGMENT, family=4, proto=6, src=SRC4, dst=DST4, sport=0)),
    ("ipv4-fragment-offset", bytes(eth(IP(**V4, frag=185) / b"tail")), Link.ETHERNET,
     dict(reason=Reason.FRAGMENT, proto=0)),
    ("ipv4-df-only-is-whole", bytes(eth(IP(**V4, flags="DF") / TCP())), Link.ETHERNET,
     dict(reason=Reason.OK)),
    ("ipv6-fragment", bytes(eth(IPv6(**V6) / IPv6ExtHdrFragment(m=1) / TCP())), Link.ETHERNET,
     dict(reason=Reason.FRAGMENT, family=6, proto=44, src=SRC6)),
    ("ipv6-fragment-after-hbh", bytes(eth(IPv6(**V6) / IPv6ExtHdrHopByHop()
                                          / IPv6ExtHdrFragment() / UDP())), Link.ETHERNET,
     dict(reason=Reason.FRAGMENT, proto=44)),
    ("ipv6-9-ext", bytes(eth(IPv6(**V6) / _ext(9) / TCP())), Link.ETHERNET,
     dict(reason=Reason.IPV6_EXT_LIMIT, family=6, proto=60)),
    ("ipv6-jumbogram", bytes(eth(IPv6(**V6, plen=0) / TCP())), Link.ETHERNET,
     dict(reason=Reason.BAD_IP_HEADER, family=0, l3_off=14)),
    ("ipv6-ext-past-payload", bytes(eth(IPv6(**V6, plen=8) / IPv6ExtHdrDestOpt(len=1) / TCP())),
     Link.ETHERNET, dict(reason=Reason.BAD_IP_HEADER, family=6)),
    ("ipv6-ext-cut", bytes(eth(IPv6(**V6) / IPv6ExtHdrDestOpt(len=1) / TCP()))[:14 + 44],
     Link.ETHERNET, dict(reason=Reason.TRUNCATED, family=6, short=True)),
    ("ipv6-header-cut", bytes(eth(tcp6()))[:50], Link.ETHERNET,
     dict(reason=Reason.TRUNCATED, family=0)),
    ("ipv6-version-4", bytes(eth(type=0x86DD) / tcp4()) + bytes(40), Link.ETHERNET,
     dict(reason=Reason.BAD_IP_HEADER)),
    ("ipv4-version-6", bytes(eth(type=0x0800) / tcp6()), Link.ETHERNET,
     dict(reason=Reason.BAD_IP_HEADER, l3_off=14)),
    ("ipv4-ihl-4", bytes(eth(IP(**V4, ihl=4) / TCP())), Link.ETHERNET,
     dict(reason=Reason.BAD_IP_HEADER)),
    ("ipv4-total-below-ihl", _ip_cut(19), Link.ETHERNET, dict(reason=Reason.BAD_IP_HEADER)),
    ("ipv4-total-too-small-for-tcp", _ip_cut(30), Link.ETHERNET,
     dict(reason=Reason.BAD_L4_HEADER, family=4, l4_off=34, sport=0)),
    ("tcp-data-offset-4", bytes(eth(tcp4(dataofs=4))), Link.ETHERNET,
     dict(reason=Reason.BAD_L4_HEADER, sport=40000)),
    ("tcp-data-offset-past-ip", bytes(eth(IP(**V4, len=44) / TCP(dataofs=15) / bytes(60))),
     Link.ETHERNET,
     dict(reason=Reason.BAD_L4_HEADER)),
    ("tcp-options-cut-by-snaplen", bytes(eth(IP(**V4) / TCP(dataofs=15) / bytes(60)))[:60],
     Link.ETHERNET, dict(reason=Reason.TRUNCATED, short=True)),
    ("udp-length-7", bytes(eth(udp4(len=7))), Link.ETHERNET,
     dict(reason=Reason.BAD_L4_HEADER, sport=5353)),
    ("raw-empty", b"", Link.RAW, dict(reason=Reason.TRUNCATED)),
    ("raw-version-5", b"\x50" + bytes(39), Link.RAW, dict(reason=Reason.BAD_IP_HEADER)),
    ("ipv4-link-short", bytes(tcp4())[:19], Link.IPV4, dict(reason=Reason.TRUNCATED, l3_off=0)),
    ("ipv4-link-given-ipv6", bytes(tcp6()), Link.IPV4, dict(reason=Reason.BAD_IP_HEADER)),
    ("ipv6-link-given-ipv4", bytes(tcp4()) + bytes(20), Link.IPV6,
     dict(reason=Reason.BAD_IP_HEADER)),
    ("sll-15", bytes(CookedLinux(proto=0x0800))[:15], Link.LINUX_SLL,
     dict(reason=Reason.TRUNCATED)),
    ("sll2-19", bytes(CookedLinuxV2(proto=0x0800))[:19], Link.LINUX_SLL2,
     dict(reason=Reason.TRUNCATED)),
    ("sll-arp", bytes(CookedLinux(proto=0x0806) / ARP()), Link.LINUX_SLL,
     dict(reason=Reason.NOT_IP)),
    ("unknown-link", bytes(tcp4()), 147, dict(reason=Reason.UNKNOWN_LINK)),
]


@pytest.mark.parametrize("frame,link,expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_frames_the_switch_does_not_balance(frame, link, expected):
    check(decode(frame, link), **expected)


def test_memoryview_input_decodes_like_bytes():
    frame = bytes(eth(tcp6(b"payload")))
    view = memoryview(bytearray(b"\0" * 8 + frame))[8:]
    assert decode(view) == decode(frame)
    assert payload(view, decode(view)) == b"payload"


def test_payload_gives_the_l4_payload_without_padding():
    frame = bytes(eth(tcp4(b"GET /"))) + bytes(20)
    assert payload(frame, decode(frame)) == b"GET /"


def test_payload_of_a_frame_that_is_not_ok_is_empty():
    frame = bytes(eth(IP(**V4, flags="MF") / TCP() / b"x"))
    assert payload(frame, decode(frame)) == b""


def test_every_prefix_of_a_frame_is_truncated_until_the_tcp_header_is_complete():
    frame = bytes(eth(tcp4(b"abc", options=[("MSS", 1460)])))
    header_end = 14 + 20 + 24
    for cut in range(header_end):
        assert decode(frame[:cut]).reason == Reason.TRUNCATED, cut
    for cut in range(header_end, len(frame) + 1):
        pkt = decode(frame[:cut])
        assert (pkt.reason, pkt.payload_len, pkt.short) == \
            (Reason.OK, cut - header_end, cut < len(frame))
