"""The demo's and the benchmark's captures: sessions scheduled, their frames merged by time
into a pcap file."""
from __future__ import annotations

import bisect
import math
import os
import random
from operator import itemgetter
from pathlib import Path

from weboslb.io.pcap import PcapWriter
from weboslb.io.traffic.addresses import BENCH_NET, DEMO_NETS
from weboslb.io.traffic.plan import BenchPlan, DemoPlan
from weboslb.io.traffic.segments import scapy_path, struct_path
from weboslb.io.traffic.sessions import BENCH, DEMO, Client, Traffic
from weboslb.proto.packet import Link

EPOCH = 1796117400.0  # 2026-12-01 09:30:00 UTC: where the captures' clocks start
MERGE_WINDOW = 0.25  # seconds of capture time merged at once


def _write(path: str | os.PathLike, traffic: Traffic,
           limit: float = math.inf) -> tuple[int, float, float]:
    """Merge the sessions' frames by time into ``path``; stop after ``limit`` frames.
    Returns the frames written and the times of the first and the last.

    Window by window: every session that begins before the window's end is scripted, which
    makes every frame before that end known (a session's frames never precede its start);
    those are sorted (one C sort; stable, so each connection keeps its order) and written.
    When ``limit`` cuts the capture, the tally goes back to the last session begun in it.
    """
    pending: list[tuple[float, bytes]] = []
    written = 0
    first = last = 0.0
    tally = traffic.tally
    with PcapWriter(path, Link.ETHERNET) as out:
        write = out.write
        horizon = traffic.next_start()
        while written < limit and (pending or horizon < math.inf):
            horizon = max(horizon + MERGE_WINDOW, traffic.next_start())
            marks = [(-math.inf, tally.snapshot())] if limit < math.inf else []
            while traffic.next_start() < horizon:
                begun = traffic.next_start()
                for frames in traffic.start_next():
                    pending += frames
                if marks:
                    marks.append((begun, tally.snapshot()))
            pending.sort(key=itemgetter(0))
            cut = bisect.bisect_left(pending, horizon, key=itemgetter(0))
            if written + cut > limit:
                cut = int(limit - written)
            if cut:
                if not written:
                    first = pending[0][0]
                for t, frame in pending[:cut]:
                    write(t, frame)
                written += cut
                last = pending[cut - 1][0]
                del pending[:cut]
            if written >= limit:
                tally.restore(next(state for begun, state in reversed(marks) if begun <= last))
    return written, first, last


def demo_capture(path: str | os.PathLike, *, seed: int = 1, clients: int = 300,
                 duration: float = 90.0) -> DemoPlan:
    """Write the demo's capture to ``path``: ``clients`` hosts of 198.51.100.0/24 and
    203.0.113.0/24 using the address plan's services over about ``duration`` seconds, every
    connection complete.  Templates come from scapy; the same ``seed`` writes the same file."""
    pool = [bytes((*net, host)) for net in DEMO_NETS for host in range(1, 255)]
    if not 1 <= clients <= len(pool):
        raise ValueError(f"demo clients must be 1..{len(pool)} (two /24 networks), "
                         f"not {clients}")
    if not duration > 0:
        raise ValueError(f"demo duration must be positive, not {duration}")
    rng = random.Random(seed)
    rng.shuffle(pool)
    traffic = Traffic(rng, scapy_path, pool, DEMO)
    ftp_users = set(rng.sample(range(clients), max(1, clients // 10)))
    for i in range(clients):
        ftp = i in ftp_users
        count = rng.choice((1, 2, 2, 3)) if ftp else rng.randint(3, 7)
        plan = sorted(EPOCH + rng.uniform(0, 0.9 * duration) for _ in range(count))
        c = traffic.new_client(ftp, plan[1:])
        c.roams = not ftp and rng.random() < 0.05
        traffic.add(plan[0], c)
    packets, start, end = _write(path, traffic)
    return DemoPlan(**traffic.tally.mix(), path=Path(path), seed=seed, clients=clients,
                    addresses=traffic.tally.addresses, packets=packets, start=start, end=end)


# the benchmark's clients (with BENCH's sessions, 1M frames hold ~48k of them)
BENCH_ARRIVALS = 1000.0  # new clients per second of capture time
BENCH_SESSIONS = ((1, 2, 3), (36, 3, 1))  # sessions per client and their weights
BENCH_FTP = 0.03  # share of FTP users
BENCH_ROAMING = 0.02
BENCH_RETURN = 4.0  # mean seconds from one session of a client to its next


def bench_capture(path: str | os.PathLike, *, packets: int = 1_000_000,
                  seed: int = 1) -> BenchPlan:
    """Write ``packets`` frames of the address plan's traffic to ``path``: clients of
    198.18.0.0/15 arriving ~1,000 a second (a new user takes an address used before once the
    131,070 are spent), each doing one to three sessions; no per-packet scapy."""
    if packets < 1:
        raise ValueError(f"bench packets must be at least 1, not {packets}")
    rng = random.Random(seed)
    base = int.from_bytes(bytes((*BENCH_NET, 0, 0)), "big")
    hosts = [(base + n).to_bytes(4, "big") for n in range(1, (1 << 17) - 1)]
    rng.shuffle(hosts)
    traffic = Traffic(rng, struct_path, hosts[:], BENCH)

    def arrive(t: float) -> Client:
        if not traffic.addresses:
            traffic.addresses = hosts[:]
        count = rng.choices(*BENCH_SESSIONS)[0]
        plan, at = [], t
        for _ in range(count - 1):
            at += rng.expovariate(1 / BENCH_RETURN)
            plan.append(at)
        c = traffic.new_client(rng.random() < BENCH_FTP, plan)
        c.roams = not c.ftp and rng.random() < BENCH_ROAMING
        return c

    traffic.arrivals = (1 / BENCH_ARRIVALS, arrive)
    traffic.add(EPOCH, None)
    written, start, end = _write(path, traffic, packets)
    return BenchPlan(**traffic.tally.mix(), path=Path(path), seed=seed,
                     clients=traffic.tally.addresses, packets=written, start=start, end=end)
