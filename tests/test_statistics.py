"""Statistics: what the back office reads per service, counter and teller, and the estimate."""

import random

import pytest

from conftest import at, logged_in
from queue_core import errors
from queue_core.statistics import daily, day_range, estimated_wait, figures, hourly, report

DAY = "2026-11-23"


def test_figures_per_service_counter_and_teller(hall):
    logged_in(hall, 1, 2)
    hall.issue("A", at(9, 0))           # waits 10 min, served 5 min at counter 1
    hall.issue("A", at(9, 1))           # waits 10 min, a no-show at counter 2
    hall.issue("B", at(9, 2))           # transferred to A, served 3 min at counter 2
    hall.issue("A", at(9, 3))           # still waiting
    hall.call_next(1, at(9, 10))
    hall.start(1, at(9, 10))
    hall.finish(1, at(9, 15))
    hall.call_next(2, at(9, 11))
    hall.skip(2, at(9, 12))
    hall.logout(2, at(9, 13))
    hall.login(3, at(9, 13), teller="T3", pin_ok=True)
    hall.call_next(3, at(9, 14))        # B001 waited 12 min in B
    hall.transfer(3, at(9, 15), to_counter=2, service="A")
    hall.login(2, at(9, 15), teller="T2", pin_ok=True)
    hall.call_next(2, at(9, 16))        # in A, keeping its place: 14 min since issued
    hall.start(2, at(9, 16))
    hall.finish(2, at(9, 19))
    hall.rate(2, at(9, 19, 30), rating=1)
    hall.rate(1, at(9, 15, 30), rating=3)

    report = figures(hall.db, DAY, DAY)
    by_service = report["service"]
    a, b = by_service["A"], by_service["B"]
    assert (a.issued, a.served, a.waiting, a.no_shows, a.transferred) == (3, 2, 1, 1, 0)
    assert (b.issued, b.served, b.transferred) == (1, 0, 1)
    assert a.longest_wait == 840 and a.average_wait == pytest.approx((600 + 600 + 840) / 3)
    assert (a.average_handling, a.longest_handling) == (240, 300)
    assert a.ratings == (1, 0, 1)
    by_teller = report["teller"]
    assert (by_teller["T2"].served, by_teller["T2"].no_shows, by_teller["T2"].ratings) == \
        (1, 1, (1, 0, 0))
    assert report["counter"][3].transferred == 1


def test_a_date_range_and_the_hourly_profile(hall):
    logged_in(hall, 1)
    for day in (22, 23):
        for hour in (9, 9, 14):
            hall.issue("A", at(hour, day=day))
        hall.call_next(1, at(15, day=day))
        hall.finish(1, at(15, 5, day=day))
    assert figures(hall.db, "2026-11-22", DAY)["service"]["A"].issued == 6
    assert figures(hall.db, DAY, DAY)["service"]["A"].issued == 3
    profile = hourly(hall.db, "2026-11-22", DAY, hall.config)
    assert profile[9] == (9, 4, 0) and profile[14] == (14, 2, 0) and profile[15] == (15, 0, 2)


def test_ratings_once_within_the_window(hall):
    logged_in(hall, 1)
    hall.issue("A", at(9))
    hall.call_next(1, at(9, 1))
    with pytest.raises(errors.NothingToRate, match="no visit finished"):
        hall.rate(1, at(9, 2), rating=2)          # not finished yet
    hall.finish(1, at(9, 5))
    assert hall.rate(1, at(9, 5, 20), rating=2).label == "A001"
    with pytest.raises(errors.NothingToRate, match="rated already"):
        hall.rate(1, at(9, 5, 30), rating=1)
    hall.issue("A", at(9, 6))
    hall.call_next(1, at(9, 7))
    hall.finish(1, at(9, 8))
    with pytest.raises(errors.NothingToRate, match="no visit finished in the last 60 s"):
        hall.rate(1, at(9, 10), rating=1)         # too late
    assert hall.db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 1


def test_the_estimate_follows_a_simulated_day(hall):
    """Two counters serve A, each visit 2.5 to 5.5 minutes; customers arrive in bursts. The
    estimate given with each ticket is compared with the wait that ticket then had."""
    rng = random.Random(3)
    logged_in(hall, 1, 2)
    busy_until = {1: None, 2: None}   # when each counter's current visit ends
    estimates = {}

    def serve_next(counter, t):
        busy_until[counter] = None
        if hall.call_next(counter, t) is not None:
            hall.start(counter, t)
            busy_until[counter] = t + rng.uniform(150, 330)

    now = at(9)
    for _ in range(80):
        now += rng.choice([20, 30, 60, 240])
        while ends := [(t, c) for c, t in busy_until.items() if t is not None and t <= now]:
            t, counter = min(ends)
            hall.finish(counter, t)
            serve_next(counter, t)
        issued = hall.issue("A", now)
        estimates[issued.ticket.id] = estimated_wait(hall.db, hall.config, "A", now)
        for counter, until in busy_until.items():
            if until is None:
                serve_next(counter, now)
    waits = dict(hall.db.execute("SELECT id, called_at - queued_at FROM tickets"
                                 " WHERE called_at IS NOT NULL AND called_at - queued_at > 60"))
    misses = [abs(estimates[i] - wait) for i, wait in waits.items()]
    assert len(misses) > 30
    # within a third of the typical wait, on average
    assert sum(misses) / len(misses) < sum(waits.values()) / len(waits) / 3


