"""Device drivers: each moves bytes or pixels for one device and posts events into the loop.

`build` picks each device's backend: real where its hardware is found (or when told `real`),
simulated otherwise, and says so in the log for every device that is simulated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Coroutine, TextIO

from config.hardware import HardwareConfig
from drivers.audio import Announcer, SimAudio
from drivers.buttons import EvaluationButtons, SimLeds, TicketButtons
from drivers.console import Console
from drivers.counter_displays import SimCounterDisplays
from drivers.display import SimWallDisplay, WallDisplay, max7219
from drivers.keypads import KeypadBus
from drivers.printer import FileLink, SerialLink, SimLink, TicketPrinter
from drivers.usb import MOUNT_DIR, SimUsbSticks, UsbSticks

log = logging.getLogger(__name__)
BOARD = Path("/dev/gpiochip0")   # present on the appliance's board, absent on a PC


@dataclass
class Devices:
    """The devices the loop drives; each attribute has the same interface real or simulated."""

    printer: Any
    display: Any
    audio: Any
    leds: Any
    keypads: Any
    office: Any
    usb: Any
    counter_displays: Any   # on the keypads' line (the bus's), or printed on the console
    console: Console | None = None
    simulated: list[str] = field(default_factory=list)
    background: list[Callable[[], Coroutine]] = field(default_factory=list)  # run in the loop
    evaluation: Any = None   # GPIO evaluation keys, when there are real ones

    def health(self) -> dict[str, str]:
        """Each device's state as the back office shows it."""
        return {"printer": self.printer.status,
                "wall display": ("ok" if self.display.healthy else "not answering") +
                ("" if self.display.mode == "on" else f", {self.display.mode} by its schedule"),
                "keypads": self.keypads.health(),
                **({"counter displays": self.counter_displays.health()}
                   if self.counter_displays.displays else {}),
                "simulated": ", ".join(self.simulated) or "nothing"}

    def close(self) -> None:
        for device in (self.usb, self.audio, self.printer, self.leds, self.evaluation):
            if device is not None:
                device.close()


def build(hardware: HardwareConfig, services: list[str], mode: str, data_dir: Path,
          post: Callable, clock: Callable[[], float], out: TextIO) -> Devices:
    """Every device, real or simulated by `mode` (auto, real or sim) and what is found."""
    simulated: list[str] = []

    def real(name: str, found: Path, where: str) -> bool:
        if mode == "real" or (mode == "auto" and found.exists()):
            return True
        simulated.append(name)
        if mode == "auto":
            log.warning("%s: %s not found, simulated %s", name, found, where)
        return False

    console = Console(out, clock)
    out = console.out   # simulated devices print where the console's clients see it too
    p, d = hardware.printer, hardware.display
    if real("printer", Path(p.device), f"(tickets in {data_dir / 'tickets'})"):
        link = SerialLink(p.device, p.baudrate) if p.device.startswith("/dev/tty") \
            else FileLink(p.device)
    else:
        link = SimLink(data_dir / "tickets", p.width, out)
    printer = TicketPrinter(link, p.width, post, clock, p.status_interval,
                            cache=data_dir / "cache")

    display = None
    if real("wall display", Path(f"/dev/spidev{d.spi_port}.{d.spi_device}"),
            f"(frames in {data_dir / 'wall.png'})"):
        try:
            display = WallDisplay(max7219(d), d)
        except Exception as exc:  # luma raises its own errors for a missing or refused SPI
            log.error("wall display: cannot open SPI, simulated instead: %s", exc)
            simulated.append("wall display")
    display = display or SimWallDisplay(d, out, data_dir / "wall.png")

    audio = Announcer(data_dir / hardware.audio.clips, hardware.audio.volume, post, clock) \
        if real("audio", Path("/dev/snd"), "(announcements printed)") else \
        SimAudio(out, post, clock)

    leds = evaluation = None
    if real("ticket buttons", BOARD, "(the console takes tickets and ratings)"):
        try:
            leds = TicketButtons(hardware.buttons, post, clock)
            evaluation = EvaluationButtons(hardware.evaluation, post, clock)
        except Exception as exc:   # gpiozero's own errors: no pin library, pins refused
            log.error("ticket buttons: cannot open GPIO, simulated instead: %s", exc)
            simulated.append("ticket buttons")
            if leds is not None:
                leds.close()
            leds = None
    leds = leds or SimLeds(services, out)
    if real("usb", MOUNT_DIR.parent, f"(no mount helper; a folder in {data_dir / 'usb'} is a"
                                     " stick)"):
        usb = UsbSticks(MOUNT_DIR, post, clock)
    else:
        usb = SimUsbSticks(data_dir / "usb", post, clock)
    usb.start()
    # One line, one master: it runs for keypads, counter displays or both.
    k, shown = hardware.keypads, hardware.counter_displays
    keypads, counter_displays, background = console, SimCounterDisplays(shown, out), []
    on_the_line = [name for name, there in (("keypads", k.counters), ("counter displays", shown))
                   if there]
    if on_the_line and real(" and ".join(on_the_line), Path(k.port),
                            "(the console plays the tellers and shows the displays)"):
        bus = KeypadBus(k, post, clock, shown)
        background.append(bus.run)
        counter_displays = bus.counter_displays
        if k.counters:
            keypads = bus
    if not k.counters:   # the console plays the tellers
        simulated.append("keypads")
    return Devices(printer=printer, display=display, audio=audio, leds=leds, keypads=keypads,
                   office=console, usb=usb, console=console, simulated=simulated,
                   background=background, evaluation=evaluation,
                   counter_displays=counter_displays)
