"""The engine (csrc/eng.c) behind a checked Python API: whole connections in the C batch loop.

``Engine`` is a ``FlowCache`` (the flow table it runs in, with the slow path's put / hold /
delete of its own sessions) that also takes the common life of a connection itself: the
switch compiles its configuration into C tables (``configure``), runs each batch through
``Run.step`` - which stops at the first frame the slow path must handle, that frame untouched
- and takes a session over (``take``) when the slow path needs it.  The farm's columns, the
virtual servers' rows, the persistence tables and the session serial counter are shared
through pointers: one home each.  Counters only C increments come back in ``take_counts``.
"""
from __future__ import annotations

import math
import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from weboslb._native import ffi, lib
from weboslb.engine.events import Conn
from weboslb.engine.fastpath import FlowCache, _times, key_of
from weboslb.engine.metrics import _schedule
from weboslb.proto.cdecode import _first_bad_frame, _frames_in, _link
from weboslb.table.contract import HashFn, KeyKind

# services.ServiceView.pbind_name values, numbered for the C counters
PBINDS = ("none", "clientip", "cookie", "sslid", "ftp", "urlhash")
METRICS = {"roundrobin": lib.ENG_METRIC_ROUNDROBIN, "leastconns": lib.ENG_METRIC_LEASTCONNS,
           "hash": lib.ENG_METRIC_HASH}
TABLE_KINDS = (KeyKind.IPV4, KeyKind.IPV6, KeyKind.SSLID, KeyKind.COOKIE, KeyKind.FTP,
               KeyKind.FTP6)
assert PBINDS[lib.ENG_PBIND_FTP] == "ftp"
L7_BUFFERS = 4096  # requests and responses gathered at once (8 KiB each)
EVENTS = 4096  # event records a run writes before the slow path reads them
ARENA = EVENTS * 64  # their key bytes
SCHED_MAX = 1 << 16  # longest whole-group round-robin cycle compiled in advance
L7_BYTES = lib.ENG_L7_BYTES
EXCEPTION, FLUSH = lib.ENG_EXCEPTION, lib.ENG_FLUSH
_ITER_CHUNK = 1024


@dataclass(frozen=True, slots=True)
class Record:
    """A session the engine runs (``struct eng_session``), in Python values."""

    conn: Conn
    created: float
    last: float
    bound_at: float
    serial: int
    packets: int
    octets: int
    timeout: int
    request_next: int
    real: int  # code, NO_REAL while unbound
    svc: int  # the service's number in ``Compiled.services``
    pport: int
    rport: int
    ingress: int
    sp: int
    state: int  # TcpState in order
    persist: int
    watch: int
    bits: int
    binding: tuple[KeyKind, int, bytes] | None
    data: bytes = b""  # the buffered request (unbound) or response (bound)
    lines_server: bytes = b""  # an FTP control session: data is the client's unfinished line


_KINDS = {k.cid: k for k in KeyKind}


def conn_of(k) -> Conn:
    alen = 4 if k.family == 4 else 16
    return Conn(k.proto, bytes(ffi.buffer(k.cip, alen)), k.cport, bytes(ffi.buffer(k.vip, alen)),
                k.vport)


def _record(c, data: bytes = b"") -> Record:
    binding = None
    if c.bkind:
        binding = (_KINDS[c.bkind], c.bvsvc, bytes(ffi.buffer(c.bkey, c.bklen)))
    return Record(conn_of(c.key), c.created, c.last, c.bound_at, c.serial, c.packets, c.octets,
                  c.timeout, c.request_next, c.real, c.svc, c.pport, c.rport, c.ingress, c.sp,
                  c.state, c.persist, c.watch, c.bits, binding, data[:c.l7len],
                  data[c.l7len:])


def _ptr(ctype: str, arr):
    return ffi.from_buffer(ctype, arr)


def _addr16(addr: bytes) -> tuple[bytes, int]:
    if not addr:
        return bytes(16), 0
    return addr.ljust(16, b"\0"), 4 if len(addr) == 4 else 6


