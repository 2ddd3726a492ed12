"""A USB stick in the box: configuration import and statistics export, and sticks that fail."""

import asyncio
import csv
import subprocess
from pathlib import Path

import pytest

from config import DEFAULT
from conftest import at
from drivers.events import BackOffice, ButtonPressed, CounterKey, UsbInserted, UsbRemoved
from firmware.stick import CONFIG_NAME, REPORT_NAME, export, install
from hallday import wire

SHIPPED = DEFAULT.read_text()


def a_day(app):
    for n, service in enumerate("AABC"):
        app.inbox.post(ButtonPressed(service, at(9, n)))
    app.inbox.post(CounterKey(1, "login", at(9, 5), {"teller": "T01", "pin": "1111"}))
    app.inbox.post(CounterKey(1, "call", at(9, 6)))
    app.inbox.post(CounterKey(1, "finish", at(9, 9)))
    app.inbox.post(CounterKey(1, "rate", at(9, 9, 20), {"rating": 1}))


def run_with_stick(tmp_path, stick: Path):
    """A day in the hall, then the stick is plugged in; returns the loop's day and output."""
    app, day = wire(tmp_path / "box", clock=lambda: at(12))
    a_day(app)

    async def hall():
        running = asyncio.create_task(app.run())
        app.inbox.post(UsbInserted(str(stick), at(12)))
        while app._stick_work is None or not app._stick_work.done():
            await asyncio.sleep(0.02)
        app.stop()
        await running

    asyncio.run(hall())
    day.devices.close()
    return app, day


def dump(app):
    return list(app.hall.db.iterdump())


def test_plugging_in_exports_the_statistics(tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    app, day = run_with_stick(tmp_path, stick)
    [folder] = (stick / "queue-export").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "daily_summary.csv", "events.csv", "hourly.csv", "queue.db", "ratings.csv",
        "tickets.csv"]
    hours = list(csv.DictReader(open(folder / "hourly.csv")))
    assert (hours[9]["issued"], hours[9]["finished"]) == ("4", "1")
    tickets = list(csv.DictReader(open(folder / "tickets.csv")))
    assert [t["label"] for t in tickets] == ["A001", "A002", "B001", "C001"]
    summary = list(csv.DictReader(open(folder / "daily_summary.csv")))
    a = next(r for r in summary if r["by"] == "service" and r["key"] == "A")
    assert (a["issued"], a["served"], a["waiting"], a["very_satisfied"]) == ("2", "1", "1", "1")
    copy = subprocess.run(["python3", "-c", f"import sqlite3; print(sqlite3.connect("
                           f"'{folder / 'queue.db'}').execute('SELECT COUNT(*) FROM events')"
                           f".fetchone()[0])"], capture_output=True, text=True).stdout
    assert int(copy) == app.hall.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert "the stick can be removed" in day.printed
    assert day.devices.display.visible()[0] == "USB OK 可拔出"


def test_a_valid_configuration_is_installed_and_used(tmp_path):
    stick = tmp_path / "stick"
    (stick / "clips" / "zh").mkdir(parents=True)
    (stick / "clips" / "zh" / "qing.wav").write_bytes(b"RIFF recorded")
    (stick / CONFIG_NAME).write_text(SHIPPED.replace("Riverside Bank, Main Street Branch",
                                                     "Harbour Bank"))
    app, day = run_with_stick(tmp_path, stick)
    box = tmp_path / "box"
    assert app.config.hall.name == "Harbour Bank" and app.paths.config == box / "config.toml"
    assert (box / "config.toml").read_text() == (stick / CONFIG_NAME).read_text()
    assert (box / "last-valid-config.toml").read_text() == (stick / CONFIG_NAME).read_text()
    assert (box / "clips" / "zh" / "qing.wav").read_bytes() == b"RIFF recorded"
    assert "installed" in (stick / REPORT_NAME).read_text()


