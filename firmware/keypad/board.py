"""The keypad's real board: RS-485 UART, key matrix, LCD, LEDs, beeper, DIP switches and watchdog
on a Raspberry Pi Pico (rp2) or an ESP32 DevKit. MicroPython; the unix port's twin is
unixboard.Board."""

import logging
import sys
import time

from machine import I2C, Pin, Timer, UART, WDT

from keys import LAYOUT
from lcd import Lcd

log = logging.getLogger("keypad")

# Default GPIO numbers; keypad.json's "pins" overrides any of them by name.
DEFAULTS = {
    "rp2": {   # Raspberry Pi Pico / Pico W
        "uart": 0, "i2c": 0,
        "tx": 0, "rx": 1, "direction": 2, "sda": 4, "scl": 5,
        "rows": (6, 7, 8, 9, 10), "columns": (11, 12, 13, 14, 15, 16),
        "serving": 17, "paused": 18, "beeper": 19, "dip": (20, 21, 22, 26, 27, 28),
    },
    "esp32": {   # ESP32 DevKit (WROOM-32); outputs on pins that are neither strapping pins
        # nor input-only. Columns: 5 and 15 are strapping pins, used only as inputs pulled up
        # (their boot level); 34 and 35 are input-only, without pull-ups: 10 kohm to 3V3 each.
        # No pin is left for the DIP switches: the address comes from keypad.json.
        "uart": 2, "i2c": 0,
        "tx": 17, "rx": 16, "direction": 4, "sda": 21, "scl": 22,
        "rows": (13, 14, 27, 26, 25), "columns": (32, 33, 5, 15, 34, 35),
        "serving": 18, "paused": 19, "beeper": 23, "dip": (),
    },
}
PINS = ("tx", "rx", "direction", "sda", "scl", "rows", "columns", "serving", "paused",
        "beeper", "dip")
PARITY = {"none": None, "even": 0, "odd": 1}
WATCHDOG_MS = 2000
BEEP_MS = 100          # one beep; another may start this long after it ended
SETTLE_US = 20         # a column's pull-up charging the matrix's (and its cable's) wiring
I2C_TIMEOUT_US = 5000  # a stuck I2C bus costs at most this much of a loop turn


def pins(settings):
    """The board's pin numbers and bus ids: the defaults for this platform, overridden by
    keypad.json's "pins" (and "uart", "i2c"). ValueError names what is wrong."""
    chosen = dict(DEFAULTS.get(sys.platform, {}))
    given = settings.get("pins", {})
    if not isinstance(given, dict):
        raise ValueError("keypad.json: pins must be an object: {\"beeper\": 19, ...}")
    for name in given:
        if name not in PINS:
            raise ValueError("keypad.json: pins: unknown pin %r (known: %s)"
                             % (name, ", ".join(PINS)))
    chosen.update(given)
    for name in ("uart", "i2c"):
        if name in settings:
            chosen[name] = settings[name]
    missing = [name for name in PINS + ("uart", "i2c") if name not in chosen]
    if missing:
        raise ValueError("keypad.json: no default pins on %r: give %s"
                         % (sys.platform, ", ".join(missing)))
    for name in ("rows", "columns", "dip"):
        if not isinstance(chosen[name], (list, tuple)):
            raise ValueError("keypad.json: pins: %s must be a list of GPIO numbers" % name)
    if len(chosen["rows"]) != len(LAYOUT) or \
            len(chosen["columns"]) != max(len(row) for row in LAYOUT):
        raise ValueError("keypad.json: pins: the key matrix needs %d rows and %d columns"
                         % (len(LAYOUT), max(len(row) for row in LAYOUT)))
    for name in ("uart", "i2c"):
        if type(chosen[name]) is not int or not 0 <= chosen[name] <= 9:
            raise ValueError("keypad.json: %s must be a bus number, 0-9" % name)
    lcd = settings.get("lcd_address", 0x27)
    if type(lcd) is not int or not 0x08 <= lcd <= 0x77:
        raise ValueError("keypad.json: lcd_address must be an I2C address, 8-119 (0x27: 39)")
    users = {}
    for name in PINS:
        if name in ("rows", "columns", "dip"):
            labelled = [("%s[%d]" % (name, at), n) for at, n in enumerate(chosen[name])]
        else:
            labelled = [(name, chosen[name])]
        for user, number in labelled:
            if type(number) is not int or not 0 <= number <= 48:
                raise ValueError("keypad.json: pins: %s must be a GPIO number, 0-48" % user)
            if number in users:
                raise ValueError("keypad.json: pins: GPIO %s is both %s and %s"
                                 % (number, users[number], user))
            users[number] = user
    return chosen


