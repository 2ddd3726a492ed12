"""The hall's operations: issue, login, call, recall, start, skip, transfer, finish, cancel,
and the back office's: move, prioritise or transfer a waiting ticket, close or open a service.

Every operation is one transaction that also appends its row to the event log; an operation
that raises a QueueError has changed nothing. Times (`now`) are passed in, never read here.
Events logged inside `acting_as` name the back-office user who made them.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Iterator

from queue_core import errors
from queue_core.hall_time import business_day
from queue_core.model import (OPEN_AT_COUNTER, CounterStatus, HallConfig, HallStatus, Issued,
                              Service, State, Ticket)
from queue_core.journeys import Journeys
from queue_core.storage import IN_QUEUE, NEXT_PLACE, transaction

LAST_CALLS = 8
MOVES = ("up", "down", "front", "back")
RATINGS = {1: "very satisfied", 2: "satisfied", 3: "dissatisfied"}


class Hall(Journeys):
    """The queue state of one hall, kept in an open database (see `open_database`).

    Example::

        hall = Hall(open_database("var/queue.db"), config)
        issued = hall.issue("A", now=time.time())      # A001, 0 ahead
        hall.login(1, now=..., teller="T01", pin_ok=pin_matches(stored, typed))
        hall.call_next(1, now=...)                      # A001 called to counter 1
    """

    def __init__(self, db: sqlite3.Connection, config: HallConfig):
        self.db = db
        self.config = config
        row = db.execute("SELECT day FROM business_day").fetchone()
        self._day: str | None = row[0] if row else None   # None: the clock's, until it turns
        self._actor: str | None = None   # the back-office user events name (see acting_as)

    # -- the business day -------------------------------------------------------------------

    @property
    def day(self) -> str | None:
        """The business day the queue last turned to (None on a new database)."""
        return self._day

    def next_ticket(self) -> int:
        """The id the next ticket (or visit) gets: tickets from it on are those taken later."""
        return self.db.execute("SELECT IFNULL(MAX(id), 0) + 1 FROM tickets").fetchone()[0]

    def today(self, now: float) -> str:
        """The business day the queue is in: the one it last turned to (see turn_day), or on
        a new database the day `now` falls in."""
        return self._day or business_day(now, self.config)

    def turn_day(self, now: float, carry_from: int | None = None) -> tuple[str, int, int] | None:
        """Begin the business day `now` falls in, if it is later than the queue's: the old
        day's waiting tickets expire (an event each), except those with an id of `carry_from`
        or above, which go on in the new day (taken while the clock was not yet set, they
        belong to it). Returns (the new day, expired, carried), or None when the day stands.
        The caller turns the day only on a clock it trusts; a day never turns back."""
        day = business_day(now, self.config)
        if self._day is not None and day <= self._day:
            return None
        expired = carried = 0
        with transaction(self.db):
            for row in self.db.execute(f"SELECT id FROM tickets WHERE day < ? AND state IN"
                                       f" {IN_QUEUE}", (day,)).fetchall():
                if carry_from is not None and row["id"] >= carry_from:
                    self.db.execute("UPDATE tickets SET day = ? WHERE id = ?", (day, row["id"]))
                    self._log(now, "carry", row["id"],
                              detail=f"to {day}: taken before the clock was set")
                    carried += 1
                else:
                    self._close(row["id"], State.EXPIRED, now)
                    self._log(now, "expire", row["id"], detail="its business day ended")
                    expired += 1
            self.db.execute("INSERT INTO business_day (one, day) VALUES (1, ?) ON CONFLICT (one)"
                            " DO UPDATE SET day = excluded.day", (day,))
        first = self._day is None
        self._day = day
        return None if first and not expired and not carried else (day, expired, carried)

    # -- customer entry ---------------------------------------------------------------------

    def issue(self, prefix: str, now: float, vip: bool = False) -> Issued:
        """Issue the next number of service `prefix` for today.

        `ahead` counts the tickets waiting before it in that service (only priority ones
        for a priority ticket). A closed service raises ServiceClosed, and the refusal is
        counted all the same: its row and event commit in a transaction of their own (inside
        a caller's transaction they are part of that one, and go if it is rolled back).
        """
        service = self._service(prefix)
        day = self.today(now)
        if self._closed(prefix):
            with transaction(self.db):
                self.db.execute("INSERT INTO refused_presses (day, service, at) VALUES (?, ?, ?)",
                                (day, prefix, now))
                self._log(now, "refused", service=prefix, detail="closed")
            raise errors.ServiceClosed(f"service {prefix} is closed")
        with transaction(self.db):
            ahead = self.db.execute(
                "SELECT COUNT(*) FROM tickets WHERE day = ? AND state = 'waiting' AND service = ?"
                " AND vip >= ?", (day, prefix, int(vip))).fetchone()[0]
            ticket = self._insert(service, now, vip)
            self._log(now, "issue", ticket.id, service=prefix, detail="vip" if vip else None)
            return Issued(ticket, ahead)

    # -- reconfiguration ---------------------------------------------------------------------

    def reconfigure(self, new: HallConfig, now: float) -> list[str]:
        """Run on `new` from now on, if it orphans no one (see check_reconfiguration), with an
        event saying so. Tellers it no longer lists are logged out, each with an event; returns
        what was done."""
        self.check_reconfiguration(new, now)
        done = []
        with transaction(self.db):
            self._log(now, "configure")
            for row in self.db.execute("SELECT counter, teller FROM counter_sessions").fetchall():
                if new.teller(row["teller"]) is None:
                    self.db.execute("DELETE FROM counter_sessions WHERE counter = ?",
                                    (row["counter"],))
                    self._log(now, "logout", counter=row["counter"], teller=row["teller"],
                              detail="no longer configured")
                    self._clear_door(row["counter"], now)
                    done.append(f"teller {row['teller']} logged out at counter {row['counter']}:"
                                " no longer configured")
        self.config = new
        return done

    def check_reconfiguration(self, new: HallConfig, now: float) -> None:
        """Raises ReconfigurationRefused, with the reason, when `new` would orphan anyone: a
        service people wait for that it removes or no counter of it serves, a counter a ticket
        was sent to or a teller is logged in at that it removes, a teller it removes who is
        serving a customer; in a hospital, a doctor it removes whose patients wait, a stage it
        removes whose registered patients wait for check-in."""
        day = self.today(now)
        for service, target, waiting in self.db.execute(
                f"SELECT service, target_counter, COUNT(*) FROM tickets WHERE day = ?"
                f" AND state IN {IN_QUEUE} GROUP BY 1, 2", (day,)):
            if new.service(service) is None:
                raise errors.ReconfigurationRefused(f"service {service} is gone but {waiting}"
                                                    " wait for it")
            if target is not None and new.counter(target) is None:
                raise errors.ReconfigurationRefused(f"counter {target} is gone but {waiting}"
                                                    " were sent there")
            if target is None and not any(service in c.services for c in new.counters):
                raise errors.ReconfigurationRefused(f"no counter serves {service} but"
                                                    f" {waiting} wait for it")
        for doctor, waiting in self.db.execute(
                f"SELECT doctor, COUNT(*) FROM tickets WHERE day = ? AND state IN {IN_QUEUE}"
                f" AND doctor IS NOT NULL GROUP BY 1", (day,)):
            if new.teller(doctor) is None:
                raise errors.ReconfigurationRefused(f"doctor {doctor} is gone but {waiting}"
                                                    " patients are theirs")
        for service, waiting in self.db.execute(
                "SELECT service, COUNT(*) FROM tickets WHERE day = ? AND state = 'registered'"
                " GROUP BY 1", (day,)):
            if new.hospital.stage(service) is None:
                raise errors.ReconfigurationRefused(
                    f"{waiting} patients registered to {service} wait for check-in, which its"
                    " [[stage]] holds")
        for row in self.db.execute("SELECT counter, teller FROM counter_sessions"):
            if new.counter(row["counter"]) is None:
                raise errors.ReconfigurationRefused(f"counter {row['counter']} is gone but"
                                                    f" {row['teller']} is logged in there")
            if new.teller(row["teller"]) is None and self._current(row["counter"]):
                raise errors.ReconfigurationRefused(
                    f"teller {row['teller']} is gone but serves a customer at counter"
                    f" {row['counter']}")

    def cancel(self, label: str, now: float) -> Ticket:
        """Take a waiting ticket of today out of the queue (the customer left)."""
        row = self.db.execute(
            "SELECT id FROM tickets WHERE day = ? AND label = ? AND state = 'waiting'",
            (self.today(now), label)).fetchone()
        if row is None:
            raise errors.UnknownTicket(f"no waiting ticket {label!r} today")
        with transaction(self.db):
            self._close(row["id"], State.CANCELLED, now)
            self._log(now, "cancel", row["id"])
            return self._ticket(row["id"])

    # -- the back office's adjustments ------------------------------------------------------

    @contextmanager
    def acting_as(self, user: str) -> Iterator[None]:
        """Every event logged inside names `user` as the one who made it (outside, none: the
        keypads' and the console's events name their teller).

        Example::

            with hall.acting_as("alice"):
                hall.move("A012", now, "front")
        """
        outer, self._actor = self._actor, user
        try:
            yield
        finally:
            self._actor = outer

    @property
    def actor(self) -> str | None:
        """The user acting now (see acting_as): what `queue_core.users`' changes take as `by`."""
        return self._actor

    def move(self, label: str, now: float, where: str) -> Ticket:
        """Move a waiting ticket of today one `up` or `down`, or to the `front` or the `back`,
        in its service's calling order (see `waiting`), never out of its group: the tickets
        sent to one counter (priority ones first), the priority tickets, the others.

        The group's places are dealt out again in the new order, so places stay unique. A
        ticket already where it would go stays there, and nothing is logged."""
        if where not in MOVES:
            raise errors.WrongState(f"{label}: no move {where!r} (up, down, front or back)")
        ticket = self._waiting_ticket(label, now)
        here = self._group(ticket)[0].index(ticket.id)
        there = {"up": here - 1, "down": here + 1, "front": 0, "back": 1 << 30}[where]
        with transaction(self.db):
            if self._place_at(ticket, there):
                self._log(now, "move", ticket.id, detail=where)
            return self._ticket(ticket.id)

    def prioritise(self, label: str, now: float) -> Ticket:
        """Make a waiting ticket of today a priority one: it is called before the others of its
        queue, after the priority tickets before it in place."""
        ticket = self._waiting_ticket(label, now)
        if ticket.vip:
            raise errors.WrongState(f"{label} is a priority ticket already")
        with transaction(self.db):
            self.db.execute("UPDATE tickets SET vip = 1 WHERE id = ?", (ticket.id,))
            self._log(now, "prioritise", ticket.id)
            return self._ticket(ticket.id)

    def transfer_waiting(self, label: str, now: float, service: str,
                         keep_place: bool = True) -> Ticket:
        """Send a waiting ticket of today to another service, as a counter's `transfer` does
        (to no counter in particular): it keeps its number, and with `keep_place` its place,
        otherwise it goes to the back. Returns the new visit, waiting."""
        ticket = self._waiting_ticket(label, now)
        self._service(service)
        if service == ticket.service:
            raise errors.WrongState(f"{label} is already in that queue")
        staged = self._check_flow(ticket.service, service, "nurse")
        with transaction(self.db):
            self._close(ticket.id, State.TRANSFERRED, now)
            new_id = self._requeue(ticket, service, None, keep_place and not staged, now)
            self._log(now, "transfer", ticket.id, detail=f"to {service}")
            return self._ticket(new_id)

    def close_service(self, prefix: str, now: float) -> None:
        """Issue no more tickets of service `prefix` until it opens again: each press is
        refused and counted (see `issue`). Its tickets waiting are called as before."""
        self._set_closed(prefix, True, now)

    def open_service(self, prefix: str, now: float) -> None:
        self._set_closed(prefix, False, now)

    # -- teller sessions --------------------------------------------------------------------

    def login(self, counter: int, now: float, teller: str, pin_ok: bool) -> None:
        """Log `teller` in at `counter`; `pin_ok`: the typed PIN matched the teller's
        (`queue_core.pins.pin_matches`, slow by design, so the caller runs it off its loop)."""
        self._counter(counter)
        if self.config.teller(teller) is None or not pin_ok:
            raise errors.WrongPin(f"counter {counter}: unknown teller or wrong PIN")
        with transaction(self.db):
            for row in self.db.execute(
                    "SELECT counter, teller FROM counter_sessions WHERE counter = ? OR teller = ?",
                    (counter, teller)):
                if (row["counter"], row["teller"]) == (counter, teller):
                    return
                raise errors.LoginRefused(
                    f"counter {counter}: teller {teller} is logged in at counter {row['counter']}"
                    if row["teller"] == teller else
                    f"counter {counter}: teller {row['teller']} is logged in here")
            self.db.execute("INSERT INTO counter_sessions (counter, teller, since)"
                            " VALUES (?, ?, ?)", (counter, teller, now))
            self._log(now, "login", counter=counter, teller=teller)

    def logout(self, counter: int, now: float) -> None:
        teller = self._teller_at(counter)
        if self._current(counter) is not None:
            raise errors.WrongState(f"counter {counter}: finish the current ticket first")
        with transaction(self.db):
            self.db.execute("DELETE FROM counter_sessions WHERE counter = ?", (counter,))
            self._log(now, "logout", counter=counter, teller=teller)
            self._clear_door(counter, now)

    def pause(self, counter: int, now: float) -> None:
        """Stop calling at this counter (the current ticket can still be finished)."""
        self._set_paused(counter, True, now)

    def resume(self, counter: int, now: float) -> None:
        self._set_paused(counter, False, now)

    # -- calling ----------------------------------------------------------------------------

    def call_next(self, counter: int, now: float) -> Ticket | None:
        """Finish the counter's current ticket, if any, and call the next one by the policy.

        Order: tickets transferred to this counter, then priority (VIP) tickets, then the
        counter's services in its priority order; the first place in the queue (arrival order,
        whatever the clock did) first within each. Returns None when nobody is waiting for this
        counter.
        """
        teller, paused = self._session(counter)
        if paused:
            raise errors.CounterPaused(f"counter {counter} is paused")
        services = self._counter(counter).services
        with transaction(self.db):
            current = self._current(counter)
            if current is not None:
                self._finish(current, counter, teller, now)
            chosen = self._next(self.today(now), counter, services, teller)
            if chosen is None:
                return None
            ticket = self._row_ticket(self.db.execute(
                "UPDATE tickets SET state = 'called', counter = ?, teller = ?, called_at ="
                " COALESCE(called_at, ?), last_called_at = ?, target_counter = NULL WHERE id = ?"
                " RETURNING *",
                (counter, teller, now, now, chosen)).fetchone())
            self._log(now, "call", ticket.id, service=ticket.service, counter=counter,
                      teller=teller)
            return ticket

    def recall(self, counter: int, now: float) -> Ticket:
        """Call the current ticket again; past `max_recalls` recalls it becomes a no-show (or
        is held, where its hospital stage says so)."""
        teller, ticket = self._current_for(counter, State.CALLED)
        stage = self.config.hospital.stage(ticket.service)
        with transaction(self.db):
            if ticket.recalls >= self.config.max_recalls and stage is not None and stage.held:
                self.db.execute("UPDATE tickets SET state = 'held' WHERE id = ?", (ticket.id,))
                self._log(now, "hold", ticket.id, counter=counter, teller=teller,
                          detail=f"not come after {ticket.recalls} recalls")
            elif ticket.recalls >= self.config.max_recalls:
                self._close(ticket.id, State.NO_SHOW, now)
                self._log(now, "no_show", ticket.id, counter=counter, teller=teller,
                          detail=f"after {ticket.recalls} recalls")
            else:
                self.db.execute("UPDATE tickets SET recalls = recalls + 1, last_called_at = ?"
                                " WHERE id = ?", (now, ticket.id))
                self._log(now, "recall", ticket.id, counter=counter, teller=teller)
            return self._ticket(ticket.id)

    def start(self, counter: int, now: float) -> Ticket:
        """The called customer has arrived: handling time runs from now."""
        teller, ticket = self._current_for(counter, State.CALLED)
        with transaction(self.db):
            self.db.execute("UPDATE tickets SET state = 'serving', started_at = ? WHERE id = ?",
                            (now, ticket.id))
            self._log(now, "start", ticket.id, counter=counter, teller=teller)
            return self._ticket(ticket.id)

    def skip(self, counter: int, now: float) -> Ticket:
        """The called customer did not come: the ticket becomes a no-show (or is held, where
        its hospital stage says so)."""
        teller, ticket = self._current_for(counter, State.CALLED)
        stage = self.config.hospital.stage(ticket.service)
        with transaction(self.db):
            if stage is not None and stage.held:
                self.db.execute("UPDATE tickets SET state = 'held' WHERE id = ?", (ticket.id,))
                self._log(now, "hold", ticket.id, counter=counter, teller=teller,
                          detail="skipped")
            else:
                self._close(ticket.id, State.NO_SHOW, now)
                self._log(now, "no_show", ticket.id, counter=counter, teller=teller,
                          detail="skipped")
            return self._ticket(ticket.id)

    def finish(self, counter: int, now: float) -> Ticket:
        teller, ticket = self._current_for(counter, *OPEN_AT_COUNTER)
        with transaction(self.db):
            self._finish(ticket, counter, teller, now)
            return self._ticket(ticket.id)

    def transfer(self, counter: int, now: float, service: str | None = None,
                 to_counter: int | None = None, keep_place: bool = True) -> Ticket:
        """Send the current ticket to another service and/or a specific counter.

        The ticket keeps its number; with `keep_place` it keeps its place in the queue (that of
        its first visit), otherwise it goes to the back. Returns the new visit, waiting.
        """
        teller, ticket = self._current_for(counter, *OPEN_AT_COUNTER)
        service = self._service(service or ticket.service).prefix
        if to_counter is not None:
            self._counter(to_counter)
        if service == ticket.service and to_counter in (None, counter):
            raise errors.WrongState(f"counter {counter}: {ticket.label} is already in that queue")
        staged = self._check_flow(ticket.service, service, "doctor")
        if to_counter is not None and self.config.hospital.stage(ticket.service):
            if service not in self._counter(to_counter).services:
                raise errors.NotInFlow(f"counter {to_counter} does not serve {service}")
            self._may_wait_at(ticket.label, None, to_counter)   # (the new visit is nobody's)
        with transaction(self.db):
            self._close(ticket.id, State.TRANSFERRED, now)
            new_id = self._requeue(ticket, service, to_counter, keep_place and not staged, now)
            detail = f"to {service}" + (f" at counter {to_counter}" if to_counter else "")
            self._log(now, "transfer", ticket.id, counter=counter, teller=teller, detail=detail)
            return self._ticket(new_id)

    # -- customer evaluation -----------------------------------------------------------------

    def rate(self, counter: int, now: float, rating: int) -> Ticket:
        """The customer at `counter` rates the visit the teller finished there last, within
        `rating_window` seconds of the finish and before the next call (1 very satisfied, 2
        satisfied, 3 dissatisfied); each visit once."""
        self._counter(counter)
        window = self.config.rating_window
        if rating not in RATINGS:
            raise errors.NothingToRate(f"counter {counter}: no rating {rating!r}")
        last = self.db.execute(   # what the counter did last: a finish, or the next call
            "SELECT kind, ticket_id, at FROM events WHERE counter = ? AND kind IN"
            " ('finish', 'call') ORDER BY id DESC LIMIT 1", (counter,)).fetchone()
        if last is None or last["kind"] != "finish" or not 0 <= now - last["at"] <= window:
            raise errors.NothingToRate(f"counter {counter}: no visit finished in the last"
                                       f" {window:.0f} s before the next call")
        row = self.db.execute(
            "SELECT t.*, r.rating FROM tickets t LEFT JOIN ratings r ON r.ticket_id = t.id"
            " WHERE t.id = ?", (last["ticket_id"],)).fetchone()
        if row["rating"] is not None:
            raise errors.NothingToRate(f"counter {counter}: {row['label']} is rated already")
        with transaction(self.db):
            self.db.execute("INSERT INTO ratings (ticket_id, rating, at, counter, teller)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (row["id"], rating, now, counter, row["teller"]))
            self._log(now, "rate", row["id"], service=row["service"], counter=counter,
                      teller=row["teller"], detail=RATINGS[rating])
        return self._ticket(row["id"])

    # -- exactly once -------------------------------------------------------------------------

    @contextmanager
    def once(self, source: str, request: str, now: float) -> Iterator[bool]:
        """Apply a request from `source` at most once: yields False if `request` is the last one
        recorded for `source` (a retry), else True; the operations done inside and the record
        of the request commit together. A refused request is recorded too, changing nothing else.

        Example::

            with hall.once("keypad:3", "4711:57", now) as fresh:
                if fresh:
                    hall.call_next(3, now)
        """
        row = self.db.execute("SELECT last FROM requests WHERE source = ?", (source,)).fetchone()
        if row is not None and row["last"] == request:
            yield False
            return
        record = ("INSERT INTO requests (source, last, at) VALUES (?, ?, ?) ON CONFLICT (source)"
                  " DO UPDATE SET last = excluded.last, at = excluded.at")
        try:
            with transaction(self.db):
                yield True
                self.db.execute(record, (source, request, now))
        except errors.QueueError:
            with transaction(self.db):
                self.db.execute(record, (source, request, now))
            raise

    # -- reading ----------------------------------------------------------------------------

    def status(self, now: float) -> HallStatus:
        """A snapshot for displays and the console: waiting counts, counters, last calls."""
        day = self.today(now)
        waiting = dict.fromkeys((s.prefix for s in self.config.services), 0)
        waiting.update(self.db.execute(
            "SELECT service, COUNT(*) FROM tickets WHERE day = ? AND state = 'waiting'"
            " GROUP BY service", (day,)).fetchall())
        sessions = {row["counter"]: row
                    for row in self.db.execute("SELECT * FROM counter_sessions")}
        untargeted = dict(self.db.execute(
            "SELECT service, COUNT(*) FROM tickets WHERE day = ? AND state = 'waiting'"
            " AND target_counter IS NULL GROUP BY service", (day,)).fetchall())
        targeted = dict(self.db.execute(
            "SELECT target_counter, COUNT(*) FROM tickets WHERE day = ? AND state = 'waiting'"
            " AND target_counter IS NOT NULL GROUP BY target_counter", (day,)).fetchall())
        open_here = {row["counter"]: self._row_ticket(row) for row in self.db.execute(
            "SELECT * FROM tickets WHERE state IN ('called', 'serving')")}
        counters = tuple(
            CounterStatus(c.number, c.name,
                          sessions[c.number]["teller"] if c.number in sessions else None,
                          bool(sessions[c.number]["paused"]) if c.number in sessions else False,
                          open_here.get(c.number),
                          targeted.get(c.number, 0) + sum(untargeted.get(s, 0)
                                                          for s in c.services))
            for c in self.config.counters)
        last_calls = tuple(sorted(open_here.values(), key=lambda t: (t.last_called_at, t.id),
                                  reverse=True))[:LAST_CALLS]
        return HallStatus(day, waiting, counters, last_calls, self.closed_services())

    def waiting(self, now: float) -> dict[str, list[Ticket]]:
        """Each service's waiting tickets of today, in calling order: priority first, then by
        place (those sent to a counter are called there first)."""
        queues: dict[str, list[Ticket]] = {s.prefix: [] for s in self.config.services}
        for row in self.db.execute(
                "SELECT * FROM tickets WHERE day = ? AND state = 'waiting'"
                " ORDER BY target_counter IS NULL, vip DESC, place",
                (self.today(now),)):
            queues.setdefault(row["service"], []).append(self._row_ticket(row))
        return queues

    def closed_services(self) -> frozenset[str]:
        """The services closed to new tickets now (see close_service)."""
        return frozenset(row[0] for row in self.db.execute("SELECT service FROM closed_services")
                         if self.config.service(row[0]) is not None)

    def last_event(self) -> int:
        """The id of the newest event: it grows with every committed change."""
        return self.db.execute("SELECT IFNULL(MAX(id), 0) FROM events").fetchone()[0]

    def full_services(self, now: float) -> set[str]:
        """The services that cannot issue another ticket today (range or daily cap used up)."""
        day = self.today(now)
        return {s.prefix for s in self.config.services if self._next_number(day, s)[1]}

    def tickets(self, day: str) -> list[Ticket]:
        """Every visit of every ticket of `day`, in issue order."""
        return [self._row_ticket(row) for row in self.db.execute(
            "SELECT * FROM tickets WHERE day = ? ORDER BY id", (day,))]

    # -- internals --------------------------------------------------------------------------

    def _counter(self, number: int):
        counter = self.config.counter(number)
        if counter is None:
            raise errors.UnknownCounter(f"no counter {number}")
        return counter

    def _service(self, prefix: str) -> Service:
        service = self.config.service(prefix)
        if service is None:
            raise errors.UnknownService(f"no service {prefix!r}")
        return service

    def _closed(self, prefix: str) -> bool:
        return self.db.execute("SELECT 1 FROM closed_services WHERE service = ?",
                               (prefix,)).fetchone() is not None

    def _set_closed(self, prefix: str, closed: bool, now: float) -> None:
        self._service(prefix)
        if self._closed(prefix) == closed:
            raise errors.WrongState(f"service {prefix} is {'closed' if closed else 'open'}"
                                    " already")
        with transaction(self.db):
            if closed:
                self.db.execute("INSERT INTO closed_services (service, since) VALUES (?, ?)",
                                (prefix, now))
            else:
                self.db.execute("DELETE FROM closed_services WHERE service = ?", (prefix,))
            self._log(now, "close" if closed else "open", service=prefix)

    def _waiting_ticket(self, label: str, now: float) -> Ticket:
        """Today's waiting visit of ticket `label`: UnknownTicket when today has no ticket of
        that number, WrongState when it is not waiting."""
        row = self.db.execute(
            "SELECT * FROM tickets WHERE day = ? AND label = ?"
            " ORDER BY state = 'waiting' DESC, id DESC LIMIT 1",
            (self.today(now), label)).fetchone()
        if row is None:
            raise errors.UnknownTicket(f"no ticket {label!r} today")
        if row["state"] != State.WAITING.value:
            raise errors.WrongState(f"{label} is {row['state']}")
        return self._row_ticket(row)

    def _group(self, ticket: Ticket) -> tuple[list[int], list[int]]:
        """The ids and the places of the waiting tickets in `ticket`'s group (see `move`), in
        calling order."""
        rows = self.db.execute(
            "SELECT id, place FROM tickets WHERE day = ? AND service = ? AND state = 'waiting'"
            " AND vip = ? AND target_counter IS ? ORDER BY place, id",
            (ticket.day, ticket.service, int(ticket.vip), ticket.target_counter)).fetchall()
        return [row["id"] for row in rows], [row["place"] for row in rows]

    def _check_flow(self, source: str, target: str, mover: str) -> bool:
        """In a hospital's flow, a patient is sent from stage `source` on to `target` only if
        the flow leads there and lets a `mover` (MOVERS) do it; raises NotInFlow. True for
        such a move on: the patient joins the next stage's queue at its back, waiting from
        now (their place in one stage is nothing in the next)."""
        stage = self.config.hospital.stage(source)
        if stage is None or source == target:
            return False
        if target not in stage.next:
            raise errors.NotInFlow(f"the flow does not lead from {source} to {target}"
                                   + (f" (only to {', '.join(stage.next)})" if stage.next else ""))
        if mover not in stage.moved_by:
            raise errors.NotInFlow(f"a {mover} does not send patients on from {source}")
        return True

    def _place_at(self, ticket: Ticket, index: int) -> bool:
        """Put the waiting `ticket` at `index` (clamped) of its group's calling order: the
        group's places are dealt out again, so they stay unique. False: it was there."""
        ids, places = self._group(ticket)
        here = ids.index(ticket.id)
        there = max(0, min(index, len(ids) - 1))
        if here == there:
            return False
        ids.insert(there, ids.pop(here))
        low, high = sorted((here, there))   # the tickets whose place changes
        self.db.executemany("UPDATE tickets SET place = ? WHERE id = ?",
                            zip(places[low:high + 1], ids[low:high + 1]))
        return True

    def _requeue(self, ticket: Ticket, service: str, to_counter: int | None, keep_place: bool,
                 now: float, doctor: str | None = None, is_return: bool = False) -> int:
        """A new waiting visit of `ticket` (closed already) in the queue of `service`, at its
        place or at the back, for `doctor` (None: any); returns its id."""
        # The new visit is in today's queue, also for a ticket called before the day turned.
        return self.db.execute(
            f"INSERT INTO tickets (day, label, service, number, vip, previous_id,"
            f" target_counter, state, issued_at, queued_at, place, doctor, is_return)"
            f" SELECT ?, label, ?, number, vip, id, ?, 'waiting', issued_at, ?,"
            f" {'place' if keep_place else NEXT_PLACE}, ?, ? FROM tickets WHERE id = ?",
            (self.today(now), service, to_counter, ticket.queued_at if keep_place else now,
             doctor, int(is_return), ticket.id)).lastrowid

    def _next(self, day: str, counter: int, services: tuple[str, ...], teller: str
              ) -> int | None:
        """The ticket `counter` calls next (see call_next): each kind of candidate is the first
        row of an index range, so the cost does not grow with the queue. In a hospital,
        patients back from tests to this doctor come first, where their stage says "ahead"."""
        for service in services:
            stage = self.config.hospital.stage(service)
            if stage is not None and stage.returns == "ahead" and (row := self.db.execute(
                    "SELECT id FROM tickets WHERE day = ? AND service = ? AND state = 'waiting'"
                    " AND is_return = 1 AND doctor = ? ORDER BY vip DESC, place LIMIT 1",
                    (day, service, teller)).fetchone()):
                return row[0]
        rank = " ".join(f"WHEN ? THEN {i}" for i in range(len(services)))
        row = self.db.execute(   # sent to this counter: few, whatever their service
            f"SELECT id FROM tickets WHERE day = ? AND target_counter = ? AND state = 'waiting'"
            f" AND {self._mine(teller)} ORDER BY vip DESC, CASE service {rank} ELSE 99 END,"
            f" place LIMIT 1", (day, counter, teller, *services)).fetchone()
        return row[0] if row is not None else self._first_waiting(day, services, teller)

    def _mine(self, teller: str) -> str:
        """SQL: the visits `teller` may call (the parameter: their id). In a hospital, a visit
        that belongs to a doctor is only that doctor's, and one who calls `own_only` calls no
        other."""
        doctor = self.config.teller(teller)
        return "doctor = ?" if doctor is not None and doctor.own_only else \
            "(doctor IS NULL OR doctor = ?)"

    def _first_waiting(self, day: str, services: tuple[str, ...], teller: str) -> int | None:
        """The ticket sent to no counter that `teller` calls next from `services` (only those
        they may call, see _mine): priority tickets first, then the others, by place; returns
        called "ahead" are not among these (see _next)."""
        mine = self._mine(teller)
        for vip, service in ((vip, s) for vip in (1, 0) for s in services):
            stage = self.config.hospital.stage(service)
            ahead = " AND is_return = 0" if stage is not None and stage.returns == "ahead" else ""
            row = self.db.execute(
                f"SELECT id FROM tickets WHERE day = ? AND service = ? AND state = 'waiting'"
                f" AND target_counter IS NULL AND vip = ? AND {mine}{ahead}"
                f" ORDER BY place LIMIT 1", (day, service, vip, teller)).fetchone()
            if row is not None:
                return row[0]
        return None

    def _insert(self, service: Service, now: float, vip: bool = False,
                state: State = State.WAITING, doctor: str | None = None) -> Ticket:
        """A new ticket of `service` today, numbered next, at the back of its queue; raises
        ServiceFull."""
        day = self.today(now)
        number, full = self._next_number(day, service)
        if full:
            raise errors.ServiceFull(f"service {service.prefix}: {full}")
        return self._row_ticket(self.db.execute(
            f"INSERT INTO tickets (day, label, service, number, vip, state, issued_at,"
            f" queued_at, place, doctor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, {NEXT_PLACE}, ?)"
            f" RETURNING *", (day, service.label(number), service.prefix, number, int(vip),
                              state.value, now, now, doctor)).fetchone())

    def _next_number(self, day: str, service: Service) -> tuple[int, str | None]:
        """The number `service` issues next on `day`, and why it can issue none (its range or
        its daily cap used up). Numbers only grow within a day, and stay in the range the
        service has now, also when that range or the cap changed during the day."""
        highest, issued = self.db.execute(
            "SELECT MAX(number), COUNT(*) FROM tickets WHERE day = ? AND service = ?"
            " AND previous_id IS NULL", (day, service.prefix)).fetchone()
        number = service.first if highest is None else max(highest + 1, service.first)
        if number > service.last:
            return number, f"numbers up to {service.last} used"
        if service.daily_cap is not None and issued >= service.daily_cap:
            return number, f"daily cap {service.daily_cap} reached"
        return number, None

    def _session(self, counter: int) -> tuple[str, bool]:
        """The teller logged in at `counter`, and whether the counter is paused."""
        self._counter(counter)
        row = self.db.execute("SELECT teller, paused FROM counter_sessions WHERE counter = ?",
                              (counter,)).fetchone()
        if row is None:
            raise errors.NotLoggedIn(f"counter {counter}: nobody is logged in")
        return row["teller"], bool(row["paused"])

    def _teller_at(self, counter: int) -> str:
        return self._session(counter)[0]

    def _current(self, counter: int) -> Ticket | None:
        row = self.db.execute("SELECT * FROM tickets WHERE counter = ?"
                              " AND state IN ('called', 'serving')", (counter,)).fetchone()
        return None if row is None else self._row_ticket(row)

    def _current_for(self, counter: int, *states: State) -> tuple[str, Ticket]:
        """The counter's teller and current ticket, which must be in one of `states`."""
        teller = self._teller_at(counter)
        ticket = self._current(counter)
        if ticket is None:
            raise errors.NoCurrentTicket(f"counter {counter}: no ticket called")
        if ticket.state not in states:
            raise errors.WrongState(f"counter {counter}: {ticket.label} is {ticket.state.value}")
        return teller, ticket

    def _set_paused(self, counter: int, paused: bool, now: float) -> None:
        teller = self._teller_at(counter)
        with transaction(self.db):
            self.db.execute("UPDATE counter_sessions SET paused = ? WHERE counter = ?",
                            (int(paused), counter))
            self._log(now, "pause" if paused else "resume", counter=counter, teller=teller)

    def _finish(self, ticket: Ticket, counter: int, teller: str, now: float) -> None:
        # A ticket finished straight from "called" was served from the moment it was last called.
        self.db.execute("UPDATE tickets SET state = 'done', finished_at = ?,"
                        " started_at = COALESCE(started_at, last_called_at) WHERE id = ?",
                        (now, ticket.id))
        self._log(now, "finish", ticket.id, counter=counter, teller=teller)
        stage = self.config.hospital.stage(ticket.service)
        if stage is not None and stage.back and ticket.previous_id is not None:
            self._send_back(ticket, now)

    def _send_back(self, ticket: Ticket, now: float) -> None:
        """A visit finished at tests: the patient goes back where they were sent from (the
        visit before, transferred): to the doctor who sent them, in that doctor's queue; sent
        by a nurse from a queue, to that queue at their place there."""
        sent_by = self._ticket(ticket.previous_id)
        if sent_by.state is not State.TRANSFERRED:
            return
        home = self.config.hospital.stage(sent_by.service)
        doctor = sent_by.teller or sent_by.doctor
        new_id = self._requeue(ticket, sent_by.service, None, False, now, doctor=doctor,
                               is_return=sent_by.teller is not None)
        if sent_by.teller is None or home is not None and home.returns == "place":
            self.db.execute("UPDATE tickets SET place = ? WHERE id = ?", (sent_by.place, new_id))
        self._log(now, "return", new_id, teller=doctor,
                  detail=f"back to {doctor or sent_by.service} from {ticket.service}")

    def _close(self, ticket_id: int, state: State, now: float) -> None:
        self.db.execute("UPDATE tickets SET state = ?, finished_at = ? WHERE id = ?",
                        (state.value, now, ticket_id))

    def _log(self, now: float, kind: str, ticket_id: int | None = None, *,
             service: str | None = None, counter: int | None = None, teller: str | None = None,
             detail: str | None = None) -> None:
        if ticket_id is not None and service is None:
            service = self.db.execute("SELECT service FROM tickets WHERE id = ?",
                                      (ticket_id,)).fetchone()[0]
        self.db.execute(
            "INSERT INTO events (at, kind, ticket_id, service, counter, teller, detail, by_user)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (now, kind, ticket_id, service, counter, teller, detail, self._actor))

    def _ticket(self, ticket_id: int) -> Ticket:
        return self._row_ticket(self.db.execute("SELECT * FROM tickets WHERE id = ?",
                                                (ticket_id,)).fetchone())

    @staticmethod
    def _row_ticket(row: sqlite3.Row) -> Ticket:
        values = dict(row)
        del values["number"]
        values["state"] = State(values["state"])
        values["vip"] = bool(values["vip"])
        values["is_return"] = bool(values["is_return"])
        return Ticket(**values)
