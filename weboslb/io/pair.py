"""Replaying captures through an HA pair (shell): ``weboslb replay --pair``.

Switch A runs the given config; B runs the peer config, or one derived from A as
``/oper/slb/sync`` would (``pair_configs``).  Both are ``ha.node.Node``s joined by
``HaPair``: VRRP advertisements and the mirror stream travel in memory, on the capture's
clock.  The clock is cut between batches at every VRRP or mirror deadline, every scenario
event and at least every ``TICK`` of capture time while frames flow; each frame goes to the
switch that serves its VIP (VRRP master, mirror ready), and frames to a VIP nobody serves
(the detection gap of a failover) are dropped by the standby and counted.  The pair boots
before the first frame, long enough for VRRP to elect A and the mirror to sync.

The report is the single switch's (both switches' counters added up; each connection with
the ``switch`` that served it) plus a ``failover`` section (``report/failover.py``).
docs/failover.md has the whole story.
"""
from __future__ import annotations

import ipaddress
from array import array
from bisect import bisect_left
from copy import deepcopy
from dataclasses import dataclass, field

from weboslb.config.model import Config, If, Peer, Vr
from weboslb.config.store import Store
from weboslb.config.validate import Limits, stateful_failover
from weboslb.engine.events import Conn, Why
from weboslb.engine.services import text
from weboslb.engine.switch import Switch
from weboslb.ha.node import HaPair, Node, Note, Snapshot
from weboslb.io.capture import Batch
from weboslb.io.replay import Options, Replayer, Result
from weboslb.io.scenario import Event
from weboslb.proto import cdecode
from weboslb.report.failover import ConnKey, Switchover, section
from weboslb.report.ledger import Ledger
from weboslb.report.summary import PBINDS, RunFacts, summarize

TICK = 0.1  # seconds of capture time between pair steps while frames flow
IDLE = 0.5  # ... at most, when none flows (the mirror's heartbeat is 1 s)
EPS = 1e-6
SETTLE = 60.0  # seconds the clock runs on after the capture for a takeover under way
A_PRIORITY, B_PRIORITY = 200, 100  # derived virtual routers (as configs/ha-a.yaml, ha-b.yaml)
LINK_IF = 250  # the interface a derived pair adds when the config has none
FAILED = "switch-failed"  # a connection's state when the switch serving it failed
_PROTO = {6: "tcp", 17: "udp"}


class PairError(Exception):
    """The pair cannot be built from the configs: one line for the user."""


@dataclass(frozen=True, slots=True)
class PairSetup:
    a: Config
    b: Config
    notes: tuple[str, ...]  # how B (and A's HA part) was derived; empty when B was given
    stateful: bool
    why_not: tuple[str, ...]  # why stateful failover is off
    override: int | None = None  # --update: /cfg/slb/sync/update on both, whatever the config

    @property
    def update(self) -> int:
        return self.a.slb.sync.update

    @property
    def mode(self) -> str:
        return "off" if not self.stateful else "immediate" if self.update == 0 else "periodic"


# ---- the pair's configs ---------------------------------------------------------------------

def pair_configs(a: Config, b: Config | None = None, *, update: int | None = None
                 ) -> PairSetup:
    """A's and B's configs.  Without ``b``, B is derived from A as ``/oper/slb/sync`` would
    push it: the same SLB config, B's own interface addresses, lower VRRP priorities, each
    switch the other's sync peer.  A config with no VRRP gets one virtual server router per
    VIP; one with no sync setup gets stateful failover when VMA, DAM and active-standby
    allow it.  ``update`` overrides ``/cfg/slb/sync/update`` on both (0: immediate)."""
    a = deepcopy(a)
    notes: list[str] = []
    if b is None:
        b = _derive(a, notes)
    else:
        b = deepcopy(b)
    if update is not None:
        a.slb.sync.update = b.slb.sync.update = update
    for name, cfg in (("A", a), ("B", b)):
        store = Store(Config())
        store.pending = cfg
        errors = [p for p in store.apply() if p.error]
        if errors:
            raise PairError(f"switch {name}'s config does not apply: {errors[0]}")
    why_not = []
    for name, cfg in (("A", a), ("B", b)):
        if not cfg.slb.sync.state:
            why_not.append(f"/cfg/slb/sync/state is disabled on {name}")
    if a.slb.sync.state and b.slb.sync.state and a.slb.sync.passphrs != b.slb.sync.passphrs:
        why_not.append("the sync passphrases differ: the mirror refuses the peer")
    return PairSetup(a, b, tuple(notes), not why_not, tuple(why_not), update)


