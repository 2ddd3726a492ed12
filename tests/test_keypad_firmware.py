"""Our keypad firmware (firmware/keypad/, MicroPython) on MicroPython's unix port: its
self-tests, and keypads running it on one line with the appliance's real bus master, typed on
as a teller would."""

import os
import subprocess
import sys
import time

from doc_keypad import crc16
from drivers.events import ButtonPressed
from firmware_keypad import FIRMWARE, MICROPYTHON, ROOT, FirmwareKeypad, micropython
from hallday import DEFAULT
from rs485 import hall_on_a_line, wait_for

T01 = "LOGIN ABC 8 ABC 0 1 OK 1 1 1 1 OK"   # teller T01 with PIN 1111 (8 once: T)


def login(teller):
    """The keys that log teller T0<teller> in with PIN <teller> x4."""
    return f"LOGIN ABC 8 ABC 0 {teller} OK " + f"{teller} " * 4 + "OK"


def firmware(tmp_path, **options):
    return lambda address: FirmwareKeypad(address, tmp_path / f"keypad{address}", **options)


def kinds(day, counter):
    return [r[0] for r in day.hall.db.execute(
        "SELECT kind FROM events WHERE counter = ? ORDER BY id", (counter,))]


def test_the_self_tests_pass_on_micropython(tmp_path):
    done = micropython(str(FIRMWARE / "selftest.py"), cwd=tmp_path, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    output = done.communicate(timeout=60)[0]
    assert done.returncode == 0, output
    assert output.rstrip().endswith("OK") and "Ran " in output


def test_the_built_firmware_runs_its_self_tests(tmp_path):
    """tools/flash.py's build: the .mpy files a board gets, with micropython-lib's licence."""
    built = subprocess.run([sys.executable, str(ROOT / "tools" / "flash.py"), "keypad", "--out",
                            str(tmp_path / "built")], capture_output=True, text=True, check=True)
    assert "selftest.mpy" in built.stdout and built.stdout.splitlines()[-1].startswith("total")
    assert (tmp_path / "built" / "lib" / "LICENSE").read_text().startswith("micropython-lib")
    assert not list((tmp_path / "built").glob("unixboard*"))
    done = subprocess.run([MICROPYTHON, "-m", "selftest"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "MICROPYPATH": ":".join(
                              str(tmp_path / "built" / p) for p in ("", "lib"))})
    assert done.returncode == 0 and "\nOK" in done.stdout, done.stdout + done.stderr


def test_a_teller_session_typed_on_the_keypads(tmp_path):
    async def script(app, day, keypads, line, bus):
        for service in "AAC":
            app.inbox.post(ButtonPressed(service, time.time()))
        four, one = keypads[4], keypads[1]
        await wait_for(lambda: four.lines == ("LOGGED OUT", "3 WAITING"))
        four.type("LOGIN ABC 8 ABC 0 4")
        await wait_for(lambda: four.lines == ("TELLER ID", "T04          123"))
        four.type("OK 4 4 4")
        await wait_for(lambda: four.lines == ("PIN", "***          123"))
        four.type("4 OK")
        await wait_for(lambda: four.lines == ("NO TICKET", "3 WAITING"))
        four.type("CALL")
        await wait_for(lambda: four.lines == ("C001 CALLED", "2 WAITING")
                       and four.leds == [True, False])
        four.type("RECALL START")
        await wait_for(lambda: four.lines == ("C001 SERVING", "2 WAITING"))
        four.type("TRANSFER 1 ABC 2")                  # to counter 1, service A
        await wait_for(lambda: four.lines == ("TRANSFER TO", "@1 A         ABC"))
        four.type("OK")
        await wait_for(lambda: four.lines == ("NO TICKET", "2 WAITING"))
        one.type(T01 + " CALL")
        await wait_for(lambda: one.lines == ("C001 CALLED", "2 WAITING"))
        one.type("FINISH")
        await wait_for(lambda: one.lines[0] == "NO TICKET")
        one.type("SATISFIED")                          # the customer's key
        await wait_for(lambda: one.lines == ("THANK YOU", ""))
        four.type("PAUSE")
        await wait_for(lambda: four.lines[1].endswith("PAUSED") and four.leds == [False, True])
        four.type("RESUME LOGOUT")
        await wait_for(lambda: four.lines[0] == "LOGGED OUT" and four.leds == [False, False])

    day = hall_on_a_line(tmp_path, script, addresses=(1, 4), keypad=firmware(tmp_path))
    assert kinds(day, 4) == ["login", "call", "recall", "start", "transfer", "pause", "resume",
                             "logout"]
    assert [r[0] for r in day.hall.db.execute("SELECT rating FROM ratings")] == [2]


def test_refused_keys_show_why_and_beep(tmp_path):
    async def script(app, day, keypads, line, bus):
        keypad = keypads[2]
        await wait_for(lambda: keypad.lines[0] == "LOGGED OUT")
        keypad.type("CALL")
        await wait_for(lambda: keypad.lines == ("NOT LOGGED IN", "") and keypad.beeps == 1)
        keypad.type("LOGIN ABC 8 ABC 0 2 OK 0 0 0 0 OK")
        await wait_for(lambda: keypad.lines == ("LOGIN REFUSED", "") and keypad.beeps == 2)
        keypad.type(login(2) + " TRANSFER 9 OK")
        await wait_for(lambda: keypad.lines == ("NO TICKET", "") and keypad.beeps == 3)

    day = hall_on_a_line(tmp_path, script, addresses=(2,), keypad=firmware(tmp_path))
    assert kinds(day, 2) == ["login"]


def test_a_full_keypad_refuses_a_press_and_loses_none_it_took(tmp_path):
    """Unplugged from the line, the keypad queues 8 presses; the 9th beeps. Plugged in again,
    the 8 are applied in order, each once."""
    async def script(app, day, keypads, line, bus):
        for _ in range(3):
            app.inbox.post(ButtonPressed("A", time.time()))
        keypad = keypads[1]
        await wait_for(lambda: keypad.lines[0] == "LOGGED OUT")
        line.silent.add(1)
        keypad.type(T01 + " CALL RECALL START FINISH CALL SKIP CALL PAUSE")
        await wait_for(lambda: keypad.beeps == 1, seconds=10)
        line.silent.discard(1)
        await wait_for(lambda: keypad.lines == ("A003 CALLED", "0 WAITING"), seconds=10)

    day = hall_on_a_line(tmp_path, script, addresses=(1,), keypad=firmware(tmp_path))
    assert kinds(day, 1) == ["login", "call", "recall", "start", "finish", "call", "no_show",
                             "call"]


def test_a_keypad_that_restarts_between_read_and_acknowledgement_loses_no_key(tmp_path):
    """The master reads the press of session S; the keypad restarts and the teller presses
    CALL again (session S+1, sequence 1) before S's acknowledgement arrives."""
    async def script(app, day, keypads, line, bus):
        for _ in range(3):
            app.inbox.post(ButtonPressed("A", time.time()))

        def restart_and_call(keypad):
            if keypad.answered[11:13] == b"\0\0":   # the press is not read yet: wait for it
                line.then[(1, 4, 0)] = restart_and_call
                return
            keypad.restart()
            keypad.type("CALL")
            time.sleep(0.3)   # pressed and queued: the relay holds the line meanwhile

        keypads[1].type(T01)
        await wait_for(lambda: keypads[1].lines == ("NO TICKET", "3 WAITING"))
        line.then[(1, 4, 0)] = restart_and_call
        keypads[1].type("CALL")
        await wait_for(lambda: keypads[1].lines == ("A002 CALLED", "1 WAITING"), seconds=10)

    day = hall_on_a_line(tmp_path, script, addresses=(1,), keypad=firmware(tmp_path),
                         strict=False)
    assert kinds(day, 1) == ["login", "call", "finish", "call"]   # each CALL applied once


def test_lost_spoiled_and_late_frames_apply_each_key_once(tmp_path):
    async def script(app, day, keypads, line, bus):
        for _ in range(4):
            app.inbox.post(ButtonPressed("A", time.time()))
        keypad = keypads[1]
        keypad.type(T01)
        await wait_for(lambda: keypad.lines == ("NO TICKET", "4 WAITING"))
        line.lose[(1, 16, 0)] = 1            # an acknowledgement's answer lost
        line.lose_requests[(1, 16, 0)] = 1   # an acknowledgement never heard
        keypad.type("CALL")
        await wait_for(lambda: keypad.lines == ("A001 CALLED", "3 WAITING"))
        line.corrupt[1] = 2                  # answers spoiled on the way
        line.lose[(1, 4, 0)] = 2             # reads' answers lost
        keypad.type("CALL")
        await wait_for(lambda: keypad.lines == ("A002 CALLED", "2 WAITING"))
        line.slow[(1, 16, 0)] = [0.1]        # an acknowledgement answered after the deadline
        line.garbage = b"\x01\x04\xff\x00"
        keypad.type("CALL")
        await wait_for(lambda: keypad.lines == ("A003 CALLED", "1 WAITING"))

    day = hall_on_a_line(tmp_path, script, addresses=(1,), keypad=firmware(tmp_path),
                         strict=False)
    assert kinds(day, 1) == ["login", "call", "finish", "call", "finish", "call"]


def test_eight_keypads_on_one_line(tmp_path):
    """Each keypad hears every request and answers only its own; every teller's keys apply."""
    config = tmp_path / "hall.toml"
    config.write_text(DEFAULT.read_text() + "".join(
        f'\n[[counter]]\nnumber = {n}\nname = "Counter {n}"\nservices = ["A"]\n'
        f'\n[[teller]]\nid = "T0{n}"\nname = "Teller {n}"\npin = "{n}{n}{n}{n}"\n'
        for n in range(5, 9)))

    heard = []

    async def script(app, day, keypads, line, bus):
        heard.extend(keypads.values())
        for _ in range(8):
            app.inbox.post(ButtonPressed("A", time.time()))
        for n, keypad in keypads.items():
            keypad.type(login(n) + " CALL")
        await wait_for(lambda: all(k.lines[0].endswith("CALLED") for k in keypads.values()),
                       seconds=15)

    addresses = tuple(range(1, 9))
    day = hall_on_a_line(tmp_path, script, addresses=addresses, keypad=firmware(tmp_path),
                         config_path=config)
    assert all(kinds(day, n) == ["login", "call"] for n in addresses)
    assert [k.out_of_turn for k in heard] == [[]] * 8


def test_a_keypad_without_an_address_stays_off_the_line_and_says_why(tmp_path):
    keypad = FirmwareKeypad(1, tmp_path / "keypad")
    try:
        settings = (tmp_path / "keypad" / "keypad.json")
        settings.write_text(settings.read_text().replace('"address": 1', '"address": 300'))
        keypad.restart()
        assert keypad.lines == ("SETUP ERROR", "BAD ADDRESS")
        read = bytes.fromhex("01040000000f")
        assert keypad.answer(read + crc16(read)) is None
        assert any("BAD ADDRESS" in line for line in keypad.log)
    finally:
        keypad.close()
