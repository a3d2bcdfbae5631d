"""One switch of an HA pair, and the pair on a virtual clock: the glue Web OS puts between a
switch, its stateful-failover mirror and its VRRP (reference §5, §6; docs/failover.md).

A ``Node`` holds a ``Switch``, its ``MirrorPeer`` (when ``/cfg/slb/sync/state`` is on) and
its ``Vrrp``.  VRRP decides: when the node becomes master of the routers covering its VIPs,
its mirror is promoted (it teaches); when it becomes backup, demoted (it learns).  The switch
serves a VIP only while its covering router is master and the mirror is ready; every other
VIP is in ``switch.standby``, whose frames the switch drops (``Why.STANDBY``).  A failed node
does nothing at all; recovering is a restart: fresh switch, fresh mirror incarnation (which
relearns per the protocol), and VRRP joins once the mirror holds a complete copy (or after
the mirror's learn timeout, when there is nobody to learn from) [I].

Config sync (``/oper/slb/sync``) rides the mirror link: ``push_config`` sends the node's
running configuration (``ha.configsync.render``); a node that receives one applies what
``configsync.received`` makes of it through ``apply``, as running config only.  Saving it is
the shell's business: ``on_config`` (a constructor argument or attribute) is called with each
configuration applied from the peer, so a shell holding a ``Store`` can make it its applied
config and save it.

``HaPair`` joins two nodes: VRRP advertisements go straight from one to the other (one
segment), mirror bytes through two ``FaultyLink``s that ``link_down`` cuts.  Sans-IO: the
caller owns the clock and calls ``step(now)``; nothing here reads time or touches a socket.
"""
from __future__ import annotations

import functools
import ipaddress
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from weboslb.config.model import Config, Id
from weboslb.config.store import prune
from weboslb.config.validate import validate
from weboslb.engine.persist import Persistence
from weboslb.engine.switch import Switch
from weboslb.ha import configsync
from weboslb.ha.auth import mirror_key
from weboslb.ha.events import (
    BulkDone,
    ConfigAcked,
    ConfigLost,
    ConfigPushed,
    PeerDown,
    PeerUp,
    Ready,
    Refused,
    SplitBrain,
    Synced,
    TableFull,
    VrrpTransition,
)
from weboslb.ha.mirror import MirrorPeer, Timers
from weboslb.ha.pair import PUMP_ROUNDS, FaultyLink
from weboslb.ha.vrrp import Vrrp, VrState
from weboslb.ha.wire import Role
from weboslb.table.contract import KeyKind

TableKey = tuple[KeyKind, int, bytes]  # (kind, vsvc, key)
TIMERS = Timers()

# PBKDF2 of a passphrase costs ~0.1 s: a pair, its restarts and a test suite share the result
_key = functools.lru_cache(maxsize=16)(mirror_key)


