"""Teller keypads on an RS-485 line: the Modbus RTU master (pymodbus), a task in the loop.

The register map and the exactly-once rules are in docs/keypad.md. Each poll reads the keypad's
input registers; a waiting key press goes to the loop with a request id (session:sequence) that
the hall records in the same transaction as the operation, and it is acknowledged only after
that commit: a lost answer or a retry never applies a press twice, and an unacknowledged press
is read again, never dropped. The same master drives the counter displays on that line
(drivers/counter_displays.py, docs/counter-display.md) between its keypads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from config.hardware import CounterDisplayConfig, KeypadsConfig
from drivers.events import BackOffice, CounterKey, counter_key
from media.keypad_text import WIDTH, keypad_lines

log = logging.getLogger(__name__)

KEY_CODES = {1: "call", 2: "recall", 3: "start", 4: "skip", 5: "finish", 6: "transfer",
             7: "pause", 8: "resume", 9: "login", 10: "logout",
             11: "rate 1", 12: "rate 2", 13: "rate 3"}   # the customer's evaluation keys
PROTOCOL = 2              # the version of docs/keypad.md this master speaks
STATUS_REGISTERS = 15     # input registers 0-14
ACKNOWLEDGE, DISPLAY = 0, 2   # holding registers: session and sequence; 32 characters
DISPLAY_CHARACTERS = 32
LONGEST_EXCHANGE = 49     # characters on the wire: a display write (41) and its answer (8)
MIN_CYCLE = 0.02          # seconds: an idle bus is polled at most 50 times a second
HEARTBEAT_STALE = 5.0     # seconds without a heartbeat before a keypad's firmware is suspect
PARITY = {"none": "N", "even": "E", "odd": "O"}
UNANSWERED_WRITES = 3     # writes of one output in a row with no answer: it departs from the map
OFFERED_AGAIN = 3         # an acknowledged press read again this often: it departs from the map


def display_registers(text: str) -> list[int]:
    """`text` laid out as the display's two lines of 16 (media.keypad_text), as 16 registers of
    two ASCII characters (others shown as '?'), space-padded."""
    raw = "".join(line.ljust(WIDTH) for line in keypad_lines(text))
    data = "".join(c if 32 <= ord(c) < 127 else "?" for c in raw).encode("ascii")
    return [data[i] << 8 | data[i + 1] for i in range(0, DISPLAY_CHARACTERS, 2)]


def register_bytes(registers: list[int]) -> bytes:
    """Registers as the characters they hold, two each (high byte first)."""
    return b"".join(r.to_bytes(2, "big") for r in registers)


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
    """A request that got no valid answer. `heard`: something came back (garbage, a late
    answer to another request, a refusal), so the keypad is there; `refused`: a Modbus
    exception, the keypad's answer that it does not have what was asked."""

    def __init__(self, heard: bool, refused: bool = False):
        super().__init__()
        self.heard, self.refused = heard, refused


@dataclass
class Keypad:
    """What the master knows of one keypad."""

    address: int
    online: bool = False
    protocol: int = PROTOCOL   # the one it said it speaks
    firmware: str = "?"
    session: int = 0
    heartbeat: int = 0
    heartbeat_at: float = 0.0  # monotonic time the heartbeat last moved
    stalled: bool = False
    failures_in_row: int = 0
    no_answer: int = 0       # requests with nothing heard
    bad_answer: int = 0      # requests answered with garbage, a bad CRC, another request's
    #                          answer or a Modbus exception
    display: list[int] | None = None   # the registers it should show
    lit: tuple[bool, bool] = (False, False)   # its serving and paused LEDs
    beep: bool = False
    unsent: set[str] = field(default_factory=set)    # outputs to write at its next poll
    unanswered: dict[str, int] = field(default_factory=dict)   # writes in a row, per output
    refused: set[str] = field(default_factory=set)   # what it refused, or never answers:
    #                                                  logged once, not written again
    handled: str = ""        # the id of the last key press handed to the loop
    offered_again: int = 0   # reads in a row that offered that press again, acknowledged
    foreign: set[int] = field(default_factory=set)   # other protocol versions it spoke
    restarted_at: float = -60.0   # (monotonic) when a restart was last logged

    def lost(self) -> None:
        """A request to it went unanswered: its late answer may yet pass for another request's,
        so what it shows is written again."""
        if self.display is not None:
            self.unsent |= {"display", "leds"} - self.refused


