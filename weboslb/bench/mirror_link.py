"""The two switches of ``weboslb bench mirror``, each in its own process, joined by loopback
TCP: a ``Pump`` runs one MirrorPeer on a non-blocking socket, and ``active_main`` /
``standby_main`` obey the parent's commands over a multiprocessing pipe.

Times sent back to the parent are ``time.monotonic_ns()``: one system-wide clock on Linux,
so a time taken in one process compares with a time taken in the other.
"""
from __future__ import annotations

import functools
import selectors
import signal
import socket
import time
from array import array

from weboslb.bench import mirror_baseline
from weboslb.engine.persist import Persistence
from weboslb.ha import MirrorPeer, mirror_key
from weboslb.table import KeyBatch, KeyKind

PASSPHRASE = "weboslb bench mirror"
TIMEOUT = 600  # seconds: the bindings' persistence timeout
RECV = 1 << 22
FILL_BATCH = 1 << 16
LAG_BASE = 1 << 28  # keys written during the lag run: beyond the bulk's
WRITE_WAKE = 0.00025  # seconds: the lag run's writer wakes at least this often


def ipv4_keys(lo: int, hi: int) -> bytes:
    """IPv4 client addresses lo..hi-1, packed big-endian."""
    a = array("I", range(lo, hi))
    if a.itemsize != 4:
        a = array("L", range(lo, hi))
    a.byteswap()
    return a.tobytes()


def fill(p: Persistence, lo: int, hi: int, now: int) -> None:
    """Persistent client-IP bindings for keys lo..hi-1, in C batches."""
    t = p.table(KeyKind.IPV4)
    for start in range(lo, hi, FILL_BATCH):
        end = min(hi, start + FILL_BATCH)
        reals = array("H", (i % 251 for i in range(start, end)))
        t.get_or_create_many(KeyBatch.from_buffer(KeyKind.IPV4, ipv4_keys(start, end), vsvc=1),
                             reals=reals, now=now, timeout=TIMEOUT)


