"""Reading and writing Alteon /cfg/dump scripts."""
from __future__ import annotations

import pytest

from weboslb.config import dump
from weboslb.config.diag import Loaded
from weboslb.config.model import Backup, Config, Pbind, ProxyIp


def load(text: str) -> Loaded:
    loaded = dump.read(text)
    assert loaded.config is not None, loaded.problems
    return loaded


def ok(text: str) -> Config:
    loaded = load(text)
    assert loaded.problems == [], [p.text() for p in loaded.problems]
    assert loaded.config is not None
    return loaded.config


REAL_STYLE = """\
script start "Alteon Application Switch 5412XL" 4  /**** DO NOT EDIT THIS LINE!
/* Configuration dump taken 14:50:38 Mon Mar 30, 2015 (DST)
/* Version 28.1.11.0, vADC Id 3,  Base MAC address
/c/slb
\ton
/c/slb/adv
\tdirect ena
/c/slb/real 1
\tena
\tipver v4
\trip 10.203.83.67
\tinter 10
\tname "server1"
/c/slb/real 2
\tena
\trip 10.203.83.68
/c/slb/group 1
\tipver v4
\tmetric roundrobin
\thealth http
\tbackup r2
\tcontent "/test-service1"
\tadd 1
\tname "service1"
/c/slb/pip/add 10.203.85.232 667
/c/slb/port 13
\tclient ena
\tserver ena
\tproxy ena
/c/slb/virt 1
\tena
\tipver v4
\tvip 10.100.100.1
\tdname "Vip-service1"
/c/slb/virt 1/service 80 http
\tgroup 1
\trport 8000
\tpbind clientip
\ttmout 58
/c/slb/virt 1/service 443 https
\tgroup 1
/c/l3/vrrp/on
/c/l3/vrrp/vr 1
\tena
\tipver v4
\tvrid 15
\tif 1
\tprio 200
\taddr 10.0.0.23
\tadver 2
\tshare dis
/c/slb/sync/passphrs testpass
/c/slb/virt 1/service 443 https/pbind cookie passive "JSESSIONID" 1 64 disable
/
script end  /**** DO NOT EDIT THIS LINE!
"""


def test_reads_a_real_style_dump() -> None:
    cfg = ok(REAL_STYLE)
    slb = cfg.slb
    assert slb.on and slb.adv.direct and slb.adv.matrix
    assert slb.real[1].rip == "10.203.83.67" and slb.real[1].inter == 10
    assert slb.real[1].name == "server1" and slb.real[1].ena
    group = slb.group[1]
    assert (group.metric, group.health, group.content) == ("roundrobin", "http",
                                                           "/test-service1")
    assert group.backup == Backup("r", 2) and group.reals == [1] and group.name == "service1"
    assert slb.pip.addrs == [ProxyIp("10.203.85.232", 667)]
    assert slb.port[13].client and slb.port[13].proxy
    http, https = slb.virt[1].service[80], slb.virt[1].service[443]
    assert (http.app, http.group, http.rport, http.tmout) == ("http", 1, 8000, 58)
    assert http.pbind == Pbind("clientip")
    assert https.rport == 443  # defaults to the virtual port
    assert https.pbind == Pbind("cookie", "passive", "JSESSIONID", 1, 64, False)
    vrrp = cfg.l3.vrrp
    assert vrrp.on and vrrp.vr[1].vrid == 15 and vrrp.vr[1].if_ == 1 and vrrp.vr[1].adver == 2
    assert slb.sync.passphrs == "testpass"


