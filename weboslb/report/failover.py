"""The ``failover`` section of an HA replay's report: what each switchover did, MEASURED from
the connections and the two switches' tables, beside what Alteon's model predicts.

For each switchover (the switch serving the VIPs changes: a failure, a recovery that
preempts, a VRRP decision):

* **when** the old switch stopped serving, when the new one started, and the detection delay
  between them (frames nobody served meanwhile are counted);
* **connections in flight** on the old switch: continued by the new one on the same real
  (a mid-stream pickup), broken (their next frames were dropped, or went to another real),
  or idle (nothing more was seen of them);
* **the failover matrix, measured**: every persistent client (a persistence key seen before
  the switchover) that came back after it, by pbind: kept its real — through the binding
  (``by_binding``) or because the metric chose the same real again (``by_metric``) — or was
  re-balanced to another one;
* **bindings**: the old switch's table against the new one's when it took over (lost), and the
  model's prediction beside it: the bindings the standby had not acknowledged — in periodic
  mode those created or rebound after the active's last mirror flush; in immediate mode,
  "no acknowledged entry lost" is checked.

Pure: facts in, a JSON-ready dict out (docs/failover.md, docs/reports.md); ``render_text``
prints it for people.
"""
from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from weboslb.ha.node import Note, Snapshot, TableKey
from weboslb.report.text import _share, _table
from weboslb.table.contract import KeyKind

ConnKey = tuple[str, int, str, int, str]  # client_ip, client_port, vip, vport, proto
MAX_LOG = 2000  # lines of the pair's log kept in the report
MATRIX = ("clients", "kept", "by_binding", "by_metric", "rebalanced", "unserved",
          "predicted_lost")
# the key kinds' pbind names in the report; passive cookies are the only cookies in a table
KIND_LABEL = {KeyKind.IPV4: "clientip", KeyKind.IPV6: "clientip", KeyKind.SSLID: "sslid",
              KeyKind.COOKIE: "cookie passive", KeyKind.FTP: "ftp", KeyKind.FTP6: "ftp",
              KeyKind.URLHASH: "urlhash"}


@dataclass(frozen=True, slots=True)
class Switchover:
    """One change of the switch serving the VIPs, as the replay saw it."""

    old: str  # the switch that served before
    new: str  # the switch that serves after
    cause: str
    stopped: float  # capture time the old switch stopped serving
    serving: float  # ... and the new one started
    handover: Snapshot | None  # the old switch's table when it stopped
    takeover: Snapshot | None  # the new switch's table when it started
    in_flight: Mapping[ConnKey, str | None]  # connections open on the old switch -> real
    unserved: int = 0  # frames to the VIPs while nobody served them


def conn_key(row: Mapping) -> ConnKey:
    return (row["client_ip"], row["client_port"], row["vip"], row["vport"], row["proto"])


def section(*, switchovers: list[Switchover], rows: list[dict],
            drops: Mapping[ConnKey, float], labels: Mapping[tuple[str, int], str],
            first_ts: float, last_ts: float, setup: dict, events: list[dict],
            notes: Iterable[Note], mirror: dict, unserved: int, mode: str, update: int
            ) -> dict:
    """The whole section.  ``rows``: the report's connections (with ``switch``) in order;
    ``drops``: the last capture time a frame of each connection was dropped (no session,
    standby); ``labels``: (vip, vport) -> the service's pbind name (cookies with their
    mode); ``setup``: how the pair was built."""
    ordered = sorted(rows, key=lambda r: r["first_ts"])
    tables = [_bindings(s, mode) for s in switchovers]
    predicted = [set(t.pop("_predicted")) for t in tables]
    matrices = _matrices(switchovers, ordered, labels, predicted)
    measured = [_switchover(s, ordered, drops, first_ts, m, t)
                for s, m, t in zip(switchovers, matrices, tables)]
    log = [{"t": round(n.ts - first_ts, 6), "switch": n.switch, "text": n.text}
           for n in sorted(notes, key=lambda n: n.ts)]
    return {
        **setup,
        "mode": mode,
        "update": update,
        "events": events,
        "switchovers": measured,
        "unserved_frames": unserved,
        "mirror": mirror,
        "log": log[:MAX_LOG],
        "log_lines": len(log),
        "capture_seconds": round(last_ts - first_ts, 6),
    }


