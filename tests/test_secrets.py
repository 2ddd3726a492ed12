"""Tellers' PINs: kept hashed, never in a log line, a console echo, a report or an export; a
counter where wrong PINs pile up slows down and the back office hears of it."""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from config import DEFAULT
from conftest import at
from drivers.events import CounterKey, counter_key
from firmware.logins import LoginGuard
from hallday import wire
from queue_core.pins import hash_pin, pin_matches

ROOT = Path(__file__).resolve().parent.parent
RIGHT, WRONG, STRAY = "48151623", "97531864", "86420975"


def test_no_pin_reaches_a_log_line_the_console_the_stick_or_the_data_directory(tmp_path):
    shipped = DEFAULT.read_text()
    first_pin = shipped[shipped.index('pin = "scrypt'):].split("\n")[0]
    hall = tmp_path / "hall.toml"   # a technician's file, with a plain PIN for T01
    hall.write_text(shipped.replace(first_pin, f'pin = "{RIGHT}"', 1))
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "firmware.boot", "--data-dir", str(data), "--config", str(hall)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    process.stdin.write(f"A\n3 login T03 {WRONG}\n3 login T03\n3 login T03 {WRONG} x\n"
                        f"login T03 {STRAY}\n{STRAY}\n3 login T03 ９７５３１\n3 login T03 ä\n"
                        f"3 logn T03 {WRONG}\n3 LOGIN T03 {WRONG}\n3 call {STRAY}\n3 {STRAY}\n"
                        f"３ login T03 {WRONG}\n"
                        f"1 login T01 {RIGHT}\n1 call\n")
    process.stdin.flush()
    (data / "usb" / "stick").mkdir(parents=True)       # a stick: the statistics are exported
    out = []
    for line in process.stdout:
        out.append(line)
        if "the stick can be removed" in line:
            break
    rest, err = process.communicate("quit\n", timeout=30)
    out = "".join(out) + rest
    assert process.returncode == 0
    assert out.count("[counter 3] LOGIN REFUSED") == 3 and "[counter 1] A001 CALLED" in out
    assert "Traceback" not in err
    files = [p for p in data.rglob("*") if p.is_file() and p.suffix != ".png"]
    assert any(p.name == "events.csv" for p in files) and (data / "last-valid-config.toml") in files
    for pin in (RIGHT, WRONG, STRAY, "９７５３１"):
        assert pin not in out and pin not in err
        for path in files:
            assert pin.encode() not in path.read_bytes(), path
    assert (data / "last-valid-config.toml").read_text().count('pin = "scrypt:') == 4


async def keys(app, *presses):
    """Login presses, each handled by the loop before the next."""
    for counter, pin in presses:
        done = asyncio.get_running_loop().create_future()
        app.inbox.post(CounterKey(counter, "login", at(9), {"teller": "T03", "pin": pin},
                                  done=done))
        await done


def test_wrong_pins_at_a_counter_make_its_logins_wait_longer_and_longer(tmp_path):
    now = [0.0]
    app, day = wire(tmp_path)
    app.logins = LoginGuard(lambda: now[0])

    async def hall():
        running = asyncio.create_task(app.run())
        await keys(app, (3, "1111"), (3, "2222"), (3, "4444"), (3, "3333"), (2, "0000"))
        now[0] = 2.5                               # the 2 s wait is over
        await keys(app, (3, "5555"), (3, "3333"))
        now[0] = 7.0                               # and the 4 s one
        await keys(app, (3, "3333"))
        app.stop()
        await running

    asyncio.run(hall())
    day.devices.close()
    shown = [line for line in day.printed.splitlines() if line.startswith("[counter 3]")]
    assert shown == ["[counter 3] LOGGED OUT  0 WAITING"] + \
        ["[counter 3] LOGIN REFUSED"] * 3 + ["[counter 3] WAIT, LOGIN  LOCKED"] + \
        ["[counter 3] LOGIN REFUSED", "[counter 3] WAIT, LOGIN  LOCKED",
         "[counter 3] NO TICKET  0 WAITING"]
    assert "[counter 2] LOGIN REFUSED" in day.printed    # another counter: a plain no
    assert "[office] counter 3: 3 wrong PINs in a row; logins there wait 2 s" in day.printed
    assert "[office] counter 3: 4 wrong PINs in a row; logins there wait 4 s" in day.printed


@pytest.mark.parametrize("typed", ["", "1234", "１２３４", "ä", "1234\x00", None, 1234, b"1234",
                                   "9" * 10_000])
def test_any_typed_pin_gets_an_answer_never_an_exception(typed):
    stored = hash_pin("1234")
    assert pin_matches(stored, typed) is (typed == "1234")
    assert pin_matches("1234", typed) is (typed == "1234")
    assert pin_matches(None, typed) is False


@pytest.mark.parametrize("stored", ["scrypt:3:8:1:" + "0" * 32 + ":" + "0" * 64,
                                    "scrypt:1048576:99:99:" + "0" * 32 + ":" + "0" * 64,
                                    "scrypt:0:0:0:" + "0" * 32 + ":" + "0" * 64,
                                    "md5:1234", ""])
def test_a_stored_pin_that_is_no_hash_matches_nothing(stored):
    assert pin_matches(stored, "1234") is False


def test_the_same_pin_hashes_differently_for_every_teller():
    assert hash_pin("1234") != hash_pin("1234")


def test_a_login_event_never_shows_its_pin():
    event = counter_key(3, "login", ["T01", "48151623"], at(9))
    assert "48151623" not in repr(event) and "'pin': '***'" in repr(event)
    with pytest.raises(ValueError) as refused:
        counter_key(3, "login", ["T01", "48151623", "extra"], at(9))
    assert "48151623" not in str(refused.value)
