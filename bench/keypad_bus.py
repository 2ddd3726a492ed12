"""Keypad bus: software time per poll and per cycle, beside the wire time of the same frames.

Runs the appliance's bus master against simulated keypads (pymodbus's RTU server) over a
pseudo-terminal pair joined by socat, where the line itself adds no delay: what is measured is
the software on both ends. Usage: python bench/keypad_bus.py [CYCLES]
"""

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from config.hardware import KeypadsConfig  # noqa: E402
from drivers.keypads import STATUS_REGISTERS, KeypadBus  # noqa: E402
from keypad_sim import KeypadSim, keypad_server  # noqa: E402

READ_REQUEST = 8                          # address, function, start, count, CRC
READ_ANSWER = 5 + 2 * STATUS_REGISTERS    # address, function, byte count, registers, CRC


def gap_ms(baud: int) -> float:
    """Modbus RTU's silence after a frame: 3.5 characters of 11 bits, at least 1.75 ms."""
    return max(3.5 * 11 / baud, 0.00175) * 1000


def wire_ms(baud: int) -> float:
    """One poll on a real line: both frames at 10 bits a byte, and the silence after each."""
    return (READ_REQUEST + READ_ANSWER) * 10 / baud * 1000 + 2 * gap_ms(baud)


async def measure(keypads: int, cycles: int, master: str, slave: str) -> dict:
    sims = [KeypadSim(address) for address in range(1, keypads + 1)]
    server = keypad_server(slave, sims)
    serving = asyncio.create_task(server.serve_forever())
    await asyncio.sleep(0.2)
    pressed, arrived = [], []

    def post(event):
        if getattr(event, "done", None) is not None:
            arrived.append(time.perf_counter())
            event.done.set_result(None)

    bus = KeypadBus(KeypadsConfig(port=master, counters=tuple(range(1, keypads + 1)),
                                  timeout=0.5), post, time.time)
    await bus.open()
    polls, cycle_times = [], []
    for cycle in range(cycles):
        if cycle % 10 == 5:   # a teller presses a key somewhere in the middle of a cycle
            sims[keypads // 2].press("call")
            pressed.append(time.perf_counter())
        started = time.perf_counter()
        for keypad in bus.keypads.values():
            before = time.perf_counter()
            await bus.poll(keypad)
            polls.append(time.perf_counter() - before)
        cycle_times.append(time.perf_counter() - started)
    bus.client.close()
    await server.shutdown()
    serving.cancel()
    latency = [a - p for p, a in zip(pressed, arrived)]
    return {"poll": statistics.median(polls) * 1000, "cycle": statistics.median(cycle_times) * 1000,
            "latency": max(latency) * 1000 if latency else float("nan"),
            "pressed": len(pressed), "arrived": len(arrived)}


def main(cycles: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        master, slave = os.path.join(folder, "master"), os.path.join(folder, "keypads")
        socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={master}",
                                  f"pty,raw,echo=0,link={slave}"])
        try:
            while not (os.path.exists(master) and os.path.exists(slave)):
                time.sleep(0.01)
            print(f"one poll = read {STATUS_REGISTERS} input registers "
                  f"({READ_REQUEST} + {READ_ANSWER} bytes); medians over {cycles} cycles\n")
            print("keypads  software/poll  software/cycle  key->loop(max)   wire/poll  wire/cycle"
                  "   wire/poll  wire/cycle  target poll")
            print("                                                          9600 baud"
                  "              115200 baud             <= wire/2 @115200")
            for keypads in (1, 8, 32):
                r = asyncio.run(measure(keypads, cycles, master, slave))
                # The master's own silence after each answer is the line's time, not software.
                r["poll"] -= gap_ms(115200)
                r["cycle"] -= gap_ms(115200) * keypads
                w96, w115 = wire_ms(9600), wire_ms(115200)
                verdict = "met" if r["poll"] <= w115 / 2 else "MISSED"
                print(f"{keypads:7d}  {r['poll']:10.2f} ms  {r['cycle']:11.2f} ms  "
                      f"{r['latency']:11.2f} ms  {w96:7.2f} ms  {w96 * keypads:7.1f} ms  "
                      f"{w115:7.2f} ms  {w115 * keypads:7.1f} ms  {verdict}"
                      f" ({r['arrived']}/{r['pressed']} presses reached the loop)")
        finally:
            socat.send_signal(signal.SIGTERM)
            socat.wait()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
