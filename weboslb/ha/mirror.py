"""Stateful failover's mirror link as a sans-IO state machine (the h11 shape): bytes and the
clock go in through ``receive(data, now)`` and ``tick(now)``; bytes to send come out of
``data_to_send()``; nothing here reads a clock or touches a socket.

One ``MirrorPeer`` per switch, around that switch's ``Persistence``.  Its ``role`` (the
VRRP outcome, told by the switch through ``promote``/``demote``) decides the direction: the
active teaches, the standby learns and applies — and never serves from its table until it is
promoted.  Three exceptions keep state from being lost (reference peers.md §8):

* a standby that joins, rejoins or restarts gets a bulk copy, chunked and interleaved with
  live updates, ending with a completion marker;
* a *restarted* active (fresh tables, ``ready`` False) first relearns the table from a
  standby holding a complete copy (a "lesson"), and only then serves and teaches — without
  a second bulk copy back;
* a journal that wrapped (or a learner that asks) triggers a resync of what was lost only.

The handshake (HELLO with fresh nonces, answered and confirmed) authenticates both peers
with the passphrase key and derives per-session, per-direction keys; every frame after it
carries a sequence number bound into its MAC, so forged, replayed, reflected or damaged
frames are counted and dropped, never applied.  See docs/mirror-protocol.md.

The same link carries config sync (``/oper/slb/sync``) in either direction: ``push_config``
sends a configuration text in CONFIG chunks until the peer acknowledges it; the receiver
reassembles it and raises ``ConfigPushed`` — applying it is the switch's decision.
"""
from __future__ import annotations

import enum
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from weboslb.engine.persist import Persistence
from weboslb.ha import auth, wire
from weboslb.ha.events import (
    AuthFailures,
    ConfigAcked,
    ConfigLost,
    ConfigPushed,
    MirrorEvent,
    PeerDown,
    PeerUp,
    Ready,
    Refused,
    SplitBrain,
)
from weboslb.ha.learn import Learner
from weboslb.ha.teach import Teacher
from weboslb.ha.wire import (
    CONFIG_OK,
    FRESH,
    READY,
    SYNCED,
    ZERO_NONCE,
    Ack,
    ConfigAck,
    ConfigChunk,
    ConfigStatus,
    Frame,
    Heartbeat,
    Hello,
    Msg,
    RefuseReason,
    Resync,
    Role,
    Start,
    WireError,
)
from weboslb.table.contract import KeyKind

MAX_EVENTS = 4096  # undrained events kept (the oldest are dropped and counted)
REPLAY_WINDOW = 64  # frames a reordering link may deliver late and still be accepted
UPDATE_MAX = 60
CONFIG_SENDS = 5  # transmissions of an unacknowledged push before it is given up
CONFIG_DONE = 8  # completed incoming pushes remembered, to acknowledge a resend again
CONFIG_PIECES = 1024  # disjoint pieces an incoming push may be in before it is dropped


class State(enum.Enum):
    IDLE = "idle"  # no connection yet
    HELLO = "hello"  # handshaking
    REFUSED = "refused"  # the handshake was refused (version, sync id, schema, switch id)
    BULK = "bulk"  # a bulk sync (or a lesson) is under way
    SYNCED = "synced"  # the standby holds a complete copy; incremental updates flow
    STALEMATE = "stalemate"  # session up, but both active (split brain) or both standby
    DOWN = "down"  # the peer was lost; handshaking again


class Plan(enum.Enum):
    TEACH = "teach"
    LEARN = "learn"
    TEACH_LESSON = "teach-lesson"
    LEARN_LESSON = "learn-lesson"
    IDLE_BOTH_ACTIVE = "idle-both-active"
    IDLE_BOTH_STANDBY = "idle-both-standby"


@dataclass(frozen=True, slots=True)
class Timers:
    """Seconds of the virtual clock."""

    heartbeat: float = 1.0  # a frame at least this often on an idle session
    dead: float = 4.0  # no authenticated frame for this long: the peer is gone
    hello_retry: float = 1.0  # handshake retransmission
    rto: float = 1.0  # stream retransmission timeout (go-back-N)
    learn_timeout: float = 5.0  # a fresh active serves anyway if no lesson makes progress
    auth_report: float = 10.0  # at most one AuthFailures event this often