@pytest.mark.parametrize("text, check", [
    # spaces instead of tabs, blank lines, unindented relative commands
    ("/c/slb/real 1\n    ena\n\n    rip 1.1.1.1\n", lambda c: c.slb.real[1].rip == "1.1.1.1"),
    ("/c/slb/real 1\nena\nrip 1.1.1.1\n", lambda c: c.slb.real[1].ena),
    # CRLF line ends
    ("/c/slb/real 1\r\n\tweight 5\r\n", lambda c: c.slb.real[1].weight == 5),
    # /cfg instead of /c, chains of commands on one line
    ("/cfg/slb/real 1/rip 1.1.1.1/ena\n", lambda c: c.slb.real[1].ena),
    ("/cfg/l3/if 1/addr 10.0.0.1/mask 255.255.255.0/vlan 3/ena\n",
     lambda c: (c.l3.if_[1].vlan, c.l3.if_[1].ena) == (3, True)),
    # unique-prefix abbreviations
    ("/c/sl/re 1/ri 1.1.1.1/we 3\n", lambda c: c.slb.real[1].weight == 3),
    ("/c/sl/vi 1/se 80/pb cl\n", lambda c: c.slb.virt[1].service[80].pbind.mode == "clientip"),
    # old Web OS 10 paths and their new homes
    ("/cfg/vrrp/vr 2\n\tvrid 9\n", lambda c: c.l3.vrrp.vr[2].vrid == 9),
    ("/cfg/vrrp/on\n", lambda c: c.l3.vrrp.on),
    ("/cfg/slb/direct ena\n", lambda c: c.slb.adv.direct),
    ("/cfg/slb\n\tdirect ena\n", lambda c: c.slb.adv.direct),
    ("/cfg/slb/pmask 255.255.255.0\n", lambda c: c.slb.adv.pmask == "255.255.255.0"),
    # service by application name, then by port and application
    ("/c/slb/virt 1/service http\n", lambda c: c.slb.virt[1].service[80].app == "http"),
    ("/c/slb/virt 1/service 8080 basic-slb/rport 80\n",
     lambda c: (c.slb.virt[1].service[8080].app, c.slb.virt[1].service[8080].rport)
     == ("basic-slb", 80)),
    # names as indexes (AlteonOS 29+)
    ("/c/slb/real web01\n\trip 1.1.1.1\n/c/slb/group web_pool\n\tadd web01\n",
     lambda c: c.slb.group["web_pool"].reals == ["web01"]),
    # an unescaped quote inside a string
    ('/c/slb/real 1\n\tname "Exemple"Exemple"\n', lambda c: c.slb.real[1].name
     == 'Exemple"Exemple'),
    ("/c/slb/real 1\n\tname web01\n", lambda c: c.slb.real[1].name == "web01"),
    # relative navigation in an attribute line
    ("/c/slb/real 1\n\trip 1.1.1.1\n\t../real 2/rip 2.2.2.2/ena\n\tweight 4\n",
     lambda c: c.slb.real[2].ena and c.slb.real[2].weight == 4),
    # add / rem, addport / remport, del
    ("/c/slb/group 1\n\tadd 1\n\tadd 2\n\tadd 3\n\trem 2\n", lambda c: c.slb.group[1].reals
     == [1, 3]),
    ("/c/slb/real 1\n\taddport 80\n\taddport 8080\n\tremport 80\n",
     lambda c: c.slb.real[1].addports == [8080]),
    ("/c/slb/real 1\n\trip 1.1.1.1\n/c/slb/real 2\n\trip 2.2.2.2\n/c/slb/real 1/del\n",
     lambda c: list(c.slb.real) == [2]),
    # every pbind form
    ('/c/slb/virt 1/service 80/pbind cookie insert "Srv" "2:0"\n',
     lambda c: c.slb.virt[1].service[80].pbind == Pbind("cookie", "insert", "Srv",
                                                        expire="2:0")),
    ("/c/slb/virt 1/service 80\n\tpbind cookie insert\n",
     lambda c: c.slb.virt[1].service[80].pbind.name == "AlteonP"),
    ("/c/slb/virt 1/service 80\n\tpbind cookie insert X 12/31/01@11:59\n",
     lambda c: c.slb.virt[1].service[80].pbind.expire == "12/31/01@11:59"),
    ("/c/slb/virt 1/service 80\n\tpbind cookie rewrite SRV 1 16 d 3\n",
     lambda c: c.slb.virt[1].service[80].pbind == Pbind("cookie", "rewrite", "SRV", 1, 16,
                                                        False, 3)),
    ("/c/slb/virt 1/service 80\n\tpbind clientip norport\n",
     lambda c: c.slb.virt[1].service[80].pbind.norport),
    ("/c/slb/virt 1/service 443\n\tpbind sslid\n\tpbind disable\n",
     lambda c: c.slb.virt[1].service[443].pbind == Pbind()),
    # sync switches written e/d, accepted as ena/dis too
    ("/c/slb/sync\n\tprios d\n\tpips e\n\tstate ena\n\tupdate 10\n/c/slb/sync/peer 1\n\tena\n"
     "\taddr 10.1.1.2\n", lambda c: (c.slb.sync.prios, c.slb.sync.pips, c.slb.sync.state,
                                     c.slb.sync.peer[1].addr) == (False, True, True,
                                                                  "10.1.1.2")),
    ("/c/l3/vrrp/vr 1/track\n\treals ena\n", lambda c: c.l3.vrrp.vr[1].track.reals),
    ("/c/sys/ssnmp\n\tname \"lb-a\"\n", lambda c: c.sys.ssnmp.name == "lb-a"),
    # globals that loading a file implies
    ("/c/slb/real 1\n\trip 1.1.1.1\napply\nsave\n", lambda c: c.slb.real[1].rip == "1.1.1.1"),
])
def test_grammar(text: str, check) -> None:  # type: ignore[no-untyped-def]
    assert check(ok(text))


