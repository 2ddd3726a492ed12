"""Figures for the back office and the reports, read from the ticket visits and ratings.

A visit row carries the times of its events (issued, queued, called, started, finished), so
the figures come from one indexed read of the days asked for (and one of the presses refused
while a service was closed). Waiting runs from the ticket's place in the queue to its first
call: its issue time, or for a transferred ticket the moment it joined its new queue (its issue
time again when it kept its place). Handling runs from start to finish.
"""

from __future__ import annotations

import calendar
import re
import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from queue_core.hall_time import business_day, midnight
from queue_core.model import HallConfig
from queue_core.storage import read_only

GROUPS = ("service", "counter", "teller")
RECENT = 10               # finished visits the estimate averages over
DEFAULT_HANDLING = 300.0  # seconds assumed before a service has any history


@dataclass(frozen=True)
class Figures:
    issued: int          # tickets printed for this service (0 for counters and tellers)
    served: int
    waiting: int         # still waiting (on the last day of the range)
    no_shows: int
    transferred: int     # visits sent on to another service or counter
    transferred_in: int  # visits that came from another: served may count them, issued not
    cancelled: int
    expired: int         # still waiting when their business day ended
    refused: int         # presses refused while the service was closed (0 for counters, tellers)
    average_wait: float | None      # seconds
    longest_wait: float | None
    average_handling: float | None
    longest_handling: float | None
    ratings: tuple[int, int, int]   # very satisfied, satisfied, dissatisfied


def figures(db: sqlite3.Connection, first: str, last: str,
            today: str | None = None) -> dict[str, dict]:
    """Figures per service, per counter and per teller over the days `first`..`last` (ISO):
    {"service": {"A": Figures, …}, "counter": {1: …}, "teller": {"T01": …}}. `waiting` counts
    those waiting now when the range holds `today`, else those left waiting on its last day."""
    waiting_on = today if today is not None and first <= today <= last else last
    totals = _fold(_partials(db, first, last, daily=False, waiting_on=waiting_on),
                   _refusals(db, first, last, daily=False))
    return {by: {key: _figures(by, t) for (_, key), t in groups.items()}
            for by, groups in totals.items()}


def daily(db: sqlite3.Connection, first: str, last: str) -> dict[str, list]:
    """Per service, counter and teller, (day, key, Figures) for each day of `first`..`last`."""
    totals = _fold(_partials(db, first, last, daily=True), _refusals(db, first, last, daily=True))
    return {by: [(day, key, _figures(by, t)) for (day, key), t in sorted(
        groups.items(), key=lambda item: (item[0][0], str(item[0][1])))]
        for by, groups in totals.items()}


# One read of the range, grouped by service, counter and teller together; the three views are
# sums of those groups (averages are carried as sums and counts).
_SUMS = ("issued", "served", "waiting", "no_shows", "transferred", "transferred_in",
         "cancelled", "expired", "wait_sum", "wait_count", "handling_sum", "handling_count",
         "rated_1", "rated_2", "rated_3")
_MAXES = ("longest_wait", "longest_handling")


def _partials(db: sqlite3.Connection, first: str, last: str, daily: bool,
              waiting_on: str | None = None):
    day = "t.day" if daily else "?"   # waiting: on each day, or on the day `waiting_on`
    # No figure is negative, whatever the clock did between two events (NTP steps it).
    handling = "CASE WHEN t.state = 'done' THEN MAX(0, t.finished_at - t.started_at) END"
    wait = "MAX(0, t.called_at - t.queued_at)"
    return db.execute(
        f"SELECT {'t.day' if daily else 'NULL'}, t.service, t.counter, t.teller,"
        f" SUM(t.previous_id IS NULL), SUM(t.state = 'done'),"
        f" SUM(t.state = 'waiting' AND t.day = {day}), SUM(t.state = 'no_show'),"
        f" SUM(t.state = 'transferred'), SUM(t.previous_id IS NOT NULL),"
        f" SUM(t.state = 'cancelled'), SUM(t.state = 'expired'), SUM({wait}),"
        f" COUNT(t.called_at),"
        f" SUM({handling}), COUNT({handling}),"
        f" SUM(r.rating = 1), SUM(r.rating = 2), SUM(r.rating = 3),"
        f" MAX({wait}), MAX({handling})"
        f" FROM tickets t LEFT JOIN ratings r ON r.ticket_id = t.id"
        f" WHERE t.day BETWEEN ? AND ? GROUP BY {'t.day, ' if daily else ''}2, 3, 4",
        (() if daily else (waiting_on,)) + (first, last))


