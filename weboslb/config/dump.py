"""Alteon ``/cfg/dump`` scripts: read the dumps users paste, write dumps in the same grammar.

Reading accepts what real dumps hold (reference §2.4): ``script start``/``script end`` lines,
``/*`` comments, absolute path lines (``/c/...`` or ``/cfg/...``, abbreviated or not, old
Web OS 10 paths too), indented (tab or spaces) or unindented commands relative to the last
path, one-line commands (``/c/slb/pip/add ...``, ``.../pbind cookie passive "J" 1 64 disable``),
a final ``/``, and PEM blocks after ``import ... text``.  Every line runs through the same
interpreter as the console (``edit.execute``).  What the tree does not model is kept:

* below a container (``/c/sys/...``, ``/c/slb/ssl/...``, ``/c/l2/...``) as a verbatim block,
  written back as read, in the container's dump order;
* below an object (``/c/slb/real 1`` + ``shut psession``, ``/c/slb/real 1/adv``) as the
  object's ``extra`` lines, with a warning when the command is not a known Alteon one.

Writing emits non-default values only, so ``write(read(write(c)))`` equals ``write(c)``;
``diff`` writes only what differs from a base config, as commands that turn base into new.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from weboslb.config.diag import Loaded, Problem
from weboslb.config.edit import ROOT, Cursor, Outcome, execute, locate
from weboslb.config.menu import CFG, MAIN, Field, Menu, sorted_keys
from weboslb.config.model import Config
from weboslb.config.syntax import last_step, split_steps, tokenize

HEADER = 'script start "Alteon Web OS (weboslb)" 4  /**** DO NOT EDIT THIS LINE!'
FOOTER = "script end  /**** DO NOT EDIT THIS LINE!"
_INFO_DUMP = re.compile(r"\s*(\d+: IP4 |Real server state:|Virtual server state:|"
                        r"Virtual Services:|Real Servers:)")
_NOOP_GLOBALS = ("apply", "save")  # what loading a file does anyway
_IGNORED_GLOBALS = ("diff", "revert", "exit", "quit", "lines", "verbose", "pwd", "help")


def read(text: str) -> Loaded:
    """Parse a dump script.  Problems carry line numbers; ``config`` is None only when the
    text is not a configuration dump at all."""
    first = next((n for n, line in enumerate(text.splitlines(), 1)
                  if line.strip() and not line.startswith("/*")), 0)
    lines = text.splitlines()
    if not any(line.startswith("/") and not line.startswith("/*") for line in lines):
        if first and _INFO_DUMP.match(lines[first - 1]):
            why = "this is /info/slb/dump output (operational state), not a configuration dump"
        elif first:
            why = "not an Alteon configuration dump: no '/c/...' menu path line found"
        else:
            why = "the file holds no configuration commands"
        return Loaded(None, [Problem(why, line=first or 1)])
    return _Reader().run(lines)


class _Reader:
    def __init__(self) -> None:
        self.config = Config()
        self.loaded = Loaded(self.config)
        self.cursor: Cursor = ROOT
        self.mode = "none"  # none | model | block | extra | skip
        self.block: list[str] = []  # the verbatim block being collected
        self.extra_obj: Any = None
        self.extra_prefix = ""
        self.header_pending = False
        self.base_indent: int | None = None
        self.nest: Callable[[str, str], None] | None = None  # takes lines nested below
        self.section_block: list[str] | None = None  # unmodelled lines of a container section
        self.pem_open = 0
        self.blocks: list[list[str]] = []  # verbatim blocks, in file order

    def run(self, lines: list[str]) -> Loaded:
        for n, raw in enumerate(lines, 1):
            line = raw.rstrip()
            if self.pem_open:
                if line.strip():
                    self.block.append(line)
                if line.startswith("-----END"):
                    self.pem_open = 0
                continue
            if line.strip():
                self.line(n, line)
        self.close()
        if self.pem_open:
            self.problem(self.pem_open, "certificate text is not closed by an '-----END' line")
        self.config.verbatim = sort_blocks(["\n".join(block) for block in self.blocks])
        return self.loaded

    def line(self, n: int, line: str) -> None:
        stripped = line.lstrip()
        indent = len(line[: len(line) - len(stripped)].expandtabs(8))
        if stripped.startswith("/"):  # the CLI ignores leading blanks before a path
            if not stripped.startswith("/*"):
                self.path_line(n, stripped)
            return
        if not indent:
            if line.startswith("script "):
                return
            if line.startswith("-----BEGIN"):
                if self.mode != "block":
                    self.problem(n, "certificate text outside an SSL certificate section")
                    self.mode = "skip"
                    self.block = []
                self.block.append(line)
                self.pem_open = n
                return
            word = stripped.split()[0].lower()
            if word in _NOOP_GLOBALS:
                return
            if word in _IGNORED_GLOBALS:
                self.problem(n, f"global command {word!r} ignored in a configuration file",
                             severity="warning")
                return
        self.relative_line(n, line, stripped, indent)

    def path_line(self, n: int, line: str) -> None:
        self.close()
        out = execute(self.config, ROOT, line)
        self.record(n, out)
        if out.error:
            self.problem(n, out.error)
            self.mode = "skip"
            return
        self.cursor = out.cursor
        self.mode = "none" if self.cursor.menu is MAIN else "model"
        if out.rest is not None:
            self.unmodelled(n, line, out, path_line=True)

    def relative_line(self, n: int, line: str, stripped: str, indent: int) -> None:
        if self.mode == "none":
            self.problem(n, "command outside any menu: expected a '/c/...' menu path line "
                            f"before {stripped.split()[0]!r}")
            self.mode = "skip"
        elif self.mode == "block":
            self.block.append(line)
        elif self.mode == "extra":
            self.extra_obj.extra.append(f"{self.extra_prefix}/{stripped}")
            self.header_pending = False
        elif self.mode == "model":
            if self.base_indent is None:
                self.base_indent = indent
            if indent > self.base_indent and self.nest is not None:
                self.nest(line, stripped)
                return
            self.nest = None
            # A command of this menu takes the whole line (an unquoted date may hold a '/');
            # anything else is split into steps as the CLI does ("../real 2/rip 10.0.0.2").
            first = tokenize(stripped)[0]
            chain = not isinstance(self.cursor.menu.resolve(first).target, Field)
            out = execute(self.config, self.cursor, stripped, chain=chain)
            self.record(n, out)
            if out.error:
                self.problem(n, out.error)
            elif out.rest is not None:
                self.unmodelled(n, line, out, path_line=False)
            else:
                self.cursor = out.cursor

    def unmodelled(self, n: int, line: str, out: Outcome, path_line: bool) -> None:
        assert out.rest is not None
        menu = out.cursor.menu
        word = (tokenize(split_steps(out.rest)[0]) or [out.rest])[0]
        if not out.known and menu.strict:
            self.problem(n, f"{out.cursor.path}: unknown command {word!r} kept verbatim",
                         severity="warning")
        if menu.container:
            if path_line:  # keep the line as written unless part of it was modelled
                self.block = [line if not (out.changed or out.created)
                              else f"{dump_path(out.cursor)}/{out.rest}"]
                self.blocks.append(self.block)
                self.mode = "block"
                return
            if self.section_block is None:
                self.section_block = [dump_path(out.cursor)]
                self.blocks.append(self.section_block)
            self.section_block.append(line)
            block = self.section_block
            self.nest = lambda raw, _s: block.append(raw)
            return
        obj = locate(self.config, out.cursor.steps)
        self.loaded.where.setdefault(f"{out.cursor.path}/extra", n)
        if not path_line:
            obj.extra.append(out.rest)
            rest = out.rest
            self.nest = lambda _raw, s: obj.extra.append(f"{rest}/{s}")
            return
        head, last = last_step(out.rest)
        if len(tokenize(last)) > 1:  # ends with a command: later lines belong to its menu
            obj.extra.append(out.rest)
            if not head:
                return  # back in the object's own menu
            self.extra_prefix, self.header_pending = head, False
        else:
            self.extra_prefix, self.header_pending = out.rest, True
        self.extra_obj = obj
        self.mode = "extra"

    def close(self) -> None:
        """End the current section."""
        if self.mode == "extra" and self.header_pending:
            self.extra_obj.extra.append(self.extra_prefix)
        self.mode = "none"
        self.header_pending = False
        self.section_block = None
        self.base_indent = None
        self.nest = None

    def record(self, n: int, out: Outcome) -> None:
        where = self.loaded.where
        for path in out.created:
            where.setdefault(path, n)
        for path, attr in out.changed:
            where.setdefault(path, n)
            if attr:
                where[f"{path}/{attr}"] = n

    def problem(self, n: int, message: str, severity: str = "error") -> None:
        self.loaded.problems.append(Problem(message, line=n, severity=severity))


# --- writing -----------------------------------------------------------------------------

def dump_path(cursor: Cursor) -> str:
    """``/c/slb/real 1``: a cursor's path as dumps write it."""
    return "/c" + cursor.path[len("/cfg"):]


