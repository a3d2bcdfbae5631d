"""The pcapng format: sections, interfaces and packet blocks, walked into the same columns as
pcap (offsets and lengths into the buffer, times, and a link type per frame).

Each Section Header Block may switch the byte order and starts a new list of interfaces; each
Interface Description Block brings its own link type, snapshot length, ``if_tsresol`` and
``if_tsoffset``.  Enhanced, Simple and Obsolete Packet Blocks carry frames; every other block is
stepped over by its length.  The walk over the blocks is C (csrc/capwalk.c): it hands back the
section and interface blocks, which are read here, and the errors, which are worded here.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from weboslb._native import ffi, lib
from weboslb.io.cwalk import buffer_of, fill
from weboslb.io.pcap import MAX_RECORD, Interface

if TYPE_CHECKING:
    from weboslb.io.capture import Columns

SHB = lib.CW_SHB
MAGIC = b"\x0a\x0d\x0d\x0a"
BYTE_ORDERS = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
MIN_BLOCK = lib.CW_MIN_BLOCK
MAX_BLOCK = lib.CW_MAX_BLOCK  # a maximal frame plus room for a packet block's options
MIN_FRAME_BLOCK = 20  # the smallest block with a frame: a Simple Packet Block of 1 byte
OPT_TSRESOL = 9
OPT_TSOFFSET = 14


def byte_order(head) -> str | None:
    """The byte order of a section starting at ``head`` (its Byte-Order Magic), or None."""
    return BYTE_ORDERS.get(bytes(head[8:12]))


def _units(units: int, exp: int) -> dict[str, int]:
    """How C turns ticks into seconds for ``units`` ticks per second (from ``if_tsresol``)."""
    if exp & 0x80:
        return {"kind": lib.CW_UNITS_SHIFT, "shift": exp & 0x7F}
    if units < 1 << 64:
        return {"kind": lib.CW_UNITS_DIVIDE, "units": units}
    return {"kind": lib.CW_UNITS_CALLER}  # 10**20 and up: Python's int / int, per block


class PcapngWalker:
    """Walks the blocks of a pcapng stream (state: the current section's byte order and
    interfaces, and the time of the last frame for Simple Packet Blocks, which carry none)."""

    __slots__ = ("interfaces", "_state", "_ifaces")

    def __init__(self) -> None:
        self.interfaces: list[Interface] = []
        self._ifaces = ffi.new("struct cw_iface[]", 4)  # C's copy of interfaces, with room
        self._state = ffi.new("struct cw_pcapng *")
        self._state.ifaces = self._ifaces

    @property
    def skipped(self) -> int:
        """Zero-length frames and blocks of unknown types."""
        return self._state.skipped

    def walk(self, buf, pos: int, end: int, eof: bool, cols: Columns,
             limit: int) -> tuple[int, str | None]:
        """Same contract as ``PcapWalker.walk``: append frames until ``limit``, return the
        position reached and None, or the start of a bad block and why it is bad."""
        state = self._state
        state.pos = pos
        refused: list[str] = []  # why a section or interface block is bad

        def step(c_cols) -> int:
            while True:
                status = lib.cw_pcapng_walk(state, cbuf, end, eof, c_cols)
                if status == lib.CW_BLOCK:
                    reason = self._block(buf, state.pos, state.btype, state.blen)
                    if reason:
                        refused.append(reason)
                        return status
                    state.pos += state.blen
                elif status == lib.CW_TIME:
                    self._time(c_cols)
                else:
                    return status

        cbuf = buffer_of(buf, end)
        try:
            status = fill(cols, limit, True, MIN_FRAME_BLOCK, end, state, step)
        finally:
            ffi.release(cbuf)
        return state.pos, refused[0] if refused else self._reason(status, end)

    def _reason(self, status: int, end: int) -> str | None:
        """Why the walk stopped at ``pos``, when it is bad."""
        state = self._state
        pos, blen, value = state.pos, state.blen, state.value
        if status in (lib.CW_FULL, lib.CW_END):
            return None
        if status == lib.CW_BAD_BLOCK_HEADER:
            return f"truncated block header ({end - pos} of {MIN_BLOCK} bytes)"
        if status == lib.CW_BAD_BYTE_ORDER:
            return f"bad byte-order magic 0x{value:08x}"
        if status == lib.CW_BAD_BLOCK_LENGTH:
            return f"bad block length {blen}"
        if status == lib.CW_BAD_PAST_END:
            return f"block of {blen} bytes runs past the end of the file ({end - pos} bytes left)"
        if status == lib.CW_BAD_TRAILER:
            return f"trailing block length {value} differs from {blen}"
        if status == lib.CW_BAD_PACKET_BLOCK:
            return f"packet block of {blen} bytes is too short"
        if status == lib.CW_BAD_INTERFACE:
            return f"packet for interface {value}, but the section defines {len(self.interfaces)}"
        if status == lib.CW_BAD_PACKET_CAPLEN:
            return f"captured length {value} runs past its {blen}-byte block"
        if status == lib.CW_BAD_SNAPLEN:
            snaplen = self.interfaces[state.ifid].snaplen
            return f"record length {value} exceeds the snapshot length {snaplen}"
        if status == lib.CW_BAD_NO_INTERFACE:
            return "simple packet block before any interface"
        raise RuntimeError(f"the pcapng walk returned {status}")

    def _time(self, c_cols) -> None:
        """The time of the packet block just walked, on an interface with more than 2**64 ticks
        a second (C stored a placeholder)."""
        state = self._state
        iface = self.interfaces[state.ifid]
        time = state.last_time = state.value / iface.units + iface.offset
        if state.stored:
            c_cols.times[c_cols.n - 1] = time

    def _block(self, buf, pos: int, btype: int, blen: int) -> str | None:
        """A section or an interface to take in (C has checked its framing)."""
        order = ">" if self._state.big_endian else "<"
        if btype == SHB:
            return self._section(buf, pos, blen, order)
        return self._interface(buf, pos, blen, order)

    def _interface(self, buf, pos: int, blen: int, order: str) -> str | None:
        if blen < 20:
            return f"interface description block of {blen} bytes is too short"
        link, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, pos + 8)
        units, exp, offset = 1_000_000, 6, 0
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
        iface = Interface(link, min(snaplen, MAX_RECORD), units, offset)
        self._add_interface(iface, _units(units, exp))
        return None

    def _add_interface(self, iface: Interface, units: dict[str, int]) -> None:
        n = len(self.interfaces)
        if n == len(self._ifaces):  # full: C's copy moves to an array twice the size
            bigger = ffi.new("struct cw_iface[]", 2 * n)
            ffi.memmove(bigger, self._ifaces, ffi.sizeof("struct cw_iface") * n)
            self._ifaces = self._state.ifaces = bigger
        self._ifaces[n] = {"link": iface.link, "snaplen": iface.snaplen, "offset": iface.offset,
                           **units}
        self.interfaces.append(iface)
        self._state.nifaces = n + 1

    def _section(self, buf, pos: int, blen: int, order: str) -> str | None:
        if blen < 28:
            return f"section header block of {blen} bytes is too short"
        major, minor = struct.unpack_from(order + "HH", buf, pos + 12)
        if major != 1:
            return f"unsupported pcapng version {major}.{minor}"
        self.interfaces = []
        self._state.nifaces = 0
        return None
