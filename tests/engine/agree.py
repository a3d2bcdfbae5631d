"""Running the same frames through a switch with the C engine and one without (the slow path
alone, the reference), and everything a user can see of each, for the equivalence tests."""
from __future__ import annotations

from array import array
from dataclasses import asdict

from weboslb.engine.switch import Switch

SESSION_FIELDS = ("conn", "sp", "ingress", "created", "last", "timeout", "state", "real", "virt",
                  "rip", "rport", "pport", "vsvc", "pbind", "persist", "binding", "unbound",
                  "fin_client", "fin_server", "reset", "watch", "packets", "octets", "serial")


def batch_of(frame_list: list[bytes]):
    buf = b"".join(frame_list)
    offsets, lengths, off = array("Q"), array("I"), 0
    for f in frame_list:
        offsets.append(off)
        lengths.append(len(f))
        off += len(f)
    return buf, offsets, lengths


def feed(sw: Switch, frames: list[bytes], times, size: int, link: int = 1):
    """The frames in batches of ``size``: (verdicts, whys, reals, frames the engine decided)."""
    verdicts, whys, reals, fast = [], [], [], 0
    for start in range(0, len(frames), size):
        buf, offs, lens = batch_of(frames[start:start + size])
        res = sw.process_batch(buf, offs, lens, array("d", times[start:start + size]), link)
        verdicts += list(res.verdicts)
        whys += list(res.whys)
        reals += list(res.reals)
        fast += res.fast
    return verdicts, whys, reals, fast


def session_view(s) -> tuple:
    return tuple(getattr(s, f) for f in SESSION_FIELDS)


def state(sw: Switch, *, sessions: bool = True) -> dict:
    """Everything the switch shows, after folding what the fast path counted."""
    sw.sync()
    farm = sw.farm
    maint = asdict(sw.maint)
    out = {
        "verdicts": dict(sw.verdicts), "why": dict(sw.why),
        "counts": {k: v for k, v in sw.counts.items() if v},
        "maint": maint, "layer7": asdict(sw.layer7),
        "reals": {r: farm.real_stats(r) for r in sw.services.reals},
        "response": [None if r != r else r for r in farm.cols.response],
        "turn": list(farm.cols.turn),
        "virts": {v: st.reals for v, st in sw.virts.items()},
        "persistence": sorted(((k.label, e) for k, e in sw.persistence.entries()), key=repr),
        "tables": sorted(k.label for k in sw.persistence.tables),
        "users": dict(sw.persistence.users), "alloc": sw.persistence.alloc_failures,
        "dam": len(sw.dam_ports), "connections": sw.connections,
        "count": len(sw.sessions), "serial": sw.sessions.serials[0],
    }
    if sessions:
        out["sessions"] = sorted((session_view(s) for s in sw.sessions), key=repr)
    return out


def run_both(make, frames: list[bytes], times, size: int, *, link: int = 1,
             between=None):
    """Both switches (``make(fastpath)`` builds one) over the frames: their results, states
    and events; ``between(sw, i)`` runs before batch i on each (a health change, a sweep)."""
    out = []
    for fastpath in (True, False):
        sw = make(fastpath)
        verdicts, whys, reals, fast = [], [], [], 0
        for k, start in enumerate(range(0, len(frames), size)):
            if between is not None:
                between(sw, k)
            v, w, r, f = feed(sw, frames[start:start + size], times[start:start + size],
                              size, link)
            verdicts += v
            whys += w
            reals += r
            fast += f
        events = sw.drain()
        out.append({"verdicts": verdicts, "whys": whys, "reals": reals, "events": events,
                    "state": state(sw), "fast": fast, "switch": sw})
    return out


def first_difference(a: dict, b: dict) -> str:
    """Where the engine's switch (a) and the reference (b) part, for a readable failure."""
    for key in ("verdicts", "whys", "reals"):
        for i, (x, y) in enumerate(zip(a[key], b[key])):
            if x != y:
                return f"{key}[{i}]: engine {x} vs slow path {y}"
    for i, (x, y) in enumerate(zip(a["events"], b["events"])):
        if x != y:
            return f"event {i}: engine {x} vs slow path {y}"
    if len(a["events"]) != len(b["events"]):
        return f"{len(a['events'])} events vs {len(b['events'])}"
    for key, x in a["state"].items():
        y = b["state"][key]
        if x != y:
            if isinstance(x, list):
                for i, (p, q) in enumerate(zip(x, y)):
                    if p != q:
                        return f"state {key}[{i}]: engine {p} vs slow path {q}"
            return f"state {key}: engine {x} vs slow path {y}"
    return ""


def assert_agree(results) -> None:
    a, b = results
    diff = first_difference(a, b)
    assert not diff, diff
