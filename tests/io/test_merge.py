"""Merging captures by timestamp, in batches that each stay inside one buffer."""
from __future__ import annotations

import pytest

from tests.io.builders import ETHERNET, RAW, Rec, epb, idb, pcap, shb, write
from weboslb.io.capture import merge, open_capture


def capture(tmp_path, name: str, times_us: list[int], link: int = ETHERNET):
    """A capture whose frames are named after it and numbered: b"name:i"."""
    records = [Rec(t // 10**6, t % 10**6, f"{name}:{i}".encode()) for i, t in enumerate(times_us)]
    return open_capture(write(tmp_path / f"{name}.pcap", pcap(records, link=link)))


def merged(captures, max_frames=4096):
    batches = list(merge(captures, max_frames))
    return [(b.times[i], bytes(b.frame(i)).decode(), b.link(i))
            for b in batches for i in range(len(b))], batches


def test_frames_come_out_in_time_order(tmp_path):
    a = capture(tmp_path, "a", [10, 30, 50, 70])
    b = capture(tmp_path, "b", [20, 40, 60], link=RAW)
    got, _ = merged([a, b])
    assert [f for _, f, _ in got] == ["a:0", "b:0", "a:1", "b:1", "a:2", "b:2", "a:3"]
    assert [t for t, _, _ in got] == sorted(t for t, _, _ in got)
    assert {f[0]: link for _, f, link in got} == {"a": ETHERNET, "b": RAW}


def test_equal_times_keep_the_order_of_the_captures(tmp_path):
    a = capture(tmp_path, "a", [10, 10, 20])
    b = capture(tmp_path, "b", [10, 20])
    c = capture(tmp_path, "c", [10])
    got, _ = merged([b, c, a])
    assert [f for _, f, _ in got] == ["b:0", "c:0", "a:0", "a:1", "b:1", "a:2"]


def test_a_clock_stepping_back_keeps_the_capture_in_file_order(tmp_path):
    a = capture(tmp_path, "a", [10, 50, 20, 60])
    b = capture(tmp_path, "b", [30, 40])
    got, _ = merged([a, b])
    assert [f for _, f, _ in got] == ["a:0", "b:0", "b:1", "a:1", "a:2", "a:3"]


@pytest.mark.parametrize("max_frames", [1, 2, 3, 4096])
def test_every_batch_stays_in_one_buffer_and_under_the_limit(tmp_path, max_frames):
    a = capture(tmp_path, "a", [1, 2, 3, 10, 11, 12, 13, 30])
    b = capture(tmp_path, "b", [5, 6, 20, 21, 22])
    got, batches = merged([a, b], max_frames)
    assert [f for _, f, _ in got] == ["a:0", "a:1", "a:2", "b:0", "b:1", "a:3", "a:4", "a:5",
                                      "a:6", "b:2", "b:3", "b:4", "a:7"]
    for batch in batches:
        assert 1 <= len(batch) <= max_frames
        assert len({bytes(batch.frame(i))[:1] for i in range(len(batch))}) == 1
        assert batch.path.endswith(bytes(batch.frame(0))[:1].decode() + ".pcap")
    if max_frames == 4096:  # cut only where the source changes
        assert [len(b) for b in batches] == [3, 2, 4, 3, 1]


def test_pcap_and_pcapng_merge_and_errors_stay_on_their_capture(tmp_path):
    ng = shb() + idb(RAW, tsresol=3) + epb(0, 15, b"ng:0") + epb(0, 25, b"ng:1")
    b = open_capture(write(tmp_path / "b.pcapng", ng + b"\x06\0\0\0"))  # cut after ng:1
    a = capture(tmp_path, "a", [10_000, 20_000, 30_000])
    got, _ = merged([a, b])
    assert [f for _, f, _ in got] == ["a:0", "ng:0", "a:1", "ng:1", "a:2"]
    assert a.error is None and b.error.offset == len(ng)


def test_merging_nothing_and_empty_captures(tmp_path):
    assert list(merge([])) == []
    empty = capture(tmp_path, "e", [])
    a = capture(tmp_path, "a", [1, 2])
    got, batches = merged([empty, a])
    assert [f for _, f, _ in got] == ["a:0", "a:1"] and len(batches) == 1


@pytest.mark.parametrize("max_frames", [2, 3, 4096])
def test_link_types_follow_their_frames_through_a_merge(tmp_path, max_frames):
    ng = shb() + idb(ETHERNET, tsresol=6) + idb(RAW, tsresol=6) + b"".join(
        epb(i % 2, t, f"ng:{i}".encode()) for i, t in enumerate([10, 20, 30, 40, 50]))
    b = open_capture(write(tmp_path / "b.pcapng", ng))
    a = capture(tmp_path, "a", [25], link=999)
    got, batches = merged([a, b], max_frames)
    assert [(f, link) for _, f, link in got] == [
        ("ng:0", ETHERNET), ("ng:1", RAW), ("a:0", 999), ("ng:2", ETHERNET), ("ng:3", RAW),
        ("ng:4", ETHERNET)]
    for batch in batches:  # record headers: 28 bytes in an EPB, 16 in pcap
        header = 28 if batch.path.endswith(".pcapng") else 16
        assert [s + header for s in batch.file_offsets] == list(batch.offsets)