def _refusals(db: sqlite3.Connection, first: str, last: str, daily: bool):
    """(day, service, presses refused): on each day, or with day None over the range."""
    return db.execute(f"SELECT {'day' if daily else 'NULL'}, service, COUNT(*) FROM"
                      f" refused_presses WHERE day BETWEEN ? AND ? GROUP BY 1, 2", (first, last))


def _fold(rows, refusals) -> dict[str, dict]:
    totals: dict[str, dict] = {by: {} for by in GROUPS}

    def total(by: str, day: str | None, key) -> dict:
        return totals[by].setdefault((day, key), {**dict.fromkeys(_SUMS + ("refused",), 0),
                                                  **dict.fromkeys(_MAXES)})

    for day, service, counter, teller, *values in rows:
        sums, maxes = values[:len(_SUMS)], values[len(_SUMS):]
        for by, key in zip(GROUPS, (service, counter, teller)):
            if key is None:
                continue
            group = total(by, day, key)
            for name, value in zip(_SUMS, sums):
                group[name] += value or 0
            for name, value in zip(_MAXES, maxes):
                if value is not None:
                    group[name] = value if group[name] is None else max(group[name], value)
    for day, service, refused in refusals:
        total("service", day, service)["refused"] = refused
    return totals


def _figures(by: str, t: dict) -> Figures:
    def mean(total, count):
        return total / count if count else None

    return Figures(
        issued=t["issued"] if by == "service" else 0, served=t["served"], waiting=t["waiting"],
        no_shows=t["no_shows"], transferred=t["transferred"],
        transferred_in=t["transferred_in"], cancelled=t["cancelled"], expired=t["expired"],
        refused=t["refused"],
        average_wait=mean(t["wait_sum"], t["wait_count"]), longest_wait=t["longest_wait"],
        average_handling=mean(t["handling_sum"], t["handling_count"]),
        longest_handling=t["longest_handling"],
        ratings=(t["rated_1"], t["rated_2"], t["rated_3"]))


def hourly(db: sqlite3.Connection, first: str, last: str,
           config: HallConfig) -> list[tuple[int, int, int]]:
    """(hour, tickets issued, visits finished) for each hour of the hall's day, over the days."""
    days = [row[0] for row in db.execute(
        "SELECT DISTINCT day FROM tickets WHERE day BETWEEN ? AND ?", (first, last))]
    if not days:
        return [(hour, 0, 0) for hour in range(24)]
    # hours counted from each day's own midnight in the hall's zone (a business day that runs
    # past midnight comes round to hour 0 again); only on the day the clocks change do the
    # hours after the change read one off
    midnights = ", ".join("(?, ?)" for _ in days)
    values = [v for day in days for v in (day, midnight(day, config))]
    counts = {hour: [0, 0] for hour in range(24)}
    for column, index, condition in (("issued_at", 0, "t.previous_id IS NULL"),
                                     ("finished_at", 1, "t.state = 'done'")):
        for hour, n in db.execute(
                f"WITH m(day, midnight) AS (VALUES {midnights})"
                f" SELECT MAX(0, CAST((t.{column} - m.midnight) / 3600 AS INTEGER)) % 24,"
                f" COUNT(*) FROM tickets t JOIN m ON m.day = t.day"
                f" WHERE t.day BETWEEN ? AND ? AND {condition} GROUP BY 1",
                (*values, first, last)):
            counts[hour][index] = n
    return [(hour, *counts[hour]) for hour in range(24)]


