"""The group metrics, one pure function each: scripted sequences a network engineer can check."""
from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from weboslb.config.menu import GROUP
from weboslb.engine import metrics
from weboslb.engine.metrics import METRICS, Candidate, ident

REPO = Path(__file__).resolve().parents[2]
KEYS = [bytes([10, k >> 8 & 0xFF, k & 0xFF, 7]) for k in range(3000)]


def reals(*weights: int, **state: list) -> list[Candidate]:
    """Candidates 1..n with these weights (and per-candidate current/response/load lists)."""
    out = []
    for i, w in enumerate(weights):
        extra = {k: v[i] for k, v in state.items()}
        out.append(Candidate(i + 1, ident(i + 1, f"10.1.1.{i + 1}"), w, **extra))
    return out


def run(metric: str, cands: list[Candidate], key: bytes = b"\x0a\x00\x00\x01", turns: int = 1):
    fn = METRICS[metric]
    return [cands[fn(cands, key, t)].real for t in range(turns)]


def spread(metric: str, cands: list[Candidate]) -> dict:
    fn = METRICS[metric]
    return {k: cands[fn(cands, k, 0)].real for k in KEYS}


def test_every_configurable_metric_has_a_function():
    field = next(f for f in GROUP.items if getattr(f, "name", None) == "metric")
    assert set(METRICS) == set(field.arg.options)
    assert metrics.DEFAULT_METRIC == "leastconns"


@pytest.mark.parametrize("weights, cycle", [
    ((1, 1, 1), [1, 2, 3]),
    ((3, 1), [1, 1, 2, 1]),
    ((5, 1, 1), [1, 1, 2, 1, 3, 1, 1]),  # nginx's smooth sequence: a a b a c a a
    ((2, 2), [1, 2, 1, 2]),
    ((1, 48), None),
])
def test_roundrobin_follows_the_weights(weights, cycle):
    n = sum(weights)
    seq = run("roundrobin", reals(*weights), turns=3 * n)
    if cycle is not None:
        assert seq[:n] == cycle
    assert seq[:n] * 3 == seq  # the cycle repeats
    assert Counter(seq[:n]) == {i + 1: w for i, w in enumerate(weights)}


@pytest.mark.parametrize("weights, current, turns, expect", [
    ((1, 1, 1), (5, 2, 9), 1, [2]),
    ((1, 1, 1), (3, 3, 3), 3, [1, 2, 3]),  # ties go round robin
    ((1, 1, 1), (3, 1, 1), 4, [2, 2, 3, 2]),  # the tie goes to the next in turn
    ((2, 1), (3, 2), 1, [1]),  # 3/2 < 2/1: the heavier real takes more sessions
    ((1, 4), (1, 4), 2, [1, 2]),  # 1/1 == 4/4: a tie
    ((10, 1), (0, 0), 2, [1, 2]),
])
def test_leastconns_picks_fewest_sessions_per_weight(weights, current, turns, expect):
    assert run("leastconns", reals(*weights, current=list(current)), turns=turns) == expect


def test_leastconns_fed_back_gives_a_weighted_share():
    cands = reals(1, 3)
    counts = Counter()
    for t in range(400):
        cur = [counts[c.real] for c in cands]
        cands = reals(1, 3, current=cur)
        counts[cands[METRICS["leastconns"](cands, b"", t)].real] += 1
    assert counts == {1: 100, 2: 300}


@pytest.mark.parametrize("metric, golden", [
    # pinned: two switches of an HA pair, and every release, must agree on these
    ("hash", [1, 3, 2, 1, 3, 1, 3, 3]),
    ("minmisses", [3, 3, 2, 3, 3, 3, 1, 2]),
    ("phash", [3, 3, 2, 3, 3, 3, 1, 2]),
])
def test_hash_metrics_are_fixed_functions_of_the_key(metric, golden):
    cands = reals(1, 1, 1)
    assert [run(metric, cands, bytes([10, 0, 0, k]), turns=1)[0] for k in range(1, 9)] == golden
    # the turn (how many selections came before) does not matter
    assert run(metric, cands, b"\x0a\x00\x00\x05", turns=5) == [golden[4]] * 5


