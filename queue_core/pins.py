"""PINs and back-office passwords kept as salted scrypt hashes: `scrypt:N:r:p:<salt>:<hash>`."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from functools import cache

from queue_core.errors import UserRefused

N, R, P = 2 ** 14, 8, 1        # ~30 ms here, a few times that on a board: checked off the loop
MAX_COST = 2 ** 18             # N·r of a hash the box checks: 32 MiB of memory (N=2**15, r=8)
MAX_MEMORY = 64 << 20          # what hashlib may take for that, with its overhead
HASH = re.compile(r"scrypt:(\d{1,7}):(\d{1,2}):(\d{1,2}):([0-9a-f]{32}):([0-9a-f]{64})")
PLAIN = re.compile(r"[0-9]{4,8}")
PASSWORD = range(10, 129)      # characters of a back-office password


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    return _hash(pin.encode(), salt)


def pin_matches(stored: str | None, typed: object) -> bool:
    """Whether `typed` is the PIN `stored` (a hash, or plain digits in a technician's file).

    Any input gives an answer, never an exception; `stored` None (an unknown teller) costs the
    same time as a known one and never matches."""
    if not isinstance(typed, str) or PLAIN.fullmatch(typed) is None:
        typed = ""
    if stored is None:
        pin_matches(_dummy(), typed)
        return False
    if PLAIN.fullmatch(stored):
        return hmac.compare_digest(stored.encode(), typed.encode())
    return _matches(stored, typed.encode())


def hash_password(password: str) -> str:
    """A back-office password's hash; raises UserRefused unless it has 10 to 128 characters."""
    if not isinstance(password, str) or len(password) not in PASSWORD:
        raise UserRefused(f"a password must have {PASSWORD.start} to {PASSWORD.stop - 1}"
                          " characters")
    return _hash(_encoded(password), None)


def password_matches(stored: str | None, typed: object) -> bool:
    """Whether `typed` is the password whose hash is `stored`.

    Any input gives an answer, never an exception; `stored` None (an unknown user) costs the
    same time as a known one and never matches, nor does a `typed` no password could be."""
    valid = isinstance(typed, str) and len(typed) in PASSWORD
    secret = _encoded(typed) if valid else b""
    if stored is None:
        _matches(_dummy(), secret)
        return False
    return _matches(stored, secret) and valid


def usable_hash(stored: str) -> bool:
    """Whether `stored` is a PIN hash whose cost the box will spend on a login: a configuration
    may hold no hash that would lock its teller out."""
    found = HASH.fullmatch(stored)
    if found is None:
        return False
    n, r, p = (int(v) for v in found.groups()[:3])
    return 2 <= n and not n & (n - 1) and 1 <= r and n * r <= MAX_COST and 1 <= p <= 4


def _hash(secret: bytes, salt: bytes | None) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(secret, salt=salt, n=N, r=R, p=P, maxmem=MAX_MEMORY, dklen=32)
    return f"scrypt:{N}:{R}:{P}:{salt.hex()}:{digest.hex()}"


def _matches(stored: str, secret: bytes) -> bool:
    """Whether `secret` hashes to `stored`; False for anything that is no usable hash."""
    if not usable_hash(stored):
        return False
    found = HASH.fullmatch(stored)
    n, r, p = (int(v) for v in found.groups()[:3])
    digest = hashlib.scrypt(secret, salt=bytes.fromhex(found[4]), n=n, r=r, p=p,
                            maxmem=MAX_MEMORY, dklen=32)
    return hmac.compare_digest(digest.hex(), found[5])


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")   # a lone surrogate from JSON: no exception


@cache
def _dummy() -> str:
    """A hash to check unknown tellers and users against, so that they take as long as known
    ones."""
    return hash_pin("0000")
