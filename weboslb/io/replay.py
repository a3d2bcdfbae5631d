"""Replaying captures through a switch (shell): frames from the files, on the captures' own
clock, in batches into ``Switch.process_batch``; events into the connection ledger; samples
into the timeline; figures into the report dict that the text summary, ``--report-json`` and
``--report-html`` all read (docs/reports.md).

Bad input never costs what came before it: a capture that cannot be opened, or that breaks
part-way, leaves one line in ``errors`` and the replay goes on with what it has.
"""
from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from weboslb.config.model import Config
from weboslb.engine.persist import DEFAULT_CAPACITY
from weboslb.engine.switch import Switch
from weboslb.io.capture import Batch, Capture, CaptureError, merge, open_capture
from weboslb.io.views import Views
from weboslb.proto.packet import Link
from weboslb.report.ledger import Ledger
from weboslb.report.summary import PBINDS, RunFacts, summarize
from weboslb.report.timeline import Timeline

BATCH = 4096  # frames a C call takes
_LINKS = frozenset(int(link) for link in Link)
Progress = Callable[[int, int, int], None]  # (bytes read, bytes in all, packets)


@dataclass(slots=True)
class Options:
    capacity: int = DEFAULT_CAPACITY  # persistence entries per key kind
    batch: int = BATCH
    step: float = 1.0  # seconds of capture time between timeline samples
    out_pcap: Path | None = None  # directory for the client- and server-side views
    connections: bool = True  # keep the per-connection ledger (the JSON report needs it)
    # persistence tables and the flow table faulted in whole when made: a replay's big tables
    # mostly stay empty, so it lets their memory be touched as entries and flows arrive
    prefault: bool = False
    progress: Progress | None = None
    seed: bytes | None = None


@dataclass(slots=True)
class Result:
    report: dict
    switch: Switch
    replayed: bool  # at least one frame went through the switch
    fast: int  # frames the C fast path decided
    errors: list[str] = field(default_factory=list)


def replay(config: Config, paths: Sequence[str], *, config_name: str = "embedded default",
           options: Options | None = None) -> Result:
    opts = options or Options()
    switch = Switch(config, capacity=opts.capacity, seed=opts.seed,
                    frames=opts.out_pcap is not None, events=opts.connections,
                    prefault=opts.prefault)
    return Replayer(switch, opts).run(paths, config_name)


