"""YAML configs: one mapping per menu, keys are the menu and command words of the tree.

    sys:  {ssnmp: {name: lb-a}}
    l3:   {if: {1: {addr: 10.0.0.1, mask: 255.255.255.0, ena: true}}}
    slb:
      on: true
      real:  {1: {rip: 10.0.1.1, ena: true}}
      group: {1: {metric: roundrobin, reals: [1]}}
      virt:  {1: {vip: 10.0.0.100, ena: true, service: {80: {app: http, group: 1}}}}
    verbatim: [...]   # unmodelled dump sections, kept as text

Flags are booleans (``ena: true``); lists use the attribute name (``reals``, ``addports``,
``addrs``); ``pbind`` is ``clientip`` / ``sslid`` / a mapping for cookies.  Parsing goes through
``yaml.SafeLoader`` node by node so every problem can name its line.  Writing emits non-default
values only, like the dump writer.
"""
from __future__ import annotations

import json
from typing import Any

import yaml

from weboslb.config.args import ArgError, Bool
from weboslb.config.diag import Loaded, Problem
from weboslb.config.dump import sort_blocks
from weboslb.config.menu import CFG, Field, Menu, Step, default_of, path_text, sorted_keys
from weboslb.config.model import Config

_YAML_BOOL_KEYS = {True: "on", False: "off"}  # YAML 1.1 reads a bare `on:` key as true
MAX_DEPTH = 64  # levels of nesting read; a configuration needs about ten


def read(text: str) -> Loaded:
    deep = _too_deep(text)
    if deep is not None:
        return Loaded(None, [deep])
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # a character YAML does not allow
        return Loaded(None, [_syntax(exc, text)])
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        return Loaded(None, [_syntax(exc, text)])
    finally:
        loader.dispose()
    if root is None:
        return Loaded(None, [Problem("the file holds no configuration", line=1)])
    if not isinstance(root, yaml.MappingNode):
        return Loaded(None, [Problem("expected a mapping of menus (sys, l3, slb, verbatim) at "
                                     "the top", line=root.start_mark.line + 1)])
    reader = _Reader(loader)
    config = Config()
    reader.menu(CFG, config, root, (Step(CFG),))
    config.verbatim = sort_blocks(config.verbatim)
    return Loaded(config, reader.problems, reader.where)


