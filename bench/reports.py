"""Report times on a year of history: every live figure, and a full monthly report.

Usage: python bench/reports.py [FOLDER for the year's database, kept between runs]
"""

import statistics as stats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.history import make_history  # noqa: E402
from config import DEFAULT, load_config  # noqa: E402
from queue_core import open_database, statistics  # noqa: E402
from queue_core.hall_time import business_day  # noqa: E402


def timed(call, runs: int = 7) -> float:
    """Median milliseconds of `runs` calls (after one to warm the cache)."""
    call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return stats.median(times) * 1000


def main(folder: Path | None) -> None:
    with tempfile.TemporaryDirectory() as work:
        year = folder or Path(work)
        if not (year / "queue.db").exists():
            print("making a year of history (about 30 s)…", flush=True)
            make_history(year / "queue.db")
        db = open_database(year / "queue.db")   # as the appliance opens it (and migrates it)
        config = load_config(DEFAULT).hall
        now = time.time()
        today = business_day(now - 86400, config)   # the history ends yesterday: a full day
        month = business_day(now - 40 * 86400, config)[:7]   # last month: every day of it
        first, last = statistics.day_range(month, business_day(now, config))
        tickets = db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
        print(f"{year / 'queue.db'}: {tickets} tickets; times are medians of 7 runs\n")
        for counter in config.counters:   # the hall is open: the estimates have work to do
            db.execute("INSERT OR REPLACE INTO counter_sessions (counter, teller, since)"
                       " VALUES (?, ?, ?)", (counter.number, f"T0{counter.number}", now))
        print("live figures (target < 50 ms each)")
        ms = timed(lambda: statistics.figures(db, today, today))
        print(f"  today's figures per service, counter and teller  {ms:7.1f} ms")
        ms = timed(lambda: [statistics.estimated_wait(db, config, s.prefix, now)
                            for s in config.services])
        print(f"  waiting estimates, every service                 {ms:7.1f} ms")
        print(f"\nmonthly report for {month} (target < 1 s in all)")
        parts = {"figures per service, counter, teller":
                 lambda: statistics.figures(db, first, last),
                 "daily rows per service, counter, teller":
                 lambda: statistics.daily(db, first, last),
                 "hourly profile": lambda: statistics.hourly(db, first, last, config)}
        total = 0.0
        for name, call in parts.items():
            ms = timed(call, runs=3)
            total += ms
            print(f"  {name:<40} {ms:7.1f} ms")
        print(f"  {'the whole report':<40} {total:7.1f} ms")
        db.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
