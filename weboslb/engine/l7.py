"""What delayed binding reads in a connection's first bytes, and what the switch looks for in
responses, per service: the one place the engine meets the Layer 7 parsers of ``proto/``.

Requests are reassembled up to ``REQUEST_LIMIT`` bytes (in order, out-of-order segments held
back, bounded); a request that does not fit or does not parse is balanced by the metric alone.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from weboslb.engine.services import ServiceView
from weboslb.proto import http, tls

REQUEST_LIMIT = 8192  # bytes of a first request the switch buffers before it must decide
PENDING_LIMIT = 16  # out-of-order segments held while a gap is open
RESPONSE_LIMIT = 8192  # bytes of a response head the switch looks into


class Need(enum.Enum):
    MORE = "more"  # not complete yet: keep buffering
    DONE = "done"
    TOO_LONG = "too-long"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Request:
    need: Need
    cookie: bytes | None = None  # the value of the service's cookie (whole value)
    sid: bytes = b""  # the ClientHello's session ID
    url: bytes | None = None  # the URL-hash input


@dataclass(frozen=True, slots=True)
class Response:
    need: Need
    head_len: int = 0
    cookie: bytes | None = None  # the value of the service's cookie in a Set-Cookie
    sid: bytes = b""  # the ServerHello's session ID
    tls13: bool = False


def _http_request(svc: ServiceView, data: bytes) -> Request:
    r = http.parse_request(data)
    need = _need(r.status)
    if need is not Need.DONE:
        return Request(need)
    cookie = None
    if svc.cookie:
        cookie = http.find_cookie(r.cookies, svc.pbind.name)
        if cookie is None and svc.pbind.uri:
            cookie = http.cookie_in_uri(r.target, svc.pbind.name)
    url = http.url_hash_input(r, svc.urlhost, svc.urlhash) if svc.urlhash else None
    return Request(Need.DONE, cookie=cookie, url=url)


def request(svc: ServiceView, data: bytes) -> Request:
    if svc.sslid:
        h = tls.parse_hello(data)
        need = _need(h.status)
        if need is Need.DONE and h.hello.kind is not tls.HelloKind.CLIENT:
            need = Need.MALFORMED
        return Request(need, sid=h.hello.session_id if need is Need.DONE else b"")
    return _http_request(svc, data)


def response(svc: ServiceView, data: bytes) -> Response:
    if svc.sslid:
        h = tls.parse_hello(data)
        need = _need(h.status)
        if need is not Need.DONE or h.hello.kind is not tls.HelloKind.SERVER:
            return Response(need if need is not Need.DONE else Need.MALFORMED)
        return Response(Need.DONE, sid=h.hello.session_id, tls13=h.hello.tls13)
    r = http.parse_response(data)
    need = _need(r.status)
    if need is not Need.DONE:
        return Response(need)
    cookie = None
    for name, value, _attrs in r.set_cookies:
        if http.find_cookie(((name, value),), svc.pbind.name) is not None:
            cookie = value
            break
    return Response(Need.DONE, head_len=r.head_len, cookie=cookie)


def _need(status) -> Need:
    name = getattr(status, "name", str(status)).upper()
    if name == "OK":
        return Need.DONE
    if name in ("NEED_MORE", "MORE", "INCOMPLETE"):
        return Need.MORE
    if name == "TOO_LONG":
        return Need.TOO_LONG
    return Need.MALFORMED
