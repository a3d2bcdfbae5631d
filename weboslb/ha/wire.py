"""The mirror wire protocol (version 1): framing, authentication tags, message bodies and
persistent-entry records.  Specified in docs/mirror-protocol.md; this module is its only
implementation, shared by both peers.

Every frame is ``header | body | mac``.  The header carries a magic, the protocol version,
the message type, the body length (bounded by ``MAX_BODY``) and a per-direction sequence
number, and is itself authenticated by a short tag, so that a damaged or forged length is
rejected before the reader waits for it.  Decoding arbitrary bytes raises nothing but
``WireError`` and never buffers more than one bounded frame.
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from weboslb._native import ffi, lib
from weboslb.table.contract import FLAG_PERSIST, FLAG_USER, NO_REAL, KeyKind, Op

MAGIC = b"WM"
VERSION = 1
HEAD = struct.Struct(">2sBBIQ")  # magic, version, type, body length, sequence number
TAG_LEN = 8  # header tag: HMAC-SHA256(key, head)[:8]
HEADER_LEN = HEAD.size + TAG_LEN  # 24
MAC_LEN = 16  # frame MAC: HMAC-SHA256(key, header | body)[:16]
MAX_BODY = 1 << 18  # 256 KiB: a frame never exceeds MAX_FRAME bytes
MAX_FRAME = HEADER_LEN + MAX_BODY + MAC_LEN
NONCE_LEN = 16
ZERO_NONCE = bytes(NONCE_LEN)
MAX_TEXT = 200  # bytes of a refusal's text
MAX_CONFIG = 4 << 20  # 4 MiB: the largest configuration a push may carry


class WireError(ValueError):
    """Bytes that are not a valid frame or message; ``reason`` is a short counter name."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Msg(enum.IntEnum):
    HELLO = 1
    REFUSE = 2
    HEARTBEAT = 3
    ACK = 4
    RESYNC = 5
    CONFIG = 6  # a chunk of a pushed configuration (/oper/slb/sync)
    CONFIG_ACK = 7  # the whole push arrived
    START = 16  # stream messages (16..20) carry an epoch and a stream sequence number
    BULK_BEGIN = 17
    RECORDS = 18
    BULK_END = 19
    SYNCED = 20


HANDSHAKE_TYPES = frozenset({Msg.HELLO, Msg.REFUSE})  # authenticated with the hello key
STREAM_TYPES = frozenset({Msg.START, Msg.BULK_BEGIN, Msg.RECORDS, Msg.BULK_END, Msg.SYNCED})
_MSG = {m.value: m for m in Msg}


class Role(enum.IntEnum):
    ACTIVE = 1  # serves the VIPs; its persistent entries are mirrored to the peer
    STANDBY = 2  # applies what the active mirrors; never serves from its table

    @classmethod
    def parse(cls, value: Role | str) -> Role:
        if isinstance(value, Role):
            return value
        try:
            return cls[str(value).upper()]
        except KeyError:
            raise ValueError(f"unknown mirror role {value!r}; expected active or standby") \
                from None


class RefuseReason(enum.IntEnum):
    VERSION = 1
    SYNC_ID = 2
    SCHEMA = 3
    SWITCH_ID = 4  # both peers claim the same switch id (a loop or a copied config)


# hello flags
FRESH = 0x01  # started with empty tables and has neither learnt a full table nor served
READY = 0x02  # an active that may serve
SYNCED = 0x04  # a standby holding a complete copy of the active's table
CONFIG_OK = 0x08  # takes configuration pushes (CONFIG); a peer without it would drop them

# ---- frames ---------------------------------------------------------------------------------


def _mac(key: bytes, data: bytes | memoryview, n: int) -> bytes:
    return hmac.digest(key, data, "sha256")[:n]


def seal(typ: int, seq: int, body: bytes, key: bytes) -> bytes:
    """One frame: header, header tag, body, MAC."""
    if len(body) > MAX_BODY:
        raise ValueError(f"message body of {len(body)} bytes exceeds {MAX_BODY}")
    head = HEAD.pack(MAGIC, VERSION, typ, len(body), seq)
    frame = head + _mac(key, head, TAG_LEN) + body
    return frame + _mac(key, frame, MAC_LEN)