def write(config: Config, comments: tuple[str, ...] = ()) -> str:
    """The whole config as a ``/cfg/dump`` script."""
    lines = [HEADER, *(f"/* {c}" for c in comments), *_Writer(config, Config()).run(), "/",
             FOOTER]
    return "\n".join(lines) + "\n"


def diff(new: Config, base: Config) -> str:
    """The commands that turn ``base`` into ``new`` (Alteon's ``diff``), '' when equal."""
    lines = _Writer(new, base).run()
    lines += [f"/* verbatim section dropped: {b.splitlines()[0]}" for b in base.verbatim
              if b not in new.verbatim]
    return "".join(f"{line}\n" for line in lines)


def _order(menu: Menu) -> list[str]:
    """A container's children in dump order: its layout, then modelled menus not in it."""
    return list(menu.layout) + [s.name for s in menu.menus if s.name not in menu.layout]


def block_slot(block: str) -> tuple[tuple[str, ...], str]:
    """Where a verbatim block goes: the containers on its path and the word below them."""
    menu, names = MAIN, []
    for raw in split_steps(block.splitlines()[0])[1:]:
        words = tokenize(raw)
        if not words:
            break
        found = menu.resolve(words[0])
        target = found.target
        if found.kind == "item" and isinstance(target, Menu) and target.container:
            menu = target
            names.append(menu.name)
            continue
        return tuple(names), found.word
    return tuple(names), ""


