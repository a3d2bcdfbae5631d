#!/usr/bin/env python3
"""Soak: an HA pair replaying generated traffic for a bounded time, failing over every few
seconds of capture time, while the process's resident memory is measured.

    python tools/soak.py [--minutes M] [--failover-every S] [--json F] [--update N]

The demo's traffic (``weboslb.io.traffic.demo_capture``: HTTP with cookies, TLS
resumptions, FTP both ways, URL hashing; every connection complete) is written once and
replayed round after round into ONE ``PairReplayer`` (``weboslb.io.pair``): the same two
switches, tables and mirror, the capture's clock running on from round to round, so clients
come back to bindings made rounds ago.  In each round (``schedule``) A fails every S
seconds and restarts S/2 later; the restarted A relearns the table from B and preempts it
(B -> A), or, every other cycle, B fails while A waits out its VRRP holdoff (B -> A by
failure) and restarts as the standby.

Each round is checked as ``weboslb replay --pair`` checks a run, from the report's failover
section: every switchover lost exactly the bindings the model predicts and none the standby
had acknowledged (immediate mode); no persistent client that came back was re-balanced
beyond those; every persistence hit, in this round or a later one, reached the real its key
was bound to (unless a switchover lost that binding, as predicted); no replay error or
warning, no takeover left unfinished, no mirror frame dropped as forged, malformed, refused
or for want of room.  Then the round's report is dropped, with the switches of earlier
lives (the replay keeps a row per connection and every restarted switch for its report: a
soak must not), and RSS is sampled, also after glibc's ``malloc_trim`` (live memory rather
than the allocator's high-water mark).

Memory is flat when the highest sample of the run's last quarter exceeds the highest of
the first quarter after the warm-up (20 % of the run) by less than ``--max-growth`` MiB
(default 8): a restarted switch left behind costs 16 MiB (its C engine) and a round makes
nine; a round's connection rows leaked would cost ~1 MiB; in 5 minutes a leak of 2 KiB a
switchover passes the bound (docs/reliability.md).  Exit status 0 when every check holds.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from weboslb.config import files
from weboslb.io import traffic
from weboslb.io.capture import Batch, open_capture
from weboslb.io.pair import PairReplayer, pair_configs
from weboslb.io.replay import Options
from weboslb.io.scenario import Event
from weboslb.report.failover import Switchover, key_text
from weboslb.report.ledger import Ledger
from weboslb.report.summary import RunFacts
from weboslb.report.timeline import Timeline
from weboslb.table.contract import KeyKind

GAP = 5.0  # seconds of capture time between rounds (no frame: the pair idles)
LEAD = 5.0  # seconds into a round before its first failure
TAIL = 15.0  # ... and at least this long after its last recover (the takeover finishes)
# mirror drops that are errors on a healthy in-memory link (a reconnect may lose a frame
# or two to a session that ended: no_session, replay, gap are the protocol at work)
MIRROR_ERRORS = ("bad_mac", "malformed", "version", "refused", "not_learner", "table_full")
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _trimmer():
    """glibc's malloc_trim: freed heap pages go back to the system, so that RSS measures
    live memory rather than the allocator's high-water mark (None elsewhere)."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


TRIM = _trimmer()


