"""``weboslb replay --pair``: generated traffic through an HA pair, the failover measured from
the connections and the tables, beside Alteon's model — immediate mode loses nothing the
standby acknowledged, periodic mode loses exactly the last window, a cut mirror link loses
what was made while it was down; scenario files; the demo's failover half-way."""
from __future__ import annotations

import json
from copy import deepcopy
from pathlib import Path

import pytest

from tests.engine.net import config
from weboslb.config import files
from weboslb.config.model import ProxyIp
from weboslb.io import traffic
from weboslb.io.pair import PairError, PairReplayer, pair_configs, pair_replay
from weboslb.io.replay import Options
from weboslb.io.scenario import Event, ScenarioError, load, parse
from weboslb.main import main
from weboslb.report import html

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TABLED = ("clientip", "cookie passive", "sslid", "ftp")  # modes whose bindings are entries
FAIL_AT = 30.0


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> str:
    """40 clients of every persistence mode over a minute, through the default config."""
    path = tmp_path_factory.mktemp("pair") / "demo.pcap"
    traffic.demo_capture(path, seed=5, clients=40, duration=60)
    return str(path)


def failover(capture: str, *, update: int, events: list[Event] | None = None) -> dict:
    setup = pair_configs(files.default(), update=update)
    events = [Event(FAIL_AT, "fail")] if events is None else events
    return pair_replay(setup, [capture], events=events).report


def returning(report: dict, i: int = 0) -> dict[str, dict[str, int]]:
    return report["failover"]["switchovers"][i]["matrix"]


def test_immediate_mode_every_persistent_client_keeps_its_real(capture):
    report = failover(capture, update=0)
    f = report["failover"]
    assert f["stateful"] and f["mode"] == "immediate"
    [s] = f["switchovers"]
    assert (s["from"], s["to"], s["cause"], s["at"]) == ("A", "B", "A failed", FAIL_AT)
    # VRRP's master-down interval: 3 x adver + skew after B last heard A (adver 1 s)
    assert 2.0 < s["detection_delay"] < 3.7 and s["unserved_frames"] > 0
    matrix = returning(report)
    assert sum(matrix[m]["clients"] for m in TABLED if m in matrix) >= 10
    for mode in TABLED:
        if mode in matrix:
            c = matrix[mode]
            assert c["by_binding"] == c["kept"] == c["clients"], (mode, c)
    b = s["bindings"]
    assert b["lost"] == b["predicted"] == 0 and b["old"] == b["new"] > 0
    assert b["acknowledged"] == b["old"] and b["acknowledged_lost"] == 0


def test_periodic_mode_loses_exactly_the_predicted_window(capture):
    report = failover(capture, update=10)
    [s] = report["failover"]["switchovers"]
    b = s["bindings"]
    assert b["as_predicted"] and b["lost"] == b["predicted"] > 0
    assert 0 < b["last_flush"] <= 10  # the window: since the active's last flush
    assert b["new"] == b["old"] - b["lost"]
    matrix = returning(report)
    lost = sum(c["by_metric"] + c["rebalanced"] + c["unserved"]
               for m, c in matrix.items() if m in TABLED)
    predicted = sum(c["predicted_lost"] for m, c in matrix.items() if m in TABLED)
    # measured from the clients: those whose binding fell in the window lost it, no other
    assert lost == predicted > 0


def test_the_report_names_the_switch_of_every_connection(capture, tmp_path):
    report = failover(capture, update=0)
    rows = report["connections"]
    assert {r["switch"] for r in rows} == {"A", "B"}
    t0 = report["summary"]["first_ts"]
    assert all(r["switch"] == "A" for r in rows if r["first_ts"] - t0 < FAIL_AT)
    assert all(r["switch"] == "B" for r in rows if r["first_ts"] - t0 > FAIL_AT + 4)
    broken = [r for r in rows if r["state"] == "switch-failed"]
    flight = report["failover"]["switchovers"][0]["in_flight"]
    assert len(broken) == flight["open"] > 0
    assert flight["broken"] + flight["continued"] + flight["idle"] == flight["open"]
    # both switches' counters add up: every frame has one verdict
    s = report["summary"]
    assert sum(s["verdicts"].values()) == s["packets"]
    assert s["reasons"]["standby"] == report["failover"]["unserved_frames"]
    assert set(report["timeline"]["table_entries_by_switch"]) == {"A", "B"}
    page = html.render(report)
    assert 'id="failover"' in page and "Switchover 1: A &rarr; B" in page


