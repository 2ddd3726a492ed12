"""The [hardware] section: how the devices are wired. Every option has a working default."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from config.table import ConfigError, Table, shown

GPIO_PINS = range(2, 28)  # BCM numbers on the 40-pin header
# Only device files of these kinds: any other path (the queue database...) would be overwritten.
SERIAL_PORT = re.compile(r"/dev/tty(USB|ACM|S|AMA)[0-9]+")
PRINTER_DEVICE = re.compile(rf"/dev/usb/lp[0-9]+|{SERIAL_PORT.pattern}")
SERIAL_FORMS = "/dev/ttyUSB<n>, /dev/ttyACM<n>, /dev/ttyS<n> or /dev/ttyAMA<n>"


@dataclass(frozen=True)
class ButtonsConfig:
    pins: dict[str, int] = field(default_factory=dict)   # service letter -> GPIO (BCM)
    leds: dict[str, int] = field(default_factory=dict)   # service letter -> GPIO (BCM)
    min_interval: float = 3.0   # seconds: a held or chattering button issues one ticket
    bounce: float = 0.05        # seconds of contact bounce ignored


@dataclass(frozen=True)
class EvaluationKeys:
    """One counter's three evaluation keys on GPIO: very satisfied, satisfied, dissatisfied."""

    counter: int
    pins: tuple[int, int, int]


@dataclass(frozen=True)
class PrinterConfig:
    device: str = "/dev/usb/lp0"   # /dev/tty* is opened as a serial port
    baudrate: int = 19200
    width: int = 512               # printable dots (80 mm paper at 180 dpi; 384 for 58 mm)
    status_interval: float = 10.0  # seconds between status queries while idle


@dataclass(frozen=True)
class DisplayConfig:
    width: int = 64                # LEDs across: 8 per module
    height: int = 32               # LEDs down: 8 per module row; 16 per line of Chinese text
    spi_port: int = 0
    spi_device: int = 0
    rotate: int = 0                # 0-3, quarter turns of the whole display
    block_orientation: int = -90   # 0, 90, -90 or 180: how each module is mounted
    reverse_order: bool = False    # modules chained right to left
    brightness: int = 128          # 0-255
    dim_brightness: int = 16
    schedule: tuple[tuple[str, str], ...] = ()   # ("HH:MM", "on" | "dim" | "off"), daily


@dataclass(frozen=True)
class AudioConfig:
    languages: tuple[str, ...] = ("zh", "en")   # order of the announcement's languages
    clips: str = "clips"           # folder of clips, in the data directory
    volume: float = 0.8


@dataclass(frozen=True)
class KeypadsConfig:
    port: str = "/dev/ttyAMA0"     # the RS-485 line (transceiver with automatic direction)
    baudrate: int = 115200
    parity: str = "none"           # 8N1; "even" or "odd": 8E1 or 8O1 (docs/keypad.md)
    counters: tuple[int, ...] = ()  # a keypad at Modbus address N serves counter N
    timeout: float = 0.05          # seconds to wait for an answer, beyond its time on the wire
    offline_after: int = 3         # failed polls in a row before a keypad counts as offline


@dataclass(frozen=True)
class CounterDisplayConfig:
    """A counter's own small display on the keypads' line (docs/counter-display.md)."""

    counter: int                   # the counter whose ticket it shows
    address: int                   # its Modbus address, 1-247, no keypad's
    brightness: int = 8            # 0 (dimmest) to 15


@dataclass(frozen=True)
class HardwareConfig:
    buttons: ButtonsConfig = ButtonsConfig()
    printer: PrinterConfig = PrinterConfig()
    display: DisplayConfig = DisplayConfig()
    audio: AudioConfig = AudioConfig()
    keypads: KeypadsConfig = KeypadsConfig()
    evaluation: tuple[EvaluationKeys, ...] = ()   # (keys on the keypad bus need no setting)
    counter_displays: tuple[CounterDisplayConfig, ...] = ()   # on the keypads' line


def read_hardware(root: Table, services: set[str], counters: set[int],
                  path: str | Path) -> HardwareConfig:
    hardware = root.table("hardware")
    keypads = _keypads(hardware.table("keypads"), counters)
    config = HardwareConfig(
        buttons=_buttons(hardware.table("buttons"), services),
        printer=_printer(hardware.table("printer")),
        display=_display(hardware.table("display")),
        audio=_audio(hardware.table("audio")),
        keypads=keypads,
        evaluation=tuple(_evaluation(t, counters) for t in hardware.tables("evaluation")),
        counter_displays=_counter_displays(hardware.tables("counter_display"), counters,
                                           keypads))
    hardware.close()
    _reserve_pins(config, path)
    _reserve_ports(config, path)
    return config


