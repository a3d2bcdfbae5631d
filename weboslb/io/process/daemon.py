"""One switch as a process (``weboslb switch``): the sans-IO ``Node`` (switch, mirror, VRRP)
driven by an asyncio loop on the wall clock, its wires to the peer (``links``), captures
replayed into it (``feed``), its status on SIGUSR1, and the console on another thread.

Everything that touches the node runs under ``lock``: the loop's handlers hold it briefly,
the console holds it while a command runs (never while it waits for the operator), so a
console left at a question never stops the advertisements.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from weboslb.cli import render
from weboslb.cli.hastatus import NodeStatus
from weboslb.config.model import Config
from weboslb.ha.node import Node, bindings
from weboslb.ha.wire import Role
from weboslb.io import atomic
from weboslb.io.process.feed import LiveReplay
from weboslb.io.process.links import MIRROR_PORT, VRRP_PORT, AdvertLink, MirrorLink
from weboslb.io.replay import Result

TICK = 0.01  # seconds between two looks at the timers (VRRP, mirror heartbeats, flushes)
STATUS_ENTRIES = 100_000  # persistent entries listed in the status file at most


class WiringError(Exception):
    """The configuration does not say how to reach the peer (one line, a menu path)."""


@dataclass(frozen=True, slots=True)
class Wiring:
    """Where the process listens and whom it talks to; no peer: a standalone switch."""

    local: str | None
    peer: str | None
    mirror_port: int = MIRROR_PORT
    vrrp_port: int = VRRP_PORT
    peer_mirror_port: int | None = None  # where to dial the peer's mirror, if not mirror_port


def wiring(config: Config, *, mirror_port: int = MIRROR_PORT, vrrp_port: int = VRRP_PORT,
           peer_mirror_port: int | None = None) -> Wiring:
    """The first enabled ``/cfg/slb/sync/peer`` and this switch's interface on its subnet."""
    peers = [(k, p.addr) for k, p in sorted(config.slb.sync.peer.items()) if p.ena and p.addr]
    if not peers:
        return Wiring(None, None, mirror_port, vrrp_port, peer_mirror_port)
    k, peer = peers[0]
    addr = ipaddress.ip_address(peer)
    for n, itf in sorted(config.l3.if_.items()):
        if itf.ena and itf.addr and itf.mask:
            net = ipaddress.ip_network(f"{itf.addr}/{itf.mask}", strict=False)
            if addr in net and itf.addr != peer:
                return Wiring(itf.addr, peer, mirror_port, vrrp_port, peer_mirror_port)
    raise WiringError(f"/cfg/slb/sync/peer {k}: {peer} is on none of this switch's IP "
                      f"interfaces (/cfg/l3/if): nothing to reach it from")


