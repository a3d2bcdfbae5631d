"""The C flow table (csrc/flow.c) behind a checked Python API.

The slow path (``Switch``) holds an entry for each of its sessions (``hold`` in
``cengine.Engine``: every frame of it is the slow path's), puts the flow when a session may go
fast (bound, no Layer 7 inspection pending, no FTP control parsing, no sequence translation)
and deletes it when the session ends.  ``run`` takes a whole batch of frames in one C call:
frames of put flows are forwarded there (their last/packets/octets kept in C), frames that are
not the switch's business are passed, and the rest come back as exceptions, in frame order,
for the slow path - including every later frame of a connection that had one in the same
batch.  The engine (``cengine.Engine``, a ``FlowCache``) runs whole connections in the same
table, one frame at a time.

Inputs cross into C without copies (``ffi.from_buffer``); the four results of ``run`` are
views over the batch's own result arrays.  Bad arguments raise ValueError naming the
argument; bad frames are never an exception, only a verdict.
"""
from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from weboslb._native import ffi, lib
from weboslb.engine.events import Conn
from weboslb.proto.cdecode import _first_bad_frame, _frames_in, _link
from weboslb.proto.packet import Link
from weboslb.table.contract import HashFn, check_int

NO_REAL = lib.FLOW_NO_REAL
CAPACITY_MAX = lib.FLOW_CAPACITY_MAX
VIPS_MAX = lib.FLOW_VIPS_MAX
_KEY = struct.Struct("=BBHH2x16s16s")  # struct flow_key, native byte order like the C side
_ITER_CHUNK = 1024
_PROTOS = (6, 17)


@dataclass(frozen=True, slots=True)
class FlowState:
    """A flow as C holds it.  Directions are (to the real, to the client)."""

    real: int
    flags: int
    last: float
    packets: tuple[int, int]  # since the put
    octets: tuple[int, int]  # payload bytes since the put
    untaken: int  # payload bytes, both directions, since the last take


@dataclass(frozen=True, slots=True)
class FlowStats:
    entries: int
    capacity: int
    vips: int
    generation: int  # batches run (the exception mark of the last one)
    runs: int
    frames: int
    fast: int  # frames forwarded in C
    exceptions: int
    passes: int
    put_failures: int  # puts refused by a full cache
    memory_bytes: int
    hash: str


class RunResult(NamedTuple):
    """One batch's decisions: views over its result arrays (hold them as long as you like;
    the next run writes new ones)."""

    verdicts: memoryview  # u8 per frame: a Verdict number, 0 for an exception
    whys: memoryview  # u8 per frame: a Why number (a PASS's reason), else 0
    reals: memoryview  # u16 per frame: the real's code when forwarded, else NO_REAL
    exceptions: memoryview  # u32 frame indices for the slow path, in increasing order


def _addr(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) not in (4, 16):
        raise ValueError(f"{name} must be a 4- or 16-byte address, not {value!r}")
    return bytes(value)


def key_of(conn: Conn) -> bytes:
    """The 40-byte ``struct flow_key`` of a connection (canonical: one per connection)."""
    if not isinstance(conn, Conn):
        raise ValueError(f"conn must be a Conn, not {type(conn).__name__}")
    if conn.proto not in _PROTOS:
        raise ValueError(f"conn.proto must be 6 (TCP) or 17 (UDP), not {conn.proto!r}")
    cip, vip = _addr("conn.cip", conn.cip), _addr("conn.vip", conn.vip)
    if len(cip) != len(vip):
        raise ValueError("conn.cip and conn.vip must be of the same family")
    return _KEY.pack(conn.proto, 4 if len(cip) == 4 else 6,
                     check_int("conn.cport", conn.cport, 0, 0xFFFF),
                     check_int("conn.vport", conn.vport, 0, 0xFFFF), cip, vip)


def _keys(conns: Iterable[Conn]) -> tuple[object, int]:
    data = b"".join(key_of(c) for c in conns)
    n = len(data) // _KEY.size
    return (ffi.from_buffer("struct flow_key[]", data) if n else ffi.NULL), n


def _state(c) -> FlowState:
    return FlowState(real=c.real, flags=c.flags, last=c.last,
                     packets=(c.packets[0], c.packets[1]), octets=(c.octets[0], c.octets[1]),
                     untaken=c.untaken)


