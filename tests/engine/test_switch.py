"""The switch engine, scenario by scenario: frames in, verdicts, reals and table state out."""
from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import ARP, Ether

from tests.engine.net import Flow, config, http_request, http_response, tcp, tls_hello, udp
from weboslb.engine.events import Bound, Closed, Learned, Persist, Verdict, Why
from weboslb.engine.session import TcpState
from weboslb.engine.switch import Switch

VIP = "192.0.2.100"

BASE = """
slb:
  on: true
  adv: {{direct: true{adv}}}
  real:
    1: {{ena: true, rip: 10.0.1.11}}
    2: {{ena: true, rip: 10.0.1.12}}
    3: {{ena: true, rip: 10.0.1.13}}
  group:
    1: {{metric: {metric}, reals: [1, 2, 3]}}
  virt:
    1:
      ena: true
      vip: 192.0.2.100
      service:
        {port}: {service}
"""


def make(service: str = "{group: 1}", *, metric: str = "roundrobin", port: int = 80,
         frames: bool = False, adv: str = "") -> Switch:
    text = BASE.format(metric=metric, port=port, service=service, adv=adv)
    return Switch(config(text), frames=frames, seed=bytes(16))


def run(sw: Switch, frames, t: float = 100.0):
    return [sw.process(f, t) for f in frames]


def bound(sw: Switch) -> list[Bound]:
    return [e for e in sw.drain() if isinstance(e, Bound)]


# ---- Layer 4 ----------------------------------------------------------------------------------

def test_a_connection_goes_to_one_real_both_ways():
    sw = make()
    f = Flow("198.51.100.1", 40000, VIP, 80)
    acts = run(sw, [*f.handshake(), f.send(b"hello"), f.reply(b"world"), *f.close()])
    verdicts = [a.verdict for a in acts]
    assert verdicts == [Verdict.TO_REAL, Verdict.TO_CLIENT, Verdict.TO_REAL, Verdict.TO_REAL,
                        Verdict.TO_CLIENT, Verdict.TO_REAL, Verdict.TO_CLIENT, Verdict.TO_REAL]
    assert len({a.real for a in acts}) == 1


def test_roundrobin_spreads_new_connections_over_the_group():
    sw = make()
    reals = [run(sw, [Flow("198.51.100.1", 40000 + i, VIP, 80).syn()])[0].real for i in range(6)]
    assert reals == [1, 2, 3, 1, 2, 3]


def test_server_side_frame_is_natted_to_the_real_with_a_dam_port():
    sw = make(frames=True)
    f = Flow("198.51.100.1", 40000, VIP, 80)
    act = run(sw, [f.syn()])[0]
    server = Ether(act.server)
    assert server[IP].dst == "10.0.1.11" and server[IP].src == "198.51.100.1"
    assert server[TCP].dport == 80 and server[TCP].sport != 40000
    s = next(iter(sw.sessions))
    assert sw.matrix.sp_of_port(server[TCP].sport) == s.sp  # DAM ports lead back to the SP
    back = run(sw, [f.synack()])[0]
    origin = Ether(back.server)
    assert origin[IP].src == "10.0.1.11" and origin[TCP].dport == server[TCP].sport
    assert Ether(back.client)[IP].src == VIP


def test_frames_that_are_not_for_slb_pass_with_a_reason():
    sw = make()
    arp = bytes(Ether() / ARP())
    other = tcp("198.51.100.1", "203.0.113.9", 1234, 80, "S")
    acts = [sw.process(arp, 1.0), sw.process(other, 1.0), sw.process(b"\x00" * 10, 1.0)]
    assert [(a.verdict, a.why) for a in acts] == [
        (Verdict.PASS, Why.NOT_IP), (Verdict.PASS, Why.NOT_VIP), (Verdict.PASS, Why.TRUNCATED)]
    assert sw.why[Why.NOT_IP] == 1


def test_a_vip_port_without_a_service_is_dropped():
    sw = make()
    act = sw.process(tcp("198.51.100.1", VIP, 1234, 8443, "S"), 1.0)
    assert (act.verdict, act.why) == (Verdict.DROP, Why.NO_SERVICE)


