"""The keypad's board on MicroPython's unix port (the tests, the bench, a PC): the UART is a
terminal named by keypad.json's "uart" (a pseudo-terminal in the tests); the keys are read
from stdin, one key name of keys.LAYOUT a line, each held down for HOLD_MS; the LCD, LEDs and
beeper are lines on stdout: `lcd|line 1|line 2`, `leds 1 0`, `beep`. Same interface as
board.Board."""

import select
import sys
import termios
import time

from keys import LAYOUT

VTIME, VMIN = 5, 6   # termios control characters: reads return at once with what is there
HOLD_MS = 40
BEEP_MS = 200        # a beep and the pause after it
NAMES = [name for row in LAYOUT for name in row if name]


class Board:
    def __init__(self, settings):
        self.baudrate = settings["baudrate"]
        self.bits = 10 if settings["parity"] == "none" else 11
        if "uart" not in settings:
            raise ValueError("keypad.json: uart: the terminal that is the UART, on the unix port")
        self.line = open(settings["uart"], "r+b")
        termios.setraw(self.line.fileno())
        attributes = termios.tcgetattr(self.line.fileno())
        attributes[6][VTIME] = attributes[6][VMIN] = 0
        termios.tcsetattr(self.line.fileno(), termios.TCSANOW, attributes)
        self.poll = select.poll()
        self.poll.register(self.line, select.POLLIN)
        self.poll.register(sys.stdin, select.POLLIN)
        self.typed = []      # key names read, not yet pressed
        self.down = None     # (name, ms) of the key being pressed
        self.beeped = None   # ms of the last beep

    def address(self):
        return None          # no DIP switches

    def receive(self):
        return self.line.read(256) or b""

    def send(self, frame):
        self.line.write(frame)

    def key(self):
        now = time.ticks_ms()
        if self.down is None and self.typed:
            self.down = (self.typed.pop(0), now)
        if self.down is None:
            return None
        held = time.ticks_diff(now, self.down[1])
        if held >= 2 * HOLD_MS:
            self.down = None
        return self.down[0] if held < HOLD_MS else None

    def show(self, line1, line2):
        print("lcd|%-16s|%-16s" % (line1[:16], line2[:16]))

    def draw(self):
        return False

    def leds(self, serving, paused):
        print("leds %d %d" % (serving, paused))

    def beep(self, now):
        if self.beeped is not None and time.ticks_diff(now, self.beeped) < BEEP_MS:
            return False
        self.beeped = now
        print("beep")
        return True

    def tick(self, now):
        pass

    def wait(self, us):
        for stream, events in self.poll.poll(max(1, us // 1000)):
            if stream is sys.stdin:
                self._read_keys(events)

    def service(self):
        pass

    def _read_keys(self, events):
        text = sys.stdin.readline() if events & select.POLLIN else ""
        if not text:   # stdin closed: no more keys
            self.poll.unregister(sys.stdin)
        elif text.strip() in NAMES:
            self.typed.append(text.strip())
        else:
            print("unknown key %r" % text.strip())
