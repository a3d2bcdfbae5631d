"""Opening captures (pcap or pcapng, told apart by magic), walking them in batches, and merging
several by timestamp.

A ``Batch`` is the unit the C fast path consumes: one buffer (the mmap of the file, or one
window of a stream) and parallel arrays of offsets, lengths and times into it.  Nothing is
copied per frame.  Bad input ends the walk at the bad record: what came before is delivered,
``Capture.error`` says where and why, and no exception escapes the iteration.
"""
from __future__ import annotations

import heapq
import mmap
import os
import stat
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from operator import add, lt

from weboslb.io import pcapng
from weboslb.io.cwalk import total
from weboslb.io.pcap import HEADER_LEN, MAGICS, RECORD_LEN, Interface, PcapWalker
from weboslb.io.pcapng import MAX_BLOCK, PcapngWalker

CHUNK = 1 << 20  # stream window
STDIN = "-"
Walker = PcapWalker | PcapngWalker


class CaptureError(Exception):
    """A capture that cannot be read (further): ``str()`` is "FILE: offset N: reason"."""

    def __init__(self, path: str, reason: str, offset: int | None = None) -> None:
        self.path, self.reason, self.offset = path, reason, offset
        where = "" if offset is None else f"offset {offset}: "
        super().__init__(f"{path}: {where}{reason}")


class Columns:
    """The arrays a walker appends to while it builds one batch."""

    __slots__ = ("starts", "offsets", "lengths", "wire_lengths", "times", "links")

    def __init__(self) -> None:
        self.starts = array("Q")
        self.offsets = array("Q")
        self.lengths = array("I")
        self.wire_lengths = array("I")
        self.times = array("d")
        self.links = array("H")


@dataclass(frozen=True, slots=True)
class Batch:
    """Frames ``buf[offsets[i]:offsets[i] + lengths[i]]``, all in the one buffer ``buf``.

    ``links`` is a single link type when every frame shares it (always for pcap), else one per
    frame.  ``starts`` locates the records in the file ``path`` (for messages): an array, or
    the one number to add to ``offsets`` when every record header has the same size (pcap),
    which spares the walk one column; ``file_offsets`` gives the array either way.
    """

    buf: memoryview
    offsets: array  # Q
    lengths: array  # I: captured lengths
    wire_lengths: array  # I
    times: array  # d: seconds since the epoch
    links: array | int  # H per frame, or one for all
    starts: array | int  # Q per frame, or offsets + this
    path: str

    def __len__(self) -> int:
        return len(self.offsets)

    @property
    def file_offsets(self) -> array:
        """Where each record starts in the file."""
        starts = self.starts
        if isinstance(starts, int):
            return array("Q", map(add, self.offsets, repeat(starts)))
        return starts

    @property
    def wire_bytes(self) -> int:
        """The frames' bytes on the wire, all told."""
        return total(self.wire_lengths)

    def link(self, i: int) -> int:
        links = self.links
        return links if isinstance(links, int) else links[i]

    def frame(self, i: int) -> memoryview:
        """Frame ``i`` without copying."""
        start = self.offsets[i]
        return self.buf[start:start + self.lengths[i]]

    def slice(self, start: int, stop: int) -> Batch:
        def cut(column: array | int) -> array | int:
            return column if isinstance(column, int) else column[start:stop]

        return Batch(self.buf, self.offsets[start:stop], self.lengths[start:stop],
                     self.wire_lengths[start:stop], self.times[start:stop], cut(self.links),
                     cut(self.starts), self.path)


class _Mapped:
    """A regular file, mapped whole: one window, the file itself."""

    def __init__(self, fh, size: int) -> None:
        self._fh = fh
        self._map = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ)
        with suppress(AttributeError, OSError):  # a hint: not every platform takes it
            self._map.madvise(mmap.MADV_SEQUENTIAL)
        self.size: int | None = size
        self.view = memoryview(self._map)
        self.rewindable = True

    def window(self, pos: int, need: int) -> tuple[int, memoryview, int, bool]:
        return 0, self.view, self.size, True

    def close(self) -> None:
        try:
            self.view.release()
            self._map.close()
        except BufferError:  # batches still referenced by the caller: the GC will unmap
            pass
        self._fh.close()


class _Stream:
    """A pipe (or anything that cannot be mapped), read in windows of about ``chunk`` bytes.

    Each window is a new buffer holding the unread tail of the previous one plus fresh bytes,
    so batches already handed out stay valid; a window grows only as far as one record needs.
    """

    def __init__(self, fh, chunk: int, owned: bool) -> None:
        self._fh, self._chunk, self._owned = fh, chunk, owned
        self._base, self._buf, self._eof = 0, b"", False
        self.size: int | None = None
        self.rewindable = False

    def window(self, pos: int, need: int) -> tuple[int, memoryview, int, bool]:
        """The bytes from file offset ``pos``: at least ``need`` of them unless the stream ends."""
        parts = [self._buf[pos - self._base:]]
        have = len(parts[0])
        target = max(need, self._chunk)
        while have < target and not self._eof:
            data = self._fh.read(target - have)
            if not data:
                self._eof = True
            parts.append(data)
            have += len(data)
        self._base, self._buf = pos, b"".join(parts)
        return pos, memoryview(self._buf), have, self._eof

    def close(self) -> None:
        self._buf = b""
        if self._owned:
            self._fh.close()


