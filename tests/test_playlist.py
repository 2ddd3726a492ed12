"""The hall's playlist (queue_core/playlist.py): what may be added, its order, and what shows
when, in the hall's time."""

import pytest

from conftest import at
from queue_core.errors import PlaylistRefused
from queue_core.playlist import add_item, items, move_item, remove_item, showing

PNG = "a" * 64 + ".png"


def test_items_keep_their_order_and_every_change_is_logged(hall):
    db = hall.db
    first = add_item(db, "text", 10, at(9), text="欢迎光临 Welcome", by="ada")
    second = add_item(db, "image", 8, at(9), file=PNG)
    third = add_item(db, "video", 30, at(9), file="b" * 64 + ".mp4")
    move_item(db, third, 1, at(9), by="ada")
    assert [i.id for i in items(db)] == [third, first, second]
    assert remove_item(db, second, at(9)).file == PNG
    assert [i.id for i in items(db)] == [third, first]
    logged = [r[0] for r in db.execute("SELECT by_user FROM events WHERE kind = 'playlist'")]
    assert logged == ["ada", None, None, "ada", None]


@pytest.mark.parametrize("kind, options, why", [
    ("sound", {"text": "x"}, "no kind"),
    ("text", {"text": ""}, "visible characters"),
    ("text", {"text": "a\nb"}, "one line"),
    ("text", {"text": "x" * 201}, "1 to 200"),
    ("image", {"file": "../../etc/passwd"}, "sha256"),
    ("image", {"file": "a" * 64 + ".svg"}, "sha256"),
    ("text", {"text": "x", "days": "118"}, "each once"),
    ("text", {"text": "x", "days": "8"}, "weekdays"),
    ("text", {"text": "x", "hours": "12:00-08:00"}, "range of the day"),
    ("text", {"text": "x", "hours": "24:30-25:00"}, "range of the day"),
    ("text", {"text": "x", "first_day": "2026-13-01"}, "a date"),
    ("text", {"text": "x", "first_day": "2026-12-02", "last_day": "2026-12-01"}, "after"),
])
def test_what_cannot_be_added_is_refused_and_changes_nothing(hall, kind, options, why):
    with pytest.raises(PlaylistRefused, match=why):
        add_item(hall.db, kind, 10, at(9), **options)
    assert items(hall.db) == []


def test_durations_and_positions_are_bounded(hall):
    for seconds in (2, 601, 10.5, True):
        with pytest.raises(PlaylistRefused, match="seconds"):
            add_item(hall.db, "text", seconds, at(9), text="x")
    item = add_item(hall.db, "text", 10, at(9), text="x")
    with pytest.raises(PlaylistRefused, match="position"):
        move_item(hall.db, item, 3, at(9))
    with pytest.raises(PlaylistRefused, match="no playlist item"):
        remove_item(hall.db, item + 1, at(9))


def test_what_shows_follows_days_hours_and_dates_in_the_hall_time(hall):
    db, config = hall.db, hall.config   # 2026-11-23 is a Monday
    always = add_item(db, "text", 10, at(9), text="always")
    mornings = add_item(db, "text", 10, at(9), text="mornings", hours="08:00-12:00")
    weekend = add_item(db, "text", 10, at(9), text="weekend", days="67")
    december = add_item(db, "text", 10, at(9), text="december", first_day="2026-12-01",
                        last_day="2026-12-31")
    assert [i.id for i in showing(db, config, at(9))] == [always, mornings]
    assert [i.id for i in showing(db, config, at(12))] == [always]
    assert [i.id for i in showing(db, config, at(12, day=28))] == [always, weekend]
    assert december not in [i.id for i in showing(db, config, at(9, day=30))]
