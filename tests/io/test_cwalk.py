"""The C record walks against the pure-Python reference (tests/io/pywalk.py) on random,
corrupted and truncated captures: the same frames, times (bit for bit), positions, messages,
counters and interfaces, whether the bytes come whole or in stream windows."""
from __future__ import annotations

import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.io.builders import ETHERNET, Rec, block, epb, frames, idb, opb, pcap, shb, spb, write
from tests.io.pywalk import PyPcapngWalker, PyPcapWalker
from weboslb._native import ffi, lib
from weboslb.io import cwalk
from weboslb.io.capture import Columns, open_capture
from weboslb.io.pcap import MAX_RECORD, PcapWalker
from weboslb.io.pcapng import PcapngWalker, _units

U32 = st.integers(0, 2**32 - 1)
DATA = st.binary(max_size=40)


def drive(walker, data: bytes, start: int, limit: int, ends: list[int]):
    """Everything a walk yields when ``data`` arrives in windows ending at ``ends`` (then at
    its end, with eof), each walked as Capture.batches walks: until a bad record, or short of
    ``limit`` at the window's end."""
    seen, pos = [], start
    for end in [e for e in ends if pos <= e < len(data)] + [len(data)]:
        eof = end == len(data)
        while True:
            cols = Columns()
            pos, reason = walker.walk(memoryview(data)[:end], pos, end, eof, cols, limit)
            seen.append((pos, reason, *(c.tobytes() for c in (
                cols.starts, cols.offsets, cols.lengths, cols.wire_lengths, cols.times,
                cols.links))))
            if reason is not None:
                return seen
            if len(cols.offsets) < limit:
                break
    return seen


def same_walk(ours, reference, data: bytes, start: int, limit: int, ends: list[int]) -> None:
    assert drive(ours, data, start, limit, ends) == drive(reference, data, start, limit, ends)
    assert ours.skipped == reference.skipped
    if isinstance(ours, PcapngWalker):
        assert ours.interfaces == reference.interfaces


# ---- captures ------------------------------------------------------------------------------

@st.composite
def pcap_records(draw, order: str) -> bytes:
    data = draw(DATA)
    caplen = draw(st.one_of(st.none(), st.just(0), U32, st.just(MAX_RECORD + 1)))
    rec = Rec(draw(U32), draw(U32), data, draw(st.one_of(st.none(), U32)), caplen)
    caplen = len(rec.data) if rec.caplen is None else rec.caplen
    wire = len(rec.data) if rec.wire is None else rec.wire
    return struct.pack(order + "IIII", rec.sec, rec.frac, caplen, wire) + rec.data


@st.composite
def pcap_files(draw) -> tuple[bytes, bytes]:
    """A file header (the opener's business, kept whole) and records (the walk's)."""
    order = draw(st.sampled_from("<>"))
    head = pcap([], order, ns=draw(st.booleans()),
                snaplen=draw(st.sampled_from([0, 16, 40, 65535, MAX_RECORD, 2**32 - 1])))
    return head, b"".join(draw(st.lists(pcap_records(order), max_size=12)))


def interface_block(order: str):
    return st.builds(idb, st.sampled_from([ETHERNET, 101, 276, 65535]),
                     st.sampled_from([0, 8, 30, 65535, 2**32 - 1]),
                     st.one_of(st.none(), st.integers(0, 255)),
                     st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)), st.just(order))


def pcapng_block(order: str):
    """One block in the section's byte order ``order``."""
    ticks = st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 2**53),
                      st.integers(1_500_000_000 * 10**9, 1_800_000_000 * 10**9))
    ifid = st.sampled_from([0, 0, 0, 1, 3])
    return st.one_of(
        st.builds(epb, ifid, ticks, DATA, st.one_of(st.none(), U32), st.just(order),
                  st.one_of(st.none(), st.just(0), st.integers(0, 48), U32)),
        st.builds(opb, ifid, ticks, DATA, st.just(order)),
        st.builds(spb, DATA, st.one_of(st.none(), U32), st.just(order)),
        interface_block(order),
        st.builds(block, st.sampled_from([4, 5, 9, 10, 0xBAD, 0x40000BAD, 7, 0x1234]), DATA,
                  st.just(order)),
        st.builds(shb, st.just(order), st.sampled_from([1, 1, 1, 2])),
        st.just(struct.pack(order + "III", 3, 12, 12)),  # an SPB with no room for its length
    )


@st.composite
def pcapng_files(draw) -> bytes:
    parts = []
    for _ in range(draw(st.integers(1, 3))):  # sections, each with its byte order
        order = draw(st.sampled_from("<>"))
        parts.append(shb(order))
        parts += draw(st.lists(interface_block(order), max_size=2))
        parts += draw(st.lists(pcapng_block(order), max_size=8))
    return b"".join(parts)


