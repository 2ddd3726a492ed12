"""The end of a business day: the old day's waiting tickets expire, a clock not yet set holds
the day, and tickets taken before the clock was set are not lost when it is."""

import asyncio

from conftest import at, logged_in
from hallday import Clock, wire
from queue_core import statistics
from queue_core.model import State


def test_at_the_turn_the_old_days_waiting_tickets_expire_and_are_counted(hall):
    logged_in(hall, 1, now=at(9))
    assert hall.turn_day(at(8)) is None                   # a new database: the day is set
    for minute in range(3):
        hall.issue("A", at(20, minute))
    hall.call_next(1, at(20, 5))                         # A001 is at the counter
    assert hall.turn_day(at(23, 59)) is None             # the same day: it stands
    assert hall.turn_day(at(0, 1, day=24)) == ("2026-11-24", 2, 0)
    assert [(t.label, t.state) for t in hall.tickets("2026-11-23")] == [
        ("A001", State.CALLED), ("A002", State.EXPIRED), ("A003", State.EXPIRED)]
    assert hall.issue("A", at(0, 2, day=24)).ticket.label == "A001"   # numbers restart
    assert hall.turn_day(at(23, day=23)) is None         # a clock stepped back: never back
    figures = statistics.figures(hall.db, "2026-11-23", "2026-11-23")["service"]["A"]
    assert (figures.expired, figures.waiting) == (2, 0)
    assert hall.db.execute("SELECT COUNT(*) FROM events WHERE kind = 'expire'"
                           ).fetchone()[0] == 2


def test_a_ticket_at_the_counter_when_the_day_turns_is_served_and_can_move_on(hall):
    logged_in(hall, 1, 3, now=at(9))
    hall.turn_day(at(9))
    hall.issue("A", at(23, 50))
    hall.call_next(1, at(23, 55))
    hall.turn_day(at(0, 1, day=24))
    hall.transfer(1, at(0, 5, day=24), service="B")      # after the turn: in today's queue
    assert hall.call_next(3, at(0, 6, day=24)).label == "A001"


def run(app, day, clock, steps):
    """Run the loop; each step is (seconds later, trusted?, console lines)."""
    async def hall():
        running = asyncio.create_task(app.run())
        for later, trusted, lines in steps:
            clock.now += later
            app.clock_trusted = lambda trusted=trusted: trusted
            for line in lines:
                day.devices.console.feed(line, app.inbox.post)
            await asyncio.sleep(1.2)                      # a check of the day comes round
        app.stop()
        await running
    asyncio.run(hall())
    day.devices.close()


def test_a_clock_not_yet_set_holds_the_day_and_loses_no_ticket_taken_meanwhile(tmp_path):
    """Yesterday the box closed normally. Today it boots with yesterday's clock (no real-time
    clock), tickets are taken, and only then NTP sets the clock."""
    clock = Clock(at(18), step=0)
    app, day = wire(tmp_path, clock=clock)
    run(app, day, clock, [(0, True, ["A", "A"])])         # yesterday: two left waiting
    clock = Clock(at(18, 30), step=0)                     # booted, the clock from last night
    app, day = wire(tmp_path, clock=clock)
    app.clock_trusted = lambda: False
    run(app, day, clock, [(0, False, ["A", "1 login T01 1111"]),
                          (16 * 3600, True, ["A", "1 call", "waiting"])])   # NTP: morning
    printed = day.printed
    assert "[office] business day 2026-11-24 begins: 2 waiting tickets of earlier days" \
        " expired, 1 taken before the clock was set go on today" in printed
    assert "[counter 1] A003 CALLED" in printed           # the morning's first customer
    assert "ticket A004" in printed                       # and numbering goes on after it
    tickets = {(t.day, t.label): t.state for t in day.hall.tickets("2026-11-23")}
    assert tickets == {("2026-11-23", "A001"): State.EXPIRED,
                       ("2026-11-23", "A002"): State.EXPIRED}


def test_the_back_office_hears_once_that_the_clock_is_not_set(tmp_path):
    clock = Clock(at(18), step=0)
    app, day = wire(tmp_path, clock=clock)
    run(app, day, clock, [(0, True, ["A"])])
    clock = Clock(at(9, day=24), step=0)                  # the clock says tomorrow, unsynced
    app, day = wire(tmp_path, clock=clock)
    app.clock_trusted = lambda: False
    run(app, day, clock, [(0, False, ["B"]), (60, False, ["status"])])
    assert day.printed.count("[office] CLOCK NOT SET: the business day stays 2026-11-23") == 1
    assert "clock: NOT SET (business day held at 2026-11-23)" in day.printed
    assert [t.label for t in day.hall.tickets("2026-11-23")] == ["A001", "B001"]
