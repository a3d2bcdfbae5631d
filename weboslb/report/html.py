"""The replay report as one self-contained HTML page: a header, three plots, summary tables.

``render(report)`` takes the report dict that ``weboslb replay`` builds (the one
``--report-json`` writes) and returns the page as a string.  The page opens from disk with no
server and no network: the CSS is inline and the plots are inline SVG drawn by matplotlib
(imported here lazily, so the rest of weboslb does not pay for it; figures are made with
``matplotlib.figure.Figure`` on an Agg canvas, never through pyplot, so no GUI backend is ever
chosen and no global figure state is kept).

Everything taken from the report is HTML-escaped: cookie values, URLs and names come from
captured traffic and configs, which are attacker-chosen.  Keys this module does not know
(a later ``failover`` section, a connection's ``switch``) are shown as generic tables rather
than refused.  Missing keys render as empty, so a partial report still gives a page.

Size is bounded for big replays: the connections and errors tables are capped, and a timeline
longer than ``MAX_POINTS`` samples is folded into buckets (gauges keep each bucket's peak,
per-interval counters its sum), so a 10k-connection report stays well under 1 MB.
"""
from __future__ import annotations

import html
import io
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

MAX_CONNECTIONS = 500  # rows of the connections table; the JSON report has them all
MAX_ERRORS = 200  # lines of the errors list
MAX_POINTS = 600  # timeline samples per plotted series before folding (as the replay thins)
MAX_REALS_PLOTTED = 10  # reals drawn as their own line; the rest as one line, their mean
MAX_CELL = 80  # characters of a cell (a cookie value, a URL) before it is cut, full in title
MAX_DEPTH = 4  # nesting shown by the generic renderer of unknown sections

KNOWN_TOP = ("summary", "connections", "timeline")
KNOWN_SUMMARY = ("captures", "config", "packets", "bytes", "first_ts", "last_ts", "duration",
                 "elapsed", "pps", "connections", "verdicts", "reasons", "reals", "persistence",
                 "table", "errors")
KNOWN_CONNECTION = ("client_ip", "client_port", "vip", "vport", "proto", "first_ts", "real",
                    "rip", "pbind", "persist_key", "persist", "state")
KNOWN_TIMELINE = ("t", "sessions", "table_entries", "persist_new", "persist_hit")
PBIND_ORDER = ("clientip", "cookie", "sslid", "ftp", "urlhash")
VERDICTS = {  # events.Verdict, in its order, with what each means for a packet
    "to_real": "a client's packet, forwarded to its real server",
    "to_client": "a real's packet, forwarded back to the client",
    "local": "taken by the switch itself (delayed-binding handshake, buffered request)",
    "pass": "not load-balanced: switched or routed unchanged",
    "drop": "dropped",
    "reset": "the client was reset (no real server to serve it)",
}


class ReportError(Exception):
    """The report cannot be rendered; the message is one line for the user."""


def render(report: Mapping[str, Any], *, title: str = "weboslb replay") -> str:
    """The whole page for one replay report."""
    if not isinstance(report, Mapping):
        raise ReportError(f"report: expected a JSON object, got {type(report).__name__}")
    summary = _mapping(report.get("summary"))
    timeline = _mapping(report.get("timeline"))
    connections = _list(report.get("connections"))
    failover = report.get("failover")
    ha = isinstance(failover, Mapping) and "switchovers" in failover  # an HA replay's
    extras = [k for k in report if k not in KNOWN_TOP and not (ha and k == "failover")]
    sections = [
        ("plots", "Over time", _plots(summary, timeline)),
        *([("failover", "Failover", _failover(failover))] if ha else []),
        ("reals", "Real servers", _reals_table(summary)),
        ("persistence", "Persistence", _persistence(summary)),
        ("verdicts", "Verdicts", _verdicts(summary)),
        ("errors", "Capture errors", _errors(summary)),
    ]
    others = {k: v for k, v in summary.items() if k not in KNOWN_SUMMARY}
    if others:
        sections.append(("summary-more", "More summary", _generic(others)))
    for key, sid in _slugs(extras).items():
        sections.append((sid, _heading(key), _generic(report[key])))
    sections.append(("connections", "Connections", _connections(summary, connections)))
    nav = "".join(f'<a href="#{sid}">{_esc(name)}</a>' for sid, name, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{_esc(name)}</h2>{content}</section>'
                   for sid, name, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title)}</title><style>{CSS}</style></head>"
            f"<body><main><header><h1>{_esc(title)}</h1>{_facts(summary)}</header>"
            f"<nav>{nav}</nav>{body}"
            f'<footer class="note">Generated by weboslb from the replay report; every '
            f"figure and table here is embedded in this one file.</footer>"
            f"</main></body></html>\n")