@st.composite
def corrupted(draw, captures) -> bytes:
    """Bytes of a capture, maybe with some overwritten, inserted or cut off."""
    data = bytearray(draw(captures))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        at = draw(st.integers(0, len(data)))
        what = draw(st.binary(min_size=1, max_size=4))
        if draw(st.booleans()):
            data[at:at + len(what)] = what
        else:
            data[at:at] = what
    if draw(st.integers(0, 3)) == 0:
        del data[draw(st.integers(0, len(data))):]
    return bytes(data)


def windows(data: st.SearchStrategy[bytes]):
    return st.tuples(data, st.integers(1, 5), st.lists(st.integers(0, 400), max_size=4)
                     .map(sorted))


SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(pcap_files().flatmap(lambda file: windows(
    corrupted(st.just(file[1])).map(lambda records: file[0] + records))))
def test_pcap_walks_as_the_reference(case):
    data, limit, ends = case
    same_walk(PcapWalker.from_header(data[:24]), PyPcapWalker(data[:24]), data, 24, limit, ends)


@SETTINGS
@given(windows(corrupted(pcapng_files())))
def test_pcapng_walks_as_the_reference(case):
    data, limit, ends = case
    same_walk(PcapngWalker(), PyPcapngWalker(), data, 0, limit, ends)


