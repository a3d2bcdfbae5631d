"""The C persistence table behind a checked Python API.

Arguments are validated here (``contract`` checks, shared with the reference table) before they
cross into C; batch methods hand C whole arrays through ``ffi.from_buffer`` - one call per
batch, never one per key.  A table has one owner: the C code takes no locks.
"""
from __future__ import annotations

import os
from array import array
from collections.abc import Iterator

from weboslb._native import ffi, lib
from weboslb.table.batch import KeyBatch, real_column, sp_column, timeout_column
from weboslb.table.contract import (
    DEFAULT_EXPIRE_WORK,
    FLAG_PERSIST,
    FLAG_USER,
    NO_REAL,
    U16_MAX,
    U32_MAX,
    Entry,
    HashFn,
    JournalGap,
    KeyKind,
    Op,
    Policy,
    Status,
    TableStats,
    Update,
    check_capacity,
    check_entry,
    check_flags,
    check_int,
    check_journal,
    check_key,
    check_now,
    default_journal,
)

_ITER_CHUNK = 1024
# output columns are made by repeating one zero: a quarter of the cost of array(bytes(...))
_ZERO_H = array("H", [0])
_ZERO_B = array("b", [0])
_STATUS = {s.value: s for s in Status}
_HASH_LABEL = {h.cid: h.label for h in HashFn}


def _raise_for(rc: int, what: str) -> int:
    if rc >= 0 or rc == -1:
        return rc
    if rc == lib.PST_ENOMEM:
        raise MemoryError(f"{what}: out of memory")
    if rc == lib.PST_EKEYLEN:
        raise ValueError(f"{what}: key length out of range")
    raise ValueError(f"{what}: invalid argument (error {rc})")


def _entry(c) -> Entry:
    return Entry(
        key=bytes(ffi.buffer(c.key, c.keylen)),
        vsvc=c.vsvc,
        real=c.real,
        sp=c.sp,
        flags=c.flags,
        created=c.created,
        last_used=c.last_used,
        timeout=c.timeout,
    )


