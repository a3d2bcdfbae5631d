"""``weboslb config check`` and ``weboslb config convert``: the shell around the config layer."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from weboslb.config import files
from weboslb.config.diag import Loaded, Problem
from weboslb.config.model import Config

_DESCRIPTION = """\
Configurations are YAML files (configs/*.yaml) or Alteon /cfg/dump scripts; the format comes
from the extension (.yaml/.yml, .cfg/.dump/.txt) or, failing that, from the content.
Problems are printed one per line as FILE:LINE: error|warning: /cfg/menu/path: message."""


def add_parser(sub) -> None:
    p = sub.add_parser("config", help="check and convert switch configurations",
                       description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(run=lambda args: _help(p))
    subs = p.add_subparsers(dest="config_command", metavar="ACTION")
    c = subs.add_parser("check", help="load and validate configs as apply would (exit 1 on "
                        "errors)", description="Load each FILE and validate it as 'apply' "
                        "would; exit 0 when all are valid, 1 when any has an error.")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--format", choices=files.FORMATS, help="input format (default: guess)")
    c.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    c.set_defaults(run=run_check)
    v = subs.add_parser("convert", help="convert between YAML and Alteon dump scripts",
                        description="Convert IN to OUT ('-' = standard output) without loss "
                        "of anything modelled; unmodelled dump sections travel verbatim.")
    v.add_argument("input", metavar="IN")
    v.add_argument("output", metavar="OUT")
    v.add_argument("--to", choices=files.FORMATS, help="output format (default: OUT's "
                   "extension)")
    v.add_argument("--from", dest="source", choices=files.FORMATS,
                   help="input format (default: guess)")
    v.set_defaults(run=run_convert)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _load(name: str, fmt: str | None) -> Loaded:
    from weboslb.main import UsageError

    try:
        return files.load(name, fmt)
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None


def _print(problems: Iterable[Problem], name: str, quiet: bool = False, stream=None) -> None:
    for p in sorted(problems, key=lambda p: p.line):
        if p.error or not quiet:
            print(p.text(name), file=stream or sys.stdout)


def summary(config: Config) -> str:
    slb = config.slb
    services = sum(len(v.service) for v in slb.virt.values())
    parts = [f"{len(slb.real)} real", f"{len(slb.group)} group", f"{len(slb.virt)} virt",
             f"{services} service", f"{len(config.l3.vrrp.vr)} vr"]
    text = ", ".join(p + ("" if p.startswith("1 ") else "s") for p in parts)
    return text + (", stateful failover" if slb.sync.state else "")


def run_check(args) -> int:
    failed = False
    for name in args.files:
        loaded = _load(name, args.format)
        config, problems = files.applied(loaded)
        _print(problems, name, args.quiet)
        errors = sum(p.error for p in problems)
        if loaded.config is None:
            failed = True
            print(f"{name}: nothing loaded")
        elif errors:
            failed = True
            print(f"{name}: {errors} error{'s' * (errors != 1)}")
        elif not args.quiet:
            print(f"{name}: ok ({summary(config)})")
    return 1 if failed else 0


def run_convert(args) -> int:
    from weboslb.main import UsageError

    target = args.to or files.format_of(args.output)
    if target is None:
        raise UsageError(f"cannot tell the output format of {args.output!r}; use --to yaml|dump")
    loaded = _load(args.input, args.source)
    _print(loaded.problems, args.input, stream=sys.stderr)
    if not loaded.ok or loaded.config is None:
        print(f"{args.input}: not converted", file=sys.stderr)
        return 1
    text = files.render(loaded.config, target)
    if files.parse(text, target).config != loaded.config:
        print(f"{args.input}: holds values a {target} file cannot represent (see 'weboslb "
              f"config check'); not converted", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        files.write_text(args.output, text)
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    return 0
