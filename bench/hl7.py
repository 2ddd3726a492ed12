"""The HIS's registrations over MLLP on loopback, against the targets of issue 16.

The appliance runs in this process as on the box (config/examples/hospital.toml, every device
simulated); the HIS is another process that sends ADT^A04 messages one after the other, each
waiting for its acknowledgement (MLLP's original mode). Prints p50/p99 of message sent → ticket
committed → ACK read, and of a ticket button's press → its commit, pressed every 20 ms alone
and then while the messages stream in.
Usage: python bench/hl7.py [MESSAGES]   (1000 by default)
"""

import asyncio
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file's folder first on the path would make it the `hl7` that python-hl7 is.
sys.path[:] = [str(ROOT), str(ROOT / "tests")] + [
    p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from drivers.events import ButtonPressed, HisMessage  # noqa: E402
from hallday import wire  # noqa: E402

EXAMPLE = ROOT / "config" / "examples" / "hospital.toml"
PRESS_EVERY = 0.02   # seconds


def his(port: int, count: int, results) -> None:
    """The HIS: `count` registrations, built first (hl7apy, strict), then sent and timed."""
    import hl7_messages
    from hl7.mllp import open_hl7_connection

    messages = [hl7_messages.adt_a04(control=f"B{n:05d}", patient=f"P{n:05d}", visit=f"V{n:05d}",
                                     department="0101" if n % 2 else "0201", doctor=None)
                for n in range(count)]

    async def send() -> list[float]:
        reader, writer = await open_hl7_connection("127.0.0.1", port)
        times = []
        for text in messages:
            started = time.perf_counter()
            writer.writeblock(text.encode())
            await writer.drain()
            ack = await reader.readblock()
            times.append(time.perf_counter() - started)
            if b"MSA|AA" not in ack:
                raise SystemExit(f"not accepted: {ack!r}")
        writer.close()
        return times

    results.put(asyncio.run(send()))


def percentiles(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return (f"p50 {statistics.median(ms):6.2f} ms   p99 {ms[int(len(ms) * 0.99) - 1]:6.2f} ms"
            f"   ({len(ms)})")


async def measure(folder: Path, count: int) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = folder / "hospital.toml"
    config.write_text(EXAMPLE.read_text().replace("port = 2575", f"port = {port}"))
    app, day = wire(folder, time.time, config)
    pressed: dict[int, float] = {}
    committed: dict[int, float] = {}
    handle = app.handle

    def timed(event):
        handle(event)
        if isinstance(event, (ButtonPressed, HisMessage)):
            committed[id(event)] = time.perf_counter()
    app.handle = timed

    async def press(seconds: float) -> list[float]:
        """A ticket at the cashier's button every PRESS_EVERY: each press to its commit."""
        pressed.clear()
        committed.clear()
        events = []
        ends = time.perf_counter() + seconds
        while time.perf_counter() < ends:
            event = ButtonPressed("K", time.time())
            events.append(event)
            pressed[id(event)] = time.perf_counter()
            app.inbox.post(event)
            await asyncio.sleep(PRESS_EVERY)
        await asyncio.sleep(0.2)
        return [committed[id(e)] - pressed[id(e)] for e in events if id(e) in committed]

    running = asyncio.create_task(app.run())
    await asyncio.sleep(1.0)   # READY, then the HIS link listens
    alone = await press(3.0)
    results = multiprocessing.get_context("spawn").Queue()
    sender = multiprocessing.get_context("spawn").Process(target=his, args=(port, count, results))
    sender.start()
    presses: list[float] = []
    while sender.is_alive() and results.empty():
        presses += await press(1.0)
    acks = await asyncio.to_thread(results.get)
    sender.join()
    app.stop()
    await running
    day.devices.close()
    print(f"ADT^A04 sent -> ticket committed -> ACK read, {count} messages one after the other:")
    print(f"  {percentiles(acks)}   ({count / sum(acks):.0f} messages/s)")
    print(f"button press -> commit, a press every {PRESS_EVERY * 1000:.0f} ms:")
    print(f"  alone                {percentiles(alone)}")
    print(f"  while messages come  {percentiles(presses)}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as work:
        asyncio.run(measure(Path(work), int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
