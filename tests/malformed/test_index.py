"""README.md lists the whole corpus: every test it names must exist, and every test module of
this directory must be named in it (a renamed test or a new table cannot go unlisted)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_every_test_the_index_names_exists():
    named = NAMED.findall((HERE / "README.md").read_text())
    assert len(named) > 40
    missing = [f"{f}::{t}" for f, t in named
               if not (REPO / f).is_file() or t not in functions(REPO / f)]
    assert missing == []


def test_every_test_of_this_directory_is_in_the_index():
    named = set(NAMED.findall((HERE / "README.md").read_text()))
    here = {(f"tests/malformed/{p.name}", t) for p in HERE.glob("test_*.py")
            if p.name != "test_index.py" for t in functions(p) if t.startswith("test_")}
    assert here - named == set()
