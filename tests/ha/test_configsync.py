"""Config sync (``/oper/slb/sync``): what the peer's configuration becomes when a switch pushes
its own (SLB, filters and VRRP travel; names, interfaces, the sync section and, with ``prios
d``, VRRP priorities stay), and the push itself over the mirror link: chunked, authenticated,
acknowledged, bounded; forged, oversize and truncated pushes are counted and dropped."""
from __future__ import annotations

from copy import deepcopy

import pytest

from tests.engine.net import Flow
from weboslb.config.model import Config, If, Port, ProxyIp, Real, Vr, new_service
from weboslb.engine.events import Verdict
from weboslb.ha import configsync, wire
from weboslb.ha.configsync import ConfigSyncError, parse, received, render
from weboslb.ha.events import ConfigAcked, ConfigLost, ConfigPushed
from weboslb.ha.pair import Faults
from weboslb.ha.wire import ConfigAck, ConfigChunk, ConfigStatus, Msg

from .helpers import pair
from .test_node import VIP, applied, ha_pair, run

FILTER = "/c/slb/filt 10\n\tena\n\taction deny\n\tsip 203.0.113.0"
GATEWAY = "/c/l3/gw 1\n\tena\n\taddr 192.0.2.254"
NTP = "/c/sys/ntp\n\ton\n\tprisrv 192.0.2.53"
CERT = "/c/slb/ssl/certs/key 1\n\tname \"shop\""


def configs() -> tuple[Config, Config]:
    """A (the pusher) and B (the receiver), as configs/ha-a.yaml and ha-b.yaml."""
    return applied("ha-a.yaml"), applied("ha-b.yaml")


def events(peer, kind) -> list:
    return [e for e in peer.drain_events() if isinstance(e, kind)]


# ---- what the receiver's configuration becomes -------------------------------------------------

def test_priorities_stay_local_with_prios_disabled_and_travel_with_prios_enabled():
    a, b = configs()
    assert not a.slb.sync.prios  # the usual active-standby setup
    merged, notes = received(b, a)
    assert [vr.prio for vr in merged.l3.vrrp.vr.values()] == [100, 100, 100]
    assert any("VRRP priorities (sync prios d)" in n for n in notes)
    a.slb.sync.prios = True
    merged, notes = received(b, a)
    assert [vr.prio for vr in merged.l3.vrrp.vr.values()] == [200, 200, 200]
    assert "priorities" in notes[0] and "VRRP priorities" not in notes[1]


def test_names_interfaces_and_the_sync_section_stay_local():
    a, b = configs()
    a.slb.sync.passphrs = "pusher's secret"
    b.slb.sync.passphrs = "receiver's secret"
    a.slb.sync.update = 5
    merged, notes = received(b, parse(render(a)))
    assert merged.sys.ssnmp.name == "lb-b"
    assert merged.l3.if_ == b.l3.if_
    assert merged.slb.sync == b.slb.sync  # peers point at each other; passphrase; update
    assert notes[1].startswith("kept local: system name, the sync section")
    assert "IP interfaces (sync if d)" in notes[1]


def test_a_new_real_and_virtual_service_arrive_and_the_inputs_stay_untouched():
    a, b = configs()
    a.slb.real[4] = Real(rip="10.0.1.14", ena=True, name="app4")
    a.slb.group[1].reals.append(4)
    a.slb.virt[1].service[8080] = new_service(8080)
    a.slb.virt[1].service[8080].group = 1
    a_before, b_before = deepcopy(a), deepcopy(b)
    merged, notes = received(b, a)
    assert merged.slb.real[4].rip == "10.0.1.14" and merged.slb.group[1].reals == [1, 2, 3, 4]
    assert 8080 in merged.slb.virt[1].service
    assert notes[0] == ("taken from the peer: SLB (4 reals, 1 group, 1 virtual server), "
                        "VRRP (3 virtual routers), filters")
    assert (a, b) == (a_before, b_before)


def test_a_router_new_here_keeps_the_distance_to_the_peers_priorities():
    a, b = configs()
    a.l3.vrrp.vr[4] = Vr(ena=True, vrid=4, if_=1, addr="192.0.2.101", prio=200)
    merged, notes = received(b, a)
    assert merged.l3.vrrp.vr[4].prio == 100  # 200 - 100, as vr 1: B stays its backup
    assert "vr 4 is new here: priority 100 (the peer's 200 shifted by -100" in notes[-1]
    b.l3.vrrp.vr = {}  # nothing in common: below the pusher's
    assert received(b, a)[0].l3.vrrp.vr[4].prio == 100
    a.l3.vrrp.vr[4].prio = 90
    assert received(b, a)[0].l3.vrrp.vr[4].prio == 89