@dataclass(frozen=True, slots=True)
class Frame:
    """An authenticated frame: the caller decodes the body by ``typ``."""

    typ: Msg
    seq: int
    body: bytes


class Deframer:
    """Cuts a byte stream into authenticated frames.

    ``key_for(typ)`` names the key that authenticates a frame of that type, or None when
    there is none yet (a session frame before the handshake).  Damage (junk, a wrong
    version, a bad tag or MAC, an unbounded length) never consumes more than the magic: the
    reader rescans from the next byte, so a genuine frame behind or inside damaged bytes is
    still found.  Each damaged stretch reports one ``WireError``; ``junk_bytes`` counts what
    was skipped.  At most one frame (``MAX_FRAME`` bytes) is ever buffered.
    Every rejected frame header reports one ``WireError``; bytes that are not a frame report
    one per stretch, unless they follow a rejected header (the rest of its frame).
    """

    def __init__(self, key_for: Callable[[Msg], bytes | None]) -> None:
        self.key_for = key_for
        self._buf = bytearray()
        self._in_sync = True
        self._quiet = 0  # leading bytes inside a frame we could not read: not junk
        self.junk_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes held for a frame not yet complete."""
        return len(self._buf)

    def reset(self) -> None:
        self._buf.clear()
        self._in_sync = True
        self._quiet = 0

    def feed(self, data: bytes | bytearray | memoryview) -> Iterator[Frame | WireError]:
        """Frames and errors, lazily: the key of each frame is asked for after the caller
        handled the frames before it (a HELLO may have just set up the session)."""
        buf = self._buf
        buf += data
        out: list[Frame | WireError] = []
        pos, n = 0, len(buf)
        while True:
            i = buf.find(MAGIC, pos)
            if i < 0:
                # keep a trailing first magic byte: the magic may straddle two reads
                end = n - 1 if n > pos and buf[n - 1] == MAGIC[0] else n
                self._skip(out, pos, end)
                pos = end
                break
            self._skip(out, pos, i)
            pos = i
            if n - pos < HEADER_LEN:
                break
            _, version, typ, length, seq = HEAD.unpack_from(buf, pos)
            problem = None
            msg = _MSG.get(typ)
            if version != VERSION:
                # only a hello names the peer's version; any other frame is just garbage
                # (and must not make an unauthenticated sender look like a refusing peer)
                problem = WireError("version" if typ == Msg.HELLO else "malformed",
                                    f"protocol version {version}; this switch speaks {VERSION}")
            elif length > MAX_BODY:
                problem = WireError("malformed", f"body length {length} exceeds {MAX_BODY}")
            elif msg is None:
                problem = WireError("malformed", f"unknown message type {typ}")
            else:
                key = self.key_for(msg)
                if key is None:
                    problem = WireError("no_session", f"{msg.name} frame before a session")
                elif not hmac.compare_digest(
                        _mac(key, memoryview(buf)[pos:pos + HEAD.size], TAG_LEN),
                        buf[pos + HEAD.size:pos + HEADER_LEN]):
                    problem = WireError("bad_mac", f"{msg.name} header fails authentication")
            if problem is None:
                total = HEADER_LEN + length + MAC_LEN
                if n - pos < total:
                    break
                end = pos + HEADER_LEN + length
                if hmac.compare_digest(_mac(key, memoryview(buf)[pos:end], MAC_LEN),
                                       buf[end:end + MAC_LEN]):
                    frame = Frame(msg, seq, bytes(buf[pos + HEADER_LEN:end]))
                    self._in_sync = True
                    pos += total
                    yield from out
                    out.clear()
                    yield frame
                    continue
                problem = WireError("bad_mac", f"{msg.name} frame fails authentication")
            if problem.reason == "no_session":
                # a frame we cannot read yet: drop it, and rescan its bytes quietly (its
                # length is unauthenticated, so a genuine frame inside it is still found)
                out.append(problem)
                self._quiet = max(self._quiet, pos + HEADER_LEN + length + MAC_LEN)
            else:
                out.append(problem)
                self._in_sync = False
                self.junk_bytes += len(MAGIC)
            pos += len(MAGIC)
        del buf[:pos]
        self._quiet = max(0, self._quiet - pos)
        yield from out

    def _skip(self, out: list, start: int, end: int) -> None:
        start = max(start, self._quiet)
        if end > start:
            self.junk_bytes += end - start
            if self._in_sync:
                out.append(WireError("malformed", f"{end - start} bytes that are not a frame"))
            self._in_sync = False


# ---- message bodies -------------------------------------------------------------------------

_HELLO = struct.Struct(">16s16sII8sBBBBQQQQ")
_REFUSE = struct.Struct(">16sBB")
_HEARTBEAT = struct.Struct(">BBH")
_ACK = struct.Struct(">QQB")
_RESYNC = struct.Struct(">QB")
_STREAM = struct.Struct(">QQ")  # epoch, stream sequence number
_START = struct.Struct(">QQB")
_KIND = struct.Struct(">QQB")
_RECORDS = struct.Struct(">QQBBII")  # epoch, dseq, kind, flags, count, held
_BULK_END = struct.Struct(">QQBI")
_CONFIG = struct.Struct(">QII")  # push id, total length, offset of this chunk
_CONFIG_ACK = struct.Struct(">QB")  # push id, status
CONFIG_CHUNK = MAX_BODY - _CONFIG.size  # configuration bytes a CONFIG frame carries at most
NAK = 0x01  # ack flag: a stream message was missing; resend from next_dseq
LESSON_END = 0x01  # start flag: the learner taught this teacher its table; no bulk follows
BULK = 0x01  # records flag: bulk copies (an incremental update of the same key wins)


@dataclass(frozen=True, slots=True)
class Hello:
    nonce: bytes
    echo: bytes  # the peer nonce this hello answers; zero for an initiation
    switch_id: int
    sync_id: int
    schema: bytes
    role: Role
    flags: int
    update: int
    incarnation: int  # random per process: a restarted peer is a new incarnation
    resume_incarnation: int  # the teacher this peer holds a copy from (0: none) ...
    resume_epoch: int  # ... its epoch ...
    resume_dseq: int  # ... and the next stream message this peer expects from it


@dataclass(frozen=True, slots=True)
class Refuse:
    echo: bytes
    reason: RefuseReason
    text: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    role: Role
    flags: int


@dataclass(frozen=True, slots=True)
class Ack:
    epoch: int
    next_dseq: int
    nak: bool = False


@dataclass(frozen=True, slots=True)
class Resync:
    epoch: int
    reason: int = 0


@dataclass(frozen=True, slots=True)
class Start:
    epoch: int
    dseq: int
    lesson_end: bool = False


@dataclass(frozen=True, slots=True)
class BulkBegin:
    epoch: int
    dseq: int
    kind: KeyKind


@dataclass(frozen=True, slots=True)
class RecordBlock:
    """``count`` records of one kind packed as they travel (``data``): read from and applied
    to the tables in C, one call a block; unpacked into tuples only when iterated."""

    kind: KeyKind
    count: int
    data: bytes

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple]:
        return _STRUCTS[self.kind].iter_unpack(self.data)


@dataclass(frozen=True, slots=True)
class Records:
    epoch: int
    dseq: int
    kind: KeyKind
    bulk: bool
    records: list | RecordBlock  # record tuples (see record_struct()), or a packed block
    held: int = 0  # seconds the teacher held the records between reading and sending them


@dataclass(frozen=True, slots=True)
class BulkEnd:
    epoch: int
    dseq: int
    kind: KeyKind
    count: int


@dataclass(frozen=True, slots=True)
class Synced:
    epoch: int
    dseq: int


@dataclass(frozen=True, slots=True)
class ConfigChunk:
    """Bytes ``offset`` .. ``offset + len(data)`` of push ``push``'s ``total``-byte
    configuration text (UTF-8 dump script)."""

    push: int
    total: int
    offset: int
    data: bytes


class ConfigStatus(enum.IntEnum):
    RECEIVED = 0  # every byte arrived; the receiving switch decides what to apply
    UNREADABLE = 1  # the bytes are not UTF-8 text: nothing was handed on


@dataclass(frozen=True, slots=True)
class ConfigAck:
    push: int
    status: ConfigStatus = ConfigStatus.RECEIVED


def config_chunks(push: int, data: bytes) -> list[ConfigChunk]:
    """A configuration cut into CONFIG messages (``ValueError`` beyond ``MAX_CONFIG``)."""
    if not 0 < len(data) <= MAX_CONFIG:
        raise ValueError(f"a pushed configuration is 1..{MAX_CONFIG} bytes, not {len(data)}")
    return [ConfigChunk(push, len(data), off, data[off:off + CONFIG_CHUNK])
            for off in range(0, len(data), CONFIG_CHUNK)]


Message = (Hello | Refuse | Heartbeat | Ack | Resync | Start | BulkBegin | Records | BulkEnd
           | Synced | ConfigChunk | ConfigAck)
StreamMessage = Start | BulkBegin | Records | BulkEnd | Synced

_KINDS = {k.cid: k for k in KeyKind}
_ROLES = {r.value: r for r in Role}
_REASONS = {r.value: r for r in RefuseReason}
_STATUSES = {s.value: s for s in ConfigStatus}

# ---- records --------------------------------------------------------------------------------

# op, keylen, vsvc, real, sp, flags, timeout, remaining, age, key (zero padded to the width)
RECORD_FORMAT = ">BBHHBBIII"
_STRUCTS = {k: struct.Struct(f"{RECORD_FORMAT}{k.width}s") for k in KeyKind}
LIVE_OPS = frozenset({Op.NEW, Op.TOUCH, Op.UPDATE})
_OPS = frozenset(int(o) for o in Op)
_LIVE = frozenset(int(o) for o in LIVE_OPS)
_FLAGS_OK = FLAG_PERSIST | FLAG_USER


def record_struct(kind: KeyKind) -> struct.Struct:
    return _STRUCTS[kind]


def max_records(kind: KeyKind) -> int:
    """The most records of a kind one RECORDS message can carry."""
    return (MAX_BODY - _RECORDS.size) // _STRUCTS[kind].size


SCHEMA_TEXT = "records " + RECORD_FORMAT + " " + " ".join(
    f"{k.label}:{k.cid}:{k.width}:{k.min_len}" for k in KeyKind)
SCHEMA = hashlib.sha256(SCHEMA_TEXT.encode()).digest()[:8]


def check_records(kind: KeyKind, recs: list, first: int = 0) -> None:
    """``WireError`` at the first invalid record tuple (the per-record form of the check)."""
    lo, width = kind.min_len, kind.width
    for i, (op, keylen, _vsvc, real, _sp, flags, timeout, remaining, _age, key) in \
            enumerate(recs, first):
        if op not in _OPS:
            raise WireError("malformed", f"record {i}: unknown op {op}")
        if not lo <= keylen <= width or key[keylen:].strip(b"\0"):
            raise WireError("malformed", f"record {i}: bad {kind.label} key length {keylen}")
        if op in _LIVE:
            if real == NO_REAL or flags & ~_FLAGS_OK or not flags & FLAG_PERSIST:
                raise WireError("malformed", f"record {i}: bad real {real} or flags {flags:#x}")
            if timeout and remaining > timeout:
                raise WireError("malformed", f"record {i}: remaining {remaining} > timeout")


def check_block(kind: KeyKind, data: bytes | memoryview, count: int) -> None:
    """``WireError`` unless ``data`` is exactly ``count`` valid records (checked in C; the
    first bad record is then re-checked here to say what is wrong with it)."""
    s = _STRUCTS[kind]
    if len(data) != count * s.size:
        raise WireError("malformed", f"{count} {kind.label} records need "
                                     f"{_RECORDS.size + count * s.size} bytes, "
                                     f"not {_RECORDS.size + len(data)}")
    if not count:
        return
    bad = lib.pst_wire_check(kind.cid, ffi.from_buffer("uint8_t[]", data), len(data), count,
                             ffi.NULL)
    if bad >= 0:
        check_records(kind, [s.unpack_from(data, bad * s.size)], bad)
        raise WireError("malformed", f"record {bad}: refused")  # the two checks disagree


# ---- encode ---------------------------------------------------------------------------------


def encode(msg: Message) -> tuple[Msg, bytes]:
    """(type, body) of a message."""
    if isinstance(msg, Records):
        head = _RECORDS.pack(msg.epoch, msg.dseq, msg.kind.cid, BULK if msg.bulk else 0,
                             len(msg.records), msg.held)
        recs = msg.records
        if isinstance(recs, RecordBlock):
            if recs.kind is not msg.kind:
                raise ValueError(f"a block of {recs.kind.label} records in a "
                                 f"{msg.kind.label} message")
            return Msg.RECORDS, head + recs.data
        s = _STRUCTS[msg.kind]
        return Msg.RECORDS, head + b"".join([s.pack(*r) for r in recs])
    if isinstance(msg, Hello):
        return Msg.HELLO, _HELLO.pack(
            msg.nonce, msg.echo, msg.switch_id, msg.sync_id, msg.schema, msg.role, msg.flags,
            msg.update, 0, msg.incarnation, msg.resume_incarnation, msg.resume_epoch,
            msg.resume_dseq)
    if isinstance(msg, Refuse):
        text = msg.text.encode()[:MAX_TEXT]
        return Msg.REFUSE, _REFUSE.pack(msg.echo, msg.reason, len(text)) + text
    if isinstance(msg, Heartbeat):
        return Msg.HEARTBEAT, _HEARTBEAT.pack(msg.role, msg.flags, 0)
    if isinstance(msg, Ack):
        return Msg.ACK, _ACK.pack(msg.epoch, msg.next_dseq, NAK if msg.nak else 0)
    if isinstance(msg, Resync):
        return Msg.RESYNC, _RESYNC.pack(msg.epoch, msg.reason)
    if isinstance(msg, Start):
        return Msg.START, _START.pack(msg.epoch, msg.dseq, LESSON_END if msg.lesson_end else 0)
    if isinstance(msg, BulkBegin):
        return Msg.BULK_BEGIN, _KIND.pack(msg.epoch, msg.dseq, msg.kind.cid)
    if isinstance(msg, BulkEnd):
        return Msg.BULK_END, _BULK_END.pack(msg.epoch, msg.dseq, msg.kind.cid, msg.count)
    if isinstance(msg, Synced):
        return Msg.SYNCED, _STREAM.pack(msg.epoch, msg.dseq)
    if isinstance(msg, ConfigChunk):
        return Msg.CONFIG, _CONFIG.pack(msg.push, msg.total, msg.offset) + msg.data
    if isinstance(msg, ConfigAck):
        return Msg.CONFIG_ACK, _CONFIG_ACK.pack(msg.push, msg.status)
    raise TypeError(f"not a mirror message: {type(msg).__name__}")


def with_held(body: bytes, held: int) -> bytes:
    """A RECORDS body whose records were held ``held`` seconds before this (re)send: the
    learner takes that off their remaining lifetimes."""
    return body[:_RECORDS.size - 4] + struct.pack(">I", held) + body[_RECORDS.size:]


# ---- decode ---------------------------------------------------------------------------------


def _exact(body: bytes, s: struct.Struct, what: str) -> tuple:
    if len(body) != s.size:
        raise WireError("malformed", f"{what} body is {len(body)} bytes, expected {s.size}")
    return s.unpack(body)


def _kind(cid: int) -> KeyKind:
    kind = _KINDS.get(cid)
    if kind is None:
        raise WireError("malformed", f"unknown key kind {cid}")
    return kind


def _role(code: int) -> Role:
    role = _ROLES.get(code)
    if role is None:
        raise WireError("malformed", f"unknown role {code}")
    return role


def decode(typ: Msg, body: bytes) -> Message:
    """The message in a frame's body; ``WireError`` if it is not one."""
    if typ is Msg.RECORDS:
        if len(body) < _RECORDS.size:
            raise WireError("malformed", "records body shorter than its header")
        epoch, dseq, cid, flags, count, held = _RECORDS.unpack_from(body)
        kind = _kind(cid)
        data = bytes(memoryview(body)[_RECORDS.size:])
        check_block(kind, data, count)
        return Records(epoch, dseq, kind, bool(flags & BULK), RecordBlock(kind, count, data),
                       held)
    if typ is Msg.HELLO:
        (nonce, echo, switch_id, sync_id, schema, role, flags, update, _, inc, r_inc, r_epoch,
         r_dseq) = _exact(body, _HELLO, "hello")
        if update > 60:
            raise WireError("malformed", f"update interval {update} out of range 0..60")
        return Hello(nonce, echo, switch_id, sync_id, schema, _role(role), flags, update, inc,
                     r_inc, r_epoch, r_dseq)
    if typ is Msg.REFUSE:
        if len(body) < _REFUSE.size:
            raise WireError("malformed", "refusal body shorter than its header")
        echo, reason, n = _REFUSE.unpack_from(body)
        if len(body) != _REFUSE.size + n or reason not in _REASONS:
            raise WireError("malformed", "refusal length or reason")
        return Refuse(echo, _REASONS[reason],
                      body[_REFUSE.size:].decode("utf-8", errors="replace"))
    if typ is Msg.HEARTBEAT:
        role, flags, _ = _exact(body, _HEARTBEAT, "heartbeat")
        return Heartbeat(_role(role), flags)
    if typ is Msg.ACK:
        epoch, dseq, flags = _exact(body, _ACK, "ack")
        return Ack(epoch, dseq, bool(flags & NAK))
    if typ is Msg.RESYNC:
        return Resync(*_exact(body, _RESYNC, "resync"))
    if typ is Msg.START:
        epoch, dseq, flags = _exact(body, _START, "start")
        return Start(epoch, dseq, bool(flags & LESSON_END))
    if typ is Msg.BULK_BEGIN:
        epoch, dseq, cid = _exact(body, _KIND, "bulk begin")
        return BulkBegin(epoch, dseq, _kind(cid))
    if typ is Msg.BULK_END:
        epoch, dseq, cid, count = _exact(body, _BULK_END, "bulk end")
        return BulkEnd(epoch, dseq, _kind(cid), count)
    if typ is Msg.SYNCED:
        return Synced(*_exact(body, _STREAM, "synced"))
    if typ is Msg.CONFIG:
        if len(body) <= _CONFIG.size:
            raise WireError("malformed", "config body without configuration bytes")
        push, total, offset = _CONFIG.unpack_from(body)
        data = body[_CONFIG.size:]
        if not push or total > MAX_CONFIG or offset + len(data) > total:
            raise WireError("malformed", f"config chunk {offset}+{len(data)} of a "
                                         f"{total}-byte push (at most {MAX_CONFIG})")
        return ConfigChunk(push, total, offset, data)
    if typ is Msg.CONFIG_ACK:
        push, status = _exact(body, _CONFIG_ACK, "config ack")
        if not push or status not in _STATUSES:
            raise WireError("malformed", f"config ack status {status}")
        return ConfigAck(push, _STATUSES[status])
    raise WireError("malformed", f"unknown message type {typ}")


def frames(data: bytes, key_for: Callable[[Msg], bytes | None]) -> list[Frame | WireError]:
    """Every frame in a buffer (a capture of the mirror link, a test)."""
    return list(Deframer(key_for).feed(data))
