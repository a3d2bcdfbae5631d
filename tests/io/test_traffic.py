"""The demo and benchmark traffic generators: what they write is read back with the project's
own reader and parsers (never the generators' bookkeeping) and replayed through a switch."""
from __future__ import annotations

import collections
import re
import shutil
import subprocess
from dataclasses import dataclass, field, fields, replace

import pytest

from tests.engine.net import config
from weboslb.engine.events import Bound, Persist, Verdict
from weboslb.engine.switch import Switch
from weboslb.io import traffic
from weboslb.io.capture import open_capture
from weboslb.io.traffic import (
    GATEWAY_MACS,
    SWITCH_MAC,
    SYN_OPTIONS,
    VIP_CACHE,
    VIP_WWW,
    VIPS,
    Mix,
    TcpPath,
    bench_capture,
    cache,
    cached_bench_capture,
    demo_capture,
    payload_sum,
)
from weboslb.proto import ftp, http, tls
from weboslb.proto.checksum import l4_checksum_ok, ones_sum
from weboslb.proto.frame import decode, payload
from weboslb.proto.packet import Reason
from weboslb.proto.rewrite import build_tcp, seq_diff

SYN, ACK, FIN, RST = 0x02, 0x10, 0x01, 0x04
COOKIE = re.compile(rb"[0-9A-F]{32}")
SERVICES = {(VIP_WWW, 80), (VIP_WWW, 443), (VIP_WWW, 21), (VIP_CACHE, 80)}

# the address plan the demo is made for (the shape of weboslb/config/default.yaml)
PLAN_CONFIG = """
l3:
  if:
    1: {ena: true, addr: 192.0.2.10, mask: 255.255.255.0, vlan: 10}
    2: {ena: true, addr: 10.0.1.1, mask: 255.255.255.0, vlan: 20}
slb:
  on: true
  adv: {direct: true}
  real:
    1: {ena: true, rip: 10.0.1.11}
    2: {ena: true, rip: 10.0.1.12}
    3: {ena: true, rip: 10.0.1.13}
    4: {ena: true, rip: 10.0.1.21}
    5: {ena: true, rip: 10.0.1.22}
    6: {ena: true, rip: 10.0.1.31}
    7: {ena: true, rip: 10.0.1.32}
    8: {ena: true, rip: 10.0.1.33}
  group:
    1: {metric: roundrobin, reals: [1, 2, 3]}
    2: {reals: [4, 5]}
    3: {metric: hash, reals: [6, 7, 8]}
  virt:
    1:
      ena: true
      vip: 192.0.2.100
      service:
        80:
          app: http
          group: 1
          dbind: ena
          ptmout: 10
          pbind: {mode: cookie, cookie: passive, name: JSESSIONID, offset: 1, length: 32,
                  rcount: 2}
        443: {app: https, group: 1, dbind: ena, pbind: sslid, ptmout: 15}
        21: {app: ftp, group: 2, ftpp: true, pbind: clientip, ptmout: 10}
        20: {app: ftp-data, group: 2}
    2:
      ena: true
      vip: 192.0.2.101
      service:
        80: {app: http, group: 3, dbind: ena, httpslb: urlhash, urlhash: 64}
"""


# ---- reading a capture back -----------------------------------------------------------

@dataclass
class Connection:
    """One TCP connection of a capture, as the project's decoder sees it."""

    client: bytes
    cport: int
    vip: bytes
    vport: int
    opened_by_vip: bool
    times: list[float] = field(default_factory=list)
    flags: list[tuple[bool, int]] = field(default_factory=list)  # (from client, flags)
    streams: tuple[bytearray, bytearray] = field(default_factory=lambda: (bytearray(),
                                                                          bytearray()))
    next_seq: list[int | None] = field(default_factory=lambda: [None, None])
    acks: list[int | None] = field(default_factory=lambda: [None, None])

    def add(self, t: float, from_client: bool, pkt, data: bytes) -> None:
        """Check the segment's sequence and acknowledgement numbers against the stream."""
        side, other = (0, 1) if from_client else (1, 0)
        expected = self.next_seq[side]
        if pkt.flags & SYN:
            assert expected is None, "a second SYN"
        else:
            assert pkt.seq == expected, f"segment out of sequence: {pkt.seq} != {expected}"
        if pkt.flags & ACK:
            assert self.next_seq[other] is not None, "ACK before the other side's SYN"
            assert 0 <= seq_diff(self.next_seq[other], pkt.ack), "acknowledges unsent bytes"
            if self.acks[side] is not None:
                assert seq_diff(pkt.ack, self.acks[side]) >= 0, "acknowledgement went back"
            self.acks[side] = pkt.ack
        step = len(data) + (1 if pkt.flags & (SYN | FIN) else 0)
        self.next_seq[side] = (pkt.seq + step) & 0xFFFFFFFF
        self.streams[side].extend(data)
        self.times.append(t)
        self.flags.append((from_client, pkt.flags))


