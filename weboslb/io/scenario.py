"""HA replay scenarios (shell): a YAML list of timed events for ``weboslb replay --scenario``.

    - {at: 30, event: fail, switch: A}
    - {at: 32, event: real-down, real: 2}
    - {at: 40, event: link-down}
    - {at: 60, event: recover, switch: A}
    - {at: 70, event: config, file: shop-v2.yaml}

``at`` is seconds from the capture's first frame.  Every problem is one line naming the file
and line (``ScenarioError``); a ``config`` event's file is loaded and validated here, so a
bad one stops the replay before it starts.  docs/failover.md has the semantics.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from weboslb.config import files
from weboslb.config.model import Config

EVENTS = ("fail", "recover", "real-down", "real-up", "link-down", "link-up", "config")
SWITCHES = ("A", "B")
FIELDS = ("at", "event", "switch", "real", "file")
_NEEDS = {"real-down": "real", "real-up": "real", "config": "file"}
_TAKES = {  # the fields each event may carry besides at and event
    "fail": ("switch",), "recover": ("switch",), "real-down": ("real", "switch"),
    "real-up": ("real", "switch"), "link-down": (), "link-up": (), "config": ("file", "switch"),
}


class ScenarioError(Exception):
    """A scenario file that cannot be used: the message is one line, ``FILE:LINE: what``."""


@dataclass(frozen=True, slots=True)
class Event:
    at: float  # seconds from the capture's first frame
    event: str  # one of EVENTS
    switch: str | None = None  # A | B; None: the event's default (docs/failover.md)
    real: str | None = None  # a real's id as the config writes it
    file: str | None = None  # config: the file, as written in the scenario
    config: Config | None = None  # config: the file, loaded and validated
    line: int = 0  # where the scenario says it

    def describe(self) -> str:
        what = self.event + (f" {self.switch}" if self.switch else "")
        if self.real is not None:
            what += f" real {self.real}"
        if self.file is not None:
            what += f" {self.file}"
        return what


def load(path: str | Path) -> list[Event]:
    """The events of a scenario file, in time order (events at one time keep file order)."""
    name = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ScenarioError(f"{name}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{name}: not a text file (invalid UTF-8)") from None
    return parse(text, name, base=Path(path).parent)


def parse(text: str, name: str = "scenario", *, base: Path = Path(".")) -> list[Event]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{name}:{mark.line + 1 if mark else 1}: YAML syntax: "
                            f"{what}") from None
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise ScenarioError(f"{name}:{_line(root)}: expected a list of events "
                            f"(- {{at: SECONDS, event: fail, switch: A}})")
    events = [_event(node, name, base) for node in root.value]
    return sorted(events, key=lambda e: e.at)


def _event(node: yaml.Node, name: str, base: Path) -> Event:
    where = f"{name}:{_line(node)}"
    if not isinstance(node, yaml.MappingNode):
        raise ScenarioError(f"{where}: an event is a mapping such as "
                            f"{{at: 30, event: fail, switch: A}}")
    fields: dict[str, object] = {}
    lines: dict[str, int] = {}
    for knode, vnode in node.value:
        key = knode.value if isinstance(knode, yaml.ScalarNode) else None
        at = f"{name}:{_line(knode)}"
        if key not in FIELDS:
            raise ScenarioError(f"{at}: unknown field {key!r} (fields: {', '.join(FIELDS)})")
        if key in fields:
            raise ScenarioError(f"{at}: {key} given twice")
        if not isinstance(vnode, yaml.ScalarNode):
            raise ScenarioError(f"{at}: {key} takes a single value")
        fields[key] = _scalar(vnode)
        lines[key] = _line(vnode)
    event = fields.get("event")
    if event not in EVENTS:
        raise ScenarioError(f"{where}: event {event!r} is not one of {', '.join(EVENTS)}"
                            if "event" in fields else f"{where}: the event has no 'event'")
    if "at" not in fields:
        raise ScenarioError(f"{where}: the {event} event has no 'at' (seconds from the "
                            f"capture's start)")
    at = fields["at"]
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at) \
            or at < 0:
        raise ScenarioError(f"{name}:{lines['at']}: at {at!r} must be seconds from the "
                            f"capture's start (a number >= 0)")
    for key in fields:
        if key not in ("at", "event") and key not in _TAKES[event]:
            raise ScenarioError(f"{name}:{lines[key]}: the {event} event takes no {key}")
    need = _NEEDS.get(event)
    if need is not None and need not in fields:
        raise ScenarioError(f"{where}: the {event} event needs '{need}'")
    switch = fields.get("switch")
    if switch is not None:
        switch = str(switch).upper()
        if switch not in SWITCHES:
            raise ScenarioError(f"{name}:{lines['switch']}: switch {fields['switch']!r} is "
                                f"not A or B")
    real = fields.get("real")
    if real is not None and (isinstance(real, bool) or not isinstance(real, (int, str))
                             or not str(real).strip()):
        raise ScenarioError(f"{name}:{lines['real']}: real {real!r} is not a real's id")
    file = config = None
    if event == "config":
        file = str(fields["file"])
        config = _config(base / file, file, f"{name}:{lines['file']}")
    return Event(float(at), event, switch, None if real is None else str(real), file, config,
                 _line(node))


def _config(path: Path, file: str, where: str) -> Config:
    try:
        loaded = files.load(path)
    except OSError as exc:
        raise ScenarioError(f"{where}: cannot read config {file}: "
                            f"{exc.strerror or exc}") from None
    config, problems = files.applied(loaded)
    if config is None:
        first = next((p for p in problems if p.error), None)
        why = first.text(file) if first is not None else f"{file}: does not apply"
        raise ScenarioError(f"{where}: config {file} does not apply: {why}")
    return config


def _scalar(node: yaml.ScalarNode) -> object:
    """A scalar as YAML 1.1 reads it (numbers, booleans, null), strings left as strings."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node)
    finally:
        loader.dispose()


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1