class Replayer:
    def __init__(self, switch: Switch, options: Options) -> None:
        self.switch = switch
        self.opts = options
        self.ledger = Ledger()
        self.timeline = Timeline([str(r) for r in switch.services.reals])
        self.packets = self.bytes = self.fast = 0
        self.first: float | None = None
        self.last: float | None = None
        self._next_sample = 0.0
        self._connections = 0
        self._unknown: dict[tuple[str, int], tuple[int, int]] = {}  # first offset, frames

    def run(self, paths: Sequence[str], config_name: str) -> Result:
        captures, errors = self.open(paths)
        views = Views(self.opts.out_pcap) if self.opts.out_pcap is not None else None
        started = time.perf_counter()
        try:
            self._feed(captures, views)
        finally:
            if views is not None:
                views.close()
            for cap in captures:
                cap.close()
        return self.finish(captures, paths, errors, config_name,
                           time.perf_counter() - started)

    def open(self, paths: Sequence[str]) -> tuple[list[Capture], list[str]]:
        """The captures that open, and a line for each that does not."""
        errors: list[str] = []
        captures: list[Capture] = []
        for path in paths:
            try:
                captures.append(open_capture(path))
            except CaptureError as exc:
                errors.append(str(exc))
        return captures, errors

    def finish(self, captures: list[Capture], paths: Sequence[str], errors: list[str],
               config_name: str, elapsed: float) -> Result:
        """Every frame was fed: the errors the captures met, the report."""
        errors += [str(cap.error) for cap in captures if cap.error is not None]
        errors += [f"{path}: offset {off}: link type {link} is not one the switch decodes "
                   f"(Ethernet, raw IP, Linux cooked): {n:,} frames passed unexamined"
                   for (path, link), (off, n) in self._unknown.items()]
        errors += [f"{cap.path}: {cap.skipped:,} zero-length record"
                   f"{'s' * (cap.skipped != 1)} skipped" for cap in captures if cap.skipped]
        self._end()
        if self.last is not None:
            self._sample(self.last)
        facts = RunFacts(tuple(c.path for c in captures) or tuple(paths), config_name,
                         self.packets, self.bytes, self.first, self.last, elapsed, tuple(errors))
        return Result(self._report(facts), self.switch, self.packets > 0, self.fast, errors)

    def _report(self, facts: RunFacts) -> dict:
        self.ledger.feed(self.switch.drain())
        self.ledger.finish(self._state_of)
        connections = len(self.ledger) if self.opts.connections else self._connections
        return {
            "summary": summarize(self.switch, facts, connections),
            "connections": [row.as_json() for row in self.ledger.rows],
            "timeline": self.timeline.as_json(),
        }

    # ---- hooks of the HA replay (io/pair.py) ------------------------------------------------

    def _begin(self, t0: float) -> None:
        """The first frame's time is known (before it is replayed)."""

    def _end(self) -> None:
        """Every frame was replayed."""

    # ---- the frame loop -------------------------------------------------------------------

    def batches(self, captures: list[Capture]) -> Iterator[Batch]:
        """The captures' frames in time order, a batch at a time."""
        if len(captures) > 1:
            return merge(captures, self.opts.batch)
        return captures[0].batches(self.opts.batch) if captures else iter(())

    def _feed(self, captures: list[Capture], views: Views | None) -> None:
        total = sum(c.size or 0 for c in captures)
        for batch in self.batches(captures):
            self.account(batch)
            self.feed(batch, 0, len(batch), views)
            if self.opts.progress is not None:
                self.opts.progress(sum(c.position for c in captures), total, self.packets)

    def account(self, batch: Batch) -> None:
        """A batch is about to be fed: the run's first and last times, its totals."""
        n = len(batch)
        if self.first is None:
            self.first = batch.times[0]
            self._begin(self.first)
            self._next_sample = self.first + self.opts.step
            self._sample(self.first)
        self.packets += n
        self.bytes += batch.wire_bytes
        self.last = batch.times[n - 1]

    def feed(self, batch: Batch, start: int, stop: int, views: Views | None = None) -> None:
        """Frames ``start:stop`` of an accounted batch, into the switch."""
        for first, end, link in _link_runs(batch, start, stop):
            if link not in _LINKS:
                self._unknown_link(batch, first, end, link)
            self._run(batch, first, end, link, views)

    def _run(self, batch: Batch, start: int, stop: int, link: int, views: Views | None
             ) -> None:
        """Frames ``start:stop`` of one link type, cut where a timeline sample is due."""
        times = batch.times
        while start < stop:
            cut = bisect_left(times, self._next_sample, start, stop)
            if cut > start:
                if views is None:
                    self.fast += self.switch.process_batch(
                        batch.buf, batch.offsets[start:cut], batch.lengths[start:cut],
                        times[start:cut], link).fast
                else:
                    for i in range(start, cut):
                        views.write(times[i], link, self.switch.process(
                            batch.frame(i), times[i], link=link))
                self._collect()
            if cut < stop:
                self._sample(self._next_sample)
                # the next sample after the next frame: a silent hour is one sample, not 3600
                steps = int((times[cut] - self.first) // self.opts.step) + 1
                self._next_sample = max(self._next_sample + self.opts.step,
                                        self.first + steps * self.opts.step)
            start = cut

    def _unknown_link(self, batch: Batch, start: int, stop: int, link: int) -> None:
        first, n = self._unknown.get((batch.path, link), (None, 0))
        if first is None:
            first = batch.file_offsets[start]
        self._unknown[batch.path, link] = (first, n + stop - start)

    def _collect(self) -> None:
        if self.opts.connections:
            self.ledger.feed(self.switch.drain())
        else:  # a summary-only switch keeps no events, only the count
            self._connections = self.switch.connections

    def _sample(self, t: float) -> None:
        sw = self.switch
        counts = sw.counts
        sessions = {}
        for rid in sw.services.reals:
            st = sw.farm.real_stats(rid)
            sessions[str(rid)] = st.current if st else 0
        self.timeline.add(t - (self.first or t), sessions, len(sw.persistence),
                          sum(counts.get("persistence new " + m, 0) for m in PBINDS),
                          sum(counts.get("persistence hits " + m, 0) for m in PBINDS))

    def _state_of(self, conn) -> str | None:
        s = self.switch.sessions.peek(conn)
        return None if s is None else s.state.value


def _link_runs(batch: Batch, start: int, stop: int) -> Iterator[tuple[int, int, int]]:
    """(start, stop, link) runs of frames ``start:stop`` sharing a link type."""
    links = batch.links
    if isinstance(links, int):
        if stop > start:
            yield start, stop, links
        return
    first = start
    for i in range(start + 1, stop + 1):
        if i == stop or links[i] != links[first]:
            yield first, i, links[first]
            first = i
