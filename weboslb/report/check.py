"""Did persistence hold?  Read from a report's connections alone, so that it checks the switch
rather than restating it: every connection that shares a persistence key should have reached
one real.  FTP data connections are checked against their client's control connections (the
demo's FTP service binds by client IP, which carries the data connections along)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Held:
    pbind: str
    connections: int  # connections of this pbind with a key
    new: int
    hit: int
    keys: int
    split: int  # keys whose connections reached more than one real: persistence broken

    @property
    def ok(self) -> bool:
        return self.split == 0


def persistence_held(connections: list[dict]) -> list[Held]:
    groups: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in connections:
        pbind, key = c["pbind"], c["persist_key"]
        if pbind == "none" or not key or c["real"] is None:
            continue
        if pbind == "ftp":  # data connections follow their client's control connections
            key = c["client_ip"]
            pbind = "ftp"
        groups[pbind][key].add(c["real"])
        n = counts[pbind]
        n[0] += 1
        n[1] += c["persist"] == "new"
        n[2] += c["persist"] == "hit"
    _control(connections, groups)
    return [Held(p, counts[p][0], counts[p][1], counts[p][2], len(keys),
                 sum(len(reals) > 1 for reals in keys.values()))
            for p, keys in sorted(groups.items()) if p in counts]


def _control(connections: list[dict], groups: dict[str, dict[str, set]]) -> None:
    """Add the real of each FTP client's control connections to its data connections' group."""
    ftp = groups.get("ftp")
    if not ftp:
        return
    for c in connections:
        if c["client_ip"] in ftp and c["vport"] == 21 and c["real"] is not None:
            ftp[c["client_ip"]].add(c["real"])
