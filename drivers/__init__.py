"""Device drivers: each moves bytes or pixels for one device and posts events into the loop."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from drivers.audio import SimAudio
from drivers.console import Console
from drivers.display import SimDisplay
from drivers.printer import SimPrinter


@dataclass
class Outputs:
    """The output devices the loop drives; simulated or real, each kind has one interface."""

    printer: Any
    display: Any
    audio: Any
    keypads: Any
    office: Any


def simulated(ticket_dir: Path, out: TextIO,
              clock: Callable[[], float] = time.time) -> tuple[Outputs, Console]:
    """Every device simulated on a terminal: returns the outputs and the console that
    stands in for the ticket buttons, the keypads and the back office."""
    console = Console(out, clock)
    return Outputs(printer=SimPrinter(ticket_dir, out), display=SimDisplay(out),
                   audio=SimAudio(out), keypads=console, office=console), console
