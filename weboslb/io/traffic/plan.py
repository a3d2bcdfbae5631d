"""What a generated capture holds: the mix of sessions, counted while the traffic is made."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Mix:
    """What a capture holds, session by session."""

    http_connections: int  # to 192.0.2.100:80
    cookie_sets: int  # responses that set JSESSIONID (a client's first)
    cookie_connections: int  # connections whose first request returns JSESSIONID
    https_connections: int  # to 192.0.2.100:443
    tls_full: int  # full handshakes: a new session ID each
    tls_resumed: int  # resumptions of an ID, roaming ones included
    tls_roaming: int  # resumptions from another address than the one that got the ID
    ftp_connections: int  # FTP control connections
    ftp_repeat: int  # control connections of a client that had one before
    ftp_passive: int  # data connections to the VIP's announced port (227)
    ftp_active: int  # data connections from the VIP's port 20 (PORT)
    urlhash_connections: int  # to 192.0.2.101:80
    urlhash_requests: int
    urls: int  # distinct URLs requested of the caches

    @property
    def connections(self) -> int:
        return (self.http_connections + self.https_connections + self.ftp_connections
                + self.ftp_passive + self.ftp_active + self.urlhash_connections)

    def describe_mix(self) -> str:
        return (f"{self.http_connections:,} HTTP connections ({self.cookie_connections:,} "
                f"returning JSESSIONID), {self.https_connections:,} HTTPS ("
                f"{self.tls_resumed:,} resumed, {self.tls_roaming:,} from a new address), "
                f"{self.ftp_connections:,} FTP sessions ({self.ftp_passive:,} passive and "
                f"{self.ftp_active:,} active data connections), {self.urlhash_connections:,} "
                f"to the caches ({self.urlhash_requests:,} requests for {self.urls} URLs)")

    def expected_hits(self) -> dict[str, int]:
        """Persistence hits a switch with the demo's address plan should count, by pbind:
        every returned cookie, resumed session ID, FTP data connection and FTP client's
        later control connection (the bindings are learnt by the earlier ones)."""
        return {"cookie": self.cookie_connections, "sslid": self.tls_resumed,
                "ftp": self.ftp_passive + self.ftp_active, "clientip": self.ftp_repeat}


@dataclass(frozen=True, slots=True)
class DemoPlan(Mix):
    """What the demo capture holds: every connection in it is complete."""

    path: Path
    seed: int
    clients: int  # client hosts
    addresses: int  # client addresses: roaming clients add one each
    packets: int
    start: float  # time of the first frame
    end: float  # time of the last frame

    @property
    def duration(self) -> float:
        return self.end - self.start

    def describe(self) -> str:
        """One line: what the capture holds."""
        return (f"{self.packets:,} frames over {self.duration:.0f} s from {self.clients} "
                f"clients ({self.addresses} addresses): {self.describe_mix()}")


@dataclass(frozen=True, slots=True)
class BenchPlan(Mix):
    """Sessions are counted when they begin: the capture's end cuts the last ones short."""

    path: Path
    seed: int
    clients: int  # client addresses
    packets: int
    start: float
    end: float

    def describe(self) -> str:
        return (f"{self.packets:,} frames over {self.end - self.start:.0f} s from "
                f"{self.clients:,} client addresses: {self.describe_mix()}")


class Tally:
    """Mix counters while the traffic is made."""

    def __init__(self) -> None:
        for name in Mix.__dataclass_fields__:
            setattr(self, name, 0)
        self.url_set: set[str] = set()
        self.addresses = 0

    def snapshot(self) -> dict:
        state = dict(vars(self))
        state["url_set"] = set(self.url_set)
        return state

    def restore(self, state: dict) -> None:
        vars(self).update(state)

    def mix(self) -> dict[str, int]:
        self.urls = len(self.url_set)
        return {name: getattr(self, name) for name in Mix.__dataclass_fields__}
