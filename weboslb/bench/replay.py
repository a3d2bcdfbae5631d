"""Replay throughput: a generated 1M-packet mixed capture (cached) replayed end to end with a
summary-only report — capture walk, decode, the C fast path, the Python slow path for new
connections and Layer 7, persistence in a table of 1M entries a key kind — beside a plain
Python loop that only parses the same file with ``struct`` (pcap records, Ethernet, IPv4,
TCP ports), measured in the same process.  ``ratio`` = replay packets/s / parse-only
packets/s: the issue's target is 4 (>= 4 M packets/s on the 2-core VM)."""
from __future__ import annotations

import gc
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

from weboslb.bench.measure import median_ns, timed
from weboslb.config import files
from weboslb.io import traffic
from weboslb.io.replay import Options, replay

CAPACITY = 1 << 20  # persistence entries a key kind: the 1M-entry table
_REC = struct.Struct("<IIII")
_IP = struct.Struct("!BxHxxHxBxx4s4s")  # version/ihl, total, frag, proto, src, dst
_PORTS = struct.Struct("!HH")


@dataclass(frozen=True, slots=True)
class Record:
    packets: int
    pps: float
    baseline_pps: float
    ratio: float
    connections: int
    fast_share: float  # frames the C fast path decided
    table_entries: int
    capture: str

    def as_json(self) -> dict:
        return asdict(self)


def parse_only(path: Path) -> int:
    """The baseline: every record of a little-endian microsecond pcap parsed down to the TCP
    ports, the way a careful pure-Python reader would; returns the TCP packets seen."""
    data = Path(path).read_bytes()
    pos, end, tcp = 24, len(data), 0
    unpack_rec, unpack_ip, unpack_ports = _REC.unpack_from, _IP.unpack_from, _PORTS.unpack_from
    while pos + 16 <= end:
        _, _, caplen, _ = unpack_rec(data, pos)
        off = pos + 16
        pos = off + caplen
        if caplen < 34 or data[off + 12:off + 14] != b"\x08\x00":
            continue
        vihl, _, frag, proto, _, _ = unpack_ip(data, off + 14)
        if proto == 6 and not frag & 0x1FFF:
            unpack_ports(data, off + 14 + (vihl & 15) * 4)
            tcp += 1
    return tcp


def run(packets: int = 1_000_000, *, repeat: int = 3, seed: int = 1) -> Record:
    path = traffic.cached_bench_capture(packets, seed)
    config = files.default()
    results = []

    def replayed() -> None:
        results[:] = [replay(config, [str(path)], options=Options(
            capacity=CAPACITY, connections=False, seed=seed.to_bytes(16, "little")))]

    def baseline() -> None:
        parse_only(path)

    # alternate the two so that the machine's noise falls on both; each run starts with the
    # last one's switch and tables freed (hundreds of MB held over cost the next run's memory)
    rep, base = [], []
    for _ in range(repeat):
        results.clear()
        gc.collect()
        rep.append(timed(replayed))
        base.append(timed(baseline))
    last = results[-1]
    summary = last.report["summary"]
    n = summary["packets"]
    pps, baseline_pps = n * 1e9 / median_ns(rep), n * 1e9 / median_ns(base)
    return Record(packets=n, pps=pps, baseline_pps=baseline_pps, ratio=pps / baseline_pps,
                  connections=summary["connections"], fast_share=last.fast / n if n else 0.0,
                  table_entries=summary["table"]["entries"], capture=str(path))
