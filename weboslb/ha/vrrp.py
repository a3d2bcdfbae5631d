"""VRRP as Web OS runs it: RFC 3768 virtual routers (init / backup / master, priority,
preemption, advertisement interval, master-down interval = 3 x adver + skew with skew =
(256 - priority) / 256), plus the Alteon extensions the reference describes (§6):

* priority tracking: each enabled ``/cfg/l3/vrrp/vr N/track`` criterion adds its
  ``/cfg/l3/vrrp/track`` increment once per tracked item (virtual routers in master mode,
  active IP interfaces, active ports on the VLAN, Layer 4 ports, healthy real servers, HSRP
  ports), capped at 254; the address owner is always 255; tracking does nothing with
  ``share ena``;
* virtual server routers (``addr`` is a VIP): only the master serves the VIP;
* ``/oper/vrrp/back``: the master advertises priority 0 once and becomes backup, and the
  router does not preempt while the new master lives [I: the guides say "temporarily"];
* ``holdoff``: routers wait that many seconds after start before joining the election.

Sans-IO: advertisements in through ``receive(message, src, now)``, out through
``adverts_to_send()``, timers through ``tick(now)``; ``master_vips()`` says what this switch
serves.  Hot-standby groups are not modelled.
"""
from __future__ import annotations

import enum
import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from weboslb.config.model import Config
from weboslb.ha.advert import VRRP_TTL, Advert, VrrpError
from weboslb.ha.events import VrrpTransition

TRACK_CRITERIA = ("vrs", "ifs", "ports", "l4pts", "reals", "hsrp", "hsrv")
OWNER_PRIORITY = 255
MAX_RENTER_PRIORITY = 254


class VrState(enum.Enum):
    INIT = "init"
    HOLDOFF = "holdoff"
    BACKUP = "backup"
    MASTER = "master"


@dataclass(frozen=True, slots=True)
class Increments:
    """``/cfg/l3/vrrp/track``: the priority added per tracked item (0..254).  The defaults
    are the Alteon OS ones (2 each; HSRP 10 [M])."""

    vrs: int = 2
    ifs: int = 2
    ports: int = 2
    l4pts: int = 2
    reals: int = 2
    hsrp: int = 10
    hsrv: int = 10

    def __post_init__(self) -> None:
        for name in TRACK_CRITERIA:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 254:
                raise ValueError(f"/cfg/l3/vrrp/track {name} {v!r} out of range 0..254")


@dataclass(frozen=True, slots=True)
class RouterSpec:
    """One ``/cfg/l3/vrrp/vr`` as the state machine needs it."""

    index: int
    vrid: int
    addr: str
    prio: int = 100
    adver: int = 1
    preem: bool = True
    share: bool = False
    track: frozenset[str] = frozenset()
    primary: str = "0.0.0.0"  # the address of the router's IP interface (tie-breaks)
    server: bool = False  # a virtual server router: addr is a VIP

    @property
    def owner(self) -> bool:
        return self.addr == self.primary


@dataclass(slots=True)
class Router:
    spec: RouterSpec
    state: VrState = VrState.INIT
    master_down_at: float | None = None
    adver_at: float | None = None
    holdoff_until: float | None = None
    forced_backup: bool = False
    master: str | None = None  # the current master's address, as last heard
    master_priority: int | None = None
    priority: int = 0  # effective priority (tracking applied)


@dataclass(frozen=True, slots=True)
class VrInfo:
    """One row of ``/info/l3/vrrp``."""

    index: int
    vrid: int
    addr: str
    state: str
    owner: bool
    server: bool
    priority: int
    master: str | None


@dataclass(slots=True)
class _Tracked:
    ifs: int = 0
    l4pts: int = 0
    per_vr: dict[str, dict[int, int]] = field(
        default_factory=lambda: {"ports": {}, "reals": {}, "hsrp": {}, "hsrv": {}})


