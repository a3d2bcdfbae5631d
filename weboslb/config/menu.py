"""The ``/cfg`` command tree as data: the one place a configuration command is defined.

A ``Menu`` holds ``Field``s (commands that set one model attribute), sub-menus and ``Action``s
(``del``, ``cur``).  The dump reader and writer, YAML, validation and (later) the console walk
this tree; none of them names a command of its own.

* A value field is one word and its argument (``weight 10``); a flag is a pair of words
  without argument (``ena``/``dis``, ``on``/``off``); a list field adds and removes items
  (``add 1``/``rem 1``, ``addport 8080``/``remport 8080``).
* An indexed menu (``real <id>``) keeps its objects in a dict on the parent; a plain sub-menu
  (``adv``) holds one object.  Container menus (``/cfg``, ``sys``, ``l3``, ``slb``) group
  others: what is not modelled below them is kept as verbatim dump sections, in ``layout``
  order.  Below an object, what is not modelled goes to the object's ``extra`` lines.
* ``known`` words are real Alteon commands we do not model: kept without a warning.
* ``aliases`` map old Web OS 10 paths to where AlteonOS moved them (``/cfg/vrrp`` ->
  ``/cfg/l3/vrrp``, ``/cfg/slb/direct`` -> ``/cfg/slb/adv/direct``).
Defaults are the model's dataclass defaults (``default_of``), never restated here.
"""
from __future__ import annotations

import keyword
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from weboslb.config import model as m
from weboslb.config.args import (
    VLAN, Arg, BackupArg, Bool, Choice, Ident, Int, Ip, Key, Mask, PbindArg, ProxyIpArg,
    ServiceKey, Text, Word,
)

MAX_REALS = 256
MAX_GROUPS = 256
MAX_VIRTS = 256
MAX_SERVICES_PER_VIRT = 8



def attribute_name(word: str, attr: str | None) -> str:
    """The model attribute a menu word sets: its own name unless given, ``if`` -> ``if_``."""
    if attr:
        return attr
    return word + "_" if keyword.iskeyword(word) else word

@dataclass(frozen=True, slots=True)
class Field:
    """Commands that set one attribute of the menu's object."""

    name: str  # the command word, and the YAML key (lists use ``attr``)
    arg: Arg | None  # None for a flag
    help: str
    off: str = ""  # flag: the word that clears it ("dis", "off")
    off_help: str = ""
    rem: str = ""  # list: the word that removes an item
    rem_help: str = ""
    attr: str = ""  # model attribute, when it differs from ``name``
    inline: bool = False  # written as a one-line path command (``/c/l3/vrrp/on``)
    always: bool = False  # written for every object, default or not, as real dumps do

    @property
    def kind(self) -> str:
        return "flag" if self.off else "list" if self.rem else "value"

    @property
    def attribute(self) -> str:
        return attribute_name(self.name, self.attr)

    @property
    def key(self) -> str:
        """The YAML key: the command word, or the attribute for lists (``reals``)."""
        return self.attribute if self.kind == "list" else self.name

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name,) + tuple(w for w in (self.off, self.rem) if w)

    def help_for(self, word: str) -> str:
        return self.off_help if word == self.off else self.rem_help if word == self.rem else \
            self.help