@pytest.mark.parametrize("order", "<>")
def test_every_cut_of_every_block_kind_walks_as_the_reference(order):
    data = (shb(order) + idb(ETHERNET, 64, tsresol=9, tsoffset=-5, order=order)
            + idb(101, 0, tsresol=0x80 | 20, order=order) + idb(ETHERNET, order=order)
            + idb(ETHERNET, tsresol=25, order=order)
            + epb(0, 1_700_000_000_123_456_789, b"nano", order=order)
            + spb(b"simple", order=order) + block(5, b"stats", order)
            + opb(2, 1_700_000_000_123_456, b"old", order=order)
            + epb(1, 2**64 - 1, b"binary", order=order) + block(0x4242, b"?", order)
            + epb(3, 12345678901234567890, b"1e-25 s ticks", order=order)
            + spb(b"after the caller's time", order=order)
            + epb(3, 7, b"", order=order) + shb(order) + idb(ETHERNET, 4, order=order)
            + epb(0, 1, b"four", order=order) + epb(0, 2, b"five!", order=order))
    for cut in range(len(data) + 1):
        for limit in (1, 3, 4096):
            same_walk(PcapngWalker(), PyPcapngWalker(), data[:cut], 0, limit, [cut // 2])


@pytest.mark.parametrize("order", "<>")
@pytest.mark.parametrize("ns", [False, True])
def test_every_cut_of_a_pcap_walks_as_the_reference(order, ns):
    records = [Rec(1_700_000_000, 999_999_999, f) for f in frames(3, size=61)]
    records += [Rec(0, 0, b""), Rec(2**32 - 1, 2**32 - 1, b"x" * 9, wire=2**32 - 1)]
    data = pcap(records, order, ns=ns, snaplen=0)
    for cut in range(24, len(data) + 1):
        for limit in (1, 2, 4096):
            walker = PcapWalker.from_header(data[:24])
            same_walk(walker, PyPcapWalker(data[:24]), data[:cut], 24, limit, [cut - 17])


# ---- times ---------------------------------------------------------------------------------

def c_time(units: int, exp: int, offset: int, ticks: int) -> float:
    """C's time of ``ticks`` on an interface of ``if_tsresol`` ``exp`` (``units`` a second)."""
    iface = ffi.new("struct cw_iface *", {"offset": offset, **_units(units, exp)})
    return lib.cw_time(iface, ticks)


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


EXPONENTS = st.one_of(st.integers(0, 19), st.integers(0x80, 0x80 + 127))


@settings(max_examples=1500, deadline=None)
@given(EXPONENTS, st.data())
def test_times_are_pythons_int_division_bit_for_bit(exp, data):
    units = 1 << (exp & 0x7F) if exp & 0x80 else 10 ** exp
    ticks = data.draw(st.one_of(
        st.integers(0, 2**64 - 1),
        st.integers(0, 2**53 + 4),
        # multiples of the odd part of units: exact binary fractions, halfway cases among them
        st.integers(0, (2**64 - 1) // (5 ** (exp if exp < 0x80 else 0))).map(
            lambda k: k * 5 ** (exp if exp < 0x80 else 0)),
        st.integers(53, 63).flatmap(lambda b: st.integers(2**b, 2**(b + 1) - 1))))
    offset = data.draw(st.one_of(st.just(0), st.integers(-2**63, 2**63 - 1)))
    assert bits(c_time(units, exp, offset, ticks)) == bits(ticks / units + offset)


@pytest.mark.parametrize("ticks,units", [
    (2**53 + 1, 1), (2**54 + 2, 2), (2**53 + 3, 1), (2**64 - 1, 1), (2**64 - 1, 3),
    ((2**53 + 1) * 5, 10), (2**63 + 2**10, 1), (10**19 - 1, 10**19), (1, 2**64 - 1),
    (2**64 - 1, 2**64 - 1), (2**64 - 2, 2**63 + 1)])
def test_halfway_and_extreme_quotients_are_rounded_as_python_does(ticks, units):
    iface = ffi.new("struct cw_iface *", {"kind": lib.CW_UNITS_DIVIDE, "units": units})
    assert bits(lib.cw_time(iface, ticks)) == bits(ticks / units)


def test_a_resolution_beyond_64_bits_is_timed_by_python(tmp_path):
    ticks = 12345678901234567890
    data = (shb() + idb(ETHERNET, tsresol=30, tsoffset=7) + epb(0, ticks, b"fine")
            + spb(b"then simple"))
    with open_capture(write(tmp_path / "r.pcapng", data)) as cap:
        (batch,) = cap.batches()
    assert list(batch.times) == [ticks / 10**30 + 7] * 2
    assert cap.error is None


# ---- the columns ---------------------------------------------------------------------------

def test_a_batch_larger_than_one_growth_step_is_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(cwalk, "GROW", 7)
    records = [Rec(100, i, f) for i, f in enumerate(frames(50, size=60))]
    ng = shb() + idb(ETHERNET) + b"".join(epb(0, i, r.data) for i, r in enumerate(records))
    for name, data in (("g.pcap", pcap(records)), ("g.pcapng", ng)):
        with open_capture(write(tmp_path / name, data)) as cap:
            sizes = [len(b) for b in cap.batches(max_frames=45)]
            assert sizes == [45, 5] and cap.error is None
            assert [bytes(f) for _, _, f in cap.frames()] == [r.data for r in records]


def test_a_generous_limit_allocates_only_for_the_frames_the_buffer_can_hold():
    data = pcap([Rec(1, 0, b"abc")])
    walker = PcapWalker.from_header(data[:24])
    cols = Columns()
    tracemalloc.start()
    try:
        assert walker.walk(data, 24, len(data), True, cols, 10**12) == (len(data), None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert list(cols.lengths) == [3] and peak < 20_000


def test_a_walk_appends_to_columns_already_holding_frames():
    data = pcap([Rec(1, 0, b"abc"), Rec(2, 0, b"de"), Rec(3, 0, b"f")])
    walker = PcapWalker.from_header(data[:24])
    cols = Columns()
    pos, _ = walker.walk(data, 24, len(data), True, cols, 1)
    assert walker.walk(data, pos, len(data), True, cols, 1) == (pos, None)  # already full
    assert walker.walk(data, pos, len(data), True, cols, 3) == (len(data), None)
    assert list(cols.lengths) == [3, 2, 1] and list(cols.times) == [1.0, 2.0, 3.0]


def test_an_end_past_the_buffer_is_refused_before_c_reads_it():
    data = pcap([Rec(1, 0, b"abc")])
    walker = PcapWalker.from_header(data[:24])
    with pytest.raises(ValueError, match="outside the 43-byte buffer"):
        walker.walk(data, 24, len(data) + 100, True, Columns(), 10)


def test_bad_arguments_are_refused_by_c():
    state = ffi.new("struct cw_pcap *", {"pos": 5})
    cols = ffi.new("struct cw_cols *", {"cap": 4})
    buf = ffi.new("uint8_t[]", 4)
    assert lib.cw_pcap_walk(state, buf, 4, 1, cols) == lib.CW_EINVAL  # pos past the end
    state.pos = 0
    assert lib.cw_pcap_walk(state, buf, 4, 1, cols) == lib.CW_EINVAL  # NULL arrays
    assert lib.cw_pcap_walk(state, ffi.NULL, 4, 1, cols) == lib.CW_EINVAL
    ng = ffi.new("struct cw_pcapng *", {"nifaces": 1})
    cols.cap = 0
    assert lib.cw_pcapng_walk(ng, buf, 4, 1, cols) == lib.CW_EINVAL  # interfaces, no array
    ng.nifaces = 0
    assert lib.cw_pcapng_walk(ng, buf, 4, 1, cols) == lib.CW_FULL  # no room: nothing to do


def test_a_batch_counts_its_wire_bytes_past_32_bits(tmp_path):
    # frames cut to 3 bytes that were jumbo-sized on the wire: the total outgrows a uint32
    records = [Rec(1, i, b"abc", wire=2**31 + i) for i in range(5)] + [Rec(2, 0, b"de")]
    with open_capture(write(tmp_path / "w.pcap", pcap(records))) as cap:
        batches = list(cap.batches(max_frames=4))
    assert [b.wire_bytes for b in batches] == [4 * 2**31 + 6, 2**31 + 4 + 2]
    assert sum(b.wire_bytes for b in batches) == sum(r.wire for r in records[:5]) + 2
