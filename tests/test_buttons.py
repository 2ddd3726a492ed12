"""Ticket buttons on mock GPIO pins (the real gpiozero code): one ticket per press, LEDs."""

import asyncio
import time

import pytest
from gpiozero.pins.mock import MockFactory

from config import DEFAULT, ConfigError, load_config
from config.hardware import ButtonsConfig, EvaluationKeys
from conftest import at
from drivers.buttons import EvaluationButtons, TicketButtons
from drivers.events import ButtonPressed
from hallday import wire

WIRING = ButtonsConfig(pins={"A": 17, "B": 27}, leds={"A": 5, "B": 6}, min_interval=3.0,
                       bounce=0.05)


class Hand:
    """Presses mock pins at a time the test sets: `now` on the wall clock, `elapsed` on the
    monotonic one."""

    def __init__(self, post=None):
        self.now, self.elapsed = at(9), 0.0
        self.pins = MockFactory()
        self.posted = []
        self.buttons = TicketButtons(WIRING, post or self.posted.append, lambda: self.now,
                                     pin_factory=self.pins)
        self.buttons.filter.monotonic = lambda: self.elapsed

    def wait(self, seconds):
        self.now += seconds
        self.elapsed += seconds

    def press(self, pin, release=True):
        self.pins.pin(pin).drive_low()
        if release:
            self.pins.pin(pin).drive_high()


@pytest.fixture
def hand():
    hand = Hand()
    yield hand
    hand.buttons.close()


def test_a_press_takes_a_ticket(hand):
    hand.press(17)
    hand.press(27)
    assert hand.posted == [ButtonPressed("A", at(9)), ButtonPressed("B", at(9))]


def test_a_chattering_contact_takes_one_ticket(hand):
    for _ in range(5):
        hand.press(17)
    assert len(hand.posted) == 1


def test_a_button_held_down_takes_one_ticket(hand):
    hand.press(17, release=False)
    hand.wait(30)
    hand.pins.pin(17).drive_high()
    assert len(hand.posted) == 1


def test_the_next_customer_gets_a_ticket_after_the_interval(hand):
    hand.press(17)
    hand.wait(2.9)
    hand.press(17)
    hand.wait(0.2)
    hand.press(17)
    assert [e.at for e in hand.posted] == pytest.approx([at(9), at(9) + 3.1])


def test_a_clock_stepped_back_does_not_block_the_buttons(hand):
    hand.press(17)
    hand.wait(4)
    hand.now -= 3600                   # NTP steps the wall clock back an hour
    hand.press(17)
    hand.wait(1)
    hand.press(17)                     # (one second later: a repeat)
    assert [e.at for e in hand.posted] == pytest.approx([at(9), at(9) + 4 - 3600])


def test_leds_steady_and_blinking(hand):
    hand.buttons.set_led("A", "on")
    hand.buttons.set_led("B", "fault")
    time.sleep(0.35)
    assert hand.pins.pin(5).state is True
    assert {s.state for s in hand.pins.pin(6).states} == {True, False}
    hand.buttons.set_led("B", "off")
    assert hand.pins.pin(6).state is False


def test_two_devices_on_one_pin_fail_at_configuration(tmp_path):
    config = tmp_path / "hall.toml"
    shipped = DEFAULT.read_text()
    config.write_text(shipped.replace("leds = { A = 5, B = 6,", "leds = { A = 5, B = 17,"))
    with pytest.raises(ConfigError, match="GPIO17 is used by both button A and LED B"):
        load_config(config)
    config.write_text(shipped.replace("pins = { A = 17,", "pins = { A = 10,"))
    with pytest.raises(ConfigError, match="GPIO10 is used by both display SPI MOSI and button A"):
        load_config(config)


def test_a_press_while_the_printer_is_out_of_paper(tmp_path):
    app, day = wire(tmp_path, clock=lambda: at(9))
    day.devices.printer.link.paper = "out"
    hand = Hand(app.inbox.post)
    day.devices.leds = hand.buttons

    async def hall():
        running = asyncio.create_task(app.run())
        await asyncio.sleep(0.05)
        hand.press(17)
        await asyncio.to_thread(day.devices.printer.wait_idle)
        await asyncio.sleep(0.05)
        app.stop()
        await running

    asyncio.run(hall())
    assert [t.label for t in day.hall.tickets("2026-11-23")] == ["A001"]
    assert hand.buttons.states == {"A": "fault", "B": "fault"}
    assert day.devices.display.visible()[0].startswith("A001 ")
    day.devices.close()


def test_evaluation_keys_rate_the_visit_at_their_counter():
    pins, posted, elapsed = MockFactory(), [], [0.0]
    keys = EvaluationButtons((EvaluationKeys(3, (16, 20, 21)),), posted.append, lambda: at(9),
                             pin_factory=pins)
    keys.filter.monotonic = lambda: elapsed[0]
    pins.pin(20).drive_low()
    pins.pin(20).drive_high()
    pins.pin(16).drive_low()   # a second key within the second: bounce or a hand sliding
    elapsed[0] += 5
    pins.pin(21).drive_low()
    assert [(e.counter, e.key, e.params) for e in posted] == \
        [(3, "rate", {"rating": 2}), (3, "rate", {"rating": 3})]
    keys.close()


def test_evaluation_keys_share_no_pin_with_buttons(tmp_path):
    config = tmp_path / "hall.toml"
    config.write_text(DEFAULT.read_text() + "\n[[hardware.evaluation]]\ncounter = 2\n"
                      "pins = [16, 20, 27]\n")
    with pytest.raises(ConfigError, match="GPIO27 is used by both button B and evaluation key 3"
                                          " of counter 2"):
        load_config(config)
