"""Teller keypads on a Modbus RTU line: keypads built from docs/keypad.md alone (not from our
driver) on a simulated line that can be slow, lose, spoil, repeat and reorder frames."""

import asyncio
import logging
import time

from config.hardware import KeypadsConfig
from doc_keypad import DocKeypad, crc16
from drivers.events import ButtonPressed
from drivers.keypads import KeypadBus, display_registers, register_bytes
from queue_core.hall_time import business_day
from queue_core.model import State
from rs485 import hall_on_a_line, wait_for


def waiting(day):
    return day.hall.status(time.time()).waiting


def keys_applied(day, counter):
    return [r[0] for r in day.hall.db.execute("SELECT kind FROM events WHERE counter = ?",
                                              (counter,))]


def register_text(registers):
    return register_bytes(registers).decode().rstrip()


def test_display_text_round_trip():
    assert register_text(display_registers("A012 CALLED\n2 WAITING")) == \
        "A012 CALLED".ljust(16) + "2 WAITING"
    assert register_text(display_registers("请 A012")) == "? A012"
    assert register_text(display_registers("WAIT, LOGIN LOCKED")) == \
        "WAIT, LOGIN".ljust(16) + "LOCKED"                    # words wrap, never cut


def test_a_teller_session_at_a_keypad(tmp_path):
    async def script(app, day, keypads, line, bus):
        for service in "AAC":
            app.inbox.post(ButtonPressed(service, time.time()))
        keypad = keypads[4]
        await wait_for(lambda: keypad.lines[0].startswith("LOGGED OUT"))
        keypad.press("login", "T04 4444")
        await wait_for(lambda: keypad.lines == ("NO TICKET", "3 WAITING"))
        keypad.press("call")
        await wait_for(lambda: keypad.lines == ("C001 CALLED", "2 WAITING")
                       and keypad.leds == [True, False])   # the coils follow the display
        keypad.press("recall")
        keypad.press("start")
        await wait_for(lambda: keypad.lines == ("C001 SERVING", "2 WAITING"))
        keypad.press("transfer", "@1 A")   # C001 goes to counter 1: not counted here any more
        await wait_for(lambda: keypad.lines == ("NO TICKET", "2 WAITING"))
        keypads[1].press("login", "T01 1111")
        keypads[1].press("call")
        await wait_for(lambda: keypads[1].lines == ("C001 CALLED", "2 WAITING"))
        keypads[1].press("finish")
        keypad.press("pause")
        await wait_for(lambda: keypad.lines[1].endswith("PAUSED") and keypad.leds == [False, True])
        keypad.press("resume")
        keypad.press("logout")
        await wait_for(lambda: keypad.lines[0].startswith("LOGGED OUT") and not keypad.queue)

    day = hall_on_a_line(tmp_path, script)
    kinds = [r[0] for r in day.hall.db.execute("SELECT kind FROM events WHERE counter = 4")]
    assert kinds == ["login", "call", "recall", "start", "transfer", "pause", "resume", "logout"]
    today = business_day(time.time(), day.hall.config)
    c001 = [t for t in day.hall.tickets(today) if t.label == "C001"]
    assert [(t.service, t.state, t.counter) for t in c001] == \
        [("C", State.TRANSFERRED, 4), ("A", State.DONE, 1)]
    assert day.devices.audio.spoken.count("Ticket C001, please go to counter 4") == 2


def test_the_customer_rates_at_the_keypad_once(tmp_path):
    async def script(app, day, keypads, line, bus):
        app.inbox.post(ButtonPressed("A", time.time()))
        keypad = keypads[1]
        for key, argument in (("login", "T01 1111"), ("call", ""), ("finish", "")):
            keypad.press(key, argument)
        await wait_for(lambda: keypad.lines[0].startswith("NO TICKET"))
        keypad.press("rate 2")
        await wait_for(lambda: keypad.lines == ("THANK YOU", ""))
        keypad.press("rate 1")
        await wait_for(lambda: keypad.lines == ("NOTHING TO RATE", ""))

    day = hall_on_a_line(tmp_path, script, addresses=(1,))
    assert [r[0] for r in day.hall.db.execute("SELECT rating FROM ratings")] == [2]


