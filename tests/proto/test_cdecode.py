"""The C frame decoder (csrc/decode.c through weboslb.proto.cdecode): what a replayed frame is
decoded to, by scapy-built frames, real captures checked against tshark, and the Python
decoder frame for frame."""
from __future__ import annotations

import csv
import ipaddress
import mmap
import random
from array import array
from functools import lru_cache
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, LLC, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Dot3, Ether
from scapy.packet import Raw
from scapy.utils import RawPcapNgReader, RawPcapReader

from weboslb.proto import cdecode
from weboslb.proto.packet import Link, Packet, Reason

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / ".." / "shared" / "samples" / "pcaps"

A4, B4 = "10.1.2.3", "192.0.2.80"
A6, B6 = "2001:db8::1", "2001:db8::80"
P4 = dict(src=bytes([10, 1, 2, 3]), dst=bytes([192, 0, 2, 80]))
P6 = dict(src=bytes.fromhex("20010db8" + "00" * 11 + "01"),
          dst=bytes.fromhex("20010db8" + "00" * 11 + "80"))


def eth(*layers, **kw):
    frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **kw)
    for layer in layers:
        frame = frame / layer
    return bytes(frame)


def tcp(**kw):
    return TCP(sport=40000, dport=80, seq=1000, ack=2000, flags="PA", **kw)


def ok4(payload_len, *, l3=14, ihl=20, thl=20, proto=6, **kw):
    """The Packet of an IPv4 TCP/UDP frame built by tcp()/UDP(40000 -> 80)."""
    l4 = l3 + ihl
    fields = dict(sport=40000, dport=80, flags=0x18, seq=1000, ack=2000) if proto == 6 else \
        dict(sport=40000, dport=80)
    return Packet(Reason.OK, family=4, proto=proto, **P4, l3_off=l3, l4_off=l4,
                  payload_off=l4 + thl, payload_len=payload_len, **{**fields, **kw})


# ---- every Reason, built with scapy ---------------------------------------------------------

IP4 = IP(src=A4, dst=B4)
IP6 = IPv6(src=A6, dst=B6)
U = UDP(sport=40000, dport=80)
V4 = dict(family=4, **P4, l3_off=14)
V6 = dict(family=6, **P6, l3_off=14)
TCP_DEFAULT = dict(sport=20, dport=80, flags=0x02, l4_off=34)  # scapy's TCP() at offset 34

