"""Frames whose length fields lie, in the middle of good traffic, through ``weboslb replay``.

A frame the decoder cannot take (a header that ends past the frame, an IP total length or a
TCP data offset that cannot be, a UDP length under its header, too many IPv6 extension
headers, a fragment) is switched unexamined and counted by reason in the report's
``reasons``; it never opens a session, and every connection around it is replayed exactly as
without it.  A total length that claims more than the frame holds is a capture cut by its
snapshot length: the frame is taken for what it holds.
"""
from __future__ import annotations

import json

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
from scapy.layers.l2 import Dot1Q, Ether

from tests.malformed.corpus import (
    AT_FRAME,
    CONFIG,
    ETH,
    VIP,
    Layout,
    good_frames,
    patch,
    pcap_layout,
    to_vip,
    with_frame,
)
from weboslb.main import main

SYN = to_vip(payload=b"", flags=0x02)  # a SYN to VIP:8080: would open a session if taken
CLIENT = "198.51.100.99"


def udp(length: int) -> bytes:
    f = bytes(Ether() / IP(src=CLIENT, dst=VIP) / UDP(sport=5000, dport=8080) / (b"x" * 10))
    return patch(f, ETH + 20 + 4, "!H", length)


def ipv6_ext(n: int) -> bytes:
    ext = IPv6ExtHdrDestOpt()
    for _ in range(n - 1):
        ext = ext / IPv6ExtHdrDestOpt()
    return bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::100") / ext
                 / TCP(dport=8080, flags="S"))


LYING = {
    "IP total length under the IP header": (patch(SYN, ETH + 2, "!H", 19), "bad_ip_header"),
    "IP header length under 20 bytes": (patch(SYN, ETH, "!B", 0x44), "bad_ip_header"),
    "IP version 7": (patch(SYN, ETH, "!B", 0x75), "bad_ip_header"),
    "IP header length past the total length": (patch(SYN, ETH, "!B", 0x4F), "bad_ip_header"),
    "IP total length under the TCP header": (patch(SYN, ETH + 2, "!H", 30), "bad_l4_header"),
    "TCP data offset under 5 words": (patch(SYN, ETH + 32, "!B", 0x40), "bad_l4_header"),
    "TCP data offset past the packet": (patch(SYN, ETH + 32, "!B", 0xF0), "bad_l4_header"),
    "UDP length under its header": (udp(7), "bad_l4_header"),
    "IPv6 payload length under the TCP header": (
        patch(bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::100")
                    / TCP(dport=8080, flags="S")), ETH + 4, "!H", 4), "bad_l4_header"),
    "frame cut in the IP header": (SYN[:ETH + 10], "truncated"),
    "frame cut in the TCP header": (SYN[:ETH + 30], "truncated"),
    "frame cut in the Ethernet header": (SYN[:10], "truncated"),
    "frame cut after two VLAN tags": (
        bytes(Ether() / Dot1Q(vlan=5) / Dot1Q(vlan=6) / IP(src=CLIENT, dst=VIP) / TCP())[:20],
        "truncated"),
    "nine IPv6 extension headers": (ipv6_ext(9), "ipv6_ext_limit"),
    "IPv4 fragment": (bytes(Ether() / IP(src=CLIENT, dst=VIP, flags="MF") / TCP(dport=8080)),
                      "fragment"),
}


def replay(tmp_path, layout: Layout, name: str, capsys) -> dict:
    cap = tmp_path / f"{name}.pcap"
    cap.write_bytes(layout.data)
    cfg = tmp_path / "sw.yaml"
    cfg.write_text(CONFIG)
    out = tmp_path / f"{name}.json"
    assert main(["replay", "-q", "-c", str(cfg), str(cap), "--report-json", str(out)]) == 0
    assert capsys.readouterr() == ("", "")  # a counted frame, not an error
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    return good_frames()


@pytest.mark.parametrize("name", list(LYING))
def test_a_lying_frame_is_counted_by_reason_and_changes_nothing_around_it(tmp_path, name,
                                                                          frames, capsys):
    bad, reason = LYING[name]
    with_bad = replay(tmp_path, with_frame(frames, bad, AT_FRAME), "bad", capsys)
    without = replay(tmp_path, pcap_layout(frames), "good", capsys)
    assert with_bad["summary"]["reasons"] == {reason: 1}
    assert with_bad["summary"]["verdicts"]["pass"] == without["summary"]["verdicts"]["pass"] + 1
    assert with_bad["connections"] == without["connections"]
    assert with_bad["summary"]["packets"] == len(frames) + 1


def test_a_total_length_beyond_the_frame_is_taken_for_what_the_frame_holds(tmp_path, frames,
                                                                           capsys):
    claims = patch(SYN, ETH + 2, "!H", 2000)
    report = replay(tmp_path, with_frame(frames, claims, AT_FRAME), "long", capsys)
    assert report["summary"]["reasons"] == {}
    [row] = [r for r in report["connections"] if r["client_ip"] == CLIENT]
    assert row["vport"] == 8080 and row["real"] is not None
