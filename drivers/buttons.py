"""Ticket buttons and their status LEDs on GPIO (gpiozero), one button per service.

A button press posts ButtonPressed into the loop from gpiozero's thread. A button held down or
chattering issues one ticket: after a ticket, the same button is ignored for `min_interval`
seconds (gpiozero's own bounce_time filters contact bounce on real pins, not on mock ones).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from config.hardware import ButtonsConfig, EvaluationKeys
from drivers.events import ButtonPressed, CounterKey

log = logging.getLogger(__name__)

# LED patterns: (on seconds, off seconds) for blinking, or steady.
LED_BLINK = {"printing": (0.25, 0.25), "fault": (0.1, 0.1)}


class PressFilter:
    """Lets one press per button through every `min_interval` seconds of the monotonic clock
    (the wall clock may step back an hour: every press would then be "again")."""

    def __init__(self, min_interval: float, monotonic: Callable[[], float] = time.monotonic):
        self.min_interval, self.monotonic = min_interval, monotonic
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def accept(self, service: str) -> bool:
        with self._lock:
            now, last = self.monotonic(), self._last.get(service)
            if last is not None and now - last < self.min_interval:
                return False
            self._last[service] = now
            return True


class TicketButtons:
    """gpiozero Buttons (wired to ground, internal pull-up) and optional LEDs, by service letter.

    Example::

        buttons = TicketButtons(config.buttons, appliance.post, time.time)
        buttons.set_led("A", "printing")     # off, on, printing (blink) or fault (fast blink)
    """

    def __init__(self, config: ButtonsConfig, post: Callable[[ButtonPressed], None],
                 clock: Callable[[], float], pin_factory=None):
        from gpiozero import LED, Button

        self.post, self.clock = post, clock
        self.filter = PressFilter(config.min_interval)
        self.buttons = {}
        self.leds = {}
        self.states: dict[str, str] = {}
        for service, pin in config.pins.items():
            button = Button(pin, bounce_time=config.bounce or None, pin_factory=pin_factory)
            button.when_pressed = lambda service=service: self._pressed(service)
            self.buttons[service] = button
        for service, pin in config.leds.items():
            self.leds[service] = LED(pin, pin_factory=pin_factory)

    def _pressed(self, service: str) -> None:
        if self.filter.accept(service):
            self.post(ButtonPressed(service, self.clock()))
        else:
            log.info("button %s: pressed again within %.1f s, ignored", service,
                     self.filter.min_interval)

    def set_led(self, service: str, state: str) -> None:
        led = self.leds.get(service)
        if led is None or self.states.get(service) == state:
            return
        self.states[service] = state
        if state in LED_BLINK:
            led.blink(*LED_BLINK[state])
        elif state == "on":
            led.on()
        else:
            led.off()

    def close(self) -> None:
        for device in (*self.buttons.values(), *self.leds.values()):
            device.close()


class EvaluationButtons:
    """Each counter's three evaluation keys on GPIO (to ground): a press posts that counter's
    `rate` key. A press within a second of the last one on the same set is contact bounce.

    Example: EvaluationButtons(config.evaluation, appliance.inbox.post, time.time)
    """

    def __init__(self, keys: tuple[EvaluationKeys, ...], post: Callable, clock: Callable,
                 pin_factory=None):
        from gpiozero import Button

        self.post, self.clock = post, clock
        self.filter = PressFilter(1.0)
        self.buttons = []
        for counter_keys in keys:
            for rating, pin in enumerate(counter_keys.pins, start=1):
                button = Button(pin, pin_factory=pin_factory)
                button.when_pressed = lambda c=counter_keys.counter, r=rating: self._pressed(c, r)
                self.buttons.append(button)

    def _pressed(self, counter: int, rating: int) -> None:
        if self.filter.accept(str(counter)):
            self.post(CounterKey(counter, "rate", self.clock(), {"rating": rating}))

    def close(self) -> None:
        for button in self.buttons:
            button.close()


class SimLeds:
    """The button LEDs on a terminal (the console plays the buttons). `states` holds each LED's
    state; changes to on, fault or back to off are printed, the short blink while printing not."""

    def __init__(self, services: list[str], out):
        self.out = out
        self.states = dict.fromkeys(services, "off")
        self._shown = dict(self.states)

    def set_led(self, service: str, state: str) -> None:
        self.states[service] = state
        if state != "printing" and self._shown.get(service, state) != state:
            self._shown[service] = state
            print(f"[led {service}] {state}", file=self.out)

    def close(self) -> None:
        pass
