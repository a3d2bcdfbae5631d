"""The switch configuration as plain dataclasses: one class per menu, attributes named after the
CLI tokens that set them (``rip``, ``metric``, ``pbind``, ``ptmout``), defaults written out.

Pure data: no parsing, no IO.  The command tree (``menu.py``) says which command sets which
attribute and what values are allowed; ``validate.py`` checks a whole config at ``apply``.
Objects that live under an index (``real 1``, ``virt web``, ``service 443``) sit in dicts keyed
by that index; the key is not repeated inside the object.  An index is a number (Web OS 10) or
a name (AlteonOS 29 and later), so ``Id = int | str``; digits always become an ``int``.

``extra`` keeps, verbatim, the commands of a modelled menu that the emulator does not model
(``shut psession``, ``adv/submac ena``): they are written back, never dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field

Id = int | str

COOKIE_INSERT_NAME = "AlteonP"  # the switch's own cookie name when insert mode names none [M]


@dataclass(frozen=True, slots=True)
class Pbind:
    """A service's persistence binding.

    ``mode`` is clientip | cookie | sslid | disable.  For cookies, ``cookie`` is the sub-mode
    insert | passive | rewrite and ``name`` the cookie; passive and rewrite read ``length``
    bytes (0 = all) from ``offset`` (1-based) of the value, in the URI too when ``uri``, in the
    first ``rcount`` responses; insert cookies may carry an ``expire`` (``MM/dd/yy[@hh:mm]``
    absolute, ``days[:hours[:minutes]]`` relative; empty = a session cookie).  ``norport``
    makes clientip bindings ignore the real port.
    """

    mode: str = "disable"
    cookie: str = ""
    name: str = ""
    offset: int = 1
    length: int = 0
    uri: bool = False
    rcount: int = 1
    expire: str = ""
    norport: bool = False

    @property
    def persistent(self) -> bool:
        return self.mode != "disable"

    @property
    def layer7(self) -> bool:
        """Bindings learnt from payload (cookie, SSL session ID): these need DAM to fail over."""
        return self.mode in ("cookie", "sslid")


@dataclass(frozen=True, slots=True)
class Backup:
    """A group's backup: a real server (``r2``) or a whole group (``g3``)."""

    kind: str  # "r" or "g"
    id: Id

    def __str__(self) -> str:
        return f"{self.kind}{self.id}"


@dataclass(frozen=True, slots=True)
class ProxyIp:
    """``/cfg/slb/pip/add <addr> [<vlan>]``: a global proxy IP address."""

    addr: str
    vlan: int | None = None


@dataclass(slots=True)
class Real:
    rip: str | None = None
    ena: bool = False
    ipver: str = "v4"
    name: str = ""
    weight: int = 1
    maxcon: int = 0  # 0 = no limit
    tmout: int = 10  # minutes an idle session stays in the table
    backup: Id | None = None
    inter: int = 2  # health-check interval, seconds (0 = no checks)
    retry: int = 4  # failures before DOWN
    restr: int = 8  # successes before UP [M]
    addports: list[int] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Group:
    reals: list[Id] = field(default_factory=list)
    metric: str = "leastconns"
    health: str = "tcp"
    content: str = ""
    backup: Backup | None = None
    name: str = ""
    ipver: str = "v4"
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Service:
    """A virtual service; always built by ``new_service(vport)`` so ``rport`` starts = vport."""

    app: str | None = None
    group: Id = 1
    rport: int = 0
    pbind: Pbind = field(default_factory=Pbind)
    ptmout: int = 10  # minutes an idle persistent binding lives [M]
    tmout: int = 10
    dbind: str = "dis"
    ftpp: bool = False
    nonat: bool = False
    direct: bool = False
    thash: str = "sip"
    httpslb: str = "disabled"
    urlhash: int = 0
    hname: str = ""
    extra: list[str] = field(default_factory=list)

    @property
    def ftp(self) -> bool:
        return self.ftpp or self.app == "ftp"

    @property
    def urlpersist(self) -> bool:
        return self.httpslb in ("urlslb", "urlhash", "cookie")


def new_service(vport: int) -> Service:
    return Service(rport=vport)


@dataclass(slots=True)
class Virt:
    vip: str | None = None
    ena: bool = False
    ipver: str = "v4"
    vname: str = ""
    dname: str = ""
    service: dict[int, Service] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Adv:
    """``/cfg/slb/adv``: Layer 4 advanced settings."""

    direct: bool = False  # DAM
    matrix: bool = True  # VMA
    pmask: str = "255.255.255.255"  # client-IP persistence mask
    fastage: int = 0
    slowage: int = 0
    vmasport: bool = False
    vmadip: bool = False
    spcount: int = 8  # switch processors sharing the session table [emulator]
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Port:
    """``/cfg/slb/port N``: Layer 4 processing on a switch port."""

    client: bool = False
    server: bool = False
    proxy: bool = False
    filt: bool = False
    hotstan: bool = False
    intersw: bool = False
    pip: str | None = None
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Pip:
    addrs: list[ProxyIp] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Peer:
    addr: str | None = None
    ena: bool = False
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Sync:
    prios: bool = True
    pips: bool = False
    filt: bool = True
    ports: bool = False
    certs: bool = False
    if_: bool = False
    gw: bool = False
    state: bool = False  # stateful failover
    update: int = 30  # seconds between mirror updates
    passphrs: str = ""
    peer: dict[int, Peer] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Slb:
    on: bool = False
    adv: Adv = field(default_factory=Adv)
    sync: Sync = field(default_factory=Sync)
    real: dict[Id, Real] = field(default_factory=dict)
    group: dict[Id, Group] = field(default_factory=dict)
    pip: Pip = field(default_factory=Pip)
    port: dict[int, Port] = field(default_factory=dict)
    virt: dict[Id, Virt] = field(default_factory=dict)

    @property
    def proxy_ips(self) -> bool:
        return bool(self.pip.addrs) or any(p.pip for p in self.port.values())


@dataclass(slots=True)
class Track:
    vrs: bool = False
    ifs: bool = False
    ports: bool = False
    l4pts: bool = False
    reals: bool = False
    hsrp: bool = False
    hsrv: bool = False
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Vr:
    ena: bool = False
    ipver: str = "v4"
    vrid: int | None = None
    if_: int | None = None
    prio: int = 100
    addr: str | None = None
    adver: int = 1
    preem: bool = True
    share: bool = False
    track: Track = field(default_factory=Track)
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Vrrp:
    on: bool = False
    hotstan: bool = False
    holdoff: int = 0
    vr: dict[int, Vr] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class If:
    ena: bool = False
    ipver: str = "v4"
    addr: str | None = None
    mask: str | None = None
    vlan: int = 1
    descr: str = ""
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class L3:
    if_: dict[int, If] = field(default_factory=dict)
    vrrp: Vrrp = field(default_factory=Vrrp)


@dataclass(slots=True)
class Ssnmp:
    name: str = ""  # the system name (SNMP sysName)
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Sys:
    ssnmp: Ssnmp = field(default_factory=Ssnmp)


@dataclass(slots=True)
class Config:
    """A whole switch configuration: the ``/cfg`` menu.

    ``verbatim`` holds the sections the emulator does not model (SNMP, SSL certificates,
    filters, GSLB, ...), each a block of dump lines starting with its path line.
    """

    sys: Sys = field(default_factory=Sys)
    l3: L3 = field(default_factory=L3)
    slb: Slb = field(default_factory=Slb)
    verbatim: list[str] = field(default_factory=list)
