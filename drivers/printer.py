"""Ticket printers. SimPrinter writes each ticket as a text file instead of paper."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from media.ticket import TicketLayout, ticket_text


class SimPrinter:
    """Prints to `directory/<day>/<label>.txt` and says so on `out`.

    Example: SimPrinter(Path("var/tickets"), sys.stdout).print_ticket(layout)
    """

    def __init__(self, directory: Path, out: TextIO):
        self.directory = directory
        self.out = out

    def print_ticket(self, layout: TicketLayout) -> Path:
        path = self.directory / layout.day / f"{layout.label}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_text(ticket_text(layout), encoding="utf-8")
        os.replace(partial, path)
        print(f"[printer] ticket {layout.label}, {layout.ahead} ahead -> {path}", file=self.out)
        return path