class Pump:
    """One MirrorPeer on a connected non-blocking socket."""

    def __init__(self, peer: MirrorPeer, sock: socket.socket) -> None:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.peer, self.sock = peer, sock
        self.out = bytearray()
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ)
        self._writing = False
        self.samples: list[tuple[int, int]] | None = None  # (time, records applied)
        peer.connection_made(time.monotonic())

    def step(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for bytes; feed them, tick, send what is due.  False once
        the other end has closed the link."""
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0)
        if (want & selectors.EVENT_WRITE) != self._writing:
            self.sel.modify(self.sock, want)
            self._writing = bool(want & selectors.EVENT_WRITE)
        ready = self.sel.select(timeout)
        now = time.monotonic()
        if any(mask & selectors.EVENT_READ for _, mask in ready):
            try:
                data = self.sock.recv(RECV)
            except BlockingIOError:
                data = None
            if data == b"":
                return False
            if data:
                self.peer.receive(data, now)
                if self.samples is not None:
                    self.samples.append((time.monotonic_ns(), self.peer.stats.applied))
        self.peer.tick(now)
        self.flush()
        return True

    def flush(self) -> None:
        self.out += self.peer.data_to_send()
        if self.out:
            try:
                del self.out[:self.sock.send(self.out)]
            except BlockingIOError:
                pass

    def close(self) -> None:
        self.sel.close()
        self.sock.close()
        self.peer.connection_lost(time.monotonic())


@functools.cache
def _key() -> bytes:
    return mirror_key(PASSPHRASE)  # PBKDF2: once a process


def peer_for(switch_id: int, p: Persistence, role: str, batch: int) -> MirrorPeer:
    return MirrorPeer(switch_id, p, key=_key(), role=role, update=0, batch=batch, window=64,
                      budget=1 << 20)


def _serve(ctl, body) -> None:
    """Run body(ctl); report an exception to the parent as one line instead of a traceback.
    Ctrl-C is the parent's to handle: it stops both switches."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        body(ctl)
    except Exception as e:  # the parent prints it as the bench's one-line error
        ctl.send(("error", f"{type(e).__name__}: {e}"))


def active_main(ctl, entries: int, baseline_entries: int, capacity: int, batch: int) -> None:
    _serve(ctl, lambda c: _active(c, entries, baseline_entries, capacity, batch))


def _active(ctl, entries: int, baseline_entries: int, capacity: int, batch: int) -> None:
    now = int(time.monotonic())
    p = Persistence(capacity, seed=b"A" * 16)
    fill(p, 0, entries, now)
    base = Persistence(capacity, seed=b"a" * 16)
    fill(base, 0, baseline_entries, now)
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(60)
    ctl.send(("port", srv.getsockname()[1]))
    peer = peer_for(1, p, "active", batch)
    pump: Pump | None = None
    writing: tuple[float, int, float] | None = None  # (start, rate, seconds)
    written, log = 0, []
    while True:
        if ctl.poll():
            cmd, *args = ctl.recv()
            if cmd == "quit":
                return
            if cmd == "accept":  # a new standby: a new link
                if pump is not None:
                    pump.close()
                    pump = None
                pump = Pump(peer, srv.accept()[0])
            elif cmd == "baseline":
                sock = srv.accept()[0]
                with sock:
                    mirror_baseline.send(sock, base.table(KeyKind.IPV4), batch,
                                         int(time.monotonic()))
                ctl.send(("sent",))
            elif cmd == "write":
                writing, written, log = (time.monotonic(), args[0], args[1]), 0, []
        wait = 0.01
        if writing is not None:  # write what is due by now, waking at least every WRITE_WAKE
            start, rate, seconds = writing
            now = time.monotonic()
            total = int(rate * seconds)
            due = min(int((now - start) * rate), total) - written
            if due > 0:
                t = time.monotonic_ns()
                fill(p, LAG_BASE + written, LAG_BASE + written + due, int(now))
                written += due
                log.append((t, written))
            if written >= total:
                ctl.send(("written", log))
                writing = None
            else:
                wait = WRITE_WAKE
        if pump is not None and not pump.step(wait):
            pump.close()  # the standby left (to join again on a new link)
            pump = None
        elif pump is None:
            time.sleep(wait)


def standby_main(ctl, port: int, capacity: int, batch: int) -> None:
    _serve(ctl, lambda c: _standby(c, port, capacity, batch))


def _fresh(capacity: int) -> Persistence:
    """A restarted standby's tables (made before the clock starts: their memory is faulted
    in at creation, as a configured switch's are)."""
    p = Persistence(capacity, seed=b"B" * 16)
    p.table(KeyKind.IPV4)
    return p


def _standby(ctl, port: int, capacity: int, batch: int) -> None:
    pump: Pump | None = None
    p: Persistence | None = None
    want = 0  # lag run: records to apply before answering
    while True:
        if ctl.poll():
            cmd, *args = ctl.recv()
            if cmd == "quit":
                return
            if cmd == "sync":  # a fresh standby joins: time its bulk copy
                if pump is not None:
                    pump.close()
                    pump = None
                if p is not None:
                    p.close()
                p = _fresh(capacity)
                peer = peer_for(2, p, "standby", batch)
                t0 = time.monotonic_ns()
                pump = Pump(peer, socket.create_connection(("127.0.0.1", port)))
                deadline = time.monotonic() + 600
                while not peer.synced:
                    if not pump.step(0.01):
                        raise ConnectionError("the active closed the link during the bulk")
                    if time.monotonic() > deadline:
                        raise TimeoutError("the bulk copy did not finish within 600 s")
                t1 = time.monotonic_ns()
                ctl.send(("synced", t0, t1, len(p)))
            elif cmd == "lag":
                pump.samples = [(time.monotonic_ns(), pump.peer.stats.applied)]
                ctl.send(("ready",))
            elif cmd == "lag-end":
                want = pump.samples[0][1] + args[0]
            elif cmd == "baseline":
                q = _fresh(capacity)
                t0 = time.monotonic_ns()
                with socket.create_connection(("127.0.0.1", port)) as sock:
                    n = mirror_baseline.receive(sock, q.table(KeyKind.IPV4), args[0],
                                                int(time.monotonic()))
                ctl.send(("received", t0, time.monotonic_ns(), n))
                q.close()
        if pump is not None:
            if not pump.step(0.01):
                if pump.samples is not None:
                    raise ConnectionError("the active closed the mirror link in the lag run")
                pump.close()  # the active took the next standby's link
                pump = None
                continue
            if want and pump.peer.stats.applied >= want:
                ctl.send(("applied", pump.samples))
                pump.samples, want = None, 0
        else:
            time.sleep(0.01)
