"""System updates as the hall sees them: the system marked good once the hall has shown it works,
an update from a signed USB stick, and one uploaded in the back office. A fake `rauc` on PATH
records how it is called and answers as each test says (the real RAUC is tested elsewhere); the
update helper (drivers/update_install.py, tested in test_update_install.py) runs it for each
request, as systemd's path unit would."""

import asyncio
import hashlib
import json
import logging
import os
import pwd
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from aiohttp import FormData

from browser import needs_chromium
from conftest import at
from drivers import update_install
from drivers.events import ButtonPressed
from firmware import update
from firmware.office import api
from firmware.signature import KEY_NAME, make_key
from firmware.stick import CONFIG_NAME, SIGNATURE_NAME, UPDATE_NAME
from hallday import wire
from office import Browser, office
from rs485 import wait_for
from test_stick import ROOT, SHIPPED, run_with_stick, sign, sign_as_is, wall

BUNDLE = os.urandom(1 << 18)   # what RAUC is given: its own signature is RAUC's to check
FAKE = """#!{python}
import hashlib, json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
plan = json.load(open(os.path.join(here, "plan.json"))).get(sys.argv[1], {{}})
call = {{"args": sys.argv[1:], "at": time.time(), "pid": os.getpid()}}
if sys.argv[1] == "install":
    if plan.get("pause"):
        open(os.path.join(here, "paused"), "w").close()
        while not os.path.exists(plan["pause"]):
            time.sleep(0.01)
    with open(sys.argv[2], "rb") as f:
        call["sha256"] = hashlib.file_digest(f, "sha256").hexdigest()
        info = os.fstat(f.fileno())
    call["owner"], call["mode"] = [info.st_uid, info.st_gid], info.st_mode & 0o7777
    call["folder_mode"] = os.stat(os.path.dirname(sys.argv[2])).st_mode & 0o7777
    call["there"] = [os.path.exists(p) for p in plan.get("witness", [])]
with open(os.path.join(here, "calls.jsonl"), "a") as f:
    f.write(json.dumps(call) + "\\n")
while plan.get("hold") and not os.path.exists(plan["hold"]):
    time.sleep(0.01)
sys.stderr.write(plan.get("stderr", ""))
sys.exit(plan.get("status", 0))
"""


