"""The keypad's stored settings (`keypad.json` on its flash) and its session number (`session`
beside it): docs/keypad.md's line settings and the session drawn at every power-up.

keypad.json: {"address": 3, "baudrate": 115200, "parity": "none"}, every key optional; the
board layer reads its own keys from it too ("pins", ...). DIP switches set to anything but 0
override the address."""

import json
import logging
import random

RATES = (9600, 19200, 38400, 57600, 115200)
PARITIES = ("none", "even", "odd")
DEFAULTS = {"baudrate": 115200, "parity": "none"}
LARGEST = 2048   # bytes: keypad.json is a few lines; a larger one is refused unread

log = logging.getLogger("keypad")


def load(path):
    """(settings, problem): the settings with the defaults filled in, and what was wrong with
    the file, short enough for the LCD (None when nothing): a bad value is replaced by its
    default (the address by None)."""
    try:
        with open(path, "rb") as file:
            text = file.read(LARGEST + 1)
    except OSError:
        return dict(DEFAULTS), None
    try:
        stored = json.loads(text) if len(text) <= LARGEST else None
    except (ValueError, MemoryError, RuntimeError):   # (RuntimeError: nested too deep)
        stored = None
    if not isinstance(stored, dict):   # not JSON, too large, or not an object
        return dict(DEFAULTS), "BAD keypad.json"
    problem = None
    settings = dict(DEFAULTS)
    settings.update(stored)
    address = settings.get("address")
    if address is not None and not (type(address) is int and 1 <= address <= 247):
        problem, settings["address"] = "BAD ADDRESS", None
    if settings["baudrate"] not in RATES or type(settings["baudrate"]) is not int:
        problem, settings["baudrate"] = "BAD BAUD RATE", DEFAULTS["baudrate"]
    if settings["parity"] not in PARITIES:
        problem, settings["parity"] = "BAD PARITY", DEFAULTS["parity"]
    return settings, problem


def session(path):
    """This power-up's session: the stored one + 1 (65535 then 1), stored for the next
    power-up. Drawn at random when none is stored, and when it cannot be stored (the next
    power-up would find the same one): then it differs from the last by chance only, as on a
    keypad without a flash."""
    try:
        with open(path) as file:
            last = int(file.read(8))
        number = last % 65535 + 1 if 1 <= last <= 65535 else 0
    except (OSError, ValueError):
        number = 0
    while not number:
        number = random.getrandbits(16)
    try:
        with open(path, "w") as file:
            file.write(str(number))
    except OSError as error:
        log.warning("the session cannot be stored (%s): drawn at random", error)
        number = 0
        while not number:
            number = random.getrandbits(16)
    return number
