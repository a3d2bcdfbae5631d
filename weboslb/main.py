"""The ``weboslb`` command: one entry point, a subcommand per use."""
from __future__ import annotations

import argparse
import sys

from weboslb import __version__


class UsageError(Exception):
    """A bad argument or input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    from weboslb.bench import cli as bench_cli
    from weboslb.cli import command as console_cli
    from weboslb.config import cli as config_cli
    from weboslb.io import cli as io_cli
    from weboslb.io import demo as demo_cli
    from weboslb.io import extract as extract_cli
    from weboslb.io.process import cli as switch_cli

    parser = argparse.ArgumentParser(
        prog="weboslb",
        description="Emulator of an Alteon / Nortel Web OS L4/L7 application switch.",
    )
    parser.add_argument("--version", action="version", version=f"weboslb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench_cli.add_parser(sub)
    config_cli.add_parser(sub)
    console_cli.add_parser(sub)
    io_cli.add_parser(sub)
    extract_cli.add_parser(sub)
    demo_cli.add_parser(sub)
    switch_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # the switch console, as on the device
        from weboslb.cli.command import main_console
        return main_console()
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"weboslb {args.command}: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"weboslb {args.command}: out of memory", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"weboslb {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
