"""``/maint/replay`` and ``/maint/report`` with the real replay runner plugged in."""
from __future__ import annotations

import json

from tests.engine.net import Flow, http_request, http_response
from tests.io.builders import Rec, pcap, write
from weboslb.cli.command import open_runtime
from weboslb.cli.dispatch import Console


def test_a_capture_replayed_into_the_running_switch_shows_in_its_session_dump(tmp_path):
    f = Flow("198.51.100.7", 40007, "192.0.2.100", 21)  # the default config's FTP service
    frames = [*f.handshake(), f.reply(b"220 ready\r\n")]
    path = write(tmp_path / "ftp.pcap", pcap([Rec(1000, i, x) for i, x in enumerate(frames)]))
    console = Console(open_runtime(None), verbose=0)
    out = console.execute(f"/maint/replay {path}")
    assert not out.error, out.output
    assert any("4 packets" in line for line in out.output)
    dump = console.execute("/info/slb/sess/dump")
    assert any("198.51.100.7" in line for line in dump.output), dump.output
    report = tmp_path / "r.json"
    assert not console.execute(f"/maint/report {report}").error
    [conn] = json.loads(report.read_text())["connections"]
    assert (conn["client_ip"], conn["vport"], conn["pbind"]) == ("198.51.100.7", 21,
                                                                 "clientip")


def test_a_bad_capture_is_one_line_and_the_switch_runs_on(tmp_path):
    console = Console(open_runtime(None), verbose=0)
    out = console.execute(f"/maint/replay {tmp_path / 'missing.pcap'}")
    assert any("missing.pcap" in line and "No such file" in line for line in out.output)
    assert not console.execute("/info/slb/sess/dump").error
    f = Flow("198.51.100.8", 40008, "192.0.2.100", 80)
    frames = [*f.handshake(), f.send(http_request()), f.reply(http_response())]
    path = write(tmp_path / "web.pcap", pcap([Rec(1000, i, x) for i, x in enumerate(frames)]))
    assert not console.execute(f"/maint/replay {path}").error
