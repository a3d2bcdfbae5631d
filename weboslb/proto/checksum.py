"""The Internet checksum (RFC 1071) and the TCP/UDP checksum over the IPv4/IPv6 pseudo-header.

The ones' complement sum does not depend on byte order (RFC 1071 §2(B)), so the words are
summed in native order by ``array`` and the result swapped once at the end.
"""
from __future__ import annotations

import struct
import sys
from array import array

_SWAP = sys.byteorder == "little"


def ones_sum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The folded 16-bit ones' complement sum of ``data`` (odd lengths padded with a zero)."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    total = _fold(sum(array("H", bytes(data))))
    if _SWAP:
        total = ((total & 0xFF) << 8) | (total >> 8)
    return _fold(total + initial)


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def internet_checksum(data: bytes | bytearray | memoryview) -> int:
    """The checksum to store in a header whose checksum field is zero in ``data``."""
    return ~ones_sum(data) & 0xFFFF


def pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    """The IPv4 (12 bytes) or IPv6 (40 bytes) pseudo-header, by the address length."""
    if len(src) == 4 and len(dst) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    if len(src) == 16 and len(dst) == 16:
        return src + dst + struct.pack("!I3xB", length, proto)
    raise ValueError("src and dst must both be 4 or both be 16 bytes")


def l4_checksum(src: bytes, dst: bytes, proto: int, segment: bytes) -> int:
    """The TCP/UDP checksum of ``segment`` (its checksum field zero).  A UDP result of 0 is
    sent as 0xFFFF, since 0 means "no checksum"."""
    value = ~ones_sum(segment, ones_sum(pseudo_header(src, dst, proto, len(segment)))) & 0xFFFF
    return 0xFFFF if value == 0 and proto == 17 else value


def l4_checksum_ok(src: bytes, dst: bytes, proto: int, segment: bytes) -> bool:
    """Whether ``segment`` (checksum field as received) verifies against its pseudo-header."""
    total = ones_sum(segment, ones_sum(pseudo_header(src, dst, proto, len(segment))))
    return total == 0xFFFF
