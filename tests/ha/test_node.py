"""The HA node: a switch, its mirror and its VRRP glued as Web OS glues them.  VRRP decides who
serves; the mirror follows (master: promote, backup: demote); a failed node is silent; a
recovered one restarts fresh and joins the election once its mirror holds the active's table.
Everything on a virtual clock, through ``HaPair``: no socket, no sleep."""
from __future__ import annotations

from array import array
from pathlib import Path

import pytest

from tests.engine.net import Flow, config, http_request
from weboslb.config import files
from weboslb.engine.events import Verdict, Why
from weboslb.engine.switch import Switch
from weboslb.ha.node import HaPair, Node, vip_bytes
from weboslb.ha.vrrp import VrState
from weboslb.ha.wire import Role
from weboslb.table.contract import KeyKind

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
VIP = "192.0.2.100"


def applied(name: str):
    cfg, problems = files.applied(files.load(CONFIGS / name))
    assert cfg is not None, [p.text(name) for p in problems]
    return cfg


def ha_pair(*, update: int | None = None, state: bool = True) -> tuple[HaPair, float]:
    """configs/ha-a.yaml and ha-b.yaml booted at t=1000 and run until A serves."""
    a_cfg, b_cfg = applied("ha-a.yaml"), applied("ha-b.yaml")
    for cfg in (a_cfg, b_cfg):
        cfg.slb.sync.state = state
        if update is not None:
            cfg.slb.sync.update = update
    pair = HaPair(Node("A", 1, a_cfg), Node("B", 2, b_cfg))
    pair.start(1000.0)
    return pair, run(pair, 1000.0, 1012.0)


def run(pair: HaPair, now: float, until: float, dt: float = 0.1) -> float:
    while now < until - 1e-9:
        now = round(now + dt, 6)
        pair.step(now)
    return now


def bind_client(node: Node, i: int, now: float) -> None:
    """A client-IP binding on the node's table, as the switch makes one."""
    node.switch.persistence.bind(KeyKind.IPV4, 1, bytes([198, 51, 100, i]), real=1, now=now,
                                 timeout=600, sp=9)


def test_vrrp_master_serves_and_teaches_the_backup_learns():
    pair, now = ha_pair(update=0)
    a, b = pair.nodes
    assert a.active and not b.active
    assert a.served == {vip_bytes(VIP)} and b.served == frozenset()
    assert a.switch.standby == frozenset() and b.switch.standby == {vip_bytes(VIP)}
    assert a.mirror.role is Role.ACTIVE and a.mirror.ready
    assert b.mirror.role is Role.STANDBY and b.mirror.synced
    assert pair.owners() == {vip_bytes(VIP): a}
    bind_client(a, 7, now)
    run(pair, now, now + 0.5)
    assert b.switch.persistence.lookup(KeyKind.IPV4, 1, bytes([198, 51, 100, 7]),
                                       now) is not None  # the mirror carried it


def test_the_backup_drops_frames_to_the_vip_it_does_not_serve():
    pair, now = ha_pair()
    b = pair.nodes[1]
    f = Flow("198.51.100.9", 40000, VIP, 80)
    act = b.switch.process(f.syn(), now)
    assert (act.verdict, act.why) == (Verdict.DROP, Why.STANDBY)
    assert b.switch.why[Why.STANDBY] == 1 and len(b.switch.sessions) == 0


def test_a_failed_node_is_silent_and_the_backup_takes_over():
    pair, now = ha_pair(update=0)
    a, b = pair.nodes
    bind_client(a, 1, now)
    now = run(pair, now, now + 0.3)
    pair.fail(a, now)
    failed_at = now
    assert a.failed and a.served == frozenset() and a.switch.standby == {vip_bytes(VIP)}
    assert a.adverts() == [] and a.mirror_out() == b""
    assert a.deadline(now) is None
    a.tick(now + 50)  # a dead switch's timers do nothing
    assert a.vrrp.state(3) is VrState.MASTER  # frozen as it died
    assert pair.owners() == {vip_bytes(VIP): None}  # the detection gap: nobody serves
    while not b.served:
        now = run(pair, now, now + 0.1)
    # VRRP's master-down interval, 3 x adver + skew, from B's last advertisement heard
    assert 2.5 < now - failed_at <= 3 + (256 - 106) / 256 + 0.1
    assert b.active and b.mirror.role is Role.ACTIVE and b.mirror.ready
    assert a.handover is not None and b.takeover is not None
    assert set(a.handover.entries) <= set(b.takeover.entries)  # immediate: nothing lost
    assert any("failed" in n.text for n in a.notes)


