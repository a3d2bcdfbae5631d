"""The commands outside ``/cfg``: the ``/info`` and ``/stats`` pages, ``/oper`` actions on the
running switch, ``/boot`` and ``/maint``; and ``/cfg/dump``.

Each handler takes the console and its already checked arguments (``tree.Param``), and
reports through ``con.emit``; a refusal is a ``LineError`` with the device-style message.
``HANDLERS`` maps the ``action`` names of ``tree`` to them.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from weboslb.cli import render
from weboslb.cli.result import LineError
from weboslb.cli.tree import ROOT
from weboslb.config import dump
from weboslb.config.cli import summary
from weboslb.engine import sessdump
from weboslb.table.contract import KeyKind


if TYPE_CHECKING:
    from weboslb.cli.dispatch import Console


Handler = Callable[["Console", list[Any]], None]
HANDLERS: dict[str, Handler] = {}


def handler(action: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[action] = fn
        return fn
    return register


@handler("cfg_dump")
def cfg_dump(con: Console, args: list[Any]) -> None:
    con.emit(*dump.write(con.rt.store.applied).splitlines())


def _sessions(con: Console, keep_session, keep_entry) -> None:
    sw = con.rt.switch
    sw.sync()
    now = con.rt.now()
    sessions = [s for s in sw.sessions if keep_session(s)]
    entries = [(k, e) for k, e in sw.persistence.entries() if keep_entry(k, e)]
    con.emit(*sessdump.dump(sessions, entries, sw.services, sw.persistence.users, now))


@handler("sess_dump")
def sess_dump(con: Console, args: list[Any]) -> None:
    _sessions(con, lambda s: True, lambda k, e: True)


@handler("sess_cip")
def sess_cip(con: Console, args: list[Any]) -> None:
    cip = ipaddress.ip_address(args[0]).packed
    _sessions(con, lambda s: s.conn.cip == cip, lambda k, e: _entry_client(k, e.key) == cip)


@handler("sess_dip")
def sess_dip(con: Console, args: list[Any]) -> None:
    dip = ipaddress.ip_address(args[0]).packed
    vip_of = con.rt.switch.services.vip_of
    _sessions(con, lambda s: s.conn.vip == dip, lambda k, e: vip_of.get(e.vsvc) == dip)


@handler("sess_real")
def sess_real(con: Console, args: list[Any]) -> None:
    real = con.rt.switch.services.reals.get(args[0])
    if real is None:
        raise LineError(f"real server {args[0]} is not in the applied configuration")
    _sessions(con, lambda s: s.real == real.id, lambda k, e: e.real == real.code)


@handler("info_slb_dump")
def info_slb_dump(con: Console, args: list[Any]) -> None:
    farm = con.rt.switch.farm

    def health(rid: Any) -> str | None:
        h = farm.health(rid)
        return h.value if h is not None else None

    con.emit(*render.slb_dump(con.rt.store.applied, health, con.rt.oper_disabled))


@handler("info_sync")
def info_sync(con: Console, args: list[Any]) -> None:
    con.emit(*render.sync_info(con.rt.store.applied, con.rt.sync_figures(), con.rt.now()))


@handler("info_vrrp")
def info_vrrp(con: Console, args: list[Any]) -> None:
    ha = con.rt.ha
    con.emit(*render.vrrp_info(con.rt.store.applied, ha.routers() if ha else [],
                               ha is not None))


@handler("info_sys")
def info_sys(con: Console, args: list[Any]) -> None:
    rt = con.rt
    con.emit(*render.sys_info(
        rt.store.applied, role=rt.role, now=rt.now(), pending=rt.store.changed,
        unsaved=rt.store.unsaved, summary=summary(rt.store.applied),
        flash=rt.flash_name if rt.flash is not None else "memory (no config file)"))


@handler("stats_real")
def stats_real(con: Console, args: list[Any]) -> None:
    st = con.rt.switch.farm.real_stats(args[0])
    if st is None:
        raise LineError(f"real server {args[0]} is not in the applied configuration")
    con.rt.switch.sync()
    con.emit(*render.real_stats(args[0], st))


@handler("stats_group")
def stats_group(con: Console, args: list[Any]) -> None:
    con.rt.switch.sync()
    st = con.rt.switch.farm.group_stats(args[0])
    if st is None:
        raise LineError(f"real server group {args[0]} is not in the applied configuration")
    con.emit(*render.group_stats(args[0], st, con.rt.store.applied))


@handler("stats_virt")
def stats_virt(con: Console, args: list[Any]) -> None:
    con.rt.switch.sync()
    st = con.rt.switch.virts.get(args[0])
    if st is None or args[0] not in con.rt.store.applied.slb.virt:
        raise LineError(f"virtual server {args[0]} is not in the applied configuration")
    con.emit(*render.virt_stats(args[0], st, con.rt.store.applied))


@handler("stats_maint")
def stats_maint(con: Console, args: list[Any]) -> None:
    con.rt.switch.sync()
    con.emit(*render.maint_stats(con.rt.switch.maint))


@handler("stats_l7")
def stats_l7(con: Console, args: list[Any]) -> None:
    con.emit(*render.layer7_stats(con.rt.switch.layer7))


@handler("stats_clear")
def stats_clear(con: Console, args: list[Any]) -> None:
    sw = con.rt.switch
    sw.sync()
    sw.farm.clear_stats()
    sw.layer7.clear()
    for v in sw.virts.values():
        v.clear()
    con.emit("SLB statistics cleared.")


@handler("oper_clear")
def oper_clear(con: Console, args: list[Any]) -> None:
    if not con.confirm("Confirm clearing the SLB session table [y/n]: "):
        return
    n = con.rt.switch.clear_sessions(con.rt.now())
    con.emit(f"Session table cleared: {n} session{'s' * (n != 1)} removed.")


def _oper(con: Console, real: Any, enabled: bool) -> None:
    if not con.rt.set_oper(real, enabled):
        raise LineError(f"real server {real} is not in the applied configuration")
    con.emit(f"Real server {real} operationally {'enabled' if enabled else 'disabled'}.")


@handler("oper_ena")
def oper_ena(con: Console, args: list[Any]) -> None:
    _oper(con, args[0], True)


@handler("oper_dis")
def oper_dis(con: Console, args: list[Any]) -> None:
    _oper(con, args[0], False)


@handler("oper_sync")
def oper_sync(con: Console, args: list[Any]) -> None:
    ha = con.rt.ha
    if ha is None:
        raise LineError("cannot sync: this switch runs standalone (no peer is connected)")
    if con.confirm("Confirm Sync to Peer [y/n]: "):
        con.emit(*ha.push_config(con.rt.store.applied).splitlines())


@handler("vrrp_back")
def vrrp_back(con: Console, args: list[Any]) -> None:
    ha = con.rt.ha
    if ha is None:
        raise LineError("VRRP is not running: this switch runs standalone")
    con.emit(*ha.back(args[0]).splitlines())


@handler("boot_load")
def boot_load(con: Console, args: list[Any]) -> None:
    path = args[0]
    try:
        loaded = con.rt.load_config(path)
    except OSError as exc:
        raise LineError(f"cannot read {path}: {exc.strerror or exc}") from None
    con.emit(*(p.text(path) for p in sorted(loaded.problems, key=lambda p: p.line)))
    if not loaded.ok or loaded.config is None:
        raise LineError(f"{path}: not loaded ({len(loaded.errors)} error"
                        f"{'s' * (len(loaded.errors) != 1)})")
    con.rt.store.pending = loaded.config
    con.emit(f"Loaded {path} into the pending configuration ({summary(loaded.config)}).",
             'Use "diff" to see the changes and "apply" to run them.')


@handler("boot_reset")
def boot_reset(con: Console, args: list[Any]) -> None:
    if not con.confirm("Confirm reset [y/n]: "):
        return
    con.rt.reset()
    con.path = ROOT
    con.emit("Switch reset: running the configuration saved in FLASH, session table empty.")


@handler("boot_cur")
def boot_cur(con: Console, args: list[Any]) -> None:
    rt = con.rt
    flash = rt.flash_name if rt.flash is not None else "memory (no config file)"
    con.emit("Current boot options:", f"    configuration: FLASH = {flash}")


@handler("maint_replay")
def maint_replay(con: Console, args: list[Any]) -> None:
    if con.rt.replay is None:
        raise LineError("replay is not available: no replay runner is plugged in")
    try:
        text = con.rt.replay([str(a) for a in args])
    except Exception as exc:  # the runner's one-line error (bad capture, unreadable file)
        raise LineError(f"replay failed: {exc}") from None
    con.rt.last_report = text
    con.emit(*text.splitlines())


@handler("maint_summary")
def maint_summary(con: Console, args: list[Any]) -> None:
    if con.rt.last_report is None:
        raise LineError("no replay has run yet (/maint/replay FILE)")
    con.emit(*con.rt.last_report.splitlines())


@handler("maint_report")
def maint_report(con: Console, args: list[Any]) -> None:
    if con.rt.last_report is None:
        raise LineError("no replay has run yet (/maint/replay FILE)")
    try:
        if con.rt.write_report is not None:
            con.rt.write_report(args[0])
        else:
            con.rt.write_text(args[0], con.rt.last_report)
    except OSError as exc:
        raise LineError(f"cannot write {args[0]}: {exc.strerror or exc}") from None
    con.emit(f"Report written to {args[0]}.")


def _entry_client(kind: KeyKind, key: bytes) -> bytes | None:
    """The client address a persistent entry is keyed by (client IP and FTP data ones)."""
    if kind in (KeyKind.IPV4, KeyKind.IPV6):
        return key
    if kind in (KeyKind.FTP, KeyKind.FTP6):
        return key[:-2]
    return None