class CTable:
    """A fixed-capacity persistence table for one key kind, in C."""

    def __init__(
        self,
        kind: KeyKind | str,
        capacity: int,
        *,
        policy: Policy | str = Policy.REFUSE,
        journal: int | None = None,
        seed: bytes | None = None,
        hash: HashFn | str = HashFn.AUTO,
        prefault: bool = True,
    ) -> None:
        """``prefault=False``: memory is touched as entries arrive instead of all at creation
        (cheap to make a big table that stays mostly empty; first touches cost a fault)."""
        self.kind = KeyKind.parse(kind)
        hash_fn = HashFn.parse(hash)
        if hash_fn is HashFn.AES and not lib.pst_aes_available():
            raise ValueError("hash 'aes' needs a CPU with AES-NI and an x86-64 build")
        self.capacity = check_capacity(capacity)
        self.policy = Policy.parse(policy)
        self.journal_capacity = check_journal(
            default_journal(capacity) if journal is None else journal
        )
        if seed is None:
            seed = os.urandom(16)
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != 16:
            raise ValueError("seed must be 16 bytes")
        self.seed = bytes(seed)
        params = ffi.new(
            "pst_params *",
            {
                "kind": self.kind.cid,
                "policy": self.policy.cid,
                "hash": hash_fn.cid,
                "flags": 0 if prefault else lib.PST_NEW_LAZY,
                "capacity": self.capacity,
                "journal": self.journal_capacity,
                "seed": [int.from_bytes(self.seed[:8], "little"),
                         int.from_bytes(self.seed[8:], "little")],
            },
        )
        out = ffi.new("pst_table **")
        _raise_for(lib.pst_new(params, out), "pst_new")
        self._t = ffi.gc(out[0], lib.pst_free)
        self.hash_fn = HashFn.parse(self.stats(probes=False).hash)
        self._key = ffi.new("pst_keys *")
        self._vals = ffi.new("pst_vals *")
        self._one = ffi.new("pst_entry *")
        self._real_out = ffi.new("uint16_t *")

    def close(self) -> None:
        """Free the table's memory now rather than at garbage collection."""
        if self._t is not None:
            ffi.release(self._t)
            self._t = None

    # ---- single keys (slow path) ----------------------------------------------------------

    def __len__(self) -> int:
        return self.stats(probes=False).entries

    def lookup(self, key: bytes, *, vsvc: int = 0, now: int) -> Entry | None:
        key = check_key(self.kind, key)
        rc = lib.pst_get(self._t, check_int("vsvc", vsvc, 0, U16_MAX), key, len(key),
                         check_now(now), self._one)
        return _entry(self._one) if _raise_for(rc, "lookup") == 1 else None

    def lookup_real(self, key: bytes, *, vsvc: int = 0, now: int) -> int:
        """The bound real for one key, or -1: one C call per key (the benchmark's baseline).
        Arguments are checked by C and cffi; Python-side checks run only on failure."""
        try:
            rc = lib.pst_lookup1(self._t, vsvc, key, len(key), now)
        except (OverflowError, TypeError):
            check_key(self.kind, key)
            check_int("vsvc", vsvc, 0, U16_MAX)
            check_now(now)
            raise
        return _raise_for(rc, "lookup_real")

    def get_or_create(
        self, key: bytes, *, vsvc: int = 0, real: int, now: int, timeout: int, sp: int = 0,
        persistent: bool = True, user_flags: int = 0,
    ) -> tuple[Status, int]:
        """Insert-or-touch one key: (status, bound real); see ``get_or_create_many``.
        C and cffi check the arguments; the Python checks run only to explain a refusal."""
        try:
            rc = -2 if user_flags & ~FLAG_USER else lib.pst_get_or_create1(
                self._t, vsvc, key, len(key), real, sp, timeout,
                user_flags | (FLAG_PERSIST if persistent else 0), now, self._real_out)
        except (OverflowError, TypeError):
            rc = -2
        if rc < -1:
            rc = lib.pst_get_or_create1(
                self._t, check_int("vsvc", vsvc, 0, U16_MAX), check_key(self.kind, key),
                len(key), check_int("real", real, 0, NO_REAL - 1), check_int("sp", sp, 0, 0xFF),
                check_int("timeout", timeout, 0, U32_MAX), check_flags(persistent, user_flags),
                check_now(now), self._real_out)
            _raise_for(rc, "get_or_create")
        return _STATUS[rc], self._real_out[0]

    def put(self, entry: Entry, *, now: int, journal: bool = True) -> Status:
        """Write an entry's whole state (a rebinding, or an entry learned from the peer)."""
        e = check_entry(self.kind, entry)
        c = self._one
        c.created, c.last_used, c.timeout = e.created, e.last_used, e.timeout
        c.vsvc, c.real, c.sp, c.flags, c.keylen = e.vsvc, e.real, e.sp, e.flags, len(e.key)
        ffi.memmove(c.key, e.key.ljust(64, b"\0"), 64)
        rc = lib.pst_put(self._t, c, check_now(now), int(bool(journal)))
        if rc == lib.PST_EFULL:
            return Status.FULL
        return Status(_raise_for(rc, "put"))

    def delete(self, key: bytes, *, vsvc: int = 0) -> bool:
        key = check_key(self.kind, key)
        rc = lib.pst_delete(self._t, check_int("vsvc", vsvc, 0, U16_MAX), key, len(key))
        return _raise_for(rc, "delete") == 1

    def expire(self, now: int, max_work: int = DEFAULT_EXPIRE_WORK) -> int:
        """Reclaim expired entries, scanning at most max_work entries from where the last call
        stopped: bounded work per call, the whole table over successive calls."""
        max_work = check_int("max_work", max_work, 0, U32_MAX)
        return lib.pst_expire(self._t, check_now(now), max_work)

    def clear(self) -> None:
        lib.pst_clear(self._t)

    # ---- batches (fast path) --------------------------------------------------------------

    def _keys(self, batch: KeyBatch):
        if not isinstance(batch, KeyBatch):
            raise ValueError(f"expected a KeyBatch, not {type(batch).__name__}")
        if batch.kind is not self.kind:
            raise ValueError(
                f"key batch holds {batch.kind.label} keys; this table holds {self.kind.label}"
            )
        k = self._key
        k.n = batch.n
        k.keys = ffi.from_buffer("uint8_t[]", batch.buf)
        k.lens = ffi.NULL if batch.lens is None else ffi.from_buffer("uint8_t[]", batch.lens)
        k.vsvc = ffi.NULL if batch.vsvc is None else ffi.from_buffer("uint16_t[]", batch.vsvc)
        k.vsvc0 = batch.vsvc0
        return k

    def lookup_many(self, batch: KeyBatch, *, now: int) -> array:
        """Bound real per key (``NO_REAL`` for a miss or an expired entry), one C call."""
        k = self._keys(batch)
        out = _ZERO_H * batch.n
        _raise_for(lib.pst_lookup_many(self._t, k, check_now(now),
                                       ffi.from_buffer("uint16_t[]", out)), "lookup_many")
        return out

    def get_or_create_many(
        self, batch: KeyBatch, *, reals, now: int, timeout, sp=0, persistent: bool = True,
        user_flags: int = 0,
    ) -> tuple[array, array]:
        """Insert-or-touch each key: (bound reals, ``Status`` codes), one C call.

        An existing live entry keeps its real and is touched (last_used, timeout); a new one
        takes ``reals[i]``.  In a full table, expired entries are reclaimed first, then the
        policy applies; a refused key gets ``Status.FULL`` and ``NO_REAL``.
        """
        k = self._keys(batch)
        v, n = self._vals, batch.n
        real_arr, v.real0 = real_column(reals, n)
        timeout_arr, v.timeout0 = timeout_column(timeout, n)
        sp_arr, v.sp0 = sp_column(sp, n)
        v.real = ffi.NULL if real_arr is None else ffi.from_buffer("uint16_t[]", real_arr)
        v.timeout = ffi.NULL if timeout_arr is None else ffi.from_buffer("uint32_t[]", timeout_arr)
        v.sp = ffi.NULL if sp_arr is None else ffi.from_buffer("uint8_t[]", sp_arr)
        v.flags = check_flags(persistent, user_flags)
        out = _ZERO_H * n
        status = _ZERO_B * n
        rc = lib.pst_get_or_create_many(self._t, k, v, check_now(now),
                                        ffi.from_buffer("uint16_t[]", out),
                                        ffi.from_buffer("int8_t[]", status))
        _raise_for(rc, "get_or_create_many")
        return out, status

    # ---- iteration, journal, statistics ---------------------------------------------------

    def entries(self, *, persistent_only: bool = False, clear_pending: bool = False
                ) -> Iterator[Entry]:
        """Every entry in storage order (the session dump; a bulk sync with clear_pending)."""
        buf = ffi.new("pst_entry[]", _ITER_CHUNK)
        cursor = ffi.new("uint64_t *")
        want = 1 if persistent_only else 0
        while True:
            n = lib.pst_iter(self._t, cursor, buf, _ITER_CHUNK, want, int(clear_pending))
            for i in range(n):
                yield _entry(buf[i])
            if n < _ITER_CHUNK:
                return

    @property
    def journal_head(self) -> int:
        return lib.pst_journal_head(self._t)

    def updates_since(self, seq: int, limit: int = 1024) -> list[Update]:
        """Journal records after ``seq`` (at most ``limit``), each with the entry's state now.
        Reading clears the entries' pending-mirror flag.  Raises ``JournalGap`` if records
        after ``seq`` are gone (the mirror must then resynchronise from ``entries()``)."""
        seq = check_int("seq", seq, 0, self.journal_head)
        limit = check_int("limit", limit, 0, 1 << 20)
        out = ffi.new("pst_update[]", max(limit, 1))
        n = lib.pst_updates_since(self._t, seq, out, limit)
        if n == lib.PST_EGAP:
            raise JournalGap(seq, self.stats(probes=False).journal_oldest)
        _raise_for(n, "updates_since")
        result = []
        for i in range(n):
            u = out[i]
            e = u.entry
            result.append(Update(
                seq=u.seq, op=Op(u.op), vsvc=e.vsvc, key=bytes(ffi.buffer(e.key, e.keylen)),
                entry=_entry(e) if u.live else None,
            ))
        return result

    def stats(self, *, probes: bool = True) -> TableStats:
        s = ffi.new("pst_stats *")
        lib.pst_get_stats(self._t, s, int(probes))
        return TableStats(
            entries=s.entries, capacity=s.capacity, persistent=s.persistent, lookups=s.lookups,
            hits=s.hits, inserts=s.inserts, touches=s.touches, updates=s.updates,
            deletes=s.deletes, expirations=s.expirations, evictions=s.evictions,
            alloc_failures=s.alloc_failures, journal_head=s.journal_head,
            journal_oldest=s.journal_oldest, journal_capacity=s.journal_capacity,
            memory_bytes=s.memory_bytes, index_slots=s.index_slots,
            probe_mean=s.probe_mean if probes else None,
            probe_max=s.probe_max if probes else None, hash=_HASH_LABEL[s.hash],
        )

    def hash(self, key: bytes, *, vsvc: int = 0) -> int:
        """The table's keyed hash of a key (it differs between tables: per-table seeds)."""
        key = check_key(self.kind, key)
        return lib.pst_hash(self._t, check_int("vsvc", vsvc, 0, U16_MAX), key, len(key))

    def check(self) -> None:
        """Verify the table's structural invariants (tests, fuzzing)."""
        rc = lib.pst_check(self._t)
        if rc:
            raise AssertionError(f"persistence table invariant {rc} violated")
