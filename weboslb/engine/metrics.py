"""The group metrics (``/cfg/slb/group N/metric``): which candidate real gets a new connection.

Each metric is a pure function ``(candidates, key, turn) -> index``: ``candidates`` are the
group's reals that can take the connection now, in the group's configured order, with their
runtime state; ``key`` is the client IP (or the URL-hash input for ``urlhash`` services);
``turn`` counts the group's earlier selections (the round-robin cursor and the tie-breaker).
The farm (``farm.py``) builds the candidates and keeps ``turn``; ``METRICS`` maps the metric
names of the configuration to the functions.

What each metric does, and where weights apply (ref §2.5; Alteon AG "Metrics for Real Server
Groups" and "Weights for Real Servers"):

* ``roundrobin``: a smooth weighted round robin (a real of weight 3 gets 3 turns in each cycle
  of sum(weights), spread out rather than back to back).
* ``leastconns`` (the default): the fewest current sessions per unit of weight; ties go round
  robin, so equal reals take new connections in turn.
* ``hash``: the key's hash modulo the sum of the weights, over the candidates.  Even at any
  instant, but a candidate that leaves or returns moves keys of other reals too (as the AG
  warns).  Weights apply as in AlteonOS "weighted hash"; with all weights 1 it is plain hash.
* ``minmisses``: highest-random-weight: each candidate scores hash(key, real identity) and the
  highest wins, so a key stays on its real while other reals come and go.  The identity is the
  real's id and rip (the AG: "client source IP address and real server IP address are used").
  Web OS 10 does not weight minmisses [M], and neither do we.  The whole key is hashed: the
  device's ``mhash 24`` (upper 24 bits of the client IP) is not modelled yet, so an engine
  wanting it masks the key before ``select``.
* ``phash``: a persistent hash that honours weights: weighted rendezvous hashing (score
  ``-weight / ln(u)``), so each real gets a weight-proportional share and a real that leaves
  (down, disabled, at its limit, removed) moves only its own keys.  This keeps the AG's promise
  for phash (reals that stay keep their clients; "when all servers are available ... like
  hash" in evenness) without its modulo fallback.  With equal weights it picks exactly as
  minmisses does.
* ``response``: least connections with dynamic weights inversely proportional to the real's
  response time: the lowest ``(current + 1) * response / weight``.  A real not yet measured is
  scored at the mean of the measured ones (neutral) [I].
* ``bandwidth``: the same with the real's recent octet rate in place of the response time, so
  the real with the most free bandwidth gets the next connection [I].

A weight below 1 counts as 1.  All hashes are blake2b with a fixed personalisation, never Python's ``hash()``: both switches
of an HA pair, and a switch after a restart, choose the same real for the same key.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from weboslb.config.model import Id

_PERSON = b"weboslb-metric"  # blake2b personalisation: fixes the hash across processes
_TWO64 = float(1 << 64)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A real that can take the next connection, as a metric sees it.

    ``ident`` names the group slot for the hash metrics (a backup standing in for a real keeps
    that real's ident, so the real's keys move to it as a block); the other fields describe
    the real that would serve.
    """

    real: Id
    ident: bytes
    weight: int = 1
    current: int = 0  # current sessions
    response: float | None = None  # smoothed response time, seconds; None = not measured
    load: float = 0.0  # recent octets (decayed), for bandwidth


Metric = Callable[[Sequence[Candidate], bytes, int], int]


def ident(real: Id, rip: str | None) -> bytes:
    """The stable identity of a real for hashing: its id and its address."""
    return f"{real}/{rip or ''}".encode()


def _digest(*parts: bytes) -> int:
    h = hashlib.blake2b(digest_size=8, person=_PERSON)
    for p in parts:
        h.update(len(p).to_bytes(4, "big"))  # length-prefixed: ("ab","c") != ("a","bc")
        h.update(p)
    return int.from_bytes(h.digest(), "big")


def _weight(c: Candidate) -> int:
    return max(1, c.weight)


def _least(cands: Sequence[Candidate], score: Callable[[Candidate], float], turn: int) -> int:
    """The index of the lowest score; among ties, the first at or after the round-robin
    position ``turn``, so equal reals take new connections in their configured order."""
    scores = [score(c) for c in cands]
    best, n = min(scores), len(cands)
    return min((i for i, s in enumerate(scores) if s == best), key=lambda i: (i - turn) % n)


@lru_cache(maxsize=256)
def _schedule(weights: tuple[int, ...]) -> tuple[int, ...]:
    """One cycle of smooth weighted round robin (as nginx does it) over these weights."""
    total = sum(weights)
    cur = [0] * len(weights)
    out = []
    for _ in range(total):
        for i, w in enumerate(weights):
            cur[i] += w
        best = max(range(len(weights)), key=lambda i: (cur[i], -i))
        cur[best] -= total
        out.append(best)
    return tuple(out)


def roundrobin(cands: Sequence[Candidate], key: bytes, turn: int) -> int:
    sched = _schedule(tuple(_weight(c) for c in cands))
    return sched[turn % len(sched)]


def leastconns(cands: Sequence[Candidate], key: bytes, turn: int) -> int:
    return _least(cands, lambda c: c.current / _weight(c), turn)


def hash(cands: Sequence[Candidate], key: bytes, turn: int) -> int:  # noqa: A001 (Alteon's word)
    point = _digest(key) % sum(_weight(c) for c in cands)
    for i, c in enumerate(cands):
        point -= _weight(c)
        if point < 0:
            return i
    return len(cands) - 1  # not reached


def minmisses(cands: Sequence[Candidate], key: bytes, turn: int) -> int:
    scores = [(_digest(key, c.ident), -i) for i, c in enumerate(cands)]
    return -max(scores)[1]


def phash(cands: Sequence[Candidate], key: bytes, turn: int) -> int:
    def score(c: Candidate) -> float:
        u = (_digest(key, c.ident) + 0.5) / _TWO64  # in (0, 1)
        return -_weight(c) / math.log(u)

    return max(range(len(cands)), key=lambda i: (score(cands[i]), -i))


def response(cands: Sequence[Candidate], key: bytes, turn: int) -> int:
    measured = [c.response for c in cands if c.response is not None]
    neutral = sum(measured) / len(measured) if measured else 1.0
    return _least(cands, lambda c: (c.current + 1) * max(
        c.response if c.response is not None else neutral, 1e-9) / _weight(c), turn)


def bandwidth(cands: Sequence[Candidate], key: bytes, turn: int) -> int:
    return _least(cands, lambda c: (c.current + 1) * (c.load + 1.0) / _weight(c), turn)


METRICS: dict[str, Metric] = {
    "roundrobin": roundrobin,
    "leastconns": leastconns,
    "minmisses": minmisses,
    "hash": hash,
    "response": response,
    "bandwidth": bandwidth,
    "phash": phash,
}
DEFAULT_METRIC = "leastconns"
