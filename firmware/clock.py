"""Whether the board's clock can be trusted: a board has no real-time clock, and boots with the
time of its last shutdown, or its image's date, until NTP sets it."""

from __future__ import annotations

from pathlib import Path

TIMESYNC = Path("/run/systemd/timesync")


def clock_trusted(timesync: Path = TIMESYNC) -> bool:
    """systemd-timesyncd marks the clock once it has synchronized it ("synchronized" in its run
    folder). Where it runs and has not yet, the clock is a guess; where it does not run (a PC,
    another NTP client) the clock is taken as set."""
    return not timesync.is_dir() or (timesync / "synchronized").exists()
