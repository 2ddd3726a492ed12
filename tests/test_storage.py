"""The database file: durable settings, reopening, the append-only log, refusing bad files."""

import sqlite3

import pytest

from conftest import CONFIG, at, dump, logged_in
from queue_core import Hall, open_database
from queue_core import errors, playlist, users
from queue_core.errors import StorageError
from queue_core.storage import MIGRATIONS


def test_commits_are_durable_wal_with_full_sync(hall):
    assert hall.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert hall.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert hall.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_reopening_gives_back_exactly_the_same_state(hall, db_path):
    logged_in(hall, 1, 3)
    for minute in range(5):
        hall.issue("AB"[minute % 2], at(9, minute))
    hall.call_next(1, at(9, 10))
    hall.start(1, at(9, 11))
    hall.call_next(3, at(9, 12))
    hall.recall(3, at(9, 13))
    hall.pause(3, at(9, 14))
    before, status = dump(hall), hall.status(at(9, 15))
    hall.db.close()

    reopened = Hall(open_database(db_path), CONFIG)
    assert dump(reopened) == before
    assert reopened.status(at(9, 15)) == status
    assert reopened.issue("A", at(9, 16)).ticket.label == "A004"
    reopened.db.close()


def test_the_event_log_is_append_only(hall):
    hall.issue("A", at(9))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        hall.db.execute("UPDATE events SET kind = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        hall.db.execute("DELETE FROM events")


def test_every_operation_writes_one_event(hall):
    logged_in(hall, 1)
    hall.issue("A", at(9))
    hall.call_next(1, at(9, 1))
    hall.finish(1, at(9, 2))
    hall.logout(1, at(9, 3))
    rows = hall.db.execute("SELECT kind, counter, teller, at FROM events ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [
        ("login", 1, "T1", at(8)), ("issue", None, None, at(9)), ("call", 1, "T1", at(9, 1)),
        ("finish", 1, "T1", at(9, 2)), ("logout", 1, "T1", at(9, 3))]


def test_a_database_from_newer_firmware_is_refused(db_path):
    db = open_database(db_path)
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StorageError, match="newer than this firmware"):
        open_database(db_path)


def test_a_file_that_is_not_a_database_is_refused(db_path):
    db_path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="cannot open"):
        open_database(db_path)


def test_a_request_is_applied_once_with_the_operation(hall, db_path):
    logged_in(hall, 1)
    for minute in range(3):
        hall.issue("A", at(9, minute))
    for attempt in range(3):   # the same press, retried
        with hall.once("keypad:1", "s1:7", at(9, 5)) as fresh:
            if fresh:
                hall.call_next(1, at(9, 5))
    assert hall.status(at(9, 6)).waiting["A"] == 2
    with hall.once("keypad:1", "s1:8", at(9, 7)) as fresh:
        assert fresh
        hall.call_next(1, at(9, 7))
    assert hall.status(at(9, 8)).waiting["A"] == 1


def test_a_refused_request_is_recorded_and_changes_nothing_else(hall):
    before = dump(hall)
    with pytest.raises(errors.NotLoggedIn):
        with hall.once("keypad:2", "s1:1", at(9)) as fresh:
            assert fresh
            hall.call_next(2, at(9))
    with hall.once("keypad:2", "s1:1", at(9)) as fresh:
        assert not fresh
    assert [line for line in dump(hall) if line not in before] == \
        [f"INSERT INTO \"requests\" VALUES('keypad:2','s1:1',{at(9)!r});"]


def test_an_operation_that_fails_midway_records_no_request(hall):
    with pytest.raises(RuntimeError):
        with hall.once("keypad:1", "s1:1", at(9)):
            hall.issue("A", at(9))
            raise RuntimeError("power cut")
    assert hall.tickets("2026-11-23") == []
    with hall.once("keypad:1", "s1:1", at(9)) as fresh:
        assert fresh


def test_an_older_database_gets_its_queue_places_from_its_history(db_path):
    """Migration 4 orders the queues by place: a visit that kept its place gets its first
    visit's, every other row its own."""
    db = sqlite3.connect(db_path, isolation_level=None)
    for script in MIGRATIONS[:3]:
        db.executescript(script)
    db.execute("PRAGMA user_version=3")
    rows = [(1, "A001", "A", None, 100.0, 100.0, "transferred"),
            (2, "A002", "A", None, 110.0, 110.0, "waiting"),
            (3, "A001", "B", 1, 100.0, 100.0, "waiting"),      # kept its place
            (4, "B001", "B", None, 120.0, 120.0, "transferred"),
            (5, "B001", "A", 4, 120.0, 130.0, "waiting")]      # sent to the back
    db.executemany("INSERT INTO tickets (id, day, label, service, number, previous_id,"
                   " issued_at, queued_at, state) VALUES (?, '2026-11-23', ?, ?, 1, ?, ?, ?, ?)",
                   rows)
    db.close()
    db = open_database(db_path)
    assert dict(db.execute("SELECT id, place FROM tickets")) == {1: 1, 2: 2, 3: 1, 4: 4, 5: 5}


def test_a_database_of_the_previous_version_gets_the_back_office_tables(db_path):
    """Migration 7: the events name no user before it; services are open, no one has a login."""
    db = sqlite3.connect(db_path, isolation_level=None)
    for script in MIGRATIONS[:6]:
        db.executescript(script)
    db.execute("PRAGMA user_version=6")
    db.execute("INSERT INTO business_day (one, day) VALUES (1, '2026-11-23')")
    db.execute("INSERT INTO tickets (day, label, service, number, state, issued_at, queued_at,"
               " place) VALUES ('2026-11-23', 'A001', 'A', 1, 'waiting', ?, ?, 1)",
               (at(9), at(9)))
    db.execute("INSERT INTO events (at, kind, ticket_id, service) VALUES (?, 'issue', 1, 'A')",
               (at(9),))
    db.close()
    hall = Hall(open_database(db_path), CONFIG)
    assert hall.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert [tuple(r) for r in hall.db.execute("SELECT kind, by_user FROM events")] == \
        [("issue", None)]
    assert playlist.items(hall.db) == []   # (migration 8: an empty playlist)
    assert hall.status(at(9, 1)).closed == frozenset()
    assert not users.has_admin(hall.db)
    with hall.acting_as("alice"):
        hall.move("A001", at(9, 2), "back")      # alone in its queue: nothing to log
        hall.close_service("A", at(9, 3))
    with pytest.raises(errors.ServiceClosed):
        hall.issue("A", at(9, 4))
    assert [tuple(r) for r in hall.db.execute("SELECT kind, by_user FROM events")] == \
        [("issue", None), ("close", "alice"), ("refused", None)]
    hall.db.close()
