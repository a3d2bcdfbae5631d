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
* The runtime counters of the reals (current, total and highest sessions, octets, response
  time, bandwidth load) and the groups' round-robin cursors live in arrays (``SessionRows``
  and ``array`` columns, one slot a real or group), the one home that the C fast path also
  reads and writes through pointers; ``real_stats`` reads a snapshot from them.
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
from array import array
from dataclasses import dataclass
from typing import Literal

from weboslb.config.model import Backup, Id, Slb
from weboslb.engine.metrics import DEFAULT_METRIC, METRICS, Candidate, Metric, ident
from weboslb.engine.stats import GroupStats, MaintStats, RealStats, SessionRows

Via = Literal["group", "backup", "overflow"]
BANDWIDTH_TAU = 4.0  # seconds: the octet window of the bandwidth metric
RESPONSE_GAIN = 0.125  # weight of a new response-time sample
NOT_MEASURED = math.nan  # a response-time column's "no sample yet"


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
    """One real: what the configuration says, its operator and health state, and its slot in
    the farm's columns (where its counters live)."""

    slot: int = 0
    rip: str | None = None
    ena: bool = False
    weight: int = 1
    maxcon: int = 0
    backup: Id | None = None
    oper: bool = True  # /oper/slb/ena|dis
    health: Health = Health.UP
    failures: int = 0  # "Health check failures": transitions to DOWN

    @property
    def in_service(self) -> bool:
        return self.ena and self.oper and self.health is Health.UP


@dataclass(slots=True)
class GroupState:
    slot: int = 0
    reals: tuple[Id, ...] = ()
    metric: Metric = METRICS[DEFAULT_METRIC]
    metric_name: str = DEFAULT_METRIC
    backup: Backup | None = None
    oper: bool = True


@dataclass(slots=True)
class FarmColumns:
    """The farm's runtime state by slot: what both the slow path and the C fast path read
    and write.  Built anew at each ``reconfigure`` (pointers into the old arrays die with
    them: the engine takes the new ones at ``apply``)."""

    rows: SessionRows  # current / total / highest / octets, a row per real
    response: array  # d: smoothed response time, seconds (NaN: not measured)
    load: array  # d: decayed octets, as of load_at
    load_at: array  # d
    up: array  # B: configured ena, operationally enabled and healthy
    weight: array  # q
    maxcon: array  # q: 0 = no limit
    backup: array  # i: the backup real's slot, -1 = none
    turn: array  # q per group: selections made by its metric (the round-robin cursor)
    group_up: array  # B per group: /oper/slb/group ena

    @classmethod
    def of(cls, reals: int, groups: int) -> FarmColumns:
        return cls(SessionRows(reals), array("d", [NOT_MEASURED]) * reals,
                   array("d", bytes(8 * reals)), array("d", bytes(8 * reals)),
                   array("B", bytes(reals)), array("q", bytes(8 * reals)),
                   array("q", bytes(8 * reals)), array("i", [-1]) * reals,
                   array("q", bytes(8 * groups)), array("B", bytes(groups)))


