"""VRRP: the RFC 3768 machine with Web OS's tracking, owner, virtual server routers,
``/oper/vrrp/back`` and holdoff; and advertisements byte-exact on the wire."""
from __future__ import annotations

import pytest
from scapy.all import IP, raw
from scapy.layers.vrrp import VRRP

from weboslb.config.model import Config, If, Virt, Vr
from weboslb.ha import Advert, Increments, RouterSpec, Vrrp, VrrpError, VrrpSegment, VrState
from weboslb.ha.advert import from_ip_packet, ip_packet, virtual_mac

VIP = "10.0.0.100"
DT = 1 / 64  # a binary fraction: the RFC timers land exactly on ticks


def switch(prio: int, primary: str, **kw) -> Vrrp:
    spec = RouterSpec(index=1, vrid=1, addr=kw.pop("addr", VIP), prio=prio, primary=primary,
                      server=True, **kw)
    return Vrrp([spec], vips={VIP: [1]})


def run(seg: VrrpSegment, start: float, until: float) -> list:
    """Step the segment; every transition as (time, switch number, new state)."""
    out, t = [], start
    while t <= until:
        seg.step(t)
        for i, n in enumerate(seg.nodes):
            out += [(e.ts, i, e.new) for e in n.drain_events()]
        t += DT
    return out


def started(*nodes: Vrrp, at: float = 0.0) -> VrrpSegment:
    for n in nodes:
        n.start(at)
    return VrrpSegment(*nodes)


# ---- advertisements on the wire ---------------------------------------------------------------


def test_an_advertisement_is_byte_identical_to_scapys():
    adv = Advert(vrid=7, priority=200, adver=2, addrs=("10.0.0.100", "10.0.0.101"))
    ref = VRRP(vrid=7, priority=200, adv=2, addrlist=["10.0.0.100", "10.0.0.101"])
    assert adv.encode() == raw(ref)
    assert Advert.decode(raw(ref)) == adv


def test_the_checksum_covers_the_whole_message():
    data = bytearray(Advert(1, 100, 1, (VIP,)).encode())
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x10
        with pytest.raises(VrrpError) as e:
            Advert.decode(bytes(bad))
        assert e.value.reason in ("checksum", "version", "malformed")


@pytest.mark.parametrize("data,reason", [
    (b"\x21\x01", "malformed"),  # truncated
    (raw(VRRP(version=3, vrid=1, addrlist=[VIP])), "version"),
    (raw(VRRP(type=2, vrid=1, addrlist=[VIP])), "malformed"),
    (raw(VRRP(vrid=1, ipcount=2, addrlist=[VIP])), "malformed"),  # count != addresses
    (raw(VRRP(vrid=1, adv=0, addrlist=[VIP])), "malformed"),
])
def test_bad_advertisements_name_their_problem(data, reason):
    with pytest.raises(VrrpError) as e:
        Advert.decode(data)
    assert e.value.reason == reason


def test_an_advertisement_in_its_ip_packet_round_trips_through_scapy():
    msg = Advert(9, 254, 3, (VIP,)).encode()
    pkt = ip_packet(msg, "10.0.0.1", ident=5)
    parsed = IP(pkt)
    assert parsed.ttl == 255 and parsed.proto == 112 and parsed.dst == "224.0.0.18"
    ours = parsed.chksum
    del parsed.chksum
    assert IP(raw(parsed)).chksum == ours  # scapy computes the same header checksum
    assert parsed[VRRP].priority == 254 and parsed[VRRP].addrlist == [VIP]
    assert from_ip_packet(pkt) == ("10.0.0.1", 255, msg)
    assert virtual_mac(9) == bytes.fromhex("00005e000109")


# ---- elections --------------------------------------------------------------------------------


def test_the_highest_priority_wins_after_its_master_down_interval():
    a, b = switch(200, "10.0.0.1"), switch(100, "10.0.0.2")
    assert a.master_down_interval(1) == 3 + 56 / 256
    assert b.master_down_interval(1) == 3 + 156 / 256
    seg = started(a, b)
    log = run(seg, 0, 8)
    assert (3 + 56 / 256, 0, "master") in log
    assert a.state(1) is VrState.MASTER and b.state(1) is VrState.BACKUP
    assert not [e for e in log if e[1] == 1 and e[2] == "master"]
    assert a.master_vips() == {VIP} and b.master_vips() == set()
    assert a.info()[0].state == "master" and b.info()[0].master == "10.0.0.1"


