"""The keypad's 16x2 HD44780 LCD on a PCF8574 I2C backpack, drawn one character at a time so
that the Modbus loop is never held up. MicroPython (machine.I2C)."""

import time

# The backpack's port: P0 RS, P1 R/W (kept low: the LCD is only written), P2 E, P3 backlight,
# P4-P7 D4-D7.
RS, E, BACKLIGHT = 0x01, 0x04, 0x08
WIDTH = 16
LINES = (0x00, 0x40)   # the DDRAM address of each line's first character
RETRY_MS = 5000        # a faulty LCD is looked for again this often
POWER_MS = 50          # the HD44780 takes >40 ms after power-up before its first instruction
UNKNOWN = 0            # never wanted (not in 0x20-0x7E): a character whose write is owed


def text(line):
    """`line` (str or bytes) as the LCD's 16 bytes: cut or padded with spaces, a character
    outside 0x20-0x7E shown as '?'. (The LCD's ROM shows '\\' as a yen sign and '~' as an
    arrow.)"""
    out = bytearray(b" " * WIDTH)
    for at, char in enumerate(line[:WIDTH]):
        code = char if isinstance(char, int) else ord(char)
        out[at] = code if 0x20 <= code <= 0x7E else 0x3F
    return out


def nibbles(byte, flags):
    """The port writes that clock `byte` into the LCD as two nibbles, high first; each nibble
    is set up, then E pulsed (one I2C byte is ~90 us at 100 kHz: long enough for every
    HD44780 timing except clear's)."""
    out = bytearray(6)
    for at, nibble in ((0, byte >> 4), (3, byte & 0x0F)):
        port = nibble << 4 | flags | BACKLIGHT
        out[at], out[at + 1], out[at + 2] = port, port | E, port
    return out


class Lcd:
    """An HD44780 16x2 LCD behind a PCF8574 backpack, 4-bit mode, backlight on.

    `show` records the wanted text; each `draw` writes at most one changed character (~1.2 ms
    of I2C at 100 kHz), so a whole new screen takes 32 loop turns and never a 15 ms block.
    An I2C error (the LCD unplugged) never propagates: `fault` then holds its text (None while
    the LCD works; the same text until it works again, so it is logged once), and `draw` looks
    for the LCD again every 5 s. The initialisation is the one slow step (~10 ms, most of it
    the datasheet's waits): at boot, and once the LCD is back after an unplug.

    Example::

        lcd = Lcd(I2C(0, sda=Pin(4), scl=Pin(5), freq=100000), address=0x27)
        lcd.show("A012 CALLED", "3 WAITING")
        lcd.draw()       # once each loop turn: True while it still had something to write
    """

    def __init__(self, i2c, address=0x27):
        self.i2c, self.address = i2c, address
        self.wanted = bytearray(b" " * 2 * WIDTH)
        self.shown = bytearray(2 * WIDTH)   # what the LCD shows, UNKNOWN where not known
        self.cursor = None                  # the DDRAM address written next, None: unknown
        self.fault = None
        self.tried = time.ticks_ms()        # the last look for a faulty LCD
        self.found = None                   # when a faulty LCD answered again
        wait = POWER_MS - time.ticks_ms()   # ticks count from boot: the LCD's power-up
        if wait > 0:
            time.sleep_ms(wait)
        self._start(self.tried)

    def show(self, line1, line2):
        """The text wanted on the two lines (drawn by `draw`)."""
        self.wanted[:WIDTH] = text(line1)
        self.wanted[WIDTH:] = text(line2)

    def draw(self, now=None):
        """Write the first character that differs from the wanted text: True if something was
        written, False when the LCD already shows the wanted text or is faulty. `now`: ms
        (time.ticks_ms() when not given)."""
        if now is None:
            now = time.ticks_ms()
        if self.fault is not None:
            return self._retry(now)
        for at in range(2 * WIDTH):
            if self.wanted[at] != self.shown[at]:
                break
        else:
            return False
        address = LINES[at // WIDTH] + at % WIDTH
        data = nibbles(self.wanted[at], RS)
        if address != self.cursor:
            data = nibbles(0x80 | address, 0) + data   # set DDRAM address, then the character
        try:
            self.i2c.writeto(self.address, data)
        except OSError as error:
            self._fail(error, now)
            return False
        self.shown[at] = self.wanted[at]
        self.cursor = address + 1   # the LCD moves on by itself (entry mode: increment)
        return True

    def _retry(self, now):
        # First a byte that only sets the backlight (E low: the HD44780 sees nothing); once it
        # is acknowledged, the LCD has just been plugged in, perhaps: give its controller
        # POWER_MS to start before the initialisation.
        if self.found is None:
            if time.ticks_diff(now, self.tried) < RETRY_MS:
                return False
            self.tried = now
            try:
                self.i2c.writeto(self.address, bytes((BACKLIGHT,)))
            except OSError:
                return False
            self.found = now
            return False
        if time.ticks_diff(now, self.found) < POWER_MS:
            return False
        self.found = None
        return self._start(now)

    def _start(self, now):
        """The HD44780's initialisation by instruction for a 4-bit interface (datasheet,
        figure 24): it brings the controller into step whatever state an unplug left it in."""
        try:
            self._nibble(0x3)
            time.sleep_us(4200)   # > 4.1 ms
            self._nibble(0x3)
            time.sleep_us(110)    # > 100 us
            self._nibble(0x3)
            self._nibble(0x2)     # 4-bit interface from here on
            self.i2c.writeto(self.address, nibbles(0x28, 0))   # function set: 2 lines, 5x8
            self.i2c.writeto(self.address, nibbles(0x0C, 0))   # display on, no cursor
            self.i2c.writeto(self.address, nibbles(0x01, 0))   # clear
            time.sleep_us(2000)   # clear takes 1.52 ms
            self.i2c.writeto(self.address, nibbles(0x06, 0))   # entry mode: increment
        except OSError as error:
            self._fail(error, now)
            return False
        self.shown[:] = b" " * 2 * WIDTH   # cleared, the address at 0
        self.cursor = 0
        self.fault = None
        return True

    def _nibble(self, nibble):
        port = nibble << 4 | BACKLIGHT
        self.i2c.writeto(self.address, bytes((port, port | E, port)))

    def _fail(self, error, now):
        if self.fault is None:
            self.fault = "LCD at I2C address 0x%02x: %s" % (self.address, error)
        self.shown[:] = bytes(2 * WIDTH)   # UNKNOWN: all is written again once it is back
        self.cursor = None
        self.found = None
        self.tried = now