@dataclass
class Survey:
    frames: int
    first: float
    last: float
    connections: list[Connection]  # in the order of their first frame


def survey(path) -> Survey:
    """Every frame decoded, checksummed and filed under its connection."""
    conns: dict[tuple, Connection] = {}
    count, first, last = 0, None, None
    with open_capture(path) as cap:
        for t, link, frame in cap.frames():
            pkt = decode(frame, link)
            assert pkt.reason is Reason.OK and pkt.family == 4 and pkt.proto == 6
            segment = frame[pkt.l4_off:]
            assert l4_checksum_ok(pkt.src, pkt.dst, 6, segment), "bad TCP checksum"
            assert ones_sum(frame[pkt.l3_off:pkt.l4_off]) == 0xFFFF, "bad IP checksum"
            from_client = pkt.dst in VIPS
            macs = (frame[6:12], frame[0:6]) if from_client else (frame[0:6], frame[6:12])
            assert macs[0] in GATEWAY_MACS and macs[1] == SWITCH_MAC
            key = (pkt.src, pkt.sport, pkt.dst, pkt.dport) if from_client else \
                (pkt.dst, pkt.dport, pkt.src, pkt.sport)
            conn = conns.get(key)
            if conn is None:
                assert pkt.flags == SYN, "a connection must start with a SYN"
                conn = conns[key] = Connection(*key, opened_by_vip=not from_client)
            conn.add(t, from_client, pkt, payload(frame, pkt))
            assert last is None or t >= last, "frames out of time order"
            first = t if first is None else first
            last = t
            count += 1
        assert cap.error is None
    return Survey(count, first, last, list(conns.values()))


def requests(stream: bytes) -> list[http.RequestResult]:
    out, pos = [], 0
    while pos < len(stream):
        r = http.parse_request(stream[pos:])
        assert r.status is http.HttpStatus.OK
        out.append(r)
        pos += r.head_len
    return out


def responses(stream: bytes) -> list[http.ResponseResult]:
    out, pos = [], 0
    while pos < len(stream):
        r = http.parse_response(stream[pos:])
        assert r.status is http.HttpStatus.OK and r.code == 200
        length = int(dict(r.headers)[b"content-length"])
        out.append(r)
        pos += r.head_len + length
    assert pos == len(stream)
    return out


def lines(stream: bytes) -> list[bytes]:
    done, rest = ftp.split_lines(bytes(stream))
    assert rest == b""
    return done


