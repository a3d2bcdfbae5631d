"""The switch with its C engine decides exactly as the slow path alone: the same verdict and
real for every frame, the same events in the same order, the same counters, sessions,
persistence entries and statistics - on scripted traffic, on generated traffic of every
kind the engine takes (and the kinds it leaves to the slow path), and on real captures."""
from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.agree import assert_agree, feed, run_both, state
from tests.engine.net import Flow, config, http_request, http_response, tcp, tls_hello, udp
from tests.engine.test_switch import VIP, make
from tests.io.test_replay_samples import TLS, config_for, flows
from tests.proto.samples import frames, need, truth
from weboslb.engine.events import Bound, Verdict
from weboslb.engine.switch import Switch
from weboslb.proto.frame import decode


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


@pytest.mark.parametrize("service", ["{group: 1}", "{group: 1, pbind: clientip}",
                                     "{group: 1, pbind: {mode: cookie, cookie: passive, "
                                     "name: JSESSIONID}}"])
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("size", [1, 7, 4096])
def test_fast_and_slow_paths_agree(service, seed, size):
    frame_list = traffic(seed)
    times = [100.0 + i * 0.01 for i in range(len(frame_list))]
    results = run_both(lambda fast: make_switch(make(service), fast), frame_list, times, size)
    assert_agree(results)
    engine, reference = results
    assert engine["fast"] > len(frame_list) * 9 // 10  # the engine carried the traffic
    assert reference["fast"] == 0
    assert Verdict.TO_REAL in engine["verdicts"] and Verdict.PASS in engine["verdicts"]


def make_switch(sw: Switch, fast: bool) -> Switch:
    """The reference is the same switch without its engine."""
    if not fast:
        return Switch(sw.config, seed=bytes(16), fastpath=False)
    return sw


@pytest.mark.parametrize("name", TLS[:3])
def test_fast_and_slow_paths_agree_on_real_captures(name):
    need(name)
    rows = [r for r in flows(name) if r["tls_server_hello"] == "1"]
    servers = {(r["server_ip"], int(r["server_port"])) for r in rows}
    times = {n: float(row["frame.time_epoch"][0]) for n, row in truth(name).items()}
    items = list(frames(name))
    cfg = config(config_for(dict.fromkeys(servers, "{group: 1, pbind: sslid}")))
    results = run_both(lambda fast: Switch(cfg, seed=bytes(16), fastpath=fast),
                       [d for _, _, d in items], [times[n] for n, _, _ in items], 256,
                       link=items[0][1])
    assert_agree(results)
    assert any(isinstance(e, Bound) for e in results[0]["events"])


# ---- every mode, metric and table layout ---------------------------------------------------

CONFIG = """
slb:
  on: true
  adv: {{direct: {dam}, matrix: {vma}, vmasport: {sport}, vmadip: {dip}, pmask: {pmask}}}
  real:
    1: {{ena: true, rip: 10.0.1.11, weight: {w1}}}
    2: {{ena: true, rip: 10.0.1.12, maxcon: {maxcon}}}
    3: {{ena: true, rip: 10.0.1.13, weight: 2}}
    4: {{ena: true, rip: 10.0.1.14}}
    5: {{ena: true, rip: 10.0.1.15}}
  group:
    1: {{metric: {metric}, reals: [1, 2, 3]}}
    2: {{metric: {metric2}, reals: [3, 4]}}
    3: {{metric: phash, reals: [4, 5]}}
  virt:
    1:
      ena: true
      vip: {vip}
      service:
        80: {{group: 1, dbind: ena, ptmout: 1, pbind: {{mode: cookie, cookie: passive,
             name: JSESS*, offset: {offset}, length: 8, rcount: 2, uri: {uri}}}}}
        443: {{group: 1, dbind: ena, pbind: sslid, ptmout: 1}}
        8080: {{group: 2, pbind: clientip, ptmout: 1}}
        81: {{group: 2, dbind: ena, httpslb: {httpslb}, urlhash: 12}}
        82: {{group: 1}}
        53: {{group: 2}}
        83: {{group: 1, dbind: ena, pbind: {{mode: cookie, cookie: insert, name: SRV}}}}
        84: {{group: 3}}
        85: {{group: 1, dbind: ena}}
        21: {{app: ftp, group: 2, ftpp: true, pbind: clientip, ptmout: 1}}
        20: {{app: ftp-data, group: 2}}
    2:
      ena: false
      vip: {vip2}
      service:
        80: {{group: 1}}
"""
V4 = dict(vip="192.0.2.100", vip2="192.0.2.200", clients=["198.51.100.%d" % i
                                                            for i in range(1, 7)])
