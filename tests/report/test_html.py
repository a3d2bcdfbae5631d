"""The replay HTML report: one self-contained page with the three plots and the tables."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import ClassVar

import pytest

from weboslb.report import ReportError, render
from weboslb.report.html import MAX_CONNECTIONS, MAX_POINTS, _fold

needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="the plots need matplotlib (the report extra)")
HOSTILE_KEY = '<script>alert("pwned")</script>'
HOSTILE_NAME = "<i>w$1$</i>"  # markup, and dollars that matplotlib would typeset
T0 = 1_100_000_000.0


def connection(i: int, **over) -> dict:
    c = {"client_ip": f"192.0.2.{i % 250}", "client_port": 40000 + i, "vip": "10.1.1.100",
         "vport": 80, "proto": "tcp", "first_ts": T0 + i * 0.25, "real": str(1 + i % 2),
         "rip": f"10.0.0.{1 + i % 2}", "pbind": "cookie", "persist_key": f"SID={i:06d}",
         "persist": "hit" if i % 3 else "new", "state": "closed"}
    c.update(over)
    return c


def synthetic(samples: int = 20, n_conn: int = 3) -> dict:
    t = [i * 0.5 for i in range(samples)]
    return {
        "summary": {
            "captures": ["caps/<b>shop</b>.pcap"], "config": "configs/single.yaml",
            "packets": 4321, "bytes": 3_456_789, "first_ts": T0, "last_ts": T0 + 9.5,
            "duration": 9.5, "elapsed": 0.25, "pps": 17284.0, "connections": 2000,
            "verdicts": {"to_real": 2100, "to_client": 1900, "local": 200, "pass": 100,
                         "drop": 20, "reset": 1},
            "reasons": {"not_vip": 100, "no_session": 20, "no_real": 1},
            "reals": {"1": {"name": "web-a", "rip": "10.0.0.1", "sessions": 1200,
                            "bytes": 2_000_000, "current": 3},
                      "2": {"name": "web-b", "rip": "10.0.0.2", "sessions": 800,
                            "bytes": 1_456_789, "current": 0},
                      "10": {"name": HOSTILE_NAME, "rip": "10.0.0.10", "sessions": 0,
                             "bytes": 0, "current": 0}},
            "persistence": {"cookie": {"new": 250, "hit": 750},
                            "clientip": {"new": 40, "hit": 960}},
            "table": {"entries": 290, "capacity": 65536, "persistent": 290},
            "errors": ["caps/shop.pcap: offset 1234: truncated record"],
        },
        "connections": [connection(0, persist_key=HOSTILE_KEY)]
        + [connection(i) for i in range(1, n_conn)],
        "timeline": {"t": t,
                     "sessions": {"1": [i % 5 for i in range(samples)],
                                  "2": [i % 3 for i in range(samples)],
                                  "10": [0] * samples},
                     "table_entries": [min(i * 20, 290) for i in range(samples)],
                     "persist_new": [i % 4 for i in range(samples)],
                     "persist_hit": [3 * (i % 4) for i in range(samples)]},
    }


def empty() -> dict:
    return {"summary": {"captures": [], "config": "embedded default", "packets": 0, "bytes": 0,
                        "first_ts": 0.0, "last_ts": 0.0, "duration": 0.0, "elapsed": 0.0,
                        "pps": 0.0, "connections": 0, "verdicts": {}, "reasons": {},
                        "reals": {}, "persistence": {},
                        "table": {"entries": 0, "capacity": 65536, "persistent": 0},
                        "errors": []},
            "connections": [],
            "timeline": {"t": [], "sessions": {}, "table_entries": [], "persist_new": [],
                         "persist_hit": []}}


@pytest.fixture(scope="module")
def page() -> str:
    pytest.importorskip("matplotlib")
    return render(synthetic(), title="replay of <shop>")


def figures(page: str) -> dict[str, str]:
    return dict(re.findall(r'<figure class="plot" id="plot-([\w-]+)">(.*?)</figure>', page, re.DOTALL))


def texts(svg: str) -> list[str]:
    return [ET.fromstring(f"<t>{t}</t>").text or "" for t in re.findall(r"<text[^>]*>(.*?)</text>",
                                                                       svg, re.DOTALL)]


def section(page: str, sid: str) -> str:
    return re.search(rf'<section id="{sid}">(.*?)</section>', page, re.DOTALL).group(1)


def rows(html_table: str) -> list[list[str]]:
    """Cells of each body row, tags stripped."""
    body = re.search(r"<tbody>(.*?)</tbody>", html_table, re.DOTALL).group(1)
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.DOTALL)]
            for r in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)]


class StrictParser(HTMLParser):
    """Fails on a closing tag that does not close the innermost open element."""

    VOID: ClassVar[set[str]] = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-3:]}"
        self.stack.pop()


def parse(page: str) -> StrictParser:
    p = StrictParser()
    p.feed(page)
    p.close()
    assert p.stack == [], f"unclosed: {p.stack}"
    assert p.doctype.lower() == "doctype html"
    return p


def test_page_has_the_three_plots_with_each_reals_series(page):
    figs = figures(page)
    assert list(figs) == ["sessions", "table", "persistence"]
    assert all(f.lstrip().startswith("<svg") for f in figs.values())
    sessions = texts(figs["sessions"])
    assert {"real 1 (web-a)", "real 2 (web-b)", f"real 10 ({HOSTILE_NAME})"} <= set(sessions)
    assert "Open sessions per real server" in sessions
    assert "Persistence table size (capacity 65,536)" in texts(figs["table"])
    assert {"new", "hit", "per 0.5 s interval"} <= set(texts(figs["persistence"]))


def test_plots_are_well_formed_svg_with_ids_unique_on_the_page(page):
    for svg in figures(page).values():
        ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" '
                                  'xmlns:xlink="http://www.w3.org/1999/xlink" ', 1))
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    targets = set(re.findall(r'href="#([^"]+)"', page)) | set(re.findall(r"url\(#([^)]+)\)", page))
    assert targets and targets <= set(ids)


def test_header_and_tables_show_the_reports_numbers(page):
    header = re.search(r"<header>(.*?)</header>", page, re.DOTALL).group(1)
    for fact in ("4,321 (3,456,789 bytes)", "9.500 s of traffic", "17,284 packets/s",
                 "2004-11-09 11:33:20", "configs/single.yaml", "290 entries of 65,536"):
        assert fact in header
    assert rows(section(page, "reals")) == [
        ["1", "web-a", "10.0.0.1", "1,200", "60.0 %", "2,000,000", "3"],
        ["2", "web-b", "10.0.0.2", "800", "40.0 %", "1,456,789", "0"],
        ["10", "&lt;i&gt;w$1$&lt;/i&gt;", "10.0.0.10", "0", "0.0 %", "0", "0"]]
    assert rows(section(page, "persistence")) == [["clientip", "40", "960", "96.0 %"],
                                                   ["cookie", "250", "750", "75.0 %"]]
    verdicts = section(page, "verdicts")
    assert [r[:3] for r in rows(verdicts)][:2] == [["to_real", "2,100", "48.6 %"],
                                                   ["to_client", "1,900", "44.0 %"]]
    assert ["not_vip", "100", "2.3 %"] in rows(verdicts.split("<h3>")[1])
    assert "offset 1234: truncated record" in section(page, "errors")
    conns = rows(section(page, "connections"))
    assert conns[1][:7] == ["2", "0.250000", "tcp", "192.0.2.1:40001", "10.1.1.100:80",
                            "2 (web-b)", "10.0.0.2"]


def test_hostile_values_are_escaped(page):
    assert "<script" not in page and "<i>" not in page and "<b>shop" not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in section(page, "connections")
    assert "<title>replay of &lt;shop&gt;</title>" in page
    assert "caps/&lt;b&gt;shop&lt;/b&gt;.pcap" in page


def test_page_is_self_contained(page):
    links = re.findall(r'\b(?:src|href|xlink:href)\s*=\s*"([^"]*)"', page)
    assert links and all(link.startswith("#") for link in links)
    assert "http://" not in page and "https://" not in page  # no xmlns or DTD URL either
    assert "@import" not in page and "<link" not in page and "<script" not in page


def test_page_parses_cleanly(page):
    parse(page)


def test_the_same_report_gives_the_same_page(page):
    assert render(synthetic(), title="replay of <shop>") == page


def test_empty_report_renders_notes_instead_of_plots():
    out = render(empty())
    parse(out)
    assert "<svg" not in out
    assert "nothing to plot" in out and "No real servers in this report." in out
    assert "No connections." in out
    assert render({}).startswith("<!DOCTYPE html>")  # even keys missing give a page


@needs_matplotlib
def test_a_timeline_without_reals_still_plots_the_table():
    report = synthetic()
    report["summary"]["reals"], report["timeline"]["sessions"] = {}, {}
    out = render(report)
    parse(out)
    assert list(figures(out)) == ["table", "persistence"]
    assert "no sessions plot" in out


@needs_matplotlib
def test_long_real_names_are_cut_in_the_legend_only():
    report = synthetic()
    report["summary"]["reals"]["2"]["name"] = "backend-" + "x" * 40
    out = render(report)
    assert "real 2 (backend-xxxxxxx…" in texts(figures(out)["sessions"])
    assert "backend-" + "x" * 40 + "<" in section(out, "reals")


@needs_matplotlib
def test_series_of_the_wrong_length_are_cut_not_fatal():
    report = synthetic()
    report["timeline"]["persist_hit"] = [1, 2]
    report["timeline"]["sessions"]["2"] = [1, "x", 3] * 20  # longer than t, with a non-number
    assert list(figures(render(report))) == ["sessions", "table", "persistence"]


def test_connections_table_is_capped_with_a_note():
    report = synthetic(samples=0, n_conn=MAX_CONNECTIONS + 700)
    conns = section(render(report), "connections")
    assert len(rows(conns)) == MAX_CONNECTIONS
    assert f"first {MAX_CONNECTIONS} of 1,200 connections" in conns


def test_long_persistence_keys_are_cut_but_kept_in_the_tooltip():
    report = synthetic(samples=0)
    report["connections"][1]["persist_key"] = "SID=" + "ab" * 100
    conns = section(render(report), "connections")
    assert f'title="SID={"ab" * 100}"' in conns
    assert "SID=" + "ab" * 100 + "<" not in conns


@needs_matplotlib
def test_a_big_replay_stays_under_a_megabyte():
    report = synthetic(samples=20_000, n_conn=10_000)
    report["timeline"]["sessions"] = {str(r): [(i * r) % 50 for i in range(20_000)]
                                      for r in range(1, 17)}
    report["summary"]["reals"] = {k: {"name": f"web{k}", "rip": f"10.0.0.{k}", "sessions": 1,
                                      "bytes": 1, "current": 0}
                                  for k in report["timeline"]["sessions"]}
    out = render(report)
    assert len(out.encode()) < 1_000_000
    legend = texts(figures(out)["sessions"])
    assert "mean of 6 others" in legend and sum(t.startswith("real ") for t in legend) == 10


def test_folding_keeps_gauge_peaks_and_counter_sums():
    t = [float(i) for i in range(10 * MAX_POINTS)]
    spike = [0.0] * len(t)
    spike[1234] = 99.0
    x, y = _fold(t, spike, max)
    assert len(x) == MAX_POINTS and max(y) == 99.0
    x, y = _fold(t, [1.0] * len(t), sum, at_end=True)
    assert sum(y) == len(t) and x[:2] == [9.0, 19.0]  # a count at the end of its interval


def test_unknown_sections_render_as_key_value_tables():
    report = synthetic(samples=0)
    report["failover"] = {"state": "master", "peer": {"ip": "10.0.0.254", "synced": 290},
                          "events": [{"at": 1.5, "what": "<takeover>"}]}
    report["fail over"] = "same id, made unique"
    report["connections"][1]["switch"] = "B"
    out = render(report)
    parse(out)
    failover = section(out, "x-failover")
    assert "<h2>Failover</h2>" in failover
    assert ["state", "master"] in rows(failover)
    assert "10.0.0.254" in failover and "&lt;takeover&gt;" in failover
    conns = section(out, "connections")
    assert "<th>Switch</th>" in conns and rows(conns)[1][-1] == "B"
    ids = re.findall(r'\bid="([^"]+)"', out)
    assert len(ids) == len(set(ids)) and "same id, made unique" in out


@needs_matplotlib
def test_unknown_timeline_series_are_plotted():
    report = synthetic()
    report["timeline"]["mirror_lag"] = {"A": [1] * 20, "B": [2] * 20}
    assert "mirror-lag" in " ".join(figures(render(report)))


def test_not_a_report_is_a_clear_error():
    with pytest.raises(ReportError, match="expected a JSON object, got list"):
        render([])  # type: ignore[arg-type]


def test_missing_matplotlib_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ReportError, match=r"pip install 'weboslb\[report\]'"):
        render(synthetic())
    assert "<svg" not in render(empty())  # nothing to plot needs no matplotlib


def test_matplotlib_is_imported_only_when_a_page_is_rendered():
    code = ("import sys, weboslb.report, weboslb.main; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
