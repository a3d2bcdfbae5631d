"""The switch with its C fast path decides exactly as the slow path alone: same verdict, same
real for every frame, same events and counters, on synthetic and real traffic."""
from __future__ import annotations

import random
from array import array

import pytest

from tests.engine.net import Flow, config, http_request, http_response, tls_hello, udp
from tests.engine.test_switch import VIP, make
from tests.io.test_replay_samples import TLS, config_for, flows
from tests.proto.samples import frames, need, truth
from weboslb.engine.events import Verdict
from weboslb.engine.switch import Switch


def batch_of(frame_list: list[bytes]):
    buf = b"".join(frame_list)
    offsets, lengths, off = array("Q"), array("I"), 0
    for f in frame_list:
        offsets.append(off)
        lengths.append(len(f))
        off += len(f)
    return buf, offsets, lengths


def traffic(seed: int, n_flows: int = 40) -> list[bytes]:
    """Interleaved connections: handshakes, requests, replies, closes, some resets, UDP."""
    rng = random.Random(seed)
    scripts = []
    for i in range(n_flows):
        f = Flow(f"198.51.100.{i % 20 + 1}", 30000 + i, VIP, 80)
        steps = f.handshake()
        for _ in range(rng.randrange(1, 6)):
            steps += [f.send(http_request()), f.reply(http_response(body=b"x" * 100)),
                      f.ack()]
        steps += [f.rst()] if rng.random() < 0.2 else f.close()
        scripts.append(steps)
    out = []
    while any(scripts):
        s = rng.choice([s for s in scripts if s])
        out.append(s.pop(0))
        if rng.random() < 0.05:
            out.append(udp("198.51.100.99", "203.0.113.5", 53, 53))  # not for SLB
    return out


def outcome(sw, res_verdicts, res_reals):
    events = [(type(e).__name__, e.conn, getattr(e, "real", None)) for e in sw.drain()]
    sw.sync()
    real_totals = {r: (sw.farm.real_stats(r).total, sw.farm.real_stats(r).octets)
                   for r in sw.services.reals}
    return list(res_verdicts), list(res_reals), events, real_totals, dict(sw.why)


@pytest.mark.parametrize("service", ["{group: 1}", "{group: 1, pbind: clientip}",
                                     "{group: 1, pbind: {mode: cookie, cookie: passive, "
                                     "name: JSESSIONID}}"])
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("size", [1, 7, 4096])
def test_fast_and_slow_paths_agree(service, seed, size):
    frame_list = traffic(seed)
    times = array("d", [100.0 + i * 0.01 for i in range(len(frame_list))])
    results = []
    for fastpath in (True, False):
        sw = make(service)
        if not fastpath:
            sw.fast = None
        verdicts, reals = [], []
        for start in range(0, len(frame_list), size):
            chunk = frame_list[start:start + size]
            buf, offs, lens = batch_of(chunk)
            res = sw.process_batch(buf, offs, lens, times[start:start + size])
            verdicts += list(res.verdicts)
            reals += list(res.reals)
        results.append(outcome(sw, verdicts, reals))
        if fastpath:
            fast_frames = sw.fast.stats().fast
    assert results[0] == results[1]
    assert fast_frames > len(frame_list) // 4  # the fast path did carry the traffic
    assert Verdict.TO_REAL in results[0][0] and Verdict.PASS in results[0][0]


@pytest.mark.parametrize("name", TLS[:3])
def test_fast_and_slow_paths_agree_on_real_captures(name):
    need(name)
    rows = [r for r in flows(name) if r["tls_server_hello"] == "1"]
    servers = {(r["server_ip"], int(r["server_port"])) for r in rows}
    times = {n: float(row["frame.time_epoch"][0]) for n, row in truth(name).items()}
    items = list(frames(name))
    results = []
    for fastpath in (True, False):
        sw = Switch(config(config_for(dict.fromkeys(servers, "{group: 1, pbind: sslid}"))),
                    seed=bytes(16))
        if not fastpath:
            sw.fast = None
        verdicts, reals = [], []
        for start in range(0, len(items), 256):
            chunk = items[start:start + 256]
            buf, offs, lens = batch_of([d for _, _, d in chunk])
            res = sw.process_batch(buf, offs, lens, array("d", [times[n] for n, _, _ in chunk]),
                                   link=chunk[0][1])
            verdicts += list(res.verdicts)
            reals += list(res.reals)
        results.append(outcome(sw, verdicts, reals))
    assert results[0] == results[1]
    assert any(kind == "Bound" for kind, _, _ in results[0][2])
