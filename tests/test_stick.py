"""A USB stick in the box: signed configuration import, statistics export, and sticks that
fail or mean harm."""

import asyncio
import csv
import hashlib
import io
import os
import sqlite3
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from PIL import Image

from config import DEFAULT, load_config
from conftest import at
from drivers.events import BackOffice, ButtonPressed, CounterKey, UsbInserted, UsbRemoved
from firmware import signature
from firmware.signature import KEY_NAME, make_key, read_key
from firmware.stick import (CONFIG_NAME, REPORT_NAME, SIGNATURE_NAME, Bundle, export, install,
                            read_bundle)
from hallday import wire
from queue_core import playlist

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = DEFAULT.read_text()


def clip(path: Path, seconds: float = 0.1) -> bytes:
    """A WAV clip as the announcer plays them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(22050)
        f.writeframes(b"\x10\x00" * int(22050 * seconds))
    return path.read_bytes()


def sign(stick: Path, box: Path) -> None:
    """What a technician does on a PC with the box's key: tools/sign_stick.py."""
    box.mkdir(parents=True, exist_ok=True)
    make_key(box)
    done = subprocess.run([sys.executable, "tools/sign_stick.py", "--key", str(box / KEY_NAME),
                           str(stick)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def sign_as_is(stick: Path, box: Path, names: tuple[str, ...] = (CONFIG_NAME,)) -> None:
    """Sign files without the tool's checks: as an older tool signs a file that this firmware
    refuses, or as an insider with the key would."""
    box.mkdir(parents=True, exist_ok=True)
    make_key(box)
    (stick / SIGNATURE_NAME).write_text(signature.sign(
        {name: hashlib.sha256((stick / name).read_bytes()).hexdigest() for name in names},
        read_key(box)))


def signed_stick(tmp_path: Path, text: str = SHIPPED, clips: tuple[str, ...] = ()) -> Path:
    stick = tmp_path / "stick"
    stick.mkdir(exist_ok=True)
    (stick / CONFIG_NAME).write_text(text)
    for name in clips:
        clip(stick / "clips" / f"{name}.wav")
    sign(stick, tmp_path / "box")
    return stick


def wall(day) -> list[str]:
    return [line for line in day.printed.splitlines() if line.startswith("[wall]")]


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
    assert (a["issued"], a["served"], a["waiting"], a["very satisfied"]) == ("2", "1", "1", "1")
    assert a["average wait (s)"] == "360"           # seconds, whole: A001 waited 9:00 to 9:06
    assert tickets[0]["issued at"] == "2026-11-23T09:00:00+08:00"   # the hall's time, ISO 8601
    copy = subprocess.run(["python3", "-c", f"import sqlite3; print(sqlite3.connect("
                           f"'{folder / 'queue.db'}').execute('SELECT COUNT(*) FROM events')"
                           f".fetchone()[0])"], capture_output=True, text=True).stdout
    assert int(copy) == app.hall.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert "the stick can be removed" in day.printed
    assert day.devices.display.visible()[0] == "USB OK 可拔出"


def test_a_signed_configuration_is_installed_and_used(tmp_path):
    stick = signed_stick(tmp_path, SHIPPED.replace("Riverside Bank, Main Street Branch",
                                                   "Harbour Bank"), clips=("zh/qing", "chime"))
    app, day = run_with_stick(tmp_path, stick)
    box = tmp_path / "box"
    assert app.config.hall.name == "Harbour Bank" and app.paths.config == box / "config.toml"
    assert (box / "config.toml").read_text() == (stick / CONFIG_NAME).read_text()
    assert (box / "last-valid-config.toml").read_text() == (stick / CONFIG_NAME).read_text()
    assert (box / "clips" / "zh" / "qing.wav").read_bytes() == \
        (stick / "clips" / "zh" / "qing.wav").read_bytes()
    assert "installed" in (stick / REPORT_NAME).read_text()
    assert not list(box.glob("clips.new"))


def test_the_tool_hashes_plain_pins_before_signing_so_the_stick_carries_none(tmp_path):
    plain = SHIPPED.replace(SHIPPED[SHIPPED.index('pin = "scrypt'):].split("\n")[0],
                            'pin = "80808080"', 1)
    stick = signed_stick(tmp_path, plain)
    assert "80808080" not in (stick / CONFIG_NAME).read_text()
    app, day = run_with_stick(tmp_path, stick)
    assert "installed" in (stick / REPORT_NAME).read_text()
    assert "80808080" not in (tmp_path / "box" / "config.toml").read_text()


STRANGER = SHIPPED + '\n[[teller]]\nid = "X9"\nname = "Stranger"\npin = "0000"\n'


@pytest.mark.parametrize("how", ["unsigned", "another box's key", "changed after signing",
                                 "no key on the box"])
def test_a_configuration_not_signed_for_this_box_is_refused(tmp_path, how):
    stick, box = tmp_path / "stick", tmp_path / "box"
    stick.mkdir()
    if how != "no key on the box":
        box.mkdir()
        make_key(box)
    (stick / CONFIG_NAME).write_text(SHIPPED if how == "changed after signing" else STRANGER)
    if how != "unsigned":
        sign(stick, box if how == "changed after signing" else tmp_path / "other box")
    (stick / CONFIG_NAME).write_text(STRANGER)
    app, day = run_with_stick(tmp_path, stick)
    report = (stick / REPORT_NAME).read_text()
    reason = {"unsigned": f"{SIGNATURE_NAME} is missing",
              "another box's key": "not signed with this box's key",
              "changed after signing": "not the file that was signed",
              "no key on the box": "this box has no installation key"}[how]
    assert "REFUSED, nothing changed" in report and reason in report
    assert any(reason in line for line in wall(day))
    assert app.config.hall.teller("X9") is None
    assert not (tmp_path / "box" / "config.toml").exists()


def test_an_invalid_configuration_is_refused_with_the_reason_on_the_wall_and_the_stick(tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / CONFIG_NAME).write_text(SHIPPED.replace("max_recalls = 2", "max_recals = 2"))
    reason = "option 'max_recals' is not a valid option (did you mean 'max_recalls'?)"
    sign_as_is(stick, tmp_path / "box")
    tool = subprocess.run([sys.executable, "tools/sign_stick.py", "--key",
                           str(tmp_path / "box" / KEY_NAME), str(stick)], cwd=ROOT,
                          capture_output=True, text=True)
    assert tool.returncode == 1 and reason in tool.stderr   # the technician hears it first
    sign_as_is(stick, tmp_path / "box")   # as an older tool would
    app, day = run_with_stick(tmp_path, stick)
    assert reason in (stick / REPORT_NAME).read_text()
    assert "REFUSED, nothing changed" in (stick / REPORT_NAME).read_text()
    assert any(reason in line for line in wall(day))
    assert app.config.hall.name == "Riverside Bank, Main Street Branch"
    assert not (tmp_path / "box" / "config.toml").exists()


def test_a_configuration_that_would_orphan_waiting_tickets_is_refused(tmp_path):
    without_c = SHIPPED[:SHIPPED.index('[[service]]\nprefix = "C"')] + \
        SHIPPED[SHIPPED.index("[[counter]]"):]
    stick = signed_stick(tmp_path, without_c.replace('services = ["C", "A"]', 'services = ["A"]')
                         .replace(", C = 22", "").replace(", C = 13", ""))
    app, day = run_with_stick(tmp_path, stick)
    assert "service C is gone but 1 wait for it" in (stick / REPORT_NAME).read_text()
    assert app.config.hall.service("C") is not None


def small_file_system(folder: Path, size: str):
    """A real, small file system (tmpfs) at `folder`, so that full and read-only are the
    kernel's; unmounted after."""
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("this machine cannot mount a tmpfs")
    yield folder
    subprocess.run(["umount", "-l", str(folder)])


@pytest.fixture
def tiny_stick(tmp_path):
    yield from small_file_system(tmp_path / "stick", "16k")


@pytest.mark.parametrize("trouble", ["full", "read-only"])
def test_a_full_or_read_only_stick_leaves_the_box_running_and_the_database_untouched(
        tmp_path, tiny_stick, trouble):
    if trouble == "read-only":
        subprocess.run(["mount", "-o", "remount,ro", str(tiny_stick)], check=True)
    app, day = run_with_stick(tmp_path, tiny_stick)
    reasons = ("No space left on device", "disk is full") if trouble == "full" else \
        ("Read-only file system",)
    assert any("USB export failed, nothing exported: " in line
               and any(r in line for r in reasons) for line in day.printed.splitlines())
    assert day.devices.display.visible()[0].startswith("USB export failed")
    assert app.hall.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [t.label for t in app.hall.tickets("2026-11-23")] == ["A001", "A002", "B001", "C001"]
    if trouble == "full":
        assert [p.name for p in (tiny_stick / "queue-export").iterdir()] == []   # no .partial


def a_day_done(tmp_path):
    """A day in the hall at tmp_path/box, the loop stopped; and an empty stick beside it."""
    stick = tmp_path / "stick"
    stick.mkdir()
    app, day = wire(tmp_path / "box", clock=lambda: at(12))
    a_day(app)
    app.stop()
    asyncio.run(app.run())
    return app, day, stick


def test_a_stick_pulled_out_mid_export(tmp_path):
    app, day, stick = a_day_done(tmp_path)
    before = dump(app)
    database = tmp_path / "box" / "queue.db"

    def pull(name):
        if name == "tickets.csv":
            subprocess.run(["rm", "-rf", str(stick)], check=True)
    with pytest.raises(OSError):
        export(database, stick, at(12), app.hall.config, pull)
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
    box = tmp_path / "box"
    box.mkdir()
    (box / "config.toml").write_text("old")
    assert install(Bundle(load_config(DEFAULT), None, (CONFIG_NAME,)), box) == box / "config.toml"
    assert (box / "config.toml").read_text() == SHIPPED
    assert (box / "config.toml.previous").read_text() == "old"
    assert sorted(p.name for p in box.iterdir()) == ["config.toml", "config.toml.previous"]


def test_a_link_named_like_the_report_never_touches_the_database(tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    os.symlink(tmp_path / "box" / "queue.db", stick / REPORT_NAME)
    (stick / CONFIG_NAME).write_text(STRANGER)    # refused: a report is written
    app, day = run_with_stick(tmp_path, stick)
    assert not (stick / REPORT_NAME).is_symlink()
    assert "REFUSED" in (stick / REPORT_NAME).read_text()
    again = sqlite3.connect(tmp_path / "box" / "queue.db")
    assert again.execute("SELECT COUNT(*) FROM tickets").fetchone()[0] == 4
    assert again.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_report_that_cannot_be_written_leaves_nothing_and_the_export_goes_on(tmp_path):
    stick = tmp_path / "stick"
    (stick / REPORT_NAME).mkdir(parents=True)     # a folder where the report goes
    (stick / CONFIG_NAME).write_text(STRANGER)
    app, day = run_with_stick(tmp_path, stick)
    assert {p.name for p in stick.iterdir()} == {CONFIG_NAME, REPORT_NAME, "queue-export"}
    assert any(line.startswith("[wall] USB report not written: ") for line in wall(day))
    assert "the stick can be removed" in day.printed


def test_a_link_named_like_the_export_folder_is_refused(tmp_path):
    stick, elsewhere = tmp_path / "stick", tmp_path / "elsewhere"
    stick.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, stick / "queue-export")
    app, day = run_with_stick(tmp_path, stick)
    assert list(elsewhere.iterdir()) == []
    assert wall(day)[-1].startswith("[wall] USB export failed, nothing exported: queue-export is"
                                    " not a folder but a link")


@pytest.mark.parametrize("link", ["a clip", "a clip folder", "the clips folder"])
def test_links_among_the_clips_are_refused_even_where_what_they_reach_was_signed(tmp_path, link):
    stick, box = tmp_path / "stick", tmp_path / "box"
    clip(stick / "clips" / "zh" / "qing.wav")
    (stick / CONFIG_NAME).write_text(SHIPPED)
    sign_as_is(stick, box, (CONFIG_NAME, "clips/zh/qing.wav"))
    moved = {"a clip": stick / "clips" / "zh" / "qing.wav", "a clip folder": stick / "clips" / "zh",
             "the clips folder": stick / "clips"}[link]
    os.rename(moved, tmp_path / "real")
    os.symlink(tmp_path / "real", moved)          # what it reaches is byte for byte the signed one
    app, day = run_with_stick(tmp_path, stick)
    assert "REFUSED, nothing changed" in (stick / REPORT_NAME).read_text()
    assert "but a link or something else: refused" in (stick / REPORT_NAME).read_text()
    assert sorted(p.name for p in box.glob("clips*")) == []
    assert not (box / "config.toml").exists()


def test_a_huge_configuration_file_is_refused_without_being_read(tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    with open(stick / CONFIG_NAME, "wb") as f:
        f.truncate(2 << 30)                       # 2 GiB, sparse
    app, day = run_with_stick(tmp_path, stick)
    assert "has 2147483648 bytes, more than the 262144 allowed" in \
        (stick / REPORT_NAME).read_text()


@pytest.fixture
def small_box(tmp_path):
    """The box's data partition: 66 MiB, nearly empty."""
    yield from small_file_system(tmp_path / "box", "66m")


@pytest.mark.parametrize("size, reason", [
    (3, "the clips take 3 MiB (at most 32); 65 MiB are free, and 64 MiB must stay free"),
    (40, "the clips take 40 MiB (at most 32)")])
def test_clips_that_would_fill_the_data_partition_are_refused_and_leave_nothing(
        tmp_path, small_box, size, reason):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / CONFIG_NAME).write_text(SHIPPED)
    clip(stick / "clips" / "chime.wav", size * 1.0 / 22050 * (1 << 20) / 2)
    sign_as_is(stick, small_box, (CONFIG_NAME, "clips/chime.wav"))
    app, day = run_with_stick(tmp_path, stick)
    report = (stick / REPORT_NAME).read_text()
    assert "REFUSED, nothing changed" in report and reason in report
    assert sorted(p.name for p in small_box.iterdir() if p.name.startswith(("clips", "config"))) \
        == []
    assert app.hall.issue("A", at(12, 1)).ticket.label == "A003"   # the queue goes on


@pytest.mark.parametrize("name, data, reason", [
    ("clips/zh/qing.mp3", b"ID3", "is not an announcement clip"),
    ("clips/../../queue.wav", b"RIFF", "is not an announcement clip"),
    ("clips/zh/qing.wav", b"RIFF not really", "qing.wav: not a WAV file the announcer can play")])
def test_a_signed_file_that_is_no_clip_is_refused(tmp_path, name, data, reason):
    stick = tmp_path / "stick"
    (stick / "clips" / "zh").mkdir(parents=True)
    (stick / CONFIG_NAME).write_text(SHIPPED)
    if ".." not in name:
        (stick / name).write_bytes(data)
    else:
        (tmp_path / "queue.wav").write_bytes(data)
    box = tmp_path / "box"
    box.mkdir()
    make_key(box)
    digests = {CONFIG_NAME: hashlib.sha256(SHIPPED.encode()).hexdigest(),
               name: hashlib.sha256(data).hexdigest()}
    (stick / SIGNATURE_NAME).write_text(signature.sign(digests, read_key(box)))
    with pytest.raises((ValueError, OSError), match=reason.replace("(", r"\(")):
        read_bundle(stick, box, read_key(box))
    assert sorted(p.name for p in box.iterdir()) == [KEY_NAME]


def test_installed_files_are_synced_before_they_are_renamed_into_place(tmp_path, monkeypatch):
    stick, box = signed_stick(tmp_path, clips=("zh/qing",)), tmp_path / "box"
    clip(box / "clips" / "zh" / "hao.wav")
    calls = []
    fsync, replace = os.fsync, os.replace

    def recorded_fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recorded_replace(source, target, **kwargs):
        calls.append(("replace", str(source), str(target)))
        replace(source, target, **kwargs)

    monkeypatch.setattr(os, "fsync", recorded_fsync)
    monkeypatch.setattr(os, "replace", recorded_replace)
    install(read_bundle(stick, box, read_key(box)), box)
    staged = box / "clips.new"
    clips = calls.index(("replace", str(staged), str(box / "clips")))
    for synced in (staged / "zh" / "qing.wav", staged / "zh", staged):
        assert ("fsync", str(synced)) in calls[:clips]
    assert ("fsync", str(box)) in calls[clips + 1:]
    [config] = [n for n, c in enumerate(calls) if c[0] == "replace"
                and c[2] == str(box / "config.toml")]
    assert ("fsync", calls[config][1]) in calls[:config]
    assert ("fsync", str(box)) in calls[config + 1:]
    assert (box / "clips" / "zh" / "hao.wav").exists()   # the clips the stick did not bring stay


def test_two_exports_in_the_same_second_each_get_a_folder(tmp_path):
    app, day, stick = a_day_done(tmp_path)
    day.devices.close()
    first = export(tmp_path / "box" / "queue.db", stick, at(12), app.hall.config)
    second = export(tmp_path / "box" / "queue.db", stick, at(12), app.hall.config)
    assert (first.name, second.name) == ("20261123-120000", "20261123-120000-2")
    assert sorted(p.name for p in (stick / "queue-export").iterdir()) == [first.name, second.name]


@pytest.mark.parametrize("trouble, reason", [
    ("link", "clips/zh/qing.wav is not a file but a link or something else"),
    ("large", "clips/zh/qing.wav has 5242880 bytes, more than the 4194304 a clip may have"),
    ("not a wav", "clips/zh/qing.wav: not a WAV file the announcer can play"),
    ("linked folder", "clips is a link")])
def test_the_tool_refuses_to_sign_what_the_box_would_refuse(tmp_path, trouble, reason):
    stick, box = tmp_path / "stick", tmp_path / "box"
    stick.mkdir()
    (stick / CONFIG_NAME).write_text(SHIPPED)
    qing = stick / "clips" / "zh" / "qing.wav"
    clip(qing)
    clip(stick / "clips" / "notes.wav")           # no clip name: named, never signed
    if trouble == "link":
        os.rename(qing, tmp_path / "real.wav")
        os.symlink(tmp_path / "real.wav", qing)
    elif trouble == "large":
        with open(qing, "r+b") as f:
            f.truncate(5 << 20)
    elif trouble == "not a wav":
        qing.write_bytes(b"RIFF but not really")
    else:
        os.rename(stick / "clips", tmp_path / "clips")
        os.symlink(tmp_path / "clips", stick / "clips")
    box.mkdir()
    make_key(box)
    tool = subprocess.run([sys.executable, "tools/sign_stick.py", "--key", str(box / KEY_NAME),
                           str(stick)], cwd=ROOT, capture_output=True, text=True)
    assert tool.returncode == 1 and f"not signed: {reason}" in tool.stderr, tool.stderr
    assert not (stick / SIGNATURE_NAME).exists()
    if trouble == "link":
        assert "ignored, not a clip the box installs: clips/notes.wav" in tool.stdout


def playlist_stick(tmp_path, listing: str, files: dict[str, bytes]) -> Path:
    stick = tmp_path / "stick"
    (stick / "playlist").mkdir(parents=True)
    (stick / CONFIG_NAME).write_text(SHIPPED)
    (stick / "playlist" / "playlist.toml").write_text(listing)
    for name, data in files.items():
        (stick / "playlist" / name).write_bytes(data)
    return stick


def picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 90), (0, 90, 160)).save(out, "PNG")
    return out.getvalue()


