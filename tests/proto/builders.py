"""Test material: frames built with scapy and TLS hellos built byte by byte (scapy's TLS layer
needs the cryptography package, which the project does not depend on)."""
from __future__ import annotations

import struct

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet as ScapyPacket

MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
V4 = dict(src="192.0.2.1", dst="198.51.100.7")
V6 = dict(src="2001:db8::1", dst="2001:db8:ffff::80")


def eth(*layers: ScapyPacket, **fields) -> ScapyPacket:
    """An Ethernet frame with fixed MACs (no ARP lookups, no warnings) over ``layers``."""
    frame = Ether(**MAC, **fields)
    for layer in layers:
        frame = frame / layer
    return frame


def tcp4(data: bytes = b"", **tcp) -> ScapyPacket:
    return IP(**V4) / TCP(**{"sport": 40000, "dport": 80, **tcp}) / data


def tcp6(data: bytes = b"", **tcp) -> ScapyPacket:
    return IPv6(**V6) / TCP(**{"sport": 40000, "dport": 443, **tcp}) / data


def udp4(data: bytes = b"", **udp) -> ScapyPacket:
    return IP(**V4) / UDP(**{"sport": 5353, "dport": 53, **udp}) / data


def vlan_stack(ids: list[int], types: list[int] | None = None) -> bytes:
    """An Ethernet header followed by VLAN tags (TPIDs from ``types``), then IPv4/TCP."""
    types = types or [0x8100] * len(ids)
    tpids = types + [0x0800]
    out = bytes(Ether(**MAC, type=tpids[0]))
    for i, vid in enumerate(ids):
        out += struct.pack("!HH", vid, tpids[i + 1])
    return out + bytes(tcp4(b"x"))


# --- TLS -----------------------------------------------------------------------------------

def record(body: bytes, ctype: int = 22, version: int = 0x0301) -> bytes:
    return struct.pack("!BHH", ctype, version, len(body)) + body


def records(message: bytes, sizes: list[int], version: int = 0x0301) -> bytes:
    """``message`` cut into handshake records of the given fragment sizes (the rest last)."""
    out, pos = b"", 0
    for size in sizes:
        out += record(message[pos:pos + size], version=version)
        pos += size
    return out + (record(message[pos:], version=version) if pos < len(message) else b"")


def handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def extensions(*exts: tuple[int, bytes]) -> bytes:
    block = b"".join(struct.pack("!HH", t, len(d)) + d for t, d in exts)
    return struct.pack("!H", len(block)) + block


def sni(name: bytes) -> tuple[int, bytes]:
    entry = b"\x00" + struct.pack("!H", len(name)) + name
    return 0, struct.pack("!H", len(entry)) + entry


def versions_offered(*versions: int) -> tuple[int, bytes]:
    body = b"".join(struct.pack("!H", v) for v in versions)
    return 43, bytes([len(body)]) + body


def version_selected(version: int) -> tuple[int, bytes]:
    return 43, struct.pack("!H", version)


def client_hello(sid: bytes = b"", version: int = 0x0303, ciphers: bytes = b"\x00\x2f\x00\x35",
                 exts: bytes | None = b"") -> bytes:
    """A ClientHello message; ``exts`` is an extensions() block, b"" for an empty block and
    None for no block at all."""
    body = (struct.pack("!H", version) + bytes(range(32)) + bytes([len(sid)]) + sid
            + struct.pack("!H", len(ciphers)) + ciphers + b"\x01\x00"
            + (extensions() if exts == b"" else exts or b""))
    return handshake(1, body)


def server_hello(sid: bytes = b"", version: int = 0x0303, exts: bytes | None = None,
                 random: bytes = bytes(range(100, 132))) -> bytes:
    body = struct.pack("!H", version) + random + bytes([len(sid)]) + sid + b"\x00\x2f\x00"
    return handshake(2, body + (exts or b""))


HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


def sslv2_hello(sid: bytes = b"", version: int = 0x0301, ciphers: bytes = b"\x00\x00\x04" * 3,
                challenge: bytes = bytes(16)) -> bytes:
    body = (b"\x01" + struct.pack("!HHHH", version, len(ciphers), len(sid), len(challenge))
            + ciphers + sid + challenge)
    return struct.pack("!H", 0x8000 | len(body)) + body
