"""Run console lines through the loop with every device simulated, as in the PC demo."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from config import DEFAULT, load_config
from config.office import OfficeConfig
from conftest import at
from drivers import Devices, build
from firmware.main import Appliance, Inbox, Paths
from queue_core import Hall, open_database


class Clock:
    """Each reading by the test (the console) is `step` seconds after the previous one; device
    threads read the time without moving it, so their timing cannot shift the day's times."""

    def __init__(self, start: float, step: float = 20.0):
        self.now, self.step = start, step

    def __call__(self) -> float:
        if threading.current_thread() is threading.main_thread():
            self.now += self.step
        return self.now


@dataclass
class Day:
    hall: Hall
    devices: Devices
    out: io.StringIO

    @property
    def printed(self) -> str:
        return self.out.getvalue()


def wire(data_dir: Path, clock=time.time, config_path: Path = DEFAULT) -> tuple[Appliance, Day]:
    """The PC demo's wiring: every device simulated, its output on a buffer (and no back
    office listening: tests that want one start it themselves, see tests/office.py)."""
    config = replace(load_config(config_path), office=OfficeConfig(enabled=False))
    out, inbox = io.StringIO(), Inbox()
    devices = build(config.hardware, [s.prefix for s in config.hall.services], "sim", data_dir,
                    inbox.post, clock, out)
    paths = Paths(config_path, data_dir / "last-valid-config.toml", data_dir)
    hall = Hall(open_database(paths.database), config.hall)
    appliance = Appliance(hall, devices, inbox, config, paths, clock)
    return appliance, Day(hall, devices, out)


def run_day(data_dir: Path, lines: list[str], start: float | None = None,
            config_path: Path = DEFAULT, **settings) -> Day:
    """Feed `lines` to the console and run the loop until it has handled them all.

    `settings` are set on the simulated printer first (paper="out", connected=False, …)."""
    clock = Clock(start or at(9))
    appliance, day = wire(data_dir, clock, config_path)
    for name, value in settings.items():
        setattr(day.devices.printer.link, name, value)
    for line in lines:
        day.devices.console.feed(line, appliance.inbox.post)
    appliance.stop()
    asyncio.run(appliance.run())
    day.devices.close()
    return day
