"""The console's menu tree as data: the ``/cfg`` tree of the config layer under a Main menu
whose other branches (``info``, ``stats``, ``oper``, ``boot``, ``maint``) are defined here,
plus the global commands every menu accepts.

One definition serves dispatch, completion, help listings and (for ``/cfg``) the dump writer:
a command exists in one place.  Commands name their handler by ``action`` (``operations``
for the menus here, ``dispatch`` for the globals; a test keeps the names in step) and their
arguments by ``Param``, typed with the config layer's argument types.

Word resolution follows the device: a word of the current menu wins, then a global command
spelled out, then a unique prefix among the menu's words, then among the globals; so
``/c/sl/re 1`` reaches ``real`` although ``revert`` is a global, and ``up`` is the global in
the sync menu although ``update`` starts with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from weboslb.config.args import Arg, ArgError, Choice, Ident, Int, Ip, Word
from weboslb.config.menu import (
    CFG, MAX_GROUPS, MAX_REALS, MAX_VIRTS, SERVICE, Action, Field, Menu,
)
from weboslb.config.syntax import word_or_quote


@dataclass(frozen=True, slots=True)
class FileName:
    """A file name argument: any one word, '/' included (the rest of the line is its own)."""

    @property
    def metavar(self) -> str:
        return "<file>"

    def parse(self, words: list[str]) -> str:
        if len(words) != 1 or not words[0]:
            raise ArgError("expected a file name")
        return words[0]

    def check(self, value: Any) -> list[str]:
        return []

    def render(self, value: str) -> str:
        return word_or_quote(value)


@dataclass(frozen=True, slots=True)
class Param:
    """An argument of an operational command; ``noun`` words its prompt and messages."""

    noun: str
    arg: Arg | FileName
    kind: str = ""  # what completion offers: real | group | virt | vr | vip | file
    many: bool = False  # takes every remaining word (replay FILE...)


@dataclass(frozen=True, slots=True)
class Command:
    """An operational command (``/stats/slb/real <n>``): words in, text out."""

    name: str
    help: str
    action: str  # the dispatch handler
    params: tuple[Param, ...] = ()


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class OpMenu:
    """A menu outside ``/cfg``: it holds commands and menus, not configuration."""

    name: str
    title: str
    help: str
    items: tuple[Command | OpMenu | Menu, ...] = ()

    def __repr__(self) -> str:
        return f"OpMenu({self.name!r})"

    def item(self, word: str) -> Command | OpMenu | Menu | None:
        return next((i for i in self.items if i.name == word), None)


@dataclass(frozen=True, slots=True)
class Global:
    """A command every menu accepts (``apply``, ``lines``, ``exit``)."""

    name: str
    help: str
    action: str
    arg: Arg | None = None  # its optional argument
    listed: bool = True  # in the Main menu listing (the device lists the config globals)
    main_help: str = ""  # the Main menu's wording, when it differs


# --- the operational menus ------------------------------------------------------------------

REAL_ID = Param("real server number", Ident(MAX_REALS), "real")
GROUP_ID = Param("real server group number", Ident(MAX_GROUPS), "group")
VIRT_ID = Param("virtual server number", Ident(MAX_VIRTS), "virt")
VR_ID = Param("virtual router number", Int(1, 1024), "vr")
FILE = Param("file name", FileName(), "file")

SESS = OpMenu("sess", "Session Table Information", "Session Table Information Menu", (
    Command("cip", "Show all session entries with source IP address", "sess_cip",
            (Param("client IP address", Ip()),)),
    Command("dip", "Show all session entries with destination IP address", "sess_dip",
            (Param("destination IP address", Ip(), "vip"),)),
    Command("real", "Show all session entries associated with real server", "sess_real",
            (REAL_ID,)),
    Command("dump", "Show all session entries", "sess_dump"),
))

INFO_SLB = OpMenu("slb", "SLB Information", "Server Load Balancing Information Menu", (
    Command("dump", "Dump all SLB information", "info_slb_dump"),
    SESS,
    Command("sync", "Show stateful failover (mirror) information", "info_sync"),
))

INFO_L3 = OpMenu("l3", "Layer 3 Information", "Layer 3 Information Menu", (
    Command("vrrp", "Show Virtual Router Redundancy Protocol information", "info_vrrp"),
))

INFO = OpMenu("info", "Information", "Information Menu", (
    Command("sys", "System Information", "info_sys"),
    INFO_SLB,
    Command("vrrp", "Show Virtual Router Redundancy Protocol information", "info_vrrp"),
    INFO_L3,
))

STATS_L7 = OpMenu("layer7", "Layer 7 Statistics", "Layer 7 Statistics Menu", (
    Command("maint", "Show Layer 7 maintenance statistics", "stats_l7"),
))

STATS_SLB = OpMenu("slb", "SLB Statistics", "Server Load Balancing Statistics Menu", (
    Command("real", "Show real server stats", "stats_real", (REAL_ID,)),
    Command("group", "Show real server group stats", "stats_group", (GROUP_ID,)),
    Command("virt", "Show virtual server stats", "stats_virt", (VIRT_ID,)),
    Command("maint", "Show SLB maintenance stats", "stats_maint"),
    STATS_L7,
    Command("clear", "Clear all non-operating SLB stats", "stats_clear"),
))

STATS = OpMenu("stats", "Statistics", "Statistics Menu", (STATS_SLB,))

OPER_SLB = OpMenu("slb", "SLB Operations", "Server Load Balancing Operations Menu", (
    Command("ena", "Enable real server", "oper_ena", (REAL_ID,)),
    Command("dis", "Disable real server", "oper_dis", (REAL_ID,)),
    Command("clear", "Clear session table", "oper_clear"),
    Command("sync", "Synchronize SLB, filter and VRRP configuration on peers", "oper_sync"),
))

OPER_VRRP = OpMenu("vrrp", "VRRP Operations", "VRRP Operations Menu", (
    Command("back", "Set virtual router to backup", "vrrp_back", (VR_ID,)),
))

OPER = OpMenu("oper", "Operations", "Operations Command Menu", (OPER_SLB, OPER_VRRP))

BOOT = OpMenu("boot", "Boot Options", "Boot Options Menu", (
    Command("load", "Load a configuration file into the pending configuration", "boot_load",
            (FILE,)),
    Command("reset", "Reset the switch: boot from the saved configuration", "boot_reset"),
    Command("cur", "Display current boot options", "boot_cur"),
))

MAINT = OpMenu("maint", "Maintenance", "Maintenance Menu", (
    Command("replay", "Replay captures through the running switch", "maint_replay",
            (Param("capture file", FileName(), "file", many=True),)),
    Command("summary", "Show the summary of the last replay", "maint_summary"),
    Command("report", "Write the report of the last replay to a file", "maint_report",
            (FILE,)),
))

MAIN = OpMenu("", "Main", "Main Menu", (INFO, STATS, CFG, OPER, BOOT, MAINT))

# The Main listing of a v34 device, minus ``apropos`` (not in Web OS 10), ref §2.1.
GLOBALS = (
    Global("diff", "Show pending config changes, or \"diff flash\" against the saved config",
           "diff", Choice(("flash",)), main_help="Show pending config changes  [global command]"),
    Global("apply", "Apply pending config changes", "apply",
           main_help="Apply pending config changes [global command]"),
    Global("save", "Save updated config to FLASH", "save",
           main_help="Save updated config to FLASH [global command]"),
    Global("revert", "Revert pending changes, or \"revert apply\" the applied ones", "revert",
           Choice(("apply",)), main_help="Revert pending or applied changes [global command]"),
    Global("exit", "Exit the console", "exit",
           main_help="Exit  [global command, always available]"),
    Global("quit", "Exit the console", "exit", listed=False),
    Global("help", "Display this menu and the global commands", "help", Word(), listed=False),
    Global("?", "Display this menu and the global commands", "help", Word(), listed=False),
    Global("print", "Display the current menu", "print", listed=False),
    Global(".", "Display the current menu", "print", listed=False),
    Global("up", "Go up one menu level (also \"..\")", "up", listed=False),
    Global("pwd", "Display the current menu path", "pwd", listed=False),
    Global("lines", "Set lines per screen for paging (0 = no paging)", "lines",
           Int(4, 1000, also=(0,)), listed=False),
    Global("verbose", "Set verbosity: 0 = menus are not displayed on entry", "verbose",
           Int(0, 3), listed=False),
)
_GLOBAL = {g.name: g for g in GLOBALS}

# What the console adds to config menus: ``cur`` where the tree has none (container menus),
# and ``/cfg/dump``.
CUR = Action("cur", "Display current configuration")
DUMP = Command("dump", "Dump current configuration to script", "cfg_dump")


def extras(node: Menu | OpMenu) -> tuple[Action | Command, ...]:
    if not isinstance(node, Menu):
        return ()
    out: list[Action | Command] = [] if node.item("cur") else [CUR]
    if node is CFG:
        out.append(DUMP)
    return tuple(out)


# --- where the console stands ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Place:
    """One menu on the console's path, with its index for an indexed config menu."""

    node: Menu | OpMenu
    key: Any = None