@dataclass(frozen=True, slots=True)
class Note:
    """One line of the pair's log: a VRRP transition, a mirror event, a fault."""

    ts: float
    switch: str
    text: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A node's persistent bindings when it stopped or started serving: ``entries`` maps
    (kind, vsvc, key) to (real code, expiry or None).  At a handover of a teaching active,
    ``acked`` is what its standby had acknowledged holding and ``last_flush`` when the
    journal was last read (periodic mode)."""

    ts: float
    entries: dict[TableKey, tuple[int, int | None]]
    acked: dict[TableKey, int] | None = None
    last_flush: float | None = None


def bindings(p: Persistence, now: float) -> dict[TableKey, tuple[int, int | None]]:
    """Every live persistent entry of a table."""
    t = int(now)
    return {(k, e.vsvc, e.key): (e.real, e.expires) for k, e in p.entries()
            if e.persistent and e.alive(t)}


def vip_bytes(vip: str) -> bytes:
    return ipaddress.ip_address(vip).packed


class Node:
    """One switch of the pair.  See the module docstring."""

    def __init__(self, name: str, switch_id: int, config: Config, *,
                 make_switch: Callable[[Config], Switch] = Switch, timers: Timers = TIMERS,
                 seed: int = 0, on_config: Callable[[Config], None] | None = None) -> None:
        self.name = name
        self.on_config = on_config  # called with each configuration applied from the peer
        self.switch_id = switch_id
        self.make_switch = make_switch
        self.timers = timers
        self._rng = random.Random(seed * 7919 + switch_id)
        self.notes: list[Note] = []
        self.retired: list[Switch] = []  # the switches of earlier lives (before a recover)
        self.failed = False
        self.active = False  # master of the routers covering its VIPs
        self.served: frozenset[bytes] = frozenset()
        self.handover: Snapshot | None = None  # when it last stopped serving
        self.takeover: Snapshot | None = None  # when it last started serving
        self._join_at: float | None = None  # VRRP starts by then at the latest (recover)
        self.config = config
        self.switch = make_switch(config)
        self.vrrp = Vrrp.from_config(config)
        self.mirror = self._make_mirror()
        self._track()
        self._standby()

    # ---- what the pair reads -----------------------------------------------------------------

    @property
    def vips(self) -> frozenset[bytes]:
        return frozenset(vip_bytes(v) for v in self.vrrp.vips)

    @property
    def stateful(self) -> bool:
        return self.mirror is not None

    def deadline(self, now: float) -> float | None:
        """The earliest VRRP or mirror timer after ``now``, or the recover's join time (a
        timer already past waits for the next step: the mirror's flush while no session
        is up, for one)."""
        if self.failed:
            return None
        times = [self._join_at] if self._join_at is not None else []
        for r in self.vrrp.routers.values():
            times += [t for t in (r.master_down_at, r.adver_at, r.holdoff_until)
                      if t is not None]
        m = self.mirror
        if m is not None and m.role is Role.ACTIVE and m.update and m.teacher.epoch:
            times.append(m.teacher.next_flush)
        return min((t for t in times if t > now), default=None)

    def snapshot(self, now: float, *, handing_over: bool = False) -> Snapshot:
        """The node's bindings now; handing over as the teaching active, with what its
        standby acknowledged and when the journal was last read."""
        m = self.mirror
        acked = flush = None
        if handing_over and m is not None and m.role is Role.ACTIVE:
            acked = m.acked_entries()
            flush = m.last_flush
        return Snapshot(now, bindings(self.switch.persistence, now), acked, flush)

    # ---- life ----------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Boot: VRRP leaves init (after ``/cfg/l3/vrrp/holdoff``)."""
        self.vrrp.start(now)
        self.settle(now)

    def fail(self, now: float) -> None:
        """The switch dies: no frame served, no advertisement, no mirror byte."""
        if self.failed:
            return
        if self.active:
            self.handover = self.snapshot(now, handing_over=True)
        self.failed, self.active, self._join_at = True, False, None
        self.note(now, "failed")
        self._standby()

    def recover(self, now: float) -> None:
        """Restart with fresh state; VRRP joins once the mirror holds a complete copy from
        the active, or after the mirror's learn timeout when nobody teaches."""
        if not self.failed:
            self.note(now, "recover ignored: the switch is running")
            return
        self.retired.append(self.switch)
        self.switch = self.make_switch(self.config)
        self.vrrp = Vrrp.from_config(self.config)
        self.mirror = self._make_mirror()
        self.failed, self.active = False, False
        self._track()
        self._join_at = now if self.mirror is None else now + self.timers.learn_timeout
        self.note(now, "restarted with fresh state" + (
            "; VRRP joins once the mirror is synced" if self.mirror is not None else ""))
        self._standby()

    def apply(self, config: Config, now: float) -> None:
        """A new configuration: the switch takes it as ``apply`` would (sessions and
        bindings stay).  Changed virtual routers restart; VIPs follow the routers' coverage.
        Sync settings (state, update, passphrase) take effect at the next recover."""
        self.config = config
        self.switch.apply(config)
        fresh = Vrrp.from_config(config)
        if _specs(fresh) != _specs(self.vrrp):
            if not self.failed:
                self.vrrp.stop(now)
                self.note(now, "VRRP configuration changed: virtual routers restart")
            self.vrrp = fresh
            if not self.failed and self._join_at is None:
                fresh.start(now)
        else:
            self.vrrp.vips = fresh.vips
        self._track()
        self.note(now, "configuration applied")
        self.settle(now)

    def push_config(self, now: float) -> str:
        """``/oper/slb/sync``: send the running configuration to the peer over the mirror
        link; one line for the console saying where it went or why it did not."""
        peer = self.peer_addr
        where = f"peer {peer}" if peer else "the peer"
        if self.failed:
            return f"configuration not sent to {where}: the switch is down"
        if self.mirror is None:
            return (f"configuration not sent to {where}: the mirror link is off "
                    f"(/cfg/slb/sync/state dis)")
        ok, why = self.mirror.push_config(configsync.render(self.config), now)
        line = f"configuration sent to {where} ({why})" if ok else \
            f"configuration not sent to {where}: {why}"
        self.note(now, line)
        return line

    @property
    def peer_addr(self) -> str | None:
        """The first enabled ``/cfg/slb/sync/peer``: where the mirror link goes."""
        return next((p.addr for _, p in sorted(self.config.slb.sync.peer.items())
                     if p.ena and p.addr), None)

    def set_real(self, real: Id, up: bool, now: float) -> bool:
        """The real's operational state on this switch (a failed server, a failed health
        check); False if the config has no such real.  Tracked by VRRP (``track reals``)."""
        if not self.switch.farm.set_oper(real, up):
            return False
        self._track()
        self.note(now, f"real {real} {'up' if up else 'down'}")
        return True

    # ---- the clock and the wires ---------------------------------------------------------------

    def tick(self, now: float) -> None:
        if self.failed:
            return
        self._join(now)
        self.vrrp.tick(now)
        if self.mirror is not None:
            self.mirror.tick(now)
        self.settle(now)

    def adverts(self) -> list[tuple[str, bytes]]:
        out = self.vrrp.adverts_to_send()
        return [] if self.failed else out

    def hear(self, message: bytes, src: str, now: float) -> None:
        if not self.failed:
            self.vrrp.receive(message, src, now)

    def mirror_out(self) -> bytes:
        if self.mirror is None:
            return b""
        out = self.mirror.data_to_send()
        return b"" if self.failed else out

    def mirror_in(self, data: bytes, now: float) -> None:
        if self.mirror is not None and not self.failed:
            self.mirror.receive(data, now)

    def settle(self, now: float) -> None:
        """Act on what VRRP decided: promote or demote the mirror, and set what the switch
        serves."""
        if self.failed:
            return
        for ev in self.vrrp.drain_events():
            self.note(ev.ts, _vrrp_text(ev))
        active = self._master()
        if active != self.active:
            if active:
                self.active = True
                if self.mirror is not None:
                    self.mirror.promote(now)
                self.takeover = self.snapshot(now)
            else:
                self.handover = self.snapshot(now, handing_over=True)
                self.active = False
                if self.mirror is not None:
                    self.mirror.demote(now)
        pushed: list[str] = []
        if self.mirror is not None:
            for ev in self.mirror.drain_events():
                if isinstance(ev, ConfigPushed):
                    pushed.append(ev.text)
                    continue
                text = _mirror_text(ev)
                if text:
                    self.note(ev.ts, text)
        self._join(now)
        self._standby()
        for text in pushed:
            self._take_config(text, now)

    def note(self, ts: float, text: str) -> None:
        self.notes.append(Note(ts, self.name, text))

    # ---- inside --------------------------------------------------------------------------------

    def _take_config(self, text: str, now: float) -> None:
        """A configuration the peer pushed: merged with ours, validated as ``apply`` would,
        then run (not saved)."""
        try:
            pushed = configsync.parse(text)
        except configsync.ConfigSyncError as e:
            self.note(now, f"configuration received from peer: not applied: {e}")
            return
        merged, lines = configsync.received(self.config, pushed)
        errors = [p for p in prune(merged) + validate(merged) if p.error]
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            self.note(now, f"configuration received from peer: not applied: {errors[0]}{more}")
            return
        self.note(now, "configuration received from peer: applied; not saved")
        for line in lines:
            self.note(now, f"config sync: {line}")
        self.apply(merged, now)
        if self.on_config is not None:
            self.on_config(merged)

    def _make_mirror(self) -> MirrorPeer | None:
        sync = self.config.slb.sync
        if not sync.state:
            return None
        return MirrorPeer(self.switch_id, self.switch.persistence, key=_key(sync.passphrs),
                          update=sync.update, timers=self.timers, random=self._rng.randbytes,
                          audit=True)

    def _join(self, now: float) -> None:
        """A recovered switch enters the election once its mirror is synced (or at
        ``_join_at``, when nobody teaches it)."""
        if self._join_at is None:
            return
        synced = self.mirror is not None and self.mirror.synced
        if synced or now >= self._join_at:
            self._join_at = None
            self.note(now, "VRRP joins the election" + (" (mirror synced)" if synced else
                                                        " (no complete copy to wait for)"))
            self.vrrp.start(now)

    def _covering(self) -> set[int]:
        """The routers whose mastership makes this switch the active one: those covering
        a VIP, or every router when none does."""
        cover = {i for idx in self.vrrp.vips.values() for i in idx}
        return cover or set(self.vrrp.routers)

    def _master(self) -> bool:
        return any(self.vrrp.routers[i].state is VrState.MASTER for i in self._covering())

    def _standby(self) -> None:
        vips = self.vips
        if self.failed:
            served: frozenset[bytes] = frozenset()
        else:
            ready = self.mirror is None or self.mirror.ready
            masters = self.vrrp.master_vips() if ready else set()
            served = frozenset(vip_bytes(v) for v, idx in self.vrrp.vips.items()
                               if v in masters or not idx)  # an uncovered VIP: always
        self.served = served
        self.switch.standby = vips - served

    def _track(self) -> None:
        """VRRP's tracked counts: enabled interfaces, healthy reals behind each router's
        VIPs.  Ports are not modelled (l4pts, ports and HSRP count 0)."""
        cfg = self.config
        ifs = sum(1 for i in cfg.l3.if_.values() if i.ena and i.addr)
        reals: dict[int, int] = {}
        for vip, idx in self.vrrp.vips.items():
            behind = set(_reals_behind(cfg, vip))
            up = sum(1 for r in behind if self.switch.farm.available(r))
            for i in idx:
                reals[i] = reals.get(i, 0) + up
        self.vrrp.track(ifs=ifs, reals=reals)


