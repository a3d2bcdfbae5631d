"""The C fast path (weboslb.engine.fastpath): what it forwards, what it hands back to the slow
path and in which order, the flows' counters, and its refusals.

A small Python model of the rules (decoded by the pure-Python frame decoder) is the reference
for random batches and for the real captures of ../shared/samples."""
from __future__ import annotations

import ipaddress
import random
from array import array
from dataclasses import dataclass, field
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Padding, Raw

from tests.engine.net import tcp, udp
from tests.proto.samples import captures, frames as capture_frames
from weboslb._native import ffi, lib
from weboslb.bench.measure import rss_bytes
from weboslb.engine.events import Conn, Verdict, Why
from weboslb.engine.fastpath import NO_REAL, FlowCache, FlowState, key_of
from weboslb.proto import frame as framing
from weboslb.proto.packet import Link, Reason

VIP4, VIP6, OTHER4 = "192.0.2.100", "2001:db8::100", "203.0.113.9"
CIP4, CIP6 = "198.51.100.1", "2001:db8:1::1"
SEED = bytes(range(16))
EXC = (0, Why.NONE, NO_REAL)  # an exception: no verdict yet
HASHES = ["siphash"] + (["aes"] if lib.pst_aes_available() else [])


def a(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


TCP4 = Conn(6, a(CIP4), 40000, a(VIP4), 80)
UDP4 = Conn(17, a(CIP4), 5353, a(VIP4), 53)
TCP6 = Conn(6, a(CIP6), 40000, a(VIP6), 443)
FLOWS = {TCP4: 7, UDP4: 8, TCP6: 9}


def layout(frames: list[bytes]) -> tuple[bytes, list[int], list[int]]:
    offsets, pos = [], 0
    for f in frames:
        offsets.append(pos)
        pos += len(f)
    return b"".join(frames), offsets, [len(f) for f in frames]


def run(cache: FlowCache, frames: list[bytes], times: list[float] | None = None,
        link: Link | int = Link.ETHERNET) -> tuple[list[tuple[int, int, int]], list[int]]:
    """(verdict, why, real) per frame, and the exceptions."""
    buf, offs, lens = layout(frames)
    r = cache.run(buf, offs, lens, times or [float(i) for i in range(len(frames))], link)
    return list(zip(r.verdicts.tolist(), r.whys.tolist(), r.reals.tolist())), \
        r.exceptions.tolist()


@pytest.fixture(params=HASHES)
def cache(request) -> FlowCache:
    c = FlowCache(64, SEED, hash=request.param)
    c.set_vips([a(VIP4), a(VIP6)])
    for conn, real in FLOWS.items():
        assert c.put(conn, real)
    return c


# ---- the numbers C and Python share ----------------------------------------------------------

def c_enum(name: str, prefix: str) -> dict[str, int]:
    return {k[len(prefix):]: v for k, v in ffi.typeof(f"enum {name}").relements.items()}


def test_verdict_and_why_numbers_agree_with_c():
    assert c_enum("flow_verdict", "FLOW_") == {"EXCEPTION": 0, **{v.name: v.value for v in Verdict}}
    assert c_enum("flow_why", "FLOW_WHY_") == {w.name: w.value for w in Why}
    # the PASS reasons are the decoder's
    assert all(Why[r.name] == r for r in Reason if r is not Reason.OK)


# ---- each verdict ----------------------------------------------------------------------------

def eth(*layers, **fields) -> bytes:
    frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:fe", **fields)
    for layer in layers:
        frame = frame / layer
    return bytes(frame)


CASES = {
    "arp": (eth(ARP(psrc=CIP4, pdst=VIP4)), (Verdict.PASS, Why.NOT_IP, NO_REAL)),
    "mpls": (eth(Raw(b"\x00" * 40), type=0x8847), (Verdict.PASS, Why.MPLS, NO_REAL)),
    "ipv4 fragment": (eth(IP(src=CIP4, dst=VIP4, flags="MF") / TCP(sport=40000, dport=80)),
                      (Verdict.PASS, Why.FRAGMENT, NO_REAL)),
    "ipv6 fragment": (eth(IPv6(src=CIP6, dst=VIP6) / IPv6ExtHdrFragment(m=1)
                          / TCP(sport=40000, dport=443)), (Verdict.PASS, Why.FRAGMENT, NO_REAL)),
    "icmp to a vip": (eth(IP(src=CIP4, dst=VIP4) / ICMP()),
                      (Verdict.PASS, Why.NOT_TCP_UDP, NO_REAL)),
    "truncated": (tcp(CIP4, VIP4, 40000, 80, "A")[:30], (Verdict.PASS, Why.TRUNCATED, NO_REAL)),
    "not a vip": (tcp(CIP4, OTHER4, 40000, 80, "A"), (Verdict.PASS, Why.NOT_VIP, NO_REAL)),
    "ipv4 to the vip": (tcp(CIP4, VIP4, 40000, 80, "PA", payload=b"GET /"),
                        (Verdict.TO_REAL, Why.NONE, 7)),
    "ipv4 from the vip": (tcp(VIP4, CIP4, 80, 40000, "PA", payload=b"200 OK"),
                          (Verdict.TO_CLIENT, Why.NONE, 7)),
    "udp to the vip": (udp(CIP4, VIP4, 5353, 53), (Verdict.TO_REAL, Why.NONE, 8)),
    "udp from the vip": (udp(VIP4, CIP4, 53, 5353), (Verdict.TO_CLIENT, Why.NONE, 8)),
    "ipv6 to the vip": (tcp(CIP6, VIP6, 40000, 443, "A"), (Verdict.TO_REAL, Why.NONE, 9)),
    "ipv6 from the vip": (tcp(VIP6, CIP6, 443, 40000, "A"), (Verdict.TO_CLIENT, Why.NONE, 9)),
    "vlan tagged": (eth(Dot1Q(vlan=10) / IP(src=CIP4, dst=VIP4)
                        / TCP(sport=40000, dport=80, flags="A")),
                    (Verdict.TO_REAL, Why.NONE, 7)),
    "two vlan tags": (eth(Dot1Q(vlan=10) / Dot1Q(vlan=20) / IPv6(src=VIP6, dst=CIP6)
                          / TCP(sport=443, dport=40000, flags="A")),
                      (Verdict.TO_CLIENT, Why.NONE, 9)),
    "syn with a flow": (tcp(CIP4, VIP4, 40000, 80, "S"), EXC),
    "syn-ack with a flow": (tcp(VIP4, CIP4, 80, 40000, "SA"), EXC),
    "fin with a flow": (tcp(CIP4, VIP4, 40000, 80, "FA"), EXC),
    "rst with a flow": (tcp(VIP6, CIP6, 443, 40000, "R"), EXC),
    "unknown connection to the vip": (tcp(CIP4, VIP4, 40001, 80, "A"), EXC),
    "unknown connection from the vip": (tcp(VIP4, CIP4, 80, 40001, "A"), EXC),
    "udp on a tcp flow's ports": (udp(CIP4, VIP4, 40000, 80), EXC),
    "ipv4 to the first bytes of an ipv6 vip": (
        tcp(CIP4, "32.1.13.184", 40000, 80, "A"), (Verdict.PASS, Why.NOT_VIP, NO_REAL)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_frame_gets_its_verdict(cache, name):
    frame, expected = CASES[name]
    outs, exceptions = run(cache, [frame])
    assert outs == [tuple(int(x) for x in expected)]
    assert exceptions == ([0] if expected == EXC else [])


@pytest.mark.parametrize("link, frame, expected", [
    (Link.RAW, bytes(IP(src=CIP4, dst=VIP4) / TCP(sport=40000, dport=80, flags="A")),
     (Verdict.TO_REAL, Why.NONE, 7)),
    (Link.IPV6, bytes(IPv6(src=VIP6, dst=CIP6) / TCP(sport=443, dport=40000, flags="A")),
     (Verdict.TO_CLIENT, Why.NONE, 9)),
    (7, tcp(CIP4, VIP4, 40000, 80, "A"), (Verdict.PASS, Why.UNKNOWN_LINK, NO_REAL)),
])
def test_link_types(cache, link, frame, expected):
    assert run(cache, [frame], link=link)[0] == [tuple(int(x) for x in expected)]


def test_an_address_of_the_other_family_is_not_a_vip():
    c = FlowCache(8, SEED)
    c.set_vips([a("c000:264::")])  # the bytes of 192.0.2.100, then zeros, as IPv6
    assert run(c, [tcp(CIP4, VIP4, 40000, 80, "A")])[0] == [(Verdict.PASS, Why.NOT_VIP, NO_REAL)]


def test_set_vips_replaces_the_whole_set(cache):
    frame = tcp(CIP4, VIP4, 40000, 80, "A")
    cache.set_vips([a(VIP6)])
    assert run(cache, [frame])[0] == [(Verdict.PASS, Why.NOT_VIP, NO_REAL)]
    cache.set_vips([a(VIP4), a(VIP4)])
    assert cache.stats().vips == 1
    assert run(cache, [frame])[0] == [(Verdict.TO_REAL, Why.NONE, 7)]
    cache.set_vips([])
    assert run(cache, [frame])[0] == [(Verdict.PASS, Why.NOT_VIP, NO_REAL)]


# ---- the generation rule ---------------------------------------------------------------------

def test_after_an_exception_the_connection_waits_for_the_slow_path_until_the_next_batch(cache):
    data = tcp(CIP4, VIP4, 40000, 80, "PA", payload=b"x")
    fin = tcp(CIP4, VIP4, 40000, 80, "FA")
    other = tcp(CIP6, VIP6, 40000, 443, "A")
    reply = tcp(VIP4, CIP4, 80, 40000, "A")
    outs, exceptions = run(cache, [data, fin, data, other, reply])
    assert outs == [(Verdict.TO_REAL, Why.NONE, 7), EXC, EXC, (Verdict.TO_REAL, Why.NONE, 9), EXC]
    assert exceptions == [1, 2, 4]
    outs, exceptions = run(cache, [data, reply])
    assert outs == [(Verdict.TO_REAL, Why.NONE, 7), (Verdict.TO_CLIENT, Why.NONE, 7)]
    assert exceptions == []


def test_an_unknown_connection_stays_with_the_slow_path_until_its_flow_is_put(cache):
    new = Conn(6, a(CIP4), 41000, a(VIP4), 80)
    syn, data = tcp(CIP4, VIP4, 41000, 80, "S"), tcp(CIP4, VIP4, 41000, 80, "A", payload=b"y")
    assert run(cache, [syn, data, data]) == ([EXC] * 3, [0, 1, 2])
    assert cache.put(new, 3)
    assert run(cache, [data]) == ([(Verdict.TO_REAL, Why.NONE, 3)], [])


def test_a_deleted_flow_goes_back_to_the_slow_path(cache):
    data = tcp(CIP4, VIP4, 40000, 80, "A")
    assert cache.delete(TCP4)
    assert not cache.delete(TCP4)
    assert run(cache, [data]) == ([EXC], [0])


# ---- counters --------------------------------------------------------------------------------

def test_forwarded_frames_update_last_packets_and_payload_octets(cache):
    padded = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:fe")
                   / IP(src=CIP4, dst=VIP4) / TCP(sport=40000, dport=80, flags="PA")
                   / Raw(b"ab") / Padding(b"\0" * 10))  # Ethernet padding is no payload
    reply = tcp(VIP4, CIP4, 80, 40000, "PA", payload=b"hello")
    run(cache, [padded, reply, padded], times=[10.0, 10.5, 11.25])
    assert cache.get(TCP4) == FlowState(real=7, flags=0, last=11.25, packets=(2, 1),
                                        octets=(4, 5), untaken=9)
    assert cache.get(UDP4) == FlowState(real=8, flags=0, last=0.0, packets=(0, 0),
                                        octets=(0, 0), untaken=0)


def test_exceptions_do_not_count(cache):
    run(cache, [tcp(CIP4, VIP4, 40000, 80, "FA", payload=b"bye")], times=[5.0])
    assert cache.get(TCP4).packets == (0, 0) and cache.get(TCP4).last == 0.0


def test_take_returns_octets_since_the_last_take_and_starts_again(cache):
    data = tcp(CIP4, VIP4, 40000, 80, "PA", payload=b"abcd")
    run(cache, [data, data])
    absent = Conn(6, a(CIP4), 1, a(VIP4), 80)
    assert cache.take_octets([TCP4, absent, UDP4]) == [8, 0, 0]
    assert cache.take_octets([TCP4]) == [0]
    run(cache, [data])
    state = cache.get(TCP4)
    assert (state.octets, state.untaken) == ((12, 0), 4)  # totals since the put stay


def test_put_on_an_existing_flow_rebinds_and_keeps_its_counters(cache):
    run(cache, [tcp(CIP4, VIP4, 40000, 80, "PA", payload=b"abc")], times=[3.0])
    assert cache.put(TCP4, 11, flags=0x81, last=4.0)
    assert cache.get(TCP4) == FlowState(real=11, flags=0x81, last=4.0, packets=(1, 0),
                                        octets=(3, 0), untaken=3)
    assert run(cache, [tcp(VIP4, CIP4, 80, 40000, "A")])[0] == [(Verdict.TO_CLIENT, Why.NONE, 11)]
    assert len(cache) == 3


def test_get_many_and_flows_see_every_flow(cache):
    absent = Conn(17, a(CIP6), 1, a(VIP6), 53)
    states = cache.get_many([TCP6, absent, TCP4])
    assert [s.real if s else None for s in states] == [9, None, 7]
    run(cache, [udp(CIP4, VIP4, 5353, 53, b"12345")])
    seen = dict(cache.flows(take=True))
    assert {c: s.real for c, s in seen.items()} == FLOWS
    assert seen[UDP4].untaken == 5
    assert cache.get(UDP4).untaken == 0


def test_clear_drops_every_flow_but_keeps_the_vips(cache):
    cache.clear()
    assert len(cache) == 0 and cache.get(TCP4) is None and cache.stats().vips == 2
    assert run(cache, [tcp(CIP4, VIP4, 40000, 80, "A")]) == ([EXC], [0])
    assert cache.check() == 0


def test_a_full_cache_refuses_new_flows():
    c = FlowCache(4, SEED)
    conns = [Conn(6, a(CIP4), port, a(VIP4), 80) for port in range(1000, 1005)]
    assert [c.put(x, 1) for x in conns] == [True] * 4 + [False]
    assert c.put(conns[0], 2)  # an update needs no room
    assert c.stats().put_failures == 1 and len(c) == 4
    assert c.delete(conns[1]) and c.put(conns[4], 3)
    assert c.check() == 0


def test_many_flows_with_churn_keep_the_cache_consistent():
    rng = random.Random(5)
    c = FlowCache(1024, SEED)
    live: dict[Conn, int] = {}
    for step in range(6000):
        conn = Conn(rng.choice((6, 17)), a(CIP4), rng.randrange(1500), a(VIP4), 80)
        if rng.random() < 0.55:
            ok = c.put(conn, step % 1000)
            assert ok == (conn in live or len(live) < 1024)
            if ok:
                live[conn] = step % 1000
        else:
            assert c.delete(conn) == (live.pop(conn, None) is not None)
    assert c.check() == 0 and len(c) == len(live)
    assert {x: s.real for x, s in c.flows()} == live


def test_a_lazy_cache_touches_memory_only_as_flows_arrive():
    before = rss_bytes()
    if before is None:
        pytest.skip("no /proc/self/statm")
    c = FlowCache(1 << 20, SEED, prefault=False)
    assert rss_bytes() - before < 0.1 * c.stats().memory_bytes
    c.set_vips([a(VIP4)])
    conns = [Conn(6, a(CIP4), port, a(VIP4), 80) for port in range(1024, 3024)]
    assert all(c.put(x, port % 7) for port, x in enumerate(conns))
    frames = [tcp(CIP4, VIP4, x.cport, 80, "A") for x in conns]
    assert run(c, frames)[0] == [(Verdict.TO_REAL, Why.NONE, port % 7)
                                 for port in range(len(conns))]
    assert c.check() == 0
    c.close()


# ---- bad arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, word", [
    (dict(capacity=0), "capacity"), (dict(capacity=3), "capacity"),
    (dict(capacity=2**25), "capacity"), (dict(capacity="8"), "capacity"),
    (dict(capacity=8, seed=b"short"), "seed"), (dict(capacity=8, hash="md5"), "hash"),
])
def test_bad_cache_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        FlowCache(**kwargs)