@dataclass(frozen=True, slots=True)
class Counts:
    """What only the engine counted since the last take (``struct eng_counts``)."""

    verdicts: list[int]  # frames the engine decided, by Verdict number
    whys: list[int]  # and by Why number
    fast: int
    opened: int  # sessions opened
    pnew: list[int]  # "persistence new <PBINDS[i]>"
    phit: list[int]  # "persistence hits <PBINDS[i]>"
    half_open: int  # change of the half-open gauge
    requests_too_long: int
    unparsed: int
    client_resets: int
    aged_dbind: int
    no_available_real: int
    persist_alloc_failures: int
    handovers: int  # sessions the slow path took over
    ftp_expectations: int


@dataclass(slots=True)
class Compiled:
    """What ``configure`` pushed: the services in C's numbering (the events and records name
    them by number), and every buffer C points into (kept alive here)."""

    services: list  # ServiceView by number
    keep: list


class Run:
    """One batch through the engine: ``step(i, end)`` decides frames from ``i`` on."""

    __slots__ = ("_b", "_e", "_io", "_keep", "_stop")

    def __init__(self, engine: Engine, batch, keep: tuple) -> None:
        self._e, self._b, self._keep = engine._e, batch, keep
        self._io, self._stop = engine.io, engine._stop

    def step(self, start: int, end: int) -> tuple[int, int]:
        """Decide frames ``start .. end-1`` in order until one is the slow path's: (where it
        stopped, why: 0 done, EXCEPTION: that frame is the slow path's, FLUSH: events)."""
        i = lib.eng_run(self._e, self._b, start, end, self._io, self._stop)
        if i < 0:
            if i == lib.ENG_ERANGE:
                b = self._b
                offs = ffi.unpack(b.off, b.n)
                caps = ffi.unpack(b.caplen, b.n)
                raise ValueError(f"offsets/lengths: {_first_bad_frame(offs, caps, b.buflen)}")
            raise ValueError(f"eng_run: invalid argument (error {i})")
        return i, self._stop[0]


