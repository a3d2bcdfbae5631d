"""The SLB counters as ``/stats/slb`` shows them: per real, per group, per virtual server, the
SLB maintenance page and the Layer 7 maintenance page.

Plain mutable records: the farm (``farm.py``) owns and updates the per-real ones and builds
the per-group view; the engine updates the virtual-server, maintenance and Layer 7 ones.  The
console renders them later; each field's comment names the line (or column) of the device
output it feeds (ref §2.6).

Choices where the sources are silent [I]:

* ``clear()`` is ``/stats/slb/clear``: it zeroes counters but not gauges.  Current sessions,
  their two averages and half-open connections describe the session table, which a stats
  clear does not empty, so they stay; ``Highest`` restarts from the current value; ``Maximum
  sessions`` is the table's capacity, not a counter.
* The 4- and 64-second averages are exponentially weighted averages of the current session
  count with those time constants, advanced by ``MaintStats.sample(now)`` (the engine calls it
  with the time of each batch); no clock is read here.
"""
from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from weboslb.config.model import Id

AVG_SHORT = 4.0  # seconds: "4 second average"
AVG_LONG = 64.0  # seconds: "64 second average"


def _zero(record: object, keep: frozenset[str] = frozenset()) -> None:
    """Zero every public int field of record except those in keep (the gauges)."""
    for f in fields(record):  # type: ignore[arg-type]
        if not f.name.startswith("_") and f.name not in keep and f.type in ("int", int):
            setattr(record, f.name, 0)


@dataclass(slots=True)
class Sessions:
    """One row of a sessions table: ``Current / Total / Highest Sessions`` and ``Octets``."""

    current: int = 0  # "Current Sessions" column / "Current sessions:" line
    total: int = 0  # "Total Sessions" column / "Total sessions:" line
    highest: int = 0  # "Highest Sessions" column / "Highest sessions:" line
    octets: int = 0  # "Octets" column / "Octets:" line

    def opened(self) -> None:
        self.current += 1
        self.total += 1
        self.highest = max(self.highest, self.current)

    def closed(self) -> None:
        self.current = max(0, self.current - 1)  # a close we never saw open is not negative

    def add_octets(self, n: int) -> None:
        if n > 0:
            self.octets += n

    def clear(self) -> None:
        _zero(self, frozenset({"current"}))
        self.highest = self.current

    def __add__(self, other: Sessions) -> Sessions:
        """Column sums: the totals line of the group and virtual-server pages."""
        return Sessions(self.current + other.current, self.total + other.total,
                        self.highest + other.highest, self.octets + other.octets)


@dataclass(slots=True)
class RealStats(Sessions):
    """``/stats/slb/real <n>`` ("Real server N stats:")."""

    failures: int = 0  # "Health check failures:" (times the real was declared DOWN)


def _totals(rows: dict[Id, Sessions]) -> Sessions:
    out = Sessions()
    for row in rows.values():
        out = out + row
    return out


@dataclass(slots=True)
class GroupStats:
    """``/stats/slb/group <n>`` ("Real server group N stats:"): one row per real of the group
    (its real-server counters, as the device shows them) and the totals line under them."""

    reals: dict[Id, Sessions] = field(default_factory=dict)  # one "<real> <rip> ..." row each

    @property
    def totals(self) -> Sessions:  # the unlabelled last line
        return _totals(self.reals)


@dataclass(slots=True)
class VirtStats:
    """``/stats/slb/virt <n>`` ("Virtual server N stats:"): sessions of this virtual server per
    real, and the totals on the last line (the one that shows the VIP)."""

    reals: dict[Id, Sessions] = field(default_factory=dict)  # one "<real> <rip|name> ..." row each

    def _row(self, real: Id) -> Sessions:
        return self.reals.setdefault(real, Sessions())

    def opened(self, real: Id) -> None:
        self._row(real).opened()

    def closed(self, real: Id) -> None:
        self._row(real).closed()

    def add_octets(self, real: Id, n: int) -> None:
        self._row(real).add_octets(n)

    @property
    def totals(self) -> Sessions:  # the "<vip> ..." last line
        return _totals(self.reals)

    def clear(self) -> None:
        for row in self.reals.values():
            row.clear()


