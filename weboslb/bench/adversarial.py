"""`weboslb bench adversarial`: keys crafted to collide under an unkeyed hash, beside random
keys of the same kind and length, through the C table in one process.

A table that hashes keys without a secret lets whoever sends the keys choose where they land.
The keys here are crafted against the two unkeyed hashes a naive table would use:
  ipv4    the address itself (``addr & mask``): addresses that differ only in their high bits,
          so that every one has the same low bits (one home slot in any index of up to
          2**(32 - log2 n) slots),
  sslid   32-byte session IDs and
  cookie  48-character cookie values (base64url alphabet): FNV-1a multicollisions, built a
          block at a time (three-byte blocks that take FNV-1a's low bits from one state to one
          state; the keys are choices of one block each), so every key has the same low
          log2(2n) bits of FNV-1a: one home slot in an index of 2n slots, the C table's size.
The weboslb table hashes with SipHash-1-3 or AES rounds under a random per-table seed, so the
crafted keys spread like random ones.  For each kind, one table holds the n crafted keys and
another n random keys of the same length; both take the same uniform random lookups (one C
call per batch) and are built by batched inserts, in turns, best of the repeats.  The
slowdown is the crafted keys' ns per operation over the random keys' (target: at most 2x).
For scale, the naive figure is the mean probe length the same crafted keys would cost in a
linear-probing index of the same size under the unkeyed hash (computed, not timed), beside
the keyed table's own probe lengths.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import islice, product

from weboslb.bench.measure import timed
from weboslb.table import CTable, KeyBatch, KeyKind

KINDS = ("ipv4", "sslid", "cookie")
TARGET = 2.0  # the crafted keys may cost at most twice the random ones
NOW = 1_000_000
TIMEOUT = 600
REAL = 1
FNV_OFFSET, FNV_PRIME = 0x811C9DC5, 0x01000193
BLOCK = 3  # bytes a colliding block takes
MAX_DRAWS = 1 << 20  # a birthday search that finds nothing in this many draws gives up
COOKIE_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
KEY_LEN = {"ipv4": 4, "sslid": 32, "cookie": 48}
MAX_ENTRIES = 1 << 16  # keys a table; crafting more (in Python) would outlast the timing


@dataclass
class Record:
    key: str
    entries: int
    op: str  # lookup | insert
    hash: str  # the keyed table's hash: aes | siphash
    crafted_against: str  # the unkeyed hash the keys collide under
    random_ns: float  # per operation, random keys
    crafted_ns: float  # per operation, crafted keys
    slowdown: float  # crafted_ns / random_ns
    probe_mean_random: float  # the keyed table's mean probe length, random keys
    probe_mean_crafted: float  # ... crafted keys
    probe_max_crafted: int
    naive_probe_mean: float  # the crafted keys' mean probe length under the unkeyed hash

    @property
    def met(self) -> bool:
        return self.slowdown <= TARGET

    def as_json(self) -> dict:
        return {**asdict(self), "target": TARGET, "met": self.met}


# ---- the unkeyed hashes and keys crafted against them --------------------------------------


def fnv1a(data: bytes, h: int = FNV_OFFSET) -> int:
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFF_FFFF
    return h


def _colliding_blocks(rng: random.Random, state: int, alphabet: bytes, length: int,
                      bits: int, ways: int) -> list[bytes]:
    """``ways`` blocks that take FNV-1a from ``state`` to states with the same low ``bits``
    (a birthday search).  The low k bits of FNV-1a's state depend only on the low k bits
    before (xor, and multiplication mod 2**32, carry upwards only), so the blocks collide
    from every state with those low bits: the collisions chain.  (Two-byte blocks never
    collide on 17 bits or more: FNV's prime spreads a one-byte difference too far.)"""
    mask = (1 << bits) - 1
    seen: dict[int, list[bytes]] = {}
    for _ in range(MAX_DRAWS):
        block = bytes(rng.choice(alphabet) for _ in range(length))
        same = seen.setdefault(fnv1a(block, state) & mask, [])
        if block not in same:
            same.append(block)
            if len(same) == ways:
                return same
    raise ValueError(f"no {ways}-way FNV-1a collision of {length}-byte blocks on {bits} bits")


def fnv_multicollision(n: int, key_len: int, alphabet: bytes, seed: int = 1) -> list[bytes]:
    """``n`` (a power of two) distinct keys of ``key_len`` bytes whose FNV-1a hashes share
    their low log2(2n) bits: chained three-byte blocks with enough colliding choices each
    (choices ** blocks >= n), then padding."""
    blocks = key_len // BLOCK
    ways = 2
    while ways ** blocks < n:
        ways += 1
    bits = max(1, (n - 1).bit_length()) + 1
    rng = random.Random(seed)
    choices, state = [], FNV_OFFSET
    for _ in range(blocks):
        same = _colliding_blocks(rng, state, alphabet, BLOCK, bits, ways)
        choices.append(same)
        state = fnv1a(same[0], state)
    tail = bytes(rng.choice(alphabet) for _ in range(key_len - BLOCK * blocks))
    return [b"".join(choice) + tail for choice in islice(product(*choices), n)]


def identity_collisions(n: int) -> list[bytes]:
    """``n`` IPv4 addresses that differ only in their high bits: one home slot under
    ``addr & mask`` for any index of up to 2**(32 - log2 n) slots."""
    shift = 32 - max(1, (n - 1).bit_length())
    return [(i << shift).to_bytes(4, "big") for i in range(n)]


def crafted_keys(kind: str, n: int) -> list[bytes]:
    if kind == "ipv4":
        return identity_collisions(n)
    alphabet = COOKIE_ALPHABET if kind == "cookie" else bytes(range(256))
    return fnv_multicollision(n, KEY_LEN[kind], alphabet)


def random_keys(kind: str, n: int, seed: int = 2) -> list[bytes]:
    rng = random.Random(seed)
    if kind == "ipv4":
        return [x.to_bytes(4, "big") for x in rng.sample(range(1 << 32), n)]
    if kind == "cookie":
        return [bytes(rng.choice(COOKIE_ALPHABET) for _ in range(KEY_LEN[kind]))
                for _ in range(n)]
    return [rng.randbytes(KEY_LEN[kind]) for _ in range(n)]


def unkeyed_home(kind: str, key: bytes) -> int:
    """Where a naive table's hash puts ``key`` (before the mask)."""
    return int.from_bytes(key, "big") if kind == "ipv4" else fnv1a(key)


def naive_probe_mean(homes: list[int], slots: int) -> float:
    """Mean probes of a hit once ``homes`` were inserted, in that order, into a linear-probing
    index of ``slots`` slots (a power of two) under the unkeyed hash: exact, with a
    next-free-slot forest rather than by walking the probes."""
    mask = slots - 1
    nxt = list(range(slots))  # nxt[p] leads to the first free slot at or after p

    def free_from(p: int) -> int:
        root = p
        while nxt[root] != root:
            root = nxt[root]
        while nxt[p] != root:
            nxt[p], p = root, nxt[p]
        return root

    total = 0
    for h in homes:
        home = h & mask
        p = free_from(home)
        total += ((p - home) & mask) + 1
        nxt[p] = (p + 1) & mask
    return total / len(homes)


# ---- the timed runs ---------------------------------------------------------------------


def _batches(kind: KeyKind, keys: list[bytes], size: int) -> list[KeyBatch]:
    return [KeyBatch.of(kind, keys[i:i + size]) for i in range(0, len(keys), size)]


class _Side:
    """One key set's table and its timed operations."""

    def __init__(self, kind: KeyKind, keys: list[bytes], queries: list[int], batch: int,
                 hash_fn: str) -> None:
        self.kind, self.n, self.hash_fn = kind, len(keys), hash_fn
        self.capacity = 1 << max(0, (len(keys) - 1).bit_length())
        self.inserts = _batches(kind, keys, batch)
        self.lookups = _batches(kind, [keys[j] for j in queries], batch)
        self.n_queries = len(queries)
        self.table = self._fresh()
        self._fill(self.table)

    def _fresh(self) -> CTable:
        return CTable(self.kind, self.capacity, hash=self.hash_fn)  # a new random seed

    def _fill(self, table: CTable) -> None:
        for b in self.inserts:
            table.get_or_create_many(b, reals=REAL, now=NOW, timeout=TIMEOUT)

    def insert_ns(self) -> float:
        """A fresh table filled: ns per insert (making the table is not timed)."""
        table = self._fresh()
        try:
            return timed(lambda: self._fill(table)) / self.n
        finally:
            table.close()

    def lookup_ns(self) -> float:
        table, now = self.table, NOW
        return timed(lambda: [table.lookup_many(b, now=now) for b in self.lookups]
                     ) / self.n_queries

    def close(self) -> None:
        self.table.close()


def _paired(a: Callable[[], float], b: Callable[[], float], repeat: int) -> tuple[float, float]:
    """The best of ``repeat`` runs of a and of b, timed in turns after one untimed warm-up
    round: on a shared machine a run only ever loses time to others, so the fastest run is
    the cleanest figure, and turns give both sides the same chances."""
    a(), b()
    xs, ys = [], []
    for _ in range(repeat):
        xs.append(a())
        ys.append(b())
    return min(xs), min(ys)


def run(kinds: list[str], n: int, *, queries: int, batch: int = 4096, repeat: int = 7,
        hash_fn: str = "siphash", progress: Callable[[str], None] = lambda msg: None
        ) -> list[Record]:
    """Crafted against random keys for each kind: a lookup and an insert record each."""
    if not 2 <= n <= MAX_ENTRIES or n & (n - 1):
        raise ValueError(f"entries must be a power of two within 2..{MAX_ENTRIES:,}")
    records: list[Record] = []
    rng = random.Random(3)
    picks = [rng.randrange(n) for _ in range(queries)]  # the same positions for both sets
    slots = 2 * n  # the C table's index: two slots an entry
    for label in kinds:
        kind = KeyKind.parse(label)
        progress(f"{label}: crafting {n:,} keys")
        crafted = crafted_keys(label, n)
        plain = random_keys(label, n)
        naive = naive_probe_mean([unkeyed_home(label, k) for k in crafted], slots)
        progress(f"{label}: timing")
        plain_side = _Side(kind, plain, picks, batch, hash_fn)
        crafted_side = _Side(kind, crafted, picks, batch, hash_fn)
        r_look, c_look = _paired(plain_side.lookup_ns, crafted_side.lookup_ns, repeat)
        r_ins, c_ins = _paired(plain_side.insert_ns, crafted_side.insert_ns, repeat)
        r_stats = plain_side.table.stats(probes=True)
        c_stats = crafted_side.table.stats(probes=True)
        plain_side.close()
        crafted_side.close()
        against = "addr & mask" if label == "ipv4" else "FNV-1a & mask"
        for op, r_ns, c_ns in (("lookup", r_look, c_look), ("insert", r_ins, c_ins)):
            records.append(Record(
                key=label, entries=n, op=op, hash=hash_fn, crafted_against=against,
                random_ns=r_ns, crafted_ns=c_ns, slowdown=c_ns / r_ns if r_ns else 1.0,
                probe_mean_random=r_stats.probe_mean, probe_mean_crafted=c_stats.probe_mean,
                probe_max_crafted=c_stats.probe_max, naive_probe_mean=naive))
    return records
