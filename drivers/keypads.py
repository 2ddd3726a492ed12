"""Teller keypads on an RS-485 line: the Modbus RTU master (pymodbus), a task in the loop.

The register map and the exactly-once rules are in docs/keypad.md. Each poll reads the keypad's
input registers; a waiting key press goes to the loop with a request id (session:sequence) that
the hall records in the same transaction as the operation, and it is acknowledged only after
that commit: a lost answer or a retry never applies a press twice, and an unacknowledged press
is read again, never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from config.hardware import KeypadsConfig
from drivers.events import BackOffice, CounterKey, counter_key
from media.keypad_text import WIDTH, keypad_lines

log = logging.getLogger(__name__)

KEY_CODES = {1: "call", 2: "recall", 3: "start", 4: "skip", 5: "finish", 6: "transfer",
             7: "pause", 8: "resume", 9: "login", 10: "logout",
             11: "rate 1", 12: "rate 2", 13: "rate 3"}   # the customer's evaluation keys
STATUS_REGISTERS = 14
DISPLAY_CHARACTERS = 32
MIN_CYCLE = 0.02          # seconds: an idle bus is polled at most 50 times a second
HEARTBEAT_STALE = 5.0     # seconds without a heartbeat before a keypad's firmware is suspect


def display_registers(text: str) -> list[int]:
    """`text` laid out as the display's two lines of 16 (media.keypad_text), as 16 registers of
    two ASCII characters (others shown as '?'), space-padded."""
    raw = "".join(line.ljust(WIDTH) for line in keypad_lines(text))
    data = "".join(c if 32 <= ord(c) < 127 else "?" for c in raw).encode("ascii")
    return [data[i] << 8 | data[i + 1] for i in range(0, DISPLAY_CHARACTERS, 2)]


def register_text(registers: list[int]) -> str:
    return b"".join(r.to_bytes(2, "big") for r in registers).rstrip(b"\0 ").decode("ascii",
                                                                                   "replace")


FUNCTIONS = {"read_input_registers": 4, "write_coils": 15, "write_registers": 16}


def _answers(response, method: str, address: int, values=None, count: int = 0) -> bool:
    """Whether `response` answers this very request: its function, and the registers read or
    written (pymodbus pairs answers to requests by device only, so an answer that comes late,
    after the next request went out, would otherwise pass for that one's)."""
    if getattr(response, "function_code", None) != FUNCTIONS[method]:
        return False
    if method == "read_input_registers":
        return len(response.registers) == count
    return (response.address, response.count) == (address, len(values))


class BusError(Exception):
    """A request that got no valid answer; `heard`: something came back (a refusal, garbage),
    so the keypad is there."""

    def __init__(self, heard: bool):
        super().__init__()
        self.heard = heard


@dataclass
class Keypad:
    """What the master knows of one keypad."""

    address: int
    online: bool = False
    firmware: str = "?"
    session: int = 0
    heartbeat: int = 0
    heartbeat_at: float = 0.0  # monotonic time the heartbeat last moved
    stalled: bool = False
    failures_in_row: int = 0
    no_answer: int = 0       # polls with nothing heard
    bad_answer: int = 0      # polls answered with garbage, a bad CRC or a Modbus exception
    display: list[int] | None = None   # registers to write at the next poll
    leds: list[bool] | None = None     # coils to write at the next poll
    refused: set[str] = field(default_factory=set)   # outputs it refused (logged once)


class KeypadBus:
    """Polls every keypad in turn and turns key presses into CounterKey events.

    Example::

        bus = KeypadBus(config.keypads, appliance.inbox.post, time.time)
        task = asyncio.create_task(bus.run())       # in the appliance's loop
        bus.show(3, "A012 CALLED  2 WAITING")       # keypad 3's display, at its next poll
    """

    def __init__(self, config: KeypadsConfig, post: Callable, clock: Callable[[], float]):
        self.config, self.post, self.clock = config, post, clock
        self.keypads = {n: Keypad(n) for n in config.counters}
        self.client = None
        self.gap = max(3.5 * 11 / config.baudrate, 0.00175)   # (the spec's floor above 19200)
        self._heard = 0

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._heard += len(data)
        return data

    # -- the loop's side ---------------------------------------------------------------------

    def show(self, counter: int, text: str, *, busy: bool = False, paused: bool = False,
             alarm: bool = False) -> None:
        keypad = self.keypads.get(counter)
        if keypad is not None:
            keypad.display = display_registers(text)
            keypad.leds = [busy, paused, alarm]

    def health(self) -> str:
        offline = [str(k.address) for k in self.keypads.values() if not k.online]
        stalled = [str(k.address) for k in self.keypads.values() if k.online and k.stalled]
        return f"{len(self.keypads) - len(offline)} online" + \
            (f", offline: {', '.join(offline)}" if offline else "") + \
            (f", heartbeat stopped: {', '.join(stalled)}" if stalled else "")

    # -- the bus -----------------------------------------------------------------------------

    async def open(self) -> None:
        from pymodbus.client import AsyncModbusSerialClient  # ~0.1 s to import: not at boot

        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # we log per keypad instead
        self.client = AsyncModbusSerialClient(
            self.config.port, baudrate=self.config.baudrate, timeout=self.config.timeout,
            retries=0, trace_packet=self._trace)
        if not await self.client.connect():
            log.error("keypads: cannot open %s; retrying", self.config.port)

    async def run(self) -> None:
        await self.open()
        cycle = 0
        try:
            while True:
                started = time.monotonic()
                for keypad in [k for k in self.keypads.values() if k.online]:
                    await self.poll(keypad)
                # One keypad that does not answer a cycle, in turn: each costs a whole
                # timeout, and all at once would stall the line for the ones that answer.
                if offline := [k for k in self.keypads.values() if not k.online]:
                    await self.poll(offline[cycle % len(offline)])
                cycle += 1
                await asyncio.sleep(max(0.0, MIN_CYCLE - (time.monotonic() - started)))
        finally:
            self.client.close()

    async def poll(self, keypad: Keypad) -> None:
        """One turn of one keypad: pending output, its state, and its oldest key press. A
        keypad that refuses a write (a missing coil, a shorter display) is read all the same."""
        try:
            await self._flush(keypad)
        except BusError as refused:
            if not refused.heard:
                return   # silent: the read would only wait out its timeout too
        try:
            status = await self._call(keypad, self.client.read_input_registers, 0,
                                      count=STATUS_REGISTERS)
        except BusError:
            return
        self._answered(keypad, status)
        if not status[3]:
            return
        sequence, code, argument = status[4], status[5], register_text(status[6:14])
        event = self._event(keypad, code, argument)
        if event is not None:
            event = replace(event, request=(f"keypad:{keypad.address}",
                                            f"{keypad.session}:{sequence}"),
                            done=asyncio.get_running_loop().create_future())
            self.post(event)
            await event.done   # applied and committed (or refused) by the loop
        try:
            await self._flush(keypad, acknowledge=sequence)
        except BusError:
            pass   # not acknowledged: read again at the next poll, and recognised then

    def _event(self, keypad: Keypad, code: int, argument: str) -> CounterKey | None:
        at = self.clock()
        key = KEY_CODES.get(code)
        try:
            if key is None:
                raise ValueError(f"unknown key code {code}")
            key, *words = key.split()
            return counter_key(keypad.address, key, words + argument.split(), at)
        except ValueError as exc:
            log.error("keypad %d: %s", keypad.address, exc)
            self.show(keypad.address, "KEY NOT UNDERSTOOD", alarm=True)
            return None

    async def _flush(self, keypad: Keypad, acknowledge: int | None = None) -> None:
        """Write the acknowledgement (a write of its own, so that a display the keypad refuses
        cannot hold it back), then whatever the loop asked to show. An output the keypad
        refuses is dropped (and logged), one that went unanswered is tried at the next poll."""
        if acknowledge is not None:
            await self._call(keypad, self.client.write_registers, 0, [acknowledge])
        for name, write in (("display", lambda: self._call(
                keypad, self.client.write_registers, 1, keypad.display)),
                            ("leds", lambda: self._call(
                keypad, self.client.write_coils, 0, keypad.leds))):
            if getattr(keypad, name) is None:
                continue
            try:
                await write()
            except BusError as refused:
                if not refused.heard:
                    raise
                if name not in keypad.refused:
                    keypad.refused.add(name)
                    log.error("keypad %d refused its %s: it departs from docs/keypad.md",
                              keypad.address, name)
            setattr(keypad, name, None)

    async def _call(self, keypad: Keypad, method, address: int, *args, **kwargs):
        from pymodbus.exceptions import ModbusException

        self._heard = 0
        try:
            response = await method(address, *args, device_id=keypad.address, **kwargs)
        except ModbusException:
            self._failed(keypad, bad=self._heard > 0)
            raise BusError(heard=self._heard > 0) from None
        finally:   # Modbus RTU's silence between frames, 3.5 characters, before the next one
            await asyncio.sleep(self.gap)
        if response.isError() or not _answers(response, method.__name__, address, *args,
                                              **kwargs):
            self._failed(keypad, bad=True)   # a refusal, or a late answer to another request
            raise BusError(heard=True)
        return response.registers

    def _answered(self, keypad: Keypad, status: list[int]) -> None:
        came_back = not keypad.online or status[2] != keypad.session   # or it restarted
        if status[1] != keypad.heartbeat or came_back:
            if keypad.stalled and not came_back:
                log.info("keypad %d: heartbeat runs again", keypad.address)
                keypad.stalled = False
            keypad.heartbeat, keypad.heartbeat_at = status[1], time.monotonic()
        elif time.monotonic() - keypad.heartbeat_at > HEARTBEAT_STALE and not keypad.stalled:
            log.warning("keypad %d: heartbeat stopped, its firmware may be hung", keypad.address)
            keypad.stalled = True
        keypad.online, keypad.session, keypad.failures_in_row = True, status[2], 0
        keypad.firmware = f"{status[0] >> 8}.{status[0] & 0xFF}"
        if came_back:
            keypad.stalled = False
            log.info("keypad %d online (firmware %s)", keypad.address, keypad.firmware)
            self.post(BackOffice("refresh_keypad", self.clock(), {"counter": keypad.address}))

    def _failed(self, keypad: Keypad, bad: bool) -> None:
        if bad:
            keypad.bad_answer += 1
        else:
            keypad.no_answer += 1
        keypad.failures_in_row += 1
        if not keypad.online and keypad.firmware == "?" and \
                keypad.failures_in_row == self.config.offline_after:
            log.warning("keypad %d has not answered since the start: offline", keypad.address)
        if keypad.online and keypad.failures_in_row >= self.config.offline_after:
            keypad.online = False
            log.warning("keypad %d offline after %d failed polls (%d unanswered, %d bad answers"
                        " so far)", keypad.address, keypad.failures_in_row, keypad.no_answer,
                        keypad.bad_answer)
