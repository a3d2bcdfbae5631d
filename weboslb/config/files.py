"""Configuration files (shell): read and write them, tell YAML from dump, load the default.

The only module of ``weboslb.config`` besides ``cli`` that touches the file system; the
switch and the console load their configs through it.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from weboslb.config import dump, yamlio
from weboslb.config.diag import Loaded, Problem
from weboslb.config.model import Config
from weboslb.config.store import Store
from weboslb.io import atomic

FORMATS = ("yaml", "dump")
_EXTENSIONS = {".yaml": "yaml", ".yml": "yaml", ".cfg": "dump", ".dump": "dump",
               ".txt": "dump", ".conf": "dump", ".script": "dump"}


def format_of(path: str | Path) -> str | None:
    """The format an extension names, or None."""
    return _EXTENSIONS.get(Path(path).suffix.lower())


def sniff(text: str) -> str:
    """A dump has path, comment or ``script`` lines at column 0; anything else is YAML."""
    for line in text.splitlines():
        if line.strip():
            return "dump" if line.startswith(("/", "script ")) else "yaml"
    return "yaml"


def parse(text: str, fmt: str) -> Loaded:
    return yamlio.read(text) if fmt == "yaml" else dump.read(text)


def render(config: Config, fmt: str) -> str:
    return yamlio.write(config) if fmt == "yaml" else dump.write(config)


def load(path: str | Path, fmt: str | None = None) -> Loaded:
    """Read and parse a config file.  Raises OSError when it cannot be read."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return Loaded(None, [Problem("not a text file (invalid UTF-8)", line=line)])
    return parse(text, fmt or format_of(path) or sniff(text))


def applied(loaded: Loaded) -> tuple[Config | None, list[Problem]]:
    """Validate a loaded config as ``apply`` would: the running config (None when anything
    is wrong) and every problem, located in the file."""
    problems = list(loaded.problems)
    if loaded.config is None:
        return None, problems
    store = Store(Config())
    store.pending = loaded.config
    problems += [loaded.locate(p) for p in store.apply()]
    return (None if any(p.error for p in problems) else store.applied), problems


def write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` atomically, so a failed write never leaves half a config."""
    atomic.write_text(path, text)


def default_text() -> str:
    return resources.files("weboslb.config").joinpath("default.yaml").read_text("utf-8")


def default() -> Config:
    """The configuration a switch starts with when given none (shipped in the package)."""
    loaded = yamlio.read(default_text())
    if not loaded.ok or loaded.config is None:
        raise RuntimeError("the packaged default.yaml does not load: "
                           + "; ".join(p.text("default.yaml") for p in loaded.problems))
    return loaded.config
