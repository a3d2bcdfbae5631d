"""The clients, their sessions in start order, and the caches a run shares: a session is
scripted whole (by ``services``) when it starts."""
from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate

from weboslb.io.traffic.addresses import GATEWAY_MACS, PASSIVE_PORTS, SWITCH_MAC
from weboslb.io.traffic.payloads import AGENTS, TLS_SIZES, content
from weboslb.io.traffic.plan import Tally
from weboslb.io.traffic.segments import Connection, PathMaker, PayloadSums, TcpPath
from weboslb.io.traffic.services import app_session, cache_session, ftp_session, https_session


@dataclass(eq=False, slots=True)
class Client:
    """A client host and what it keeps between its sessions."""

    ip: bytes
    ttl: int
    rtt: float
    port: int  # the next ephemeral port
    agent: str
    ftp: bool  # an FTP user (else a web user)
    favourite: str  # the service it returns to most
    plan: list[float]  # when its sessions would start, the first one popped first
    roams: bool = False  # it will move to another address, TLS session in hand
    cookie: bytes | None = None  # JSESSIONID
    sid: bytes | None = None  # TLS session ID
    sid_ip: bytes = b""  # the address that got it
    ftp_sessions: int = 0
    paths: dict[bytes, tuple[TcpPath, TcpPath]] = field(default_factory=dict)

    def next_port(self) -> int:
        port = self.port
        self.port = port + 1 if port < 60999 else 32768
        return port


APP, SECURE, CACHE, FTP_USER = "app", "secure", "cache", "ftp"  # what a session is with
WEB = (APP, SECURE, CACHE)


@dataclass(frozen=True, slots=True)
class Profile:
    fresh: bool  # new ciphertext for every TLS record, else records of one size repeat
    sticky: float  # the chance a web client's session is with its favourite service
    weights: tuple[float, float, float]  # of the WEB services
    tls_sizes: tuple[int, ...]  # TLS response plaintexts


DEMO = Profile(True, 0.5, (0.42, 0.38, 0.20), TLS_SIZES)
# lighter sessions: ~21 frames a client, so that 1M frames hold ~48k clients
BENCH = Profile(False, 0.75, (0.55, 0.27, 0.18), TLS_SIZES[:-1])


class Traffic:
    """Clients, their sessions in start order, and what the sessions of one run share.

    ``profile.fresh`` draws new ciphertext for every TLS record (the demo); otherwise records
    of one size repeat (the benchmark, where repeating segments spare their checksums).
    """

    def __init__(self, rng: random.Random, make_path: PathMaker, addresses: list[bytes],
                 profile: Profile) -> None:
        self.rng, self.make_path, self.profile = rng, make_path, profile
        self.addresses = addresses  # not yet used, taken from the end
        self.sums = PayloadSums()
        self.tally = Tally()
        self.queue: list[tuple[float, int, Client | None]] = []  # None: the next arrival
        self.arrivals: tuple[float, Callable[[float], Client]] | None = None
        self._n = 0
        self._passive = rng.randrange(*PASSIVE_PORTS)
        self._bodies: dict[tuple[str, int], bytes] = {}
        self._dates: dict[int, str] = {}

    # -- clients --

    def new_client(self, ftp: bool, plan: list[float]) -> Client:
        rng = self.rng
        ip = self.address()
        favourite = FTP_USER if ftp else rng.choices(WEB, self.profile.weights)[0]
        return Client(ip=ip, ttl=rng.choice((64, 128)) - rng.randint(4, 18),
                      rtt=rng.uniform(0.002, 0.009), port=rng.randint(32768, 60000),
                      agent=rng.choice(AGENTS), ftp=ftp, favourite=favourite, plan=plan)

    def address(self) -> bytes:
        if not self.addresses:
            raise ValueError("out of client addresses")
        self.tally.addresses += 1
        return self.addresses.pop()

    def _paths(self, c: Client, vip: bytes) -> tuple[TcpPath, TcpPath]:
        paths = c.paths.get(vip)
        if paths is None:
            gateway = GATEWAY_MACS[c.ip[1] & 1]
            paths = c.paths[vip] = (self.make_path(gateway, SWITCH_MAC, c.ip, vip, c.ttl),
                                    self.make_path(SWITCH_MAC, gateway, vip, c.ip, 64))
        return paths

    def connection(self, c: Client, vip: bytes, vport: int, t: float,
                   cport: int | None = None) -> Connection:
        up, down = self._paths(c, vip)
        return Connection(up, down, c.next_port() if cport is None else cport, vport, t,
                          c.rtt, self.rng, self.sums)

    # -- the schedule --

    def add(self, t: float, client: Client | None) -> None:
        self._n += 1
        heapq.heappush(self.queue, (t, self._n, client))

    def next_start(self) -> float:
        return self.queue[0][0] if self.queue else math.inf

    def start_next(self) -> list[list[tuple[float, bytes]]]:
        """Script the earliest session whole; its connections' frames, each list in time
        order, all at or after the session's start."""
        t, _, c = heapq.heappop(self.queue)
        if c is None:  # an arrival: a new client, and the one after it
            interval, make = self.arrivals
            c = make(t)
            self.add(t + self.rng.expovariate(1 / interval), None)
        conns = self._session(c, t)
        end = max(conn.t for conn in conns)
        if c.plan:
            self.add(max(c.plan.pop(0), end + self.rng.uniform(0.5, 3.0)), c)
        return [conn.done() for conn in conns]

    def _session(self, c: Client, t: float) -> list[Connection]:
        if c.ftp:
            return ftp_session(self, c, t)
        profile = self.profile
        service = c.favourite if self.rng.random() < profile.sticky else \
            self.rng.choices(WEB, profile.weights)[0]
        if service == APP:
            return [app_session(self, c, t)]
        if service == SECURE:
            return [https_session(self, c, t)]
        return [cache_session(self, c, t)]

    # -- what a run shares --

    def date(self, t: float) -> str:
        """The HTTP date of second ``t``, formatted once."""
        second = int(t)
        date = self._dates.get(second)
        if date is None:
            date = self._dates[second] = formatdate(second, usegmt=True)
        return date

    def body(self, ctype: str, title: str, size: int) -> bytes:
        """``content(ctype, title, size)``, made once per title and size."""
        key = (title, size)
        body = self._bodies.get(key)
        if body is None:
            body = self._bodies[key] = content(ctype, title, size)
        return body

    def opaque(self, n: int) -> bytes:
        """Ciphertext-looking bytes."""
        if self.profile.fresh:
            return self.rng.randbytes(n)
        return self.body("application/octet-stream", "opaque", n)

    def passive_port(self) -> int:
        """The next port the FTP servers announce in a 227 reply."""
        low, high = PASSIVE_PORTS
        port = self._passive
        self._passive = low + (port - low + self.rng.randint(1, 7)) % (high - low)
        return port
