"""The reports' charts, drawn on the box as SVG by pygal (no script, nothing fetched)."""

from __future__ import annotations

from pathlib import Path

from queue_core import statistics
from queue_core.model import HallConfig
from queue_core.storage import read_only

WAIT_BUCKETS = (5, 10, 15, 20, 30, 45, 60)   # minutes: the waiting-time distribution's bounds


def chart(name: str, database: Path, first: str, last: str, config: HallConfig) -> bytes:
    """The chart `name` (hourly, waits or ratings) for the days `first`..`last`, read through a
    read-only connection (run in a worker: pygal's import and drawing take their time)."""
    import pygal
    from pygal.style import CleanStyle

    db = read_only(database)
    try:
        options = {"style": CleanStyle, "js": [], "width": 720, "height": 320,
                   "disable_xml_declaration": True, "show_legend": True}
        if name == "hourly":
            hours = statistics.hourly(db, first, last, config)
            drawing = pygal.Bar(title="Tickets issued and finished, by hour", **options)
            drawing.x_labels = [f"{h:02d}" for h, *_ in hours]
            drawing.add("issued", [i for _, i, _ in hours])
            drawing.add("finished", [f for _, _, f in hours])
        elif name == "waits":
            counts = statistics.wait_distribution(db, first, last, WAIT_BUCKETS)
            drawing = pygal.Bar(title="Waiting time (minutes)", **options)
            drawing.x_labels = [f"<{b}" for b in WAIT_BUCKETS] + [f"≥{WAIT_BUCKETS[-1]}"]
            drawing.add("visits", counts)
        elif name == "ratings":
            figures = statistics.figures(db, first, last)
            totals = [sum(f.ratings[i] for f in figures["service"].values()) for i in range(3)]
            drawing = pygal.Pie(title="Ratings", **options)
            for label, count in zip(("very satisfied", "satisfied", "dissatisfied"), totals):
                drawing.add(label, count)
        else:
            raise ValueError(f"no chart {name!r}")
        return drawing.render()
    finally:
        db.close()