def rss() -> int:
    """Resident set size of this process in bytes (/proc/self/statm; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass(slots=True)
class Figures:
    rounds: int = 0
    packets: int = 0
    capture_seconds: float = 0.0
    switchovers: int = 0
    directions: Counter = field(default_factory=Counter)  # "A->B (A failed)" -> count
    bindings_moved: int = 0  # bindings the new switch took over with, summed
    lost: int = 0
    predicted: int = 0
    not_as_predicted: int = 0
    acknowledged_lost: int = 0
    clients_back: int = 0  # persistent clients back after a switchover (the matrix)
    kept: int = 0
    rebalanced: int = 0
    unserved_clients: int = 0
    keys_checked: int = 0  # persistence hits whose key's binding was seen before
    keys_moved: int = 0  # ... that reached another real
    unserved_frames: int = 0
    errors: list[str] = field(default_factory=list)
    mirror_errors: Counter = field(default_factory=Counter)
    samples: list[dict] = field(default_factory=list)  # wall s, round, switchovers, rss


class SoakReplayer(PairReplayer):
    """A ``PairReplayer`` fed round after round, its report harvested and dropped per round."""

    def boot(self, t0: float) -> None:
        """The pair boots before ``t0`` (as a replay's first frame would boot it)."""
        self.first = t0
        self._begin(t0)
        self._next_sample = t0 + self.opts.step
        self._sample(t0)

    def round(self, batches: list[Batch], shift: float, events: list[tuple[float, Event]]
              ) -> None:
        """The capture's frames ``shift`` seconds later, with ``events`` (absolute times)."""
        self._queue = sorted(self._queue + events, key=lambda e: e[0])
        self._feed([_Shifted(batches, shift)], None)
        while self._queue:  # events after the round's last frame
            self._advance(self._due(self._queue[0][0]))
        settle = self.clock + 60.0
        while self._stops and self.clock < settle:  # a takeover under way
            self._advance(self._due(settle))

    def harvest(self, start: float) -> dict:
        """The round's report (connections, failover section), then forget it: rows,
        switchovers, log, timeline, and the switches of earlier lives (their tables freed)."""
        facts = RunFacts(("soak",), "embedded default", self.packets, self.bytes, start,
                         self.last, 0.0)
        lost = [(s.serving, lost_keys(s)) for s in self.switchovers]
        report = self._report(facts)
        report["lost_keys"] = lost
        if self._stops:
            report["pending"] = sorted(self._stops)
        self.ledgers = {"A": Ledger(), "B": Ledger()}
        self.switchovers, self.applied, self.drops = [], [], {}
        self.unserved = self.no_switch = 0
        self.timeline = Timeline([str(r) for r in self.switch.services.reals])
        for n in self.pair.nodes:
            n.notes.clear()
            for sw in n.retired:
                sw.persistence.close()
            n.retired.clear()
        return report


ROW_PBIND = {KeyKind.IPV4: "clientip", KeyKind.IPV6: "clientip", KeyKind.COOKIE: "cookie",
             KeyKind.SSLID: "sslid", KeyKind.URLHASH: "urlhash"}


def lost_keys(s: Switchover) -> set[tuple[str, str]]:
    """(pbind, key) as the report's connections write them, of the bindings the new switch
    did not take over (the report's ``bindings.lost``, which the model predicts)."""
    h, t = s.handover, s.takeover
    if h is None or t is None:
        return set()
    now = int(t.ts)
    return {(ROW_PBIND.get(k[0], k[0].label), key_text(k[0], k[2]))
            for k, (real, exp) in h.entries.items()
            if (exp is None or exp > now) and t.entries.get(k, (None,))[0] != real}


class _Shifted:
    """The loaded batches as a capture whose clock starts ``shift`` seconds later."""

    size = None
    position = 0

    def __init__(self, batches: list[Batch], shift: float) -> None:
        self._batches, self._shift = batches, shift

    def batches(self, _max: int):
        s = self._shift
        for b in self._batches:
            yield replace(b, times=array("d", [t + s for t in b.times]))


def schedule(start: float, duration: float, every: float) -> list[tuple[float, Event]]:
    """Failures ``every`` s apart, each switch restarting ``every / 2`` s after it failed.
    Odd cycles: A fails (B takes over), A restarts and relearns, then preempts (B -> A).
    Even cycles: A fails and restarts, and B fails while A waits out its VRRP holdoff, so
    A takes over by failure (B -> A), and B restarts as the standby."""
    out: list[tuple[float, Event]] = []
    half, at, n = every / 2, start + LEAD, 0
    end = start + duration - TAIL

    def add(t: float, what: str, switch: str) -> None:
        out.append((t, Event(t - start, what, switch)))

    while True:
        cycle = [(0.0, "fail", "A"), (half, "recover", "A")]
        if n % 2:
            cycle += [(half + 1, "fail", "B"), (every + 1, "recover", "B")]
        if at + cycle[-1][0] > end:
            return out
        for dt, what, switch in cycle:
            add(at + dt, what, switch)
        at += cycle[-1][0] + half
        n += 1


def check_round(report: dict, fig: Figures, memory: dict[tuple[str, str], str]) -> None:
    """Add the round's figures; note what broke."""
    f = report["failover"]
    n = fig.rounds
    if report.get("pending"):
        fig.errors.append(f"round {n}: a takeover never finished ({report['pending']})")
    for e in report["summary"].get("errors", ()):
        fig.errors.append(f"round {n}: {e}")
    for w in f.get("warnings", ()):
        fig.errors.append(f"round {n}: {w}")
    fig.unserved_frames += f["unserved_frames"]
    for s in f["switchovers"]:
        fig.switchovers += 1
        fig.directions[f"{s['from']}->{s['to']} ({s['cause'].split(':')[0]})"] += 1
        b = s["bindings"]
        if "old" in b:
            fig.bindings_moved += b["new"]
            fig.lost += b["lost"]
            fig.predicted += b["predicted"]
            fig.acknowledged_lost += b.get("acknowledged_lost", 0)
            if not b["as_predicted"]:
                fig.not_as_predicted += 1
                fig.errors.append(f"round {n}: switchover {s['from']}->{s['to']} at "
                                  f"{s['at']} s lost {b['lost']}, model {b['predicted']}")
            if b.get("acknowledged_lost"):
                fig.errors.append(f"round {n}: switchover at {s['at']} s lost "
                                  f"{b['acknowledged_lost']} acknowledged bindings")
        for c in s["matrix"].values():
            fig.clients_back += c["clients"]
            fig.kept += c["kept"]
            fig.rebalanced += c["rebalanced"]
            fig.unserved_clients += c["unserved"]
            if c["rebalanced"] > c["predicted_lost"]:
                fig.errors.append(f"round {n}: switchover at {s['at']} s re-balanced "
                                  f"{c['rebalanced']} clients, model {c['predicted_lost']}")
    # a hit must reach the real its key was bound to (in this round or an earlier one),
    # unless a switchover lost that binding (as the model predicts, checked above; the
    # switch may then hold an older one): a binding the mirror carried wrong would send it
    # elsewhere.  A connection balanced anew
    # ("none": the switch never learnt the key, e.g. the Set-Cookie answer was lost in a
    # detection gap) or making a new binding may go anywhere.
    lost = sorted(report["lost_keys"], key=lambda x: x[0])
    for r in sorted(report["connections"], key=lambda r: r["first_ts"]):
        while lost and lost[0][0] <= r["first_ts"]:
            for k in lost.pop(0)[1]:  # lost in a switchover: the next connection rebinds
                memory.pop(k, None)
        if r["pbind"] == "none" or not r["persist_key"] or r["real"] is None \
                or r["persist"] not in ("new", "hit"):
            continue
        k = (r["pbind"], r["persist_key"])
        had = memory.get(k)
        if r["persist"] == "hit" and had is not None:
            fig.keys_checked += 1
            if had != r["real"]:
                fig.keys_moved += 1
                if fig.keys_moved <= 5:
                    fig.errors.append(f"round {n}: {r['pbind']} {r['persist_key']} hit "
                                      f"real {r['real']}, bound to {had}")
        memory[k] = r["real"]


def soak(*, minutes: float, every: float, update: int = 0, seed: int = 1, clients: int = 300,
         rounds: int = 1, warmup: float = 0.2, max_growth: float = 8.0, progress=None
         ) -> dict:
    """Run the soak for ``minutes`` and at least ``rounds`` rounds; the figures as a
    JSON-ready dict (``ok``: every check held)."""
    if every < 2:
        raise ValueError(f"--failover-every {every}: at least 2 s (VRRP needs ~3 s to "
                         f"detect a failure)")
    setup = pair_configs(files.default(), update=update)
    fig = Figures()
    memory: dict[tuple[str, str], str] = {}
    with tempfile.TemporaryDirectory(prefix="weboslb-soak-") as tmp:
        plan = traffic.demo_capture(Path(tmp) / "soak.pcap", seed=seed, clients=clients)
        cap = open_capture(plan.path)
        batches = list(cap.batches(4096))
        duration = plan.end - plan.start
        replayer = SoakReplayer(setup, Options(step=5.0))
        replayer.boot(plan.start)
        started = time.monotonic()
        deadline = started + minutes * 60
        shift = 0.0
        while True:
            t0 = plan.start + shift
            replayer.round(batches, shift, schedule(t0, duration, every))
            report = replayer.harvest(t0)
            fig.rounds += 1
            check_round(report, fig, memory)
            del report
            shift += duration + GAP
            gc.collect()
            now = time.monotonic()
            sample = {"wall": round(now - started, 3), "round": fig.rounds,
                      "switchovers": fig.switchovers, "rss": rss()}
            if TRIM is not None:
                TRIM(0)
                sample["rss_trimmed"] = rss()
            fig.samples.append(sample)
            if progress is not None:
                progress(fig)
            if now >= deadline and fig.rounds >= rounds:
                break
        fig.packets = replayer.packets
        fig.capture_seconds = round(replayer.clock - plan.start, 3)
        for node in replayer.pair.nodes:
            if node.mirror is not None:
                for reason in MIRROR_ERRORS:
                    fig.mirror_errors[reason] += node.mirror.stats.dropped[reason]
        del batches
        cap.close()
    return _verdict(fig, minutes=minutes, every=every, update=update, seed=seed,
                    clients=clients, rounds=rounds, warmup=warmup, max_growth=max_growth,
                    mix=plan.describe())


def growth(samples: list[dict], warmup: float) -> tuple[float, list[dict], str]:
    """MiB the live memory grew after the warm-up: the highest sample of the last quarter
    of the run less the highest of the first quarter after the warm-up (highest: the
    samples alternate between two levels, as the restarted switch alternates)."""
    key = "rss_trimmed" if samples and "rss_trimmed" in samples[0] else "rss"
    wall = samples[-1]["wall"] if samples else 0.0
    warm = [s for s in samples if s["wall"] >= warmup * wall]
    if len(warm) < 4:
        return 0.0, warm, key
    q = max(1, len(warm) // 4)
    first = max(s[key] for s in warm[:q])
    last = max(s[key] for s in warm[-q:])
    return (last - first) / 2**20, warm, key


def _verdict(fig: Figures, *, warmup: float, max_growth: float, **run) -> dict:
    samples = fig.samples
    wall = samples[-1]["wall"] if samples else 0.0
    grown, warm, key = growth(samples, warmup)
    errors = list(fig.errors)
    errors += [f"mirror dropped {n} frames: {reason}"
               for reason, n in sorted(fig.mirror_errors.items()) if n]
    if fig.switchovers == 0:
        errors.append("no switchover happened")
    if fig.keys_moved:
        errors.append(f"{fig.keys_moved} persistence hits reached another real than their "
                      f"key's binding")
    if len(warm) < 4:
        errors.append(f"only {len(warm)} memory samples after the warm-up: run longer")
    elif grown >= max_growth:
        errors.append(f"memory grew {grown:.1f} MiB after the warm-up ({key}; bound "
                      f"{max_growth} MiB)")

    def mib(values) -> float:
        return round(max(values, default=0) / 2**20, 2)

    return {
        "run": run,
        "ok": not errors,
        "errors": errors[:50],
        "error_count": len(errors),
        "rounds": fig.rounds,
        "wall_seconds": wall,
        "packets": fig.packets,
        "capture_seconds": fig.capture_seconds,
        "switchovers": fig.switchovers,
        "directions": dict(sorted(fig.directions.items())),
        "bindings": {"taken_over": fig.bindings_moved, "lost": fig.lost,
                     "predicted": fig.predicted, "not_as_predicted": fig.not_as_predicted,
                     "acknowledged_lost": fig.acknowledged_lost},
        "clients_back": {"clients": fig.clients_back, "kept": fig.kept,
                         "rebalanced": fig.rebalanced, "unserved": fig.unserved_clients},
        "persistence_hits": {"checked": fig.keys_checked, "moved": fig.keys_moved},
        "unserved_frames": fig.unserved_frames,
        "mirror_errors": dict(fig.mirror_errors),
        "memory": {"measure": key, "warmup_fraction": warmup,
                   "first_mib": mib(s[key] for s in samples[:1]),
                   "after_warmup_mib": mib(s[key] for s in warm[:1]),
                   "peak_after_warmup_mib": mib(s[key] for s in warm),
                   "last_mib": mib(s[key] for s in samples[-1:]),
                   "raw_rss_peak_mib": mib(s["rss"] for s in samples),
                   "growth_mib": round(grown, 2), "bound_mib": max_growth},
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tools/soak.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=5.0,
                   help="wall-clock minutes to run (default %(default)s)")
    p.add_argument("--failover-every", type=float, default=8.0, metavar="S",
                   help="seconds of capture time between failures (default %(default)s)")
    p.add_argument("--update", type=int, default=0, metavar="N",
                   help="/cfg/slb/sync/update on both switches (default 0: immediate)")
    p.add_argument("--rounds", type=int, default=1, metavar="N",
                   help="run at least N rounds, however long they take (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="traffic seed (default %(default)s)")
    p.add_argument("--clients", type=int, default=300, help="client hosts (default %(default)s)")
    p.add_argument("--max-growth", type=float, default=8.0, metavar="MIB",
                   help="RSS growth allowed after the warm-up (default %(default)s MiB)")
    p.add_argument("--json", type=Path, metavar="F", help="write the figures to F")
    args = p.parse_args(argv)
    if not args.minutes > 0:
        p.error(f"--minutes {args.minutes}: must be positive")
    if not 0 <= args.update <= 60:
        p.error(f"--update {args.update}: 0..60 seconds")
    if args.failover_every < 2:
        p.error(f"--failover-every {args.failover_every}: at least 2 s")
    last = [time.monotonic()]

    def progress(fig: Figures) -> None:
        if time.monotonic() - last[0] >= 10:
            last[0] = time.monotonic()
            s = fig.samples[-1]
            print(f"  {s['wall']:6.0f} s: round {fig.rounds}, {fig.switchovers} switchovers, "
                  f"RSS {s.get('rss_trimmed', s['rss']) / 2**20:.1f} MiB, "
                  f"{len(fig.errors)} errors", flush=True)

    print(f"soak: {args.minutes:g} min, a failure every {args.failover_every:g} s of capture "
          f"time, update {args.update}", flush=True)
    out = soak(minutes=args.minutes, every=args.failover_every, update=args.update,
               seed=args.seed, clients=args.clients, rounds=args.rounds,
               max_growth=args.max_growth,
               progress=progress)
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(render(out))
    return 0 if out["ok"] else 1


def render(out: dict) -> str:
    m, b, c = out["memory"], out["bindings"], out["clients_back"]
    hits = out["persistence_hits"]
    directions = ", ".join(f"{k} {v:,}" for k, v in out["directions"].items())
    lines = [
        (f"{out['rounds']} rounds in {out['wall_seconds']:.0f} s: {out['packets']:,} frames, "
         f"{out['capture_seconds']:,.0f} s of capture time"),
        f"switchovers: {out['switchovers']:,} ({directions})",
        (f"bindings taken over: {b['taken_over']:,}; lost {b['lost']:,}, model "
         f"{b['predicted']:,}; acknowledged and lost {b['acknowledged_lost']:,}"),
        (f"persistent clients back after a switchover: {c['clients']:,}, kept {c['kept']:,}, "
         f"re-balanced {c['rebalanced']:,}"),
        (f"persistence hits checked against their key's binding: {hits['checked']:,}, at "
         f"another real {hits['moved']:,}"),
        (f"memory ({m['measure']}): {m['first_mib']} MiB after round 1, "
         f"{m['after_warmup_mib']} after the warm-up, peak {m['peak_after_warmup_mib']}, "
         f"last {m['last_mib']}: growth {m['growth_mib']} MiB (bound {m['bound_mib']}); "
         f"raw RSS peak {m['raw_rss_peak_mib']} MiB"),
    ]
    lines += [f"ERROR: {e}" for e in out["errors"]]
    lines.append("soak: OK" if out["ok"] else f"soak: FAILED ({out['error_count']} errors)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
