"""Virtual Matrix Architecture and Direct Access Mode: which switch processor (SP) owns a
session, and the source port DAM gives it.

With VMA the switch keeps one global session table and picks the SP by hashing the client IP
(``vmasport``: with the client port; ``vmadip``: with the VIP).  Without VMA each ingress port
has its own SP and table.  DAM replaces the client's source port with one the switch chooses,
from which the SP can be read back (``sp_of_port``): that is how replies from a real find
their session without a proxy IP.  The hash is CRC-32, fixed, so two switches of a pair agree.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from weboslb.config.model import Adv

DAM_FIRST = 1024  # DAM ports: 1024..65535, partitioned among the SPs by residue
DAM_LAST = 65535


@dataclass(frozen=True, slots=True)
class Matrix:
    on: bool  # VMA
    spcount: int
    sport: bool  # vmasport
    dip: bool  # vmadip

    @classmethod
    def of(cls, adv: Adv) -> Matrix:
        return cls(on=adv.matrix, spcount=max(1, adv.spcount), sport=adv.vmasport,
                   dip=adv.vmadip)

    def sp(self, cip: bytes, cport: int, vip: bytes, ingress: int) -> int:
        """The SP (1-based) that owns a connection."""
        if not self.on:
            return ingress
        data = cip
        if self.sport:
            data += cport.to_bytes(2, "big")
        elif self.dip:
            data += vip
        return zlib.crc32(data) % self.spcount + 1

    def sp_of_port(self, pport: int) -> int:
        """The SP a DAM port belongs to."""
        return (pport - DAM_FIRST) % self.spcount + 1


@dataclass(slots=True)
class DamPorts:
    """Allocates DAM source ports per SP, unique per (client, real, real port): the tuple the
    real sees must not collide with another session's."""

    matrix: Matrix
    _next: dict[int, int] = field(default_factory=dict)
    _used: set[tuple[bytes, int, bytes, int]] = field(default_factory=set)

    def allocate(self, sp: int, cip: bytes, rip: bytes, rport: int) -> int | None:
        step = self.matrix.spcount
        first = DAM_FIRST + (sp - 1) % step
        span = (DAM_LAST - first) // step + 1
        k = self._next.get(sp, 0)
        for _ in range(span):
            port = first + (k % span) * step
            k += 1
            if (cip, port, rip, rport) not in self._used:
                self._next[sp] = k
                self._used.add((cip, port, rip, rport))
                return port
        return None  # every port of this SP is taken toward that real: an allocation failure

    def release(self, cip: bytes, port: int, rip: bytes, rport: int) -> None:
        self._used.discard((cip, port, rip, rport))

    def __len__(self) -> int:
        return len(self._used)