def _ip(addr: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(addr)
    except ValueError:
        return ipaddress.IPv4Address(0)


class Vrrp:
    """Every virtual router of one switch."""

    def __init__(self, routers: Iterable[RouterSpec], *, increments: Increments = Increments(),
                 holdoff: int = 0, vips: Mapping[str, Sequence[int]] | None = None) -> None:
        self.routers: dict[int, Router] = {}
        for spec in routers:
            if spec.index in self.routers:
                raise ValueError(f"/cfg/l3/vrrp/vr {spec.index} given twice")
            if not 1 <= spec.vrid <= 255 or not 1 <= spec.adver <= 255 or \
                    not 1 <= spec.prio <= MAX_RENTER_PRIORITY:
                raise ValueError(f"/cfg/l3/vrrp/vr {spec.index}: vrid, adver or prio out of "
                                 f"range")
            unknown = spec.track - set(TRACK_CRITERIA)
            if unknown:
                raise ValueError(f"/cfg/l3/vrrp/vr {spec.index}/track: unknown {unknown}")
            self.routers[spec.index] = Router(spec)
        self.by_vrid = {r.spec.vrid: r for r in self.routers.values()}
        if len(self.by_vrid) != len(self.routers):
            raise ValueError("two virtual routers share a vrid")
        self.increments = increments
        self.holdoff = holdoff
        self.vips = {vip: tuple(idx) for vip, idx in (vips or {}).items()}
        self.stats: Counter[str] = Counter()
        self._tracked = _Tracked()
        self._out: list[tuple[str, bytes]] = []
        self._events: list[VrrpTransition] = []
        self._update_priorities()

    @classmethod
    def from_config(cls, config: Config, *, increments: Increments = Increments()) -> Vrrp:
        """The virtual routers of a (validated) configuration: enabled ones with a vrid and
        an address; VIPs covered as by ``validate`` (addr = VIP, or the interface subnet)."""
        vrrp = config.l3.vrrp
        vips = [v.vip for v in config.slb.virt.values() if v.ena and v.vip]
        specs, nets = [], {}
        for k, vr in (vrrp.vr.items() if vrrp.on else ()):
            if not vr.ena or vr.vrid is None or vr.addr is None:
                continue
            itf = config.l3.if_.get(vr.if_) if vr.if_ is not None else None
            primary = itf.addr if itf is not None and itf.addr else "0.0.0.0"
            if itf is not None and itf.addr and itf.mask:
                try:
                    nets[k] = ipaddress.ip_network(f"{itf.addr}/{itf.mask}", strict=False)
                except ValueError:
                    pass
            specs.append(RouterSpec(
                index=k, vrid=vr.vrid, addr=vr.addr, prio=vr.prio, adver=vr.adver,
                preem=vr.preem, share=vr.share, primary=primary, server=vr.addr in vips,
                track=frozenset(n for n in TRACK_CRITERIA if getattr(vr.track, n))))
        cover: dict[str, list[int]] = {}
        for vip in vips:
            cover[vip] = [s.index for s in specs if s.addr == vip] or \
                [s.index for s in specs if s.index in nets and _ip(vip) in nets[s.index]]
        return cls(specs, increments=increments, holdoff=vrrp.holdoff, vips=cover)

    # ---- inputs ---------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Leave INIT: after ``holdoff`` seconds, owners become master, renters backup."""
        for r in self.routers.values():
            if self.holdoff:
                self._set(r, VrState.HOLDOFF, now, "start")
                r.holdoff_until = now + self.holdoff
            else:
                self._startup(r, now)

    def stop(self, now: float) -> None:
        """Shut down: masters hand over at once (priority 0), every router returns to INIT."""
        for r in self.routers.values():
            if r.state is VrState.MASTER:
                self._advertise(r, 0)
            r.master_down_at = r.adver_at = r.holdoff_until = None
            self._set(r, VrState.INIT, now, "shutdown")

    def tick(self, now: float) -> None:
        self._update_priorities()
        for r in self.routers.values():
            if r.state is VrState.HOLDOFF and now >= r.holdoff_until:
                self._startup(r, now)
            elif r.state is VrState.BACKUP and now >= r.master_down_at:
                r.forced_backup = False
                self._to_master(r, now, "master down")
            elif r.state is VrState.MASTER and now >= r.adver_at:
                self._advertise(r, r.priority)
                r.adver_at = now + r.spec.adver

    def receive(self, message: bytes, src: str, now: float, *, ttl: int = VRRP_TTL) -> None:
        """One advertisement heard on the segment (``src``: the IP source address)."""
        self.stats["received"] += 1
        if ttl != VRRP_TTL:
            self.stats["dropped ttl"] += 1
            return
        try:
            adv = Advert.decode(message)
        except VrrpError as e:
            self.stats[f"dropped {e.reason}"] += 1
            return
        r = self.by_vrid.get(adv.vrid)
        if r is None:
            self.stats["dropped unknown vrid"] += 1
            return
        if src == r.spec.primary:
            return  # our own advertisement, looped back
        if adv.adver != r.spec.adver:
            self.stats["dropped adver mismatch"] += 1  # RFC 3768 §7.1: MUST discard
            return
        if r.spec.addr not in adv.addrs and adv.priority != OWNER_PRIORITY:
            self.stats["dropped addr mismatch"] += 1
            return
        self._update_priorities()
        mine = r.priority
        if r.state is VrState.MASTER:
            if adv.priority == 0:
                self._advertise(r, mine)
                r.adver_at = now + r.spec.adver
            elif adv.priority > mine or (adv.priority == mine and _ip(src) > _ip(r.spec.primary)):
                r.master, r.master_priority = src, adv.priority
                self._to_backup(r, now, f"higher priority {adv.priority} from {src}")
        elif r.state is VrState.BACKUP:
            if adv.priority == 0:
                r.master_down_at = now + self._skew(r)
            elif not self._preempts(r) or adv.priority >= mine:
                r.master, r.master_priority = src, adv.priority
                r.master_down_at = now + self._master_down(r)
            # else: a lower-priority master and we preempt: let the master-down timer run

    def back(self, index: int, now: float) -> None:
        """``/oper/vrrp/back <vr>``: give up mastership and stay backup while a master lives."""
        r = self._router(index)
        r.forced_backup = True
        if r.state is VrState.MASTER:
            self._advertise(r, 0)
            self._to_backup(r, now, "/oper/vrrp/back")

    def track(self, *, ifs: int | None = None, l4pts: int | None = None,
              ports: Mapping[int, int] | None = None, reals: Mapping[int, int] | None = None,
              hsrp: Mapping[int, int] | None = None,
              hsrv: Mapping[int, int] | None = None) -> None:
        """The tracked counts: switch-wide (active IP interfaces, Layer 4 ports) and per
        virtual router index (active VLAN ports, healthy reals, HSRP ports)."""
        t = self._tracked
        if ifs is not None:
            t.ifs = ifs
        if l4pts is not None:
            t.l4pts = l4pts
        for name, value in (("ports", ports), ("reals", reals), ("hsrp", hsrp),
                            ("hsrv", hsrv)):
            if value is not None:
                t.per_vr[name].update(value)
        self._update_priorities()

    # ---- outputs --------------------------------------------------------------------------

    def adverts_to_send(self) -> list[tuple[str, bytes]]:
        """(source address, VRRP message) pairs, to 224.0.0.18 with TTL 255."""
        out, self._out = self._out, []
        return out

    def drain_events(self) -> list[VrrpTransition]:
        out, self._events = self._events, []
        return out

    def state(self, index: int) -> VrState:
        return self._router(index).state

    def priority(self, index: int) -> int:
        self._update_priorities()
        return self._router(index).priority

    def master_down_interval(self, index: int) -> float:
        r = self._router(index)
        self._update_priorities()
        return self._master_down(r)

    def master_vips(self) -> set[str]:
        """The VIPs this switch serves: a covering router is master (or shares)."""
        return {vip for vip, idx in self.vips.items()
                if any(self.routers[i].state is VrState.MASTER or self.routers[i].spec.share
                       for i in idx)}

    def serves(self, vip: str) -> bool:
        return vip in self.master_vips()

    def info(self) -> list[VrInfo]:
        self._update_priorities()
        return [VrInfo(k, r.spec.vrid, r.spec.addr, r.state.value, r.spec.owner,
                       r.spec.server, r.priority,
                       r.spec.primary if r.state is VrState.MASTER else r.master)
                for k, r in sorted(self.routers.items())]

    # ---- the machine ----------------------------------------------------------------------

    def _router(self, index: int) -> Router:
        r = self.routers.get(index)
        if r is None:
            raise ValueError(f"no virtual router {index} (/cfg/l3/vrrp/vr)")
        return r

    def _preempts(self, r: Router) -> bool:
        return (r.spec.preem or r.spec.owner) and not r.forced_backup

    def _skew(self, r: Router) -> float:
        return (256 - r.priority) / 256

    def _master_down(self, r: Router) -> float:
        return 3 * r.spec.adver + self._skew(r)

    def _startup(self, r: Router, now: float) -> None:
        r.holdoff_until = None
        self._update_priorities()
        if r.priority == OWNER_PRIORITY:
            self._to_master(r, now, "address owner")
        else:
            r.master_down_at = now + self._master_down(r)
            self._set(r, VrState.BACKUP, now, "start")

    def _to_master(self, r: Router, now: float, why: str) -> None:
        r.master_down_at = None
        r.master, r.master_priority = r.spec.primary, None
        self._set(r, VrState.MASTER, now, why)
        self._update_priorities()
        self._advertise(r, r.priority)
        r.adver_at = now + r.spec.adver

    def _to_backup(self, r: Router, now: float, why: str) -> None:
        r.adver_at = None
        self._set(r, VrState.BACKUP, now, why)
        self._update_priorities()
        r.master_down_at = now + self._master_down(r)

    def _set(self, r: Router, state: VrState, now: float, why: str) -> None:
        if r.state is not state:
            self._events.append(VrrpTransition(now, r.spec.index, r.spec.vrid, r.state.value,
                                               state.value, why))
            r.state = state

    def _advertise(self, r: Router, priority: int) -> None:
        self.stats["sent"] += 1
        self._out.append((r.spec.primary, Advert(r.spec.vrid, priority, r.spec.adver,
                                                 (r.spec.addr,)).encode()))

    def _update_priorities(self) -> None:
        masters = sum(r.state is VrState.MASTER for r in self.routers.values())
        t, inc = self._tracked, self.increments
        for k, r in self.routers.items():
            s = r.spec
            if s.owner:
                r.priority = OWNER_PRIORITY
                continue
            p = s.prio
            if not s.share:
                for name in s.track:
                    if name == "vrs":
                        n = masters - (r.state is VrState.MASTER)
                    elif name in ("ifs", "l4pts"):
                        n = getattr(t, name)
                    else:
                        n = t.per_vr[name].get(k, 0)
                    p += getattr(inc, name) * n
            r.priority = min(p, MAX_RENTER_PRIORITY)