def block_rank(block: str) -> tuple[int, ...]:
    """Sort key putting verbatim blocks in dump order (a stable sort keeps file order)."""
    names, word = block_slot(block)
    if not names:
        return (len(_order(CFG)) + 1,)
    menu, rank = CFG, []
    for name in names[1:]:
        rank.append(_order(menu).index(name))
        sub = menu.item(name)
        assert isinstance(sub, Menu)
        menu = sub
    order = _order(menu)
    rank.append(-1 if not word else order.index(word) if word in order else len(order))
    return tuple(rank)


def sort_blocks(blocks: list[str]) -> list[str]:
    return sorted(blocks, key=block_rank)


def _runs(extra: list[str]) -> list[tuple[str, list[str]]]:
    """Consecutive extra lines grouped by the sub-menu they belong to ('' = the object)."""
    runs: list[tuple[str, list[str]]] = []
    for text in extra:
        head, cmd = last_step(text)
        if runs and runs[-1][0] == head:
            runs[-1][1].append(cmd)
        else:
            runs.append((head, [cmd]))
    return runs


class _Writer:
    def __init__(self, config: Config, base: Config) -> None:
        self.config, self.base = config, base
        self.out: list[str] = []
        self.slots: dict[tuple[tuple[str, ...], str], list[str]] = {}
        for block in config.verbatim:
            if block not in base.verbatim:
                self.slots.setdefault(block_slot(block), []).append(block)

    def run(self) -> list[str]:
        self.container(CFG, self.config, self.base, "/c", ("cfg",))
        for slot in list(self.slots):  # blocks outside /cfg: validation rejects them
            self.blocks(slot)
        return self.out

    def blocks(self, slot: tuple[tuple[str, ...], str]) -> None:
        for block in self.slots.pop(slot, []):
            self.out.extend(block.splitlines())

    def container(self, menu: Menu, obj: Any, base: Any, dpath: str,
                  names: tuple[str, ...]) -> None:
        section, inline = _field_lines(menu, obj, base)
        if section:
            self.out += [dpath, *(f"\t{text}" for text in section)]
        self.out += [f"{dpath}/{text}" for text in inline]
        self.blocks((names, ""))
        for name in _order(menu):
            sub = menu.item(name)
            if isinstance(sub, Menu):
                if sub.container:
                    self.container(sub, getattr(obj, sub.attribute),
                                   getattr(base, sub.attribute), f"{dpath}/{sub.name}",
                                   (*names, sub.name))
                else:
                    self.children(sub, obj, base, dpath)
            self.blocks((names, name))
        for slot in [s for s in self.slots if s[0] == names]:
            self.blocks(slot)

    def children(self, sub: Menu, obj: Any, base: Any, dpath: str) -> None:
        held, was = getattr(obj, sub.attribute), getattr(base, sub.attribute)
        if not sub.indexed:
            self.object(sub, held, was, f"{dpath}/{sub.name}", new=False)
            return
        assert sub.key is not None
        for key in sorted_keys(held):
            child = held[key]
            old = was.get(key)
            self.object(sub, child, sub.build(key) if old is None else old,
                        f"{dpath}/{sub.name} {sub.key.render_key(key, child)}", new=old is None)
        for key in sorted_keys(was):
            if key not in held:
                self.out.append(f"{dpath}/{sub.name} {sub.key.render_key(key, was[key])}/del")

    def object(self, menu: Menu, obj: Any, base: Any, dpath: str, new: bool) -> None:
        section, inline = _field_lines(menu, obj, base, new)
        carried = menu.key is not None and any(
            getattr(obj, attr) != getattr(base, attr) for attr, _ in menu.key.carries)
        runs = _runs([e for e in obj.extra if e not in base.extra])
        if runs and not runs[0][0]:
            section += runs.pop(0)[1]
        if new or carried or section:
            self.out += [dpath, *(f"\t{text}" for text in section)]
        self.out += [f"{dpath}/{text}" for text in inline]
        for head, cmds in runs:
            if len(tokenize(last_step(head)[1])) > 1:
                # "servce 1 https" would read back as a command, not a menu: one-liners
                self.out += [f"{dpath}/{head}/{c}" for c in cmds]
            else:
                self.out += [f"{dpath}/{head}" if head else dpath, *(f"\t{c}" for c in cmds)]
        for sub in menu.menus:
            self.children(sub, obj, base, dpath)


def _field_lines(menu: Menu, obj: Any, base: Any, new: bool = False
                 ) -> tuple[list[str], list[str]]:
    """Commands for the fields where ``obj`` differs from ``base`` (and the ``always`` ones of
    a new object): (section lines, one-line commands)."""
    section: list[str] = []
    inline: list[str] = []
    for fld in menu.fields:
        value, was = getattr(obj, fld.attribute), getattr(base, fld.attribute)
        if value == was and not (new and fld.always and fld.kind == "value"):
            continue
        target = inline if fld.inline else section
        if fld.kind == "flag":
            target.append(fld.name if value else fld.off)
            continue
        assert fld.arg is not None
        render = fld.arg.render
        if fld.kind == "value":
            if value is not None:  # nothing un-sets a value; validation reports it missing
                target.append(f"{fld.name} {render(value)}")
            continue
        kept = [x for x in value if x in was]
        gone = was if kept != [x for x in was if x in value] else [x for x in was
                                                                  if x not in value]
        added = value if gone is was else [x for x in value if x not in was]
        target += [f"{fld.rem} {render(x)}" for x in gone]
        target += [f"{fld.name} {render(x)}" for x in added]
    return section, inline
