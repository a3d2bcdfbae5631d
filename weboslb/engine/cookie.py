"""Cookies the switch writes itself (insert and rewrite modes): the value names the real, so
no table entry is needed and any switch with the same configuration can read it back.

The value is 8 lowercase hex digits: CRC-32 of the real's id and address.  Eight bytes is what
rewrite mode needs at least (ref §3.3); the code changes when the real's address changes, so a
stale cookie never lands on a different server that took over the id.
"""
from __future__ import annotations

import re
import zlib
from datetime import datetime, timedelta, timezone

from weboslb.config.model import Id

CODE_LEN = 8
_RELATIVE = re.compile(r"^(\d+)(?::(\d+))?(?::(\d+))?$")
_ABSOLUTE = re.compile(r"^(\d\d)/(\d\d)/(\d\d)(?:@(\d\d):(\d\d))?$")


def code(real: Id, rip: bytes) -> bytes:
    return b"%08x" % zlib.crc32(repr(real).encode() + b"@" + rip)


class Codebook:
    """Real <-> cookie code for one configuration."""

    def __init__(self, reals: dict[Id, bytes]) -> None:
        self.of = {rid: code(rid, rip) for rid, rip in reals.items()}
        self.real = {c: rid for rid, c in self.of.items()}

    def decode(self, value: bytes, offset: int = 1) -> Id | None:
        """The real a cookie value names (the code sits at ``offset``, 1-based), if any."""
        start = max(offset, 1) - 1
        return self.real.get(bytes(value[start:start + CODE_LEN]).lower())


def expires(spec: str, now: float) -> str | None:
    """The Expires attribute for an insert cookie: ``days[:hours[:minutes]]`` from now, or an
    absolute ``MM/dd/yy[@hh:mm]`` (GMT); None for a session cookie (empty spec)."""
    if not spec:
        return None
    rel = _RELATIVE.match(spec)
    if rel:
        days, hours, minutes = (int(x or 0) for x in rel.groups())
        when = datetime.fromtimestamp(now, timezone.utc) + timedelta(
            days=days, hours=hours, minutes=minutes)
    else:
        m = _ABSOLUTE.match(spec)
        if not m:
            return None
        mon, day, year, hh, mm = (int(x or 0) for x in m.groups())
        when = datetime(2000 + year, mon, day, hh, mm, tzinfo=timezone.utc)
    return when.strftime("%a, %d %b %Y %H:%M:%S GMT")


def set_cookie_line(name: str, value: bytes, *, expire: str, now: float, domain: str) -> bytes:
    parts = [name.encode() + b"=" + value, b"path=/"]
    when = expires(expire, now)
    if when:
        parts.append(b"expires=" + when.encode())
    if domain:
        parts.append(b"domain=" + domain.encode())
    return b"Set-Cookie: " + b"; ".join(parts)
