"""The reference persistence table: the same contract as the C table, in plain Python.

It is the executable specification: a dict from (vsvc, key) to an entry number, a list of
entries, a LIFO free list, the expiry and eviction hands and the journal ring, in the same
order of operations as csrc/pst.c, so that any sequence of operations gives the same results
on both (tests/table/test_equivalence.py).  It has no hash index, hence no probe statistics.
"""
from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterator

from weboslb.table.batch import KeyBatch, real_column, sp_column, timeout_column
from weboslb.table.contract import (
    DEFAULT_EXPIRE_WORK,
    FLAG_PENDING,
    FLAG_PERSIST,
    NO_REAL,
    U16_MAX,
    U32_MAX,
    Entry,
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

RECLAIM_BUDGET = 1024  # as csrc/pst.c
EVICT_WINDOW = 64
EVICT_MAX_SCAN = 4096


class _Slot:
    __slots__ = ("vsvc", "key", "real", "sp", "flags", "created", "last_used", "timeout")

    def alive(self, now: int) -> bool:
        return self.timeout == 0 or now < self.last_used + self.timeout

    def view(self) -> Entry:
        return Entry(self.key, self.vsvc, self.real, self.sp, self.flags, self.created,
                     self.last_used, self.timeout)


class RefTable:
    """Dict-based persistence table with the C table's contract (``seed`` is accepted and
    ignored: Python's own dict hashing is already seeded per process)."""

    def __init__(
        self,
        kind: KeyKind | str,
        capacity: int,
        *,
        policy: Policy | str = Policy.REFUSE,
        journal: int | None = None,
        seed: bytes | None = None,
    ) -> None:
        self.kind = KeyKind.parse(kind)
        self.capacity = check_capacity(capacity)
        self.policy = Policy.parse(policy)
        self.journal_capacity = check_journal(
            default_journal(capacity) if journal is None else journal
        )
        self.seed = seed
        self._counters = dict.fromkeys(
            ("lookups", "hits", "inserts", "touches", "updates", "deletes", "expirations",
             "evictions", "alloc_failures"), 0)
        self.clear()
        self._jhead = 0

    def close(self) -> None:
        self._slots, self._where = [], {}

    def clear(self) -> None:
        self._slots: list[_Slot | None] = []
        self._free: list[int] = []
        self._where: dict[tuple[int, bytes], int] = {}
        self._n_persist = 0
        self._expire_hand = self._evict_hand = 0
        self._journal: deque[tuple[int, Op, int, bytes]] = deque(maxlen=self.journal_capacity)
        self._jfloor = getattr(self, "_jhead", 0)

    # ---- internals, in csrc/pst.c's order -------------------------------------------------

    def _journal_append(self, op: Op, s: _Slot) -> None:
        self._jhead += 1
        self._journal.append((self._jhead, op, s.vsvc, s.key))

    def _journal_change(self, op: Op, s: _Slot) -> None:
        if self.journal_capacity and s.flags & FLAG_PERSIST and not s.flags & FLAG_PENDING:
            self._journal_append(op, s)
            s.flags |= FLAG_PENDING

    def _remove(self, idx: int, op: Op | None) -> None:
        s = self._slots[idx]
        del self._where[(s.vsvc, s.key)]
        if s.flags & FLAG_PERSIST:
            self._n_persist -= 1
            if self.journal_capacity:
                self._journal_append(op, s)
        self._slots[idx] = None
        self._free.append(idx)

    def _expire_scan(self, now: int, budget: int) -> int:
        hw, n = len(self._slots), 0
        for _ in range(min(budget, hw)):
            if self._expire_hand >= hw:
                self._expire_hand = 0
            idx = self._expire_hand
            self._expire_hand += 1
            s = self._slots[idx]
            if s is not None and not s.alive(now):
                self._remove(idx, Op.EXPIRE)
                self._counters["expirations"] += 1
                n += 1
        return n

    def _evict_pick(self) -> int | None:
        hw = len(self._slots)
        limit, scanned, best, best_used = min(hw, EVICT_MAX_SCAN), 0, None, 0
        while scanned < limit:
            end = min(scanned + EVICT_WINDOW, limit)
            while scanned < end:
                if self._evict_hand >= hw:
                    self._evict_hand = 0
                idx = self._evict_hand
                self._evict_hand += 1
                scanned += 1
                s = self._slots[idx]
                if s is not None and not s.flags & FLAG_PERSIST and (
                        best is None or s.last_used < best_used):
                    best, best_used = idx, s.last_used
            if best is not None:
                return best
        return None

    def _alloc(self, now: int) -> int | None:
        if self._free:
            return self._free.pop()
        if len(self._slots) < self.capacity:
            self._slots.append(None)
            return len(self._slots) - 1
        if self._expire_scan(now, RECLAIM_BUDGET):
            return self._free.pop()
        if self.policy is Policy.EVICT_LRU and len(self._where) > self._n_persist:
            victim = self._evict_pick()
            if victim is not None:
                self._remove(victim, None)
                self._counters["evictions"] += 1
                return self._free.pop()
        self._counters["alloc_failures"] += 1
        return None

    def _create(self, idx: int, vsvc: int, key: bytes) -> _Slot:
        s = _Slot()
        s.vsvc, s.key, s.flags = vsvc, key, 0
        self._slots[idx] = s
        self._where[(vsvc, key)] = idx
        self._counters["inserts"] += 1
        return s

    def _set_persist(self, s: _Slot, flags: int) -> None:
        if flags & FLAG_PERSIST and not s.flags & FLAG_PERSIST:
            self._n_persist += 1
        elif not flags & FLAG_PERSIST and s.flags & FLAG_PERSIST:
            self._n_persist -= 1
        s.flags = (s.flags & FLAG_PENDING) | flags

    def _get_or_create(self, vsvc, key, real, sp, timeout, flags, now) -> tuple[Status, int]:
        idx = self._where.get((vsvc, key))
        if idx is not None:
            s = self._slots[idx]
            if s.alive(now):
                if now > s.last_used:
                    s.last_used = now
                s.timeout = timeout
                self._counters["touches"] += 1
                self._journal_change(Op.TOUCH, s)
                return Status.FOUND, s.real
            self._remove(idx, Op.EXPIRE)
            self._counters["expirations"] += 1
        idx = self._alloc(now)
        if idx is None:
            return Status.FULL, NO_REAL
        s = self._create(idx, vsvc, key)
        s.real, s.sp, s.created, s.last_used, s.timeout = real, sp, now, now, timeout
        self._set_persist(s, flags)
        self._journal_change(Op.NEW, s)
        return Status.CREATED, real

    def _live(self, vsvc: int, key: bytes, now: int) -> _Slot | None:
        self._counters["lookups"] += 1
        idx = self._where.get((vsvc, key))
        if idx is None or not self._slots[idx].alive(now):
            return None
        self._counters["hits"] += 1
        return self._slots[idx]

    def _check_batch(self, batch: KeyBatch) -> KeyBatch:
        if not isinstance(batch, KeyBatch):
            raise ValueError(f"expected a KeyBatch, not {type(batch).__name__}")
        if batch.kind is not self.kind:
            raise ValueError(
                f"key batch holds {batch.kind.label} keys; this table holds {self.kind.label}"
            )
        return batch

    # ---- the contract ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._where)

    def lookup(self, key: bytes, *, vsvc: int = 0, now: int) -> Entry | None:
        key = check_key(self.kind, key)
        s = self._live(check_int("vsvc", vsvc, 0, U16_MAX), key, check_now(now))
        return None if s is None else s.view()

    def lookup_real(self, key: bytes, *, vsvc: int = 0, now: int) -> int:
        s = self._live(vsvc, check_key(self.kind, key), check_now(now))
        return -1 if s is None else s.real

    def lookup_many(self, batch: KeyBatch, *, now: int) -> array:
        batch, now = self._check_batch(batch), check_now(now)
        live = self._live
        return array("H", [NO_REAL if (s := live(v, k, now)) is None else s.real
                           for v, k in zip(batch.vsvcs(), batch.keys())])

    def get_or_create(
        self, key: bytes, *, vsvc: int = 0, real: int, now: int, timeout: int, sp: int = 0,
        persistent: bool = True, user_flags: int = 0,
    ) -> tuple[Status, int]:
        reals, status = self.get_or_create_many(
            KeyBatch.of(self.kind, [key], vsvc), reals=real, now=now, timeout=timeout, sp=sp,
            persistent=persistent, user_flags=user_flags,
        )
        return Status(status[0]), reals[0]

    def get_or_create_many(
        self, batch: KeyBatch, *, reals, now: int, timeout, sp=0, persistent: bool = True,
        user_flags: int = 0,
    ) -> tuple[array, array]:
        batch, now, n = self._check_batch(batch), check_now(now), len(batch)
        real_arr, real0 = real_column(reals, n)
        timeout_arr, timeout0 = timeout_column(timeout, n)
        sp_arr, sp0 = sp_column(sp, n)
        flags = check_flags(persistent, user_flags)
        out, status = array("H"), array("b")
        for i, (vsvc, key) in enumerate(zip(batch.vsvcs(), batch.keys())):
            st, real = self._get_or_create(
                vsvc, key, real0 if real_arr is None else real_arr[i],
                sp0 if sp_arr is None else sp_arr[i],
                timeout0 if timeout_arr is None else timeout_arr[i], flags, now)
            out.append(real)
            status.append(st)
        return out, status

    def put(self, entry: Entry, *, now: int, journal: bool = True) -> Status:
        e, now = check_entry(self.kind, entry), check_now(now)
        idx = self._where.get((e.vsvc, e.key))
        if idx is not None:
            s, status = self._slots[idx], Status.FOUND
            self._counters["updates"] += 1
        else:
            idx = self._alloc(now)
            if idx is None:
                return Status.FULL
            s, status = self._create(idx, e.vsvc, e.key), Status.CREATED
        s.created, s.last_used, s.timeout, s.real, s.sp = (
            e.created, e.last_used, e.timeout, e.real, e.sp)
        self._set_persist(s, e.flags & ~FLAG_PENDING)
        if journal:
            self._journal_change(Op.NEW if status is Status.CREATED else Op.UPDATE, s)
        else:
            s.flags &= ~FLAG_PENDING
        return status

    def delete(self, key: bytes, *, vsvc: int = 0) -> bool:
        key = check_key(self.kind, key)
        idx = self._where.get((check_int("vsvc", vsvc, 0, U16_MAX), key))
        if idx is None:
            return False
        self._remove(idx, Op.DELETE)
        self._counters["deletes"] += 1
        return True

    def expire(self, now: int, max_work: int = DEFAULT_EXPIRE_WORK) -> int:
        max_work = check_int("max_work", max_work, 0, U32_MAX)
        return self._expire_scan(check_now(now), max_work)

    def entries(self, *, persistent_only: bool = False, clear_pending: bool = False
                ) -> Iterator[Entry]:
        for s in list(self._slots):
            if s is None or (persistent_only and not s.flags & FLAG_PERSIST):
                continue
            view = s.view()
            if clear_pending:  # cleared when read, as the C table does
                s.flags &= ~FLAG_PENDING
            yield view

    @property
    def journal_head(self) -> int:
        return self._jhead

    def _journal_oldest(self) -> int:
        return max(self._jfloor + 1, self._jhead - self.journal_capacity + 1)

    def updates_since(self, seq: int, limit: int = 1024) -> list[Update]:
        seq = check_int("seq", seq, 0, self._jhead)
        limit = check_int("limit", limit, 0, 1 << 20)
        oldest = self._journal_oldest()
        if seq + 1 < oldest:
            raise JournalGap(seq, oldest)
        result = []
        first = self._jhead - len(self._journal) + 1  # seq of self._journal[0]
        for s_no in range(seq + 1, min(self._jhead, seq + limit) + 1):
            _, op, vsvc, key = self._journal[s_no - first]
            idx = self._where.get((vsvc, key))
            entry = None
            if idx is not None:
                slot = self._slots[idx]
                entry = slot.view()
                slot.flags &= ~FLAG_PENDING
            result.append(Update(seq=s_no, op=op, vsvc=vsvc, key=key, entry=entry))
        return result

    def stats(self, *, probes: bool = True) -> TableStats:
        return TableStats(
            entries=len(self._where), capacity=self.capacity, persistent=self._n_persist,
            journal_head=self._jhead, journal_oldest=self._journal_oldest(),
            journal_capacity=self.journal_capacity, **self._counters,
        )

    def check(self) -> None:
        """Structural invariants of the reference itself."""
        live = {i for i, s in enumerate(self._slots) if s is not None}
        assert live == set(self._where.values())
        assert live.isdisjoint(self._free) and len(live) + len(self._free) == len(self._slots)
        assert self._n_persist == sum(
            1 for i in live if self._slots[i].flags & FLAG_PERSIST)
