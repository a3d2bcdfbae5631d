"""Shared test material: a valid HA-capable base config and hypothesis strategies built from the
command tree, so a new command is covered by the property tests the day it is defined."""
from __future__ import annotations

import ipaddress
import string
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from weboslb.config import yamlio
from weboslb.config.args import (
    BackupArg, Bool, Choice, Ident, Int, Ip, Mask, PbindArg, ProxyIpArg, Text, Word,
)
from weboslb.config.dump import sort_blocks
from weboslb.config.menu import CFG, Field, Menu, default_of
from weboslb.config.model import Backup, Config, Pbind, ProxyIp
from weboslb.config.syntax import representable

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
SAMPLES = SHARED / "samples" / "alteon-configs"

BASE_YAML = """\
sys: {ssnmp: {name: lb-a}}
l3:
  if:
    1: {ena: true, addr: 192.0.2.2, mask: 255.255.255.0}
    2: {ena: true, addr: 10.0.1.2, mask: 255.255.255.0}
  vrrp:
    on: true
    vr:
      1: {ena: true, vrid: 1, if: 1, addr: 192.0.2.100, prio: 200}
slb:
  on: true
  adv: {direct: true}
  sync:
    state: true
    peer: {1: {ena: true, addr: 10.0.1.3}}
  real:
    1: {ena: true, rip: 10.0.1.11}
    2: {ena: true, rip: 10.0.1.12}
  group:
    1: {reals: [1, 2]}
  virt:
    1:
      ena: true
      vip: 192.0.2.100
      service:
        80: {app: http, group: 1, pbind: {mode: cookie, cookie: passive, name: JSESSIONID}}
        443: {app: https, group: 1, pbind: sslid}
"""


def base() -> Config:
    """A valid config using stateful failover, DAM, VRRP, cookies and SSL IDs."""
    loaded = yamlio.read(BASE_YAML)
    assert loaded.ok and loaded.config is not None, loaded.problems
    return loaded.config


# --- strategies --------------------------------------------------------------------------

_TEXT = st.text(alphabet=string.ascii_letters + string.digits + ' _-.:"*@!', max_size=20)
_NAME = st.from_regex(r"[a-z][a-z0-9_.-]{0,9}", fullmatch=True)
_IP = st.ip_addresses(v=4).map(str)
_MASK = st.integers(0, 32).map(lambda n: str(ipaddress.IPv4Network(f"0.0.0.0/{n}").netmask))


def ident(limit: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(1, limit), _NAME)


def _pbind() -> st.SearchStrategy[Pbind]:
    name = st.from_regex(r"[A-Za-z][A-Za-z0-9_*]{0,19}", fullmatch=True)
    expire = st.sampled_from(["", "1", "2:12", "0:1:30", "12/31/30", "12/31/30@23:59"])
    passive = st.builds(lambda sub, n, o, ln, u, r: Pbind("cookie", sub, n, o, ln,
                                                         u and sub == "passive", r),
                        st.sampled_from(["passive", "rewrite"]), name, st.integers(1, 64),
                        st.integers(0, 64), st.booleans(), st.integers(1, 16))
    return st.one_of(
        st.just(Pbind()), st.just(Pbind("sslid")),
        st.booleans().map(lambda nr: Pbind("clientip", norport=nr)),
        st.builds(lambda n, e: Pbind("cookie", "insert", n, expire=e), name, expire),
        passive)


def value(arg: Any) -> st.SearchStrategy[Any]:
    """Values of an argument type, mostly valid, some out of range (round trips keep them)."""
    if isinstance(arg, Int):
        inside = st.integers(arg.lo, arg.hi)
        return st.one_of(inside, st.sampled_from(arg.also), st.integers(-3, 70000)) \
            if arg.also else st.one_of(inside, st.integers(-3, 70000))
    if isinstance(arg, Bool):
        return st.booleans()
    if isinstance(arg, Choice):
        return st.sampled_from(arg.options)
    if isinstance(arg, Ip):
        return _IP
    if isinstance(arg, Mask):
        return _MASK
    if isinstance(arg, Text):
        return _TEXT.filter(representable)
    if isinstance(arg, Word):
        return _NAME
    if isinstance(arg, Ident):
        return ident(arg.limit)
    if isinstance(arg, BackupArg):
        return st.builds(Backup, st.sampled_from("rg"), ident(arg.limit))
    if isinstance(arg, ProxyIpArg):
        return st.builds(ProxyIp, _IP, st.one_of(st.none(), st.integers(1, 4090)))
    if isinstance(arg, PbindArg):
        return _pbind()
    raise AssertionError(f"no strategy for {arg!r}")


def field_values(menu: Menu, fld: Field) -> st.SearchStrategy[Any]:
    if fld.kind == "flag":
        return st.booleans()
    if fld.kind == "list":
        return st.lists(value(fld.arg), max_size=3, unique=True)
    values = value(fld.arg)
    return st.one_of(st.none(), values) if default_of(menu, fld) is None else values


_EXTRA = st.lists(st.sampled_from(["qqshut psession", "qqsub/cmd 3", "qqsub/other x",
                                   'qqfoo "a b"', "qqbar"]), max_size=3)
_BLOCKS = st.lists(st.sampled_from([
    "/c/sys/mmgmt\n\taddr 10.0.0.3\n\tmask 255.255.255.0",
    "/c/sys\n    hprompt ena",
    "/c/l2/vlan 10\n    name external\n    add 1",
    "/c/l3/gw 1\n\taddr 10.0.0.1\n\tena",
    "/c/slb/ssl/certs/import cert \"x\" text\n-----BEGIN CERTIFICATE-----\nQUJD\n"
    "-----END CERTIFICATE-----",
    "/c/slb/advhc/health h1 HTTP\n    http\n        path \"/health\"",
    "/c/slb/gslb/on",
    "/c/security/dos/on",
]), max_size=4, unique=True).map(sort_blocks)


@st.composite
def obj(draw: Any, menu: Menu, key: Any = None) -> Any:
    o = menu.build(key)
    for attr, arg in (menu.key.carries if menu.key else ()):
        setattr(o, attr, draw(st.one_of(st.none(), value(arg))))
    for fld in menu.fields:
        setattr(o, fld.attribute, draw(field_values(menu, fld)))
    for sub in menu.menus:
        if sub.indexed:
            keys = draw(st.lists(_key(sub), max_size=2, unique=True))
            setattr(o, sub.attribute, {k: draw(obj(sub, k)) for k in keys})
        else:
            setattr(o, sub.attribute, draw(obj(sub)))
    if not menu.container:
        o.extra = draw(_EXTRA)
    if menu is CFG:
        o.verbatim = draw(_BLOCKS)
    return o


def _key(menu: Menu) -> st.SearchStrategy[Any]:
    assert menu.key is not None
    arg = getattr(menu.key, "arg", None) or menu.key.port
    return ident(arg.limit) if isinstance(arg, Ident) else st.integers(arg.lo, arg.hi)


def configs() -> st.SearchStrategy[Config]:
    return obj(CFG)
