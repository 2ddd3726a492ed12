"""MicroPython runs this file at power-up: the keypad firmware (loop.py), with keypad.json
and the session file at the root of the flash. On the unix port: `micropython main.py
FOLDER` (the files in FOLDER). The rest is compiled ahead (.mpy): this file is compiled on the
board at every power-up, so it stays this small."""

import sys

from loop import main

main(sys.argv[1].rstrip("/") + "/" if sys.platform == "linux" else "/")
