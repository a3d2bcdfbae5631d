"""RECORDS bodies straight from and into the C persistence table: one C call a message.

The teacher fills a block with ``Exporter.bulk`` (a walk of the table from a cursor: the bulk
copy) or ``Exporter.journal`` (the table's change journal from a sequence number: incremental
updates).  The learner applies a block with ``apply``, under the sweep of a bulk copy
(``Sweep``): what the table held before BULK_BEGIN and no record mentions is removed at
BULK_END, and an incremental record of a key wins over its later bulk copy
(docs/mirror-protocol.md, "Bulk sync").  No entry crosses into Python on any of these paths.
"""
from __future__ import annotations

from dataclasses import dataclass

from weboslb._native import ffi, lib
from weboslb.ha import wire
from weboslb.ha.wire import RecordBlock
from weboslb.table import CTable
from weboslb.table.contract import JournalGap, KeyKind, Policy, check_now

RECENT_MAX = 1 << 18  # keys one kind's sweep remembers; beyond, counted in `forgotten`


def _handle(table: object):
    """The C table behind a CTable (the mirror reads and writes it without Python entries)."""
    if not isinstance(table, CTable) or table._t is None:
        raise TypeError(f"the mirror's batch records need an open C table, not "
                        f"{type(table).__name__}")
    return table._t


class Exporter:
    """Reads blocks of wire records from tables into one reusable buffer (MAX_BODY bytes)."""

    def __init__(self) -> None:
        self._buf = ffi.new("uint8_t[]", wire.MAX_BODY)
        self._pos = ffi.new("uint64_t *")

    def _size(self, kind: KeyKind, limit: int) -> int:
        size = wire.record_struct(kind).size
        return min(limit, wire.max_records(kind)) * size

    def _block(self, kind: KeyKind, n: int) -> RecordBlock:
        size = wire.record_struct(kind).size
        return RecordBlock(kind, n, ffi.buffer(self._buf, n * size)[:])

    def bulk(self, table: CTable, cursor: int, now: int, limit: int
             ) -> tuple[RecordBlock, int, bool]:
        """(block, next cursor, done): at most ``limit`` live persistent entries from
        ``cursor`` on, as NEW records; reading clears their pending-mirror bits."""
        self._pos[0] = cursor
        n = lib.pst_export(_handle(table), self._pos, check_now(now), self._buf,
                           self._size(table.kind, limit))
        if n < 0:
            raise ValueError(f"pst_export: invalid argument (error {n})")
        return self._block(table.kind, n), self._pos[0], n < min(limit, wire.max_records(
            table.kind))

    def journal(self, table: CTable, seq: int, now: int, limit: int
                ) -> tuple[RecordBlock, int]:
        """(block, next seq): one record for each of at most ``limit`` journal records after
        ``seq``, with the entry's state now.  ``JournalGap`` if they are gone; ValueError if
        ``seq`` is beyond the journal's head (a table replaced under the reader)."""
        self._pos[0] = seq
        n = lib.pst_export_journal(_handle(table), self._pos, check_now(now), self._buf,
                                   self._size(table.kind, limit))
        if n == lib.PST_EGAP:
            raise JournalGap(seq, table.stats(probes=False).journal_oldest)
        if n < 0:
            raise ValueError(f"journal sequence {seq} is beyond the head {table.journal_head}")
        return self._block(table.kind, n), self._pos[0]


@dataclass(frozen=True, slots=True)
class Applied:
    applied: int  # records written or removed
    skipped: int  # bulk copies of keys an incremental record already wrote in this sweep
    full: int  # live records the table had no room for
    forgotten: int  # incremental keys the sweep's recent set had no room to remember


class Sweep:
    """One key kind's bulk copy on the learner: marks what the table holds at BULK_BEGIN,
    remembers the keys incremental records write meanwhile (in a C table of the same kind,
    made at the first such record), removes the unmentioned at BULK_END."""

    def __init__(self, table: CTable | None) -> None:
        self.count = 0  # bulk copies received (not skipped)
        self.forgotten = 0
        self.recent: CTable | None = None
        if table is not None:
            lib.pst_sweep_begin(_handle(table))

    def recent_for(self, table: CTable) -> CTable:
        if self.recent is None:
            self.recent = CTable(table.kind, min(table.capacity, RECENT_MAX),
                                 policy=Policy.REFUSE, journal=0)
        return self.recent

    def end(self, table: CTable | None) -> int:
        """Remove what no record mentioned; the number removed."""
        if self.recent is not None:
            self.recent.close()
            self.recent = None
        return lib.pst_sweep_end(_handle(table)) if table is not None else 0


def apply(table: CTable, block: RecordBlock, *, now: int, held: int, bulk: bool,
          sweep: Sweep | None = None) -> Applied:
    """Apply a received block (one C call): upserts rebased on ``now``, removals; nothing is
    journaled.  ``wire.WireError`` and nothing applied if any record is invalid or the block
    is shorter than its count."""
    if block.kind is not table.kind:
        raise ValueError(f"{block.kind.label} records for a {table.kind.label} table")
    recent = ffi.NULL
    if sweep is not None and (not bulk or sweep.recent is not None):
        recent = _handle(sweep.recent_for(table))
    res = ffi.new("pst_import_result *")
    data = block.data
    rc = lib.pst_import(_handle(table), ffi.from_buffer("uint8_t[]", data), len(data),
                        block.count, check_now(now), max(0, min(held, 0xFFFF_FFFF)),
                        lib.PST_WIRE_BULK if bulk else 0, recent, res)
    if rc != lib.PST_OK:  # the codec's check says what is wrong with the block
        wire.check_block(block.kind, data, block.count)
        raise wire.WireError("malformed", f"record {res.bad}: refused (error {rc})")
    if sweep is not None:
        if bulk:
            sweep.count += block.count - res.skipped
        sweep.forgotten += res.forgotten
    return Applied(res.applied, res.skipped, res.full, res.forgotten)
