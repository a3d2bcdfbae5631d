"""Reading pcapng: sections, interfaces with their own link types and clocks, packet blocks."""
from __future__ import annotations

from array import array

import pytest
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter

from tests.io.builders import (ETHERNET, RAW, SLL2, USER0, Rec, block, epb, frames, idb, opb,
                               pcap, raw_ip_frame, shb, sll2_frame, spb, write)
from weboslb.io.capture import open_capture

T0 = 1_700_000_000


def test_two_interfaces_with_their_own_link_type_and_resolution(tmp_path):
    eth, sll, raw = frames(1)[0], sll2_frame(), raw_ip_frame()
    data = (shb() + idb(ETHERNET, tsresol=9) + idb(SLL2, tsresol=0x80 | 20)
            + idb(RAW, tsresol=6, tsoffset=T0)
            + epb(0, T0 * 10**9 + 123_456_789, eth)
            + epb(1, T0 * 2**20 + 2**19, sll)  # half a second in 2^-20 units
            + epb(2, 250_000, raw))  # a quarter second after if_tsoffset
    path = write(tmp_path / "two.pcapng", data)
    with open_capture(path) as cap:
        got = list(cap.frames())
        assert cap.format == "pcapng" and cap.error is None
        assert [i.link for i in cap.interfaces] == [ETHERNET, SLL2, RAW]
    assert [(link, f) for _, link, f in got] == [(ETHERNET, eth), (SLL2, sll), (RAW, raw)]
    assert [t for t, _, _ in got] == [T0 + 0.123456789, T0 + 0.5, T0 + 0.25]


def test_links_are_one_number_when_a_batch_shares_it(tmp_path):
    eth = frames(4)
    data = (shb() + idb(ETHERNET) + idb(USER0)
            + b"".join(epb(0, i, f) for i, f in enumerate(eth)) + epb(1, 9, b"\x01\x02"))
    path = write(tmp_path / "l.pcapng", data)
    with open_capture(path) as cap:
        first, second = cap.batches(max_frames=4)
    assert first.links == ETHERNET
    assert second.links == USER0  # other link types come through as their number
    with open_capture(path) as cap:
        (both,) = cap.batches()
    assert both.links == array("H", [ETHERNET] * 4 + [USER0])


def test_sections_switch_byte_order_and_start_new_interfaces(tmp_path):
    a, b = frames(2)
    data = (shb("<") + idb(ETHERNET, tsresol=3) + epb(0, T0 * 1000 + 5, a)
            + shb(">") + idb(RAW, order=">") + epb(0, T0 * 10**6 + 7, b, order=">"))
    path = write(tmp_path / "s.pcapng", data)
    with open_capture(path) as cap:
        got = list(cap.frames())
        assert [i.link for i in cap.interfaces] == [RAW]  # the last section's
    assert got == [(T0 + 0.005, ETHERNET, a), (T0 + 0.000007, RAW, b)]


def test_simple_and_obsolete_packet_blocks(tmp_path):
    a, b, c = frames(3, size=100)
    data = (shb() + idb(ETHERNET, snaplen=80) + opb(0, T0 * 10**6 + 1, a[:80])
            + spb(b[:80], wire=100) + spb(c[:60], wire=60))
    path = write(tmp_path / "o.pcapng", data)
    with open_capture(path) as cap:
        got = list(cap.frames())
        assert (cap.records, cap.truncated) == (3, 1)
    # a simple packet block has no time: it keeps the previous frame's
    assert got == [(T0 + 0.000001, ETHERNET, a[:80]), (T0 + 0.000001, ETHERNET, b[:80]),
                   (T0 + 0.000001, ETHERNET, c[:60])]


def test_other_blocks_are_stepped_over(tmp_path):
    a, b = frames(2)
    nrb, isb, unknown = block(4, b"\0" * 4), block(5, b"\0" * 12), block(0x1234, b"zz")
    data = shb() + nrb + idb(ETHERNET) + unknown + epb(0, 1, a) + isb + epb(0, 2, b)
    path = write(tmp_path / "k.pcapng", data)
    with open_capture(path) as cap:
        assert [f for _, _, f in cap.frames()] == [a, b]
        assert cap.skipped == 1  # the unknown type; name resolution and statistics are known


def test_batches_point_into_the_file(tmp_path):
    data = frames(3, size=90)
    raw = shb() + idb(ETHERNET) + b"".join(epb(0, i, f) for i, f in enumerate(data))
    path = write(tmp_path / "b.pcapng", raw)
    with open_capture(path) as cap:
        (batch,) = cap.batches()
        for i in range(3):
            start = batch.file_offsets[i]
            assert raw[start:start + 4] == b"\x06\0\0\0" and batch.offsets[i] == start + 28
            assert bytes(batch.frame(i)) == data[i]
        assert cap.position == cap.size == len(raw)


def test_scapy_pcapng_with_two_interfaces(tmp_path):
    path = str(tmp_path / "scapy.pcapng")
    pkts = [Ether(f) for f in frames(4)]
    for i, p in enumerate(pkts):
        p.time, p.sniffed_on = T0 + i, "eth0" if i % 2 else "eth1"
    with PcapNgWriter(path) as writer:
        writer.write(pkts)
    with open_capture(path) as cap:
        got = list(cap.frames())
        assert len(cap.interfaces) == 3  # scapy's default interface, then one per name
    assert [f for _, _, f in got] == [bytes(p) for p in pkts]
    assert [t for t, _, _ in got] == [T0 + i for i in range(4)]


@pytest.mark.parametrize("name", ["x.pcap", "x.cap", "x"])
def test_pcapng_is_told_by_magic_not_by_name(tmp_path, name):
    path = write(tmp_path / name, shb() + idb(ETHERNET) + epb(0, 1, b"abc"))
    with open_capture(path) as cap:
        assert cap.format == "pcapng" and [f for _, _, f in cap.frames()] == [b"abc"]
    assert open_capture(write(tmp_path / "p.pcapng", pcap([Rec(1, 0, b"a")]))).format == "pcap"