CASES = {
    # name: (frame, link, expected Packet)
    "tcp4": (eth(IP4, tcp(), Raw(b"hello")), Link.ETHERNET, ok4(5)),
    "tcp4 options": (eth(IP(src=A4, dst=B4, options=b"\x01" * 8), tcp(options=[("MSS", 1460)]),
                         Raw(b"x" * 7)), Link.ETHERNET, ok4(7, ihl=28, thl=24)),
    "udp4": (eth(IP4, U, Raw(b"abc")), Link.ETHERNET, ok4(3, thl=8, proto=17)),
    "df is not a fragment": (eth(IP(src=A4, dst=B4, flags="DF"), tcp()), Link.ETHERNET, ok4(0)),
    "tcp6": (eth(IP6, tcp(), Raw(b"hi")), Link.ETHERNET,
             Packet(Reason.OK, proto=6, **V6, sport=40000, dport=80, flags=0x18, seq=1000,
                    ack=2000, l4_off=54, payload_off=74, payload_len=2)),
    "udp6 behind three extension headers": (
        eth(IP6, IPv6ExtHdrHopByHop(), IPv6ExtHdrRouting(), IPv6ExtHdrDestOpt(), U, Raw(b"q")),
        Link.ETHERNET, Packet(Reason.OK, proto=17, **V6, sport=40000, dport=80, l4_off=78,
                              payload_off=86, payload_len=1)),
    "padding excluded": (eth(IP4, tcp()).ljust(60, b"\0"), Link.ETHERNET, ok4(0)),
    "arp": (eth(ARP()), Link.ETHERNET, Packet(Reason.NOT_IP)),
    "lldp": (eth(Raw(b"\x02\x07" + b"\0" * 40), type=0x88CC), Link.ETHERNET,
             Packet(Reason.NOT_IP)),
    "802.3 length field": (bytes(Dot3(src="02:00:00:00:00:01", dst="01:80:c2:00:00:00") / LLC()
                                 / Raw(b"\0" * 40)), Link.ETHERNET, Packet(Reason.NOT_IP)),
    "mpls unicast": (eth(Raw(b"\x00\x01\x01\x40" + bytes(IP4 / tcp())), type=0x8847),
                     Link.ETHERNET, Packet(Reason.MPLS)),
    "mpls multicast in a vlan": (eth(Dot1Q(vlan=7, type=0x8848), Raw(b"\x00\x01\x01\x40")),
                                 Link.ETHERNET, Packet(Reason.MPLS, vlans=(7,))),
    "ipv4 more fragments": (eth(IP(src=A4, dst=B4, flags="MF"), tcp()), Link.ETHERNET,
                            Packet(Reason.FRAGMENT, proto=6, **V4)),
    "ipv4 fragment offset": (eth(IP(src=A4, dst=B4, frag=3, proto=17), Raw(b"z" * 16)),
                             Link.ETHERNET, Packet(Reason.FRAGMENT, proto=17, **V4)),
    "ipv6 fragment header": (eth(IP6, IPv6ExtHdrFragment(), tcp()), Link.ETHERNET,
                             Packet(Reason.FRAGMENT, proto=44, **V6)),
    "ipv6 fragment after hop-by-hop": (eth(IP6, IPv6ExtHdrHopByHop(), IPv6ExtHdrFragment(), U),
                                       Link.ETHERNET, Packet(Reason.FRAGMENT, proto=44, **V6)),
    "icmp": (eth(IP4, ICMP()), Link.ETHERNET, Packet(Reason.NOT_TCP_UDP, proto=1, **V4)),
    "gre": (eth(IP(src=A4, dst=B4, proto=47), Raw(b"\0" * 8)), Link.ETHERNET,
            Packet(Reason.NOT_TCP_UDP, proto=47, **V4)),
    "ipv6 no next header": (eth(IPv6(src=A6, dst=B6, nh=59), Raw(b"\0" * 8)), Link.ETHERNET,
                            Packet(Reason.NOT_TCP_UDP, proto=59, **V6)),
    "icmpv6 behind a destination option": (eth(IP6, IPv6ExtHdrDestOpt(nh=58), Raw(b"\x80" * 8)),
                                           Link.ETHERNET,
                                           Packet(Reason.NOT_TCP_UDP, proto=58, **V6)),
    "runt": (b"\x02" * 13, Link.ETHERNET, Packet(Reason.TRUNCATED)),
    "cut vlan tag": (eth(Dot1Q(vlan=9), IP4)[:16], Link.ETHERNET, Packet(Reason.TRUNCATED)),
    "cut ipv4 header": (eth(IP4, tcp())[:33], Link.ETHERNET,
                        Packet(Reason.TRUNCATED, l3_off=14)),
    "cut ipv4 options": (eth(IP(src=A4, dst=B4, options=b"\x01" * 8), tcp())[:40], Link.ETHERNET,
                         Packet(Reason.TRUNCATED, proto=6, **V4, short=True)),
    "cut tcp header": (eth(IP4, tcp())[:50], Link.ETHERNET,
                       Packet(Reason.TRUNCATED, proto=6, **V4, short=True, l4_off=34)),
    "cut tcp options": (eth(IP4, tcp(options=[("MSS", 1460)]))[:56], Link.ETHERNET,
                        Packet(Reason.TRUNCATED, proto=6, **V4, short=True, l4_off=34,
                               sport=40000, dport=80, flags=0x18, seq=1000, ack=2000)),
    "cut udp header": (eth(IP4, U)[:40], Link.ETHERNET,
                       Packet(Reason.TRUNCATED, proto=17, **V4, short=True, l4_off=34)),
    "cut ipv6 header": (eth(IP6, tcp())[:53], Link.ETHERNET,
                        Packet(Reason.TRUNCATED, l3_off=14)),
    "cut extension header length": (eth(IP6, IPv6ExtHdrDestOpt(len=1), U)[:56], Link.ETHERNET,
                                    Packet(Reason.TRUNCATED, proto=60, **V6, short=True)),
    "cut extension header": (eth(IP6, IPv6ExtHdrDestOpt(), U)[:58], Link.ETHERNET,
                             Packet(Reason.TRUNCATED, proto=60, **V6, short=True)),
    "ipv6 ethertype, short ipv4 packet": (eth(Raw(bytes(IP4 / U)), type=0x86DD), Link.ETHERNET,
                                          Packet(Reason.TRUNCATED, l3_off=14)),
    "ipv6 ethertype, ipv4 packet": (eth(Raw(bytes(IP4 / tcp())), type=0x86DD), Link.ETHERNET,
                                    Packet(Reason.BAD_IP_HEADER, l3_off=14)),
    "ipv4 ethertype, version 5": (eth(Raw(b"\x55" + bytes(IP4 / tcp())[1:]), type=0x0800),
                                  Link.ETHERNET, Packet(Reason.BAD_IP_HEADER, l3_off=14)),
    "ihl 4": (eth(IP(src=A4, dst=B4, ihl=4), tcp()), Link.ETHERNET,
              Packet(Reason.BAD_IP_HEADER, l3_off=14)),
    "total length below the header": (eth(IP(src=A4, dst=B4, ihl=6, len=20,
                                             options=b"\x01" * 4), tcp()),
                                      Link.ETHERNET, Packet(Reason.BAD_IP_HEADER, l3_off=14)),
    "ipv6 version 4": (eth(Raw(b"\x40" + bytes(IP6 / tcp())[1:]), type=0x86DD), Link.ETHERNET,
                       Packet(Reason.BAD_IP_HEADER, l3_off=14)),
    "ipv6 jumbogram": (eth(IPv6(src=A6, dst=B6, plen=0), tcp()), Link.ETHERNET,
                       Packet(Reason.BAD_IP_HEADER, l3_off=14)),
    "extension header past the payload": (eth(IPv6(src=A6, dst=B6, plen=8),
                                              IPv6ExtHdrDestOpt(len=1), U),
                                          Link.ETHERNET,
                                          Packet(Reason.BAD_IP_HEADER, proto=60, **V6)),
    "tcp data offset 4": (eth(IP4, TCP(dataofs=4)), Link.ETHERNET,
                          Packet(Reason.BAD_L4_HEADER, proto=6, **V4, **TCP_DEFAULT)),
    "tcp header past the ip packet": (eth(IP(src=A4, dst=B4, len=50), TCP(dataofs=10),
                                          Raw(b"\0" * 30)), Link.ETHERNET,
                                      Packet(Reason.BAD_L4_HEADER, proto=6, **V4, **TCP_DEFAULT)),
    "ip packet too short for tcp": (eth(IP(src=A4, dst=B4, len=30), tcp()), Link.ETHERNET,
                                    Packet(Reason.BAD_L4_HEADER, proto=6, **V4, l4_off=34)),
    "udp length 7": (eth(IP4, UDP(len=7), Raw(b"\0" * 4)), Link.ETHERNET,
                     Packet(Reason.BAD_L4_HEADER, proto=17, **V4, sport=53, dport=53,
                            l4_off=34)),
    "nine extension headers": (eth(IP6, *[IPv6ExtHdrDestOpt() for _ in range(9)], U),
                               Link.ETHERNET, Packet(Reason.IPV6_EXT_LIMIT, proto=60, **V6)),
    "eight extension headers": (eth(IP6, *[IPv6ExtHdrDestOpt() for _ in range(8)], U),
                                Link.ETHERNET,
                                Packet(Reason.OK, proto=17, **V6, sport=40000, dport=80,
                                       l4_off=118, payload_off=126)),
    "unknown link": (eth(IP4, tcp()), 147, Packet(Reason.UNKNOWN_LINK)),
    "raw ipv4": (bytes(IP4 / tcp() / Raw(b"ab")), Link.RAW, ok4(2, l3=0)),
    "raw ipv6": (bytes(IP6 / U), Link.RAW,
                 Packet(Reason.OK, proto=17, family=6, **P6, sport=40000, dport=80, l4_off=40,
                        payload_off=48)),
    "raw version 7": (b"\x70" + bytes(IP4 / tcp())[1:], Link.RAW, Packet(Reason.BAD_IP_HEADER)),
    "raw empty": (b"", Link.RAW, Packet(Reason.TRUNCATED)),
    "ipv4 link": (bytes(IP4 / U), Link.IPV4, ok4(0, l3=0, thl=8, proto=17)),
    "ipv4 link, ipv6 packet": (bytes(IP6 / U), Link.IPV4, Packet(Reason.BAD_IP_HEADER)),
    "ipv6 link": (bytes(IP6 / tcp()), Link.IPV6,
                  Packet(Reason.OK, proto=6, family=6, **P6, sport=40000, dport=80, flags=0x18,
                         seq=1000, ack=2000, l4_off=40, payload_off=60)),
    "linux sll": (bytes(CookedLinux(proto=0x0800) / IP4 / tcp() / Raw(b"abcd")),
                  Link.LINUX_SLL, ok4(4, l3=16)),
    "linux sll, arp": (bytes(CookedLinux(proto=0x0806) / ARP()), Link.LINUX_SLL,
                       Packet(Reason.NOT_IP)),
    "linux sll, cut": (bytes(CookedLinux(proto=0x0800))[:15], Link.LINUX_SLL,
                       Packet(Reason.TRUNCATED)),
    "linux sll2": (bytes(CookedLinuxV2(proto=0x86DD) / IP6 / U / Raw(b"abc")), Link.LINUX_SLL2,
                   Packet(Reason.OK, proto=17, family=6, **P6, l3_off=20, sport=40000,
                          dport=80, l4_off=60, payload_off=68, payload_len=3)),
    "linux sll2, vlan": (bytes(CookedLinuxV2(proto=0x8100) / Dot1Q(vlan=33) / IP4 / U),
                         Link.LINUX_SLL2, ok4(0, l3=24, thl=8, proto=17, vlans=(33,))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_decodes(name):
    frame, link, want = CASES[name]
    assert cdecode.decode(frame, link) == want


def test_every_reason_is_covered():
    assert {want.reason for _, _, want in CASES.values()} == set(Reason)


def test_short_packet_counts_the_payload_present():
    frame = eth(IP4, tcp(), Raw(b"x" * 100))[:80]
    assert cdecode.decode(frame) == ok4(80 - 54, short=True)


@pytest.mark.parametrize("tags, want", [
    ([Dot1Q(vlan=10)], (10,)),
    ([Dot1AD(vlan=100), Dot1Q(vlan=200)], (100, 200)),
    ([Dot1Q(vlan=4095, prio=7, dei=1)], (4095,)),
    ([Dot1Q(vlan=i, type=0x9100) for i in range(1, 4)] + [Dot1Q(vlan=4)], (1, 2, 3, 4)),
    ([Dot1Q(vlan=i) for i in range(1, 9)], tuple(range(1, 9))),
])
def test_stacked_vlans_outermost_first(tags, want):
    frame = eth(*tags, IP4, U)
    pkt = cdecode.decode(frame)
    assert pkt.reason is Reason.OK and pkt.vlans == want and pkt.l3_off == 14 + 4 * len(want)


def test_a_ninth_vlan_tag_is_not_ip():
    pkt = cdecode.decode(eth(*[Dot1Q(vlan=i) for i in range(1, 10)], IP4, U))
    assert pkt == Packet(Reason.NOT_IP, vlans=tuple(range(1, 9)))


# ---- truncation at every byte -----------------------------------------------------------------

TRUNCATION_FRAMES = {
    "vlan ipv4 tcp options": (eth(Dot1Q(vlan=5), IP(src=A4, dst=B4, options=b"\x01" * 4),
                                  tcp(options=[("MSS", 1460), ("NOP", None), ("NOP", None)]),
                                  Raw(b"payload!")), Link.ETHERNET),
    "ipv6 extensions udp": (eth(IP6, IPv6ExtHdrHopByHop(), IPv6ExtHdrRouting(), U,
                                Raw(b"0123456789")), Link.ETHERNET),
    "sll ipv4 udp": (bytes(CookedLinux(proto=0x0800) / IP4 / U / Raw(b"abcdef")),
                     Link.LINUX_SLL),
    "sll2 ipv6 tcp": (bytes(CookedLinuxV2(proto=0x86DD) / IP6 / tcp() / Raw(b"abc")),
                      Link.LINUX_SLL2),
    "raw ipv4 tcp": (bytes(IP4 / tcp() / Raw(b"abcd")), Link.RAW),
}


@pytest.mark.parametrize("name", sorted(TRUNCATION_FRAMES))
def test_truncation_at_every_byte(name):
    """Cut inside a header: TRUNCATED; cut inside the payload: OK, short, what is left."""
    frame, link = TRUNCATION_FRAMES[name]
    full = cdecode.decode(frame, link)
    assert full.reason is Reason.OK and not full.short and full.payload_len > 0
    for cut in range(len(frame)):
        pkt = cdecode.decode(frame[:cut], link)
        if cut < full.payload_off:
            assert pkt.reason is Reason.TRUNCATED and pkt.payload_len == 0, cut
        else:
            assert pkt == Packet(**{**_fields(full), "short": True,
                                    "payload_len": cut - full.payload_off}), cut


def _fields(pkt: Packet) -> dict:
    return {name: getattr(pkt, name) for name in Packet.__slots__}


# ---- the batch call -----------------------------------------------------------------------------

def test_batch_reads_frames_in_place_in_any_order():
    frames = [eth(IP4, tcp(), Raw(b"a" * i)) for i in range(5)] + [b"", eth(ARP())]
    buf = bytearray()
    offs, lens = array("Q"), array("I")
    for f in frames:
        offs.append(len(buf))
        lens.append(len(f))
        buf += f + b"\xee" * 3      # junk between frames must not be read
    order = [6, 0, 3, 5, 1, 4, 2]
    recs = cdecode.decode_many(bytes(buf), array("Q", [offs[i] for i in order]),
                               array("I", [lens[i] for i in order]))
    assert [cdecode.to_packet(r) for r in recs] == [cdecode.decode(frames[i]) for i in order]


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "mmap"])
def test_batch_takes_any_contiguous_buffer(kind, tmp_path):
    frame = eth(IP4, U, Raw(b"zz"))
    if kind == "mmap":
        path = tmp_path / "f"
        path.write_bytes(frame)
        with open(path, "rb") as fh:
            buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    else:
        buf = {"bytes": bytes, "bytearray": bytearray, "memoryview": memoryview}[kind](frame)
    recs = cdecode.decode_many(buf, [0], [len(frame)], Link.ETHERNET)
    assert cdecode.to_packet(recs[0]) == ok4(2, thl=8, proto=17)