def test_a_refused_key_shows_why_and_beeps(tmp_path):
    async def script(app, day, keypads, line, bus):
        keypads[2].press("call")
        await wait_for(lambda: keypads[2].lines == ("NOT LOGGED IN", "") and keypads[2].beeps == 1)
        keypads[2].press("login", "T02 0000")
        await wait_for(lambda: keypads[2].lines == ("LOGIN REFUSED", ""))

    hall_on_a_line(tmp_path, script)


def test_a_silent_keypad_goes_offline_and_the_others_keep_working(tmp_path, caplog):
    caplog.set_level(logging.INFO)

    async def script(app, day, keypads, line, bus):
        app.inbox.post(ButtonPressed("A", time.time()))
        line.silent.add(2)
        await wait_for(lambda: not bus.keypads[2].online)
        started = time.monotonic()
        keypads[1].press("login", "T01 1111")
        keypads[1].press("call")
        await wait_for(lambda: keypads[1].lines[0].startswith("A001 CALLED"))
        assert time.monotonic() - started < 1.0
        assert "offline" in day.devices.health()["keypads"]
        line.silent.clear()
        await wait_for(lambda: bus.keypads[2].online, seconds=10)

    hall_on_a_line(tmp_path, script, addresses=(1, 2))
    assert "keypad 2 offline after 3 failed polls" in caplog.text
    assert "keypad 2 online" in caplog.text


def test_bad_crc_answers_are_counted_and_survived(tmp_path):
    async def script(app, day, keypads, line, bus):
        line.corrupt[3] = 2
        keypads[3].press("login", "T03 3333")
        await wait_for(lambda: keypads[3].lines[0].startswith("NO TICKET"))
        assert bus.keypads[3].bad_answer == 2 and bus.keypads[3].online

    day = hall_on_a_line(tmp_path, script, addresses=(3,))
    assert day.hall.status(time.time()).counters[2].teller == "T03"


async def open_counter_1(app, keypads, tickets):
    """`tickets` customers for A, and teller T01 logged in at keypad 1."""
    for _ in range(tickets):
        app.inbox.post(ButtonPressed("A", time.time()))
    keypads[1].press("login", "T01 1111")
    await wait_for(lambda: keypads[1].lines[0].startswith("NO TICKET"))


def test_random_bytes_on_the_line(tmp_path):
    async def script(app, day, keypads, line, bus):
        await open_counter_1(app, keypads, tickets=5)
        for n in range(3):
            line.garbage = bytes([0x01, 0x03, 0xFF, 0x00, 0x55, 0xAA, n])
            keypads[1].press("call")
            await wait_for(lambda: not keypads[1].queue)
        await wait_for(lambda: waiting(day)["A"] == 2)

    hall_on_a_line(tmp_path, script, addresses=(1,))


def lost_once(where):
    """A call whose exchange loses one frame at `where`: applied once all the same."""
    def test(tmp_path):
        async def script(app, day, keypads, line, bus):
            await open_counter_1(app, keypads, tickets=3)
            table, key = where
            getattr(line, table)[key] = 1
            keypads[1].press("call")
            await wait_for(lambda: not keypads[1].queue and getattr(line, table)[key] == 0)
            await wait_for(lambda: keypads[1].lines == ("A001 CALLED", "2 WAITING"))
            await asyncio.sleep(0.2)   # several more polls: nothing more may happen

        day = hall_on_a_line(tmp_path, script, addresses=(1,))
        assert waiting(day)["A"] == 2
        calls = day.hall.db.execute("SELECT COUNT(*) FROM events WHERE kind = 'call'")
        assert calls.fetchone()[0] == 1
    return test


# The answer carrying the key press is lost: the master reads it again.
test_the_answer_with_the_key_is_lost = lost_once(("lose", (1, 4, 0)))
# The acknowledgement never arrives: the keypad offers the same press again; it is recognised.
test_the_acknowledgement_is_lost = lost_once(("lose_requests", (1, 16, 0)))
# The keypad took the acknowledgement but its answer is lost: the press is not read again.
test_the_answer_to_the_acknowledgement_is_lost = lost_once(("lose", (1, 16, 0)))