class FakeRauc:
    """`rauc` on PATH: each call recorded, with the SHA-256, owner and mode of the bundle it
    installs."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir()
        (folder / "rauc").write_text(FAKE.format(python=sys.executable))
        (folder / "rauc").chmod(0o755)
        self.plan()

    def plan(self, **commands: dict) -> None:
        """How each command answers: install={"status": 1, "stderr": "…"}, and "witness"
        (paths whose presence an install records), "hold" (a path it waits for before it
        answers) or "pause" (one it waits for before it reads the bundle, "paused" made)."""
        (self.folder / "plan.json").write_text(json.dumps(commands))

    def calls(self, command: str | None = None) -> list[dict]:
        log = self.folder / "calls.jsonl"
        calls = [json.loads(line) for line in log.read_text().splitlines()] \
            if log.exists() else []
        return [c for c in calls if command is None or c["args"][0] == command]


class Helper:
    """Stands in for queue-appliance-update.path: the update helper, run as its unit runs it
    (`--store` in tmp, `--user` this one), in a thread, whenever a request appears in one of
    the data directories `boxes`."""

    def __init__(self, boxes: tuple[Path, ...], store: Path):
        self.boxes, self.store = boxes, store
        self.statuses: list[int] = []      # each run's exit status
        self.failures: list[BaseException] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        argv = ["--store", str(self.store), "--user", pwd.getpwuid(os.getuid()).pw_name]
        while not self.done.wait(0.02):
            for box in self.boxes:
                if os.path.lexists(box / update.FOLDER / update.REQUEST):
                    try:
                        self.statuses.append(update_install.main(["--data", str(box), *argv]))
                    except BaseException as exc:
                        self.failures.append(exc)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(30)
        assert not self.thread.is_alive() and self.failures == []


@pytest.fixture
def rauc(tmp_path, monkeypatch):
    """RAUC set up, as on a box built by tools/flash.py build, with the update helper."""
    fake = FakeRauc(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{fake.folder}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "system.conf").write_text("[system]\ncompatible=queue-appliance-rpi\n")
    monkeypatch.setattr(update, "SYSTEM_CONF", tmp_path / "system.conf")
    monkeypatch.setattr(update, "RETRY_SECONDS", 0.1)
    monkeypatch.setattr(update, "POLL_SECONDS", 0.05)
    fake.helper = Helper((tmp_path, tmp_path / "box"), tmp_path / "root-store")
    yield fake
    fake.helper.stop()
    assert set(fake.helper.statuses) <= {0}
    assert not list(fake.helper.store.glob("*"))   # root's copy: removed whatever happened


def rows(app) -> dict[str, int]:
    return {table: app.hall.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("tickets", "events", "refused_presses")}


def incoming(folder: Path) -> list[str]:
    """What the update folder of the data directory `folder` holds: bundles kept while the
    helper installs one, its request and its answer."""
    return [p.name for p in (folder / update.FOLDER).glob("*")]


def installed_from_root_s_copy(rauc, call: dict, bundle: bytes) -> bool:
    """Whether RAUC was given the helper's copy of `bundle`, only root's (this user's, here)."""
    return call["args"] == ["install", str(rauc.helper.store / update_install.COPY)] and \
        call["sha256"] == hashlib.sha256(bundle).hexdigest() and call["mode"] == 0o600 and \
        call["folder_mode"] == 0o700 and call["owner"] == [os.geteuid(), os.getegid()]


def run_until(app, condition, *events) -> None:
    """Run the loop until `condition()` holds, `events` posted first; then stop it."""
    async def main():
        for event in events:
            app.inbox.post(event)
        running = asyncio.create_task(app.run())
        await wait_for(condition, 10)
        app.stop()
        await running
    asyncio.run(main())


# -- marked good ------------------------------------------------------------------------------

@pytest.fixture
def systemd(monkeypatch):
    """The notify socket systemd listens on: each message, with the time it came."""
    address, heard, done = f"@queue-test-{uuid.uuid4().hex}", [], threading.Event()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + address[1:])
    sock.settimeout(0.05)

    def listen():
        while not done.is_set():
            try:
                heard.append((sock.recv(256).decode(), time.time()))
            except TimeoutError:
                continue
    listening = threading.Thread(target=listen, daemon=True)
    listening.start()
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    yield heard
    done.set()
    listening.join()
    sock.close()


def test_the_system_is_marked_good_once_after_ready_and_a_dry_run_leaves_nothing(
        tmp_path, rauc, systemd, caplog):
    caplog.set_level(logging.INFO)
    app, day = wire(tmp_path / "box", clock=lambda: at(9))
    app.hall.issue("A", at(8))
    app.hall.close_service("B", at(8))
    before = rows(app)
    run_until(app, lambda: "this system is marked good" in caplog.text)
    day.devices.close()
    [call] = rauc.calls()
    assert call["args"] == ["status", "mark-good"]
    ready = next(moment for message, moment in systemd if message == "READY=1")
    assert ready < call["at"]
    assert "a ticket issued in a dry run: A002" in caplog.text
    assert rows(app) == before                      # no ticket, no event left
    assert app.health()["system"] == "marked good"
    assert app.hall.issue("A", at(9, 1)).ticket.label == "A002"   # the number is still free


def test_a_closed_first_service_still_shows_the_hall_works(tmp_path, rauc, caplog):
    caplog.set_level(logging.INFO)
    app, day = wire(tmp_path / "box", clock=lambda: at(9))
    app.hall.close_service("A", at(8))
    before = rows(app)
    run_until(app, lambda: "this system is marked good" in caplog.text)
    day.devices.close()
    assert "service A is closed" in caplog.text
    assert rows(app) == before                      # not even the refused press
    assert [c["args"] for c in rauc.calls()] == [["status", "mark-good"]]


