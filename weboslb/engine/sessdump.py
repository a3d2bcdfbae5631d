"""``/info/slb/sess/dump``: session table lines in the format of the Web OS MIB
(``slbSessionInfoString``, ref §2.6)::

    3, 01: 1.1.1.1 4586, 2.2.2.1 http -> 3567 3.3.3.1 http age 6 E

SP, ingress port, client IP and port, VIP and port, ``->``, the translated client port (DAM or
proxy), the real's address and port, ``age`` in minutes left before the entry ages out, the
flags.  Persistent entries (flag ``P``; ``S`` for SSL and cookie bindings) omit the virtual
port and the translated port as the MIB says, show the key in the client column (the session
ID in hex, the cookie value, the FTP data endpoint), keep the real so the binding can be read,
and end with ``c:`` and the number of sessions using them.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from weboslb.config.args import APPS
from weboslb.engine.services import Services, text
from weboslb.engine.session import Session
from weboslb.table.contract import Entry, KeyKind

PORT_NAMES = {}
for _name, _port in APPS.items():
    if _port is not None:
        PORT_NAMES.setdefault(_port, _name)


def port_name(port: int) -> str:
    return PORT_NAMES.get(port, str(port))


def age(remaining_s: float) -> int:
    return max(0, math.ceil(remaining_s / 60))


def session_line(s: Session, now: float) -> str:
    c = s.conn
    head = f"{s.sp}, {s.ingress:02d}: {text(c.cip)} {c.cport}, {text(c.vip)} {port_name(c.vport)}"
    if s.real is None:
        tail = f"-> {s.pport or c.cport} {text(c.vip)} {port_name(c.vport)}"
    else:
        pip = f"{text(s.pip)} " if s.pip else ""
        tail = f"-> {pip}{s.pport} {text(s.rip)} {port_name(s.rport)}"
    return f"{head} {tail} age {age(s.timeout - (now - s.last))} {s.flags}"


def _key_text(kind: KeyKind, key: bytes) -> tuple[str, int]:
    if kind in (KeyKind.IPV4, KeyKind.IPV6):
        return text(key), 0
    if kind in (KeyKind.FTP, KeyKind.FTP6):
        return text(key[:-2]), int.from_bytes(key[-2:], "big")
    if kind is KeyKind.COOKIE:
        return key.decode("latin-1"), 0
    return key.hex(), 0


def persistent_line(kind: KeyKind, e: Entry, services: Services, users: int,
                    vip: bytes, now: float) -> str:
    real = services.by_code.get(e.real)
    flags = "EP" + ("S" if kind in (KeyKind.SSLID, KeyKind.COOKIE) else "")
    key, port = _key_text(kind, e.key)
    rip = text(real.rip) if real else "0.0.0.0"
    left = e.timeout - (now - e.last_used) if e.timeout else 0
    return (f"{e.sp}, 00: {key} {port}, {text(vip)} -> {rip} age {age(left)} {flags} "
            f"c:{users}")


def dump(sessions: Iterable[Session], persistent: Iterable[tuple[KeyKind, Entry]],
         services: Services, users, now: float) -> Iterator[str]:
    """Every session, then every persistent entry, as the device prints them."""
    for s in sorted(sessions, key=lambda s: (s.sp, s.conn.cip, s.conn.cport)):
        yield session_line(s, now)
    for kind, e in sorted(persistent, key=lambda ke: (ke[1].sp, ke[0].value, ke[1].key)):
        yield persistent_line(kind, e, services, users.get((kind, e.vsvc, e.key), 0),
                              services.vip_of.get(e.vsvc, b""), now)
