"""``--out-pcap DIR``: the replay as each side of the switch saw it.

``client.pcap`` holds the frames on the client-facing side (what came in from clients, and
the reals' answers as the switch sent them back); ``server.pcap`` the frames as the reals
received and sent them, after NAT, DAM and payload rewrites.  Frames the switch originates
(a delayed-binding SYN, a reset) are written on their side.  One file per side and link type.
"""
from __future__ import annotations

from pathlib import Path

from weboslb.engine.switch import Action
from weboslb.io.pcap import PcapWriter

SIDES = ("client", "server")


class Views:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._writers: dict[tuple[str, int], PcapWriter] = {}
        self._first_link: int | None = None

    def write(self, ts: float, link: int, act: Action) -> None:
        # the switch's own frames come between: a reset answers the client's frame, a
        # delayed-binding SYN opens the server leg before the request it carries
        if act.client is not None:
            self._writer("client", link).write(ts, act.client)
        for side, out in act.emit:
            self._writer(side, link).write(ts, out)
        if act.server is not None:
            self._writer("server", link).write(ts, act.server)

    @property
    def paths(self) -> list[Path]:
        return [Path(w.path) for w in self._writers.values()]

    def close(self) -> None:
        for w in self._writers.values():
            w.close()

    def _writer(self, side: str, link: int) -> PcapWriter:
        w = self._writers.get((side, link))
        if w is None:
            if self._first_link is None:
                self._first_link = link
            name = f"{side}.pcap" if link == self._first_link else f"{side}-link{link}.pcap"
            w = self._writers[side, link] = PcapWriter(self.directory / name, link)
        return w