# -- header ----------------------------------------------------------------------------------

def _facts(s: Mapping[str, Any]) -> str:
    captures = _list(s.get("captures"))
    table = _mapping(s.get("table"))
    rows = [
        ("Captures", "<br>".join(f"<code>{_esc(c)}</code>" for c in captures)
         or '<span class="note">none</span>'),
        ("Config", f"<code>{_esc(s.get('config', ''))}</code>"),
        ("Packets", f"{_num(s.get('packets'))} ({_num(s.get('bytes'))} bytes)"),
        ("Captured", f"{_when(s.get('first_ts'))} to {_when(s.get('last_ts'))}"
         if s.get("packets") else '<span class="note">no packets</span>'),
        ("Duration", f"{_num(s.get('duration'), 3)} s of traffic"),
        ("Replay", f"{_num(s.get('pps'), 0)} packets/s ({_num(s.get('elapsed'), 3)} s)"),
        ("Connections", _num(s.get("connections"))),
        ("Persistence table", (f"{_num(table.get('entries'))} entries of "
                               f"{_num(table.get('capacity'))} "
                               f"({_num(table.get('persistent'))} persistent)")),
    ]
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


# -- plots -----------------------------------------------------------------------------------

def _plots(summary: Mapping[str, Any], timeline: Mapping[str, Any]) -> str:
    t = _floats(timeline.get("t"))
    if not t:
        return _note("No timeline: the replay saw no packets, so there is nothing to plot.")
    plot = _plotter()
    reals = _mapping(summary.get("reals"))
    sessions = {str(k): _floats(v) for k, v in _mapping(timeline.get("sessions")).items()}
    out = []
    if sessions:
        lines = _top_series(sessions, {k: _real_label(k, reals.get(k)) for k in sessions})
        out.append(plot("sessions", "Open sessions per real server",
                        [(label, *_fold(t, v, max)) for label, v in lines], "sessions"))
    else:
        out.append(_note("No real server sessions in this report: no sessions plot."))
    capacity = _mapping(summary.get("table")).get("capacity")
    size_title = "Persistence table size" + (
        f" (capacity {_num(capacity)})" if isinstance(capacity, int) and capacity > 0 else "")
    out.append(plot("table", size_title,
                    [("entries", *_fold(t, _floats(timeline.get("table_entries")), max))],
                    "entries", legend=False))
    # A count is for the interval that ends at its sample: drawn back to the sample before.
    new_t, new = _fold(t, _floats(timeline.get("persist_new")), sum, at_end=True)
    hit_t, hit = _fold(t, _floats(timeline.get("persist_hit")), sum, at_end=True)
    out.append(plot("persistence", "Persistence lookups: new bindings vs hits",
                    [("new", new_t, new), ("hit", hit_t, hit)], f"per {_interval(new_t)}",
                    where="pre"))
    unknown = _slugs([k for k in timeline if k not in KNOWN_TIMELINE])
    for key, name in unknown.items():  # a later section's series: plotted if numeric
        out.append(_generic_plot(plot, name, str(key), timeline[key], t))
    return "".join(out)


