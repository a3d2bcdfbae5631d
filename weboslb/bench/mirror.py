"""Stateful failover's mirror link between two processes over loopback TCP.

Switch A (the active) holds ``entries`` persistent client-IP bindings; switch B (the standby)
joins as a fresh standby ``repeat`` times, and each time receives a full bulk copy through
the real mirror protocol (handshake, authenticated RECORDS filled and applied by one C call
each, acknowledgements, window).  ``bulk_eps`` is the median of entries / (SYNCED applied on
B - B's connect).  Beside it, in the same run, the baseline sends ``baseline_entries`` with
the per-entry Python path (``mirror_baseline``): ``ratio`` = bulk_eps / baseline_eps.

Then, on the synced link, immediate mode (update 0): A creates new bindings at ``rate`` a
second for ``seconds``, in a write every millisecond.  For each binding, the lag runs from
just before A wrote it to just after B applied it, on the host's one monotonic clock.
``lag_p50_ms`` and ``lag_p99_ms`` are its percentiles over every binding written.
"""
from __future__ import annotations

import bisect
import multiprocessing
import statistics
from dataclasses import asdict, dataclass

from weboslb.bench import mirror_link

WAIT = 900.0  # seconds a step of the run may take before the bench gives up


class BenchError(RuntimeError):
    """A switch process failed or stopped answering: one line for the user."""


@dataclass(frozen=True, slots=True)
class Record:
    bulk_entries: int
    bulk_eps: float
    baseline_eps: float
    ratio: float
    lag_p50_ms: float
    lag_p99_ms: float
    baseline_entries: int
    lag_updates: int
    lag_rate: int
    lag_max_ms: float
    repeat: int

    def as_json(self) -> dict:
        return asdict(self)


def capacity_for(n: int) -> int:
    """The table size (a power of two) holding n entries."""
    return 1 << max(10, (n - 1).bit_length())


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest rank."""
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[i]


def lags_ms(written: list[tuple[int, int]], applied: list[tuple[int, int]]) -> list[float]:
    """Each binding's lag: ``written`` holds (time, bindings written so far) after each
    write, ``applied`` (time, records applied so far) after each read on the standby, whose
    first sample is its count before the run.  Records apply in the order they were
    written (the journal's order), so binding i is applied at the first sample counting
    more than i."""
    base = applied[0][1]
    counts = [c - base for _, c in applied]
    out, done = [], 0
    for t_write, upto in written:
        for i in range(done, upto):
            j = bisect.bisect_right(counts, i)
            if j == len(counts):
                raise BenchError(f"binding {i} of the lag run was never applied")
            out.append((applied[j][0] - t_write) / 1e6)
        done = upto
    return out


class _Switch:
    """A switch process and its command pipe."""

    def __init__(self, ctx, name: str, target, *args) -> None:
        self.name = name
        self.ctl, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.proc.start()
        child.close()

    def send(self, *msg) -> None:
        self.ctl.send(msg)

    def expect(self, what: str, timeout: float = WAIT) -> tuple:
        if not self.ctl.poll(timeout):
            raise BenchError(f"the {self.name} process gave no {what!r} within {timeout:g} s")
        try:
            msg = self.ctl.recv()
        except EOFError:
            raise BenchError(f"the {self.name} process died (exit code "
                             f"{self.proc.exitcode})") from None
        if msg[0] == "error":
            raise BenchError(f"the {self.name} process failed: {msg[1]}")
        if msg[0] != what:
            raise BenchError(f"the {self.name} process answered {msg[0]!r}, not {what!r}")
        return msg[1:]

    def stop(self) -> None:
        try:
            self.ctl.send(("quit",))
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


def run(entries: int = 1_000_000, *, baseline_entries: int = 100_000, repeat: int = 3,
        rate: int = 100_000, seconds: float = 2.0, batch: int = 8192, progress=None) -> Record:
    say = progress or (lambda msg: None)
    lag_updates = int(rate * seconds)
    capacity = capacity_for(max(entries + lag_updates, baseline_entries))
    ctx = multiprocessing.get_context("spawn")
    say(f"filling switch A with {entries:,} bindings")
    a = _Switch(ctx, "active", mirror_link.active_main, entries, baseline_entries, capacity,
                batch)
    b = None
    try:
        (port,) = a.expect("port")
        b = _Switch(ctx, "standby", mirror_link.standby_main, port, capacity, batch)
        bulk, base = [], []
        for r in range(repeat):  # alternate the two so that the machine's noise falls on both
            say(f"baseline {r + 1}/{repeat}: {baseline_entries:,} entries, per entry")
            a.send("baseline")
            b.send("baseline", baseline_entries)
            t0, t1, n = b.expect("received")
            a.expect("sent")
            base.append(n * 1e9 / (t1 - t0))
            say(f"bulk sync {r + 1}/{repeat}: {entries:,} entries")
            a.send("accept")
            b.send("sync")
            t0, t1, held = b.expect("synced")
            if held != entries:
                raise BenchError(f"the standby holds {held:,} bindings after the bulk copy, "
                                 f"not {entries:,}")
            bulk.append(entries * 1e9 / (t1 - t0))
        say(f"immediate mode: {lag_updates:,} bindings at {rate:,}/s")
        b.send("lag")
        b.expect("ready")
        a.send("write", rate, seconds)
        (written,) = a.expect("written")
        b.send("lag-end", written[-1][1] if written else 0)
        (applied,) = b.expect("applied")
    finally:
        for s in (b, a):
            if s is not None:
                s.stop()
    lags = sorted(lags_ms(written, applied))
    bulk_eps, baseline_eps = statistics.median(bulk), statistics.median(base)
    return Record(bulk_entries=entries, bulk_eps=bulk_eps, baseline_eps=baseline_eps,
                  ratio=bulk_eps / baseline_eps, lag_p50_ms=percentile(lags, 0.5),
                  lag_p99_ms=percentile(lags, 0.99), baseline_entries=baseline_entries,
                  lag_updates=len(lags), lag_rate=rate, lag_max_ms=lags[-1] if lags else 0.0,
                  repeat=repeat)