def test_the_backup_takes_over_exactly_one_master_down_interval_after_the_last_advert():
    a, b = switch(200, "10.0.0.1"), switch(100, "10.0.0.2")
    seg = started(a, b)
    run(seg, 0, 10)
    seg.down.add(0)  # switch A dies at t=10: its last advert left at 9.21875
    log = run(seg, 10 + DT, 14)
    last_advert = 3 + 56 / 256 + 6
    assert [(t, i) for t, i, s in log if s == "master"] == [(last_advert + 3 + 156 / 256, 1)]
    assert b.master_vips() == {VIP}


def test_a_returning_higher_priority_switch_preempts_unless_preemption_is_off():
    for preem, winner in ((True, 0), (False, 1)):
        a, b = switch(200, "10.0.0.1", preem=preem), switch(100, "10.0.0.2")
        b.start(0)
        seg = VrrpSegment(a, b)
        run(seg, 0, 5)  # B alone: master
        a.start(5)  # A boots
        log = run(seg, 5, 12)
        masters = [i for i in (0, 1) if seg.nodes[i].state(1) is VrState.MASTER]
        assert masters == [winner], preem
        if preem:
            assert (5 + 3 + 56 / 256, 0, "master") in log and (5 + 3 + 56 / 256, 1, "backup") in log


def test_the_address_owner_is_master_at_once_and_always_preempts():
    owner = switch(100, VIP, preem=False)  # the VR address is its interface address
    b = switch(254, "10.0.0.2")
    assert owner.priority(1) == 255
    b.start(0)
    seg = VrrpSegment(owner, b)
    run(seg, 0, 5)
    owner.start(5)
    log = run(seg, 5, 6)
    assert (5, 0, "master") in log and b.state(1) is VrState.BACKUP


def test_equal_priorities_elect_the_higher_interface_address():
    a, b = switch(100, "10.0.0.9"), switch(100, "10.0.0.10")
    a.start(0)
    seg = VrrpSegment(a, b)
    run(seg, 0, 4)  # a is master alone
    b.start(4)
    b._to_master(b.routers[1], 4.5, "test: both masters")  # a split brain heals:
    run(seg, 4.5, 6)
    assert b.state(1) is VrState.MASTER and a.state(1) is VrState.BACKUP


def test_a_master_shutting_down_hands_over_after_the_skew_time():
    a, b = switch(200, "10.0.0.1"), switch(100, "10.0.0.2")
    seg = started(a, b)
    run(seg, 0, 5)
    a.stop(5)  # priority 0: "I am leaving"
    seg.pump(5)
    log = run(seg, 5 + DT, 7)
    assert [(t, i) for t, i, s in log if s == "master"] == [(5 + 156 / 256, 1)]


# ---- tracking, force backup, holdoff --------------------------------------------------------


def test_tracking_adds_an_increment_per_tracked_item():
    a = Vrrp([RouterSpec(1, 1, VIP, prio=100, primary="10.0.0.1", server=True,
                         track=frozenset({"reals", "l4pts", "vrs"})),
              RouterSpec(2, 2, "10.0.1.100", prio=100, primary="10.0.1.1")],
             increments=Increments(reals=3, l4pts=5))
    a.track(reals={1: 4}, l4pts=2)
    assert a.priority(1) == 100 + 3 * 4 + 5 * 2
    a.start(0)
    a.tick(10)  # alone: both routers master; router 1 counts router 2
    assert a.priority(1) == 122 + 2 and a.priority(2) == 100
    a.track(reals={1: 100})
    assert a.priority(1) == 254  # renters never reach the owner's 255
    with pytest.raises(ValueError, match="out of range"):
        Increments(reals=255)


def test_sharing_routers_ignore_tracking_and_serve_the_vip_as_backup():
    a = Vrrp([RouterSpec(1, 1, VIP, prio=100, primary="10.0.0.1", server=True, share=True,
                         track=frozenset({"reals"}))], vips={VIP: [1]})
    a.track(reals={1: 10})
    assert a.priority(1) == 100 and a.state(1) is VrState.INIT and a.serves(VIP)


def test_losing_real_servers_hands_the_vip_to_the_peer():
    a = switch(100, "10.0.0.1", track=frozenset({"reals"}))
    b = switch(100, "10.0.0.2", track=frozenset({"reals"}))
    a.track(reals={1: 5})  # 110
    b.track(reals={1: 3})  # 106
    seg = started(a, b)
    run(seg, 0, 6)
    assert a.state(1) is VrState.MASTER
    a.track(reals={1: 1})  # 102: B (106) is better and preempts after its master-down
    log = run(seg, 6, 12)
    assert b.state(1) is VrState.MASTER and a.state(1) is VrState.BACKUP
    took = next(t for t, i, s in log if i == 1 and s == "master")
    assert 6 + 3 < took <= 6 + 1 + 3 + 150 / 256 + DT


