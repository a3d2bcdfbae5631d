"""Config sync (``/oper/slb/sync``, reference §5.2, §6.4): what a switch sends when it pushes its
configuration to its peer, and what the peer's configuration becomes when it receives one.

Web OS pushes "the SLB, filter and VRRP configuration"; the pusher's ``/cfg/slb/sync`` options
say what else travels: ``prios`` (VRRP priorities), ``pips`` (proxy IPs), ``ports`` (the SLB
port settings, ``/cfg/slb/port``), ``filt`` (filters), ``certs`` (SSL certificates), ``if``
(IP interfaces) and ``gw`` (gateways).  What does not travel stays as the receiver has it: the
system section, the sync section (each switch names the other as its peer; the passphrase is
never sent), and everything outside SLB, filters and VRRP (ports, VLANs, routes, users).
With ``prios d`` each router keeps this switch's priority; a router new here gets one as far
from the pusher's as this switch's other routers are [I].

Pure: configurations in, a configuration and notes out.  The payload is the Alteon dump text
(``render``/``parse``), so a push reads like a ``/cfg/dump``.
"""
from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

from weboslb.config import dump
from weboslb.config.model import Config, If, Port, Slb, Sync
from weboslb.config.syntax import split_steps, tokenize

HEADER_COMMENT = "pushed by /oper/slb/sync"
NEW_PRIO = 100  # a router new here, with prios d and no router in common: the renter default

# verbatim sections (unmodelled ``/c/...`` blocks) by what governs them
SLB, FILT, CERTS, GW, LOCAL = "slb", "filt", "certs", "gw", "local"


class ConfigSyncError(ValueError):
    """A pushed configuration that cannot be read: one line for the log."""


@dataclass(frozen=True, slots=True)
class Options:
    """The pusher's ``/cfg/slb/sync`` options: what its push carries besides SLB and VRRP."""

    prios: bool
    pips: bool
    ports: bool
    filt: bool
    certs: bool
    if_: bool
    gw: bool

    @classmethod
    def of(cls, sync: Sync) -> Options:
        return cls(sync.prios, sync.pips, sync.ports, sync.filt, sync.certs, sync.if_, sync.gw)

    def takes(self, category: str) -> bool:
        return {SLB: True, FILT: self.filt, CERTS: self.certs, GW: self.gw}.get(category, False)


def category(block: str) -> str:
    """Which part of the configuration a verbatim section belongs to."""
    names, word = dump.block_slot(block)
    if names == ("cfg", "slb"):
        if word == "filt":
            return FILT
        if word == "ssl":
            steps = [(tokenize(s) or [""])[0] for s in split_steps(block.splitlines()[0])]
            return CERTS if "certs" in steps else SLB
        return SLB
    if names == ("cfg", "l3") and word in ("gw", "gw6"):
        return GW
    return LOCAL


def outgoing(config: Config) -> Config:
    """What a push carries: the synced parts of ``config`` and its sync options; nothing the
    receiver keeps local (system, users, its own peers, the passphrase, unsent certificates)."""
    opts = Options.of(config.slb.sync)
    out = Config()
    out.l3.vrrp = deepcopy(config.l3.vrrp)
    if opts.if_:
        out.l3.if_ = deepcopy(config.l3.if_)
    slb = deepcopy(config.slb)
    sync = config.slb.sync
    slb.sync = Sync(prios=sync.prios, pips=sync.pips, filt=sync.filt, ports=sync.ports,
                    certs=sync.certs, if_=sync.if_, gw=sync.gw)
    if not opts.ports:
        slb.port = {k: Port(pip=p.pip) for k, p in slb.port.items() if p.pip} \
            if opts.pips else {}
    elif not opts.pips:
        for p in slb.port.values():
            p.pip = None
    if not opts.pips:
        slb.pip.addrs = []
    out.slb = slb
    out.verbatim = [b for b in config.verbatim if opts.takes(category(b))]
    return out


def render(config: Config) -> str:
    """The push payload: ``outgoing(config)`` as a dump script."""
    name = config.sys.ssnmp.name
    return dump.write(outgoing(config),
                      (f"{HEADER_COMMENT} from {name}" if name else HEADER_COMMENT,))


def parse(text: str) -> Config:
    """A pushed payload back into a configuration; ``ConfigSyncError`` naming the line of the
    first error."""
    loaded = dump.read(text)
    if loaded.config is None or loaded.errors:
        first = (loaded.errors or loaded.problems)[0]
        where = f"line {first.line}: " if first.line else ""
        raise ConfigSyncError(f"pushed configuration, {where}{first}")
    return loaded.config