class KeypadBus:
    """Polls every keypad in turn and turns key presses into CounterKey events; between them,
    tells the counter displays on the same line what to show.

    Example::

        bus = KeypadBus(config.keypads, appliance.inbox.post, time.time,
                        config.counter_displays)
        task = asyncio.create_task(bus.run())       # in the appliance's loop
        bus.show(3, "A012 CALLED\n2 WAITING")      # keypad 3's display, at its next poll
        bus.counter_displays.show(3, "A012", blink=True)   # counter 3's display, likewise
    """

    def __init__(self, config: KeypadsConfig, post: Callable, clock: Callable[[], float],
                 displays: tuple[CounterDisplayConfig, ...] = ()):
        from drivers.counter_displays import CounterDisplays   # (it uses this module's BusError)

        self.config, self.post, self.clock = config, post, clock
        self.keypads = {n: Keypad(n) for n in config.counters}
        self.counter_displays = CounterDisplays(displays, config.offline_after)
        self.client = None
        self.character = (10 if config.parity == "none" else 11) / config.baudrate  # seconds
        self.gap = max(3.5 * self.character, 0.00175)   # (the spec's floor above 19200 baud)
        self._heard = 0

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._heard += len(data)
        return data

    # -- the loop's side ---------------------------------------------------------------------

    def show(self, counter: int, text: str, *, busy: bool | None = None,
             paused: bool | None = None, alarm: bool = False) -> None:
        """`text` on keypad `counter` at its next poll; LEDs not given stay as they are."""
        keypad = self.keypads.get(counter)
        if keypad is not None:
            lit = (keypad.lit[0] if busy is None else busy,
                   keypad.lit[1] if paused is None else paused)
            if lit != keypad.lit or alarm:
                keypad.unsent.add("leds")
            keypad.display, keypad.lit = display_registers(text), lit
            keypad.beep |= alarm
            keypad.unsent.add("display")
            keypad.unsent -= keypad.refused

    def health(self) -> str:
        offline = [str(k.address) for k in self.keypads.values() if not k.online]
        stalled = [str(k.address) for k in self.keypads.values() if k.online and k.stalled]
        foreign = [f"{k.address} (protocol {k.protocol})" for k in self.keypads.values()
                   if k.protocol != PROTOCOL]
        return f"{len(self.keypads) - len(offline)} online" + \
            (f", offline: {', '.join(offline)}" if offline else "") + \
            (f", heartbeat stopped: {', '.join(stalled)}" if stalled else "") + \
            (f", not used: {', '.join(foreign)}" if foreign else "")

    # -- the bus -----------------------------------------------------------------------------

    async def open(self) -> None:
        from pymodbus.client import AsyncModbusSerialClient  # ~0.1 s to import: not at boot

        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # we log per keypad instead
        self.client = AsyncModbusSerialClient(
            self.config.port, baudrate=self.config.baudrate,
            parity=PARITY[self.config.parity], stopbits=1,
            timeout=self.config.timeout + LONGEST_EXCHANGE * self.character,
            retries=0, trace_packet=self._trace)
        if not await self.client.connect():
            log.error("keypads' line: cannot open %s; retrying", self.config.port)

    async def run(self) -> None:
        await self.open()
        self._quiet_undecodable()
        cycle = 0
        try:
            while True:
                started = time.monotonic()
                for keypad in [k for k in self.keypads.values() if k.online]:
                    await self.poll(keypad)
                await self.counter_displays.serve(self)   # those due a write or a read
                # One device that does not answer a cycle, in turn: each costs a whole
                # timeout, and all at once would stall the line for the ones that answer.
                offline = [k for k in self.keypads.values() if not k.online] + \
                    self.counter_displays.offline()
                if offline:
                    device = offline[cycle % len(offline)]
                    if isinstance(device, Keypad):
                        await self.poll(device)
                    else:
                        await self.counter_displays.turn(self, device)
                cycle += 1
                await asyncio.sleep(max(0.0, MIN_CYCLE - (time.monotonic() - started)))
        finally:
            self.client.close()

    def _quiet_undecodable(self) -> None:
        """pymodbus raises from inside its serial transport's callback on an answer it cannot
        decode (function code 0x80, say): asyncio would log a traceback for each. Such an
        answer is a bad answer of one keypad (the request times out): one line a minute."""
        from pymodbus.exceptions import ModbusException

        loop, said = asyncio.get_running_loop(), [-60.0]
        default = loop.get_exception_handler()
        if getattr(default, "keypads", False):   # the bus started again: installed already
            return

        def handle(loop: asyncio.AbstractEventLoop, context: dict) -> None:
            if not isinstance(context.get("exception"), ModbusException):
                return default(loop, context) if default else \
                    loop.default_exception_handler(context)
            if time.monotonic() - said[0] >= 60:
                said[0] = time.monotonic()
                log.warning("keypads: dropped an answer that cannot be decoded (%s)",
                            context["exception"])
        handle.keypads = True
        loop.set_exception_handler(handle)

    async def poll(self, keypad: Keypad) -> None:
        """One turn of one keypad: its state, its oldest key press applied, what it should
        show (the answer to the key first), then the acknowledgement."""
        try:
            status = await self._call(keypad, self.client.read_input_registers, 0,
                                      count=STATUS_REGISTERS)
        except BusError:
            self._missed(keypad)
            return
        if status[0] != PROTOCOL:
            self._foreign(keypad, status[0])
            return
        self._answered(keypad, status)
        session, pending, sequence = status[3], status[4], status[5]
        if pending:
            await self._apply(keypad, f"{session}:{sequence}", status[6], status[7:])
        try:
            await self._flush(keypad)
        except BusError:
            pass   # what went unanswered is written again at the next poll
        if pending:   # whatever became of the writes: a press never waits on its display
            await self._acknowledge(keypad, session, sequence)

    async def _apply(self, keypad: Keypad, request: str, code: int,
                     argument: list[int]) -> None:
        """Hand one key press to the loop and wait until it is committed (or refused), unless
        it is the one last handed on (its acknowledgement was lost, or the keypad did not drop
        it): the loop would only recognise it."""
        if request == keypad.handled:
            keypad.offered_again += 1
            if keypad.offered_again == OFFERED_AGAIN:
                log.error("keypad %d offers the key press %s again although acknowledged: it"
                          " departs from docs/keypad.md", keypad.address, request)
            return
        keypad.handled, keypad.offered_again = request, 0
        event = self._event(keypad, code, argument)
        if event is not None:
            event = replace(event, request=(f"keypad:{keypad.address}", request),
                            done=asyncio.get_running_loop().create_future())
            self.post(event)
            await event.done

    async def _acknowledge(self, keypad: Keypad, session: int, sequence: int) -> None:
        try:
            await self._call(keypad, self.client.write_registers, ACKNOWLEDGE,
                             [session, sequence])
        except BusError as failed:   # unanswered: read again at the next poll
            if failed.refused and "acknowledgement" not in keypad.refused:
                keypad.refused.add("acknowledgement")
                log.error("keypad %d refused its acknowledgement: it departs from"
                          " docs/keypad.md", keypad.address)

    def _event(self, keypad: Keypad, code: int, argument: list[int]) -> CounterKey | None:
        at = self.clock()
        key = KEY_CODES.get(code)
        text = register_bytes(argument).rstrip(b"\0")
        try:
            if key is None:
                raise ValueError(f"unknown key code {code}")
            if any(not 0x20 <= c < 0x7F for c in text):
                raise ValueError(f"key code {code}: its argument holds characters outside"
                                 " 0x20-0x7E")
            key, *words = key.split()
            return counter_key(keypad.address, key, words + text.decode().split(), at)
        except ValueError as exc:
            log.error("keypad %d: %s", keypad.address, exc)
            self.show(keypad.address, "KEY NOT UNDERSTOOD", alarm=True)
            return None

    async def _flush(self, keypad: Keypad) -> None:
        """Write what the keypad should show, each output its own request. One that went
        unanswered stays for the next poll; one the keypad refuses, or leaves unanswered
        UNANSWERED_WRITES times in a row while it answers its reads, is logged once and not
        written again until it restarts (it departs from the map: the others must not wait
        on it)."""
        for name in ("display", "leds"):
            if name not in keypad.unsent:
                continue
            try:
                if name == "display":
                    await self._call(keypad, self.client.write_registers, DISPLAY,
                                     keypad.display)
                else:
                    await self._call(keypad, self.client.write_coils, 0,
                                     [*keypad.lit, keypad.beep])
            except BusError as failed:
                keypad.unanswered[name] = keypad.unanswered.get(name, 0) + 1
                keypad.beep = keypad.beep and name != "leds"   # it may have sounded: not twice
                if not failed.refused and keypad.unanswered[name] < UNANSWERED_WRITES:
                    raise
                keypad.refused.add(name)
                log.error("keypad %d %s its %s: it departs from docs/keypad.md",
                          keypad.address, "refused" if failed.refused else
                          "does not answer the writes of", name)
            keypad.unanswered[name] = 0
            keypad.unsent.discard(name)
            keypad.beep = keypad.beep and name != "leds"

    async def _call(self, device, method, address: int, *args, **kwargs):
        """One request to `device` (a Keypad or a CounterDisplay); its registers read, or
        BusError."""
        from pymodbus.exceptions import ModbusException

        self._heard = 0
        refused = False
        try:
            response = await method(address, *args, device_id=device.address, **kwargs)
            refused = response.isError()
            if refused or not _answers(response, method.__name__, address, *args, **kwargs):
                raise ModbusException("not an answer to this request")
            return response.registers
        except ModbusException:
            heard = self._heard > 0
            if heard:
                device.bad_answer += 1
            else:
                device.no_answer += 1
                device.lost()
            if heard and not refused:   # let the line fall silent: what else comes is dropped
                await asyncio.sleep(self.config.timeout)
            raise BusError(heard, refused) from None
        finally:   # Modbus RTU's silence between frames, 3.5 characters, before the next one
            await asyncio.sleep(self.gap)

    def _answered(self, keypad: Keypad, status: list[int]) -> None:
        restarted = keypad.online and status[3] != keypad.session
        came_back = not keypad.online or restarted
        if status[2] != keypad.heartbeat or came_back:
            if keypad.stalled and not came_back:
                log.info("keypad %d: heartbeat runs again", keypad.address)
                keypad.stalled = False
            keypad.heartbeat, keypad.heartbeat_at = status[2], time.monotonic()
        elif time.monotonic() - keypad.heartbeat_at > HEARTBEAT_STALE and not keypad.stalled:
            log.warning("keypad %d: heartbeat stopped, its firmware may be hung", keypad.address)
            keypad.stalled = True
        keypad.online, keypad.session, keypad.failures_in_row = True, status[3], 0
        keypad.protocol = PROTOCOL
        keypad.firmware = f"{status[1] >> 8}.{status[1] & 0xFF}"
        if came_back:   # it shows nothing it had: the loop shows it all again
            keypad.stalled = False
            keypad.display, keypad.lit, keypad.unsent = None, (False, False), set()
            keypad.refused, keypad.unanswered = set(), {}   # (or it was replaced)
            if not restarted:
                log.info("keypad %d online (firmware %s)", keypad.address, keypad.firmware)
            elif time.monotonic() - keypad.restarted_at >= 60:   # one that restarts at every
                keypad.restarted_at = time.monotonic()          # poll is not logged each time
                log.info("keypad %d restarted (firmware %s)", keypad.address, keypad.firmware)
            self.post(BackOffice("refresh_keypad", self.clock(), {"counter": keypad.address}))

    def _foreign(self, keypad: Keypad, protocol: int) -> None:
        """A keypad that speaks another version of docs/keypad.md: nothing is written to it, nor
        taken from it; it is probed as an offline keypad until one that speaks ours answers."""
        keypad.protocol = protocol
        if protocol not in keypad.foreign:
            keypad.foreign.add(protocol)
            log.error("keypad %d speaks keypad protocol %d; this appliance speaks %d: not used",
                      keypad.address, protocol, PROTOCOL)
        keypad.online = False

    def _missed(self, keypad: Keypad) -> None:
        """A poll whose read failed: after `offline_after` in a row, the keypad is offline."""
        keypad.failures_in_row += 1
        if not keypad.online and keypad.firmware == "?" and \
                keypad.failures_in_row == self.config.offline_after:
            log.warning("keypad %d has not answered since the start: offline", keypad.address)
        if keypad.online and keypad.failures_in_row >= self.config.offline_after:
            keypad.online = False
            log.warning("keypad %d offline after %d failed polls (%d unanswered, %d bad answers"
                        " so far)", keypad.address, keypad.failures_in_row, keypad.no_answer,
                        keypad.bad_answer)
