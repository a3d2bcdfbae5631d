"""The frame decoder: link layer, VLAN tags, IPv4/IPv6 and the TCP/UDP header of one frame.

The C batch decoder (``csrc/decode.c``) follows the same rules, frame for frame:

* Link layer.  Ethernet: EtherType at 12; SLL: protocol at 14 of a 16-byte header; SLL2:
  protocol at 0 of a 20-byte header; then 802.1Q/802.1ad tags (0x8100, 0x88a8, 0x9100), at
  most 8 (a ninth tag is an unknown EtherType: NOT_IP).  MPLS -> MPLS; any other type, 802.3
  lengths included -> NOT_IP.  RAW takes the IP version from the first nibble (neither 4 nor 6:
  BAD_IP_HEADER); IPV4/IPV6 links start with that header.  Other links -> UNKNOWN_LINK.
* Every length is judged against what the packet claims before what the frame holds: a
  header that does not fit in the IP packet (or IPv6 payload) is BAD_*, one that fits but is
  cut by the end of the frame is TRUNCATED.  Frames shorter than the IP length are ``short``.
* IPv4: 20 bytes present, then version 4, IHL >= 5, total length >= IHL*4 (BAD_IP_HEADER),
  then the options present, then MF/offset (FRAGMENT), then the protocol.  IPv6: 40 bytes,
  version 6, payload length != 0, then hop-by-hop/routing/destination-options headers (at
  least 8 bytes each), at most 8 of them; a fragment header -> FRAGMENT.
* What a failed frame carries: ``vlans`` always; ``l3_off`` once the link layer announced IP;
  ``family/proto/src/dst/short`` once the fixed IP header is valid (``proto`` is the header
  where the walk stopped: 44 for an IPv6 fragment); ``l4_off`` for TCP/UDP; ports, flags,
  seq and ack once the fixed TCP (20) / UDP (8) header is there.  Payload fields only if OK.

Checksums are not verified: captures taken on a sender carry offloaded ("wrong") checksums.
"""
from __future__ import annotations

import struct
from typing import Any

from weboslb.proto.packet import Link, Packet, Reason

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TYPES = frozenset((0x8100, 0x88A8, 0x9100))
MPLS_TYPES = frozenset((0x8847, 0x8848))
MAX_VLANS = 8
IPV6_WALKED = frozenset((0, 43, 60))  # hop-by-hop, routing, destination options
IPV6_FRAGMENT = 44
MAX_IPV6_EXT = 8
TCP = 6
UDP = 17

_U16 = struct.Struct("!H")
_TCP = struct.Struct("!HHIIBB")  # ports, seq, ack, data offset, flags
_UDP = struct.Struct("!HHH")  # ports, length

# link type -> (offset of the EtherType-like field, offset of what it announces)
_TYPED_LINKS = {Link.ETHERNET: (12, 14), Link.LINUX_SLL: (14, 16), Link.LINUX_SLL2: (0, 20)}

Frame = bytes | bytearray | memoryview


def decode(frame: Frame, link: Link | int = Link.ETHERNET) -> Packet:
    """Decode one captured frame of pcap link type ``link``; never raises on frame content."""
    if link in _TYPED_LINKS:
        type_off, off = _TYPED_LINKS[link]
        return _typed(frame, type_off, off)
    if link == Link.RAW:
        if not len(frame):
            return Packet(Reason.TRUNCATED)
        version = frame[0] >> 4
        if version == 4:
            return _ipv4(frame, 0, ())
        if version == 6:
            return _ipv6(frame, 0, ())
        return Packet(Reason.BAD_IP_HEADER)
    if link == Link.IPV4:
        return _ipv4(frame, 0, ())
    if link == Link.IPV6:
        return _ipv6(frame, 0, ())
    return Packet(Reason.UNKNOWN_LINK)


def payload(frame: Frame, pkt: Packet) -> bytes:
    """The L4 payload bytes present in the frame (empty unless the frame decoded OK)."""
    if pkt.reason != Reason.OK:
        return b""
    return bytes(frame[pkt.payload_off:pkt.payload_off + pkt.payload_len])


def _typed(buf: Frame, type_off: int, off: int) -> Packet:
    """Link layers that announce their payload with an EtherType, then VLAN tags."""
    n = len(buf)
    if off > n:
        return Packet(Reason.TRUNCATED)
    vlans: list[int] = []
    etype = _U16.unpack_from(buf, type_off)[0]
    while etype in VLAN_TYPES and len(vlans) < MAX_VLANS:
        if off + 4 > n:
            return Packet(Reason.TRUNCATED, vlans=tuple(vlans))
        vlans.append(_U16.unpack_from(buf, off)[0] & 0x0FFF)
        etype = _U16.unpack_from(buf, off + 2)[0]
        off += 4
    tags = tuple(vlans)
    if etype == ETH_IPV4:
        return _ipv4(buf, off, tags)
    if etype == ETH_IPV6:
        return _ipv6(buf, off, tags)
    return Packet(Reason.MPLS if etype in MPLS_TYPES else Reason.NOT_IP, vlans=tags)


