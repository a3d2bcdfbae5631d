"""The console's view of a running HA switch: a ``Node`` (switch, mirror, VRRP) read as the
``HaStatus`` the menus need (``/info/slb/sync``, ``/info/vrrp``, ``/oper/slb/sync``,
``/oper/vrrp/back``, the toolbar's role).

The node's clock is injected (``weboslb switch`` gives the wall clock; a test, a number), and
``pushed`` is called after an operation that leaves bytes for the wires (a back-off's
priority-0 advertisement, a configuration push), so the shell sends them at once.
"""
from __future__ import annotations

from collections.abc import Callable

from weboslb.cli.runtime import RouterStatus, SyncFigures
from weboslb.config.model import Config
from weboslb.ha.mirror import State
from weboslb.ha.node import Node
from weboslb.ha.vrrp import VrState
from weboslb.ha.wire import Role

MASTER, BACKUP, INIT = "MASTER", "BACKUP", "INIT"


class NodeStatus:
    """``HaStatus`` over one ``Node``."""

    def __init__(self, node: Node, clock: Callable[[], float], *,
                 pushed: Callable[[], None] = lambda: None) -> None:
        self.node = node
        self.clock = clock
        self.pushed = pushed

    @property
    def role(self) -> str:
        n = self.node
        if n.failed:
            return INIT
        if n.active:
            return MASTER
        states = {r.state for r in n.vrrp.routers.values()}
        return BACKUP if states & {VrState.BACKUP, VrState.MASTER} else INIT

    def sync_figures(self) -> list[SyncFigures]:
        n = self.node
        m = n.mirror
        if m is None:
            return []
        peers = [p.addr for _, p in sorted(n.config.slb.sync.peer.items())
                 if p.ena and p.addr]
        state = _state_text(m.state, m.role, m.ready)
        sent = m.stats.sent + m.stats.bulk_sent
        acked = m.stats.acked if m.role is Role.ACTIVE else m.stats.applied + m.stats.bulk_applied
        dropped = tuple(sorted((why, n) for why, n in m.stats.dropped.items() if n))
        return [SyncFigures(peer, state, m.last_flush, sent, acked, dropped) for peer in peers]

    def routers(self) -> list[RouterStatus]:
        vr_cfg = self.node.config.l3.vrrp.vr
        return [RouterStatus(vr=i.index, vrid=i.vrid, addr=i.addr,
                             if_=vr_cfg[i.index].if_ if i.index in vr_cfg else None,
                             prio=i.priority, state=i.state, owner=i.owner, server=i.server)
                for i in self.node.vrrp.info()]

    def push_config(self, config: Config) -> str:
        """``/oper/slb/sync``: the applied configuration to the peer, over the mirror."""
        line = self.node.push_config(self.clock())
        self.pushed()
        return line

    def back(self, vr: int) -> str:
        """``/oper/vrrp/back``: advertise priority 0 and stay backup while a master lives."""
        n, now = self.node, self.clock()
        if vr not in n.vrrp.routers:
            return f"no virtual router {vr} is running (/cfg/l3/vrrp/vr {vr})"
        was = n.vrrp.state(vr)
        n.vrrp.back(vr, now)
        n.settle(now)
        self.pushed()
        if was is VrState.MASTER:
            return f"Virtual router {vr} backs off: priority 0 advertised, now backup."
        return (f"Virtual router {vr} is {was.value}: it stays backup while a master "
                f"advertises.")


def _state_text(state: State, role: Role, ready: bool) -> str:
    """``connected, teaching``: what the link does, in the console's words."""
    if state in (State.IDLE, State.DOWN):
        return "down" if state is State.DOWN else "not connected"
    if state in (State.HELLO, State.REFUSED, State.STALEMATE):
        return state.value
    doing = {(State.BULK, Role.ACTIVE): "bulk sync (teaching)",
             (State.BULK, Role.STANDBY): "bulk sync (learning)",
             (State.SYNCED, Role.ACTIVE): "synced (active)",
             (State.SYNCED, Role.STANDBY): "synced (standby)"}[state, role]
    if role is Role.ACTIVE and not ready:
        doing += ", relearning before serving"
    return doing
