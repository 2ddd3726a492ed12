"""What the wall display shows: the latest calls, newest first."""

from __future__ import annotations

from queue_core import Ticket


def wall_lines(last_calls: tuple[Ticket, ...], rows: int = 4) -> list[str]:
    """One 'A012 → 3' line per recently called ticket (its latest counter only)."""
    lines: dict[str, str] = {}
    for ticket in last_calls:
        lines.setdefault(ticket.label, f"{ticket.label} → {ticket.counter}")
    return list(lines.values())[:rows]
