"""``weboslb replay``: captures through a switch, a text summary, and the JSON/HTML reports."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from weboslb.config import files
from weboslb.config.model import Config
from weboslb.io import replay as rp
from weboslb.report import text as text_report

_DESCRIPTION = """\
Run captures (pcap or pcapng, several merged by timestamp; '-' reads standard input)
through a switch on the captures' own clock, and report what it did: per-real sessions
and bytes, persistence new/hit by pbind, drops by reason.  The config is YAML or an Alteon
dump script (default: the embedded one, see `weboslb config convert`).  Exit status: 0
when frames were replayed (a broken capture still reports the frames before the break),
1 when nothing could be, 2 on a bad argument or config."""


def add_parser(sub) -> None:
    p = sub.add_parser("replay", help="replay captures through the switch and report",
                       description=_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("captures", nargs="+", metavar="CAPTURE")
    p.add_argument("-c", "--config", metavar="FILE", help="switch config (YAML or dump)")
    p.add_argument("--report-json", metavar="FILE", type=Path,
                   help="write the summary and one object per connection (docs/reports.md)")
    p.add_argument("--report-html", metavar="FILE", type=Path,
                   help="write a self-contained page with plots")
    p.add_argument("--out-pcap", metavar="DIR", type=Path,
                   help="write client.pcap and server.pcap: each side of the switch")
    p.add_argument("--capacity", type=int, default=rp.DEFAULT_CAPACITY, metavar="N",
                   help="persistence-table entries per key kind (default %(default)s)")
    p.add_argument("--step", type=float, default=1.0, metavar="S",
                   help="seconds of capture time between report samples (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(run=run_replay)


def load_config(name: str | None) -> tuple[Config, str]:
    """The applied config from FILE (problems on stderr), or the embedded default."""
    from weboslb.main import UsageError

    if name is None:
        return files.default(), "embedded default"
    try:
        loaded = files.load(name)
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    config, problems = files.applied(loaded)
    for p in problems:
        if p.error:
            print(p.text(name), file=sys.stderr)
    if config is None:
        raise UsageError(f"{name}: the config does not apply (errors above)")
    return config, name


def run_replay(args) -> int:
    from weboslb.main import UsageError

    if args.capacity < 1 or args.step <= 0:
        raise UsageError("--capacity and --step must be positive")
    config, name = load_config(args.config)
    bar = None if args.quiet else Bar(sys.stderr)
    options = rp.Options(capacity=args.capacity, step=args.step, out_pcap=args.out_pcap,
                         progress=bar)
    try:
        result = rp.replay(config, args.captures, config_name=name, options=options)
    finally:
        if bar is not None:
            bar.done()
    for line in result.errors:
        print(f"weboslb replay: {line}", file=sys.stderr)
    write_reports(result.report, args.report_json, args.report_html)
    if not args.quiet:
        sys.stdout.write(text_report.render(result.report["summary"]))
    return 0 if result.replayed else 1


def write_reports(report: dict, json_path: Path | None, html_path: Path | None) -> None:
    from weboslb.main import UsageError

    from weboslb.report import html

    try:
        if json_path is not None:
            files.write_text(json_path, json.dumps(report, indent=1) + "\n")
        if html_path is not None:
            files.write_text(html_path, html.render(report))
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename}: {exc.strerror or exc}") from None
    except html.ReportError as exc:
        raise UsageError(str(exc)) from None


class Bar:
    """A progress bar on a terminal's stderr, shown once a run has taken a second."""

    def __init__(self, stream, delay: float = 1.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.delay = delay
        self._drawn = 0.0

    def __call__(self, done: int, total: int, packets: int) -> None:
        now = time.monotonic()
        if not self.tty or now - self.start < self.delay or now - self._drawn < 0.1:
            return
        self._drawn = now
        rate = packets / (now - self.start)
        if total:
            fill = int(30 * min(done, total) / total)
            where = f"[{'#' * fill}{'.' * (30 - fill)}] {100 * done / total:3.0f}%"
        else:
            where = f"{done / 1e6:.1f} MB"
        self.stream.write(f"\rreplay {where} {packets:,} packets, {rate / 1e3:,.0f} k/s ")
        self.stream.flush()

    def done(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
