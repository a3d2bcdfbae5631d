"""The wires between the two switch processes of a pair: the mirror over TCP and VRRP
advertisements over UDP, both between the switch's sync address and its peer's.

VRRP is IP protocol 112 to 224.0.0.18: that needs raw sockets and a shared segment, so the
emulator carries each advertisement in a UDP datagram to the peer, prefixed with the 4-byte
address of the interface that sent it (the source address VRRP compares on a priority tie).
One TCP connection carries the mirror; the switch with the lower address dials (again every
``RETRY`` seconds while it is down), the other listens and takes only its peer.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable

MIRROR_PORT = 3121
VRRP_PORT = 3112
RETRY = 1.0  # seconds between dials while the peer is unreachable
HIGH_WATER = 64 << 20  # unsent mirror bytes beyond which the mirror is not read for more
MAX_DATAGRAM = 1500

Log = Callable[[str], None]


class AdvertLink(asyncio.DatagramProtocol):
    """VRRP advertisements to and from the peer."""

    def __init__(self, peer: tuple[str, int], hear: Callable[[bytes, str], None],
                 log: Log) -> None:
        self.peer = peer
        self.hear = hear
        self.log = log
        self.transport: asyncio.DatagramTransport | None = None
        self.strangers = 0  # datagrams from anyone but the peer
        self.runts = 0  # datagrams too short to hold an address and a VRRP header
        self.send_errors = 0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if addr[0] != self.peer[0]:
            self.strangers += 1
            if self.strangers == 1:
                self.log(f"VRRP: datagram from {addr[0]} ignored (only the peer "
                         f"{self.peer[0]} is heard; further ones counted)")
            return
        if len(data) < 4 + 8 or len(data) > MAX_DATAGRAM:
            self.runts += 1
            return
        self.hear(data[4:], str(ipaddress.IPv4Address(data[:4])))

    def error_received(self, exc: Exception) -> None:
        self.send_errors += 1  # ICMP unreachable while the peer is down: expected

    def send(self, src: str, message: bytes) -> None:
        if self.transport is None:
            return
        try:
            self.transport.sendto(ipaddress.IPv4Address(src).packed + message, self.peer)
        except (OSError, ValueError):
            self.send_errors += 1


class _Conn(asyncio.Protocol):
    def __init__(self, link: MirrorLink) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.paused = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.link._attach(self)

    def data_received(self, data: bytes) -> None:
        if self.link.conn is self:
            self.link.on_data(data)

    def connection_lost(self, exc) -> None:
        self.link._detach(self, exc)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.link.conn is self:
            self.link.on_writable()


class MirrorLink:
    """The one TCP connection of the mirror, dialled or accepted (module docstring)."""

    def __init__(self, local: str, peer: str, port: int, *, dial_port: int | None = None,
                 on_up: Callable[[], None],
                 on_data: Callable[[bytes], None], on_down: Callable[[str], None],
                 on_writable: Callable[[], None], log: Log) -> None:
        self.local, self.peer, self.port = local, peer, port
        self.dial_port = dial_port or port  # where the peer is reached (a proxy, in tests)
        self.dials = ipaddress.ip_address(local) < ipaddress.ip_address(peer)
        self.on_up, self.on_data, self.on_down = on_up, on_data, on_down
        self.on_writable = on_writable
        self.log = log
        self.conn: _Conn | None = None
        self.strangers = 0  # connections from anyone but the peer, refused
        self._server: asyncio.base_events.Server | None = None
        self._task: asyncio.Task | None = None
        self._lost = asyncio.Event()
        self._closed = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.dials:
            self._task = loop.create_task(self._dial())
        else:
            self._server = await loop.create_server(lambda: _Conn(self), host=self.local,
                                                    port=self.port, reuse_address=True)

    @property
    def up(self) -> bool:
        return self.conn is not None

    @property
    def writable(self) -> bool:
        c = self.conn
        return (c is not None and c.transport is not None and not c.paused
                and c.transport.get_write_buffer_size() < HIGH_WATER)

    def write(self, data: bytes) -> None:
        c = self.conn
        if data and c is not None and c.transport is not None:
            c.transport.write(data)

    def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        if self._server is not None:
            self._server.close()
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.close()

    async def _dial(self) -> None:
        loop = asyncio.get_running_loop()
        complained = False
        while not self._closed:
            self._lost.clear()
            try:
                await loop.create_connection(lambda: _Conn(self), host=self.peer,
                                             port=self.dial_port, local_addr=(self.local, 0))
            except OSError as exc:
                if not complained:
                    self.log(f"mirror: peer {self.peer}:{self.dial_port} unreachable "
                             f"({exc.strerror or exc}); dialling every {RETRY:g} s")
                    complained = True
                await asyncio.sleep(RETRY)
                continue
            complained = False
            await self._lost.wait()
            await asyncio.sleep(RETRY if not self._closed else 0)

    def _attach(self, conn: _Conn) -> None:
        t = conn.transport
        src = t.get_extra_info("peername")[0] if t is not None else None
        if not self.dials and src != self.peer:
            self.strangers += 1
            self.log(f"mirror: connection from {src} refused (the peer is {self.peer})")
            t.close()
            return
        sock = t.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        old = self.conn
        if old is not None:  # the peer restarted before its old connection was noticed
            self.conn = None
            self.on_down("replaced by a new connection from the peer")
            if old.transport is not None:
                old.transport.close()
        self.conn = conn
        self.on_up()

    def _detach(self, conn: _Conn, exc) -> None:
        if self.conn is not conn:
            return
        self.conn = None
        self._lost.set()
        self.on_down(f"connection lost ({exc})" if exc else "connection closed by the peer")