def test_unmodelled_sections_are_kept_verbatim_in_dump_order() -> None:
    text = ("/c/slb/real 1\n\trip 1.1.1.1\n"
            "/c/slb/ssl/certs/import cert \"x\" text\n"
            "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"
            "/c/sys/mmgmt\n    addr 10.0.0.3\n"
            "/c/sys\n\thprompt ena\n"
            "/c/l3/hamode vrrp\n")
    cfg = ok(text)
    assert cfg.verbatim == [
        "/c/sys\n\thprompt ena",
        "/c/sys/mmgmt\n    addr 10.0.0.3",
        "/c/l3/hamode vrrp",
        "/c/slb/ssl/certs/import cert \"x\" text\n-----BEGIN CERTIFICATE-----\nQUJD\n"
        "-----END CERTIFICATE-----",
    ]
    out = dump.write(cfg)
    assert out.index("/c/sys\n") < out.index("/c/sys/mmgmt") < out.index("/c/l3/hamode") \
        < out.index("/c/slb/ssl") < out.index("/c/slb/real 1")
    assert "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n" in out


def test_unknown_commands_in_modelled_menus_are_warnings_and_kept() -> None:
    text = ("/c/slb/real 1\n\trip 1.1.1.1\n\tshut psession\n"
            "/c/slb/real 1/adv\n\tsubmac ena\n"
            "/c/slb/virt 1/service 80 http/http/xforward ena\n"
            "/c/slb/virt 1/service 80 http/ssl\n\tsrvrcert cert x\n")
    loaded = load(text)
    assert [(p.line, p.severity, p.message) for p in loaded.problems] == [
        (3, "warning", "/cfg/slb/real 1: unknown command 'shut' kept verbatim")]
    assert loaded.config is not None
    assert loaded.config.slb.real[1].extra == ["shut psession", "adv/submac ena"]
    assert loaded.config.slb.virt[1].service[80].extra == ["http/xforward ena",
                                                           "ssl/srvrcert cert x"]
    out = dump.write(loaded.config)
    assert "/c/slb/real 1\n\trip 1.1.1.1\n\tshut psession\n/c/slb/real 1/adv\n\tsubmac ena\n" \
        in out
    assert "/c/slb/virt 1/service 80 http/http\n\txforward ena\n" in out
    assert dump.read(out).config == loaded.config


def test_nested_indentation_below_an_unknown_command_stays_with_it() -> None:
    cfg = load("/c/slb/real 1\n    rip 1.1.1.1\n    qq\n        deeper 1\n    weight 2\n").config
    assert cfg is not None
    assert cfg.slb.real[1].extra == ["qq", "qq/deeper 1"] and cfg.slb.real[1].weight == 2


@pytest.mark.parametrize("text, line, message", [
    ("/c/slb/real 1\n\tweight abc\n", 2,
     "/cfg/slb/real 1: weight: expected a number <1-48>, got 'abc'"),
    ("/c/slb/virt 1/service 80\n\tpbind cookies\n", 2,
     "/cfg/slb/virt 1/service 80: pbind: expected clientip|cookie|sslid|disable, "
     "got 'cookies'"),
    ("/c/slb/virt 1/service 80\n\tpbind cookie passive\n", 2,
     "/cfg/slb/virt 1/service 80: pbind: expected 'cookie passive \"name\" "
     "[offset [length [uri [rcount]]]]'"),
    ("/c/slb/group 1\n\tmetric fastest\n", 2, "/cfg/slb/group 1: metric: expected roundrobin|"
     "leastconns|minmisses|hash|response|bandwidth|phash, got 'fastest'"),
    ("/c/slb/real 1\n\tena now\n", 2, "/cfg/slb/real 1: ena: takes no argument, got 'now'"),
    ("/c/slb/real\n", 1, "/cfg/slb: real: needs an index <1-256|name>"),
    ("/c/slb/virt 1/service x\n", 1, "/cfg/slb/virt 1: service: expected a virtual port number "
     "or a known application (ftp-data, ftp, ssh, telnet, smtp, dns, tftp, http, pop3, nntp, "
     "ntp, imap, snmp, ldap, https, ssl, rtsp, ldaps, sip), got 'x'"),
    ("/c/slb/adv 1\n", 1, "/cfg/slb: adv: is a menu and takes no argument, got '1'"),
    ("/c/slb/s\n", 1, "ambiguous command 's' in /cfg/slb: scriptpkg, secwa, sesslog, sipcfg, "
     "smtp, ssl, sync"),
    ("/c/slb/group 1\n\trem 4\n", 2, "/cfg/slb/group 1: rem: 4 is not in the list"),
    ("/info/slb/dump\n", 1, "'/info' is not a configuration command (expected /cfg or /c)"),
    ("/c/slb/real 1\n/\n\trip 1.1.1.1\n", 3,
     "command outside any menu: expected a '/c/...' menu path line before 'rip'"),
    ("\trip 1.1.1.1\n/c/slb/real 1\n", 1,
     "command outside any menu: expected a '/c/...' menu path line before 'rip'"),
    ("/c/slb/ssl/certs/import cert x text\n-----BEGIN CERTIFICATE-----\nQUJD\n", 2,
     "certificate text is not closed by an '-----END' line"),
    ("/c/slb/real 1\n-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n", 2,
     "certificate text outside an SSL certificate section"),
])
def test_malformed_lines_are_one_error_each_with_their_line(text: str, line: int,
                                                            message: str) -> None:
    loaded = load(text)
    assert [(p.line, p.message) for p in loaded.errors] == [(line, message)]
    assert not loaded.ok