def test_a_cut_mirror_link_loses_the_bindings_made_while_it_was_down(capture):
    down = 12.0
    report = failover(capture, update=0, events=[
        Event(down, "link-down"), Event(FAIL_AT, "fail", "A")])
    [s] = report["failover"]["switchovers"]
    b = s["bindings"]
    assert b["as_predicted"] and b["lost"] > 0
    assert b["acknowledged_lost"] == 0  # what B acknowledged before the cut survived
    # from the connections: a client whose binding was made before the cut keeps its real
    # through it; one whose binding was made while the link was down is balanced anew
    t0 = report["summary"]["first_ts"]
    made: dict[tuple, tuple[float, str]] = {}  # key -> (when its binding was made, real)
    checked = {True: 0, False: 0}  # clients whose binding predates the cut, and the others
    for r in sorted(report["connections"], key=lambda r: r["first_ts"]):
        if r["pbind"] not in ("clientip", "cookie", "sslid") or not r["persist_key"]:
            continue
        key, t = (r["vip"], r["vport"], r["persist_key"]), r["first_ts"] - t0
        if t < FAIL_AT and r["persist"] == "new":
            made[key] = (t, r["real"])
        elif t > FAIL_AT and key in made:
            when, real = made.pop(key)
            assert (r["persist"] == "hit" and r["real"] == real) == (when < down), (key, r)
            checked[when < down] += 1
    assert checked[True] >= 3 and checked[False] >= 3, checked
    log = [x["text"] for x in report["failover"]["log"]]
    assert "mirror link down" in log and any(x.startswith("mirror peer lost") for x in log)


def test_a_recovered_switch_relearns_and_takes_back_without_loss(capture):
    report = failover(capture, update=0, events=[
        Event(10.0, "fail", "A"), Event(20.0, "recover", "A")])
    first, back = report["failover"]["switchovers"]
    assert (first["from"], first["to"], back["from"], back["to"]) == ("A", "B", "B", "A")
    assert back["detection_delay"] == 0 and back["unserved_frames"] == 0
    assert back["cause"].startswith("B stepped down")
    assert back["bindings"]["lost"] == 0 and back["bindings"]["old"] > 0
    for mode, c in returning(report, 1).items():
        if mode in TABLED:
            assert c["by_binding"] == c["clients"], (mode, c)


def test_without_stateful_failover_every_binding_is_lost(capture):
    cfg = files.default()
    cfg.slb.adv.direct = False  # Layer 7 persistence cannot fail over without DAM
    for virt in cfg.slb.virt.values():
        for svc in virt.service.values():
            svc.direct = False
    cfg.slb.pip.addrs = [ProxyIp("10.0.1.250")]  # ... and cookies need a proxy IP instead
    setup = pair_configs(cfg, update=0)
    assert not setup.stateful and setup.mode == "off"
    assert any("DAM" in n or "direct" in n for n in setup.notes)
    report = pair_replay(setup, [capture], events=[Event(FAIL_AT, "fail")]).report
    f = report["failover"]
    assert not f["stateful"] and f["why_not"]
    b = f["switchovers"][0]["bindings"]
    assert b["new"] == 0 and b["lost"] == b["predicted"] == b["old"] > 0
    assert "STATEFUL FAILOVER OFF" in _text(report).upper()


def test_vips_split_between_the_switches_go_to_their_masters(capture):
    derived = pair_configs(files.default(), update=0)
    b = deepcopy(derived.b)
    b.l3.vrrp.vr[2].prio = 250  # B outranks A for the second VIP only
    setup = pair_configs(derived.a, b, update=0)
    report = pair_replay(setup, [capture], events=[Event(FAIL_AT, "fail", "A")]).report
    t0 = report["summary"]["first_ts"]
    for r in report["connections"]:
        if r["vip"] == "192.0.2.101":
            assert r["switch"] == "B"
        elif r["first_ts"] - t0 < FAIL_AT:
            assert r["switch"] == "A"
    f = report["failover"]
    assert "active-active" in f["warnings"][0]
    assert any("split brain" in x["text"] for x in f["log"])
    b = f["switchovers"][0]["bindings"]  # nothing was mirrored: everything A had is lost
    assert b["acknowledged"] == 0 and b["lost"] == b["predicted"] == b["old"] > 0


def _text(report: dict) -> str:
    from weboslb.report.failover import render_text
    return render_text(report["failover"])


def test_derived_peer_is_what_oper_slb_sync_would_push():
    setup = pair_configs(files.default())
    a, b = setup.a, setup.b
    assert setup.stateful and setup.notes and setup.update == 30
    assert a.slb.real == b.slb.real and a.slb.virt == b.slb.virt
    assert [vr.addr for vr in a.l3.vrrp.vr.values()] == ["192.0.2.100", "192.0.2.101"]
    assert all(vb.prio < va.prio for va, vb in zip(a.l3.vrrp.vr.values(),
                                                   b.l3.vrrp.vr.values()))
    a_addrs = {i.addr for i in a.l3.if_.values()}
    b_addrs = {i.addr for i in b.l3.if_.values()}
    assert not a_addrs & b_addrs
    assert a.slb.sync.peer[1].addr in b_addrs and b.slb.sync.peer[1].addr in a_addrs
    # a config with its own VRRP and sync keeps them: B's address is A's sync peer
    ha = pair_configs(files.applied(files.load(CONFIGS / "ha-a.yaml"))[0])
    assert ha.b.l3.if_[2].addr == "10.0.1.3" and ha.b.l3.if_[3].addr == "127.0.1.3"
    assert ha.b.slb.sync.peer[1].addr == "127.0.1.2"
    assert [vr.prio for vr in ha.b.l3.vrrp.vr.values()] == [100, 100, 100]
    assert ha.update == 10 and ha.mode == "periodic"