def test_proxy_ips_and_slb_ports_follow_pips_and_ports():
    a, b = configs()
    a.slb.pip.addrs = [ProxyIp("10.0.1.200")]
    b.slb.pip.addrs = [ProxyIp("10.0.1.201")]
    a.slb.port = {1: Port(client=True, pip="10.0.1.210"), 2: Port(server=True)}
    b.slb.port = {1: Port(client=True, pip="10.0.1.211")}
    merged, notes = received(b, a)  # pips d, ports d: the defaults
    assert merged.slb.pip == b.slb.pip and merged.slb.port == b.slb.port
    assert "proxy IPs (sync pips d)" in notes[1] and "SLB ports (sync ports d)" in notes[1]
    a.slb.sync.ports = True
    merged, _ = received(b, a)  # the ports come, each keeps this switch's proxy IP
    assert merged.slb.port == {1: Port(client=True, pip="10.0.1.211"), 2: Port(server=True)}
    a.slb.sync.pips = True
    merged, notes = received(b, parse(render(a)))
    assert merged.slb.pip.addrs == [ProxyIp("10.0.1.200")]
    assert merged.slb.port[1].pip == "10.0.1.210"
    assert "proxy IPs" in notes[0] and "SLB ports" in notes[0]


def test_filters_gateways_and_certificates_follow_their_options():
    a, b = configs()
    a.verbatim = [GATEWAY, CERT, FILTER, NTP.replace("53", "54")]
    b.verbatim = [NTP]
    merged, notes = received(b, a)  # filt e (the default), gw d, certs d
    assert FILTER in merged.verbatim and NTP in merged.verbatim
    assert GATEWAY not in merged.verbatim and CERT not in merged.verbatim
    assert "gateways (sync gw d)" in notes[1] and "certificates (sync certs d)" in notes[1]
    a.slb.sync.filt, a.slb.sync.gw = False, True
    b.verbatim = [NTP, "/c/slb/filt 1\n\tena"]
    merged, _ = received(b, a)
    assert merged.verbatim == configsync.dump.sort_blocks([GATEWAY, NTP, "/c/slb/filt 1\n\tena"])


def test_interfaces_travel_with_sync_if_each_switch_keeping_its_own_address():
    a, b = configs()
    a.slb.sync.if_ = True
    a.l3.if_[1].extra = ["peer 192.0.2.3"]  # A names B's address on interface 1
    a.l3.if_[1].descr = "clients (renamed)"
    a.l3.if_[9] = If(ena=True, addr="198.51.100.2", mask="255.255.255.0", vlan=30)
    merged, notes = received(b, a)
    assert merged.l3.if_[1].addr == "192.0.2.3" and merged.l3.if_[1].descr == "clients (renamed)"
    assert merged.l3.if_[1].extra == ["peer 192.0.2.2"]  # B's peer line names A
    assert merged.l3.if_[2].addr == "10.0.1.3"  # no peer line: B's own address stays
    assert 9 not in merged.l3.if_  # no address for B anywhere: not taken, and said so
    assert any("interface 9 not taken" in n for n in notes)


def test_the_payload_is_a_dump_without_secrets_and_bad_payloads_name_the_line():
    a, _ = configs()
    a.slb.sync.passphrs = "pusher's secret"
    a.verbatim = [CERT, "/c/sys/access/user/admpw \"hash\""]
    text = render(a)
    assert text.startswith("script start") and "/* pushed by /oper/slb/sync from lb-a" in text
    assert "secret" not in text and "certs" not in text and "admpw" not in text
    assert "/c/slb/virt 1" in text and "peer" not in text
    back = parse(text)
    assert back.slb.real == a.slb.real and back.l3.vrrp == a.l3.vrrp
    with pytest.raises(ConfigSyncError, match=r"pushed configuration, line 3: "
                                              r"/cfg/slb/real 1: weight: expected a number"):
        parse("/c/slb/real 1\n\tena\n\tweight abc\n")
    with pytest.raises(ConfigSyncError, match="no '/c/...' menu path"):
        parse("hello")


# ---- the push over the mirror link ---------------------------------------------------------------

