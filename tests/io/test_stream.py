"""Captures that cannot be mapped (pipes, standard input) are read in bounded windows and
give the same frames, errors and offsets as mapped files."""
from __future__ import annotations

import io
import os
import sys
import threading

import pytest

from tests.io.builders import ETHERNET, Rec, epb, frames, idb, pcap, shb, write
from weboslb.io.capture import open_capture

RECORDS = [Rec(200, i, f) for i, f in enumerate(frames(40, size=300))]
CAPTURES = {
    "pcap": pcap(RECORDS),
    "pcapng": shb() + idb(ETHERNET) + b"".join(epb(0, r.frac, r.data) for r in RECORDS),
}


def through_fifo(tmp_path, data: bytes, **kw):
    """(frames, capture) read from a named pipe fed by a thread."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    feeder = threading.Thread(target=fifo.write_bytes, args=(data,))
    feeder.start()
    try:
        cap = open_capture(fifo, **kw)
        batches = list(cap.batches(max_frames=16))
        cap.close()
    finally:
        feeder.join()
    return [(b.times[i], bytes(b.frame(i)), b.file_offsets[i])
            for b in batches for i in range(len(b))], cap, batches


def mapped(tmp_path, data: bytes):
    with open_capture(write(tmp_path / "m", data)) as cap:
        return [(b.times[i], bytes(b.frame(i)), b.file_offsets[i])
                for b in cap.batches() for i in range(len(b))], cap


@pytest.mark.parametrize("fmt", list(CAPTURES))
@pytest.mark.parametrize("chunk", [1 << 20, 1000, 100], ids=["1MiB", "1000", "100"])
def test_a_pipe_reads_like_the_file(tmp_path, fmt, chunk):
    """Small windows cut records apart; each window is its own buffer, grown when a record
    does not fit."""
    got, cap, batches = through_fifo(tmp_path, CAPTURES[fmt], chunk_size=chunk)
    want, _ = mapped(tmp_path, CAPTURES[fmt])
    assert got == want and cap.error is None and cap.records == len(RECORDS)
    assert cap.size is None and cap.position == len(CAPTURES[fmt])
    assert all(len(b.buf) <= max(chunk, 2 * 400) for b in batches)  # bounded windows


@pytest.mark.parametrize("fmt", list(CAPTURES))
def test_a_cut_pipe_reports_the_same_offset_as_the_cut_file(tmp_path, fmt):
    data = CAPTURES[fmt][:-123]
    got, cap, _ = through_fifo(tmp_path, data, chunk_size=500)
    want, mcap = mapped(tmp_path, data)
    assert got == want and len(got) == len(RECORDS) - 1
    assert str(cap.error).split(": ", 1)[1] == str(mcap.error).split(": ", 1)[1]


def test_standard_input(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(CAPTURES["pcap"])))
    cap = open_capture("-")
    assert [f for _, _, f in cap.frames()] == [r.data for r in RECORDS]
    assert cap.path == "<stdin>"
    with pytest.raises(ValueError, match="read only once"):
        next(cap.batches())
