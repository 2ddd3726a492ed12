"""A ticket's life: numbering, recalls and no-shows, serving, transfers, cancelling."""

import pytest

from conftest import at, logged_in
from queue_core.errors import ServiceFull
from queue_core.model import State


def states(hall, day="2026-11-23"):
    return [(t.label, t.service, t.state) for t in hall.tickets(day)]


def test_numbers_restart_every_business_day_and_earlier_days_stay(hall):
    assert [hall.issue("A", at(9, m)).ticket.label for m in range(3)] == ["A001", "A002", "A003"]
    assert hall.issue("B", at(9, 5)).ticket.label == "B001"
    assert hall.issue("A", at(8, day=24)).ticket.label == "A001"
    assert len(hall.tickets("2026-11-23")) == 4


def test_people_ahead_counts_those_waiting_in_the_same_service(hall):
    logged_in(hall, 1)
    hall.issue("A", at(9, 0))
    hall.issue("A", at(9, 1))
    hall.issue("B", at(9, 2))
    hall.call_next(1, at(9, 3))
    assert hall.issue("A", at(9, 4)).ahead == 1
    assert hall.issue("A", at(9, 5), vip=True).ahead == 0


def test_a_service_stops_at_its_daily_cap_and_its_last_number(hall):
    for m in range(3):
        hall.issue("C", at(9, m))
    with pytest.raises(ServiceFull, match="daily cap 3"):
        hall.issue("C", at(9, 5))
    assert hall.issue("C", at(9, day=24)).ticket.label == "C1"


def test_recalls_then_a_no_show(hall):
    logged_in(hall, 1)
    hall.issue("A", at(9))
    hall.call_next(1, at(9, 1))
    assert hall.recall(1, at(9, 2)).recalls == 1
    assert hall.recall(1, at(9, 3)).recalls == 2
    ticket = hall.recall(1, at(9, 4))  # a third recall is past max_recalls=2
    assert (ticket.state, ticket.last_called_at, ticket.finished_at) == \
        (State.NO_SHOW, at(9, 3), at(9, 4))
    kinds = [r[0] for r in hall.db.execute("SELECT kind FROM events WHERE ticket_id = ?",
                                           (ticket.id,))]
    assert kinds == ["issue", "call", "recall", "recall", "no_show"]


def test_skip_makes_a_no_show_and_frees_the_counter(hall):
    logged_in(hall, 1)
    hall.issue("A", at(9))
    hall.issue("A", at(9, 1))
    hall.call_next(1, at(9, 2))
    hall.skip(1, at(9, 3))
    assert hall.call_next(1, at(9, 4)).label == "A002"
    assert states(hall)[0] == ("A001", "A", State.NO_SHOW)


def test_serving_times_are_kept(hall):
    logged_in(hall, 1)
    hall.issue("A", at(9))
    hall.call_next(1, at(9, 10))
    hall.start(1, at(9, 11))
    ticket = hall.finish(1, at(9, 20))
    assert (ticket.issued_at, ticket.called_at, ticket.started_at, ticket.finished_at) == \
        (at(9), at(9, 10), at(9, 11), at(9, 20))
    assert ticket.state is State.DONE and ticket.teller == "T1" and ticket.counter == 1


def test_finishing_a_called_ticket_counts_service_from_its_last_call(hall):
    logged_in(hall, 1)
    hall.issue("A", at(9))
    hall.call_next(1, at(9, 10))
    hall.recall(1, at(9, 12))
    assert hall.finish(1, at(9, 20)).started_at == at(9, 12)


def test_transfer_keeps_the_place_by_original_issue_time(hall):
    logged_in(hall, 2, 3)
    hall.issue("A", at(9, 0))
    hall.issue("B", at(9, 1))
    hall.issue("B", at(9, 2))
    hall.call_next(2, at(9, 5))  # A001
    moved = hall.transfer(2, at(9, 6), service="B")
    assert (moved.label, moved.service, moved.state, moved.queued_at) == \
        ("A001", "B", State.WAITING, at(9, 0))
    assert hall.call_next(3, at(9, 7)).label == "A001"
    assert states(hall) == [("A001", "A", State.TRANSFERRED), ("B001", "B", State.WAITING),
                            ("B002", "B", State.WAITING), ("A001", "B", State.CALLED)]


def test_transfer_to_the_back_of_the_queue(hall):
    logged_in(hall, 2, 3)
    hall.issue("A", at(9, 0))
    hall.issue("B", at(9, 1))
    hall.call_next(2, at(9, 5))
    hall.transfer(2, at(9, 6), service="B", keep_place=False)
    assert [hall.call_next(3, at(9, m)).label for m in (7, 8)] == ["B001", "A001"]


def test_a_transferred_ticket_is_finished_at_its_new_counter(hall):
    logged_in(hall, 3, 4)
    hall.issue("C", at(9))
    hall.call_next(4, at(9, 1))
    hall.start(4, at(9, 2))
    hall.transfer(4, at(9, 3), to_counter=3)
    hall.call_next(3, at(9, 4))
    ticket = hall.finish(3, at(9, 9))
    assert (ticket.label, ticket.counter, ticket.state, ticket.issued_at) == \
        ("C1", 3, State.DONE, at(9))


def test_cancel_takes_a_waiting_ticket_out(hall):
    logged_in(hall, 1)
    hall.issue("A", at(9))
    hall.issue("A", at(9, 1))
    hall.cancel("A001", at(9, 2))
    assert hall.call_next(1, at(9, 3)).label == "A002"
    assert hall.status(at(9, 4)).waiting["A"] == 0


def test_status_shows_counters_waiting_and_last_calls(hall):
    logged_in(hall, 1, 3)
    hall.issue("A", at(9))
    hall.issue("B", at(9, 1))
    hall.issue("B", at(9, 2))
    hall.call_next(1, at(9, 3))
    hall.call_next(3, at(9, 4))
    hall.pause(3, at(9, 5))
    status = hall.status(at(9, 6))
    assert status.waiting == {"A": 0, "B": 1, "C": 0}
    assert [(c.number, c.teller, c.paused, c.current and c.current.label)
            for c in status.counters] == \
        [(1, "T1", False, "A001"), (2, None, False, None), (3, "T3", True, "B001"),
         (4, None, False, None)]
    assert [t.label for t in status.last_calls] == ["B001", "A001"]


def test_a_ticket_can_be_moved_to_another_service_at_its_own_counter(hall):
    logged_in(hall, 3)
    hall.issue("B", at(9, 0))
    hall.issue("A", at(9, 1))
    hall.call_next(3, at(9, 2))                                   # B001
    moved = hall.transfer(3, at(9, 3), service="A", to_counter=3)
    assert (moved.label, moved.service, moved.target_counter) == ("B001", "A", 3)
    assert hall.call_next(3, at(9, 4)).label == "B001"            # sent to this counter: first