Series = tuple[str, list[float], list[float]]  # legend label, x, y
Plot = Callable[..., str]  # (name, title, series, ylabel, *, legend, where) -> "<figure>"


def _plotter() -> Plot:
    """A function drawing one step plot as an inline SVG ``<figure>``; imports matplotlib."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import StrMethodFormatter
    except ImportError as e:
        raise ReportError(f"the HTML report needs matplotlib ({e}): "
                          "pip install 'weboslb[report]'") from None
    style = {
        "svg.fonttype": "none",  # text stays text: small, selectable, drawn in system fonts
        "font.size": 9,
        "axes.spines.top": False, "axes.spines.right": False,
        "axes.grid": True, "grid.alpha": 0.35, "grid.linewidth": 0.6,
        "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
        "legend.frameon": False,
    }

    def plot(name: str, title: str, series: list[Series], ylabel: str, *,
             legend: bool = True, where: str = "post") -> str:
        """Levels hold from their sample to the next (``post``); counts cover the interval
        up to their sample (``pre``)."""
        drawn = [(label, x, y) for label, x, y in series if x]
        if not drawn:
            return _note(f"{title}: no samples.")
        # A fixed salt: the same report gives the same page, byte for byte.
        with matplotlib.rc_context({**style, "svg.hashsalt": f"weboslb-{name}"}):
            fig = Figure(figsize=(9.0, 2.8))
            # Fixed margins, legend or not, so that the plots' time axes line up on the page.
            fig.subplots_adjust(left=0.1, right=0.76, top=0.88, bottom=0.17)
            ax = fig.add_subplot()
            for label, x, y in drawn:
                ax.step(x, y, where=where, label=_plain(_short(label)), linewidth=1.3,
                        marker="o" if len(x) == 1 else None)
            ax.set_title(_plain(title), loc="left", fontsize=10, fontweight="bold")
            ax.set_xlabel("seconds since the first packet")
            ax.set_ylabel(_plain(ylabel))
            ax.set_ylim(bottom=0)
            ax.yaxis.get_major_locator().set_params(integer=True)
            ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))  # no "1e6" offset
            if legend:
                ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
            FigureCanvasAgg(fig)  # the figure's own canvas; savefig switches to SVG to write
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
        return f'<figure class="plot" id="plot-{name}">{_inline_svg(buf.getvalue(), name)}</figure>'

    return plot


def _inline_svg(svg: str, prefix: str) -> str:
    """matplotlib's SVG file made fit to sit inside HTML: no XML prolog, no DOCTYPE or RDF
    metadata (they name external URLs), element ids prefixed so that several plots on one
    page do not share ids, and a width that follows the page."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    # Only tags are rewritten: text between them (legend labels) is report data, and its
    # "<" is escaped by matplotlib, so every "<...>" here is one of matplotlib's own tags.
    svg = re.sub(r"<[^>]*>", lambda m: _retag(m.group(0), prefix), svg)
    # HTML puts an inline <svg> in the SVG namespace by itself: the xmlns URLs can go.
    end = svg.index(">")
    root = re.sub(r' (?:xmlns(?::xlink)?|width|height|version)="[^"]*"', "", svg[:end])
    return f'{root} role="img"{svg[end:]}'.strip()


def _retag(tag: str, prefix: str) -> str:
    tag = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', tag)
    tag = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', tag)
    tag = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", tag)
    return re.sub(r"(\d\.\d\d)\d+", r"\1", tag)  # 1/100 pt is finer than any screen


def _generic_plot(plot: Plot, name: str, key: str, value: Any, t: list[float]) -> str:
    """An unknown timeline entry: a plot when it is one numeric series or a dict of them."""
    named = _mapping(value) if isinstance(value, Mapping) else {key: value}
    if named and all(_is_numbers(v) for v in named.values()):
        lines = _top_series({str(k): _floats(v) for k, v in named.items()},
                            {str(k): str(k) for k in named})
        return plot(name, _heading(key),
                    [(label, *_fold(t, v, max)) for label, v in lines], key)
    return f"<h3>{_esc(_heading(key))}</h3>{_generic(value)}"


