"""Real captures replayed through a switch, checked against their tshark-derived truth.

Each capture's servers become VIPs in front of three reals (roundrobin, so a persistence
failure shows two times in three).  The connections the flows file says resumed a TLS
session, carried a cookie or FTP data must reach the real their persistence demands, as the
replay's JSON report (``connections``) says.  Skips when ../shared/samples is absent.
"""
from __future__ import annotations

import csv
from collections import Counter

import pytest

from tests.engine.net import config
from tests.proto.samples import PCAPS, captures_with, need, truth
from weboslb.io.replay import Options, replay

Conn = tuple[str, int, str, int]


def flows(name: str) -> list[dict[str, str]]:
    with open(PCAPS / f"{name}.flows.tsv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def config_for(services: dict[tuple[str, int], str]) -> str:
    virts = "\n".join(
        f"    {i + 1}: {{ena: true, vip: '{ip}', service: {{{port}: {svc}}}}}"
        for i, ((ip, port), svc) in enumerate(sorted(services.items())))
    return f"""
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


def replayed(name: str, services: dict[tuple[str, int], str]) -> dict[Conn, dict]:
    """The report's connections by (client ip, client port, vip, vport); the last one of a
    reused 5-tuple wins."""
    result = replay(config(config_for(services)), [str(need(name))],
                    options=Options(seed=bytes(16)))
    assert result.replayed and not result.errors
    return {(c["client_ip"], c["client_port"], c["vip"], c["vport"]): c
            for c in result.report["connections"]}


def key(row: dict[str, str]) -> Conn:
    return row["client_ip"], int(row["client_port"]), row["server_ip"], int(row["server_port"])


def real(conns: dict[Conn, dict], conn: Conn) -> str | None:
    """The real of a connection whichever side opened it (active FTP data: the server)."""
    c = conns.get(conn) or conns.get((conn[2], conn[3], conn[0], conn[1]))
    return None if c is None else c["real"]


# ---- TLS session IDs ------------------------------------------------------------------------

# resumptions whose issuing ServerHello the switch saw first (fewer = persistence untested)
MIN_RESUMED = {"ndpi_safari": 5, "ndpi_netflix": 4, "ndpi_webex": 7, "ndpi_alexa_app": 51}
TLS = ["ndpi_safari", "ndpi_snapchat", "ndpi_netflix", "ndpi_webex", "zeek_tls_ssl_v3",
       "cs_ppa2e_twitter_login", "ndpi_alexa_app"]


@pytest.mark.parametrize("name", TLS)
def test_resumed_tls_sessions_reach_the_real_that_issued_them(name):
    need(name)
    rows = [r for r in flows(name) if r["tls_server_hello"] == "1"]
    conns = replayed(name, {(r["server_ip"], int(r["server_port"])): "{group: 1, pbind: sslid}"
                            for r in rows})
    hello = first_frames(name, "tls.handshake.type")
    issuer: dict[tuple[str, str, str], tuple[int, Conn]] = {}
    checked = 0
    for r in sorted(rows, key=lambda r: hello[r["stream"]].get("2", 0)):
        # bindings belong to a virtual service: a session ID another VIP issued is unknown
        sid = (r["server_ip"], r["server_port"], r["tls_sh_session_id"])
        ch = hello[r["stream"]].get("1", 0)
        if r["tls_class"] == "resumed" and sid in issuer and issuer[sid][0] < ch:
            # the ClientHello came after the switch saw the ServerHello that issued the ID
            c = conns[key(r)]
            assert (c["real"], c["persist"], c["pbind"]) == (
                real(conns, issuer[sid][1]), "hit", "sslid"), f"stream {r['stream']} of {name}"
            assert c["persist_key"] == r["tls_sh_session_id"].replace(":", "").lower()
            checked += 1
        elif r["tls_sh_session_id"] and key(r) in conns:
            issuer.setdefault(sid, (hello[r["stream"]].get("2", 0), key(r)))
    assert checked >= MIN_RESUMED.get(name, 0)


def first_frames(name: str, field: str) -> dict[str, dict[str, int]]:
    """TCP stream -> value of ``field`` -> the first frame carrying it."""
    out: dict[str, dict[str, int]] = {}
    for number, row in sorted(truth(name).items()):
        for stream in row["tcp.stream"][:1]:
            for value in row[field]:
                out.setdefault(stream, {}).setdefault(value, number)
    return out


# ---- passive cookies ----------------------------------------------------------------------

RCOUNT = 16  # responses of a connection the switch searches for the Set-Cookie (the most)
COOKIES = captures_with("cookie_headers")
MIN_COOKIE_HITS = {"cs_ppa2e_http_espn": 1}


@pytest.mark.parametrize("name", COOKIES or ["cs_ppa2e_http_espn"])
def test_cookie_requests_reach_the_real_that_set_the_cookie(name):
    """Passive mode, on the cookie each server sets most often: a connection whose first
    request returns a value the switch learnt (a Set-Cookie it saw before, in one of the
    first RCOUNT responses of a connection of the same VIP) reaches that connection's real;
    one returning a value the switch never saw is balanced (no hit)."""
    need(name)
    by_stream = {r["stream"]: r for r in flows(name)}
    http = http_exchanges(name, by_stream)
    names = cookie_names(http)
    if not names:
        pytest.skip(f"{name}: no cookie to persist on")
    services = {vip: (f"{{app: http, group: 1, dbind: ena, pbind: {{mode: cookie, cookie: "
                      f"passive, name: '{cookie}', rcount: {RCOUNT}}}}}")
                for vip, cookie in names.items()}
    conns = replayed(name, services)
    learnt: dict[tuple, tuple[int, Conn]] = {}  # (vip, value) -> latest (frame, connection)
    events = sorted((frame, kind, stream, value) for stream, ex in http.items()
                    for frame, kind, value in ex["events"])
    hits = balanced = 0
    for frame, kind, stream, value in events:
        ex = http[stream]
        cookie = names.get(ex["vip"])
        if cookie is None or ex["conn"] not in conns:
            continue
        if kind == "set":
            if value[0] == cookie:
                learnt[ex["vip"], value[1]] = (frame, ex["conn"])
            continue
        # kind == "request": the first request of a connection, with its cookies
        c = conns[ex["conn"]]
        wanted = dict(value).get(cookie)
        if wanted is not None and (ex["vip"], wanted) in learnt:
            assert (c["real"], c["persist"]) == (
                real(conns, learnt[ex["vip"], wanted][1]), "hit"), f"stream {stream} of {name}"
            assert c["persist_key"] == wanted
            hits += 1
        else:
            assert c["persist"] != "hit", f"stream {stream} of {name}: {c}"
            balanced += 1
    # cookies mostly come back on the same keep-alive connection or to another server of
    # the site: few captures return one on a new connection to the VIP that set it
    assert hits >= MIN_COOKIE_HITS.get(name, 0) and hits + balanced > 0


def http_exchanges(name: str, by_stream: dict[str, dict]) -> dict[str, dict]:
    """Per TCP stream toward a server: its connection, its VIP, and in frame order its first
    request's cookies ("request", [(name, value)...]) and the Set-Cookies of its first
    RCOUNT responses ("set", (name, value))."""
    out: dict[str, dict] = {}
    for number, row in sorted(truth(name).items()):
        streams = row["tcp.stream"][:1]
        if not streams or streams[0] not in by_stream:
            continue
        flow = by_stream[streams[0]]
        ex = out.setdefault(streams[0], {
            "conn": key(flow), "vip": (flow["server_ip"], int(flow["server_port"])),
            "events": [], "requests": 0, "responses": 0})
        if row["http.request.method"]:
            if not ex["requests"]:
                pairs = [_pair(p) for h in row["http.cookie"] for p in h.split(";") if "=" in p]
                ex["events"].append((number, "request", pairs))
            ex["requests"] += 1
        if row["http.response.code"]:
            ex["responses"] += 1
            if ex["responses"] <= RCOUNT:
                ex["events"] += [(number, "set", _pair(h.split(";")[0]))
                                 for h in row["http.set_cookie"]]
    return out


def cookie_names(http: dict[str, dict]) -> dict[tuple[str, int], str]:
    """Per VIP, the cookie its clients return most often among those it sets (else the one
    they return most often)."""
    sets: dict[tuple, Counter] = {}
    returns: dict[tuple, Counter] = {}
    for ex in http.values():
        for _, kind, value in ex["events"]:
            if kind == "set":
                sets.setdefault(ex["vip"], Counter())[value[0]] += 1
            else:
                returns.setdefault(ex["vip"], Counter()).update(n for n, _ in value)
    out = {}
    for vip, counts in returns.items():
        own = Counter({n: k for n, k in counts.items() if n in sets.get(vip, ())})
        if counts:
            out[vip] = (own or counts).most_common(1)[0][0]
    return out


def _pair(text: str) -> tuple[str, str]:
    name, _, value = text.strip().partition("=")
    return name.strip(), value.strip()


# ---- FTP data connections -----------------------------------------------------------------

FTP = ["zeek_ftp_ipv4", "zeek_ftp_ipv6", "zeek_ftp_retr", "zeek_ftp_bigtransfer", "cs_ppa1e_ftp",
       "ndpi_ftp", "cs_ppa2e_tickedoffdeveloper"]


@pytest.mark.parametrize("name", FTP)
def test_ftp_data_connections_reach_the_real_of_their_control_connection(name):
    need(name)
    rows = flows(name)
    control = {r["stream"]: r for r in rows if r["ftp_users"] not in ("", "0")
               or r["server_port"] == "21"}
    conns = replayed(name, {(r["server_ip"], 21): "{app: ftp, group: 1, ftpp: true}"
                            for r in control.values()})
    data = [r for r in rows if r["ftp_data_of_stream"]]
    assert data, "the capture has data connections"
    for r in data:
        ctl = real(conns, key(control[r["ftp_data_of_stream"]]))
        assert ctl is not None
        assert real(conns, key(r)) == ctl, f"data stream {r['stream']} of {name}"
        c = conns.get(key(r)) or conns[(r["server_ip"], int(r["server_port"]),
                                        r["client_ip"], int(r["client_port"]))]
        assert (c["pbind"], c["persist"]) == ("ftp", "hit")