def test_no_available_real_resets_the_client():
    sw = make()
    for rid in (1, 2, 3):
        sw.farm.set_health(rid, False)
    f = Flow("198.51.100.1", 40000, VIP, 80)
    act = sw.process(f.syn(), 1.0)
    assert (act.verdict, act.why) == (Verdict.RESET, Why.NO_REAL)
    assert sw.maint.no_available_real == 1 and sw.layer7.client_resets == 1
    assert len(sw.sessions) == 0


def test_reset_frame_goes_back_to_the_client():
    sw = make(frames=True)
    for rid in (1, 2, 3):
        sw.farm.set_health(rid, False)
    act = sw.process(Flow("198.51.100.1", 40000, VIP, 80).syn(), 1.0)
    (side, frame), = act.emit
    rst = Ether(frame)
    assert side == "client" and rst[TCP].flags.R and rst[IP].dst == "198.51.100.1"
    assert rst[TCP].ack == 1001


def test_udp_is_balanced_per_flow():
    sw = make("{group: 1}", port=53)
    a = sw.process(udp("198.51.100.1", VIP, 5000, 53), 1.0)
    b = sw.process(udp("198.51.100.1", VIP, 5000, 53), 2.0)
    c = sw.process(udp("198.51.100.2", VIP, 5000, 53), 2.0)
    assert a.verdict is Verdict.TO_REAL and a.real == b.real != c.real


def test_midstream_packets_are_picked_up_for_layer4_services():
    sw = make()
    f = Flow("198.51.100.1", 40000, VIP, 80)
    act = sw.process(f.send(b"data"), 1.0)
    assert act.verdict is Verdict.TO_REAL
    assert sw.counts["midstream pickups"] == 1
    assert next(iter(sw.sessions)).state is TcpState.ESTABLISHED


# ---- aging --------------------------------------------------------------------------------

def test_closed_sessions_leave_at_the_next_fast_sweep():
    sw = make()
    f = Flow("198.51.100.1", 40000, VIP, 80)
    run(sw, [*f.handshake(), *f.close()], t=10.0)
    assert len(sw.sessions) == 1
    sw.tick(11.5)
    assert len(sw.sessions) == 0
    closed = [e for e in sw.drain() if isinstance(e, Closed)]
    assert closed[0].state == "closed"


def test_idle_sessions_age_out_after_the_real_tmout_within_one_slow_sweep():
    sw = make()
    f = Flow("198.51.100.1", 40000, VIP, 80)
    run(sw, f.handshake(), t=0.0)
    sw.tick(9 * 60)
    assert len(sw.sessions) == 1  # tmout 10 minutes
    for t in range(600, 600 + 121, 5):
        sw.tick(float(t))
    assert len(sw.sessions) == 0


def test_half_open_sessions_do_not_linger():
    sw = make()
    for i in range(50):
        sw.process(Flow(f"198.51.100.{i + 1}", 40000, VIP, 80).syn(), 0.0)
    assert len(sw.sessions) == 50
    for t in range(1, 8):
        sw.tick(float(t))
    assert len(sw.sessions) == 0


# ---- persistence: client IP ------------------------------------------------------------------

CLIENTIP = "{group: 1, pbind: clientip, ptmout: 5}"


def test_clientip_binds_every_connection_of_a_client_to_one_real():
    sw = make(CLIENTIP)
    flows = [Flow("198.51.100.7", 40000 + i, VIP, 80) for i in range(4)]
    acts = [sw.process(f.syn(), 10.0 + i) for i, f in enumerate(flows)]
    assert len({a.real for a in acts}) == 1
    events = bound(sw)
    assert [e.persist for e in events] == [Persist.NEW] + [Persist.HIT] * 3
    assert events[0].key == "198.51.100.7" and events[0].pbind == "clientip"
    other = sw.process(Flow("198.51.100.8", 40000, VIP, 80).syn(), 20.0)
    assert other.real != acts[0].real  # roundrobin moved on


