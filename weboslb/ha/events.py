"""What the mirror and VRRP report: facts for reports, logs and tests (drained, never acted
on by the core itself)."""
from __future__ import annotations

from dataclasses import dataclass

from weboslb.table.contract import KeyKind


@dataclass(frozen=True, slots=True)
class PeerUp:
    """A session with the peer switch is established; ``plan`` says which way state flows:
    teach | learn (normal), teach-lesson | learn-lesson (a restarted active relearns from its
    standby), idle-both-active (split brain), idle-both-standby."""

    ts: float
    peer_switch_id: int
    plan: str
    resumed: bool  # the stream continued where it stopped: no bulk sync


@dataclass(frozen=True, slots=True)
class PeerDown:
    ts: float
    why: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The handshake was refused (``by_peer``: the peer refused us)."""

    ts: float
    reason: str
    text: str
    by_peer: bool


@dataclass(frozen=True, slots=True)
class AuthFailures:
    """Frames failed authentication: a passphrase mismatch, forgery or damage."""

    ts: float
    count: int


@dataclass(frozen=True, slots=True)
class BulkStarted:
    ts: float
    kind: KeyKind
    sending: bool
    why: str  # join | journal-gap | resync-request | lesson


@dataclass(frozen=True, slots=True)
class BulkDone:
    """One key kind's bulk sync is complete: ``count`` copies sent (teacher) or received
    (learner); the learner also reports the entries it holds after dropping stale ones."""

    ts: float
    kind: KeyKind
    sending: bool
    count: int
    held: int | None = None
    swept: int = 0


@dataclass(frozen=True, slots=True)
class Synced:
    """The learner holds a complete copy (teacher: the learner acknowledged it)."""

    ts: float
    sending: bool


@dataclass(frozen=True, slots=True)
class Ready:
    """An active switch may serve: it relearnt its table from the standby (``learned``) or
    there was nothing to learn (peer fresh, absent past the learn timeout)."""

    ts: float
    learned: bool
    why: str


@dataclass(frozen=True, slots=True)
class SplitBrain:
    """Both switches claim the active role: neither applies the other's updates."""

    ts: float


@dataclass(frozen=True, slots=True)
class TableFull:
    """Entries from the peer that the local table refused (capacity)."""

    ts: float
    kind: KeyKind
    count: int


@dataclass(frozen=True, slots=True)
class ConfigPushed:
    """The peer pushed its configuration (``/oper/slb/sync``): ``text``, a dump script, arrived
    whole and authenticated.  Nothing is applied: the switch decides (``ha.configsync``)."""

    ts: float
    text: str


@dataclass(frozen=True, slots=True)
class ConfigAcked:
    """The peer acknowledged our push of ``size`` bytes: it holds the whole text."""

    ts: float
    size: int


@dataclass(frozen=True, slots=True)
class ConfigLost:
    """Our push of ``size`` bytes was not delivered: the session ended, the peer never
    acknowledged it, or it could not read it."""

    ts: float
    size: int
    why: str


@dataclass(frozen=True, slots=True)
class VrrpTransition:
    ts: float
    vr: int  # the /cfg/l3/vrrp/vr index
    vrid: int
    old: str
    new: str
    why: str


MirrorEvent = (PeerUp | PeerDown | Refused | AuthFailures | BulkStarted | BulkDone | Synced
               | Ready | SplitBrain | TableFull | ConfigPushed | ConfigAcked | ConfigLost)