def test_hash_metrics_do_not_depend_on_the_process_hash_seed():
    code = ("from weboslb.engine.metrics import METRICS, Candidate, ident\n"
            "c=[Candidate(i, ident(i, '10.1.1.%d' % i), i) for i in (1,2,3,4)]\n"
            "print([[METRICS[m](c, bytes([10,0,k,1]), 0) for k in range(64)]"
            " for m in ('hash','minmisses','phash')])")
    outs = {subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, text=True,
                           capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed}
                           ).stdout for seed in ("1", "2")}
    assert len(outs) == 1


@pytest.mark.parametrize("metric, weights, shares", [
    ("hash", (1, 1, 1), (1, 1, 1)),
    ("hash", (1, 2), (1, 2)),
    ("minmisses", (1, 1, 1, 1), (1, 1, 1, 1)),
    ("minmisses", (1, 5), (1, 1)),  # Web OS 10 does not weight minmisses
    ("phash", (1, 1, 1), (1, 1, 1)),
    ("phash", (1, 3), (1, 3)),
])
def test_hash_metrics_share_keys_as_the_weights_say(metric, weights, shares):
    got = Counter(spread(metric, reals(*weights)).values())
    for i, share in enumerate(shares):
        expected = len(KEYS) * share / sum(shares)
        assert abs(got[i + 1] - expected) < 0.1 * expected


@pytest.mark.parametrize("metric", ["minmisses", "phash"])
@pytest.mark.parametrize("gone", [0, 2, 3])
def test_persistent_hashes_move_only_the_keys_of_a_real_that_leaves(metric, gone):
    cands = reals(1, 2, 1, 3)
    before = spread(metric, cands)
    after = spread(metric, cands[:gone] + cands[gone + 1:])
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved == {k for k in KEYS if before[k] == gone + 1}
    # and when it comes back, exactly those keys return to it
    assert spread(metric, cands) == before


def test_plain_hash_reshuffles_when_a_real_leaves():
    cands = reals(1, 1, 1, 1)
    before = spread("hash", cands)
    after = spread("hash", cands[:3])
    stayed_on_others = [k for k in KEYS if before[k] != 4 and before[k] != after[k]]
    assert len(stayed_on_others) > len(KEYS) // 4  # why the AG recommends minmisses/phash


@pytest.mark.parametrize("response, current, turns, expect", [
    ((0.010, 0.020), (0, 0), 1, [1]),  # the faster real first
    ((0.010, 0.020), (1, 0), 1, [1]),  # (1+1)*10ms == (0+1)*20ms: a tie, turn 0 -> first
    ((0.010, 0.020), (2, 0), 1, [2]),
    ((0.050, 0.005), (5, 0), 1, [2]),
    ((None, 0.010), (0, 0), 2, [1, 2]),  # unmeasured: scored at the mean, here a tie
    ((None, None), (4, 2), 1, [2]),  # nothing measured: plain leastconns
])
def test_response_follows_measured_response_times(response, current, turns, expect):
    cands = reals(1, 1, response=list(response), current=list(current))
    assert run("response", cands, turns=turns) == expect


def test_response_fed_back_gives_the_faster_real_twice_the_sessions():
    counts = Counter()
    for t in range(300):
        cands = reals(1, 1, response=[0.010, 0.020], current=[counts[1], counts[2]])
        counts[cands[METRICS["response"](cands, b"", t)].real] += 1
    assert abs(counts[1] - 2 * counts[2]) <= 2


@pytest.mark.parametrize("load, current, weights, expect", [
    ((0.0, 0.0), (0, 0), (1, 1), 1),
    ((9e6, 1e6), (0, 0), (1, 1), 2),  # the real with the most free bandwidth
    ((1e6, 9e6), (0, 0), (1, 1), 1),
    ((1e6, 1e6), (3, 1), (1, 1), 2),
    ((2e6, 1e6), (0, 0), (4, 1), 1),  # weights apply on top
])
def test_bandwidth_follows_octet_load(load, current, weights, expect):
    cands = reals(*weights, load=list(load), current=list(current))
    assert run("bandwidth", cands) == [expect]


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_a_single_candidate_is_always_chosen(metric):
    assert run(metric, reals(7), turns=3) == [1, 1, 1]


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_weight_zero_or_garbage_state_never_raises(metric):
    cands = [Candidate(1, b"a", 0, 0, 0.0, 0.0), Candidate(2, b"b", -3, 5, None, 1e300)]
    assert METRICS[metric](cands, b"", 10**12) in (0, 1)
