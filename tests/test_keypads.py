"""Teller keypads on a Modbus RTU line: independent simulated keypads, faults on the line."""

import asyncio
import logging
import time

from config.hardware import KeypadsConfig
from drivers.events import ButtonPressed
from drivers.keypads import KeypadBus, display_registers, register_text
from hallday import wire
from keypad_sim import KeypadSim, keypad_server
from queue_core.hall_time import business_day
from queue_core.model import State
from rs485 import Line, wait_for


def hall_on_a_line(tmp_path, script, addresses=(1, 2, 3, 4), **variants):
    """Run the appliance with its keypads on a simulated line while `script` plays the hall;
    `variants` maps an address to KeypadSim options (a keypad departing from the map)."""
    line = Line()
    keypads = {n: KeypadSim(n, **variants.get(f"k{n}", {})) for n in addresses}
    app, day = wire(tmp_path)
    bus = KeypadBus(KeypadsConfig(port=line.master, counters=tuple(addresses), timeout=0.05),
                    app.inbox.post, time.time)
    day.devices.keypads = bus
    day.devices.background.append(bus.run)

    async def main():
        server = keypad_server(line.keypads, list(keypads.values()))
        serving = asyncio.create_task(server.serve_forever())
        running = asyncio.create_task(app.run())
        try:
            await wait_for(lambda: all(k.online for k in bus.keypads.values()))
            await script(app, day, keypads, line, bus)
        finally:
            app.stop()
            await running
            await server.shutdown()
            serving.cancel()

    try:
        asyncio.run(main())
    finally:
        day.devices.close()
        line.close()
    return day


def waiting(day):
    return day.hall.status(time.time()).waiting


def two_lines(first, second):
    """The keypad's 32 characters as the document lays them out, trailing spaces dropped."""
    return (first.ljust(16) + second).rstrip()


def test_display_text_round_trip():
    assert register_text(display_registers("A012 CALLED\n2 WAITING")) == \
        two_lines("A012 CALLED", "2 WAITING")
    assert register_text(display_registers("请 A012")) == "? A012"
    assert register_text(display_registers("WAIT, LOGIN LOCKED")) == \
        two_lines("WAIT, LOGIN", "LOCKED")                    # words wrap, never cut


def test_a_teller_session_at_a_keypad(tmp_path):
    async def script(app, day, keypads, line, bus):
        for service in "AAC":
            app.inbox.post(ButtonPressed(service, time.time()))
        keypad = keypads[4]
        await wait_for(lambda: keypad.display.startswith("LOGGED OUT"))
        keypad.press("login", "T04 4444")
        await wait_for(lambda: keypad.display == two_lines("NO TICKET", "3 WAITING"))
        keypad.press("call")
        await wait_for(lambda: keypad.display == two_lines("C001 CALLED", "2 WAITING")
                       and keypad.leds == [True, False])   # the coils follow the display
        keypad.press("recall")
        keypad.press("start")
        await wait_for(lambda: keypad.display == two_lines("C001 SERVING", "2 WAITING"))
        keypad.press("transfer", "@1 A")   # C001 goes to counter 1: not counted here any more
        await wait_for(lambda: keypad.display == two_lines("NO TICKET", "2 WAITING"))
        keypads[1].press("login", "T01 1111")
        keypads[1].press("call")
        await wait_for(lambda: keypads[1].display == two_lines("C001 CALLED", "2 WAITING"))
        keypads[1].press("finish")
        keypad.press("pause")
        await wait_for(lambda: keypad.display.endswith("PAUSED") and keypad.leds == [False, True])
        keypad.press("resume")
        keypad.press("logout")
        await wait_for(lambda: keypad.display.startswith("LOGGED OUT") and not keypad.queue)

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
        await wait_for(lambda: keypad.display.startswith("NO TICKET"))
        keypad.press("rate 2")
        await wait_for(lambda: keypad.display == "THANK YOU")
        keypad.press("rate 1")
        await wait_for(lambda: keypad.display == "NOTHING TO RATE")

    day = hall_on_a_line(tmp_path, script, addresses=(1,))
    assert [r[0] for r in day.hall.db.execute("SELECT rating FROM ratings")] == [2]


