"""Run console lines through the loop with every device simulated, as in the PC demo."""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass
from pathlib import Path

from config import DEFAULT, load_config
from conftest import at
from drivers import Outputs, simulated
from drivers.console import Console
from firmware.main import Appliance
from queue_core import Hall, open_database


class Clock:
    """Each reading is `step` seconds after the previous one."""

    def __init__(self, start: float, step: float = 20.0):
        self.now, self.step = start, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@dataclass
class Day:
    hall: Hall
    outputs: Outputs
    out: io.StringIO

    @property
    def printed(self) -> str:
        return self.out.getvalue()


def wire(data_dir: Path, clock=time.time) -> tuple[Appliance, Console]:
    """The PC demo's wiring: the shipped configuration, every device simulated on a buffer."""
    outputs, console = simulated(data_dir / "tickets", io.StringIO(), clock)
    hall = Hall(open_database(data_dir / "queue.db"), load_config(DEFAULT))
    return Appliance(hall, outputs, clock), console


def run_day(data_dir: Path, lines: list[str], start: float | None = None) -> Day:
    """Feed `lines` to the console and run the loop until it has handled them all."""
    clock = Clock(start or at(9))
    appliance, console = wire(data_dir, clock)
    for line in lines:
        console.feed(line, appliance.post)
    appliance.stop()
    asyncio.run(appliance.run())
    return Day(appliance.hall, appliance.outputs, console.out)
