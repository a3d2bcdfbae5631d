"""The connections of a replay, one row each, as the engine's events tell them.

A row opens with ``Opened`` (or ``Refused`` for a connection the switch could not serve),
learns its real and persistence from ``Bound``, and ends with ``Closed``; what is still open
when the capture ends takes the session's TCP state.  The same 5-tuple may come back later
(port reuse): it starts a new row.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from weboslb.engine.events import Bound, Closed, Conn, Event, Learned, Opened, Refused
from weboslb.engine.services import text

_PROTO = {6: "tcp", 17: "udp"}
_END = {"fin": "closed", "rst": "reset"}  # Closed.why -> state; aged/cleared say themselves


@dataclass(slots=True)
class Row:
    client_ip: str
    client_port: int
    vip: str
    vport: int
    proto: str
    first_ts: float
    real: str | None = None
    rip: str | None = None
    pbind: str = "none"
    persist_key: str = ""
    persist: str = "none"
    state: str = "open"

    def as_json(self) -> dict:
        return asdict(self)


class Ledger:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._open: dict[Conn, Row] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def feed(self, events: Iterable[Event]) -> None:
        for ev in events:
            if isinstance(ev, Opened):
                self._start(ev.conn, ev.ts)
            elif isinstance(ev, Bound):
                row = self._open.get(ev.conn) or self._start(ev.conn, ev.ts)
                row.real, row.rip = str(ev.real), text(ev.rip)
                row.pbind, row.persist_key, row.persist = ev.pbind, ev.key, ev.persist.value
            elif isinstance(ev, Learned):
                # a binding learnt from this connection's answer (ServerHello session ID,
                # passive Set-Cookie) is the new binding it made
                row = self._open.get(ev.conn)
                if row is not None and row.persist == "none":
                    row.persist_key, row.persist = ev.key, "new"
            elif isinstance(ev, Closed):
                row = self._open.pop(ev.conn, None)
                if row is not None:
                    row.state = _END.get(ev.why, ev.why)
            elif isinstance(ev, Refused):
                row = self._open.pop(ev.conn, None) or self._start(ev.conn, ev.ts, keep=False)
                row.state = "refused"

    def open_rows(self) -> dict[Conn, Row]:
        """The connections not closed yet (an HA replay reads them at a switchover)."""
        return dict(self._open)

    def finish(self, state_of: Callable[[Conn], str | None]) -> None:
        """Rows still open at the end take the session's state (``state_of``: None when the
        switch holds no session, e.g. after a configuration change dropped it)."""
        for conn, row in self._open.items():
            row.state = state_of(conn) or "open"
        self._open.clear()

    def _start(self, conn: Conn, ts: float, *, keep: bool = True) -> Row:
        row = Row(text(conn.cip), conn.cport, text(conn.vip), conn.vport,
                  _PROTO.get(conn.proto, str(conn.proto)), ts)
        self.rows.append(row)
        if keep:
            self._open[conn] = row
        return row