def test_recovery_restarts_fresh_relearns_then_preempts():
    pair, now = ha_pair(update=0)
    a, b = pair.nodes
    for i in range(5):
        bind_client(a, i, now)
    now = run(pair, now, now + 0.2)
    pair.fail(a, now)
    now = run(pair, now, now + 5)
    assert b.served
    bind_client(b, 50, now)  # a binding only the new active made
    old_switch = a.switch
    pair.recover(a, now)
    assert a.switch is not old_switch and a.retired == [old_switch]
    assert len(a.switch.persistence) == 0 and not a.active
    assert a.vrrp.state(3) is VrState.INIT  # waits for the mirror
    now = run(pair, now, now + 0.3)
    assert a.mirror.synced and a.vrrp.state(3) is not VrState.INIT  # relearnt, joined
    assert len(a.switch.persistence) == 6  # B's table, including its own new binding
    now = run(pair, now, now + 8)  # holdoff 3 s, then A's higher priority preempts
    assert a.served and not b.served
    assert a.mirror.role is Role.ACTIVE and b.mirror.role is Role.STANDBY
    assert b.handover is not None and len(b.handover.entries) == 6
    assert set(b.handover.entries) <= set(a.takeover.entries)


def test_a_recovering_node_without_a_mirror_copy_joins_after_the_learn_timeout():
    pair, now = ha_pair()
    a, b = pair.nodes
    pair.fail(b, now)
    pair.link_down(now)
    pair.recover(b, now)
    now = run(pair, now, now + 4.9)
    assert b.vrrp.state(3) is VrState.INIT  # nobody can teach it over a cut link
    now = run(pair, now, now + 0.3)
    assert b.vrrp.state(3) is not VrState.INIT
    assert any("no complete copy" in n.text for n in b.notes)
    now = run(pair, now, now + 10)
    assert a.served and not b.served  # A kept serving throughout


def test_without_stateful_failover_mastership_alone_decides():
    pair, now = ha_pair(state=False)
    a, b = pair.nodes
    assert a.mirror is None and b.mirror is None
    assert a.served == {vip_bytes(VIP)}
    bind_client(a, 3, now)
    pair.fail(a, now)
    now = run(pair, now, now + 5)
    assert b.served and len(b.switch.persistence) == 0  # it holds no binding
    assert a.handover.acked is None


def test_real_down_lowers_the_tracked_priority():
    pair, now = ha_pair()
    a = pair.nodes[0]
    before = a.vrrp.priority(3)  # 200 + 2 per healthy real behind the VIP (track reals)
    assert a.set_real(2, False, now)
    assert a.vrrp.priority(3) == before - 2
    assert not a.set_real(99, False, now)


def test_the_fast_path_steps_aside_for_a_standby_vip():
    cfg = config("""
slb:
  on: true
  real: {1: {ena: true, rip: 10.0.1.11}}
  group: {1: {reals: [1]}}
  virt: {1: {ena: true, vip: 192.0.2.100, service: {80: {app: http, group: 1}}}}
""")
    sw = Switch(cfg)
    f = Flow("198.51.100.1", 40000, VIP, 80)
    frames = [*f.handshake(), f.send(http_request()), f.send(http_request("/2"))]
    buf = b"".join(frames)
    offs = array("Q", [sum(map(len, frames[:i])) for i in range(len(frames))])
    lens = array("I", map(len, frames))
    times = array("d", [1.0 + i / 10 for i in range(len(frames))])
    res = sw.process_batch(buf, offs[:3], lens[:3], times[:3])
    assert res.verdicts[2] == Verdict.TO_REAL
    sw.standby = frozenset({vip_bytes(VIP)})  # the switch became the backup
    res = sw.process_batch(buf, offs[3:], lens[3:], times[3:])
    assert res.fast == 0 and list(res.verdicts) == [Verdict.DROP] * 2
    assert list(res.whys) == [Why.STANDBY] * 2


@pytest.mark.parametrize("state", [True, False])
def test_apply_keeps_the_election_when_the_routers_do_not_change(state):
    pair, now = ha_pair(state=state)
    a = pair.nodes[0]
    cfg = applied("ha-a.yaml")
    cfg.slb.sync.state = state
    cfg.slb.real[3].ena = False
    a.apply(cfg, now)
    assert a.served == {vip_bytes(VIP)} and a.vrrp.state(3) is VrState.MASTER
    assert not a.switch.farm.available(3)
