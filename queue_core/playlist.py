"""The hall's playlist of information and adverts: images, videos and texts, each with its
duration and when it may show; kept in the queue database, each change one transaction with
its event. The files themselves are the firmware's (the data directory's media/ folder)."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import asdict, dataclass
from datetime import date

from queue_core.errors import PlaylistRefused
from queue_core.hall_time import local
from queue_core.model import HallConfig
from queue_core.storage import transaction

KINDS = ("image", "video", "text")
FILE = re.compile(r"[0-9a-f]{64}\.(png|jpg|webp|gif|mp4|webm)")
HOURS = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)")
DAYS = re.compile(r"(?!.*(.).*\1)[1-7]{1,7}")   # ISO weekdays, each once
TEXT = 200           # characters of a text item
SECONDS = (3, 600)   # an item's duration
ITEMS = 200          # items in the playlist


@dataclass(frozen=True)
class Item:
    id: int
    position: int
    kind: str
    file: str | None      # media/<file> for an image or a video
    text: str | None      # a text item's words
    seconds: int
    days: str = "1234567"
    hours: str | None = None
    first_day: str | None = None
    last_day: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def check_item(kind: str, seconds: int, *, file: str | None = None, text: str | None = None,
               days: str = "1234567", hours: str | None = None, first_day: str | None = None,
               last_day: str | None = None) -> tuple:
    """An item's fields as stored (kind, file, text, seconds, days, hours, first_day,
    last_day); raises PlaylistRefused saying what is wrong."""
    if kind not in KINDS:
        raise PlaylistRefused(f"no kind {kind!r}: image, video or text")
    if kind == "text":
        _check_text(text)
        if file is not None:
            raise PlaylistRefused("a text item has no file")
    elif text is not None or not isinstance(file, str) or FILE.fullmatch(file) is None:
        raise PlaylistRefused(f"an {kind} item is a file of the media folder, named by its"
                              " sha256")
    if type(seconds) is not int or not SECONDS[0] <= seconds <= SECONDS[1]:
        raise PlaylistRefused(f"seconds must be {SECONDS[0]} to {SECONDS[1]}")
    if not isinstance(days, str) or DAYS.fullmatch(days) is None:
        raise PlaylistRefused("days must list ISO weekdays 1 (Monday) to 7, each once: 12345")
    if hours is not None and (not isinstance(hours, str) or HOURS.fullmatch(hours) is None
                              or hours[:5] >= hours[6:]):
        raise PlaylistRefused("hours must be a range of the day: 08:30-12:00")
    first, last = _day(first_day, "first_day"), _day(last_day, "last_day")
    if first and last and first > last:
        raise PlaylistRefused("first_day comes after last_day")
    return kind, file, text, seconds, "".join(sorted(days)), hours, first, last


def add_item(db: sqlite3.Connection, kind: str, seconds: int, now: float, *,
             by: str | None = None, **fields) -> int:
    """Add an item (`fields`: see check_item) at the end of the playlist; its id. Raises
    PlaylistRefused saying why."""
    row = check_item(kind, seconds, **fields)
    with transaction(db):
        count, end = db.execute("SELECT COUNT(*), IFNULL(MAX(position), 0) FROM playlist"
                                ).fetchone()
        if count >= ITEMS:
            raise PlaylistRefused(f"the playlist holds {ITEMS} items at most")
        item_id = _insert(db, end + 1, row)
        _log(db, now, f"added {kind} {item_id}" + (f" ({row[1]})" if row[1] else ""), by)
        return item_id


def replace_items(db: sqlite3.Connection, new: list[dict], now: float, *,
                  by: str | None = None) -> None:
    """The playlist replaced by `new` (each a dict of check_item's arguments), all or
    nothing: a USB stick's."""
    rows = [check_item(**item) for item in new]
    if len(rows) > ITEMS:
        raise PlaylistRefused(f"the playlist holds {ITEMS} items at most")
    with transaction(db):
        db.execute("DELETE FROM playlist")
        for position, row in enumerate(rows, start=1):
            _insert(db, position, row)
        _log(db, now, f"replaced by {len(rows)} items", by)


def _insert(db: sqlite3.Connection, position: int, row: tuple) -> int:
    return db.execute(
        "INSERT INTO playlist (position, kind, file, text, seconds, days, hours, first_day,"
        " last_day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (position, *row)).lastrowid


def remove_item(db: sqlite3.Connection, item_id: int, now: float, *,
                by: str | None = None) -> Item:
    """Remove an item; the item removed (its file may now be unused: `files`)."""
    with transaction(db):
        found = _item(db, item_id)
        db.execute("DELETE FROM playlist WHERE id = ?", (item_id,))
        _log(db, now, f"removed {found.kind} {item_id}", by)
        return found


def move_item(db: sqlite3.Connection, item_id: int, position: int, now: float, *,
              by: str | None = None) -> None:
    """Put an item at `position` (1: first) and the others after it in their order."""
    with transaction(db):
        _item(db, item_id)
        order = [row[0] for row in db.execute("SELECT id FROM playlist ORDER BY position, id")
                 if row[0] != item_id]
        if type(position) is not int or not 1 <= position <= len(order) + 1:
            raise PlaylistRefused(f"position must be 1 to {len(order) + 1}")
        order.insert(position - 1, item_id)
        for at, each in enumerate(order, start=1):
            db.execute("UPDATE playlist SET position = ? WHERE id = ?", (at, each))
        _log(db, now, f"moved item {item_id} to {position}", by)


def items(db: sqlite3.Connection) -> list[Item]:
    return [Item(*row) for row in db.execute(
        "SELECT id, position, kind, file, text, seconds, days, hours, first_day, last_day"
        " FROM playlist ORDER BY position, id")]


def showing(db: sqlite3.Connection, config: HallConfig, now: float) -> list[Item]:
    """The items whose days, hours and dates hold now, in the hall's time, in order."""
    moment = local(now, config)
    day, clock = moment.date().isoformat(), moment.strftime("%H:%M")
    return [item for item in items(db)
            if str(moment.isoweekday()) in item.days
            and (item.hours is None or item.hours[:5] <= clock < item.hours[6:])
            and (item.first_day is None or item.first_day <= day)
            and (item.last_day is None or day <= item.last_day)]


def files(db: sqlite3.Connection) -> set[str]:
    """The media files the playlist uses."""
    return {row[0] for row in db.execute("SELECT file FROM playlist WHERE file IS NOT NULL")}


def _item(db: sqlite3.Connection, item_id: int) -> Item:
    found = [item for item in items(db) if item.id == item_id] if type(item_id) is int else []
    if not found:
        raise PlaylistRefused(f"no playlist item {item_id!r}")
    return found[0]


def _check_text(text: object) -> None:
    if not isinstance(text, str) or not 0 < len(text.strip()) <= TEXT or any(
            unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
            for c in text):
        raise PlaylistRefused(f"a text item is 1 to {TEXT} visible characters on one line")


def _day(value: object, name: str) -> str | None:
    if value is None:
        return None
    try:
        if isinstance(value, str) and len(value) == 10:
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise PlaylistRefused(f"{name} must be a date: 2026-12-31")


def _log(db: sqlite3.Connection, now: float, detail: str, by: str | None) -> None:
    db.execute("INSERT INTO events (at, kind, detail, by_user) VALUES (?, 'playlist', ?, ?)",
               (now, f"playlist: {detail}", by))
