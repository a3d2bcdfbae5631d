"""Frame rewriting: the NAT of load-balanced packets and the segments the switch originates.

``nat`` keeps the link-layer header (Ethernet, VLAN tags, SLL/SLL2, nothing for raw IP) and the
IP options / IPv6 extension headers as they are, and recomputes what the changes invalidate:
IP total or payload length, the IPv4 header checksum and the TCP/UDP checksum.  Ethernet
padding is dropped (the lengths say where the packet ends).  The IPv6 pseudo-header uses the
IPv6 header's destination, even when a routing header names another final destination.
"""
from __future__ import annotations

import struct

from weboslb.proto.checksum import internet_checksum, l4_checksum
from weboslb.proto.frame import TCP, Frame
from weboslb.proto.packet import Packet, Reason

SEQ_MOD = 1 << 32
_ADDR_LEN = {4: 4, 6: 16}


def seq_add(a: int, d: int) -> int:
    """TCP sequence arithmetic: ``a + d`` modulo 2**32 (``d`` may be negative)."""
    return (a + d) % SEQ_MOD


def seq_diff(a: int, b: int) -> int:
    """The signed distance from ``b`` to ``a`` in sequence space (RFC 1982 style)."""
    return (a - b + (1 << 31)) % SEQ_MOD - (1 << 31)


def nat(frame: Frame, pkt: Packet, *, src: bytes | None = None, dst: bytes | None = None,
        sport: int | None = None, dport: int | None = None, seq: int | None = None,
        ack: int | None = None, payload: bytes | None = None, flags: int | None = None) -> bytes:
    """``frame`` (decoded as ``pkt``) with the given fields replaced and lengths and checksums
    made right again.  Raises ValueError for a packet that did not decode OK or a field that
    does not fit (wrong address family, out-of-range number, TCP fields on UDP)."""
    if pkt.reason != Reason.OK:
        raise ValueError(f"cannot rewrite a frame that decoded as {pkt.reason.name}")
    new_src = _addr(pkt.family, pkt.src if src is None else src)
    new_dst = _addr(pkt.family, pkt.dst if dst is None else dst)
    ip = bytearray(frame[pkt.l3_off:pkt.l4_off])
    l4 = bytearray(frame[pkt.l4_off:pkt.payload_off])
    data = bytes(frame[pkt.payload_off:pkt.payload_off + pkt.payload_len]
                 if payload is None else payload)
    if pkt.proto == TCP:
        _set_tcp(l4, sport, dport, seq, ack, flags)
    elif seq is not None or ack is not None or flags is not None:
        raise ValueError("seq, ack and flags are TCP fields")
    else:
        _set(l4, 0, "!H", sport)
        _set(l4, 2, "!H", dport)
    segment_len = len(l4) + len(data)
    _set_ip(ip, pkt.family, new_src, new_dst, segment_len)
    if pkt.proto == TCP:
        csum_off, keep_zero = 16, False
    else:
        _set(l4, 4, "!H", segment_len)
        csum_off, keep_zero = 6, pkt.family == 4 and l4[6:8] == b"\0\0"
    if not keep_zero:  # an IPv4 UDP sender that sent no checksum still sends none
        l4[csum_off:csum_off + 2] = b"\0\0"
        csum = l4_checksum(new_src, new_dst, pkt.proto, bytes(l4) + data)
        struct.pack_into("!H", l4, csum_off, csum)
    return bytes(frame[:pkt.l3_off]) + bytes(ip) + bytes(l4) + data


def build_tcp(l2: bytes, family: int, src: bytes, dst: bytes, sport: int, dport: int, seq: int,
              ack: int, flags: int, payload: bytes = b"", window: int = 65535) -> bytes:
    """A TCP segment the switch originates (an RST to a client, a SYN toward a real), after
    the link-layer header ``l2`` (possibly empty).  TTL/hop limit 64, no options, DF set."""
    src, dst = _addr(family, src), _addr(family, dst)
    l4 = bytearray(20)
    l4[12] = 5 << 4
    _set_tcp(l4, sport, dport, seq, ack, flags)
    _set(l4, 14, "!H", window)
    if family == 4:
        ip = bytearray(struct.pack("!BBHHHBBH", 0x45, 0, 0, 0, 0x4000, 64, TCP, 0))
    else:
        ip = bytearray(struct.pack("!IHBB", 6 << 28, 0, TCP, 64))
    ip += bytes(len(src) + len(dst))
    _set_ip(ip, family, src, dst, len(l4) + len(payload))
    struct.pack_into("!H", l4, 16, l4_checksum(src, dst, TCP, bytes(l4) + payload))
    return bytes(l2) + bytes(ip) + bytes(l4) + bytes(payload)


def _addr(family: int, addr: bytes) -> bytes:
    if family not in _ADDR_LEN or len(addr) != _ADDR_LEN[family]:
        raise ValueError(f"address {bytes(addr).hex()} is not an IPv{family} address")
    return bytes(addr)


def _set(buf: bytearray, off: int, fmt: str, value: int | None) -> None:
    """Store ``value`` (if given) at ``off``; struct rejects values out of range."""
    if value is not None:
        try:
            struct.pack_into(fmt, buf, off, value)
        except struct.error as exc:
            raise ValueError(f"{value!r} does not fit the field: {exc}") from None


def _set_tcp(l4: bytearray, sport: int | None, dport: int | None, seq: int | None,
             ack: int | None, flags: int | None) -> None:
    _set(l4, 0, "!H", sport)
    _set(l4, 2, "!H", dport)
    _set(l4, 4, "!I", seq)
    _set(l4, 8, "!I", ack)
    _set(l4, 13, "!B", flags)


def _set_ip(ip: bytearray, family: int, src: bytes, dst: bytes, segment_len: int) -> None:
    """Addresses and length of the IP header (with its options or extension headers)."""
    if family == 4:
        ip[12:16], ip[16:20] = src, dst
        _set(ip, 2, "!H", len(ip) + segment_len)
        ip[10:12] = b"\0\0"
        struct.pack_into("!H", ip, 10, internet_checksum(ip))
    else:
        ip[8:24], ip[24:40] = src, dst
        _set(ip, 4, "!H", len(ip) - 40 + segment_len)
