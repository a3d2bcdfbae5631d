"""Keys crafted to collide.  Against an unkeyed hash (the address itself, FNV-1a) they pile
into one home slot of a naive table; in the switch's table, hashed under a random per-table
seed, they spread like any keys.  Keys crafted against a table's own hash work only while its
seed is known: the same keys spread in a table with another seed, and every table draws its
own.  (``weboslb bench adversarial`` times the same keys: tests/hostile/test_bench.py.)"""
from __future__ import annotations

import random

import pytest

from tests.hostile.traffic import addr, capture, console, tls_visit
from weboslb.bench import adversarial
from weboslb.table import CTable, KeyBatch, KeyKind

N = 4096


def filled(kind: KeyKind, keys: list[bytes], seed: bytes | None = None) -> CTable:
    cap = 1 << (len(keys) - 1).bit_length()
    t = CTable(kind, cap, seed=seed)
    for i in range(0, len(keys), 1024):
        t.get_or_create_many(KeyBatch.of(kind, keys[i:i + 1024]), reals=1, now=1, timeout=60)
    return t


@pytest.mark.parametrize("kind", adversarial.KINDS)
def test_keys_crafted_against_an_unkeyed_hash_spread_in_the_keyed_table(kind):
    crafted = adversarial.crafted_keys(kind, N)
    assert len(set(crafted)) == N and {len(k) for k in crafted} == {adversarial.KEY_LEN[kind]}
    homes = {adversarial.unkeyed_home(kind, k) & (2 * N - 1) for k in crafted}
    assert len(homes) == 1  # one bucket of a naive index of the C table's size ...
    naive = adversarial.naive_probe_mean(
        [adversarial.unkeyed_home(kind, k) for k in crafted], 2 * N)
    assert naive == (N + 1) / 2  # ... so a hit there would probe half the keys
    crafted_stats = filled(KeyKind.parse(kind), crafted).stats()
    random_stats = filled(KeyKind.parse(kind), adversarial.random_keys(kind, N)).stats()
    assert crafted_stats.probe_mean < 2.0 and crafted_stats.probe_max < 64
    assert abs(crafted_stats.probe_mean - random_stats.probe_mean) < 0.25


def test_fnv1a_is_the_reference_function():
    assert adversarial.fnv1a(b"") == 0x811C9DC5
    assert adversarial.fnv1a(b"a") == 0xE40C292C
    assert adversarial.fnv1a(b"foobar") == 0xBF9CF968


def test_keys_crafted_against_a_known_seed_collide_only_under_that_seed():
    known = bytes(range(16))
    victim = CTable(KeyKind.SSLID, 256, seed=known)  # 512 index slots
    rng = random.Random(1)
    crafted: list[bytes] = []
    while len(crafted) < 48:  # what an attacker who knew the seed could do
        k = rng.randbytes(32)
        if victim.hash(k) & 511 == 0:
            crafted.append(k)
    for k in crafted:
        victim.get_or_create(k, real=1, now=1, timeout=60)
    hit = victim.stats()  # one run from the home slot: a hit probes half of it
    assert (hit.probe_mean, hit.probe_max) == (24.5, 47)  # max: a distance from home
    other = filled(KeyKind.SSLID, crafted, seed=bytes(range(1, 17)))
    assert other.stats().probe_max < 16
    # and no table takes a seed it was not given: each draws its own
    assert len({CTable(KeyKind.SSLID, 16).seed for _ in range(8)}) == 8


def test_crafted_session_ids_through_the_switch_cost_no_long_probes(tmp_path):
    con = console(capacity=1024)
    bot = addr("203.0.113.66")
    ids = adversarial.crafted_keys("sslid", 512)
    frames = [f for i, s in enumerate(ids) for f in tls_visit(bot, 1024 + i, b"", s)]
    frames += tls_visit(addr("198.51.100.1"), 40000, b"", b"\x11" * 32)
    frames += tls_visit(addr("198.51.100.1"), 40001, b"\x11" * 32, b"\x11" * 32)
    out = con.execute(f"/maint/replay {capture(tmp_path / 'crafted.pcap', frames)}")
    assert out.error is None, out.output
    table = con.rt.switch.persistence.tables[KeyKind.SSLID]
    s = table.stats()
    assert s.entries == 513 and s.probe_mean < 2.0 and s.probe_max < 32
    assert con.rt.switch.counts["persistence hits sslid"] == 1  # the real client resumed