@dataclass(frozen=True, slots=True)
class Action:
    """A command that acts on the menu's object rather than setting a value."""

    name: str
    help: str


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Menu:
    name: str
    title: str
    help: str
    model: Callable[[], Any] | None = None
    items: tuple[Field | Menu | Action, ...] = ()
    key: Key | ServiceKey | None = None
    new: Callable[[Any], Any] | None = None  # indexed: build the object for an index
    attr: str = ""  # attribute of the parent's object holding this menu's object(s)
    aliases: tuple[tuple[str, str], ...] = ()
    known: tuple[str, ...] = ()
    strict: bool = True
    container: bool = False
    layout: tuple[str, ...] = ()
    limit: int = 0  # most objects an indexed menu may hold (0: the index range decides)
    _words: dict[str, Field | Menu | Action] = field(default_factory=dict, compare=False,
                                                     repr=False)

    def __post_init__(self) -> None:
        for item in self.items:
            for word in item.words if isinstance(item, Field) else (item.name,):
                assert word not in self._words, f"{self.name}: {word} defined twice"
                self._words[word] = item

    def __repr__(self) -> str:
        return f"Menu({self.name!r})"

    @property
    def attribute(self) -> str:
        return attribute_name(self.name, self.attr)

    @property
    def indexed(self) -> bool:
        return self.key is not None

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(i for i in self.items if isinstance(i, Field))

    @property
    def menus(self) -> tuple[Menu, ...]:
        return tuple(i for i in self.items if isinstance(i, Menu))

    def build(self, key: Any = None) -> Any:
        """A fresh object for this menu (with its defaults) at ``key``."""
        if self.new is not None and key is not None:
            return self.new(key)
        assert self.model is not None
        return self.model()

    def item(self, word: str) -> Field | Menu | Action | None:
        return self._words.get(word)

    def resolve(self, word: str) -> Resolved:
        """Find what ``word`` names here: exact word, alias, known word, or unique prefix."""
        word = word.lower()
        aliases = dict(self.aliases)
        for table, kind in ((self._words, "item"), (aliases, "alias")):
            if word in table:
                return Resolved(kind, word, table[word])
        if word in self.known:
            return Resolved("known", word)
        candidates = sorted({w for w in (*self._words, *aliases, *self.known)
                             if w.startswith(word)})
        if len(candidates) == 1:
            return self.resolve(candidates[0])
        if candidates:
            return Resolved("ambiguous", word, tuple(candidates))
        return Resolved("unknown", word)


@dataclass(frozen=True, slots=True)
class Resolved:
    kind: str  # item | alias | known | ambiguous | unknown
    word: str
    target: Any = None  # the item, the alias path, or the ambiguous candidates


def default_of(menu: Menu, fld: Field, key: Any = None) -> Any:
    return getattr(menu.build(key), fld.attribute)


_OBJECT = (Action("del", "Delete this object"), Action("cur", "Display current settings"))


def _ena(what: str) -> tuple[str, str]:
    return f"Enable {what}", f"Disable {what}"


def _flag(name: str, off: str, what: str, **kw: Any) -> Field:
    on_help, off_help = _ena(what) if name == "ena" else (f"Globally turn {what} ON",
                                                        f"Globally turn {what} OFF")
    return Field(name, None, on_help, off=off, off_help=off_help, **kw)


_ED = Bool("e", "d")  # the sync menu writes its switches as e/d

SERVICE = Menu(
    "service", "Virtual Service", "Virtual service (virtual port) menu",
    key=ServiceKey(Int(2, 65534)), new=m.new_service, model=m.Service,
    limit=MAX_SERVICES_PER_VIRT,
    items=(
        Field("group", Ident(MAX_GROUPS), "Set real server group number", always=True),
        Field("rport", Int(5, 65534, also=(0, 1)), "Set real server port (0 = multi-rport)",
              always=True),
        Field("pbind", PbindArg(), "Set persistent binding type"),
        Field("ptmout", Int(1, 32768), "Set minutes an inactive persistent binding lives"),
        Field("tmout", Int(0, 32768), "Set minutes an idle session stays in the table"),
        Field("dbind", Choice(("ena", "dis", "forceproxy")), "Enable/disable delayed binding"),
        Field("ftpp", Bool(), "Enable/disable FTP parsing"),
        Field("nonat", Bool(), "Enable/disable only substituting MAC addresses (DSR)"),
        Field("direct", Bool(), "Enable/disable Direct Access Mode for this service"),
        Field("thash", Choice(("sip", "sip-sport")), "Set hash parameter"),
        Field("httpslb", Choice(("disabled", "urlslb", "urlhash", "cookie", "host", "browser",
                                 "others", "headerhash")), "Set HTTP Layer 7 load balancing"),
        Field("urlhash", Int(0, 255), "Set URL hash length (0 = off)"),
        Field("hname", Text(34), "Set host name (insert-cookie domain)"),
        *_OBJECT,
    ),
    known=("http", "ssl", "pip", "cntrules", "tcp", "mirror", "udpbal", "cookie", "winsize0",
           "epip", "nodata", "action", "redirect", "ckrebind", "cname", "sip", "dns"),
)

VIRT = Menu(
    "virt", "Virtual Server", "Virtual Server Menu",
    key=Key(Ident(MAX_VIRTS)), model=m.Virt, limit=MAX_VIRTS,
    items=(
        _flag("ena", "dis", "virtual server"),
        Field("ipver", Choice(("v4", "v6")), "Set IP version"),
        Field("vip", Ip(), "Set IP address of virtual server"),
        Field("vname", Text(31), "Set descriptive virtual server name"),
        Field("dname", Text(63), "Set domain name of virtual server"),
        SERVICE,
        *_OBJECT,
    ),
    known=("srcnet", "wanlink", "rtsrcmac", "layr3", "creset", "cookie", "weight", "avail",
           "isp", "hname", "pip", "dwssl"),
)