def _too_deep(text: str) -> Problem | None:
    """Nesting no configuration needs, found with PyYAML's event parser (a loop, where its
    composer and constructor recurse a level at a time: a few hundred ``[`` would overflow
    Python's stack)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    return Problem(f"YAML nested deeper than {MAX_DEPTH} levels",
                                   line=event.start_mark.line + 1)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:  # the load itself words it
        return None
    return None


def _syntax(exc: yaml.YAMLError, text: str) -> Problem:
    """One line for a YAML syntax error: what PyYAML found, and where."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else \
            repr(exc.character)
        return Problem(f"YAML: character {char} is not allowed ({exc.reason})", line=line)
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    if context and not context.startswith("while"):
        problem, context = f"{context}, {problem}", None
    why = f"YAML syntax: {problem}" + (f" ({context})" if context else "")
    return Problem(why, line=mark.line + 1 if mark else 1)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _Reader:
    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.problems: list[Problem] = []
        self.where: dict[str, int] = {}

    def error(self, node: yaml.Node, message: str, path: str = "") -> None:
        self.problems.append(Problem(message, path=path, line=_line(node)))

    def value(self, node: yaml.Node) -> Any:
        return self.loader.construct_object(node, deep=True)

    def pairs(self, node: yaml.Node, path: str) -> list[tuple[Any, yaml.Node, yaml.Node]]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "expected a mapping", path)
            return []
        explicit = {id(k) for k, _ in node.value}
        self.loader.flatten_mapping(node)  # honour `<<:` merge keys; explicit keys win
        out: list[tuple[Any, yaml.Node, yaml.Node]] = []
        seen: dict[Any, int] = {}
        for knode, vnode in node.value:
            try:
                key = self.value(knode)
            except yaml.YAMLError as exc:
                self.error(knode, f"bad key: {getattr(exc, 'problem', None) or exc}", path)
                continue
            key = _YAML_BOOL_KEYS.get(key, key) if isinstance(key, bool) else key
            if not isinstance(key, (str, int)):
                got = ("a list" if isinstance(key, list) else "a mapping"
                       if isinstance(key, dict) else repr(key))  # never expand an alias bomb
                self.error(knode, f"a key must be a word or a number, got {got}", path)
                continue
            if key in seen:
                earlier = out[seen[key]][1]
                if id(earlier) not in explicit or id(knode) not in explicit:
                    out[seen[key]] = (key, knode, vnode)  # a merged key, overridden
                else:
                    self.error(knode, f"duplicate key {key!r}", path)
                continue
            seen[key] = len(out)
            out.append((key, knode, vnode))
        return out

    def menu(self, menu: Menu, obj: Any, node: yaml.Node, steps: tuple[Step, ...]) -> None:
        path = path_text(steps)
        self.where.setdefault(path, _line(node))
        items = {**{f.key: f for f in menu.fields}, **{s.name: s for s in menu.menus}}
        carries = dict(menu.key.carries) if menu.key else {}
        for key, knode, vnode in self.pairs(node, path):
            if key in carries:
                arg = carries[key]
                self.set(vnode, path, key, lambda v: setattr(obj, key, arg.from_yaml(v)))
            elif key == "extra" and not menu.container:
                self.where[f"{path}/extra"] = _line(vnode)
                obj.extra = self.lines(vnode, path, "extra")
            elif key == "verbatim" and menu is CFG:
                self.where[f"{path}/verbatim"] = _line(vnode)
                obj.verbatim = self.lines(vnode, path, "verbatim", block=True)
            elif isinstance(items.get(key), Field):
                self.field(menu, obj, items[key], vnode, path)
            elif isinstance(items.get(key), Menu):
                self.submenu(items[key], obj, vnode, steps)
            else:
                extra = [] if menu.container else ["extra"]
                expected = ", ".join([*carries, *items, *extra,
                                      *(["verbatim"] if menu is CFG else [])])
                self.error(knode, f"unknown key {key!r}; expected one of: {expected}", path)

    def set(self, node: yaml.Node, path: str, name: str, assign: Any) -> None:
        try:
            assign(self.value(node))
        except ArgError as exc:
            self.error(node, f"{name}: {exc}", path)
        except yaml.YAMLError as exc:  # an unknown tag, say
            self.error(node, f"{name}: {getattr(exc, 'problem', None) or exc}", path)

    def field(self, menu: Menu, obj: Any, fld: Field, node: yaml.Node, path: str) -> None:
        self.where[f"{path}/{fld.attribute}"] = _line(node)
        arg = fld.arg

        def assign(data: Any) -> None:
            if fld.kind == "flag":
                setattr(obj, fld.attribute, Bool().from_yaml(data))
            elif fld.kind == "list":
                assert arg is not None
                items = [arg.from_yaml(x) for x in (data if isinstance(data, list) else [data])]
                dupes = {arg.render(x) for x in items if items.count(x) > 1}
                if dupes:
                    raise ArgError(f"listed more than once: {', '.join(sorted(dupes))}")
                setattr(obj, fld.attribute, items)
            elif data is None and default_of(menu, fld) is None:
                setattr(obj, fld.attribute, None)
            else:
                assert arg is not None
                setattr(obj, fld.attribute, arg.from_yaml(data))

        self.set(node, path, fld.key, assign)

    def submenu(self, sub: Menu, obj: Any, node: yaml.Node, steps: tuple[Step, ...]) -> None:
        if not sub.indexed:
            self.menu(sub, getattr(obj, sub.attribute), node, (*steps, Step(sub)))
            return
        assert sub.key is not None
        held = getattr(obj, sub.attribute)
        for key, knode, vnode in self.pairs(node, f"{path_text(steps)}/{sub.name}"):
            try:
                index = sub.key.from_yaml(key)
            except ArgError as exc:
                self.error(knode, f"{sub.name} index: {exc}", path_text(steps))
                continue
            if index in held:
                self.error(knode, f"{sub.name} {index} given twice", path_text(steps))
                continue
            held[index] = sub.build(index)
            self.menu(sub, held[index], vnode, (*steps, Step(sub, index)))

    def lines(self, node: yaml.Node, path: str, name: str, block: bool = False) -> list[str]:
        try:
            data = self.value(node)
        except yaml.YAMLError:
            data = None
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            self.error(node, f"{name}: expected a list of strings", path)
            return []
        if block:  # blank lines and trailing blanks mean nothing in a dump
            return ["\n".join(ln.rstrip() for ln in x.splitlines() if ln.strip()) for x in data]
        return [x.strip() for x in data]


# --- writing -----------------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def write(config: Config) -> str:
    data = _data(CFG, config, Config())
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=100) if data else ""
    if config.verbatim:
        text += "verbatim:\n" + "".join(_block(b) for b in config.verbatim)
    return text


def _block(block: str) -> str:
    """A literal YAML block when the text allows it (tabs included), else a JSON string,
    which is also a valid YAML double-quoted scalar."""
    lines = block.split("\n")
    plain = all(ch == "\t" or " " <= ch <= "~" for ch in block.replace("\n", "")) and \
        all(ln and ln == ln.rstrip() for ln in lines) and not lines[0].startswith((" ", "\t"))
    if plain:
        return "- |-\n" + "".join(f"  {ln}\n" for ln in lines)
    return f"- {json.dumps(block)}\n"


def _data(menu: Menu, obj: Any, base: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr, arg in (menu.key.carries if menu.key else ()):
        value = getattr(obj, attr)
        if value != getattr(base, attr):
            out[attr] = arg.to_yaml(value)
    for item in menu.items:
        if isinstance(item, Field):
            value = getattr(obj, item.attribute)
            if value is None or (value == getattr(base, item.attribute) and not item.always):
                continue
            if item.kind == "flag":
                out[item.key] = value
            elif item.arg is not None and item.kind == "list":
                out[item.key] = [item.arg.to_yaml(x) for x in value]
            elif item.arg is not None:
                out[item.key] = item.arg.to_yaml(value)
        elif isinstance(item, Menu):
            held = getattr(obj, item.attribute)
            if item.indexed:
                sub = {k: _data(item, held[k], item.build(k)) for k in sorted_keys(held)}
            else:
                sub = _data(item, held, item.build())
            if sub:
                out[item.name] = sub
    if not menu.container and obj.extra:
        out["extra"] = list(obj.extra)
    return out