@dataclass(slots=True)
class MirrorStats:
    sent: int = 0  # records streamed (first transmissions)
    bulk_sent: int = 0
    acked: int = 0  # records the peer acknowledged
    applied: int = 0  # records applied from the peer
    bulk_applied: int = 0
    retransmits: int = 0  # stream messages sent again
    resyncs: int = 0  # bulk restarts after a journal gap or a request
    sessions: int = 0
    frames_out: int = 0
    frames_in: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    heartbeats: int = 0
    junk_bytes: int = 0
    configs_sent: int = 0  # configuration pushes started (push_config)
    configs_acked: int = 0  # ... that the peer acknowledged
    configs_received: int = 0  # configuration pushes received whole
    events_lost: int = 0
    # bad_mac, replay, malformed, version, no_session, refused, not_learner, gap,
    # table_full
    dropped: Counter = field(default_factory=Counter)


@dataclass(slots=True)
class _Session:
    peer: Hello
    tx_key: bytes
    rx_key: bytes
    plan: Plan
    tx_seq: int = 0
    rx_seq: int = 0  # the highest sequence number received ...
    rx_seen: int = 0  # ... and a bitmap of the REPLAY_WINDOW below it (bit 0: rx_seq)
    peer_flags: int = 0
    planned: bool = False

    def fresh(self, seq: int) -> bool:
        """True the first time ``seq`` is seen inside the replay window (RFC 4303 §3.4.3)."""
        if seq > self.rx_seq:
            shift = seq - self.rx_seq
            self.rx_seen = ((self.rx_seen << shift) | 1) & ((1 << REPLAY_WINDOW) - 1) \
                if shift < REPLAY_WINDOW else 1
            self.rx_seq = seq
            return True
        back = self.rx_seq - seq
        if seq == 0 or back >= REPLAY_WINDOW or self.rx_seen >> back & 1:
            return False
        self.rx_seen |= 1 << back
        return True


@dataclass(slots=True)
class _Push:
    """Our configuration push, sent again every ``rto`` (doubling) until acknowledged."""

    push: int
    chunks: list[ConfigChunk]
    size: int
    due: float
    rto: float
    sends: int = 0


@dataclass(slots=True)
class _Assembly:
    """A configuration push being received: chunks land at their offsets, in any order."""

    push: int
    total: int
    buf: bytearray
    have: list[tuple[int, int]] = field(default_factory=list)  # covered spans, merged

    def add(self, offset: int, data: bytes) -> bool:
        """Place a chunk; False if the push is scattered in too many pieces."""
        end = offset + len(data)
        self.buf[offset:end] = data
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted([*self.have, (offset, end)]):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self.have = merged
        return len(merged) <= CONFIG_PIECES

    @property
    def complete(self) -> bool:
        return self.have == [(0, self.total)]