LISTING = """
[[item]]
text = "本周六照常营业 · Open on Saturday"
seconds = 10
days = "12345"

[[item]]
file = "seminar.png"
seconds = 8
hours = "08:30-17:00"
"""


def test_a_signed_stick_replaces_the_playlist(tmp_path):
    stick = playlist_stick(tmp_path, LISTING, {"seminar.png": picture()})
    sign(stick, tmp_path / "box")
    app, day = run_with_stick(tmp_path, stick)
    items = playlist.items(app.hall.db)
    assert [(i.kind, i.seconds, i.days, i.hours) for i in items] == \
        [("text", 10, "12345", None), ("image", 8, "1234567", "08:30-17:00")]
    kept = tmp_path / "box" / "media" / items[1].file
    assert kept.read_bytes() == (stick / "playlist" / "seminar.png").read_bytes()
    assert "playlist/seminar.png" in (stick / REPORT_NAME).read_text()
    assert app.hall.db.execute("SELECT by_user FROM events WHERE kind = 'playlist'"
                               ).fetchone()[0] == "USB stick"


@pytest.mark.parametrize("listing, files, change, reason", [
    (LISTING, {"seminar.png": picture()}, lambda s: (s / "playlist/seminar.png").write_bytes(
        picture()[:-8]), "not the file that was signed"),
    (LISTING, {"seminar.png": b"<svg/>"}, None, "not a PNG"),
    (LISTING.replace("08:30-17:00", "17:00-08:30"), {"seminar.png": picture()}, None,
     "range of the day"),
    (LISTING.replace("seminar.png", "../queue.db"), {}, None, "plain file name"),
    (LISTING.replace("seminar.png", "other.png"), {"seminar.png": picture()}, None,
     "not signed"),
])
def test_a_playlist_the_box_would_not_show_is_refused_and_changes_nothing(
        tmp_path, listing, files, change, reason):
    stick = playlist_stick(tmp_path, listing, files)
    sign_as_is(stick, tmp_path / "box", (CONFIG_NAME, *(f"playlist/{n}" for n in files),
                                         "playlist/playlist.toml"))
    if change:
        change(stick)
    app, day = run_with_stick(tmp_path, stick)
    assert playlist.items(app.hall.db) == []
    assert reason in (stick / REPORT_NAME).read_text()
    assert app.config.hall.name == load_config(DEFAULT).hall.name   # nothing installed


def test_the_tool_signs_the_playlist_and_refuses_what_the_box_would(tmp_path):
    stick = playlist_stick(tmp_path, LISTING.replace("seconds = 8", "seconds = 1"),
                           {"seminar.png": picture()})
    box = tmp_path / "box"
    box.mkdir()
    make_key(box)
    done = subprocess.run([sys.executable, "tools/sign_stick.py", "--key", str(box / KEY_NAME),
                           str(stick)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1 and "seconds must be 3 to 600" in done.stderr
    assert not (stick / SIGNATURE_NAME).exists()
