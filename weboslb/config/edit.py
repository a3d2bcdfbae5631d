"""Run one configuration command line against a config, as the switch's CLI would.

``execute`` walks the command tree: ``/`` starts at the Main menu, each ``/``-separated step
either enters a menu (creating an indexed object on first entry, as Alteon does), sets a value,
or acts (``del``).  It is the single interpreter behind the dump reader and the console; it
stops at the first step it does not model and hands the rest back untouched, so the caller
can keep it verbatim.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from weboslb.config.args import ArgError
from weboslb.config.menu import CFG, MAIN, Action, Field, Menu, Step, path_text
from weboslb.config.model import Config
from weboslb.config.syntax import split_steps, tokenize


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the CLI stands: the menus entered from Main, with their indexes."""

    steps: tuple[Step, ...] = (Step(MAIN),)

    @property
    def menu(self) -> Menu:
        return self.steps[-1].menu

    @property
    def path(self) -> str:
        return path_text(self.steps)

    def down(self, step: Step) -> Cursor:
        return Cursor((*self.steps, step))

    def up(self) -> Cursor:
        return Cursor(self.steps[:-1]) if len(self.steps) > 1 else self


ROOT = Cursor()


@dataclass(slots=True)
class Outcome:
    """What one line did.

    ``changed`` lists (object path, attribute) for each value set, ``created`` the paths of new
    objects; ``rest`` is the unmodelled remainder of the line from the first step not in the
    tree (``known`` when it is a real Alteon command we merely do not model).
    """

    cursor: Cursor
    changed: list[tuple[str, str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    rest: str | None = None
    known: bool = False
    error: str | None = None


def locate(config: Config, steps: Iterable[Step], *, create: bool = True) -> Any:
    """The object the steps name, creating indexed objects that do not exist yet (or, with
    ``create=False``, None when one does not)."""
    obj: Any = None
    for step in steps:
        if step.menu is MAIN:
            obj = None
        elif step.menu is CFG:
            obj = config
        else:
            held = getattr(obj, step.menu.attribute)
            if step.menu.indexed:
                if step.key not in held:
                    if not create:
                        return None
                    held[step.key] = step.menu.build(step.key)
                obj = held[step.key]
            else:
                obj = held
    return obj


def _args_text(raw: str) -> str:
    """The text after the command word of one step."""
    parts = raw.strip().split(None, 1)
    return parts[1] if len(parts) > 1 else ""


def set_field(obj: Any, fld: Field, word: str, args: list[str]) -> None:
    """Apply one field command; ArgError when its words are wrong."""
    attr = fld.attribute
    if fld.kind == "flag":
        if args:
            raise ArgError(f"takes no argument, got {' '.join(args)!r}")
        setattr(obj, attr, word == fld.name)
        return
    assert fld.arg is not None
    value = fld.arg.parse(args)
    if fld.kind == "value":
        setattr(obj, attr, value)
        return
    items = getattr(obj, attr)
    if word == fld.name:
        if value not in items:
            items.append(value)
    elif value in items:
        items.remove(value)
    else:
        raise ArgError(f"{fld.arg.render(value)} is not in the list")


def execute(config: Config, cursor: Cursor, text: str, chain: bool = True) -> Outcome:
    """Run ``text`` from ``cursor``.  ``chain=False`` treats the line as one command (dump
    attribute lines, whose arguments may hold an unquoted ``/``)."""
    steps = split_steps(text) if chain else [text]
    out = Outcome(cursor)
    if chain and len(steps) > 1 and not steps[0].strip():
        out.cursor = ROOT
        steps = steps[1:]
    i = 0
    while i < len(steps):
        raw = steps[i]
        words = tokenize(raw)
        if not words:
            i += 1
            continue
        word, args = words[0], words[1:]
        if word in ("..", "up") and not args:
            out.cursor = out.cursor.up()
            i += 1
            continue
        menu = out.cursor.menu
        found = menu.resolve(word)
        if found.kind == "alias":
            parts = found.target.split("/")
            tail = _args_text(raw)
            parts[-1] = f"{parts[-1]} {tail}" if tail else parts[-1]
            steps = [*steps[:i], *parts, *steps[i + 1:]]
            continue
        if found.kind == "ambiguous":
            out.error = f"ambiguous command {word!r} in {_where(out.cursor)}: " \
                        f"{', '.join(found.target)}"
            return out
        if found.kind in ("known", "unknown"):
            if menu is MAIN:
                out.error = f"'/{word}' is not a configuration command (expected /cfg or /c)"
                return out
            out.rest = "/".join(step.strip() for step in steps[i:])
            out.known = found.kind == "known"
            return out
        item = found.target
        try:
            _run(config, out, item, found.word, args)
        except ArgError as exc:
            out.error = f"{_where(out.cursor)}: {found.word}: {exc}"
            return out
        i += 1
    return out


def _where(cursor: Cursor) -> str:
    return "the Main menu" if cursor.menu is MAIN else cursor.path


def _run(config: Config, out: Outcome, item: Field | Menu | Action, word: str,
         args: list[str]) -> None:
    if isinstance(item, Menu):
        if item.key is None:
            if args:
                raise ArgError(f"is a menu and takes no argument, got {' '.join(args)!r}")
            out.cursor = out.cursor.down(Step(item))
            return
        if not args:
            raise ArgError(f"needs an index {item.key.metavar}")
        key, carried = item.key.parse_key(args)
        parent = locate(config, out.cursor.steps)
        held = getattr(parent, item.attribute)
        out.cursor = out.cursor.down(Step(item, key))
        if key not in held:
            held[key] = item.build(key)
            out.created.append(out.cursor.path)
        for attr, value in carried.items():
            setattr(held[key], attr, value)
            out.changed.append((out.cursor.path, attr))
        return
    if isinstance(item, Field):
        obj = locate(config, out.cursor.steps)
        set_field(obj, item, word, args)
        out.changed.append((out.cursor.path, item.attribute))
        return
    if args:
        raise ArgError(f"takes no argument, got {' '.join(args)!r}")
    if item.name == "del":
        step = out.cursor.steps[-1]
        parent = locate(config, out.cursor.steps[:-1])
        getattr(parent, step.menu.attribute).pop(step.key, None)
        out.changed.append((out.cursor.path, ""))
        out.cursor = out.cursor.up()
    out.actions.append(item.name)
