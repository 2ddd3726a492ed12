"""A hospital's operations on the hall: patients registered or booked by the HIS, checked in
at the triage desk, called forward to a room's door, held, sent to the pharmacy, or gone.

One patient keeps one number through the whole visit; each stage is a visit of that ticket
(see Hall.transfer). Like every Hall operation, each is one transaction with its events, and
one that raises a QueueError has changed nothing.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from queue_core import errors
from queue_core.model import OPEN, QUEUED, Lane, Stage, State, Ticket
from queue_core.storage import NEXT_PLACE, transaction

if TYPE_CHECKING:
    from queue_core.hall import Hall


class Journeys:
    """Mixed into Hall: the hospital's operations (a bank's configuration has no stages).

    Example::

        hall.register(now, "N", patient="P123", name="张三", visit="V9", doctor="D01")
        hall.check_in("N001", now)       # the triage desk: N001 joins the department's queue
        hall.forward(now)                # the next patients wait at the rooms' doors
    """

    # -- the HIS ------------------------------------------------------------------------------

    def register(self: Hall, now: float, service: str, patient: str, name: str, visit: str,
                 doctor: str | None = None, lane: str | None = None) -> Ticket:
        """Patient `patient` registered by the HIS as `visit` to the department `service`
        (a stage of the flow), and to `doctor` when given: a ticket numbered now, waiting for
        check-in where the stage wants one, else in the queue. A lane makes it a priority
        ticket."""
        stage = self._stage(service)
        self._doctor(doctor)
        priority = self._lane(lane)
        self._new_visit(visit)
        state = State.REGISTERED if stage.check_in else State.WAITING
        with transaction(self.db):
            ticket = self._insert(self._service(service), now, vip=priority is not None,
                                  state=state, doctor=doctor)
            self.db.execute(
                "INSERT INTO patients (visit, patient, name, service, doctor, lane, ticket_id,"
                " at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (visit, patient, name, service, doctor, priority and priority.name, ticket.id,
                 now))
            self._log(now, "register", ticket.id, detail=priority and priority.name)
            if state is State.WAITING:
                self._to_front(ticket, priority)
            return self._ticket(ticket.id)

    def book(self: Hall, now: float, service: str, patient: str, name: str, visit: str,
             doctor: str | None = None, slot: str | None = None) -> None:
        """An appointment booked with the HIS as `visit`: no number yet; the patient gets one
        when checking in (see check_in)."""
        self._stage(service)
        self._doctor(doctor)
        self._new_visit(visit)
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO patients (visit, patient, name, service, doctor, slot, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", (visit, patient, name, service, doctor, slot,
                                                  now))
            self._log(now, "book", service=service, detail=slot)

    def cancel_visit(self: Hall, visit: str, now: float, patient: str | None = None
                     ) -> Ticket | None:
        """The HIS cancelled registration or appointment `visit` (of `patient`, when given): a
        patient never seen at a room or window leaves the queues. Returns their visit closed
        (None for an appointment never checked in)."""
        row = self._patient(visit, patient)
        if row["cancelled"]:
            raise errors.WrongState(f"visit {visit} is cancelled already")
        latest = None if row["ticket_id"] is None else self._latest(row["ticket_id"])
        if latest is not None and self.db.execute(   # called, and came: seen
                "SELECT 1 FROM tickets WHERE day = ? AND label = ? AND called_at IS NOT NULL"
                " AND state != 'no_show'", (latest.day, latest.label)).fetchone():
            raise errors.WrongState(f"visit {visit}: {latest.label} has been seen")
        if latest is not None and latest.state not in (*QUEUED, State.NO_SHOW):
            raise errors.WrongState(f"visit {visit}: {latest.label} is {latest.state.value}")
        with transaction(self.db):
            self.db.execute("UPDATE patients SET cancelled = 1 WHERE id = ?", (row["id"],))
            if latest is None:
                self._log(now, "cancel", service=row["service"], detail="appointment")
                return None
            self._close(latest.id, State.CANCELLED, now)
            self._log(now, "cancel", latest.id, detail="by the HIS")
            return self._ticket(latest.id)

    def ready(self: Hall, visit: str, now: float, patient: str | None = None) -> Ticket:
        """The pharmacy says the prescription of `visit` (of `patient`, when given) is ready:
        the patient joins the queue of the pharmacy's stage, wherever they wait (or from where
        they were seen last)."""
        pharmacy = self.config.hospital.pharmacy
        if pharmacy is None:
            raise errors.NotInFlow("no [hospital] pharmacy is configured")
        row = self._patient(visit, patient)
        if row["ticket_id"] is None or row["cancelled"]:
            raise errors.WrongState(f"visit {visit} has no patient in the queues")
        latest = self._latest(row["ticket_id"])
        if latest.day != self.today(now):   # its number may be another patient's today
            raise errors.WrongState(f"visit {visit} is of {latest.day}, not of today")
        if latest.service == pharmacy and latest.state in OPEN:
            raise errors.WrongState(f"{latest.label} is at the pharmacy already")
        if latest.state in (State.CALLED, State.SERVING):
            raise errors.WrongState(f"{latest.label} is at counter {latest.counter} now")
        if latest.state is State.CANCELLED:
            raise errors.WrongState(f"{latest.label} has left")
        with transaction(self.db):
            if latest.state in OPEN:
                self._close(latest.id, State.TRANSFERRED, now)
            new_id = self._requeue(latest, pharmacy, None, False, now)
            self._log(now, "ready", new_id, detail=f"from {latest.service}")
            return self._ticket(new_id)

    @contextmanager
    def his_once(self: Hall, source: str, control: str, digest: str, now: float
                 ) -> Iterator[bool]:
        """Apply an HIS message at most once: yields False for a message applied before (the
        same control id and content: a resend after a lost acknowledgement), True for a new
        one, whose operations and record commit together. A control id reused by another
        message raises DuplicateMessage. A refused message is not recorded: sent again, it is
        tried again."""
        row = self.db.execute("SELECT digest FROM his_messages WHERE source = ? AND control = ?",
                              (source, control)).fetchone()
        if row is not None:
            if row[0] != digest:
                raise errors.DuplicateMessage(f"message control id {control!r} was used by"
                                              " another message")
            yield False
            return
        with transaction(self.db):
            yield True
            self.db.execute("INSERT INTO his_messages (source, control, digest, at)"
                            " VALUES (?, ?, ?, ?)", (source, control, digest, now))

    # -- the triage desk and the nurse station ----------------------------------------------

    def check_in(self: Hall, key: str, now: float) -> Ticket:
        """A patient at the triage desk: `key` is a registered ticket's label (it joins the
        queue), a missed number's (过号: it queues again behind its stage's `missed_behind`
        patients), or a booked appointment's visit id (a number is issued now); a label of
        today comes first."""
        booked = self.db.execute("SELECT * FROM patients WHERE visit = ? AND ticket_id IS NULL"
                                 " AND cancelled = 0", (key,)).fetchone()
        labelled = self.db.execute("SELECT 1 FROM tickets WHERE day = ? AND label = ?",
                                   (self.today(now), key)).fetchone()
        if booked is not None and labelled is None:
            return self._check_in_booked(booked, now)
        try:
            ticket = self._today_latest(key, now)
        except errors.UnknownTicket:
            if self.db.execute("SELECT 1 FROM patients WHERE visit = ? AND ticket_id IS NOT"
                               " NULL", (key,)).fetchone():
                raise errors.WrongState(f"appointment {key!r} is checked in already") from None
            raise errors.UnknownTicket(f"no ticket {key!r} today, nor an appointment booked"
                                       " as that") from None
        stage = self.config.hospital.stage(ticket.service) or Stage(ticket.service)
        with transaction(self.db):
            if ticket.state is State.REGISTERED:
                self.db.execute(f"UPDATE tickets SET state = 'waiting', queued_at = ?,"
                                f" place = {NEXT_PLACE} WHERE id = ?", (now, ticket.id))
                self._log(now, "check_in", ticket.id)
                self._to_front(self._ticket(ticket.id), self._lane_of(ticket))
                return self._ticket(ticket.id)
            if ticket.state is not State.NO_SHOW:
                raise errors.WrongState(f"{key} is {ticket.state.value}")
            new = self._ticket(self._requeue(ticket, ticket.service, None, False, now,
                                             doctor=ticket.doctor))
            self._place_at(new, stage.missed_behind)
            self._log(now, "check_in", new.id, detail=f"missed: behind {stage.missed_behind}")
            return self._ticket(new.id)

    def hold(self: Hall, label: str, now: float) -> Ticket:
        """Keep a waiting patient out of the calls (away for a moment) until released."""
        ticket = self._today_latest(label, now)
        if ticket.state is not State.WAITING:
            raise errors.WrongState(f"{label} is {ticket.state.value}")
        with transaction(self.db):
            self.db.execute("UPDATE tickets SET state = 'held' WHERE id = ?", (ticket.id,))
            self._log(now, "hold", ticket.id)
            return self._ticket(ticket.id)

    def release(self: Hall, label: str, now: float) -> Ticket:
        """A held patient (or prescription) waits again, at their place, recalls counted
        afresh."""
        ticket = self._today_latest(label, now)
        if ticket.state is not State.HELD:
            raise errors.WrongState(f"{label} is {ticket.state.value}")
        with transaction(self.db):
            self.db.execute("UPDATE tickets SET state = 'waiting', recalls = 0, counter = NULL,"
                            " teller = NULL, target_counter = NULL WHERE id = ?", (ticket.id,))
            self._log(now, "release", ticket.id)
            return self._ticket(ticket.id)

    def leave(self: Hall, label: str, now: float) -> Ticket:
        """A patient left without being seen: out of the queues."""
        ticket = self._today_latest(label, now)
        if ticket.state not in QUEUED:
            raise errors.WrongState(f"{label} is {ticket.state.value}")
        with transaction(self.db):
            self._close(ticket.id, State.CANCELLED, now)
            self._log(now, "left", ticket.id)
            return self._ticket(ticket.id)

    def send_to_room(self: Hall, label: str, now: float, counter: int | None) -> Ticket:
        """Send a waiting patient to wait at `counter`'s door (None: back to the department's
        queue, for any room)."""
        ticket = self._today_latest(label, now)
        if ticket.state is not State.WAITING:
            raise errors.WrongState(f"{label} is {ticket.state.value}")
        if counter is not None and ticket.service not in self._counter(counter).services:
            raise errors.WrongState(f"counter {counter} does not serve {ticket.service}")
        if counter is not None:
            self._may_wait_at(label, ticket.doctor, counter)
        if counter == ticket.target_counter:
            return ticket
        with transaction(self.db):
            self.db.execute("UPDATE tickets SET target_counter = ? WHERE id = ?",
                            (counter, ticket.id))
            self._log(now, "room", ticket.id, counter=counter,
                      detail=None if counter else "any room")
            return self._ticket(ticket.id)

    def assign(self: Hall, label: str, now: float, doctor: str | None) -> Ticket:
        """Make a patient not yet called `doctor`'s (None: the department's, any doctor); one
        waiting at a room's door goes back to the department's queue, at their place."""
        ticket = self._today_latest(label, now)
        if ticket.state not in QUEUED:
            raise errors.WrongState(f"{label} is {ticket.state.value}")
        self._doctor(doctor)
        with transaction(self.db):   # off a door: the next forward takes them to the doctor's
            self.db.execute("UPDATE tickets SET doctor = ?, target_counter = NULL WHERE id = ?",
                            (doctor, ticket.id))
            self._log(now, "assign", ticket.id, teller=doctor,
                      detail=None if doctor else "any doctor")
            return self._ticket(ticket.id)

    def forward(self: Hall, now: float) -> list[Ticket]:
        """Call patients forward to wait at the rooms' doors: each room of a stage with a
        `door`, its doctor logged in and not paused, gets up to that many, one at a time to
        the room with fewest (so rooms share the queue), each the one its doctor would call
        next. Returns them (each with its room as target_counter), committed in one go."""
        stages = [s for s in self.config.hospital.stages if s.door]
        if not stages:
            return []
        day = self.today(now)
        doctors = dict(self.db.execute(
            "SELECT counter, teller FROM counter_sessions WHERE paused = 0").fetchall())
        at_door = dict(self.db.execute(
            "SELECT target_counter, COUNT(*) FROM tickets WHERE day = ? AND state = 'waiting'"
            " AND target_counter IS NOT NULL GROUP BY 1", (day,)).fetchall())
        forwarded = []
        with transaction(self.db):
            for stage in stages:
                rooms = [c.number for c in self.config.counters
                         if stage.service in c.services and c.number in doctors]
                while rooms:
                    room = min(rooms, key=lambda n: (at_door.get(n, 0), n))
                    chosen = None if at_door.get(room, 0) >= stage.door else \
                        self._first_waiting(day, (stage.service,), doctors[room])
                    if chosen is None:
                        rooms.remove(room)
                        continue
                    self.db.execute("UPDATE tickets SET target_counter = ? WHERE id = ?",
                                    (room, chosen))
                    self._log(now, "forward", chosen, counter=room, teller=doctors[room])
                    at_door[room] = at_door.get(room, 0) + 1
                    forwarded.append(self._ticket(chosen))
        return forwarded

    # -- internals --------------------------------------------------------------------------

    def _may_wait_at(self: Hall, label: str, doctor: str | None, counter: int) -> None:
        """Raises WrongState unless someone at `counter` would call patient `label`, `doctor`'s
        (None: the department's): a room is open, and its doctor may call the patient (their
        own, or the department's for one who takes those)."""
        there = self.db.execute("SELECT teller FROM counter_sessions WHERE counter = ?",
                                (counter,)).fetchone()
        if there is None:
            raise errors.WrongState(f"counter {counter} is not open: nobody would call"
                                    f" {label} there")
        inside = self.config.teller(there[0])
        if doctor not in (None, there[0]) or \
                doctor is None and inside is not None and inside.own_only:
            raise errors.WrongState(f"{there[0]} at counter {counter} does not call"
                                    f" {label}: assign them first")

    def _stage(self: Hall, service: str) -> Stage:
        self._service(service)
        stage = self.config.hospital.stage(service)
        if stage is None:
            raise errors.NotInFlow(f"service {service} is no stage of the hospital's flow")
        return stage

    def _doctor(self: Hall, doctor: str | None) -> None:
        if doctor is not None and self.config.teller(doctor) is None:
            raise errors.UnknownDoctor(f"no doctor {doctor!r}")

    def _lane(self: Hall, lane: str | None) -> Lane | None:
        if lane is None:
            return None
        found = self.config.hospital.lane(lane)
        if found is None:
            raise errors.NotInFlow(f"no priority lane {lane!r}")
        return found

    def _lane_of(self: Hall, ticket: Ticket) -> Lane | None:
        row = self.db.execute("SELECT p.lane FROM patients p JOIN tickets t ON t.id = p.ticket_id"
                              " WHERE t.day = ? AND t.label = ? AND t.previous_id IS NULL",
                              (ticket.day, ticket.label)).fetchone()
        return None if row is None or row[0] is None else self.config.hospital.lane(row[0])

    def _to_front(self: Hall, ticket: Ticket, lane: Lane | None) -> None:
        """A patient of a lane that goes `first`: ahead of the other priority patients, after
        those of such lanes before them."""
        if lane is None or not lane.first:
            return
        firsts = [f.name for f in self.config.hospital.lanes if f.first]
        ids = [i for i in self._group(ticket)[0] if i != ticket.id]
        ahead = self.db.execute(
            f"SELECT COUNT(*) FROM tickets t JOIN tickets f ON f.day = t.day"
            f" AND f.label = t.label AND f.previous_id IS NULL JOIN patients p"
            f" ON p.ticket_id = f.id WHERE t.id IN ({','.join('?' * len(ids)) or 'NULL'})"
            f" AND p.lane IN ({','.join('?' * len(firsts))})", (*ids, *firsts)).fetchone()[0]
        self._place_at(ticket, ahead)

    def _clear_door(self: Hall, counter: int, now: float) -> None:
        """A room closed (its doctor left): the patients called forward to its door go back to
        the department's queue, at their places, for the next forward."""
        door = [s.service for s in self.config.hospital.stages if s.door]
        for (ticket_id,) in self.db.execute(
                f"SELECT id FROM tickets WHERE target_counter = ? AND state = 'waiting' AND"
                f" service IN ({','.join('?' * len(door)) or 'NULL'})", (counter, *door)
                ).fetchall():
            self.db.execute("UPDATE tickets SET target_counter = NULL WHERE id = ?",
                            (ticket_id,))
            self._log(now, "room", ticket_id, counter=counter, detail="the room closed")

    def _new_visit(self: Hall, visit: str) -> None:
        if self.db.execute("SELECT 1 FROM patients WHERE visit = ?", (visit,)).fetchone():
            raise errors.WrongState(f"visit {visit!r} is registered already")

    def _patient(self: Hall, visit: str, patient: str | None = None) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM patients WHERE visit = ?", (visit,)).fetchone()
        if row is None:
            raise errors.UnknownPatient(f"no visit {visit!r}")
        if patient is not None and patient != row["patient"]:
            raise errors.UnknownPatient(f"visit {visit!r} is another patient's")
        return row

    def _check_in_booked(self: Hall, booked: sqlite3.Row, now: float) -> Ticket:
        with transaction(self.db):
            ticket = self._insert(self._service(booked["service"]), now,
                                  doctor=booked["doctor"])
            self.db.execute("UPDATE patients SET ticket_id = ? WHERE id = ?",
                            (ticket.id, booked["id"]))
            self._log(now, "check_in", ticket.id, detail="appointment")
            return ticket

    def _latest(self: Hall, first_id: int) -> Ticket:
        """The latest visit of the ticket whose first visit is `first_id`."""
        visit = first_id
        while (row := self.db.execute("SELECT MAX(id) FROM tickets WHERE previous_id = ?",
                                      (visit,)).fetchone()[0]) is not None:
            visit = row
        return self._ticket(visit)

    def _today_latest(self: Hall, label: str, now: float) -> Ticket:
        row = self.db.execute("SELECT * FROM tickets WHERE day = ? AND label = ?"
                              " ORDER BY id DESC LIMIT 1", (self.today(now), label)).fetchone()
        if row is None:
            raise errors.UnknownTicket(f"no ticket {label!r} today")
        return self._row_ticket(row)