class Engine(FlowCache):
    """The flow table, and the engine that runs connections in it."""

    def __init__(self, capacity: int, seed: bytes | None = None, *,
                 hash: HashFn | str = HashFn.AUTO, l7_buffers: int = L7_BUFFERS,
                 prefault: bool = True) -> None:
        if seed is None:
            seed = os.urandom(16)
        super().__init__(capacity, seed, hash=hash, prefault=prefault)
        out = ffi.new("eng **")
        rc = lib.eng_new(self._t, int.from_bytes(seed[:8], "little"),
                         int.from_bytes(seed[8:], "little"), out)
        if rc == lib.ENG_ENOMEM:
            raise MemoryError("engine: out of memory")
        if rc != 0:
            raise ValueError(f"eng_new: invalid argument (error {rc})")
        self._e = ffi.gc(out[0], lib.eng_free)
        self.l7_buffers = l7_buffers
        self._events = ffi.new("struct eng_event[]", EVENTS)
        self._arena = ffi.new("uint8_t[]", ARENA)
        self.io = ffi.new("struct eng_io *", {"events": self._events, "arena": self._arena,
                                              "events_cap": EVENTS, "arena_cap": ARENA,
                                              "want_events": 1})
        self._stop = ffi.new("int *")
        self._rec = ffi.new("struct eng_session *")
        self._l7 = ffi.new("uint8_t[]", L7_BYTES)
        self._counts = ffi.new("struct eng_counts *")
        self.unheld = array("q", [0])  # slow-path sessions the table could not hold
        self.compiled = Compiled([], [])
        self._tables: dict = {}
        self.tables_seen = 0

    def close(self) -> None:
        if self._e is not None:
            ffi.release(self._e)
            self._e = None
        super().close()

    @property
    def want_events(self) -> bool:
        return bool(self.io.want_events)

    @want_events.setter
    def want_events(self, on: bool) -> None:
        self.io.want_events = int(bool(on))

    # ---- configuration ---------------------------------------------------------------------

    def configure(self, *, services, farm, virt_rows, nvirts: int, virt_slot: dict,
                  persistence, serials: array, matrix, dam: bool, pmask: int,
                  limit: int) -> None:
        """Compile the applied configuration into the engine's tables and point it at the
        shared columns (``farm.cols``, ``virt_rows``, the persistence tables, ``serials``)."""
        keep: list = []
        real_slots = farm.real_slots()
        groups = farm.groups()
        group_slot = {gid: g.slot for gid, g in groups.items()}
        bandwidth = {rid for g in groups.values() if g.metric_name == "bandwidth"
                     for rid in g.reals}
        reals = ffi.new("struct eng_real[]", max(1, len(real_slots)))
        for rid, slot in real_slots.items():
            view = services.reals[rid]
            rip, fam = _addr16(view.rip)
            r = reals[slot]
            ffi.memmove(r.rip, rip, 16)
            r.family, r.code, r.tmout = fam, view.code, view.tmout
            r.track_load = int(rid in bandwidth)
        members: list[int] = []
        sched: list[int] = []
        cgroups = ffi.new("struct eng_group[]", max(1, len(groups)))
        for gid, g in groups.items():
            c = cgroups[g.slot]
            slots = [real_slots[r] for r in g.reals if r in real_slots]
            c.first, c.count = len(members), len(slots)
            members += slots
            c.metric = METRICS.get(g.metric_name, lib.ENG_METRIC_SLOW)
            c.backup = int(g.backup is not None)
            weights = tuple(max(1, farm.cols.weight[s]) for s in slots)
            if c.metric == lib.ENG_METRIC_ROUNDROBIN and slots and sum(weights) <= SCHED_MAX:
                cycle = _schedule(weights)
                c.sched_first, c.sched_len = len(sched), len(cycle)
                sched += cycle
        members_arr, sched_arr = array("H", members or [0]), array("H", sched or [0])
        cols, rows = farm.cols, farm.cols.rows
        vr = virt_rows
        spec = {
            "nreals": len(real_slots), "ngroups": len(groups), "nvirts": nvirts,
            "nmembers": len(members), "nsched": len(sched), "reals": reals,
            "groups": cgroups, "members": _ptr("uint16_t[]", members_arr),
            "sched": _ptr("uint16_t[]", sched_arr),
            "current": _ptr("int64_t[]", rows.current), "total": _ptr("int64_t[]", rows.total),
            "highest": _ptr("int64_t[]", rows.highest), "octets": _ptr("int64_t[]", rows.octets),
            "used": _ptr("uint8_t[]", rows.used), "response": _ptr("double[]", cols.response),
            "load": _ptr("double[]", cols.load), "load_at": _ptr("double[]", cols.load_at),
            "up": _ptr("uint8_t[]", cols.up), "weight": _ptr("int64_t[]", cols.weight),
            "maxcon": _ptr("int64_t[]", cols.maxcon), "backup": _ptr("int32_t[]", cols.backup),
            "turn": _ptr("int64_t[]", cols.turn), "group_up": _ptr("uint8_t[]", cols.group_up),
            "vcurrent": _ptr("int64_t[]", vr.current), "vtotal": _ptr("int64_t[]", vr.total),
            "vhighest": _ptr("int64_t[]", vr.highest), "voctets": _ptr("int64_t[]", vr.octets),
            "vused": _ptr("uint8_t[]", vr.used), "serial": _ptr("int64_t[]", serials),
            "unheld": _ptr("int64_t[]", self.unheld),
        }
        keep += [reals, cgroups, members_arr, sched_arr, *spec.values()]
        cfarm = ffi.new("struct eng_farm *", spec)
        keep.append(cfarm)
        _check(lib.eng_set_farm(self._e, cfarm), "eng_set_farm")

        self.set_tables(persistence)
        views = services.views()
        modes = [service_mode(view, groups) for view in views]
        csvcs = ffi.new("struct eng_service[]", max(1, len(views)))
        for n, view in enumerate(views):
            c = csvcs[n]
            vip, fam = _addr16(view.vip)
            ffi.memmove(c.vip, vip, 16)
            c.family = fam
            c.mode = modes[n]
            c.ftp = int(view.ftp)
            c.live = int(services.serving(view.vip, view.vport))
            c.delayed, c.clientip = int(view.delayed), int(view.clientip)
            c.pbind = PBINDS.index(view.pbind_name)
            c.uri, c.urlhost = int(view.pbind.uri), int(view.urlhost)
            c.vport, c.rport = view.vport, view.rport
            c.group = group_slot.get(view.group, 0)
            c.virt = virt_slot[view.virt]
            c.vsvc, c.pvsvc = view.vsvc, view.pvsvc
            c.urlhash = view.urlhash if c.mode else 0
            c.rcount = min(max(1, view.pbind.rcount), 255)
            c.ptmout, c.tmout = view.ptmout, view.tmout
            c.offset, c.length = max(1, view.pbind.offset), max(0, view.pbind.length)
            name = view.pbind.name.encode()
            if c.mode and len(name) <= lib.ENG_NAME_MAX:
                c.name_len = len(name)
                ffi.memmove(c.name, name, len(name))
        keep.append(csvcs)
        _check(lib.eng_set_services(self._e, csvcs, len(views)), "eng_set_services")

        params = ffi.new("struct eng_params *", {
            "dam": int(dam), "matrix": int(matrix.on), "vmasport": int(matrix.sport),
            "vmadip": int(matrix.dip), "spcount": matrix.spcount, "pmask": pmask,
            "limit": limit, "l7_buffers": self.l7_buffers})
        _check(lib.eng_set_params(self._e, params), "eng_set_params")
        self.compiled = Compiled(views, keep)

    def set_tables(self, persistence) -> None:
        """Point the engine at the persistence tables made so far (it leaves the first
        binding of a kind to the slow path, which makes its table)."""
        tables = dict(persistence.tables)
        for kind in TABLE_KINDS:
            table = tables.get(kind)
            _check(lib.eng_set_table(self._e, kind.cid,
                                     table._t if table is not None else ffi.NULL),
                   "eng_set_table")
        self._tables = tables  # kept alive while C points at them
        self.tables_seen = len(tables)

    # ---- batches ---------------------------------------------------------------------------

    def batch(self, buf, offsets, lengths, times, link, ingress: int, verdicts: bytearray,
              whys: bytearray, reals: array) -> Run:
        cbuf, offs, caps, n = _frames_in(buf, offsets, lengths)
        ts = _times(times, n)
        b = ffi.new("struct eng_batch *", {
            "buf": cbuf, "buflen": len(cbuf), "off": ffi.from_buffer("uint64_t[]", offs),
            "caplen": ffi.from_buffer("uint32_t[]", caps), "ts": ts, "n": n,
            "link": _link(link), "ingress": ingress,
            "verdict": ffi.from_buffer("uint8_t[]", verdicts),
            "why": ffi.from_buffer("uint8_t[]", whys),
            "real": ffi.from_buffer("uint16_t[]", reals)})
        return Run(self, b, (cbuf, offs, caps, ts, verdicts, whys, reals))

    def events(self) -> list:
        """The event records written since the last call, as (record, key bytes)."""
        io = self.io
        n = io.nevents
        out = []
        if n:
            arena = ffi.buffer(self._arena, io.arena_len)[:]
            for i in range(n):
                v = self._events[i]
                out.append((v, arena[v.keyoff:v.keyoff + v.keylen]))
        return out

    def events_read(self) -> None:
        self.io.nevents = 0
        self.io.arena_len = 0

    # ---- sessions --------------------------------------------------------------------------

    def count(self) -> int:
        """Sessions the engine runs."""
        return lib.eng_count(self._e)

    def hold(self, conn: Conn, last: float = 0.0) -> bool:
        """The slow path's session: every frame of it goes to the slow path.  False when the
        table is full."""
        rc = lib.flow_hold(self._t, ffi.from_buffer("struct flow_key *", key_of(conn)),
                           float(last))
        if rc == lib.FLOW_EFULL:
            return False
        if rc < 0:
            raise ValueError(f"flow_hold: {'the engine runs it' if rc == lib.FLOW_EOWNED else rc}")
        return True

    def take(self, conn: Conn) -> Record | None:
        """Hand the engine's session of ``conn`` over to the slow path (None if it has none)."""
        try:
            key = key_of(conn)
        except ValueError:
            return None
        rc = lib.eng_take(self._e, ffi.from_buffer("struct flow_key *", key), self._rec,
                          self._l7)
        if rc != 1:
            return None
        c = self._rec
        return _record(c, ffi.buffer(self._l7, c.l7len + c.l7srv)[:])

    def records(self) -> Iterator[Record]:
        """Every session the engine runs (without their buffered bytes)."""
        cursor = ffi.new("uint64_t *")
        chunk = ffi.new("struct eng_session[]", _ITER_CHUNK)
        while True:
            got = lib.eng_iter(self._e, cursor, chunk, _ITER_CHUNK)
            if got <= 0:
                return
            yield from [_record(chunk[i]) for i in range(got)]

    def find(self, conn: Conn) -> Record | None:
        """The engine's session of ``conn`` (read only, without its buffered bytes), if any."""
        try:
            key = key_of(conn)
        except ValueError:
            return None
        if lib.eng_peek(self._e, ffi.from_buffer("struct flow_key *", key), self._rec) != 1:
            return None
        return _record(self._rec)

    def sweep_begin(self, now: float, fast_period: float, half_open_age: float,
                    slow: bool) -> int:
        n = lib.eng_sweep_begin(self._e, now, fast_period, half_open_age, int(slow))
        if n < 0:
            raise MemoryError("engine sweep: out of memory")
        return n

    def sweep_step(self) -> int:
        return lib.eng_sweep_step(self._e, self.io)

    def take_counts(self) -> Counts:
        """The engine's counters since the last take."""
        c = self._counts
        lib.eng_take_counts(self._e, c)
        return Counts(ffi.unpack(c.verdicts, 8), ffi.unpack(c.whys, 32), c.fast, c.opened,
                      ffi.unpack(c.pnew, len(PBINDS)), ffi.unpack(c.phit, len(PBINDS)),
                      c.half_open, c.requests_too_long, c.unparsed, c.client_resets,
                      c.aged_dbind, c.no_available_real, c.persist_alloc_failures,
                      c.handovers, c.ftp_expectations)

    def check(self) -> int:
        return lib.eng_check(self._e)

    # ---- DAM -------------------------------------------------------------------------------

    def dam_allocate(self, sp: int, cip: bytes, rip: bytes, rport: int) -> int | None:
        c, cf = _addr16(cip)
        r, rf = _addr16(rip)
        port = lib.eng_dam_allocate(self._e, sp, c, cf, r, rf, rport)
        if port < 0:
            raise ValueError(f"eng_dam_allocate: error {port}")
        return port or None

    def dam_release(self, cip: bytes, port: int, rip: bytes, rport: int) -> None:
        c, cf = _addr16(cip)
        r, rf = _addr16(rip)
        lib.eng_dam_release(self._e, c, cf, port, r, rf, rport)

    def dam_clear(self) -> None:
        lib.eng_dam_clear(self._e)

    def dam_count(self) -> int:
        return lib.eng_dam_count(self._e)


