"""The keypads' RS-485 line for tests: the appliance opens `line.master`, a pseudo-terminal; at
the far end, keypads built from docs/keypad.md (tests/doc_keypad.py) or running our firmware
(tests/firmware_keypad.py), and counter displays built from docs/counter-display.md
(tests/doc_counter_display.py), answer whole frames.

A relay thread frames the master's bytes, hands each request to the keypads and writes their
answers back, optionally after the time the bytes take on the wire at `baudrate`. It can bend
the line: keypads unplugged or slow, frames lost, corrupted, duplicated, held back behind the
next answer, garbage on the line. A request sent less than 3.5 characters after the previous
frame cannot be framed by a strict keypad: it is counted in `merged` and dropped.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import select
import threading
import time
import tty
from typing import Callable

from config.hardware import CounterDisplayConfig, KeypadsConfig
from doc_counter_display import DocCounterDisplay
from doc_keypad import DocKeypad
from drivers.keypads import KeypadBus
from hallday import DEFAULT, wire

Key = tuple[int, int, int]   # (address, function code, first register) of a request


class Line:
    def __init__(self, keypads: list, baudrate: int | None = None,
                 turnaround: float = 0.0005):
        """`baudrate`: bytes take their transmission time (10 bits each); None: no wire time.
        `turnaround`: how long a keypad takes to start its answer. `keypads`: every device on
        the line, counter displays too, each answering the frames to its `address`."""
        self.keypads = {k.address: k for k in keypads}
        self.character = 10 / baudrate if baudrate else 0.0
        self.silence = max(3.5 * self.character, 0.00175)
        self.turnaround = turnaround
        self.lock = threading.Lock()   # held while a keypad answers: take it to press keys
        self.silent: set[int] = set()          # addresses whose requests never arrive
        self.slow: dict[Key, list[float]] = {}  # requests a keypad answers this much later
        self.lose: dict[Key, int] = {}          # answers lost on the way back
        self.lose_requests: dict[Key, int] = {}
        self.corrupt: dict[int, int] = {}       # address -> answers to spoil (bad CRC)
        self.duplicate: dict[Key, int] = {}     # answers heard twice
        self.hold: dict[Key, int] = {}          # answers delivered after the next answer
        self.then: dict[Key, Callable[[DocKeypad], None]] = {}   # done to the keypad once it
        self.garbage = b""                      # answered; bytes heard before the next answer
        self.requests: list[tuple[float, Key]] = []   # (monotonic time, key) of each request
        self.merged = 0
        self._held: bytes | None = None
        self._wire_free = 0.0       # when the last frame on the line ends
        self._busy = {a: 0.0 for a in self.keypads}   # when each keypad is free to answer
        self._out: list[tuple[float, int, bytes]] = []   # (due, order, frame) to the master
        self._order = 0
        self._master_fd, slave = os.openpty()
        tty.setraw(slave)
        self.master, self._slave = os.ttyname(slave), slave
        self._stop = False
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def press(self, address: int, key: str, argument: str = "") -> None:
        with self.lock:
            self.keypads[address].press(key, argument)

    def restart(self, address: int) -> None:
        with self.lock:
            self.keypads[address].restart()

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        os.close(self._master_fd)
        os.close(self._slave)

    @staticmethod
    def _take(table: dict, key) -> bool:
        if table.get(key, 0) > 0:
            table[key] -= 1
            return True
        return False

    def _relay(self) -> None:
        heard = b""
        while not self._stop:
            wait = min([0.05] + [max(0.0, due - time.monotonic()) for due, _, _ in self._out[:1]])
            if select.select([self._master_fd], [], [], wait)[0]:
                try:
                    heard += os.read(self._master_fd, 4096)
                except OSError:
                    return
                while (length := _frame_length(heard)) and len(heard) >= length:
                    self._request(heard[:length], time.monotonic())
                    heard = heard[length:]
            while self._out and self._out[0][0] <= time.monotonic():
                due, _, frame = heapq.heappop(self._out)
                self._wire_free = max(self._wire_free, due)
                os.write(self._master_fd, frame)

    def _request(self, frame: bytes, now: float) -> None:
        key = (frame[0], frame[1], int.from_bytes(frame[2:4], "big"))
        self.requests.append((now, key))
        if now - self._wire_free < self.silence:
            self.merged += 1
            return
        ends = now + len(frame) * self.character   # the master writes it in one go
        self._wire_free = ends
        if self._take(self.lose_requests, key):
            return
        with self.lock:   # every keypad hears every request; a firmware keypad stays silent
            for other in self.keypads.values():
                if other.address != frame[0] and hasattr(other, "hear"):
                    other.hear(frame)
        if frame[0] in self.silent or frame[0] not in self.keypads:
            return
        with self.lock:
            keypad = self.keypads[frame[0]]
            answer = keypad.answer(frame)
            if answer is not None and (then := self.then.pop(key, None)):
                then(keypad)
        if answer is None or self._take(self.lose, key):
            return
        slow = self.slow.get(key)
        start = max(ends + self.silence, self._busy[frame[0]]) + self.turnaround + \
            (slow.pop(0) if slow else 0.0)
        self._busy[frame[0]] = start
        if self._take(self.corrupt, frame[0]):
            answer = answer[:-1] + bytes([answer[-1] ^ 0xFF])
        answer, self.garbage = self.garbage + answer, b""
        if self._take(self.hold, key):
            self._held = answer
            return
        frames = [answer, answer] if self._take(self.duplicate, key) else [answer]
        if self._held is not None:
            frames.append(self._held)
            self._held = None
        for frame in frames:
            start += len(frame) * self.character
            self._send(start, frame)
            start += self.silence

    def _send(self, due: float, frame: bytes) -> None:
        self._order += 1
        heapq.heappush(self._out, (due, self._order, frame))


def _frame_length(data: bytes) -> int:
    """A request's length from its function code (the master sends whole frames)."""
    if len(data) < 7:
        return 0
    if data[1] in (15, 16):
        return 9 + data[6]
    return 8