V6 = dict(vip="2001:db8::100", vip2="2001:db8::200", clients=["2001:db8:1::%d" % i
                                                                for i in range(1, 7)])
PORTS = (80, 443, 8080, 81, 82, 83, 84, 85, 21)


def setup(**over) -> str:
    p = dict(dam="true", vma="true", sport="false", dip="false", pmask="255.255.255.0",
             w1=1, maxcon=0, metric="roundrobin", metric2="leastconns", offset=1,
             uri="false", httpslb="urlhash", vip=V4["vip"], vip2=V4["vip2"])
    p.update(over)
    return CONFIG.format(**p)


COOKIES = [f"JSESSIONID={c * 12}" for c in "abc"] + ["JSESSIONX=zz99zz99zz99"]
SIDS = [bytes([n]) * 32 for n in (1, 2, 3)]
URLS = ["/a", "/b", "/c", "/very/long/path/name/here"]


@st.composite
def conversations(draw, family=V4):
    """Connections through the VIP, each a script of frames, with what clients do: split,
    retransmitted and out-of-order requests, resets, early closes, idle connections."""
    scripts = []
    for i in range(draw(st.integers(1, 10))):
        cip = draw(st.sampled_from(family["clients"]))
        vport = draw(st.sampled_from(PORTS + (53, 9999)))
        if vport == 53:
            scripts.append([udp(cip, family["vip"], 5000 + i, 53)
                            for _ in range(draw(st.integers(1, 3)))])
            continue
        if vport == 9999 and draw(st.booleans()):  # the disabled virtual server
            f = Flow(cip, 20000 + i, family["vip2"], 80)
            scripts.append([*f.handshake(), f.send(b"x")])
            continue
        if vport == 21:
            scripts.append(draw(ftp_session(family, cip, 20000 + i)))
            continue
        f = Flow(cip, 20000 + i, family["vip"], vport)
        steps = [f.syn()]
        if draw(st.booleans()):
            steps.append(tcp(cip, family["vip"], f.cport, vport, "S", f.cseq - 1))  # again
        steps += [f.synack(), f.ack()]
        if vport == 443:
            sid = draw(st.sampled_from([b""] + SIDS))
            request = tls_hello(1, sid)
            answer = tls_hello(2, draw(st.sampled_from(SIDS)), tls13=draw(st.booleans()))
        else:
            cookie = draw(st.sampled_from([None] + COOKIES))
            path = draw(st.sampled_from(URLS))
            if draw(st.booleans()) and cookie:
                path, cookie = f"{path};{cookie.replace('ID=', 'ID=')}", None
            request = http_request(path, cookie=cookie)
            set_cookie = draw(st.sampled_from([None] + COOKIES))
            answer = http_response(set_cookie=set_cookie)
        if draw(st.integers(0, 9)) == 0:
            request = b"\x00garbage\r\n\r\n"
        pieces = draw(st.integers(1, 3))
        cut = sorted(draw(st.lists(st.integers(1, len(request) - 1), min_size=pieces - 1,
                                   max_size=pieces - 1, unique=True)))
        bounds = [0, *cut, len(request)]
        segs = []
        for a, b in zip(bounds, bounds[1:]):
            segs.append(tcp(cip, family["vip"], f.cport, vport, "PA", f.cseq + a, f.sseq,
                            request[a:b]))
        f.cseq += len(request)
        how = draw(st.sampled_from(["order", "order", "swap", "again"]))
        if how == "swap" and len(segs) > 1:
            segs[0], segs[1] = segs[1], segs[0]
        elif how == "again":
            segs.insert(1, segs[0])
        steps += segs
        steps.append(f.reply(answer))
        if draw(st.booleans()):
            steps.append(f.reply(http_response(set_cookie=draw(st.sampled_from(COOKIES)))))
        steps.append(f.ack())
        end = draw(st.sampled_from(["close", "close", "rst", "server_close", "none"]))
        if end == "close":
            steps += f.close()
        elif end == "rst":
            steps.append(f.rst())
        elif end == "server_close":
            steps += [f.server_fin(), f.fin(), f.server_ack()]
        scripts.append(steps)
    rng = random.Random(draw(st.integers(0, 2**32)))
    out = []
    while any(scripts):
        s = rng.choice([s for s in scripts if s])
        out.append(s.pop(0))
    # mostly back to back; now and then a pause that crosses a fast or slow sweep
    gaps = [GAPS[g] if g < len(GAPS) else 0.001 * (g % 3)
            for g in draw(st.lists(st.integers(0, 300), min_size=len(out), max_size=len(out)))]
    times, now = [], 1000.0
    for g in gaps:
        now += g
        times.append(now)
    return out, times