class EngineDamPorts:
    """``vma.DamPorts`` over the engine's port set: the slow path and the engine allocate
    from one set."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        engine.dam_clear()  # a new configuration starts a new allocation, as DamPorts does

    def allocate(self, sp: int, cip: bytes, rip: bytes, rport: int) -> int | None:
        return self.engine.dam_allocate(sp, cip, rip, rport)

    def release(self, cip: bytes, port: int, rip: bytes, rport: int) -> None:
        self.engine.dam_release(cip, port, rip, rport)

    def __len__(self) -> int:
        return self.engine.dam_count()


def service_mode(view, groups) -> int:
    """What the engine does for a service (enum eng_mode bits; 0: the slow path does all)."""
    g = groups.get(view.group)
    if g is None or g.metric_name not in METRICS:
        return lib.ENG_MODE_SLOW
    if view.ftp:  # control lines and data connections; not with Layer 7 binding besides
        if view.delayed or view.sslid or view.cookie or view.urlhash:
            return lib.ENG_MODE_SLOW
        return lib.ENG_MODE_L4 | lib.ENG_MODE_FTP
    if view.cookie not in ("", "passive") or view.urlhash > lib.ENG_KEY_MAX:
        return lib.ENG_MODE_SLOW
    if view.cookie and len(view.pbind.name.encode()) > lib.ENG_NAME_MAX:
        return lib.ENG_MODE_SLOW
    if view.pbind.offset < 1 or view.pbind.length < 0 or view.pbind.rcount > 255:
        return lib.ENG_MODE_SLOW
    mode = lib.ENG_MODE_L4
    if view.sslid:
        mode |= lib.ENG_MODE_SSLID
    if view.cookie == "passive":
        mode |= lib.ENG_MODE_COOKIE
    if view.urlhash:
        mode |= lib.ENG_MODE_URLHASH
    return mode


def _check(rc: int, what: str) -> None:
    if rc == lib.ENG_ENOMEM:
        raise MemoryError(f"{what}: out of memory")
    if rc != 0:
        raise ValueError(f"{what}: invalid argument (error {rc})")


def nan_or(value: float) -> float | None:
    return None if math.isnan(value) else value
