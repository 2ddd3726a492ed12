"""A new configuration mid-day: the hall refuses one that would orphan anyone, logs out tellers
it no longer lists, and keeps every service's numbers in its range."""

from dataclasses import replace

import pytest

from config import ConfigError, load_config
from conftest import CONFIG, at, logged_in
from queue_core import errors


def without_counter(number):
    return replace(CONFIG, counters=tuple(c for c in CONFIG.counters if c.number != number))


def test_a_counter_a_ticket_was_sent_to_cannot_go(hall):
    logged_in(hall, 1)
    hall.issue("A", at(9))
    hall.call_next(1, at(9, 1))
    hall.transfer(1, at(9, 2), to_counter=3)
    with pytest.raises(errors.ReconfigurationRefused, match="counter 3 is gone but 1 were sent"):
        hall.reconfigure(without_counter(3), at(9, 3))
    assert hall.config is CONFIG


def test_a_service_people_wait_for_must_stay_served(hall):
    hall.issue("B", at(9))
    nobody_serves_b = replace(CONFIG, counters=tuple(
        replace(c, services=tuple(s for s in c.services if s != "B")) for c in CONFIG.counters))
    with pytest.raises(errors.ReconfigurationRefused, match="no counter serves B but 1 wait"):
        hall.reconfigure(nobody_serves_b, at(9, 1))
    logged_in(hall, 2, now=at(9, 2))
    hall.call_next(2, at(9, 3))                                  # B001 is served
    assert hall.reconfigure(nobody_serves_b, at(9, 4)) == []


def test_a_teller_no_longer_listed_is_logged_out_or_the_change_waits_for_the_customer(hall):
    logged_in(hall, 1, 2)
    hall.issue("A", at(9))
    hall.call_next(1, at(9, 1))
    without_t1_t2 = replace(CONFIG, tellers=CONFIG.tellers[2:])
    refusal = "teller T1 is gone but serves a customer at counter 1"
    with pytest.raises(errors.ReconfigurationRefused, match=refusal):
        hall.reconfigure(without_t1_t2, at(9, 2))
    hall.finish(1, at(9, 3))
    assert hall.reconfigure(without_t1_t2, at(9, 4)) == [
        "teller T1 logged out at counter 1: no longer configured",
        "teller T2 logged out at counter 2: no longer configured"]
    assert [c.teller for c in hall.status(at(9, 5)).counters] == [None] * 4
    assert hall.db.execute("SELECT COUNT(*) FROM events WHERE kind = 'logout'"
                           " AND detail = 'no longer configured'").fetchone()[0] == 2


def test_numbers_stay_in_a_range_changed_during_the_day(hall):
    for minute in range(3):
        hall.issue("A", at(9, minute))                                # A001..A003
    moved = replace(CONFIG, services=(replace(CONFIG.services[0], first=500),
                                      *CONFIG.services[1:]))
    hall.reconfigure(moved, at(10))
    assert hall.issue("A", at(10, 1)).ticket.label == "A500"
    shrunk = replace(CONFIG, services=(replace(CONFIG.services[0], last=400),
                                       *CONFIG.services[1:]))
    hall.reconfigure(shrunk, at(10, 2))
    with pytest.raises(errors.ServiceFull, match="numbers up to 400 used"):
        hall.issue("A", at(10, 3))


def test_a_daily_cap_lowered_during_the_day_counts_what_was_issued(hall):
    for minute in range(3):
        hall.issue("B", at(9, minute))
    b = replace(CONFIG.services[1], first=100, daily_cap=4)
    capped = replace(CONFIG, services=(CONFIG.services[0], b, CONFIG.services[2]))
    hall.reconfigure(capped, at(10))
    assert hall.issue("B", at(10, 1)).ticket.label == "B100"
    with pytest.raises(errors.ServiceFull, match="daily cap 4 reached"):
        hall.issue("B", at(10, 2))
    assert "B" in hall.full_services(at(10, 3))


def test_a_configuration_with_a_service_no_counter_serves_is_refused(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text('[hall]\nname = "x"\n[[service]]\nprefix = "A"\nname_en = "a"\n'
                    'name_zh = "a"\n[[service]]\nprefix = "B"\nname_en = "b"\nname_zh = "b"\n'
                    '[[counter]]\nnumber = 1\nname = "1"\nservices = ["A"]\n')
    with pytest.raises(ConfigError, match=r"\[\[service\]\] 'B' is served by no \[\[counter\]\]"):
        load_config(path)