@pytest.mark.parametrize("call, word", [
    (lambda c: c.put(Conn(1, a(CIP4), 1, a(VIP4), 80), 1), "conn.proto"),
    (lambda c: c.put(Conn(6, b"\1\2\3\4\5", 1, a(VIP4), 80), 1), "conn.cip"),
    (lambda c: c.put(Conn(6, a(CIP6), 1, a(VIP4), 80), 1), "family"),
    (lambda c: c.put(Conn(6, a(CIP4), 70000, a(VIP4), 80), 1), "conn.cport"),
    (lambda c: c.put(TCP4, NO_REAL), "real_code"),
    (lambda c: c.put(TCP4, 1, flags=256), "flags"),
    (lambda c: c.put(TCP4, 1, last="now"), "last"),
    (lambda c: c.get(("not", "a", "conn")), "conn"),
    (lambda c: c.take_octets([TCP4, None]), "conn"),
    (lambda c: c.set_vips([b"\1\2\3"]), "VIP address"),
])
def test_bad_flow_arguments(cache, call, word):
    with pytest.raises(ValueError, match=word):
        call(cache)
    assert cache.check() == 0 and len(cache) == 3


FRAME = tcp(CIP4, VIP4, 40000, 80, "A")


@pytest.mark.parametrize("args, word", [
    (("text", [0], [1], [0.0]), "buf"),
    ((FRAME, [0], [len(FRAME) + 1], [0.0]), "past the"),
    ((FRAME, [len(FRAME) + 1], [0], [0.0]), "offsets"),
    ((FRAME, [-1], [1], [0.0]), "offsets"),
    ((FRAME, [0, 1], [1], [0.0, 0.0]), "lengths"),
    ((FRAME, [0], [2**32], [0.0]), "lengths"),
    ((FRAME, [0], [1], [0.0, 1.0]), "times"),
    ((FRAME, [0], [1], ["noon"]), "times"),
    ((FRAME, [0], [1], [0.0], "ethernet"), "link"),
])
def test_bad_run_arguments_change_nothing(cache, args, word):
    before = cache.stats()
    with pytest.raises(ValueError, match=word):
        cache.run(*args)
    after = cache.stats()
    assert (after.generation, after.frames) == (before.generation, before.frames)
    assert cache.get(TCP4).packets == (0, 0)