def estimated_wait(db: sqlite3.Connection, config: HallConfig, prefix: str,
                   now: float) -> float | None:
    """Seconds a ticket of `prefix` taken now is expected to wait, or None while no open
    counter serves it.

    The people waiting for that service, times its recent handling time (the mean of its last
    RECENT visits finished today, else DEFAULT_HANDLING), shared by its open counters (logged
    in, not paused). A counter that lists the service after others gives it an equal share:
    the estimate leans optimistic when other queues are long.
    """
    day = today(db, config, now)
    open_counters = {row[0] for row in db.execute(
        "SELECT counter FROM counter_sessions WHERE paused = 0")}
    serving = [c for c in config.counters if c.number in open_counters and prefix in c.services]
    if not serving:
        return None
    ahead = db.execute("SELECT COUNT(*) FROM tickets WHERE day = ? AND state = 'waiting'"
                       " AND service = ?", (day, prefix)).fetchone()[0]
    recent = [row[0] for row in db.execute(
        "SELECT MAX(0, finished_at - started_at) FROM tickets WHERE day = ? AND service = ?"
        " AND state = 'done' ORDER BY finished_at DESC LIMIT ?", (day, prefix, RECENT))]
    handling = sum(recent) / len(recent) if recent else DEFAULT_HANDLING
    return ahead * handling / len(serving)


def report(database: Path, first: str, last: str, config: HallConfig, now: float):
    """What the back office's report shows for the days `first`..`last`: the figures, each
    service's estimated wait now and the hourly profile, read through a read-only connection
    (from any thread or process: it reads the file, never the loop's connection)."""
    db = read_only(database)
    try:
        return (figures(db, first, last, today(db, config, now)),
                {s.prefix: estimated_wait(db, config, s.prefix, now) for s in config.services},
                hourly(db, first, last, config))
    finally:
        db.close()


def today(db: sqlite3.Connection, config: HallConfig, now: float) -> str:
    """The queue's business day (Hall.today), read through any connection."""
    row = db.execute("SELECT day FROM business_day").fetchone()
    return row[0] if row else business_day(now, config)


def day_range(text: str, current: str) -> tuple[str, str]:
    """'today', 'yesterday', 'YYYY-MM-DD', 'YYYY-MM' or 'YYYY-MM-DD..YYYY-MM-DD' as (first,
    last) days, today being the business day `current`; raises ValueError saying what it
    takes."""
    day = date.fromisoformat(current)
    named = {"today": day, "yesterday": day - timedelta(days=1)}
    try:
        if text in named:
            first = last = named[text]
        elif re.fullmatch(r"[0-9]{4}-[0-9]{2}", text):
            first = date.fromisoformat(f"{text}-01")
            last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        else:
            first, _, last = text.partition("..")
            first, last = date.fromisoformat(first), date.fromisoformat(last or first)
    except ValueError:
        raise ValueError(f"cannot read the days {text[:40]!r}: give today, yesterday, a day"
                         " (2026-11-23), a month (2026-11) or a range (2026-11-01..2026-11-23)"
                         ) from None
    if last < first:
        raise ValueError(f"the range {text!r} ends before it starts")
    return first.isoformat(), last.isoformat()


def wait_distribution(db: sqlite3.Connection, first: str, last: str,
                      bounds: tuple[int, ...]) -> list[int]:
    """Visits called over the days `first`..`last`, counted by their wait in minutes: below
    each of `bounds` (ascending), then the rest."""
    limits = " ".join(f"WHEN w < {60 * int(b)} THEN {i}" for i, b in enumerate(bounds))
    counts = dict(db.execute(
        f"SELECT CASE {limits} ELSE {len(bounds)} END, COUNT(*) FROM (SELECT"
        f" MAX(0, called_at - queued_at) AS w FROM tickets WHERE day BETWEEN ? AND ?"
        f" AND called_at IS NOT NULL) GROUP BY 1", (first, last)).fetchall())
    return [counts.get(i, 0) for i in range(len(bounds) + 1)]
