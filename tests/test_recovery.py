"""Damaged databases and torn journals: the box comes back with what was committed."""

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from conftest import CONFIG, at, logged_in
from queue_core import Hall, open_database
from queue_core.recovery import check, mark_damaged, open_or_recover
from queue_core.storage import MIGRATIONS

ROOT = Path(__file__).resolve().parent.parent


def busy(path, tickets=300):
    db = open_database(path)
    hall = logged_in(Hall(db, CONFIG), 1)
    for n in range(tickets):
        hall.issue("AB"[n % 2], at(9, 0, n % 60))
    hall.call_next(1, at(10))
    return hall


def scribble(path: Path, page: int) -> None:
    data = bytearray(path.read_bytes())
    data[page * 4096 + 100: page * 4096 + 2000] = b"\xa5" * 1900
    path.write_bytes(bytes(data))


def test_a_sound_database_passes_the_check(db_path):
    busy(db_path).db.close()
    assert check(db_path) == []


def test_a_damaged_page_is_found_and_the_rest_recovered_at_the_next_boot(db_path):
    hall = busy(db_path)
    hall.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    hall.db.close()
    pages = db_path.stat().st_size // 4096
    scribble(db_path, pages - 3)
    problems = check(db_path)
    assert problems
    mark_damaged(db_path, problems)

    db, report = open_or_recover(db_path)
    assert "damage found after the last boot" in report and "recovered" in report
    assert check(db_path) == []
    kept = next(db_path.parent.glob("damaged-*"))
    assert (kept / "queue.db").exists() and (kept / "queue.db.damaged").exists()
    saved = db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
    assert 0 < saved <= 300
    assert Hall(db, CONFIG).issue("C", at(11)).ticket.label == "C1"   # the box works on


def test_a_file_that_is_no_database_is_kept_aside_and_an_empty_one_started(db_path):
    db_path.write_bytes(b"\x00garbage" * 1000)
    db, report = open_or_recover(db_path)
    assert "cannot open the database" in report and "started an empty database" in report
    assert Hall(db, CONFIG).issue("A", at(9)).ticket.label == "A001"


def test_a_database_from_newer_firmware_is_kept_and_its_rows_carried_over(db_path):
    busy(db_path, tickets=10).db.close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    raw.close()
    db, report = open_or_recover(db_path)
    assert "newer than this firmware" in report and " 10 tickets" in report.split("recovered")[1]


def test_a_torn_write_ahead_log_comes_back_at_the_last_whole_commit(tmp_path, db_path):
    hall = busy(db_path, tickets=40)   # all 40 commits still in the write-ahead log
    wal = db_path.with_name("queue.db-wal")
    size = wal.stat().st_size
    for cut in (size - 1, size - 2000, size - 9000, size // 2):
        for damage in ("truncate", "garble"):
            copy = tmp_path / f"{damage}-{cut}"
            copy.mkdir()
            shutil.copy(db_path, copy / "queue.db")
            data = wal.read_bytes()
            data = data[:cut] if damage == "truncate" else \
                data[:cut] + bytes(b ^ 0x5A for b in data[cut:cut + 512]) + data[cut + 512:]
            (copy / "queue.db-wal").write_bytes(data)
            db, report = open_or_recover(copy / "queue.db")
            assert report is None and check(copy / "queue.db") == []
            labels = [r[0] for r in db.execute(
                "SELECT label FROM tickets WHERE previous_id IS NULL ORDER BY id")]
            expected = [f"{'AB'[n % 2]}{n // 2 + 1:03d}" for n in range(len(labels))]
            assert labels == expected   # a whole prefix of the commits, nothing torn
            if cut == size - 1:   # only the last commit (the call) was torn
                assert len(labels) == 40
            issued = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'issue'").fetchone()[0]
            assert issued == len(labels)
            db.close()
    hall.db.close()


def test_the_box_boots_on_a_damaged_database_and_issues_tickets(tmp_path):
    (tmp_path / "queue.db").write_bytes(b"not a database" * 100)
    process = subprocess.run([sys.executable, "-m", "firmware.boot", "--data-dir", str(tmp_path)],
                             cwd=ROOT, input="A\n", capture_output=True, text=True, timeout=30)
    assert process.returncode == 0
    assert "database recovered" in process.stderr and "ticket A001" in process.stdout
    assert "started an empty database" in process.stdout   # told to the back office too


def test_a_recovery_carries_every_table_over_ratings_included(db_path):
    hall = busy(db_path, tickets=4)
    hall.finish(1, at(10, 5))
    hall.rate(1, at(10, 5, 10), rating=1)
    hall.db.close()
    mark_damaged(db_path, ["checked by hand"])
    db, report = open_or_recover(db_path)
    assert "1 ratings" in report and "1 requests" not in report
    assert [tuple(r) for r in db.execute("SELECT rating FROM ratings")] == [(1,)]


def test_two_recoveries_in_the_same_second_keep_both_damaged_files(db_path, monkeypatch):
    monkeypatch.setattr("queue_core.recovery.time", SimpleNamespace(   # both in one second,
        strftime=lambda form: "20261124-101010"))                       # however slow the box
    for _ in range(2):
        db_path.write_bytes(b"not a database at all" * 100)
        db, note = open_or_recover(db_path)
        db.close()
    kept = sorted(p.name for p in db_path.parent.glob("damaged-*"))
    assert len(kept) == 2 and kept[1] == f"{kept[0]}-2"
