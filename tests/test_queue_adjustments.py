"""The back office adjusts the queue: moves, priority, transfers, closed services, who did it."""

import random

import pytest

from conftest import CONFIG, at, dump, logged_in
from queue_core import Hall, errors, open_database
from queue_core.model import State
from queue_core.statistics import figures

DAY = "2026-11-23"


def order(hall, service="A"):
    return [t.label for t in hall.waiting(at(10))[service]]


def issued(hall, service, count, vip=False, minute=0):
    for n in range(count):
        hall.issue(service, at(9, minute + n), vip=vip)


def events(hall, *kinds):
    marks = ", ".join("?" * len(kinds))
    return [tuple(r) for r in hall.db.execute(
        f"SELECT kind, service, detail, by_user FROM events WHERE kind IN ({marks}) ORDER BY id",
        kinds)]


def test_moves_change_the_order_the_back_office_sees_and_the_counters_call(hall):
    logged_in(hall, 1)
    issued(hall, "A", 5)                                   # A001 … A005
    hall.move("A004", at(9, 10), "up")
    assert order(hall) == ["A001", "A002", "A004", "A003", "A005"]
    hall.move("A001", at(9, 11), "down")
    assert order(hall) == ["A002", "A001", "A004", "A003", "A005"]
    hall.move("A005", at(9, 12), "front")
    assert order(hall) == ["A005", "A002", "A001", "A004", "A003"]
    hall.move("A002", at(9, 13), "back")
    assert order(hall) == ["A005", "A001", "A004", "A003", "A002"]
    hall.issue("A", at(9, 14))                             # a new ticket still joins the back
    assert [hall.call_next(1, at(10, n)).label for n in range(6)] == \
        ["A005", "A001", "A004", "A003", "A002", "A006"]
    assert [e[2] for e in events(hall, "move")] == ["up", "down", "front", "back"]


def test_a_move_never_crosses_a_group(hall):
    """Those sent to a counter first, then priority tickets, then the others: a ticket moves
    only among its own."""
    logged_in(hall, 1, 3)
    hall.issue("B", at(9, 0))
    hall.call_next(3, at(9, 1))
    hall.transfer(3, at(9, 2), to_counter=1, service="A")  # B001, sent to counter 1
    issued(hall, "A", 2, minute=3)                          # A001, A002
    issued(hall, "A", 2, vip=True, minute=5)                # A003, A004: priority
    assert order(hall) == ["B001", "A003", "A004", "A001", "A002"]
    hall.move("A002", at(9, 10), "front")
    hall.move("A003", at(9, 11), "back")
    hall.move("A004", at(9, 12), "up")                      # top of the priority tickets
    hall.move("B001", at(9, 13), "down")                    # alone in its group
    assert order(hall) == ["B001", "A004", "A003", "A002", "A001"]
    assert [e[2] for e in events(hall, "move")] == ["front", "back"]   # the rest did nothing
    assert [hall.call_next(1, at(10, n)).label for n in range(5)] == \
        ["B001", "A004", "A003", "A002", "A001"]


def test_random_moves_keep_every_place_unique_and_the_order_as_asked(hall):
    rng = random.Random(7)
    issued(hall, "A", 12)
    expected = order(hall)
    for n in range(60):
        label, where = rng.choice(expected), rng.choice(["up", "down", "front", "back"])
        hall.move(label, at(9, 30, n), where)
        here = expected.index(label)
        expected.remove(label)
        expected.insert({"up": max(here - 1, 0), "down": min(here + 1, len(expected)),
                         "front": 0, "back": len(expected)}[where], label)
        assert order(hall) == expected
    places = [t.place for t in hall.waiting(at(10))["A"]]
    assert len(set(places)) == len(places)


def test_a_ticket_made_priority_goes_before_the_others_after_earlier_priority_ones(hall):
    logged_in(hall, 1)
    issued(hall, "A", 3)                                    # A001 … A003
    hall.issue("A", at(9, 5), vip=True)                     # A004
    ticket = hall.prioritise("A002", at(9, 6))
    assert ticket.vip and order(hall) == ["A002", "A004", "A001", "A003"]
    with pytest.raises(errors.WrongState, match="A002 is a priority ticket already"):
        hall.prioritise("A002", at(9, 7))
    assert hall.call_next(1, at(10)).label == "A002"
    assert events(hall, "prioritise") == [("prioritise", "A", None, None)]


def test_a_waiting_ticket_transferred_keeps_its_place_or_goes_to_the_back(hall):
    logged_in(hall, 3)
    for minute, service in enumerate("BABA"):               # B001 A001 B002 A002
        hall.issue(service, at(9, minute))
    kept = hall.transfer_waiting("A001", at(9, 5), "B")
    assert (kept.service, kept.state, kept.queued_at, kept.label) == \
        ("B", State.WAITING, at(9, 1), "A001")
    assert order(hall, "B") == ["B001", "A001", "B002"]
    hall.transfer_waiting("A002", at(9, 6), "B", keep_place=False)
    hall.issue("B", at(9, 7))
    assert order(hall, "B") == ["B001", "A001", "B002", "A002", "B003"] and order(hall) == []
    assert [hall.call_next(3, at(10, n)).label for n in range(5)] == \
        ["B001", "A001", "B002", "A002", "B003"]
    transferred = [t for t in hall.tickets(DAY) if t.state is State.TRANSFERRED]
    assert [(t.label, t.service, t.counter) for t in transferred] == \
        [("A001", "A", None), ("A002", "A", None)]
    assert [e[2] for e in events(hall, "transfer")] == ["to B", "to B"]


