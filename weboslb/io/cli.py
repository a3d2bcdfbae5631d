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
    ha = p.add_argument_group("HA pair (docs/failover.md); each of these implies --pair")
    ha.add_argument("--pair", action="store_true",
                    help="replay through an HA pair: A runs the config, B its peer config "
                         "or one derived from it as /oper/slb/sync would")
    ha.add_argument("--peer-config", metavar="FILE", help="switch B's config")
    ha.add_argument("--failover-at", type=float, metavar="T",
                    help="fail the active switch T seconds after the first frame")
    ha.add_argument("--scenario", metavar="FILE",
                    help="timed events: fail/recover, real-down/up, link-down/up, config")
    ha.add_argument("--update", type=int, metavar="N",
                    help="/cfg/slb/sync/update on both switches: 1..60 s, 0 = immediate")
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
    pair = args.pair or any(x is not None for x in (args.peer_config, args.failover_at,
                                                    args.scenario, args.update))
    run = _pair_run(args, config, name) if pair else None
    bar = None if args.quiet else Bar(sys.stderr)
    # one row a connection is kept only for a report that lists them: a capture of a flood
    # would otherwise cost memory in proportion to its connections (KBs each)
    rows = pair or args.report_json is not None or args.report_html is not None
    options = rp.Options(capacity=args.capacity, step=args.step, out_pcap=args.out_pcap,
                         progress=bar, connections=rows)
    try:
        result = rp.replay(config, args.captures, config_name=name, options=options) \
            if run is None else run(options)
    finally:
        if bar is not None:
            bar.done()
    for line in result.errors:
        print(f"weboslb replay: {line}", file=sys.stderr)
    write_reports(result.report, args.report_json, args.report_html)
    if not args.quiet:
        sys.stdout.write(text_report.render(result.report["summary"]))
        if "failover" in result.report:
            from weboslb.report.failover import render_text
            sys.stdout.write(render_text(result.report["failover"]))
    return 0 if result.replayed else 1


def _pair_run(args, config: Config, name: str):
    """Check everything an HA replay needs before it starts; returns the run."""
    from weboslb.io import pair, scenario  # the HA machinery, loaded when asked for
    from weboslb.main import UsageError

    if args.out_pcap is not None:
        raise UsageError("--out-pcap shows the two sides of one switch: not with an HA pair")
    if args.update is not None and not 0 <= args.update <= 60:
        raise UsageError(f"--update {args.update}: 0..60 seconds (0 streams changes "
                         f"immediately)")
    if args.failover_at is not None and not args.failover_at >= 0:
        raise UsageError("--failover-at: seconds from the capture's start (>= 0)")
    peer, peer_name = (load_config(args.peer_config) if args.peer_config is not None
                       else (None, ""))
    try:
        events = scenario.load(args.scenario) if args.scenario is not None else []
        setup = pair.pair_configs(config, peer, update=args.update)
        pair.check_events(events, setup, args.scenario or "")
    except (scenario.ScenarioError, pair.PairError) as exc:
        raise UsageError(str(exc)) from None
    if args.failover_at is not None:
        events = sorted([*events, pair.failover_event(args.failover_at)], key=lambda e: e.at)
    a_name = name if args.config is not None else ""
    return lambda options: pair.pair_replay(setup, args.captures, names=(a_name, peer_name),
                                            events=events, options=options)


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