def _derive(a: Config, notes: list[str]) -> Config:
    vrrp = a.l3.vrrp
    has_vrrp = vrrp.on and any(v.ena and v.vrid and v.addr for v in vrrp.vr.values())
    used = _addresses(a) - {p.addr for p in a.slb.sync.peer.values()}  # peers: B's own
    if not any(i.ena and i.addr and i.mask for i in a.l3.if_.values()):
        a.l3.if_[LINK_IF] = If(ena=True, addr="169.254.0.1", mask="255.255.0.0",
                               descr="HA pair (derived)")
        used.add("169.254.0.1")
        notes.append(f"A has no IP interface: added interface {LINK_IF} 169.254.0.1/16 "
                     f"(B: the next free address) for VRRP and the mirror")
    if not has_vrrp:
        _add_routers(a, notes)
    b = deepcopy(a)
    b_addr: dict[int, str] = {}
    peers = [p.addr for p in a.slb.sync.peer.values() if p.ena and p.addr]
    for k, itf in sorted(b.l3.if_.items()):
        if not (itf.ena and itf.addr and itf.mask):
            continue
        net = ipaddress.ip_network(f"{itf.addr}/{itf.mask}", strict=False)
        given = next((p for p in peers if ipaddress.ip_address(p) in net and p not in used),
                     None)  # A names B's address here: keep it
        itf.addr = given or _free(net, used)
        used.add(itf.addr)
        b_addr[k] = itf.addr
    for k, vr in b.l3.vrrp.vr.items():
        vr.prio = B_PRIORITY if vr.prio > B_PRIORITY else max(1, vr.prio - 1)
    first = min(b_addr)
    sync_a, sync_b = a.slb.sync, b.slb.sync
    if not sync_a.state and not any(p.ena for p in sync_a.peer.values()):
        probe = deepcopy(a)
        probe.slb.sync.state = True
        probe.slb.sync.peer = {1: Peer(addr=b_addr[first], ena=True)}
        blocked = [str(p) for p in stateful_failover(probe, Limits()) if p.error]
        if blocked:
            notes.append("stateful failover stays off: " + "; ".join(blocked))
        else:
            notes.append(f"A has no sync setup: stateful failover enabled "
                         f"(/cfg/slb/sync/state ena, update {sync_a.update})")
        sync_a.state = sync_b.state = not blocked
    if not any(p.ena and p.addr for p in sync_a.peer.values()):
        sync_a.peer = {1: Peer(addr=b_addr[first], ena=True)}
    sync_b.peer = {k: Peer(addr=_a_side(a, p.addr) if p.addr else None, ena=p.ena)
                   for k, p in sync_a.peer.items()}
    if b.sys.ssnmp.name:
        b.sys.ssnmp.name += "-b"
    notes.append("B derived from A as /oper/slb/sync would: the same SLB configuration, "
                 "interfaces " + ", ".join(f"{k} {v}" for k, v in sorted(b_addr.items()))
                 + ", VRRP priorities " + ", ".join(
                     f"vr {k} {b.l3.vrrp.vr[k].prio}" for k in sorted(b.l3.vrrp.vr))
                 + f", sync peer {sync_b.peer[min(sync_b.peer)].addr}")
    return b


def _add_routers(a: Config, notes: list[str]) -> None:
    """One virtual server router per VIP, on the interface whose subnet holds it."""
    vips = sorted({v.vip for v in a.slb.virt.values() if v.ena and v.vip},
                  key=lambda v: ipaddress.ip_address(v))
    if len(vips) > 255:
        raise PairError(f"{len(vips)} VIPs: too many to derive one VRRP router each (255)")
    nets = {k: ipaddress.ip_network(f"{i.addr}/{i.mask}", strict=False)
            for k, i in a.l3.if_.items() if i.ena and i.addr and i.mask}
    a.l3.vrrp.on = True
    a.l3.vrrp.vr = {}
    for n, vip in enumerate(vips, 1):
        itf = next((k for k, net in sorted(nets.items())
                    if net.version == ipaddress.ip_address(vip).version
                    and ipaddress.ip_address(vip) in net), min(nets))
        a.l3.vrrp.vr[n] = Vr(ena=True, vrid=n, if_=itf, prio=A_PRIORITY, addr=vip)
    notes.append(f"A has no VRRP: added {len(vips)} virtual server router"
                 f"{'s' * (len(vips) != 1)} (vrid 1..{len(vips)}, one per VIP), priority "
                 f"{A_PRIORITY} on A, {B_PRIORITY} on B")


