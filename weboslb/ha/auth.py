"""Keys of the mirror link, from ``/cfg/slb/sync/passphrs``.

The passphrase is stretched once with PBKDF2-HMAC-SHA256 under a fixed, protocol-specific
salt (so a captured frame does not make a dictionary attack cheap); HKDF (RFC 5869) then
derives one key for the handshake and, per session, one key per direction bound to both
peers' fresh nonces — a frame of an old session, or reflected back at its sender, never
authenticates.  Pure stdlib: ``hashlib`` and ``hmac``.
"""
from __future__ import annotations

import functools
import hashlib
import hmac

KEY_LEN = 32
PBKDF2_SALT = b"weboslb mirror v1 passphrase"
PBKDF2_ROUNDS = 200_000
_HELLO_INFO = b"weboslb mirror v1 hello"
_SESSION_INFO = b"weboslb mirror v1 session"


@functools.lru_cache(maxsize=16)
def mirror_key(passphrase: str) -> bytes:
    """The link's master key from the sync passphrase (an empty passphrase still yields a
    key: frames are then checked for integrity but anyone can forge them)."""
    if not isinstance(passphrase, str):
        raise TypeError(f"passphrase must be text, not {type(passphrase).__name__}")
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), PBKDF2_SALT, PBKDF2_ROUNDS,
                               KEY_LEN)


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int = KEY_LEN) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract, then expand."""
    prk = hmac.digest(salt or bytes(KEY_LEN), ikm, "sha256")
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


def check_key(key: object) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_LEN:
        raise ValueError(f"mirror key must be {KEY_LEN} bytes (see mirror_key(passphrase))")
    return bytes(key)


def hello_key(key: bytes) -> bytes:
    return hkdf(key, b"", _HELLO_INFO)


def session_key(key: bytes, sender_nonce: bytes, receiver_nonce: bytes) -> bytes:
    """The key of one direction of one session."""
    return hkdf(key, sender_nonce + receiver_nonce, _SESSION_INFO)
