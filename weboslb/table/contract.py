"""What every persistence table promises: key kinds, entries, journal records, statistics, and
the argument checks both implementations share, so that both reject bad input the same way.

The C table (``ctable.CTable``) and the dict-based reference (``reftable.RefTable``) keep one
contract; ``tests/table`` runs one suite against both.  See docs/table.md.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF
NO_REAL = 0xFFFF  # a miss in lookup_many's output; never a valid real id
CAPACITY_MAX = 1 << 28
FLAG_PERSIST = 0x01  # persistent binding: mirrored to the peer, never evicted, only expires
FLAG_PENDING = 0x02  # has a journal record the mirror has not read (set by the table)
FLAG_USER = 0xF0  # four bits the engine may use freely
DEFAULT_EXPIRE_WORK = 1024


def parse_label(cls, value, noun: str):
    """The member of enum cls whose label is value (members pass through)."""
    if isinstance(value, cls):
        return value
    for member in cls:
        if member.label == value:
            return member
    raise ValueError(f"unknown {noun} {value!r}; expected one of "
                     + ", ".join(m.label for m in cls))


class KeyKind(enum.Enum):
    """Key kinds with their C id, fixed record width and shortest valid key."""

    IPV4 = ("ipv4", 1, 4, 4)
    IPV6 = ("ipv6", 2, 16, 16)
    SSLID = ("sslid", 3, 32, 1)
    COOKIE = ("cookie", 4, 64, 1)
    FTP = ("ftp", 5, 6, 6)
    FTP6 = ("ftp6", 6, 18, 18)
    URLHASH = ("urlhash", 7, 8, 8)

    def __init__(self, label: str, cid: int, width: int, min_len: int) -> None:
        self.label = label
        self.cid = cid
        self.width = width
        self.min_len = min_len

    @property
    def fixed(self) -> bool:
        return self.width == self.min_len

    @classmethod
    def parse(cls, value: KeyKind | str) -> KeyKind:
        return parse_label(cls, value, "key kind")


class Policy(enum.Enum):
    """What an insert into a full table does once nothing expired can be reclaimed."""

    REFUSE = ("refuse", 0)
    EVICT_LRU = ("evict-lru", 1)

    def __init__(self, label: str, cid: int) -> None:
        self.label = label
        self.cid = cid

    @classmethod
    def parse(cls, value: Policy | str) -> Policy:
        return parse_label(cls, value, "full-table policy")


class HashFn(enum.Enum):
    """The table's keyed hash: AES-NI rounds where the CPU has them, else SipHash-1-3."""

    AUTO = ("auto", 0)
    SIPHASH = ("siphash", 1)
    AES = ("aes", 2)

    def __init__(self, label: str, cid: int) -> None:
        self.label = label
        self.cid = cid

    @classmethod
    def parse(cls, value: HashFn | str) -> HashFn:
        return parse_label(cls, value, "hash")


class Status(enum.IntEnum):
    FOUND = 0  # existing entry, touched
    CREATED = 1
    FULL = -1  # refused: counted as an allocation failure


class Op(enum.IntEnum):
    """The change that wrote a journal record."""

    NEW = 1
    TOUCH = 2
    UPDATE = 3
    DELETE = 4
    EXPIRE = 5


class JournalGap(Exception):
    """updates_since(seq): records after seq were overwritten or cleared; resynchronise."""

    def __init__(self, seq: int, oldest: int) -> None:
        super().__init__(f"journal no longer holds records after {seq} (oldest is {oldest})")
        self.seq = seq
        self.oldest = oldest


@dataclass(frozen=True, slots=True)
class Entry:
    key: bytes
    vsvc: int
    real: int
    sp: int
    flags: int
    created: int
    last_used: int
    timeout: int  # seconds of idleness before expiry; 0 = never expires

    @property
    def persistent(self) -> bool:
        return bool(self.flags & FLAG_PERSIST)

    @property
    def pending(self) -> bool:
        return bool(self.flags & FLAG_PENDING)

    @property
    def expires(self) -> int | None:
        return None if self.timeout == 0 else self.last_used + self.timeout

    def alive(self, now: int) -> bool:
        return self.timeout == 0 or now < self.last_used + self.timeout