def test_arrays_buffers_and_lists_give_the_same_results(cache):
    frames = [FRAME, tcp(VIP4, CIP4, 80, 40000, "A"), CASES["arp"][0]]
    buf, offs, lens = layout(frames)
    lists = cache.run(buf, offs, lens, [1.0, 2.0, 3.0])
    arrays = cache.run(bytearray(buf), array("Q", offs), array("I", lens),
                       array("d", [1.0, 2.0, 3.0]))
    for x, y in zip(lists, arrays):
        assert x.tolist() == y.tolist()
    empty = cache.run(b"", [], [], [])
    assert [len(x) for x in empty] == [0, 0, 0, 0]


def test_a_batch_keeps_its_results_after_the_next_run(cache):
    first = cache.run(*layout([FRAME]), [1.0])
    cache.run(*layout([CASES["arp"][0], FRAME]), [2.0, 3.0])
    assert (first.verdicts.tolist(), first.reals.tolist()) == ([Verdict.TO_REAL], [7])


# ---- the rules, against a Python model -------------------------------------------------------

@dataclass
class Model:
    """The fast path's rules in a few lines, on the pure-Python decoder."""

    vips: set[bytes]
    flows: dict[Conn, int]
    counters: dict[Conn, list] = field(default_factory=dict)  # last, packets, octets

    def run(self, frames: list[bytes], times: list[float], link=Link.ETHERNET):
        outs, exceptions, held = [], [], set()
        for i, f in enumerate(frames):
            pkt = framing.decode(f, link)
            if pkt.reason is not Reason.OK:
                outs.append((Verdict.PASS, int(pkt.reason), NO_REAL))
                continue
            if pkt.dst in self.vips:
                conn, d = Conn(pkt.proto, pkt.src, pkt.sport, pkt.dst, pkt.dport), 0
            elif pkt.src in self.vips:
                conn, d = Conn(pkt.proto, pkt.dst, pkt.dport, pkt.src, pkt.sport), 1
            else:
                outs.append((Verdict.PASS, Why.NOT_VIP, NO_REAL))
                continue
            real = self.flows.get(conn)
            if real is not None and conn not in held and not (pkt.proto == 6 and pkt.flags & 7):
                outs.append((Verdict.TO_CLIENT if d else Verdict.TO_REAL, Why.NONE, real))
                c = self.counters.setdefault(conn, [0.0, [0, 0], [0, 0]])
                c[0] = times[i]
                c[1][d] += 1
                c[2][d] += pkt.payload_len
                continue
            if real is not None:
                held.add(conn)
            outs.append(EXC)
            exceptions.append(i)
        return [tuple(int(x) for x in o) for o in outs], exceptions


