"""The pure core never does IO: only the shells import clocks, sockets, threads or terminals."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "weboslb"
FORBIDDEN = {"socket", "asyncio", "time", "threading", "scapy", "prompt_toolkit", "selectors",
             "subprocess"}
SHELLS = {"main.py", "__main__.py", "_native_build.py", "bench", "io", "cli"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def core_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in SHELLS or rel.name in SHELLS:
            continue
        yield rel, path


def test_core_modules_do_no_io():
    offenders = {str(rel): sorted(imported_modules(path) & FORBIDDEN)
                 for rel, path in core_modules() if imported_modules(path) & FORBIDDEN}
    assert offenders == {}


def test_the_table_is_part_of_the_core():
    assert any(rel.parts[0] == "table" for rel, _ in core_modules())