def mix_of(s: Survey) -> dict[str, int]:
    """The Mix fields, counted from the capture with the project's parsers."""
    n = collections.Counter()
    urls: set[bytes] = set()
    issued: dict[bytes, bytes] = {}  # TLS session ID -> the address that got it
    cookies: set[bytes] = set()
    ftp_clients: set[bytes] = set()
    passive: set[tuple[bytes, int]] = set()
    active: set[tuple[bytes, int]] = set()
    for c in s.connections:
        up, down = c.streams
        if (c.vip, c.vport) == (VIP_WWW, 80):
            n["http_connections"] += 1
            reqs, resps = requests(up), responses(down)
            assert len(reqs) == len(resps) >= 1
            sent = http.find_cookie(reqs[0].cookies, "JSESSIONID")
            n["cookie_connections"] += sent is not None
            for req, resp in zip(reqs, resps):  # each answer comes before the next request
                value = http.find_cookie(req.cookies, "JSESSIONID")
                assert value is None or value in cookies, "a cookie nobody set"
                for name, value, attrs in resp.set_cookies:
                    assert name == b"JSESSIONID" and COOKIE.fullmatch(value) and attrs == b"Path=/"
                    assert value not in cookies
                    cookies.add(value)
                    n["cookie_sets"] += 1
        elif (c.vip, c.vport) == (VIP_WWW, 443):
            n["https_connections"] += 1
            hello, answer = tls.parse_hello(up), tls.parse_hello(down)
            assert hello.status is answer.status is tls.HelloStatus.OK
            assert hello.hello.kind is tls.HelloKind.CLIENT
            assert answer.hello.kind is tls.HelloKind.SERVER and not answer.hello.tls13
            sid = answer.hello.session_id
            assert len(sid) == 32
            if hello.hello.session_id:
                assert hello.hello.session_id == sid and sid in issued
                n["tls_resumed"] += 1
                n["tls_roaming"] += issued[sid] != c.client
            else:
                assert sid not in issued
                issued[sid] = c.client
                n["tls_full"] += 1
        elif (c.vip, c.vport) == (VIP_WWW, 21):
            n["ftp_connections"] += 1
            n["ftp_repeat"] += c.client in ftp_clients
            ftp_clients.add(c.client)
            for line in lines(up):
                r = ftp.parse_line(line, True)
                if r.ok:
                    assert r.kind is ftp.FtpKind.PORT and r.addr == c.client
                    active.add((r.addr, r.port))
            for line in lines(down):
                r = ftp.parse_line(line, False)
                if r.ok:
                    assert r.kind is ftp.FtpKind.PASV227 and r.addr == VIP_WWW
                    passive.add((c.client, r.port))
            assert lines(down)[0].startswith(b"220 ") and lines(down)[-1].startswith(b"221 ")
        elif c.vip == VIP_WWW and c.vport == 20:
            assert c.opened_by_vip and (c.client, c.cport) in active, "unannounced active data"
            n["ftp_active"] += 1
        elif c.vip == VIP_WWW:
            assert not c.opened_by_vip and (c.client, c.vport) in passive, \
                "unannounced passive data"
            n["ftp_passive"] += 1
        else:
            assert (c.vip, c.vport) == (VIP_CACHE, 80)
            n["urlhash_connections"] += 1
            reqs = requests(up)
            assert len(responses(down)) == len(reqs)
            n["urlhash_requests"] += len(reqs)
            urls.update(r.target for r in reqs)
    n["urls"] = len(urls)
    return {f.name: n[f.name] for f in fields(Mix)}


# ---- fixtures -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.pcap"
    plan = demo_capture(path, seed=5, clients=60, duration=30.0)
    return plan, survey(path)


# ---- the segment builder --------------------------------------------------------------

def test_segments_are_the_frames_scapy_and_build_tcp_make():
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    client, vip = bytes((198, 51, 100, 7)), VIP_WWW
    l2 = SWITCH_MAC + GATEWAY_MACS[1] + b"\x08\x00"
    path = TcpPath(l2, client, vip, ttl=52)
    for flags, data, options in ((SYN, b"", SYN_OPTIONS), (ACK | 0x08, b"GET / HTTP/1.1\r\n\r\nx",
                                                             b""), (FIN | ACK, b"", b"")):
        ours = path.segment(40001, 80, 123456789, 987654321 if flags & ACK else 0, flags,
                            64240, 4242, data, options)
        theirs = (Ether(src=GATEWAY_MACS[1].hex(":"), dst=SWITCH_MAC.hex(":"))
                  / IP(src="198.51.100.7", dst="192.0.2.100", ttl=52, id=4242, flags="DF")
                  / TCP(sport=40001, dport=80, seq=123456789, ack=987654321 if flags & ACK else 0,
                        flags=flags, window=64240,
                        options=[("MSS", 1460), ("NOP", None), ("WScale", 7), ("NOP", None),
                                 ("NOP", None), ("SAckOK", b"")] if options else [])
                  / data)
        assert ours == bytes(theirs)
    made = TcpPath(l2, client, vip).segment(40001, 80, 1, 2, ACK, 512, 0, b"odd")
    assert made == build_tcp(l2, 4, client, vip, 40001, 80, 1, 2, ACK, b"odd", window=512)
    assert TcpPath.from_frame(bytes(theirs)).segment(40001, 80, 1, 2, ACK, 5, 9) == \
        TcpPath(l2, client, vip, 52).segment(40001, 80, 1, 2, ACK, 5, 9)