REAL = Menu(
    "real", "Real server", "Real server menu",
    key=Key(Ident(MAX_REALS)), model=m.Real, limit=MAX_REALS,
    items=(
        _flag("ena", "dis", "real server"),
        Field("ipver", Choice(("v4", "v6")), "Set IP version"),
        Field("rip", Ip(), "Set real server IP address"),
        Field("name", Text(31), "Set descriptive real server name"),
        Field("weight", Int(1, 48), "Set server weight"),
        Field("maxcon", Int(0, 200000), "Set maximum number of connections (0 = no limit)"),
        Field("tmout", Int(2, 32768, even=True), "Set minutes inactive connection remains open"),
        Field("backup", Ident(MAX_REALS), "Set backup real server"),
        Field("inter", Int(0, 60), "Set seconds between health checks (0 = none)"),
        Field("retry", Int(1, 63), "Set number of failed health checks before DOWN"),
        Field("restr", Int(1, 63), "Set number of successful health checks before UP"),
        Field("addport", Int(1, 65534), "Add real port", rem="remport",
              rem_help="Remove real port", attr="addports"),
        *_OBJECT,
    ),
    known=("adv", "layer7", "health", "exclude", "submac", "proxy", "type", "urlbmap",
           "descr"),
)

GROUP = Menu(
    "group", "Real server group", "Real server group menu",
    key=Key(Ident(MAX_GROUPS)), model=m.Group, limit=MAX_GROUPS,
    items=(
        Field("ipver", Choice(("v4", "v6")), "Set IP version"),
        Field("metric", Choice(("roundrobin", "leastconns", "minmisses", "hash", "response",
                                "bandwidth", "phash")),
              "Set metric used to select next server in group", always=True),
        Field("health", Word(), "Set health check type (or an advanced health check name)"),
        Field("content", Text(127), "Set HTTP health check object"),
        Field("backup", BackupArg(MAX_REALS), "Set backup real server or group"),
        Field("name", Text(31), "Set descriptive real server group name"),
        Field("add", Ident(MAX_REALS), "Add real server", rem="rem",
              rem_help="Remove real server", attr="reals"),
        *_OBJECT,
    ),
    known=("rmetric", "realthr", "slowstr", "phash", "mhash", "ena", "dis", "idsport",
           "secondary", "operatr", "viphlth", "slbthr", "advtype"),
)

ADV = Menu(
    "adv", "Layer 4 Advanced", "Layer 4 Advanced Menu", model=m.Adv,
    items=(
        Field("direct", Bool(), "Enable/disable Direct Access Mode (DAM)"),
        Field("matrix", Bool(), "Enable/disable Virtual Matrix Architecture (VMA)"),
        Field("pmask", Mask(), "Set persistent binding mask"),
        Field("fastage", Int(0, 7), "Set fast-age (1 s) period bit shift"),
        Field("slowage", Int(0, 14), "Set slow-age (2 min) period bit shift"),
        Field("vmasport", Bool(), "Enable/disable VMA by source IP and source port"),
        Field("vmadip", Bool(), "Enable/disable VMA by source IP and destination IP"),
        Field("spcount", Int(1, 32), "Set number of switch processors [emulator]"),
        Action("cur", "Display current settings"),
    ),
    known=("imask", "nmask", "grace", "synatk", "submac", "sesscap", "tmask", "rstcntr",
           "sessvpt", "pfilt", "clsrst", "tpcp", "ttlreset", "matrixon"),
)

PORT = Menu(
    "port", "SLB Port", "SLB port menu", key=Key(Int(1, 64)), model=m.Port,
    items=(
        Field("client", Bool(), "Enable/disable client processing"),
        Field("server", Bool(), "Enable/disable server processing"),
        Field("proxy", Bool(), "Enable/disable use of proxy IP addresses"),
        Field("filt", Bool(), "Enable/disable filter processing"),
        Field("hotstan", Bool(), "Enable/disable hot standby processing"),
        Field("intersw", Bool(), "Enable/disable inter-switch processing"),
        Field("pip", Ip(), "Set proxy IP address"),
        *_OBJECT,
    ),
    known=("add", "rem", "rts", "idslb", "pip6", "l7estat", "dsr"),
)

