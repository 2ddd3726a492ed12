"""Durable operations per second (WAL, synchronous=FULL) beside the disk's raw sync rate.

Every ticket issued and every call is its own committed transaction, synced to disk before it
returns: the disk's rate of small synced writes is the physical limit. A busy hall is played:
tickets keep coming while four counters call, so the queue stays short.
Usage: python bench/throughput.py [OPERATIONS] [FOLDER on the disk to measure]
"""

import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from dataclasses import replace  # noqa: E402

from conftest import CONFIG  # noqa: E402
from queue_core import Counter, Hall, Teller, open_database  # noqa: E402
from queue_core.hall_time import business_day  # noqa: E402


def raw_sync_rate(folder: str, n: int) -> float:
    """4 KiB written in place and fdatasync'ed, n times: what a WAL commit costs the disk."""
    path = os.path.join(folder, "sync-test")
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    os.write(fd, b"\0" * 4096 * 64)
    os.fsync(fd)
    started = time.perf_counter()
    for i in range(n):
        os.pwrite(fd, os.urandom(4096), (i % 64) * 4096)
        os.fdatasync(fd)
    elapsed = time.perf_counter() - started
    os.close(fd)
    os.unlink(path)
    return n / elapsed


def sqlite_floor(folder: str, n: int) -> float:
    """The smallest durable SQLite transaction: one INSERT, WAL, synchronous=FULL."""
    db = sqlite3.connect(os.path.join(folder, "floor.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (x)")
    started = time.perf_counter()
    for i in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?)", (i,))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return n / elapsed


def hall_rates(folder: str, n: int) -> tuple[float, float]:
    db = open_database(os.path.join(folder, "queue.db"))
    hall = Hall(db, CONFIG)
    now = time.time()
    for counter in range(1, 5):
        hall.login(counter, now, teller=f"T{counter}", pin_ok=True)
    issuing = calling = 0.0
    for i in range(n):
        started = time.perf_counter()
        hall.issue("AB"[i % 2], now)
        issuing += time.perf_counter() - started
        started = time.perf_counter()
        hall.call_next(i % 4 + 1, now)   # finishes that counter's customer, calls the next
        calling += time.perf_counter() - started
    db.close()
    return n / issuing, n / calling


def calling_curve(folder: str, waiting: int, calls: int = 200) -> float:
    """Milliseconds a call takes with `waiting` people waiting in 3 services, 50 counters each
    serving them in its own order (queued straight into the table: issuing that many through
    the hall is not what is measured)."""
    services = CONFIG.services[:3]
    orders = [tuple(s.prefix for s in services[k:] + services[:k]) for k in range(3)]
    counters = tuple(Counter(n, f"Counter {n}", orders[n % 3]) for n in range(1, 51))
    config = replace(CONFIG, services=tuple(replace(s, last=9999, daily_cap=None)
                                            for s in services), counters=counters,
                     tellers=tuple(Teller(f"T{n}", "", "") for n in range(1, 51)))
    db = open_database(os.path.join(folder, f"curve-{waiting}.db"))
    hall = Hall(db, config)
    now = time.time()
    day = business_day(now, config)
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO tickets (id, day, label, service, number, vip, state, issued_at, queued_at,"
        " place) VALUES (?, ?, ?, ?, ?, ?, 'waiting', ?, ?, ?)",
        [(n, day, f"{'ABC'[n % 3]}{n // 3:04d}", "ABC"[n % 3], n // 3, int(n % 97 == 0), now,
          now, n) for n in range(1, waiting + 1)])
    db.execute("COMMIT")
    for counter in range(1, 51):
        hall.login(counter, now, teller=f"T{counter}", pin_ok=True)
    started = time.perf_counter()
    for i in range(calls):
        hall.call_next(i % 50 + 1, now)
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed / calls * 1000


def main(n: int, folder: str | None) -> None:
    with tempfile.TemporaryDirectory(dir=folder) as work:
        raw = raw_sync_rate(work, n)
        floor = sqlite_floor(work, n)
        issue, call = hall_rates(work, min(n, 998))   # service numbers end at 999
        curve = {waiting: calling_curve(work, waiting) for waiting in (100, 1000, 10000, 30000)}
    print(f"disk: {work}")
    print(f"raw synced 4 KiB writes    {raw:8.0f} /s   the physical limit, one sync a transaction")
    print(f"bare SQLite transaction    {floor:8.0f} /s   {floor / raw:5.0%} of the limit")
    for name, rate in (("ticket issued", issue), ("call (finish + call)", call)):
        print(f"{name:<26} {rate:8.0f} /s   {rate / raw:5.0%} of the limit,"
              f" {1e6 / rate - 1e6 / raw:5.0f} us of software each")
    print("a call with people waiting (3 services, 50 counters): " + ", ".join(
        f"{waiting} waiting {ms:.2f} ms" for waiting, ms in curve.items()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, sys.argv[2] if len(sys.argv) > 2 else
         str(ROOT))