def test_batch_reuses_an_output_array():
    out = cdecode.decode_many(b"", [], [])
    assert len(out) == 0
    frame = eth(IP4, U)
    out = cdecode.decode_many(frame, [0, 0], [len(frame), 10])
    again = cdecode.decode_many(frame, [0], [len(frame)], out=out)
    assert again is out and out[0].reason == Reason.OK and out[1].reason == Reason.TRUNCATED


@pytest.mark.parametrize("args, message", [
    ((b"x" * 10, [0, 11], [0, 0]), "frame 1 (offset 11, length 0)"),
    ((b"x" * 10, [4], [7]), "frame 0 (offset 4, length 7) lies past the 10-byte buffer"),
    ((b"x" * 10, [2**64 - 1], [2]), "frame 0"),
    ((b"x" * 10, [0, 1], [1]), "2 offsets but 1 lengths"),
    ((b"x" * 10, [-1], [1]), "offsets must be unsigned 64-bit"),
    ((b"x" * 10, [0], [2**32]), "lengths must be unsigned 32-bit"),
    ((b"x" * 10, ["0"], [1]), "offsets must be unsigned"),
    (("frame", [0], [1]), "buf must be bytes-like, not str"),
    (([1, 2], [0], [1]), "buf must be a contiguous bytes-like object"),
    ((b"x", [0], [1], "ethernet"), "link must be a pcap link type number"),
    ((b"x", [0], [1], 2**31), "link must be"),
])
def test_bad_batch_arguments_raise_value_error(args, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cdecode.decode_many(*args)


def test_bad_output_array_raises_value_error():
    with pytest.raises(ValueError, match="at least 2 records"):
        cdecode.decode_many(b"xx", [0, 1], [1, 1], out=cdecode.decode_many(b"x", [0], [1]))
    with pytest.raises(ValueError, match="struct fr_pkt"):
        cdecode.decode_many(b"xx", [0], [1], out=bytearray(100))


# ---- real captures ------------------------------------------------------------------------------

def sample_paths() -> list[Path]:
    if not PCAPS.is_dir():
        pytest.skip(f"no sample captures at {PCAPS}")
    return sorted(p for p in PCAPS.iterdir() if p.suffix in (".pcap", ".pcapng"))


@lru_cache(maxsize=None)
def read_frames(path: Path) -> tuple[tuple[bytes, int], ...]:
    """(frame, link type) of every frame, in capture order."""
    reader = RawPcapNgReader if path.suffix == ".pcapng" else RawPcapReader
    with reader(str(path)) as r:
        return tuple((data, getattr(meta, "linktype", None) or r.linktype) for data, meta in r)


def decode_capture(path: Path) -> list[Packet]:
    frames = read_frames(path)
    links = {link for _, link in frames}
    assert len(links) <= 1, f"{path.name}: several link types"
    buf = b"".join(f for f, _ in frames)
    offs = array("Q")
    pos = 0
    for f, _ in frames:
        offs.append(pos)
        pos += len(f)
    recs = cdecode.decode_many(buf, offs, array("I", (len(f) for f, _ in frames)),
                               links.pop() if links else Link.ETHERNET)
    return [cdecode.to_packet(r) for r in recs]


def truth_rows(path: Path) -> list[dict[str, str]]:
    truth = path.with_name(path.name.rsplit(".", 1)[0] + ".truth.tsv")
    if not truth.exists():
        pytest.skip(f"no {truth.name}")
    with open(truth, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def _first(value: str) -> str:
    return value.split("\x1f")[0]


def _addr(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def test_samples_match_tshark():
    """Addresses, ports and TCP flags of every TCP/UDP frame agree with tshark's; a frame
    tshark dissects as plain TCP over Ethernet+IP is one the decoder load-balances."""
    paths = sample_paths()
    checked = 0
    for path in paths:
        rows = truth_rows(path)
        pkts = decode_capture(path)
        assert len(rows) == len(pkts), path.name
        for row, pkt in zip(rows, pkts):
            where = f"{path.name} frame {row['frame.number']}"
            src = _first(row["ip.src"]) or _first(row["ipv6.src"])
            dst = _first(row["ip.dst"]) or _first(row["ipv6.dst"])
            if pkt.reason in (Reason.OK, Reason.NOT_TCP_UDP, Reason.FRAGMENT):
                assert (pkt.src, pkt.dst) == (_addr(src), _addr(dst)), where
            if pkt.reason is Reason.OK and pkt.proto == 6:
                assert row["tcp.srcport"].split("\x1f")[0] == str(pkt.sport), where
                assert row["tcp.dstport"].split("\x1f")[0] == str(pkt.dport), where
                assert int(_first(row["tcp.flags"]), 16) & 0xFF == pkt.flags, where
                checked += 1
            plain = (row["eth.type"] in ("0x0800", "0x86dd") and row["tcp.srcport"]
                     and "\x1f" not in row["tcp.srcport"] + row["ip.src"] + row["ipv6.src"])
            if plain:
                assert pkt.reason in (Reason.OK, Reason.FRAGMENT), where
            if pkt.reason is Reason.NOT_IP:
                assert not (row["ip.src"] or row["ipv6.src"]), where
    assert checked > 10000


# ---- against the Python decoder -----------------------------------------------------------------

def mutations(frames: list[tuple[bytes, int]], rng: random.Random, count: int):
    """Random cuts and byte flips of real frames, mostly in the headers, and random bytes."""
    links = [Link.ETHERNET, Link.RAW, Link.LINUX_SLL, Link.LINUX_SLL2, Link.IPV4, Link.IPV6, 42]
    for _ in range(count):
        frame, link = rng.choice(frames)
        b = bytearray(frame)
        for _ in range(rng.randint(1, 4)):
            if b:
                b[min(rng.randrange(len(b)), rng.randrange(80))] = rng.randrange(256)
        yield bytes(b[: rng.randint(0, len(b))] if rng.random() < 0.3 else b), link
        yield bytes(rng.randrange(256) for _ in range(rng.randint(0, 96))), rng.choice(links)
        yield frame, rng.choice(links)


def test_matches_python_decoder():
    pyframe = pytest.importorskip("weboslb.proto.frame")
    corpus = [(f, link) for f, link, _ in CASES.values()]
    corpus += [(f[:cut], link) for f, link in TRUNCATION_FRAMES.values() for cut in range(len(f))]
    if PCAPS.is_dir():
        for path in sample_paths():
            corpus += read_frames(path)
    corpus += list(mutations(corpus, random.Random(20240601), 20000))
    mismatches = []
    for frame, link in corpus:
        want, got = pyframe.decode(frame, link), cdecode.decode(frame, link)
        if want != got:
            mismatches.append((frame.hex(), link, want, got))
    assert mismatches == [], f"{len(mismatches)} of {len(corpus)} differ; first: {mismatches[0]}"
