"""``weboslb cli`` and bare ``weboslb``: open the switch console, or run console commands
without one (``-c``, a script file, standard input)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from weboslb.config import files
from weboslb.config.model import Config
from weboslb.cli import script
from weboslb.cli.dispatch import Console
from weboslb.cli.runtime import HaStatus, Runtime, file_flash

_DESCRIPTION = """\
The switch console: Alteon's menus (/info, /stats, /cfg, /oper, /boot, /maint) over a running
switch.  Without --config the switch boots the embedded default configuration and "save"
keeps the configuration in memory; with --config FILE, FILE is the switch's FLASH and
"save" writes it (in its own format).

With -c, a SCRIPT or a non-terminal standard input the commands run without prompts and the
exit status is 1 at the first error (reported as SOURCE:LINE: message on standard error)."""


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE",
                   help="boot from this configuration (YAML or Alteon dump); save writes it")
    p.add_argument("-c", "--command", dest="commands", action="append", metavar="CMDS",
                   help="run these commands (separated by ';') and exit; may be repeated")
    p.add_argument("script", nargs="?", metavar="SCRIPT",
                   help="run the commands in this file ('-' = standard input) and exit")
    p.add_argument("--history", metavar="FILE", help="history file (default: "
                   "$XDG_STATE_HOME/weboslb/history, else ~/.weboslb_history)")


def add_parser(sub) -> None:
    p = sub.add_parser("cli", help="the switch console (Alteon menus); scripts with -c",
                       description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(p)
    p.set_defaults(run=run)


def _usage_error(message: str) -> Exception:
    from weboslb.main import UsageError

    return UsageError(message)


def open_runtime(path: str | None, *, ha: HaStatus | None = None,
                 replay: Callable[[list[str]], str] | None = None,
                 err=None, runtime: type[Runtime] = Runtime) -> Runtime:
    """Boot a switch from ``path`` (None: the embedded default).  Problems go to ``err``;
    a config that cannot run is a UsageError."""
    err = err or sys.stderr
    kw: dict = {"ha": ha, "replay": replay}
    if path is None:
        config: Config = files.default()
        where = "default.yaml"
        locate = None
    else:
        try:
            loaded = files.load(path)
            text = Path(path).read_text("utf-8", errors="replace")
        except OSError as exc:
            raise _usage_error(f"cannot read {path}: {exc.strerror or exc}") from None
        for p in sorted(loaded.problems, key=lambda p: p.line):
            print(p.text(path), file=err)
        if not loaded.ok or loaded.config is None:
            raise _usage_error(f"{path}: not loaded (see 'weboslb config check {path}')")
        config, where, locate = loaded.config, path, loaded.locate
        flash, render = file_flash(path, files.format_of(path) or files.sniff(text))
        kw.update(flash=flash, flash_name=path, render=render)
    rt, problems = runtime.boot(config, **kw)
    for p in problems:
        print((locate(p) if locate else p).text(where), file=err)
    if rt is None:
        raise _usage_error(f"{where}: the configuration does not apply; not started")
    if rt.replay is None:
        plug_replay(rt)
    return rt


def plug_replay(rt: Runtime) -> None:
    """``/maint/replay`` runs captures into the running switch (whichever it is then: /boot
    replaces it); ``/maint/report FILE`` writes that replay's report, .json or .html."""
    from weboslb.io.replay import Options, Replayer
    from weboslb.report import text

    last: dict = {}

    def replay(paths: list[str]) -> str:
        result = Replayer(rt.switch, Options()).run(paths, rt.flash_name or "running config")
        last["report"] = result.report
        return text.render(result.report["summary"])

    rt.replay, rt.write_report = replay, report_writer(rt, lambda: last["report"])


def report_writer(rt: Runtime, report: Callable[[], dict]) -> Callable[[str], None]:
    """``/maint/report FILE``: the last replay's report as JSON or HTML by the file's
    extension, else its text summary."""
    from weboslb.io.cli import write_reports

    def write_report(path: str) -> None:
        suffix = Path(path).suffix.lower()
        if suffix not in (".json", ".html", ".htm"):
            rt.writer(path, rt.last_report or "")
            return
        html = suffix != ".json"
        write_reports(report(), None if html else Path(path), Path(path) if html else None)

    return write_report


def run(args: argparse.Namespace) -> int:
    rt = open_runtime(args.config)
    interactive = not args.commands and args.script is None and sys.stdin.isatty()
    if not interactive:
        console = Console(rt, verbose=0)
        if args.commands:
            lines = script.command_lines(args.commands)
            return script.run(console, lines, sys.stdout, sys.stderr)
        if args.script in (None, "-"):
            return script.run(console, script.file_lines(sys.stdin, "<stdin>"), sys.stdout,
                              sys.stderr)
        try:
            with open(args.script, encoding="utf-8", errors="replace") as f:
                return script.run(console, script.file_lines(f, args.script), sys.stdout,
                                  sys.stderr)
        except OSError as exc:
            raise _usage_error(f"cannot read {args.script}: {exc.strerror or exc}") from None
    from weboslb.cli.app import ConsoleApp, open_history

    return ConsoleApp(Console(rt), history=open_history(args.history)).run()


def main(argv: list[str] | None = None) -> int:
    """``python -m weboslb.cli``: the console on its own (the same options as
    ``weboslb cli``)."""
    from weboslb.main import UsageError

    parser = argparse.ArgumentParser(prog="weboslb cli", description=_DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UsageError as exc:
        print(f"weboslb cli: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("weboslb cli: interrupted", file=sys.stderr)
        return 130


def main_console() -> int:
    """``weboslb`` with no command: the console on the embedded default configuration."""
    return main([])