PIP = Menu(
    "pip", "Proxy IP", "Proxy IP address menu", model=m.Pip,
    items=(
        Field("add", ProxyIpArg(), "Add proxy IP address", rem="rem",
              rem_help="Remove proxy IP address", attr="addrs", inline=True),
    ),
    known=("type", "add6", "rem6", "mode"),
)

PEER = Menu(
    "peer", "Peer Switch", "Peer switch menu", key=Key(Int(1, 4)), model=m.Peer,
    items=(
        _flag("ena", "dis", "peer switch"),
        Field("addr", Ip(), "Set peer switch IP address"),
        *_OBJECT,
    ),
)

SYNC = Menu(
    "sync", "Config Sync", "Config synchronization and stateful failover menu", model=m.Sync,
    items=(
        Field("prios", _ED, "Enable/disable syncing VRRP priorities"),
        Field("pips", _ED, "Enable/disable syncing proxy IP addresses"),
        Field("filt", _ED, "Enable/disable syncing filter configuration"),
        Field("ports", _ED, "Enable/disable syncing port configuration"),
        Field("certs", _ED, "Enable/disable syncing certificates"),
        Field("if", _ED, "Enable/disable syncing IP interfaces"),
        Field("gw", _ED, "Enable/disable syncing gateways"),
        Field("state", _ED, "Enable/disable stateful failover"),
        # 0 (the emulator's immediate mode: changes stream as they happen) extends 1..60
        Field("update", Int(0, 60), "Set stateful failover update period (seconds, 0 = "
              "immediate)"),
        Field("passphrs", Text(64, bare=True), "Set passphrase for sync", inline=True),
        PEER,
        Action("cur", "Display current settings"),
    ),
    known=("bwm", "route", "auth", "ucast", "vrrp", "mapping", "ssl"),
)

SLB = Menu(
    "slb", "Server Load Balancing", "Server Load Balancing (Layer 4-7) Configuration Menu",
    model=m.Slb, container=True,
    items=(_flag("on", "off", "Layer 4 services"), ADV, SYNC, REAL, GROUP, PIP, PORT, VIRT),
    aliases=(("direct", "adv/direct"), ("pmask", "adv/pmask")),
    layout=("adv", "sync", "ssl", "advhc", "real", "group", "pip", "port", "filt", "layer7",
            "virt", "gslb"),
    known=("ssl", "advhc", "filt", "layer7", "gslb", "linklb", "nwclss", "cluster", "accel",
           "appshape", "wlm", "url", "rdsrv", "lp", "dnssec", "dnsproxy", "sipcfg", "ids",
           "mnet", "mmask", "imask", "sesslog", "appwall", "smtp", "tsapi", "cachepol",
           "comppol", "pagepol", "fastview", "secwa", "advhc6", "pip6", "scriptpkg"),
)

TRACK = Menu(
    "track", "Priority Tracking", "Priority tracking menu", model=m.Track,
    items=tuple(Field(name, Bool(), f"Enable/disable tracking {what}") for name, what in (
        ("vrs", "virtual routers in master mode"), ("ifs", "active IP interfaces"),
        ("ports", "active ports on the VLAN"), ("l4pts", "active Layer 4 ports"),
        ("reals", "healthy real servers"), ("hsrp", "HSRP client ports"),
        ("hsrv", "HSRP on VLANs"))),
)

VR = Menu(
    "vr", "Virtual Router", "VRRP virtual router menu", key=Key(Int(1, 1024)), model=m.Vr,
    items=(
        _flag("ena", "dis", "virtual router"),
        Field("ipver", Choice(("v4", "v6")), "Set IP version"),
        Field("vrid", Int(1, 255), "Set virtual router ID"),
        Field("if", Int(1, 256), "Set IP interface"),
        Field("prio", Int(1, 254), "Set renter priority"),
        Field("addr", Ip(), "Set IP address"),
        Field("adver", Int(1, 255), "Set advertisement interval (seconds)"),
        Field("preem", Bool(), "Enable/disable preemption"),
        Field("share", Bool(), "Enable/disable sharing (active-active)"),
        TRACK,
        *_OBJECT,
    ),
)

VRRP = Menu(
    "vrrp", "Virtual Router Redundancy Protocol", "Virtual Router Redundancy Protocol Menu",
    model=m.Vrrp,
    items=(
        _flag("on", "off", "VRRP", inline=True),
        Field("hotstan", Bool(), "Enable/disable hot-standby processing"),
        Field("holdoff", Int(0, 255), "Set seconds to hold off VRRP after boot"),
        VR,
        Action("cur", "Display current settings"),
    ),
    known=("group", "track", "vr6"),
)

