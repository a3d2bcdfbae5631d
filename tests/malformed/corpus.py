"""The malformed-input corpus, made by code: a small good traffic sample, the switch config it
runs under, and the mutations of each family (captures, frames, Layer 7 payloads) that the
tests in this directory feed to the command line.  Every case is a row of a table in its test
module; README.md lists them all, with the cases tested elsewhere.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from tests.engine.net import http_request, http_response
from tests.hostile.traffic import Conversation, addr, frame, tls_visit
from tests.io.builders import ETHERNET, Rec, epb, idb, pcap, pcap_record, shb

VIP = "192.0.2.100"
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
        80: {{app: http, group: 1, dbind: ena,
              pbind: {{mode: cookie, cookie: passive, name: SID}}}}
        443: {{app: https, group: 1, dbind: ena, pbind: sslid}}
        8080: {{app: http, group: 1, pbind: clientip}}
        21: {{app: ftp, group: 1, pbind: clientip}}
        20: {{app: ftp-data, group: 1}}
"""


def client(i: int) -> bytes:
    return addr(f"198.51.100.{i}")


def good_frames() -> list[bytes]:
    """Eight connections of every persistence kind, whole: 72 frames."""
    out: list[bytes] = []
    for i in range(1, 3):
        c = Conversation(client(i), 40000 + i, 80)
        out += [*c.open(), *c.exchange(http_request(), http_response(f"SID=s{i:030d}")),
                *c.close()]
    for i in range(3, 5):
        out += tls_visit(client(i), 40000 + i, b"", bytes([i]) * 32)
    for i in range(5, 9):  # 5 and 6 twice each: clientip hits
        c = Conversation(client(5 + i % 2), 40000 + i, 8080)
        out += [*c.open(), *c.exchange(http_request(), http_response()), *c.close()]
    return out


# ---- captures ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """A capture's bytes and where each record (or block) starts: ``starts[i]`` is frame i's."""

    data: bytes
    starts: list[int]


def tenths(i: int) -> tuple[int, int]:
    """Frame i's time: (seconds, microseconds), a tenth of a second apart from 1000 s."""
    return 1000 + i // 10, (i % 10) * 100_000


def pcap_layout(frames: list[bytes], times: list[tuple[int, int]] | None = None,
                **header) -> Layout:
    data = bytearray(pcap([], **header))
    starts = []
    for i, f in enumerate(frames):
        starts.append(len(data))
        data += pcap_record(Rec(*(times[i] if times else tenths(i)), f))
    return Layout(bytes(data), starts)


def with_frame(frames: list[bytes], extra: bytes, at: int) -> Layout:
    """``frames`` with ``extra`` inserted before frame ``at``, at the time of the frame before:
    the good frames keep their times."""
    times = [tenths(i) for i in range(len(frames))]
    return pcap_layout(frames[:at] + [extra] + frames[at:], times[:at] + [times[at - 1]]
                       + times[at:])


def pcapng_layout(frames: list[bytes]) -> Layout:
    data = bytearray(shb() + idb(ETHERNET))
    starts = []
    for i, f in enumerate(frames):
        starts.append(len(data))
        data += epb(0, (1000 + i // 10) * 1_000_000 + (i % 10) * 100_000, f)
    return Layout(bytes(data), starts)


def record_header(caplen: int, wire: int | None = None, sec: int = 1010) -> bytes:
    return struct.pack("<IIII", sec, 0, caplen, caplen if wire is None else wire)


def block_header(btype: int, length: int) -> bytes:
    return struct.pack("<II", btype, length)


# ---- frames with lying length fields -----------------------------------------------------------

ETH = 14


def patch(f: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(f)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def to_vip(cport: int = 50000, payload: bytes = b"x" * 20, flags: int = 0x18) -> bytes:
    """A client's segment to VIP:8080 (an IPv4 header of 20 bytes, TCP of 20)."""
    return frame(client(99), addr(VIP), cport, 8080, flags, seq=1, ack=1, payload=payload)


AT_FRAME = 40  # where a bad frame goes among the good ones: mid-connection