VIPS = ["192.0.2.100", "192.0.2.101", "2001:db8::100"]
NOT_VIPS = ["203.0.113.9", "2001:db8:ff::9"]
CLIENTS = {4: ["198.51.100.1", "198.51.100.2"], 6: ["2001:db8:1::1", "2001:db8:1::2"]}
CONNS = [(proto, cip, cport, vip, vport)
         for vip in VIPS + NOT_VIPS for cip in CLIENTS[ipaddress.ip_address(vip).version]
         for proto in (6, 17) for cport in (1024, 1025) for vport in (80, 443)]


def conn_of(spec) -> Conn:
    proto, cip, cport, vip, vport = spec
    return Conn(proto, a(cip), cport, a(vip), vport)


@lru_cache(maxsize=None)
def frame_of(spec, back: bool, flags: str, size: int, vlan: int, cut: int) -> bytes:
    proto, cip, cport, vip, vport = spec
    src, dst, sport, dport = (vip, cip, vport, cport) if back else (cip, vip, cport, vport)
    ip = IP(src=src, dst=dst) if ":" not in src else IPv6(src=src, dst=dst)
    l4 = TCP(sport=sport, dport=dport, flags=flags) if proto == 6 else UDP(sport=sport,
                                                                           dport=dport)
    layers = ([Dot1Q(vlan=vlan)] if vlan else []) + [ip / l4 / (b"z" * size)]
    data = eth(*layers)
    return data[:cut] if cut else data


