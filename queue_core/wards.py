"""A hospital's departments, read: one department as its nurse station sees it (full names, for
staff only), and the rooms the department screens show (names only as the hall's privacy
allows). Each reads a Hall inside one snapshot (see monitor.department, monitor.hall_screen)."""

from __future__ import annotations

import sqlite3

from media.privacy import shown_name
from queue_core.hall import Hall
from queue_core.model import HallStatus, Service, Ticket
from queue_core.storage import IN_QUEUE


def department(hall: Hall, now: float, service: str) -> dict:
    """Stage `service`'s patients today: `registered` (not checked in), `waiting` in its queue
    (calling order: priority first, then by place; not those at a room's door), each room's
    doctor, patient in the room and patients at its `door`, and those `held`; each with the
    name the HIS registered. Also what the page offers: the departments, the services a
    patient may be sent on to, the doctors. `service` must be a stage's."""
    config, db = hall.config, hall.db
    day, stage = hall.today(now), config.hospital.stage(service)
    rooms = [c for c in config.counters if service in c.services]
    doors = {c.number for c in rooms}
    numbers = ",".join(map(str, sorted(doors))) or "NULL"
    rows = db.execute(
        f"SELECT * FROM tickets WHERE day = ? AND (service = ? AND state IN {IN_QUEUE}"
        f" OR state = 'waiting' AND target_counter IN ({numbers})) ORDER BY vip DESC, place, id",
        (day, service)).fetchall()
    current = {row["counter"]: row for row in db.execute(
        f"SELECT * FROM tickets WHERE state IN ('called', 'serving') AND counter IN ({numbers})")}
    sessions = {row["counter"]: row for row in db.execute("SELECT * FROM counter_sessions")}
    names = _registrations(db, day, {row["label"] for row in [*rows, *current.values()]})

    def patients(state: str, door: int | None = None) -> list[dict]:
        """Those in `state`; of those waiting, those at `door` (None: at no room's door)."""
        return [_staff_view(row, names, now) for row in rows if row["state"] == state and (
            state != "waiting" or row["target_counter"] == door
            or door is None and row["target_counter"] not in doors)]

    return {
        "day": day, "department": _names(config.service(service)),
        "stage": {"check_in": stage.check_in, "door": stage.door, "next": list(stage.next),
                  "nurse": "nurse" in stage.moved_by},
        "departments": [_names(config.service(s.service)) for s in config.hospital.stages],
        "services": [_names(s) for s in config.services],
        "doctors": [{"id": t.id, "name": t.name} for t in config.tellers],
        "rooms": [{"number": c.number, "name": c.name, "kind": c.kind,
                   "doctor": sessions[c.number]["teller"] if c.number in sessions else None,
                   "paused": c.number in sessions and bool(sessions[c.number]["paused"]),
                   "current": None if c.number not in current else
                   _staff_view(current[c.number], names, now),
                   "door": patients("waiting", c.number)} for c in rooms],
        "registered": patients("registered"), "waiting": patients("waiting"),
        "held": patients("held"), "last_event": hall.last_event()}


def rooms(hall: Hall, status: HallStatus) -> list[dict]:
    """Each counter for the department screens: `open` (a doctor in, not paused; never who),
    the patient called into it and those waiting at its door in calling order, each as a
    label and a name shown by the hall's privacy ("" for none)."""
    privacy = hall.config.hospital.privacy
    door: dict[int, list[str]] = {}
    for label, counter in hall.db.execute(
            "SELECT label, target_counter FROM tickets WHERE day = ? AND state = 'waiting'"
            " AND target_counter IS NOT NULL ORDER BY vip DESC, place, id", (status.day,)):
        door.setdefault(counter, []).append(label)
    current: dict[int, Ticket] = {c.number: c.current for c in status.counters if c.current}
    names = _registrations(hall.db, status.day, {label for labels in door.values()
                                                 for label in labels} |
                           {t.label for t in current.values() if t.day == status.day})

    def shown(label: str) -> dict:
        row = names.get(label)
        return {"label": label, "name": shown_name(row and row["name"], privacy)}

    return [{"number": c.number, "open": c.teller is not None and not c.paused,
             "current": shown(current[c.number].label) if c.number in current else None,
             "door": [shown(label) for label in door.get(c.number, [])]}
            for c in status.counters]


def _registrations(db: sqlite3.Connection, day: str, labels: set[str]
                   ) -> dict[str, sqlite3.Row]:
    """The HIS's registration of each of `labels` of `day` that has one (a ticket taken at the
    buttons has none): joined on the ticket's first visit."""
    if not labels:
        return {}
    return {row["label"]: row for row in db.execute(
        f"SELECT t.label, p.name, p.lane FROM patients p JOIN tickets t ON t.id = p.ticket_id"
        f" WHERE t.day = ? AND t.label IN ({','.join('?' * len(labels))})", (day, *labels))}


def _names(service: Service) -> dict:
    return {"prefix": service.prefix, "name_en": service.name_en, "name_zh": service.name_zh}


def _staff_view(row: sqlite3.Row, names: dict[str, sqlite3.Row], now: float) -> dict:
    patient = names.get(row["label"])
    since = row["started_at"] if row["state"] == "serving" else row["called_at"]
    return {"label": row["label"], "service": row["service"], "state": row["state"],
            "name": patient and patient["name"], "lane": patient and patient["lane"],
            "vip": bool(row["vip"]), "doctor": row["doctor"], "returning": bool(row["is_return"]),
            "target_counter": row["target_counter"], "recalls": row["recalls"],
            "waited": max(0.0, now - row["queued_at"]),
            "since": None if since is None else max(0.0, now - since)}