class HaPair:
    """Two nodes on one VRRP segment and one mirror link."""

    def __init__(self, a: Node, b: Node, *, seed: int = 0) -> None:
        self.nodes = (a, b)
        self.links = {a.name: FaultyLink(seed), b.name: FaultyLink(seed + 1)}  # by sender
        self.link_up = True
        self.now: float | None = None

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def other(self, node: Node) -> Node:
        return self.nodes[1] if node is self.nodes[0] else self.nodes[0]

    def live(self) -> Iterator[Node]:
        return (n for n in self.nodes if not n.failed)

    def start(self, now: float) -> None:
        self.now = now
        for n in self.nodes:
            n.start(now)
            if n.mirror is not None:
                n.mirror.connection_made(now)
        self._exchange(now)

    def step(self, now: float) -> None:
        self.now = now
        for n in self.live():
            n.tick(now)
        self._exchange(now)

    def deadline(self, now: float) -> float | None:
        return min((t for n in self.nodes if (t := n.deadline(now)) is not None),
                   default=None)

    def owners(self) -> dict[bytes, Node | None]:
        """VIP -> the node serving it (None: nobody, a failover gap)."""
        out: dict[bytes, Node | None] = {}
        for n in self.nodes:
            for vip in n.vips:
                out.setdefault(vip, None)
            for vip in n.served:
                if out.get(vip) is None:
                    out[vip] = n
        return out

    def push_config(self, node: Node, now: float) -> str:
        """``/oper/slb/sync`` on ``node``: the push travels (and is applied) at once."""
        line = node.push_config(now)
        self._exchange(now)
        return line

    # ---- faults ----------------------------------------------------------------------------------

    def fail(self, node: Node, now: float) -> None:
        node.fail(now)
        self._exchange(now)

    def recover(self, node: Node, now: float) -> None:
        """A restart: the survivor sees its mirror connection reset, then both connect."""
        if not node.failed:
            node.recover(now)
            return
        node.recover(now)
        for link in self.links.values():
            link.clear()
        peer = self.other(node)
        if peer.mirror is not None and not peer.failed:
            peer.mirror.connection_lost(now)
            peer.mirror.connection_made(now)
        if node.mirror is not None:
            node.mirror.connection_made(now)
        self._exchange(now)

    def link_down(self, now: float) -> None:
        """The mirror link is cut (bytes in flight are lost); VRRP still sees both."""
        for link in self.links.values():
            link.cut()
        self.link_up = False
        for n in self.live():
            n.note(now, "mirror link down")

    def link_heal(self, now: float) -> None:
        for link in self.links.values():
            link.heal()
        self.link_up = True
        for n in self.live():
            n.note(now, "mirror link up")
        self._exchange(now)

    # ---- the wires -------------------------------------------------------------------------------

    def _exchange(self, now: float) -> None:
        """Deliver advertisements and mirror bytes until nothing is due at ``now``."""
        for _ in range(PUMP_ROUNDS):
            moved = 0
            for n in self.nodes:
                peer = self.other(n)
                for src, msg in n.adverts():
                    moved += 1
                    peer.hear(msg, src, now)
            for n in self.live():  # VRRP's decision first: the mirror then plans with it
                n.settle(now)
            for n in self.nodes:
                self.links[n.name].send(n.mirror_out(), now)
            for n in self.nodes:
                for piece in self.links[self.other(n).name].deliver(now):
                    moved += 1
                    n.mirror_in(piece, now)
            for n in self.live():
                n.settle(now)
            if not moved:
                return


