"""A USB stick in the box: the configuration it brings, and the statistics it takes away.

Both run on a thread, off the loop. Nothing here writes to the queue database: the export reads
it through a read-only connection and copies it with SQLite's backup API.
"""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Callable

from config import ApplianceConfig, load_config, remember
from queue_core import statistics
from queue_core.storage import read_only

CONFIG_NAME = "queue-config.toml"
REPORT_NAME = "queue-config-report.txt"
CLIPS_NAME = "clips"
EXPORT_NAME = "queue-export"
TABLES = {
    "tickets.csv": "SELECT * FROM tickets ORDER BY id",
    "events.csv": "SELECT * FROM events ORDER BY id",
    "ratings.csv": "SELECT r.*, t.day, t.label, t.service FROM ratings r"
                   " JOIN tickets t ON t.id = r.ticket_id ORDER BY r.at",
}
SUMMARY = ("day", "by", "key", "issued", "served", "waiting", "no_shows", "transferred",
           "average_wait_s", "longest_wait_s", "average_handling_s", "longest_handling_s",
           "very_satisfied", "satisfied", "dissatisfied")


def read_configuration(stick: Path) -> ApplianceConfig | None:
    """The stick's configuration, completely checked (raises ConfigError), or None."""
    path = stick / CONFIG_NAME
    return load_config(path) if path.exists() else None


def install(stick: Path, data_dir: Path) -> Path:
    """Copy the stick's configuration (and its clips folder, if any) into `data_dir`; the
    configuration it replaces is kept as config.toml.previous, the clips as clips.previous.
    The configuration is replaced by one rename: there is always a config.toml to boot on."""
    clips = stick / CLIPS_NAME
    if clips.is_dir():
        _replace_tree(clips, data_dir / "clips")
    target = data_dir / "config.toml"
    if target.exists():
        remember(target, target.with_suffix(".toml.previous"))
    remember(stick / CONFIG_NAME, target)
    return target


def write_report(stick: Path, text: str) -> None:
    path = stick / REPORT_NAME
    path.write_text(f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n{text}\n", encoding="utf-8")
    _sync(path)


def export(database: Path, stick: Path, now: float,
           progress: Callable[[str], None] = lambda name: None) -> Path:
    """Everything the back office needs, into <stick>/queue-export/<date-time>/: the tables as
    CSV, a daily summary per service, counter and teller, the tickets issued and finished in
    each hour of the day over all days, and a copy of the database. Written
    into a .partial folder, synced, then renamed: a folder without .partial is complete."""
    folder = stick / EXPORT_NAME / time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir(parents=True)
    source = read_only(database)
    try:
        for name, query in TABLES.items():
            cursor = source.execute(query)
            _write_csv(partial / name, [c[0] for c in cursor.description], cursor)
            progress(name)
        first = source.execute("SELECT MIN(day) FROM tickets").fetchone()[0] or "0000-00-00"
        rows = ((day, by, key, f.issued, f.served, f.waiting, f.no_shows, f.transferred,
                 f.average_wait, f.longest_wait, f.average_handling, f.longest_handling,
                 *f.ratings)
                for by, days in statistics.daily(source, first, "9999-12-31").items()
                for day, key, f in days)
        _write_csv(partial / "daily_summary.csv", SUMMARY, rows)
        progress("daily_summary.csv")
        _write_csv(partial / "hourly.csv", ("hour", "issued", "finished"),
                   statistics.hourly(source, first, "9999-12-31"))
        progress("hourly.csv")
        copy = sqlite3.connect(partial / "queue.db")
        try:
            source.backup(copy)
        finally:
            copy.close()
        _sync(partial / "queue.db")
        progress("queue.db")
    finally:
        source.close()
    _sync(partial)
    os.replace(partial, folder)
    _sync(folder.parent)
    return folder


def _write_csv(path: Path, header, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())


def _replace_tree(source: Path, target: Path) -> None:
    staged = target.with_name(target.name + ".new")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(source, staged)
    previous = target.with_name(target.name + ".previous")
    if target.exists():
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(target, previous)
    os.replace(staged, target)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