def _switchover(s: Switchover, rows: list[dict], drops: Mapping[ConnKey, float], t0: float,
                matrix: dict, table: dict) -> dict:
    return {
        "from": s.old,
        "to": s.new,
        "cause": s.cause,
        "at": round(s.stopped - t0, 6),
        "serving_at": round(s.serving - t0, 6),
        "detection_delay": round(s.serving - s.stopped, 6),
        "unserved_frames": s.unserved,
        "in_flight": _in_flight(s, rows, drops),
        "matrix": matrix,
        "bindings": table,
    }


def _in_flight(s: Switchover, rows: list[dict], drops: Mapping[ConnKey, float]) -> dict:
    later: dict[ConnKey, dict] = {}
    for r in rows:
        if r.get("switch") == s.new and r["first_ts"] >= s.stopped:
            later.setdefault(conn_key(r), r)
    out = Counter(open=len(s.in_flight), continued=0, moved=0, dropped=0, idle=0)
    for conn, real in s.in_flight.items():
        r = later.get(conn)
        if r is not None:
            out["continued" if real is not None and r["real"] == real else "moved"] += 1
        elif drops.get(conn, float("-inf")) >= s.stopped:
            out["dropped"] += 1
        else:
            out["idle"] += 1
    out["broken"] = out["moved"] + out["dropped"]
    return dict(out)


def label_of(row: Mapping, labels: Mapping[tuple[str, int], str]) -> str:
    if row["pbind"] == "ftp":
        return "ftp"
    return labels.get((row["vip"], row["vport"]), row["pbind"])


def _persist_key(row: Mapping, labels: Mapping[tuple[str, int], str]
                 ) -> tuple[str, str, int, str] | None:
    if row["pbind"] == "none" or not row["persist_key"]:
        return None
    label = label_of(row, labels)
    return label, row["vip"], 0 if label == "ftp" else row["vport"], row["persist_key"]


def _matrices(switchovers: list[Switchover], rows: list[dict],
              labels: Mapping[tuple[str, int], str], predicted: list[set[tuple[str, str]]]
              ) -> list[dict[str, dict[str, int]]]:
    """Per switchover and pbind, the persistent clients that came back after it: a key's
    last connection before the switchover that made or used its binding (the real it had)
    against its next connection after it.  A client is counted at the first switchover
    after that connection, so a binding lost in one failover is not blamed on a later one."""
    stops = [s.stopped for s in switchovers]
    last: dict[tuple, dict] = {}
    out: list[dict[str, Counter]] = [{} for _ in switchovers]
    for r in rows:  # in time order
        k = _persist_key(r, labels)
        if k is None:
            continue
        prev = last.get(k)
        if r["real"] is not None and r["persist"] != "none":  # the key has a binding
            last[k] = r
        if prev is None:
            continue
        i = bisect_right(stops, prev["first_ts"])  # the first switchover after prev
        if i == len(stops) or stops[i] > r["first_ts"]:
            continue
        m = out[i].setdefault(k[0], Counter({f: 0 for f in MATRIX}))
        m["clients"] += 1
        if (k[0], k[3]) in predicted[i]:
            m["predicted_lost"] += 1
        if r["real"] is None:
            m["unserved"] += 1
        elif r["real"] == prev["real"]:
            m["kept"] += 1
            m["by_binding" if r["persist"] == "hit" else "by_metric"] += 1
        else:
            m["rebalanced"] += 1
    return [{label: dict(m) for label, m in sorted(o.items())} for o in out]


def _bindings(s: Switchover, mode: str) -> dict:
    """The old switch's bindings against the new one's, and the model's prediction."""
    h, t = s.handover, s.takeover
    if h is None or t is None:
        return {"_predicted": []}
    now = int(t.ts)
    old = {k: real for k, (real, exp) in h.entries.items() if exp is None or exp > now}
    new = {k: real for k, (real, _) in t.entries.items()}
    lost = {k for k, real in old.items() if new.get(k) != real}
    if h.acked is None or s.old == s.new:
        predicted, why = set(old), ("no mirror: the standby held no binding"
                                    if h.acked is None else
                                    "the switch restarted with no standby to relearn from")
    else:
        predicted = {k for k, real in old.items() if h.acked.get(k) != real}
        why = ("created or rebound after the last flush, not yet acknowledged"
               if mode == "periodic" else "not yet acknowledged by the standby")
    out = {
        "old": len(old),
        "new": len(new),
        "lost": len(lost),
        "predicted": len(predicted),
        "as_predicted": lost == predicted,
        "prediction": why,
        "lost_by_pbind": _by_label(lost),
        "predicted_by_pbind": _by_label(predicted),
        "_predicted": [(KIND_LABEL.get(k[0], k[0].label), key_text(k[0], k[2]))
                       for k in predicted],
    }
    if h.last_flush is not None:
        out["last_flush"] = round(h.ts - h.last_flush, 6)  # seconds before the handover
    if h.acked is not None and mode == "immediate":
        held = {k: real for k, real in h.acked.items() if old.get(k) == real}
        out["acknowledged"] = len(held)
        out["acknowledged_lost"] = sum(new.get(k) != real for k, real in held.items())
    return out


