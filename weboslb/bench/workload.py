"""Deterministic benchmark workloads: N distinct keys of a kind and uniform random queries."""
from __future__ import annotations

import random
from array import array
from dataclasses import dataclass

from weboslb.table import KeyBatch, KeyKind

GOLDEN32 = 0x9E3779B1  # odd, so i -> i * GOLDEN32 mod 2^32 is a permutation: distinct IPv4 keys


@dataclass
class Workload:
    kind: KeyKind
    n: int
    keys: bytes  # n packed records of kind.width bytes
    key_len: int  # every key's length (cookies: 32 hex characters in a 64-byte record)
    queries: bytes  # packed records, uniform random picks among the keys
    n_queries: int

    def key_objects(self, packed: bytes, count: int) -> list[bytes]:
        """Fresh bytes objects, as a parser would hand them over."""
        w, ln = self.kind.width, self.key_len
        return [packed[i * w : i * w + ln] for i in range(count)]

    def batches(self, packed: bytes, count: int, size: int) -> list[KeyBatch]:
        view, w = memoryview(packed), self.kind.width
        out = []
        for start in range(0, count, size):
            m = min(size, count - start)
            lens = None if self.key_len == w else bytes([self.key_len]) * m
            out.append(KeyBatch.from_buffer(self.kind, view[start * w : (start + m) * w],
                                            lens=lens))
        return out


def _random_bytes(rng: random.Random, n: int, chunk: int = 1 << 24) -> bytes:
    """n random bytes (randbytes takes at most 2**31 bits a call)."""
    return b"".join(rng.randbytes(min(chunk, n - i)) for i in range(0, n, chunk))


def make_workload(kind: KeyKind, n: int, n_queries: int, seed: int = 1) -> Workload:
    rng = random.Random(seed)
    if kind is KeyKind.IPV4:
        offset = rng.getrandbits(32)
        keys = array("I", ((i * GOLDEN32 + offset) & 0xFFFF_FFFF for i in range(n))).tobytes()
        key_len = 4
    elif kind is KeyKind.COOKIE:
        # JSESSIONID-like values: 32 hex characters
        hexes = _random_bytes(rng, 16 * n).hex().encode()
        pad = b"\0" * (kind.width - 32)
        keys = b"".join(hexes[i * 32 : i * 32 + 32] + pad for i in range(n))
        key_len = 32
    else:
        keys = _random_bytes(rng, kind.width * n)  # random 32-byte session IDs, IPv6 addresses
        key_len = kind.width
    w = kind.width
    queries = b"".join(keys[j * w : j * w + w] for j in (rng.randrange(n) for _ in range(n_queries)))
    return Workload(kind, n, keys, key_len, queries, n_queries)
