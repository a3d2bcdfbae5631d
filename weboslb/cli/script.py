"""The console without a terminal: commands from ``-c "cmd; cmd"``, a file or standard input,
output without prompts, exit status 1 at the first error (for scripts and tests).

A question (a missing argument) is answered by the next line of the script, as a device
answers from pasted text; confirmations (``save``, ``exit`` with pending changes) are
answered ``y``.  Blank lines, ``#`` and ``/*`` comments and ``script start|end`` lines are
skipped, so a ``/cfg/dump`` can be fed in as it is.  Errors go to standard error as
``SOURCE:N: message``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

from weboslb.cli.dispatch import Console, Result


@dataclass(frozen=True, slots=True)
class Line:
    source: str  # the file name, "-c" or "<stdin>"
    number: int
    text: str


def split_commands(text: str) -> list[str]:
    """``a; b "x;y"; c`` -> ["a", 'b "x;y"', "c"]: ``;`` outside double quotes separates."""
    out, cur, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [c.strip() for c in out]


def command_lines(commands: Iterable[str]) -> Iterator[Line]:
    """The lines of ``-c`` options, numbered across all of them."""
    n = 0
    for text in commands:
        for cmd in split_commands(text):
            n += 1
            yield Line("-c", n, cmd)


def file_lines(stream: TextIO, source: str) -> Iterator[Line]:
    for n, text in enumerate(stream, 1):
        yield Line(source, n, text.rstrip("\r\n"))


def skipped(text: str) -> bool:
    stripped = text.strip()
    return not stripped or stripped.startswith(("#", "/*", "script start", "script end"))


class ScriptIo:
    """Answers the console's questions from the script itself."""

    def __init__(self, lines: Iterator[Line], out: TextIO) -> None:
        self.lines = lines
        self.out = out

    def show(self, lines: list[str]) -> None:
        for line in lines:
            print(line, file=self.out)

    def ask(self, prompt: str, confirm: bool = False) -> str | None:
        if confirm:
            return "y"
        line = next(self.lines, None)
        return None if line is None else line.text


def run(console: Console, lines: Iterable[Line], out: TextIO, err: TextIO) -> int:
    """Run every line; stop at the first error.  Exit status 0 or 1."""
    source = iter(lines)
    console.io = ScriptIo(source, out)
    for line in source:
        if skipped(line.text):
            continue
        try:
            res = console.execute(line.text)
        except Exception as exc:  # a bug is one line and a failure, not a traceback
            res = Result(error=f"internal error: {type(exc).__name__}: {exc}")
        for text in res.rest:
            print(text, file=out)
        if res.error or res.cancelled:
            print(f"{line.source}:{line.number}: {res.error or 'cancelled'}", file=err)
            return 1
        if res.exit:
            return 0
    if console.rt.store.changed:
        print("WARNING: There are unapplied configuration changes (lost on exit).", file=err)
    return 0