def _top_series(series: dict[str, list[float]], labels: dict[str, str]
                ) -> list[tuple[str, list[float]]]:
    """The series with the highest peaks, each its own line; the rest as one mean line (a
    sum would dwarf the others on a shared axis)."""
    ranked = sorted(series, key=lambda k: (-_peak(series[k]), _id_order(k)))
    top, rest = ranked[:MAX_REALS_PLOTTED], ranked[MAX_REALS_PLOTTED:]
    lines = [(labels[k], series[k]) for k in sorted(top, key=_id_order)]
    if rest:
        n = max(len(series[k]) for k in rest)
        mean = [sum(series[k][i] for k in rest if i < len(series[k])) / len(rest)
                for i in range(n)]
        lines.append((f"mean of {len(rest)} others", mean))
    return lines


def _fold(t: list[float], values: list[float], keep: Callable[[Iterable[float]], float], *,
          at_end: bool = False) -> tuple[list[float], list[float]]:
    """(x, y) with at most MAX_POINTS samples: consecutive samples folded into buckets, each
    valued ``keep`` of the bucket (max for levels, sum for counts) and placed at its first
    sample's time, or its last one's when ``at_end`` (a count covers the time up to its
    sample).  A series longer or shorter than ``t`` is cut to the common length."""
    n = min(len(t), len(values))
    step = max(1, math.ceil(n / MAX_POINTS))
    if step == 1:
        return t[:n], values[:n]
    starts = range(0, n, step)
    ends = [min(i + step, n) for i in starts]
    return ([t[e - 1] if at_end else t[i] for i, e in zip(starts, ends)],
            [keep(values[i:e]) for i, e in zip(starts, ends)])


def _interval(x: list[float]) -> str:
    """The typical sample interval of x, for the counters' y label."""
    gaps = sorted(b - a for a, b in itertools.pairwise(x) if b > a)
    return f"{gaps[len(gaps) // 2]:.3g} s interval" if gaps else "sample interval"


# -- tables ----------------------------------------------------------------------------------

def _reals_table(s: Mapping[str, Any]) -> str:
    reals = _mapping(s.get("reals"))
    if not reals:
        return _note("No real servers in this report.")
    total = sum(r.get("sessions", 0) for r in map(_mapping, reals.values())
                if isinstance(r.get("sessions"), int))
    rows = []
    for rid in sorted(reals, key=_id_order):
        r = _mapping(reals[rid])
        rows.append([_esc(rid), _esc(r.get("name", "")), _mono(r.get("rip", "")),
                     _num(r.get("sessions")), _share(r.get("sessions"), total),
                     _num(r.get("bytes")), _num(r.get("current"))])
    foot = ["Total", "", "", _num(total), _share(total, total),
            _num(sum(b for r in map(_mapping, reals.values())
                     if isinstance(b := r.get("bytes"), int))), ""]
    return _table(["Real", "Name", "RIP", "Sessions", "Share", "Bytes", "Open at end"], rows,
                  numeric={3, 4, 5, 6}, foot=foot)


def _persistence(s: Mapping[str, Any]) -> str:
    modes = _mapping(s.get("persistence"))
    if not modes:
        return _note("No persistent bindings: no virtual service used pbind in this replay.")
    rows = []
    for mode in sorted(modes, key=lambda m: (m not in PBIND_ORDER,
                                             PBIND_ORDER.index(m) if m in PBIND_ORDER else 0, m)):
        c = _mapping(modes[mode])
        new, hit = c.get("new", 0), c.get("hit", 0)
        lookups = new + hit if isinstance(new, int) and isinstance(hit, int) else None
        rows.append([_esc(mode), _num(new), _num(hit), _share(hit, lookups)])
    return _table(["pbind", "New bindings", "Hits", "Hit rate"], rows, numeric={1, 2, 3})


