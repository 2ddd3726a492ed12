"""The hall's own time: its zone and the start of its business day, whatever the board's."""

import time
from dataclasses import replace

import pytest

from config import DEFAULT, ConfigError, load_config
from conftest import CONFIG, at, logged_in
from media.ticket import TicketConfig, ticket_layout
from queue_core import Hall, open_database
from queue_core.hall_time import business_day

LATE = replace(CONFIG, day_starts="04:00")   # a hall open past midnight


@pytest.fixture
def board_in_new_york(monkeypatch):
    """The board's own zone is not the hall's (an image's default, or a wrong setting)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_business_day_is_the_halls_whatever_zone_the_board_runs_in(board_in_new_york):
    assert business_day(at(0, 30), CONFIG) == "2026-11-23"      # New York: still the 22nd
    assert business_day(at(23, 59), CONFIG) == "2026-11-23"


def test_a_day_that_starts_at_four_keeps_the_night_in_it():
    assert business_day(at(23, 50), LATE) == "2026-11-23"
    assert business_day(at(3, 59, day=24), LATE) == "2026-11-23"
    assert business_day(at(4, 0, day=24), LATE) == "2026-11-24"


def test_a_ticket_transferred_after_midnight_is_called_in_the_same_business_day(db_path):
    hall = Hall(open_database(db_path), LATE)
    logged_in(hall, 1, 3, now=at(23, 0))
    hall.issue("A", at(23, 50))
    hall.call_next(1, at(23, 55))
    hall.transfer(1, at(0, 5, day=24), service="B")
    assert hall.call_next(3, at(0, 10, day=24)).label == "A001"
    assert hall.issue("A", at(0, 15, day=24)).ticket.label == "A002"   # numbering goes on


def test_a_ticket_prints_the_halls_time(hall, board_in_new_york):
    issued = hall.issue("A", at(9, 5))
    assert ticket_layout(CONFIG, TicketConfig(), issued).issued == "2026-11-23 09:05"


@pytest.mark.parametrize("option, value, message", [
    ("time_zone", '"Mars/Olympus"', "must be a time zone name"),
    ("time_zone", '"../../etc/passwd"', "must be a time zone name"),
    ("day_starts", '"4:00"', "must be a time of day"),
    ("day_starts", '"24:00"', "must be a time of day")])
def test_the_halls_time_options_are_checked(tmp_path, option, value, message):
    shipped = DEFAULT.read_text()
    line = next(line for line in shipped.splitlines() if line.startswith(f"{option} = "))
    path = tmp_path / "hall.toml"
    path.write_text(shipped.replace(line, f"{option} = {value}"))
    with pytest.raises(ConfigError, match=f"option '{option}' {message}"):
        load_config(path)
