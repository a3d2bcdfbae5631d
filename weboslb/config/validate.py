"""Validation at ``apply``: every problem at once, each naming its menu path.

Three layers: what the command tree already knows (ranges, choices, index ranges, how many
objects a menu may hold); references (services -> groups -> reals, backups, interfaces); and the
Web OS rules that span menus: one service per VIP:port, DAM or a proxy IP for cookie and FTP
services, and stateful failover's preconditions (reference §5, §6): VMA on, an active-standby
VRRP setup over the VIPs, DAM for Layer 7 persistence, enabled peers with addresses.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from weboslb.config import dump
from weboslb.config.diag import Problem
from weboslb.config.menu import MAX_SERVICES_PER_VIRT, MAX_VIRTS, Field, Menu, Node, walk
from weboslb.config.model import Config, Service, Virt
from weboslb.config.syntax import split_steps, tokenize

DAM = "Direct Access Mode (/cfg/slb/adv/direct ena)"


@dataclass(frozen=True, slots=True)
class Limits:
    """Switch-wide caps the tree cannot express per menu (reference §7: the guides disagree
    on the total number of services, so it is a setting)."""

    services: int = MAX_VIRTS * MAX_SERVICES_PER_VIRT


def validate(config: Config, limits: Limits = Limits()) -> list[Problem]:
    """All problems of ``config``, in tree order then rule order; empty when it can apply."""
    problems: list[Problem] = []
    for node in walk(config):
        problems += _tree_rules(node)
    for rule in RULES:
        problems += rule(config, limits)
    return problems


# --- what the command tree knows ---------------------------------------------------------

SHOWN = 80  # characters of a value a message quotes; a longer one is cut (a message is a line)


def _render(fld: Field, value: Any) -> str:
    try:
        text = fld.arg.render(value) if fld.arg is not None else str(value)
    except (AttributeError, TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= SHOWN else f"{text[:SHOWN - 3]}..."


def _tree_rules(node: Node) -> Iterator[Problem]:
    menu, obj, path = node.menu, node.obj, node.path
    step = node.steps[-1]
    if menu.key is not None:
        for phrase in menu.key.check(step.key):
            yield Problem(f"{menu.key.noun} {step.key} {phrase}", path)
        for attr, arg in menu.key.carries:
            value = getattr(obj, attr)
            for phrase in arg.check(value) if value is not None else ():
                yield Problem(f"{attr} {value} {phrase}", path, attr)
    for fld in menu.fields:
        value = getattr(obj, fld.attribute)
        if fld.kind == "flag":
            if not isinstance(value, bool):
                yield Problem(f"{fld.name} must be true or false, not {value!r}", path,
                              fld.attribute)
            continue
        assert fld.arg is not None
        standalone = getattr(fld.arg, "standalone", False)
        for item in value if fld.kind == "list" else [value] if value is not None else []:
            for phrase in fld.arg.check(item):
                what = f"{fld.name}:" if standalone else f"{fld.name} {_render(fld, item)}"
                yield Problem(f"{what} {phrase}", path, fld.attribute)
    for sub in menu.menus:
        held = getattr(obj, sub.attribute)
        if sub.limit and len(held) > sub.limit:
            yield Problem(f"{len(held)} {sub.name} entries; at most {sub.limit}", path)
    if not menu.container:
        yield from _extra_rules(menu, obj.extra, path)


def _extra_rules(menu: Menu, extra: list[str], path: str) -> Iterator[Problem]:
    for text in extra:
        words = tokenize(split_steps(text)[0]) if isinstance(text, str) else []
        if not words or "\n" in text:
            yield Problem(f"unmodelled line {text!r} is not one command line", path, "extra")
        elif menu.resolve(words[0]).kind not in ("known", "unknown"):
            yield Problem(f"unmodelled line {text!r} sets a modelled command; set "
                          f"{words[0]!r} itself instead", path, "extra")


# --- rules across menus ------------------------------------------------------------------

Rule = Callable[[Config, Limits], list[Problem]]


def _virt_path(vid: Any) -> str:
    return f"/cfg/slb/virt {vid}"


def _services(config: Config) -> Iterator[tuple[Any, Virt, int, Service]]:
    for vid, virt in config.slb.virt.items():
        for vport, svc in virt.service.items():
            yield vid, virt, vport, svc


def required(config: Config, limits: Limits) -> list[Problem]:
    """Values without which an object cannot work."""
    out = []
    slb, l3 = config.slb, config.l3
    out += [Problem("rip is not set", f"/cfg/slb/real {k}", "rip")
            for k, r in slb.real.items() if r.rip is None]
    out += [Problem("vip is not set", _virt_path(k), "vip")
            for k, v in slb.virt.items() if v.vip is None]
    for k, vr in l3.vrrp.vr.items():
        out += [Problem(f"{attr} is not set", f"/cfg/l3/vrrp/vr {k}", attr)
                for attr in ("vrid", "addr") if getattr(vr, attr) is None]
    for k, itf in l3.if_.items():
        if itf.ena and itf.addr is None:
            out.append(Problem("addr is not set on an enabled interface", f"/cfg/l3/if {k}",
                               "addr"))
        if itf.addr is not None and itf.mask is None:
            out.append(Problem("mask is not set", f"/cfg/l3/if {k}", "mask"))
    out += [Problem("an enabled peer needs an address (addr)", f"/cfg/slb/sync/peer {k}",
                    "addr") for k, p in slb.sync.peer.items() if p.ena and p.addr is None]
    return out


def references(config: Config, limits: Limits) -> list[Problem]:
    """Services -> groups -> reals, and every backup and interface named."""
    slb, out = config.slb, []
    for vid, _virt, vport, svc in _services(config):
        if svc.group not in slb.group:
            out.append(Problem(f"group {svc.group} does not exist",
                               f"{_virt_path(vid)}/service {vport}", "group"))
    for gid, group in slb.group.items():
        path = f"/cfg/slb/group {gid}"
        out += [Problem(f"real {r} does not exist", path, "reals")
                for r in group.reals if r not in slb.real]
        b = group.backup
        if b is not None and b.id not in (slb.real if b.kind == "r" else slb.group):
            what = "real" if b.kind == "r" else "group"
            out.append(Problem(f"backup {b}: {what} {b.id} does not exist", path, "backup"))
        elif b is not None and b.kind == "g" and b.id == gid:
            out.append(Problem("backup: a group cannot back itself up", path, "backup"))
    for rid, real in slb.real.items():
        path = f"/cfg/slb/real {rid}"
        if real.backup is not None and real.backup not in slb.real:
            out.append(Problem(f"backup real {real.backup} does not exist", path, "backup"))
        elif real.backup == rid:
            out.append(Problem("backup: a real server cannot back itself up", path, "backup"))
    for k, vr in config.l3.vrrp.vr.items():
        if vr.if_ is not None and vr.if_ not in config.l3.if_:
            out.append(Problem(f"interface {vr.if_} does not exist", f"/cfg/l3/vrrp/vr {k}",
                               "if_"))
    return out


def uniqueness(config: Config, limits: Limits) -> list[Problem]:
    """One service per VIP:port, one virtual router per VRID, one interface per subnet."""
    out: list[Problem] = []
    owner: dict[tuple[str, int], Any] = {}
    count = 0
    for vid, virt, vport, _svc in _services(config):
        count += 1
        if virt.vip is None:
            continue
        first = owner.setdefault((virt.vip, vport), vid)
        if first != vid:
            out.append(Problem(f"{virt.vip}:{vport} is already served by {_virt_path(first)}",
                               f"{_virt_path(vid)}/service {vport}"))
    if count > limits.services:
        out.append(Problem(f"{count} virtual services; the switch holds at most "
                           f"{limits.services}", "/cfg/slb"))
    vrids: dict[int, int] = {}
    for k, vr in config.l3.vrrp.vr.items():
        if vr.vrid is not None:
            first_vr = vrids.setdefault(vr.vrid, k)
            if first_vr != k:
                out.append(Problem(f"vrid {vr.vrid} is already used by virtual router "
                                   f"{first_vr}", f"/cfg/l3/vrrp/vr {k}", "vrid"))
    nets: dict[Any, int] = {}
    for k, itf in config.l3.if_.items():
        net = _network(itf.addr, itf.mask)
        if itf.ena and net is not None:
            first_if = nets.setdefault(net, k)
            if first_if != k:
                out.append(Problem(f"IP interfaces {first_if} and {k} are on the same subnet",
                                   f"/cfg/l3/if {k}", "addr"))
    return out


def _network(addr: str | None, mask: str | None) -> Any:
    try:
        return ipaddress.ip_network(f"{addr}/{mask}", strict=False)
    except ValueError:
        return None


def dam_or_pip(config: Config, limits: Limits) -> list[Problem]:
    """Cookie and FTP load balancing rewrite the client side: DAM or a proxy IP must exist."""
    slb, out = config.slb, []
    if slb.adv.direct or slb.proxy_ips:
        return out
    for vid, _virt, vport, svc in _services(config):
        what = "cookie persistence" if svc.pbind.mode == "cookie" else \
            "FTP load balancing" if svc.ftp else ""
        if what and not svc.direct:
            out.append(Problem(f"{what} needs {DAM} or a proxy IP address (/cfg/slb/pip)",
                               f"{_virt_path(vid)}/service {vport}", "pbind"))
    return out


def _covers(config: Config, vr_key: int, vip: str) -> bool:
    """A virtual router covers a VIP as a virtual server router (addr = VIP) or through the
    subnet of its interface."""
    vr = config.l3.vrrp.vr[vr_key]
    if vr.addr == vip:
        return True
    itf = config.l3.if_.get(vr.if_) if vr.if_ is not None else None
    net = _network(itf.addr, itf.mask) if itf is not None else None
    try:
        return net is not None and ipaddress.ip_address(vip) in net
    except ValueError:
        return False


def stateful_failover(config: Config, limits: Limits) -> list[Problem]:
    """``sync state ena`` mirrors persistent sessions to a standby (reference §5.1, §4.4)."""
    slb, vrrp = config.slb, config.l3.vrrp
    if not slb.sync.state:
        return []
    sync = "/cfg/slb/sync"
    out = []
    if not slb.adv.matrix:
        out.append(Problem("stateful failover needs VMA (/cfg/slb/adv/matrix ena)", sync,
                           "state"))
    if not any(p.ena for p in slb.sync.peer.values()):
        out.append(Problem("stateful failover needs an enabled peer switch "
                           "(/cfg/slb/sync/peer N: addr, ena)", sync, "state"))
    if not vrrp.on:
        out.append(Problem("stateful failover needs VRRP in active-standby mode "
                           "(/cfg/l3/vrrp/on)", "/cfg/l3/vrrp", "on"))
    routers = [k for k, vr in vrrp.vr.items() if vr.ena]
    shared: set[int] = set()
    for vid, virt in slb.virt.items():
        if not virt.ena or virt.vip is None:
            continue
        covering = [k for k in routers if _covers(config, k, virt.vip)]
        if vrrp.on and not covering:
            out.append(Problem(f"stateful failover needs an enabled VRRP virtual router "
                               f"covering VIP {virt.vip}", _virt_path(vid), "vip"))
        for k in covering:
            if vrrp.vr[k].share and k not in shared:
                shared.add(k)
                out.append(Problem(f"share ena makes the router active-active, but stateful "
                                   f"failover needs active-standby (VIP {virt.vip})",
                                   f"/cfg/l3/vrrp/vr {k}", "share"))
    if not slb.adv.direct:
        for vid, _virt, vport, svc in _services(config):
            kind = svc.pbind.mode if svc.pbind.layer7 else \
                f"httpslb {svc.httpslb}" if svc.urlpersist else ""
            if kind and not svc.direct:
                out.append(Problem(f"stateful failover of Layer 7 persistence ({kind}) needs "
                                   f"{DAM}", f"{_virt_path(vid)}/service {vport}", "pbind"))
    return out


def exclusive(config: Config, limits: Limits) -> list[Problem]:
    adv = config.slb.adv
    if adv.vmasport and adv.vmadip:
        return [Problem("vmasport and vmadip are alternative VMA keys; enable one",
                        "/cfg/slb/adv", "vmadip")]
    return []


def verbatim(config: Config, limits: Limits) -> list[Problem]:
    """Each verbatim block must read back as itself: an unmodelled section and nothing else."""
    out = []
    for block in config.verbatim:
        first = block.splitlines()[0] if block.strip() else ""
        loaded = dump.read(block) if first.startswith("/") and not first.startswith("/*") \
            else None
        if loaded is None or loaded.config is None or loaded.errors or loaded.where or \
                loaded.config.verbatim != [block]:
            out.append(Problem(f"verbatim section {first!r} is not an unmodelled /cfg section "
                               "(it must start with its path and set nothing the model holds)",
                               "/cfg", "verbatim"))
    return out


RULES: tuple[Rule, ...] = (required, references, uniqueness, dam_or_pip, stateful_failover,
                           exclusive, verbatim)