def test_a_bad_path_skips_its_section_instead_of_cascading() -> None:
    loaded = load("/c/slb/real\n\trip 1.1.1.1\n\tena\n/c/slb/real 2\n\trip 2.2.2.2\n")
    assert [p.line for p in loaded.errors] == [1]
    assert loaded.config is not None and list(loaded.config.slb.real) == [2]


def test_ignored_globals_warn() -> None:
    loaded = load("/c/slb/real 1\n\trip 1.1.1.1\ndiff\n")
    assert [(p.line, p.severity) for p in loaded.problems] == [(3, "warning")]


@pytest.mark.parametrize("text, message", [
    ("4: IP4 1.4.222.10,   00:03:b2:78:08:05, vname x\n    Virtual Services:\n",
     "this is /info/slb/dump output (operational state), not a configuration dump"),
    ("slb:\n  on: true\n", "not an Alteon configuration dump: no '/c/...' menu path line found"),
    ("", "the file holds no configuration commands"),
    ("/* only a comment\n", "the file holds no configuration commands"),
])
def test_not_a_dump_is_one_error_and_nothing_loaded(text: str, message: str) -> None:
    loaded = dump.read(text)
    assert loaded.config is None
    assert [p.message for p in loaded.problems] == [message]


def test_where_maps_objects_and_attributes_to_lines() -> None:
    loaded = load("/c/slb/real 1\n\trip 1.1.1.1\n\tweight 3\n/c/slb/real 1\n\tweight 4\n")
    assert loaded.where["/cfg/slb/real 1"] == 1
    assert loaded.where["/cfg/slb/real 1/rip"] == 2
    assert loaded.where["/cfg/slb/real 1/weight"] == 5  # the line that set the final value


def test_write_emits_non_defaults_in_alteon_order() -> None:
    cfg = ok("/c/slb/virt 1/service 443 https/pbind cookie passive JSESSIONID 1 64 disable\n"
             "/c/slb/virt 1\n\tvip 10.0.0.1\n\tena\n"
             "/c/slb/real 1\n\trip 10.0.1.1\n\tena\n\tweight 1\n"
             "/c/slb/group 1\n\tadd 1\n\tmetric leastconns\n"
             "/c/slb/adv\n\tmatrix ena\n\tdirect ena\n/c/slb\n\ton\n/c/l3/vrrp/on\n"
             "/c/slb/sync/passphrs \"two words\"\n/c/slb/sync/state e\n")
    assert dump.write(cfg, comments=("written by a test",)) == """\
script start "Alteon Web OS (weboslb)" 4  /**** DO NOT EDIT THIS LINE!
/* written by a test
/c/l3/vrrp/on
/c/slb
\ton
/c/slb/adv
\tdirect ena
/c/slb/sync
\tstate e
/c/slb/sync/passphrs "two words"
/c/slb/real 1
\tena
\trip 10.0.1.1
/c/slb/group 1
\tmetric leastconns
\tadd 1
/c/slb/virt 1
\tena
\tvip 10.0.0.1
/c/slb/virt 1/service 443 https
\tgroup 1
\trport 443
\tpbind cookie passive "JSESSIONID" 1 64 disable
/
script end  /**** DO NOT EDIT THIS LINE!
"""


def test_diff_shows_only_changes_as_commands() -> None:
    applied = ok("/c/slb/real 1\n\trip 10.0.1.1\n\tena\n\tweight 5\n"
                 "/c/slb/real 2\n\trip 10.0.1.2\n/c/slb/group 1\n\tadd 1\n\tadd 2\n")
    pending = ok("/c/slb/real 1\n\trip 10.0.1.1\n\tdis\n"
                 "/c/slb/real 3\n\trip 10.0.1.3\n/c/slb/group 1\n\tadd 1\n\tadd 3\n")
    assert dump.diff(pending, applied) == (
        "/c/slb/real 1\n\tdis\n\tweight 1\n"
        "/c/slb/real 3\n\trip 10.0.1.3\n"
        "/c/slb/real 2/del\n"
        "/c/slb/group 1\n\trem 2\n\tadd 3\n")
    assert dump.diff(applied, applied) == ""