def test_a_system_that_cannot_issue_a_ticket_is_not_marked_good(tmp_path, rauc):
    app, day = wire(tmp_path / "box", clock=lambda: at(9))
    app.hall.db.execute("CREATE TRIGGER broken BEFORE INSERT ON tickets"
                        " BEGIN SELECT RAISE(ABORT, 'no tickets on this system'); END")
    run_until(app, lambda: "not marked good" in day.printed and "FAULT" in day.printed,
              ButtonPressed("A", at(9)))
    day.devices.close()
    assert "[office] FAULT, nothing changed: no tickets on this system" in day.printed
    assert "[office] this system is not marked good: a ticket issued in a dry run failed" \
        in day.printed
    assert rauc.calls() == []                       # RAUC boots the old system next time
    assert app.health()["system"].startswith("NOT marked good")


def test_mark_good_refused_by_rauc_is_reported(tmp_path, rauc):
    rauc.plan(status={"status": 1, "stderr": "Failed to mark slot: no slot booted\n"})
    app, day = wire(tmp_path / "box", clock=lambda: at(9))
    run_until(app, lambda: "not marked good" in day.printed)
    day.devices.close()
    assert "[office] this system is not marked good: Failed to mark slot: no slot booted" \
        in day.printed


def test_rauc_that_does_not_answer_is_stopped_at_its_deadline(tmp_path, rauc, monkeypatch):
    rauc.plan(status={"hold": str(tmp_path / "never")})
    monkeypatch.setattr(update, "MARK_GOOD_SECONDS", 1.0)
    app, day = wire(tmp_path / "box", clock=lambda: at(9))
    run_until(app, lambda: "not marked good" in day.printed)
    day.devices.close()
    assert "[office] this system is not marked good: rauc status did not finish within 1 s" \
        in day.printed
    with pytest.raises(ProcessLookupError):
        os.kill(rauc.calls()[0]["pid"], 0)