def _verdicts(s: Mapping[str, Any]) -> str:
    verdicts = _mapping(s.get("verdicts"))
    packets = s.get("packets") if isinstance(s.get("packets"), int) else None
    order = [v for v in VERDICTS if v in verdicts] + [v for v in verdicts if v not in VERDICTS]
    rows = [[_esc(v), _num(verdicts[v]), _share(verdicts[v], packets),
             _esc(VERDICTS.get(v, ""))] for v in order]
    out = (_table(["Verdict", "Packets", "Share", "Meaning"], rows, numeric={1, 2}) if rows
           else _note("No verdicts: no packets were replayed."))
    reasons = _mapping(s.get("reasons"))
    out += "<h3>Reasons (pass, drop, reset)</h3>"
    if reasons:
        ranked = sorted(reasons, key=lambda k: (-reasons[k] if isinstance(reasons[k], int)
                                                else 0, str(k)))
        out += _table(["Reason", "Packets", "Share"],
                      [[_esc(k), _num(reasons[k]), _share(reasons[k], packets)] for k in ranked],
                      numeric={1, 2})
    else:
        out += _note("None: every packet was load-balanced.")
    return out


def _failover(f: Mapping[str, Any]) -> str:
    """An HA replay's failover section (report/failover.py): setup, events, and per
    switchover the in-flight connections, the measured failover matrix and the bindings
    against the model's prediction."""
    if f.get("stateful"):
        mode = (f"Stateful failover on, {_esc(f.get('mode', ''))} mode"
                + (f" (update {_num(f.get('update'))} s)" if f.get("mode") == "periodic"
                   else ""))
    else:
        mode = "Stateful failover <strong>off</strong>: " + _esc("; ".join(
            str(w) for w in _list(f.get("why_not"))))
    a, b = _mapping(f.get("A")), _mapping(f.get("B"))
    out = (f"<p>Switch A: <code>{_esc(a.get('config', ''))}</code>; switch B: "
           f"<code>{_esc(b.get('config', ''))}</code>. {mode}.</p>")
    out += "".join(f"<p class=\"note\">{_esc(n)}</p>" for n in _list(f.get("notes")))
    out += "".join(f"<p><strong>Warning:</strong> {_esc(w)}</p>"
                   for w in _list(f.get("warnings")))
    events = [_mapping(e) for e in _list(f.get("events"))]
    if events:
        out += "<h3>Events</h3>" + _table(["At (s)", "Event"], [
            [_num(e.get("at"), 2), _esc(e.get("event", ""))] for e in events], numeric={0})
    switchovers = [_mapping(s) for s in _list(f.get("switchovers"))]
    if not switchovers:
        out += _note("No switchover: the switch serving the VIPs never changed.")
    for i, s in enumerate(switchovers, 1):
        out += (f"<h3>Switchover {i}: {_esc(s.get('from', ''))} &rarr; {_esc(s.get('to', ''))}"
                f" ({_esc(s.get('cause', ''))})</h3>")
        out += _table(["Stopped (s)", "Serving (s)", "Detection delay (s)", "Frames unserved"],
                      [[_num(s.get("at"), 2), _num(s.get("serving_at"), 2),
                        _num(s.get("detection_delay"), 3), _num(s.get("unserved_frames"))]],
                      numeric={0, 1, 2, 3})
        fl = _mapping(s.get("in_flight"))
        out += "<p>Connections in flight on the old switch:</p>" + _table(
            ["Open", "Continued", "Broken", "of which dropped", "moved to another real",
             "Idle"], [[_num(fl.get(k)) for k in ("open", "continued", "broken", "dropped",
                                                 "moved", "idle")]],
            numeric={0, 1, 2, 3, 4, 5})
        matrix = _mapping(s.get("matrix"))
        if matrix:
            out += "<p>Persistent clients back after the switchover (measured):</p>" + _table(
                ["pbind", "Clients", "Kept", "by binding", "by metric", "Re-balanced",
                 "Unserved", "Model: lost"],
                [[_esc(label)] + [_num(_mapping(c).get(k)) for k in
                                  ("clients", "kept", "by_binding", "by_metric", "rebalanced",
                                   "unserved", "predicted_lost")]
                 for label, c in matrix.items()], numeric={1, 2, 3, 4, 5, 6, 7})
        else:
            out += _note("No persistent client came back after this switchover.")
        bd = _mapping(s.get("bindings"))
        if "old" in bd:
            verdict = "as predicted" if bd.get("as_predicted") else "NOT as predicted"
            out += (f"<p>Bindings: {_esc(s.get('from', ''))} held {_num(bd.get('old'))}, "
                    f"{_esc(s.get('to', ''))} took over with {_num(bd.get('new'))}: "
                    f"<strong>{_num(bd.get('lost'))} lost</strong>; the model predicts "
                    f"{_num(bd.get('predicted'))} ({_esc(bd.get('prediction', ''))}): "
                    f"{verdict}.</p>")
            if "acknowledged" in bd:
                out += (f"<p>Immediate mode: {_num(bd.get('acknowledged'))} bindings "
                        f"acknowledged by the standby, {_num(bd.get('acknowledged_lost'))} "
                        f"lost.</p>")
    log = [_mapping(x) for x in _list(f.get("log"))][:MAX_CONNECTIONS]
    if log:
        out += "<h3>Log</h3>" + _table(["t (s)", "Switch", "What"], [
            [_num(x.get("t"), 3), _esc(x.get("switch", "")), _esc(x.get("text", ""))]
            for x in log], numeric={0})
    mirror = _mapping(f.get("mirror"))
    if mirror:
        out += "<h3>Mirror counters</h3>" + _generic(mirror)
    return out