class Capture:
    """One capture file being read: batches, frames, progress and what went wrong."""

    def __init__(self, path: str, source: _Mapped | _Stream, new_walker: Callable[[], Walker],
                 start: int, format: str) -> None:
        self.path, self.format = path, format
        self.size: int | None = source.size  # None for a pipe
        self.position = start
        self.error: CaptureError | None = None
        self.records = 0  # frames delivered
        self.truncated = 0  # frames captured shorter than they were on the wire
        self._source, self._new_walker, self._start = source, new_walker, start
        self._walker = new_walker()
        self._walked = False

    @property
    def skipped(self) -> int:
        """Records not delivered but not fatal: zero-length frames, unknown pcapng blocks."""
        return self._walker.skipped

    @property
    def interfaces(self) -> tuple[Interface, ...]:
        """The interfaces known so far (pcapng declares them as the walk goes)."""
        walker = self._walker
        return (walker.interface,) if isinstance(walker, PcapWalker) else tuple(walker.interfaces)

    def batches(self, max_frames: int = 4096) -> Iterator[Batch]:
        """Batches of at most ``max_frames`` frames, in file order, each over one buffer.

        Each call walks from the first record again (a stream can be walked only once).
        """
        if max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        self._rewind()
        walker, source = self._walker, self._source
        pos, need = self._start, 0
        base, buf, end, eof = source.window(pos, need)
        while True:
            cols = Columns()
            try:
                stop, reason = walker.walk(buf, pos - base, end, eof, cols, max_frames)
            except Exception as exc:  # a walker bug must not cost the frames before it
                stop, reason = pos - base, f"internal error: {exc!r}"
            walked = self.position = base + stop
            if cols.offsets:
                yield self._batch(buf, base, cols)
            if reason is not None:
                self.error = CaptureError(self.path, reason, walked)
                return
            if len(cols.offsets) < max_frames:
                if eof:
                    return
                # the window ends inside a record: read on, with a larger window when not
                # even one record fitted (bounded by the largest legal block)
                need = min(2 * (end - (pos - base)), MAX_BLOCK + 64) if walked == pos else 0
                try:
                    base, buf, end, eof = source.window(walked, need)
                except OSError as exc:
                    self.error = CaptureError(self.path, f"read error: {exc.strerror or exc}",
                                              walked)
                    return
            pos = walked

    def frames(self) -> Iterator[tuple[float, int, bytes]]:
        """(time, link, frame bytes) one by one: the convenient, slow way."""
        for batch in self.batches():
            buf, offsets, lengths, times = batch.buf, batch.offsets, batch.lengths, batch.times
            for i in range(len(offsets)):
                start = offsets[i]
                yield times[i], batch.link(i), bytes(buf[start:start + lengths[i]])

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _rewind(self) -> None:
        if self._walked:
            if not self._source.rewindable:
                raise ValueError(f"{self.path}: a stream can be read only once")
            self._walker = self._new_walker()
        self._walked = True
        self.position, self.error, self.records, self.truncated = self._start, None, 0, 0

    def _batch(self, buf: memoryview, base: int, cols: Columns) -> Batch:
        n = len(cols.offsets)
        self.records += n
        if cols.lengths != cols.wire_lengths:  # a memcmp in the common, untruncated case
            self.truncated += sum(map(lt, cols.lengths, cols.wire_lengths))
        walker = self._walker
        if isinstance(walker, PcapWalker):
            links: array | int = walker.interface.link
            starts: array | int = base - RECORD_LEN
        else:
            links = cols.links
            if links == links[:1] * n:  # one link for all: compared in C, not item by item
                links = links[0]
            starts = cols.starts if not base else array("Q", map(add, cols.starts, repeat(base)))
        return Batch(buf, cols.offsets, cols.lengths, cols.wire_lengths, cols.times, links,
                     starts, self.path)


def open_capture(path: str | os.PathLike, *, chunk_size: int = CHUNK) -> Capture:
    """Open a pcap or pcapng capture, told apart by its magic; ``-`` reads standard input.

    Regular files are mapped; pipes and empty files are read in windows of ``chunk_size``.
    Raises ``CaptureError`` when the file cannot be opened or is not a capture.
    """
    name = "<stdin>" if os.fspath(path) == STDIN else os.fspath(path)
    try:
        source = _open_source(path, chunk_size)
    except OSError as exc:
        raise CaptureError(name, exc.strerror or str(exc)) from exc
    try:
        new_walker, start, fmt = _detect(name, source)
    except BaseException:
        source.close()
        raise
    return Capture(name, source, new_walker, start, fmt)