def _addresses(c: Config) -> set[str]:
    out = {i.addr for i in c.l3.if_.values() if i.addr}
    out |= {v.vip for v in c.slb.virt.values() if v.vip}
    out |= {r.rip for r in c.slb.real.values() if r.rip}
    out |= {vr.addr for vr in c.l3.vrrp.vr.values() if vr.addr}
    out |= {p.addr for p in c.slb.sync.peer.values() if p.addr}
    return out


def _free(net, used: set[str]) -> str:
    for host in net.hosts():
        if str(host) not in used:
            return str(host)
    raise PairError(f"no free address left in {net} for switch B")


def _a_side(a: Config, peer: str) -> str:
    """A's own address on the subnet of ``peer`` (B's address): what B names as its peer."""
    ip = ipaddress.ip_address(peer)
    for itf in a.l3.if_.values():
        if itf.ena and itf.addr and itf.mask and \
                ip in ipaddress.ip_network(f"{itf.addr}/{itf.mask}", strict=False):
            return itf.addr
    return next(i.addr for i in a.l3.if_.values() if i.ena and i.addr)


# ---- the replay -----------------------------------------------------------------------------

@dataclass(slots=True)
class _Stop:
    """A switch stopped serving some VIPs: the start of a switchover, waiting for a taker."""

    at: float
    cause: str
    vips: set[bytes]  # still waiting for a switch to serve them
    in_flight: dict[ConnKey, str | None]
    handover: Snapshot
    unserved_from: int
    taken_by: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Route:
    """Where the frames go until the next step: one node (the one serving every VIP, or
    a live standby when none does: it drops them), nobody (both failed), or per VIP."""

    node: Node | None
    owners: dict[bytes, Node | None] = field(default_factory=dict)
    split: bool = False


