"""The live pages, as JSON-ready dicts: the back office's monitor with its alarms, its queue
and a hospital department's nurse station, and what a hall screen shows."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Iterator

from queue_core import wards
from queue_core.hall import Hall
from queue_core.playlist import showing
from queue_core.model import CounterStatus, HallConfig, Service, State, Ticket
from queue_core.statistics import estimated_wait


def monitor(db: sqlite3.Connection, config: HallConfig, now: float) -> dict:
    """Each service's queue and each counter now, with their alarms, read in one go through
    `db` (a read-only connection will do); `last_event` grows with every change.

    A service's `estimate` is the seconds a ticket taken now would wait (statistics'
    estimated_wait): those waiting times its recent handling time, shared by its open counters;
    null while no open counter serves it, or while it is closed. Its alarms: its longest wait
    over `alarm_wait` minutes, more than `alarm_queue` waiting. A counter's alarm: its teller
    is idle (logged in, not paused, no ticket) while people it could call wait."""
    with _reading(db, config) as hall:
        status = hall.status(now)
        oldest = dict(db.execute(
            "SELECT service, MIN(queued_at) FROM tickets WHERE day = ? AND state = 'waiting'"
            " GROUP BY service", (status.day,)).fetchall())
        services = []
        for service in config.services:
            closed = service.prefix in status.closed
            first = oldest.get(service.prefix)
            services.append(_service(
                service, status.waiting[service.prefix],
                None if first is None else max(0.0, now - first),
                None if closed else estimated_wait(db, config, service.prefix, now), closed))
        return {"day": status.day, "services": services,
                "counters": [_counter(c, now) for c in status.counters],
                "last_event": hall.last_event()}


def queue(db: sqlite3.Connection, config: HallConfig, now: float) -> dict:
    """Each service's waiting tickets of today in calling order (Hall.waiting), by prefix, read
    in one go through `db` (a read-only connection will do)."""
    with _reading(db, config) as hall:
        return {"day": hall.today(now),
                "services": {prefix: [_waiting(t, now) for t in tickets]
                             for prefix, tickets in hall.waiting(now).items()},
                "last_event": hall.last_event()}


def department(db: sqlite3.Connection, config: HallConfig, now: float, service: str) -> dict:
    """The nurse station's view of the department of stage `service` (wards.department), read
    in one go through `db` (a read-only connection will do)."""
    with _reading(db, config) as hall:
        return wards.department(hall, now, service)


def hall_screen(db: sqlite3.Connection, config: HallConfig, now: float, calls: int = 12,
                rooms: bool = False) -> dict:
    """What the hall's screens show, nothing more (no teller, no alarm): today's latest
    `calls` calls and recalls, newest first, each with its event id (a screen flashes a call it
    has not shown), each service's waiting and estimated wait (see `monitor`), the playlist's
    items that show now; with `rooms`, each counter's patient and door queue, names shown by
    the hall's privacy (wards.rooms); `now`, so a screen can show the box's time whatever its
    own clock says."""
    with _reading(db, config) as hall:
        status = hall.status(now)
        latest = [{"id": row[0], "label": row[1], "service": row[2], "counter": row[3],
                   "recall": row[4] == "recall"} for row in db.execute(
            "SELECT e.id, t.label, e.service, e.counter, e.kind FROM events e"
            " JOIN tickets t ON t.id = e.ticket_id WHERE e.kind IN ('call', 'recall')"
            " AND t.day = ? ORDER BY e.id DESC LIMIT ?", (status.day, calls))]
        services = [{"prefix": s.prefix, "name_en": s.name_en, "name_zh": s.name_zh,
                     "waiting": status.waiting[s.prefix], "closed": s.prefix in status.closed,
                     "estimate": None if s.prefix in status.closed else
                     estimated_wait(db, config, s.prefix, now)} for s in config.services]
        playlist = [{"id": i.id, "kind": i.kind, "file": i.file, "text": i.text,
                     "seconds": i.seconds} for i in showing(db, config, now)]
        return {"hall": {"name": config.name, "name_zh": config.name_zh},
                "now": now, "calls": latest, "services": services, "playlist": playlist,
                **({"rooms": wards.rooms(hall, status)} if rooms else {}),
                "last_event": hall.last_event()}


@contextmanager
def _reading(db: sqlite3.Connection, config: HallConfig) -> Iterator[Hall]:
    """A Hall on `db` inside one read transaction (a consistent snapshot), its rows read as
    sqlite3.Row as the Hall reads them; the connection is given back as it came."""
    factory, db.row_factory = db.row_factory, sqlite3.Row
    db.execute("BEGIN")
    try:
        yield Hall(db, config)
    finally:
        db.execute("ROLLBACK")
        db.row_factory = factory


def _service(service: Service, waiting: int, longest: float | None, estimate: float | None,
             closed: bool) -> dict:
    alarms = []
    if service.alarm_wait is not None and longest is not None and \
            longest > service.alarm_wait * 60:
        alarms.append(f"waited {longest // 60:.0f} min, more than {service.alarm_wait}")
    if service.alarm_queue is not None and waiting > service.alarm_queue:
        alarms.append(f"{waiting} waiting, more than {service.alarm_queue}")
    return {"prefix": service.prefix, "name_en": service.name_en, "name_zh": service.name_zh,
            "waiting": waiting, "longest_wait": longest, "estimate": estimate,
            "closed": closed, "alarms": alarms}


def _counter(counter: CounterStatus, now: float) -> dict:
    ticket = counter.current
    since = None if ticket is None else max(0.0, now - (
        ticket.started_at if ticket.state is State.SERVING else ticket.called_at))
    idle = counter.teller is not None and not counter.paused and ticket is None
    return {"number": counter.number, "name": counter.name, "teller": counter.teller,
            "paused": counter.paused, "ticket": None if ticket is None else ticket.label,
            "state": None if ticket is None else ticket.state.value, "since": since,
            "waiting": counter.waiting,
            "alarms": [f"idle with {counter.waiting} waiting"] if idle and counter.waiting else []}


def _waiting(ticket: Ticket, now: float) -> dict:
    return {"label": ticket.label, "service": ticket.service, "vip": ticket.vip,
            "waited": max(0.0, now - ticket.queued_at), "target_counter": ticket.target_counter}
