"""The replay's figures over capture time, for the report's plots: open sessions per real,
persistence-table size, and persistence new/hit per interval.

Samples are taken every ``step`` seconds of capture time; a long capture is thinned to at
most ``MAX_POINTS`` points by merging neighbours (levels keep the later sample, counts add).
"""
from __future__ import annotations

MAX_POINTS = 600


class Timeline:
    def __init__(self, reals: list[str]) -> None:
        self.reals = reals
        self.t: list[float] = []
        self.sessions: dict[str, list[int]] = {r: [] for r in reals}
        self.entries: list[int] = []
        self.new_total: list[int] = []  # cumulative: differenced on output
        self.hit_total: list[int] = []
        # more levels by name, each a dict of series (an HA replay: table size per switch)
        self.extra: dict[str, dict[str, list[int]]] = {}

    def __len__(self) -> int:
        return len(self.t)

    def add(self, t: float, sessions: dict[str, int], entries: int, new: int, hit: int
            ) -> None:
        self.t.append(t)
        for r in self.reals:
            self.sessions[r].append(sessions.get(r, 0))
        self.entries.append(entries)
        self.new_total.append(new)
        self.hit_total.append(hit)

    def add_extra(self, name: str, values: dict[str, int]) -> None:
        """More levels for the sample just added (``add`` first)."""
        series = self.extra.setdefault(name, {})
        for key, value in values.items():
            series.setdefault(key, [0] * (len(self.t) - 1)).append(value)

    def as_json(self) -> dict:
        keep = _thin(len(self.t))
        extra = {name: {k: [v[i] for i in keep] for k, v in series.items()}
                 for name, series in self.extra.items()}
        return {
            "t": [round(self.t[i], 6) for i in keep],
            "sessions": {r: [v[i] for i in keep] for r, v in self.sessions.items()},
            "table_entries": [self.entries[i] for i in keep],
            "persist_new": _per_interval(self.new_total, keep),
            "persist_hit": _per_interval(self.hit_total, keep),
            **extra,
        }


def _thin(n: int) -> list[int]:
    """Indices of the samples to keep: every k-th, always the last."""
    k = -(-n // MAX_POINTS) if n else 1
    keep = list(range(k - 1, n, k))
    if n and keep[-1] != n - 1:
        keep.append(n - 1)
    return keep


def _per_interval(totals: list[int], keep: list[int]) -> list[int]:
    out, before = [], 0
    for i in keep:
        out.append(totals[i] - before)
        before = totals[i]
    return out