def test_clientip_mask_groups_a_subnet():
    sw = make(CLIENTIP, adv=", pmask: 255.255.255.0")
    a = sw.process(Flow("198.51.100.7", 40000, VIP, 80).syn(), 1.0)
    b = sw.process(Flow("198.51.100.99", 40000, VIP, 80).syn(), 2.0)
    assert a.real == b.real
    assert bound(sw)[1].key == "198.51.100.0"


def test_clientip_binding_outlives_its_connections_by_ptmout_then_expires():
    sw = make(CLIENTIP)
    f = Flow("198.51.100.7", 40000, VIP, 80)
    first = run(sw, [*f.handshake(), *f.close()], t=0.0)[0].real
    sw.tick(2.0)
    assert len(sw.sessions) == 0 and len(sw.persistence) == 1
    g = Flow("198.51.100.7", 40001, VIP, 80)
    again = run(sw, [*g.handshake(), g.rst()], t=200.0)[0]
    assert again.real == first and bound(sw)[-1].persist is Persist.HIT
    sw.tick(202.0)  # the reset connection leaves; the binding lives ptmout (5 min) from here
    (kind, e), = sw.persistence.entries()
    assert e.alive(202 + 5 * 60 - 1) and not e.alive(202 + 5 * 60)
    for t in range(300, 200 + 5 * 60 + 130, 10):
        sw.tick(float(t))
    assert len(sw.persistence) == 0


def test_a_binding_to_a_real_that_went_down_is_rebalanced_and_rebound():
    sw = make(CLIENTIP)
    first = sw.process(Flow("198.51.100.7", 40000, VIP, 80).syn(), 1.0).real
    sw.farm.set_health(first, False)
    second = sw.process(Flow("198.51.100.7", 40001, VIP, 80).syn(), 2.0).real
    assert second != first
    sw.farm.set_health(first, True)
    third = sw.process(Flow("198.51.100.7", 40002, VIP, 80).syn(), 3.0).real
    assert third == second  # the binding now names the new real


# ---- persistence: cookies --------------------------------------------------------------------

PASSIVE = ("{group: 1, rport: 8080, pbind: {mode: cookie, cookie: passive, name: JSESSION*, "
           "offset: 1, length: 8}}")


def cookie_conversation(sw: Switch, cip: str, port: int, cookie: str | None,
                        set_cookie: str | None, t: float):
    f = Flow(cip, port, VIP, 80)
    acts = run(sw, [*f.handshake(), f.send(http_request(cookie=cookie)),
                    f.reply(http_response(set_cookie)), *f.close()], t=t)
    return acts


def test_delayed_binding_answers_the_handshake_and_binds_on_the_request():
    sw = make(PASSIVE)
    f = Flow("198.51.100.1", 40000, VIP, 80)
    acts = run(sw, [*f.handshake(), f.send(http_request())])
    assert [a.verdict for a in acts] == [Verdict.LOCAL] * 3 + [Verdict.TO_REAL]
    s = next(iter(sw.sessions))
    assert s.flags == "EU" and s.rport == 8080
    sw.process(f.reply(http_response()), 100.0)
    assert s.flags == "E"


def test_delayed_binding_opens_the_server_leg_with_the_buffered_request():
    sw = make(PASSIVE, frames=True)
    f = Flow("198.51.100.1", 40000, VIP, 80)
    run(sw, f.handshake())
    req = http_request()
    part1, part2 = req[:10], req[10:]
    a1 = sw.process(f.send(part1), 100.0)
    a2 = sw.process(f.send(part2), 100.0)
    assert a1.verdict is Verdict.LOCAL and a2.verdict is Verdict.TO_REAL
    (side, syn), = a2.emit
    assert side == "server" and Ether(syn)[TCP].flags.S and Ether(syn)[TCP].dport == 8080
    data = Ether(a2.server)
    assert bytes(data[TCP].payload) == req
    assert data[TCP].seq == Ether(syn)[TCP].seq + 1