def build(spec) -> bytes:
    i, back, flags, size, vlan, cut = spec
    return frame_of(CONNS[i], back, flags, size, vlan, cut)


@st.composite
def scenarios(draw):
    """Flows, batches of frames mostly of those flows, and the flows closed after batch 1."""
    any_conn = st.integers(0, len(CONNS) - 1)
    flows = draw(st.dictionaries(any_conn, st.integers(0, 65534), max_size=24))
    ours = st.sampled_from(sorted(flows)) if flows else any_conn
    spec = st.tuples(
        st.one_of(ours, ours, ours, any_conn), st.booleans(),
        st.sampled_from(["A", "PA", "A", "PA", "A", "S", "SA", "FA", "R", "RA", "U"]),
        st.sampled_from([0, 1, 7, 300]), st.sampled_from([0, 0, 0, 12]),
        st.sampled_from([0] * 12 + [20, 41, 60]))
    batches = draw(st.lists(st.lists(spec, max_size=60), min_size=1, max_size=3))
    gone = draw(st.sets(st.sampled_from(sorted(flows)))) if flows else set()
    return flows, batches, gone


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios(), hash_fn=st.sampled_from(HASHES))
def test_random_batches_get_the_verdicts_of_the_model(scenario, hash_fn):
    flows, batches, gone = scenario
    cache = FlowCache(256, SEED, hash=hash_fn)
    cache.set_vips([a(v) for v in VIPS])
    model = Model({a(v) for v in VIPS}, {conn_of(CONNS[i]): r for i, r in flows.items()})
    for conn, real in model.flows.items():
        assert cache.put(conn, real)
    t = 100.0
    for n, specs in enumerate(batches):
        frames = [build(s) for s in specs]
        times = [t + k * 0.25 for k in range(len(frames))]
        t += 60
        assert run(cache, frames, times) == model.run(frames, times)
        if n == 0:  # between batches the slow path closes some connections
            for i in gone:
                conn = conn_of(CONNS[i])
                assert cache.delete(conn) == (model.flows.pop(conn, None) is not None)
    for conn in model.flows:
        last, packets, octets = model.counters.get(conn, [0.0, [0, 0], [0, 0]])
        state = cache.get(conn)
        assert (state.last, state.packets, state.octets) == (last, tuple(packets), tuple(octets))
    assert cache.check() == 0