def _errors(s: Mapping[str, Any]) -> str:
    errors = _list(s.get("errors"))
    if not errors:
        return _note("None: every capture was read to its end.")
    items = "".join(f"<li><code>{_esc(e)}</code></li>" for e in errors[:MAX_ERRORS])
    more = (_note(f"Showing the first {MAX_ERRORS:,} of {len(errors):,} errors.")
            if len(errors) > MAX_ERRORS else "")
    return f'<ul class="errors">{items}</ul>{more}'


def _connections(s: Mapping[str, Any], connections: list[Any]) -> str:
    if not connections:
        return _note("No connections.")
    shown = [_mapping(c) for c in connections[:MAX_CONNECTIONS]]
    extra = list(dict.fromkeys(k for c in shown for k in c if k not in KNOWN_CONNECTION))
    t0 = s.get("first_ts")
    reals = _mapping(s.get("reals"))
    rows = []
    for i, c in enumerate(shown, 1):
        rows.append([str(i), _since(c.get("first_ts"), t0), _esc(c.get("proto", "")),
                     _mono(_endpoint(c.get("client_ip"), c.get("client_port"))),
                     _mono(_endpoint(c.get("vip"), c.get("vport"))),
                     _esc(_real_cell(c.get("real"), reals)), _mono(_dash(c.get("rip"))),
                     _esc(c.get("pbind", "")), _cut(c.get("persist_key", ""), "key mono"),
                     _esc(c.get("persist", "")), _esc(c.get("state", ""))]
                    + [_cell(c.get(k)) for k in extra])
    head = ["#", "Start (s)", "Proto", "Client", "Virtual server", "Real", "RIP", "pbind",
            "Persistence key", "Persist", "State"] + [_heading(k) for k in extra]
    note = (_note(f"Showing the first {MAX_CONNECTIONS:,} of {len(connections):,} connections; "
                  "the JSON report (--report-json) has them all.")
            if len(connections) > MAX_CONNECTIONS else "")
    return note + _table(head, rows, numeric={0, 1})


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: frozenset[int] | set[int] = frozenset(),
           foot: Sequence[str] | None = None) -> str:
    """A table of already-escaped cells; numeric columns are right-aligned."""
    def tr(cells: Sequence[str], tag: str) -> str:
        return "<tr>" + "".join(f'<{tag} class="n">{c}</{tag}>' if i in numeric
                                else f"<{tag}>{c}</{tag}>" for i, c in enumerate(cells)) + "</tr>"
    out = f'<div class="wrap"><table><thead>{tr([_esc(h) for h in head], "th")}</thead><tbody>'
    out += "".join(tr(r, "td") for r in rows) + "</tbody>"
    if foot is not None:
        out += f"<tfoot>{tr(foot, 'td')}</tfoot>"
    return out + "</table></div>"