def _specs(vrrp: Vrrp) -> list:
    return [r.spec for _, r in sorted(vrrp.routers.items())]


def _reals_behind(config: Config, vip: str) -> Iterator[Id]:
    """The reals of the groups (and backup groups) of the virtual services on ``vip``."""
    slb = config.slb
    for virt in slb.virt.values():
        if virt.vip != vip or not virt.ena:
            continue
        for svc in virt.service.values():
            group = slb.group.get(svc.group) if svc.group is not None else None
            if group is not None:
                yield from group.reals


def _vrrp_text(ev: VrrpTransition) -> str:
    return f"VRRP vr {ev.vr} (vrid {ev.vrid}): {ev.old} -> {ev.new} ({ev.why})"


def _mirror_text(ev) -> str | None:
    """The mirror events worth a line in the pair's log (bulk progress per key kind is not)."""
    if isinstance(ev, PeerUp):
        return f"mirror session up: {ev.plan}" + (" (resumed)" if ev.resumed else "")
    if isinstance(ev, PeerDown):
        return f"mirror peer lost: {ev.why}"
    if isinstance(ev, Synced):
        return "mirror synced: " + ("the standby holds a complete copy" if ev.sending
                                    else "holds a complete copy of the active's table")
    if isinstance(ev, Ready):
        return f"mirror ready to serve: {ev.why}"
    if isinstance(ev, Refused):
        return f"mirror refused ({'by the peer' if ev.by_peer else 'here'}): {ev.text}"
    if isinstance(ev, SplitBrain):
        return "mirror: both switches claim the active role (split brain)"
    if isinstance(ev, TableFull):
        return f"mirror: {ev.count} {ev.kind.label} entries refused (table full)"
    if isinstance(ev, ConfigAcked):
        return f"configuration push acknowledged by the peer ({ev.size} bytes)"
    if isinstance(ev, ConfigLost):
        return f"configuration push not delivered: {ev.why}"
    if isinstance(ev, BulkDone) and ev.swept:
        return f"mirror bulk {ev.kind.label}: {ev.swept} stale entries swept"
    return None
