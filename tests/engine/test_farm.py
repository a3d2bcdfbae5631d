"""The farm: which real a new connection gets, backups and overflow, health and operator
changes, reconfiguration, and the counters behind /stats/slb."""
from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weboslb.config.model import Backup, Group, Real, Slb
from weboslb.engine.farm import Farm, Health, Pick
from weboslb.engine.stats import MaintStats

KEYS = [bytes([10, 0, k >> 8, k & 0xFF]) for k in range(600)]


def real(n: int, **kw) -> Real:
    return Real(**{"rip": f"10.1.1.{n}", "ena": True, **kw})


def config(reals: dict[int, dict] | int = 3, **groups: dict) -> Slb:
    """An SLB config: reals 1..n (or as given) and groups g1, g2, ... (default g1 = all)."""
    if isinstance(reals, int):
        reals = {n: {} for n in range(1, reals + 1)}
    grp = {int(k[1:]): Group(**v) for k, v in groups.items()} or {1: Group(reals=list(reals))}
    return Slb(on=True, real={n: real(n, **kw) for n, kw in reals.items()}, group=grp)


def take(farm: Farm, group=1, n: int = 1, key: bytes = b"\x0a\x00\x00\x01", now: float = 0.0,
         open_: bool = True) -> list[Pick | None]:
    """n new connections, opened on their real as the engine does."""
    out = []
    for _ in range(n):
        pick = farm.select(group, key, now)
        if pick is not None and open_:
            farm.opened(pick.real, now)
        out.append(pick)
    return out


def reals_of(picks) -> list:
    return [p.real if p else None for p in picks]


# ---- metrics through the farm ----------------------------------------------------------------


@pytest.mark.parametrize("metric, reals, expect", [
    ("roundrobin", {1: {}, 2: {}, 3: {}}, [1, 2, 3, 1, 2, 3]),
    ("roundrobin", {1: {"weight": 2}, 2: {}}, [1, 2, 1, 1, 2, 1]),
    ("leastconns", {1: {}, 2: {}, 3: {}}, [1, 2, 3, 1, 2, 3]),
    ("leastconns", {1: {"weight": 3}, 2: {}}, [1, 2, 1, 1, 1, 2, 1, 1]),
])
def test_the_group_metric_decides(metric, reals, expect):
    farm = Farm(config(reals, g1={"reals": list(reals), "metric": metric}))
    assert reals_of(take(farm, n=len(expect))) == expect


def test_leastconns_sees_closed_sessions():
    farm = Farm(config(2, g1={"reals": [1, 2], "metric": "leastconns"}))
    assert reals_of(take(farm, n=4)) == [1, 2, 1, 2]
    farm.closed(2, 1.0)
    farm.closed(2, 1.0)
    assert reals_of(take(farm, n=2)) == [2, 2]


def test_an_unknown_metric_falls_back_to_leastconns():
    farm = Farm(config(2, g1={"reals": [1, 2], "metric": "fastest"}))
    assert reals_of(take(farm, n=4)) == [1, 2, 1, 2]


@pytest.mark.parametrize("metric", ["hash", "minmisses", "phash"])
def test_hash_metrics_agree_across_switches_and_restarts(metric):
    reals = {1: {"weight": 2}, 2: {}, 3: {"weight": 3}}
    cfg = config(reals, g1={"reals": [1, 2, 3], "metric": metric})
    a, b = Farm(cfg), Farm(cfg)
    take(b, n=50, key=b"\x01\x02\x03\x04")  # b has a different history
    for r in (1, 2, 3):
        b.response_time(r, 0.01 * r)
    b.octets(2, 10**6, 0.0)
    first = {k: a.select(1, k, 0.0).real for k in KEYS}
    assert {k: b.select(1, k, 5.0).real for k in KEYS} == first
    restarted = Farm(config(reals, g1={"reals": [1, 2, 3], "metric": metric}))
    assert {k: restarted.select(1, k, 9.0).real for k in KEYS} == first