def _conn(k) -> Conn:
    alen = 4 if k.family == 4 else 16
    return Conn(k.proto, ffi.buffer(k.cip, alen)[:], k.cport, ffi.buffer(k.vip, alen)[:],
                k.vport)


def _times(times, n: int):
    """times as a C double[] of n values: zero-copy for a matching buffer, else a copy."""
    try:
        view = memoryview(times)
    except TypeError:
        view = None
    if view is not None and view.ndim == 1 and view.c_contiguous and view.format == "d":
        arr = times
    else:
        try:
            arr = array("d", times)
        except TypeError as exc:
            raise ValueError(f"times must be numbers (seconds): {exc}") from None
        view = memoryview(arr)
    if len(view) != n:
        raise ValueError(f"times: {len(view)} values for {n} frames")
    return ffi.from_buffer("double[]", arr)


class FlowCache:
    """The fast path's flow cache and VIP set: a fixed number of flows, in C."""

    def __init__(self, capacity: int, seed: bytes | None = None, *,
                 hash: HashFn | str = HashFn.AUTO, prefault: bool = True) -> None:
        """``prefault=False``: memory is touched as flows arrive instead of all at creation
        (a replay: first touches cost a fault on the packet path, but only the pages used)."""
        capacity = check_int("capacity", capacity, 1, CAPACITY_MAX)
        if capacity & (capacity - 1):
            raise ValueError(f"capacity {capacity} is not a power of two")
        hash_fn = HashFn.parse(hash)
        if hash_fn is HashFn.AES and not lib.pst_aes_available():
            raise ValueError("hash 'aes' needs a CPU with AES-NI and an x86-64 build")
        if seed is None:
            seed = os.urandom(16)
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != 16:
            raise ValueError("seed must be 16 bytes")
        out = ffi.new("flow_table **")
        rc = lib.flow_new_opt(capacity, int.from_bytes(seed[:8], "little"),
                              int.from_bytes(seed[8:], "little"), hash_fn.cid,
                              0 if prefault else lib.FLOW_NEW_LAZY, out)
        if rc == lib.FLOW_ENOMEM:
            raise MemoryError(f"flow cache of {capacity} flows: out of memory")
        if rc != lib.FLOW_OK:
            raise ValueError(f"flow_new: invalid argument (error {rc})")
        self._t = ffi.gc(out[0], lib.flow_free)
        self.capacity = capacity
        self.hash_fn = HashFn.parse(self.stats().hash)
        self._nexc = ffi.new("uint32_t *")

    def close(self) -> None:
        """Free the cache's memory now rather than at garbage collection."""
        if self._t is not None:
            ffi.release(self._t)
            self._t = None

    def __len__(self) -> int:
        return self.stats().entries

    def set_vips(self, addrs: Iterable[bytes]) -> None:
        """Replace the VIP set (the addresses of live virtual servers, both families)."""
        addrs = [_addr("VIP address", a) for a in addrs]
        if len(addrs) > VIPS_MAX:
            raise ValueError(f"{len(addrs)} VIP addresses: at most {VIPS_MAX}")
        packed = b"".join(a.ljust(16, b"\0") for a in addrs)
        fams = bytes(4 if len(a) == 4 else 6 for a in addrs)
        rc = lib.flow_set_vips(self._t, packed, fams, len(addrs))
        if rc == lib.FLOW_ENOMEM:
            raise MemoryError("VIP set: out of memory")
        if rc != lib.FLOW_OK:
            raise ValueError(f"flow_set_vips: invalid argument (error {rc})")

    # ---- single flows (the slow path) ------------------------------------------------------

    def put(self, conn: Conn, real_code: int, *, flags: int = 0, last: float = 0.0) -> bool:
        """Send the connection's frames the fast way, to ``real_code``.  A new flow starts
        with zero counters; an existing one gets the new real, flags and last and keeps its
        counters.  False when the cache is full: the session stays on the slow path."""
        key = key_of(conn)
        real_code = check_int("real_code", real_code, 0, NO_REAL - 1)
        flags = check_int("flags", flags, 0, 0xFF)
        if isinstance(last, bool) or not isinstance(last, (int, float)):
            raise ValueError(f"last must be a time in seconds, not {last!r}")
        rc = lib.flow_put(self._t, ffi.from_buffer("struct flow_key *", key), real_code, flags,
                          float(last))
        if rc == lib.FLOW_EFULL:
            return False
        if rc < 0:
            raise ValueError(f"flow_put: invalid argument (error {rc})")
        return True

    def delete(self, conn: Conn) -> bool:
        """Back to the slow path; whether there was a flow."""
        return lib.flow_delete(self._t, ffi.from_buffer("struct flow_key *", key_of(conn))) == 1

    def get(self, conn: Conn) -> FlowState | None:
        return self.get_many([conn])[0]

    def get_many(self, conns: Sequence[Conn]) -> list[FlowState | None]:
        """The state of each flow (None where there is none), in one C call."""
        keys, n = _keys(conns)
        out = ffi.new("struct flow_state[]", n)
        found = ffi.new("uint8_t[]", n)
        lib.flow_get_many(self._t, keys, n, out, found)
        return [_state(out[i]) if found[i] else None for i in range(n)]

    def take_octets(self, conns: Sequence[Conn]) -> list[int]:
        """The payload octets each flow forwarded since the last take (0 where there is no
        flow); their counters start again from 0.  One C call."""
        keys, n = _keys(conns)
        out = ffi.new("uint64_t[]", n)
        lib.flow_take_many(self._t, keys, n, out)
        return list(out)

    def flows(self, *, take: bool = False) -> Iterator[tuple[Conn, FlowState]]:
        """Every flow, in chunks of C calls; ``take``: each one's untaken octets are read
        (in its state) and start again from 0."""
        cursor = ffi.new("uint64_t *")
        chunk = ffi.new("struct flow_entry[]", _ITER_CHUNK)
        while True:
            got = lib.flow_iter(self._t, cursor, chunk, _ITER_CHUNK, int(bool(take)))
            if got <= 0:
                return
            yield from [(_conn(chunk[i].key), _state(chunk[i].state)) for i in range(got)]

    def clear(self) -> None:
        """Drop every flow (the VIP set stays).  ValueError while the engine runs sessions
        in the table (``cengine.Engine``): those are handed over first."""
        if lib.flow_clear(self._t) != lib.FLOW_OK:
            raise ValueError("the engine runs sessions in this flow table: take them first")

    def stats(self) -> FlowStats:
        s = ffi.new("struct flow_stats *")
        lib.flow_get_stats(self._t, s)
        return FlowStats(
            entries=s.entries, capacity=s.capacity, vips=s.vips, generation=s.generation,
            runs=s.runs, frames=s.frames, fast=s.fast, exceptions=s.exceptions,
            passes=s.passes, put_failures=s.put_failures, memory_bytes=s.memory_bytes,
            hash=HashFn.SIPHASH.label if s.hash == HashFn.SIPHASH.cid else HashFn.AES.label)

    def check(self) -> int:
        """Structural invariants (tests): 0 when they hold."""
        return lib.flow_check(self._t)

    # ---- the batch -------------------------------------------------------------------------

    def run(self, buf, offsets: Sequence[int], lengths: Sequence[int], times: Sequence[float],
            link: Link | int = Link.ETHERNET) -> RunResult:
        """Decide the frames ``buf[offsets[i]:offsets[i] + lengths[i]]`` seen at ``times[i]``
        in one C call.  offsets / lengths / times are read in place when they are
        array('Q') / array('I') / array('d') (or buffers of those C types), else copied."""
        cbuf, offs, caps, n = _frames_in(buf, offsets, lengths)
        ts = _times(times, n)
        out = ffi.new("struct flow_out[]", n)
        exc = ffi.new("uint32_t[]", n)
        rc = lib.flow_run(self._t, cbuf, len(cbuf), ffi.from_buffer("uint64_t[]", offs),
                          ffi.from_buffer("uint32_t[]", caps), ts, n, _link(link), out, exc,
                          self._nexc)
        if rc == lib.FLOW_ERANGE:
            raise ValueError(f"offsets/lengths: {_first_bad_frame(offs, caps, len(cbuf))}")
        if rc != lib.FLOW_OK:
            raise ValueError(f"flow_run: invalid argument (error {rc})")
        raw = memoryview(ffi.buffer(out)).cast("B")
        return RunResult(raw[0::4], raw[1::4], raw.cast("H")[1::2],
                         memoryview(ffi.buffer(exc)).cast("I")[:self._nexc[0]])
