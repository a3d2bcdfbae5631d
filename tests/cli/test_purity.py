"""The console's core is pure: the grammar, the tree, the pages and the handlers never touch a
terminal, a clock or a socket (only app.py drives prompt_toolkit; command.py and script.py
are the other shells)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_layering import imported_modules

CLI = Path(__file__).resolve().parents[2] / "weboslb" / "cli"
PURE = ["dispatch.py", "tree.py", "render.py", "operations.py", "result.py", "runtime.py"]
SHELL_ONLY = {"prompt_toolkit", "time", "socket", "asyncio", "threading", "subprocess",
              "selectors", "os", "sys", "argparse"}


@pytest.mark.parametrize("name", PURE)
def test_pure_console_modules(name):
    assert imported_modules(CLI / name) & SHELL_ONLY == set()


def test_only_the_app_and_the_completer_import_prompt_toolkit():
    users = {p.name for p in CLI.glob("*.py") if "prompt_toolkit" in imported_modules(p)}
    assert users == {"app.py", "completer.py"}
