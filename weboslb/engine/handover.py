"""The engine's sessions and events as the slow path knows them: a ``Session`` materialised
from a record of csrc/eng.c (when the slow path takes a session over, or lists sessions),
and the event objects of its event records - the same objects, field for field, that the
slow path makes for the same traffic."""
from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from weboslb._native import lib
from weboslb.engine.cengine import PBINDS, Record, conn_of
from weboslb.engine.events import Bound, Closed, Event, Learned, Opened, Persist, Refused, Why
from weboslb.engine.services import Services, ServiceView
from weboslb.engine.session import Session, TcpState
from weboslb.table.contract import KeyKind

STATES = (TcpState.HALF_OPEN, TcpState.ESTABLISHED, TcpState.CLOSING, TcpState.CLOSED)
STATE_TEXT = ("half-open", "established", "closing", "closed", "reset")  # Closed.state
WHY_TEXT = ("fin", "rst", "aged")
PERSISTS = (Persist.NONE, Persist.NEW, Persist.HIT)
VIAS = ("group", "persist")
NO_REAL = lib.FLOW_NO_REAL


def key_text(fmt: int, data: bytes) -> str:
    if fmt == lib.ENG_KEY_IP:
        return str(ipaddress.ip_address(data))
    if fmt == lib.ENG_KEY_HEX:
        return data.decode("ascii")
    if fmt == lib.ENG_KEY_TEXT:
        return data.decode("latin-1")
    if fmt == lib.ENG_KEY_ENDPOINT:
        return endpoint_text(data)
    return ""


def endpoint_text(key: bytes) -> str:
    """An FTP data expectation's key (address and port) as switch._bind_data writes it."""
    addr, port = ipaddress.ip_address(key[:-2]), int.from_bytes(key[-2:], "big")
    return f"{addr}:{port}" if addr.version == 4 else f"[{addr}]:{port}"


def binding_text(binding: tuple[KeyKind, int, bytes] | None) -> str:
    if binding is None:
        return ""
    kind, _, key = binding
    if kind in (KeyKind.IPV4, KeyKind.IPV6):
        return str(ipaddress.ip_address(key))
    if kind in (KeyKind.FTP, KeyKind.FTP6):
        return endpoint_text(key)
    if kind is KeyKind.SSLID:
        return key.hex()
    return key.decode("latin-1")


def session_of(rec: Record, views: Sequence[ServiceView], services: Services) -> Session:
    """The ``Session`` the slow path would hold for this connection."""
    view = views[rec.svc]
    bits = rec.bits
    s = Session(conn=rec.conn, sp=rec.sp, ingress=rec.ingress, created=rec.created,
                last=rec.last, timeout=rec.timeout, state=STATES[rec.state], vsvc=view.vsvc,
                pbind="ftp" if bits & lib.ENG_FTP_DATA else view.pbind_name)
    real = services.by_code.get(rec.real) if rec.real != NO_REAL else None
    if real is not None:
        s.real, s.virt, s.rip, s.rport = real.id, view.virt, real.rip, rec.rport
        s.pport, s.bound_at = rec.pport, rec.bound_at
    if bits & lib.ENG_FTP_CONTROL:
        s.ftp_control = True
        s.lines_client += rec.data
        s.lines_server += rec.lines_server
    elif real is not None:
        s.response += rec.data
    else:
        s.request += rec.data
    s.server_initiated = bool(bits & lib.ENG_SERVER_INIT)
    s.persist, s.binding, s.key = PERSISTS[rec.persist], rec.binding, binding_text(rec.binding)
    s.unbound = bool(bits & lib.ENG_UNBOUND)
    s.fin_client = bool(bits & lib.ENG_FIN_CLIENT)
    s.fin_server = bool(bits & lib.ENG_FIN_SERVER)
    s.reset = bool(bits & lib.ENG_RST)
    if bits & lib.ENG_HAS_NEXT:
        s.request_next = rec.request_next
    s.watch, s.packets, s.octets, s.serial = rec.watch, rec.packets, rec.octets, rec.serial
    s.flow_packets = rec.packets  # the entry's counters go on from there
    return s


def event_of(v, key: bytes, views: Sequence[ServiceView], services: Services) -> Event:
    """The event object of one ``struct eng_event``."""
    conn, ts, kind = conn_of(v.key), v.ts, v.kind
    if kind == lib.ENG_EV_OPENED:
        return Opened(ts, conn, v.sp)
    if kind == lib.ENG_EV_CLOSED:
        return Closed(ts, conn, STATE_TEXT[v.state], WHY_TEXT[v.why])
    if kind == lib.ENG_EV_REFUSED:
        return Refused(ts, conn, Why.NO_REAL)
    view = views[v.svc]
    real = services.by_code[v.real]
    text = key_text(v.keyfmt, key)
    if kind == lib.ENG_EV_BOUND:
        return Bound(ts, conn, view.virt, real.id, real.rip, v.rport, PBINDS[v.pbind], text,
                     PERSISTS[v.persist], VIAS[v.via])
    return Learned(ts, conn, PBINDS[v.pbind], text, real.id)