@pytest.mark.parametrize("metric", ["minmisses", "phash"])
@pytest.mark.parametrize("how", ["health", "oper", "removed"])
def test_persistent_hashes_move_only_the_clients_of_a_real_that_leaves(metric, how):
    reals = {1: {}, 2: {"weight": 2}, 3: {}, 4: {}}
    farm = Farm(config(reals, g1={"reals": [1, 2, 3, 4], "metric": metric}))
    before = {k: farm.select(1, k, 0.0).real for k in KEYS}
    if how == "health":
        farm.set_health(2, False)
    elif how == "oper":
        farm.set_oper(2, False)
    else:
        farm.reconfigure(config(reals, g1={"reals": [1, 3, 4], "metric": metric}))
    after = {k: farm.select(1, k, 0.0).real for k in KEYS}
    assert {k for k in KEYS if before[k] != after[k]} == {k for k in KEYS if before[k] == 2}


@pytest.mark.parametrize("metric", ["hash", "minmisses", "phash"])
def test_a_backup_real_takes_over_exactly_the_clients_of_its_real(metric):
    reals = {1: {"backup": 9}, 2: {}, 3: {}, 9: {}}
    farm = Farm(config(reals, g1={"reals": [1, 2, 3], "metric": metric}))
    before = {k: farm.select(1, k, 0.0).real for k in KEYS}
    farm.set_health(1, False)
    after = {k: farm.select(1, k, 0.0) for k in KEYS}
    for k in KEYS:
        expect = Pick(9, "backup", 1) if before[k] == 1 else Pick(before[k], "group", 1)
        assert after[k] == expect


def test_response_metric_follows_fed_response_times():
    farm = Farm(config(2, g1={"reals": [1, 2], "metric": "response"}))
    for _ in range(20):
        farm.response_time(1, 0.040)
        farm.response_time(2, 0.010)
    picks = Counter(reals_of(take(farm, n=50)))
    assert picks[2] == 40 and picks[1] == 10  # four times faster: four times the sessions
    for _ in range(60):  # real 2 slows down: the smoothed time follows
        farm.response_time(2, 0.160)
    assert reals_of(take(farm, n=1)) == [1]


def test_bandwidth_metric_follows_fed_octets():
    farm = Farm(config(2, g1={"reals": [1, 2], "metric": "bandwidth"}))
    farm.octets(1, 50_000_000, now=0.0)
    assert reals_of(take(farm, n=3, now=0.0, open_=False)) == [2, 2, 2]
    farm.octets(2, 50_000_000, now=60.0)  # a minute later real 1's burst has aged out
    assert reals_of(take(farm, n=3, now=60.0, open_=False)) == [1, 1, 1]
    assert farm.real_stats(1).octets == farm.real_stats(2).octets == 50_000_000


@pytest.mark.parametrize("seconds, octets", [
    (-1.0, -1), (0.0, 0), (float("nan"), -100), (float("inf"), 0), (-0.5, -(1 << 40)),
])
def test_bad_measurements_are_ignored(seconds, octets):
    farm = Farm(config(2, g1={"reals": [1, 2], "metric": "response"}))
    farm.response_time(1, seconds)
    farm.octets(1, octets, 0.0)
    farm.response_time(99, 0.1)  # an unknown real
    farm.octets(99, 100, 0.0)
    assert farm.real_stats(1).octets == 0
    assert reals_of(take(farm, n=2)) == [1, 2]


# ---- availability, backups, overflow ---------------------------------------------------------


@pytest.mark.parametrize("change, available", [
    (lambda f: None, True),
    (lambda f: f.set_health(1, False), False),
    (lambda f: f.set_oper(1, False), False),
    (lambda f: (f.set_oper(1, False), f.set_oper(1, True)), True),
    (lambda f: (f.set_health(1, False), f.set_health(1, True)), True),
    (lambda f: take(f, n=2), False),  # at maxcon
    (lambda f: (take(f, n=2), f.closed(1, 1.0)), True),
])
def test_available_means_enabled_up_and_below_maxcon(change, available):
    farm = Farm(config({1: {"maxcon": 2}}))
    change(farm)
    assert farm.available(1) is available


