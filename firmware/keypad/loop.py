"""The keypad firmware's loop (docs/keypad.md): it answers the master first, and between
frames scans the keys, draws the LCD and drives the LEDs and the beeper. main.py starts it."""

import gc
import logging
import micropython
import sys
import time

import settings
from device import Keypad
from entry import Entry
from keys import Debounce
from rtu import Framer

if sys.platform == "linux":
    from unixboard import Board
else:
    from board import Board

FIRMWARE = (1, 0)
SCAN_MS = 5   # the key matrix is scanned this often
log = logging.getLogger("keypad")


def run(board, keypad):
    """Serve the line and the keys until interrupted."""
    framer = Framer(board.baudrate, board.bits)
    entry, debounce = Entry(), Debounce()
    shown = lit = None
    seconds = 0
    second = scanned = time.ticks_ms()
    while True:
        heard = board.receive()
        now = time.ticks_us()
        if heard:
            framer.feed(heard, now)
        frame = framer.frame(now)
        if frame is not None:
            answer = keypad.answer(frame, seconds)
            if answer and not framer.buffer:   # (never onto a frame under way)
                board.send(answer)
            continue
        ms = time.ticks_ms()
        board.tick(ms)   # the watchdog is fed even on a line that never falls silent
        if heard or framer.buffer:   # inside a frame: nothing else until it ends
            board.wait(200)
            continue
        if time.ticks_diff(ms, second) >= 1000:
            second, seconds = time.ticks_add(second, 1000), seconds + 1
        if time.ticks_diff(ms, scanned) >= SCAN_MS:
            scanned = ms
            pressed = debounce.update(board.key(), ms)
            event = pressed and entry.key(pressed, ms)
            if event and not keypad.press(*event):
                log.warning("%s refused: %d key events wait already", pressed, keypad.depth)
            keypad.beeps, entry.beeps = keypad.beeps + entry.beeps, 0
        screen = entry.screen(ms) or keypad.lines()
        if screen != shown:
            shown = screen
            board.show(*screen)
        if keypad.leds != lit:
            lit = list(keypad.leds)
            board.leds(*lit)
        if keypad.beeps and board.beep(ms):
            keypad.beeps -= 1
        if not board.draw():
            board.wait(SCAN_MS * 1000)


def halt(board, problem):
    """Stay off the line, showing why, with the watchdog fed (a restart would not help)."""
    log.error("not on the line: %s (see keypad.json and the DIP switches)", problem)
    board.show("SETUP ERROR", problem)
    while True:
        board.tick(time.ticks_ms())
        if not board.draw():
            board.wait(100000)


def main(home):
    """The keypad, with keypad.json and the session file in the folder `home` (ending in /)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    stored, problem = settings.load(home + "keypad.json")
    try:
        board = Board(stored)
    except ValueError as error:   # pins that cannot work: nothing to show it on
        log.error("not on the line: %s", error)
        return
    address = board.address() or stored.get("address")
    try:
        if problem or not address:
            halt(board, problem or "NO ADDRESS")
        keypad = Keypad(address, settings.session(home + "session"), FIRMWARE)
        log.info("keypad %d, session %d, %d baud, parity %s, firmware %d.%d", address,
                 keypad.session, board.baudrate, stored["parity"], *FIRMWARE)
        run(board, keypad)
    except KeyboardInterrupt:
        board.service()
        gc.collect()
        micropython.mem_info()   # what the firmware needs, for the service port