def test_scenario_files_parse_in_time_order(tmp_path):
    (tmp_path / "v2.yaml").write_text((CONFIGS / "ha-a.yaml").read_text())
    path = tmp_path / "s.yaml"
    path.write_text("- {at: 40, event: recover, switch: a}\n"
                    "- {at: 5, event: real-down, real: 2}\n"
                    "- at: 10\n  event: link-down\n"
                    "- {at: 30, event: fail}\n"
                    "- {at: 50, event: config, file: v2.yaml}\n")
    events = load(path)
    assert [(e.at, e.event, e.switch, e.real, e.line) for e in events] == [
        (5.0, "real-down", None, "2", 2), (10.0, "link-down", None, None, 3),
        (30.0, "fail", None, None, 5), (40.0, "recover", "A", None, 1),
        (50.0, "config", None, None, 6)]
    assert events[-1].config is not None and events[-1].config.slb.sync.update == 10


@pytest.mark.parametrize("text,message", [
    ("{at: 1}", "s.yaml:1: expected a list of events"),
    ("- {at: 1, event: explode}", "s.yaml:1: event 'explode' is not one of fail"),
    ("- {event: fail}", "s.yaml:1: the fail event has no 'at'"),
    ("- {at: 1, event: fail}\n- {at: -2, event: fail}", "s.yaml:2: at -2 must be seconds"),
    ("- {at: 1, event: real-down}", "s.yaml:1: the real-down event needs 'real'"),
    ("- {at: 1, event: link-down, switch: A}", "s.yaml:1: the link-down event takes no switch"),
    ("- {at: 1, event: fail, switch: C}", "s.yaml:1: switch 'C' is not A or B"),
    ("- {at: 1, event: fail, when: now}", "s.yaml:1: unknown field 'when'"),
    ("- {at: 1, event: config, file: none.yaml}", "s.yaml:1: cannot read config none.yaml"),
    ("- {at: 1, event: fail\n", "s.yaml:2: YAML syntax"),
])
def test_bad_scenarios_name_file_and_line(text, message, tmp_path):
    with pytest.raises(ScenarioError) as err:
        parse(text, "s.yaml", base=tmp_path)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_cli_replays_a_scenario_and_prints_the_failover(capture, tmp_path, capsys):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("- {at: 12, event: link-down}\n- {at: 30, event: fail, switch: A}\n")
    out = tmp_path / "r.json"
    assert main(["replay", capture, "--scenario", str(scenario), "--update", "0",
                 "--report-json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "HA pair: A embedded default, B derived from A" in text
    assert "switchover 1: A -> B at 30.00 s (A failed)" in text
    assert "persistent clients back after the switchover (measured)" in text
    assert ": as predicted" in text and "immediate mode:" in text
    report = json.loads(out.read_text())
    assert report["failover"]["events"] == [{"at": 12.0, "event": "link-down"},
                                            {"at": 30.0, "event": "fail A"}]


def test_cli_failover_at_with_peer_config(capture, capsys):
    assert main(["replay", "-q", capture, "-c", str(CONFIGS / "ha-a.yaml"), "--peer-config",
                 str(CONFIGS / "ha-b.yaml"), "--failover-at", "20"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("args,message", [
    (["--pair", "--out-pcap", "x"], "--out-pcap"),
    (["--update", "61"], "--update 61"),
    (["--failover-at", "-1"], "--failover-at"),
    (["--scenario", "{missing}"], "cannot read"),
    (["--scenario", "{bad}"], "bad.yaml:1: real 99 is not in switch A's config"),
])
def test_cli_rejects_bad_pair_arguments(args, message, capture, tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("- {at: 1, event: real-down, real: 99}\n")
    args = [a.format(missing=tmp_path / "none.yaml", bad=tmp_path / "bad.yaml") for a in args]
    assert main(["replay", "-q", capture, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_peer_config_that_does_not_apply_is_refused():
    cfg = config("slb: {on: true}")
    bad = config("slb: {on: true, sync: {state: true}}")  # no VMA peer, no VRRP
    with pytest.raises(PairError, match="switch B's config does not apply"):
        pair_configs(cfg, bad)


def test_the_pair_replayer_exposes_the_nodes(capture):
    setup = pair_configs(files.default(), update=0)
    rp = PairReplayer(setup, Options(), events=[Event(FAIL_AT, "fail")])
    result = rp.run([capture], "default")
    a, b = rp.pair.nodes
    assert a.failed and b.served and result.switch is b.switch


def test_demo_fails_over_half_way(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--clients", "30", "--seed", "2", "--no-html",
                 "--update", "5"]) == 0
    text = capsys.readouterr().out
    assert "through an HA pair, the active switch failing half-way" in text
    assert "switchover 1: A -> B" in text and ": as predicted" in text
    report = json.loads((out / "failover.json").read_text())
    assert report["failover"]["switchovers"][0]["bindings"]["as_predicted"]
    assert {r["switch"] for r in report["connections"]} == {"A", "B"}