ROOT: tuple[Place, ...] = (Place(MAIN),)


def up(path: tuple[Place, ...]) -> tuple[Place, ...]:
    return path[:-1] if len(path) > 1 else path


def in_cfg(path: tuple[Place, ...]) -> bool:
    return len(path) > 1 and path[1].node is CFG


# --- words ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Entry:
    """A word a menu answers to, what it runs, and its one-line help."""

    word: str
    target: Any  # Field | Menu | Action | Command | OpMenu | Global
    help: str


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str  # entry | global | alias | known | ambiguous | unknown
    word: str
    target: Any = None  # the Entry / Global, the alias path, or the ambiguous candidates


def entries(node: Menu | OpMenu) -> list[Entry]:
    """The words of a menu, in listing order (a flag or list field gives two)."""
    out: list[Entry] = []
    items = node.items + extras(node)
    for item in items:
        if isinstance(item, Field):
            out += [Entry(w, item, item.help_for(w)) for w in item.words]
        else:
            out.append(Entry(item.name, item, item.help))
    return out


def _words(node: Menu | OpMenu) -> dict[str, Entry]:
    return {e.word: e for e in entries(node)}


def resolve(node: Menu | OpMenu, word: str) -> Hit:
    """What ``word`` names in ``node`` (see the module docstring for the order)."""
    word = word.lower()
    own = _words(node)
    aliases = dict(node.aliases) if isinstance(node, Menu) else {}
    known = node.known if isinstance(node, Menu) else ()
    if word in own:
        return Hit("entry", word, own[word])
    if word in aliases:
        return Hit("alias", word, aliases[word])
    if word in known:
        return Hit("known", word)
    if word in _GLOBAL:
        return Hit("global", word, _GLOBAL[word])
    local = sorted({w for w in (*own, *aliases, *known) if w.startswith(word)})
    if len(local) == 1:
        return resolve(node, local[0])
    if local:
        return Hit("ambiguous", word, tuple(local))
    found = sorted(g.name for g in GLOBALS if g.name.startswith(word))
    if len(found) == 1:
        return Hit("global", found[0], _GLOBAL[found[0]])
    if found:
        return Hit("ambiguous", word, tuple(found))
    return Hit("unknown", word)


