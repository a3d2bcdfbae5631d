"""The switch's persistence bindings: one C table per key kind, created when a service first
needs it, and the ``c:#`` count of live sessions using each binding (read from the sessions
themselves, so it has no state of its own to keep in step).

Every entry here is persistent (flagged for the mirror): Web OS keeps in its table exactly the
bindings stateful failover mirrors — client IP, passive cookie, SSL session ID, FTP data
expectation (ref §5.3).  Insert and rewrite cookies and URL hashing keep nothing.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from weboslb.table import PersistTable
from weboslb.table.contract import Entry, KeyKind, Policy, Status

DEFAULT_CAPACITY = 1 << 16  # entries per key kind; Web OS VMA tables hold 256K..512K sessions
EXPIRE_WORK = 4096  # entries one sweep looks at, per table: bounded work per tick


class Persistence:
    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, seed: bytes | None = None,
                 prefault: bool = True) -> None:
        self.capacity = capacity
        self.seed = seed
        self.prefault = prefault  # tables faulted in whole when made (see CTable)
        self.tables: dict[KeyKind, PersistTable] = {}
        self.alloc_failures = 0
        # told of each binding refused for want of room (the switch counts it on
        # /stats/slb/maint: a persistent entry is a session-table entry on Web OS)
        self.on_full: Callable[[], None] | None = None
        self._bindings: Callable[[], Iterable[tuple | None]] | None = None

    def table(self, kind: KeyKind) -> PersistTable:
        t = self.tables.get(kind)
        if t is None:
            t = self.tables[kind] = PersistTable(kind, self.capacity, policy=Policy.REFUSE,
                                                 seed=self.seed, prefault=self.prefault)
        return t

    def users_from(self, bindings: Callable[[], Iterable[tuple | None]]) -> None:
        """Where the live sessions' bindings ((kind, vsvc, key) or None each) are read."""
        self._bindings = bindings

    @property
    def users(self) -> Counter[tuple[KeyKind, int, bytes]]:
        """Live sessions using each binding: the session dump's ``c:#``."""
        if self._bindings is None:
            return Counter()
        return Counter(b for b in self._bindings() if b is not None)

    def lookup(self, kind: KeyKind, vsvc: int, key: bytes, now: float) -> Entry | None:
        t = self.tables.get(kind)
        return t.lookup(key, vsvc=vsvc, now=int(now)) if t is not None else None

    def touch(self, kind: KeyKind, vsvc: int, key: bytes, now: float, e: Entry) -> None:
        self.table(kind).get_or_create(key, vsvc=vsvc, real=e.real, now=int(now),
                                       timeout=e.timeout, sp=e.sp)

    def bind(self, kind: KeyKind, vsvc: int, key: bytes, *, real: int, now: float,
             timeout: int, sp: int) -> bool:
        """Bind key to real (a new binding, or a rebinding when its real went away); False
        when the table is full (an allocation failure, counted)."""
        t = self.table(kind)
        n = int(now)
        status = t.put(Entry(key=key, vsvc=vsvc, real=real, sp=sp, flags=1, created=n,
                             last_used=n, timeout=timeout), now=n)
        if status is Status.FULL:
            self.alloc_failures += 1
            if self.on_full is not None:
                self.on_full()
            return False
        return True

    def forget(self, kind: KeyKind, vsvc: int, key: bytes) -> None:
        t = self.tables.get(kind)
        if t is not None:
            t.delete(key, vsvc=vsvc)

    def expire(self, now: float, max_work: int = EXPIRE_WORK) -> int:
        return sum(t.expire(int(now), max_work) for t in self.tables.values())

    def clear(self) -> None:
        for t in self.tables.values():
            t.clear()

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())

    def entries(self) -> Iterator[tuple[KeyKind, Entry]]:
        for kind, t in self.tables.items():
            for e in t.entries():
                yield kind, e

    def close(self) -> None:
        for t in self.tables.values():
            t.close()
        self.tables.clear()
