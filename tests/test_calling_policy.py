"""Who a counter calls next: transfers to it, VIPs, then its services in order; oldest first."""

import pytest

from conftest import at, logged_in
from queue_core import statistics
from queue_core.errors import CounterPaused
from queue_core.model import State


def labels_called(hall, counter, times):
    return [hall.call_next(counter, at(10, minute)).label for minute in range(times)]


def test_a_counter_serves_its_first_service_before_its_second(hall):
    logged_in(hall, 3)
    hall.issue("A", at(9, 0))
    hall.issue("B", at(9, 1))
    hall.issue("A", at(9, 2))
    hall.issue("B", at(9, 3))
    assert labels_called(hall, 3, 4) == ["B001", "B002", "A001", "A002"]


def test_tickets_are_called_oldest_first_within_a_service(hall):
    logged_in(hall, 1, 2)
    for minute in range(4):
        hall.issue("A", at(9, minute))
    assert hall.call_next(2, at(10)).label == "A001"
    assert hall.call_next(1, at(10, 1)).label == "A002"
    assert hall.call_next(2, at(10, 2)).label == "A003"


def test_vip_tickets_go_first_and_keep_their_order(hall):
    logged_in(hall, 2)
    hall.issue("A", at(9, 0))
    hall.issue("B", at(9, 1), vip=True)
    hall.issue("A", at(9, 2), vip=True)
    # VIPs first, among them the counter's first service first.
    assert labels_called(hall, 2, 3) == ["A002", "B001", "A001"]


def test_a_ticket_transferred_to_a_counter_is_called_there_first(hall):
    logged_in(hall, 1, 3)
    hall.issue("A", at(9, 0))
    hall.issue("A", at(9, 1))
    hall.issue("B", at(9, 2))
    hall.call_next(3, at(9, 5))  # B001 at counter 3
    hall.transfer(3, at(9, 6), to_counter=1, service="A")
    assert labels_called(hall, 1, 3) == ["B001", "A001", "A002"]


def test_a_ticket_sent_to_one_counter_is_not_called_at_another(hall):
    logged_in(hall, 1, 2, 3)
    hall.issue("B", at(9, 0))
    hall.call_next(3, at(9, 1))
    hall.transfer(3, at(9, 2), to_counter=1)
    assert hall.call_next(2, at(9, 3)) is None
    assert hall.call_next(1, at(9, 4)).label == "B001"


def test_nobody_waiting_returns_no_ticket(hall):
    logged_in(hall, 4)
    hall.issue("B", at(9))
    assert hall.call_next(4, at(9, 1)) is None


def test_calling_next_finishes_the_current_ticket(hall):
    logged_in(hall, 1)
    hall.issue("A", at(9, 0))
    hall.issue("A", at(9, 1))
    first = hall.call_next(1, at(9, 5))
    hall.call_next(1, at(9, 9))
    done = hall.tickets("2026-11-23")[0]
    assert (done.id, done.state, done.started_at, done.finished_at) == \
        (first.id, State.DONE, at(9, 5), at(9, 9))


def test_a_paused_counter_calls_nobody_until_resumed(hall):
    logged_in(hall, 1)
    hall.issue("A", at(9))
    hall.pause(1, at(9, 1))
    with pytest.raises(CounterPaused):
        hall.call_next(1, at(9, 2))
    hall.resume(1, at(9, 3))
    assert hall.call_next(1, at(9, 4)).label == "A001"


def test_yesterdays_waiting_tickets_are_not_called_today(hall):
    logged_in(hall, 1)
    hall.issue("A", at(17, day=22))
    assert hall.call_next(1, at(9, day=23)) is None


def test_arrival_order_holds_when_the_clock_steps_back(hall):
    """NTP steps a board's clock, sometimes by an hour: the queue is arrival order all the same,
    and no waiting or handling time comes out negative."""
    logged_in(hall, 1)
    hall.issue("A", at(10, 0))
    hall.issue("A", at(9, 5))           # the clock was stepped back an hour
    first = hall.call_next(1, at(9, 10))
    hall.finish(1, at(9, 8))            # and back again a little
    assert first.label == "A001"
    assert hall.call_next(1, at(9, 20)).label == "A002"
    figures = statistics.figures(hall.db, "2026-11-23", "2026-11-23")["service"]["A"]
    assert figures.longest_wait >= 0 and figures.average_wait >= 0
    assert figures.longest_handling == 0


def test_arrival_order_holds_for_a_transfer_keeping_its_place_and_one_sent_back(hall):
    logged_in(hall, 2, 3)
    hall.issue("A", at(9, 0))
    hall.issue("B", at(9, 1))
    hall.issue("A", at(9, 2))
    hall.call_next(2, at(9, 3))                                   # A001
    hall.transfer(2, at(8, 0), service="B")                       # (clock stepped back)
    hall.call_next(2, at(9, 4))                                   # A002
    hall.transfer(2, at(8, 1), service="B", keep_place=False)     # to the back
    hall.issue("B", at(8, 2))
    assert [hall.call_next(3, at(9, 10 + n)).label for n in range(4)] == \
        ["A001", "B001", "A002", "B002"]
