"""Keypad bus: a key press to the keypad's display, with the bytes' time on the wire simulated.

Runs the appliance (simulated devices, its real keypad master) against keypads built from
docs/keypad.md on tests/rs485.py's line, which delays every frame by its transmission time at
the baud rate. A teller at keypad 1 presses "call" at a random moment of the cycle; the time
until the keypad's display shows the call is measured. Targets (docs/keypad.md, issue 11):
all keypads answering, within one poll cycle plus 20 ms; with 31 of 32 silent, within twice
the live keypad's cycle plus one probe timeout. Usage: python bench/keypad_bus.py [PRESSES]
"""

import asyncio
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from config.hardware import KeypadsConfig  # noqa: E402
from doc_keypad import DocKeypad  # noqa: E402
from drivers.events import ButtonPressed  # noqa: E402
from drivers.keypads import LONGEST_EXCHANGE, KeypadBus  # noqa: E402
from hallday import wire  # noqa: E402
from rs485 import Line, wait_for  # noqa: E402

TIMEOUT = 0.05   # the appliance's default [hardware.keypads] timeout
FLOOR_CHARACTERS = 8 + 35 + 41 + 8   # the read and the display write, each with its answer


class Watched(DocKeypad):
    """Keypad 1: notes when its display changes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.changed: list[tuple[float, tuple[str, str]]] = []

    def answer(self, frame):
        before = self.lines
        answer = super().answer(frame)
        if self.lines != before:
            self.changed.append((time.monotonic(), self.lines))
        return answer


async def presses(keypads: int, silent: int, baud: int, count: int, folder: Path) -> dict:
    watched = Watched(1)
    line = Line([watched] + [DocKeypad(n) for n in range(2, keypads + 1)], baud)
    line.silent.update(range(keypads - silent + 1, keypads + 1))
    app, day = wire(folder)
    bus = KeypadBus(KeypadsConfig(port=line.master, counters=tuple(range(1, keypads + 1)),
                                  baudrate=baud, timeout=TIMEOUT), app.inbox.post, time.time)
    day.devices.keypads = bus
    day.devices.background.append(bus.run)
    running = asyncio.create_task(app.run())
    latencies = []
    try:
        live = [k for k in bus.keypads.values() if k.address not in line.silent]
        await wait_for(lambda: all(k.online for k in live), seconds=60)
        for _ in range(count + 1):
            app.inbox.post(ButtonPressed("A", time.time()))
        line.press(1, "login", "T01 1111")
        await wait_for(lambda: watched.lines[0] == "NO TICKET", seconds=60)
        cycle = await read_cycle(line)
        for n in range(1, count + 1):   # on a quiet line: the other displays written already
            await asyncio.sleep(2 * cycle + random.uniform(0, cycle))
            pressed = time.monotonic()
            line.press(1, "call")
            label = f"A{n:03d} CALLED"
            await wait_for(lambda: watched.lines[0] == label, seconds=60)
            latencies.append(next(at for at, lines in watched.changed if lines[0] == label)
                             - pressed)
    finally:
        app.stop()
        await running
        day.devices.close()
        line.close()
    probe = TIMEOUT + LONGEST_EXCHANGE * 10 / baud
    target = 2 * cycle + probe if silent else cycle + 0.02
    return {"cycle": cycle, "median": statistics.median(latencies), "max": max(latencies),
            "target": target, "floor": cycle + FLOOR_CHARACTERS * 10 / baud + 4 * line.silence}


async def read_cycle(line: Line) -> float:
    """The median time between two reads of keypad 1 on the idle line."""
    start = len(line.requests)
    await wait_for(lambda: sum(key == (1, 4, 0) for _, key in line.requests[start:]) > 10,
                   seconds=60)
    reads = [at for at, key in line.requests[start:] if key == (1, 4, 0)]
    return statistics.median(b - a for a, b in zip(reads, reads[1:]))


def main(count: int) -> None:
    logging.disable(logging.WARNING)   # (31 keypads silent: each is logged offline)
    print(f"key press at keypad 1 -> its display shows the call; {count} presses each,"
          " wire time simulated\n")
    print("  baud  keypads  silent   cycle of keypad 1   press->display median    max"
          "    target   verdict   (cycle + read + display on the wire)")
    for baud in (115200, 9600):
        for keypads, silent in ((1, 0), (8, 0), (32, 0), (32, 31)):
            with tempfile.TemporaryDirectory() as folder:
                r = asyncio.run(presses(keypads, silent, baud, count, Path(folder)))
            ms = {k: v * 1000 for k, v in r.items()}
            verdict = "met" if r["max"] <= r["target"] else "MISSED"
            print(f"{baud:6d}  {keypads:7d}  {silent:6d}  {ms['cycle']:14.1f} ms  "
                  f"{ms['median']:17.1f} ms  {ms['max']:6.1f} ms  {ms['target']:6.1f} ms  "
                  f"{verdict:7s}   {ms['floor']:6.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
