"""Hostile traffic built fast: tens of thousands of frames with ``struct`` (scapy takes ~100 us
a frame), and a console over a switch with small tables, so that a flood fills them in a test.

Frames are Ethernet/IPv4/TCP with a correct IP header checksum; the TCP checksum is left zero
(the switch never verifies it: captures carry offloaded checksums).
"""
from __future__ import annotations

import ipaddress
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

from tests.engine.net import config, http_request, http_response, tls_hello
from tests.io.builders import Rec, pcap, write
from weboslb.cli.command import plug_replay
from weboslb.cli.dispatch import Console
from weboslb.cli.runtime import Runtime
from weboslb.engine.switch import Switch

VIP = "192.0.2.100"
MACS = bytes.fromhex("02000000000002000000fe01") + b"\x08\x00"  # dst, src, IPv4
SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01
SEED = bytes(range(16))


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(src: bytes, dst: bytes, sport: int, dport: int, flags: int, seq: int = 0,
          ack: int = 0, payload: bytes = b"") -> bytes:
    total = 40 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50,
                      flags, 65535, 0, 0)
    return MACS + ip + tcp + payload


def addr(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def spoofed_sources(n: int, seed: int = 7) -> list[bytes]:
    """``n`` distinct random addresses in 100.64.0.0/10 (none of them a legitimate client)."""
    rng = random.Random(seed)
    picks = rng.sample(range(1 << 22), n)
    return [(0x64400000 | p).to_bytes(4, "big") for p in picks]


@dataclass
class Conversation:
    """One client connection to VIP:vport, frame by frame, sequence numbers kept right."""

    cip: bytes
    cport: int
    vport: int
    vip: bytes = field(default_factory=lambda: addr(VIP))
    cseq: int = 1000
    sseq: int = 5000

    def _c(self, flags: int, payload: bytes = b"") -> bytes:
        f = frame(self.cip, self.vip, self.cport, self.vport, flags, self.cseq,
                  self.sseq if flags & ACK else 0, payload)
        self.cseq += len(payload) + (1 if flags & (SYN | FIN) else 0)
        return f

    def _s(self, flags: int, payload: bytes = b"") -> bytes:
        f = frame(self.vip, self.cip, self.vport, self.cport, flags, self.sseq, self.cseq,
                  payload)
        self.sseq += len(payload) + (1 if flags & (SYN | FIN) else 0)
        return f

    def syn(self) -> bytes:
        return self._c(SYN)

    def open(self) -> list[bytes]:
        return [self._c(SYN), self._s(SYN | ACK), self._c(ACK)]

    def send(self, data: bytes) -> bytes:
        return self._c(PSH | ACK, data)

    def reply(self, data: bytes) -> bytes:
        return self._s(PSH | ACK, data)

    def exchange(self, request: bytes, response: bytes) -> list[bytes]:
        return [self.send(request), self.reply(response), self._c(ACK)]

    def close(self) -> list[bytes]:
        return [self._c(FIN | ACK), self._s(FIN | ACK), self._c(ACK)]


def tls_visit(cip: bytes, cport: int, offered: bytes, issued: bytes) -> list[bytes]:
    """A TLS connection: ClientHello offering ``offered``, ServerHello issuing ``issued``."""
    c = Conversation(cip, cport, 443)
    return [*c.open(), *c.exchange(tls_hello(1, offered), tls_hello(2, issued)), *c.close()]


def cookie_visit(cip: bytes, cport: int, cookie: str | None, set_cookie: str | None
                 ) -> list[bytes]:
    c = Conversation(cip, cport, 80)
    return [*c.open(), *c.exchange(http_request(cookie=cookie), http_response(set_cookie)),
            *c.close()]


def capture(path: Path, frames: list[bytes], start: float = 1000.0, step: float = 0.0001
            ) -> str:
    """The frames in a pcap, ``step`` seconds apart from ``start``."""
    recs = []
    for i, f in enumerate(frames):
        t = start + i * step
        sec = int(t)
        recs.append(Rec(sec, round((t - sec) * 1e6) % 1_000_000, f))
    return write(path, pcap(recs))


CONFIG = f"""
slb:
  on: true
  adv: {{direct: true}}
  real:
    1: {{ena: true, rip: 10.0.1.11, name: web1}}
    2: {{ena: true, rip: 10.0.1.12, name: web2}}
  group:
    1: {{metric: roundrobin, reals: [1, 2]}}
  virt:
    1:
      ena: true
      vip: {VIP}
      service:
        80: {{app: http, group: 1, pbind: {{mode: cookie, cookie: passive, name: SID}}}}
        443: {{app: https, group: 1, dbind: ena, pbind: sslid}}
        8080: {{app: http, group: 1, pbind: clientip}}
        8081: {{app: http, group: 1}}
"""


def console(*, capacity: int, sessions: int = 1 << 19, text: str = CONFIG,
            fastpath: bool = True) -> Console:
    """The switch console over a switch whose persistence tables hold ``capacity`` entries a
    key kind and whose session table holds ``sessions``; ``/maint/replay`` replays into it.
    ``fastpath=False``: the slow path alone decides every frame."""
    cfg = config(text)
    rt, problems = Runtime.boot(cfg, make_switch=lambda c: Switch(
        c, capacity=capacity, sessions=sessions, seed=SEED, fastpath=fastpath))
    assert rt is not None, problems
    plug_replay(rt)
    return Console(rt, verbose=0)


def replay(con: Console, path: str) -> list[str]:
    out = con.execute(f"/maint/replay {path}")
    assert out.error is None, out.output
    return out.output


def counter(con: Console, command: str, label: str) -> int:
    """The number on the line ``label:`` of a console page (``/stats/slb/maint``)."""
    out = con.execute(command)
    assert out.error is None, out.output
    for line in out.output:
        name, sep, value = line.partition(":")
        if sep and name.strip() == label:
            return int(value.split()[0])
    raise AssertionError(f"no {label!r} line in {command}: {out.output}")