def _fits(need: int, end: int, n: int, bad: Reason) -> Reason:
    """OK if ``need`` bytes fit both the packet as claimed (``end``) and the frame (``n``)."""
    if need > end:
        return bad
    if need > n:
        return Reason.TRUNCATED
    return Reason.OK


def _ipv4(buf: Frame, off: int, vlans: tuple[int, ...]) -> Packet:
    n = len(buf)
    if off + 20 > n:
        return Packet(Reason.TRUNCATED, vlans=vlans, l3_off=off)
    ihl = (buf[off] & 0x0F) * 4
    total = _U16.unpack_from(buf, off + 2)[0]
    if buf[off] >> 4 != 4 or ihl < 20 or total < ihl:
        return Packet(Reason.BAD_IP_HEADER, vlans=vlans, l3_off=off)
    end = off + total
    ip: dict[str, Any] = dict(family=4, proto=buf[off + 9], src=bytes(buf[off + 12:off + 16]),
                              dst=bytes(buf[off + 16:off + 20]), vlans=vlans, l3_off=off,
                              short=end > n)
    if off + ihl > n:
        return Packet(Reason.TRUNCATED, **ip)
    if _U16.unpack_from(buf, off + 6)[0] & 0x3FFF:  # MF flag or fragment offset
        return Packet(Reason.FRAGMENT, **ip)
    return _l4(buf, off + ihl, end, ip)


def _ipv6(buf: Frame, off: int, vlans: tuple[int, ...]) -> Packet:
    n = len(buf)
    if off + 40 > n:
        return Packet(Reason.TRUNCATED, vlans=vlans, l3_off=off)
    plen = _U16.unpack_from(buf, off + 4)[0]
    if buf[off] >> 4 != 6 or plen == 0:  # payload length 0: a jumbogram, not handled
        return Packet(Reason.BAD_IP_HEADER, vlans=vlans, l3_off=off)
    end = off + 40 + plen
    ip: dict[str, Any] = dict(family=6, proto=buf[off + 6], src=bytes(buf[off + 8:off + 24]),
                              dst=bytes(buf[off + 24:off + 40]), vlans=vlans, l3_off=off,
                              short=end > n)
    pos = off + 40
    for _ in range(MAX_IPV6_EXT):
        if ip["proto"] not in IPV6_WALKED:
            break
        reason = _fits(pos + 8, end, n, Reason.BAD_IP_HEADER)
        if reason == Reason.OK:
            length = (buf[pos + 1] + 1) * 8
            reason = _fits(pos + length, end, n, Reason.BAD_IP_HEADER)
        if reason != Reason.OK:
            return Packet(reason, **ip)
        ip["proto"] = buf[pos]
        pos += length
    else:
        if ip["proto"] in IPV6_WALKED:
            return Packet(Reason.IPV6_EXT_LIMIT, **ip)
    if ip["proto"] == IPV6_FRAGMENT:
        return Packet(Reason.FRAGMENT, **ip)
    return _l4(buf, pos, end, ip)


def _l4(buf: Frame, off: int, end: int, ip: dict[str, Any]) -> Packet:
    """The TCP or UDP header at ``off`` of an IP packet that claims to end at ``end``."""
    n = len(buf)
    proto = ip["proto"]
    if proto != TCP and proto != UDP:
        return Packet(Reason.NOT_TCP_UDP, **ip)
    fixed = 20 if proto == TCP else 8
    reason = _fits(off + fixed, end, n, Reason.BAD_L4_HEADER)
    if reason != Reason.OK:
        return Packet(reason, l4_off=off, **ip)
    if proto == TCP:
        sport, dport, seq, ack, doff, flags = _TCP.unpack_from(buf, off)
        hlen = (doff >> 4) * 4
        l4 = dict(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, l4_off=off)
        if hlen < 20:
            return Packet(Reason.BAD_L4_HEADER, **l4, **ip)
        reason = _fits(off + hlen, end, n, Reason.BAD_L4_HEADER)
    else:
        sport, dport, ulen = _UDP.unpack_from(buf, off)
        hlen = 8
        l4 = dict(sport=sport, dport=dport, l4_off=off)
        reason = Reason.BAD_L4_HEADER if ulen < 8 else Reason.OK
    if reason != Reason.OK:
        return Packet(reason, **l4, **ip)
    start = off + hlen
    return Packet(Reason.OK, payload_off=start, payload_len=min(end, n) - start, **l4, **ip)
