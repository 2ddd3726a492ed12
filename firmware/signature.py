"""A technician's signature on what a USB stick installs: the SHA-256 of each file, under an
HMAC-SHA256 keyed with this box's installation key (made at first start, 0600, never logged)."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path

HEADER = "queue-appliance stick signature 1"
KEY_NAME = "stick.key"
LINE = re.compile(r"sha256 ([0-9a-f]{64}) ([A-Za-z0-9_./-]{1,100})")


class NotAuthorised(ValueError):
    """The stick's files are not signed with this box's key."""


def sign(digests: dict[str, str], key: bytes) -> str:
    """The signature file for files named to their SHA-256 (hex)."""
    body = "".join(f"sha256 {digests[name]} {name}\n" for name in sorted(digests))
    return f"{HEADER}\nhmac-sha256 {_mac(body, key)}\n{body}"


def verify(text: bytes, key: bytes) -> dict[str, str]:
    """The signed files and their SHA-256 (hex); raises NotAuthorised."""
    try:
        header, mac, body = text.decode("ascii").split("\n", 2)
    except (UnicodeDecodeError, ValueError):
        raise NotAuthorised("the signature file is not one") from None
    if header != HEADER or not mac.startswith("hmac-sha256 "):
        raise NotAuthorised("the signature file is not one")
    if not hmac.compare_digest(mac.removeprefix("hmac-sha256 "), _mac(body, key)):
        raise NotAuthorised("the files were not signed with this box's key, or were changed"
                            " after signing")
    lines = [LINE.fullmatch(line) for line in body.splitlines()]
    if not all(lines):
        raise NotAuthorised("the signature file is not one")
    return {m[2]: m[1] for m in lines}


def read_key(data_dir: Path) -> bytes | None:
    """This box's installation key, or None when it has none (a stick can then install nothing)."""
    try:
        return bytes.fromhex((data_dir / KEY_NAME).read_text().strip()) or None
    except (OSError, ValueError):
        return None


def make_key(data_dir: Path) -> bool:
    """Give the box an installation key if it has none; True when one was made."""
    try:
        fd = os.open(data_dir / KEY_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return True


def _mac(body: str, key: bytes) -> str:
    return hmac.new(key, body.encode("ascii"), hashlib.sha256).hexdigest()
