"""The pure-Python record walks the C walker (csrc/capwalk.c) replaced, kept as its reference:
the differential tests run both over the same bytes and want the same columns, positions,
counters and messages.  Slow (about 3 M records/s), obvious, and not part of the package.

One difference from the walk that shipped before the C one: a Simple Packet Block of 12 bytes
(no room for its original length) is "too short" here, where the old walk failed with an
internal error.
"""
from __future__ import annotations

import struct

from weboslb.io.capture import Columns
from weboslb.io.pcap import MAGICS, MAX_RECORD, RECORD_LEN, Interface
from weboslb.io.pcapng import MAX_BLOCK, MIN_BLOCK, OPT_TSOFFSET, OPT_TSRESOL, byte_order

SHB, IDB, OPB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
IGNORED = frozenset({4, 5, 9, 10, 0x00000BAD, 0x40000BAD})


class PyPcapWalker:
    """The records of one pcap file (state: byte order, resolution, snaplen, link)."""

    def __init__(self, head: bytes) -> None:
        order, nanosecond = MAGICS[bytes(head[:4])]
        snaplen, link = struct.unpack_from(order + "II", head, 16)
        self.interface = Interface(link & 0xFFFF, snaplen,
                                   1_000_000_000 if nanosecond else 1_000_000)
        self.skipped = 0
        self._record = struct.Struct(order + "IIII")
        self._max_caplen = min(snaplen, MAX_RECORD) if snaplen else MAX_RECORD
        self._scale = 1e-9 if nanosecond else 1e-6

    def walk(self, buf, pos: int, end: int, eof: bool, cols: Columns,
             limit: int) -> tuple[int, str | None]:
        unpack = self._record.unpack_from
        max_caplen = self._max_caplen
        scale = self._scale
        offsets = cols.offsets
        caplen = 0
        while True:
            try:
                for _ in range(limit - len(offsets)):
                    sec, frac, caplen, wire = unpack(buf, pos)
                    if not 0 < caplen <= max_caplen:
                        break
                    pos += RECORD_LEN
                    offsets.append(pos)
                    cols.lengths.append(caplen)
                    cols.wire_lengths.append(wire)
                    cols.times.append(sec + frac * scale)
                    pos += caplen
                else:
                    return self._overrun(pos, end, eof, cols) if pos > end else (pos, None)
            except struct.error:
                if pos > end:
                    return self._overrun(pos, end, eof, cols)
                if eof and pos < end:
                    return pos, f"truncated record header ({end - pos} of {RECORD_LEN} bytes)"
                return pos, None
            if caplen:
                limit_name = "256 MiB" if max_caplen == MAX_RECORD else \
                    f"the snapshot length {max_caplen}"
                return pos, f"record length {caplen} exceeds {limit_name}"
            self.skipped += 1
            pos += RECORD_LEN

    @staticmethod
    def _overrun(pos: int, end: int, eof: bool, cols: Columns) -> tuple[int, str | None]:
        caplen = cols.lengths.pop()
        start = cols.offsets.pop() - RECORD_LEN
        del cols.wire_lengths[-1], cols.times[-1]
        if eof:
            body = start + RECORD_LEN
            return start, f"truncated record (captured length {caplen}, {end - body} bytes left)"
        return start, None


class PyPcapngWalker:
    """The blocks of a pcapng stream (state: the section's byte order and interfaces, and the
    time of the last frame for Simple Packet Blocks)."""

    def __init__(self) -> None:
        self.interfaces: list[Interface] = []
        self.skipped = 0
        self._order = "<"
        self._last_time = 0.0

    def walk(self, buf, pos: int, end: int, eof: bool, cols: Columns,
             limit: int) -> tuple[int, str | None]:
        n = limit - len(cols.offsets)
        while n > 0:
            if end - pos < MIN_BLOCK:
                if eof and pos < end:
                    return pos, f"truncated block header ({end - pos} of {MIN_BLOCK} bytes)"
                return pos, None
            btype, blen = struct.unpack_from(self._order + "II", buf, pos)
            if btype == SHB:
                order = byte_order(buf[pos:pos + 12])
                if order is None:
                    return pos, f"bad byte-order magic 0x{bytes(buf[pos + 8:pos + 12]).hex()}"
                self._order = order
                btype, blen = struct.unpack_from(order + "II", buf, pos)
            u32 = struct.Struct(self._order + "I").unpack_from
            if blen & 3 or not MIN_BLOCK <= blen <= MAX_BLOCK:
                return pos, f"bad block length {blen}"
            nxt = pos + blen
            if nxt > end:
                if eof:
                    return pos, (f"block of {blen} bytes runs past the end of the file "
                                 f"({end - pos} bytes left)")
                return pos, None
            (trailer,) = u32(buf, nxt - 4)
            if trailer != blen:
                return pos, f"trailing block length {trailer} differs from {blen}"
            interfaces = self.interfaces
            if btype == EPB or btype == OPB:
                if blen < 32:
                    return pos, f"packet block of {blen} bytes is too short"
                if btype == EPB:
                    ifid, hi, lo, caplen, wire = struct.unpack_from(self._order + "IIIII", buf,
                                                                    pos + 8)
                else:
                    ifid, _drops, hi, lo, caplen, wire = struct.unpack_from(
                        self._order + "HHIIII", buf, pos + 8)
                if ifid >= len(interfaces):
                    return pos, (f"packet for interface {ifid}, but the section defines "
                                 f"{len(interfaces)}")
                link, snaplen, units, offset = interfaces[ifid]
                if caplen > blen - 32:
                    return pos, f"captured length {caplen} runs past its {blen}-byte block"
                if snaplen and caplen > snaplen:
                    return pos, f"record length {caplen} exceeds the snapshot length {snaplen}"
                time = self._last_time = (hi << 32 | lo) / units + offset
                body = pos + 28
            elif btype == SPB:
                if not interfaces:
                    return pos, "simple packet block before any interface"
                if blen < 16:
                    return pos, f"packet block of {blen} bytes is too short"
                link, snaplen, _units, _offset = interfaces[0]
                (wire,) = u32(buf, pos + 8)
                room = blen - 16
                caplen = min(wire, room, snaplen or room)
                time = self._last_time
                body = pos + 12
            else:
                reason = self._other(buf, pos, btype, blen)
                if reason:
                    return pos, reason
                pos = nxt
                continue
            if caplen:
                cols.starts.append(pos)
                cols.offsets.append(body)
                cols.lengths.append(caplen)
                cols.wire_lengths.append(wire)
                cols.times.append(time)
                cols.links.append(link)
                n -= 1
            else:
                self.skipped += 1
            pos = nxt
        return pos, None

    def _other(self, buf, pos: int, btype: int, blen: int) -> str | None:
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
        order = self._order
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
        major, minor = struct.unpack_from(self._order + "HH", buf, pos + 12)
        if major != 1:
            return f"unsupported pcapng version {major}.{minor}"
        self.interfaces = []
        return None
