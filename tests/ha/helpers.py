"""Builders for the HA tests: persistence tables with known entries, deterministic peers, and
the views a test compares (what each switch holds)."""
from __future__ import annotations

import random

from weboslb.engine.persist import Persistence
from weboslb.ha import MirrorPair, MirrorPeer, Timers, mirror_key
from weboslb.ha.pair import Faults
from weboslb.table.contract import KeyKind

KEY = mirror_key("weboslb test passphrase")
OTHER_KEY = mirror_key("another passphrase")
PTMOUT = 600  # seconds: a 10-minute persistence timeout


def persistence(seed: int = 0, capacity: int = 1 << 12) -> Persistence:
    return Persistence(capacity, seed=bytes([seed]) * 16)


def ip(i: int) -> bytes:
    return (0x0A000000 + i).to_bytes(4, "big")


def bind(p: Persistence, i: int, now: float, *, real: int | None = None,
         kind: KeyKind = KeyKind.IPV4, vsvc: int = 1, timeout: int = PTMOUT) -> bytes:
    key = ip(i) if kind is KeyKind.IPV4 else bytes([i % 256]) * 4 + i.to_bytes(4, "big")
    assert p.bind(kind, vsvc, key, real=i % 7 if real is None else real, now=now,
                  timeout=timeout, sp=9)
    return key


def peer(switch_id: int, p: Persistence, role: str, *, update: int = 0, seed: int | None = None,
         key: bytes = KEY, **kw) -> MirrorPeer:
    rng = random.Random(switch_id * 1000 + (seed or 0))
    return MirrorPeer(switch_id, p, key=key, role=role, update=update, random=rng.randbytes,
                      **kw)


def pair(*, update: int = 0, faults: Faults | None = None, seed: int = 0, audit: bool = True,
         pa: Persistence | None = None, pb: Persistence | None = None, start: float = 100.0,
         timers: Timers | None = None, **kw) -> MirrorPair:
    """A (active, switch 1) and B (standby, switch 2), connected at ``start``."""
    faults = faults or Faults()
    timers = timers or Timers()
    pa = persistence(1) if pa is None else pa
    pb = persistence(2) if pb is None else pb
    a = peer(1, pa, "active", update=update, seed=seed, audit=audit, timers=timers, **kw)
    b = peer(2, pb, "standby", update=update, seed=seed, timers=timers, **kw)
    mp = MirrorPair(a, b, seed=seed, faults=faults)
    mp.now = start
    mp.connect()
    return mp


def held(p: Persistence) -> dict[tuple[KeyKind, int, bytes], int]:
    """(kind, vsvc, key) -> real of every persistent entry."""
    return {(k, e.vsvc, e.key): e.real for k, e in p.entries() if e.persistent}


def held_full(p: Persistence) -> dict:
    """... with SP, flags (minus the table's pending bit) and expiry time."""
    return {(k, e.vsvc, e.key): (e.real, e.sp, e.flags & ~2, e.expires)
            for k, e in p.entries() if e.persistent}
