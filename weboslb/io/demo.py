"""``weboslb demo``: no files needed.  Generate a mixed capture (HTTP with cookies, TLS
resumptions, FTP in both modes, URL-hashed requests from a few hundred clients), replay it
through the embedded default config, print the summary and the persistence check, and write
the reports."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from weboslb.config import files
from weboslb.io import cli as io_cli
from weboslb.io import replay as rp
from weboslb.io import traffic
from weboslb.report import text as text_report
from weboslb.report.check import persistence_held

_DESCRIPTION = """\
Generate a realistic mixed capture, replay it through the embedded default config (see
`weboslb config convert` to read it), print what the switch did and whether persistence
held for every mode, and write demo.pcap, report.json and report.html into DIR."""


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="replay generated traffic through the default config",
                       description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="DIR", type=Path, default=Path("weboslb-demo"),
                   help="where to write the capture and reports (default: %(default)s)")
    p.add_argument("--clients", type=int, default=300, metavar="N",
                   help="client IP addresses in the capture (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="traffic seed (default %(default)s)")
    p.add_argument("--no-html", action="store_true", help="skip the HTML report")
    p.set_defaults(run=run_demo)


def run_demo(args) -> int:
    from weboslb.main import UsageError

    if args.clients < 1:
        raise UsageError("--clients must be positive")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {args.out}: {exc.strerror or exc}") from None
    capture = args.out / "demo.pcap"
    plan = traffic.demo_capture(capture, seed=args.seed, clients=args.clients)
    result = rp.replay(files.default(), [str(capture)], config_name="embedded default")
    report = result.report
    html = None if args.no_html else args.out / "report.html"
    io_cli.write_reports(report, args.out / "report.json", html)
    out = sys.stdout
    out.write(f"generated {capture}: {plan.describe()}\n\n")
    out.write(text_report.render(report["summary"]))
    held = persistence_held(report["connections"])
    out.write("\n" + render_check(held))
    out.write(f"\nreports: {args.out / 'report.json'}"
              + (f", {html} (open it in a browser)" if html else "") + "\n")
    return 0 if held and all(h.ok for h in held) else 1


def render_check(held) -> str:
    lines = ["persistence check: connections sharing a key must share a real"]
    for h in held:
        verdict = "held" if h.ok else f"BROKEN for {h.split} keys"
        lines.append(f"  {h.pbind:<9} {h.connections:>5} connections, {h.keys:>4} keys, "
                     f"{h.new:>4} new, {h.hit:>4} hit: {verdict}")
    if not held:
        lines.append("  no persistent connection in the capture")
    return "\n".join(lines) + "\n"