def _generic(value: Any, depth: int = 0) -> str:
    """Any JSON value as HTML: objects as key/value tables, lists of objects as tables."""
    if depth > MAX_DEPTH:
        return _cut(value)
    if isinstance(value, Mapping):
        if not value:
            return _note("empty")
        return _table(["Key", "Value"], [[_esc(k), _generic(v, depth + 1)]
                                         for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        if not value:
            return _note("empty")
        if all(isinstance(v, Mapping) for v in value):
            shown = value[:MAX_CONNECTIONS]
            keys = list(dict.fromkeys(k for v in shown for k in v))
            more = (_note(f"Showing the first {MAX_CONNECTIONS:,} of {len(value):,} rows.")
                    if len(value) > MAX_CONNECTIONS else "")
            return more + _table([str(k) for k in keys],
                                 [[_generic(v.get(k), depth + 1) if k in v else ""
                                   for k in keys] for v in shown])
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            return _cut(", ".join(_text(v) for v in value), limit=400)
        return "<ul>" + "".join(f"<li>{_generic(v, depth + 1)}</li>" for v in value) + "</ul>"
    return _cell(value)


# -- formatting ------------------------------------------------------------------------------

def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _text(value: Any) -> str:
    """A scalar as plain text: numbers with thousands separators, null as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}" if math.isfinite(value) else str(value)
    return str(value)


def _num(value: Any, digits: int | None = None) -> str:
    if value is None:
        return "—"
    if digits is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _esc(f"{value:,.{digits}f}")
    return _esc(_text(value))


def _cell(value: Any) -> str:
    if isinstance(value, (Mapping, list, tuple)):
        return _generic(value, MAX_DEPTH)
    return _num(value) if isinstance(value, (int, float)) else _cut(_text(value))


def _cut(value: Any, cls: str = "", limit: int = MAX_CELL) -> str:
    """A long value cut to ``limit`` characters; the whole of it stays in the tooltip."""
    text = str(value)
    attr = f' class="{cls}"' if cls else ""
    if len(text) <= limit:
        return f"<span{attr}>{_esc(text)}</span>" if cls else _esc(text)
    return f'<span{attr} title="{_esc(text)}">{_esc(text[:limit])}…</span>'


def _mono(value: Any) -> str:
    return f'<span class="mono">{_esc(value)}</span>'


def _dash(value: Any) -> Any:
    return "—" if value is None else value


def _share(part: Any, whole: Any) -> str:
    if not isinstance(part, (int, float)) or not isinstance(whole, (int, float)) or whole <= 0:
        return "—"
    return f"{100.0 * part / whole:.1f} %"


def _endpoint(ip: Any, port: Any) -> str:
    ip = "" if ip is None else str(ip)
    host = f"[{ip}]" if ":" in ip else ip  # IPv6 in brackets, so the port stands apart
    return f"{host}:{port}" if port is not None else host


def _when(ts: Any) -> str:
    """A pcap timestamp as a UTC date; the raw value when it is not one."""
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        try:
            return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        except (OverflowError, OSError, ValueError):
            pass
    return _num(ts)


def _since(ts: Any, t0: Any) -> str:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (ts, t0))
    return f"{ts - t0:.6f}" if numbers else _num(ts)


def _real_cell(rid: Any, reals: Mapping[str, Any]) -> str:
    """A connection's real: its id, and its name when the config gave one."""
    if rid is None:
        return "—"
    name = _mapping(reals.get(str(rid))).get("name")
    return f"{rid} ({name})" if name and str(name) != str(rid) else str(rid)


def _real_label(rid: str, real: Any) -> str:
    name = _mapping(real).get("name")
    return f"real {rid} ({name})" if name and str(name) != rid else f"real {rid}"


def _short(label: str, limit: int = 24) -> str:
    """A legend label that fits the space beside the plot (the tables have it whole)."""
    return label if len(label) <= limit else label[:limit - 1] + "…"


def _plain(text: str) -> str:
    """Text that matplotlib draws as it is: no mathtext between dollars, and a leading "_"
    (which hides a legend entry) behind a zero-width space."""
    text = str(text).replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


def _heading(key: Any) -> str:
    text = str(key).replace("_", " ")
    return text[:1].upper() + text[1:]


def _slugs(keys: Iterable[Any]) -> dict[Any, str]:
    """An HTML id per key, ``x-`` and the key's letters and digits, unique among them."""
    out: dict[Any, str] = {}
    for key in keys:
        slug = "x-" + (re.sub(r"[^a-z0-9]+", "-", str(key).lower()).strip("-") or "section")
        out[key] = slug if slug not in out.values() else f"{slug}-{len(out)}"
    return out


def _id_order(key: Any) -> tuple[int, int, str]:
    """Real ids sort as numbers (1, 2, 10), anything else after them by text."""
    text = str(key)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _is_numbers(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and bool(value)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _floats(value: Any) -> list[float]:
    """A series as floats; a value that is not a number is a gap (NaN) in the line."""
    return [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
            for v in _list(value)]


def _peak(values: list[float]) -> float:
    return max((v for v in values if not math.isnan(v)), default=0.0)


PALETTE = ["#2458a6", "#d1495b", "#2a9d8f", "#e9a23b", "#6a4c93", "#3d8c40", "#b5651d",
           "#0f7ea6", "#c2185b", "#6b7280", "#1d2330"]

CSS = """
:root{--fg:#1d2330;--muted:#5b6474;--line:#dde1e8;--band:#f3f5f8;--accent:#2458a6}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--fg);
 font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px 32px 64px}
h1{font-size:1.65rem;margin:0 0 .8rem;letter-spacing:-.01em}
h2{font-size:1.2rem;margin:2.2rem 0 .7rem;padding-bottom:.3rem;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:1.4rem 0 .4rem}
nav{position:sticky;top:0;background:#fff;padding:.5rem 0;border-bottom:1px solid var(--line);
 z-index:1}
nav a{margin-right:1.1rem;color:var(--accent);text-decoration:none;font-size:.92rem}
nav a:hover{text-decoration:underline}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1.4rem;margin:0 0 1rem}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.86em}
.wrap{overflow-x:auto}
table{border-collapse:collapse;font-size:.88rem;margin:.3rem 0 1rem}
th,td{padding:.28rem .7rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--band);font-weight:600;white-space:nowrap}
tbody tr:nth-child(even){background:#fafbfc}
tfoot td{font-weight:600;border-top:2px solid var(--line)}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.key{display:inline-block;max-width:24rem;word-break:break-all}
td table{margin:0;font-size:1em}
.note{color:var(--muted);font-style:italic}
figure.plot{margin:.6rem 0 1.4rem}
figure.plot svg{display:block;width:100%;height:auto}
ul.errors{padding-left:1.2rem}
footer{margin-top:3rem;font-size:.85rem}
@media print{nav{display:none}main{max-width:none;padding:0}}
"""
