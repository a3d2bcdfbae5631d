"""The short text summary ``weboslb replay`` prints: read from the report's ``summary``."""
from __future__ import annotations


def render(summary: dict) -> str:
    s = summary
    out = [_headline(s)]
    out.append(f"connections: {s['connections']:,}   persistence table: "
               f"{s['table']['entries']:,} entries")
    reals = s["reals"]
    if reals:
        out += ["", _table(("real", "name", "rip", "sessions", "bytes", "share"), left=3, rows=[
            (rid, r["name"], r["rip"], f"{r['sessions']:,}", _bytes(r["bytes"]),
             _share(r["sessions"], sum(x["sessions"] for x in reals.values())))
            for rid, r in reals.items()])]
    if s["persistence"]:
        out += ["", _table(("pbind", "new", "hit", "hit rate"), left=1, rows=[
            (mode, f"{p['new']:,}", f"{p['hit']:,}", _share(p["hit"], p["new"] + p["hit"]))
            for mode, p in s["persistence"].items()])]
    else:
        out += ["", "persistence: no binding made or used"]
    v = s["verdicts"]
    out += ["", "verdicts: " + "  ".join(f"{k} {n:,}" for k, n in v.items() if n)]
    if s["reasons"]:
        out.append("not balanced, by reason: " + ", ".join(
            f"{k} {n:,}" for k, n in sorted(s["reasons"].items(), key=lambda kv: -kv[1])))
    out += [f"error: {e}" for e in s["errors"]]
    return "\n".join(out) + "\n"


def _headline(s: dict) -> str:
    n = len(s["captures"])
    what = s["captures"][0] if n == 1 else f"{n} captures"
    return (f"{what}: {s['packets']:,} packets ({_bytes(s['bytes'])}) over "
            f"{s['duration']:.1f} s of capture, replayed in {s['elapsed']:.2f} s "
            f"({_rate(s['pps'])} packets/s)")


def _table(head: tuple[str, ...], *, left: int, rows: list[tuple]) -> str:
    """Columns padded to fit; the first ``left`` aligned left, the figures right."""
    rows = [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{'<' if i < left else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*r).rstrip() for r in [head, *rows])


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _rate(pps: float) -> str:
    return f"{pps / 1e6:.2f} M" if pps >= 1e6 else f"{pps / 1e3:.1f} k"
