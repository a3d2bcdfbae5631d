"""``weboslb demo``: no files needed.  Generate a mixed capture (HTTP with cookies, TLS
resumptions, FTP in both modes, URL-hashed requests from a few hundred clients), replay it
through the embedded default config, print the summary and the persistence check, and write
the reports.  Then replay it again through an HA pair built from that config, the active
switch failing half-way, and print what the failover did against what the model predicts."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from weboslb.config import files
from weboslb.io import cli as io_cli
from weboslb.io import pair, traffic
from weboslb.io import replay as rp
from weboslb.report import failover as failover_report
from weboslb.report import text as text_report
from weboslb.report.check import persistence_held

_DESCRIPTION = """\
Generate a realistic mixed capture, replay it through the embedded default config (see
`weboslb config convert` to read it), print what the switch did and whether persistence
held for every mode, and write demo.pcap, report.json and report.html into DIR.  Then the
same capture through an HA pair (B derived from the config as /oper/slb/sync would), the
active switch failing half-way: the failover section, failover.json and failover.html."""


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="replay generated traffic through the default config",
                       description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="DIR", type=Path, default=Path("weboslb-demo"),
                   help="where to write the capture and reports (default: %(default)s)")
    p.add_argument("--clients", type=int, default=300, metavar="N",
                   help="client IP addresses in the capture (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="traffic seed (default %(default)s)")
    p.add_argument("--no-html", action="store_true", help="skip the HTML reports")
    p.add_argument("--update", type=int, metavar="N",
                   help="the pair's /cfg/slb/sync/update: 1..60 s, 0 = immediate (default: "
                        "the config's, 30)")
    p.set_defaults(run=run_demo)


def run_demo(args) -> int:
    from weboslb.main import UsageError

    if args.clients < 1:
        raise UsageError("--clients must be positive")
    if args.update is not None and not 0 <= args.update <= 60:
        raise UsageError(f"--update {args.update}: 0..60 seconds")
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
    failover = _failover(args, capture, plan)
    return 0 if held and all(h.ok for h in held) and failover else 1


def _failover(args, capture: Path, plan) -> bool:
    """The same capture through an HA pair, the active failing half-way.  True when every
    switchover lost exactly the bindings the model predicts (and, in immediate mode, no
    acknowledged one)."""
    setup = pair.pair_configs(files.default(), update=args.update)
    half = (plan.end - plan.start) / 2
    result = pair.pair_replay(setup, [str(capture)], events=[pair.failover_event(half)])
    report = result.report
    html = None if args.no_html else args.out / "failover.html"
    io_cli.write_reports(report, args.out / "failover.json", html)
    out = sys.stdout
    out.write(f"\nthe same capture through an HA pair, the active switch failing half-way "
              f"({half:.1f} s):\n")
    out.write(failover_report.render_text(report["failover"]))
    if setup.mode == "periodic":
        out.write("(--update 0 streams every change at once: then no binding the standby "
                  "acknowledged is lost)\n")
    out.write(f"\nreports: {args.out / 'failover.json'}"
              + (f", {html}" if html else "") + "\n")
    return all(s["bindings"].get("as_predicted", True)
               and not s["bindings"].get("acknowledged_lost")
               for s in report["failover"]["switchovers"])


def render_check(held) -> str:
    lines = ["persistence check: connections sharing a key must share a real"]
    for h in held:
        verdict = "held" if h.ok else f"BROKEN for {h.split} keys"
        lines.append(f"  {h.pbind:<9} {h.connections:>5} connections, {h.keys:>4} keys, "
                     f"{h.new:>4} new, {h.hit:>4} hit: {verdict}")
    if not held:
        lines.append("  no persistent connection in the capture")
    return "\n".join(lines) + "\n"