class SessionRows:
    """Many ``Sessions`` rows in shared columns: the live counters of the reals (and of each
    virtual server's reals).  The C fast path updates the same arrays through pointers
    (``ffi.from_buffer``), so a session opened in C and one opened by the slow path count in
    one place; a row reads as a ``Sessions`` snapshot.  ``used`` marks the rows ever touched
    (a virtual server shows a row for each real it has served)."""

    __slots__ = ("current", "total", "highest", "octets", "used")

    def __init__(self, n: int) -> None:
        zeros = bytes(8 * n)
        self.current = array("q", zeros)
        self.total = array("q", zeros)
        self.highest = array("q", zeros)
        self.octets = array("q", zeros)
        self.used = array("B", bytes(n))

    def __len__(self) -> int:
        return len(self.used)

    def opened(self, i: int) -> None:
        cur = self.current[i] + 1
        self.current[i] = cur
        self.total[i] += 1
        if cur > self.highest[i]:
            self.highest[i] = cur
        self.used[i] = 1

    def closed(self, i: int) -> None:
        self.current[i] = max(0, self.current[i] - 1)  # a close never seen open: not negative
        self.used[i] = 1

    def add_octets(self, i: int, n: int) -> None:
        self.used[i] = 1
        if n > 0:
            self.octets[i] += n

    def row(self, i: int) -> Sessions:
        return Sessions(self.current[i], self.total[i], self.highest[i], self.octets[i])

    def set_row(self, i: int, row: Sessions, used: bool = True) -> None:
        self.current[i], self.total[i] = row.current, row.total
        self.highest[i], self.octets[i] = row.highest, row.octets
        self.used[i] = used

    def clear(self, i: int) -> None:
        """``/stats/slb/clear`` for one row: counters go, the current-sessions gauge stays."""
        self.total[i] = self.octets[i] = 0
        self.highest[i] = self.current[i]


class VirtRows:
    """``/stats/slb/virt <n>`` over shared rows: the live counterpart of ``VirtStats`` (same
    methods and properties) for a virtual server whose reals are rows ``base + slot`` of
    ``rows``; ``slots`` maps real ids to slots.  Rows of reals no longer configured are kept
    in ``extra`` (as ``VirtStats`` keeps them)."""

    __slots__ = ("base", "extra", "rows", "slots")

    def __init__(self, rows: SessionRows, base: int, slots: Mapping[Id, int],
                 extra: dict[Id, Sessions] | None = None) -> None:
        self.rows, self.base, self.slots = rows, base, slots
        self.extra = extra if extra is not None else {}

    def _i(self, real: Id) -> int | None:
        slot = self.slots.get(real)
        return None if slot is None else self.base + slot

    def opened(self, real: Id) -> None:
        i = self._i(real)
        if i is None:
            self.extra.setdefault(real, Sessions()).opened()
        else:
            self.rows.opened(i)

    def closed(self, real: Id) -> None:
        i = self._i(real)
        if i is None:
            self.extra.setdefault(real, Sessions()).closed()
        else:
            self.rows.closed(i)

    def add_octets(self, real: Id, n: int) -> None:
        i = self._i(real)
        if i is None:
            self.extra.setdefault(real, Sessions()).add_octets(n)
        else:
            self.rows.add_octets(i, n)

    @property
    def reals(self) -> dict[Id, Sessions]:
        """A snapshot row for each real this virtual server has served."""
        rows, base = self.rows, self.base
        out = {rid: rows.row(base + slot) for rid, slot in self.slots.items()
               if rows.used[base + slot]}
        out.update((rid, replace(row)) for rid, row in self.extra.items() if rid not in out)
        return out

    @property
    def totals(self) -> Sessions:  # the "<vip> ..." last line
        return _totals(self.reals)

    def clear(self) -> None:
        for slot in self.slots.values():
            self.rows.clear(self.base + slot)
        for row in self.extra.values():
            row.clear()


