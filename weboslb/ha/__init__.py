"""High availability: the stateful-failover mirror (wire codec, ``MirrorPeer``), VRRP, and the
in-memory pair that joins two switches for failover tests and replays.  All sans-IO."""
from weboslb.ha.advert import Advert, VrrpError
from weboslb.ha.auth import mirror_key
from weboslb.ha.mirror import MirrorPeer, MirrorStats, Plan, State, Timers
from weboslb.ha.node import HaPair, Node, Snapshot
from weboslb.ha.pair import Faults, FaultyLink, MirrorPair, VrrpSegment
from weboslb.ha.vrrp import Increments, RouterSpec, Vrrp, VrState
from weboslb.ha.wire import Role, WireError

__all__ = [
    "Advert",
    "Faults",
    "FaultyLink",
    "Increments",
    "MirrorPair",
    "MirrorPeer",
    "MirrorStats",
    "Plan",
    "Role",
    "RouterSpec",
    "State",
    "Timers",
    "VrState",
    "Vrrp",
    "VrrpError",
    "VrrpSegment",
    "WireError",
    "mirror_key",
]