def _open_source(path: str | os.PathLike, chunk: int) -> _Mapped | _Stream:
    if os.fspath(path) == STDIN:
        return _Stream(sys.stdin.buffer, chunk, owned=False)
    fh = open(path, "rb")
    try:
        st = os.fstat(fh.fileno())
        if stat.S_ISREG(st.st_mode) and st.st_size > 0:
            try:
                return _Mapped(fh, st.st_size)
            except (OSError, ValueError):  # a file system without mmap: read it instead
                pass
        return _Stream(fh, chunk, owned=True)
    except BaseException:
        fh.close()
        raise


def _detect(name: str, source: _Mapped | _Stream) -> tuple[Callable[[], Walker], int, str]:
    """A maker of walkers for the capture's format, and where its records start."""
    try:
        _, head, end, _ = source.window(0, HEADER_LEN)
    except OSError as exc:
        raise CaptureError(name, f"read error: {exc.strerror or exc}", 0) from exc
    magic = bytes(head[:4])
    if end == 0:
        raise CaptureError(name, "not a pcap or pcapng capture (empty file)")
    if magic in MAGICS:
        header = bytes(head[:min(end, HEADER_LEN)])
        reason = PcapWalker.from_header(header)
        if isinstance(reason, str):
            raise CaptureError(name, reason, 0)
        return partial(PcapWalker.from_header, header), HEADER_LEN, "pcap"
    if magic == pcapng.MAGIC:
        if end < 12:
            raise CaptureError(name, f"truncated pcapng section header ({end} of 12 bytes)", 0)
        if pcapng.byte_order(head) is not None:
            return PcapngWalker, 0, "pcapng"
        magic = bytes(head[:12])  # "\n\r\r\n" may start a text file: show what follows
    hint = "" if end >= 4 else f", only {end} bytes"
    raise CaptureError(name, f"not a pcap or pcapng capture (magic 0x{magic.hex()}{hint})")


def merge(captures: Iterable[Capture], max_frames: int = 4096) -> Iterator[Batch]:
    """The frames of several captures in timestamp order, in batches over one buffer each.

    Equal times keep the order of ``captures``; the frames of one capture always keep their
    file order, even where its clock steps back.  Each capture's errors stay on the capture.
    """
    cursors = []
    heap: list[tuple[float, int]] = []
    for index, capture in enumerate(captures):
        cursor = _Cursor(capture.batches(max_frames))
        cursors.append(cursor)
        if cursor.batch is not None:
            heap.append((cursor.batch.times[0], index))
    heapq.heapify(heap)
    out = _Pending()
    while heap:
        _, index = heapq.heappop(heap)
        cursor = cursors[index]
        batch, i = cursor.batch, cursor.i
        if out.runs and out.runs[-1][0].buf is not batch.buf:
            yield out.take()  # one buffer per batch
        stop = min(len(batch), i + max_frames - out.count)
        if heap:  # the run that sorts before the next capture's head
            times = batch.times
            bound, other = heap[0]
            j = i + 1
            while j < stop and (times[j] < bound or (times[j] == bound and index < other)):
                j += 1
            stop = j
        out.add(batch, i, stop)
        if out.count == max_frames:
            yield out.take()
        if cursor.advance(stop):
            heapq.heappush(heap, (cursor.batch.times[cursor.i], index))
    if out.count:
        yield out.take()


class _Cursor:
    """A capture's place in a merge: its current batch and the next frame in it."""

    __slots__ = ("batch", "i", "_batches")

    def __init__(self, batches: Iterator[Batch]) -> None:
        self._batches = batches
        self.batch: Batch | None = next(batches, None)
        self.i = 0

    def advance(self, i: int) -> bool:
        """Move to frame ``i``; False once the capture is exhausted."""
        if i < len(self.batch):
            self.i = i
            return True
        self.batch, self.i = next(self._batches, None), 0
        return self.batch is not None


class _Pending:
    """The merge's output batch under construction: runs of frames over one buffer."""

    def __init__(self) -> None:
        self.runs: list[tuple[Batch, int, int]] = []
        self.count = 0

    def add(self, batch: Batch, start: int, stop: int) -> None:
        self.runs.append((batch, start, stop))
        self.count += stop - start

    def take(self) -> Batch:
        runs, self.runs, self.count = self.runs, [], 0
        if len(runs) == 1:
            batch, start, stop = runs[0]
            return batch if (start, stop) == (0, len(batch)) else batch.slice(start, stop)
        parts = [batch.slice(start, stop) for batch, start, stop in runs]
        first = parts[0]
        links: array | int = first.links
        if any(p.links != links or not isinstance(p.links, int) for p in parts):
            links = _concat(array("H", [p.links]) * len(p) if isinstance(p.links, int)
                            else p.links for p in parts)
        starts: array | int = first.starts
        if any(p.starts != starts or not isinstance(p.starts, int) for p in parts):
            starts = _concat(p.file_offsets for p in parts)
        return Batch(first.buf, _concat(p.offsets for p in parts),
                     _concat(p.lengths for p in parts), _concat(p.wire_lengths for p in parts),
                     _concat(p.times for p in parts), links, starts, first.path)


def _concat(columns: Iterable[array]) -> array:
    columns = iter(columns)
    first = next(columns)
    out = array(first.typecode, first)
    for column in columns:
        out.extend(column)
    return out
