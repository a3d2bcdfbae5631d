"""The mirror of two ``weboslb switch`` processes through a proxy that drops, delays,
duplicates, reorders, corrupts and cuts: while it does, no entry the active counts as
acknowledged is missing from the standby; once the link heals, the two tables are equal."""
from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from tests.io.test_switch_process import Switch, free_port, pair_config, replayed, split
from weboslb.io.process.proxy import FaultProxy, Faults
from weboslb.io.traffic import demo_capture


def entries(st: dict) -> dict[tuple, int]:
    return {(e["kind"], e["vsvc"], e["key"]): e["real"] for e in st["persistent"]["entries"]}


def acknowledged(st: dict) -> dict[tuple, int]:
    return {(e["kind"], e["vsvc"], e["key"]): e["real"]
            for e in st["mirror"].get("acknowledged") or ()}


class ProxyThread:
    """The fault proxy on its own event loop, in a thread of the test."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(proxy.start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.proxy.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.mark.parametrize("seed", [5])
def test_a_faulty_link_loses_no_acknowledged_entry_and_heals_to_equal_tables(tmp_path, seed):
    demo_capture(tmp_path / "all.pcap", seed=seed, clients=150, duration=40)
    split(tmp_path / "all.pcap", tmp_path / "first.pcap", tmp_path / "rest.pcap")
    mirror, via, vrrp = (free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM),
                         free_port(socket.SOCK_DGRAM))
    faults = Faults(drop=0.02, duplicate=0.03, reorder=0.03, corrupt=0.02, cut=0.01,
                    delay=0.002, seed=seed, every=8)
    # A (127.0.1.2) dials its peer's mirror: through the proxy on B's address
    proxy = ProxyThread(FaultProxy(("127.0.1.3", via), ("127.0.1.3", mirror), "127.0.1.2",
                                   faults))
    a = Switch(pair_config("ha-a.yaml", tmp_path), tmp_path, (mirror, vrrp),
               "--peer-mirror-port", str(via), "--replay", str(tmp_path / "first.pcap"),
               "--speed", "5", "--no-console")
    b = Switch(pair_config("ha-b.yaml", tmp_path), tmp_path, (mirror, vrrp), "--no-console")
    try:
        checks = 0
        while True:
            sa = a.status()
            sb = b.status()  # later than A's: what A counted as acknowledged must be there
            acked, held = acknowledged(sa), entries(sb)
            assert {k: held.get(k) for k in acked} == acked, b.log()
            checks += bool(acked)
            if replayed(sa):
                break
            time.sleep(0.05)
        assert checks >= 3
        injected = dict(faults.done)
        faults.off()
        sa = a.wait_for(lambda s: s["mirror"]["synced"] and s["persistent"]["count"] > 100
                        and len(s["mirror"]["acknowledged"]) == s["persistent"]["count"],
                        timeout=60)
        sb = b.status()
        assert entries(sb) == entries(sa)  # equal tables: kind, vsvc, key and real
        assert sb["role"] == "BACKUP" and sa["role"] == "MASTER"
    finally:
        a.stop()
        b.stop()
        proxy.stop()
    # the faults happened, and the mirror saw them
    assert {"drop", "duplicate", "reorder", "corrupt", "cut"} <= injected.keys(), injected
    assert proxy.proxy.connections >= 2 or "cut" not in injected
    bad = sb["mirror"]["dropped"]
    assert sum(bad.values()) + sb["mirror"]["resyncs"] + sa["mirror"]["retransmits"] > 0
