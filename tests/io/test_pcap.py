"""Reading classic pcap: byte orders, resolutions, link types, batches over the mapped file."""
from __future__ import annotations

import pytest
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from tests.io.builders import (ETHERNET, RAW, SLL2, USER0, Rec, frames, pcap, raw_ip_frame,
                               sll2_frame, write)
from weboslb.io.capture import open_capture
from weboslb.proto.frame import decode
from weboslb.proto.packet import Reason

RECORDS = [Rec(1_700_000_000, 1, b"a" * 60), Rec(1_700_000_000, 999_999, b"b" * 61),
           Rec(1_700_000_001, 0, b"c" * 1514)]


@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
@pytest.mark.parametrize("ns", [False, True], ids=["us", "ns"])
def test_both_byte_orders_and_resolutions(tmp_path, order, ns):
    records = RECORDS if not ns else [Rec(r.sec, r.frac * 1000 + 7, r.data) for r in RECORDS]
    path = write(tmp_path / "x.pcap", pcap(records, order=order, ns=ns))
    with open_capture(path) as cap:
        got = list(cap.frames())
        assert cap.format == "pcap" and cap.error is None and cap.records == 3
    assert [f for _, _, f in got] == [r.data for r in records]
    assert [link for _, link, _ in got] == [ETHERNET] * 3
    for (time, _, _), rec in zip(got, records):
        assert time == pytest.approx(rec.time(ns), abs=5e-7)


@pytest.mark.parametrize("link,frame", [(ETHERNET, frames(1)[0]), (SLL2, sll2_frame()),
                                        (RAW, raw_ip_frame())], ids=["ethernet", "sll2", "raw"])
def test_scapy_captures_of_each_link_type_reach_the_decoder(tmp_path, link, frame):
    path = str(tmp_path / "s.pcap")
    wrpcap(path, [frame] * 3, linktype=link)
    with open_capture(path) as cap:
        (batch,) = cap.batches()
        assert batch.links == link and cap.interfaces[0].link == link
        assert all(decode(bytes(batch.frame(i)), batch.link(i)).reason is Reason.OK
                   for i in range(len(batch)))


def test_a_link_type_the_decoder_does_not_know_is_passed_through(tmp_path):
    path = write(tmp_path / "u.pcap", pcap(RECORDS, link=USER0))
    with open_capture(path) as cap:
        assert {link for _, link, _ in cap.frames()} == {USER0}
        assert cap.error is None


def test_fcs_bits_above_the_link_type_are_not_part_of_it(tmp_path):
    path = write(tmp_path / "f.pcap", pcap(RECORDS, link=ETHERNET | 0x1_4000_000))
    with open_capture(path) as cap:
        assert {link for _, link, _ in cap.frames()} == {ETHERNET}


def test_scapy_capture_with_times(tmp_path):
    packets = frames(5)
    path = str(tmp_path / "t.pcap")
    pkts = [Ether(f) for f in packets]
    for i, p in enumerate(pkts):
        p.time = 1_600_000_000 + i * 0.25
    wrpcap(path, pkts)
    with open_capture(path) as cap:
        got = list(cap.frames())
    assert [f for _, _, f in got] == packets
    assert [t for t, _, _ in got] == [1_600_000_000 + i * 0.25 for i in range(5)]


def test_format_is_told_by_magic_not_by_name(tmp_path):
    path = write(tmp_path / "really-pcap.pcapng", pcap(RECORDS))
    with open_capture(path) as cap:
        assert cap.format == "pcap" and len(list(cap.frames())) == 3


def test_batches_point_into_one_mapped_buffer(tmp_path):
    data = frames(10, size=100)
    path = write(tmp_path / "b.pcap", pcap([Rec(1, i, f) for i, f in enumerate(data)]))
    raw = (tmp_path / "b.pcap").read_bytes()
    with open_capture(path) as cap:
        batches, progress = [], []
        for batch in cap.batches(max_frames=4):
            batches.append(batch)
            progress.append(cap.position)
        assert [len(b) for b in batches] == [4, 4, 2]
        assert progress == [24 + 4 * 116, 24 + 8 * 116, 24 + 10 * 116] and cap.size == len(raw)
        assert len({id(b.buf) for b in batches}) == 1  # the mapped file, not copies
        seen = []
        for b in batches:
            assert b.offsets.typecode == "Q" and b.lengths.typecode == "I"
            assert b.times.typecode == "d" and b.file_offsets.typecode == "Q"
            for i in range(len(b)):
                seen.append(bytes(b.buf[b.offsets[i]:b.offsets[i] + b.lengths[i]]))
                # a record header starts 16 bytes before its frame
                assert b.file_offsets[i] + 16 == b.offsets[i]
                assert raw[b.file_offsets[i] + 8:b.file_offsets[i] + 12] == \
                    b.lengths[i].to_bytes(4, "little")
        assert seen == data
        assert cap.position == cap.size == len(raw)


def test_truncated_frames_are_delivered_and_counted(tmp_path):
    records = [Rec(1, 0, b"x" * 64, wire=1500), Rec(2, 0, b"y" * 60)]
    path = write(tmp_path / "s.pcap", pcap(records, snaplen=64))
    with open_capture(path) as cap:
        (batch,) = cap.batches()
        assert list(batch.lengths) == [64, 60] and list(batch.wire_lengths) == [1500, 60]
        assert (cap.records, cap.truncated, cap.skipped) == (2, 1, 0)


def test_reading_again_starts_over(tmp_path):
    path = write(tmp_path / "a.pcap", pcap(RECORDS))
    with open_capture(path) as cap:
        first = list(cap.frames())
        assert list(cap.frames()) == first and cap.records == 3


def test_a_header_only_capture_has_no_frames(tmp_path):
    path = write(tmp_path / "h.pcap", pcap([]))
    with open_capture(path) as cap:
        assert list(cap.batches()) == [] and cap.error is None and cap.position == 24