def test_oper_vrrp_back_gives_up_the_vip_until_the_new_master_dies():
    a, b = switch(200, "10.0.0.1"), switch(100, "10.0.0.2")
    seg = started(a, b)
    run(seg, 0, 5)
    a.back(1, 5)
    seg.pump(5)
    log = run(seg, 5 + DT, 20)
    assert [(t, i) for t, i, s in log if s == "master"] == [(5 + 156 / 256, 1)]
    assert a.state(1) is VrState.BACKUP  # higher priority, but it does not preempt
    seg.down.add(1)
    log = run(seg, 20 + DT, 25)
    assert [i for t, i, s in log if s == "master"] == [0]
    with pytest.raises(ValueError, match="no virtual router 9"):
        a.back(9, 25)


def test_holdoff_delays_the_election_after_boot():
    a = Vrrp([RouterSpec(1, 1, VIP, prio=100, primary=VIP)], holdoff=4)
    a.start(0)
    assert a.state(1) is VrState.HOLDOFF
    a.tick(3.9)
    assert a.state(1) is VrState.HOLDOFF
    a.tick(4)
    assert a.state(1) is VrState.MASTER


def test_advertisements_that_do_not_fit_are_dropped_and_counted():
    a = switch(100, "10.0.0.1")
    a.start(0)
    good = Advert(1, 200, 1, (VIP,)).encode()
    a.receive(good, "10.0.0.2", 1, ttl=64)
    a.receive(Advert(1, 200, 2, (VIP,)).encode(), "10.0.0.2", 1)
    a.receive(Advert(5, 200, 1, (VIP,)).encode(), "10.0.0.2", 1)
    a.receive(Advert(1, 200, 1, ("10.9.9.9",)).encode(), "10.0.0.2", 1)
    a.receive(b"junk", "10.0.0.2", 1)
    assert {k: v for k, v in a.stats.items() if k.startswith("dropped")} == {
        "dropped ttl": 1, "dropped adver mismatch": 1, "dropped unknown vrid": 1,
        "dropped addr mismatch": 1, "dropped malformed": 1}
    a.receive(good, "10.0.0.1", 1)  # our own advert looped back: ignored
    a.tick(3.7)
    assert a.state(1) is VrState.MASTER  # none of them reset the master-down timer


# ---- from the configuration -------------------------------------------------------------------


def test_routers_and_vips_come_from_the_configuration():
    c = Config()
    c.l3.if_[1] = If(ena=True, addr="10.0.0.1", mask="255.255.255.0")
    c.l3.if_[2] = If(ena=True, addr="10.0.1.1", mask="255.255.255.0")
    c.l3.vrrp.on = True
    c.l3.vrrp.holdoff = 2
    c.l3.vrrp.vr[1] = Vr(ena=True, vrid=1, if_=1, addr=VIP, prio=150)
    c.l3.vrrp.vr[2] = Vr(ena=True, vrid=2, if_=2, addr="10.0.1.254")  # an interface router
    c.l3.vrrp.vr[3] = Vr(ena=True, vrid=3, if_=1, addr="10.0.0.1")  # the owner
    c.l3.vrrp.vr[4] = Vr(ena=False, vrid=4, if_=1, addr="10.0.0.4")
    c.l3.vrrp.vr[2].track.reals = True
    c.slb.virt["web"] = Virt(vip=VIP, ena=True)
    c.slb.virt["api"] = Virt(vip="10.0.1.50", ena=True)
    v = Vrrp.from_config(c)
    assert sorted(v.routers) == [1, 2, 3] and v.holdoff == 2
    assert v.routers[1].spec.server and not v.routers[2].spec.server
    assert v.routers[3].spec.owner and v.priority(3) == 255
    assert v.routers[2].spec.track == frozenset({"reals"})
    assert v.vips == {VIP: (1,), "10.0.1.50": (2,)}
    v.start(0)
    v.tick(2)
    v.tick(5.5)  # 2 + 3 + 106/256: router 1 (prio 150) is master, router 2 not yet
    assert v.master_vips() == {VIP}
    v.tick(6)
    assert v.master_vips() == {VIP, "10.0.1.50"}
    c.l3.vrrp.on = False
    assert Vrrp.from_config(c).routers == {}
