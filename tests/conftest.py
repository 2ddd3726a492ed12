"""Shared fixtures: a small hall, a clock on a fixed day, and a database snapshot."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from queue_core import Counter, Hall, HallConfig, Service, Teller, open_database

CONFIG = HallConfig(
    name="Test Branch", name_zh="测试支行",
    services=(Service("A", "Personal", "个人"), Service("B", "Business", "对公"),
              Service("C", "Wealth", "理财", first=1, last=5, daily_cap=3)),
    counters=(Counter(1, "Counter 1", ("A",)), Counter(2, "Counter 2", ("A", "B")),
              Counter(3, "Counter 3", ("B", "A")), Counter(4, "Counter 4", ("C", "A"))),
    tellers=tuple(Teller(f"T{n}", f"Teller {n}", f"{n}{n}{n}{n}") for n in range(1, 5)),
    max_recalls=2)


def at(hour: int, minute: int = 0, second: int = 0, day: int = 23) -> float:
    """A time on 2026-11-<day> in the hall's zone, as the loop passes it."""
    return datetime(2026, 11, day, hour, minute, second,
                    tzinfo=ZoneInfo(CONFIG.time_zone)).timestamp()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "queue.db"


@pytest.fixture
def hall(db_path):
    db = open_database(db_path)
    yield Hall(db, CONFIG)
    db.close()


def dump(hall: Hall) -> list[str]:
    """Every row of every table, to compare states."""
    return list(hall.db.iterdump())


def logged_in(hall: Hall, *counters: int, now: float | None = None) -> Hall:
    for n in counters:
        hall.login(n, now or at(8), teller=f"T{n}", pin_ok=True)
    return hall