def test_payload_sum_is_the_ones_complement_sum():
    import random
    rng = random.Random(3)
    for n in (0, 1, 2, 3, 1459, 1460, 4001):
        data = rng.randbytes(n)
        assert payload_sum(data) == ones_sum(data) % 0xFFFF
    assert payload_sum(b"\xff\xff") == 0  # ones' complement -0: the same residue as +0


def test_a_template_must_be_plain_ethernet_ipv4_tcp():
    with pytest.raises(ValueError, match="untagged Ethernet/IPv4/TCP"):
        TcpPath.from_frame(b"\x00" * 60)
    with pytest.raises(ValueError, match="untagged Ethernet header"):
        TcpPath(b"\x00" * 12 + b"\x81\x00", VIP_WWW, VIP_CACHE)


# ---- the demo capture -----------------------------------------------------------------

def test_demo_counts_are_what_the_capture_holds(demo):
    plan, s = demo
    assert mix_of(s) == {f.name: getattr(plan, f.name) for f in fields(Mix)}
    assert s.frames == plan.packets and (s.first, s.last) == pytest.approx((plan.start, plan.end))
    assert len({c.client for c in s.connections}) == plan.addresses
    assert plan.addresses > plan.clients  # each roaming client added an address


def test_demo_shows_every_persistence_case(demo):
    plan, _ = demo
    assert plan.cookie_sets and plan.cookie_connections
    assert plan.tls_full and plan.tls_resumed > plan.tls_roaming > 0
    assert plan.ftp_passive and plan.ftp_active and plan.ftp_repeat
    assert plan.urlhash_requests > plan.urlhash_connections and plan.urls >= 5
    assert plan.clients == 60
    # mostly HTTP and HTTPS, some FTP
    web = plan.http_connections + plan.https_connections
    assert web > plan.urlhash_connections and web > 4 * plan.ftp_connections > 0


def test_demo_connections_are_whole_and_timed_like_a_network(demo):
    plan, s = demo
    assert 20.0 < plan.duration < 45.0
    rtts = []
    for c in s.connections:
        opener = not c.opened_by_vip
        assert c.flags[0] == (opener, SYN) and c.flags[1] == (not opener, SYN | ACK)
        assert c.flags[2] == (opener, ACK)
        fins = [(side, f) for side, f in c.flags if f & FIN]
        assert len(fins) == 2 and fins[0][0] != fins[1][0] and c.flags[-1][1] == ACK
        assert not any(f & RST for _, f in c.flags)
        if opener:
            rtts.append(c.times[2] - c.times[1])
    assert 0.001 < min(rtts) and max(rtts) < 0.012
    per_client = collections.Counter(c.client for c in s.connections)
    assert sum(per_client.values()) / len(per_client) > 3  # several connections each


def test_demo_is_deterministic_for_a_seed(tmp_path):
    a, b, c = tmp_path / "a.pcap", tmp_path / "b.pcap", tmp_path / "c.pcap"
    plan_a = demo_capture(a, seed=2, clients=8, duration=10)
    plan_b = demo_capture(b, seed=2, clients=8, duration=10)
    demo_capture(c, seed=3, clients=8, duration=10)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert replace(plan_a, path=b) == plan_b