def _by_label(keys: Iterable[TableKey]) -> dict[str, int]:
    return dict(sorted(Counter(KIND_LABEL.get(k[0], k[0].label) for k in keys).items()))


def key_text(kind: KeyKind, key: bytes) -> str:
    """A table key as the report's connections write it."""
    if kind in (KeyKind.IPV4, KeyKind.IPV6):
        return str(ipaddress.ip_address(key))
    if kind is KeyKind.COOKIE:
        return key.decode("latin-1")
    if kind in (KeyKind.FTP, KeyKind.FTP6):
        addr, port = ipaddress.ip_address(key[:-2]), int.from_bytes(key[-2:], "big")
        return f"{addr}:{port}" if addr.version == 4 else f"[{addr}]:{port}"
    return key.hex()


# ---- text -------------------------------------------------------------------------------------

def render_text(f: dict) -> str:
    """The section for the terminal, after the replay's summary."""
    out = ["", _headline(f)]
    out += [f"  {line}" for line in f.get("notes", [])]
    out += [f"  warning: {line}" for line in f.get("warnings", [])]
    for e in f["events"]:
        out.append(f"  at {e['at']:8.2f} s: {e['event']}")
    if not f["switchovers"]:
        out.append("no switchover: the switch serving the VIPs never changed")
    for i, s in enumerate(f["switchovers"], 1):
        out += ["", _switchover_text(i, s, f["mode"])]
    if f["unserved_frames"]:
        out.append(f"\nframes nobody served (failover gaps): {f['unserved_frames']:,}")
    return "\n".join(out) + "\n"


def _headline(f: dict) -> str:
    if not f["stateful"]:
        mode = "stateful failover OFF: " + "; ".join(f["why_not"])
    elif f["mode"] == "immediate":
        mode = "stateful failover on, immediate mode (update 0)"
    else:
        mode = f"stateful failover on, periodic mode (update {f['update']} s)"
    return f"HA pair: A {f['A']['config']}, B {f['B']['config']}; {mode}"


def _switchover_text(i: int, s: dict, mode: str) -> str:
    lines = [(f"switchover {i}: {s['from']} -> {s['to']} at {s['at']:.2f} s ({s['cause']}); "
              f"{s['to']} serving at {s['serving_at']:.2f} s: detection "
              f"{s['detection_delay']:.2f} s, {s['unserved_frames']:,} frames unserved")]
    f = s["in_flight"]
    lines.append(f"  in flight on {s['from']}: {f['open']:,} open: {f['continued']:,} continued "
                 f"on {s['to']}, {f['broken']:,} broken ({f['dropped']:,} dropped, "
                 f"{f['moved']:,} moved to another real), {f['idle']:,} idle")
    m = s["matrix"]
    if m:
        lines.append("  persistent clients back after the switchover (measured):")
        table = _table(("  pbind", "clients", "kept", "by binding", "by metric", "re-balanced",
                        "unserved", "model: lost"), left=1, rows=[
            (f"  {label}", f"{c['clients']:,}", f"{c['kept']:,} ({_share(c['kept'], c['clients'])})",
             f"{c['by_binding']:,}", f"{c['by_metric']:,}", f"{c['rebalanced']:,}",
             f"{c['unserved']:,}", f"{c['predicted_lost']:,}")
            for label, c in m.items()])
        lines += ["  " + line for line in table.splitlines()]
    else:
        lines.append("  no persistent client came back after the switchover")
    b = s["bindings"]
    if "old" in b:
        verdict = "as predicted" if b["as_predicted"] else "NOT as predicted"
        flush = (f", last flush {b['last_flush']:.2f} s before" if "last_flush" in b
                 and mode == "periodic" else "")
        lines.append(f"  bindings: {s['from']} held {b['old']:,}, {s['to']} took over with "
                     f"{b['new']:,}; lost {b['lost']:,}, model {b['predicted']:,} "
                     f"({b['prediction']}{flush}): {verdict}")
        if "acknowledged" in b:
            lines.append(f"  immediate mode: {b['acknowledged']:,} bindings acknowledged by "
                         f"the standby, {b['acknowledged_lost']:,} lost "
                         f"({'checked' if not b['acknowledged_lost'] else 'CHECK FAILED'})")
    return "\n".join(lines)