class Farm:
    """The reals and groups of one switch, built from ``config.slb``."""

    def __init__(self, slb: Slb, maint: MaintStats | None = None) -> None:
        self.maint = maint if maint is not None else MaintStats()
        self._reals: dict[Id, RealState] = {}
        self._groups: dict[Id, GroupState] = {}
        self.cols = FarmColumns.of(0, 0)
        self.reconfigure(slb)

    def reconfigure(self, slb: Slb) -> None:
        """Take a newly applied configuration; reals and groups that still exist keep their
        counters, sessions, measurements, health and operator state."""
        old, old_reals, old_groups = self.cols, self._reals, self._groups
        cols = FarmColumns.of(len(slb.real), len(slb.group))
        reals: dict[Id, RealState] = {}
        for slot, (rid, cfg) in enumerate(slb.real.items()):
            st = old_reals.get(rid) or RealState()
            was = st.slot if rid in old_reals else None
            st.slot, st.rip, st.ena, st.weight, st.maxcon = slot, cfg.rip, cfg.ena, cfg.weight, \
                cfg.maxcon
            st.backup = cfg.backup if cfg.backup != rid else None
            reals[rid] = st
            if was is not None:
                cols.rows.set_row(slot, old.rows.row(was), bool(old.rows.used[was]))
                cols.response[slot], cols.load[slot] = old.response[was], old.load[was]
                cols.load_at[slot] = old.load_at[was]
        groups: dict[Id, GroupState] = {}
        for slot, (gid, cfg) in enumerate(slb.group.items()):
            st = old_groups.get(gid) or GroupState()
            if gid in old_groups:
                cols.turn[slot] = old.turn[st.slot]
            st.slot, st.reals = slot, tuple(cfg.reals)
            st.metric_name = cfg.metric if cfg.metric in METRICS else DEFAULT_METRIC
            st.metric = METRICS[st.metric_name]
            st.backup = cfg.backup
            groups[gid] = st
        self._reals, self._groups, self.cols = reals, groups, cols
        for rid, st in reals.items():
            cols.weight[st.slot], cols.maxcon[st.slot] = st.weight, st.maxcon
            b = reals.get(st.backup) if st.backup is not None else None
            cols.backup[st.slot] = b.slot if b is not None else -1
            self._sync_up(st)
        for g in groups.values():
            cols.group_up[g.slot] = g.oper

    def _sync_up(self, st: RealState) -> None:
        self.cols.up[st.slot] = st.in_service

    # ---- the slots, for the fast path ----------------------------------------------------

    def real_slots(self) -> dict[Id, int]:
        return {rid: st.slot for rid, st in self._reals.items()}

    def groups(self) -> dict[Id, GroupState]:
        return dict(self._groups)

    def real(self, real: Id) -> RealState | None:
        return self._reals.get(real)

    # ---- choosing a real ---------------------------------------------------------------------

    def _available(self, st: RealState) -> bool:
        if not st.in_service:
            return False
        return not 0 < st.maxcon <= self.cols.rows.current[st.slot]

    def available(self, real: Id) -> bool:
        st = self._reals.get(real)
        return st is not None and self._available(st)

    def full(self, real: Id) -> bool:
        st = self._reals.get(real)
        return st is not None and 0 < st.maxcon <= self.cols.rows.current[st.slot]

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
            turn = self.cols.turn
            i = g.metric(cands, key, turn[g.slot])
            turn[g.slot] += 1
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
        cols = self.cols
        for rid in g.reals:
            st = self._reals.get(rid)
            if st is None:
                continue
            serving, via, sv = rid, "group", st
            if not self._available(st):
                b = self._reals.get(st.backup) if st.backup is not None else None
                if b is None or not self._available(b):
                    continue
                serving, via, sv = st.backup, ("overflow" if st.in_service else "backup"), b
            resp = cols.response[sv.slot]
            out.append((Candidate(serving, ident(rid, st.rip), st.weight,
                                  cols.rows.current[sv.slot], None if resp != resp else resp,
                                  self._load_now(sv.slot, now)), via))
        return out

    def _load_now(self, slot: int, now: float) -> float:
        load, at = self.cols.load[slot], self.cols.load_at[slot]
        return load * math.exp(-(now - at) / BANDWIDTH_TAU) if now > at else load

    # ---- facts from the engine ---------------------------------------------------------------

    def opened(self, real: Id, now: float) -> None:
        if (st := self._reals.get(real)) is not None:
            self.cols.rows.opened(st.slot)

    def closed(self, real: Id, now: float) -> None:
        if (st := self._reals.get(real)) is not None:
            self.cols.rows.closed(st.slot)

    def octets(self, real: Id, n: int, now: float) -> None:
        st = self._reals.get(real)
        if st is None or n <= 0:
            return
        cols, slot = self.cols, st.slot
        cols.rows.add_octets(slot, n)
        cols.load[slot] = self._load_now(slot, now) + n
        cols.load_at[slot] = max(cols.load_at[slot], now)

    def response_time(self, real: Id, seconds: float) -> None:
        st = self._reals.get(real)
        if st is None or not (0 <= seconds < math.inf):  # also refuses NaN
            return
        col, slot = self.cols.response, st.slot
        old = col[slot]
        col[slot] = seconds if old != old else old + RESPONSE_GAIN * (seconds - old)

    def set_health(self, real: Id, up: bool) -> bool:
        st = self._reals.get(real)
        if st is None:
            return False
        if st.health is Health.UP and not up:
            st.failures += 1
        st.health = Health.UP if up else Health.DOWN
        self._sync_up(st)
        return True

    def set_oper(self, real: Id, enabled: bool) -> bool:
        st = self._reals.get(real)
        if st is not None:
            st.oper = enabled
            self._sync_up(st)
        return st is not None

    def set_group_oper(self, group: Id, enabled: bool) -> bool:
        g = self._groups.get(group)
        if g is not None:
            g.oper = enabled
            self.cols.group_up[g.slot] = enabled
        return g is not None

    # ---- what the console shows --------------------------------------------------------------

    def health(self, real: Id) -> Health | None:
        st = self._reals.get(real)
        return None if st is None else st.health

    def real_stats(self, real: Id) -> RealStats | None:
        """``/stats/slb/real <n>``: a snapshot of the counters of a real."""
        st = self._reals.get(real)
        if st is None:
            return None
        row = self.cols.rows.row(st.slot)
        return RealStats(row.current, row.total, row.highest, row.octets, st.failures)

    def group_stats(self, group: Id) -> GroupStats | None:
        """``/stats/slb/group <n>``: a snapshot of the counters of the group's reals."""
        g = self._groups.get(group)
        if g is None:
            return None
        rows = self.cols.rows
        return GroupStats({r: rows.row(self._reals[r].slot) for r in g.reals
                           if r in self._reals})

    def clear_stats(self) -> None:
        """``/stats/slb/clear`` for the counters the farm owns."""
        for st in self._reals.values():
            self.cols.rows.clear(st.slot)
            st.failures = 0
        self.maint.clear()