def completions(node: Menu | OpMenu, prefix: str) -> list[tuple[str, str]]:
    """(word, help) of the menu's words, then the globals, that start with ``prefix``."""
    prefix = prefix.lower()
    out = [(e.word, e.help) for e in entries(node) if e.word.startswith(prefix)]
    seen = {w for w, _ in out}
    out += [(g.name, g.help) for g in GLOBALS
            if g.name.startswith(prefix) and g.name not in seen and g.name not in ("?", ".")]
    return out


# --- titles -----------------------------------------------------------------------------------

def _lower_first(title: str) -> str:
    head, _, rest = title.partition(" ")
    return (head if head.isupper() else head.lower()) + (f" {rest}" if rest else "")


def title(path: tuple[Place, ...], app_of: Any = None) -> str:
    """The title of the menu ``path`` ends in: ``Main``, ``Real server 1``,
    ``Virtual Server 1 80 http Service`` (ref §2.1).  ``app_of(path)`` gives a service's
    application name, when the console knows it."""
    place = path[-1]
    node = place.node
    if isinstance(node, OpMenu) or node.key is None:
        return node.title
    if node is SERVICE and len(path) > 1:
        app = app_of(path) if app_of else None
        return f"Virtual Server {path[-2].key} {place.key}{f' {app}' if app else ''} Service"
    return f"{node.title} {place.key}"


def prompt_noun(menu: Menu) -> str:
    """``real server number``: how a missing index is asked for."""
    if menu is SERVICE:
        return "virtual port or application"
    return f"{_lower_first(menu.title)} number"


def path_text(path: tuple[Place, ...]) -> str:
    """``/cfg/slb/real 1``, ``/info/slb/sess``; ``/`` at Main."""
    parts = [p.node.name if p.key is None else f"{p.node.name} {p.key}" for p in path[1:]]
    return "/" + "/".join(parts)


def navigate(path: tuple[Place, ...], words: list[str]) -> tuple[Place, ...] | None:
    """Where one step leads, structurally (nothing is created): into a menu, up, or nowhere
    (a command keeps the path).  None when the step does not resolve."""
    if not words:
        return path
    word, args = words[0], words[1:]
    if word in ("..", "up") and not args:
        return up(path)
    hit = resolve(path[-1].node, word)
    if hit.kind == "global":
        return path
    if hit.kind == "alias":
        *head, last = hit.target.split("/")
        for part in head:
            path = navigate(path, [part])
            if path is None:
                return None
        return navigate(path, [last, *args])
    if hit.kind != "entry":
        return None
    target = hit.target.target
    if isinstance(target, OpMenu):
        return (*path, Place(target))
    if isinstance(target, Menu):
        if target.key is None:
            return (*path, Place(target))
        try:
            key, _ = target.key.parse_key(args)
        except ValueError:
            return None
        return (*path, Place(target, key))
    return path
