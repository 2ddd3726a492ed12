"""Counter displays on the keypads' line: displays built from docs/counter-display.md alone
(tests/doc_counter_display.py), driven by the appliance's real bus master over a simulated
line, and read back from their registers."""

import asyncio
import io
import logging
import time
from dataclasses import replace

import pytest

import drivers
from drivers import counter_displays
from config import DEFAULT, ConfigError, load_config
from config.hardware import CounterDisplayConfig, KeypadsConfig
from doc_counter_display import DocCounterDisplay
from doc_keypad import crc16
from doc_keypad import DocKeypad
from drivers.audio import SimAudio
from drivers.counter_displays import CounterDisplays
from drivers.events import ButtonPressed
from hallday import run_day
from media.counter_display import fit
from rs485 import hall_on_a_line, wait_for
from test_config import GOOD


def told(line, address: int) -> tuple[str, int, int]:
    """What display `address` holds, read back as a technician's tool would (FC03, holding
    registers 0-17): its 32 characters, the blink's seconds left, its brightness."""
    request = bytes((address, 3, 0, 0, 0, 18))
    with line.lock:
        reply = line.keypads[address].answer(request + crc16(request))
    assert reply[:3] == bytes((address, 3, 36)) and crc16(reply[:-2]) == reply[-2:]
    values = [int.from_bytes(reply[3 + 2 * i:5 + 2 * i], "big") for i in range(18)]
    return b"".join(v.to_bytes(2, "big") for v in values[:16]).decode(), values[16], values[17]


def writes(line, address: int) -> int:
    return sum(key == (address, 16, 0) for _, key in line.requests)


def test_a_counters_display_through_a_tellers_day(tmp_path):
    async def script(app, day, devices, line, bus):
        display, keypad = devices[103], devices[3]
        await wait_for(lambda: display.shown == " CLOSED ")
        assert told(line, 103) == (" CLOSED ".ljust(32), 0, 5)
        app.inbox.post(ButtonPressed("B", time.time()))
        keypad.press("login", "T03 3333")
        await wait_for(lambda: display.shown == " " * 8)        # open, no ticket: blank
        keypad.press("call")
        await wait_for(lambda: display.shown == "  B001  " and display.blinking)
        text, blink, brightness = told(line, 103)
        assert text == "  B001  ".ljust(32) and 8 <= blink <= 10 and brightness == 5
        before = writes(line, 103)
        keypad.press("recall")
        await wait_for(lambda: writes(line, 103) > before)      # blinks anew
        assert told(line, 103)[1] >= 9 and display.blinking
        keypad.press("start")
        await wait_for(lambda: not display.blinking)            # the customer came: steady
        assert told(line, 103) == ("  B001  ".ljust(32), 0, 5)
        keypad.press("pause")
        await wait_for(lambda: keypad.lines == ("B001 SERVING", "0 WAIT PAUSED"))
        assert display.shown == "  B001  "                      # still serving that customer
        keypad.press("finish")
        await wait_for(lambda: display.shown == " PAUSED ")
        keypad.press("resume")
        await wait_for(lambda: display.shown == " " * 8)
        keypad.press("logout")
        await wait_for(lambda: display.shown == " CLOSED ")
        assert day.devices.health()["counter displays"] == "1 online"

    hall_on_a_line(tmp_path, script, addresses=(3,),
                   displays=(CounterDisplayConfig(3, 103, brightness=5),))


def test_a_hall_with_displays_and_no_keypads_and_their_brightness_from_the_file(tmp_path):
    shipped = DEFAULT.read_text()
    edited = shipped.replace("counters = [1, 2, 3, 4] ", "counters = [] ") + "".join(
        f"\n[[hardware.counter_display]]\ncounter = {n}\naddress = {100 + n}\n"
        + ("brightness = 3\n" if n == 1 else "") for n in range(1, 5))
    assert edited.count("counters = [] ") == 1
    path = tmp_path / "hall.toml"
    path.write_text(edited)
    config = load_config(path)
    assert config.hardware.keypads.counters == ()

    async def script(app, day, devices, line, bus):
        assert [told(line, a)[2] for a in (101, 102, 103, 104)] == [3, 8, 8, 8]
        assert {devices[a].shown for a in (101, 102, 103, 104)} == {" CLOSED "}
        for typed in ("A", "1 login T01 1111", "1 call"):
            day.devices.console.feed(typed, app.inbox.post)
        await wait_for(lambda: devices[101].shown == "  A001  " and devices[101].blinking)
        assert "[counter 1] A001 CALLED" in day.printed   # the console plays the keypads
        assert day.devices.health()["keypads"] == "played on the console"
        assert day.devices.health()["counter displays"] == "4 online"

    hall_on_a_line(tmp_path, script, addresses=(), config_path=path,
                   displays=config.hardware.counter_displays)


