"""The real captures of ../shared/samples/pcaps and their tshark truth: frames, truth rows and
per-direction TCP streams, as the switch engine will see them."""
from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pytest

from weboslb.proto.frame import decode, payload
from weboslb.proto.packet import Link, Packet, Reason, TcpFlag

PCAPS = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples" / "pcaps"
SEP = "\x1f"


def captures() -> list[str]:
    """Names of the captures that have a truth file (empty when ../shared is absent)."""
    if not PCAPS.is_dir():
        return []
    return sorted(p.name[:-len(".truth.tsv")] for p in PCAPS.glob("*.truth.tsv")
                  if _pcap_path(p.name[:-len(".truth.tsv")]) is not None)


def captures_with(*counts: str) -> list[str]:
    """The captures whose SUMMARY.tsv row has any of these counts above zero."""
    path = PCAPS / "SUMMARY.tsv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        rows = {row["capture"].rsplit(".", 1)[0]: row
                for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)}
    return [name for name in captures() if name in rows
            and any(int(rows[name][c] or 0) > 0 for c in counts)]


def _pcap_path(name: str) -> Path | None:
    for ext in (".pcap", ".pcapng"):
        if (PCAPS / (name + ext)).is_file():
            return PCAPS / (name + ext)
    return None


def need(name: str) -> Path:
    path = _pcap_path(name)
    if path is None:
        pytest.skip(f"capture {name} is absent")
    return path


def frames(name: str) -> Iterator[tuple[int, Link | int, bytes]]:
    """(frame number from 1, link type, bytes) of every frame of a capture."""
    from scapy.utils import RawPcapNgReader, RawPcapReader

    path = need(name)
    ng = path.suffix == ".pcapng"
    reader = (RawPcapNgReader if ng else RawPcapReader)(str(path))
    try:
        for number, (data, meta) in enumerate(reader, 1):
            link = meta.linktype if ng else reader.linktype
            yield number, link, data
    finally:
        reader.close()


def truth(name: str) -> dict[int, dict[str, list[str]]]:
    """frame number -> column -> values (a repeated field gives several, none gives [])."""
    path = PCAPS / f"{name}.truth.tsv"
    if not path.is_file():
        pytest.skip(f"{path.name} is absent")
    rows = {}
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            rows[int(row["frame.number"])] = {k: v.split(SEP) if v else [] for k, v in row.items()}
    return rows


@dataclass
class Direction:
    """One direction of a TCP connection, reassembled from its first sequence number."""

    base: int | None = None
    segments: dict[int, bytes] = field(default_factory=dict)  # relative seq -> payload
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)  # frame -> [start, end)

    def add(self, number: int, pkt: Packet, data: bytes) -> None:
        if self.base is None:
            self.base = (pkt.seq + 1) if pkt.flags & TcpFlag.SYN else pkt.seq
        rel = (pkt.seq - self.base) % (1 << 32)
        if rel >= 1 << 31:  # before the base: a retransmission of something earlier
            return
        self.ranges[number] = (rel, rel + len(data))
        if data and len(data) > len(self.segments.get(rel, b"")):
            self.segments[rel] = data

    @cached_property
    def runs(self) -> list[tuple[int, bytes]]:
        """The contiguous runs of bytes seen, as (relative start, bytes), in order (computed
        once, after the last ``add``)."""
        out: list[tuple[int, bytearray]] = []
        for rel in sorted(self.segments):
            data = self.segments[rel]
            if out and rel <= out[-1][0] + len(out[-1][1]):
                start, run = out[-1]
                run += data[start + len(run) - rel:]
            else:
                out.append((rel, bytearray(data)))
        return [(start, bytes(run)) for start, run in out]

    def stream(self) -> bytes:
        """The bytes from the start of the direction up to the first gap."""
        runs = self.runs
        return runs[0][1] if runs and runs[0][0] == 0 else b""

    def block_of(self, number: int) -> tuple[int, bytes, int, int]:
        """The run holding frame ``number``'s bytes, and where they sit: (run start, run,
        frame start, frame end) in the direction's relative sequence numbers."""
        lo, hi = self.ranges[number]
        for start, run in self.runs:
            if start <= lo and hi <= start + len(run):
                return start, run, lo, hi
        raise LookupError(number)


def tcp_directions(name: str) -> dict[tuple, Direction]:
    """(src, sport, dst, dport) -> Direction for every TCP segment that decodes OK."""
    flows: dict[tuple, Direction] = {}
    for number, link, data in frames(name):
        pkt = decode(data, link)
        if pkt.reason != Reason.OK or pkt.proto != 6:
            continue
        key = (pkt.src, pkt.sport, pkt.dst, pkt.dport)
        flows.setdefault(key, Direction()).add(number, pkt, payload(data, pkt))
    return flows