def test_a_push_travels_in_chunks_in_any_order_and_is_acknowledged():
    mp = pair(faults=Faults(reorder=0.5, duplicate=0.3, delay=0.01), seed=3)
    mp.run(101)
    text = "/c/slb/real 1\n" + "/* " + "x" * 700_000 + "\n"
    ok, why = mp.b.push_config(text, mp.now)  # the standby pushes: either role may
    assert ok and why == f"{len(text)} bytes in 3 frames"
    mp.a.drain_events()
    mp.run(102)
    pushed = events(mp.a, ConfigPushed)
    assert [e.text for e in pushed] == [text]  # once, whatever was duplicated
    assert [e.size for e in events(mp.b, ConfigAcked)] == [len(text)]
    assert mp.b.stats.configs_acked == 1 and mp.a.stats.configs_received == 1


def test_a_push_lost_on_the_link_is_sent_again_until_acknowledged():
    mp = pair()
    mp.run(101)
    mp.cut(until=101.5)
    ok, _ = mp.a.push_config("/c/slb/on\n", mp.now)
    assert ok
    mp.run(101.9)
    assert not events(mp.b, ConfigPushed)
    mp.run(103)  # resent after the retransmission timeout
    assert [e.text for e in events(mp.b, ConfigPushed)] == ["/c/slb/on\n"]
    assert events(mp.a, ConfigAcked)


def test_a_push_the_session_loses_is_reported_lost():
    mp = pair()
    mp.run(101)
    mp.cut()
    assert mp.a.push_config("/c/slb/on\n", mp.now)[0]
    mp.run(110)  # the peer is declared dead after 4 s
    lost = events(mp.a, ConfigLost)
    assert len(lost) == 1 and "session with the peer ended" in lost[0].why


def test_a_push_needs_a_session_and_a_peer_that_takes_pushes():
    mp = pair()
    mp.cut()
    mp.run(110)
    assert mp.a.push_config("/c/slb/on\n", mp.now) == (
        False, f"no session with the peer (mirror {mp.a.state.value})")
    mp.heal()
    mp.b.connection_made(mp.now)
    mp.run(112)
    ok, why = mp.a.push_config("x" * (wire.MAX_CONFIG + 1), mp.now)
    assert not ok and why == (f"a push carries 1..{wire.MAX_CONFIG} bytes (4 MiB); this "
                              f"configuration is {wire.MAX_CONFIG + 1}")
    mp.a._session.peer_flags &= ~wire.CONFIG_OK  # a peer of an earlier release
    assert mp.a.push_config("/c/slb/on\n", mp.now) == (
        False, "the peer does not take configuration pushes (older software)")
    assert mp.a.stats.configs_sent == 0


def forge(mp, sender, msg, key: bytes | None = None) -> bytes:
    """A session frame from ``sender``'s side with the next sequence number."""
    s = sender._session
    s.tx_seq += 1
    typ, body = wire.encode(msg) if not isinstance(msg, tuple) else msg
    return wire.seal(typ, s.tx_seq, body, key or s.tx_key)


def test_forged_oversize_and_truncated_pushes_are_dropped_and_counted():
    mp = pair()
    mp.run(101)
    b = mp.b
    mp.b.drain_events()
    good = ConfigChunk(7, 9, 0, b"/c/slb/on")
    # forged: sealed with a key that is not the session's
    b.receive(forge(mp, mp.a, good, key=b"k" * 32), mp.now)
    assert b.stats.dropped["bad_mac"] == 1
    # oversize: a push announcing more than 4 MiB
    big = (Msg.CONFIG, wire._CONFIG.pack(8, wire.MAX_CONFIG + 1, 0) + b"x" * 100)
    b.receive(forge(mp, mp.a, big), mp.now)
    # a chunk running past the push's end
    over = (Msg.CONFIG, wire._CONFIG.pack(9, 10, 5) + b"x" * 6)
    b.receive(forge(mp, mp.a, over), mp.now)
    assert b.stats.dropped["malformed"] == 2
    # truncated: the frame is cut short; the genuine frame after it is still read
    cut = forge(mp, mp.a, good)[:-5]
    b.receive(cut + forge(mp, mp.a, ConfigChunk(11, 9, 0, b"/c/slb/of")), mp.now)
    assert b.stats.dropped["bad_mac"] == 2
    pushed = events(b, ConfigPushed)
    assert [e.text for e in pushed] == ["/c/slb/of"]
    # a push whose bytes are not UTF-8 is refused back to the pusher, not handed on
    b.receive(forge(mp, mp.a, ConfigChunk(12, 2, 0, b"\xff\xfe")), mp.now)
    assert b.stats.dropped["malformed"] == 3 and not events(b, ConfigPushed)
    acks = [wire.decode(f.typ, f.body) for f in wire.frames(b.data_to_send(),
                                                             lambda t: b._session.tx_key)
            if f.typ is Msg.CONFIG_ACK]
    assert acks[-1] == ConfigAck(12, ConfigStatus.UNREADABLE)


