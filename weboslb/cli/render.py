"""The console's pages as text: menu listings, ``cur``, and the ``/info`` and ``/stats``
pages in the device's layouts (ref §2.1, §2.6).  Pure: data in, lines out."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any

from weboslb import __version__
from weboslb.config import dump
from weboslb.config.diag import Problem
from weboslb.config.menu import SERVICE, Field, Menu, sorted_keys
from weboslb.config.model import Config, Id, Real, Service, Virt
from weboslb.engine.l7 import REQUEST_LIMIT
from weboslb.engine.sessdump import port_name
from weboslb.engine.stats import GroupStats, Layer7Stats, MaintStats, RealStats, Sessions
from weboslb.engine.stats import VirtStats

BASE_MAC = "02:00:00:00:00:01"  # the emulated switch's MAC: a locally administered address


# --- menus ----------------------------------------------------------------------------------

def listing(header: str, rows: Iterable[tuple[str, str]]) -> list[str]:
    """``[Real server 1 Menu]`` and one ``     word     - help`` line per command."""
    return [f"[{header}]", *(f"     {word:<8} - {text}" for word, text in rows)]


def range_phrase(phrase: str) -> str:
    """``out of range 1-48`` -> ``must be between 1 and 48`` (``0,1,5-65534`` too)."""
    def spell(m: re.Match[str]) -> str:
        *single, span = m.group(1).split(",")
        lo, _, hi = span.partition("-")
        between = f"between {lo} and {hi}" if hi else lo
        return "must be " + (f"{', '.join(single)} or {between}" if single else between)
    return re.sub(r"out of range (\S+)", spell, phrase)


def problem_lines(problems: Iterable[Problem]) -> list[str]:
    return [f"{'Error' if p.error else 'Warning'}: {range_phrase(str(p))}" for p in problems]


# --- cur ------------------------------------------------------------------------------------

def value_text(fld: Field, value: Any) -> str:
    if value is None:
        return "(not set)"
    assert fld.arg is not None
    return fld.arg.render(value)


def object_lines(menu: Menu, obj: Any) -> list[str]:
    """An object's settings as the commands that set them, defaults included."""
    out: list[str] = []
    for fld in menu.fields:
        value = getattr(obj, fld.attribute)
        if fld.kind == "flag":
            out.append(fld.name if value else fld.off)
        elif fld.kind == "value":
            out.append(f"{fld.name} {value_text(fld, value)}")
        else:
            out += [f"{fld.name} {value_text(fld, item)}" for item in value]
    for sub in menu.menus:
        if sub.key is not None:
            held = getattr(obj, sub.attribute)
            out += [f"{sub.name} {sub.key.render_key(k, held[k])}" for k in sorted_keys(held)]
    out += list(getattr(obj, "extra", ()))
    return [f"    {line}" for line in out]


def section(text: str, dpath: str) -> list[str]:
    """The lines of a dump or diff at and below ``dpath`` (``/c/slb``, ``/c/slb/real 1``)."""
    out, keep = [], False
    for line in text.splitlines():
        if line.startswith("/") and not line.startswith("/*"):
            keep = line == dpath or line.startswith((dpath + "/", dpath + " "))
        if keep:
            out.append(line)
    return out


def section_lines(config: Config, dpath: str) -> list[str]:
    """A container's ``cur``: its sections of the config's dump."""
    body = dump.write(config).splitlines()[1:-2]  # no script start, final "/", script end
    return [line.replace("\t", "    ") for line in section("\n".join(body), dpath)]


# --- /info ----------------------------------------------------------------------------------

def _state(real: Real, health: str | None, oper: bool) -> str:
    if not real.ena or not oper:
        return "DISABLED"
    return health or "DOWN"


def _service_line(vport: int, svc: Service, config: Config) -> str:
    group = config.slb.group.get(svc.group)
    parts = [f"rport {port_name(svc.rport or vport)}", f"group {svc.group}"]
    if group is not None and group.name:
        parts.append(group.name)
    hc = group.health if group is not None else "tcp"
    parts.append(f"health {hc} ({hc.upper()})")
    if svc.pbind.persistent:
        parts.append(f"pbind {_pbind_text(svc)}")
    if svc.dbind != "dis":
        parts.append(f"dbind {svc.dbind}")
    if svc.httpslb != "disabled":
        parts.append(f"httpslb {svc.httpslb}")
    if svc.hname:
        parts.append(f"hname {svc.hname}")
    return f"    {port_name(vport)}: " + ", ".join(parts)


def _pbind_text(svc: Service) -> str:
    fld = SERVICE.item("pbind")
    assert isinstance(fld, Field) and fld.arg is not None
    return fld.arg.render(svc.pbind)


