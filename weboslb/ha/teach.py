"""The sending half of the mirror: what the switch whose table is authoritative (normally the
active) streams to its peer.

An *epoch* is one stream from this switch to one learner: START, a bulk copy of every key
kind (BULK_BEGIN, RECORDS..., BULK_END), SYNCED, then incremental RECORDS read from the
tables' change journals, each message numbered.  Unacknowledged messages stay in a bounded
window and are resent (go-back-N) on a NAK or after the retransmission timeout; a peer that
reconnects within the same epoch resumes from its next expected message.  The bulk walks the
tables lazily, a bounded number of entries per tick, while incremental updates keep flowing
(the active keeps serving); the learner lets an incremental update win over a bulk copy.

Only persistent entries are read (the journal holds nothing else, and the bulk asks for
persistent entries only), and expiry travels as the remaining lifetime, so the two switches'
clocks need not agree.  Each RECORDS message is filled by one C call (``records.Exporter``)
at the moment it is queued: no entry crosses into Python.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from weboslb.engine.persist import Persistence
from weboslb.ha import wire
from weboslb.ha.events import BulkDone, BulkStarted, MirrorEvent, Synced
from weboslb.ha.records import Exporter
from weboslb.ha.wire import BulkBegin, BulkEnd, Records, Start, StreamMessage
from weboslb.table.contract import FLAG_PERSIST, FLAG_USER, Entry, JournalGap, KeyKind

_KEEP_FLAGS = FLAG_PERSIST | FLAG_USER  # never the table's pending-mirror bit


def live_record(op: int, e: Entry, now: int) -> tuple:
    """A wire record for a live entry: lifetimes relative to ``now`` (the per-entry Python
    form of what ``records.Exporter`` writes in C; benchmarks and tests use it)."""
    # clamped: an entry touched "after" now (the caller's clocks differ) has its full timeout
    remaining = min(e.timeout, max(0, e.last_used + e.timeout - now)) if e.timeout else 0
    return (op, len(e.key), e.vsvc, e.real, e.sp, e.flags & _KEEP_FLAGS, e.timeout,
            remaining, max(0, now - e.created), e.key)


@dataclass(slots=True)
class Outgoing:
    """One numbered stream message in the window."""

    msg: StreamMessage
    typ: wire.Msg
    body: bytes
    records: int
    read_at: float  # when the records were read from the table
    sent_at: float | None = None  # None: (re)send at the next chance
    held: int = 0
    resent: bool = False  # Karn: no round-trip sample from a message sent twice


@dataclass(slots=True)
class _Bulk:
    table: object | None  # the table being walked (None: the kind has no table)
    cursor: int | None  # the walk's next entry number (None: the walk is complete)
    count: int = 0


class Teacher:
    def __init__(self, persistence: Persistence, *, update: int, batch: int, window: int,
                 budget: int, rto: float, audit: bool, events: list[MirrorEvent],
                 stats) -> None:
        self.persistence = persistence
        self.update = update
        self.batch = batch
        self.window = window
        self.budget = budget
        self.rto_min = rto / 5
        self.rto = self.rto_init = rto  # adapts to the measured round trip (RFC 6298)
        self._srtt: float | None = None
        self._rttvar = 0.0
        self.events = events
        self.stats = stats
        self.epoch = 0  # 0: no stream
        self.next_dseq = 1
        self.unacked: deque[Outgoing] = deque()
        self.cursors: dict[KeyKind, int] = {}
        self.bulks: dict[KeyKind, _Bulk] = {}
        self.learner_synced = False
        self._export = Exporter()
        self._fast: Outgoing | None = None  # the message last fast-retransmitted
        self.last_flush: float | None = None  # periodic mode: when the journal was last read
        self.next_flush = 0.0
        self._flushing = False
        # the learner's content as acknowledged so far (tests: "no acked entry lost")
        self.acked: AckedModel | None = AckedModel() if audit else None

    # ---- epochs ---------------------------------------------------------------------------

    def start(self, now: float, epoch: int, *, bulk: bool, why: str,
              cursors: dict[KeyKind, int] | None = None) -> None:
        """Open a new stream: a bulk copy of everything, or (after a lesson, ``bulk=False``)
        the declaration that the learner already holds our table as of ``cursors``."""
        self.stop()
        self.epoch = epoch
        self._queue(Start(epoch, self.next_dseq, lesson_end=not bulk))
        if bulk:
            for kind in KeyKind:
                self._begin_bulk(now, kind, why)
        else:
            self.cursors = dict(cursors or {})
            self._queue(wire.Synced(epoch, self.next_dseq))
            if self.acked is not None:
                self.acked.entries = {(k, e.vsvc, e.key): e.real
                                      for k, e in self.persistence.entries() if e.persistent}
        self.last_flush = now
        self.next_flush = now + self.update

    def stop(self) -> None:
        self.epoch = 0
        self.next_dseq = 1
        self.unacked.clear()
        self.bulks.clear()
        self.cursors.clear()
        self.learner_synced = False
        self._flushing = False
        self._fast = None
        if self.acked is not None:
            self.acked = AckedModel()

    @property
    def bulking(self) -> bool:
        return bool(self.bulks)

    def can_resume(self, epoch: int, dseq: int) -> bool:
        lo = self.unacked[0].msg.dseq if self.unacked else self.next_dseq
        return self.epoch != 0 and epoch == self.epoch and lo <= dseq <= self.next_dseq

    def rewind(self, dseq: int, now: float) -> None:
        """The learner reconnected expecting ``dseq``: what is before it arrived."""
        self._acked_upto(dseq, now)
        for out in self.unacked:
            out.sent_at = None

    def resync(self, now: float, kind: KeyKind | None, why: str) -> None:
        """Bulk one kind again (a journal gap), or everything (the learner asked)."""
        self.stats.resyncs += 1
        for k in (KeyKind if kind is None else (kind,)):
            self._begin_bulk(now, k, why)

    def _begin_bulk(self, now: float, kind: KeyKind, why: str) -> None:
        table = self.persistence.tables.get(kind)
        # note the journal head first: every change after it is read from the journal,
        # every entry before it is in the walk (which clears the pending-mirror flags)
        self.cursors[kind] = table.journal_head if table is not None else 0
        self.bulks[kind] = _Bulk(table, 0 if table is not None else None)
        self._queue(BulkBegin(self.epoch, self.next_dseq, kind))
        self.events.append(BulkStarted(now, kind, True, why))

    # ---- production -----------------------------------------------------------------------

    def _room(self) -> int:
        return self.window - len(self.unacked)

    def produce(self, now: float) -> None:
        """Fill the window: journal changes (every call in immediate mode, every ``update``
        seconds in periodic mode), then bulk copies, at most ``budget`` per call."""
        if not self.epoch:
            return
        if self.update == 0:
            self._read_journals(now)
        else:
            if now >= self.next_flush and not self._flushing:
                self._flushing = True
                self.last_flush = now
                while self.next_flush <= now:
                    self.next_flush += self.update
            if self._flushing and self._read_journals(now):
                self._flushing = False
        self._walk_bulks(now)

    def _read_journals(self, now: float) -> bool:
        """Read every table's journal into RECORDS messages; False if the window filled."""
        t = int(now)
        for kind, table in list(self.persistence.tables.items()):
            while True:
                if self._room() <= 0:
                    return False
                cursor = self.cursors.get(kind, 0)
                try:
                    block, self.cursors[kind] = self._export.journal(table, cursor, t,
                                                                     self.batch)
                except JournalGap:
                    self.resync(now, kind, "journal-gap")
                    break
                except ValueError:  # a replaced table whose journal restarted below cursor
                    self.resync(now, kind, "journal-gap")
                    break
                if block.count:
                    self._records(now, kind, block, bulk=False)
                if block.count < min(self.batch, wire.max_records(kind)):
                    break
        return True

    def _walk_bulks(self, now: float) -> None:
        t = int(now)
        budget = self.budget
        for kind in list(self.bulks):
            b = self.bulks[kind]
            if b.cursor is not None and self.persistence.tables.get(kind) is not b.table:
                # the table was replaced or closed under the walk: start this kind again
                self._begin_bulk(now, kind, "table-replaced")
                b = self.bulks[kind]
            while b.cursor is not None and budget > 0 and self._room() > 0:
                block, b.cursor, done = self._export.bulk(b.table, b.cursor, t,
                                                          min(self.batch, budget))
                budget -= block.count
                if block.count:
                    b.count += block.count
                    self._records(now, kind, block, bulk=True)
                if done:
                    b.cursor = None
            if b.cursor is not None:
                return  # out of budget or window: the walk goes on at the next tick
            del self.bulks[kind]
            self._queue(BulkEnd(self.epoch, self.next_dseq, kind, b.count))
            self.events.append(BulkDone(now, kind, True, b.count))
            if not self.bulks:
                self._queue(wire.Synced(self.epoch, self.next_dseq))

    def _records(self, now: float, kind: KeyKind, block: wire.RecordBlock, *,
                 bulk: bool) -> None:
        self._queue(Records(self.epoch, self.next_dseq, kind, bulk, block), now, block.count)
        self.stats.sent += block.count
        if bulk:
            self.stats.bulk_sent += block.count

    def _queue(self, msg: StreamMessage, now: float = 0.0, records: int = 0) -> None:
        typ, body = wire.encode(msg)
        self.unacked.append(Outgoing(msg, typ, body, records, now))
        self.next_dseq += 1

    # ---- acknowledgements and retransmission -----------------------------------------------

    def on_ack(self, now: float, ack: wire.Ack) -> None:
        if ack.epoch == self.epoch:
            self._acked_upto(min(ack.next_dseq, self.next_dseq), now)
        if ack.nak and self.unacked:
            # the learner holds what came after a hole (or missed our START): resend just
            # the first missing message, once until the retransmission timeout
            first = self.unacked[0]
            if self._fast is not first and first.sent_at is not None:
                self._fast = first
                first.sent_at = None
                first.resent = True
                self.stats.retransmits += 1

    def _acked_upto(self, dseq: int, now: float) -> None:
        sample = None
        advanced = False
        while self.unacked and self.unacked[0].msg.dseq < dseq:
            advanced = True
            out = self.unacked.popleft()
            if not out.resent and out.sent_at is not None:
                sample = now - out.sent_at
            self.stats.acked += out.records
            if isinstance(out.msg, wire.Synced):
                if not self.learner_synced:
                    self.events.append(Synced(now, True))
                self.learner_synced = True
            elif isinstance(out.msg, BulkBegin):
                self.learner_synced = False
            if self.acked is not None:
                self.acked.apply(out.msg)
        if sample is not None:
            self._measure(sample)
        elif advanced:
            # the link delivers again: drop the timeout's back-off.  Karn's rule gives no
            # sample from a resent message, and on a lossy link nearly every window is
            # resent: a back-off kept until the next sample grew to a minute and stalled a
            # bulk copy on a link losing a third of its frames
            self.rto = self.rto_init if self._srtt is None else \
                min(60.0, max(self.rto_min, self._srtt + 4 * self._rttvar))

    def _measure(self, rtt: float) -> None:
        if self._srtt is None:
            self._srtt, self._rttvar = rtt, rtt / 2
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt
        self.rto = min(60.0, max(self.rto_min, self._srtt + 4 * self._rttvar))

    def due(self, now: float) -> list[Outgoing]:
        """Messages to send now: never sent, NAKed, or (go-back-N) all of them once the
        oldest has waited a retransmission timeout."""
        if not self.unacked:
            return []
        first = self.unacked[0]
        if first.sent_at is not None and now - first.sent_at >= self.rto:
            self._fast = None
            self.rto = min(60.0, self.rto * 2)  # back off until an ack measures again
            for out in self.unacked:
                if out.sent_at is not None:
                    out.sent_at = None
                    out.resent = True
                    self.stats.retransmits += 1
        out = [o for o in self.unacked if o.sent_at is None]
        for o in out:
            o.sent_at = now
            held = int(now) - int(o.read_at) if o.records else 0  # whole seconds, as the tables
            if held != o.held:  # lifetimes are relative to the read: say how old they are
                o.held = held
                o.body = wire.with_held(o.body, held)
        return out