def received(local: Config, pushed: Config) -> tuple[Config, list[str]]:
    """The configuration a switch runs once its peer pushed ``pushed``: SLB, filters and VRRP
    from the pusher, the rest as the pusher's sync options say, everything else ``local``.
    The notes say what was taken and what was kept local.  Neither input is changed."""
    opts = Options.of(pushed.slb.sync)
    out = deepcopy(local)
    kept = ["system name", "the sync section (peers, passphrase, options)"]
    out.slb = _slb(local.slb, pushed.slb, opts, kept)
    notes: list[str] = []
    out.l3.vrrp = deepcopy(pushed.l3.vrrp)
    if not opts.prios:
        kept.append("VRRP priorities (sync prios d)")
        shift = _shift(local, pushed)
        for k, vr in sorted(out.l3.vrrp.vr.items()):
            mine = local.l3.vrrp.vr.get(k)
            if mine is not None:
                vr.prio = mine.prio
            else:
                vr.prio, why = _new_prio(vr.prio, shift)
                notes.append(f"vr {k} is new here: priority {vr.prio} ({why})")
    if opts.if_:
        out.l3.if_ = _interfaces(local.l3.if_, pushed.l3.if_, notes)
    else:
        kept.append("IP interfaces (sync if d)")
    taken = {c for c in (FILT, CERTS, GW) if opts.takes(c)}
    for c, what in ((FILT, "filters"), (CERTS, "certificates"), (GW, "gateways")):
        if c not in taken:
            kept.append(f"{what} (sync {c} d)")
    out.verbatim = dump.sort_blocks(
        [b for b in local.verbatim if not opts.takes(category(b))]
        + [b for b in pushed.verbatim if opts.takes(category(b))])
    slb = pushed.slb
    objects = ", ".join([_count(len(slb.real), "real"), _count(len(slb.group), "group"),
                         _count(len(slb.virt), "virtual server")])
    routers = _count(len(pushed.l3.vrrp.vr), "virtual router")
    parts = [f"SLB ({objects})", f"VRRP ({routers}{', priorities' if opts.prios else ''})"]
    parts += [w for c, w in ((FILT, "filters"), (CERTS, "certificates"), (GW, "gateways"))
              if c in taken]
    parts += [w for on, w in ((opts.pips, "proxy IPs"), (opts.ports, "SLB ports"),
                              (opts.if_, "IP interfaces")) if on]
    return out, ["taken from the peer: " + ", ".join(parts),
                 "kept local: " + ", ".join(kept), *notes]


def _slb(local: Slb, pushed: Slb, opts: Options, kept: list[str]) -> Slb:
    slb = deepcopy(pushed)
    slb.sync = deepcopy(local.sync)
    if not opts.ports:
        kept.append("SLB ports (sync ports d)")
        slb.port = deepcopy(local.port)
        if opts.pips:  # the ports stay, their proxy IPs follow the peer's
            for k, p in slb.port.items():
                p.pip = pushed.port[k].pip if k in pushed.port else None
            for k, p in pushed.port.items():
                if p.pip and k not in slb.port:
                    slb.port[k] = Port(pip=p.pip)
    elif not opts.pips:
        for k, p in slb.port.items():
            p.pip = local.port[k].pip if k in local.port else None
    if not opts.pips:
        kept.append("proxy IPs (sync pips d)")
        slb.pip = deepcopy(local.pip)
    return slb


def _shift(local: Config, pushed: Config) -> int | None:
    """How far this switch's priorities sit from the peer's, on the first router both have
    (None: none in common).  A router new here keeps that distance, so a backup stays backup
    of the new router too rather than winning it on an address tie [I]."""
    common = sorted(set(local.l3.vrrp.vr) & set(pushed.l3.vrrp.vr))
    if not common:
        return None
    k = common[0]
    return local.l3.vrrp.vr[k].prio - pushed.l3.vrrp.vr[k].prio


def _new_prio(theirs: int, shift: int | None) -> tuple[int, str]:
    """A router new on the receiver with ``prios d``: its priority, and why."""
    if shift is not None:
        return (min(254, max(1, theirs + shift)),
                f"the peer's {theirs} shifted by {shift:+d} as this switch's other routers are")
    return (NEW_PRIO if theirs > NEW_PRIO else max(1, theirs - 1),
            f"below the peer's {theirs}")


def _interfaces(local: dict[int, If], pushed: dict[int, If], notes: list[str]
                ) -> dict[int, If]:
    """``sync if e``: the peer's interfaces, each with this switch's address: the one the
    pusher names with ``/cfg/l3/if N/peer``, else the one this switch had.  The receiver's
    ``peer`` then names the pusher's address."""
    out: dict[int, If] = {}
    for k, itf in sorted(pushed.items()):
        named = _peer_addr(itf.extra)
        own = local.get(k)
        addr = named or (own.addr if own is not None else None)
        if itf.addr and addr is None:
            notes.append(f"interface {k} not taken: no address for this switch (the peer "
                         f"names none with /cfg/l3/if {k}/peer)")
            continue
        mine = deepcopy(itf)
        mine.addr = addr
        mine.extra = [e for e in itf.extra if _peer_addr([e]) is None]
        if named and itf.addr:
            mine.extra.append(f"peer {itf.addr}")
        out[k] = mine
    return out


def _peer_addr(extra: list[str]) -> str | None:
    for line in extra:
        words = tokenize(line)
        if len(words) == 2 and words[0] == "peer":
            return words[1]
    return None


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' * (n != 1)}"