def _virt_mac(config: Config, virt: Virt) -> str:
    """A virtual server router answers with its VRRP MAC; otherwise the switch's own."""
    for vr in config.l3.vrrp.vr.values():
        if vr.addr and vr.addr == virt.vip and vr.vrid:
            return f"00:00:5e:00:01:{vr.vrid:02x}"
    return BASE_MAC


def slb_dump(config: Config, health: Callable[[Id], str | None],
             oper_disabled: set[Id]) -> list[str]:
    """``/info/slb/dump``: the state of the reals, then of each virtual server, its services
    and their reals (ref §2.6, the sample in alteon-configs)."""
    slb = config.slb
    out = ["Real server state:"]
    for rid in sorted_keys(slb.real):
        r = slb.real[rid]
        name = f", {r.name}" if r.name else ""
        out.append(f"  {rid}: {r.rip or '0.0.0.0'}{name}, health inherit, "
                   f"{_state(r, health(rid), rid not in oper_disabled)}")
    out.append("Virtual server state:")
    for vid in sorted_keys(slb.virt):
        v = slb.virt[vid]
        vname = f", vname {v.vname}" if v.vname else ""
        state = "" if v.ena else ", DISABLED"
        out.append(f"{vid}: IP4 {v.vip or '0.0.0.0'},   {_virt_mac(config, v)}{vname}{state}")
        if not v.service:
            continue
        out.append("    Virtual Services:")
        for vport in sorted(v.service):
            svc = v.service[vport]
            out.append(_service_line(vport, svc, config))
            group = slb.group.get(svc.group)
            out.append("        Real Servers:")
            hc = (group.health if group is not None else "tcp").upper()
            for rid in group.reals if group is not None else ():
                r = slb.real.get(rid)
                if r is None:
                    continue
                name = f", {r.name}" if r.name else ""
                out.append(f"        {rid}: {r.rip or '0.0.0.0'}{name}, group ena, health  "
                           f"(runtime {hc}), {_state(r, health(rid), rid not in oper_disabled)}")
    return out


def sync_info(config: Config, figures: list, now: float) -> list[str]:
    """``/info/slb/sync``: the stateful failover settings, the peers, and the mirror."""
    sync = config.slb.sync
    out = [f"Stateful failover: {'enabled' if sync.state else 'disabled'}, "
           f"update every {sync.update} seconds"]
    out.append("Peer switches:")
    if not sync.peer:
        out.append("    none configured")
    for n in sorted(sync.peer):
        p = sync.peer[n]
        out.append(f"    {n}: {p.addr or '0.0.0.0'}, {'enabled' if p.ena else 'disabled'}")
    if not figures:
        return out + ["Mirror: not configured"]
    out.append("Mirror:")
    for f in figures:
        last = "never" if f.last_update is None else f"{max(0.0, now - f.last_update):.1f} s ago"
        out.append(f"    peer {f.peer}: {f.state}, last update {last}, entries sent {f.sent}, "
                   f"acknowledged {f.acked}")
        if f.dropped:
            out.append("        frames dropped: " + ", ".join(f"{why} {n}" for why, n in f.dropped))
    return out


def vrrp_info(config: Config, routers: list, running: bool) -> list[str]:
    """``/info/vrrp``: one line a virtual router (state from the HA layer when it runs)."""
    vrrp = config.l3.vrrp
    vips = {v.vip for v in config.slb.virt.values() if v.vip}
    out = [f"VRRP information: {'on' if vrrp.on else 'off'}"
           + ("" if running else " (not running: standalone switch)")]
    if running:
        for r in routers:
            out.append(_router_line(r.vr, r.vrid, r.addr, r.if_, r.prio, r.state, r.owner,
                                    r.server))
        return out
    for n in sorted(vrrp.vr):
        vr = vrrp.vr[n]
        iface = config.l3.if_.get(vr.if_) if vr.if_ is not None else None
        owner = iface is not None and iface.addr is not None and iface.addr == vr.addr
        out.append(_router_line(n, vr.vrid, vr.addr, vr.if_, 255 if owner else vr.prio,
                                "init", owner, vr.addr in vips))
    if not vrrp.vr:
        out.append("    no virtual routers configured")
    return out


def _router_line(vr, vrid, addr, if_, prio, state, owner, server) -> str:
    return (f"    {vr}: vrid {vrid if vrid is not None else '-'}, {addr or '0.0.0.0'}, "
            f"if {if_ if if_ is not None else '-'}, {'owner' if owner else 'renter'}, "
            f"prio {prio}, {state}" + (", server" if server else ""))


def sys_info(config: Config, *, role: str, now: float, pending: bool, unsaved: bool,
             flash: str, summary: str) -> list[str]:
    return [
        "System Information:",
        f"    sysName:          {config.sys.ssnmp.name}",
        f"    Software:         weboslb {__version__} (Alteon Web OS emulator)",
        f"    Switch role:      {role}",
        f"    Switch time:      {now:.3f} s",
        f"    Configuration:    {summary}",
        f"    Pending changes:  {'yes' if pending else 'no'}",
        f"    Unsaved changes:  {'yes' if unsaved else 'no'}",
        f"    FLASH:            {flash}",
    ]


