"""A SYN flood of spoofed sources, replayed into the switch console (``/maint/replay``).

The session table holds at most its limit; every SYN refused for want of room is an allocation
failure on ``/stats/slb/maint`` and a ``session_table_full`` drop in the report; connections
already open keep being served through the flood; half-open sessions are swept after four fast
periods, and then new clients are served again.  Under ``pbind clientip`` every spoofed
source would be a new binding: the persistence table fills to its capacity, refuses the rest
(counted the same way) and never gives up the bindings of real clients.
"""
from __future__ import annotations

import json

import pytest

from tests.hostile.traffic import (
    SYN,
    VIP,
    Conversation,
    addr,
    capture,
    console,
    counter,
    frame,
    replay,
    spoofed_sources,
)
from weboslb.engine.session import HALF_OPEN_SWEEPS
from weboslb.table.contract import KeyKind

MAINT = "/stats/slb/maint"


def report(con, path) -> dict:
    out = con.execute(f"/maint/report {path}")
    assert out.error is None, out.output
    return json.loads(path.read_text())


def flood(n: int, vport: int) -> list[bytes]:
    """``n`` SYNs from distinct spoofed sources, never followed up."""
    vip = addr(VIP)
    return [frame(src, vip, 1024 + i % 60000, vport, SYN, seq=i)
            for i, src in enumerate(spoofed_sources(n))]


def clients(n: int, vport: int, first: int = 1) -> list[Conversation]:
    return [Conversation(addr(f"198.51.100.{first + i}"), 40000 + i, vport) for i in range(n)]


@pytest.mark.parametrize("fastpath", [True, False], ids=["engine", "slow-path"])
def test_the_session_table_stays_within_its_limit_and_open_connections_are_served(tmp_path,
                                                                                 fastpath):
    limit, legit, spoofed = 400, 40, 3000
    con = console(capacity=1024, sessions=limit, fastpath=fastpath)
    people = clients(legit, 8081)
    frames = [f for c in people for f in c.open()]
    frames += flood(spoofed, 8081)
    # through the flood, the connections opened before it carry on
    frames += [f for c in people
               for f in c.exchange(b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.0 200")]
    replay(con, capture(tmp_path / "flood.pcap", frames))

    refused = spoofed - (limit - legit)
    assert counter(con, MAINT, "Maximum sessions") == limit
    assert counter(con, MAINT, "Current sessions") == limit
    assert counter(con, MAINT, "Allocation failures") == refused
    summary = report(con, tmp_path / "r.json")["summary"]
    # the only drops are the refused SYNs: no frame of an open connection was lost
    assert summary["reasons"] == {"session_table_full": refused}
    verdicts = summary["verdicts"]
    assert (verdicts["to_real"], verdicts["to_client"], verdicts["drop"]) == (
        4 * legit + limit - legit, 2 * legit, refused)
    assert sum(r["sessions"] for r in summary["reals"].values()) == legit + limit - legit

    # the half-open sessions go after four fast periods: new clients are served again
    later = clients(5, 8081, first=100)
    frames = [f for c in later for f in c.open()]
    start = 1000.0 + HALF_OPEN_SWEEPS + 2
    replay(con, capture(tmp_path / "later.pcap", frames, start=start))
    assert counter(con, MAINT, "Allocation failures") == refused  # nothing more refused
    assert counter(con, MAINT, "Current sessions") == legit + 5
    rows = report(con, tmp_path / "r2.json")["connections"]
    assert [r["real"] is not None for r in rows] == [True] * 5


@pytest.mark.parametrize("fastpath", [True, False], ids=["engine", "slow-path"])
def test_a_flood_under_pbind_clientip_never_evicts_the_bindings_of_real_clients(tmp_path,
                                                                               fastpath):
    capacity, legit, spoofed = 256, 30, 2000
    con = console(capacity=capacity, fastpath=fastpath)
    people = clients(legit, 8080)
    frames = [f for c in people for f in (*c.open(), *c.close())]
    replay(con, capture(tmp_path / "before.pcap", frames))
    table = con.rt.switch.persistence.tables[KeyKind.IPV4]
    bound = {e.key: e.real for e in table.entries()}
    memory = table.stats(probes=False).memory_bytes
    assert len(bound) == legit

    replay(con, capture(tmp_path / "flood.pcap", flood(spoofed, 8080), start=1001.0))
    refused = spoofed - (capacity - legit)
    assert len(table) == capacity  # full, and no larger
    assert table.stats(probes=False).memory_bytes == memory  # fixed at creation
    assert counter(con, MAINT, "Allocation failures") == refused
    summary = report(con, tmp_path / "r.json")["summary"]
    assert summary["table"]["alloc_failures"] == refused
    # a refused binding is no refused connection: the SYN is balanced by the metric
    assert summary["reasons"] == {}

    # the real clients come back: every one to the real it was bound to
    again = [Conversation(c.cip, c.cport + 1000, 8080) for c in people]
    frames = [f for c in again for f in (*c.open(), *c.close())]
    replay(con, capture(tmp_path / "again.pcap", frames, start=1002.0))
    rows = report(con, tmp_path / "r2.json")["connections"]
    assert [r["persist"] for r in rows] == ["hit"] * legit
    codes = {r.id: r.code for r in con.rt.switch.services.reals.values()}
    assert {addr(r["client_ip"]): codes[int(r["real"])] for r in rows} == bound