def test_passive_cookie_learnt_from_set_cookie_brings_other_clients_back():
    sw = make(PASSIVE)
    first = cookie_conversation(sw, "198.51.100.1", 40000, None, "JSESSIONID=abcdefgh1234; Path=/",
                                10.0)
    real = first[3].real
    assert [e for e in sw.drain() if isinstance(e, Learned)][0].key == "abcdefgh"
    # another client address carrying the cookie (a proxy farm): same real
    for i, cip in enumerate(["198.51.100.2", "198.51.100.3", "198.51.100.4"]):
        acts = cookie_conversation(sw, cip, 41000 + i, "x=1; JSESSIONID=abcdefgh1234", None,
                                   20.0 + i)
        assert acts[3].real == real
    hits = [e for e in bound(sw) if e.persist is Persist.HIT]
    assert len(hits) == 3 and hits[0].pbind == "cookie"


def test_passive_cookie_in_the_uri():
    svc = PASSIVE.replace("length: 8}", "length: 8, uri: true}")
    sw = make(svc)
    real = cookie_conversation(sw, "198.51.100.1", 40000, None, "JSESSIONID=zzzzzzzz", 1.0)[3].real
    f = Flow("198.51.100.9", 40000, VIP, 80)
    acts = run(sw, [*f.handshake(), f.send(http_request("/app;JSESSIONID=zzzzzzzz"))], t=2.0)
    assert acts[3].real == real


INSERT = "{group: 1, pbind: {mode: cookie, cookie: insert, name: WebOSLB}}"


def test_insert_cookie_is_added_to_the_first_response_and_read_back():
    sw = make(INSERT, frames=True)
    f = Flow("198.51.100.1", 40000, VIP, 80)
    acts = run(sw, [*f.handshake(), f.send(http_request()), f.reply(http_response()),
                    f.reply(b"more body"), f.ack()])
    real = acts[3].real
    client_view = Ether(acts[4].client)
    payload = bytes(client_view[TCP].payload)
    assert b"Set-Cookie: WebOSLB=" in payload
    value = payload.split(b"WebOSLB=")[1].split(b";")[0]
    # later segments shift by the bytes the switch added; the client's acks follow
    added = len(payload) - len(http_response())
    assert Ether(acts[5].client)[TCP].seq == Ether(acts[5].server)[TCP].seq + added
    assert Ether(acts[6].client)[TCP].ack == Ether(acts[6].server)[TCP].ack + added
    sw.drain()
    again = cookie_conversation(sw, "198.51.100.50", 40000, f"WebOSLB={value.decode()}", None,
                                200.0)
    assert again[3].real == real
    assert bound(sw)[0].persist is Persist.HIT
    assert len(sw.persistence) == 0  # insert cookies keep no table entry


REWRITE = "{group: 1, pbind: {mode: cookie, cookie: rewrite, name: SRVID, offset: 1, length: 8}}"


def test_rewrite_cookie_overwrites_the_servers_placeholder():
    sw = make(REWRITE, frames=True)
    f = Flow("198.51.100.1", 40000, VIP, 80)
    acts = run(sw, [*f.handshake(), f.send(http_request()),
                    f.reply(http_response("SRVID=XXXXXXXXtail; Path=/"))])
    out = bytes(Ether(acts[4].client)[TCP].payload)
    value = out.split(b"SRVID=")[1].split(b";")[0]
    assert value != b"XXXXXXXXtail" and value.endswith(b"tail") and len(out) == len(
        http_response("SRVID=XXXXXXXXtail; Path=/"))
    sw.drain()
    again = cookie_conversation(sw, "198.51.100.2", 40001, f"SRVID={value.decode()}", None, 5.0)
    assert again[3].real == acts[3].real


# ---- persistence: SSL session ID -------------------------------------------------------------

SSLID = "{group: 1, pbind: sslid}"


def tls_conversation(sw, cip, port, offered: bytes, issued: bytes, t, *, tls13=False):
    f = Flow(cip, port, VIP, 443)
    return run(sw, [*f.handshake(), f.send(tls_hello(1, offered, tls13=tls13)),
                    f.reply(tls_hello(2, issued, tls13=tls13)), *f.close()], t=t)


