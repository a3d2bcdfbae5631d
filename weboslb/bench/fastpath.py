"""The fast path's throughput: ``FlowCache.run`` over batches of frames against a plain Python
loop doing the same job (struct-parse Ethernet/IPv4/TCP, VIP check, flow dict, counters,
verdicts, exceptions) over the same buffer, in the same process.

The frames are N packets of M established connections (ACK/PSH, payload, both directions,
connections in random order): two frames are built with scapy once, then every connection's
pair is the same bytes with its client address and port written in.  Each figure is the
median of the repeats; the two paths must agree on how many frames went fast.
"""
from __future__ import annotations

import random
import struct
from array import array
from dataclasses import asdict, dataclass

from weboslb.bench.measure import median_ns, timed
from weboslb.engine.events import Conn
from weboslb.engine.fastpath import FlowCache

VIP = bytes((192, 0, 2, 100))
VPORT = 80
PATHS = ("c-batch", "py-loop")


@dataclass(frozen=True, slots=True)
class Frames:
    buf: bytes
    offsets: array  # 'Q'
    lengths: array  # 'I'
    times: array  # 'd'
    conns: list[Conn]


@dataclass
class Record:
    path: str
    frames: int
    connections: int
    batch: int
    frames_per_s: float
    ns_per_frame: float
    ratio_vs_python: float | None
    fast_frames: int

    def as_json(self) -> dict:
        return asdict(self)


def _client(i: int) -> tuple[bytes, int]:
    """Connection i's client: 64 ports per address from 10.0.0.0 on."""
    return (0x0A000000 + i // 64).to_bytes(4, "big"), 1024 + i % 64


def make_frames(n: int, m: int, *, payload: int = 64, seed: int = 1) -> Frames:
    """n frames of m connections to VIP:80 in one buffer, each frame a connection's request or
    answer at random."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    vip = ".".join(map(str, VIP))
    mac = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:fe")
    up = bytearray(bytes(Ether(**mac) / IP(src="10.0.0.0", dst=vip)
                         / TCP(sport=1024, dport=VPORT, flags="PA") / (b"q" * payload)))
    down = bytearray(bytes(Ether(**mac) / IP(src=vip, dst="10.0.0.0")
                           / TCP(sport=VPORT, dport=1024, flags="A") / (b"r" * payload)))
    size = len(up)
    pairs, conns = [], []
    for i in range(m):
        cip, cport = _client(i)
        port = cport.to_bytes(2, "big")
        up[26:30], up[34:36] = cip, port
        down[30:34], down[36:38] = cip, port
        pairs.append((bytes(up), bytes(down)))
        conns.append(Conn(6, cip, cport, VIP, VPORT))
    rng = random.Random(seed)
    buf = b"".join(pairs[rng.randrange(m)][rng.random() < 0.5] for _ in range(n))
    return Frames(buf, array("Q", range(0, n * size, size)), array("I", [size]) * n,
                  array("d", (i * 1e-6 for i in range(n))), conns)


_ETH_IP = b"\x08\x00"
_IP = struct.Struct("!BxHxxHxB2x4s4s")  # version/IHL, total length, flags/offset, proto, src, dst
_L4 = struct.Struct("!HH8xBB")  # ports, data offset, flags


def python_loop(fr: Frames, flows: dict, vips: set[bytes], lo: int, hi: int) -> int:
    """Frames lo..hi the way a Python fast path would take them; returns the fast ones."""
    buf, offs, lens, times = fr.buf, fr.offsets, fr.lengths, fr.times
    verdicts, reals, exceptions, held = bytearray(hi - lo), array("H", [0]) * (hi - lo), [], set()
    fast = 0
    for i in range(lo, hi):
        off, cap = offs[i], lens[i]
        if cap < 54 or buf[off + 12:off + 14] != _ETH_IP:
            verdicts[i - lo] = 4
            continue
        vihl, total, frag, proto, src, dst = _IP.unpack_from(buf, off + 14)
        ihl = (vihl & 15) * 4
        if frag & 0x3FFF or proto != 6 or cap < 14 + ihl + 20:
            verdicts[i - lo] = 4
            continue
        sport, dport, doff, flags = _L4.unpack_from(buf, off + 14 + ihl)
        plen = min(total, cap - 14) - ihl - (doff >> 4) * 4
        if dst in vips:
            key, d = (proto, src, sport, dst, dport), 0
        elif src in vips:
            key, d = (proto, dst, dport, src, sport), 1
        else:
            verdicts[i - lo] = 4
            continue
        f = flows.get(key)
        if f is not None and not flags & 7 and key not in held:
            f[0] = times[i]
            f[1 + d] += 1
            f[3 + d] += plen
            verdicts[i - lo] = 1 + d
            reals[i - lo] = f[5]
            fast += 1
        else:
            if f is not None:
                held.add(key)
            exceptions.append(i)
    return fast


def run(frames: int = 1_000_000, connections: int = 10_000, *, batch: int = 4096,
        repeat: int = 5, payload: int = 64, seed: int = 1) -> list[Record]:
    """Both paths over the same frames; c-batch's ratio is against py-loop."""
    fr = make_frames(frames, connections, payload=payload, seed=seed)
    cache = FlowCache(1 << max(4, (connections - 1).bit_length()), seed.to_bytes(16, "little"))
    cache.set_vips([VIP])
    for code, conn in enumerate(fr.conns):
        cache.put(conn, code % 65535)
    bounds = [(lo, min(lo + batch, frames)) for lo in range(0, frames, batch)]
    # zero-copy batch views, as a replay over an mmap'ed capture would pass them
    offs, lens, times = (memoryview(a) for a in (fr.offsets, fr.lengths, fr.times))
    flows = {(6, c.cip, c.cport, c.vip, c.vport): [0.0, 0, 0, 0, 0, code % 65535]
             for code, c in enumerate(fr.conns)}
    counts: dict[str, int] = {}

    def c_path() -> None:
        fast = 0
        for lo, hi in bounds:
            r = cache.run(fr.buf, offs[lo:hi], lens[lo:hi], times[lo:hi])
            fast += (hi - lo) - len(r.exceptions)
        counts["c-batch"] = fast

    def py_path() -> None:
        counts["py-loop"] = sum(python_loop(fr, flows, {VIP}, lo, hi) for lo, hi in bounds)

    samples = {"c-batch": [timed(c_path) for _ in range(repeat)],
               "py-loop": [timed(py_path) for _ in range(repeat)]}
    cache.close()
    if counts["c-batch"] != counts["py-loop"]:
        raise RuntimeError(f"the paths disagree: {counts}")
    py_ns = median_ns(samples["py-loop"]) / frames
    records = []
    for path in PATHS:
        ns = median_ns(samples[path]) / frames
        records.append(Record(path=path, frames=frames, connections=connections, batch=batch,
                              frames_per_s=1e9 / ns, ns_per_frame=ns,
                              ratio_vs_python=py_ns / ns if path != "py-loop" else None,
                              fast_frames=counts[path]))
    return records
