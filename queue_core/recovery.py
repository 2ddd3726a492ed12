"""A usable database at every boot: a damaged one is kept aside for inspection, what can still
be read of it is copied into a fresh one, and an empty one is started only when nothing can.

The full check (`quick_check`) takes seconds on a year of history, so it runs after boot on its
own connection (`check`); damage it finds is marked, and the next boot recovers.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from pathlib import Path

from queue_core.errors import StorageError
from queue_core.storage import open_database, read_only, transaction

log = logging.getLogger(__name__)

CHUNK = 1000


def damage_marker(path: Path) -> Path:
    return path.with_name(path.name + ".damaged")


def check(path: Path) -> list[str]:
    """`PRAGMA quick_check` of the database at `path`, read-only; [] when it is sound."""
    try:
        db = read_only(path)
        try:
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if problems == ["ok"] else problems


def mark_damaged(path: Path, problems: list[str]) -> None:
    """Have the next boot recover the database at `path`."""
    damage_marker(path).write_text("; ".join(problems[:5]))


def open_or_recover(path: Path) -> tuple[sqlite3.Connection, str | None]:
    """The database at `path`, recovered first if it is marked damaged or cannot be opened.

    Returns the connection and, after a recovery, what happened (for the log and the office).
    """
    marker = damage_marker(path)
    if marker.exists():
        reason = f"damage found after the last boot: {marker.read_text()}"
    else:
        try:
            return open_database(path), None
        except StorageError as exc:
            reason = str(exc)
    stamp = time.strftime('%Y%m%d-%H%M%S')
    aside = next(folder for folder in (path.parent / f"damaged-{stamp}{suffix}" for suffix in
                                       ("", *(f"-{n}" for n in range(2, 1000))))
                 if not folder.exists())   # a second recovery in the same second
    aside.mkdir()
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
                 marker):
        if part.exists():
            shutil.move(str(part), aside / part.name)
    db = open_database(path)
    saved = _salvage(aside / path.name, db)
    if saved:
        found = ", ".join(f"{n} {table}" for table, n in saved.items())
        return db, f"{reason}; kept in {aside}; recovered {found}"
    return db, f"{reason}; kept in {aside}; nothing could be read: started an empty database"


def _salvage(damaged: Path, db: sqlite3.Connection) -> dict[str, int]:
    """Copy every readable row of `damaged` into `db`, chunk by chunk, skipping what fails."""
    try:
        old = read_only(damaged)
        old.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as exc:
        log.error("salvage: %s cannot be read at all: %s", damaged, exc)
        return {}
    saved = {}
    tables = [row[0] for row in db.execute(   # every table of the current schema
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]
    db.execute("PRAGMA foreign_keys=OFF")   # rows may refer to rows that were lost
    try:
        for table in tables:
            if n := _copy(old, db, table):
                saved[table] = n
    finally:
        db.execute("PRAGMA foreign_keys=ON")
        old.close()
    return saved


def _copy(old: sqlite3.Connection, db: sqlite3.Connection, table: str) -> int:
    try:
        columns = [r[1] for r in old.execute(f"PRAGMA table_info({table})")]
        highest = old.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        return 0
    current = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    columns = [c for c in columns if c in current]
    names = ", ".join(columns)
    copied = 0
    for start in range(0, highest + 1, CHUNK):
        try:
            rows = old.execute(f"SELECT {names} FROM {table} WHERE rowid >= ? AND rowid < ?",
                               (start, start + CHUNK)).fetchall()
        except sqlite3.DatabaseError as exc:
            log.error("salvage: %s rows %d-%d lost: %s", table, start, start + CHUNK - 1, exc)
            continue
        with transaction(db):
            db.executemany(f"INSERT OR IGNORE INTO {table} ({names}) VALUES"
                           f" ({', '.join('?' * len(columns))})", rows)
        copied += len(rows)
    return copied
