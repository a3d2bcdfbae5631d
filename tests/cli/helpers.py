"""Consoles for tests: a switch booted from the embedded default config (or YAML text), an
Io that answers questions from a list and keeps the transcript a user would see, a fake HA
provider, and traffic through the switch so the session and stats pages have something to
show."""
from __future__ import annotations

from dataclasses import dataclass, field

from tests.engine.net import Flow, config
from weboslb.cli.dispatch import Console
from weboslb.cli.runtime import RouterStatus, Runtime, SyncFigures
from weboslb.config import files
from weboslb.config.model import Config
from weboslb.engine.switch import Switch

VIP = "192.0.2.100"  # virt 1 of the default config: http 80 (passive cookie), https, ftp 21


class Transcript:
    """An Io: answers from a list, a transcript of output, prompts and answers."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.lines: list[str] = []
        self.asked: list[str] = []

    def show(self, lines: list[str]) -> None:
        self.lines += lines

    def ask(self, prompt: str, confirm: bool = False) -> str | None:
        self.asked.append(prompt)
        answer = self.answers.pop(0) if self.answers else None
        self.lines.append(prompt + (answer or ""))
        return answer


def seeded(cfg: Config) -> Switch:
    return Switch(cfg, seed=bytes(16))


def boot(yaml_text: str | None = None, *answers: str, **kw) -> tuple[Console, Transcript]:
    cfg = config(yaml_text) if yaml_text is not None else files.default()
    rt, problems = Runtime.boot(cfg, make_switch=seeded, **kw)
    assert rt is not None, problems
    io = Transcript(*answers)
    return Console(rt, io, verbose=0), io


def run(console: Console, *lines: str) -> list[str]:
    """Run lines that must succeed; their output."""
    out: list[str] = []
    for line in lines:
        res = console.execute(line)
        assert res.error is None, (line, res.error)
        out += res.output
    return out


def connect(console: Console, cip: str, cport: int, vport: int = 21, t: float = 100.0) -> None:
    """A client connection (SYN) to the default VIP: a session, and for port 21 a client-IP
    persistent entry."""
    console.rt.switch.process(Flow(cip, cport, VIP, vport).syn(), t)


@dataclass
class FakeHa:
    """A stand-in for weboslb/ha: a role, mirror figures, and what was pushed."""

    role: str = "MASTER"
    figures: list[SyncFigures] = field(default_factory=lambda: [
        SyncFigures("10.1.1.2", "connected", 90.0, 120, 118)])
    pushed: list[Config] = field(default_factory=list)
    backed: list[int] = field(default_factory=list)

    def sync_figures(self) -> list[SyncFigures]:
        return self.figures

    def routers(self) -> list[RouterStatus]:
        return [RouterStatus(1, 15, "192.0.2.100", 1, 200, "master", server=True)]

    def push_config(self, cfg: Config) -> str:
        self.pushed.append(cfg)
        return "Configuration sent to peer 10.1.1.2."

    def back(self, vr: int) -> str:
        self.backed.append(vr)
        return f"Virtual router {vr} backs off (priority 0)."