def test_a_long_batch_through_the_pipeline_matches_the_model():
    """Thousands of frames over hundreds of connections (well past the prefetch depth)."""
    rng = random.Random(11)
    template = tcp(CIP4, VIP4, 1, 80, "A", payload=b"0123456789")
    tcp_at = 14 + 20

    def frame(cport: int, back: bool, flags: int) -> bytes:
        f = bytearray(template)
        if back:  # from the VIP: swap addresses and ports
            f[26:30], f[30:34] = f[30:34], f[26:30]
            f[tcp_at:tcp_at + 4] = (80).to_bytes(2, "big") + cport.to_bytes(2, "big")
        else:
            f[tcp_at:tcp_at + 2] = cport.to_bytes(2, "big")
        f[tcp_at + 13] = flags
        return bytes(f)

    cache = FlowCache(1024, SEED)
    cache.set_vips([a(VIP4)])
    flows = {Conn(6, a(CIP4), p, a(VIP4), 80): p % 300 for p in range(1000, 1600)}
    for conn, real in flows.items():
        cache.put(conn, real)
    model = Model({a(VIP4)}, flows)
    frames = [frame(rng.randrange(900, 1700), rng.random() < 0.5,
                    rng.choice([0x10] * 30 + [0x18] * 30 + [0x02, 0x11, 0x04]))
              for _ in range(5000)]
    times = [float(i) for i in range(len(frames))]
    assert run(cache, frames, times) == model.run(frames, times)
    for conn, (last, packets, octets) in model.counters.items():
        assert cache.get(conn) == FlowState(flows[conn], 0, last, tuple(packets),
                                            tuple(octets), sum(octets))


