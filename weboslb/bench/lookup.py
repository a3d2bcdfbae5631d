"""`weboslb bench lookup`: persistence-table lookups and inserts, four ways, in one process.

For each key kind and table size the same keys and the same uniform random queries go to
  c-batch    the C table, one call per batch of keys (the fast path),
  c-per-key  the C table, one call per key,
  py-ref     the Python reference table (its batch methods loop in Python),
  dict       a plain dict loop (key -> tuple), the baseline every ratio is taken against.
Each figure is the median of the repeats.  Memory per entry: for the C table, the bytes it
maps and faults in at creation (all resident: tests check the RSS growth); for the Python
structures, what tracemalloc sees them hold, from a separate untimed build.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from weboslb.bench.measure import median_ns, timed, traced_bytes
from weboslb.bench.workload import Workload, make_workload
from weboslb.table import CTable, KeyKind, RefTable

TABLES = ("c-batch", "c-per-key", "py-ref", "dict")
NOW = 1_000_000  # virtual clock, seconds
TIMEOUT = 600
REAL = 1
PYTHON_SINGLE_RUN = 5_000_000  # from this size on, Python structures are built once


@dataclass
class Record:
    table: str
    op: str
    key: str
    entries: int
    ops_per_s: float
    ns_per_op: float
    ratio_vs_dict: float | None
    bytes_per_entry: float | None

    def as_json(self) -> dict:
        return asdict(self)


def capacity_for(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class _Case:
    """One (key kind, size): builds each structure, times it, records the figures."""

    def __init__(self, wl: Workload, batch: int, repeat: int, hash_fn: str) -> None:
        self.wl, self.batch, self.repeat, self.hash_fn = wl, batch, repeat, hash_fn
        self.records: list[Record] = []

    def _add(self, table: str, op: str, count: int, samples: list[int],
             mem: int | None) -> None:
        ns = median_ns(samples) / count
        self.records.append(Record(
            table=table, op=op, key=self.wl.kind.label, entries=self.wl.n,
            ops_per_s=1e9 / ns if ns else float("inf"), ns_per_op=ns, ratio_vs_dict=None,
            bytes_per_entry=None if mem is None else mem / self.wl.n,
        ))

    def _build(self, make: Callable[[], object], fill: Callable[[object], object],
               repeat: int) -> tuple[object, list[int]]:
        """Build `repeat` times, timing the fill; keep the last structure."""
        samples, obj = [], None
        for _ in range(repeat):
            if obj is not None and hasattr(obj, "close"):
                obj.close()
            obj = make()
            samples.append(timed(lambda o=obj: fill(o)))
        return obj, samples

    @staticmethod
    def _python_bytes(make: Callable[[], object], fill: Callable[[object], object]) -> int:
        def build():
            obj = make()
            fill(obj)
            return obj
        return traced_bytes(build)

    def c_table(self) -> None:
        wl, cap = self.wl, capacity_for(self.wl.n)
        inserts = wl.batches(wl.keys, wl.n, self.batch)
        table, samples = self._build(
            lambda: CTable(wl.kind, cap, hash=self.hash_fn),
            lambda t: [t.get_or_create_many(b, reals=REAL, now=NOW, timeout=TIMEOUT)
                       for b in inserts],
            self.repeat)
        mem = table.stats(probes=False).memory_bytes
        self._add("c-batch", "insert", wl.n, samples, mem)
        queries = wl.batches(wl.queries, wl.n_queries, self.batch)
        self._add("c-batch", "lookup", wl.n_queries,
                  [timed(lambda: [table.lookup_many(b, now=NOW) for b in queries])
                   for _ in range(self.repeat)], mem)
        qobj = wl.key_objects(wl.queries, wl.n_queries)
        get = table.lookup_real
        self._add("c-per-key", "lookup", wl.n_queries,
                  [timed(lambda: [get(k, vsvc=0, now=NOW) for k in qobj])
                   for _ in range(self.repeat)], mem)
        table.close()
        keys = wl.key_objects(wl.keys, wl.n)
        table, samples = self._build(
            lambda: CTable(wl.kind, cap, hash=self.hash_fn),
            lambda t: [t.get_or_create(k, real=REAL, now=NOW, timeout=TIMEOUT) for k in keys],
            self.repeat)
        self._add("c-per-key", "insert", wl.n, samples, mem)
        table.close()

    def ref_table(self) -> None:
        wl, repeat = self.wl, self.python_repeat()
        holder: dict[str, list] = {}

        def make() -> RefTable:
            holder["batches"] = wl.batches(wl.keys, wl.n, self.batch)
            for b in holder["batches"]:
                b.keys()  # the key objects the table will hold; not part of the timing
            return RefTable(wl.kind, capacity_for(wl.n))

        def fill(t: RefTable) -> None:
            for b in holder["batches"]:
                t.get_or_create_many(b, reals=REAL, now=NOW, timeout=TIMEOUT)

        mem = self._python_bytes(make, fill)
        table, samples = self._build(make, fill, repeat)
        self._add("py-ref", "insert", wl.n, samples, mem)
        queries = wl.batches(wl.queries, wl.n_queries, self.batch)
        for b in queries:
            b.keys()
        self._add("py-ref", "lookup", wl.n_queries,
                  [timed(lambda: [table.lookup_many(b, now=NOW) for b in queries])
                   for _ in range(repeat)], mem)
        table.close()

    def plain_dict(self) -> None:
        wl, repeat = self.wl, self.python_repeat()
        holder: dict[str, list] = {}

        def make() -> dict:
            holder["keys"] = wl.key_objects(wl.keys, wl.n)
            return {}

        def fill(d: dict) -> None:
            real, now, timeout, flags = REAL, NOW, TIMEOUT, 1
            for k in holder["keys"]:
                d[k] = (real, now, now, timeout, flags)

        mem = self._python_bytes(make, fill)
        d, samples = self._build(make, fill, repeat)
        self._add("dict", "insert", wl.n, samples, mem)
        qobj = wl.key_objects(wl.queries, wl.n_queries)

        def lookups() -> None:
            get = d.get
            for k in qobj:
                get(k)

        self._add("dict", "lookup", wl.n_queries, [timed(lookups) for _ in range(repeat)], mem)

    def python_repeat(self) -> int:
        return 1 if self.wl.n >= PYTHON_SINGLE_RUN else self.repeat

    def ratios(self) -> list[Record]:
        base = {r.op: r.ns_per_op for r in self.records if r.table == "dict"}
        for r in self.records:
            if r.op in base and r.ns_per_op:
                r.ratio_vs_dict = base[r.op] / r.ns_per_op
        order = {t: i for i, t in enumerate(TABLES)}
        return sorted(self.records, key=lambda r: (r.op != "lookup", order[r.table]))


def run(kinds: list[KeyKind], sizes: list[int], *, queries: int, batch: int, repeat: int,
        hash_fn: str = "auto", progress: Callable[[str], None] = lambda msg: None
        ) -> list[Record]:
    records: list[Record] = []
    steps = [(k, n) for k in kinds for n in sizes]
    for i, (kind, n) in enumerate(steps, 1):
        progress(f"[{i}/{len(steps)}] {kind.label} {n:,} entries: building keys")
        case = _Case(make_workload(kind, n, queries), batch, repeat, hash_fn)
        for label, step in (("C table", case.c_table), ("reference table", case.ref_table),
                            ("dict", case.plain_dict)):
            progress(f"[{i}/{len(steps)}] {kind.label} {n:,} entries: {label}")
            step()
        records.extend(case.ratios())
    return records
