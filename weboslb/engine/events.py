"""What the engine says about the traffic it is given: a verdict per frame, and events.

Verdicts and drop reasons are small integers because the C fast path writes them into arrays
(one byte per frame); the numbers are shared with ``csrc/`` (append, never renumber).  Events
are facts for reports and tests; the mirror reads the persistence table's journal instead.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from weboslb.config.model import Id


class Verdict(enum.IntEnum):
    TO_REAL = 1  # a client's packet, forwarded to its real (NAT applied on the server side)
    TO_CLIENT = 2  # a real's packet, forwarded to the client
    LOCAL = 3  # taken by the switch itself: delayed-binding handshake, buffered request bytes
    PASS = 4  # not load-balanced: switched or routed unchanged (``why`` says why)
    DROP = 5
    RESET = 6  # the switch resets the client (no real to serve it)


class Why(enum.IntEnum):
    """The reason behind a PASS, DROP or RESET.  PASS reasons first mirror ``proto.Reason``
    (frames the decoder does not take) so that one counter table covers both."""

    NONE = 0
    NOT_IP = 1
    MPLS = 2
    FRAGMENT = 3
    NOT_TCP_UDP = 4
    TRUNCATED = 5
    BAD_IP_HEADER = 6
    BAD_L4_HEADER = 7
    IPV6_EXT_LIMIT = 8
    UNKNOWN_LINK = 9
    NOT_VIP = 16  # neither to nor from a virtual server: plain switching
    NO_SERVICE = 17  # to a VIP, on a port with no virtual service
    VIP_DISABLED = 18  # the virtual server is disabled (or SLB is off)
    NO_SESSION = 19  # a mid-connection packet the switch has no session for
    NO_REAL = 20  # no available real server (the client is reset)
    SESSION_TABLE_FULL = 21  # allocation failure: the session table is at its limit
    CLOSED = 22  # a packet for a connection already reset or closed
    L7_TOO_LONG = 23  # delayed binding: the request did not fit the reassembly buffer
    L7_MALFORMED = 24  # delayed binding: the request is not what the service parses
    STANDBY = 25  # this switch is the VRRP backup for the VIP: it does not serve


@dataclass(frozen=True, slots=True)
class Conn:
    """A connection as the client side sees it: the session table's key."""

    proto: int  # 6 TCP, 17 UDP
    cip: bytes
    cport: int
    vip: bytes
    vport: int


class Persist(enum.Enum):
    """What persistence did for a connection (the report's ``persist`` column)."""

    NONE = "none"  # no persistence on the service, or nothing to persist on yet
    NEW = "new"  # the switch created a binding (or, for stateless modes, issued one)
    HIT = "hit"  # a binding sent the connection to its real


@dataclass(frozen=True, slots=True)
class Opened:
    ts: float
    conn: Conn
    sp: int


@dataclass(frozen=True, slots=True)
class Bound:
    """The switch chose (or was told by persistence) the connection's real."""

    ts: float
    conn: Conn
    virt: Id
    real: Id
    rip: bytes
    rport: int
    pbind: str  # clientip | cookie | sslid | ftp | urlhash | none
    key: str  # the persistence key as text (lowercase hex for binary keys), "" if none
    persist: Persist
    via: str = "group"  # group | backup | overflow | persist


@dataclass(frozen=True, slots=True)
class Learned:
    """A binding learnt after the connection was bound (a ServerHello's session ID, a
    passive cookie in a response): it serves the connections that come later."""

    ts: float
    conn: Conn
    pbind: str
    key: str
    real: Id


@dataclass(frozen=True, slots=True)
class Closed:
    ts: float
    conn: Conn
    state: str  # the TCP state the connection ended in (``closed``, ``reset``, ``aged``...)
    why: str  # fin | rst | aged | cleared


@dataclass(frozen=True, slots=True)
class Refused:
    """A new connection the switch could not serve (reset, or dropped when not TCP)."""

    ts: float
    conn: Conn
    why: Why


Event = Opened | Bound | Learned | Closed | Refused
