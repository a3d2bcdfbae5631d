"""The console over a real HA pair (in memory): ``/info/vrrp`` and ``/info/slb/sync`` read
the node's VRRP and mirror, ``/oper/vrrp/back`` hands the VIP to the peer, and the toolbar
shows the role — what an operator sees on each switch of ``weboslb switch``."""
from __future__ import annotations

from tests.ha.test_node import bind_client, ha_pair, run
from weboslb.cli.app import toolbar_text
from weboslb.cli.dispatch import Console
from weboslb.cli.hastatus import NodeStatus
from weboslb.cli.runtime import Runtime
from weboslb.ha.node import vip_bytes

VIP = "192.0.2.100"


def consoles(update: int = 0):
    pair, now = ha_pair(update=update)
    clock = {"now": now}
    out = []
    for node in pair.nodes:
        rt, problems = Runtime.boot(node.config)
        assert rt is not None
        rt.switch, rt.clock = node.switch, lambda: clock["now"]
        rt.ha = NodeStatus(node, rt.clock)
        out.append(Console(rt, verbose=0))
    return pair, clock, out


def lines(con: Console, command: str) -> list[str]:
    res = con.execute(command)
    assert not res.error, res.error
    return res.rest


def test_info_vrrp_shows_the_running_state_of_each_switch():
    pair, clock, (a, b) = consoles()
    assert lines(a, "/info/vrrp") == [
        "VRRP information: on",
        "    1: vrid 1, 192.0.2.1, if 1, renter, prio 200, master",
        "    2: vrid 2, 10.0.1.1, if 2, renter, prio 200, master",
        "    3: vrid 3, 192.0.2.100, if 1, renter, prio 206, master, server"]
    assert lines(b, "/info/vrrp")[3] == \
        "    3: vrid 3, 192.0.2.100, if 1, renter, prio 106, backup, server"
    assert a.rt.role == "MASTER" and b.rt.role == "BACKUP"
    assert toolbar_text(a).startswith(" MASTER | no pending changes | sync: synced (active)")


def test_info_sync_counts_what_the_active_sent_and_the_standby_took():
    pair, clock, (a, b) = consoles(update=0)
    node_a = pair.nodes[0]
    for i in range(5):
        bind_client(node_a, i, clock["now"])
    clock["now"] = run(pair, clock["now"], clock["now"] + 1)
    mirror_a = [ln for ln in lines(a, "/info/slb/sync") if "peer 127.0.1.3:" in ln]
    assert mirror_a and "synced (active)" in mirror_a[0]
    assert mirror_a[0].endswith("entries sent 5, acknowledged 5")
    mirror_b = [ln for ln in lines(b, "/info/slb/sync") if "peer 127.0.1.2:" in ln]
    assert "synced (standby)" in mirror_b[0] and mirror_b[0].endswith("acknowledged 5")


def test_oper_vrrp_back_hands_the_vip_to_the_peer():
    pair, clock, (a, b) = consoles()
    out = lines(a, "/oper/vrrp/back 3")
    assert out == ["Virtual router 3 backs off: priority 0 advertised, now backup."]
    clock["now"] = run(pair, clock["now"], clock["now"] + 2)
    node_a, node_b = pair.nodes
    assert vip_bytes(VIP) in node_b.served and vip_bytes(VIP) not in node_a.served
    assert "3: vrid 3, 192.0.2.100, if 1, renter, prio 106, master, server" in \
        " ".join(lines(b, "/info/vrrp"))
    # the backed-off router stays backup while B advertises, though A's priority is higher
    clock["now"] = run(pair, clock["now"], clock["now"] + 10)
    assert vip_bytes(VIP) in node_b.served


def test_back_on_an_unknown_router_says_so():
    pair, clock, (a, b) = consoles()
    assert lines(a, "/oper/vrrp/back 9") == [
        "no virtual router 9 is running (/cfg/l3/vrrp/vr 9)"]


def test_info_sync_shows_the_frames_the_mirror_dropped():
    pair, clock, (a, b) = consoles()
    node_b = pair.nodes[1]
    node_b.mirror_in(b"WM" + bytes(40), clock["now"])  # a frame of protocol version 0
    assert lines(b, "/info/slb/sync")[-1] == "        frames dropped: malformed 1"
