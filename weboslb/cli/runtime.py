"""What the console talks to: the configuration store, the running switch, and the optional
parts that are plugged in when they exist (the HA status provider, the replay runner).

``Runtime`` is also the console's only door to the file system (loading a config, writing
flash and reports): the functions that do it are injected, so tests run a console without
touching a disk, and the dispatcher stays a pure function of its input and this object.

The HA provider (``weboslb/ha``) implements ``HaStatus``; without one the switch is shown as
``standalone`` and the mirror as ``not configured``.  The replay hook takes capture paths and
returns the replay's summary text; it should replay into ``runtime.switch`` as it is at call
time (``/boot/reset`` replaces the switch).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from weboslb.config import dump, files
from weboslb.config.diag import Loaded, Problem
from weboslb.config.model import Config, Id
from weboslb.config.store import Store
from weboslb.engine.switch import Switch

STANDALONE = "standalone"


@dataclass(frozen=True, slots=True)
class SyncFigures:
    """The mirror link to one peer, as ``/info/slb/sync`` shows it."""

    peer: str  # the peer's address
    state: str  # e.g. connected | syncing | down
    last_update: float | None  # virtual time of the last update the peer acknowledged
    sent: int  # persistent entries sent
    acked: int  # entries the peer acknowledged
    dropped: tuple[tuple[str, int], ...] = ()  # frames dropped, by reason (bad_mac, replay...)


@dataclass(frozen=True, slots=True)
class RouterStatus:
    """One virtual router, as ``/info/vrrp`` shows it."""

    vr: int
    vrid: int | None
    addr: str | None
    if_: int | None
    prio: int
    state: str  # init | master | backup | holdoff
    owner: bool = False
    server: bool = False  # a virtual server router (its address is a VIP)


class HaStatus(Protocol):
    """What the console needs from the HA layer (mirror and VRRP)."""

    @property
    def role(self) -> str:
        """MASTER, BACKUP or INIT."""

    def sync_figures(self) -> list[SyncFigures]: ...

    def routers(self) -> list[RouterStatus]: ...

    def push_config(self, config: Config) -> str:
        """``/oper/slb/sync``: send the applied configuration to the peers; a report line."""

    def back(self, vr: int) -> str:
        """``/oper/vrrp/back``: make this switch's router ``vr`` back off; a report line."""


def virtual_now(switch: Switch) -> float:
    """The switch's clock when nobody gives one: the last time it saw traffic."""
    times = [s.last for s in switch.sessions]
    times += [float(e.last_used) for _, e in switch.persistence.entries()]
    return max(times, default=0.0)


@dataclass(slots=True, eq=False)
class Runtime:
    """One emulated switch as the console sees it.  Build it with ``boot``; plug ``ha`` and
    ``replay`` in when they exist; ``loader``, ``writer`` and ``flash`` are its file access."""

    store: Store
    switch: Switch
    ha: HaStatus | None = None
    replay: Callable[[list[str]], str] | None = None
    flash: Callable[[str], None] | None = None  # writes saved configs; None: memory only
    flash_name: str = ""  # where ``flash`` writes, for messages
    loader: Callable[[str], Loaded] = files.load
    writer: Callable[[str, str], None] = files.write_text
    clock: Callable[[], float] | None = None
    make_switch: Callable[[Config], Switch] = Switch
    last_report: str | None = None
    # writes the last replay's report to a file, JSON or HTML by its extension (text else)
    write_report: Callable[[str], None] | None = None
    oper_disabled: set[Id] = field(default_factory=set)  # reals /oper/slb/dis took out

    @classmethod
    def boot(cls, config: Config, render: Callable[[Config], str] = dump.write,
             **kw) -> tuple[Runtime | None, list[Problem]]:
        """A switch booted from ``config`` as its flash: validated and applied as ``apply``
        would.  Returns the runtime (None when the config has errors) and the problems."""
        store = Store(Config(), render=render)
        store.pending = config
        problems = store.apply()
        if any(p.error for p in problems):
            return None, problems
        store.save()  # what the switch booted from is what its flash holds
        make = kw.get("make_switch", Switch)
        return cls(store, make(store.applied), **kw), problems

    # ---- state -------------------------------------------------------------------------

    @property
    def role(self) -> str:
        if self.ha is None:
            return STANDALONE
        role = self.ha.role
        return role if isinstance(role, str) else str(getattr(role, "name", role))  # an enum

    def now(self) -> float:
        return self.clock() if self.clock is not None else virtual_now(self.switch)

    def sync_figures(self) -> list[SyncFigures]:
        return self.ha.sync_figures() if self.ha is not None else []

    # ---- changes -----------------------------------------------------------------------

    def run_applied(self) -> None:
        """Give the switch the configuration ``apply`` (or ``revert apply``) made current."""
        self.switch.apply(self.store.applied)
        for real in list(self.oper_disabled):
            if real not in self.store.applied.slb.real:
                self.oper_disabled.discard(real)

    def set_oper(self, real: Id, enabled: bool) -> bool:
        if not self.switch.farm.set_oper(real, enabled):
            return False
        (self.oper_disabled.discard if enabled else self.oper_disabled.add)(real)
        return True

    def reset(self) -> None:
        """Boot again from flash: the saved configuration, a fresh session table."""
        self.store.revert_apply()
        self.switch = self.make_switch(self.store.applied)
        self.oper_disabled.clear()

    # ---- files -------------------------------------------------------------------------

    def load_config(self, path: str) -> Loaded:
        """Read a config file (YAML or dump).  Raises OSError when it cannot be read."""
        return self.loader(path)

    def write_text(self, path: str, text: str) -> None:
        self.writer(path, text)


def file_flash(path: str | Path, fmt: str) -> tuple[Callable[[str], None],
                                                   Callable[[Config], str]]:
    """Flash kept in a config file: the writer, and the renderer for its format."""

    def write(text: str) -> None:
        files.write_text(path, text)

    return write, (lambda config: files.render(config, fmt))
