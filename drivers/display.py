"""The wall LED matrix: MAX7219 modules on SPI through luma, or luma's dummy device simulated.

The loop calls show() when the calls change, notice() for a message that must be seen (a ticket
that could not be printed), idle() for what shows while there is neither (the playlist's texts)
and tick() every TICK seconds, which scrolls long lines and applies the dim/off schedule. A
device that fails to take a frame is reported once and retried.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, TextIO

from config.hardware import DisplayConfig
from media.wall import led_picture, line_height, line_width, wall_frame

log = logging.getLogger(__name__)

TICK = 0.05  # seconds: one LED of scrolling


def max7219(config: DisplayConfig):
    """The real device: a chain of MAX7219 modules on /dev/spidev<port>.<device>."""
    from luma.core.interface.serial import noop, spi
    from luma.led_matrix.device import max7219 as device

    return device(spi(port=config.spi_port, device=config.spi_device, gpio=noop()),
                  width=config.width, height=config.height, rotate=config.rotate,
                  block_orientation=config.block_orientation,
                  blocks_arranged_in_reverse_order=config.reverse_order)


def scheduled_mode(schedule: tuple[tuple[str, str], ...], clock: str) -> str:
    """on, dim or off: the latest schedule entry at or before the time of day `clock`
    ("HH:MM"; before the first entry of the day, the last one of the day before)."""
    if not schedule:
        return "on"
    passed = [mode for at, mode in schedule if at <= clock]
    return (passed or [schedule[-1][1]])[-1]


class WallDisplay:
    """Example: WallDisplay(max7219(config), config).show(["A012 → 3", "B004 → 1"])"""

    def __init__(self, device, config: DisplayConfig,
                 monotonic: Callable[[], float] = time.monotonic):
        self.device, self.config, self.monotonic = device, config, monotonic
        self.lines: list[str] = []
        self.mode = "on"
        self.healthy = True
        self._notice: tuple[str, float] | None = None
        self._idle: str | None = None
        self._offsets: list[int] = []
        self._scrolls = False

    def show(self, lines: list[str]) -> None:
        self.lines = list(lines)
        self._restart()

    def notice(self, text: str, seconds: float) -> None:
        """Show `text` on the top line for `seconds` (on the monotonic clock: a step of the
        wall clock neither keeps a notice up for an hour nor drops it at once)."""
        self._notice = (text, self.monotonic() + seconds)
        self._restart()

    def idle(self, text: str | None) -> None:
        """`text` while the wall shows no call and no notice (None: nothing then)."""
        if text != self._idle:
            self._idle = text
            if not self.lines and not self._notice:
                self._restart()

    def tick(self, clock: str) -> None:
        """One step: the schedule at the hall's time of day `clock` ("HH:MM"), notices,
        scrolling."""
        mode = scheduled_mode(self.config.schedule, clock)
        if mode != self.mode:
            self._set_mode(mode)
        if self._notice and self.monotonic() >= self._notice[1]:
            self._notice = None
            self._restart()
        elif self._scrolls:
            self._offsets = [o + 1 for o in self._offsets]
            self._draw()

    def visible(self) -> list[str]:
        rows = self.config.height // line_height(self.config.height)
        shown = ([self._notice[0]] if self._notice else []) + self.lines
        return (shown or ([self._idle] if self._idle else []))[:rows]

    def _restart(self) -> None:
        band = line_height(self.config.height)
        visible = self.visible()
        self._offsets = [0] * len(visible)
        self._scrolls = any(line_width(text, band) > self.config.width for text in visible)
        self._draw()

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        log.info("wall display: %s", mode)
        self._guard(lambda: self.device.hide() if mode == "off" else (
            self.device.show(), self.device.contrast(
                self.config.dim_brightness if mode == "dim" else self.config.brightness)))

    def _draw(self) -> None:
        frame = wall_frame(self.visible(), self.config.width, self.config.height, self._offsets)
        self._guard(lambda: self.device.display(frame.convert(self.device.mode)))

    def _guard(self, action) -> None:
        try:
            action()
        except OSError as exc:
            if self.healthy:
                log.error("wall display not answering: %s", exc)
            self.healthy = False
        else:
            if not self.healthy:
                log.info("wall display back")
            self.healthy = True


class SimWallDisplay(WallDisplay):
    """The wall display on a terminal: its lines when they change, and `picture` (a PNG)."""

    def __init__(self, config: DisplayConfig, out: TextIO, picture: Path):
        from luma.core.device import dummy

        super().__init__(dummy(width=config.width, height=config.height, mode="1"), config)
        self.out, self.picture = out, picture
        self._printed: list[str] = []

    def _restart(self) -> None:
        super()._restart()
        if self.visible() != self._printed:
            self._printed = self.visible()
            print(f"[wall] {' | '.join(self._printed) or '(blank)'}", file=self.out)
            self._save()

    def _set_mode(self, mode: str) -> None:
        super()._set_mode(mode)
        print(f"[wall] {'off by its schedule' if mode == 'off' else mode}", file=self.out)
        self._save()

    def _save(self) -> None:
        """The picture shows what the LEDs show: nothing while the schedule has them off."""
        self.picture.parent.mkdir(parents=True, exist_ok=True)
        image = self.device.image if self.mode != "off" else \
            self.device.image.point(lambda _: 0)
        led_picture(image).save(self.picture)
