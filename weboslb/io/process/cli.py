"""``weboslb switch``: one switch as a process; two of them (configs/ha-a.yaml and
configs/ha-b.yaml) form an HA pair over loopback."""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
from copy import deepcopy
from pathlib import Path

from weboslb.engine.persist import DEFAULT_CAPACITY
from weboslb.engine.switch import Switch
from weboslb.ha.node import Node
from weboslb.io.process.links import MIRROR_PORT, VRRP_PORT

_DESCRIPTION = """\
Run one switch as a process on the wall clock.  With an enabled /cfg/slb/sync/peer it talks
to that peer from its own interface on the peer's subnet: VRRP advertisements over UDP, the
stateful-failover mirror over TCP (docs/switch.md).  Start configs/ha-a.yaml and
configs/ha-b.yaml in two terminals and they form a pair on loopback.

Traffic comes from --replay (it starts once the switch serves a VIP) or from /maint/replay
in the console, at capture speed or --speed N (0: as fast as the switch takes it).  The
console reads standard input: the menus of `weboslb cli` on a terminal, one command per
line from a pipe (its end leaves the switch running).  SIGUSR1 prints the status (and
writes --status FILE as JSON); SIGTERM, SIGINT or `exit` stop the switch, and a master
hands its routers over at once (priority 0)."""


def add_parser(sub) -> None:
    p = sub.add_parser("switch", help="one switch as a process (a pair: two of them)",
                       description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", metavar="FILE",
                   help="the switch's configuration, its flash (default: the embedded one)")
    p.add_argument("--replay", metavar="CAPTURE", action="append", default=[],
                   help="replay this capture into the switch once it serves (repeatable: "
                        "merged by time)")
    p.add_argument("--speed", type=float, default=1.0, metavar="N",
                   help="replay N times faster than captured (0: as fast as possible)")
    p.add_argument("--status", metavar="FILE", help="SIGUSR1 writes the status here (JSON)")
    p.add_argument("--report-json", metavar="FILE", type=Path,
                   help="when the --replay ends, write its report (docs/reports.md)")
    p.add_argument("--report-html", metavar="FILE", type=Path,
                   help="when the --replay ends, write its report as a page")
    p.add_argument("--mirror-port", type=int, default=MIRROR_PORT, metavar="PORT",
                   help="TCP port of the mirror (default %(default)s)")
    p.add_argument("--peer-mirror-port", type=int, metavar="PORT",
                   help="dial the peer's mirror on this port (a fault proxy's; default: "
                        "--mirror-port)")
    p.add_argument("--vrrp-port", type=int, default=VRRP_PORT, metavar="PORT",
                   help="UDP port of the VRRP advertisements (default %(default)s)")
    p.add_argument("--capacity", type=int, default=DEFAULT_CAPACITY, metavar="N",
                   help="persistence-table entries per key kind (default %(default)s)")
    p.add_argument("--no-console", action="store_true", help="do not read standard input")
    p.add_argument("--history", metavar="FILE", help="the console's history file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from weboslb.cli.command import open_runtime, report_writer
    from weboslb.cli.result import LineError
    from weboslb.io.process.console import LockedConsole, NodeRuntime, stdin_console
    from weboslb.io.process.daemon import SwitchProcess, WiringError, wiring
    from weboslb.main import UsageError

    if args.speed < 0:
        raise UsageError("--speed must be 0 (as fast as possible) or more")
    for path in args.replay:
        if path != "-" and not os.path.exists(path):
            raise UsageError(f"cannot read {path}: no such file")
    procs: list[SwitchProcess] = []
    rt = open_runtime(args.config, runtime=NodeRuntime,
                      replay=lambda paths: procs[0].start_replay(paths))
    config = rt.store.applied
    try:
        wires = wiring(config, mirror_port=args.mirror_port, vrrp_port=args.vrrp_port,
                       peer_mirror_port=args.peer_mirror_port)
    except WiringError as exc:
        raise UsageError(str(exc)) from None
    name = config.sys.ssnmp.name or (Path(args.config).stem if args.config else "weboslb")
    switch_id = int(ipaddress.IPv4Address(wires.local)) if wires.local else 1
    node = Node(name, switch_id, config, seed=int.from_bytes(os.urandom(6), "big"),
                make_switch=lambda c: Switch(c, capacity=args.capacity, events=True))
    proc = SwitchProcess(node, wires, name=name, config_name=args.config or "embedded default",
                         status_path=args.status, speed=args.speed)
    procs.append(proc)
    rt.node, rt.switch, rt.clock, rt.ha = node, node.switch, proc.clock, proc.ha

    def last_report() -> dict:
        if proc.replay is not None or proc.last_result is None:
            raise LineError("the replay has not ended yet (/maint/summary when it has)")
        return proc.last_result.report

    rt.write_report = report_writer(rt, last_report)
    report_due = bool(args.report_json or args.report_html)  # for the --replay: the first

    def done(result) -> None:
        from weboslb.io.cli import write_reports
        from weboslb.report import text

        nonlocal report_due
        rt.last_report = text.render(result.report["summary"])
        if report_due:
            report_due = False
            try:
                write_reports(result.report, args.report_json, args.report_html)
            except UsageError as exc:
                proc.log(str(exc))

    proc.replay_done = done

    def pushed(cfg) -> None:
        """A configuration the peer pushed (/oper/slb/sync) runs here, unsaved; pending
        edits of this console survive it."""
        keep = rt.store.changed
        rt.store.applied = deepcopy(cfg)
        if not keep:
            rt.store.pending = deepcopy(cfg)

    node.on_config = pushed
    if not args.no_console:
        from weboslb.cli.app import open_history

        console = LockedConsole(rt, proc.lock, proc.poke, verbose=0)
        proc.on_running = lambda: _start(stdin_console(
            console, history=open_history(args.history), on_exit=proc.stop))
    try:
        return asyncio.run(proc.run(args.replay))
    except OSError as exc:
        raise UsageError(f"cannot open the wires on {wires.local}: "
                         f"{exc.strerror or exc}") from None


def _start(thread) -> None:
    if thread is not None:
        thread.start()

