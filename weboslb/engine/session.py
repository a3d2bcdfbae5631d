"""The session table: one entry per connection through a virtual service, aged on the
virtual clock by two periodic sweeps as Web OS does.

* The fast sweep (every ``1 << fastage`` seconds) removes connections closed at least a
  period ago (the last ACK of a FIN exchange still finds its session) and half-open ones
  that never completed (after ``HALF_OPEN_SWEEPS`` fast periods).
* The slow sweep (every ``120 << slowage`` seconds) removes connections idle past their
  timeout: the real's ``tmout`` once bound, the service's before.
So nothing outlives its timeout by more than one sweep period.

Every session gets a serial number when it opens, from one counter (an array the C fast path
also draws from): a sweep closes what it found stale in serial order, whichever side holds
the sessions.

With the C engine (``cengine.Engine``) some sessions live in C only.  The table counts them,
lists them (materialised, read-only copies) and, when the slow path asks for one by
connection (``get``), takes it over from the engine (``Remote``): from then on it is here.
"""
from __future__ import annotations

import enum
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from weboslb.config.model import Id
from weboslb.engine.events import Conn, Persist

HALF_OPEN_SWEEPS = 4
MAX_SESSIONS = 512 * 1024  # VMA session capacity of an AD4 / 184 (ref §4.2)


class TcpState(enum.Enum):
    HALF_OPEN = "half-open"
    ESTABLISHED = "established"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(slots=True)
class Session:
    conn: Conn
    sp: int
    ingress: int
    created: float
    last: float
    timeout: float  # seconds of idleness before the slow sweep removes it
    state: TcpState = TcpState.HALF_OPEN
    real: Id | None = None
    virt: Id | None = None
    rip: bytes = b""
    rport: int = 0
    pport: int = 0  # the client port as the real sees it (DAM- or proxy-translated)
    pip: bytes = b""  # proxy IP, when the switch uses one
    vsvc: int = 0
    pbind: str = "none"
    key: str = ""
    persist: Persist = Persist.NONE
    binding: tuple | None = None  # (kind, vsvc, key) of the persistence entry it uses
    unbound: bool = False  # U: delayed binding, waiting for the real to answer
    fast: bool = False  # the C fast path holds a flow for it
    server_initiated: bool = False  # FTP active data: the real opened it
    fin_client: bool = False
    fin_server: bool = False
    reset: bool = False
    # delayed binding and Layer 7: the request so far, and what responses still owe us
    request: bytearray = field(default_factory=bytearray)
    request_next: int | None = None  # next client sequence number expected in ``request``
    pending: dict[int, bytes] = field(default_factory=dict)  # out-of-order segments
    watch: int = 0  # responses still to inspect (ServerHello, passive Set-Cookie)
    response: bytearray = field(default_factory=bytearray)
    ftp_control: bool = False
    lines_client: bytearray = field(default_factory=bytearray)
    lines_server: bytearray = field(default_factory=bytearray)
    # sequence-number translation after a payload rewrite (IPVS style: one delta a side)
    delta_c: int = 0  # bytes added to the client's stream toward the real
    delta_s: int = 0  # bytes added to the real's stream toward the client
    delta_s_before: int = 0  # delta_s before the packet being handled rewrote anything
    bound_at: float = 0.0
    parsed: object = None  # the first request as delayed binding read it (l7.Request)
    packets: int = 0
    octets: int = 0
    serial: int = 0  # opening order, switch-wide
    flow_packets: int = 0  # packets of the C entry already counted in ``packets``
    held: bool = False  # the C fast path has its entry (it knows the connection is ours)

    @property
    def flags(self) -> str:
        """The session dump's flag letters (ref §2.6)."""
        return "E" + ("U" if self.unbound else "")


class Remote(Protocol):
    """The sessions the C engine runs, as the table sees them."""

    def count(self) -> int: ...

    def sessions(self) -> list[Session]: ...  # read-only copies

    def take(self, conn: Conn) -> Session | None: ...  # handed over: the slow path's now

    def peek(self, conn: Conn) -> Session | None: ...


class SessionTable:
    """Sessions by connection, bounded; sweeps driven by the virtual clock."""

    def __init__(self, *, fastage: int = 0, slowage: int = 0,
                 limit: int = MAX_SESSIONS) -> None:
        self.fast_period = float(1 << fastage)
        self.slow_period = float(120 << slowage)
        self.limit = limit
        self.by_conn: dict[Conn, Session] = {}
        self.serials = array("q", [0])  # the last serial number given
        self._next_fast: float | None = None
        self._next_slow: float | None = None
        self.highest = 0
        self.remote: Remote | None = None

    def __len__(self) -> int:
        return len(self.by_conn) + (self.remote.count() if self.remote is not None else 0)

    def __iter__(self) -> Iterator[Session]:
        """Every session, in opening order (the engine's as read-only copies)."""
        mine = list(self.by_conn.values())
        if self.remote is None or not self.remote.count():
            return iter(mine)
        return iter(sorted(mine + self.remote.sessions(), key=_serial))

    def local(self) -> list[Session]:
        """The sessions the slow path holds."""
        return list(self.by_conn.values())

    def get(self, conn: Conn) -> Session | None:
        s = self.by_conn.get(conn)
        if s is None and self.remote is not None:
            s = self.remote.take(conn)
            if s is not None:
                self.by_conn[conn] = s
        return s

    def peek(self, conn: Conn) -> Session | None:
        """The session of a connection, whichever side holds it, taking nothing over."""
        s = self.by_conn.get(conn)
        if s is None and self.remote is not None:
            s = self.remote.peek(conn)
        return s

    def next_serial(self) -> int:
        n = self.serials[0] + 1
        self.serials[0] = n
        return n

    def add(self, s: Session) -> bool:
        if len(self) >= self.limit:
            return False
        s.serial = self.next_serial()
        self.by_conn[s.conn] = s
        self.highest = max(self.highest, len(self))
        return True

    def remove(self, s: Session) -> None:
        self.by_conn.pop(s.conn, None)

    def next_due(self) -> float:
        """When the next sweep is due (-inf before the clock has started)."""
        if self._next_fast is None:
            return float("-inf")
        return min(self._next_fast, self._next_slow)

    def due(self, now: float) -> tuple[bool, bool]:
        """Which sweeps are due at ``now`` (fast, slow); schedules the next ones."""
        if self._next_fast is None:
            self._next_fast = now + self.fast_period
            self._next_slow = now + self.slow_period
            return False, False
        fast = now >= self._next_fast
        slow = now >= self._next_slow
        if fast:
            self._next_fast = now + self.fast_period
        if slow:
            self._next_slow = now + self.slow_period
        return fast, slow

    def stale(self, now: float, *, slow: bool) -> list[Session]:
        """Sessions a sweep removes at ``now``: closed and stalled half-open ones at every
        sweep, idle ones past their timeout at the slow sweep."""
        half_open_age = HALF_OPEN_SWEEPS * self.fast_period
        out = []
        for s in self.by_conn.values():
            if s.state is TcpState.CLOSED:
                # a fast period's grace, for the last ACK of a FIN exchange
                if now - s.last >= self.fast_period:
                    out.append(s)
            elif s.state is TcpState.HALF_OPEN and now - s.last >= half_open_age:
                out.append(s)
            elif slow and now - s.last >= s.timeout:
                out.append(s)
        out.sort(key=_serial)
        return out

    def clear(self) -> list[Session]:
        gone = list(self.by_conn.values())
        self.by_conn.clear()
        return gone


def _serial(s: Session) -> int:
    return s.serial
