"""``weboslb replay``: the runner, its reports and the command line, on small built captures."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.engine.net import Flow, config, http_request, http_response, tls_hello
from tests.io.builders import Rec, pcap, write
from weboslb.io.capture import open_capture
from weboslb.io.replay import Options, replay
from weboslb.main import main
from weboslb.proto.frame import decode
from weboslb.proto.packet import Reason

VIP = "192.0.2.100"
CONFIG = f"""
slb:
  on: true
  adv: {{direct: true}}
  real:
    1: {{ena: true, rip: 10.0.1.11, name: web1}}
    2: {{ena: true, rip: 10.0.1.12, name: web2}}
  group:
    1: {{metric: roundrobin, reals: [1, 2]}}
  virt:
    1:
      ena: true
      vip: {VIP}
      service:
        443: {{app: https, group: 1, dbind: ena, pbind: sslid}}
        80: {{app: http, group: 1, pbind: clientip}}
"""
SID = bytes(range(1, 33))


def tls_conversation(cip: str, cport: int, sid_offered: bytes) -> list[bytes]:
    f = Flow(cip, cport, VIP, 443)
    return [*f.handshake(), f.send(tls_hello(1, sid_offered)), f.reply(tls_hello(2, SID)),
            f.ack(), *f.close()]


def http_conversation(cip: str, cport: int) -> list[bytes]:
    f = Flow(cip, cport, VIP, 80)
    return [*f.handshake(), f.send(http_request()), f.reply(http_response()), f.ack(),
            *f.close()]


def capture(tmp_path, frames: list[bytes], name: str = "c.pcap", start_ms: int = 1_000_000,
            spacing_ms: int = 100) -> str:
    """The frames in a pcap, ``spacing_ms`` apart from ``start_ms``."""
    ms = [start_ms + i * spacing_ms for i in range(len(frames))]
    recs = [Rec(t // 1000, t % 1000 * 1000, f) for t, f in zip(ms, frames)]
    return write(tmp_path / name, pcap(recs))


@pytest.fixture
def traffic(tmp_path):
    frames = (tls_conversation("198.51.100.1", 40001, b"")  # full handshake: issues SID
              + tls_conversation("198.51.100.2", 40002, SID)  # another client resumes it
              + http_conversation("198.51.100.3", 40003)
              + http_conversation("198.51.100.3", 40004))  # same client again: clientip
    return capture(tmp_path, frames), len(frames)


def test_connections_report_what_persistence_did(traffic):
    path, n = traffic
    result = replay(config(CONFIG), [path])
    assert result.replayed and result.errors == []
    rows = result.report["connections"]
    assert [(r["client_ip"], r["client_port"], r["vip"], r["vport"], r["proto"]) for r in rows
            ] == [("198.51.100.1", 40001, VIP, 443, "tcp"), ("198.51.100.2", 40002, VIP, 443,
                  "tcp"), ("198.51.100.3", 40003, VIP, 80, "tcp"),
                  ("198.51.100.3", 40004, VIP, 80, "tcp")]
    first, resumed, web1, web2 = rows
    assert (first["pbind"], first["persist"], first["persist_key"]) == ("sslid", "new",
                                                                        SID.hex())
    assert (resumed["persist"], resumed["persist_key"]) == ("hit", SID.hex())
    assert resumed["real"] == first["real"] and resumed["rip"] == first["rip"]
    assert (web1["pbind"], web1["persist"], web2["persist"]) == ("clientip", "new", "hit")
    assert web2["real"] == web1["real"]
    assert all(r["state"] == "closed" for r in rows)
    assert rows[0]["first_ts"] == 1000.0


def test_summary_counts_packets_reals_and_persistence(traffic):
    path, n = traffic
    s = replay(config(CONFIG), [path], config_name="test.yaml").report["summary"]
    assert (s["packets"], s["connections"], s["config"]) == (n, 4, "test.yaml")
    assert s["captures"] == [path]
    assert s["persistence"] == {"clientip": {"new": 1, "hit": 1}, "sslid": {"new": 1, "hit": 1}}
    assert sum(r["sessions"] for r in s["reals"].values()) == 4
    assert s["reals"]["1"]["name"] == "web1" and s["reals"]["2"]["rip"] == "10.0.1.12"
    assert sum(r["bytes"] for r in s["reals"].values()) > 0
    assert s["verdicts"]["to_real"] > 0 and s["verdicts"]["to_client"] > 0
    assert s["duration"] == pytest.approx((n - 1) * 0.1)
    assert s["table"]["entries"] == 2  # one client IP, one session ID


def test_timeline_samples_sessions_and_table_over_capture_time(traffic):
    path, n = traffic
    tl = replay(config(CONFIG), [path], options=Options(step=0.5)).report["timeline"]
    assert tl["t"][0] == 0.0 and tl["t"] == sorted(tl["t"])
    assert len(tl["t"]) == len(tl["table_entries"]) == len(tl["persist_new"])
    assert set(tl["sessions"]) == {"1", "2"}
    assert max(tl["sessions"]["1"]) + max(tl["sessions"]["2"]) >= 1
    assert tl["table_entries"][-1] == 2
    assert sum(tl["persist_new"]) == 2 and sum(tl["persist_hit"]) == 2


def test_several_captures_merge_by_time(tmp_path):
    a = capture(tmp_path, http_conversation("198.51.100.3", 40003), "a.pcap")
    b = capture(tmp_path, http_conversation("198.51.100.3", 40004), "b.pcap",
                start_ms=1_000_050)  # interleaved with a, 50 ms behind
    report = replay(config(CONFIG), [b, a]).report
    rows = report["connections"]
    assert [r["client_port"] for r in rows] == [40003, 40004]  # a's SYN is first in time
    assert [r["persist"] for r in rows] == ["new", "hit"]
    assert report["summary"]["packets"] == 2 * len(http_conversation("198.51.100.3", 1))


def test_a_truncated_capture_keeps_the_frames_before_the_break(tmp_path, traffic):
    path, n = traffic
    data = open(path, "rb").read()
    cut = write(tmp_path / "cut.pcap", data[:-7])
    result = replay(config(CONFIG), [cut])
    assert result.replayed and result.report["summary"]["packets"] == n - 1
    [err] = result.errors
    assert err.startswith(f"{cut}: offset ") and "truncated" in err
    assert result.report["summary"]["errors"] == [err]


def test_out_pcap_writes_both_sides_of_the_switch(tmp_path, traffic):
    path, n = traffic
    out = tmp_path / "views"
    replay(config(CONFIG), [path], options=Options(out_pcap=out))
    client = [f for _, _, f in open_capture(out / "client.pcap").frames()]
    server = [f for _, _, f in open_capture(out / "server.pcap").frames()]
    assert len(client) == n
    pkts = [decode(f) for f in server]
    assert all(p.reason is Reason.OK for p in pkts)
    reals = {bytes([10, 0, 1, 11]), bytes([10, 0, 1, 12])}
    # toward the reals the VIP is gone: NAT to the real's address
    assert {p.dst for p in pkts if p.dport in (80, 443)} <= reals
    assert {p.src for p in pkts if p.sport in (80, 443)} <= reals
    # delayed binding: the switch opens the server leg with its own SYN before the request
    hello = next(i for i, p in enumerate(pkts) if p.dport == 443 and p.payload_len)
    assert pkts[hello - 1].flags & 0x02 and pkts[hello - 1].dport == 443
    if shutil.which("tshark"):
        for side in ("client", "server"):
            run = subprocess.run(["tshark", "-r", str(out / f"{side}.pcap"), "-V"],
                                 capture_output=True, text=True, check=False)
            assert run.returncode == 0 and "Malformed" not in run.stdout, run.stderr


# ---- the command line ------------------------------------------------------------------------

def test_cli_prints_a_summary_and_writes_json(tmp_path, traffic, capsys):
    path, n = traffic
    cfg = write(tmp_path / "sw.yaml", CONFIG.encode())
    out = tmp_path / "r.json"
    assert main(["replay", "-c", cfg, path, "--report-json", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{n} packets" in text and "sslid" in text and "web1" in text
    report = json.loads(out.read_text())
    assert set(report) >= {"summary", "connections", "timeline"}
    assert len(report["connections"]) == 4


def test_cli_quiet_prints_nothing(tmp_path, traffic, capsys):
    path, _ = traffic
    assert main(["replay", "-q", path]) == 0
    assert capsys.readouterr() == ("", "")


def test_cli_exit_status_says_whether_anything_was_replayed(tmp_path, traffic, capsys):
    path, _ = traffic
    missing = str(tmp_path / "missing.pcap")
    assert main(["replay", "-q", missing]) == 1
    assert f"weboslb replay: {missing}: No such file" in capsys.readouterr().err
    # one good capture is enough: the bad one is reported, the run succeeds
    assert main(["replay", "-q", missing, path]) == 0
    assert "missing.pcap" in capsys.readouterr().err


def test_cli_rejects_a_config_that_does_not_apply(tmp_path, traffic, capsys):
    path, _ = traffic
    bad = write(tmp_path / "bad.yaml", b"slb:\n  real:\n    1: {rip: 300.1.1.1}\n")
    assert main(["replay", "-c", bad, path]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "Traceback" not in err


def test_an_unknown_link_type_is_named_with_its_offset(tmp_path, capsys):
    frames = http_conversation("198.51.100.3", 40003)
    path = write(tmp_path / "odd.pcap", pcap([Rec(1000, 0, f) for f in frames], link=147))
    result = replay(config(CONFIG), [path])
    assert result.replayed and result.report["summary"]["reasons"] == {
        "unknown_link": len(frames)}
    assert result.errors == [f"{path}: offset 24: link type 147 is not one the switch "
                             f"decodes (Ethernet, raw IP, Linux cooked): {len(frames)} frames "
                             "passed unexamined"]


def test_zero_length_records_are_counted_in_the_errors(tmp_path):
    frames = http_conversation("198.51.100.3", 40003)
    recs = [Rec(1000, 0, frames[0]), Rec(1000, 1, b""), *[Rec(1000, 2, f) for f in frames[1:]]]
    path = write(tmp_path / "zero.pcap", pcap(recs))
    result = replay(config(CONFIG), [path])
    assert result.report["summary"]["packets"] == len(frames)
    assert result.errors == [f"{path}: 1 zero-length record skipped"]
    assert result.report["connections"][0]["state"] == "closed"  # nothing lost around it