IF = Menu(
    "if", "IP Interface", "IP Interface menu", key=Key(Int(1, 256)), model=m.If,
    items=(
        _flag("ena", "dis", "IP interface"),
        Field("ipver", Choice(("v4", "v6")), "Set IP version"),
        Field("addr", Ip(), "Set IP address"),
        Field("mask", Mask(), "Set subnet mask"),
        Field("vlan", VLAN, "Set VLAN number"),
        Field("descr", Text(63), "Set interface description"),
        *_OBJECT,
    ),
    known=("bcast", "prefix", "addr6", "peer", "ip6host", "secaddr", "arpsa", "relay"),
)

L3 = Menu(
    "l3", "Layer 3", "Layer 3 Menu", model=m.L3, container=True, strict=False,
    items=(IF, VRRP),
    layout=("if", "gw", "route", "frwd", "arp", "hamode", "ha", "vrrp"),
    known=("gw", "route", "frwd", "arp", "hamode", "ha", "rip", "ospf", "ospf3", "bgp",
           "igmp", "dns", "bootp", "nwf", "rmap", "alist", "ip6", "if6", "gw6"),
)

SSNMP = Menu(
    "ssnmp", "System SNMP", "System SNMP Menu", model=m.Ssnmp, strict=False,
    items=(Field("name", Text(64), "Set SNMP \"sysName\" (the system name)"),),
)

SYS = Menu(
    "sys", "System", "System-wide Parameter Menu", model=m.Sys, container=True, strict=False,
    items=(SSNMP,),
    layout=("mmgmt", "access", "ssnmp"),
    known=("mmgmt", "access", "ntp", "syslog", "sshd", "date", "time", "timezone", "idle",
           "notice", "bannr", "hprompt", "radius", "tacacs", "mgmt", "smtp", "user", "ldap",
           "dst", "alerts", "hostname"),
)

CFG = Menu(
    "cfg", "Configuration", "Configuration Menu", model=m.Config, container=True, strict=False,
    items=(SYS, L3, SLB),
    aliases=(("vrrp", "l3/vrrp"),),
    layout=("sys", "port", "l2", "l3", "bwm", "slb", "security"),
    known=("port", "l2", "bwm", "security", "pmirr", "setup", "dump", "ptcfg", "gtcfg", "vadc",
           "adc", "dns", "smon"),
)

MAIN_KNOWN = ("info", "stats", "oper", "boot", "maint")
MAIN = Menu("", "Main", "Main Menu", items=(CFG,), known=MAIN_KNOWN, container=True)


# --- paths -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Step:
    menu: Menu
    key: Any = None  # the index, for an indexed menu


def step_text(step: Step, obj: Any) -> str:
    if step.menu.key is None:
        return step.menu.name
    return f"{step.menu.name} {step.menu.key.render_key(step.key, obj)}"


def path_text(steps: tuple[Step, ...], root: str = "cfg") -> str:
    """``/cfg/slb/virt 1/service 443``: the menu path naming an object in messages."""
    parts = [root if s.menu is CFG else
             (f"{s.menu.name} {s.key}" if s.menu.key is not None else s.menu.name)
             for s in steps if s.menu is not MAIN]
    return "/" + "/".join(parts)


@dataclass(frozen=True, slots=True)
class Node:
    """One object of a config with the menu that describes it and its path."""

    menu: Menu
    obj: Any
    steps: tuple[Step, ...]

    @property
    def path(self) -> str:
        return path_text(self.steps)


def children(node: Node) -> Iterator[Node]:
    """The objects directly below ``node``, in tree order (indexed objects in index order)."""
    for sub in node.menu.menus:
        held = getattr(node.obj, sub.attribute)
        if sub.indexed:
            for key in sorted_keys(held):
                yield Node(sub, held[key], (*node.steps, Step(sub, key)))
        else:
            yield Node(sub, held, (*node.steps, Step(sub)))


def walk(config: m.Config) -> Iterator[Node]:
    """Every object of ``config``, parents before children."""
    stack = [Node(CFG, config, (Step(CFG),))]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(children(node))))


def sorted_keys(held: dict[Any, Any]) -> list[Any]:
    """Numbers in order, then names in the order they were created."""
    return sorted(held, key=lambda k: (0, k) if isinstance(k, int) else (1, 0))
