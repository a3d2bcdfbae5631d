"""Clocks and memory for the benchmarks: wall time in ns, resident memory from /proc."""
from __future__ import annotations

import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable


def timed(fn: Callable[[], object]) -> int:
    """Nanoseconds one call of fn takes, with the garbage collector held off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        fn()
        return time.perf_counter_ns() - t0
    finally:
        if enabled:
            gc.enable()


def median_ns(samples: list[int]) -> float:
    return float(statistics.median(samples))


def rss_bytes() -> int | None:
    """Resident set size of this process (Linux /proc), or None where unavailable."""
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def traced_bytes(build: Callable[[], object]) -> int:
    """Bytes Python's allocators hold for what build() returns (tracemalloc: exact, slow)."""
    gc.collect()
    tracemalloc.start()
    try:
        kept = build()
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return size


class RssDelta:
    """Resident memory gained inside a with-block (None where /proc is unavailable)."""

    def __enter__(self) -> RssDelta:
        gc.collect()
        self.before = rss_bytes()
        self.delta: int | None = None
        return self

    def __exit__(self, *exc) -> None:
        after = rss_bytes()
        if self.before is not None and after is not None:
            self.delta = after - self.before
