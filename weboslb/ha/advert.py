"""VRRPv2 advertisements (RFC 3768 §5) as they travel on the wire, so the live switch can
send them over IP protocol 112 and replays can write them into captures.

    0                   1                   2                   3
    |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
    |   Auth Type   |   Adver Int   |          Checksum             |
    |                         IP Address (1) ...                    |
    |                     Authentication Data (1)                   |
    |                     Authentication Data (2)                   |

The checksum is the Internet checksum of the whole VRRP message.  IPv4 only (VRRPv2).
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from weboslb.proto.checksum import internet_checksum, ones_sum

VRRP_PROTO = 112
VRRP_GROUP = "224.0.0.18"
VRRP_TTL = 255  # RFC 3768 §7.1: a receiver drops advertisements with any other TTL
VERSION = 2
TYPE_ADVERTISEMENT = 1
AUTH_LEN = 8
_HEAD = struct.Struct(">BBBBBBH")
_IP = struct.Struct(">BBHHHBBH4s4s")


class VrrpError(ValueError):
    """Not a valid VRRPv2 advertisement; ``reason`` is a short counter name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Advert:
    vrid: int
    priority: int  # 0: the master is leaving; 255: the address owner
    adver: int  # advertisement interval, seconds
    addrs: tuple[str, ...]
    auth_type: int = 0
    auth_data: bytes = bytes(AUTH_LEN)

    def encode(self) -> bytes:
        if not 1 <= self.vrid <= 255 or not 0 <= self.priority <= 255 or \
                not 1 <= self.adver <= 255 or not 1 <= len(self.addrs) <= 255:
            raise ValueError(f"advertisement out of range: {self}")
        body = b"".join(ipaddress.IPv4Address(a).packed for a in self.addrs)
        auth = self.auth_data.ljust(AUTH_LEN, b"\0")[:AUTH_LEN]
        head = _HEAD.pack((VERSION << 4) | TYPE_ADVERTISEMENT, self.vrid, self.priority,
                          len(self.addrs), self.auth_type, self.adver, 0)
        msg = head + body + auth
        return msg[:6] + struct.pack(">H", internet_checksum(msg)) + msg[8:]

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Advert:
        data = bytes(data)
        if len(data) < _HEAD.size + 4 + AUTH_LEN:
            raise VrrpError("malformed", f"{len(data)} bytes is shorter than an advertisement")
        vt, vrid, prio, count, auth_type, adver, _ = _HEAD.unpack_from(data)
        if vt >> 4 != VERSION:
            raise VrrpError("version", f"VRRP version {vt >> 4}, expected {VERSION}")
        if vt & 0xF != TYPE_ADVERTISEMENT:
            raise VrrpError("malformed", f"VRRP type {vt & 0xF} is not an advertisement")
        size = _HEAD.size + 4 * count + AUTH_LEN
        if count == 0 or len(data) != size:
            raise VrrpError("malformed", f"{count} addresses need {size} bytes, "
                                         f"not {len(data)}")
        if ones_sum(data) != 0xFFFF:
            raise VrrpError("checksum", "advertisement checksum does not match")
        if vrid == 0 or adver == 0:
            raise VrrpError("malformed", f"vrid {vrid} / adver {adver} must be 1..255")
        addrs = tuple(str(ipaddress.IPv4Address(data[8 + 4 * i:12 + 4 * i]))
                      for i in range(count))
        return cls(vrid, prio, adver, addrs, auth_type, data[size - AUTH_LEN:])


def ip_packet(message: bytes, src: str, *, ident: int = 0) -> bytes:
    """The advertisement inside its IPv4 header (TTL 255, to 224.0.0.18), for captures."""
    total = _IP.size + len(message)
    head = _IP.pack(0x45, 0xC0, total, ident & 0xFFFF, 0, VRRP_TTL, VRRP_PROTO, 0,
                    ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(VRRP_GROUP).packed)
    head = head[:10] + struct.pack(">H", internet_checksum(head)) + head[12:]
    return head + message


def from_ip_packet(packet: bytes) -> tuple[str, int, bytes]:
    """(source address, TTL, VRRP message) of an IPv4 packet carrying VRRP."""
    if len(packet) < _IP.size:
        raise VrrpError("malformed", "shorter than an IPv4 header")
    vihl, _, total, _, _, ttl, proto, _, src, _ = _IP.unpack_from(packet)
    ihl = (vihl & 0xF) * 4
    if vihl >> 4 != 4 or ihl < _IP.size or total > len(packet) or total < ihl:
        raise VrrpError("malformed", "not an IPv4 packet")
    if proto != VRRP_PROTO:
        raise VrrpError("malformed", f"IP protocol {proto} is not VRRP ({VRRP_PROTO})")
    return str(ipaddress.IPv4Address(src)), ttl, bytes(packet[ihl:total])


def virtual_mac(vrid: int) -> bytes:
    """00-00-5E-00-01-<VRID>: the MAC the master answers ARP for."""
    if not 1 <= vrid <= 255:
        raise ValueError(f"vrid {vrid} out of range 1..255")
    return bytes((0x00, 0x00, 0x5E, 0x00, 0x01, vrid))