def test_config_messages_round_trip_and_are_bounded():
    chunks = wire.config_chunks(5, b"a" * (wire.CONFIG_CHUNK + 10))
    assert [(c.offset, len(c.data)) for c in chunks] == [(0, wire.CONFIG_CHUNK),
                                                        (wire.CONFIG_CHUNK, 10)]
    for msg in (*chunks, ConfigAck(5), ConfigAck(5, ConfigStatus.UNREADABLE)):
        typ, body = wire.encode(msg)
        assert len(body) <= wire.MAX_BODY and wire.decode(typ, body) == msg
    with pytest.raises(ValueError, match="4194304"):
        wire.config_chunks(5, b"a" * (wire.MAX_CONFIG + 1))
    for body in (wire._CONFIG.pack(0, 3, 0) + b"abc", wire._CONFIG.pack(1, 3, 0)):
        with pytest.raises(wire.WireError):
            wire.decode(Msg.CONFIG, body)


# ---- the pair: /oper/slb/sync end to end ---------------------------------------------------------

def test_a_pushed_configuration_runs_on_the_peer_and_serves_after_a_failover():
    pair_, now = ha_pair(update=0)
    a, b = pair_.nodes
    saved: list[Config] = []
    b.on_config = saved.append
    cfg = deepcopy(a.config)
    cfg.slb.real[4] = Real(rip="10.0.1.14", ena=True, name="app4")
    cfg.slb.group[1].reals = [4]  # every connection now goes to the new real
    cfg.slb.virt[1].service[8080] = new_service(8080)
    cfg.slb.virt[1].service[8080].group = 1
    a.apply(cfg, now)
    assert 8080 not in b.config.slb.virt[1].service
    line = pair_.push_config(a, now)
    assert line.startswith(f"configuration sent to peer {a.peer_addr} (")
    assert b.config.slb.group[1].reals == [4] and 8080 in b.config.slb.virt[1].service
    assert b.config.sys.ssnmp.name == "lb-b" and b.config.l3.if_[2].addr == "10.0.1.3"
    assert [vr.prio for vr in b.config.l3.vrrp.vr.values()] == [100, 100, 100]
    assert saved == [b.config]
    texts = [n.text for n in b.notes]
    assert "configuration received from peer: applied; not saved" in texts
    assert any(t.startswith("configuration push acknowledged") for t in
               (n.text for n in a.notes))
    assert a.served and not b.served  # priorities stayed: A is still the master
    pair_.fail(a, now)
    while not b.served:
        now = run(pair_, now, now + 0.1)
    act = b.switch.process(Flow("198.51.100.9", 40000, VIP, 8080).syn(), now)
    assert act.verdict is Verdict.TO_REAL
    assert [(s.conn.vport, s.real) for s in b.switch.sessions] == [(8080, 4)]


def test_a_push_the_peer_cannot_apply_is_noted_and_changes_nothing():
    pair_, now = ha_pair()
    a, b = pair_.nodes
    before = deepcopy(b.config)
    cfg = deepcopy(a.config)  # a router on an interface B does not have (sync if d)
    cfg.l3.vrrp.vr[4] = Vr(ena=True, vrid=4, if_=9, addr="192.0.2.101", prio=200)
    assert a.mirror.push_config(render(cfg), now)[0]
    run(pair_, now, now + 0.5)
    assert b.config == before
    notes = [n.text for n in b.notes if n.text.startswith("configuration received")]
    assert len(notes) == 1 and notes[0].startswith(
        "configuration received from peer: not applied: /cfg/l3/vrrp/vr 4")


def test_push_without_a_mirror_or_session_is_reported():
    pair_, now = ha_pair(state=False)
    a = pair_.nodes[0]
    assert a.push_config(now) == (f"configuration not sent to peer {a.peer_addr}: the mirror "
                                  f"link is off (/cfg/slb/sync/state dis)")
    pair_, now = ha_pair()
    a = pair_.nodes[0]
    pair_.link_down(now)
    now = run(pair_, now, now + 5)
    line = a.push_config(now)
    assert line.startswith(f"configuration not sent to peer {a.peer_addr}: no session")
    assert a.notes[-1].text == line