@dataclass(frozen=True, slots=True)
class Update:
    """A journal record: the key, and the entry's state when read (None: absent now)."""

    seq: int
    op: Op
    vsvc: int
    key: bytes
    entry: Entry | None


@dataclass(frozen=True, slots=True)
class TableStats:
    entries: int
    capacity: int
    persistent: int
    lookups: int
    hits: int
    inserts: int
    touches: int
    updates: int
    deletes: int
    expirations: int
    evictions: int
    alloc_failures: int
    journal_head: int
    journal_oldest: int
    journal_capacity: int
    memory_bytes: int | None = None  # mapped bytes (C table only)
    index_slots: int | None = None
    # mean probe length of present keys, 1.0 = home slot (IPv4: cache lines, 1.0 = home
    # bucket); the longest probe past home
    probe_mean: float | None = None
    probe_max: int | None = None
    hash: str | None = None  # the keyed hash in use: "aes" or "siphash" (C table only)

    @property
    def load(self) -> float:
        return self.entries / self.capacity


# ---- argument checks shared by both tables -------------------------------------------------


def check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} {value} out of range {lo}..{hi}")
    return value


def check_now(now: object) -> int:
    """Virtual-clock seconds; a float (a pcap timestamp) is floored."""
    if isinstance(now, float):
        if now != now or now in (float("inf"), float("-inf")):
            raise ValueError(f"now must be a finite time, not {now}")
        now = int(now // 1)
    return check_int("now", now, 0, U32_MAX)


def check_capacity(capacity: object) -> int:
    capacity = check_int("capacity", capacity, 1, CAPACITY_MAX)
    if capacity & (capacity - 1):
        raise ValueError(f"capacity {capacity} is not a power of two")
    return capacity


def check_journal(journal: object) -> int:
    journal = check_int("journal", journal, 0, CAPACITY_MAX)
    if journal & (journal - 1):
        raise ValueError(f"journal {journal} is neither 0 nor a power of two")
    return journal


def default_journal(capacity: int) -> int:
    """A quarter of the capacity, within 1K..1M records: a sync interval's worth of changes."""
    return min(max(capacity // 4, 1024), 1 << 20)


def check_key(kind: KeyKind, key: object) -> bytes:
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise ValueError(f"{kind.label} key must be bytes, not {type(key).__name__}")
    key = bytes(key)
    if not kind.min_len <= len(key) <= kind.width:
        span = f"{kind.width}" if kind.fixed else f"{kind.min_len}-{kind.width}"
        raise ValueError(f"{kind.label} key must be {span} bytes long, not {len(key)}")
    return key


def check_flags(persistent: bool, user_flags: int) -> int:
    user_flags = check_int("user_flags", user_flags, 0, 0xFF)
    if user_flags & ~FLAG_USER:
        raise ValueError(f"user_flags {user_flags:#x} outside the user bits {FLAG_USER:#x}")
    return (FLAG_PERSIST if persistent else 0) | user_flags


def check_entry(kind: KeyKind, entry: object) -> Entry:
    if not isinstance(entry, Entry):
        raise ValueError(f"put() takes an Entry, not {type(entry).__name__}")
    check_key(kind, entry.key)
    check_int("vsvc", entry.vsvc, 0, U16_MAX)
    check_int("real", entry.real, 0, NO_REAL - 1)
    check_int("sp", entry.sp, 0, 0xFF)
    check_int("flags", entry.flags, 0, 0xFF)
    if entry.flags & ~(FLAG_PERSIST | FLAG_PENDING | FLAG_USER):
        raise ValueError(f"flags {entry.flags:#x} has reserved bits set")
    for name in ("created", "last_used", "timeout"):
        check_int(name, getattr(entry, name), 0, U32_MAX)
    return entry