def test_an_invalid_configuration_is_refused_with_the_reason_on_the_wall_and_the_stick(tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / CONFIG_NAME).write_text(SHIPPED.replace("max_recalls = 2", "max_recals = 2"))
    app, day = run_with_stick(tmp_path, stick)
    reason = "option 'max_recals' is not a valid option (did you mean 'max_recalls'?)"
    assert reason in (stick / REPORT_NAME).read_text()
    assert "REFUSED, nothing changed" in (stick / REPORT_NAME).read_text()
    assert any(reason in line for line in day.printed.splitlines() if line.startswith("[wall]"))
    assert app.config.hall.name == "Riverside Bank, Main Street Branch"
    assert not (tmp_path / "box" / "config.toml").exists()


def test_a_configuration_that_would_orphan_waiting_tickets_is_refused(tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    without_c = SHIPPED[:SHIPPED.index('[[service]]\nprefix = "C"')] + \
        SHIPPED[SHIPPED.index("[[counter]]"):]
    (stick / CONFIG_NAME).write_text(without_c.replace('services = ["C", "A"]', 'services = ["A"]')
                                     .replace(", C = 22", "").replace(", C = 13", ""))
    app, day = run_with_stick(tmp_path, stick)
    assert "service C is gone but 1 wait for it" in (stick / REPORT_NAME).read_text()
    assert app.config.hall.service("C") is not None


@pytest.fixture
def tiny_stick(tmp_path):
    """A real, small file system (tmpfs), so that full and read-only are the kernel's."""
    stick = tmp_path / "stick"
    stick.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(stick)],
                      capture_output=True).returncode != 0:
        pytest.skip("this machine cannot mount a tmpfs")
    yield stick
    subprocess.run(["umount", "-l", str(stick)])


@pytest.mark.parametrize("trouble", ["full", "read-only"])
def test_a_full_or_read_only_stick_leaves_the_box_running_and_the_database_untouched(
        tmp_path, tiny_stick, trouble):
    if trouble == "read-only":
        subprocess.run(["mount", "-o", "remount,ro", str(tiny_stick)], check=True)
    app, day = run_with_stick(tmp_path, tiny_stick)
    reasons = ("No space left on device", "disk is full") if trouble == "full" else \
        ("Read-only file system",)
    assert any("USB export failed, the stick may be full, read-only or pulled out: " in line
               and any(r in line for r in reasons) for line in day.printed.splitlines())
    assert day.devices.display.visible()[0].startswith("USB export failed")
    assert app.hall.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [t.label for t in app.hall.tickets("2026-11-23")] == ["A001", "A002", "B001", "C001"]


def test_a_stick_pulled_out_mid_export(tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    app, day = wire(tmp_path / "box", clock=lambda: at(12))
    a_day(app)
    app.stop()
    asyncio.run(app.run())
    before = dump(app)
    database = tmp_path / "box" / "queue.db"

    def pull(name):
        if name == "tickets.csv":
            subprocess.run(["rm", "-rf", str(stick)], check=True)
    with pytest.raises(OSError):
        export(database, stick, at(12), pull)
    assert dump(app) == before
    day.devices.close()


def test_export_from_the_back_office_and_removal(tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    app, day = run_with_stick(tmp_path, stick)
    app2, day2 = wire(tmp_path / "box", clock=lambda: at(13))
    app2.inbox.post(BackOffice("export", at(13)))
    app2.inbox.post(UsbInserted(str(stick), at(13)))
    app2.inbox.post(UsbRemoved(str(stick), at(13)))
    app2.inbox.post(BackOffice("export", at(13)))
    app2.stop()
    asyncio.run(app2.run())
    day2.devices.close()
    assert day2.printed.count("export: no USB stick") == 2


def test_installing_keeps_the_configuration_it_replaces(tmp_path):
    stick, box = tmp_path / "stick", tmp_path / "box"
    stick.mkdir()
    box.mkdir()
    (box / "config.toml").write_text("old")
    (stick / CONFIG_NAME).write_text("new")
    assert install(stick, box) == box / "config.toml"
    assert (box / "config.toml").read_text() == "new"
    assert (box / "config.toml.previous").read_text() == "old"
    assert sorted(p.name for p in box.iterdir()) == ["config.toml", "config.toml.previous"]
