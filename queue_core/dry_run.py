"""A ticket issued and taken back at once: the proof, after a start, that this firmware works the
queue on this database (firmware/update.py keeps a newly installed system only then)."""

from __future__ import annotations

from queue_core import errors
from queue_core.hall import Hall


def dry_issue(hall: Hall, now: float) -> str:
    """Issue a ticket of the hall's first service inside one transaction, then roll it all
    back: no ticket, no event, no refused press is left. Returns what the hall answered (the
    label it would have printed, or why it prints none: a closed or full service answers too);
    any other failure (sqlite3.Error, a bug) is raised."""
    prefix = hall.config.services[0].prefix
    hall.db.execute("BEGIN IMMEDIATE")
    try:
        return hall.issue(prefix, now).ticket.label
    except (errors.ServiceClosed, errors.ServiceFull) as exc:
        return str(exc)
    finally:
        hall.db.rollback()