CAPTURES = captures()


@pytest.mark.parametrize("name", CAPTURES or ["(no captures)"])
def test_real_captures_get_the_verdicts_of_the_model(name):
    """Servers (the targets of SYNs) are the VIPs; every other connection of the capture has
    a flow: handshakes, closes and the unknown ones go to the slow path, the rest is fast."""
    if not CAPTURES:
        pytest.skip("../shared/samples is absent")
    recs = list(capture_frames(name))
    vips, conns = set(), set()
    for _, link, data in recs:
        pkt = framing.decode(data, link)
        if pkt.reason is Reason.OK and pkt.proto == 6 and pkt.flags & 0x12 == 0x02:
            vips.add(pkt.dst)
            conns.add(Conn(6, pkt.src, pkt.sport, pkt.dst, pkt.dport))
    flows = {c: i % 60000 for i, c in enumerate(sorted(conns, key=key_of)) if i % 5}
    cache = FlowCache(1 << max(4, len(flows).bit_length()), SEED)
    cache.set_vips(vips)
    for conn, real in flows.items():
        assert cache.put(conn, real)
    model = Model(vips, flows)
    pos = 0
    while pos < len(recs):  # batches of up to 256 frames of one link type
        link = recs[pos][1]
        end = pos
        while end < len(recs) and end - pos < 256 and recs[end][1] == link:
            end += 1
        frames = [r[2] for r in recs[pos:end]]
        times = [float(r[0]) for r in recs[pos:end]]
        assert run(cache, frames, times, link) == model.run(frames, times, link)
        pos = end
    for conn, (last, packets, octets) in model.counters.items():
        state = cache.get(conn)
        assert (state.last, state.packets, state.octets) == (last, tuple(packets), tuple(octets))
