"""Two switches' HA machinery joined in memory, on a virtual clock: the failover harness.

``FaultyLink`` carries one direction's bytes and, from a seeded ``random.Random`` (so a
schedule replays exactly), drops, delays, duplicates, reorders, corrupts or cuts them.  It
works per frame (whole frames, like datagrams) or, with ``split``, per random slice of the
byte stream.  ``MirrorPair`` joins two ``MirrorPeer``s through two such links;
``VrrpSegment`` joins ``Vrrp`` machines on one multicast segment.  Nothing here sleeps:
``run(until, dt)`` advances time by steps and each step delivers what is due.
"""
from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from weboslb.ha import wire
from weboslb.ha.mirror import MirrorPeer
from weboslb.ha.vrrp import Vrrp

PUMP_ROUNDS = 64  # exchanges per pump before giving up on quiescence


@dataclass(frozen=True, slots=True)
class Faults:
    drop: float = 0.0  # probability a piece is lost
    duplicate: float = 0.0  # ... delivered twice
    reorder: float = 0.0  # ... held back behind later pieces
    corrupt: float = 0.0  # ... has one bit flipped
    delay: float = 0.0  # seconds of latency
    jitter: float = 0.0  # extra latency, uniform in [0, jitter)
    split: bool = False  # cut the stream into random slices instead of whole frames


def split_frames(data: bytes) -> list[bytes]:
    """Well-formed concatenated frames, one per piece (lengths read, nothing verified);
    anything not framed stays one piece."""
    out, pos = [], 0
    while len(data) - pos >= wire.HEADER_LEN and data[pos:pos + 2] == wire.MAGIC:
        length = wire.HEAD.unpack_from(data, pos)[3]
        end = pos + wire.HEADER_LEN + length + wire.MAC_LEN
        if length > wire.MAX_BODY or end > len(data):
            break
        out.append(data[pos:end])
        pos = end
    if pos < len(data):
        out.append(data[pos:])
    return out