def test_the_bus_runs_for_displays_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(drivers, "Announcer", lambda *args: SimAudio(io.StringIO()))
    port = tmp_path / "ttyUSB0"   # a line that is there: the bus is built, not opened
    port.touch()
    hardware = replace(load_config(DEFAULT).hardware,
                       keypads=KeypadsConfig(port=str(port), counters=()),
                       counter_displays=(CounterDisplayConfig(3, 103),))
    devices = drivers.build(hardware, ["A", "B", "C"], "auto", tmp_path, lambda event: None,
                            time.time, io.StringIO())
    try:
        assert isinstance(devices.counter_displays, CounterDisplays)
        assert len(devices.background) == 1 and devices.keypads is devices.console
        assert devices.health()["counter displays"] == "0 online, offline: 103 (counter 3)"
        assert "counter displays" not in devices.simulated and "keypads" in devices.simulated
    finally:
        devices.close()


def test_an_unplugged_display_is_logged_offline_costs_the_keypads_little_and_comes_back(
        tmp_path, caplog):
    caplog.set_level(logging.INFO)

    async def script(app, day, devices, line, bus):
        app.inbox.post(ButtonPressed("A", time.time()))
        line.silent.add(102)
        await wait_for(lambda: not bus.counter_displays.displays[102].online)
        assert day.devices.health()["counter displays"] == "1 online, offline: 102 (counter 2)"
        since = time.monotonic()
        await asyncio.sleep(0.5)
        reads = [t for t, key in line.requests if key == (1, 4, 0) and t > since]
        assert max(b - a for a, b in zip(reads, reads[1:])) < 0.2   # a probe's timeout a cycle
        started = time.monotonic()
        devices[2].press("login", "T02 2222")
        devices[2].press("call")
        await wait_for(lambda: devices[2].lines[0] == "A001 CALLED")
        assert time.monotonic() - started < 1.0
        assert devices[102].shown == " CLOSED "                 # it heard nothing
        line.silent.clear()
        await wait_for(lambda: devices[102].shown == "  A001  " and devices[102].blinking)

    hall_on_a_line(tmp_path, script, addresses=(1, 2),
                   displays=(CounterDisplayConfig(1, 101), CounterDisplayConfig(2, 102)))
    assert "counter display 102 (counter 2) offline after 3 failed reads" in caplog.text
    assert "counter display 102 (counter 2) online (firmware 1.0, 8 characters)" in caplog.text


def test_a_change_while_the_display_is_being_written_reaches_it(tmp_path):
    """The teller starts serving just as the display answers the recall's write (found by a
    display written from the document by another hand): the display stops blinking."""
    async def script(app, day, devices, line, bus):
        display = devices[103]
        for typed in ("B", "3 login T03 3333", "3 call"):
            day.devices.console.feed(typed, app.inbox.post)
        await wait_for(lambda: display.shown == "  B001  " and display.blinking)
        line.then[(103, 16, 0)] = lambda _: day.devices.console.feed("3 start", app.inbox.post)
        day.devices.console.feed("3 recall", app.inbox.post)
        await wait_for(lambda: display.shown == "  B001  " and not display.blinking)
        assert told(line, 103)[1] == 0

    hall_on_a_line(tmp_path, script, addresses=(), displays=(CounterDisplayConfig(3, 103),))


