"""Batches of keys and per-key values in the packed form one C call consumes.

A ``KeyBatch`` holds n fixed-width key records (zero padded), their lengths for the
variable-width kinds, and the virtual-service ids (one array, or one value for all).  Building
one from Python objects costs a join; ``KeyBatch.from_buffer`` wraps bytes the caller already
packed (the replay path hands the C fast path such buffers) without copying.
"""
from __future__ import annotations

from array import array
from collections.abc import Sequence

from weboslb.table.contract import NO_REAL, U16_MAX, U32_MAX, KeyKind, check_int, check_key


class KeyBatch:
    __slots__ = ("kind", "n", "buf", "lens", "vsvc", "vsvc0", "_keys")

    def __init__(self, kind, buf, lens, vsvc, vsvc0, keys) -> None:
        self.kind: KeyKind = kind
        self.buf = buf
        self.lens: bytes | None = lens
        self.vsvc: array | None = vsvc
        self.vsvc0: int = vsvc0
        self.n: int = len(buf) // kind.width
        self._keys: list[bytes] | None = keys

    @classmethod
    def of(cls, kind: KeyKind | str, keys: Sequence[bytes], vsvc: int | Sequence[int] = 0):
        kind = KeyKind.parse(kind)
        keys = [check_key(kind, k) for k in keys]
        if kind.fixed:
            buf, lens = b"".join(keys), None
        else:
            buf = b"".join(k.ljust(kind.width, b"\0") for k in keys)
            lens = bytes(len(k) for k in keys)
        vsvc_arr, vsvc0 = _vsvc_column(vsvc, len(keys))
        return cls(kind, buf, lens, vsvc_arr, vsvc0, keys)

    @classmethod
    def from_buffer(cls, kind: KeyKind | str, buf, *, lens=None, vsvc: int | Sequence[int] = 0):
        """Wrap packed records: len(buf) a multiple of the kind's width; lens None = full width."""
        kind = KeyKind.parse(kind)
        size = memoryview(buf).nbytes
        if size % kind.width:
            raise ValueError(
                f"{kind.label} key buffer of {size} bytes is not a multiple of {kind.width}"
            )
        n = size // kind.width
        if lens is not None:
            lens = bytes(lens)
            if len(lens) != n:
                raise ValueError(f"{len(lens)} key lengths for {n} keys")
            bad = next((x for x in lens if not kind.min_len <= x <= kind.width), None)
            if bad is not None:
                raise ValueError(
                    f"{kind.label} key length {bad} out of range {kind.min_len}..{kind.width}"
                )
        vsvc_arr, vsvc0 = _vsvc_column(vsvc, n)
        return cls(kind, buf, lens, vsvc_arr, vsvc0, None)

    def __len__(self) -> int:
        return self.n

    def keys(self) -> list[bytes]:
        if self._keys is None:
            w, view = self.kind.width, memoryview(self.buf).cast("B")
            lens = self.lens or [w] * self.n
            self._keys = [bytes(view[i * w : i * w + lens[i]]) for i in range(self.n)]
        return self._keys

    def vsvcs(self) -> Sequence[int]:
        return self.vsvc if self.vsvc is not None else [self.vsvc0] * self.n


def _vsvc_column(vsvc: int | Sequence[int], n: int) -> tuple[array | None, int]:
    if isinstance(vsvc, int):
        return None, check_int("vsvc", vsvc, 0, U16_MAX)
    return column("vsvc", vsvc, n, "H", U16_MAX), 0


def column(name: str, values, n: int, typecode: str, hi: int) -> array:
    """A per-key value column as a typed array of length n, range-checked."""
    if isinstance(values, array) and values.typecode == typecode:
        arr = values
    else:
        try:
            arr = array(typecode, values)
        except (OverflowError, TypeError) as exc:
            raise ValueError(f"{name} values must be integers in 0..{hi}: {exc}") from None
    if len(arr) != n:
        raise ValueError(f"{len(arr)} {name} values for {n} keys")
    if n and (min(arr) < 0 or max(arr) > hi):
        raise ValueError(f"{name} values must lie in 0..{hi}")
    return arr


def value_column(name: str, value, n: int, typecode: str, hi: int) -> tuple[array | None, int]:
    """A scalar for every key, or a column: (None, scalar) or (array, 0)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None, check_int(name, value, 0, hi)
    return column(name, value, n, typecode, hi), 0


def real_column(reals, n: int) -> tuple[array | None, int]:
    return value_column("real", reals, n, "H", NO_REAL - 1)


def timeout_column(timeout, n: int) -> tuple[array | None, int]:
    return value_column("timeout", timeout, n, "I", U32_MAX)


def sp_column(sp, n: int) -> tuple[array | None, int]:
    return value_column("sp", sp, n, "B", 0xFF)
