"""A fault-injecting TCP proxy for the mirror link of two ``weboslb switch`` processes: it
drops, delays, duplicates, reorders, corrupts and cuts what passes, so the mirror's recovery
(resync after a gap, the HMAC, the replay window, reconnection) is shown on real sockets.

The dialling switch is told the proxy's port as its peer's (``--peer-mirror-port``); the
proxy connects on to the listening switch *from the dialler's address*, which the listener
checks.  Faults act on the chunks the kernel hands over, in both directions.  ``Faults`` is
plain data: change it while the proxy runs (a test heals the link by zeroing it).

    python -m weboslb.io.process.proxy LISTEN_ADDR:PORT TARGET_ADDR:PORT --source ADDR
        [--drop P] [--duplicate P] [--reorder P] [--corrupt P] [--cut P] [--delay S]
        [--every N] [--seed N]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
from dataclasses import dataclass, field


ROTATION = ("drop", "duplicate", "reorder", "corrupt", "cut")


@dataclass(slots=True)
class Faults:
    """Probabilities per chunk (``delay``: seconds added to each); with ``every`` N, also
    every Nth chunk gets the next fault of ``ROTATION`` (so a short run sees each)."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    corrupt: float = 0.0
    cut: float = 0.0
    delay: float = 0.0
    seed: int = 0
    every: int = 0
    chunks: int = 0
    done: dict[str, int] = field(default_factory=dict)  # what was injected, by fault

    def off(self) -> None:
        self.drop = self.duplicate = self.reorder = self.corrupt = self.cut = self.delay = 0.0
        self.every = 0

    def draw(self, rng: random.Random) -> set[str]:
        """The faults for the next chunk."""
        self.chunks += 1
        out = {name for name in ROTATION if rng.random() < getattr(self, name)}
        if self.every and self.chunks % self.every == 0:
            out.add(ROTATION[self.chunks // self.every % len(ROTATION)])
        return out

    def count(self, what: str) -> None:
        self.done[what] = self.done.get(what, 0) + 1


class FaultProxy:
    def __init__(self, listen: tuple[str, int], target: tuple[str, int], source: str,
                 faults: Faults) -> None:
        self.listen, self.target, self.source = listen, target, source
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.connections = 0
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, *self.listen,
                                                  reuse_address=True)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._open):
            w.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self.target,
                                                       local_addr=(self.source, 0))
        except OSError:
            writer.close()
            return
        self.connections += 1
        self._open |= {writer, up_w}
        pipes = [asyncio.ensure_future(self._pipe(reader, up_w)),
                 asyncio.ensure_future(self._pipe(up_r, writer))]
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for p in pipes:
            p.cancel()
        for w in (writer, up_w):
            self._open.discard(w)
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        f, rng = self.faults, self.rng
        held: bytes | None = None
        while True:
            chunk = await reader.read(1 << 16)
            if not chunk:
                return
            if f.delay:
                await asyncio.sleep(f.delay)
            now = f.draw(rng)
            if "cut" in now:
                f.count("cut")
                return  # both sides of this connection close
            if "drop" in now:
                f.count("drop")
                continue
            if "corrupt" in now:
                f.count("corrupt")
                b = bytearray(chunk)
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
                chunk = bytes(b)
            if held is None and "reorder" in now:
                f.count("reorder")
                held = chunk  # goes out after the next chunk
                continue
            writer.write(chunk)
            if "duplicate" in now:
                f.count("duplicate")
                writer.write(chunk)
            if held is not None:
                writer.write(held)
                held = None
            await writer.drain()


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m weboslb.io.process.proxy",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("listen", type=_addr)
    p.add_argument("target", type=_addr)
    p.add_argument("--source", required=True, help="the dialling switch's sync address")
    for name in ("drop", "duplicate", "reorder", "corrupt", "cut", "delay"):
        p.add_argument(f"--{name}", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--every", type=int, default=0,
                   help="also every Nth chunk: the next of drop, duplicate, reorder, corrupt, cut")
    a = p.parse_args(argv)
    faults = Faults(a.drop, a.duplicate, a.reorder, a.corrupt, a.cut, a.delay, a.seed, a.every)

    async def run() -> None:
        proxy = FaultProxy(a.listen, a.target, a.source, faults)
        await proxy.start()
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        print(f"faults injected: {faults.done}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
