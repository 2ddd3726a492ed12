"""A year of history in a queue database: about 500 000 tickets with their events.

Usage: python bench/history.py DATA_DIR [TICKETS]   (writes DATA_DIR/queue.db)
"""

import random
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from queue_core import open_database  # noqa: E402


def make_history(path: Path, tickets: int = 500_000, days: int = 365) -> None:
    """Every day of the year before today, the shipped services, every ticket served."""
    rng = random.Random(1)
    db = open_database(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    first = date.today() - timedelta(days=365)
    ticket_id = 0
    for n in range(days):
        day = first + timedelta(days=n * 365 // days)
        opening = datetime.combine(day, datetime.min.time()).timestamp() + 9 * 3600
        numbers = {"A": 0, "B": 0, "C": 0}
        for _ in range(tickets // days):
            service = rng.choice("AAAABBC")
            numbers[service] += 1
            ticket_id += 1
            issued = opening + rng.uniform(0, 8 * 3600)
            called = issued + rng.uniform(0, 1800)
            started, finished = called + 30, called + 30 + rng.uniform(60, 900)
            counter, teller = rng.randint(1, 4), f"T0{rng.randint(1, 4)}"
            db.execute(
                "INSERT INTO tickets (id, day, label, service, number, state, counter, teller,"
                " issued_at, queued_at, called_at, last_called_at, started_at, finished_at,"
                " place) VALUES (?, ?, ?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ticket_id, day.isoformat(), f"{service}{numbers[service]:03d}", service,
                 numbers[service], counter, teller, issued, issued, called, called, started,
                 finished, ticket_id))
            db.executemany(
                "INSERT INTO events (at, kind, ticket_id, service, counter, teller)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(issued, "issue", ticket_id, service, None, None),
                 (called, "call", ticket_id, service, counter, teller),
                 (started, "start", ticket_id, service, counter, teller),
                 (finished, "finish", ticket_id, service, counter, teller)])
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


if __name__ == "__main__":
    started = time.perf_counter()
    target = Path(sys.argv[1])
    make_history(target / "queue.db", int(sys.argv[2]) if len(sys.argv) > 2 else 500_000)
    print(f"{target / 'queue.db'}: {(target / 'queue.db').stat().st_size / 1e6:.0f} MB"
          f" in {time.perf_counter() - started:.0f} s")
