"""The applied configuration compiled for the packet path: VIP and service lookup by address,
reals by number, every timeout in seconds.

Reals and virtual services are numbered for the persistence table (16-bit ``real`` and
``vsvc`` fields).  The numbers come from the configuration alone, never from load order, so
both switches of an HA pair (which share the configuration) read each other's entries the
same way: a numeric id is its own number; a named id takes a hash-derived number (probing in
name order on the rare collision).
"""
from __future__ import annotations

import ipaddress
import zlib
from dataclasses import dataclass

from weboslb.config.model import Config, Id, Pbind, Real, Service

NUMERIC_MAX = 0x0FFF  # ids 1..4095 number themselves; names land above
_NAMED_SPAN = 0xEFFE  # named ids take numbers in NUMERIC_MAX+1 .. 0xFFFE (0xFFFF = no real)
PORT_9_SP = 9  # Layer 7 parse state lives on the designated processor ("port 9", ref §4.3)


def packed(addr: str | None) -> bytes:
    return ipaddress.ip_address(addr).packed if addr else b""


def text(addr: bytes) -> str:
    return str(ipaddress.ip_address(addr)) if addr else ""


def number_ids(ids: list[tuple[object, ...]], salt: bytes = b"") -> dict[tuple[object, ...], int]:
    """Stable 16-bit numbers for ids: small integers keep their value, the rest hash."""
    out: dict[tuple[object, ...], int] = {}
    used: set[int] = set()
    named = []
    for key in ids:
        head = key[0]
        if isinstance(head, int) and 0 < head <= NUMERIC_MAX and len(key) == 1:
            out[key] = head
            used.add(head)
        else:
            named.append(key)
    for key in sorted(named, key=repr):
        n = zlib.crc32(salt + repr(key).encode()) % _NAMED_SPAN
        while NUMERIC_MAX + 1 + n in used:
            n = (n + 1) % _NAMED_SPAN
        out[key] = NUMERIC_MAX + 1 + n
        used.add(NUMERIC_MAX + 1 + n)
    return out


@dataclass(frozen=True, slots=True)
class RealView:
    id: Id
    code: int  # the persistence table's 16-bit real number
    rip: bytes
    name: str
    tmout: int  # seconds an idle session to this real stays in the table


@dataclass(frozen=True, slots=True)
class ServiceView:
    virt: Id
    vip: bytes
    vport: int
    app: str | None
    vsvc: int  # the persistence table's virtual-service number
    pvsvc: int  # the number persistence entries use (the virt's, with ``norport``)
    group: Id
    rport: int  # 0 in the config: the real port is the virtual port
    pbind: Pbind
    ptmout: int  # seconds an idle binding lives
    tmout: int  # seconds an idle session lives before it is bound to a real
    delayed: bool  # delayed binding: the real is chosen from the first request's payload
    ftp: bool  # ftpp: parse the control channel, bind data connections to its real
    urlhash: int  # bytes of the URI hashed to choose the real (0 = not URL hashing)
    urlhost: bool  # URL hashing looks at the Host header first
    hname: str
    dname: str

    @property
    def pbind_name(self) -> str:
        """The report's name for the persistence mode."""
        if self.pbind.mode != "disable":
            return self.pbind.mode
        if self.urlhash:
            return "urlhash"
        return "ftp" if self.ftp else "none"

    @property
    def sslid(self) -> bool:
        return self.pbind.mode == "sslid"

    @property
    def cookie(self) -> str:
        """insert | passive | rewrite, or "" when the service has no cookie persistence."""
        return self.pbind.cookie if self.pbind.mode == "cookie" else ""

    @property
    def clientip(self) -> bool:
        return self.pbind.mode == "clientip"


def _service_view(vid: Id, vip: bytes, vport: int, svc: Service, vsvc: int, pvsvc: int,
                  dname: str) -> ServiceView:
    layer7 = svc.pbind.mode in ("cookie", "sslid") or svc.httpslb not in ("", "disabled")
    urlhash = (svc.urlhash or 255) if svc.httpslb in ("urlhash", "host") else 0
    return ServiceView(
        virt=vid, vip=vip, vport=vport, app=svc.app, vsvc=vsvc, pvsvc=pvsvc, group=svc.group,
        rport=svc.rport or vport, pbind=svc.pbind, ptmout=svc.ptmout * 60, tmout=svc.tmout * 60,
        delayed=svc.dbind == "ena" or layer7, ftp=svc.ftp, urlhash=urlhash,
        urlhost=svc.httpslb == "host", hname=svc.hname, dname=dname,
    )


class Services:
    """Lookups the packet path makes, built once per ``apply``."""

    def __init__(self, config: Config) -> None:
        slb = config.slb
        self.on = slb.on
        self.reals: dict[Id, RealView] = {}
        codes = number_ids([(rid,) for rid in slb.real])
        for rid, real in slb.real.items():
            self.reals[rid] = _real_view(rid, codes[(rid,)], real)
        self.by_code = {r.code: r for r in self.reals.values()}
        self.by_rip = {r.rip: r for r in self.reals.values() if r.rip}
        keys = [(vid, vport) for vid, virt in slb.virt.items() for vport in virt.service]
        keys += [(vid, 0) for vid in slb.virt]
        vsvcs = number_ids(keys, salt=b"vsvc")
        self._svc: dict[tuple[bytes, int], ServiceView] = {}
        self.vips: dict[bytes, bool] = {}  # address -> the virtual server is enabled
        for vid, virt in slb.virt.items():
            vip = packed(virt.vip)
            if not vip:
                continue
            live = virt.ena and slb.on
            self.vips[vip] = self.vips.get(vip, False) or live
            for vport, svc in virt.service.items():
                pvsvc = vsvcs[(vid, 0)] if svc.pbind.norport else vsvcs[(vid, vport)]
                view = _service_view(vid, vip, vport, svc, vsvcs[(vid, vport)], pvsvc,
                                     virt.dname)
                if live or (vip, vport) not in self._svc:
                    self._svc[(vip, vport)] = view
        self.live = {k for k, v in self._svc.items() if self.vips.get(k[0])}
        self.vip_of = {v.pvsvc: v.vip for v in self._svc.values()}  # persistence vsvc -> VIP

    def service(self, vip: bytes, vport: int) -> ServiceView | None:
        return self._svc.get((vip, vport))

    def views(self) -> list[ServiceView]:
        """Every service the lookup finds, once."""
        return list(self._svc.values())

    def serving(self, vip: bytes, vport: int) -> bool:
        return (vip, vport) in self.live

    def ftp_data(self, vip: bytes) -> ServiceView | None:
        """The FTP service of a VIP, whose data connections arrive on other ports."""
        for (addr, _), view in self._svc.items():
            if addr == vip and view.ftp:
                return view
        return None

    def real(self, rid: Id) -> RealView | None:
        return self.reals.get(rid)


def _real_view(rid: Id, code: int, real: Real) -> RealView:
    return RealView(id=rid, code=code, rip=packed(real.rip), name=real.name,
                    tmout=real.tmout * 60)