def test_demo_refuses_impossible_sizes(tmp_path):
    with pytest.raises(ValueError, match=r"demo clients must be 1\.\.508"):
        demo_capture(tmp_path / "x.pcap", clients=0)
    with pytest.raises(ValueError, match="duration must be positive"):
        demo_capture(tmp_path / "x.pcap", duration=0)
    assert not (tmp_path / "x.pcap").exists()


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_the_demo_without_complaint(demo):
    plan, _ = demo
    out = subprocess.run(["tshark", "-r", str(plan.path), "-q", "-z", "expert,warn"],
                         check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Errors" not in out.stdout and "Warns" not in out.stdout, out.stdout


# ---- replayed through a switch --------------------------------------------------------

def test_the_switch_hits_persistence_for_every_mode(demo):
    plan, _ = demo
    switch = Switch(config(PLAN_CONFIG))
    events = []
    with open_capture(plan.path) as cap:
        for batch in cap.batches():
            switch.process_batch(batch.buf, batch.offsets, batch.lengths, batch.times)
            events += switch.drain()
    hits = {pbind: switch.counts["persistence hits " + pbind] for pbind in plan.expected_hits()}
    assert hits == plan.expected_hits()
    assert switch.verdicts[Verdict.RESET] == 0
    # a roaming client's resumption: a hit from an address that never had a full handshake
    bound = [e for e in events if isinstance(e, Bound)]
    issued = {e.conn.cip for e in bound if e.pbind == "sslid" and e.persist is Persist.NONE}
    roaming = [e for e in bound if e.pbind == "sslid" and e.persist is Persist.HIT
               and e.conn.cip not in issued]
    assert roaming
    # URL hashing: every URL to one cache, whoever asks
    caches = collections.defaultdict(set)
    for e in bound:
        if e.pbind == "urlhash":
            caches[e.key].add(e.real)
    assert len(caches) == plan.urls and all(len(reals) == 1 for reals in caches.values())


# ---- the benchmark capture ------------------------------------------------------------

@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.pcap"
    plan = bench_capture(path, packets=30_000, seed=4)
    return plan, survey(path)  # sequence numbers, checksums, MACs, time order


def test_bench_capture_has_the_frames_asked_for_and_many_clients(bench):
    plan, s = bench
    assert plan.packets == s.frames == 30_000
    clients = {c.client for c in s.connections}
    assert len(clients) == plan.clients > 30_000 // 25  # ~20 frames a client
    assert all(ip[:2] in (b"\xc6\x12", b"\xc6\x13") for ip in clients)  # 198.18.0.0/15
    opened = collections.Counter((c.vip, c.vport) for c in s.connections
                                 if (c.vip, c.vport) in SERVICES)
    # the sessions the plan counts are those that begin in the capture
    assert opened == {(VIP_WWW, 80): plan.http_connections,
                      (VIP_WWW, 443): plan.https_connections,
                      (VIP_WWW, 21): plan.ftp_connections,
                      (VIP_CACHE, 80): plan.urlhash_connections}
    assert plan.cookie_sets and plan.tls_full and plan.ftp_passive + plan.ftp_active


def test_bench_connections_have_realistic_lengths(bench):
    _, s = bench
    whole = [c for c in s.connections if sum(1 for _, f in c.flags if f & FIN) == 2]
    by_port = collections.defaultdict(list)
    for c in whole:
        by_port[c.vport if c.vport in (80, 443, 21) else "data"].append(len(c.flags))
    mean = {port: sum(n) / len(n) for port, n in by_port.items()}
    assert mean[443] > 15 and mean[80] > 10 and mean[21] > 20  # handshakes, records, lines


def test_bench_is_deterministic_and_refuses_nothing_to_write(tmp_path):
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    bench_capture(a, packets=2000, seed=1)
    bench_capture(b, packets=2000, seed=1)
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(ValueError, match="at least 1"):
        bench_capture(tmp_path / "c.pcap", packets=0)


def test_the_bench_capture_is_cached_per_version(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    made = []
    real = cache.bench_capture

    def counting(path, **kw):
        made.append(path)
        return real(path, **kw)

    monkeypatch.setattr(cache, "bench_capture", counting)
    first = cached_bench_capture(500, seed=2)
    assert first.parent == tmp_path / "cache" / "weboslb" and first.stat().st_size > 500 * 54
    assert cached_bench_capture(500, seed=2) == first and len(made) == 1  # reused
    monkeypatch.setattr(cache, "VERSION", cache.VERSION + 1)
    second = cached_bench_capture(500, seed=2)
    assert second != first and len(made) == 2  # rebuilt for the new generator
    assert not first.exists() and second.read_bytes() == made[1].read_bytes()
    assert sorted(p.name for p in second.parent.iterdir()) == [second.name]  # no temp files


def test_the_cache_falls_back_to_home_for_a_relative_xdg_path(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert traffic.cache_dir() == tmp_path / ".cache" / "weboslb"
