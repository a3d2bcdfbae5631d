"""The server farm of one switch: the runtime state of its reals and groups, and the choice of
a real for each new connection (``Farm.select``).

Pure and sans-IO: the engine feeds it facts (sessions opened and closed, octets, response
times, health and operator changes, each with ``now`` where time matters) and asks it
questions; it never reads a clock.  The metrics themselves are in ``metrics.py``; the counters
in ``stats.py``.

How a group serves a connection (ref §2.5; Alteon AG "Backup/Overflow Servers"):

* A real is *available* when it is configured ``ena``, operationally enabled
  (``/oper/slb/ena``), its health is up, and it has fewer current sessions than ``maxcon``
  (0 = no limit).
* Each real of the group that is not available is replaced, in its place in the group, by its
  ``backup`` real when that one is available: ``via="overflow"`` when the real is in service
  but at ``maxcon`` ("Overflow server activations"), ``via="backup"`` when it is down or
  disabled ("Backup server activations").  The stand-in keeps the real's hash identity and
  weight, so under the hash metrics exactly the real's own clients move to it.
* The group's metric chooses among the reals (and stand-ins) so gathered.  When there is none,
  the group's ``backup`` serves: a real (when available) or a whole group (its metric, its
  reals and their backups), ``via="backup"``.  When nothing can serve, ``select`` returns None
  and counts "No available real server".

Choices where the sources are silent [I]:

* Activations are counted per connection sent to a backup or overflow server, not per
  transition, so the three counters and the reals' totals add up to the selections made.
* Backups do not chain: a real's backup stands in only if it is itself available (its own
  backup is not consulted); a group backup is followed through groups, never twice.
* Overflow is always on (the model has no per-real ``overflow`` flag; the device default is on).
* ``set_group_oper(g, False)`` takes the group's own reals out of service: its backup, if any,
  serves instead (a sorry server keeps working during maintenance).
* Health starts up (there are no servers to probe in an emulator); a health or operator state
  survives ``reconfigure``, as do the counters and current sessions of reals that still exist.
  "Health check failures" counts the transitions to down.
* The bandwidth metric reads each real's octets decayed with a 4-second time constant (the
  "last interval" of the AG); response times are smoothed with a gain of 1/8 (as TCP's SRTT).
* An unknown metric name falls back to leastconns, the device default; unknown real or group
  ids are ignored (the setters return False), never an exception.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Literal

from weboslb.config.model import Backup, Id, Slb
from weboslb.engine.metrics import DEFAULT_METRIC, METRICS, Candidate, Metric, ident
from weboslb.engine.stats import GroupStats, MaintStats, RealStats, snapshot

Via = Literal["group", "backup", "overflow"]
BANDWIDTH_TAU = 4.0  # seconds: the octet window of the bandwidth metric
RESPONSE_GAIN = 0.125  # weight of a new response-time sample


class Health(enum.Enum):
    UP = "UP"
    DOWN = "DOWN"


@dataclass(frozen=True, slots=True)
class Pick:
    """The real chosen for a connection, how it was reached, and the group that chose it (the
    backup group when one served)."""

    real: Id
    via: Via
    group: Id | None = None


@dataclass(slots=True)
class RealState:
    """One real: what the configuration says, and what happened to it since."""

    rip: str | None = None
    ena: bool = False
    weight: int = 1
    maxcon: int = 0
    backup: Id | None = None
    oper: bool = True  # /oper/slb/ena|dis
    health: Health = Health.UP
    stats: RealStats = field(default_factory=RealStats)
    response: float | None = None  # smoothed response time, seconds
    load: float = 0.0  # decayed octets, as of load_at
    load_at: float = 0.0

    @property
    def in_service(self) -> bool:
        return self.ena and self.oper and self.health is Health.UP

    @property
    def full(self) -> bool:
        return 0 < self.maxcon <= self.stats.current

    @property
    def available(self) -> bool:
        return self.in_service and not self.full

    def load_now(self, now: float) -> float:
        return self.load * math.exp(-(now - self.load_at) / BANDWIDTH_TAU) \
            if now > self.load_at else self.load


@dataclass(slots=True)
class GroupState:
    reals: tuple[Id, ...] = ()
    metric: Metric = METRICS[DEFAULT_METRIC]
    backup: Backup | None = None
    oper: bool = True
    turn: int = 0  # selections made by this group's metric: the round-robin cursor


class Farm:
    """The reals and groups of one switch, built from ``config.slb``."""

    def __init__(self, slb: Slb, maint: MaintStats | None = None) -> None:
        self.maint = maint if maint is not None else MaintStats()
        self._reals: dict[Id, RealState] = {}
        self._groups: dict[Id, GroupState] = {}
        self.reconfigure(slb)

    def reconfigure(self, slb: Slb) -> None:
        """Take a newly applied configuration; reals and groups that still exist keep their
        counters, sessions, measurements, health and operator state."""
        reals: dict[Id, RealState] = {}
        for rid, cfg in slb.real.items():
            st = self._reals.get(rid) or RealState()
            st.rip, st.ena, st.weight, st.maxcon = cfg.rip, cfg.ena, cfg.weight, cfg.maxcon
            st.backup = cfg.backup if cfg.backup != rid else None
            reals[rid] = st
        groups: dict[Id, GroupState] = {}
        for gid, cfg in slb.group.items():
            st = self._groups.get(gid) or GroupState()
            st.reals = tuple(cfg.reals)
            st.metric = METRICS.get(cfg.metric, METRICS[DEFAULT_METRIC])
            st.backup = cfg.backup
            groups[gid] = st
        self._reals, self._groups = reals, groups

    # ---- choosing a real ---------------------------------------------------------------------

    def available(self, real: Id) -> bool:
        st = self._reals.get(real)
        return st is not None and st.available

    def select(self, group: Id, key: bytes, now: float) -> Pick | None:
        """The real for a new connection to a service of this group, or None (counted)."""
        pick = self._select(group, bytes(key), now, set())
        if pick is None:
            self.maint.no_available_real += 1
        elif pick.via == "backup":
            self.maint.backup_activations += 1
        elif pick.via == "overflow":
            self.maint.overflow_activations += 1
        return pick

    def _select(self, gid: Id, key: bytes, now: float, seen: set[Id]) -> Pick | None:
        g = self._groups.get(gid)
        if g is None or gid in seen:
            return None
        seen.add(gid)
        slots = self._slots(g, now) if g.oper else []
        if slots:
            cands = [c for c, _ in slots]
            i = g.metric(cands, key, g.turn)
            g.turn += 1
            return Pick(cands[i].real, slots[i][1], gid)
        b = g.backup
        if b is None:
            return None
        if b.kind == "r":
            return Pick(b.id, "backup", gid) if self.available(b.id) else None
        sub = self._select(b.id, key, now, seen)
        return None if sub is None else Pick(sub.real, "backup", sub.group)

    def _slots(self, g: GroupState, now: float) -> list[tuple[Candidate, Via]]:
        """The group's reals that can serve now, each replaced by its backup where needed."""
        out: list[tuple[Candidate, Via]] = []
        for rid in g.reals:
            st = self._reals.get(rid)
            if st is None:
                continue
            serving, via = rid, "group"
            if not st.available:
                if st.backup is None or not self.available(st.backup):
                    continue
                serving, via = st.backup, ("overflow" if st.in_service else "backup")
            sv = self._reals[serving]
            out.append((Candidate(serving, ident(rid, st.rip), st.weight, sv.stats.current,
                                  sv.response, sv.load_now(now)), via))
        return out

    # ---- facts from the engine ---------------------------------------------------------------

    def opened(self, real: Id, now: float) -> None:
        if (st := self._reals.get(real)) is not None:
            st.stats.opened()

    def closed(self, real: Id, now: float) -> None:
        if (st := self._reals.get(real)) is not None:
            st.stats.closed()

    def octets(self, real: Id, n: int, now: float) -> None:
        st = self._reals.get(real)
        if st is None or n <= 0:
            return
        st.stats.add_octets(n)
        st.load = st.load_now(now) + n
        st.load_at = max(st.load_at, now)

    def response_time(self, real: Id, seconds: float) -> None:
        st = self._reals.get(real)
        if st is None or not (0 <= seconds < math.inf):  # also refuses NaN
            return
        st.response = seconds if st.response is None else \
            st.response + RESPONSE_GAIN * (seconds - st.response)

    def set_health(self, real: Id, up: bool) -> bool:
        st = self._reals.get(real)
        if st is None:
            return False
        if st.health is Health.UP and not up:
            st.stats.failures += 1
        st.health = Health.UP if up else Health.DOWN
        return True

    def set_oper(self, real: Id, enabled: bool) -> bool:
        st = self._reals.get(real)
        if st is not None:
            st.oper = enabled
        return st is not None

    def set_group_oper(self, group: Id, enabled: bool) -> bool:
        g = self._groups.get(group)
        if g is not None:
            g.oper = enabled
        return g is not None

    # ---- what the console shows --------------------------------------------------------------

    def health(self, real: Id) -> Health | None:
        st = self._reals.get(real)
        return None if st is None else st.health

    def real_stats(self, real: Id) -> RealStats | None:
        """``/stats/slb/real <n>``: the live counters of a real."""
        st = self._reals.get(real)
        return None if st is None else st.stats

    def group_stats(self, group: Id) -> GroupStats | None:
        """``/stats/slb/group <n>``: a snapshot of the counters of the group's reals."""
        g = self._groups.get(group)
        if g is None:
            return None
        return GroupStats({r: snapshot(self._reals[r].stats) for r in g.reals
                           if r in self._reals})

    def clear_stats(self) -> None:
        """``/stats/slb/clear`` for the counters the farm owns."""
        for st in self._reals.values():
            st.stats.clear()
        self.maint.clear()
