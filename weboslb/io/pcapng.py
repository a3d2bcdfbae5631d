"""The pcapng format: sections, interfaces and packet blocks, walked into the same columns as
pcap (offsets and lengths into the buffer, times, and a link type per frame).

Each Section Header Block may switch the byte order and starts a new list of interfaces; each
Interface Description Block brings its own link type, snapshot length, ``if_tsresol`` and
``if_tsoffset``.  Enhanced, Simple and Obsolete Packet Blocks carry frames; every other block is
stepped over by its length.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from weboslb.io.pcap import MAX_RECORD, Interface

if TYPE_CHECKING:
    from weboslb.io.capture import Columns

SHB = 0x0A0D0D0A
IDB = 1
OPB = 2  # Obsolete Packet Block (libpcap 0.x "Packet Block")
SPB = 3
EPB = 6
# blocks the walker knows and has no use for: Name Resolution, Interface Statistics, systemd
# Journal Export, Decryption Secrets, Custom (copyable and not); they are not "skipped"
IGNORED = frozenset({4, 5, 9, 10, 0x00000BAD, 0x40000BAD})
MAGIC = b"\x0a\x0d\x0d\x0a"
BYTE_ORDERS = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
MIN_BLOCK = 12
MAX_BLOCK = MAX_RECORD + 4096  # a maximal frame plus room for a packet block's options
OPT_TSRESOL = 9
OPT_TSOFFSET = 14


def byte_order(head) -> str | None:
    """The byte order of a section starting at ``head`` (its Byte-Order Magic), or None."""
    return BYTE_ORDERS.get(bytes(head[8:12]))


class _Layouts:
    """The structs of one byte order, made once per section rather than once per block."""

    __slots__ = ("order", "head", "u32", "epb", "opb")

    def __init__(self, order: str) -> None:
        self.order = order
        self.head = struct.Struct(order + "II").unpack_from  # type, total length
        self.u32 = struct.Struct(order + "I").unpack_from
        self.epb = struct.Struct(order + "IIIII").unpack_from  # if, ts hi, ts lo, caplen, len
        self.opb = struct.Struct(order + "HHIIII").unpack_from  # if, drops, ts..., len


LAYOUTS = {order: _Layouts(order) for order in "<>"}


class PcapngWalker:
    """Walks the blocks of a pcapng stream (state: the current section's byte order and
    interfaces, and the time of the last frame for Simple Packet Blocks, which carry none)."""

    __slots__ = ("interfaces", "skipped", "_layout", "_last_time")

    def __init__(self) -> None:
        self.interfaces: list[Interface] = []
        self.skipped = 0  # zero-length frames and blocks of unknown types
        self._layout = LAYOUTS["<"]
        self._last_time = 0.0

    def walk(self, buf, pos: int, end: int, eof: bool, cols: Columns,
             limit: int) -> tuple[int, str | None]:
        """Same contract as ``PcapWalker.walk``: append frames until ``limit``, return the
        position reached and None, or the start of a bad block and why it is bad.

        Enhanced (and Obsolete) Packet Blocks are handled inline: they are nearly every block.
        """
        start_add = cols.starts.append
        offset_add = cols.offsets.append
        length_add = cols.lengths.append
        wire_add = cols.wire_lengths.append
        time_add = cols.times.append
        link_add = cols.links.append
        layout = self._layout
        interfaces = self.interfaces
        n = limit - len(cols.offsets)
        while n > 0:
            if end - pos < MIN_BLOCK:
                if eof and pos < end:
                    return pos, f"truncated block header ({end - pos} of {MIN_BLOCK} bytes)"
                return pos, None
            btype, blen = layout.head(buf, pos)
            if btype == SHB:  # the byte order is the section's: read the length in it
                order = byte_order(buf[pos:pos + 12])
                if order is None:
                    return pos, f"bad byte-order magic 0x{bytes(buf[pos + 8:pos + 12]).hex()}"
                layout = self._layout = LAYOUTS[order]
                btype, blen = layout.head(buf, pos)
            if blen & 3 or not MIN_BLOCK <= blen <= MAX_BLOCK:
                return pos, f"bad block length {blen}"
            nxt = pos + blen
            if nxt > end:
                if eof:
                    return pos, (f"block of {blen} bytes runs past the end of the file "
                                 f"({end - pos} bytes left)")
                return pos, None
            (trailer,) = layout.u32(buf, nxt - 4)
            if trailer != blen:
                return pos, f"trailing block length {trailer} differs from {blen}"
            if btype == EPB or btype == OPB:
                if blen < 32:
                    return pos, f"packet block of {blen} bytes is too short"
                if btype == EPB:
                    ifid, hi, lo, caplen, wire = layout.epb(buf, pos + 8)
                else:
                    ifid, _drops, hi, lo, caplen, wire = layout.opb(buf, pos + 8)
                if ifid >= len(interfaces):
                    return pos, (f"packet for interface {ifid}, but the section defines "
                                 f"{len(interfaces)}")
                link, snaplen, units, offset = interfaces[ifid]
                if caplen > blen - 32:
                    return pos, f"captured length {caplen} runs past its {blen}-byte block"
                if snaplen and caplen > snaplen:
                    return pos, f"record length {caplen} exceeds the snapshot length {snaplen}"
                # int / int is correctly rounded, whatever the resolution
                time = self._last_time = (hi << 32 | lo) / units + offset
                body = pos + 28
            elif btype == SPB:
                if not interfaces:
                    return pos, "simple packet block before any interface"
                link, snaplen, _units, _offset = interfaces[0]
                (wire,) = layout.u32(buf, pos + 8)
                room = blen - 16
                caplen = min(wire, room, snaplen or room)
                time = self._last_time  # an SPB has no time of its own
                body = pos + 12
            else:
                reason = self._other(buf, pos, btype, blen)
                if reason:
                    return pos, reason
                layout, interfaces = self._layout, self.interfaces
                pos = nxt
                continue
            if caplen:
                start_add(pos)
                offset_add(body)
                length_add(caplen)
                wire_add(wire)
                time_add(time)
                link_add(link)
                n -= 1
            else:
                self.skipped += 1
            pos = nxt
        return pos, None

    def _other(self, buf, pos: int, btype: int, blen: int) -> str | None:
        """A block without a frame: a section or an interface to take in, or one to skip."""
        if btype == IDB:
            return self._interface(buf, pos, blen)
        if btype == SHB:
            return self._section(buf, pos, blen)
        if btype not in IGNORED:
            self.skipped += 1
        return None

    def _interface(self, buf, pos: int, blen: int) -> str | None:
        if blen < 20:
            return f"interface description block of {blen} bytes is too short"
        order = self._layout.order
        link, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, pos + 8)
        units, offset = 1_000_000, 0
        opt, opt_end = pos + 16, pos + blen - 4
        while opt + 4 <= opt_end:
            code, size = struct.unpack_from(order + "HH", buf, opt)
            if code == 0:
                break
            value = opt + 4
            if value + size > opt_end:
                return f"interface option {code} runs past its block"
            if code == OPT_TSRESOL and size >= 1:
                exp = buf[value]
                units = 1 << (exp & 0x7F) if exp & 0x80 else 10 ** exp
            elif code == OPT_TSOFFSET and size >= 8:
                (offset,) = struct.unpack_from(order + "q", buf, value)
            opt = value + (size + 3 & ~3)
        self.interfaces.append(Interface(link, min(snaplen, MAX_RECORD), units, offset))
        return None

    def _section(self, buf, pos: int, blen: int) -> str | None:
        if blen < 28:
            return f"section header block of {blen} bytes is too short"
        major, minor = struct.unpack_from(self._layout.order + "HH", buf, pos + 12)
        if major != 1:
            return f"unsupported pcapng version {major}.{minor}"
        self.interfaces = []
        return None