def test_a_configured_disabled_real_is_never_available():
    farm = Farm(config({1: {"ena": False}, 2: {}}))
    assert not farm.available(1) and farm.available(2) and not farm.available(7)
    assert reals_of(take(farm, n=3)) == [2, 2, 2]


def test_health_starts_up_and_counts_failures():
    farm = Farm(config(1))
    assert farm.health(1) is Health.UP and farm.health(5) is None
    for up in (False, False, True, False):
        farm.set_health(1, up)
    assert farm.health(1) is Health.DOWN
    assert farm.real_stats(1).failures == 2


def test_a_real_at_maxcon_overflows_to_its_backup():
    farm = Farm(config({1: {"maxcon": 2, "backup": 3}, 3: {}}, g1={"reals": [1]}))
    picks = take(farm, n=4)
    assert picks == [Pick(1, "group", 1)] * 2 + [Pick(3, "overflow", 1)] * 2
    assert (farm.maint.overflow_activations, farm.maint.backup_activations) == (2, 0)
    farm.closed(1, 1.0)
    assert take(farm) == [Pick(1, "group", 1)]


def test_a_real_at_maxcon_without_backup_gets_nothing_more():
    farm = Farm(config({1: {"maxcon": 1}, 2: {"maxcon": 1}}, g1={"reals": [1, 2]}))
    assert reals_of(take(farm, n=3)) == [1, 2, None]
    assert farm.maint.no_available_real == 1


@pytest.mark.parametrize("down", [
    lambda f: f.set_health(1, False),
    lambda f: f.set_oper(1, False),
])
def test_a_down_real_is_replaced_by_its_backup(down):
    farm = Farm(config({1: {"backup": 3}, 2: {}, 3: {}},
                       g1={"reals": [1, 2], "metric": "roundrobin"}))
    down(farm)
    assert take(farm, n=4) == [Pick(3, "backup", 1), Pick(2, "group", 1)] * 2
    assert farm.maint.backup_activations == 2


def test_a_backup_that_is_itself_down_does_not_serve():
    farm = Farm(config({1: {"backup": 3}, 2: {}, 3: {}}, g1={"reals": [1, 2]}))
    farm.set_health(1, False)
    farm.set_health(3, False)
    assert reals_of(take(farm, n=2)) == [2, 2]


@pytest.mark.parametrize("backup, expect", [
    (None, None),
    (Backup("r", 9), Pick(9, "backup", 1)),
    (Backup("g", 2), Pick(9, "backup", 2)),
])
def test_the_group_backup_serves_when_no_real_can(backup, expect):
    cfg = config({1: {}, 2: {}, 9: {}}, g1={"reals": [1, 2], "backup": backup},
                 g2={"reals": [9]})
    farm = Farm(cfg)
    assert take(farm) == [Pick(1, "group", 1)]
    farm.set_health(1, False)
    farm.set_oper(2, False)
    assert take(farm) == [expect]
    counted = (farm.maint.backup_activations, farm.maint.no_available_real)
    assert counted == ((0, 1) if expect is None else (1, 0))
    farm.set_health(1, True)  # the real comes back: the backup stands down
    assert take(farm) == [Pick(1, "group", 1)]


def test_group_backups_that_loop_end_in_no_available_real():
    cfg = config({1: {}, 2: {}}, g1={"reals": [1], "backup": Backup("g", 2)},
                 g2={"reals": [2], "backup": Backup("g", 1)})
    farm = Farm(cfg)
    farm.set_health(1, False)
    farm.set_health(2, False)
    assert take(farm, group=1) == [None] and take(farm, group=2) == [None]
    assert farm.maint.no_available_real == 2