class PairReplayer(Replayer):
    """The replay runner with an HA pair in place of one switch (module docstring)."""

    def __init__(self, setup: PairSetup, options: Options, *, events: list[Event] = (),
                 names: tuple[str, str] = ("", ""), seed: int = 0) -> None:
        opts = options
        def make(cfg: Config) -> Switch:
            return Switch(cfg, capacity=opts.capacity, seed=opts.seed)

        self.setup = setup
        a = Node("A", 1, setup.a, make_switch=make, seed=seed)
        b = Node("B", 2, setup.b, make_switch=make, seed=seed)
        self.pair = HaPair(a, b, seed=seed)
        super().__init__(a.switch, options)
        self.names = names
        self.events = list(events)
        self.ledgers = {"A": Ledger(), "B": Ledger()}
        self.clock = 0.0
        self.unserved = 0  # frames to a VIP while nobody served it
        self.no_switch = 0  # frames while both switches were down
        self.drops: dict[ConnKey, float] = {}
        self.switchovers: list[Switchover] = []
        self.applied: list[dict] = []  # the events as they happened
        self.warnings: list[str] = []
        self._queue: list[tuple[float, Event]] = []
        self._route = _Route(None)
        self._served: dict[str, frozenset[bytes]] = {}
        self._stops: dict[str, _Stop] = {}  # by the switch that stopped serving
        self._vips = a.vips | b.vips
        self._sampling = False
        self.labels = _labels(setup.a)

    # ---- the clock ------------------------------------------------------------------------------

    def _begin(self, t0: float) -> None:
        """Boot the pair before the first frame: VRRP elects A, the mirror syncs."""
        hold = max(self.setup.a.l3.vrrp.holdoff, self.setup.b.l3.vrrp.holdoff)
        adver = max((v.adver for c in (self.setup.a, self.setup.b)
                     for v in c.l3.vrrp.vr.values()), default=1)
        self.clock = t0 - (hold + 4 * adver + 3)
        self._next_sample = t0 + self.opts.step
        self.pair.start(self.clock)
        self._watch(self.clock)
        self._queue = [(t0 + e.at, e) for e in self.events]
        while True:
            due = self._due(t0)
            if due >= t0:
                break
            self._advance(due)
        self._advance(t0)
        self._sampling = True

    def _due(self, next_frame: float) -> float:
        step = TICK if next_frame - self.clock < TICK else IDLE
        due = self.clock + step
        deadline = self.pair.deadline(self.clock)
        if deadline is not None:
            due = min(due, deadline)
        if self._queue:
            due = min(due, self._queue[0][0])
        if self._sampling:
            due = min(due, self._next_sample)
        return max(due, self.clock + EPS)

    def _advance(self, t: float) -> None:
        """The clock moves to ``t``: the pair's timers, then the events due, then samples."""
        self.clock = t
        self.pair.step(t)
        while self._queue and self._queue[0][0] <= t:
            self._apply(self._queue.pop(0)[1], t)
        self._watch(t)
        if self._sampling and t >= self._next_sample:
            self._sample(t)
            while self._next_sample <= t:
                self._next_sample += self.opts.step

    def _end(self) -> None:
        """Events after the last frame still happen (the log and the switchovers show them)."""
        if self.first is None:
            return
        self._sampling = False  # the timeline ends with the capture
        while self._queue:
            self._advance(self._due(self._queue[0][0]))
        settle = self.clock + SETTLE
        while self._stops and self.clock < settle:  # a takeover under way
            self._advance(self._due(settle))

    # ---- frames ---------------------------------------------------------------------------------

    def _run(self, batch: Batch, start: int, stop: int, link: int, views) -> None:
        times = batch.times
        while start < stop:
            due = self._due(times[start])
            cut = bisect_left(times, due, start, stop)
            if cut > start:
                self._deliver(batch, start, cut, link)
                self._collect()
            if cut < stop:
                self._advance(due)
            start = cut

    def _deliver(self, batch: Batch, start: int, stop: int, link: int) -> None:
        route = self._route
        if route.split:
            self._split(batch, start, stop, link)
        elif route.node is None:
            self.no_switch += stop - start
            self._note_drops(batch, range(start, stop), link)
        else:
            self._process(route.node, batch, batch.offsets[start:stop],
                          batch.lengths[start:stop], batch.times[start:stop], link, start)

    def _process(self, node: Node, batch: Batch, offsets, lengths, times, link: int,
                 first: int | None = None, index=None) -> None:
        res = node.switch.process_batch(batch.buf, offsets, lengths, times, link)
        self.fast += res.fast
        whys = res.whys
        gap = whys.count(Why.STANDBY)
        self.unserved += gap
        if gap or Why.NO_SESSION in whys:
            idx = [i for i, w in enumerate(whys) if w in (Why.STANDBY, Why.NO_SESSION)]
            self._note_drops(batch, [first + i if index is None else index[i] for i in idx],
                             link)

    def _split(self, batch: Batch, start: int, stop: int, link: int) -> None:
        """VIPs served by different switches (or some by none): route frame by frame."""
        recs = cdecode.decode_many(batch.buf, batch.offsets[start:stop],
                                   batch.lengths[start:stop], link)
        owners, default = self._route.owners, self._route.node
        groups: dict[str, list[int]] = {}
        nodes = {n.name: n for n in self.pair.nodes}
        for i in range(stop - start):
            p = cdecode.to_packet(recs[i])
            vip = p.dst if p.dst in owners else p.src if p.src in owners else None
            node = default if vip is None else owners[vip] or self._standby_target()
            if node is None:
                self.no_switch += 1
                continue
            groups.setdefault(node.name, []).append(start + i)
        for name, idx in groups.items():
            self._process(nodes[name], batch, _take(batch.offsets, idx),
                          _take(batch.lengths, idx), _take(batch.times, idx), link, index=idx)

    def _note_drops(self, batch: Batch, idx, link: int) -> None:
        """The connections whose frames were dropped (a failover breaks them): decoded here,
        for the few frames that are."""
        for i in idx:
            p = cdecode.decode(batch.frame(i), link)
            if p.family == 0 or p.proto not in _PROTO:
                continue
            if p.dst in self._vips:
                key = (text(p.src), p.sport, text(p.dst), p.dport, _PROTO[p.proto])
            elif p.src in self._vips:
                key = (text(p.dst), p.dport, text(p.src), p.sport, _PROTO[p.proto])
            else:
                continue
            self.drops[key] = batch.times[i]

    def _collect(self) -> None:
        for n in self.pair.nodes:
            self.ledgers[n.name].feed(n.switch.drain())

    # ---- the pair's state -----------------------------------------------------------------------

    def _standby_target(self) -> Node | None:
        """Who gets the frames nobody serves: a live switch (it drops them, standby)."""
        return next(self.pair.live(), None)

    def _watch(self, t: float) -> None:
        """After every step: where frames go now, and whether the serving switch changed."""
        owners = self.pair.owners()
        distinct = set(owners.values())
        if len(distinct) == 1:
            (only,) = distinct
            self._route = _Route(only or self._standby_target())
        else:
            served = [n for n in owners.values() if n is not None]
            self._route = _Route(served[0] if served else self._standby_target(),
                                 owners=owners, split=True)
            if len(set(served)) > 1 and not self.warnings:
                self.warnings.append(
                    f"from {t - (self.first or t):.2f} s both switches served VIPs at once "
                    f"(each the VRRP master of some): active-active, which stateful "
                    f"failover does not support; the mirror stalls (split brain)")
        served = {n.name: n.served for n in self.pair.nodes}
        if served == self._served:
            return
        self._collect()
        for node in self.pair.nodes:
            lost = self._served.get(node.name, frozenset()) - served[node.name]
            if lost:
                self._stopped(node, lost, t)
        for node in self.pair.nodes:
            gained = served[node.name] - self._served.get(node.name, frozenset())
            for old, stop in list(self._stops.items()):
                if not stop.vips & gained:
                    continue  # (the first election takes VIPs nobody served before)
                if node.name not in stop.taken_by:
                    stop.taken_by.add(node.name)
                    self.switchovers.append(Switchover(
                        old, node.name, stop.cause, stop.at, t, stop.handover,
                        node.snapshot(t), stop.in_flight, self.unserved - stop.unserved_from))
                stop.vips -= gained
                if not stop.vips:
                    del self._stops[old]
        self._served = served

    def _stopped(self, node: Node, lost: frozenset[bytes], t: float) -> None:
        """``node`` stopped serving ``lost``: note what was in flight to them, its table."""
        ledger = self.ledgers[node.name]
        in_flight = {_conn_key(c): row.real for c, row in ledger.open_rows().items()
                     if c.vip in lost}
        h = node.handover
        handover = h if h is not None and h.ts == t else node.snapshot(t, handing_over=True)
        cause = f"{node.name} failed" if node.failed else _last_vrrp(node, node.name)
        stop = self._stops.get(node.name)
        if stop is None:
            self._stops[node.name] = _Stop(t, cause, set(lost), in_flight, handover,
                                           self.unserved)
        else:
            stop.vips |= lost
            stop.in_flight.update(in_flight)

    def _apply(self, e: Event, t: float) -> None:
        pair = self.pair
        what = e.describe()
        if e.event == "fail":
            node = pair.node(e.switch) if e.switch else next(
                (n for n in pair.nodes if n.served), pair.nodes[0])
            what = f"fail {node.name}"
            self._collect()
            pair.fail(node, t)
            self._watch(t)  # what was in flight, before the switch's connections end
            self.ledgers[node.name].finish(lambda conn: FAILED)
        elif e.event == "recover":
            failed = [n for n in pair.nodes if n.failed]
            node = pair.node(e.switch) if e.switch else (failed[0] if failed else None)
            if node is None:
                what = "recover: no switch is failed (ignored)"
            else:
                what = f"recover {node.name}"
                pair.recover(node, t)
        elif e.event in ("real-down", "real-up"):
            nodes = [pair.node(e.switch)] if e.switch else list(pair.nodes)
            up = e.event == "real-up"
            done = [n.set_real(_real_id(n.config, e.real), up, t) for n in nodes]  # each one
            if not all(done):
                what += " (no such real in the config: ignored)"
        elif e.event == "link-down":
            pair.link_down(t)
        elif e.event == "link-up":
            pair.link_heal(t)
        elif e.event == "config":
            if e.switch:
                pair.node(e.switch).apply(e.config, t)
            else:
                cfgs = pair_configs(e.config, update=self.setup.override)
                pair.nodes[0].apply(cfgs.a, t)
                pair.nodes[1].apply(cfgs.b, t)
            self._vips = pair.nodes[0].vips | pair.nodes[1].vips
        if self.last is not None and t > self.last:
            what += " (after the last frame)"
        self.applied.append({"at": round(t - self.first, 6), "event": what})

    # ---- figures --------------------------------------------------------------------------------

    def _switches(self) -> list[tuple[str, Switch, bool]]:
        """Every switch that ran: (node, switch, still running)."""
        out = []
        for n in self.pair.nodes:
            out += [(n.name, sw, False) for sw in n.retired]
            out.append((n.name, n.switch, not n.failed))
        return out

    def _sample(self, t: float) -> None:
        reals = list(self.switch.services.reals)
        sessions = dict.fromkeys((str(r) for r in reals), 0)
        new = hit = 0
        for _, sw, running in self._switches():
            counts = sw.counts
            new += sum(counts.get("persistence new " + m, 0) for m in PBINDS)
            hit += sum(counts.get("persistence hits " + m, 0) for m in PBINDS)
            if running:
                for rid in sw.services.reals:
                    st = sw.farm.real_stats(rid)
                    if st and str(rid) in sessions:
                        sessions[str(rid)] += st.current
        serving = next((n for n in self.pair.nodes if n.served), None)
        entries = len(serving.switch.persistence) if serving is not None else 0
        self.timeline.add(t - (self.first or t), sessions, entries, new, hit)
        self.timeline.add_extra("table_entries_by_switch", {
            n.name: 0 if n.failed else len(n.switch.persistence) for n in self.pair.nodes})

    def _report(self, facts: RunFacts) -> dict:
        self._collect()
        for n in self.pair.nodes:
            self.ledgers[n.name].finish(lambda conn, sw=n.switch: _state(sw, conn))
        rows = sorted((row.as_json() | {"switch": name}
                       for name, ledger in self.ledgers.items() for row in ledger.rows),
                      key=lambda r: r["first_ts"])
        serving = next((n for n in self.pair.nodes if n.served), None) or \
            next(self.pair.live(), self.pair.nodes[0])
        self.switch = serving.switch
        summary = summarize(self.switch, facts, len(rows))
        _merge(summary, [(summarize(sw, facts, 0), running)
                         for _, sw, running in self._switches()])
        if self.no_switch:
            summary["verdicts"]["drop"] += self.no_switch
            summary["reasons"]["no_live_switch"] = self.no_switch
        first, last = facts.first_ts or 0.0, facts.last_ts or 0.0
        report = {"summary": summary, "connections": rows,
                  "timeline": self.timeline.as_json()}
        report["failover"] = section(
            switchovers=self.switchovers, rows=rows, drops=self.drops, labels=self.labels,
            first_ts=first, last_ts=last, setup=self._setup_json(), events=self.applied,
            notes=[n for node in self.pair.nodes for n in node.notes],
            mirror=self._mirror_json(), unserved=self.unserved + self.no_switch,
            mode=self.setup.mode, update=self.setup.update)
        return report

    def _setup_json(self) -> dict:
        s = self.setup
        a_name, b_name = self.names
        return {
            "A": {"config": a_name or "embedded default",
                  "name": s.a.sys.ssnmp.name},
            "B": {"config": b_name or "derived from A", "name": s.b.sys.ssnmp.name},
            "notes": list(s.notes),
            "stateful": s.stateful,
            "why_not": list(s.why_not),
            "warnings": self.warnings,
        }

    def _mirror_json(self) -> dict:
        out = {}
        for n in self.pair.nodes:
            m = n.mirror
            if m is None:
                continue
            st = m.stats
            out[n.name] = {"role": m.role.name.lower(), "state": m.state.value,
                           "sent": st.sent, "bulk_sent": st.bulk_sent, "acked": st.acked,
                           "applied": st.applied, "bulk_applied": st.bulk_applied,
                           "retransmits": st.retransmits, "sessions": st.sessions,
                           "bytes_out": st.bytes_out}
        return out