# --- /stats ---------------------------------------------------------------------------------

def _counter_lines(rows: Iterable[tuple[str, Any]]) -> list[str]:
    return [f"{label + ':':<36}{round(value) if isinstance(value, float) else value:>12}"
            for label, value in rows]


def real_stats(rid: Id, st: RealStats) -> list[str]:
    return [f"Real server {rid} stats:", *_counter_lines((
        ("Health check failures", st.failures), ("Current sessions", st.current),
        ("Total sessions", st.total), ("Highest sessions", st.highest),
        ("Octets", st.octets)))]


_TABLE_HEAD = ["                      Current    Total  Highest",
               "Real IP address       Sessions Sessions Sessions Octets",
               "---- ---------------- -------- -------- -------- ----------------------"]


def _row(label: str, s: Sessions) -> str:
    return f"{label:<21} {s.current:>8} {s.total:>8} {s.highest:>8} {s.octets}"


def _real_label(rid: Id, config: Config) -> str:
    r = config.slb.real.get(rid)
    name = (r.name or r.rip or "") if r is not None else ""
    return f"{rid!s:<4} {name:<16}"


def group_stats(gid: Id, st: GroupStats, config: Config) -> list[str]:
    out = [f"Real server group {gid} stats:", *_TABLE_HEAD]
    out += [_row(_real_label(rid, config), row) for rid, row in st.reals.items()]
    return out + [_row("", st.totals)]


def virt_stats(vid: Id, st: VirtStats, config: Config) -> list[str]:
    """``/stats/slb/virt``: a row per real, the VIP's totals on the last line (ref §2.6)."""
    out = [f"Virtual server {vid} stats:", *_TABLE_HEAD]
    out += [_row(_real_label(rid, config), st.reals[rid]) for rid in sorted_keys(st.reals)]
    virt = config.slb.virt.get(vid)
    vip = virt.vip if virt is not None and virt.vip else ""
    return out + [_row(vip, st.totals)]


MAINT_LABELS = {
    "maximum_sessions": "Maximum sessions", "current_sessions": "Current sessions",
    "avg_4s": "4 second average", "avg_64s": "64 second average",
    "terminated_sessions": "Terminated sessions", "allocation_failures": "Allocation failures",
    "udp_datagrams": "UDP datagrams", "non_tcp_ip_frames": "Non TCP/IP frames",
    "non_ip_frames": "Non IP frames", "incorrect_vips": "Incorrect VIPs",
    "incorrect_vports": "Incorrect Vports", "vip_not_up_drops": "Packets drops: vip is not up",
    "no_available_real": "No available real server",
    "backup_activations": "Backup server activations",
    "overflow_activations": "Overflow server activations",
    "filtered_frames": "Filtered (denied) frames", "discard_frames": "Discard frames",
    "land_attacks": "LAND attacks", "no_tcp_control_bits": "No TCP control bits",
    "invalid_reset_drops": "Invalid reset packet drops",
    "out_of_state_fin_drops": "Out of State FIN Pkt drops",
    "ip_fragment_sessions": "Total IP fragment sessions",
    "ip4_fragment_discards": "IP4 fragment discards",
    "ip6_fragment_discards": "IP6 fragment discards",
    "current_ip6_sessions": "Current IP6 sessions", "incorrect_ip6_vips": "Incorrect IP6 VIPs",
    "incorrect_ip6_vports": "Incorrect IP6 Vports",
}

LAYER7_LABELS = {
    "client_resets": "Clients reset by switch on client side",
    "server_resets": "Clients reset by switch on server side",
    "connection_splicing": "Connection Splicing to support HTTP/1.1",
    "invalid_http_methods": "Invalid HTTP methods",
    "aged_dbind_sessions": "Aged delayed binding sessions",
    "half_open": "Half open connections", "switch_retries": "Switch retries",
    "random_early_drops": "Random early drops",
    "requests_too_long": f"Requests exceeded {REQUEST_LIMIT} bytes",
    "invalid_handshakes": "Invalid 3-way handshakes",
    "exceeded_frame_size": "Exceeded max frame size",
    "out_of_order_drops": "Out of order packet drops",
    "out_of_order_received": "Out of order packets received",
}


def _record(record: Any, labels: dict[str, str]) -> list[str]:
    return _counter_lines((labels[f.name], getattr(record, f.name)) for f in fields(record)
                          if not f.name.startswith("_"))


def maint_stats(st: MaintStats) -> list[str]:
    return ["SLB Maintenance Stats:", *_record(st, MAINT_LABELS)]


def layer7_stats(st: Layer7Stats) -> list[str]:
    return ["Layer 7 maintenance stats:", *_record(st, LAYER7_LABELS)]
