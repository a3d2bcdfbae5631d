"""Argument types of the command tree: how a command's words become a model value and back.

Each type knows five things, so the dump reader, the writer, YAML and validation share one
definition: ``parse`` (CLI words -> value, ``ArgError`` when the words are not that kind of
thing), ``check`` (a value's range problems, as phrases that follow "<command> <value>"),
``render`` (value -> dump text), ``to_yaml`` and ``from_yaml``.  Out-of-range values parse:
Alteon reports them at ``apply``, and so does ``validate``.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, fields
from typing import Any

from weboslb.config.model import COOKIE_INSERT_NAME, Backup, Id, Pbind, ProxyIp
from weboslb.config.syntax import quote, representable, tokenize, word_or_quote

TRUE_WORDS = ("e", "ena", "enable", "enabled", "y", "yes")
FALSE_WORDS = ("d", "dis", "disable", "disabled", "n", "no")
ID_MAX_LEN = 32  # "Id is too long, must be less than 33 characters"
_ID_CHARS = re.compile(r'[^\s"/]+')
_INT = re.compile(r"[+-]?\d+")

# application names accepted for ``service <name>`` and their well-known ports
APPS: dict[str, int | None] = {
    "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "dns": 53, "tftp": 69,
    "http": 80, "pop3": 110, "nntp": 119, "ntp": 123, "imap": 143, "snmp": 161, "ldap": 389,
    "https": 443, "ssl": 443, "rtsp": 554, "ldaps": 636, "sip": 5060, "basic-slb": None,
}


class ArgError(ValueError):
    """Words that are not the kind of value a command takes (a message without the command)."""


def _one(words: list[str], what: str) -> str:
    if len(words) != 1:
        raise ArgError(f"expected {what}" + (f", got {' '.join(words)!r}" if words else ""))
    return words[0]


def keyword(word: str, options: tuple[str, ...]) -> str | None:
    """``word`` or the one option it abbreviates (``rr`` does not, ``round`` does)."""
    word = word.lower()
    if word in options:
        return word
    matches = [o for o in options if o.startswith(word)]
    return matches[0] if len(matches) == 1 else None


def _what(data: Any) -> str:
    """A YAML value as an error message shows it: a scalar as written, a collection by its
    kind only (an alias-built one can stand for billions of items: never expanded)."""
    if isinstance(data, dict):
        return "a mapping"
    if isinstance(data, (list, tuple, set)):
        return "a list"
    return repr(data)


def _scalar_words(data: Any) -> list[str]:
    """A YAML scalar given where a value is expected, as CLI words."""
    if isinstance(data, bool):
        return ["ena" if data else "dis"]
    if isinstance(data, (int, float)):
        return [str(data)]
    if isinstance(data, str):
        return tokenize(data)
    raise ArgError(f"expected a single value, got a {type(data).__name__}")


class _Scalar:
    """Defaults for an argument whose value is a plain scalar: written and stored as is."""

    __slots__ = ()

    def render(self, value: Any) -> str:
        return value

    def to_yaml(self, value: Any) -> Any:
        return value

    def from_yaml(self, data: Any) -> Any:
        return self.parse(_scalar_words(data))


@dataclass(frozen=True, slots=True)
class Int(_Scalar):
    lo: int
    hi: int
    even: bool = False
    also: tuple[int, ...] = ()  # allowed values outside lo-hi (rport 0 and 1)

    @property
    def metavar(self) -> str:
        extra = "".join(f"{v}," for v in self.also)
        return f"<{extra}{self.lo}-{self.hi}>"

    def parse(self, words: list[str]) -> int:
        word = _one(words, f"a number {self.metavar}")
        if not _INT.fullmatch(word):
            raise ArgError(f"expected a number {self.metavar}, got {word!r}")
        return int(word)

    def check(self, value: Any) -> list[str]:
        if not isinstance(value, int) or isinstance(value, bool):
            return ["is not a number"]
        if not (self.lo <= value <= self.hi or value in self.also):
            return [f"out of range {self.metavar[1:-1]}"]
        if self.even and value % 2:
            return ["must be an even number"]
        return []

    def render(self, value: int) -> str:
        return str(value)

    def from_yaml(self, data: Any) -> int:
        if isinstance(data, bool):
            raise ArgError(f"expected a number {self.metavar}, got {data}")
        if isinstance(data, int):
            return data
        return self.parse(_scalar_words(data))


@dataclass(frozen=True, slots=True)
class Bool(_Scalar):
    """A value that is enabled or disabled, written with the command's own words."""

    on: str = "ena"
    off: str = "dis"

    @property
    def metavar(self) -> str:
        return f"{self.on}|{self.off}"

    def parse(self, words: list[str]) -> bool:
        word = _one(words, self.metavar).lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ArgError(f"expected {self.metavar}, got {word!r}")

    def check(self, value: Any) -> list[str]:
        return [] if isinstance(value, bool) else ["is not ena or dis"]

    def render(self, value: bool) -> str:
        return self.on if value else self.off

    def from_yaml(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        return self.parse(_scalar_words(data))


@dataclass(frozen=True, slots=True)
class Choice(_Scalar):
    options: tuple[str, ...]

    @property
    def metavar(self) -> str:
        return "|".join(self.options)

    def parse(self, words: list[str]) -> str:
        word = _one(words, self.metavar)
        found = keyword(word, self.options)
        if found is None:
            raise ArgError(f"expected {self.metavar}, got {word!r}")
        return found

    def check(self, value: Any) -> list[str]:
        return [] if value in self.options else [f"is not one of {self.metavar}"]


@dataclass(frozen=True, slots=True)
class Ip(_Scalar):
    v4only: bool = False

    @property
    def metavar(self) -> str:
        return "<IP address>"

    def parse(self, words: list[str]) -> str:
        return _one(words, "an IP address")

    def check(self, value: Any) -> list[str]:
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            return ["is not an IP address"]
        if self.v4only and addr.version != 4:
            return ["is not an IPv4 address"]
        return []


@dataclass(frozen=True, slots=True)
class Mask(_Scalar):
    @property
    def metavar(self) -> str:
        return "<subnet mask>"

    def parse(self, words: list[str]) -> str:
        return _one(words, "a subnet mask")

    def check(self, value: Any) -> list[str]:
        try:
            ipaddress.IPv4Network(f"0.0.0.0/{value}")
        except ValueError:
            return ["is not a subnet mask"]
        if not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", str(value)):
            return ["is not a dotted subnet mask"]
        return []


@dataclass(frozen=True, slots=True)
class Text:
    """A string; written quoted (names) or bare when possible (passphrases, as dumps do)."""

    maxlen: int
    bare: bool = False

    @property
    def metavar(self) -> str:
        return f"<string, max {self.maxlen} characters>"

    def parse(self, words: list[str]) -> str:
        if not words:
            raise ArgError("expected a string")
        return " ".join(words)  # tolerate an unquoted multi-word string

    def check(self, value: Any) -> list[str]:
        if not isinstance(value, str):
            return ["is not a string"]
        if len(value) > self.maxlen:
            return [f"is longer than {self.maxlen} characters"]
        if not representable(value):
            return ["holds a quote followed by a blank or '/', which a dump cannot hold"]
        return []

    def render(self, value: str) -> str:
        return word_or_quote(value) if self.bare else quote(value)

    def to_yaml(self, value: str) -> Any:
        return value

    def from_yaml(self, data: Any) -> str:
        if isinstance(data, (str, int, float)) and not isinstance(data, bool):
            return str(data)
        raise ArgError(f"expected a string, got {_what(data)}")


@dataclass(frozen=True, slots=True)
class Word(_Scalar):
    """One word without blanks: a health-check or application name."""

    maxlen: int = 32

    @property
    def metavar(self) -> str:
        return "<name>"

    def parse(self, words: list[str]) -> str:
        return _one(words, "a name")

    def check(self, value: Any) -> list[str]:
        if not isinstance(value, str) or not _ID_CHARS.fullmatch(value):
            return ["is not a single word"]
        if len(value) > self.maxlen:
            return [f"is longer than {self.maxlen} characters"]
        return []


def to_id(word: str) -> Id:
    return int(word) if _INT.fullmatch(word) else word


def check_id(value: Any, limit: int) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return ["is not a number or a name"]
    if isinstance(value, int):
        return [] if 1 <= value <= limit else [f"out of range 1-{limit}"]
    if not _ID_CHARS.fullmatch(value):
        return ["is not a valid name (no blanks, quotes or '/')"]
    if len(value) > ID_MAX_LEN:
        return [f"is longer than {ID_MAX_LEN} characters"]
    return []


@dataclass(frozen=True, slots=True)
class Ident:
    """An object index: a number 1..limit (Web OS 10) or a name (AlteonOS 29+)."""

    limit: int

    @property
    def metavar(self) -> str:
        return f"<1-{self.limit}|name>"

    def parse(self, words: list[str]) -> Id:
        return to_id(_one(words, f"a number or name {self.metavar}"))

    def check(self, value: Any) -> list[str]:
        return check_id(value, self.limit)

    def render(self, value: Id) -> str:
        return str(value)

    def to_yaml(self, value: Id) -> Any:
        return value

    def from_yaml(self, data: Any) -> Id:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
        if isinstance(data, str):
            return self.parse(_scalar_words(data))
        raise ArgError(f"expected a number or name, got {_what(data)}")


@dataclass(frozen=True, slots=True)
class BackupArg:
    """``r<real>`` or ``g<group>``."""

    limit: int

    @property
    def metavar(self) -> str:
        return "r<real>|g<group>"

    def parse(self, words: list[str]) -> Backup:
        word = _one(words, self.metavar)
        if len(word) < 2 or word[0].lower() not in "rg":
            raise ArgError(f"expected {self.metavar}, got {word!r}")
        return Backup(word[0].lower(), to_id(word[1:]))

    def check(self, value: Any) -> list[str]:
        if not isinstance(value, Backup) or value.kind not in ("r", "g"):
            return [f"is not {self.metavar}"]
        return check_id(value.id, self.limit)

    def render(self, value: Backup) -> str:
        return str(value)

    def to_yaml(self, value: Backup) -> Any:
        return str(value)

    def from_yaml(self, data: Any) -> Backup:
        return self.parse(_scalar_words(data))


@dataclass(frozen=True, slots=True)
class ProxyIpArg:
    @property
    def metavar(self) -> str:
        return "<IP address> [<vlan>]"

    def parse(self, words: list[str]) -> ProxyIp:
        if not 1 <= len(words) <= 2:
            raise ArgError(f"expected {self.metavar}")
        vlan = VLAN.parse(words[1:]) if len(words) == 2 else None
        return ProxyIp(words[0], vlan)

    def check(self, value: Any) -> list[str]:
        problems = Ip(v4only=False).check(value.addr)
        return problems + (VLAN.check(value.vlan) if value.vlan is not None else [])

    def render(self, value: ProxyIp) -> str:
        return value.addr if value.vlan is None else f"{value.addr} {value.vlan}"

    def to_yaml(self, value: ProxyIp) -> Any:
        return self.render(value)

    def from_yaml(self, data: Any) -> ProxyIp:
        if isinstance(data, dict):
            unknown = set(data) - {"addr", "vlan"}
            if unknown or "addr" not in data:
                raise ArgError("expected {addr: <IP address>, vlan: <vlan>}")
            return ProxyIp(str(data["addr"]), VLAN.from_yaml(data["vlan"])
                           if data.get("vlan") is not None else None)
        return self.parse(_scalar_words(data))


VLAN = Int(1, 4090)
COOKIE_MODES = ("insert", "passive", "rewrite")
PBIND_MODES = ("clientip", "cookie", "sslid", "disable")
COOKIE_NAME = Text(20)
COOKIE_OFFSET = Int(1, 64)
COOKIE_LENGTH = Int(0, 64)
COOKIE_RCOUNT = Int(1, 16)
URI = Bool("enable", "disable")
_EXPIRE = re.compile(r"\d{1,2}/\d{1,2}/\d{2}(@\d{1,2}:\d{2})?|\d+(:\d+(:\d+)?)?")
_PBIND_DEFAULT = Pbind()


@dataclass(frozen=True, slots=True)
class PbindArg:
    """``clientip [norport]`` | ``sslid`` | ``disable`` | ``cookie insert ["name" [expiry]]`` |
    ``cookie passive|rewrite "name" [offset [length [uri [rcount]]]]``."""

    standalone = True  # check() phrases stand alone: "pbind: offset out of range 1-64"

    @property
    def metavar(self) -> str:
        return "clientip|cookie|sslid|disable"

    def parse(self, words: list[str]) -> Pbind:
        if not words:
            raise ArgError(f"expected {self.metavar}")
        first = words[0].lower()
        mode = "disable" if first == "disabled" else keyword(first, PBIND_MODES) or first
        rest = words[1:]
        if mode == "clientip":
            if rest and [keyword(w, ("norport",)) for w in rest] != ["norport"]:
                raise ArgError(f"expected 'clientip [norport]', got {' '.join(words)!r}")
            return Pbind("clientip", norport=bool(rest))
        if mode in ("sslid", "disable"):
            if rest:
                raise ArgError(f"'{mode}' takes no more words, got {' '.join(rest)!r}")
            return Pbind(mode)
        if mode != "cookie":
            raise ArgError(f"expected {self.metavar}, got {words[0]!r}")
        if not rest:
            raise ArgError("expected 'cookie insert|passive|rewrite ...'")
        sub = keyword(rest[0], COOKIE_MODES)
        if sub is None:
            raise ArgError(f"expected a cookie mode insert|passive|rewrite, got {rest[0]!r}")
        args = rest[1:]
        if sub == "insert":
            if len(args) > 2:
                raise ArgError("expected 'cookie insert [\"name\" [expiry]]'")
            name = args[0] if args else COOKIE_INSERT_NAME
            return Pbind("cookie", "insert", name, expire=args[1] if len(args) > 1 else "")
        if not 1 <= len(args) <= 5:
            raise ArgError(f"expected 'cookie {sub} \"name\" [offset [length [uri [rcount]]]]'")
        d = _PBIND_DEFAULT
        return Pbind(
            "cookie", sub, args[0],
            offset=COOKIE_OFFSET.parse(args[1:2]) if len(args) > 1 else d.offset,
            length=COOKIE_LENGTH.parse(args[2:3]) if len(args) > 2 else d.length,
            uri=URI.parse(args[3:4]) if len(args) > 3 else d.uri,
            rcount=COOKIE_RCOUNT.parse(args[4:5]) if len(args) > 4 else d.rcount,
        )

    def check(self, value: Any) -> list[str]:
        if not isinstance(value, Pbind):
            return ["is not a persistence binding"]
        p = value
        if p.mode not in PBIND_MODES:
            return [f"mode {p.mode!r} is not one of {self.metavar}"]
        problems: list[str] = []
        if p.norport and p.mode != "clientip":
            problems.append("norport applies to clientip only")
        if p.mode != "cookie":
            cookie_fields = ("cookie", "name", "offset", "length", "uri", "rcount", "expire")
            if any(getattr(p, f) != getattr(_PBIND_DEFAULT, f) for f in cookie_fields):
                problems.append("cookie settings given for a non-cookie binding")
            return problems
        if p.cookie not in COOKIE_MODES:
            return [f"cookie mode {p.cookie!r} is not insert|passive|rewrite"]
        if not p.name:
            problems.append("needs a cookie name")
        problems += [f"cookie name {m}" for m in COOKIE_NAME.check(p.name)]
        if p.cookie == "insert":
            if (p.offset, p.length, p.uri, p.rcount) != (
                    _PBIND_DEFAULT.offset, _PBIND_DEFAULT.length, _PBIND_DEFAULT.uri,
                    _PBIND_DEFAULT.rcount):
                problems.append("offset, length, uri and rcount apply to passive and rewrite "
                                "cookies only")
            if p.expire and not _EXPIRE.fullmatch(p.expire):
                problems.append(f"expiry {p.expire!r} is not MM/dd/yy[@hh:mm] or "
                                "days[:hours[:minutes]]")
            return problems
        if p.expire:
            problems.append("an expiry applies to insert cookies only")
        problems += [f"offset {m}" for m in COOKIE_OFFSET.check(p.offset)]
        problems += [f"length {m}" for m in COOKIE_LENGTH.check(p.length)]
        problems += [f"rcount {m}" for m in COOKIE_RCOUNT.check(p.rcount)]
        if p.cookie == "rewrite" and p.uri:
            problems.append("rewrite cookies are read from the HTTP header only (uri disable)")
        return problems

    def render(self, value: Pbind) -> str:
        p = value
        if p.mode == "clientip":
            return "clientip norport" if p.norport else "clientip"
        if p.mode != "cookie":
            return p.mode
        if p.cookie == "insert":
            return f"cookie insert {quote(p.name)}" + (f" {quote(p.expire)}" if p.expire else "")
        text = f"cookie {p.cookie} {quote(p.name)} {p.offset} {p.length} {URI.render(p.uri)}"
        return text + (f" {p.rcount}" if p.rcount != _PBIND_DEFAULT.rcount else "")

    def to_yaml(self, value: Pbind) -> Any:
        if value.mode != "cookie":
            return self.render(value)
        out: dict[str, Any] = {"mode": "cookie", "cookie": value.cookie, "name": value.name}
        keep = ("expire",) if value.cookie == "insert" else ("offset", "length", "uri", "rcount")
        for f in keep:
            v = getattr(value, f)
            if f in ("offset", "length") or v != getattr(_PBIND_DEFAULT, f):
                out[f] = v
        return out

    def from_yaml(self, data: Any) -> Pbind:
        if not isinstance(data, dict):
            return self.parse(_scalar_words(data))
        names = {f.name for f in fields(Pbind)}
        unknown = sorted(str(k) for k in data if k not in names)
        if unknown:
            raise ArgError(f"unknown pbind key(s) {', '.join(unknown)}; expected "
                           f"{', '.join(sorted(names))}")
        conv = {"mode": Choice(PBIND_MODES).from_yaml, "cookie": Choice(COOKIE_MODES).from_yaml,
                "name": COOKIE_NAME.from_yaml, "expire": Text(32).from_yaml,
                "offset": COOKIE_OFFSET.from_yaml, "length": COOKIE_LENGTH.from_yaml,
                "rcount": COOKIE_RCOUNT.from_yaml, "uri": URI.from_yaml,
                "norport": Bool().from_yaml}
        values = {k: conv[k](v) for k, v in data.items()}
        if values.get("mode") == "cookie" and values.get("cookie") == "insert":
            values.setdefault("name", COOKIE_INSERT_NAME)
        return Pbind(**values)


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """A service index: ``<vport> [<application>]`` or ``<application>`` (``service http``)."""

    port: Int
    noun = "virtual port"
    carries = (("app", Word()),)  # attributes set by the index words themselves

    @property
    def metavar(self) -> str:
        return "<virtual port>|<application> [<application>]"

    def parse_key(self, words: list[str]) -> tuple[int, dict[str, Any]]:
        if not 1 <= len(words) <= 2:
            raise ArgError(f"expected {self.metavar}")
        first = words[0].lower()
        if _INT.fullmatch(first):
            vport = int(first)
        elif APPS.get(first) is not None:
            vport = APPS[first]
        else:
            raise ArgError(f"expected a virtual port number or a known application "
                           f"({', '.join(a for a, p in APPS.items() if p)}), got {words[0]!r}")
        app = words[1].lower() if len(words) == 2 else (None if first.isdigit() else first)
        return vport, ({"app": app} if app else {})

    def check(self, value: Any) -> list[str]:
        return self.port.check(value)

    def render_key(self, key: int, obj: Any) -> str:
        return f"{key} {obj.app}" if getattr(obj, "app", None) else str(key)

    def from_yaml(self, data: Any) -> int:
        return self.port.from_yaml(data)


@dataclass(frozen=True, slots=True)
class Key:
    """The index of an indexed menu (``real 1``, ``vr 2``), from an Ident or an Int."""

    arg: Ident | Int
    noun = "index"
    carries = ()

    @property
    def metavar(self) -> str:
        return self.arg.metavar

    def parse_key(self, words: list[str]) -> tuple[Id, dict[str, Any]]:
        return self.arg.parse(words), {}

    def check(self, value: Any) -> list[str]:
        return self.arg.check(value)

    def render_key(self, key: Id, obj: Any) -> str:
        return str(key)

    def from_yaml(self, data: Any) -> Id:
        return self.arg.from_yaml(data)


Arg = Int | Bool | Choice | Ip | Mask | Text | Word | Ident | BackupArg | ProxyIpArg | PbindArg
