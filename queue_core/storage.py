"""The SQLite file: durable settings, the schema and its forward migrations, the check at open."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from queue_core.errors import StorageError
from queue_core.model import QUEUED

# A place after every other (rowids only grow, and a check-in takes a place without a row).
NEXT_PLACE = "(SELECT MAX(IFNULL(MAX(id), 0), IFNULL((SELECT MAX(place) FROM tickets), 0)) + 1" \
    " FROM tickets)"
IN_QUEUE = "(" + ", ".join(f"'{state.value}'" for state in QUEUED) + ")"   # SQL: state IN …

# Each entry moves the schema one version forward; never edit an entry once it has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        label TEXT NOT NULL,
        service TEXT NOT NULL,
        number INTEGER NOT NULL,
        vip INTEGER NOT NULL DEFAULT 0,
        previous_id INTEGER REFERENCES tickets(id),
        target_counter INTEGER,
        state TEXT NOT NULL CHECK (state IN
            ('waiting', 'called', 'serving', 'done', 'no_show', 'transferred', 'cancelled')),
        counter INTEGER,
        teller TEXT,
        issued_at REAL NOT NULL,
        queued_at REAL NOT NULL,
        called_at REAL,
        last_called_at REAL,
        recalls INTEGER NOT NULL DEFAULT 0,
        started_at REAL,
        finished_at REAL
    );
    -- A printed number exists once a day; later visits of a transferred ticket keep it.
    CREATE UNIQUE INDEX tickets_printed ON tickets(day, label) WHERE previous_id IS NULL;
    CREATE UNIQUE INDEX tickets_open_at_counter ON tickets(counter)
        WHERE state IN ('called', 'serving');
    CREATE INDEX tickets_waiting ON tickets(day, state, service, vip, queued_at);
    CREATE INDEX tickets_numbering ON tickets(day, service, number);

    CREATE TABLE counter_sessions (
        counter INTEGER PRIMARY KEY,
        teller TEXT NOT NULL UNIQUE,
        paused INTEGER NOT NULL DEFAULT 0,
        since REAL NOT NULL
    );

    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        ticket_id INTEGER REFERENCES tickets(id),
        service TEXT,
        counter INTEGER,
        teller TEXT,
        detail TEXT
    );
    CREATE INDEX events_at ON events(at);
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    """,
    """
    -- The last request applied from each source (a keypad), for exactly-once operations.
    CREATE TABLE requests (
        source TEXT PRIMARY KEY,
        last TEXT NOT NULL,
        at REAL NOT NULL
    );
    """,
    """
    -- A customer's rating of a finished visit: 1 very satisfied, 2 satisfied, 3 dissatisfied.
    CREATE TABLE ratings (
        ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
        rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 3),
        at REAL NOT NULL,
        counter INTEGER NOT NULL,
        teller TEXT
    );
    CREATE INDEX ratings_at ON ratings(at);
    """,
    """
    -- A ticket's place in its queue: a sequence, never the wall clock (which NTP steps). A
    -- visit transferred keeping its place keeps its first visit's; one sent to the back gets a
    -- new one. Each kind of candidate to call is the first row of an index range.
    ALTER TABLE tickets ADD COLUMN place INTEGER NOT NULL DEFAULT 0;
    UPDATE tickets SET place = CASE WHEN previous_id IS NOT NULL AND queued_at = issued_at
        THEN (SELECT f.id FROM tickets f WHERE f.day = tickets.day AND f.label = tickets.label
              AND f.previous_id IS NULL) ELSE id END;
    CREATE INDEX tickets_queue ON tickets(day, service, vip, place)
        WHERE state = 'waiting' AND target_counter IS NULL;
    CREATE INDEX tickets_targeted ON tickets(day, target_counter, vip, place)
        WHERE state = 'waiting' AND target_counter IS NOT NULL;
    """,
    """
    -- A counter's latest events (what its keypad last showed), without reading the history.
    CREATE INDEX events_counter ON events(counter, id) WHERE counter IS NOT NULL;
    """,
    """
    -- The business day as the queue's own state: it turns when the box sees the day end on a
    -- clock it trusts, and the old day's waiting tickets then expire. A ticket's state may
    -- now be 'expired': a CHECK cannot be altered, so the table is made again (foreign keys
    -- are off while migrating).
    CREATE TABLE tickets_new (
        id INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        label TEXT NOT NULL,
        service TEXT NOT NULL,
        number INTEGER NOT NULL,
        vip INTEGER NOT NULL DEFAULT 0,
        previous_id INTEGER REFERENCES tickets(id),
        target_counter INTEGER,
        state TEXT NOT NULL CHECK (state IN ('waiting', 'called', 'serving', 'done', 'no_show',
                                             'transferred', 'cancelled', 'expired')),
        counter INTEGER,
        teller TEXT,
        issued_at REAL NOT NULL,
        queued_at REAL NOT NULL,
        called_at REAL,
        last_called_at REAL,
        recalls INTEGER NOT NULL DEFAULT 0,
        started_at REAL,
        finished_at REAL,
        place INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO tickets_new SELECT id, day, label, service, number, vip, previous_id,
        target_counter, state, counter, teller, issued_at, queued_at, called_at,
        last_called_at, recalls, started_at, finished_at, place FROM tickets;
    DROP TABLE tickets;
    ALTER TABLE tickets_new RENAME TO tickets;
    CREATE UNIQUE INDEX tickets_printed ON tickets(day, label) WHERE previous_id IS NULL;
    CREATE UNIQUE INDEX tickets_open_at_counter ON tickets(counter)
        WHERE state IN ('called', 'serving');
    CREATE INDEX tickets_waiting ON tickets(day, state, service, vip, queued_at);
    CREATE INDEX tickets_numbering ON tickets(day, service, number);
    CREATE INDEX tickets_queue ON tickets(day, service, vip, place)
        WHERE state = 'waiting' AND target_counter IS NULL;
    CREATE INDEX tickets_targeted ON tickets(day, target_counter, vip, place)
        WHERE state = 'waiting' AND target_counter IS NOT NULL;
    CREATE TABLE business_day (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        day TEXT NOT NULL
    );
    """,
    """
    -- The back office. Each event names the user who made it (NULL for the keypads and the
    -- console, whose events name their teller). A service can be closed to new tickets: each
    -- press it refuses is kept with its business day, for the statistics. Users log in with a
    -- password (a hash, queue_core.pins), programs with a token (its sha256, hex).
    ALTER TABLE events ADD COLUMN by_user TEXT;
    CREATE TABLE closed_services (
        service TEXT PRIMARY KEY,
        since REAL NOT NULL
    );
    CREATE TABLE refused_presses (
        id INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        service TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX refused_presses_day ON refused_presses(day, service);
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'teller')),
        counter INTEGER,
        password TEXT NOT NULL,
        changed_at REAL
    );
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        label TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'teller')),
        created_at REAL NOT NULL
    );
    """,
    """
    -- The hall's playlist of information and adverts, shown by the hall screens (and its texts
    -- by the wall): items in order, each an image or a video (a file of the data directory's
    -- media/ folder, named by the sha256 of its content) or a text, shown for `seconds`, on
    -- the ISO week `days` listed, between the `hours` (local "HH:MM-HH:MM", NULL: all day)
    -- and from `first_day` to `last_day` (NULL: open).
    CREATE TABLE playlist (
        id INTEGER PRIMARY KEY,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'text')),
        file TEXT,
        text TEXT,
        seconds INTEGER NOT NULL,
        days TEXT NOT NULL,
        hours TEXT,
        first_day TEXT,
        last_day TEXT,
        CHECK ((kind = 'text') = (text IS NOT NULL AND file IS NULL))
    );
    """,
    """
    -- The hospital: a ticket may be 'registered' (numbered by the HIS, not yet checked in) or
    -- 'held' (out of the calls until released); a visit may belong to one `doctor` (only that
    -- doctor's room calls it) and be `is_return`: back to them from tests. A patient's registration
    -- (or booked appointment) and each HIS message applied, kept for exactly-once, commit with
    -- their operation. The CHECK changes, so the table is made again.
    CREATE TABLE tickets_new (
        id INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        label TEXT NOT NULL,
        service TEXT NOT NULL,
        number INTEGER NOT NULL,
        vip INTEGER NOT NULL DEFAULT 0,
        previous_id INTEGER REFERENCES tickets(id),
        target_counter INTEGER,
        state TEXT NOT NULL CHECK (state IN ('waiting', 'called', 'serving', 'done', 'no_show',
                                             'transferred', 'cancelled', 'expired',
                                             'registered', 'held')),
        counter INTEGER,
        teller TEXT,
        issued_at REAL NOT NULL,
        queued_at REAL NOT NULL,
        called_at REAL,
        last_called_at REAL,
        recalls INTEGER NOT NULL DEFAULT 0,
        started_at REAL,
        finished_at REAL,
        place INTEGER NOT NULL DEFAULT 0,
        doctor TEXT,
        is_return INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO tickets_new SELECT id, day, label, service, number, vip, previous_id,
        target_counter, state, counter, teller, issued_at, queued_at, called_at,
        last_called_at, recalls, started_at, finished_at, place, NULL, 0 FROM tickets;
    DROP TABLE tickets;
    ALTER TABLE tickets_new RENAME TO tickets;
    CREATE UNIQUE INDEX tickets_printed ON tickets(day, label) WHERE previous_id IS NULL;
    CREATE UNIQUE INDEX tickets_open_at_counter ON tickets(counter)
        WHERE state IN ('called', 'serving');
    CREATE INDEX tickets_waiting ON tickets(day, state, service, vip, queued_at);
    CREATE INDEX tickets_numbering ON tickets(day, service, number);
    CREATE INDEX tickets_queue ON tickets(day, service, vip, place)
        WHERE state = 'waiting' AND target_counter IS NULL;
    CREATE INDEX tickets_targeted ON tickets(day, target_counter, vip, place)
        WHERE state = 'waiting' AND target_counter IS NOT NULL;
    CREATE INDEX tickets_chain ON tickets(previous_id) WHERE previous_id IS NOT NULL;
    CREATE INDEX tickets_place ON tickets(place);
    CREATE TABLE patients (
        id INTEGER PRIMARY KEY,
        visit TEXT NOT NULL UNIQUE,      -- the HIS's visit number, or its appointment's id
        patient TEXT NOT NULL,           -- the HIS's patient id
        name TEXT NOT NULL,              -- shown masked, by the hall's privacy setting
        service TEXT NOT NULL,           -- the department registered to
        doctor TEXT,
        lane TEXT,
        slot TEXT,                       -- a booked appointment's time, as the HIS sent it
        ticket_id INTEGER UNIQUE REFERENCES tickets(id),   -- its first visit, once numbered
        cancelled INTEGER NOT NULL DEFAULT 0,
        at REAL NOT NULL
    );
    CREATE TABLE his_messages (
        source TEXT NOT NULL,
        control TEXT NOT NULL,
        digest TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (source, control)
    );
    """,
)


def open_database(path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) the queue database, migrated to the current schema.

    Every commit is durable when it returns: WAL journal with synchronous=FULL.
    Raises StorageError when the file is not a readable database or is newer than this firmware.
    (The full check, which takes seconds on a year of history, is `recovery.check`.)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()   # reads the schema
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path}: cannot open the database: {exc}") from exc
    try:
        _migrate(db, path)   # (with foreign keys off: a migration may make a table again)
    except BaseException:
        db.close()
        raise
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StorageError(f"{path}: schema version {version} is newer than this firmware "
                           f"({len(MIGRATIONS)}); refusing to touch it")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        with transaction(db):
            for statement in _statements(script):
                db.execute(statement)
            db.execute(f"PRAGMA user_version={number}")


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""


def read_only(path: Path) -> sqlite3.Connection:
    """A connection that can only read the database at `path` (whatever its name holds)."""
    return sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: committed (and durable) on normal exit, rolled back on any error.

    Inside another transaction it is part of that one."""
    if db.in_transaction:
        yield db
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")
