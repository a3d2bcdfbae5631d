"""Captures replayed into a running switch, paced by the wall clock.

Each frame's time moves onto the switch's clock: ``start + (t - first) / speed``, so a
capture plays at its own pace (``speed`` 1), faster, or (``speed`` 0) as fast as the switch
takes it, every frame stamped with the moment it goes in.  Frames go in when their time
has come, a slice at a time between the other work of the process (VRRP, the mirror, the
console); the report is the one ``weboslb replay`` writes.
"""
from __future__ import annotations

import asyncio
from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace

from weboslb.io.capture import Batch
from weboslb.io.replay import Options, Replayer, Result

SLICE = 512  # frames fed between two looks at the rest of the process
MAX_SLEEP = 0.05  # seconds: wake at least this often (a stop, a slower clock)


class LiveReplay(Replayer):
    """One replay into ``switch`` (``weboslb switch --replay``, ``/maint/replay``)."""

    def __init__(self, switch, *, clock: Callable[[], float], speed: float,
                 lock: AbstractContextManager, fed: Callable[[], None],
                 current: Callable[[], object], options: Options | None = None) -> None:
        super().__init__(switch, options or Options())
        self.clock = clock
        self.speed = speed
        self.lock = lock
        self.fed = fed  # after each slice: let the wires carry what the frames changed
        self.current = current  # the switch now running: a /boot/reset replaces it
        self.stopped: str | None = None
        self._shift: tuple[float, float] | None = None  # (capture's first time, start)

    async def play(self, paths: Sequence[str], config_name: str) -> Result:
        captures, errors = self.open(paths)
        started = self.clock()
        try:
            for batch in self.batches(captures):
                batch = self._rebase(batch)
                with self.lock:
                    self.account(batch)
                if not await self._play(batch):
                    break
        finally:
            for cap in captures:
                cap.close()
        if self.stopped:
            errors.append(self.stopped)
        with self.lock:
            return self.finish(captures, paths, errors, config_name, self.clock() - started)

    def stop(self, why: str) -> None:
        self.stopped = why

    async def _play(self, batch: Batch) -> bool:
        times, i, n = batch.times, 0, len(batch)
        while i < n:
            if self.stopped:
                return False
            if self.current() is not self.switch:
                self.stopped = "the replay stopped: the switch restarted (/boot/reset)"
                return False
            now = self.clock()
            cut = min(bisect_right(times, now, i, n), i + SLICE)
            if cut == i:
                await asyncio.sleep(min(times[i] - now, MAX_SLEEP))
                continue
            with self.lock:
                self.feed(batch, i, cut)
                self.fed()
            i = cut
            await asyncio.sleep(0)
        return True

    def _rebase(self, batch: Batch) -> Batch:
        """The batch with its frames' times on the switch's clock."""
        if self.speed <= 0:
            now = self.clock()
            return replace(batch, times=array("d", [now]) * len(batch))
        if self._shift is None:
            self._shift = (batch.times[0], self.clock())
        first, start = self._shift
        k = 1.0 / self.speed
        return replace(batch, times=array("d", [start + (t - first) * k for t in batch.times]))