class FaultyLink:
    """One direction of the mirror link."""

    def __init__(self, seed: int = 0, faults: Faults = Faults()) -> None:
        self.rng = random.Random(seed)
        self.faults = faults
        self.cut_until: float | None = None  # float("inf"): cut until heal()
        self.stats: Counter[str] = Counter()
        self._queue: list[tuple[float, int, bytes]] = []
        self._n = 0

    def cut(self, until: float = float("inf")) -> None:
        """Lose everything sent before ``until`` (a partition; bytes in flight are lost)."""
        self.cut_until = until
        self.stats["cut in flight"] += len(self._queue)
        self._queue.clear()

    def heal(self) -> None:
        self.cut_until = None

    def clear(self) -> None:
        self._queue.clear()

    def inject(self, data: bytes, now: float) -> None:
        """Bytes from a third party (hostile tests): delivered as they are, unfaulted."""
        self._push(now, data)

    def send(self, data: bytes, now: float) -> None:
        if not data:
            return
        f, rng = self.faults, self.rng
        pieces = split_frames(data)
        if f.split:
            pieces = self._slices(b"".join(pieces))
        for piece in pieces:
            self.stats["sent"] += 1
            if self.cut_until is not None and now < self.cut_until:
                self.stats["cut"] += 1
                continue
            if f.drop and rng.random() < f.drop:
                self.stats["dropped"] += 1
                continue
            if f.corrupt and rng.random() < f.corrupt:
                bit = rng.randrange(len(piece) * 8)
                b = bytearray(piece)
                b[bit // 8] ^= 1 << (bit % 8)
                piece = bytes(b)
                self.stats["corrupted"] += 1
            at = now + f.delay + (rng.random() * f.jitter if f.jitter else 0.0)
            if f.reorder and rng.random() < f.reorder:
                at += rng.random() * (f.delay + f.jitter + 0.05) + 0.001
                self.stats["reordered"] += 1
            self._push(at, piece)
            if f.duplicate and rng.random() < f.duplicate:
                self._push(at + rng.random() * (f.jitter + 0.01), piece)
                self.stats["duplicated"] += 1

    def deliver(self, now: float) -> list[bytes]:
        out = []
        while self._queue and self._queue[0][0] <= now:
            out.append(heapq.heappop(self._queue)[2])
        self.stats["delivered"] += len(out)
        return out

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def _push(self, at: float, piece: bytes) -> None:
        self._n += 1
        heapq.heappush(self._queue, (at, self._n, piece))

    def _slices(self, data: bytes) -> list[bytes]:
        out, pos = [], 0
        while pos < len(data):
            n = self.rng.randint(1, 2 * wire.HEADER_LEN + 64)
            out.append(data[pos:pos + n])
            pos += n
        return out


class MirrorPair:
    """Two mirror peers on a virtual clock, A <-> B through two faulty links."""

    def __init__(self, a: MirrorPeer, b: MirrorPeer, *, seed: int = 0,
                 faults: Faults = Faults(), faults_ba: Faults | None = None) -> None:
        self.a, self.b = a, b
        self.ab = FaultyLink(seed, faults)
        self.ba = FaultyLink(seed + 1, faults if faults_ba is None else faults_ba)
        self.now = 0.0

    def connect(self, now: float | None = None) -> None:
        """Both ends see the connection come up (a TCP connect, or a UDP pair starting)."""
        now = self.now if now is None else now
        self.now = now
        self.a.connection_made(now)
        self.b.connection_made(now)
        self.pump(now)

    def reconnect(self, now: float | None = None) -> None:
        """The connection drops and comes back: bytes in flight are lost."""
        now = self.now if now is None else now
        self.ab.clear()
        self.ba.clear()
        self.a.connection_lost(now)
        self.b.connection_lost(now)
        self.connect(now)

    def replace(self, which: str, peer: MirrorPeer, now: float | None = None) -> None:
        """A switch restarts: its peer object is new; the survivor sees a reset connection."""
        now = self.now if now is None else now
        setattr(self, which, peer)
        self.reconnect(now)

    def cut(self, until: float = float("inf")) -> None:
        self.ab.cut(until)
        self.ba.cut(until)

    def heal(self) -> None:
        self.ab.heal()
        self.ba.heal()

    def pump(self, now: float) -> int:
        """Move bytes until nothing is due at ``now``; returns pieces delivered."""
        moved = 0
        for _ in range(PUMP_ROUNDS):
            self.ab.send(self.a.data_to_send(), now)
            self.ba.send(self.b.data_to_send(), now)
            got = 0
            for piece in self.ab.deliver(now):
                self.b.receive(piece, now)
                got += 1
            for piece in self.ba.deliver(now):
                self.a.receive(piece, now)
                got += 1
            moved += got
            if not got:
                break
        return moved

    def step(self, now: float) -> None:
        self.now = now
        self.a.tick(now)
        self.b.tick(now)
        self.pump(now)

    def run(self, until: float, dt: float = 0.1,
            each: Callable[[float], None] | None = None) -> None:
        """Advance the clock to ``until`` in steps of ``dt`` (``each(now)`` runs first in
        every step: the traffic of a test)."""
        while self.now + dt <= until + 1e-9:
            now = round(self.now + dt, 9)
            if each is not None:
                each(now)
            self.step(now)


class VrrpSegment:
    """``Vrrp`` machines of several switches on one multicast segment; a switch that is
    ``down`` neither sends nor hears (a dead or cut-off switch)."""

    def __init__(self, *nodes: Vrrp) -> None:
        self.nodes = list(nodes)
        self.down: set[int] = set()

    def step(self, now: float) -> None:
        for n in self.nodes:
            n.tick(now)
        self.pump(now)

    def pump(self, now: float) -> None:
        for _ in range(PUMP_ROUNDS):
            sent = False
            for i, n in enumerate(self.nodes):
                for src, msg in n.adverts_to_send():
                    if i in self.down:
                        continue
                    sent = True
                    for j, other in enumerate(self.nodes):
                        if j != i and j not in self.down:
                            other.receive(msg, src, now)
            if not sent:
                return