def pair_replay(setup: PairSetup, paths: list[str], *, names: tuple[str, str] = ("", ""),
                events: list[Event] = (), options: Options | None = None) -> Result:
    opts = options or Options()
    if opts.out_pcap is not None:
        raise PairError("--out-pcap shows one switch's sides: not with an HA pair")
    return PairReplayer(setup, opts, events=list(events), names=names).run(
        paths, names[0] or "embedded default")


def check_events(events: list[Event], setup: PairSetup, source: str) -> None:
    """Events that name what the configs do not have: ``PairError`` naming the line."""
    for e in events:
        if e.real is None:
            continue
        for name, cfg in (("A", setup.a), ("B", setup.b)):
            if e.switch in (None, name) and _real_id(cfg, e.real) not in cfg.slb.real:
                raise PairError(f"{source}:{e.line}: real {e.real} is not in switch {name}'s "
                                f"config (/cfg/slb/real)")


def failover_event(at: float) -> Event:
    """``--failover-at T``: the switch serving at T fails."""
    return Event(at, "fail")


# ---- helpers ------------------------------------------------------------------------------------

def _labels(config: Config) -> dict[tuple[str, int], str]:
    """(vip, vport) -> the service's pbind name as the failover matrix shows it."""
    out = {}
    for virt in config.slb.virt.values():
        if not virt.vip:
            continue
        for vport, svc in virt.service.items():
            pb = svc.pbind
            if pb.mode == "cookie":
                name = f"cookie {pb.cookie}"
            elif pb.mode != "disable":
                name = pb.mode
            elif svc.httpslb in ("urlhash", "host"):
                name = "urlhash"
            else:
                name = "ftp" if svc.ftp else "none"
            out[(virt.vip, vport)] = name
    return out


