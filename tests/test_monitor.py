"""The back office's live monitor and queue pages, read through a read-only connection."""

import dataclasses
import json

import pytest

from conftest import CONFIG, at, logged_in
from queue_core import Hall, open_database
from queue_core.monitor import monitor, queue
from queue_core.storage import read_only

STANDARDS = dataclasses.replace(CONFIG, services=(
    dataclasses.replace(CONFIG.services[0], alarm_wait=10, alarm_queue=2),
    *CONFIG.services[1:]))


@pytest.fixture
def morning(db_path):
    """Counter 1 idle, counter 2 paused, counter 3 serving B002 since 9:16, counter 4 closed;
    A001, A002 and A003 waiting since 9:01, 9:05 and 9:12; service C closed."""
    hall = logged_in(Hall(open_database(db_path), STANDARDS), 1, 2, 3)
    hall.pause(2, at(9))
    for service, minute in (("B", 0), ("A", 1), ("A", 5), ("A", 12), ("B", 13)):
        hall.issue(service, at(9, minute))
    hall.call_next(3, at(9, 2))          # B001, served 4 minutes
    hall.start(3, at(9, 3))
    hall.finish(3, at(9, 7))
    hall.call_next(3, at(9, 14))         # B002
    hall.start(3, at(9, 16))
    hall.close_service("C", at(9, 15))
    yield hall
    hall.db.close()


@pytest.fixture
def page(db_path):
    """The page a read-only connection gets, at a given time."""
    db = read_only(db_path)
    yield lambda read, now: read(db, STANDARDS, now)
    assert db.row_factory is None     # given back as it came
    db.close()


def test_the_monitor_shows_each_queue_and_each_counter_with_their_alarms(morning, page):
    shown = page(monitor, at(9, 21))
    assert json.loads(json.dumps(shown)) == shown
    assert shown["day"] == "2026-11-23" and shown["last_event"] == morning.last_event()
    a, b, c = shown["services"]
    assert a == {"prefix": "A", "name_en": "Personal", "name_zh": "个人", "waiting": 3,
                 "longest_wait": 20 * 60.0,
                 "estimate": 3 * 300 / 2,     # no A visit finished yet; counters 1 and 3 open
                 "closed": False,
                 "alarms": ["waited 20 min, more than 10", "3 waiting, more than 2"]}
    assert (b["waiting"], b["longest_wait"], b["estimate"], b["alarms"]) == (0, None, 0.0, [])
    assert (c["closed"], c["estimate"]) == (True, None)       # and nobody at counter 4
    morning.close_service("B", at(9, 21))
    b = page(monitor, at(9, 21))["services"][1]
    assert (b["closed"], b["estimate"]) == (True, None)       # it takes no ticket
    counters = {c["number"]: c for c in shown["counters"]}
    assert counters[1] == {"number": 1, "name": "Counter 1", "teller": "T1", "paused": False,
                           "ticket": None, "state": None, "since": None, "waiting": 3,
                           "alarms": ["idle with 3 waiting"]}
    assert (counters[2]["paused"], counters[2]["alarms"]) == (True, [])
    assert {k: counters[3][k] for k in ("ticket", "state", "since", "alarms")} == \
        {"ticket": "B002", "state": "serving", "since": 300.0, "alarms": []}
    assert (counters[4]["teller"], counters[4]["waiting"], counters[4]["alarms"]) == \
        (None, 3, [])


def test_an_alarm_goes_off_only_past_its_standard(morning, page):
    a = page(monitor, at(9, 11))["services"][0]           # A001 has waited exactly 10 minutes
    assert a["alarms"] == ["3 waiting, more than 2"]
    morning.call_next(1, at(9, 12))
    shown = page(monitor, at(9, 30))
    assert shown["services"][0]["alarms"] == ["waited 25 min, more than 10"]
    called = shown["counters"][0]
    assert (called["ticket"], called["state"], called["since"], called["alarms"]) == \
        ("A001", "called", 18 * 60.0, [])
    morning.call_next(1, at(9, 31))                        # A002: A003 has waited 19 minutes
    assert page(monitor, at(9, 31))["services"][0]["alarms"] == ["waited 19 min, more than 10"]


def test_an_idle_counter_with_nobody_to_call_is_no_alarm(morning, page):
    for minute in range(3):
        morning.call_next(1, at(9, 20 + minute))
    morning.finish(1, at(9, 25))
    counter = page(monitor, at(9, 30))["counters"][0]
    assert (counter["ticket"], counter["waiting"], counter["alarms"]) == (None, 0, [])


def test_the_queue_page_lists_the_waiting_in_calling_order(morning, page):
    morning.move("A003", at(9, 17), "front")
    morning.prioritise("A002", at(9, 18))
    shown = page(queue, at(9, 21))
    assert json.loads(json.dumps(shown)) == shown
    assert shown["services"] == {"A": [
        {"label": "A002", "service": "A", "vip": True, "waited": 16 * 60.0,
         "target_counter": None},
        {"label": "A003", "service": "A", "vip": False, "waited": 9 * 60.0,
         "target_counter": None},
        {"label": "A001", "service": "A", "vip": False, "waited": 20 * 60.0,
         "target_counter": None}], "B": [], "C": []}
    assert (shown["day"], shown["last_event"]) == ("2026-11-23", morning.last_event())


def test_the_queue_page_shows_a_ticket_sent_to_a_counter_first(morning, page):
    morning.transfer(3, at(9, 20), service="A", to_counter=1)          # B002
    assert [(t["label"], t["target_counter"]) for t in page(queue, at(9, 21))["services"]["A"]] \
        == [("B002", 1), ("A001", None), ("A002", None), ("A003", None)]
