"""Bad captures: a one-line error naming the file and the offset, and every frame before the
bad spot still delivered; never an exception out of the iteration."""
from __future__ import annotations

import struct

import pytest

from tests.io.builders import (ETHERNET, Rec, block, epb, frames, idb, pcap, pcap_header,
                               pcap_record, shb, write)
from weboslb.io.capture import CaptureError, open_capture
from weboslb.io.pcap import MAX_RECORD

GOOD = [Rec(100, i, f) for i, f in enumerate(frames(4, size=70))]


def read(path: str, max_frames: int = 4096):
    """Everything a caller sees: the frames of every batch, and the capture."""
    cap = open_capture(path)
    got = [bytes(b.frame(i)) for b in cap.batches(max_frames) for i in range(len(b))]
    cap.close()
    return got, cap


@pytest.mark.parametrize("data,message", [
    (b"", "not a pcap or pcapng capture (empty file)"),
    (b"\xd4\xc3", "not a pcap or pcapng capture (magic 0xd4c3, only 2 bytes)"),
    (b"GET / HTTP/1.1\r\n", "not a pcap or pcapng capture (magic 0x47455420)"),
    (b"\x0a\x0d\x0d\x0a" + b"\0" * 20, "not a pcap or pcapng capture (magic 0x0a0d0d0a"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "offset 0: truncated pcap file header (6 of 24 bytes)"),
    (b"\x0a\x0d\x0d\x0a\x1c\0\0\0", "offset 0: truncated pcapng section header (8 of 12 bytes)"),
    (pcap_header(version=(1, 0)), "offset 0: unsupported pcap version 1.0"),
])
def test_not_a_capture_is_refused_at_open(tmp_path, data, message):
    path = write(tmp_path / "bad.pcap", data)
    with pytest.raises(CaptureError) as err:
        open_capture(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)


def test_a_missing_file_is_a_capture_error(tmp_path):
    with pytest.raises(CaptureError, match="nope.pcap: No such file"):
        open_capture(tmp_path / "nope.pcap")


def boundaries(data: bytes, first: int) -> list[int]:
    """Record or block starts of a capture whose first record is at ``first``."""
    return [first] + [first + n for n in _lengths(data, first)]


def _lengths(data, first):
    total, pos = 0, first
    while pos < len(data):
        if data[:4] == b"\x0a\x0d\x0d\x0a":
            size = struct.unpack_from("<I", data, pos + 4)[0]
        else:
            order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
            size = 16 + struct.unpack_from(order + "I", data, pos + 8)[0]
        pos += size
        total += size
        yield total


CUTS = {
    "pcap-le": (pcap(GOOD, "<"), 24),
    "pcap-be-ns": (pcap(GOOD, ">", ns=True), 24),
    "pcapng": (shb() + idb(ETHERNET) + b"".join(epb(0, r.frac, r.data) for r in GOOD), 0),
}


@pytest.mark.parametrize("name", list(CUTS))
def test_a_capture_cut_at_any_byte_keeps_every_frame_before_the_cut(tmp_path, name):
    data, first = CUTS[name]
    starts = boundaries(data, first)
    whole = [r.data for r in GOOD]
    path = tmp_path / "cut"
    for cut in range(first or 12, len(data) + 1):
        got, cap = read(write(path, data[:cut]), max_frames=2)
        ends = [s for s in starts[1:] if s <= cut]
        packets = len(ends) - (2 if name == "pcapng" else 0)  # the SHB and IDB are no frames
        assert got == whole[:max(packets, 0)], cut
        if cut in starts:
            assert cap.error is None, cut
        else:
            bad = max(s for s in starts if s < cut)
            assert cap.error is not None and cap.error.offset == bad, cut
            assert str(cap.error) == f"{path}: offset {bad}: {cap.error.reason}"
            assert "truncated" in cap.error.reason or "past the end" in cap.error.reason


