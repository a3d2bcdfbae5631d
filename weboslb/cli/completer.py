"""Tab completion from the menu tree, each word with its one-line help.

``suggest`` is the pure part (pgcli's split): the text before the cursor in, the words that
may come next out.  It walks the ``/``-separated steps typed so far from the console's menu
(or Main, after a leading ``/``) with ``tree.navigate``, then completes the last step: a
command word of the menu reached (and the globals), or the argument of the command named,
from what the pending configuration holds (the reals, groups and virtual servers that exist,
the choices of a value).  ``ConsoleCompleter`` only maps suggestions to prompt_toolkit
``Completion``s, and hands file arguments to ``PathCompleter``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from weboslb.config.args import (
    APPS, COOKIE_MODES, PBIND_MODES, BackupArg, Bool, Choice, Ident, PbindArg,
)
from weboslb.config.menu import GROUP, REAL, SERVICE, VIRT, VR, Field, Menu, sorted_keys
from weboslb.config.syntax import split_steps, tokenize
from weboslb.cli import tree
from weboslb.cli.dispatch import Console, takes_path, find
from weboslb.cli.tree import Command, Global, Param, Place

FILE = "file"  # the kind of a suggestion list that PathCompleter should produce


@dataclass(frozen=True, slots=True)
class Suggestion:
    text: str
    meta: str  # the per-token help shown beside it


@dataclass(frozen=True, slots=True)
class Suggestions:
    """What may replace the word being typed (``word``); ``kind`` is FILE for a path."""

    word: str
    items: tuple[Suggestion, ...] = ()
    kind: str = ""


def _ids(held: dict[Any, Any], label) -> list[Suggestion]:
    return [Suggestion(str(k), label(k, held[k])) for k in sorted_keys(held)]


def _named(what: str):
    def label(key: Any, obj: Any) -> str:
        name = getattr(obj, "name", "") or getattr(obj, "vname", "")
        addr = getattr(obj, "rip", None) or getattr(obj, "vip", None) or ""
        return " ".join(x for x in (what, str(key), name, addr) if x)
    return label


def objects(console: Console, kind: str, path: tuple[Place, ...]) -> list[Suggestion]:
    """The objects of a kind in the pending configuration, as completion items."""
    config = console.view()
    slb = config.slb
    if kind == "real":
        return _ids(slb.real, _named("real"))
    if kind == "group":
        return _ids(slb.group, _named("group"))
    if kind == "virt":
        return _ids(slb.virt, _named("virt"))
    if kind == "vr":
        return _ids(config.l3.vrrp.vr, lambda k, v: f"vr {k} vrid {v.vrid} {v.addr or ''}")
    if kind == "vip":
        return [Suggestion(v.vip, f"virt {k}") for k, v in slb.virt.items() if v.vip]
    if kind == "service" and len(path) > 1:
        virt = find(config, console.steps_of(path))
        held = virt.service if virt is not None else {}
        out = _ids(held, lambda k, s: f"service {k} {s.app or ''}".rstrip())
        return out + [Suggestion(app, f"port {port}") for app, port in APPS.items() if port]
    if kind == "peer":
        return _ids(slb.sync.peer, lambda k, p: f"peer {k} {p.addr or ''}".rstrip())
    if kind == "if":
        return _ids(config.l3.if_, lambda k, i: f"interface {k} {i.addr or ''}".rstrip())
    if kind == "port":
        return _ids(slb.port, lambda k, p: f"port {k}")
    return []


_MENU_KIND = {REAL: "real", GROUP: "group", VIRT: "virt", VR: "vr", SERVICE: "service"}


def _menu_kind(menu: Menu) -> str:
    return _MENU_KIND.get(menu, menu.name)


def _field_values(console: Console, fld: Field, word: str, done: list[str],
                  path: tuple[Place, ...]) -> list[Suggestion]:
    arg = fld.arg
    if isinstance(arg, PbindArg):
        if not done:
            return [Suggestion(m, "persistence mode") for m in PBIND_MODES]
        if done[0] == "cookie" and len(done) == 1:
            return [Suggestion(m, "cookie persistence mode") for m in COOKIE_MODES]
        if done[0] == "clientip" and len(done) == 1:
            return [Suggestion("norport", "ignore the real port")]
        return []
    if done:
        return []
    if isinstance(arg, Bool):
        return [Suggestion(arg.on, "enable"), Suggestion(arg.off, "disable")]
    if isinstance(arg, Choice):
        return [Suggestion(o, fld.help) for o in arg.options]
    if isinstance(arg, BackupArg):
        config = console.view()
        return [Suggestion(f"r{k}", f"real {k}") for k in sorted_keys(config.slb.real)] + \
            [Suggestion(f"g{k}", f"group {k}") for k in sorted_keys(config.slb.group)]
    if isinstance(arg, Ident):
        kind = "group" if fld.name == "group" else "real"
        return objects(console, kind, path)
    return []


def _param_values(console: Console, params: tuple[Param, ...], done: list[str],
                  path: tuple[Place, ...]) -> list[Suggestion]:
    if len(done) < len(params):
        return objects(console, params[len(done)].kind, path)
    return []


def suggest(console: Console, text: str) -> Suggestions:
    """What may complete ``text`` (the line up to the cursor) at the console's menu."""
    steps = split_steps(text)
    path = console.path
    if len(steps) > 1 and not steps[0].strip():
        path, steps = tree.ROOT, steps[1:]
    for i, step in enumerate(steps[:-1]):
        words = tokenize(step)
        if words and takes_path(path[-1].node, words[0]):
            steps = ["/".join(steps[i:])]  # a file name holds '/'
            break
        nxt = tree.navigate(path, words)
        if nxt is None:
            return Suggestions("")
        path = nxt
    last = steps[-1]
    words = tokenize(last)
    typing = "" if not last or last[-1].isspace() else (words[-1] if words else "")
    done = words[:-1] if typing else words
    if not done:  # the command word itself
        items = tuple(Suggestion(w, h) for w, h in tree.completions(path[-1].node, typing))
        return Suggestions(typing, items)
    hit = tree.resolve(path[-1].node, done[0])
    target = hit.target
    args = done[1:]
    if hit.kind == "global":
        return Suggestions(typing, tuple(_global_values(target, args)))
    if hit.kind != "entry":
        return Suggestions("")
    item = target.target
    if isinstance(item, Command) and takes_path(path[-1].node, done[0]):
        return Suggestions(last.rsplit(None, 1)[-1] if typing else "", (), FILE)
    if isinstance(item, Menu) and item.key is not None and not args:
        values = objects(console, _menu_kind(item), path)
    elif isinstance(item, Field):
        values = _field_values(console, item, hit.word, args, path)
    elif isinstance(item, Command):
        values = _param_values(console, item.params, args, path)
    else:
        values = []
    low = typing.lower()
    return Suggestions(typing, tuple(s for s in values if s.text.lower().startswith(low)))


def _global_values(g: Global, args: list[str]) -> Iterable[Suggestion]:
    if args or g.arg is None:
        return []
    if isinstance(g.arg, Choice):
        return [Suggestion(o, g.help) for o in g.arg.options]
    return []


class ConsoleCompleter(Completer):
    """prompt_toolkit's view of ``suggest``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent
                        ) -> Iterator[Completion]:
        try:
            found = suggest(self.console, document.text_before_cursor)
        except Exception:  # a half-typed line must never break the prompt
            return
        if found.kind == FILE:
            sub = Document(found.word, len(found.word))
            yield from self.paths.get_completions(sub, complete_event)
            return
        for s in found.items:
            yield Completion(s.text, -len(found.word), display_meta=s.meta)
