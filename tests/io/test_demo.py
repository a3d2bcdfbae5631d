"""``weboslb demo``: generated traffic through the embedded default config proves every
persistence mode, in the printed numbers and in the reports it writes."""
from __future__ import annotations

import json

from weboslb.main import main
from weboslb.report.check import persistence_held


def test_demo_shows_persistence_holding_for_every_mode(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--clients", "60", "--seed", "3"]) == 0
    text = capsys.readouterr().out
    for mode in ("clientip", "cookie", "sslid", "ftp", "urlhash"):
        line = next(x for x in text.splitlines() if x.strip().startswith(mode + " ")
                    and "connections" in x)
        assert line.endswith("held"), line
    report = json.loads((out / "report.json").read_text())
    held = {h.pbind: h for h in persistence_held(report["connections"])}
    assert set(held) == {"clientip", "cookie", "sslid", "ftp", "urlhash"}
    # the capture returns cookies, resumes sessions and opens FTP data: hits, not just new
    for mode in ("clientip", "cookie", "sslid", "ftp"):
        assert held[mode].hit > 0 and held[mode].ok
    assert report["summary"]["reasons"] == {}  # nothing dropped, nothing unbalanced
    page = (out / "report.html").read_text()
    assert page.count("<svg") >= 3 and "web1" in page
    assert (out / "demo.pcap").stat().st_size > 0
    assert str(out / "report.html") in text


def test_the_check_finds_a_key_split_over_two_reals():
    def conn(port, real, key="k", pbind="cookie", persist="hit"):
        return {"client_ip": "198.51.100.1", "client_port": port, "vip": "192.0.2.100",
                "vport": 80, "real": real, "pbind": pbind, "persist_key": key,
                "persist": persist}

    [held] = persistence_held([conn(1, "1", persist="new"), conn(2, "1"), conn(3, "2")])
    assert (held.connections, held.keys, held.new, held.hit, held.split) == (3, 1, 1, 2, 1)
    assert not held.ok
    # FTP data must follow the client's control connection
    ftp = [conn(21, "4", key="198.51.100.1", pbind="clientip", persist="new") | {"vport": 21},
           conn(5000, "5", key="192.0.2.100:5000", pbind="ftp")]
    assert {h.pbind: h.ok for h in persistence_held(ftp)} == {"clientip": True, "ftp": False}
