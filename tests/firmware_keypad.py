"""A keypad running our firmware (firmware/keypad/) on MicroPython's unix port, for
tests/rs485.Line: its UART is a pseudo-terminal, its keys are typed on its stdin, and its
LCD, LEDs and beeper are read off its stdout (firmware/keypad/unixboard.py)."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware" / "keypad"
MICROPYTHON = shutil.which("micropython", path=str(Path(sys.executable).parent)) or \
    shutil.which("micropython")
ANSWER_WAIT = 0.5   # seconds this test double waits for an answer (the document's is 20 ms)


def micropython(*args: str, firmware: Path = FIRMWARE, **options) -> subprocess.Popen:
    """The unix port running `args`, with `firmware` (the source, or tools/flash.py's build)
    and its micropython-lib on its path, and the unix port's board."""
    path = f"{firmware}:{firmware / 'lib'}:{FIRMWARE}"
    return subprocess.Popen([MICROPYTHON, *args], env={**os.environ, "MICROPYPATH": path},
                            **options)


class FirmwareKeypad:
    """Keypad `address` with its flash (keypad.json, the session) in `home`. `type` presses
    keys by their names on the keypad; `lines`, `leds` and `beeps` are what it shows."""

    def __init__(self, address: int, home: Path, baudrate: int = 115200,
                 parity: str = "none", heap: str | None = None, firmware: Path = FIRMWARE):
        """`heap`: the unix port's heap size (`48k`), as small as a board's; `firmware`:
        tools/flash.py's build (.mpy files) instead of the source."""
        self.address, self.home, self.heap, self.firmware = address, home, heap, firmware
        home.mkdir(parents=True, exist_ok=True)
        self._fd, self._slave = os.openpty()
        tty.setraw(self._slave)
        (home / "keypad.json").write_text(json.dumps({
            "address": address, "baudrate": baudrate, "parity": parity,
            "uart": os.ttyname(self._slave)}))
        self.latencies: list[float] = []   # request's last byte written -> answer's first byte
        self.out_of_turn: list[bytes] = []  # bytes it sent unasked
        self.answered = b""                 # its last answer
        self._process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        """Power up: a blank display, LEDs off, the next session."""
        self.lines, self.leds, self.beeps, self.log = ("", ""), [False, False], 0, []
        heap = ("-X", f"heapsize={self.heap}") if self.heap else ()
        self._process = micropython(*heap, str(self.firmware / "main.py"), str(self.home),
                                    firmware=self.firmware,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1)
        started = threading.Event()
        threading.Thread(target=self._watch, args=(self._process, started), daemon=True).start()
        if not started.wait(10):
            raise AssertionError(f"keypad {self.address} did not start: {self.log}")

    def restart(self) -> None:
        self._process.kill()
        self._process.wait()
        self.start()

    def close(self) -> None:
        self._process.kill()
        self._process.wait()
        os.close(self._fd)
        os.close(self._slave)

    def type(self, keys: str) -> None:
        """Press the keys named, one after the other (`LOGIN ABC 8 OK`)."""
        self._process.stdin.write("".join(key + "\n" for key in keys.split()))
        self._process.stdin.flush()

    def answer(self, frame: bytes) -> bytes | None:
        """Put a request on its UART; its whole answer, or None after ANSWER_WAIT."""
        self._drain()
        os.write(self._fd, frame)
        sent = time.monotonic()
        answer = b""
        while len(answer) < _answer_length(answer):
            left = sent + ANSWER_WAIT - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                return None
            if not answer:
                self.latencies.append(time.monotonic() - sent)
            answer += os.read(self._fd, 512)
        self.answered = answer
        return answer

    def hear(self, frame: bytes) -> None:
        """A frame on the line for another keypad: it must stay silent."""
        self._drain()
        os.write(self._fd, frame)

    def _drain(self) -> None:
        while select.select([self._fd], [], [], 0)[0]:
            self.out_of_turn.append(os.read(self._fd, 512))

    def _watch(self, process: subprocess.Popen, started: threading.Event) -> None:
        for line in process.stdout:
            line = line.rstrip("\n")
            self.log.append(line)
            if line.startswith("lcd|"):
                self.lines = (line[4:20].rstrip(), line[21:37].rstrip())
                started.set()
            elif line.startswith("leds "):
                self.leds = [part == "1" for part in line.split()[1:]]
            elif line == "beep":
                self.beeps += 1


def _answer_length(answer: bytes) -> int:
    """How long the answer that starts with `answer` is (at least what is there + 1 while
    unknown)."""
    if len(answer) < 3:
        return len(answer) + 1
    if answer[1] & 0x80:
        return 5
    return 5 + answer[2] if answer[1] == 4 else 8