def test_an_operationally_disabled_group_hands_over_to_its_backup():
    farm = Farm(config({1: {}, 9: {}}, g1={"reals": [1], "backup": Backup("r", 9)},
                       g2={"reals": [1]}))
    assert farm.set_group_oper(1, False) and not farm.set_group_oper(7, False)
    assert take(farm, group=1) == [Pick(9, "backup", 1)]
    assert take(farm, group=2) == [Pick(1, "group", 2)]  # the real itself is still fine
    farm.set_group_oper(1, True)
    assert take(farm, group=1) == [Pick(1, "group", 1)]


@pytest.mark.parametrize("call", [
    lambda f: f.set_health("nope", False),
    lambda f: f.set_oper(42, False),
    lambda f: f.set_group_oper("g", True),
])
def test_unknown_ids_are_refused_not_raised(call):
    assert call(Farm(config(1))) is False


def test_an_unknown_group_has_no_available_real():
    farm = Farm(config(1))
    assert farm.select(99, b"k", 0.0) is None and farm.group_stats(99) is None
    assert farm.maint.no_available_real == 1


def test_named_ids_work_like_numbers():
    cfg = Slb(real={"web1": real(1), "web2": real(2, backup="sorry"), "sorry": real(3)},
              group={"www": Group(reals=["web1", "web2"], metric="roundrobin")})
    farm = Farm(cfg)
    farm.set_oper("web2", False)
    assert reals_of(take(farm, group="www", n=2)) == ["web1", "sorry"]


# ---- reconfiguration and counters ------------------------------------------------------------


def test_reconfigure_keeps_the_counters_and_sessions_of_reals_that_stay():
    farm = Farm(config(3, g1={"reals": [1, 2, 3], "metric": "roundrobin"}))
    take(farm, n=6)
    farm.closed(1, 1.0)
    farm.octets(1, 900, 1.0)
    farm.set_health(3, False)
    farm.set_oper(2, False)
    farm.reconfigure(config({1: {"weight": 5}, 2: {}, 3: {}, 4: {}},
                            g1={"reals": [1, 2, 3, 4], "metric": "roundrobin"}))
    one = farm.real_stats(1)
    assert (one.current, one.total, one.highest, one.octets) == (1, 2, 2, 900)
    assert farm.real_stats(4).total == 0
    assert farm.health(3) is Health.DOWN and not farm.available(2)
    farm.reconfigure(config({1: {}, 4: {}}, g1={"reals": [1, 4]}))
    assert farm.real_stats(2) is None and farm.real_stats(3) is None
    farm.closed(2, 2.0)  # a session of a real that is gone: ignored
    farm.opened(3, 2.0)
    assert farm.real_stats(1).current == 1


def test_group_stats_show_the_reals_of_the_group():
    farm = Farm(config(3, g1={"reals": [1, 2], "metric": "roundrobin"}, g2={"reals": [3]}))
    take(farm, n=3)
    take(farm, group=2)
    farm.octets(2, 4000, 0.0)
    g = farm.group_stats(1)
    assert set(g.reals) == {1, 2}
    assert (g.totals.current, g.totals.total, g.totals.octets) == (3, 3, 4000)
    take(farm, n=1)
    assert g.totals.total == 3  # a snapshot


def test_clear_stats_zeroes_counters_but_not_sessions():
    maint = MaintStats()
    farm = Farm(config({1: {"maxcon": 1}}), maint=maint)
    take(farm, n=3)
    farm.set_health(1, False)
    farm.clear_stats()
    one = farm.real_stats(1)
    assert (one.current, one.total, one.highest, one.failures) == (1, 0, 1, 0)
    assert maint.no_available_real == 0 and farm.maint is maint


