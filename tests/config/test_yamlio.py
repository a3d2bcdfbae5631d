"""YAML configs: the schema mirrors the menu tree, and every problem names its line."""
from __future__ import annotations

import pytest

from tests.config.helpers import BASE_YAML, base
from weboslb.config import dump, yamlio
from weboslb.config.model import Backup, Pbind, ProxyIp


def test_base_config_reads_into_the_model() -> None:
    cfg = base()
    assert cfg.sys.ssnmp.name == "lb-a"
    assert cfg.l3.if_[1].addr == "192.0.2.2" and cfg.l3.vrrp.on
    assert cfg.l3.vrrp.vr[1].if_ == 1 and cfg.l3.vrrp.vr[1].prio == 200
    assert cfg.slb.on and cfg.slb.adv.direct and cfg.slb.sync.state
    assert cfg.slb.group[1].reals == [1, 2] and cfg.slb.group[1].metric == "leastconns"
    svc = cfg.slb.virt[1].service[80]
    assert svc.app == "http" and svc.rport == 80
    assert svc.pbind == Pbind("cookie", "passive", "JSESSIONID")


@pytest.mark.parametrize("text, check", [
    ("slb: {on: true}", lambda c: c.slb.on),                # YAML 1.1 reads `on` as true
    ("slb: {'on': true}", lambda c: c.slb.on),
    ("l3: {vrrp: {on: yes}}", lambda c: c.l3.vrrp.on),
    ("slb: {adv: {direct: ena}}", lambda c: c.slb.adv.direct),
    ("slb: {real: {web01: {rip: 10.0.0.1}}}", lambda c: c.slb.real["web01"].rip == "10.0.0.1"),
    ("slb: {real: {'7': {}}}", lambda c: 7 in c.slb.real),
    ("slb: {group: {1: {backup: g2, reals: [a, 2]}}}",
     lambda c: (c.slb.group[1].backup, c.slb.group[1].reals) == (Backup("g", 2), ["a", 2])),
    ("slb: {pip: {addrs: ['10.0.0.9 667', {addr: 10.0.0.8}]}}",
     lambda c: c.slb.pip.addrs == [ProxyIp("10.0.0.9", 667), ProxyIp("10.0.0.8")]),
    ("slb: {virt: {1: {service: {80: {pbind: 'cookie passive \"J S\" 2 10 e'}}}}}",
     lambda c: c.slb.virt[1].service[80].pbind == Pbind("cookie", "passive", "J S", 2, 10,
                                                        True)),
    ("slb: {virt: {1: {service: {80: {pbind: {mode: cookie, cookie: insert}}}}}}",
     lambda c: c.slb.virt[1].service[80].pbind.name == "AlteonP"),
    ("slb: {virt: {1: {service: {80: {pbind: clientip norport}}}}}",
     lambda c: c.slb.virt[1].service[80].pbind.norport),
    ("slb:\n  real:\n    1: &r {rip: 10.0.0.1, ena: true}\n    2: {<<: *r, rip: 10.0.0.2}\n",
     lambda c: c.slb.real[2].ena and c.slb.real[2].rip == "10.0.0.2"),
    ("verbatim:\n- |-\n  /c/sys/mmgmt\n  \taddr 10.0.0.3\n",
     lambda c: c.verbatim == ["/c/sys/mmgmt\n\taddr 10.0.0.3"]),
    ("slb: {real: {1: {extra: ['shut psession']}}}",
     lambda c: c.slb.real[1].extra == ["shut psession"]),
])
def test_schema(text: str, check) -> None:  # type: ignore[no-untyped-def]
    loaded = yamlio.read(text)
    assert loaded.problems == [], [p.text() for p in loaded.problems]
    assert check(loaded.config)


