"""What the console hands back and how it asks: a line's ``Result``, the ``Io`` that answers
its questions, and the two ways a line ends early (``LineError``, ``Cancel``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class Cancel(Exception):
    """Raised by an ``Io`` when the user cancels a question (Ctrl-C): the line is dropped."""


class LineError(Exception):
    """A command the console refuses, with the device-style message."""


class Io(Protocol):
    def show(self, lines: list[str]) -> None:
        """Output that must be on screen before the next question."""

    def ask(self, prompt: str, confirm: bool = False) -> str | None:
        """The answer to ``prompt``; None when there is no more input.  ``confirm`` marks a
        y/n confirmation (scripts answer those with y)."""


class NoInput:
    """An Io for callers that cannot answer: every question fails the line."""

    def show(self, lines: list[str]) -> None:
        pass

    def ask(self, prompt: str, confirm: bool = False) -> str | None:
        return None


@dataclass(slots=True)
class Result:
    """What a line did: its output (``rest`` is what the caller still has to print), the
    error that stopped it, whether it asked to leave the console."""

    output: list[str] = field(default_factory=list)
    shown: int = 0
    error: str | None = None
    exit: bool = False
    cancelled: bool = False

    @property
    def rest(self) -> list[str]:
        return self.output[self.shown:]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled
