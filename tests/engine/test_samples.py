"""Real captures through the switch: the servers of each capture become VIPs in front of three
reals (roundrobin, so a persistence failure shows two times in three), and the connections
the tshark-derived flows file says resumed a TLS session or carried FTP data must reach the
real their persistence demands.  Skips when ../shared/samples is absent."""
from __future__ import annotations

import csv

import pytest

from tests.engine.net import config
from tests.proto.samples import PCAPS, frames, need, truth
from weboslb.engine.events import Bound
from weboslb.engine.services import text
from weboslb.engine.switch import Switch


def flows(name: str) -> list[dict[str, str]]:
    with open(PCAPS / f"{name}.flows.tsv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def switch_for(servers: set[tuple[str, int]], service: str) -> Switch:
    virts = "\n".join(
        f"    {i + 1}: {{ena: true, vip: '{ip}', service: {{{port}: {service}}}}}"
        for i, (ip, port) in enumerate(sorted(servers)))
    text = f"""
slb:
  on: true
  adv: {{direct: true}}
  real:
    1: {{ena: true, rip: 10.0.1.11}}
    2: {{ena: true, rip: 10.0.1.12}}
    3: {{ena: true, rip: 10.0.1.13}}
  group:
    1: {{metric: roundrobin, reals: [1, 2, 3]}}
  virt:
{virts}
"""
    return Switch(config(text), seed=bytes(16))


def replay(name: str, sw: Switch) -> dict[tuple[str, int, str, int], object]:
    """Every frame through the switch on the capture's clock; connection -> its real."""
    times = {n: float(row["frame.time_epoch"][0]) for n, row in truth(name).items()}
    reals = {}
    for number, link, data in frames(name):
        sw.process(data, times[number], link=link)
        for e in sw.drain():
            if isinstance(e, Bound):
                reals[(text(e.conn.cip), e.conn.cport, text(e.conn.vip), e.conn.vport)] = e.real
    return reals


def key(row: dict[str, str]) -> tuple[str, int, str, int]:
    return row["client_ip"], int(row["client_port"]), row["server_ip"], int(row["server_port"])


# resumptions whose issuing ServerHello the switch saw first (fewer = persistence untested)
MIN_CHECKED = {"ndpi_safari": 5, "ndpi_netflix": 4, "ndpi_webex": 7, "ndpi_alexa_app": 51}
TLS = ["ndpi_safari", "ndpi_snapchat", "ndpi_netflix", "ndpi_webex", "zeek_tls_ssl_v3",
       "cs_ppa2e_twitter_login", "ndpi_alexa_app"]


@pytest.mark.parametrize("name", TLS)
def test_resumed_tls_sessions_reach_the_real_that_issued_them(name):
    need(name)
    rows = [r for r in flows(name) if r["tls_server_hello"] == "1"]
    servers = {(r["server_ip"], int(r["server_port"])) for r in rows}
    reals = replay(name, switch_for(servers, "{group: 1, pbind: sslid}"))
    hello = hello_frames(name)
    issuer = {}  # (VIP, session ID) -> (frame of the ServerHello that issued it, connection)
    checked = 0
    for r in sorted(rows, key=lambda r: hello[r["stream"]].get("2", 0)):
        # bindings belong to a virtual service: a session ID another VIP issued is unknown
        sid = (r["server_ip"], r["server_port"], r["tls_sh_session_id"]) \
            if r["tls_sh_session_id"] else ""
        ch = hello[r["stream"]].get("1", 0)
        if r["tls_class"] == "resumed" and sid in issuer and issuer[sid][0] < ch:
            # the ClientHello came after the switch saw the ServerHello that issued the ID
            assert reals[key(r)] == reals[issuer[sid][1]], f"stream {r['stream']} of {name}"
            checked += 1
        elif sid and key(r) in reals:
            issuer.setdefault(sid, (hello[r["stream"]].get("2", 0), key(r)))
    assert checked >= MIN_CHECKED.get(name, 0)


def hello_frames(name: str) -> dict[str, dict[str, int]]:
    """TCP stream -> handshake type ("1" ClientHello, "2" ServerHello) -> first frame."""
    out: dict[str, dict[str, int]] = {}
    for number, row in sorted(truth(name).items()):
        for stream in row["tcp.stream"][:1]:
            for t in row["tls.handshake.type"]:
                out.setdefault(stream, {}).setdefault(t, number)
    return out


FTP = ["zeek_ftp_ipv4", "zeek_ftp_ipv6", "zeek_ftp_retr", "zeek_ftp_bigtransfer", "cs_ppa1e_ftp",
       "ndpi_ftp", "cs_ppa2e_tickedoffdeveloper"]


@pytest.mark.parametrize("name", FTP)
def test_ftp_data_connections_reach_the_real_of_their_control_connection(name):
    need(name)
    rows = flows(name)
    control = {r["stream"]: r for r in rows if r["ftp_users"] not in ("", "0")
               or r["server_port"] == "21"}
    servers = {(r["server_ip"], 21) for r in control.values()}
    reals = replay(name, switch_for(servers, "{app: ftp, group: 1, ftpp: true}"))
    data = [r for r in rows if r["ftp_data_of_stream"]]
    assert data, "the capture has data connections"
    for r in data:
        ctl = control[r["ftp_data_of_stream"]]
        assert reals[key(ctl)] is not None
        assert real_of(reals, r) == reals[key(ctl)], f"data stream {r['stream']} of {name}"


def real_of(reals, r):
    """The real of a connection whichever side opened it (active FTP data: the server)."""
    a = (r["client_ip"], int(r["client_port"]))
    b = (r["server_ip"], int(r["server_port"]))
    return reals.get((*a, *b), reals.get((*b, *a)))