class AckedModel:
    """(kind, vsvc, key) -> real: what the learner holds after applying a prefix of the
    stream, by the learner's own rules (a bulk copy loses to an incremental update of the
    same key; BULK_BEGIN forgets the kind until its copies come back)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[KeyKind, int, bytes], int] = {}
        self._recent: dict[KeyKind, set] = {}

    def copy(self) -> AckedModel:
        m = AckedModel()
        m.entries = dict(self.entries)
        m._recent = {k: set(v) for k, v in self._recent.items()}
        return m

    def apply(self, msg: StreamMessage) -> None:
        entries = self.entries
        if isinstance(msg, BulkBegin):
            for k in [k for k in entries if k[0] is msg.kind]:
                del entries[k]
            self._recent[msg.kind] = set()
        elif isinstance(msg, BulkEnd):
            self._recent.pop(msg.kind, None)
        elif isinstance(msg, Records):
            recent = self._recent.get(msg.kind)
            for op, keylen, vsvc, real, *_, key in msg.records:
                k = (msg.kind, vsvc, key[:keylen])
                if recent is not None:
                    if msg.bulk and k[1:] in recent:
                        continue
                    if not msg.bulk:
                        recent.add(k[1:])
                if op in wire.LIVE_OPS:
                    entries[k] = real
                else:
                    entries.pop(k, None)