def test_no_estimate_while_no_counter_serves_the_service(hall):
    hall.issue("C", at(9))
    assert estimated_wait(hall.db, hall.config, "C", at(9, 1)) is None
    logged_in(hall, 4)
    assert estimated_wait(hall.db, hall.config, "C", at(9, 2)) == 300   # no history yet


@pytest.mark.parametrize("text, expected", [
    ("2026-11-23", ("2026-11-23", "2026-11-23")), ("2026-11", ("2026-11-01", "2026-11-30")),
    ("2028-02", ("2028-02-01", "2028-02-29")),
    ("2026-11-01..2026-11-23", ("2026-11-01", "2026-11-23")), ("today", (DAY, DAY)),
    ("yesterday", ("2026-11-22", "2026-11-22"))])
def test_day_ranges(text, expected):
    assert day_range(text, DAY) == expected


@pytest.mark.parametrize("text", ["2026-13", "2026-13-40", "3333", "last week", "2026-11-3",
                                  "..", "2026-11-01..x"])
def test_a_day_range_it_cannot_read_says_what_it_takes(text):
    with pytest.raises(ValueError, match=r"cannot read the days .*: give today, yesterday, a day"
                                         r" \(2026-11-23\), a month"):
        day_range(text, DAY)


def test_a_reversed_range_is_refused_not_shown_empty():
    with pytest.raises(ValueError, match="ends before it starts"):
        day_range("2026-11-23..2026-11-01", DAY)


def test_waiting_over_a_month_counts_those_waiting_now(hall):
    hall.issue("A", at(9))
    month = figures(hall.db, "2026-11-01", "2026-11-30", today=DAY)["service"]["A"]
    assert month.waiting == 1


def test_daily_summary(hall):
    logged_in(hall, 1)
    for day in (21, 22):
        hall.issue("A", at(9, day=day))
        hall.issue("B", at(9, day=day))
        hall.call_next(1, at(10, day=day))
        hall.finish(1, at(10, 5, day=day))
    rows = {(day, key): f for day, key, f in daily(hall.db, "2026-11-21", DAY)["service"]}
    assert sorted(rows) == [("2026-11-21", "A"), ("2026-11-21", "B"), ("2026-11-22", "A"),
                            ("2026-11-22", "B")]
    assert (rows["2026-11-22", "A"].served, rows["2026-11-22", "B"].waiting) == (1, 1)


def test_a_rating_belongs_to_the_visit_the_keypad_showed_finished(hall):
    logged_in(hall, 1)
    for minute in range(2):
        hall.issue("A", at(9, minute))
    hall.call_next(1, at(9, 2))
    hall.finish(1, at(9, 3))                      # A001 finished: its customer may rate
    hall.call_next(1, at(9, 3, 10))               # A002 called: A001's rating closes
    with pytest.raises(errors.NothingToRate, match="before the next call"):
        hall.rate(1, at(9, 3, 20), rating=3)
    hall.finish(1, at(9, 3, 30))
    assert hall.rate(1, at(9, 3, 40), rating=1).label == "A002"
    assert [tuple(r) for r in hall.db.execute("SELECT ticket_id FROM ratings")] == [(2,)]


def test_presses_refused_while_a_service_is_closed_are_counted_on_their_day(hall, db_path):
    for day in (22, 23):
        hall.issue("B", at(9, day=day))
        hall.close_service("B", at(12, day=day))
        for minute in range(day - 20):                  # 2 presses on the 22nd, 3 on the 23rd
            with pytest.raises(errors.ServiceClosed):
                hall.issue("B", at(13, minute, day=day))
        hall.open_service("B", at(17, day=day))
    hall.close_service("C", at(10))
    with pytest.raises(errors.ServiceClosed):
        hall.issue("C", at(10, 1))                       # C refused, never issued today
    b = figures(hall.db, "2026-11-22", DAY)["service"]["B"]
    assert (b.issued, b.refused) == (2, 5)
    c = figures(hall.db, DAY, DAY)["service"]["C"]
    assert (c.issued, c.served, c.waiting, c.refused, c.average_wait, c.ratings) == \
        (0, 0, 0, 1, None, (0, 0, 0))
    rows = {(day, key): f.refused for day, key, f in daily(hall.db, "2026-11-22", DAY)["service"]}
    assert rows == {("2026-11-22", "B"): 2, (DAY, "B"): 3, (DAY, "C"): 1}
    assert report(db_path, DAY, DAY, hall.config, at(18))[0]["service"]["B"].refused == 3