def test_a_closed_service_refuses_tickets_counts_them_and_issues_again_when_opened(hall, db_path):
    logged_in(hall, 3)
    issued(hall, "B", 2)
    hall.close_service("B", at(9, 5))
    assert hall.status(at(9, 5)).closed == {"B"}
    for second in range(3):
        with pytest.raises(errors.ServiceClosed, match="service B is closed") as refused:
            hall.issue("B", at(9, 6, second))
        assert refused.value.display == "SERVICE CLOSED"
    assert hall.call_next(3, at(9, 7)).label == "B001"      # those waiting are still called
    hall.db.close()

    hall = Hall(open_database(db_path), CONFIG)              # closed it stays
    assert hall.status(at(9, 8)).closed == {"B"}
    hall.open_service("B", at(9, 9))
    assert hall.issue("B", at(9, 10)).ticket.label == "B003"
    assert hall.status(at(9, 10)).closed == frozenset()
    b = figures(hall.db, DAY, DAY, today=DAY)["service"]["B"]
    assert (b.issued, b.refused, b.waiting) == (3, 3, 2)
    assert figures(hall.db, DAY, DAY)["counter"][3].refused == 0
    assert events(hall, "close", "refused", "open") == \
        [("close", "B", None, None)] + [("refused", "B", "closed", None)] * 3 + \
        [("open", "B", None, None)]
    hall.db.close()


def test_the_actor_is_recorded_inside_acting_as_and_nowhere_else(hall):
    logged_in(hall, 1)
    issued(hall, "A", 3)
    with hall.acting_as("alice"):
        hall.move("A003", at(9, 10), "front")
        with hall.acting_as("bob"):
            hall.prioritise("A002", at(9, 11))
        assert hall.actor == "alice"
        hall.close_service("C", at(9, 12))
        with pytest.raises(errors.ServiceClosed):
            hall.issue("C", at(9, 13))
    with pytest.raises(RuntimeError):
        with hall.acting_as("carol"):
            raise RuntimeError("the request failed")
    hall.call_next(1, at(9, 14))
    assert hall.actor is None
    rows = [tuple(r) for r in hall.db.execute(
        "SELECT kind, teller, by_user FROM events WHERE at > ? ORDER BY id", (at(9, 9),))]
    assert rows == [("move", None, "alice"), ("prioritise", None, "bob"),
                    ("close", None, "alice"), ("refused", None, "alice"),
                    ("call", "T1", None)]


@pytest.fixture
def morning(hall):
    """A001 and A002 waiting, A003 called at counter 1, B001 waiting, C closed; yesterday's
    A001 still waiting."""
    hall.issue("A", at(17, day=22))
    logged_in(hall, 1)
    issued(hall, "A", 3)
    hall.move("A003", at(9, 4), "front")
    hall.call_next(1, at(9, 5))
    hall.issue("B", at(9, 6))
    hall.close_service("C", at(9, 7))
    return hall


REFUSED = [
    ("move an unknown ticket", lambda h: h.move("A099", at(10), "up"), errors.UnknownTicket,
     "no ticket 'A099' today"),
    ("move a called ticket", lambda h: h.move("A003", at(10), "down"), errors.WrongState,
     "A003 is called"),
    ("move sideways", lambda h: h.move("A001", at(10), "left"), errors.WrongState,
     "no move 'left'"),
    ("prioritise a called ticket", lambda h: h.prioritise("A003", at(10)), errors.WrongState,
     "A003 is called"),
    ("transfer to an unknown service", lambda h: h.transfer_waiting("A001", at(10), "Q"),
     errors.UnknownService, "no service 'Q'"),
    ("transfer to its own queue", lambda h: h.transfer_waiting("A001", at(10), "A"),
     errors.WrongState, "already in that queue"),
    ("transfer an unknown ticket", lambda h: h.transfer_waiting("B002", at(10), "A"),
     errors.UnknownTicket, "no ticket 'B002'"),
    ("close an unknown service", lambda h: h.close_service("Q", at(10)), errors.UnknownService,
     "no service 'Q'"),
    ("close a closed service", lambda h: h.close_service("C", at(10)), errors.WrongState,
     "service C is closed already"),
    ("open an open service", lambda h: h.open_service("A", at(10)), errors.WrongState,
     "service A is open already"),
]


@pytest.mark.parametrize("what, operation, error, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_refused_adjustment_changes_nothing(morning, what, operation, error, message):
    before = dump(morning)
    with pytest.raises(error, match=message):
        with morning.acting_as("alice"):
            operation(morning)
    assert dump(morning) == before


def test_only_todays_ticket_of_a_number_is_adjusted(morning):
    """Yesterday's A001 still waits (the day has not turned yet): today's A001 is the one."""
    yesterday = morning.tickets("2026-11-22")
    morning.move("A001", at(10), "back")
    assert order(morning) == ["A002", "A001"] and morning.tickets("2026-11-22") == yesterday