def _pins(t: Table, key: str, services: set[str]) -> dict[str, int]:
    pins = t.get(key, dict, {})
    for letter, pin in pins.items():
        if letter not in services:
            raise t.error(key, f"names no service {letter!r}")
        if type(pin) is not int or pin not in GPIO_PINS:
            raise t.error(key, f"{letter}: GPIO must be 2 to 27, got {shown(pin)}")
    return pins


def _buttons(t: Table, services: set[str]) -> ButtonsConfig:
    d = ButtonsConfig()
    config = ButtonsConfig(
        pins=_pins(t, "pins", services), leds=_pins(t, "leds", services),
        min_interval=t.get("min_interval", float, d.min_interval, lambda v: 0 <= v <= 60,
                           "must be 0 to 60 seconds"),
        bounce=t.get("bounce", float, d.bounce, lambda v: 0 <= v <= 1, "must be 0 to 1 second"))
    t.close()
    return config


def _printer(t: Table) -> PrinterConfig:
    d = PrinterConfig()
    config = PrinterConfig(
        device=t.get("device", str, d.device, lambda v: PRINTER_DEVICE.fullmatch(v) is not None,
                     f"must be /dev/usb/lp<n> or a serial port: {SERIAL_FORMS}"),
        baudrate=t.get("baudrate", int, d.baudrate,
                       lambda v: v in (9600, 19200, 38400, 57600, 115200), "is not a baud rate"),
        width=t.get("width", int, d.width, lambda v: 128 <= v <= 832 and v % 8 == 0,
                    "must be a multiple of 8 from 128 to 832 dots"),
        status_interval=t.get("status_interval", float, d.status_interval,
                              lambda v: 1 <= v <= 600, "must be 1 to 600 seconds"))
    t.close()
    return config


def _display(t: Table) -> DisplayConfig:
    d = DisplayConfig()
    eights = (lambda v: 8 <= v <= 512 and v % 8 == 0, "must be a multiple of 8 up to 512")
    level = (lambda v: 0 <= v <= 255, "must be 0 to 255")
    schedule = t.get("schedule", list, [], lambda v: all(
        re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9] (on|dim|off)", e) for e in v),
        'must list entries like "22:00 off" (on, dim or off)', item=str)
    config = DisplayConfig(
        width=t.get("width", int, d.width, *eights),
        height=t.get("height", int, d.height, *eights),
        spi_port=t.get("spi_port", int, d.spi_port, lambda v: 0 <= v <= 6, "must be 0 to 6"),
        spi_device=t.get("spi_device", int, d.spi_device, lambda v: 0 <= v <= 2,
                         "must be 0 to 2"),
        rotate=t.get("rotate", int, d.rotate, lambda v: 0 <= v <= 3, "must be 0 to 3"),
        block_orientation=t.get("block_orientation", int, d.block_orientation,
                                lambda v: v in (0, 90, -90, 180), "must be 0, 90, -90 or 180"),
        reverse_order=t.get("reverse_order", bool, d.reverse_order),
        brightness=t.get("brightness", int, d.brightness, *level),
        dim_brightness=t.get("dim_brightness", int, d.dim_brightness, *level),
        schedule=tuple(tuple(e.split()) for e in sorted(schedule)))
    t.close()
    return config


def _audio(t: Table) -> AudioConfig:
    d = AudioConfig()
    languages = t.get("languages", list, list(d.languages),
                      lambda v: v and len(set(v)) == len(v) and set(v) <= {"zh", "en"},
                      'must list "zh" and/or "en", each once', item=str)
    config = AudioConfig(
        languages=tuple(languages),
        clips=t.get("clips", str, d.clips, lambda v: re.fullmatch(r"[A-Za-z0-9_-]{1,40}", v),
                    "must be a folder name in the data directory (letters, digits, _ and -)"),
        volume=t.get("volume", float, d.volume, lambda v: 0 <= v <= 1, "must be 0 to 1"))
    t.close()
    return config


