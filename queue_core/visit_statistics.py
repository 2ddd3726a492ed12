"""A hospital's figures: per stage and per doctor (patients, waits, consultations, returns from
tests, missed numbers, patients who left) and the whole visit, from registration to pharmacy.

Waits and missed numbers are the figures per service and teller (statistics.figures). The rest
comes from two more indexed reads of the days asked for: the visits summed by stage and by
doctor, and each patient's last visit. An event a figure needs is found by its visit and its
moment, which the operation wrote to both (the event log is indexed by time only): a patient
who left, by their visit's end; a missed number checking in again, by the moment its new
visit joined the queue (the check-in's).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from queue_core import statistics
from queue_core.model import OPEN, HallConfig
from queue_core.statistics import Figures, figures
from queue_core.storage import read_only

LEFT = ("CASE WHEN {t}.state = 'cancelled' THEN EXISTS (SELECT 1 FROM events e"
        " WHERE e.at = {t}.finished_at AND e.ticket_id = {t}.id AND e.kind = 'left') END")
# A missed number checking in again is a new visit of the same ticket, queued at the check-in.
CHECKED_IN_AGAIN = (
    "CASE WHEN t.state = 'no_show' THEN EXISTS (SELECT 1 FROM tickets n JOIN events e"
    " ON e.at = n.queued_at AND e.ticket_id = n.id WHERE n.previous_id = t.id"
    " AND e.kind = 'check_in' AND e.detail LIKE 'missed%') END")
# At the room or window: from the start (or the call) to the finish or the sending on.
CONSULTATION = ("CASE WHEN t.called_at IS NOT NULL AND t.state IN ('done', 'transferred')"
                " THEN MAX(0, t.finished_at - COALESCE(t.started_at, t.last_called_at)) END")
VISIT = (f"SELECT day || label AS patient, service, teller, doctor, is_return,"
         f" {CONSULTATION} AS c, {CHECKED_IN_AGAIN} AS again, {LEFT.format(t='t')} AS gone"
         f" FROM tickets t WHERE t.day BETWEEN ? AND ?")
SUMS = "COUNT(c), TOTAL(c), MAX(c), SUM(is_return), SUM(again), SUM(gone)"


def hospital(db: sqlite3.Connection, first: str, last: str, config: HallConfig,
             known: dict | None = None) -> dict:
    """The hospital's figures over the days `first`..`last` (ISO), JSON-ready:
    {"stages": {prefix: {…}}, "doctors": {teller id: {…}}, "visits": {…}}; times in seconds,
    None where nothing was timed.

    A stage's `patients` count each patient once however often they came back, a doctor's
    those they called; `seen`, the visits ended after a call, finished or sent on (their
    `consultation` runs from the start, or the call, to that end); `missed`, numbers called who
    did not come, and `checked_in_again` of them; `left`, patients who left without being seen;
    `returns`, visits back from tests; waits as in statistics.figures. A doctor (any teller:
    the windows' staff too) has the figures of the visits they called, and of the patients
    waiting for them: returns, their own patients who left.
    `visits`: the patients numbered at a stage on those days, and how their visit ended so far:
    `collected` at config.hospital.pharmacy (their stay runs from registration to leaving it),
    `left`, or still `open`; the rest were seen without a prescription, missed and did not come
    back, cancelled by the HIS or expired with their day. `known`: statistics.figures of
    those days when the caller has read them already (they are read here otherwise)."""
    read = figures(db, first, last) if known is None else known
    counted = {(by, key): values for by, key, *values in db.execute(
        f"SELECT 'stage', service, COUNT(DISTINCT patient), {SUMS} FROM ({VISIT}) GROUP BY 2"
        f" UNION ALL SELECT 'doctor', COALESCE(teller, doctor), COUNT(DISTINCT CASE WHEN"
        f" teller IS NOT NULL THEN patient END), {SUMS} FROM ({VISIT})"
        f" WHERE COALESCE(teller, doctor) IS NOT NULL GROUP BY 2", (first, last) * 2)}

    def row(by: str, key: str, f: Figures | None) -> dict:
        patients, seen, total, longest, returns, again, left = counted.get(
            (by, key), (0, 0, 0.0, None, 0, 0, 0))
        return {"patients": patients, "seen": seen, "missed": f.no_shows if f else 0,
                "checked_in_again": again or 0, "left": left or 0, "returns": returns or 0,
                "average_wait": f.average_wait if f else None,
                "longest_wait": f.longest_wait if f else None,
                "average_consultation": total / seen if seen else None,
                "longest_consultation": longest}

    return {"stages": {s.service: row("stage", s.service, read["service"].get(s.service))
                       for s in config.hospital.stages},
            "doctors": {key: row(by, key, read["teller"].get(key))
                        for by, key in sorted(counted) if by == "doctor"},
            "visits": _visits(db, first, last, config)}


def _visits(db: sqlite3.Connection, first: str, last: str, config: HallConfig) -> dict:
    """Each patient's last visit (the one of highest id, SQLite's bare columns beside MAX) says
    how their visit ended; every visit carries the registration time as its issued_at. A
    patient is a ticket numbered at a stage: its label starts with that stage's letter."""
    prefixes = [s.service for s in config.hospital.stages]
    marks = ", ".join("?" for _ in prefixes)
    collected, left, still_open, patients = [], 0, 0, 0
    for state, service, stay, gone in db.execute(
            f"SELECT l.state, l.service, MAX(0, l.finished_at - l.issued_at),"
            f" {LEFT.format(t='l')} FROM (SELECT MAX(id) AS id, state, service, issued_at,"
            f" finished_at FROM tickets WHERE day BETWEEN ? AND ? AND substr(label, 1, 1)"
            f" IN ({marks}) GROUP BY day, label) l", (first, last, *prefixes)):
        patients += 1
        if state == "done" and service == config.hospital.pharmacy:
            collected.append(stay)
        left += bool(gone)
        still_open += state in OPEN
    collected.sort()
    half = len(collected) // 2   # the median: the middle stay, or the mean of the two
    return {"patients": patients, "collected": len(collected), "left": left,
            "open": still_open,
            "average_stay": sum(collected) / len(collected) if collected else None,
            "median_stay": (collected[half] + collected[~half]) / 2 if collected else None,
            "longest_stay": collected[-1] if collected else None}


def report(database: Path, first: str, last: str, config: HallConfig, now: float) -> tuple:
    """statistics.report's figures, estimates and hours, and the hospital's figures (None in a
    hall without [[stage]]s): the back office's report, read in its worker process, each part
    through a read-only connection."""
    read = statistics.report(database, first, last, config, now)
    if not config.hospital.stages:
        return (*read, None)
    db = read_only(database)
    try:   # (the figures per service and teller are read once, for both)
        return (*read, hospital(db, first, last, config, known=read[0]))
    finally:
        db.close()
