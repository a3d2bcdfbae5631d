"""The columns of a batch as the C record walks (csrc/capwalk.c) fill them.

A C walk writes into arrays it cannot grow, so ``fill`` grows the columns first, shows them to
C as one ``struct cw_cols``, and cuts them back to what was filled.  It grows them by no more
than the frames the rest of the buffer could hold, and by at most ``GROW`` frames or as many
as they hold (a generous ``max_frames`` must not allocate for frames that are not there, and
a large batch must not be copied over and over as it grows).
"""
from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from weboslb._native import ffi, lib

if TYPE_CHECKING:
    from weboslb.io.capture import Columns

GROW = 1 << 16  # frames per growth of the columns, at first
_ZEROS = memoryview(bytes(8 * GROW))
_CTYPES = {"Q": "uint64_t[]", "I": "uint32_t[]", "d": "double[]", "H": "uint16_t[]"}
# the fields of struct cw_cols, in Columns' order
_FIELDS = ("offsets", "lengths", "wire_lengths", "times", "starts", "links")


def buffer_of(buf, end: int):
    """``buf`` as the C walks read it, checked to hold the ``end`` bytes they are told of."""
    cbuf = ffi.from_buffer("uint8_t[]", buf)
    if not 0 <= end <= len(cbuf):
        ffi.release(cbuf)
        raise ValueError(f"end {end} is outside the {len(cbuf)}-byte buffer")
    return cbuf


def total(column: array) -> int:
    """The sum of a ``uint32`` column (``I``), in C."""
    if not column:
        return 0
    view = ffi.from_buffer("uint32_t[]", column)
    try:
        return lib.cw_sum32(view, len(column))
    finally:
        ffi.release(view)


def fill(cols: Columns, limit: int, framed: bool, smallest: int, end: int, state: Any,
         step: Callable[[object], int]) -> int:
    """Run ``step(c_cols)``, a C walk from ``state.pos`` (``state`` is its ``struct cw_pcap``
    or ``cw_pcapng``) appending to the columns, until it stops for another reason than full
    columns or ``cols`` holds ``limit`` frames.

    ``framed``: the walk also fills ``starts`` and ``links`` (pcapng).  ``smallest``: the
    fewest bytes a frame's record takes, which bounds the frames left in ``buf[pos:end]``.
    Returns the last status (``CW_FULL`` at once when ``cols`` is already full).
    """
    columns: list[array] = [getattr(cols, name) for name in _FIELDS[:6 if framed else 4]]
    c_cols = ffi.new("struct cw_cols *")
    status = lib.CW_FULL
    while True:
        n = len(cols.offsets)
        room = min(limit - n, max(GROW, n), (end - state.pos) // smallest + 1)
        if room <= 0:
            return status
        zeros = _ZEROS if room <= GROW else memoryview(bytes(8 * room))
        for column in columns:
            column.frombytes(zeros[:room * column.itemsize])
        views = [ffi.from_buffer(_CTYPES[column.typecode], column) for column in columns]
        try:
            for name, view in zip(_FIELDS, views):
                setattr(c_cols, name, view)
            c_cols.n, c_cols.cap = n, n + room
            status = step(c_cols)
        finally:
            filled = c_cols.n
            for view in views:
                ffi.release(view)
            for column in columns:
                del column[filled:]
        if status != lib.CW_FULL or filled >= limit:
            return status