def test_a_restarted_keypad_gets_its_display_back(tmp_path):
    async def script(app, day, keypads, line, bus):
        keypads[1].press("login", "T01 1111")
        await wait_for(lambda: keypads[1].lines[0].startswith("NO TICKET"))
        line.restart(1)
        await wait_for(lambda: keypads[1].lines[0].startswith("NO TICKET"))

    hall_on_a_line(tmp_path, script, addresses=(1,))


def test_a_heartbeat_warning_clears_when_the_heartbeat_runs_again(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    now = [100.0]
    monkeypatch.setattr("drivers.keypads.time.monotonic", lambda: now[0])
    bus = KeypadBus(KeypadsConfig(port="/dev/ttyS0", counters=(1,)), lambda event: None,
                    time.time)
    keypad = bus.keypads[1]
    status = [2, 0x0100, 7, 4711]              # protocol 2, firmware 1.0, heartbeat 7, session
    bus._answered(keypad, status)              # online
    now[0] += 6
    bus._answered(keypad, status)              # the same heartbeat after 6 s: stopped
    assert "heartbeat stopped" in bus.health()
    bus._answered(keypad, [2, 0x0100, 8, 4711])   # it runs again
    assert "heartbeat stopped" not in bus.health()
    assert "keypad 1: heartbeat runs again" in caplog.text


def test_keypads_that_refuse_a_write_are_still_read_and_acknowledged(tmp_path, caplog):
    """One keypad has a one-line display, another no beeper: each refuses one of the master's
    writes. Their keys apply and are acknowledged all the same, the refusal is logged once,
    and keypad 4, without a beeper, still shows its text."""
    async def script(app, day, keypads, line, bus):
        app.inbox.post(ButtonPressed("C", time.time()))
        for n in (3, 4):
            for key, argument in (("login", f"T0{n} {n * 1111}"), ("call", ""),
                                  ("finish", ""), ("logout", "")):
                keypads[n].press(key, argument)
        await wait_for(lambda: not keypads[3].queue and not keypads[4].queue)
        await wait_for(lambda: keypads[4].lines[0] == "LOGGED OUT")

    day = hall_on_a_line(tmp_path, script, k3={"display_registers": 8}, k4={"coils": 2})
    assert keys_applied(day, 3) == ["login", "logout"]     # (nobody for counter 3 to call)
    assert keys_applied(day, 4) == ["login", "call", "finish", "logout"]
    assert caplog.text.count("keypad 3 refused its display") == 1
    assert caplog.text.count("keypad 4 refused its leds") == 1


def calls(day):
    return day.hall.db.execute("SELECT COUNT(*) FROM events WHERE kind = 'call'").fetchone()[0]


def test_a_late_answer_is_not_taken_for_the_next_ones(tmp_path):
    """Keypad 1 stalls (a flash write) on the acknowledgement and on a display write: each
    answer comes after the master gave up, while it waits for its next request's answer. It is
    a bad answer; the bus goes on, and each key applies once."""
    async def script(app, day, keypads, line, bus):
        await open_counter_1(app, keypads, tickets=3)
        line.slow[(1, 16, 0)] = [0.1]
        line.slow[(1, 16, 2)] = [0.1]
        keypads[1].press("call")
        await wait_for(lambda: keypads[1].lines == ("A001 CALLED", "2 WAITING"))
        keypads[1].press("call")
        await wait_for(lambda: keypads[1].lines == ("A002 CALLED", "1 WAITING"))
        assert bus.keypads[1].bad_answer >= 2 and bus.keypads[1].online

    day = hall_on_a_line(tmp_path, script, addresses=(1,), strict=False)
    assert calls(day) == 2


def test_repeated_and_reordered_answers_change_nothing(tmp_path):
    """Answers heard twice, and an acknowledgement's answer overtaken by the next answer."""
    async def script(app, day, keypads, line, bus):
        await open_counter_1(app, keypads, tickets=3)
        line.duplicate[(1, 4, 0)] = 5
        line.duplicate[(1, 16, 2)] = 2
        line.hold[(1, 16, 0)] = 1
        keypads[1].press("call")
        await wait_for(lambda: keypads[1].lines == ("A001 CALLED", "2 WAITING"))
        keypads[1].press("call")
        await wait_for(lambda: keypads[1].lines == ("A002 CALLED", "1 WAITING"))
        await asyncio.sleep(0.2)
        assert bus.keypads[1].online

    day = hall_on_a_line(tmp_path, script, addresses=(1,), strict=False)
    assert calls(day) == 2


def test_a_keypad_that_restarts_between_read_and_acknowledgement_loses_no_key(tmp_path):
    """The master reads session S1's press; the keypad restarts and the teller presses again
    (S2, sequence 1); the acknowledgement of S1:1 must not drop S2:1."""
    def restart_and_press(keypad):
        keypad.restart()
        keypad.press("call")

    async def script(app, day, keypads, line, bus):
        await open_counter_1(app, keypads, tickets=3)
        with line.lock:
            keypads[1].press("call")
            line.then[(1, 4, 0)] = restart_and_press
        await wait_for(lambda: keypads[1].lines == ("A002 CALLED", "1 WAITING")
                       and not keypads[1].queue)

    day = hall_on_a_line(tmp_path, script, addresses=(1,))
    assert calls(day) == 2


def test_31_silent_keypads_do_not_hold_up_the_one_that_answers(tmp_path, caplog):
    """Between two polls of the one live keypad, at most one silent keypad is probed; each
    silent keypad is logged offline although it never answered."""
    silent = range(2, 33)

    async def script(app, day, keypads, line, bus):
        await open_counter_1(app, keypads, tickets=2)
        keypads[1].press("call")
        await wait_for(lambda: keypads[1].lines == ("A001 CALLED", "1 WAITING"))
        await wait_for(lambda: all(bus.keypads[n].failures_in_row >= 3 for n in silent),
                       seconds=30)
        reads = [at for at, key in line.requests if key == (1, 4, 0)]
        probes = [at for at, key in line.requests if key[0] != 1]
        between = [sum(a < at < b for at in probes) for a, b in zip(reads, reads[1:])]
        assert max(between) == 1

    hall_on_a_line(tmp_path, script, addresses=tuple(range(1, 33)), silent=silent,
                   timeout=0.025, ready=lambda bus: bus.keypads[1].online)
    for n in silent:
        assert f"keypad {n} has not answered since the start: offline" in caplog.text


def test_a_keypad_of_another_protocol_is_not_used(tmp_path, caplog):
    """Nothing is written to it nor taken from it; it is logged once and the health says so."""
    async def script(app, day, keypads, line, bus):
        keypads[2].press("login", "T02 2222")
        await asyncio.sleep(0.3)
        assert list(keypads[2].queue) and keypads[2].lines == ("", "")
        assert {function for function, _, _ in keypads[2].requests} == {4}
        assert "not used: 2 (protocol 1)" in day.devices.health()["keypads"]

    hall_on_a_line(tmp_path, script, addresses=(1, 2), k2={"protocol": 1},
                   ready=lambda bus: bus.keypads[1].online and bus.keypads[2].protocol == 1)
    assert caplog.text.count("keypad 2 speaks keypad protocol 1; this appliance speaks 2") == 1


def test_a_key_code_outside_the_document_is_answered_and_dropped(tmp_path):
    async def script(app, day, keypads, line, bus):
        keypads[1].press_code(42)
        await wait_for(lambda: keypads[1].lines == ("KEY NOT", "UNDERSTOOD")
                       and keypads[1].beeps == 1 and not keypads[1].queue)

    hall_on_a_line(tmp_path, script, addresses=(1,))


def test_the_line_at_9600_baud_with_even_parity(tmp_path):
    """The slowest rate the document allows: the master's timeout leaves room for the frames'
    own time on the wire."""
    async def script(app, day, keypads, line, bus):
        await open_counter_1(app, keypads, tickets=2)
        keypads[1].press("call")
        await wait_for(lambda: keypads[1].lines == ("A001 CALLED", "1 WAITING"))
        assert bus.keypads[1].no_answer == 0

    hall_on_a_line(tmp_path, script, addresses=(1,), baudrate=9600)


class SilentOnDisplayWrites(DocKeypad):
    """A keypad whose receive buffer is too small for the 41-byte display write."""

    def answer(self, frame):
        return None if frame[1:2] == b"\x10" and frame[3] == 2 else super().answer(frame)


class RefusesAcknowledgements(DocKeypad):
    def answer(self, frame):
        if frame[0] == self.address and frame[1:2] == b"\x10" and frame[3] == 0:
            reply = bytes((self.address, 0x90, 2))
            return reply + crc16(reply)
        return super().answer(frame)


class UndecodableAnswers(DocKeypad):
    """Answers its display writes with function code 0x80, which pymodbus cannot decode."""

    def answer(self, frame):
        if frame[0] == self.address and frame[1:2] == b"\x10" and frame[3] == 2:
            reply = bytes((self.address, 0x80, 1))
            return reply + crc16(reply)
        return super().answer(frame)


def test_a_keypad_that_never_answers_its_display_writes_still_works(tmp_path, caplog):
    """Its keys apply and are acknowledged; after 3 unanswered display writes the master stops
    writing it (logged once), so the other keypad's polls do not wait on it."""
    async def script(app, day, keypads, line, bus):
        await open_counter_1(app, keypads, tickets=3)   # (keypad 1 shows NO TICKET)
        for key, argument in (("login", "T02 2222"), ("call", ""), ("call", "")):
            keypads[2].press(key, argument)
        await wait_for(lambda: not keypads[2].queue)
        keypads[1].press("call")
        await wait_for(lambda: keypads[1].lines[0] == "A003 CALLED")

    day = hall_on_a_line(tmp_path, script, addresses=(1, 2),
                         k2={"kind": SilentOnDisplayWrites})
    assert keys_applied(day, 2) == ["login", "call", "finish", "call"]   # (call finishes)
    assert caplog.text.count("keypad 2 does not answer the writes of its display") == 1


def test_a_keypad_that_refuses_its_acknowledgement_is_named_once(tmp_path, caplog):
    caplog.set_level(logging.INFO)

    async def script(app, day, keypads, line, bus):
        keypads[1].press("login", "T01 1111")
        await asyncio.sleep(0.5)   # it offers its press at every poll

    day = hall_on_a_line(tmp_path, script, addresses=(1,), k1={"kind": RefusesAcknowledgements})
    assert keys_applied(day, 1) == ["login"]
    assert caplog.text.count("keypad 1 refused its acknowledgement") == 1
    assert caplog.text.count("offers the key press") == 1
    assert "already applied" not in caplog.text


def test_an_answer_pymodbus_cannot_decode_leaves_no_traceback(tmp_path, caplog):
    async def script(app, day, keypads, line, bus):
        keypads[1].press("login", "T01 1111")
        await wait_for(lambda: not keypads[1].queue)
        await asyncio.sleep(0.3)

    day = hall_on_a_line(tmp_path, script, addresses=(1,), k1={"kind": UndecodableAnswers},
                         strict=False)
    assert keys_applied(day, 1) == ["login"]
    assert not any(record.exc_info for record in caplog.records)
    assert caplog.text.count("cannot be decoded") == 1


def test_a_no_show_is_shown_on_the_keypad(tmp_path):
    async def script(app, day, keypads, line, bus):
        await open_counter_1(app, keypads, tickets=1)
        keypads[1].press("call")
        await wait_for(lambda: keypads[1].lines[0] == "A001 CALLED")
        keypads[1].press("skip")
        await wait_for(lambda: keypads[1].lines == ("A001 NO-SHOW", "")
                       and keypads[1].leds == [False, False])

    hall_on_a_line(tmp_path, script, addresses=(1,))


def test_an_argument_with_control_characters_is_not_understood(tmp_path, caplog):
    """A TAB between teller and PIN, and a PIN typed first: no login, and no PIN in the log."""
    caplog.set_level(logging.DEBUG)

    async def script(app, day, keypads, line, bus):
        keypads[1].queue.append((1, 9, "T01\t1111"))
        await wait_for(lambda: keypads[1].lines == ("KEY NOT", "UNDERSTOOD"))
        keypads[1].queue.append((2, 9, "1111 T01"))
        await wait_for(lambda: keypads[1].lines == ("LOGIN REFUSED", ""))

    day = hall_on_a_line(tmp_path, script, addresses=(1,))
    assert keys_applied(day, 1) == []
    assert "1111" not in caplog.text.replace(str(day.hall.db), "")