def wait_for(condition: Callable[[], bool], seconds: float = 5.0):
    """An awaitable that ends once `condition()` holds; fails the test after `seconds`."""

    async def waiting():
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            await asyncio.sleep(0.01)
    return waiting()


def hall_on_a_line(tmp_path, script, addresses=(1, 2, 3, 4), ready=None, baudrate=115200,
                   silent=(), timeout=0.05, strict=True, keypad=DocKeypad, config_path=DEFAULT,
                   displays: tuple[CounterDisplayConfig, ...] = (), display=DocCounterDisplay,
                   **variants):
    """Run the appliance with its keypads and counter `displays` on a simulated line (bytes
    take their time on the wire at `baudrate`; `silent` devices unplugged) while `script` plays
    the hall, once `ready(bus)` holds (default: every device online); `variants` maps
    `k<address>` to DocKeypad options and `d<address>` to DocCounterDisplay options (one
    departing from the map; `kind`: a subclass that misbehaves, or another device).
    `strict`: the master keeps Modbus's silence before every request (a late answer of a keypad
    can break it; the master cannot). `keypad(address)` makes the other keypads,
    `display(address)` the other displays. Without keypads, the console plays the tellers."""
    def made(name: str, address: int, default):
        options = dict(variants.get(f"{name}{address}", {}))
        return options.pop("kind", default)(address, **options)

    line = Line([made("k", n, keypad) for n in addresses] +
                [made("d", d.address, display) for d in displays], baudrate)
    line.silent.update(silent)
    app, day = wire(tmp_path, config_path=config_path)
    bus = KeypadBus(KeypadsConfig(port=line.master, counters=tuple(addresses), timeout=timeout,
                                  baudrate=baudrate), app.inbox.post, time.time, tuple(displays))
    if addresses:
        day.devices.keypads = bus
    day.devices.counter_displays = bus.counter_displays
    day.devices.background.append(bus.run)
    ready = ready or (lambda bus: all(k.online for k in bus.keypads.values()) and
                      all(d.online for d in bus.counter_displays.displays.values()))

    async def main():
        running = asyncio.create_task(app.run())
        try:
            await wait_for(lambda: ready(bus))
            await script(app, day, line.keypads, line, bus)
        finally:
            app.stop()
            await running

    try:
        asyncio.run(main())
    finally:
        day.devices.close()
        line.close()
        for each in line.keypads.values():
            if hasattr(each, "close"):
                each.close()
    assert not app.restarts, "the keypad bus failed and was restarted"
    assert not strict or line.merged == 0, "a request too close behind the previous frame"
    return day