def test_sslid_resumption_goes_to_the_real_that_issued_the_id():
    sw = make(SSLID, port=443)
    sid = bytes(range(32))
    real = tls_conversation(sw, "198.51.100.1", 40000, b"", sid, 1.0)[3].real
    for i in range(3):
        acts = tls_conversation(sw, f"203.0.113.{i + 1}", 50000, sid, sid, 2.0 + i)
        assert acts[3].real == real
    events = bound(sw)
    assert [e.persist for e in events] == [Persist.NONE, Persist.HIT, Persist.HIT, Persist.HIT]
    assert events[1].key == sid.hex()


def test_unknown_session_id_is_balanced_and_learnt_from_the_serverhello():
    sw = make(SSLID, port=443)
    offered, issued = b"\x01" * 32, b"\x02" * 32
    real = tls_conversation(sw, "198.51.100.1", 40000, offered, issued, 1.0)[3].real
    assert tls_conversation(sw, "198.51.100.2", 40000, issued, issued, 2.0)[3].real == real
    learned = [e for e in sw.drain() if isinstance(e, Learned)]
    assert [e.key for e in learned] == [issued.hex()]


def test_tls13_echoed_session_id_binds_nothing():
    sw = make(SSLID, port=443)
    sid = b"\x05" * 32
    tls_conversation(sw, "198.51.100.1", 40000, sid, sid, 1.0, tls13=True)
    assert len(sw.persistence) == 0


# ---- URL hashing -----------------------------------------------------------------------------

def test_url_hash_sends_a_url_to_one_real_from_any_client():
    sw = make("{group: 1, httpslb: urlhash, urlhash: 64}", metric="hash")
    reals = set()
    for i in range(5):
        f = Flow(f"198.51.100.{i + 1}", 40000, VIP, 80)
        reals.add(run(sw, [*f.handshake(), f.send(http_request("/pages/a.html"))])[3].real)
    assert len(reals) == 1
    assert len(sw.persistence) == 0


# ---- FTP ---------------------------------------------------------------------------------------

FTP = "{app: ftp, group: 1, ftpp: true}"


def test_ftp_passive_data_connection_follows_its_control_connection():
    sw = make(FTP, port=21)
    ctl = Flow("198.51.100.1", 40000, VIP, 21)
    acts = run(sw, [*ctl.handshake(), ctl.reply(b"220 ready\r\n"), ctl.send(b"PASV\r\n"),
                    ctl.reply(b"227 Entering Passive Mode (192,0,2,100,195,80).\r\n")])
    real = acts[0].real
    # three more control connections from other clients take the other reals
    for i in range(2):
        run(sw, [Flow(f"198.51.100.{i + 2}", 40000, VIP, 21).syn()])
    data = Flow("198.51.100.1", 40001, VIP, 195 * 256 + 80)
    act = sw.process(data.syn(), 101.0)
    assert act.verdict is Verdict.TO_REAL and act.real == real
    assert bound(sw)[-1].pbind == "ftp"


def test_ftp_active_data_connection_from_the_vip_reaches_the_client():
    sw = make(FTP, port=21)
    ctl = Flow("198.51.100.1", 40000, VIP, 21)
    real = run(sw, [*ctl.handshake(), ctl.send(b"PORT 198,51,100,1,200,10\r\n")])[0].real
    run(sw, [Flow("198.51.100.2", 40000, VIP, 21).syn()])
    syn = tcp(VIP, "198.51.100.1", 20, 200 * 256 + 10, "S", 7000)
    act = sw.process(syn, 101.0)
    assert act.verdict is Verdict.TO_CLIENT and act.real == real
    ack = sw.process(tcp("198.51.100.1", VIP, 200 * 256 + 10, 20, "SA", 9, 7001), 101.0)
    assert ack.verdict is Verdict.TO_REAL and ack.real == real


