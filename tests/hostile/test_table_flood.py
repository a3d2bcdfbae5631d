"""Floods of distinct SSL session IDs and cookie values meant to fill the persistence table.

Every full handshake teaches the switch a new session ID, every response a new passive
cookie: an attacker who makes the servers issue them can ask for as many as it likes.  The
table holds its capacity and not one entry more, in memory fixed when it was made; the
bindings it refuses are allocation failures on ``/stats/slb/maint``; the bindings of real
clients are never pushed out (every entry the switch keeps is persistent: a full table
refuses, it does not evict); and every connection, attacker's or not, is still served.

A table that may evict (``Policy.EVICT_LRU``, for ordinary entries) gives up ordinary entries
only: a flood never evicts a persistent one.
"""
from __future__ import annotations

import json
import random

from tests.hostile.traffic import addr, capture, console, cookie_visit, counter, tls_visit
from weboslb.table import CTable, KeyBatch, KeyKind, Policy, Status

MAINT = "/stats/slb/maint"


def summary(con, path) -> dict:
    assert con.execute(f"/maint/report {path}").error is None
    return json.loads(path.read_text())


def sid(tag: int, i: int) -> bytes:
    return bytes([tag]) * 28 + i.to_bytes(4, "big")


def test_a_session_id_flood_fills_the_table_to_its_capacity_and_no_further(tmp_path):
    capacity, legit, attacks = 128, 12, 1000
    con = console(capacity=capacity)
    frames = [f for i in range(legit)
              for f in tls_visit(addr(f"198.51.100.{i + 1}"), 41000 + i, b"", sid(1, i))]
    replay_ok(con, capture(tmp_path / "legit.pcap", frames))
    table = con.rt.switch.persistence.tables[KeyKind.SSLID]
    memory = table.stats(probes=False).memory_bytes
    first = {e.key: e.real for e in table.entries()}
    assert len(first) == legit

    # one attacking host, a full handshake a connection: the server issues a new ID each time
    bot = addr("203.0.113.66")
    frames = [f for i in range(attacks) for f in tls_visit(bot, 1024 + i, b"", sid(2, i))]
    replay_ok(con, capture(tmp_path / "flood.pcap", frames, start=1001.0))
    refused = attacks - (capacity - legit)
    assert len(table) == capacity
    assert table.stats(probes=False).memory_bytes == memory
    assert counter(con, MAINT, "Allocation failures") == refused
    report = summary(con, tmp_path / "flood.json")
    assert report["summary"]["table"]["alloc_failures"] == refused
    assert report["summary"]["reasons"] == {}  # every attacking connection was served too
    assert all(r["real"] is not None for r in report["connections"])

    # the real clients resume their sessions: each on its own real, as before the flood
    frames = [f for i in range(legit)
              for f in tls_visit(addr(f"198.51.100.{i + 1}"), 42000 + i, sid(1, i), sid(1, i))]
    replay_ok(con, capture(tmp_path / "resume.pcap", frames, start=1002.0))
    rows = summary(con, tmp_path / "resume.json")["connections"]
    assert [r["persist"] for r in rows] == ["hit"] * legit
    assert {e.key: e.real for e in table.entries() if e.key in first} == first


def test_a_cookie_flood_leaves_the_cookies_of_real_clients_bound(tmp_path):
    capacity, legit, attacks = 64, 8, 600
    con = console(capacity=capacity)
    frames = [f for i in range(legit)
              for f in cookie_visit(addr(f"198.51.100.{i + 1}"), 41000 + i, None,
                                    f"SID=user{i:04d}")]
    replay_ok(con, capture(tmp_path / "legit.pcap", frames))
    table = con.rt.switch.persistence.tables[KeyKind.COOKIE]
    first = {e.key: e.real for e in table.entries()}
    assert len(first) == legit

    # requests with made-up cookies bind nothing; the responses' Set-Cookies are learnt
    rng = random.Random(5)
    bot = addr("203.0.113.66")
    frames = [f for i in range(attacks)
              for f in cookie_visit(bot, 1024 + i, f"SID={rng.getrandbits(64):016x}",
                                    f"SID=bot{i:06d}")]
    replay_ok(con, capture(tmp_path / "flood.pcap", frames, start=1001.0))
    assert len(table) == capacity
    assert counter(con, MAINT, "Allocation failures") == attacks - (capacity - legit)

    frames = [f for i in range(legit)
              for f in cookie_visit(addr(f"198.51.100.{i + 1}"), 42000 + i, f"SID=user{i:04d}",
                                    None)]
    replay_ok(con, capture(tmp_path / "back.pcap", frames, start=1002.0))
    rows = summary(con, tmp_path / "back.json")["connections"]
    assert [r["persist"] for r in rows] == ["hit"] * legit
    assert {e.key: e.real for e in table.entries() if e.key in first} == first


def test_an_evicting_table_gives_up_ordinary_entries_never_persistent_ones():
    capacity, persistent = 4096, 1024
    rng = random.Random(11)
    keys = [rng.randbytes(32) for _ in range(capacity)]
    t = CTable(KeyKind.SSLID, capacity, policy=Policy.EVICT_LRU, seed=bytes(16))
    memory = t.stats(probes=False).memory_bytes
    kept = set(rng.sample(range(capacity), persistent))  # scattered among the ordinary ones
    for i, k in enumerate(keys):
        t.get_or_create(k, real=1, now=i // 64, timeout=3600, persistent=i in kept)
    # a flood of new ordinary keys, each touched once: four times the table
    flood = [rng.randbytes(32) for _ in range(4 * capacity)]
    for j in range(0, len(flood), 512):
        _, status = t.get_or_create_many(KeyBatch.of(KeyKind.SSLID, flood[j:j + 512]),
                                         reals=2, now=100 + j // 512, timeout=3600,
                                         persistent=False)
        assert set(status) == {Status.CREATED}
    s = t.stats(probes=False)
    assert (s.entries, s.memory_bytes, s.alloc_failures) == (capacity, memory, 0)
    assert s.evictions == len(flood)
    assert all(t.lookup(keys[i], now=200) is not None for i in kept)
    assert s.persistent == persistent
    # once only persistent entries are left, a new key is refused and counted, never placed
    full = CTable(KeyKind.SSLID, 64, policy=Policy.EVICT_LRU, seed=bytes(16))
    for k in keys[:64]:
        full.get_or_create(k, real=1, now=0, timeout=3600, persistent=True)
    assert full.get_or_create(flood[0], real=2, now=1, timeout=3600, persistent=False) == (
        Status.FULL, 0xFFFF)
    assert full.stats().alloc_failures == 1 and len(full) == 64


def replay_ok(con, path: str) -> None:
    out = con.execute(f"/maint/replay {path}")
    assert out.error is None, out.output
