"""Tellers' PINs kept as salted scrypt hashes: `scrypt:N:r:p:<salt hex>:<hash hex>`."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from functools import cache

N, R, P = 2 ** 14, 8, 1        # ~30 ms here, a few times that on a board: checked off the loop
MAX_COST = 2 ** 18             # N·r of a hash the box checks: 32 MiB of memory (N=2**15, r=8)
MAX_MEMORY = 64 << 20          # what hashlib may take for that, with its overhead
HASH = re.compile(r"scrypt:(\d{1,7}):(\d{1,2}):(\d{1,2}):([0-9a-f]{32}):([0-9a-f]{64})")
PLAIN = re.compile(r"[0-9]{4,8}")


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=N, r=R, p=P, maxmem=MAX_MEMORY, dklen=32)
    return f"scrypt:{N}:{R}:{P}:{salt.hex()}:{digest.hex()}"


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
    if not usable_hash(stored):
        return False
    found = HASH.fullmatch(stored)
    n, r, p = (int(v) for v in found.groups()[:3])
    digest = hashlib.scrypt(typed.encode(), salt=bytes.fromhex(found[4]), n=n, r=r, p=p,
                            maxmem=MAX_MEMORY, dklen=32)
    return hmac.compare_digest(digest.hex(), found[5])


def usable_hash(stored: str) -> bool:
    """Whether `stored` is a PIN hash whose cost the box will spend on a login: a configuration
    may hold no hash that would lock its teller out."""
    found = HASH.fullmatch(stored)
    if found is None:
        return False
    n, r, p = (int(v) for v in found.groups()[:3])
    return 2 <= n and not n & (n - 1) and 1 <= r and n * r <= MAX_COST and 1 <= p <= 4


@cache
def _dummy() -> str:
    """A hash to check unknown tellers against, so that they take as long as known ones."""
    return hash_pin("0000")
