"""The interactive console: the only module that drives a terminal (pgcli's ``_build_cli``).

One ``PromptSession`` with the device's prompt (``>> Main# ``), tab completion from the menu
tree, history kept across sessions, and a bottom toolbar with the switch's role, the pending
changes marker and the mirror's state.  Each line goes to ``Console.execute``; its output is
paged by the console's ``lines`` setting (``Press q to quit, any other key to continue``).
Questions the console asks (a missing argument, a confirmation) are read by a second,
plain session.  Ctrl-C cancels the line or the question; Ctrl-D is ``exit`` (with the
unapplied-changes warning); nothing typed can end in a traceback.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.application import Application
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.layout import Layout, Window
from prompt_toolkit.layout.controls import FormattedTextControl
from prompt_toolkit.output import Output

from weboslb import __version__
from weboslb.cli.completer import ConsoleCompleter
from weboslb.cli.dispatch import Cancel, Console, Result
from weboslb.cli.runtime import STANDALONE

PAGER_PROMPT = "Press q to quit, any other key to continue"


def history_path() -> Path:
    """``$XDG_STATE_HOME/weboslb/history`` when the XDG state directory is set, else
    ``~/.weboslb_history``."""
    state = os.environ.get("XDG_STATE_HOME")
    if state:
        return Path(state) / "weboslb" / "history"
    return Path.home() / ".weboslb_history"


def open_history(path: str | Path | None) -> History:
    """A file history, or one in memory when the file cannot be used (read-only home)."""
    target = Path(path) if path is not None else history_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(exist_ok=True)
        return FileHistory(str(target))
    except OSError:
        return InMemoryHistory()


def toolbar_text(console: Console) -> str:
    """`` MASTER | * unapplied changes | sync: connected, sent 10, acked 10 ``."""
    rt = console.rt
    role = rt.role if rt.role == STANDALONE else rt.role.upper()
    if rt.store.changed:
        changes = "* unapplied changes"
    elif rt.store.unsaved:
        changes = "applied, not saved"
    else:
        changes = "no pending changes"
    figures = rt.sync_figures()
    sync = "not configured" if not figures else ", ".join(
        f"{f.state}, sent {f.sent}, acked {f.acked}" for f in figures)
    return f" {role} | {changes} | sync: {sync} "


class TerminalIo:
    """The console's questions, asked on the terminal."""

    def __init__(self, app: ConsoleApp) -> None:
        self.app = app

    def show(self, lines: list[str]) -> None:
        self.app.page(lines)

    def ask(self, prompt: str, confirm: bool = False) -> str | None:
        try:
            return self.app.questions.prompt(prompt)
        except KeyboardInterrupt:
            raise Cancel from None
        except EOFError:
            return None


class ConsoleApp:
    def __init__(self, console: Console, *, history: History | None = None,
                 input: Input | None = None, output: Output | None = None,
                 echo: Callable[[str], None] | None = None) -> None:
        self.console = console
        self.input, self.output = input, output
        self.echo = echo or print
        console.io = TerminalIo(self)
        self.session: PromptSession[str] = PromptSession(
            message=lambda: console.prompt,
            completer=ConsoleCompleter(console),
            complete_while_typing=False,
            history=history if history is not None else InMemoryHistory(),
            auto_suggest=AutoSuggestFromHistory(),
            bottom_toolbar=lambda: toolbar_text(console),
            input=input, output=output)
        self.questions: PromptSession[str] = PromptSession(input=input, output=output)

    # ---- output ------------------------------------------------------------------------

    def read_key(self, message: str) -> str:
        """One key press (the pager's); Ctrl-C and end of input count as q."""
        kb = KeyBindings()

        @kb.add("<any>")
        def _(event) -> None:
            event.app.exit(result=event.key_sequence[0].key)

        @kb.add("c-c")
        @kb.add("c-d")
        def _(event) -> None:
            event.app.exit(result="q")

        app: Application[str] = Application(
            layout=Layout(Window(FormattedTextControl(message), height=1)), key_bindings=kb,
            input=self.input, output=self.output, erase_when_done=True)
        try:
            return app.run() or "q"
        except (EOFError, KeyboardInterrupt):
            return "q"

    def page(self, lines: list[str]) -> None:
        """Print lines, a screenful at a time when ``lines`` is set (0 = no paging)."""
        size = self.console.lines - 1
        if size <= 0 or len(lines) <= size:
            for line in lines:
                self.echo(line)
            return
        for start in range(0, len(lines), size):
            for line in lines[start:start + size]:
                self.echo(line)
            if start + size < len(lines) and self.read_key(PAGER_PROMPT) in ("q", "Q"):
                return

    # ---- the loop ----------------------------------------------------------------------

    def run_line(self, line: str) -> Result:
        try:
            res = self.console.execute(line)
        except Exception as exc:  # a bug must not end the session with a traceback
            res = Result(error=f"internal error: {type(exc).__name__}: {exc}")
        self.page(res.rest)
        if res.error:
            self.echo(res.error)
        return res

    def banner(self) -> list[str]:
        role = self.console.rt.role
        return [f"Alteon Web OS switch emulator (weboslb {__version__}), role {role}.",
                'Type "help" for the commands, Tab to complete, "exit" to leave.', "",
                *self.console.menu_lines()]

    def run(self) -> int:
        self.page(self.banner())
        while True:
            try:
                line = self.session.prompt()
            except KeyboardInterrupt:
                continue  # Ctrl-C drops the line being typed
            except EOFError:
                # Ctrl-D leaves with the same warning as exit; if even the confirmation
                # meets the end of the input, there is nobody left to ask
                res = self.run_line("exit")
                if res.exit or res.error:
                    return 0
                continue
            if self.run_line(line).exit:
                return 0