@dataclass(slots=True)
class MaintStats:
    """``/stats/slb/maint`` ("SLB Maintenance Stats:")."""

    maximum_sessions: int = 0  # "Maximum sessions:" (session table capacity)
    current_sessions: int = 0  # "Current sessions:"
    avg_4s: float = 0.0  # "4 second average:"
    avg_64s: float = 0.0  # "64 second average:"
    terminated_sessions: int = 0  # "Terminated sessions:" (real failed, graceful off)
    allocation_failures: int = 0  # "Allocation failures:" (session or persistence table full)
    udp_datagrams: int = 0  # "UDP datagrams:" (UDP to a VIP without UDP balancing)
    non_tcp_ip_frames: int = 0  # "Non TCP/IP frames:"
    non_ip_frames: int = 0  # "Non IP frames:"
    incorrect_vips: int = 0  # "Incorrect VIPs:"
    incorrect_vports: int = 0  # "Incorrect Vports:"
    vip_not_up_drops: int = 0  # "Packets drops: vip is not up"
    no_available_real: int = 0  # "No available real server:"
    backup_activations: int = 0  # "Backup server activations:"
    overflow_activations: int = 0  # "Overflow server activations:"
    filtered_frames: int = 0  # "Filtered (denied) frames:"
    discard_frames: int = 0  # "Discard frames:"
    land_attacks: int = 0  # "LAND attacks:"
    no_tcp_control_bits: int = 0  # "No TCP control bits:"
    invalid_reset_drops: int = 0  # "Invalid reset packet drops:"
    out_of_state_fin_drops: int = 0  # "Out of State FIN Pkt drops:"
    ip_fragment_sessions: int = 0  # "Total IP fragment sessions:"
    ip4_fragment_discards: int = 0  # "IP4 fragment discards:"
    ip6_fragment_discards: int = 0  # "IP6 fragment discards:"
    current_ip6_sessions: int = 0  # "Current IP6 sessions:"
    incorrect_ip6_vips: int = 0  # "Incorrect IP6 VIPs:"
    incorrect_ip6_vports: int = 0  # "Incorrect IP6 Vports:"
    _sampled: float | None = field(default=None, repr=False, compare=False)  # time of the averages

    def sample(self, now: float) -> None:
        """Advance the two averages to now with the current session count."""
        if self._sampled is None:
            self.avg_4s = self.avg_64s = float(self.current_sessions)
        elif now > self._sampled:
            dt = now - self._sampled
            for name, tau in (("avg_4s", AVG_SHORT), ("avg_64s", AVG_LONG)):
                old = getattr(self, name)
                setattr(self, name, old + (self.current_sessions - old) * -math.expm1(-dt / tau))
        self._sampled = now if self._sampled is None else max(self._sampled, now)

    def clear(self) -> None:
        _zero(self, frozenset({"maximum_sessions", "current_sessions", "current_ip6_sessions"}))


@dataclass(slots=True)
class Layer7Stats:
    """``/stats/slb/layer7/maint`` ("Layer 7 maintenance stats:")."""

    client_resets: int = 0  # "Clients reset by switch on client side:"
    server_resets: int = 0  # "Clients reset by switch on server side:"
    connection_splicing: int = 0  # "Connection Splicing to support HTTP/1.1:"
    invalid_http_methods: int = 0  # "Invalid HTTP methods:"
    aged_dbind_sessions: int = 0  # "Aged delayed binding sessions:"
    half_open: int = 0  # "Half open connections:" (a gauge)
    switch_retries: int = 0  # "Switch retries:"
    random_early_drops: int = 0  # "Random early drops:"
    requests_too_long: int = 0  # "Requests exceeded <n> bytes:"
    invalid_handshakes: int = 0  # "Invalid 3-way handshakes:"
    exceeded_frame_size: int = 0  # "Exceeded max frame size:"
    out_of_order_drops: int = 0  # "Out of order packet drops:"
    out_of_order_received: int = 0  # "Out of order packets received:"

    def clear(self) -> None:
        _zero(self, frozenset({"half_open"}))


def snapshot(row: Sessions) -> Sessions:
    """A copy of a row, for a page rendered while traffic keeps counting."""
    return replace(row)
