"""The hall's own time: its time zone and the hour its business day starts, whatever zone the
board runs in (a Raspberry Pi image often boots in UTC)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from queue_core.model import HallConfig


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local(now: float, config: HallConfig) -> datetime:
    """`now` (seconds since the epoch) as the hall's local date and time."""
    return datetime.fromtimestamp(now, zone(config.time_zone))


def business_day(now: float, config: HallConfig) -> str:
    """The business day `now` belongs to (ISO): ticket numbers restart with each. It starts at
    `day_starts` local time, so a hall open past midnight keeps one day until then."""
    hours, minutes = map(int, config.day_starts.split(":"))
    return (local(now, config) - timedelta(hours=hours, minutes=minutes)).date().isoformat()


def midnight(day: str, config: HallConfig) -> float:
    """The start of calendar date `day` (ISO) in the hall's zone, in seconds since the epoch."""
    return datetime.combine(date.fromisoformat(day), time(0), zone(config.time_zone)).timestamp()
