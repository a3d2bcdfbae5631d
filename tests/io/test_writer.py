"""Writing pcap: what is written reads back the same, here and in scapy, and the target is
replaced only when the capture is complete."""
from __future__ import annotations

import os

import pytest
from scapy.utils import RawPcapReader

from tests.io.builders import ETHERNET, SLL2, frames, sll2_frame
from weboslb.io.capture import open_capture
from weboslb.io.pcap import PcapWriter

T0 = 1_700_000_000


@pytest.mark.parametrize("nanosecond", [False, True], ids=["us", "ns"])
def test_round_trip(tmp_path, nanosecond):
    data = frames(50, size=120)
    times = [T0 + i * 0.001001 for i in range(50)]
    path = tmp_path / "out.pcap"
    with PcapWriter(path, ETHERNET, nanosecond=nanosecond) as writer:
        for t, f in zip(times, data):
            writer.write(t, f)
    with open_capture(path) as cap:
        got = list(cap.frames())
        assert cap.error is None and cap.records == 50
    assert [f for _, _, f in got] == data
    assert {link for _, link, _ in got} == {ETHERNET}
    tick = 1e-9 if nanosecond else 1e-6
    for (t, _, _), want in zip(got, times):
        assert abs(t - want) <= tick / 2 + 3e-7  # rounded to the unit, then a double's step
    # scapy reads it too, with the resolution the header announces
    reader = RawPcapReader(str(path))
    assert [bytes(p) for p, _ in reader] == data
    assert reader.nano == nanosecond
    reader.close()


def test_link_type_and_a_frame_over_the_snapshot_length(tmp_path):
    path = tmp_path / "s.pcap"
    frame = sll2_frame()
    with PcapWriter(path, SLL2, snaplen=20) as writer:
        writer.write(T0, frame)
    with open_capture(path) as cap:
        (batch,) = cap.batches()
        assert batch.links == SLL2 and cap.interfaces[0].snaplen == 20
        assert bytes(batch.frame(0)) == frame[:20] and batch.wire_lengths[0] == len(frame)
        assert cap.truncated == 1


def test_a_fraction_that_rounds_up_carries_into_the_second(tmp_path):
    path = tmp_path / "r.pcap"
    with PcapWriter(path, ETHERNET) as writer:
        writer.write(T0 + 0.9999996, b"abc")
    with open_capture(path) as cap:
        assert [t for t, _, _ in cap.frames()] == [T0 + 1]


def test_the_target_is_replaced_only_on_close(tmp_path):
    path = tmp_path / "keep.pcap"
    path.write_bytes(b"previous")
    writer = PcapWriter(path, ETHERNET)
    writer.write(T0, b"new frame")
    assert path.read_bytes() == b"previous"
    writer.close()
    writer.close()  # closing twice is harmless
    assert [f for _, _, f in open_capture(path).frames()] == [b"new frame"]
    assert os.listdir(tmp_path) == ["keep.pcap"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_a_failed_run_leaves_the_old_capture(tmp_path):
    path = tmp_path / "keep.pcap"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with PcapWriter(path, ETHERNET) as writer:
            writer.write(T0, b"half")
            raise RuntimeError("replay failed")
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["keep.pcap"]