class Board:
    """The keypad's hardware, as the firmware's loop uses it (see unixboard.Board, its twin).

    Wiring (docs: README, "Building a keypad"): an RS-485 transceiver with DE and /RE tied to
    the direction pin (high: sending); a 5x6 key matrix whose rows are driven low one at a
    time and whose columns are read with pull-ups; an HD44780 LCD on a PCF8574 backpack
    (lcd.py); two LEDs and an active buzzer (through an NPN transistor), high: on; DIP
    switches to ground (ON: 1), the first one bit 0. The watchdog (2 s) starts with the
    board: call `tick` every loop turn.

    Example::

        board = Board({"address": 3, "baudrate": 115200, "parity": "none"})
        board.send(reply)                 # DE high, the frame, DE low once it has left
        key = board.key()                 # "CALL", or None
    """

    def __init__(self, settings):
        chosen = pins(settings)
        parity = PARITY[settings.get("parity", "none")]
        self.baudrate = settings["baudrate"]
        self.bits = 10 if parity is None else 11
        self._char_us = self.bits * 1000000 // self.baudrate + 1

        self._direction = Pin(chosen["direction"], Pin.OUT, value=0)
        Pin(chosen["rx"], Pin.IN, Pin.PULL_UP)   # RO floats while DE is high
        options = {"baudrate": self.baudrate, "bits": 8, "parity": parity, "stop": 1,
                   "tx": Pin(chosen["tx"]), "rx": Pin(chosen["rx"]), "timeout": 0}
        try:
            self._uart = UART(chosen["uart"], rxbuf=512, **options)
        except TypeError:   # a port without rxbuf
            self._uart = UART(chosen["uart"], **options)
        self._txdone = hasattr(self._uart, "txdone")

        self._rows = [Pin(n, Pin.OPEN_DRAIN, value=1) for n in chosen["rows"]]
        self._columns = [Pin(n, Pin.IN, Pin.PULL_UP) for n in chosen["columns"]]
        self._dip = [Pin(n, Pin.IN, Pin.PULL_UP) for n in chosen["dip"]]
        self._serving = Pin(chosen["serving"], Pin.OUT, value=0)
        self._paused = Pin(chosen["paused"], Pin.OUT, value=0)
        self._beeper = Pin(chosen["beeper"], Pin.OUT, value=0)
        self._beeping = False
        self._beeped = None   # when the last beep started, until it and its pause are over

        options = {"sda": Pin(chosen["sda"]), "scl": Pin(chosen["scl"]), "freq": 100000}
        try:
            i2c = I2C(chosen["i2c"], timeout=I2C_TIMEOUT_US, **options)
        except TypeError:   # a port without timeout
            i2c = I2C(chosen["i2c"], **options)
        self.lcd = Lcd(i2c, settings.get("lcd_address", 0x27))
        self._fault = None   # the LCD's fault, as last logged
        self._timer = None
        time.sleep_ms(1)   # the pull-ups charge the DIP switches' and columns' wiring
        # Last: a bad setting above raises before the watchdog could reset the board in a loop.
        self._wdt = WDT(timeout=WATCHDOG_MS)

    def address(self):
        """The Modbus address set on the DIP switches, or None when all are off (or there are
        none, or it is above 247): then the stored address is used."""
        value = 0
        for bit, pin in enumerate(self._dip):
            if not pin.value():   # ON pulls the pin to ground
                value |= 1 << bit
        return value if 1 <= value <= 247 else None

    def receive(self):
        """What the UART has heard since the last call, without waiting (b"" when nothing)."""
        waiting = self._uart.any()
        if not waiting:
            return b""
        # read(n) of what is there returns at once; read() would wait out a character time
        return self._uart.read(waiting) or b""

    def send(self, frame):
        """Put `frame` on the line: DE high, the frame, DE low once its last stop bit has left
        (bounded: the frame's time on the wire plus ~3 ms)."""
        start = time.ticks_us()
        limit = len(frame) * self._char_us + 2000
        self._direction.value(1)
        self._uart.write(frame)
        if self._txdone:
            # rp2 and esp32; rp2's flush() took 785 ms in v1.22 (micropython#13377)
            while not self._uart.txdone() and time.ticks_diff(time.ticks_us(), start) < limit:
                pass
        else:
            self._uart.flush()
        # rp2's txdone() (and flush()) return while the last character is still shifting out
        time.sleep_us(self._char_us)
        self._direction.value(0)
        waiting = self._uart.any()   # only our own turnaround's glitches: drop them
        if waiting:
            self._uart.read(waiting)

    def key(self):
        """Scan the matrix once: the name of the one key down, or None when none or several
        are down (several keys can also fake a third one: ghosting)."""
        down = None
        count = 0
        for names, row in zip(LAYOUT, self._rows):
            row.value(0)
            time.sleep_us(SETTLE_US)
            for at, column in enumerate(self._columns):
                if not column.value():
                    count += 1
                    down = names[at] if at < len(names) else None
            row.value(1)
        return down if count == 1 else None

    def show(self, line1, line2):
        """The LCD's text, drawn a character at a time by `draw`."""
        self.lcd.show(line1, line2)

    def draw(self):
        """Draw one character of the LCD: False when there was nothing to draw. A fault of the
        LCD is logged when it starts and when it ends."""
        drew = self.lcd.draw()
        if self.lcd.fault != self._fault:
            if self.lcd.fault:
                log.error("%s; the keypad works on without it", self.lcd.fault)
            else:
                log.info("LCD back")
            self._fault = self.lcd.fault
        return drew

    def leds(self, serving, paused):
        self._serving.value(1 if serving else 0)
        self._paused.value(1 if paused else 0)

    def beep(self, now_ms):
        """Start one beep (BEEP_MS), ended by `tick`; False, and nothing done, while the last
        beep and as long a pause after it last."""
        if self._beeped is not None:
            return False
        self._beeper.value(1)
        self._beeping, self._beeped = True, now_ms
        return True

    def tick(self, now_ms):
        """Every loop turn: feed the watchdog, end a beep that has lasted its time."""
        self._wdt.feed()
        if self._beeped is not None:
            age = time.ticks_diff(now_ms, self._beeped)
            if self._beeping and age >= BEEP_MS:
                self._beeper.value(0)
                self._beeping = False
            if age >= 2 * BEEP_MS:
                self._beeped = None   # (kept no longer: ticks wrap around)

    def wait(self, us):
        """Idle up to `us` microseconds (at most 200: the UART is read often enough)."""
        if us > 0:
            time.sleep_us(min(us, 200))

    def service(self):
        """The loop was stopped from the USB port: the watchdog cannot be stopped, so a timer
        feeds it until reset; the line is released and the beeper silenced."""
        self._direction.value(0)   # a frame cut short must not hold the whole bus
        self._beeper.value(0)
        self._beeping = False
        wdt = self._wdt
        self._timer = Timer(0 if sys.platform == "esp32" else -1, mode=Timer.PERIODIC,
                            period=500, callback=lambda timer: wdt.feed())
        print("keypad stopped; a timer feeds the watchdog every 500 ms until reset. "
              "A soft reset (Ctrl-D; mpremote without 'resume') stops that timer: the "
              "watchdog then resets the board within 2 s.")
