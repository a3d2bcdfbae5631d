"""The console inside ``weboslb switch``: the same menus as ``weboslb cli``, over the running
node, on the terminal (prompt_toolkit) or on piped standard input, in a thread of its own.

``NodeRuntime`` routes what the menus change through the node, so VRRP and the mirror see
it: ``apply`` (virtual routers restart when their configuration changed), ``/oper/slb/ena``
and ``dis`` (tracked reals), ``/boot/reset`` (a restart with fresh state that relearns from
the peer).  Each command runs under the process lock; questions and paging release it.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import TextIO

from weboslb.cli import script
from weboslb.cli.dispatch import Console, Result
from weboslb.cli.runtime import Runtime
from weboslb.config.model import Id
from weboslb.ha.node import Node


@dataclass(slots=True, eq=False)
class NodeRuntime(Runtime):
    """A ``Runtime`` whose switch is a node's."""

    node: Node | None = None

    def run_applied(self) -> None:
        self.node.apply(self.store.applied, self.now())
        self.switch = self.node.switch
        self.oper_disabled &= set(self.store.applied.slb.real)

    def set_oper(self, real: Id, enabled: bool) -> bool:
        if not self.node.set_real(real, enabled, self.now()):
            return False
        (self.oper_disabled.discard if enabled else self.oper_disabled.add)(real)
        return True

    def reset(self) -> None:
        """``/boot/reset``: boot again from flash; the mirror relearns from the peer."""
        now = self.now()
        self.store.revert_apply()
        self.node.fail(now)
        self.node.config = self.store.applied
        self.node.recover(now)
        self.node.retired.clear()  # a replay keeps them for its report; a process has none
        self.switch = self.node.switch
        self.oper_disabled.clear()


class LockedConsole(Console):
    """A console whose commands hold ``lock`` while they run."""

    def __init__(self, runtime: Runtime, lock, after, **kw) -> None:
        Console.__init__(self, runtime, **kw)
        self.lock = lock
        self.after = after  # the loop sends what the command left due

    def execute(self, line: str) -> Result:
        with self.lock:
            res = Console.execute(self, line)
        self.after()
        return res


class _Unlocked:
    """The console's questions and pages, asked with the lock released."""

    def __init__(self, io, lock) -> None:
        self.io, self.lock = io, lock

    def _free(self, fn, *args, **kw):
        try:
            self.lock.release()
        except RuntimeError:  # asked outside a command: nothing to release
            return fn(*args, **kw)
        try:
            return fn(*args, **kw)
        finally:
            self.lock.acquire()

    def show(self, lines: list[str]) -> None:
        self._free(self.io.show, lines)

    def ask(self, prompt: str, confirm: bool = False) -> str | None:
        return self._free(self.io.ask, prompt, confirm)


def terminal(console: LockedConsole, history, on_exit) -> threading.Thread:
    """The interactive console (prompt_toolkit) on this terminal; ``exit`` stops the switch.
    The switch's log lines print above the prompt."""
    from prompt_toolkit.patch_stdout import patch_stdout

    from weboslb.cli.app import ConsoleApp

    app = ConsoleApp(console, history=history)
    console.io = _Unlocked(console.io, console.lock)

    def run() -> None:
        try:
            with patch_stdout(raw=True):
                app.run()
        finally:
            on_exit(0)

    return threading.Thread(target=run, name="console", daemon=True)


def piped(console: LockedConsole, stream: TextIO, out: TextIO, err: TextIO,
          on_exit) -> threading.Thread:
    """Commands from a pipe or a file, one per line, without prompts: an error is reported
    (SOURCE:LINE: message) and the next line runs; ``exit`` stops the switch; the end of
    the input only ends the console (the switch runs on)."""

    def run() -> None:
        lines = script.file_lines(stream, "<stdin>")
        console.io = _Unlocked(script.ScriptIo(lines, out), console.lock)
        for line in lines:
            if script.skipped(line.text):  # blank lines and comments, as in scripts
                continue
            try:
                res = console.execute(line.text)
            except Exception as exc:  # a bug is one line, not a dead console
                res = Result(error=f"internal error: {type(exc).__name__}: {exc}")
            for text in res.rest:
                print(text, file=out)
            out.flush()
            if res.error:
                print(f"{line.source}:{line.number}: {res.error}", file=err, flush=True)
            if res.exit:
                on_exit(0)
                return

    return threading.Thread(target=run, name="console", daemon=True)


def stdin_console(console: LockedConsole, *, history, on_exit) -> threading.Thread | None:
    """The console for this process's standard input, or None when there is none."""
    if sys.stdin is None or sys.stdin.closed:
        return None
    if sys.stdin.isatty() and sys.stdout.isatty():
        return terminal(console, history, on_exit)
    return piped(console, sys.stdin, sys.stdout, sys.stderr, on_exit)
