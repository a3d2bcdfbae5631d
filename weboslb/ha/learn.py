"""The receiving half of the mirror: apply a teacher's stream, in order, into a Persistence.

Messages are applied strictly in stream order (a duplicate is acknowledged again, a gap is
NAKed); what is applied is written with ``put(..., journal=False)`` so it is never mirrored
back.  A bulk copy replaces a key kind's content: the keys held before BULK_BEGIN that the
bulk does not resend are dropped at BULK_END, and during the bulk an incremental update of a
key wins over its bulk copy (the copy may have been read before the change).  Lifetimes
arrive as remaining seconds and are rebased on the local clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from weboslb.engine.persist import Persistence
from weboslb.ha import wire
from weboslb.ha.events import BulkDone, BulkStarted, MirrorEvent, Synced, TableFull
from weboslb.ha.wire import BulkBegin, BulkEnd, Records, Start, StreamMessage
from weboslb.table.contract import Entry, KeyKind, Status

_LIVE = frozenset(int(o) for o in wire.LIVE_OPS)
MAX_EARLY = 64  # stream messages held while an earlier one is missing (a reordering link)


@dataclass(slots=True)
class _Sweep:
    stale: set  # (vsvc, key) held before the bulk and not seen since
    recent: set = field(default_factory=set)  # keys an incremental update has written
    count: int = 0


def rebase(timeout: int, remaining: int, age: int, now: int) -> tuple[int, int, int]:
    """(created, last_used, timeout) on the local clock for an entry with ``remaining``
    seconds to live: it expires at ``now + remaining`` whatever the sender's clock said."""
    if timeout == 0:
        return max(0, now - age), now, 0
    last_used = now - (timeout - remaining)
    if last_used < 0:  # our clock is younger than the entry's idle time: keep the expiry
        last_used, timeout = 0, now + remaining
    return max(0, now - age), last_used, timeout


class Learner:
    def __init__(self, persistence: Persistence, *, events: list[MirrorEvent], stats) -> None:
        self.persistence = persistence
        self.events = events
        self.stats = stats
        self.teacher = 0  # the teacher's incarnation
        self.epoch = 0
        self.next_dseq = 1
        self.synced = False  # holds a complete copy of the teacher's table
        self.ever_synced = False
        self.sweeps: dict[KeyKind, _Sweep] = {}
        self.early: dict[int, tuple[StreamMessage, float]] = {}

    def reset(self) -> None:
        self.teacher = self.epoch = 0
        self.next_dseq = 1
        self.synced = False
        self.sweeps.clear()
        self.early.clear()

    def accept(self, msg: StreamMessage, teacher: int, now: float) -> str:
        """Apply one stream message if it is the next one: 'applied', 'duplicate', 'gap'."""
        if isinstance(msg, Start) and (msg.epoch, teacher) != (self.epoch, self.teacher):
            if msg.dseq != 1:
                return "gap"  # a new epoch must be met from its first message
            self.reset()
            self.teacher, self.epoch, self.next_dseq = teacher, msg.epoch, 2
            return "applied"
        if (msg.epoch, teacher) != (self.epoch, self.teacher):
            return "gap"  # a message of an epoch whose START we missed
        if msg.dseq < self.next_dseq:
            return "duplicate"
        if msg.dseq > self.next_dseq:
            if len(self.early) < MAX_EARLY:
                self.early.setdefault(msg.dseq, (msg, now))  # applied once the hole fills
            return "gap"
        self._apply(msg, now)
        while self.next_dseq in self.early:
            self._apply(*self.early.pop(self.next_dseq))
        for d in [d for d in self.early if d < self.next_dseq]:
            del self.early[d]
        return "applied"

    def _apply(self, msg: StreamMessage, now: float) -> None:
        """Apply the next message (``now``: when it arrived, for the lifetimes)."""
        self.next_dseq += 1
        if isinstance(msg, Records):
            self._records(msg, int(now))
        elif isinstance(msg, BulkBegin):
            self._begin(msg.kind, now)
        elif isinstance(msg, BulkEnd):
            self._end(msg.kind, msg.count, now)
        elif isinstance(msg, wire.Synced):
            if not self.synced:
                self.events.append(Synced(now, False))
            self.synced = self.ever_synced = True

    def _begin(self, kind: KeyKind, now: float) -> None:
        self.synced = False
        table = self.persistence.tables.get(kind)
        stale = {(e.vsvc, e.key) for e in table.entries(persistent_only=True)} \
            if table is not None else set()
        self.sweeps[kind] = _Sweep(stale)
        self.events.append(BulkStarted(now, kind, False, "bulk"))

    def _end(self, kind: KeyKind, count: int, now: float) -> None:
        sweep = self.sweeps.pop(kind, None)
        table = self.persistence.tables.get(kind)
        swept = 0
        if sweep is not None and table is not None:
            for vsvc, key in sweep.stale:
                swept += table.delete(key, vsvc=vsvc)
        held = table.stats(probes=False).persistent if table is not None else 0
        self.events.append(BulkDone(now, kind, False, sweep.count if sweep else count, held,
                                    swept))

    def _records(self, msg: Records, now: int) -> None:
        kind = msg.kind
        table = self.persistence.table(kind)
        sweep = self.sweeps.get(kind)
        full = applied = 0
        held = msg.held
        for op, keylen, vsvc, real, sp, flags, timeout, remaining, age, key in msg.records:
            if held:
                remaining, age = max(0, remaining - held), age + held
            if keylen != len(key):
                key = key[:keylen]
            if sweep is not None:
                k = (vsvc, key)
                if msg.bulk:
                    if k in sweep.recent:
                        continue  # an incremental update already wrote a newer state
                    sweep.count += 1
                else:
                    sweep.recent.add(k)
                sweep.stale.discard(k)
            if op in _LIVE and (timeout == 0 or remaining > 0):
                created, last_used, t = rebase(timeout, remaining, age, now)
                st = table.put(Entry(key, vsvc, real, sp, flags, created, last_used, t),
                               now=now, journal=False)
                if st is Status.FULL:
                    full += 1
                    continue
            else:
                table.delete(key, vsvc=vsvc)
            applied += 1
        self.stats.applied += applied
        if msg.bulk:
            self.stats.bulk_applied += applied
        if full:
            self.stats.dropped["table_full"] += full
            self.events.append(TableFull(float(now), kind, full))
