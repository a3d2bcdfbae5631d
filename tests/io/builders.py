"""Captures built byte by byte with ``struct``, for the cases scapy will not write: both byte
orders, odd resolutions, several sections, malformed records."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import CookedLinuxV2, Ether

ETHERNET, RAW, SLL2, USER0 = 1, 101, 276, 147


def frames(n: int, size: int = 0) -> list[bytes]:
    """``n`` distinct Ethernet/IPv4/TCP frames (padded to ``size``)."""
    return [bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                  / IP(src="192.0.2.1", dst="198.51.100.7")
                  / TCP(sport=40000 + i, dport=80) / (b"x" * max(0, size - 54)))
            for i in range(n)]


def sll2_frame() -> bytes:
    return bytes(CookedLinuxV2(proto=0x0800) / IP(src="192.0.2.1", dst="198.51.100.7")
                 / UDP(sport=5353, dport=53))


def raw_ip_frame() -> bytes:
    return bytes(IP(src="192.0.2.9", dst="198.51.100.7") / TCP(sport=1, dport=443))


@dataclass(frozen=True)
class Rec:
    """One pcap record: seconds, fraction (us or ns ticks), data, wire length (None: len)."""

    sec: int
    frac: int
    data: bytes
    wire: int | None = None
    caplen: int | None = None  # None: len(data); set to lie about it

    def time(self, ns: bool) -> float:
        return self.sec + self.frac / (1e9 if ns else 1e6)


def pcap_header(order: str = "<", ns: bool = False, link: int = ETHERNET,
                snaplen: int = 65535, version: tuple[int, int] = (2, 4)) -> bytes:
    magic = 0xA1B23C4D if ns else 0xA1B2C3D4
    return struct.pack(order + "IHHiIII", magic, *version, 0, 0, snaplen, link)


def pcap_record(rec: Rec, order: str = "<") -> bytes:
    caplen = len(rec.data) if rec.caplen is None else rec.caplen
    wire = len(rec.data) if rec.wire is None else rec.wire
    return struct.pack(order + "IIII", rec.sec, rec.frac, caplen, wire) + rec.data


def pcap(records: list[Rec], order: str = "<", **header) -> bytes:
    return pcap_header(order, **header) + b"".join(pcap_record(r, order) for r in records)


def block(btype: int, body: bytes, order: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    size = 12 + len(body)
    return struct.pack(order + "II", btype, size) + body + struct.pack(order + "I", size)


def shb(order: str = "<", major: int = 1) -> bytes:
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, major, 0, -1), order)


def option(code: int, value: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def idb(link: int, snaplen: int = 0, tsresol: int | None = None, tsoffset: int | None = None,
        order: str = "<") -> bytes:
    opts = option(2, b"eth0", order)  # if_name, to be stepped over
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), order)
    if tsoffset is not None:
        opts += option(14, struct.pack(order + "q", tsoffset), order)
    opts += struct.pack(order + "HH", 0, 0)
    return block(1, struct.pack(order + "HHI", link, 0, snaplen) + opts, order)


def epb(ifid: int, ticks: int, data: bytes, wire: int | None = None, order: str = "<",
        caplen: int | None = None) -> bytes:
    caplen = len(data) if caplen is None else caplen
    wire = len(data) if wire is None else wire
    return block(6, struct.pack(order + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, caplen,
                                wire) + data, order)


def opb(ifid: int, ticks: int, data: bytes, order: str = "<") -> bytes:
    return block(2, struct.pack(order + "HHIIII", ifid, 0, ticks >> 32, ticks & 0xFFFFFFFF,
                                len(data), len(data)) + data, order)


def spb(data: bytes, wire: int | None = None, order: str = "<") -> bytes:
    return block(3, struct.pack(order + "I", len(data) if wire is None else wire) + data, order)


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)