class SwitchProcess:
    """The loop around one node (module docstring)."""

    def __init__(self, node: Node, wires: Wiring, *, name: str, config_name: str,
                 clock: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] | None = None,
                 status_path: str | None = None, speed: float = 1.0) -> None:
        self.node = node
        self.wires = wires
        self.name = name
        self.config_name = config_name
        self.clock = clock
        self.status_path = status_path
        self.speed = speed
        self.lock = threading.RLock()
        self.ha = NodeStatus(node, clock, pushed=self.poke)
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.adverts: AdvertLink | None = None
        self.mirror: MirrorLink | None = None
        self.replay: LiveReplay | None = None
        self.replay_paths: list[str] = []
        self.last_result: Result | None = None
        self.replay_done: Callable[[Result], None] | None = None
        self.on_running: Callable[[], None] | None = None  # the node has started
        self._waiting: list[str] = []  # --replay captures: they start once the switch serves
        self._stop: asyncio.Event | None = None
        self._exit = 0

    # ---- what the console and the command line call ------------------------------------

    def log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self._log(f"{stamp} {self.name}: {text}")

    def start_replay(self, paths: list[str]) -> str:
        """Replay captures into the running switch (from any thread); a report line."""
        if self.replay is not None:
            return (f"a replay is running ({self.replay.packets:,} frames so far): wait for "
                    f"it to end")
        if self.loop is None:
            return "the switch is not running"
        self.replay_paths = list(paths)
        self.loop.call_soon_threadsafe(self._launch, list(paths))
        pace = "as fast as the switch takes it" if self.speed <= 0 else \
            f"at {self.speed:g}x capture speed"
        return f"Replaying {', '.join(paths)} into the running switch {pace}."

    def poke(self) -> None:
        """Something changed outside the loop: send what is due now."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._pump_locked)

    def stop(self, code: int = 0) -> None:
        if self.loop is not None and self._stop is not None:
            self._exit = code
            self.loop.call_soon_threadsafe(self._stop.set)

    # ---- the loop -------------------------------------------------------------------------

    async def run(self, replays: list[str] = ()) -> int:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        w = self.wires
        if w.peer is not None:
            _, self.adverts = await self.loop.create_datagram_endpoint(
                lambda: AdvertLink((w.peer, w.vrrp_port), self._hear, self.log),
                local_addr=(w.local, w.vrrp_port), reuse_port=False)
            if self.node.mirror is not None:
                self.mirror = MirrorLink(w.local, w.peer, w.mirror_port,
                                         dial_port=w.peer_mirror_port, on_up=self._up,
                                         on_data=self._data, on_down=self._down,
                                         on_writable=self._pump_locked, log=self.log)
                await self.mirror.start()
        for sig, fn in ((signal.SIGUSR1, self.report_status), (signal.SIGTERM, self.stop),
                        (signal.SIGINT, self.stop)):
            self.loop.add_signal_handler(sig, fn)
        self.log(self._banner())
        with self.lock:
            self.node.start(self.clock())
            self._pump()
        if self.on_running is not None:
            self.on_running()
        self._waiting = list(replays)
        ticker = self.loop.create_task(self._ticker())
        try:
            await self._stop.wait()
        finally:
            ticker.cancel()
            self._shutdown()
        await asyncio.sleep(0.05)  # the priority-0 advertisements leave
        return self._exit

    async def _ticker(self) -> None:
        while True:
            with self.lock:
                now = self.clock()
                self.node.tick(now)
                self._pump()
                if self._waiting and self.node.served and self.replay is None:
                    paths, self._waiting = self._waiting, []
                    self.log("serving: the replay starts")
                    self._launch(paths)
            await asyncio.sleep(TICK)

    def _launch(self, paths: list[str]) -> None:
        if self.replay is not None:
            return
        with self.lock:
            self.replay = LiveReplay(self.node.switch, clock=self.clock, speed=self.speed,
                                     lock=self.lock, fed=self._pump,
                                     current=lambda: self.node.switch)
        self.replay_paths = paths
        self.loop.create_task(self._play(self.replay, paths))

    async def _play(self, replay: LiveReplay, paths: list[str]) -> None:
        try:
            result = await replay.play(paths, self.config_name)
        except Exception as exc:  # a bug must not take the switch down with it
            self.log(f"replay failed: {type(exc).__name__}: {exc}")
            self.replay = None
            return
        self.last_result, self.replay = result, None
        for line in result.errors:
            self.log(line)
        s = result.report["summary"]
        dropped = sum(n for w, n in s["reasons"].items() if w == "standby")
        self.log(f"replay done: {s['packets']:,} frames, {s['connections']:,} connections"
                 + (f", {dropped:,} frames dropped while standby" if dropped else ""))
        if self.replay_done is not None:
            self.replay_done(result)

    def _shutdown(self) -> None:
        """Leave as RFC 3768 asks: masters advertise priority 0 so the backup takes over at
        once; then close the wires."""
        with self.lock:
            self.node.vrrp.stop(self.clock())
            self._pump()
        if self.mirror is not None:
            self.mirror.close()
        self.log("stopped")

    # ---- the wires ------------------------------------------------------------------------

    def _pump_locked(self) -> None:
        with self.lock:
            self._pump()

    def _pump(self) -> None:
        """Act on what changed, then send what is due (the lock is held)."""
        node, now = self.node, self.clock()
        node.settle(now)
        if self.adverts is not None:
            for src, message in node.adverts():
                self.adverts.send(src, message)
        else:
            node.adverts()  # no peer to hear them
        if node.mirror is not None:
            if self.mirror is not None and self.mirror.up:
                if self.mirror.writable:
                    self.mirror.write(node.mirror_out())
            else:
                node.mirror_out()  # nobody to send to: the protocol resends on reconnect
        if node.notes:
            notes, node.notes = node.notes, []
            for note in notes:
                self.log(note.text)

    def _hear(self, message: bytes, src: str) -> None:
        with self.lock:
            self.node.hear(message, src, self.clock())
            self._pump()

    def _up(self) -> None:
        with self.lock:
            if self.node.mirror is not None:
                self.node.mirror.connection_made(self.clock())
            self.log(f"mirror: connected to {self.wires.peer}")
            self._pump()

    def _data(self, data: bytes) -> None:
        with self.lock:
            self.node.mirror_in(data, self.clock())
            self._pump()

    def _down(self, why: str) -> None:
        with self.lock:
            if self.node.mirror is not None:
                self.node.mirror.connection_lost(self.clock())
            self.log(f"mirror: {why}")
            self._pump()

    # ---- status ---------------------------------------------------------------------------

    def _banner(self) -> str:
        w = self.wires
        if w.peer is None:
            return f"running standalone (no sync peer), pid {os.getpid()}"
        mirror = f"mirror tcp/{w.mirror_port}" if self.node.mirror is not None else \
            "no mirror (/cfg/slb/sync/state dis)"
        return (f"running, pid {os.getpid()}: {w.local} <-> peer {w.peer} "
                f"(VRRP udp/{w.vrrp_port}, {mirror})")

    def status(self) -> dict:
        """What SIGUSR1 writes to the status file (docs/switch.md)."""
        with self.lock:
            node, now = self.node, self.clock()
            m = node.mirror
            table = bindings(node.switch.persistence, now)
            out: dict = {
                "switch": self.name, "pid": os.getpid(), "clock": now,
                "role": self.ha.role,
                "serving": sorted(str(ipaddress.ip_address(v)) for v in node.served),
                "vrrp": [{"vr": r.vr, "vrid": r.vrid, "addr": r.addr, "state": r.state,
                          "prio": r.prio} for r in self.ha.routers()],
                "mirror": None,
                "persistent": {"count": len(table),
                               "entries": _entries(table, lambda v: v[0])},
                "sessions": len(node.switch.sessions),
                "replay": {"running": self.replay is not None,
                           "captures": self.replay_paths, "frames": self._frames()},
            }
            if m is not None:
                st = m.stats
                out["mirror"] = {
                    "peer": self.wires.peer, "link": bool(self.mirror and self.mirror.up),
                    "state": m.state.value, "role": m.role.name.lower(), "ready": m.ready,
                    "synced": m.synced, "sent": st.sent, "bulk_sent": st.bulk_sent,
                    "acked": st.acked, "applied": st.applied,
                    "bulk_applied": st.bulk_applied, "retransmits": st.retransmits,
                    "resyncs": st.resyncs, "dropped": dict(st.dropped)}
                if m.role is Role.ACTIVE:
                    acked = m.acked_entries()
                    out["mirror"]["acknowledged"] = _entries(acked, lambda v: v)
            return out

    def _frames(self) -> int:
        """Frames the running replay has fed, else the last one's."""
        if self.replay is not None:
            return self.replay.packets
        return self.last_result.report["summary"]["packets"] if self.last_result else 0

    def report_status(self) -> None:
        """SIGUSR1: the status file (when asked for) and the console's views on stderr."""
        try:
            st = self.status()
            if self.status_path:
                atomic.write_text(self.status_path, json.dumps(st, indent=1) + "\n")
        except OSError as exc:
            self.log(f"status: cannot write {self.status_path}: {exc.strerror or exc}")
            return
        with self.lock:
            cfg = self.node.config
            lines = [f"status: {st['role']}, serving {', '.join(st['serving']) or 'nothing'}, "
                     f"{st['persistent']['count']:,} persistent entries, "
                     f"{st['sessions']:,} sessions"]
            lines += render.vrrp_info(cfg, self.ha.routers(), True)
            lines += render.sync_info(cfg, self.ha.sync_figures(), self.clock())
        for line in lines:
            self._log(f"{self.name}: {line}")


def _entries(table: dict, real: Callable) -> list[dict] | None:
    """(kind, vsvc, key) -> value as JSON rows, or None past ``STATUS_ENTRIES``."""
    if len(table) > STATUS_ENTRIES:
        return None
    return [{"kind": kind.label, "vsvc": vsvc, "key": key.hex(), "real": real(v)}
            for (kind, vsvc, key), v in sorted(table.items(), key=lambda kv: (
                kv[0][0].label, kv[0][1], kv[0][2]))]
