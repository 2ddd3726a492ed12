"""A refused operation raises a clear error and leaves the database exactly as it was."""

import pytest

from conftest import at, dump, logged_in
from queue_core import errors


@pytest.fixture
def busy_hall(hall):
    """Counter 1 serving A001, counter 3 has B001 called, counter 4 idle, counter 2 closed;
    A002 waiting."""
    logged_in(hall, 1, 3, 4)
    for service, minute in (("A", 0), ("B", 1), ("A", 2)):
        hall.issue(service, at(9, minute))
    hall.call_next(1, at(9, 5))
    hall.start(1, at(9, 6))
    hall.call_next(3, at(9, 7))
    return hall


REFUSED = [
    ("unknown service", lambda h: h.issue("Z", at(10)), errors.UnknownService, "no service 'Z'"),
    ("unknown counter", lambda h: h.call_next(9, at(10)), errors.UnknownCounter, "no counter 9"),
    ("nobody logged in", lambda h: h.call_next(2, at(10)), errors.NotLoggedIn, "counter 2"),
    ("wrong pin", lambda h: h.login(2, at(10), teller="T2", pin_ok=False), errors.LoginRefused,
     "wrong PIN"),
    ("unknown teller", lambda h: h.login(2, at(10), teller="T9", pin_ok=True),
     errors.LoginRefused, "unknown teller"),
    ("teller already elsewhere", lambda h: h.login(2, at(10), teller="T1", pin_ok=True),
     errors.LoginRefused, "logged in at counter 1"),
    ("counter taken", lambda h: h.login(1, at(10), teller="T2", pin_ok=True),
     errors.LoginRefused, "teller T1 is logged in here"),
    ("finish with no ticket", lambda h: h.finish(4, at(10)), errors.NoCurrentTicket, "no ticket"),
    ("recall while serving", lambda h: h.recall(1, at(10)), errors.WrongState, "serving"),
    ("skip while serving", lambda h: h.skip(1, at(10)), errors.WrongState, "serving"),
    ("start twice", lambda h: h.start(1, at(10)), errors.WrongState, "serving"),
    ("logout with a customer", lambda h: h.logout(1, at(10)), errors.WrongState, "finish"),
    ("transfer to its own queue", lambda h: h.transfer(3, at(10), service="B"),
     errors.WrongState, "already in that queue"),
    ("transfer to unknown service", lambda h: h.transfer(3, at(10), service="Q"),
     errors.UnknownService, "no service 'Q'"),
    ("transfer to unknown counter", lambda h: h.transfer(3, at(10), to_counter=7),
     errors.UnknownCounter, "no counter 7"),
    ("cancel a called ticket", lambda h: h.cancel("B001", at(10)), errors.UnknownTicket,
     "no waiting ticket 'B001'"),
    ("pause a closed counter", lambda h: h.pause(2, at(10)), errors.NotLoggedIn, "counter 2"),
]


@pytest.mark.parametrize("what, operation, error, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_operation_changes_nothing(busy_hall, what, operation, error, message):
    before = dump(busy_hall)
    with pytest.raises(error, match=message):
        operation(busy_hall)
    assert dump(busy_hall) == before