def test_a_227_naming_the_real_is_rewritten_to_the_vip():
    sw = make(FTP, port=21, frames=True)
    ctl = Flow("198.51.100.1", 40000, VIP, 21)
    acts = run(sw, [*ctl.handshake(), ctl.send(b"PASV\r\n"),
                    ctl.reply(b"227 Entering Passive Mode (10,0,1,11,195,80).\r\n"),
                    ctl.send(b"LIST\r\n")])
    out = bytes(Ether(acts[4].client)[TCP].payload)
    assert out == b"227 Entering Passive Mode (192,0,2,100,195,80).\r\n"
    grew = len(out) - len(b"227 Entering Passive Mode (10,0,1,11,195,80).\r\n")
    assert Ether(acts[5].client)[TCP].ack == Ether(acts[5].server)[TCP].ack + grew
    assert sw.process(Flow("198.51.100.1", 40001, VIP, 195 * 256 + 80).syn(), 101.0).real \
        == acts[0].real


# ---- VMA -----------------------------------------------------------------------------------

def test_vma_sp_depends_on_the_client_ip_only_by_default():
    sw = make()
    sps = set()
    for port in range(40000, 40010):
        sw.process(Flow("198.51.100.1", port, VIP, 80).syn(), 1.0)
    sps = {s.sp for s in sw.sessions}
    assert len(sps) == 1
    for i in range(40):
        sw.process(Flow(f"198.51.100.{i + 10}", 40000, VIP, 80).syn(), 1.0)
    assert len({s.sp for s in sw.sessions}) > 4


@pytest.mark.parametrize("port", [80])
def test_session_dump_lines(port):
    sw = make(CLIENTIP)
    f = Flow("198.51.100.1", 4586, VIP, port)
    sw.process(f.syn(), 0.0)
    from weboslb.engine.sessdump import dump
    lines = list(dump(sw.sessions, sw.persistence.entries(), sw.services, sw.persistence.users,
                      60.0))
    s = next(iter(sw.sessions))
    assert lines[0] == f"{s.sp}, 01: 198.51.100.1 4586, 192.0.2.100 http -> {s.pport} " \
                       f"10.0.1.11 http age 9 E"
    assert lines[1].endswith("EP c:1") and "198.51.100.1 0, 192.0.2.100 -> 10.0.1.11" in lines[1]


def test_delayed_binding_reassembles_segments_out_of_order():
    sw = make(PASSIVE, frames=True)
    f = Flow("198.51.100.1", 40000, VIP, 80)
    run(sw, f.handshake())
    req = http_request(cookie="JSESSIONID=abcdefgh")
    first, second = f.send(req[:20]), f.send(req[20:])
    assert sw.process(second, 1.0).verdict is Verdict.LOCAL  # a gap: held back
    act = sw.process(first, 1.0)
    assert act.verdict is Verdict.TO_REAL
    assert bytes(Ether(act.server)[TCP].payload) == req


@pytest.mark.parametrize("service, port", [(PASSIVE, 80), (SSLID, 443), (INSERT, 80)])
@pytest.mark.parametrize("junk", [b"\x16\x03\x01\xff\xff" + bytes(100), b"GET " + b"A" * 9000,
                                  b"\x00" * 3, b"HTTP/1.1 200 OK\r\nSet-Cookie: \r\n\r\n"])
def test_garbage_in_a_layer7_connection_is_balanced_not_fatal(service, port, junk):
    sw = make(service, port=port)
    f = Flow("198.51.100.1", 40000, VIP, port)
    acts = run(sw, [*f.handshake(), f.send(junk), f.reply(junk), f.send(junk)])
    # a request the switch cannot read is balanced by the metric once it is complete or
    # too long; an incomplete one keeps the connection waiting (and aging) on the switch
    assert all(a.verdict in (Verdict.LOCAL, Verdict.TO_REAL, Verdict.TO_CLIENT) for a in acts)
    s = next(iter(sw.sessions))
    assert len(s.request) <= 8192 and len(s.response) <= 8192


def test_vma_off_puts_each_ingress_port_on_its_own_processor():
    sw = make(adv=", matrix: false")
    sw.process(Flow("198.51.100.1", 40000, VIP, 80).syn(), 1.0, ingress=3)
    sw.process(Flow("198.51.100.1", 40001, VIP, 80).syn(), 1.0, ingress=5)
    assert sorted(s.sp for s in sw.sessions) == [3, 5]
