"""The classic pcap format: the file header, the record walk that feeds batches, and the writer.

The walk touches only the 16-byte record headers of a buffer (an mmap of the file, or a window
of a stream) and appends offsets, lengths and times to arrays; frame bytes are never copied.
Its loop is C (csrc/capwalk.c); this side reads the file header and words the errors.
"""
from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, NamedTuple

from weboslb._native import ffi, lib
from weboslb.io.atomic import create_beside
from weboslb.io.cwalk import buffer_of, fill

if TYPE_CHECKING:
    from weboslb.io.capture import Columns

HEADER_LEN = 24
RECORD_LEN = lib.CW_RECORD_LEN
MAX_RECORD = lib.CW_MAX_RECORD  # 256 MiB: larger captured lengths are corruption, not packets
DEFAULT_SNAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN

# magic as it appears in the file -> (byte order, nanosecond timestamps)
MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}


class Interface(NamedTuple):
    """Where frames come from: the link type (LINKTYPE_* number), the snapshot length (0 when
    unknown), the timestamp unit as ticks per second and an offset in seconds (pcapng).
    """

    link: int
    snaplen: int = 0
    units: int = 1_000_000
    offset: int = 0


class PcapWalker:
    """Walks the records of one pcap file (state: byte order, resolution, snaplen, link)."""

    __slots__ = ("interface", "nanosecond", "_state")

    def __init__(self, order: str, nanosecond: bool, snaplen: int, link: int) -> None:
        self.nanosecond = nanosecond
        self.interface = Interface(link, snaplen, 1_000_000_000 if nanosecond else 1_000_000)
        # snaplen 0 (written by some tools) means "not recorded": only the hard bound applies
        self._state = ffi.new("struct cw_pcap *", {
            "max_caplen": min(snaplen, MAX_RECORD) if snaplen else MAX_RECORD,
            "scale": 1e-9 if nanosecond else 1e-6,
            "big_endian": order == ">",
        })

    @classmethod
    def from_header(cls, head: bytes) -> PcapWalker | str:
        """The walker for a file starting with ``head``, or why the header is unusable."""
        if len(head) < HEADER_LEN:
            return f"truncated pcap file header ({len(head)} of {HEADER_LEN} bytes)"
        order, nanosecond = MAGICS[bytes(head[:4])]
        major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(
            order + "HHiIII", head, 4)
        if major != 2:
            return f"unsupported pcap version {major}.{minor}"
        # the upper 16 bits carry FCS information, not the link type
        return cls(order, nanosecond, snaplen, linktype & 0xFFFF)

    @property
    def link(self) -> int:
        return self.interface.link

    @property
    def skipped(self) -> int:
        """Zero-length records stepped over."""
        return self._state.skipped

    def walk(self, buf, pos: int, end: int, eof: bool, cols: Columns,
             limit: int) -> tuple[int, str | None]:
        """Append the records of ``buf[pos:end]`` to ``cols`` until it holds ``limit`` frames.

        Returns the position reached and None, or the start of a bad record and why it is bad.
        It stops short of ``limit`` only at the end of the buffer; a record cut by ``end`` is an
        error at ``eof``, else the caller brings more bytes and walks on from the position.
        ``buf`` must end at ``end``.  Record starts are not stored: each is its offset - 16.
        The loop is C's (csrc/capwalk.c).
        """
        state = self._state
        state.pos = pos
        cbuf = buffer_of(buf, end)
        try:
            status = fill(cols, limit, False, RECORD_LEN + 1, end, state,
                          lambda c_cols: lib.cw_pcap_walk(state, cbuf, end, eof, c_cols))
        finally:
            ffi.release(cbuf)
        return state.pos, self._reason(status, end)

    def _reason(self, status: int, end: int) -> str | None:
        """Why the walk stopped at ``pos``, when it is bad."""
        state = self._state
        if status in (lib.CW_FULL, lib.CW_END):
            return None
        if status == lib.CW_BAD_RECORD_HEADER:
            return f"truncated record header ({end - state.pos} of {RECORD_LEN} bytes)"
        if status == lib.CW_BAD_CAPLEN:
            max_caplen = state.max_caplen
            limit_name = "256 MiB" if max_caplen == MAX_RECORD else \
                f"the snapshot length {max_caplen}"
            return f"record length {state.value} exceeds {limit_name}"
        if status == lib.CW_BAD_RECORD:
            left = end - state.pos - RECORD_LEN
            return f"truncated record (captured length {state.value}, {left} bytes left)"
        raise RuntimeError(f"the pcap walk returned {status}")


class PcapWriter:
    """Writes frames of one link type to a pcap file, buffered.

    The frames go to a temporary file in the target's directory which replaces the target
    atomically on ``close()``: a reader never sees half a capture, and a run that fails inside
    ``with`` leaves the previous file untouched (the temporary file is removed).
    """

    def __init__(self, path: str | os.PathLike, link: int, nanosecond: bool = False,
                 snaplen: int = DEFAULT_SNAPLEN, buffering: int = 1 << 20) -> None:
        self.path = os.fspath(path)
        self.link = int(link)
        self.nanosecond = nanosecond
        self.snaplen = snaplen
        self.frames = 0
        self._units = 1_000_000_000 if nanosecond else 1_000_000
        self._record = struct.Struct("<IIII")
        fd, self._tmp = create_beside(self.path)
        self._fh = os.fdopen(fd, "wb", buffering=buffering)
        magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
        self._fh.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, self.link))

    def write(self, time: float, frame, wire_length: int | None = None) -> None:
        """Append one frame captured at ``time`` (seconds since the epoch); a frame longer
        than the snapshot length is cut, its wire length kept."""
        data = memoryview(frame)
        size = data.nbytes
        caplen = min(size, self.snaplen)
        sec = int(time // 1)
        frac = round((time - sec) * self._units)
        if frac >= self._units:  # rounding up to the next second
            sec, frac = sec + 1, frac - self._units
        self._fh.write(self._record.pack(sec, frac, caplen,
                                         size if wire_length is None else wire_length))
        self._fh.write(data[:caplen] if caplen < size else data)
        self.frames += 1

    def close(self) -> None:
        """Flush and move the file into place (once; later calls do nothing)."""
        if self._fh.closed:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop what was written and leave the target as it was."""
        if self._fh.closed:
            return
        self._fh.close()
        os.unlink(self._tmp)

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
