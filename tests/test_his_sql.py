"""The SQL view adapter as a site runs it: the HIS appends rows to a table behind a view, the
box polls it read-only and hands each row over once, in order, whatever goes wrong."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import tomllib

import pytest

from config.his import HisConfig, read_his
from config.table import ConfigError, Table
from drivers.events import HisMessage
from firmware import his
from firmware.his import sql_view
from firmware.his.sql_view import SqlViewAdapter
from queue_core import errors

pytestmark = pytest.mark.filterwarnings("error")
INTERVAL = 0.02
ZONE = "Asia/Shanghai"
ROWS = [  # kind, patient, name, department, doctor, visit, lane, slot
    ("register", "P1001", "张三", "0101", "D01", "V1001", "E", None),
    ("appointment", "P2002", "李四", "0201", None, "APT1", None, "20261124103000"),
    ("cancel", "P2002", None, None, None, "APT1", None, None),
    ("ready", "P1001", None, None, None, "V1001", None, None),
]


class Hall:
    """The loop's side of `deliver`, faked: records each message; refuses the visits in
    `refused`, and fails (not a refusal) while `failing`."""

    def __init__(self, refused: tuple[str, ...] = ()):
        self.messages: list[HisMessage] = []
        self.refused, self.failing = refused, False

    async def deliver(self, message) -> None:
        if self.failing:
            raise RuntimeError("the loop is gone")
        self.messages.append(message)
        if message.fields.get("visit") in self.refused:
            raise errors.UnknownPatient(f"no visit {message.fields['visit']!r}")

    def controls(self) -> list[str]:
        return [m.control for m in self.messages]


def his_database(path, rows=ROWS):
    """The HIS's database: its table, and the view the box is given."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY, kind TEXT, patient TEXT,"
               " name TEXT, department TEXT, doctor TEXT, visit TEXT, lane TEXT, slot TEXT,"
               " secret TEXT)")
    db.execute("CREATE VIEW queue_messages AS SELECT seq AS id, kind, patient, name,"
               " department, doctor, visit, lane, slot FROM outbox")
    append(db, rows)
    return db


def append(db, rows):
    db.executemany("INSERT INTO outbox (kind, patient, name, department, doctor, visit, lane,"
                   " slot, secret) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'x')", rows)
    db.commit()


def poll(path, hall, scenario=None, seconds=0.15, view="queue_messages"):
    """The adapter as the loop runs it (a task, cancelled at the end), for `seconds` or
    around `scenario()`."""
    config = HisConfig("sql", database=str(path), view=view, interval=INTERVAL)

    async def main():
        task = asyncio.create_task(SqlViewAdapter(config, ZONE, hall.deliver).run())
        try:
            await (scenario() if scenario else asyncio.sleep(seconds))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(main())


async def until(condition, seconds=2.0):
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached")


def test_each_row_is_delivered_in_order_with_its_fields(tmp_path):
    his_database(tmp_path / "his.db").close()
    hall = Hall()
    poll(tmp_path / "his.db", hall)
    assert hall.controls() == ["1", "2", "3", "4"]
    assert [(m.kind, m.source) for m in hall.messages] == \
        [("register", "sql"), ("appointment", "sql"), ("cancel", "sql"), ("ready", "sql")]
    assert [m.fields for m in hall.messages] == [
        {"patient": "P1001", "name": "张三", "department": "0101", "doctor": "D01",
         "visit": "V1001", "lane": "E"},
        {"patient": "P2002", "name": "李四", "department": "0201", "visit": "APT1",
         "slot": "20261124103000"},
        {"visit": "APT1", "patient": "P2002"},
        {"visit": "V1001", "patient": "P1001"}]
    assert len({m.digest for m in hall.messages}) == 4


def test_rows_appended_while_polling_are_delivered(tmp_path):
    db = his_database(tmp_path / "his.db", ROWS[:1])
    hall = Hall()

    async def scenario():
        await until(lambda: hall.controls() == ["1"])
        append(db, ROWS[1:3])
        await until(lambda: hall.controls() == ["1", "2", "3"])
        append(db, ROWS[3:])
        await until(lambda: hall.controls() == ["1", "2", "3", "4"])
        await asyncio.sleep(5 * INTERVAL)

    poll(tmp_path / "his.db", hall, scenario)
    assert hall.controls() == ["1", "2", "3", "4"]   # each once
    db.close()