GAPS = (0.5, 1.5, 5.0, 65.0, 700.0)

def _pieces(draw, data: bytes) -> list[bytes]:
    """``data`` cut at up to two random points."""
    cut = sorted(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=2,
                               unique=True)))
    bounds = [0, *[c for c in cut if c < len(data)], len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


@st.composite
def ftp_session(draw, family, cip: str, cport: int) -> list[bytes]:
    """An FTP control connection announcing a data connection (passive: 227/229; active:
    PORT/EPRT), its lines cut anywhere, and the data connection it announced."""
    vip = family["vip"]
    v6 = ":" in vip
    ctl = Flow(cip, cport, vip, 21)
    steps = [*ctl.handshake(), ctl.reply(b"220 ready\r\n")]
    port = draw(st.integers(40000, 40100))
    passive = draw(st.booleans())
    if passive:
        steps += [ctl.send(b"PASV\r\n")]
        if v6 or draw(st.booleans()):
            reply = b"229 Entering Extended Passive Mode (|||%d|)\r\n" % port
        else:
            named = vip if draw(st.integers(0, 3)) else "10.0.1.14"  # the real's own: rewritten
            reply = b"227 Entering Passive Mode (%s,%d,%d).\r\n" % (
                named.replace(".", ",").encode(), port >> 8, port & 255)
        for piece in _pieces(draw, reply):
            steps.append(ctl.reply(piece))
    else:
        if v6:
            line = b"EPRT |2|%s|%d|\r\n" % (cip.encode(), port)
        else:
            line = b"PORT %s,%d,%d\r\n" % (cip.replace(".", ",").encode(), port >> 8,
                                            port & 255)
        for piece in _pieces(draw, line):
            steps.append(ctl.send(piece))
        steps.append(ctl.reply(b"200 PORT command successful.\r\n"))
    if draw(st.booleans()):
        if passive:
            data = Flow(cip, cport + 1000, vip, port)
        else:  # the real opens it, from the VIP's port 20
            data = Flow(vip, 20, cip, port)
        steps += [data.syn(), data.synack(), data.ack(), data.send(b"x" * 100), *data.close()]
    steps += [ctl.send(b"QUIT\r\n"), ctl.reply(b"221 bye\r\n"), *ctl.close()]
    return steps


SETUPS = {
    "rr": setup(),
    "lc-hash": setup(metric="leastconns", metric2="hash", w1=3),
    "hash-rr": setup(metric="hash", metric2="roundrobin", maxcon=1),
    "no-dam-no-vma": setup(dam="false", vma="false", offset=3, uri="true"),
    "vmasport": setup(sport="true", httpslb="host", maxcon=2),
    "vmadip": setup(dip="true", metric="minmisses"),
    "v6": setup(vip=V6["vip"], vip2=V6["vip2"]),
}


@pytest.mark.parametrize("name", list(SETUPS))
@settings(max_examples=int(os.environ.get("ENGINE_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_traffic_agrees(name, data):
    family = V6 if name == "v6" else V4
    frame_list, times = data.draw(conversations(family))
    size = data.draw(st.sampled_from([1, 5, 64]))
    flips = data.draw(st.lists(st.sampled_from([None, None, 1, 2, 3]), max_size=8))
    cfg = config(SETUPS[name])

    def flip(sw, k):  # a real goes down or comes back between batches
        if k < len(flips) and flips[k] is not None:
            sw.farm.set_health(flips[k], not sw.farm.available(flips[k]))

    results = run_both(lambda fast: Switch(cfg, seed=bytes(16), fastpath=fast), frame_list,
                       times, size, between=flip)
    assert_agree(results)
    sw = results[0]["switch"]
    assert sw.fast.check() == 0


def slow_ports(sw: Switch) -> list[int]:
    """Record the virtual port of every frame the slow path handles from now on."""
    seen: list[int] = []
    process = sw.process

    def spy(frame, now, **kw):
        act = process(frame, now, **kw)
        pkt = decode(frame)
        seen.append(pkt.dport if pkt.dst in sw.services.vips else pkt.sport)
        return act

    sw.process = spy
    return seen


def test_the_engine_takes_what_it_knows_and_leaves_the_rest():
    """Layer 4, SSL ID, passive cookie and URL hash connections stay in C from SYN to FIN;
    an insert-cookie service (a payload rewrite) and phash are the slow path's.  The first
    binding of each kind is the slow path's too: it makes the persistence table."""
    cfg = config(setup())

    def round_of(client: str) -> list[bytes]:
        out = []
        for port, request, answer in [
                (80, http_request(cookie=COOKIES[0]), http_response(set_cookie=COOKIES[1])),
                (443, tls_hello(1, b""), tls_hello(2, SIDS[0])),
                (81, http_request("/a"), http_response()), (82, b"x", b"y"),
                (8080, b"x", b"y"), (83, http_request(), http_response()), (84, b"x", b"y")]:
            f = Flow(client, 40000 + port, VIP, port)
            out += [*f.handshake(), f.send(request), f.reply(answer), f.ack(), *f.close()]
        return out

    first, second = round_of("198.51.100.1"), round_of("198.51.100.2")
    frame_list = first + second
    times = [1000.0 + i * 0.01 for i in range(len(frame_list))]
    assert_agree(run_both(lambda fast: Switch(cfg, seed=bytes(16), fastpath=fast), frame_list,
                          times, 4096))
    sw = Switch(cfg, seed=bytes(16))
    seen = slow_ports(sw)
    feed(sw, first, times[:len(first)], 4096)
    assert set(seen) == {80, 443, 8080, 83, 84}  # three tables made
    seen.clear()
    feed(sw, second, times[len(first):], 4096)
    assert set(seen) == {83, 84}
    assert sw.handovers == 2  # the responses that learnt first (a clientip SYN opens in Python)


def test_a_session_taken_over_mid_request_carries_its_bytes():
    """A request in three segments, the third before the second: the engine holds the first
    bytes, the slow path takes over at the out-of-order segment and binds on the cookie."""
    cfg = config(setup())
    f = Flow("198.51.100.1", 40000, VIP, 80)
    hs = f.handshake()
    request = http_request(cookie=COOKIES[0])
    seq = f.cseq

    def seg(a: int, b: int) -> bytes:
        return tcp(f.cip, VIP, f.cport, 80, "PA", seq + a, f.sseq, request[a:b])

    f.cseq += len(request)
    frame_list = [*hs, seg(0, 4), seg(10, len(request)), seg(4, 10),
                  f.reply(http_response(set_cookie=COOKIES[0])), f.ack(), *f.close()]
    times = [1000.0 + i for i in range(len(frame_list))]
    engine, reference = run_both(lambda fast: Switch(cfg, seed=bytes(16), fastpath=fast),
                                 frame_list, times, 64)
    assert_agree((engine, reference))
    assert engine["switch"].handovers == 1
    bound = [e for e in engine["events"] if isinstance(e, Bound)]
    assert bound[0].key == COOKIES[0].split("=")[1][:8]


def test_apply_and_clear_hand_every_session_over():
    cfg = config(setup())
    frame_list = traffic(3, n_flows=20)
    times = [100.0 + i * 0.01 for i in range(len(frame_list))]
    half = len(frame_list) // 2
    out = []
    for fast in (True, False):
        sw = Switch(cfg, seed=bytes(16), fastpath=fast)
        feed(sw, frame_list[:half], times[:half], 64)
        sw.apply(config(setup(metric="leastconns")))
        feed(sw, frame_list[half:], times[half:], 64)
        before = state(sw)
        n = sw.clear_sessions(times[-1])
        out.append((before, n, sw.drain(), state(sw)))
    assert out[0] == out[1]
    assert out[0][1] > 0


def test_single_frames_and_batches_mix():
    """process() between batches finds the engine's sessions (it takes them over)."""
    cfg = config(setup())
    frame_list = traffic(4, n_flows=12)
    times = [100.0 + i * 0.01 for i in range(len(frame_list))]
    out = []
    for fast in (True, False):
        sw = Switch(cfg, seed=bytes(16), fastpath=fast)
        for k in range(0, len(frame_list), 10):
            feed(sw, frame_list[k:k + 9], times[k:k + 9], 9)
            if k + 9 < len(frame_list):
                sw.process(frame_list[k + 9], times[k + 9])
        out.append((sw.drain(), state(sw)))
    assert out[0] == out[1]


def test_a_summary_only_switch_keeps_no_events_but_counts_connections():
    cfg = config(setup())
    frame_list = traffic(5, n_flows=10)
    times = [100.0 + i * 0.01 for i in range(len(frame_list))]
    quiet = Switch(cfg, seed=bytes(16), events=False)
    loud = Switch(cfg, seed=bytes(16))
    for sw in (quiet, loud):
        feed(sw, frame_list, times, 4096)
        sw.tick(10_000.0)  # every session ages out
    assert quiet.drain() == [] and len(loud.drain()) == 30  # opened, bound, closed
    assert quiet.connections == loud.connections == 10
    assert state(quiet) == state(loud)


def test_the_demo_capture_replays_the_same_both_ways(tmp_path):
    from weboslb.config import files
    from weboslb.io.capture import open_capture
    from weboslb.io.traffic import demo_capture

    plan = demo_capture(tmp_path / "demo.pcap", clients=60, duration=30.0)
    cap = open_capture(str(plan.path))
    batches = list(cap.batches(512))
    out = []
    for fast in (True, False):
        sw = Switch(files.default(), seed=bytes(16), fastpath=fast)
        decided = []
        for b in batches:
            res = sw.process_batch(b.buf, b.offsets, b.lengths, b.times, b.links)
            decided += [bytes(res.verdicts), bytes(res.reals)]
        sw.tick(b.times[-1] + 3600)
        out.append((decided, sw.drain(), state(sw)))
    cap.close()
    assert out[0][0] == out[1][0]
    assert out[0][1] == out[1][1]
    assert out[0][2] == out[1][2]
    counts = out[0][2]["counts"]
    assert counts["persistence hits sslid"] and counts["persistence hits cookie"]


def tight(fast: bool, cfg) -> Switch:
    """A switch at its limits: 6 sessions in all, 4 flow-table entries, one Layer 7 buffer."""
    sw = Switch(cfg, seed=bytes(16), fastpath=fast, flows=4)
    sw.sessions.limit = 6
    if fast:
        sw.fast.l7_buffers = 1
    sw.apply(cfg)  # the engine takes the limits with the configuration
    return sw


@settings(max_examples=int(os.environ.get("ENGINE_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_full_tables_and_buffers_agree(data):
    """A full session table, a full flow table (slow-path sessions the engine cannot hold)
    and no Layer 7 buffer left: the engine leaves those frames to the slow path."""
    frame_list, times = data.draw(conversations(V4))
    cfg = config(SETUPS["rr"])
    assert_agree(run_both(lambda fast: tight(fast, cfg), frame_list, times,
                          data.draw(st.sampled_from([1, 16]))))


def test_the_session_dump_shows_the_engine_sessions_as_the_slow_path_would():
    """/info/slb/sess/dump mid-traffic: sessions the engine runs (bound, unbound, FTP) and
    the persistent entries with their users, line for line."""
    from weboslb.engine.sessdump import dump

    cfg = config(setup())
    frame_list, now = [], 1000.0
    for i, (port, request) in enumerate([(80, http_request(cookie=COOKIES[0])),
                                         (443, tls_hello(1, SIDS[1])), (82, b"x"),
                                         (8080, b"x"), (21, b"PASV\r\n"), (85, b"")]):
        f = Flow("198.51.100.1", 41000 + i, VIP, port)
        frame_list += [*f.handshake(), *([f.send(request)] if request else [])]
    frame_list = traffic(6, n_flows=8) + frame_list
    times = [now + i * 0.01 for i in range(len(frame_list))]
    out = []
    for fast in (True, False):
        sw = Switch(cfg, seed=bytes(16), fastpath=fast)
        feed(sw, frame_list, times, 64)
        lines = list(dump(sw.sessions, sw.persistence.entries(), sw.services,
                          sw.persistence.users, times[-1] + 30))
        out.append(lines)
        if fast:
            assert sw.fast.count() >= 5  # the engine runs them: the dump reads its records
    assert out[0] == out[1]
    assert any(line.endswith(" EU") for line in out[0])  # a delayed binding still unbound
