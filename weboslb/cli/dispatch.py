"""One console line in, its output and the new menu path out: the switch's command language.

``Console.execute(line)`` splits the line into ``/``-separated steps (a leading ``/`` starts
at the Main menu) and runs them in order from the current menu: a menu name enters it (an
indexed ``/cfg`` menu creates its object in the pending config, as the device does), a
command of the menu runs, a global command (``apply``, ``diff``, ``lines``...) runs anywhere,
``..``/``up`` climbs.  Configuration steps go through the config layer's interpreter
(``weboslb.config.edit.execute``), one step at a time, after the console has checked the
value (types and ranges, so a bad value never reaches the pending config).

A line is all or nothing for the pending config: its edits are made on a copy, committed when
the line ends or before a command that reads the store runs (``apply``, ``diff``, ``cur``...);
an error or a cancelled question drops the uncommitted edits and returns the console to the
menu it was in.  Questions (a missing argument, a confirmation) go through the ``Io`` the
console was given; output is collected in the ``Result`` (what had to be shown before a
question is handed to ``Io.show`` first).  Nothing here touches a terminal or a file: the
``Runtime`` does the IO, so tests drive the console with plain strings.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any

from weboslb.cli import render, tree
from weboslb.cli.operations import HANDLERS
from weboslb.cli.result import Cancel, Io, LineError, NoInput, Result
from weboslb.cli.runtime import Runtime
from weboslb.cli.tree import GLOBALS, MAIN, ROOT, Command, Global, OpMenu, Param, Place
from weboslb.config import dump
from weboslb.config.args import (
    COOKIE_LENGTH,
    COOKIE_MODES,
    COOKIE_NAME,
    COOKIE_OFFSET,
    COOKIE_RCOUNT,
    PBIND_MODES,
    Arg,
    ArgError,
    Bool,
    Choice,
    Ident,
    Int,
    Ip,
    Mask,
    PbindArg,
    keyword,
)
from weboslb.config.edit import Cursor, execute, locate
from weboslb.config.menu import MAIN as CFG_MAIN
from weboslb.config.menu import SERVICE, Action, Field, Menu, Step
from weboslb.config.model import Config
from weboslb.config.syntax import split_steps, tokenize, word_or_quote

__all__ = ["Cancel", "Console", "Io", "LineError", "NoInput", "Result", "find", "takes_path"]

DEFAULT_LINES = 24  # the device's page length


def find(config: Config, steps: Iterable[Step]) -> Any:
    """The object the steps name in ``config``, or None (nothing is created)."""
    return locate(config, steps, create=False)


def _thing(text: str) -> str:
    """``Set server weight`` -> ``server weight``: the noun a value question names."""
    for lead in ("Set ", "Enable/disable "):
        if text.startswith(lead):
            return text[len(lead):]
    return text[:1].lower() + text[1:]


def _hint(arg: Arg | None) -> str:
    if isinstance(arg, Int):
        return f" [{arg.metavar[1:-1]}]"
    if isinstance(arg, Bool):
        return " [d/e]"
    if isinstance(arg, Choice):
        return f" [{arg.metavar}]"
    if isinstance(arg, Ident):
        return f" [1-{arg.limit}]"
    return ""


def _current(fld: Field, value: Any) -> str:
    if value is None:
        return "0.0.0.0" if isinstance(fld.arg, (Ip, Mask)) else "none"
    if isinstance(fld.arg, Bool):
        return "enabled" if value else "disabled"
    if isinstance(fld.arg, PbindArg):
        return "disabled" if value.mode == "disable" else fld.arg.render(value)
    return render.value_text(fld, value)


class Console:
    """The state of one console session: where it stands, its page length, its runtime."""

    def __init__(self, runtime: Runtime, io: Io | None = None, *, lines: int = DEFAULT_LINES,
                 verbose: int = 1) -> None:
        self.rt = runtime
        self.io: Io = io or NoInput()
        self.path: tuple[Place, ...] = ROOT
        self.lines = lines
        self.verbose = verbose
        self._scratch: Config | None = None
        self._res = Result()
        self._actions: dict[str, Callable[[list[Any]], None]] = {
            name[4:]: getattr(self, name) for name in dir(self) if name.startswith("_do_")}
        for action, fn in HANDLERS.items():
            self._actions[action] = lambda args, fn=fn: fn(self, args)

    # ---- what the prompt shows ---------------------------------------------------------

    @property
    def prompt(self) -> str:
        return f">> {self.title()}# "

    def title(self, path: tuple[Place, ...] | None = None) -> str:
        return tree.title(path or self.path, self._app_of)

    def _app_of(self, path: tuple[Place, ...]) -> str | None:
        svc = find(self.view(), self.steps_of(path)) if tree.in_cfg(path) else None
        return getattr(svc, "app", None)

    def menu_lines(self) -> list[str]:
        node = self.path[-1].node
        rows = [(e.word, e.help) for e in tree.entries(node)]
        if node is MAIN:
            rows += [(g.name, g.main_help or g.help) for g in GLOBALS if g.listed]
        return render.listing(f"{self.title()} Menu", rows)

    # ---- one line ----------------------------------------------------------------------

    def execute(self, line: str) -> Result:
        res = self._res = Result()
        start = self.path
        try:
            steps = split_steps(line)
            entered = False
            if len(steps) > 1 and not steps[0].strip():
                self.path, entered = ROOT, True
                steps = steps[1:]
            queue: list[str | tuple[Place, ...]] = list(steps)
            while queue and not res.exit:
                step = queue.pop(0)
                if isinstance(step, tuple):  # the end of an alias's steps
                    if not entered:
                        self.path = step
                    continue
                words = tokenize(step)
                if words and takes_path(self.path[-1].node, words[0]):
                    # a file name holds '/': the rest of the line is the argument
                    rest = "/".join([step, *(str(q) for q in queue if isinstance(q, str))])
                    queue.clear()
                    words = tokenize(rest)
                if words:
                    entered = self._step(words, queue)
            self._commit()
            if entered and self.verbose and not res.exit:
                self.emit(*self.menu_lines())
        except LineError as exc:
            self._scratch, self.path = None, start
            res.error = str(exc)
        except (Cancel, KeyboardInterrupt):  # Ctrl-C at a question or during a long command
            self._scratch, self.path = None, start
            res.cancelled = True
        return res

    def _step(self, words: list[str], queue: list[str | tuple[Place, ...]]) -> bool:
        """Run one step; True when it moved the console into another menu."""
        word, args = words[0], words[1:]
        if word in ("..", "up") and not args:
            self.path = tree.up(self.path)
            return True
        hit = tree.resolve(self.path[-1].node, word)
        if hit.kind == "unknown":
            raise LineError(f'unknown command "{word}"')
        if hit.kind == "ambiguous":
            raise LineError(f'ambiguous command "{word}": {", ".join(hit.target)}')
        if hit.kind == "known":
            raise LineError(f'command "{hit.word}" is not supported by this emulator')
        if hit.kind == "alias":
            # an old Web OS 10 word (/cfg/slb/direct): run the steps it stands for, and stay
            # in this menu unless they end by entering one
            parts: list[str | tuple[Place, ...]] = list(hit.target.split("/"))
            parts[-1] = " ".join([str(parts[-1]), *map(word_or_quote, args)])
            queue[:0] = [*parts, self.path]
            return False
        if hit.kind == "global":
            self._commit()
            return self._global(hit.target, hit.word, args)
        target = hit.target.target
        if isinstance(target, OpMenu):
            self._no_args(hit.word, args)
            self.path = (*self.path, Place(target))
            return True
        if isinstance(target, Command):
            self._commit()
            self._command(target, args)
            return False
        if isinstance(target, Menu):
            self._enter(target, args)
            return True
        if isinstance(target, Field):
            self._field(target, hit.word, args)
            return False
        assert isinstance(target, Action)
        self._no_args(hit.word, args)
        if target.name == "del":
            self._edit(["del"])
            return True
        self._commit()
        self._cur()
        return False

    # ---- output and questions ----------------------------------------------------------

    def emit(self, *lines: str) -> None:
        self._res.output.extend(lines)

    def ask(self, prompt: str, confirm: bool = False) -> str:
        res = self._res
        if res.shown < len(res.output):
            self.io.show(res.output[res.shown:])
            res.shown = len(res.output)
        answer = self.io.ask(prompt, confirm)
        if answer is None:
            raise LineError(f'no answer to "{prompt.strip()}" (end of input)')
        return answer.strip()

    def confirm(self, prompt: str) -> bool:
        return self.ask(prompt, confirm=True).lower() in ("y", "yes")

    def _no_args(self, word: str, args: list[str]) -> None:
        if args:
            raise LineError(f"bad {word}: takes no argument, got {' '.join(args)!r}")

    # ---- the pending config ------------------------------------------------------------

    def view(self) -> Config:
        """The pending config as this line sees it."""
        return self._scratch if self._scratch is not None else self.rt.store.pending

    def _config(self) -> Config:
        if self._scratch is None:
            self._scratch = deepcopy(self.rt.store.pending)
        return self._scratch

    def _commit(self) -> None:
        if self._scratch is not None:
            self.rt.store.pending, self._scratch = self._scratch, None

    def steps_of(self, path: tuple[Place, ...] | None = None) -> tuple[Step, ...]:
        path = path or self.path
        return (Step(CFG_MAIN), *(Step(p.node, p.key) for p in path[1:]))

    def _edit(self, words: list[str]) -> None:
        """Run one configuration step through the config layer's interpreter."""
        text = " ".join([words[0], *map(word_or_quote, words[1:])])
        out = execute(self._config(), Cursor(self.steps_of()), text, chain=False)
        if out.error:
            raise LineError(out.error)
        if out.rest is not None:
            raise LineError(f'unknown command "{words[0]}"')
        self.path = (ROOT[0], *(Place(s.menu, s.key) for s in out.cursor.steps[1:]))

    # ---- configuration menus -----------------------------------------------------------

    def _enter(self, menu: Menu, args: list[str]) -> None:
        if menu.key is None:
            self._no_args(menu.name, args)
            self._edit([menu.name])
            return
        if not args:
            hint = _hint(getattr(menu.key, "arg", None))
            answer = self.ask(f"Enter {tree.prompt_noun(menu)}{hint}: ")
            if not answer:
                raise Cancel
            args = tokenize(answer)
        try:
            key, carried = menu.key.parse_key(args)
        except ArgError as exc:
            raise LineError(f"bad {menu.name}: {exc}") from None
        problems = list(menu.key.check(key))
        for attr, arg in menu.key.carries:
            if attr in carried:
                problems += arg.check(carried[attr])
        if problems:
            raise LineError(f"bad {menu.name} {' '.join(args)}; "
                            f"{render.range_phrase(problems[0])}")
        self._edit([menu.name, *args])

    def _field(self, fld: Field, word: str, args: list[str]) -> None:
        if fld.kind == "flag":
            self._no_args(word, args)
            self._edit([word])
            return
        assert fld.arg is not None
        report: list[str] = []
        if not args:
            if isinstance(fld.arg, PbindArg):
                args, report = self._pbind_dialog()
            else:
                args = self._value_dialog(fld, word)
            if not args:
                return  # an empty answer keeps the current value, as on the device
        try:
            value = fld.arg.parse(args)
        except ArgError as exc:
            raise LineError(f"bad {word}: {exc}") from None
        problems = fld.arg.check(value)
        if problems:
            phrase = render.range_phrase(problems[0])
            if getattr(fld.arg, "standalone", False):
                raise LineError(f"bad {word}: {phrase}")
            raise LineError(f"bad {word} {fld.arg.render(value)}; {phrase}")
        if fld.kind == "list" and word == fld.rem:
            obj = find(self.view(), self.steps_of())
            if obj is None or value not in getattr(obj, fld.attribute):
                raise LineError(f"bad {word} {fld.arg.render(value)}; not in the list")
        self._edit([word, *args])
        self.emit(*report)

    def _value_dialog(self, fld: Field, word: str) -> list[str]:
        """``Current <thing>: <value>`` then ``Enter new <thing> [range]: `` (ref §2.2)."""
        if fld.kind == "list":
            verb, _, noun = fld.help_for(word).partition(" ")
            return tokenize(self.ask(f"Enter {noun} to {verb.lower()}{_hint(fld.arg)}: "))
        obj = find(self.view(), self.steps_of())
        current = getattr(obj, fld.attribute) if obj is not None else None
        thing = _thing(fld.help)
        self.emit(f"Current {thing}: {_current(fld, current)}")
        return tokenize(self.ask(f"Enter new {thing}{_hint(fld.arg)}: "))

    def _number(self, prompt: str, noun: str, arg: Int, default: int) -> str:
        answer = self.ask(prompt)
        if not answer:
            return str(default)
        try:
            value = arg.parse([answer])
        except ArgError as exc:
            raise LineError(f"bad {noun}: {exc}") from None
        problems = arg.check(value)
        if problems:
            raise LineError(f"bad {noun} {value}; {render.range_phrase(problems[0])}")
        return str(value)

    def _pbind_dialog(self) -> tuple[list[str], list[str]]:
        """The Web OS 10 ``pbind`` questions, word for word (ref §3.3): the words of the
        binding chosen, and the report lines an insert cookie prints."""
        svc = find(self.view(), self.steps_of())
        fld = SERVICE.item("pbind")
        assert isinstance(fld, Field)
        old = _current(fld, svc.pbind) if svc is not None else "disabled"
        self.emit(f"Current persistent binding mode: {old.split()[0]}")
        answer = self.ask("Enter cookie|sslid|disable persistence mode: ")
        if not answer:
            return [], []
        mode = "disable" if answer.lower() == "disabled" else keyword(answer, PBIND_MODES)
        if mode is None:
            raise LineError(f'bad persistence mode "{answer}"; must be cookie, sslid, '
                            f"clientip or disable")
        if mode != "cookie":
            return [mode], []
        answer = self.ask("Enter insert|passive|rewrite cookie persistence mode [i/p/r]: ")
        sub = keyword(answer, COOKIE_MODES) if answer else None
        if sub is None:
            raise LineError(f'bad cookie persistence mode "{answer}"; must be i, p or r')
        name = self.ask("Enter cookie name: ")
        problems = COOKIE_NAME.check(name) if name else ["is required"]
        if problems:
            raise LineError(f'bad cookie name "{name}"; {problems[0]}')
        if sub == "insert":
            expire = self.ask("Enter cookie expiration: ")
            where = (svc.app if svc is not None else None) or str(self.path[-1].key)
            report = [f"Current persistent binding for {where}: {old.split()[0]}",
                      f"New persistent binding for {where}: cookie",
                      "New cookie persistence mode: insert"]
            return ["cookie", "insert", name, *([expire] if expire else [])], report
        offset = self._number("Enter starting point of cookie value [1-64]: ",
                              "starting point of cookie value", COOKIE_OFFSET, 1)
        length = self._number("Enter number of bytes to extract [0-64]: ",
                              "number of bytes to extract", COOKIE_LENGTH, 0)
        uri = "disable"
        if sub == "passive":  # rewrite cookies are read from the header only
            answer = self.ask("Look for cookie in URI [e|d]: ")
            try:
                uri = "enable" if answer and Bool().parse([answer]) else "disable"
            except ArgError:
                raise LineError(f'bad answer "{answer}"; must be e or d') from None
        rcount = self._number("Set multiple response count [1-16]: ",
                              "multiple response count", COOKIE_RCOUNT, 1)
        return ["cookie", sub, name, offset, length, uri, rcount], []

    def _cur(self) -> None:
        """``cur``: the menu's applied settings, then its pending changes (ref §2.3)."""
        node = self.path[-1].node
        assert isinstance(node, Menu)
        store = self.rt.store
        dpath = dump.dump_path(Cursor(self.steps_of()))
        label = self.title()
        if node.container:
            self.emit(f"Current {label} configuration:",
                       *render.section_lines(store.applied, dpath))
        else:
            obj = find(store.applied, self.steps_of())
            if obj is None:
                self.emit(f"Current {label} configuration: none (not applied)")
            else:
                self.emit(f"Current {label} configuration:", *render.object_lines(node, obj))
        pending = [line.replace("\t", "    ") for line in render.section(store.diff(), dpath)]
        if pending:
            self.emit(f"Pending {label} changes:", *pending)

    # ---- global commands ---------------------------------------------------------------

    def _global(self, g: Global, word: str, args: list[str]) -> bool:
        value = None
        if args:
            if g.arg is None:
                self._no_args(word, args)
            try:
                value = g.arg.parse(args)
            except ArgError as exc:
                raise LineError(f"bad {g.name}: {exc}") from None
            problems = g.arg.check(value)
            if problems:
                raise LineError(f"bad {g.name} {value}; {render.range_phrase(problems[0])}")
        if g.action == "up":
            self.path = tree.up(self.path)
            return True
        self._actions[g.action]([value] if value is not None else [])
        return False

    def _do_diff(self, args: list[Any]) -> None:
        store = self.rt.store
        text = store.diff_flash() if args else store.diff()
        if not text:
            self.emit("No pending configuration changes." if not args else
                       "The pending configuration is the one saved in FLASH.")
        self.emit(*text.splitlines())

    def _do_apply(self, args: list[Any]) -> None:
        store = self.rt.store
        if not store.changed:
            self.emit("No pending configuration changes to apply.")
            return
        problems = store.apply()
        self.emit(*render.problem_lines(problems))
        errors = sum(p.error for p in problems)
        if errors:
            raise LineError(f"apply failed: {errors} error{'s' * (errors != 1)}; the pending "
                            "configuration is kept")
        self.rt.run_applied()
        self.emit("-" * 66, "Apply complete; don't forget to \"save\" updated configuration.")

    def _do_save(self, args: list[Any]) -> None:
        store, rt = self.rt.store, self.rt
        if store.changed:
            self.emit('Note: pending changes are not saved; "apply" them first.')
        if not self.confirm("Confirm saving to FLASH [y/n]: "):
            self.emit("Save cancelled.")
            return
        try:
            store.save(rt.flash)
        except OSError as exc:
            raise LineError(f"cannot save to {rt.flash_name or 'FLASH'}: "
                            f"{exc.strerror or exc}") from None
        where = f" ({rt.flash_name})" if rt.flash is not None and rt.flash_name else \
            " (in memory: the console was started without a config file)"
        self.emit(f"New config successfully saved to FLASH{where}")

    def _do_revert(self, args: list[Any]) -> None:
        store = self.rt.store
        if args:
            store.revert_apply()
            self.rt.run_applied()
            self.emit("Applied and pending changes reverted to the configuration in FLASH.")
        elif store.changed:
            store.revert()
            self.emit("Pending configuration changes reverted.")
        else:
            self.emit("No pending configuration changes to revert.")

    def _do_exit(self, args: list[Any]) -> None:
        store = self.rt.store
        if store.changed:
            self.emit("WARNING: There are unapplied configuration changes.")
            if not self.confirm("Confirm operation without applying changes (leave them "
                                 "pending) [y/n]: "):
                return
        elif store.unsaved:
            self.emit("WARNING: There are unsaved configuration changes.")
        self._res.exit = True

    def _do_help(self, args: list[Any]) -> None:
        if args:
            hit = tree.resolve(self.path[-1].node, args[0])
            if hit.kind in ("entry", "global"):
                self.emit(f"{hit.word} - {hit.target.help}")
                return
            raise LineError(f'unknown command "{args[0]}"')
        rows = [(g.name, g.help) for g in GLOBALS if g.name != "."]
        rows += [("..", "Go up one menu level"),
                 ("/", "Go to the Main menu (a leading / starts any path there)")]
        self.emit(*self.menu_lines(), "", *render.listing("Global Commands", rows))

    def _do_print(self, args: list[Any]) -> None:
        self.emit(*self.menu_lines())

    def _do_pwd(self, args: list[Any]) -> None:
        self.emit(f"Current menu: {tree.path_text(self.path)}")

    def _do_lines(self, args: list[Any]) -> None:
        if args:
            self.lines = args[0]
        self.emit(f"Current lines per screen: {self.lines}" + (" (no paging)"
                                                               if not self.lines else ""))

    def _do_verbose(self, args: list[Any]) -> None:
        if args:
            self.verbose = args[0]
        self.emit(f"Current verbose level: {self.verbose}")

    # ---- operational commands ----------------------------------------------------------

    def _command(self, cmd: Command, args: list[str]) -> None:
        """Gather the command's arguments (asking for missing ones) and run it."""
        many = bool(cmd.params) and cmd.params[-1].many
        if len(args) > len(cmd.params) and not many:
            raise LineError(f"bad {cmd.name}: too many arguments, got "
                            f"{' '.join(args[len(cmd.params):])!r}")
        values: list[Any] = []
        for i, p in enumerate(cmd.params):
            words = args[i:] if p.many else args[i:i + 1]
            if not words:
                answer = self.ask(f"Enter {p.noun}{_hint(p.arg)}: ")
                if not answer:
                    raise Cancel  # an empty answer runs nothing
                words = tokenize(answer) if p.many else [answer]
            values += [self._param(p, w) for w in words]
        self._actions[cmd.action](values)

    def _param(self, p: Param, word: str) -> Any:
        try:
            value = p.arg.parse([word])
        except ArgError as exc:
            raise LineError(f"bad {p.noun}: {exc}") from None
        problems = p.arg.check(value)
        if problems:
            raise LineError(f"bad {p.noun} {word}; {render.range_phrase(problems[0])}")
        return value


def takes_path(node: Menu | OpMenu, word: str) -> bool:
    """Whether ``word`` names a command whose arguments are file names."""
    hit = tree.resolve(node, word)
    return hit.kind == "entry" and isinstance(hit.target.target, Command) and any(
        p.kind == "file" for p in hit.target.target.params)