def test_more_rows_than_a_batch_are_all_delivered(tmp_path):
    his_database(tmp_path / "his.db", [("cancel", None, None, None, None, f"V{n}", None, None)
                                       for n in range(250)]).close()
    hall = Hall()
    poll(tmp_path / "his.db", hall)
    assert hall.controls() == [str(n) for n in range(1, 251)]


def test_a_refused_row_is_logged_and_never_tried_again(tmp_path, caplog):
    his_database(tmp_path / "his.db").close()
    hall = Hall(refused=("APT1",))
    poll(tmp_path / "his.db", hall)
    assert hall.controls() == ["1", "2", "3", "4"]
    assert caplog.text.count("row 2 (appointment) refused: no visit 'APT1'") == 1
    assert caplog.text.count("row 3 (cancel) refused") == 1


def test_a_row_not_delivered_is_read_again(tmp_path):
    his_database(tmp_path / "his.db").close()
    hall = Hall()
    hall.failing = True

    async def scenario():
        await asyncio.sleep(5 * INTERVAL)
        hall.failing = False
        await until(lambda: len(hall.messages) == 4)

    poll(tmp_path / "his.db", hall, scenario)
    assert hall.controls() == ["1", "2", "3", "4"]


@pytest.mark.parametrize("row, reason", [
    (("transfer", "P1", "A", "0101", None, "V1", None, None),
     "kind 'transfer' is none of register, cancel, appointment, ready"),
    ((None, "P1", "A", "0101", None, "V1", None, None), "kind None is none of"),
    (("register", "P1", None, "0101", None, "V1", None, None),
     "column name is empty (a register needs it)"),
    (("register", "P1", "张三", "  ", None, "V1", None, None),
     "column department is empty (a register needs it)"),
    (("ready", "P1", None, None, None, None, None, None),
     "column visit is empty (a ready needs it)"),
    (("register", "P1", "张\x1b三", "0101", None, "V1", None, None),
     "column name contains the control or invisible character U+001B"),
    (("cancel", "P1", None, None, None, "V" * 101, None, None),
     "column visit is longer than 100 characters"),
    (("cancel", "P1", None, None, None, b"V1", None, None),
     "column visit must be text or an integer"),
])
def test_a_row_with_bad_values_is_logged_and_skipped(tmp_path, caplog, row, reason):
    his_database(tmp_path / "his.db", [row, ROWS[0]]).close()
    hall = Hall()
    poll(tmp_path / "his.db", hall)
    assert hall.controls() == ["2"]
    assert caplog.text.count(f"HIS view queue_messages: row 1 skipped: {reason}") == 1
    assert "张" not in caplog.text


def test_integer_values_are_read_as_text(tmp_path):
    his_database(tmp_path / "his.db",
                 [("cancel", 1001, None, None, None, 42, None, None)]).close()
    hall = Hall()
    poll(tmp_path / "his.db", hall)
    assert hall.messages[0].fields == {"patient": "1001", "visit": "42"}


def test_a_restart_hands_over_every_row_again_with_the_same_digests(tmp_path):
    his_database(tmp_path / "his.db").close()
    first, again = Hall(), Hall()
    poll(tmp_path / "his.db", first)
    poll(tmp_path / "his.db", again)   # a new adapter: the hall applies each id once
    assert again.controls() == first.controls() == ["1", "2", "3", "4"]
    assert [m.digest for m in again.messages] == [m.digest for m in first.messages]