def test_a_refused_key_shows_why_and_beeps(tmp_path):
    async def script(app, day, keypads, line, bus):
        keypads[2].press("call")
        await wait_for(lambda: keypads[2].display == "NOT LOGGED IN" and keypads[2].beeps == 1)
        keypads[2].press("login", "T02 0000")
        await wait_for(lambda: keypads[2].display == "LOGIN REFUSED")

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
        await wait_for(lambda: keypads[1].display.startswith("A001 CALLED"))
        assert time.monotonic() - started < 1.0
        assert "offline" in day.devices.health()["keypads"]
        line.silent.clear()
        await wait_for(lambda: bus.keypads[2].online, seconds=10)

    hall_on_a_line(tmp_path, script, addresses=(1, 2))
    assert "keypad 2 offline after 3 failed polls (3 unanswered, 0 bad answers" in caplog.text
    assert "keypad 2 online" in caplog.text


def test_bad_crc_answers_are_counted_and_survived(tmp_path):
    async def script(app, day, keypads, line, bus):
        line.corrupt[3] = 2
        keypads[3].press("login", "T03 3333")
        await wait_for(lambda: keypads[3].display.startswith("NO TICKET"))
        assert bus.keypads[3].bad_answer == 2 and bus.keypads[3].online

    day = hall_on_a_line(tmp_path, script, addresses=(3,))
    assert day.hall.status(time.time()).counters[2].teller == "T03"


async def open_counter_1(app, keypads, tickets):
    """`tickets` customers for A, and teller T01 logged in at keypad 1."""
    for _ in range(tickets):
        app.inbox.post(ButtonPressed("A", time.time()))
    keypads[1].press("login", "T01 1111")
    await wait_for(lambda: keypads[1].display.startswith("NO TICKET"))


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
            await wait_for(lambda: keypads[1].display == two_lines("A001 CALLED", "2 WAITING"))
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
        await wait_for(lambda: keypads[1].display.startswith("NO TICKET"))
        keypads[1].restart()
        await wait_for(lambda: keypads[1].display.startswith("NO TICKET"))

    hall_on_a_line(tmp_path, script, addresses=(1,))


def test_a_heartbeat_warning_clears_when_the_heartbeat_runs_again(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    now = [100.0]
    monkeypatch.setattr("drivers.keypads.time.monotonic", lambda: now[0])
    bus = KeypadBus(KeypadsConfig(port="/dev/ttyS0", counters=(1,)), lambda event: None,
                    time.time)
    keypad = bus.keypads[1]
    status = [0x0100, 7, 4711]                 # firmware 1.0, heartbeat 7, session 4711
    bus._answered(keypad, status)              # online
    now[0] += 6
    bus._answered(keypad, status)              # the same heartbeat after 6 s: stopped
    assert "heartbeat stopped" in bus.health()
    bus._answered(keypad, [0x0100, 8, 4711])   # it runs again
    assert "heartbeat stopped" not in bus.health()
    assert "keypad 1: heartbeat runs again" in caplog.text


def test_a_keypad_that_refuses_a_write_is_still_read_and_acknowledged(tmp_path, caplog):
    """A keypad with a shorter display than the map's refuses the display write: its login
    applies and is acknowledged all the same (it used to stay unacknowledged for good), and
    the refusal is logged once."""
    async def script(app, day, keypads, line, bus):
        keypads[3].press("login", "T03 3333")
        await wait_for(lambda: not keypads[3].queue)
        keypads[3].press("logout")
        await wait_for(lambda: not keypads[3].queue)

    day = hall_on_a_line(tmp_path, script, k3={"display_registers": 8})
    kinds = [r[0] for r in day.hall.db.execute("SELECT kind FROM events WHERE counter = 3")]
    assert kinds == ["login", "logout"]
    assert caplog.text.count("keypad 3 refused its display") == 1


def test_an_answer_that_is_not_to_this_request_is_a_bad_answer_not_a_crash():
    """pymodbus pairs answers with requests by device only: a keypad's late answer to the
    acknowledgement, arriving while the master reads, must not pass for the read."""
    from pymodbus.pdu.register_message import WriteMultipleRegistersResponse

    class Client:
        async def write_registers(self, address, values, device_id):
            return WriteMultipleRegistersResponse(address=address, count=len(values))

        async def read_input_registers(self, address, count, device_id):
            return WriteMultipleRegistersResponse(address=0, count=1)   # the late answer

    bus = KeypadBus(KeypadsConfig(port="/dev/ttyS0", counters=(1,)), lambda event: None,
                    time.time)
    bus.client = Client()
    asyncio.run(bus.poll(bus.keypads[1]))
    assert bus.keypads[1].bad_answer == 1 and not bus.keypads[1].online
