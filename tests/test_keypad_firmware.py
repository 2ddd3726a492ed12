"""The keypad firmware (firmware/keypad/, MicroPython) on MicroPython's unix port: its frame
layer and registers against docs/keypad.md (the checks are tests/keypad_firmware/)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MICROPYTHON = shutil.which("micropython", path=str(Path(sys.executable).parent)) or \
    shutil.which("micropython")


def test_the_frame_layer_and_registers_on_micropython():
    done = subprocess.run([MICROPYTHON, str(ROOT / "tests" / "keypad_firmware" /
                                            "check_device.py")],
                          env={**os.environ, "MICROPYPATH": str(ROOT / "firmware" / "keypad")},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("checks ")   # (it ran to its end)
