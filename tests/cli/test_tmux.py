"""End to end: the real console in a terminal (tmux), driven by keys and read off the screen,
through a config change, ``apply`` and a session dump.  Skipped when tmux is absent."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TMUX = shutil.which("tmux")

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


class Terminal:
    """A tmux server of our own (its socket in the test's directory), one window running
    the console."""

    def __init__(self, command: str, tmp: Path) -> None:
        self.socket = str(tmp / "tmux.sock")
        env = {**os.environ, "TERM": "xterm-256color", "HOME": str(tmp)}
        env.pop("TMUX", None)
        self.env = env
        self.tmux("new-session", "-d", "-s", "console", "-x", "120", "-y", "50", command)

    def tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([TMUX, "-S", self.socket, *args], env=self.env,
                              capture_output=True, text=True, timeout=20)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "console", *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "console").stdout

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not on screen:\n{self.screen()}")

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", "console").returncode == 0

    def close(self) -> None:
        self.tmux("kill-server")  # our own server only: it has its own socket


@pytest.fixture
def terminal(tmp_path):
    command = (f"cd {REPO} && {sys.executable} -m tests.cli.traffic_console "
               f"--history {tmp_path / 'history'}")
    term = Terminal(command, tmp_path)
    try:
        yield term
    finally:
        term.close()


def test_change_apply_and_session_dump_in_a_terminal(terminal, tmp_path):
    t = terminal
    t.wait_for(">> Main#")  # capture-pane drops trailing blanks
    assert "[Main Menu]" in t.screen()
    assert "standalone | no pending changes | sync: not configured" in t.screen()

    t.keys("/c/sl/re 4/weight 3", "Enter")
    t.wait_for(">> Real server 4#")
    t.wait_for("* unapplied changes")  # the toolbar

    t.keys("apply", "Enter")
    t.wait_for("Apply complete; don't forget")
    t.wait_for("applied, not saved")

    t.keys("cur", "Enter")
    t.wait_for("Current Real server 4 configuration:")
    assert "    weight 3" in t.screen()

    t.keys("/i/sl/se/du", "Enter")
    screen = t.wait_for("198.51.100.7 40002, 192.0.2.100 ftp ->")
    assert "198.51.100.7 40001, 192.0.2.100 ftp ->" in screen
    assert "EP c:2" in screen  # the client-IP persistent entry, used by both
    assert ">> Session Table Information#" in screen

    t.keys("/c/slb/real 4/wei", "Tab")  # completion from the menu tree
    t.wait_for("/c/slb/real 4/weight")
    t.keys("C-u")

    t.keys("exit", "Enter")
    end = time.monotonic() + 20
    while t.alive() and time.monotonic() < end:
        time.sleep(0.1)
    assert not t.alive()  # exit (applied but unsaved: a warning, no question) ended it
    assert "/c/sl/re 4/weight 3" in (tmp_path / "history").read_text()