def test_what_a_power_cut_left_of_an_update_is_removed_at_start(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    box = tmp_path / "box"
    (box / update.FOLDER).mkdir(parents=True)
    for name in ("upload.raucb", "stick.raucb", update.REQUEST, ".request.partial",
                 update.RESULT):
        (box / update.FOLDER / name).write_text("left")
    (box / ".incoming-upload.raucb").write_text("left by an earlier version")
    app, day = wire(box, clock=lambda: at(9))
    run_until(app, lambda: "database check: ok" in caplog.text)
    day.devices.close()
    assert incoming(box) == [] and not (box / ".incoming-upload.raucb").exists()


def test_a_pc_without_rauc_says_so_once_and_nothing_else(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    app, day = wire(tmp_path / "box", clock=lambda: at(9))
    run_until(app, lambda: "database check: ok" in caplog.text and
              "updates are not in use" in caplog.text)
    day.devices.close()
    assert caplog.text.count("system updates are not in use here (no RAUC set up)") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "system" not in app.health() and "marked good" not in day.printed


# -- from a USB stick -------------------------------------------------------------------------

def update_stick(tmp_path: Path, config: str | None = SHIPPED) -> Path:
    stick = tmp_path / "stick"
    (stick / "update").mkdir(parents=True)
    (stick / UPDATE_NAME).write_bytes(BUNDLE)
    if config is not None:
        (stick / CONFIG_NAME).write_text(config)
    return stick


def test_a_signed_stick_installs_its_update_after_the_rest_of_the_stick(tmp_path, rauc):
    stick = update_stick(tmp_path, SHIPPED.replace("Riverside Bank, Main Street Branch",
                                                   "Harbour Bank"))
    sign(stick, tmp_path / "box")
    box = tmp_path / "box"
    rauc.plan(install={"witness": [str(box / "config.toml"), str(stick / "queue-export")]})
    app, day = run_with_stick(tmp_path, stick)
    [call] = rauc.calls("install")
    assert installed_from_root_s_copy(rauc, call, BUNDLE)   # copied twice: RAUC takes no FAT
    assert call["there"] == [True, True]   # file over; configuration, statistics first
    assert app.config.hall.name == "Harbour Bank" and incoming(box) == []
    assert wall(day)[-1] == "[wall] UPDATE OK 更新完成 · RESTARTING 重新启动"
    assert "[office] system update from the USB stick installed: the box restarts to try it" \
        in day.printed


def test_a_stick_may_bring_an_update_alone(tmp_path, rauc):
    stick = update_stick(tmp_path, config=None)
    sign(stick, tmp_path / "box")
    app, day = run_with_stick(tmp_path, stick)
    assert len(rauc.calls("install")) == 1
    assert not (tmp_path / "box" / "config.toml").exists()


def test_the_tool_refuses_to_sign_an_update_the_box_would_refuse(tmp_path):
    stick = update_stick(tmp_path, config=None)
    os.rename(stick / "update", tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", stick / "update")
    (tmp_path / "box").mkdir()
    make_key(tmp_path / "box")
    tool = subprocess.run([sys.executable, "tools/sign_stick.py", "--key",
                           str(tmp_path / "box" / KEY_NAME), str(stick)], cwd=ROOT,
                          capture_output=True, text=True)
    assert tool.returncode == 1 and "not signed: update is not a folder but a link" in \
        tool.stderr, tool.stderr
    assert not (stick / SIGNATURE_NAME).exists()


@pytest.mark.parametrize("how, reason", [
    ("unsigned", "queue-config.sig is missing"),
    ("signed before it was copied", "update/appliance.raucb is not signed"),
    ("changed after signing", "update/appliance.raucb is not the file that was signed"),
    ("another box's key", "not signed with this box's key"),
    ("a link", "update is not a folder but a link"),
    ("no room on the data partition", "the data partition has room for 0 MiB")])
def test_an_update_not_signed_for_this_box_is_refused_and_rauc_never_called(
        tmp_path, rauc, monkeypatch, how, reason):
    stick = update_stick(tmp_path)
    box = tmp_path / "box"
    box.mkdir()
    make_key(box)
    if how == "signed before it was copied":
        sign_as_is(stick, box, (CONFIG_NAME,))
    elif how in ("changed after signing", "a link", "no room on the data partition"):
        sign(stick, box)
    elif how == "another box's key":
        sign(stick, tmp_path / "other box")
    if how == "changed after signing":
        (stick / UPDATE_NAME).write_bytes(BUNDLE[:-1] + b"!")
    elif how == "a link":
        os.rename(stick / "update", tmp_path / "elsewhere")
        os.symlink(tmp_path / "elsewhere", stick / "update")
    elif how == "no room on the data partition":
        monkeypatch.setattr(update, "RESERVE", 1 << 60)
    app, day = run_with_stick(tmp_path, stick)
    assert rauc.calls("install") == [] and incoming(box) == []
    refusal = wall(day)[-1]
    assert refusal.startswith("[wall] USB update refused, nothing installed: ") and \
        reason in refusal, refusal


def test_an_update_rauc_refuses_shows_its_reason_and_changes_nothing(tmp_path, rauc):
    rauc.plan(install={"status": 1, "stderr": "signature verification failed\n"})
    stick = update_stick(tmp_path, config=None)
    sign(stick, tmp_path / "box")
    app, day = run_with_stick(tmp_path, stick)
    assert len(rauc.calls("install")) == 1
    assert wall(day)[-1] == "[wall] system update from the USB stick refused, nothing changed:" \
        " signature verification failed"
    assert [t.label for t in app.hall.tickets("2026-11-23")] == ["A001", "A002", "B001", "C001"]
    assert app.config.hall.name == "Riverside Bank, Main Street Branch"
    assert list((stick / "queue-export").iterdir())   # the statistics were taken all the same
    assert incoming(tmp_path / "box") == []
    assert "system" not in app.health() or app.health()["system"] == "marked good"


def test_rauc_s_last_words_are_its_reason(tmp_path):
    assert update.reason(b"", b"signature verification failed\n", 1) == \
        "signature verification failed"
    assert update.reason(b" 10% Checking bundle\nLastError: Failed to check bundle: bad\n",
                         b"Installing `/x.raucb` failed\n", 1) == "Failed to check bundle: bad"
    assert update.reason(b"", b"", 2) == "rauc exited with status 2"
    long = update.reason(b"", b"x\x1b[J" + b"y" * 500, 1)
    assert len(long) == update.REASON_CHARS and long.startswith("x [Jyy") and long[-1] == "…"


# -- from the back office ---------------------------------------------------------------------

def run(test):
    def runner(tmp_path, rauc):
        async def main():
            async with office(tmp_path) as parts:
                await test(tmp_path, rauc, *parts)
        asyncio.run(main())
    return runner


async def upload(browser, data: bytes | FormData):
    headers = {} if isinstance(data, FormData) else {"Content-Type": "application/octet-stream"}
    return await browser.call("POST", "/api/update", data=data, headers=headers)


@run
async def test_an_admin_installs_an_update_from_the_back_office(
        tmp_path, rauc, app, day, server, admin, client):
    assert await upload(admin, BUNDLE) == (200, {"installed": True, "restarting": True})
    [call] = rauc.calls("install")
    assert installed_from_root_s_copy(rauc, call, BUNDLE)
    assert incoming(tmp_path) == []
    assert "[wall] UPDATE OK 更新完成 · RESTARTING 重新启动" in day.printed
    assert "[office] system update from the back office (ada) installed" in day.printed

    form = FormData()
    form.add_field("note", "a field before the file")
    form.add_field("file", b"another bundle", filename="appliance.raucb")
    assert (await upload(admin, form))[0] == 200      # a browser's form
    assert rauc.calls("install")[-1]["sha256"] == hashlib.sha256(b"another bundle").hexdigest()
    assert incoming(tmp_path) == []


@run
async def test_only_an_admin_updates_the_system(tmp_path, rauc, app, day, server, admin, client):
    assert (await upload(Browser(client), BUNDLE))[0] == 401
    for name in ("sam", "tia"):
        browser = Browser(client)
        assert await browser.sign_in(name) == 200
        status, answer = await upload(browser, BUNDLE)
        assert status == 403, answer
    assert rauc.calls("install") == [] and incoming(tmp_path) == []


@run
async def test_one_update_at_a_time(tmp_path, rauc, app, day, server, admin, client):
    go = tmp_path / "go"
    rauc.plan(install={"hold": str(go)})
    first = asyncio.create_task(upload(admin, BUNDLE))
    await wait_for(lambda: rauc.calls("install"), 10)
    status, answer = await upload(admin, b"a second bundle")
    assert status == 409 and "being received or installed already" in answer["error"]
    assert "SYSTEM UPDATE 系统更新中" in app.devices.display.visible()
    go.touch()
    assert (await first)[0] == 200
    assert len(rauc.calls("install")) == 1 and incoming(tmp_path) == []
    assert (await upload(admin, b"a later bundle"))[0] == 200   # and then the next one


@run
async def test_an_upload_that_stalls_is_given_up_and_the_next_one_installs(
        tmp_path, rauc, app, day, server, admin, client):
    """A laptop asleep mid-upload: after UPLOAD_SILENCE without a byte the upload is dropped,
    its file removed, and the one update there is free again."""
    async def stalling():
        yield b"x" * 4096
        await asyncio.sleep(3600)
    kept, api.UPLOAD_SILENCE = api.UPLOAD_SILENCE, 0.5
    try:
        stalled = asyncio.create_task(admin.call("POST", "/api/update", data=stalling(), headers={
            "Content-Type": "application/octet-stream"}))
        await wait_for(lambda: incoming(tmp_path), 10)
        status, answer = await upload(admin, b"a second bundle")
        assert status == 409 and "received or installed" in answer["error"]
        await wait_for(lambda: not app.updates.lock.locked(), 10)
        assert incoming(tmp_path) == [] and rauc.calls("install") == []
        assert (await upload(admin, BUNDLE))[0] == 200
    finally:
        api.UPLOAD_SILENCE = kept
        stalled.cancel()
    assert len(rauc.calls("install")) == 1


@run
async def test_an_update_too_large_for_the_box_is_refused_and_leaves_nothing(
        tmp_path, rauc, app, day, server, admin, client):
    kept = update.MAX_BUNDLE, update.RESERVE
    try:
        update.MAX_BUNDLE = 1000
        status, answer = await upload(admin, BUNDLE)
        assert status == 413 and "at most" in answer["error"]
        form = FormData()
        form.add_field("file", BUNDLE, filename="appliance.raucb")
        assert (await upload(admin, form))[0] == 413   # (no length known before: counted)
        update.MAX_BUNDLE, update.RESERVE = kept[0], 1 << 60   # a data partition nearly full
        status, answer = await upload(admin, BUNDLE)
        assert status == 507 and "must stay free for the queue" in answer["error"]
    finally:
        update.MAX_BUNDLE, update.RESERVE = kept
    assert rauc.calls("install") == [] and incoming(tmp_path) == []
    assert (await upload(admin, b""))[0] == 400


@run
async def test_an_update_rauc_refuses_is_answered_with_its_reason(
        tmp_path, rauc, app, day, server, admin, client):
    rauc.plan(install={"status": 1, "stderr": "Installing `x` failed: Compatible mismatch\n"})
    status, answer = await upload(admin, BUNDLE)
    assert status == 422
    assert answer["error"] == "not installed, nothing changed: Installing `x` failed:" \
        " Compatible mismatch"
    assert incoming(tmp_path) == []
    assert "system update from the back office (ada) refused, nothing changed" in \
        app.devices.display.visible()[0]


@run
async def test_a_box_whose_update_helper_does_not_answer_says_so(
        tmp_path, rauc, app, day, server, admin, client):
    rauc.helper.stop()   # (as if its path unit were not enabled)
    kept = update.INSTALL_SECONDS, update.ANSWER_SECONDS
    try:
        update.INSTALL_SECONDS, update.ANSWER_SECONDS = 1.0, 0.0
        status, answer = await upload(admin, BUNDLE)
        assert status == 422
        assert answer["error"] == "not installed, nothing changed: the box's update helper did" \
            " not answer within 1 s (is queue-appliance-update.path enabled?)"
        assert incoming(tmp_path) == []   # no request left to be taken later
        assert (await upload(admin, BUNDLE))[0] == 422   # and the next update is taken
    finally:
        update.INSTALL_SECONDS, update.ANSWER_SECONDS = kept
    assert rauc.calls("install") == []


# -- the page ---------------------------------------------------------------------------------

@needs_chromium
def test_an_admin_installs_an_update_from_the_configuration_page(tmp_path, rauc, browser):
    from browser import Hall, click, find, text_of
    from test_office_pages import first_admin

    hall = Hall(tmp_path / "box")
    try:
        first_admin(hall, browser)
        browser.get(hall.url + "/configuration")
        bundle = tmp_path / "appliance.raucb"
        bundle.write_bytes(BUNDLE)
        find(browser, "#update [name=file]").send_keys(str(bundle))
        click(browser, "#update button[type=submit]")
        text_of(browser, "#update-message", "Installed: the box restarts to try the new system.")
        assert rauc.calls("install")[0]["sha256"] == hashlib.sha256(BUNDLE).hexdigest()
    finally:
        hall.close()
