"""The figures of a replay, JSON-ready: what ``--report-json`` writes under ``summary`` and the
text summary prints.  Read from the switch after the run (docs/reports.md has the schema)."""
from __future__ import annotations

from dataclasses import dataclass

from weboslb.engine.events import Verdict, Why
from weboslb.engine.services import text
from weboslb.engine.switch import Switch

PBINDS = ("clientip", "cookie", "sslid", "ftp", "urlhash")


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the shell knows about a run and the switch does not."""

    captures: tuple[str, ...]
    config: str
    packets: int
    bytes: int
    first_ts: float | None
    last_ts: float | None
    elapsed: float
    errors: tuple[str, ...] = ()


def persistence(counts) -> dict[str, dict[str, int]]:
    """New bindings and hits by pbind mode, for the modes that occurred."""
    out = {}
    for mode in PBINDS:
        new, hit = counts.get("persistence new " + mode, 0), counts.get(
            "persistence hits " + mode, 0)
        if new or hit:
            out[mode] = {"new": new, "hit": hit}
    return out


def summarize(switch: Switch, facts: RunFacts, connections: int) -> dict:
    switch.sync()  # fold the fast path's byte counts and idle times
    first, last = facts.first_ts, facts.last_ts
    duration = (last - first) if first is not None and last is not None else 0.0
    reals = {}
    for rid, real in switch.services.reals.items():
        st = switch.farm.real_stats(rid)
        reals[str(rid)] = {"name": real.name, "rip": text(real.rip),
                           "sessions": st.total if st else 0, "bytes": st.octets if st else 0,
                           "current": st.current if st else 0}
    table = switch.persistence
    return {
        "captures": list(facts.captures),
        "config": facts.config,
        "packets": facts.packets,
        "bytes": facts.bytes,
        "first_ts": first,
        "last_ts": last,
        "duration": duration,
        "elapsed": facts.elapsed,
        "pps": facts.packets / facts.elapsed if facts.elapsed > 0 else 0.0,
        "connections": connections,
        "verdicts": {v.name.lower(): switch.verdicts.get(v, 0) for v in Verdict},
        "reasons": {w.name.lower(): n for w, n in sorted(switch.why.items()) if n
                    and w is not Why.NONE},
        "reals": reals,
        "persistence": persistence(switch.counts),
        # every entry of the table is persistent (mirrored): the capacity is per key kind
        "table": {"entries": len(table), "persistent": len(table),
                  "capacity": table.capacity * max(1, len(table.tables)),
                  "alloc_failures": table.alloc_failures},
        # first requests delayed binding could not read: balanced by the metric alone
        "layer7": {"unparsed_requests": switch.counts.get("layer7 unparsed requests", 0),
                   "requests_too_long": switch.layer7.requests_too_long},
        "errors": list(facts.errors),
    }

