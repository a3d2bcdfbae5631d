"""The classic pcap format: the file header, the record walk that feeds batches, and the writer.

The walk touches only the 16-byte record headers of a buffer (an mmap of the file, or a window
of a stream) and appends offsets, lengths and times to arrays; frame bytes are never copied.
It is the loop a C walker replaces one-for-one: same inputs, same columns, same stop rules.
"""
from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, NamedTuple

from weboslb.io.atomic import create_beside

if TYPE_CHECKING:
    from weboslb.io.capture import Columns

HEADER_LEN = 24
RECORD_LEN = 16
MAX_RECORD = 256 << 20  # larger captured lengths are corruption, not packets
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

    A named tuple rather than a dataclass: the pcapng walk unpacks one per packet block.
    """

    link: int
    snaplen: int = 0
    units: int = 1_000_000
    offset: int = 0


class PcapWalker:
    """Walks the records of one pcap file (state: byte order, resolution, snaplen, link)."""

    __slots__ = ("interface", "nanosecond", "skipped", "_record", "_max_caplen", "_scale")

    def __init__(self, order: str, nanosecond: bool, snaplen: int, link: int) -> None:
        self.nanosecond = nanosecond
        self.interface = Interface(link, snaplen, 1_000_000_000 if nanosecond else 1_000_000)
        self.skipped = 0  # zero-length records
        self._record = struct.Struct(order + "IIII")
        # snaplen 0 (written by some tools) means "not recorded": only the hard bound applies
        self._max_caplen = min(snaplen, MAX_RECORD) if snaplen else MAX_RECORD
        self._scale = 1e-9 if nanosecond else 1e-6

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

    def walk(self, buf, pos: int, end: int, eof: bool, cols: Columns,
             limit: int) -> tuple[int, str | None]:
        """Append the records of ``buf[pos:end]`` to ``cols`` until it holds ``limit`` frames.

        Returns the position reached and None, or the start of a bad record and why it is bad.
        It stops short of ``limit`` only at the end of the buffer; a record cut by ``end`` is an
        error at ``eof``, else the caller brings more bytes and walks on from the position.
        ``buf`` must end at ``end``.  Record starts are not stored: each is its offset - 16.
        """
        unpack = self._record.unpack_from
        max_caplen = self._max_caplen
        scale = self._scale
        offsets = cols.offsets
        offset_add = offsets.append
        length_add = cols.lengths.append
        wire_add = cols.wire_lengths.append
        time_add = cols.times.append
        caplen = 0
        while True:
            # the hot loop checks only the length; the end of the buffer shows up as a
            # struct.error on the next header, and a body running past it just after
            try:
                for _ in range(limit - len(offsets)):
                    sec, frac, caplen, wire = unpack(buf, pos)
                    if not 0 < caplen <= max_caplen:
                        break
                    pos += RECORD_LEN
                    offset_add(pos)
                    length_add(caplen)
                    wire_add(wire)
                    time_add(sec + frac * scale)
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
            self.skipped += 1  # zero-length record
            pos += RECORD_LEN

    @staticmethod
    def _overrun(pos: int, end: int, eof: bool, cols: Columns) -> tuple[int, str | None]:
        """The last record appended runs past ``end``: take it back."""
        caplen = cols.lengths.pop()
        start = cols.offsets.pop() - RECORD_LEN
        del cols.wire_lengths[-1], cols.times[-1]
        if eof:
            body = start + RECORD_LEN
            return start, f"truncated record (captured length {caplen}, {end - body} bytes left)"
        return start, None


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