def test_a_display_that_refused_its_text_gets_it_a_minute_later(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(counter_displays, "REFUSED_RETRY", 1.0)   # (60 s on the box)
    caplog.set_level(logging.INFO)

    class BusyAtFirst(DocCounterDisplay):
        refusals = 1

        def answer(self, frame):
            if frame[0] == self.address and frame[1] == 16 and self.refusals:
                self.refusals -= 1
                reply = bytes((self.address, 0x90, 6))   # busy: it is starting
                return reply + crc16(reply)
            return super().answer(frame)

    async def script(app, day, devices, line, bus):
        await wait_for(lambda: devices[103].shown == " CLOSED ", seconds=5)

    hall_on_a_line(tmp_path, script, addresses=(), displays=(CounterDisplayConfig(3, 103),),
                   d103={"kind": BusyAtFirst})
    assert caplog.text.count("refused its text") == 1   # (and then shown: above)


def test_a_display_that_restarts_gets_its_text_again(tmp_path, caplog):
    caplog.set_level(logging.INFO)

    async def script(app, day, devices, line, bus):
        await wait_for(lambda: devices[104].shown == " CLOSED ")
        line.restart(104)
        assert devices[104].shown == " " * 8
        await wait_for(lambda: devices[104].shown == " CLOSED ")   # its next read, within 2 s

    hall_on_a_line(tmp_path, script, addresses=(4,), displays=(CounterDisplayConfig(4, 104),))
    assert "counter display 104 (counter 4) restarted: its text is written again" in caplog.text


def test_a_narrow_display_and_those_that_depart_from_the_map(tmp_path, caplog):
    displays = {100 + n: CounterDisplayConfig(n, 100 + n) for n in (1, 2, 3, 4)}

    def ready(bus):
        seen = bus.counter_displays.displays
        return seen[101].online and seen[103].refused and seen[102].unused and seen[104].unused

    async def script(app, day, devices, line, bus):
        await wait_for(lambda: devices[101].shown == "----")
        for typed in ("A", "1 login T01 1111", "1 call"):
            day.devices.console.feed(typed, app.inbox.post)
        await wait_for(lambda: devices[101].shown == "A001")
        assert day.devices.health()["counter displays"] == \
            "2 online, not used: 102 (protocol 2), 104 (not a counter display)," \
            " text refused: 103"

    hall_on_a_line(tmp_path, script, addresses=(), displays=tuple(displays.values()),
                   ready=ready, d101={"width": 4}, d102={"protocol": 2}, d103={"holding": 17},
                   d104={"kind": DocKeypad})   # (a keypad where a display should be)
    assert "counter display 103 (counter 3) refused its text: it departs from" \
        " docs/counter-display.md" in caplog.text
    assert "counter display 102 (counter 2): it speaks counter display protocol 2; this" \
        " appliance speaks 1: not used" in caplog.text
    assert "counter display 104 (counter 4): input register 0 reads 2" in caplog.text
    assert caplog.text.count("refused its text") == 1


def test_a_label_wider_than_its_display_shows_its_digits_and_is_logged_once(caplog):
    displays = CounterDisplays((CounterDisplayConfig(1, 101, brightness=2),), 3)
    display = displays.displays[101]
    display.width = 3   # as it said when read
    for label in ("A001", "A002"):
        displays.show(1, label, blink=True)
        registers = displays.registers(display, time.monotonic())
    assert b"".join(r.to_bytes(2, "big") for r in registers[:16]) == b"002".ljust(32)
    assert registers[16:] == [10, 2]
    assert caplog.text.count("counter display 101 (counter 1) is 3 characters wide") == 1


@pytest.mark.parametrize("text, width, shown", [
    ("A012", 8, "  A012  "), ("A012", 7, " A012  "), ("A012", 4, "A012"),
    ("A1234", 4, "1234"), ("", 5, "     "), ("PAUSED", 6, "PAUSED"), ("PAUSED", 5, " ||  "),
    ("PAUSED", 1, "|"), ("CLOSED", 4, "----"), ("CLOSED", 32, "CLOSED".center(32)),
    ("请A1", 6, " ?A1  "),
])
def test_a_text_fitted_to_a_displays_width(text, width, shown):
    assert fit(text, width) == shown


def test_the_pc_demo_prints_a_counters_display(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text(DEFAULT.read_text() + "\n[[hardware.counter_display]]\ncounter = 3\n"
                    "address = 103\n")
    day = run_day(tmp_path, ["B", "3 login T03 3333", "3 call", "3 recall", "3 start",
                             "3 pause", "3 finish", "3 resume", "3 logout", "status"],
                  config_path=path)
    shown = [line for line in day.printed.splitlines() if line.startswith("[display 3]")]
    assert shown == ["[display 3] CLOSED", "[display 3] (blank)", "[display 3] B001 (blinking)",
                     "[display 3] B001 (blinking)", "[display 3] B001", "[display 3] PAUSED",
                     "[display 3] (blank)", "[display 3] CLOSED"]
    assert "counter displays: shown on the console" in day.printed


def test_the_shipped_file_has_no_display_and_its_example_loads(tmp_path):
    """A display listed but not hung is probed like a silent keypad: none is shipped, and the
    commented example, once uncommented, is a valid display."""
    assert load_config(DEFAULT).hardware.counter_displays == ()
    path = tmp_path / "hall.toml"
    path.write_text("\n".join(
        line.removeprefix("# ") if line.startswith(("# [[hardware.counter_display]]",
                                                    "# counter =", "# address =",
                                                    "# brightness =")) else line
        for line in DEFAULT.read_text().splitlines()))
    assert load_config(path).hardware.counter_displays == (CounterDisplayConfig(1, 101, 8),)


def test_displays_without_keypads_load(tmp_path):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD + "[hardware.keypads]\ncounters = []\n"
                           "[[hardware.counter_display]]\ncounter = 1\naddress = 101\n")
    assert load_config(path).hardware.counter_displays == (CounterDisplayConfig(1, 101, 8),)


DISPLAY = "[[hardware.counter_display]]\ncounter = 1\naddress = 101\n"
BAD = [
    ("the address of a keypad", "[hardware.keypads]\ncounters = [1]\n" +
     DISPLAY.replace("101", "1"),
     "[[hardware.counter_display]] #1, option 'address' 1 is already the address of the keypad"
     " of counter 1 ([hardware.keypads] counters): each device on the line needs its own"),
    ("two displays at one address", DISPLAY * 2,
     "[[hardware.counter_display]] #2, option 'address' 101 is already the address of the"
     " display of counter 1 ([[hardware.counter_display]] #1)"),
    ("a counter the hall does not have", DISPLAY.replace("counter = 1", "counter = 7"),
     "[[hardware.counter_display]] #1, option 'counter' is no counter of the hall ([[counter]]"
     " number), got 7"),
    ("too bright", DISPLAY + "brightness = 16\n",
     "[[hardware.counter_display]] #1, option 'brightness' must be 0 to 15, got 16"),
    ("darker than dark", DISPLAY + "brightness = -1\n", "option 'brightness' must be 0 to 15"),
    ("brightness in words", DISPLAY + "brightness = \"high\"\n",
     "option 'brightness' must be int, got 'high'"),
    ("address 0", DISPLAY.replace("101", "0"),
     "option 'address' must be a Modbus address, 1 to 247, got 0"),
    ("address 248", DISPLAY.replace("101", "248"), "1 to 247, got 248"),
    ("no address", DISPLAY.replace("address = 101\n", ""),
     "[[hardware.counter_display]] #1, option 'address' is required"),
    ("misspelt address", DISPLAY.replace("address", "adress"),
     "option 'adress' is not a valid option (did you mean 'address'?)"),
    ("written as one table", DISPLAY.replace("[[hardware.counter_display]]",
                                             "[hardware.counter_display]"),
     "[hardware], option 'counter_display' must be written [[hardware.counter_display]]"),
    ("displays on the printer's port", "[hardware.printer]\ndevice = \"/dev/ttyS0\"\n"
     "[hardware.keypads]\nport = \"/dev/ttyS0\"\n" + DISPLAY,
     "[hardware]: /dev/ttyS0 is used by both the printer and the keypads' line"),
]


@pytest.mark.parametrize("what, added, message", BAD, ids=[b[0] for b in BAD])
def test_a_display_configured_wrong_is_refused_with_the_reason(tmp_path, what, added, message):
    path = tmp_path / "hall.toml"
    path.write_text(GOOD + added)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value)