class MirrorPeer:
    """One switch's end of the mirror link.  See the module docstring."""

    def __init__(self, switch_id: int, persistence: Persistence, *, key: bytes,
                 update: int = 30, role: Role | str = Role.STANDBY, sync_id: int = 0,
                 timers: Timers = Timers(), random: Callable[[int], bytes] = os.urandom,
                 audit: bool = False, batch: int = 1024, window: int = 64,
                 budget: int = 65536) -> None:
        if isinstance(update, bool) or not isinstance(update, int) or \
                not 0 <= update <= UPDATE_MAX:
            raise ValueError(f"update {update!r} out of range 0..{UPDATE_MAX} "
                             f"(/cfg/slb/sync/update; 0 streams changes immediately)")
        for name, value, hi in (("switch_id", switch_id, 0xFFFF_FFFF),
                                ("sync_id", sync_id, 0xFFFF_FFFF), ("batch", batch, 1 << 16),
                                ("window", window, 1 << 16), ("budget", budget, 1 << 30)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
                raise ValueError(f"{name} {value!r} out of range 0..{hi}")
        self.switch_id = switch_id
        self.sync_id = sync_id
        self.persistence = persistence
        self.update = update
        self.timers = timers
        self._random = random
        self._key = auth.check_key(key)
        self._hello_key = auth.hello_key(self._key)
        self._role = Role.parse(role)
        self.stats = MirrorStats()
        self._events: list[MirrorEvent] = []
        self.incarnation = self._rand_u64()
        self.teacher = Teacher(persistence, update=update, batch=max(1, batch),
                               window=max(1, window), budget=max(1, budget), rto=timers.rto,
                               audit=audit, events=self._events, stats=self.stats)
        self.learner = Learner(persistence, events=self._events, stats=self.stats)
        self._deframer = wire.Deframer(self._key_for)
        self._out = bytearray()
        self._link = State.IDLE
        self._session: _Session | None = None
        self._nonce = self._random(wire.NONCE_LEN)
        self._echoed = ZERO_NONCE  # the last peer nonce our hello answered
        self._last_rx = self._last_tx = self._last_hello = 0.0
        self._started: float | None = None
        # an active that starts with fresh tables may have a standby to relearn from
        self._ready = False
        self._fresh = True
        self._learn_deadline: float | None = None
        self._lesson_from = 0  # the incarnation whose complete copy we relearnt
        self._lesson_cursors: dict[KeyKind, int] = {}
        self._refusal: tuple[str, str, bool] | None = None
        self._auth_failures = 0
        self._auth_reported: float | None = None
        self._push: _Push | None = None  # our configuration push awaiting its ack
        self._assembly: _Assembly | None = None  # the peer's push being received
        self._config_done: dict[int, ConfigStatus] = {}  # recent pushes received whole

    # ---- what the switch reads ------------------------------------------------------------

    @property
    def role(self) -> Role:
        return self._role

    @property
    def ready(self) -> bool:
        """The active may serve: its table is as complete as the pair can make it."""
        return self._role is Role.ACTIVE and self._ready

    @property
    def synced(self) -> bool:
        """Standby: holds a complete copy (safe to promote).  Active: the standby does."""
        if self._role is Role.STANDBY:
            return self.learner.synced
        return self.teacher.learner_synced

    @property
    def state(self) -> State:
        s = self._session
        if s is None:
            return self._link
        if s.plan in (Plan.IDLE_BOTH_ACTIVE, Plan.IDLE_BOTH_STANDBY):
            return State.STALEMATE
        if s.plan in (Plan.TEACH, Plan.TEACH_LESSON):
            ok = self.teacher.learner_synced and not self.teacher.bulking
        else:
            ok = self.learner.synced
        return State.SYNCED if ok else State.BULK

    @property
    def plan(self) -> Plan | None:
        return self._session.plan if self._session else None

    @property
    def peer_switch_id(self) -> int | None:
        return self._session.peer.switch_id if self._session else None

    @property
    def last_flush(self) -> float | None:
        """Periodic mode: when the journal was last read (changes after it are unsent)."""
        return self.teacher.last_flush

    def acked_entries(self) -> dict[tuple[KeyKind, int, bytes], int]:
        """(kind, vsvc, key) -> real for every entry the standby has acknowledged holding
        in its current state (needs ``audit=True``)."""
        if self.teacher.acked is None:
            raise ValueError("acked_entries() needs MirrorPeer(..., audit=True)")
        return dict(self.teacher.acked.entries)

    def drain_events(self) -> list[MirrorEvent]:
        out = self._events[:]
        self._events.clear()
        return out

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    # ---- what the switch tells it ---------------------------------------------------------

    def connection_made(self, now: float) -> None:
        self._drop_session(now)
        self._deframer.reset()
        self._out.clear()
        self._begin(now)
        self._link = State.HELLO
        self._nonce = self._random(wire.NONCE_LEN)
        self._send_hello(now, ZERO_NONCE)

    def connection_lost(self, now: float) -> None:
        if self._session is not None:
            self._events.append(PeerDown(now, "connection lost"))
        self._drop_session(now)
        self._deframer.reset()
        self._out.clear()
        self._link = State.DOWN

    def promote(self, now: float) -> None:
        """Become the active (VRRP master): serve, and teach the peer from now on."""
        if self._role is Role.ACTIVE:
            return
        self._role = Role.ACTIVE
        self._set_ready(now, learned=False, why="promoted")
        self.learner.reset()
        self.teacher.stop()
        self._rehandshake(now)

    def demote(self, now: float) -> None:
        """Become the standby (VRRP backup): stop serving and learn the active's table."""
        if self._role is Role.STANDBY:
            return
        self._role = Role.STANDBY
        self._ready = False
        self.teacher.stop()
        self.learner.reset()
        self._rehandshake(now)

    def push_config(self, text: str, now: float) -> tuple[bool, str]:
        """Send a configuration (a dump script) to the peer, in either role, over the
        established session: (True, what was queued) or (False, why not).  It is resent until
        acknowledged (``ConfigAcked``) or given up (``ConfigLost``); a new push replaces one
        still unacknowledged."""
        s = self._session
        if s is None:
            return False, f"no session with the peer (mirror {self.state.value})"
        if not s.peer_flags & CONFIG_OK:
            return False, "the peer does not take configuration pushes (older software)"
        data = text.encode()
        if not 0 < len(data) <= wire.MAX_CONFIG:
            return False, (f"a push carries 1..{wire.MAX_CONFIG} bytes "
                           f"({wire.MAX_CONFIG >> 20} MiB); this configuration is {len(data)}")
        replaced = self._push
        if replaced is not None:
            self._events.append(ConfigLost(now, replaced.size, "replaced by a newer push"))
        push = self._rand_u64()
        self._push = _Push(push, wire.config_chunks(push, data), len(data), now,
                           self.timers.rto)
        self.stats.configs_sent += 1
        self._send_push(now)
        n = len(self._push.chunks)
        return True, (f"{len(data)} bytes in {n} frame{'s' * (n != 1)}"
                      + ("; replaces an unacknowledged push" if replaced else ""))

    def request_resync(self, now: float) -> bool:
        """Standby: ask the active for a fresh bulk copy (its table was cleared, or is
        suspected to differ).  False when there is no active to ask."""
        s = self._session
        if s is None or s.plan is not Plan.LEARN or not self.learner.epoch:
            return False
        self._send(now, Resync(self.learner.epoch))
        return True

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the link (any split: framing is handled here)."""
        if self._link is State.IDLE:
            self._begin(now)
            self._link = State.HELLO
        self.stats.bytes_in += len(data)
        ack = [False, False]  # due, nak
        for item in self._deframer.feed(data):
            if isinstance(item, WireError):
                self._drop(item.reason, now)
            else:
                self.stats.frames_in += 1
                self._frame(item, now, ack)
        self.stats.junk_bytes = self._deframer.junk_bytes
        if (ack[0] or ack[1]) and self._session is not None:
            self._send(now, Ack(self.learner.epoch, self.learner.next_dseq, ack[1]))
        self._send_stream(now)
        self._trim_events()

    def tick(self, now: float) -> None:
        """Timers: handshake retries, liveness, heartbeats, the learn timeout, the periodic
        flush, bulk progress and retransmissions."""
        if self._link is State.IDLE:
            return
        if self._learn_deadline is not None and not self._ready and \
                now >= self._learn_deadline and self._role is Role.ACTIVE:
            self._set_ready(now, learned=False, why="no lesson within the learn timeout")
            self._replan(now)
        s = self._session
        if s is None:
            if now - self._last_hello >= self.timers.hello_retry:
                self._send_hello(now, ZERO_NONCE)
            return
        if now - self._last_rx > self.timers.dead:
            self._events.append(PeerDown(now, f"no frame for {now - self._last_rx:g} s"))
            self._drop_session(now)
            self._deframer.reset()
            self._link = State.DOWN
            self._nonce = self._random(wire.NONCE_LEN)
            self._send_hello(now, ZERO_NONCE)
            return
        if s.plan in (Plan.TEACH, Plan.TEACH_LESSON):
            self.teacher.produce(now)
        self._send_stream(now)
        p = self._push
        if p is not None and now >= p.due:
            if p.sends >= CONFIG_SENDS:
                self._events.append(ConfigLost(now, p.size, f"no acknowledgement after "
                                                            f"{p.sends} sends"))
                self._push = None
            else:
                self._send_push(now)
        if now - self._last_tx >= self.timers.heartbeat:
            self.stats.heartbeats += 1
            self._send(now, Heartbeat(self._role, self._flags()))
        self._trim_events()

    # ---- handshake ------------------------------------------------------------------------

    def _begin(self, now: float) -> None:
        if self._started is None:
            self._started = now
            if self._role is Role.ACTIVE and not self._ready:
                self._learn_deadline = now + self.timers.learn_timeout

    def _flags(self) -> int:
        flags = CONFIG_OK | (FRESH if self._fresh else 0)
        if self._role is Role.ACTIVE and self._ready:
            flags |= READY
        if self._role is Role.STANDBY and self.learner.synced:
            flags |= SYNCED
        return flags

    def _send_hello(self, now: float, echo: bytes, nonce: bytes | None = None) -> None:
        le = self.learner
        self._send(now, Hello(
            nonce or self._nonce, echo, self.switch_id, self.sync_id, wire.SCHEMA, self._role,
            self._flags(), self.update, self.incarnation, le.teacher, le.epoch, le.next_dseq))
        self._last_hello = now
        if echo != ZERO_NONCE:
            self._echoed = echo

    def _rehandshake(self, now: float) -> None:
        """A role change: renegotiate so both sides plan with the new roles."""
        if self._link is State.IDLE:
            return
        self._drop_session(now)
        self._link = State.HELLO
        self._nonce = self._random(wire.NONCE_LEN)
        self._send_hello(now, ZERO_NONCE)

    def _incompatible(self, h: Hello) -> tuple[RefuseReason, str] | None:
        if h.sync_id != self.sync_id:
            return RefuseReason.SYNC_ID, f"sync id {h.sync_id} differs from {self.sync_id}"
        if h.schema != wire.SCHEMA:
            return RefuseReason.SCHEMA, (f"table schema {h.schema.hex()} differs from "
                                         f"{wire.SCHEMA.hex()}")
        if h.switch_id == self.switch_id:
            return RefuseReason.SWITCH_ID, f"both switches have switch id {h.switch_id}"
        return None

    def _on_hello(self, h: Hello, now: float) -> None:
        bad = self._incompatible(h)
        if bad is not None:
            reason, text = bad
            self.stats.dropped["refused"] += 1
            self._send(now, wire.Refuse(h.nonce, reason, text))
            self._note_refusal(now, reason.name.lower(), text, by_peer=False)
            return
        if h.echo == ZERO_NONCE:
            # the peer starts a handshake (or an old one is replayed): answer, change nothing
            self._send_hello(now, h.nonce)
            return
        if h.echo != self._nonce:
            self.stats.dropped["replay"] += 1  # answers a nonce we no longer use
            return
        mine, confirmed = self._nonce, self._echoed == h.nonce
        self._establish(h, mine, now)
        if not confirmed:
            self._send_hello(now, h.nonce, nonce=mine)
        self._replan(now)

    def _on_refuse(self, r: wire.Refuse, now: float) -> None:
        if r.echo != self._nonce:
            self.stats.dropped["replay"] += 1
            return
        self._note_refusal(now, r.reason.name.lower(), r.text, by_peer=True)

    def _note_refusal(self, now: float, reason: str, text: str, *, by_peer: bool) -> None:
        if self._session is None:
            self._link = State.REFUSED
        if self._refusal != (reason, text, by_peer):
            self._refusal = (reason, text, by_peer)
            self._events.append(Refused(now, reason, text, by_peer))

    def _establish(self, h: Hello, mine: bytes, now: float) -> None:
        self._session = _Session(h, auth.session_key(self._key, mine, h.nonce),
                                 auth.session_key(self._key, h.nonce, mine),
                                 Plan.IDLE_BOTH_STANDBY, peer_flags=h.flags)
        self._nonce = self._random(wire.NONCE_LEN)  # never accept an echo of `mine` again
        self._last_rx = now
        self._refusal = None
        self.stats.sessions += 1

    def _drop_session(self, now: float) -> None:
        self._session = None
        if self._push is not None:
            self._events.append(ConfigLost(now, self._push.size,
                                           "the session with the peer ended before it "
                                           "acknowledged the push"))
            self._push = None
        self._assembly = None
        self._config_done.clear()

    # ---- planning: which way does state flow? ---------------------------------------------

    def _decide(self, peer: Hello, peer_flags: int) -> Plan:
        if self._role is peer.role:
            return Plan.IDLE_BOTH_ACTIVE if self._role is Role.ACTIVE else \
                Plan.IDLE_BOTH_STANDBY
        if self._role is Role.ACTIVE:
            if not self._ready and peer_flags & SYNCED:
                return Plan.LEARN_LESSON
            return Plan.TEACH
        if not peer_flags & READY and self.learner.synced:
            return Plan.TEACH_LESSON
        return Plan.LEARN

    def _replan(self, now: float) -> None:
        """Decide (again) which way state flows, and start teaching if it is our turn."""
        s = self._session
        if s is None:
            return
        plan = self._decide(s.peer, s.peer_flags)
        if self._role is Role.ACTIVE and not self._ready and plan is Plan.TEACH:
            self._set_ready(now, learned=False, why="the standby holds no complete table")
        if s.planned and plan is s.plan:
            return
        s.planned, s.plan = True, plan
        resumed = False
        if plan not in (Plan.TEACH, Plan.TEACH_LESSON):
            self.teacher.stop()
        if plan is Plan.TEACH:
            resumed = self._start_teaching(now, s.peer)
        elif plan is Plan.TEACH_LESSON:
            self.teacher.start(now, self._rand_u64(), bulk=True, why="lesson")
        elif plan is Plan.LEARN_LESSON:
            self._learn_deadline = now + self.timers.learn_timeout
            self._lesson_cursors = {k: t.journal_head
                                    for k, t in self.persistence.tables.items()}
        elif plan is Plan.IDLE_BOTH_ACTIVE:
            self._events.append(SplitBrain(now))
        self._events.append(PeerUp(now, s.peer.switch_id, plan.value, resumed))
        self._send_stream(now)

    def _start_teaching(self, now: float, peer: Hello) -> bool:
        t = self.teacher
        if peer.resume_incarnation == self.incarnation and \
                t.can_resume(peer.resume_epoch, peer.resume_dseq):
            t.rewind(peer.resume_dseq, now)
            return True
        if self._lesson_from and self._lesson_from == peer.incarnation:
            # we just relearnt our table from this very standby: it already holds it all
            t.start(now, self._rand_u64(), bulk=False, why="lesson",
                    cursors=self._lesson_cursors)
            self._lesson_from = 0
            return True
        t.start(now, self._rand_u64(), bulk=True, why="join")
        return False

    def _set_ready(self, now: float, *, learned: bool, why: str) -> None:
        if not self._ready:
            self._ready = True
            self._fresh = False
            self._learn_deadline = None
            if self._role is Role.ACTIVE:
                self._events.append(Ready(now, learned, why))

    # ---- frames ---------------------------------------------------------------------------

    def _key_for(self, typ: Msg) -> bytes | None:
        if typ in wire.HANDSHAKE_TYPES:
            return self._hello_key
        return self._session.rx_key if self._session is not None else None

    def _frame(self, f: Frame, now: float, ack: list) -> None:
        try:
            msg = wire.decode(f.typ, f.body)
        except WireError as e:
            self._drop(e.reason, now)
            return
        if f.typ is Msg.HELLO:
            self._on_hello(msg, now)
            return
        if f.typ is Msg.REFUSE:
            self._on_refuse(msg, now)
            return
        s = self._session
        if s is None:  # the session ended while this frame's batch was read
            self._drop("no_session", now)
            return
        if not s.fresh(f.seq):
            self._drop("replay", now)
            return
        self._last_rx = now
        if isinstance(msg, Heartbeat):
            flags_changed = msg.flags != s.peer_flags
            s.peer_flags = msg.flags
            if flags_changed:
                self._replan(now)
        elif isinstance(msg, Ack):
            if s.plan in (Plan.TEACH, Plan.TEACH_LESSON):
                self.teacher.on_ack(now, msg)
        elif isinstance(msg, Resync):
            if s.plan in (Plan.TEACH, Plan.TEACH_LESSON) and msg.epoch == self.teacher.epoch:
                self.teacher.resync(now, None, "resync-request")
        elif isinstance(msg, ConfigChunk):
            self._on_config(msg, now)
        elif isinstance(msg, ConfigAck):
            self._on_config_ack(msg, now)
        else:
            self._on_stream(msg, now, ack)

    def _on_stream(self, msg, now: float, ack: list) -> None:
        s = self._session
        from_active = s.peer.role is Role.ACTIVE and self._role is Role.STANDBY
        if not (from_active or s.plan is Plan.LEARN_LESSON):
            self._drop("not_learner", now)
            return
        if from_active and isinstance(msg, Start) and s.plan is not Plan.LEARN:
            # the active took over the teaching (after our lesson, or it became ready)
            self.teacher.stop()
            s.plan = Plan.LEARN
        outcome = self.learner.accept(msg, s.peer.incarnation, now)
        if outcome == "gap":
            self.stats.dropped["gap"] += 1
            ack[1] = True
        else:
            ack[0] = True
        if outcome != "applied":
            return
        if s.plan is Plan.LEARN_LESSON:
            self._learn_deadline = now + self.timers.learn_timeout
            if self.learner.synced:
                # acknowledge the whole lesson, then take over the teaching
                self._send(now, Ack(self.learner.epoch, self.learner.next_dseq))
                ack[0] = ack[1] = False
                self._lesson_from = s.peer.incarnation
                self._set_ready(now, learned=True, why="relearnt from the standby")
                self.learner.reset()
                self._replan(now)

    # ---- config sync ----------------------------------------------------------------------

    def _send_push(self, now: float) -> None:
        p = self._push
        assert p is not None
        for chunk in p.chunks:
            self._send(now, chunk)
        p.sends += 1
        p.due = now + p.rto
        p.rto = min(p.rto * 2, 60.0)

    def _on_config(self, c: ConfigChunk, now: float) -> None:
        done = self._config_done.get(c.push)
        if done is not None:  # our acknowledgement was lost: the pusher sent it again
            self._send(now, ConfigAck(c.push, done))
            return
        a = self._assembly
        if a is None or a.push != c.push:  # a newer push supersedes a partial one
            a = self._assembly = _Assembly(c.push, c.total, bytearray(c.total))
        elif a.total != c.total:
            self._drop("malformed", now)
            return
        if not a.add(c.offset, c.data):
            self._assembly = None
            self._drop("malformed", now)
            return
        if not a.complete:
            return
        self._assembly = None
        try:
            text = a.buf.decode("utf-8")
        except UnicodeDecodeError:
            status = ConfigStatus.UNREADABLE
            self._drop("malformed", now)
        else:
            status = ConfigStatus.RECEIVED
            self.stats.configs_received += 1
            self._events.append(ConfigPushed(now, text))
        self._config_done[c.push] = status
        while len(self._config_done) > CONFIG_DONE:
            del self._config_done[next(iter(self._config_done))]
        self._send(now, ConfigAck(c.push, status))

    def _on_config_ack(self, ack: ConfigAck, now: float) -> None:
        p = self._push
        if p is None or ack.push != p.push:
            return  # an acknowledgement sent again, or of a push we replaced
        self._push = None
        if ack.status is ConfigStatus.RECEIVED:
            self.stats.configs_acked += 1
            self._events.append(ConfigAcked(now, p.size))
        else:
            self._events.append(ConfigLost(now, p.size, "the peer could not read it "
                                                        "(not UTF-8 text)"))

    def _send(self, now: float, msg) -> None:
        typ, body = wire.encode(msg)
        if typ in wire.HANDSHAKE_TYPES:
            frame = wire.seal(typ, 0, body, self._hello_key)
        else:
            s = self._session
            if s is None:
                return
            s.tx_seq += 1
            frame = wire.seal(typ, s.tx_seq, body, s.tx_key)
        self._out += frame
        self._last_tx = now
        self.stats.frames_out += 1
        self.stats.bytes_out += len(frame)

    def _send_stream(self, now: float) -> None:
        s = self._session
        if s is None or s.plan not in (Plan.TEACH, Plan.TEACH_LESSON):
            return
        for out in self.teacher.due(now):
            s.tx_seq += 1
            frame = wire.seal(out.typ, s.tx_seq, out.body, s.tx_key)
            self._out += frame
            self._last_tx = now
            self.stats.frames_out += 1
            self.stats.bytes_out += len(frame)

    def _drop(self, reason: str, now: float) -> None:
        self.stats.dropped[reason] += 1
        if reason == "bad_mac":
            self._auth_failures += 1
            last = self._auth_reported
            if last is None or now - last >= self.timers.auth_report:
                self._events.append(AuthFailures(now, self._auth_failures))
                self._auth_failures = 0
                self._auth_reported = now
        elif reason == "version":
            self._note_refusal(now, "version", "the peer speaks another protocol version "
                               f"(this switch speaks {wire.VERSION})", by_peer=False)

    def _trim_events(self) -> None:
        extra = len(self._events) - MAX_EVENTS
        if extra > 0:  # nobody drains them: keep the newest
            del self._events[:extra]
            self.stats.events_lost += extra

    def _rand_u64(self) -> int:
        return int.from_bytes(self._random(8), "big") or 1