def _keypads(t: Table, counters: set[int]) -> KeypadsConfig:
    d = KeypadsConfig()
    listed = t.get("counters", list, [], lambda v: len(set(v)) == len(v) and all(
        n in counters and 1 <= n <= 247 for n in v),
        "must list configured counters numbered 1 to 247 (Modbus addresses), each once", item=int)
    config = KeypadsConfig(
        port=t.get("port", str, d.port, lambda v: SERIAL_PORT.fullmatch(v) is not None,
                   f"must be a serial port: {SERIAL_FORMS}"),
        baudrate=t.get("baudrate", int, d.baudrate,
                       lambda v: v in (9600, 19200, 38400, 57600, 115200), "is not a baud rate"),
        parity=t.get("parity", str, d.parity, lambda v: v in ("none", "even", "odd"),
                     'must be "none", "even" or "odd"'),
        counters=tuple(listed),
        timeout=t.get("timeout", float, d.timeout, lambda v: 0.025 <= v <= 2,
                      "must be 0.025 to 2 seconds (a keypad has 20 ms to start its answer)"),
        offline_after=t.get("offline_after", int, d.offline_after, lambda v: 1 <= v <= 100,
                            "must be 1 to 100"))
    t.close()
    return config


def _evaluation(t: Table, counters: set[int]) -> EvaluationKeys:
    keys = EvaluationKeys(
        counter=t.get("counter", int, check=lambda n: n in counters, why="is no counter"),
        pins=tuple(t.get("pins", list, check=lambda v: len(v) == 3 and all(
            p in GPIO_PINS for p in v),
            why="must be three GPIO numbers 2 to 27 (very satisfied, satisfied, dissatisfied)",
            item=int)))
    t.close()
    return keys


def _counter_displays(tables: list[Table], counters: set[int],
                      keypads: KeypadsConfig) -> tuple[CounterDisplayConfig, ...]:
    """Each display's counter and address: one address per device on the line, keypads (whose
    address is their counter's number) included."""
    displays: list[CounterDisplayConfig] = []
    used = {n: f"the keypad of counter {n} ([hardware.keypads] counters)"
            for n in keypads.counters}
    for t in tables:
        display = CounterDisplayConfig(
            counter=t.get("counter", int, check=lambda n: n in counters,
                          why="is no counter of the hall ([[counter]] number)"),
            address=t.get("address", int, check=lambda n: 1 <= n <= 247,
                          why="must be a Modbus address, 1 to 247"),
            brightness=t.get("brightness", int, CounterDisplayConfig.brightness,
                             lambda v: 0 <= v <= 15, "must be 0 to 15"))
        t.close()
        if display.address in used:
            raise t.error("address", f"{display.address} is already the address of"
                                     f" {used[display.address]}: each device on the line"
                                     " needs its own")
        used[display.address] = f"the display of counter {display.counter} ({t.where})"
        displays.append(display)
    return tuple(displays)


def _reserve_ports(config: HardwareConfig, path: str | Path) -> None:
    counters = [keys.counter for keys in config.evaluation]
    if len(set(counters)) != len(counters):
        raise ConfigError(f"{path}: [[hardware.evaluation]]: a counter has two sets of keys")
    if (config.keypads.counters or config.counter_displays) and \
            config.keypads.port == config.printer.device:
        raise ConfigError(f"{path}: [hardware]: {config.printer.device} is used by both the"
                          " printer and the keypads' line ([hardware.keypads] port)")


def _reserve_pins(config: HardwareConfig, path: str | Path) -> None:
    """Two devices on one pin fail here, naming both (the display's SPI pins included)."""
    users: dict[int, str] = {}
    spi0 = {10: "display SPI MOSI", 11: "display SPI SCLK", 8 + config.display.spi_device:
            f"display SPI CE{config.display.spi_device}"}
    wanted = [(pin, name) for pin, name in spi0.items()] if config.display.spi_port == 0 else []
    wanted += [(pin, f"button {s}") for s, pin in config.buttons.pins.items()]
    wanted += [(pin, f"LED {s}") for s, pin in config.buttons.leds.items()]
    wanted += [(pin, f"evaluation key {n + 1} of counter {keys.counter}")
               for keys in config.evaluation for n, pin in enumerate(keys.pins)]
    for pin, user in wanted:
        if pin in users:
            raise ConfigError(f"{path}: [hardware]: GPIO{pin} is used by both {users[pin]}"
                              f" and {user}")
        users[pin] = user