def test_every_selection_is_a_session_or_a_no_available_real():
    rng = random.Random(7)
    cfg = config({1: {"maxcon": 3, "backup": 4}, 2: {"weight": 2}, 3: {"maxcon": 2}, 4: {}},
                 g1={"reals": [1, 2, 3], "backup": Backup("r", 4), "metric": "leastconns"})
    farm = Farm(cfg)
    open_ = Counter()
    selects = picks = 0
    for step in range(2000):
        op = rng.random()
        r = rng.choice([1, 2, 3, 4])
        if op < 0.1:
            farm.set_health(r, rng.random() < 0.6)
        elif op < 0.15:
            farm.set_oper(r, rng.random() < 0.7)
        elif op < 0.5 and open_[r]:
            farm.closed(r, step)
            open_[r] -= 1
        else:
            selects += 1
            pick = farm.select(1, rng.randbytes(4), step)
            if pick is not None:
                picks += 1
                farm.opened(pick.real, step)
                open_[pick.real] += 1
    totals = sum(farm.real_stats(r).total for r in (1, 2, 3, 4))
    m = farm.maint
    assert totals == picks and picks + m.no_available_real == selects
    assert m.backup_activations + m.overflow_activations <= picks
    assert m.no_available_real > 0 and m.backup_activations > 0 and m.overflow_activations > 0
    assert all(farm.real_stats(r).current == open_[r] for r in (1, 2, 3, 4))


# ---- property: the chosen real can serve and belongs to the group ----------------------------

METRIC_NAMES = ["roundrobin", "leastconns", "minmisses", "hash", "response", "bandwidth",
                "phash"]


@st.composite
def farms(draw):
    n = draw(st.integers(1, 6))
    ids = list(range(1, n + 1))
    reals = {r: {"ena": draw(st.sampled_from([True, True, True, False])), "weight": draw(st.integers(1, 48)),
                 "maxcon": draw(st.integers(0, 3)),
                 "backup": draw(st.none() | st.sampled_from(ids))} for r in ids}
    members = draw(st.lists(st.sampled_from(ids), max_size=n, unique=True))
    backup = draw(st.none() | st.builds(Backup, st.just("r"), st.sampled_from(ids))
                  | st.builds(Backup, st.just("g"), st.sampled_from([1, 2])))
    cfg = config(reals, g1={"reals": members, "metric": draw(st.sampled_from(METRIC_NAMES)),
                            "backup": backup},
                 g2={"reals": draw(st.lists(st.sampled_from(ids), max_size=n, unique=True)),
                     "metric": draw(st.sampled_from(METRIC_NAMES))})
    ops = draw(st.lists(st.tuples(st.sampled_from(["health", "oper", "open", "close", "group",
                                                   "select", "select", "select"]),
                                  st.sampled_from(ids), st.booleans(), st.binary(max_size=6)),
                        max_size=40))
    return cfg, ops


def allowed(cfg: Slb, gid, seen=()) -> set:
    """The reals a group may hand a connection to: its reals, their backups, its backup."""
    g = cfg.group.get(gid)
    if g is None or gid in seen:
        return set()
    out = set(g.reals) | {cfg.real[r].backup for r in g.reals} - {None}
    if g.backup is not None:
        out |= {g.backup.id} if g.backup.kind == "r" else allowed(cfg, g.backup.id,
                                                                  (*seen, gid))
    return out


@settings(max_examples=300, deadline=None)
@given(farms())
def test_the_chosen_real_is_available_and_in_the_group(case):
    cfg, ops = case
    farm = Farm(cfg)
    group_on = {1: True, 2: True}
    for i, (op, r, flag, key) in enumerate(ops):
        if op == "health":
            farm.set_health(r, flag)
        elif op == "oper":
            farm.set_oper(r, flag)
        elif op == "open":
            farm.opened(r, float(i))
        elif op == "close":
            farm.closed(r, float(i))
        elif op == "group":
            group_on[1 + flag] = bool(key)
            farm.set_group_oper(1 + flag, bool(key))
        else:
            g = 1 if flag else 2
            pick = farm.select(g, key, float(i))
            if pick is None:
                if group_on[g]:
                    assert not any(farm.available(m) for m in cfg.group[g].reals)
            else:
                assert farm.available(pick.real)
                assert pick.real in allowed(cfg, g)
                assert pick.via in ("group", "backup", "overflow")
                farm.opened(pick.real, float(i))
