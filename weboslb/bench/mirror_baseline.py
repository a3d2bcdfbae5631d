"""The baseline of ``weboslb bench mirror``: a bulk copy with the per-entry Python path the
mirror used before its batch calls — every entry read into an ``Entry``, packed from a tuple,
and on the other side unpacked, checked, rebased and written with ``CTable.put`` one at a
time (with the sweep's per-key bookkeeping).  The frames are the same authenticated RECORDS
messages over the same loopback TCP; there is no window, acknowledgement or handshake, which
only flatters the baseline.
"""
from __future__ import annotations

import socket

from weboslb.ha import wire
from weboslb.ha.learn import rebase
from weboslb.ha.teach import live_record
from weboslb.table import CTable, Entry, KeyKind, Op

KEY = b"\x42" * 32  # a session key: the baseline times the work, not the handshake
RECV = 1 << 22


def send(sock: socket.socket, table: CTable, batch: int, now: int) -> int:
    """Stream every live persistent entry of ``table`` as bulk RECORDS; the entries sent."""
    kind, step = table.kind, min(batch, wire.max_records(table.kind))
    seq = sent = 0
    chunk: list[tuple] = []

    def flush() -> None:
        nonlocal seq
        seq += 1
        typ, body = wire.encode(wire.Records(1, seq, kind, True, chunk))
        sock.sendall(wire.seal(typ, seq, body, KEY))
        chunk.clear()

    for e in table.entries(persistent_only=True, clear_pending=True):
        if e.alive(now):
            chunk.append(live_record(Op.NEW, e, now))
            sent += 1
            if len(chunk) == step:
                flush()
    if chunk:
        flush()
    return sent


def receive(sock: socket.socket, table: CTable, n: int, now: int) -> int:
    """Apply bulk RECORDS from ``sock`` one entry at a time until ``n`` are applied."""
    deframer = wire.Deframer(lambda typ: KEY)
    stale: set = set()  # the sweep's bookkeeping, as the per-entry learner kept it
    recent: set = set()
    applied = 0
    while applied < n:
        data = sock.recv(RECV)
        if not data:
            raise ConnectionError(f"the baseline stream ended after {applied} of {n} entries")
        for frame in deframer.feed(data):
            if isinstance(frame, wire.WireError):
                raise frame
            msg = wire.decode(frame.typ, frame.body)
            kind: KeyKind = msg.kind
            recs = list(msg.records)
            wire.check_records(kind, recs)
            for op, keylen, vsvc, real, sp, flags, timeout, remaining, age, key in recs:
                key = key[:keylen]
                k = (vsvc, key)
                if k in recent:
                    continue
                stale.discard(k)
                created, last_used, t = rebase(timeout, remaining, age, now)
                table.put(Entry(key, vsvc, real, sp, flags, created, last_used, t), now=now,
                          journal=False)
                applied += 1
    return applied