def test_a_missing_database_is_logged_once_and_read_once_it_is_there(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    hall = Hall()

    async def scenario():
        await asyncio.sleep(10 * INTERVAL)
        assert hall.messages == []
        his_database(tmp_path / "his.db").close()
        await until(lambda: len(hall.messages) == 4)

    poll(tmp_path / "his.db", hall, scenario)
    assert caplog.text.count("cannot be read (unable to open database file)") == 1
    assert "HIS view queue_messages: read again" in caplog.text
    assert hall.controls() == ["1", "2", "3", "4"]


def test_a_locked_database_waits(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(sql_view, "BUSY_SECONDS", 0.01)
    db = his_database(tmp_path / "his.db", [])
    hall = Hall()

    async def scenario():
        db.execute("BEGIN EXCLUSIVE")
        db.executemany("INSERT INTO outbox (kind, visit) VALUES (?, ?)",
                       [("cancel", "V1"), ("cancel", "V2")])
        await asyncio.sleep(10 * INTERVAL)
        assert hall.messages == []
        db.commit()
        await until(lambda: len(hall.messages) == 2)

    poll(tmp_path / "his.db", hall, scenario)
    assert caplog.text.count("cannot be read (database is locked)") == 1
    db.close()


def test_the_view_is_never_written(tmp_path):
    his_database(tmp_path / "his.db").close()
    before = (tmp_path / "his.db").read_bytes()
    poll(tmp_path / "his.db", Hall())
    assert (tmp_path / "his.db").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["his.db"]


def test_a_view_without_the_columns_is_an_outage_not_a_crash(tmp_path, caplog):
    db = his_database(tmp_path / "his.db")
    db.execute("CREATE VIEW short AS SELECT seq AS id, kind FROM outbox")
    db.commit()
    db.close()
    hall = Hall()
    poll(tmp_path / "his.db", hall, view="short")
    assert hall.messages == []
    assert caplog.text.count("HIS view short: cannot be read (no such column: patient)") == 1


def test_ids_that_are_no_integers_stop_the_reading_there(tmp_path, caplog):
    db = his_database(tmp_path / "his.db", ROWS[:2])
    db.execute("CREATE VIEW texts AS SELECT seq AS id, kind, patient, name, department, doctor,"
               " visit, lane, slot FROM outbox UNION ALL SELECT 'x7', 'cancel', NULL, NULL,"
               " NULL, NULL, 'V9', NULL, NULL")
    db.commit()
    db.close()
    hall = Hall()
    poll(tmp_path / "his.db", hall, view="texts")
    assert hall.controls() == ["1", "2"]
    assert caplog.text.count("HIS view texts: cannot be read (its id is str, not an integer)") \
        == 1


def test_build_chooses_the_adapter(tmp_path):
    adapter = his.build(HisConfig("sql", database=str(tmp_path / "his.db"), view="v"), ZONE,
                        Hall().deliver)
    assert isinstance(adapter, SqlViewAdapter)


# -- the [his] table -------------------------------------------------------------------------

def read(text: str) -> HisConfig | None:
    return read_his(Table(tomllib.loads(text).get("his", {}), "hall.toml", "[his]"))


def test_every_sql_option():
    assert read('[his]\nadapter = "sql"\ndatabase = "/mnt/his/queue.db"\nview = "v_queue"') == \
        HisConfig("sql", database="/mnt/his/queue.db", view="v_queue", interval=5.0)
    assert read('[his]\nadapter = "sql"\ndatabase = "/his.db"\nview = "v"\ninterval = 30')\
        .interval == 30.0


@pytest.mark.parametrize("options, error", [
    ('view = "v"', "option 'database' is required"),
    ('database = "his.db"\nview = "v"',
     "option 'database' must be the absolute path of an SQLite file"),
    ('database = "/his.db"', "option 'view' is required"),
    ('database = "/his.db"\nview = "v; DROP TABLE outbox"', "option 'view' must be a view's"),
    ('database = "/his.db"\nview = "1v"', "option 'view' must be a view's"),
    ('database = "/his.db"\nview = "v"\ninterval = 0.5', "option 'interval' must be 1 to 3600"),
    ('database = "/his.db"\nview = "v"\ninterval = "5"', "option 'interval' must be float"),
    ('database = "/his.db"\nview = "v"\nport = 2575',
     "option 'port' applies to adapter = \"hl7\" only"),
    ('database = "/his.db"\nview = "v"\nintervall = 5',
     "option 'intervall' is not a valid option (did you mean 'interval'?)"),
])
def test_a_bad_sql_option_is_named_with_its_reason(options, error):
    with pytest.raises(ConfigError) as raised:
        read(f'[his]\nadapter = "sql"\n{options}')
    assert str(raised.value).startswith(f"hall.toml: [his], {error}")


def test_the_log_never_has_a_name(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    his_database(tmp_path / "his.db").close()
    poll(tmp_path / "his.db", Hall(refused=("V1001",)))
    assert "row 1 (register) refused" in caplog.text
    assert "张" not in caplog.text and "李" not in caplog.text
