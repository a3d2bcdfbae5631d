"""The persistence table: every clientip, SSL-ID, passive-cookie, FTP and URL-hash binding.

``PersistTable`` is the C implementation; ``RefTable`` is the reference with the same contract.
"""
from weboslb.table.batch import KeyBatch
from weboslb.table.contract import (
    FLAG_PENDING,
    FLAG_PERSIST,
    FLAG_USER,
    NO_REAL,
    Entry,
    HashFn,
    JournalGap,
    KeyKind,
    Op,
    Policy,
    Status,
    TableStats,
    Update,
)
from weboslb.table.ctable import CTable
from weboslb.table.reftable import RefTable

PersistTable = CTable

__all__ = [
    "CTable", "Entry", "FLAG_PENDING", "FLAG_PERSIST", "FLAG_USER", "HashFn", "JournalGap", "KeyBatch",
    "KeyKind", "NO_REAL", "Op", "PersistTable", "Policy", "RefTable", "Status", "TableStats",
    "Update",
]