def test_a_record_longer_than_the_snapshot_length_stops_the_walk(tmp_path):
    records = GOOD[:2] + [Rec(100, 9, b"z" * 100)] + GOOD[2:]
    path = write(tmp_path / "s.pcap", pcap(records, snaplen=80))
    got, cap = read(path)
    assert got == [r.data for r in GOOD[:2]]
    assert cap.error.offset == 24 + 2 * (16 + 70)
    assert cap.error.reason == "record length 100 exceeds the snapshot length 80"


def test_a_record_over_256_mib_stops_the_walk_even_without_a_snapshot_length(tmp_path):
    huge = pcap_record(Rec(100, 0, b"", caplen=MAX_RECORD + 1))
    path = write(tmp_path / "h.pcap", pcap(GOOD[:1], snaplen=0) + huge)
    got, cap = read(path)
    assert got == [GOOD[0].data]
    assert cap.error.reason == f"record length {MAX_RECORD + 1} exceeds 256 MiB"


def test_zero_length_records_are_skipped_and_counted(tmp_path):
    records = [GOOD[0], Rec(100, 5, b"", wire=60), GOOD[1], Rec(100, 6, b"")]
    got, cap = read(write(tmp_path / "z.pcap", pcap(records)))
    assert got == [GOOD[0].data, GOOD[1].data]
    assert (cap.records, cap.skipped, cap.error) == (2, 2, None)
    ng = shb() + idb(ETHERNET) + epb(0, 1, b"") + epb(0, 2, b"abc")
    got, cap = read(write(tmp_path / "z.pcapng", ng))
    assert (got, cap.skipped, cap.error) == ([b"abc"], 1, None)


def _bad_length(size: int) -> bytes:
    return struct.pack("<II", 0x1234, size) + b"\0" * 8


def _bad_trailer() -> bytes:
    good = block(0x1234, b"abcd")
    return good[:-4] + struct.pack("<I", len(good) + 4)


HEAD = shb() + idb(ETHERNET) + epb(0, 1, b"first")


@pytest.mark.parametrize("tail,reason", [
    (_bad_length(30), "bad block length 30"),
    (_bad_length(8), "bad block length 8"),
    (_bad_length(MAX_RECORD * 2), f"bad block length {MAX_RECORD * 2}"),
    (struct.pack("<II", 6, 4096) + b"\0" * 20, "block of 4096 bytes runs past the end of the "
                                               "file (68 bytes left)"),
    (_bad_trailer(), "trailing block length 20 differs from 16"),
    (epb(3, 1, b"x"), "packet for interface 3, but the section defines 1"),
    (epb(0, 1, b"abcd", caplen=400), "captured length 400 runs past its 36-byte block"),
    (shb(major=2), "unsupported pcapng version 2.0"),
    (b"\x0a\x0d\x0d\x0a\x1c\0\0\0XXXX" + b"\0" * 16, "bad byte-order magic 0x58585858"),
    (struct.pack("<III", 6, 12, 12), "packet block of 12 bytes is too short"),
])
def test_a_bad_pcapng_block_stops_the_walk_where_it_starts(tmp_path, tail, reason):
    path = write(tmp_path / "b.pcapng", HEAD + tail + epb(0, 2, b"never"))
    got, cap = read(path)
    assert got == [b"first"]
    assert (cap.error.offset, cap.error.reason) == (len(HEAD), reason)
    assert str(cap.error) == f"{path}: offset {len(HEAD)}: {reason}"


def test_batches_before_the_bad_spot_stand(tmp_path):
    records = GOOD + GOOD + [Rec(1, 1, b"q" * 10, caplen=500)]
    cap = open_capture(write(tmp_path / "t.pcap", pcap(records)))
    sizes = [len(b) for b in cap.batches(max_frames=3)]
    assert sizes == [3, 3, 2] and cap.records == 8
    assert cap.error.reason == "truncated record (captured length 500, 10 bytes left)"
