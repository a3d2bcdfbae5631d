"""The receiving half of the mirror: apply a teacher's stream, in order, into a Persistence.

Messages are applied strictly in stream order (a duplicate is acknowledged again, a gap is
NAKed); what is applied leaves no journal record (``put(..., journal=False)``), so it is
never mirrored back.  A bulk copy replaces a key kind's content: the keys held before BULK_BEGIN that the
bulk does not resend are dropped at BULK_END, and during the bulk an incremental update of a
key wins over its bulk copy (the copy may have been read before the change).  Lifetimes
arrive as remaining seconds and are rebased on the local clock.  Each RECORDS message is
applied by one C call (``records.apply``): no entry crosses into Python.
"""
from __future__ import annotations

from weboslb.engine.persist import Persistence
from weboslb.ha import records, wire
from weboslb.ha.events import BulkDone, BulkStarted, MirrorEvent, Synced, TableFull
from weboslb.ha.records import Sweep
from weboslb.ha.wire import BulkBegin, BulkEnd, Records, Start, StreamMessage
from weboslb.table.contract import KeyKind

MAX_EARLY = 64  # stream messages held while an earlier one is missing (a reordering link)


def rebase(timeout: int, remaining: int, age: int, now: int) -> tuple[int, int, int]:
    """(created, last_used, timeout) on the local clock for an entry with ``remaining``
    seconds to live: it expires at ``now + remaining`` whatever the sender's clock said.
    (The per-entry Python form of what ``records.apply`` does in C.)"""
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
        self.sweeps: dict[KeyKind, Sweep] = {}
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
        old = self.sweeps.pop(kind, None)
        if old is not None:  # a bulk of this kind begins again before the last one ended
            old.end(None)
        self.sweeps[kind] = Sweep(self.persistence.tables.get(kind))
        self.events.append(BulkStarted(now, kind, False, "bulk"))

    def _end(self, kind: KeyKind, count: int, now: float) -> None:
        sweep = self.sweeps.pop(kind, None)
        table = self.persistence.tables.get(kind)
        swept = sweep.end(table) if sweep is not None else 0
        held = table.stats(probes=False).persistent if table is not None else 0
        self.events.append(BulkDone(now, kind, False, sweep.count if sweep else count, held,
                                    swept))

    def _records(self, msg: Records, now: int) -> None:
        kind = msg.kind
        table = self.persistence.table(kind)
        block = msg.records
        if not isinstance(block, wire.RecordBlock):  # a message built in this process
            typ, body = wire.encode(msg)
            block = wire.decode(typ, body).records
        got = records.apply(table, block, now=now, held=msg.held, bulk=msg.bulk,
                            sweep=self.sweeps.get(kind))
        self.stats.applied += got.applied
        if msg.bulk:
            self.stats.bulk_applied += got.applied
        if got.full:
            self.stats.dropped["table_full"] += got.full
            self.events.append(TableFull(float(now), kind, got.full))