@pytest.mark.parametrize("text, line, message", [
    ("slb:\n  real:\n    1:\n      weight: heavy\n", 4,
     "/cfg/slb/real 1: weight: expected a number <1-48>, got 'heavy'"),
    ("slb:\n  real:\n    1:\n      wieght: 3\n", 4,
     "/cfg/slb/real 1: unknown key 'wieght'; expected one of: ena, ipver, rip, name, weight, "
     "maxcon, tmout, backup, inter, retry, restr, addports, extra"),
    ("slb:\n  group:\n    1: {metric: fastest}\n", 3,
     "/cfg/slb/group 1: metric: expected roundrobin|leastconns|minmisses|hash|response|"
     "bandwidth|phash, got 'fastest'"),
    ("slb:\n  real:\n    1: {}\n    '1': {}\n", 4, "/cfg/slb: real 1 given twice"),
    ("slb:\n  real: {1: {}}\n  real: {2: {}}\n", 3, "/cfg/slb: duplicate key 'real'"),
    ("slb:\n  virt:\n    1:\n      service:\n        http: {}\n", 5,
     "/cfg/slb/virt 1: service index: expected a number <2-65534>, got 'http'"),
    ("slb:\n  group:\n    1: {reals: [1, 1]}\n", 3,
     "/cfg/slb/group 1: reals: listed more than once: 1"),
    ("slb:\n  virt:\n    1:\n      service:\n        80: {pbind: {mode: cookie, size: 3}}\n", 5,
     "/cfg/slb/virt 1/service 80: pbind: unknown pbind key(s) size; expected cookie, expire, "
     "length, mode, name, norport, offset, rcount, uri"),
    ("slb:\n  real: [1, 2]\n", 2, "/cfg/slb/real: expected a mapping"),
    ("slb:\n  on: maybe\n", 2, "/cfg/slb: on: expected ena|dis, got 'maybe'"),
    ("verbatim: /c/sys\n", 1, "/cfg: verbatim: expected a list of strings"),
    ("slb:\n  real:\n    1: {rip: !!python/object:os.system x}\n", 3,
     "/cfg/slb/real 1: rip: could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object:os.system'"),
])
def test_bad_values_name_their_line(text: str, line: int, message: str) -> None:
    loaded = yamlio.read(text)
    assert [(p.line, p.text()) for p in loaded.problems] == [
        (line, f"line {line}: error: {message}")]


@pytest.mark.parametrize("text, line, start", [
    ("slb:\n  real: {1: {rip: 10.0.0.1}\n", 3, "YAML syntax: expected ',' or '}'"),
    ("slb:\n\treal: {}\n", 2, "YAML syntax: found character '\\t' that cannot start"),
    ("- a\n- b\n", 1, "expected a mapping of menus"),
    ("", 1, "the file holds no configuration"),
    ("a: b\n---\nc: d\n", 2, "YAML syntax: expected a single document in the stream, but "
     "found another document"),
])
def test_malformed_yaml_is_one_line_and_nothing_loaded(text: str, line: int, start: str) -> None:
    loaded = yamlio.read(text)
    assert loaded.config is None
    assert len(loaded.problems) == 1
    assert loaded.problems[0].line == line
    assert loaded.problems[0].message.startswith(start), loaded.problems[0].message


def test_where_lines_for_validation_messages() -> None:
    loaded = yamlio.read(BASE_YAML)
    lines = BASE_YAML.splitlines()
    http = next(n for n, line in enumerate(lines, 1) if "80: {app: http" in line)
    assert loaded.where["/cfg/slb/virt 1/service 80/pbind"] == http
    assert loaded.where["/cfg/l3/vrrp/vr 1"] == lines.index("    vr:") + 2


def test_write_is_readable_and_mirrors_the_tree() -> None:
    text = yamlio.write(base())
    assert text.startswith("sys:\n  ssnmp:\n    name: lb-a\nl3:\n  if:\n    1:\n      ena: true")
    assert "      service:\n        80:\n          app: http\n          group: 1\n" \
           "          rport: 80\n          pbind:\n            mode: cookie\n" in text
    assert "'on': true" in text  # PyYAML quotes the word; reading accepts it bare too


def test_verbatim_blocks_are_literal_text_even_with_tabs() -> None:
    cfg = base()
    cfg.verbatim = ["/c/sys/mmgmt\n\taddr 10.0.0.3", "/c/sys/x\n\tname \"\u00e9\x07\""]
    text = yamlio.write(cfg)
    assert "- |-\n  /c/sys/mmgmt\n  \taddr 10.0.0.3\n" in text
    assert '- "/c/sys/x\\n\\tname \\"\\u00e9\\u0007\\""\n' in text  # not literal-safe
    assert yamlio.read(text).config == cfg


def test_dump_and_yaml_describe_the_same_config() -> None:
    cfg = base()
    assert dump.read(dump.write(cfg)).config == yamlio.read(yamlio.write(cfg)).config == cfg
