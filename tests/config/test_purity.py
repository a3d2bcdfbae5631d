"""The configuration core is pure: no module but the shells imports IO, clocks or threads."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.config.helpers import REPO

PACKAGE = REPO / "weboslb" / "config"
SHELLS = {"files.py", "cli.py"}
BANNED = {"os", "sys", "socket", "time", "asyncio", "threading", "subprocess", "io", "pathlib",
          "tempfile", "shutil", "importlib", "scapy", "prompt_toolkit", "builtins"}
PURE = sorted(p for p in PACKAGE.glob("*.py") if p.name not in SHELLS)


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: p.name)
def test_pure_modules_import_no_io(path: Path) -> None:
    assert not imports(path) & BANNED


@pytest.mark.parametrize("path", PURE, ids=lambda p: p.name)
def test_pure_modules_open_no_files(path: Path) -> None:
    calls = {n.func.id for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not calls & {"open", "print", "input", "exec", "eval"}


def test_the_pure_modules_are_the_ones_we_think() -> None:
    assert {p.name for p in PURE} >= {"model.py", "menu.py", "args.py", "syntax.py", "edit.py",
                                      "dump.py", "yamlio.py", "validate.py", "store.py",
                                      "diag.py"}
