"""Validation at apply: one row per rule, the valid side and the invalid side."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.config.helpers import base
from weboslb.config import dump
from weboslb.config.menu import GROUP, REAL, SERVICE, VIRT
from weboslb.config.model import Backup, Config, Pbind, Peer, Port, ProxyIp, Vr
from weboslb.config.validate import Limits, validate

Edit = Callable[[Config], object]


def svc(c: Config, port: int = 80):  # type: ignore[no-untyped-def]
    return c.slb.virt[1].service[port]


def real(c: Config, key: object, rip: str = "10.0.1.99") -> None:
    c.slb.real[key] = REAL.build(key)
    c.slb.real[key].rip = rip


def virt(c: Config, key: object, vip: str, ports: tuple[int, ...] = (80,)) -> None:
    c.slb.virt[key] = VIRT.build(key)
    c.slb.virt[key].vip = vip
    for p in ports:
        c.slb.virt[key].service[p] = SERVICE.build(p)


def at(get: Callable[[Config], object], attr: str, value: object) -> Edit:
    """An edit setting ``attr`` of the object ``get`` finds."""
    return lambda c: setattr(get(c), attr, value)


def no_l7(c: Config) -> None:
    del c.slb.virt[1].service[80]
    del c.slb.virt[1].service[443]


def only(port: int, **values: object) -> Edit:
    def edit(c: Config) -> None:
        no_l7(c)
        c.slb.virt[1].service[port] = SERVICE.build(port)
        for k, v in values.items():
            setattr(c.slb.virt[1].service[port], k, v)
    return edit


def steps(*edits: Edit) -> Edit:
    def edit(c: Config) -> None:
        for e in edits:
            e(c)
    return edit


real1 = lambda c: c.slb.real[1]  # noqa: E731
real2 = lambda c: c.slb.real[2]  # noqa: E731
group1 = lambda c: c.slb.group[1]  # noqa: E731
peer1 = lambda c: c.slb.sync.peer[1]  # noqa: E731
sync = lambda c: c.slb.sync  # noqa: E731
adv = lambda c: c.slb.adv  # noqa: E731
vr1 = lambda c: c.l3.vrrp.vr[1]  # noqa: E731
if1 = lambda c: c.l3.if_[1]  # noqa: E731
if2 = lambda c: c.l3.if_[2]  # noqa: E731
pip = lambda c: c.slb.pip  # noqa: E731
vrrp = lambda c: c.l3.vrrp  # noqa: E731
cfg = lambda c: c  # noqa: E731

NO_SYNC = at(sync, "state", False)
NO_DAM = at(adv, "direct", False)
PIP = at(pip, "addrs", [ProxyIp("10.0.1.250")])

ROWS: list[tuple[str, Edit, list[str]]] = [
    ("base is valid", lambda c: None, []),
    # ranges, choices and lengths, from the command tree
    ("weight 48", at(real1, "weight", 48), []),
    ("weight 49", at(real1, "weight", 49),
     ["/cfg/slb/real 1: weight 49 out of range 1-48"]),
    ("tmout even", at(real1, "tmout", 12), []),
    ("tmout odd", at(real1, "tmout", 11),
     ["/cfg/slb/real 1: tmout 11 must be an even number"]),
    ("maxcon", at(real1, "maxcon", 200001),
     ["/cfg/slb/real 1: maxcon 200001 out of range 0-200000"]),
    ("retry", at(real1, "retry", 0), ["/cfg/slb/real 1: retry 0 out of range 1-63"]),
    ("rip", at(real1, "rip", "10.0.1"),
     ["/cfg/slb/real 1: rip 10.0.1 is not an IP address"]),
    ("name length", at(real1, "name", "x" * 32),
     [f"/cfg/slb/real 1: name \"{'x' * 32}\" is longer than 31 characters"]),
    ("metric", at(group1, "metric", "fastest"),
     ["/cfg/slb/group 1: metric fastest is not one of roundrobin|leastconns|minmisses|hash|"
      "response|bandwidth|phash"]),
    ("rport 0", at(svc, "rport", 0), []),
    ("rport 3", at(svc, "rport", 3),
     ["/cfg/slb/virt 1/service 80: rport 3 out of range 0,1,5-65534"]),
    ("vport", lambda c: c.slb.virt[1].service.__setitem__(1, SERVICE.build(5)),
     ["/cfg/slb/virt 1/service 1: virtual port 1 out of range 2-65534"]),
    ("update 1", at(sync, "update", 1), []),
    ("update 61", at(sync, "update", 61),
     ["/cfg/slb/sync: update 61 out of range 0-60"]),
    ("prio", at(vr1, "prio", 255),
     ["/cfg/l3/vrrp/vr 1: prio 255 out of range 1-254"]),
    ("fastage", at(adv, "fastage", 8), ["/cfg/slb/adv: fastage 8 out of range 0-7"]),
    ("slowage", at(adv, "slowage", 15), ["/cfg/slb/adv: slowage 15 out of range 0-14"]),
    ("vlan", at(if1, "vlan", 4091), ["/cfg/l3/if 1: vlan 4091 out of range 1-4090"]),
    ("mask", at(if2, "mask", "255.0.255.0"),
     ["/cfg/l3/if 2: mask 255.0.255.0 is not a subnet mask"]),
    ("pmask", at(adv, "pmask", "255.255.255.0"), []),
    ("real index", lambda c: real(c, 300),
     ["/cfg/slb/real 300: index 300 out of range 1-256"]),
    ("real name index", lambda c: real(c, "web-01.a"), []),
    ("real name too long", lambda c: real(c, "w" * 33),
     [f"/cfg/slb/real {'w' * 33}: index {'w' * 33} is longer than 32 characters"]),
    ("8 services", lambda c: [c.slb.virt[1].service.__setitem__(p, SERVICE.build(p))
                              for p in range(81, 87)], []),
    ("9 services", lambda c: [c.slb.virt[1].service.__setitem__(p, SERVICE.build(p))
                              for p in range(81, 88)],
     ["/cfg/slb/virt 1: 9 service entries; at most 8"]),
    # pbind details
    ("cookie name", at(svc, "pbind", Pbind("cookie", "passive", "N" * 21)),
     ["/cfg/slb/virt 1/service 80: pbind: cookie name is longer than 20 characters"]),
    ("cookie offset", at(svc, "pbind", Pbind("cookie", "passive", "J", offset=0)),
     ["/cfg/slb/virt 1/service 80: pbind: offset out of range 1-64"]),
    ("cookie rcount", at(svc, "pbind", Pbind("cookie", "passive", "J", rcount=17)),
     ["/cfg/slb/virt 1/service 80: pbind: rcount out of range 1-16"]),
    ("insert expiry", at(svc, "pbind", Pbind("cookie", "insert", "I", expire="12/31/01")),
     []),
    ("insert bad expiry", at(svc, "pbind", Pbind("cookie", "insert", "I", expire="soon")),
     ["/cfg/slb/virt 1/service 80: pbind: expiry 'soon' is not MM/dd/yy[@hh:mm] or "
      "days[:hours[:minutes]]"]),
    ("insert offset", at(svc, "pbind", Pbind("cookie", "insert", "I", offset=3)),
     ["/cfg/slb/virt 1/service 80: pbind: offset, length, uri and rcount apply to passive "
      "and rewrite cookies only"]),
    ("rewrite uri", at(svc, "pbind", Pbind("cookie", "rewrite", "R", uri=True)),
     ["/cfg/slb/virt 1/service 80: pbind: rewrite cookies are read from the HTTP header only "
      "(uri disable)"]),
    # values an object needs
    ("real without rip", at(real2, "rip", None), ["/cfg/slb/real 2: rip is not set"]),
    ("virt without vip", lambda c: virt(c, 2, None),  # type: ignore[arg-type]
     ["/cfg/slb/virt 2: vip is not set"]),
    ("vr without vrid", at(vr1, "vrid", None),
     ["/cfg/l3/vrrp/vr 1: vrid is not set"]),
    ("interface without mask", at(if2, "mask", None), ["/cfg/l3/if 2: mask is not set"]),
    ("enabled peer with address", lambda c: None, []),
    ("enabled peer without address", steps(NO_SYNC, at(peer1, "addr", None)),
     ["/cfg/slb/sync/peer 1: an enabled peer needs an address (addr)"]),
    ("disabled peer without address", lambda c: c.slb.sync.peer.__setitem__(2, Peer()), []),
    # references
    ("service group missing", at(svc, "group", 3),
     ["/cfg/slb/virt 1/service 80: group 3 does not exist"]),
    ("service group by name", steps(lambda c: c.slb.group.__setitem__("web", GROUP.build("web")),
                                    at(svc, "group", "web")), []),
    ("group real missing", at(group1, "reals", [1, 9]),
     ["/cfg/slb/group 1: real 9 does not exist"]),
    ("group backup real", at(group1, "backup", Backup("r", 2)), []),
    ("group backup missing", at(group1, "backup", Backup("g", 9)),
     ["/cfg/slb/group 1: backup g9: group 9 does not exist"]),
    ("group backup itself", at(group1, "backup", Backup("g", 1)),
     ["/cfg/slb/group 1: backup: a group cannot back itself up"]),
    ("real backup", at(real1, "backup", 2), []),
    ("real backup missing", at(real1, "backup", 5),
     ["/cfg/slb/real 1: backup real 5 does not exist"]),
    ("real backup itself", at(real1, "backup", 1),
     ["/cfg/slb/real 1: backup: a real server cannot back itself up"]),
    ("vr interface missing", at(vr1, "if_", 7),
     ["/cfg/l3/vrrp/vr 1: interface 7 does not exist"]),
    # one owner per VIP:port, VRID and subnet
    ("same VIP other port", steps(NO_SYNC, lambda c: virt(c, 2, "192.0.2.100", (8080,))), []),
    ("duplicate VIP:port", steps(NO_SYNC, lambda c: virt(c, 2, "192.0.2.100", (443,))),
     ["/cfg/slb/virt 2/service 443: 192.0.2.100:443 is already served by /cfg/slb/virt 1"]),
    ("duplicate vrid", lambda c: c.l3.vrrp.vr.__setitem__(2, Vr(vrid=1, addr="192.0.2.1")),
     ["/cfg/l3/vrrp/vr 2: vrid 1 is already used by virtual router 1"]),
    ("same subnet", at(if2, "addr", "192.0.2.3"),
     ["/cfg/l3/if 2: IP interfaces 1 and 2 are on the same subnet"]),
    ("services over the switch cap", lambda c: None, []),  # see test_service_cap
    # cookie and FTP need DAM or a proxy IP
    ("cookie with DAM", NO_SYNC, []),
    ("cookie without DAM or PIP", steps(NO_SYNC, NO_DAM),
     ["/cfg/slb/virt 1/service 80: cookie persistence needs Direct Access Mode "
      "(/cfg/slb/adv/direct ena) or a proxy IP address (/cfg/slb/pip)"]),
    ("cookie with a PIP", steps(NO_SYNC, NO_DAM, PIP), []),
    ("cookie with a port PIP", steps(NO_SYNC, NO_DAM, lambda c: c.slb.port.__setitem__(
        1, Port(client=True, proxy=True, pip="10.0.1.251"))), []),
    ("cookie with service DAM", steps(NO_SYNC, NO_DAM, at(svc, "direct", True)), []),
    ("ftp without DAM or PIP", steps(NO_SYNC, NO_DAM, only(21, ftpp=True)),
     ["/cfg/slb/virt 1/service 21: FTP load balancing needs Direct Access Mode "
      "(/cfg/slb/adv/direct ena) or a proxy IP address (/cfg/slb/pip)"]),
    ("ftp app without DAM or PIP", steps(NO_SYNC, NO_DAM, only(21, app="ftp")),
     ["/cfg/slb/virt 1/service 21: FTP load balancing needs Direct Access Mode "
      "(/cfg/slb/adv/direct ena) or a proxy IP address (/cfg/slb/pip)"]),
    ("ftp with a PIP", steps(NO_SYNC, NO_DAM, PIP, only(21, ftpp=True)), []),
    # stateful failover
    ("failover needs VMA", at(adv, "matrix", False),
     ["/cfg/slb/sync: stateful failover needs VMA (/cfg/slb/adv/matrix ena)"]),
    ("no failover, no VMA", steps(NO_SYNC, at(adv, "matrix", False)), []),
    ("failover needs an enabled peer", at(peer1, "ena", False),
     ["/cfg/slb/sync: stateful failover needs an enabled peer switch "
      "(/cfg/slb/sync/peer N: addr, ena)"]),
    ("failover needs VRRP", at(vrrp, "on", False),
     ["/cfg/l3/vrrp: stateful failover needs VRRP in active-standby mode (/cfg/l3/vrrp/on)"]),
    ("failover and sharing", at(vr1, "share", True),
     ["/cfg/l3/vrrp/vr 1: share ena makes the router active-active, but stateful failover "
      "needs active-standby (VIP 192.0.2.100)"]),
    ("sharing without failover", steps(NO_SYNC, at(vr1, "share", True)), []),
    ("sharing elsewhere", lambda c: c.l3.vrrp.vr.__setitem__(
        2, Vr(ena=True, vrid=2, addr="10.0.1.1", if_=2, share=True)), []),
    ("VIP not covered", steps(at(vr1, "addr", "10.0.1.1"),
                              at(vr1, "if_", 2)),
     ["/cfg/slb/virt 1: stateful failover needs an enabled VRRP virtual router covering VIP "
      "192.0.2.100"]),
    ("VIP covered by its interface's router", at(vr1, "addr", "192.0.2.1"), []),
    ("VIP of a router on a shared interface", steps(
        at(vr1, "addr", "192.0.2.1"), at(vr1, "share", True)),
     ["/cfg/l3/vrrp/vr 1: share ena makes the router active-active, but stateful failover "
      "needs active-standby (VIP 192.0.2.100)"]),
    ("failover of sslid needs DAM", steps(NO_DAM, only(443, pbind=Pbind("sslid"))),
     ["/cfg/slb/virt 1/service 443: stateful failover of Layer 7 persistence (sslid) needs "
      "Direct Access Mode (/cfg/slb/adv/direct ena)"]),
    ("failover of cookies needs DAM, PIP or not", steps(NO_DAM, PIP, only(
        80, pbind=Pbind("cookie", "insert", "I"))),
     ["/cfg/slb/virt 1/service 80: stateful failover of Layer 7 persistence (cookie) needs "
      "Direct Access Mode (/cfg/slb/adv/direct ena)"]),
    ("failover of URL hashing needs DAM", steps(NO_DAM, only(80, httpslb="urlhash")),
     ["/cfg/slb/virt 1/service 80: stateful failover of Layer 7 persistence (httpslb urlhash) "
      "needs Direct Access Mode (/cfg/slb/adv/direct ena)"]),
    ("failover of clientip needs no DAM", steps(NO_DAM, only(80, pbind=Pbind("clientip"))),
     []),
    ("failover with service DAM", steps(NO_DAM, only(443, pbind=Pbind("sslid"), direct=True)),
     []),
    # the rest
    ("vmasport or vmadip", at(adv, "vmasport", True), []),
    ("vmasport and vmadip", steps(at(adv, "vmasport", True),
                                  at(adv, "vmadip", True)),
     ["/cfg/slb/adv: vmasport and vmadip are alternative VMA keys; enable one"]),
    ("unmodelled extra", at(real1, "extra", ["shut psession", "adv/submac ena"]), []),
    ("extra that is modelled", at(real1, "extra", ["weight 3"]),
     ["/cfg/slb/real 1: unmodelled line 'weight 3' sets a modelled command; set 'weight' "
      "itself instead"]),
    ("extra of two lines", at(real1, "extra", ["a\nb"]),
     ["/cfg/slb/real 1: unmodelled line 'a\\nb' is not one command line"]),
    ("verbatim section", at(cfg, "verbatim", ["/c/sys/mmgmt\n\taddr 10.0.0.3"]), []),
    ("verbatim that is modelled", at(cfg, "verbatim", ["/c/slb/real 9\n\trip 10.0.0.9"]),
     ["/cfg: verbatim section '/c/slb/real 9' is not an unmodelled /cfg section (it must "
      "start with its path and set nothing the model holds)"]),
    ("verbatim without path", at(cfg, "verbatim", ["addr 10.0.0.3"]),
     ["/cfg: verbatim section 'addr 10.0.0.3' is not an unmodelled /cfg section (it must "
      "start with its path and set nothing the model holds)"]),
]


@pytest.mark.parametrize("name, edit, expected", ROWS, ids=[r[0] for r in ROWS])
def test_rule(name: str, edit: Edit, expected: list[str]) -> None:
    cfg = base()
    edit(cfg)
    assert [str(p) for p in validate(cfg)] == expected


def test_service_cap_is_a_setting() -> None:
    cfg = base()
    assert validate(cfg, Limits(services=2)) == []
    msgs = [str(p) for p in validate(cfg, Limits(services=1))]
    assert msgs == ["/cfg/slb: 2 virtual services; the switch holds at most 1"]


def test_all_problems_are_reported_at_once() -> None:
    cfg = base()
    cfg.slb.real[1].weight = 99
    svc(cfg).group = 3
    cfg.slb.adv.matrix = False
    cfg.l3.vrrp.vr[1].share = True
    assert len(validate(cfg)) == 4


def test_problems_from_a_file_name_their_line() -> None:
    text = ("/c/slb/real 1\n\trip 10.0.0.1\n\tweight 60\n"
            "/c/slb/group 1\n\tadd 1\n"
            "/c/slb/virt 1\n\tvip 10.0.0.100\n"
            "/c/slb/virt 1/service 443 https\n\tgroup 3\n")
    loaded = dump.read(text)
    located = [loaded.locate(p).text("x.cfg") for p in validate(loaded.config)]  # type: ignore
    assert located == [
        "x.cfg:3: error: /cfg/slb/real 1: weight 60 out of range 1-48",
        "x.cfg:9: error: /cfg/slb/virt 1/service 443: group 3 does not exist",
    ]


def test_an_empty_config_is_valid() -> None:
    assert validate(Config()) == []