def _take(column: array, idx: list[int]) -> array:
    return array(column.typecode, (column[i] for i in idx))


def _conn_key(c: Conn) -> ConnKey:
    return (text(c.cip), c.cport, text(c.vip), c.vport, _PROTO.get(c.proto, str(c.proto)))


def _state(switch: Switch, conn: Conn) -> str | None:
    s = switch.sessions.get(conn)
    return None if s is None else s.state.value


def _last_vrrp(node: Node, name: str) -> str:
    note: Note | None = next((n for n in reversed(node.notes) if n.text.startswith("VRRP")),
                             None)
    return f"{name} stepped down: {note.text}" if note is not None else f"{name} stopped serving"


def _real_id(config: Config, real: str):
    """The config's id for a real written in a scenario (ids may be numbers or names)."""
    for rid in config.slb.real:
        if str(rid) == real:
            return rid
    return real


def _merge(summary: dict, parts: list[tuple[dict, bool]]) -> None:
    """Both switches' counters (and those of earlier lives) into one summary."""
    summary["verdicts"] = {k: sum(p["verdicts"].get(k, 0) for p, _ in parts)
                           for k in summary["verdicts"]}
    reasons: dict[str, int] = {}
    persistence: dict[str, dict[str, int]] = {}
    for p, _ in parts:
        for k, n in p["reasons"].items():
            reasons[k] = reasons.get(k, 0) + n
        for mode, c in p["persistence"].items():
            agg = persistence.setdefault(mode, {"new": 0, "hit": 0})
            agg["new"] += c["new"]
            agg["hit"] += c["hit"]
    summary["reasons"] = dict(sorted(reasons.items()))
    summary["persistence"] = {m: persistence[m] for m in PBINDS if m in persistence}
    summary["layer7"] = {k: sum(p["layer7"][k] for p, _ in parts) for k in summary["layer7"]}
    for rid, r in summary["reals"].items():
        r["sessions"] = sum(p["reals"].get(rid, {}).get("sessions", 0) for p, _ in parts)
        r["bytes"] = sum(p["reals"].get(rid, {}).get("bytes", 0) for p, _ in parts)
        r["current"] = sum(p["reals"].get(rid, {}).get("current", 0) for p, run in parts
                           if run)

