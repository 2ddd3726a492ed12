"""Back-office users and API tokens, kept in the queue database; each change logs an event."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from queue_core.errors import UserRefused
from queue_core.pins import usable_hash
from queue_core.storage import transaction

ROLES = ("admin", "supervisor", "teller")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")   # a user's name, a token's label
TOKEN_HASH = re.compile(r"[0-9a-f]{64}")      # sha256 of the token, hex


@dataclass(frozen=True)
class User:
    name: str
    role: str
    counter: int | None   # a teller's counter
    password: str         # its hash (queue_core.pins.hash_password)


def add_user(db: sqlite3.Connection, name: str, role: str, password_hash: str, now: float,
             counter: int | None = None, *, by: str | None = None) -> None:
    """Add a user; a teller has a counter (the caller checks that the hall has it), no one
    else has. `by`: the user who made the change, named by its event."""
    _check_name(name, "user")
    _check_role(role)
    if (role == "teller") != (counter is not None):
        raise UserRefused("a teller needs a counter, and only a teller has one")
    if counter is not None and (type(counter) is not int or counter < 1):
        raise UserRefused(f"no counter {counter!r}: a counter is a number from 1")
    _check_password(password_hash)
    with transaction(db):
        if db.execute("SELECT 1 FROM users WHERE lower(name) = lower(?)",
                      (name,)).fetchone() is not None:   # (ADA beside ada misleads)
            raise UserRefused(f"user {name!r} exists already")
        db.execute("INSERT INTO users (name, role, counter, password, changed_at)"
                   " VALUES (?, ?, ?, ?, ?)", (name, role, counter, password_hash, now))
        at_counter = f" at counter {counter}" if counter is not None else ""
        _log(db, now, "user", f"added {name}, {role}{at_counter}", by)


def set_password(db: sqlite3.Connection, name: str, password_hash: str, now: float, *,
                 by: str | None = None) -> None:
    _check_password(password_hash)
    with transaction(db):
        if db.execute("UPDATE users SET password = ?, changed_at = ? WHERE name = ?",
                      (password_hash, now, name)).rowcount == 0:
            raise UserRefused(f"no user {name!r}")
        _log(db, now, "user", f"password of {name} changed", by)


def remove_user(db: sqlite3.Connection, name: str, now: float, *, by: str | None = None) -> None:
    """Remove a user; the last admin stays."""
    with transaction(db):
        found = user(db, name)
        if found is None:
            raise UserRefused(f"no user {name!r}")
        if found.role == "admin" and _admins(db) == 1:
            raise UserRefused(f"{name} is the last admin: add another admin first")
        db.execute("DELETE FROM users WHERE name = ?", (name,))
        _log(db, now, "user", f"removed {name}", by)


def user(db: sqlite3.Connection, name: str) -> User | None:
    row = db.execute("SELECT name, role, counter, password FROM users WHERE name = ?",
                     (name,)).fetchone()
    return None if row is None else User(*row)


def users(db: sqlite3.Connection) -> list[User]:
    return [User(*row) for row in db.execute(
        "SELECT name, role, counter, password FROM users ORDER BY name")]


def has_admin(db: sqlite3.Connection) -> bool:
    return _admins(db) > 0


def add_token(db: sqlite3.Connection, label: str, token_hash: str, role: str, now: float, *,
              by: str | None = None) -> None:
    """Let a program in with the role `role`, by a token whose sha256 (hex) is `token_hash`."""
    _check_name(label, "token")
    _check_role(role)
    if not isinstance(token_hash, str) or TOKEN_HASH.fullmatch(token_hash) is None:
        raise UserRefused("a token is kept as its sha256, 64 lowercase hex digits")
    with transaction(db):
        row = db.execute("SELECT label FROM tokens WHERE label = ? OR token_hash = ?",
                         (label, token_hash)).fetchone()
        if row is not None:
            raise UserRefused(f"token {label!r} exists already" if row[0] == label else
                              "that token is in use already: make another")
        db.execute("INSERT INTO tokens (label, token_hash, role, created_at) VALUES (?, ?, ?, ?)",
                   (label, token_hash, role, now))
        _log(db, now, "token", f"added {label}, {role}", by)


def token_role(db: sqlite3.Connection, token_hash: str) -> str | None:
    """The role of the token whose sha256 (hex) is `token_hash`, None if there is none."""
    row = db.execute("SELECT role FROM tokens WHERE token_hash = ?", (token_hash,)).fetchone()
    return None if row is None else row[0]


def remove_token(db: sqlite3.Connection, label: str, now: float, *,
                 by: str | None = None) -> None:
    with transaction(db):
        if db.execute("DELETE FROM tokens WHERE label = ?", (label,)).rowcount == 0:
            raise UserRefused(f"no token {label!r}")
        _log(db, now, "token", f"removed {label}", by)


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str) or NAME.fullmatch(name) is None:
        raise UserRefused(f"a {what}'s name must be 1 to 32 letters, digits, '_', '.' or '-',"
                          " beginning with a letter or digit")


def _check_role(role: object) -> None:
    if role not in ROLES:
        raise UserRefused(f"no role {role!r}: admin, supervisor or teller")


def _check_password(password_hash: object) -> None:
    if not isinstance(password_hash, str) or not usable_hash(password_hash):
        raise UserRefused("a password is kept as its hash (queue_core.pins.hash_password)")


def _admins(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COUNT(*) FROM users WHERE role = 'admin'").fetchone()[0]


def _log(db: sqlite3.Connection, now: float, kind: str, detail: str, by: str | None) -> None:
    db.execute("INSERT INTO events (at, kind, detail, by_user) VALUES (?, ?, ?, ?)",
               (now, kind, detail, by))
