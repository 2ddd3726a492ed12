"""Counter displays on the keypads' RS-485 line (docs/counter-display.md): what each should show,
and the two requests that tell it, sent by the keypads' bus master between its keypads.

The loop says what each counter's display shows (`show`); the KeypadBus gives the displays that
need a write or a read their turn after its keypads (`serve`), and probes an offline one in the
keypads' rotation (`turn`). `SimCounterDisplays` prints them on the console instead.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from config.hardware import CounterDisplayConfig
from drivers.keypads import BusError
from media.counter_display import SIGNS, fit

if TYPE_CHECKING:
    from drivers.keypads import KeypadBus

log = logging.getLogger(__name__)

DEVICE_TYPE = 0x4344      # input register 0: "CD", never a keypad's protocol version
PROTOCOL = 1              # the version of docs/counter-display.md this master speaks
IDENTITY_REGISTERS = 5    # input registers 0-4: type, protocol, firmware, width, written
TEXT_CHARACTERS = 32      # holding registers 0-15, then 16 blink and 17 brightness
WIDEST = 32
BLINK_SECONDS = 10        # a new call or recall blinks this long
LONGEST_BLINK = 60
ALIVE_EVERY = 2.0         # seconds between reads of a display that answers
UNANSWERED_WRITES = 3     # writes in a row unanswered while its reads are: it departs from the map
REFUSED_RETRY = 60        # seconds before a display that refused its text is written again


@dataclass
class CounterDisplay:
    """What the master knows of one counter display."""

    counter: int
    address: int
    brightness: int
    online: bool = False
    firmware: str = "?"
    width: int = 0
    text: str = ""            # what it should show, before it is fitted to its width
    blink_until: float = 0.0  # (monotonic) the text blinks until then
    unsent: bool = True       # text, blink and brightness are to be written
    version: int = 0          # +1 each time what it should show changes (a write may be on
    #                           the line meanwhile: then it is written again)
    written: bool = False     # written since it came online
    read_at: float = 0.0      # (monotonic) when it is read next
    failed_at: float = 0.0    # (monotonic) its last request that failed: it waits behind others
    failures_in_row: int = 0  # failed reads
    no_answer: int = 0        # requests with nothing heard
    bad_answer: int = 0       # requests answered with garbage, another request's answer, a refusal
    unanswered: int = 0       # writes in a row with no valid answer
    refused: bool = False     # it refused its write, or never answers one: written again
    refused_at: float = 0.0   # (monotonic) only REFUSED_RETRY after that
    unused: str = ""          # why it is not used (another device, protocol or width)
    too_narrow: bool = False  # a label wider than it was logged (once)
    restarted_at: float = -60.0   # (monotonic) when a restart was last logged

    @property
    def name(self) -> str:
        return f"counter display {self.address} (counter {self.counter})"

    def lost(self) -> None:
        """A request to it went unanswered: its late answer may yet pass for another request's,
        so its text is written again."""
        self.unsent = True


class CounterDisplays:
    """The counter displays on the keypads' line, driven by the KeypadBus (its `_call`: answer
    checks, the silence between frames, bad answers).

    Example::

        bus = KeypadBus(config.keypads, inbox.post, time.time, config.counter_displays)
        bus.counter_displays.show(3, "A012", blink=True)   # written at the bus's next cycle
    """

    def __init__(self, configs: tuple[CounterDisplayConfig, ...], offline_after: int):
        self.displays = {c.address: CounterDisplay(c.counter, c.address, c.brightness)
                         for c in configs}
        self.offline_after = offline_after

    # -- the loop's side ---------------------------------------------------------------------

    def show(self, counter: int, text: str, blink: bool | None = None) -> None:
        """`text` on every display of `counter`: blinking from now (True, a new call or
        recall), steady (False), or blinking on for the time it had (None)."""
        now = time.monotonic()
        for display in self.displays.values():
            if display.counter != counter:
                continue
            changed = text != display.text
            if blink:
                display.blink_until, changed = now + BLINK_SECONDS, True
            elif blink is False and display.blink_until > now:
                display.blink_until, changed = 0.0, True
            display.text = text
            display.unsent |= changed
            display.version += changed

    def health(self) -> str:
        displays = self.displays.values()
        offline = [f"{d.address} (counter {d.counter})" for d in displays
                   if not d.online and not d.unused]
        unused = [f"{d.address} ({d.unused})" for d in displays if d.unused]
        refused = [str(d.address) for d in displays if d.online and d.refused]
        return f"{sum(d.online for d in displays)} online" + \
            (f", offline: {', '.join(offline)}" if offline else "") + \
            (f", not used: {', '.join(unused)}" if unused else "") + \
            (f", text refused: {', '.join(refused)}" if refused else "")

    # -- the bus's side ----------------------------------------------------------------------

    def offline(self) -> list[CounterDisplay]:
        return [d for d in self.displays.values() if not d.online]

    async def serve(self, bus: KeypadBus) -> None:
        """One turn of each online display that needs a write or its read. The first request
        that went unanswered ends this cycle's turns, so the displays cost the keypads one
        timeout a cycle at most; a display that failed waits behind the others next time."""
        now = time.monotonic()
        due = [d for d in self.displays.values() if d.online and
               (now >= d.read_at or (d.unsent and not self._holding_back(d, now)))]
        for display in sorted(due, key=lambda d: d.failed_at):
            if not await self.turn(bus, display):
                return

    async def turn(self, bus: KeypadBus, display: CounterDisplay) -> bool:
        """Read the display if it is offline or its read is due, then write it if its text,
        blink or brightness are unsent. False: a request waited its whole timeout."""
        now = time.monotonic()
        if not display.online or now >= display.read_at:
            try:
                registers = await bus._call(display, bus.client.read_input_registers, 0,
                                            count=IDENTITY_REGISTERS)
            except BusError as failed:
                display.failed_at = time.monotonic()
                self._missed(display)
                return failed.refused
            if not self._answered(display, registers):
                return True
            display.read_at = now + ALIVE_EVERY
        if not display.unsent or self._holding_back(display, now):
            return True
        sending = display.version
        try:
            await bus._call(display, bus.client.write_registers, 0,
                            self.registers(display, now))
        except BusError as failed:
            display.failed_at = time.monotonic()
            display.unanswered += 1
            display.read_at = now   # read before it is written again: is it there at all?
            if (failed.refused or display.unanswered >= UNANSWERED_WRITES) and \
                    not display.refused:
                log.error("%s %s its text: it departs from docs/counter-display.md; tried"
                          " again every %d s", display.name, "refused" if failed.refused else
                          "does not answer the writes of", REFUSED_RETRY)
            if failed.refused or display.unanswered >= UNANSWERED_WRITES:
                display.refused, display.refused_at = True, time.monotonic()
            return failed.refused
        if display.refused:
            log.info("%s takes its text again", display.name)
        display.written, display.unanswered, display.refused = True, 0, False
        display.unsent = display.version != sending   # (changed while on the line: again)
        return True

    @staticmethod
    def _holding_back(display: CounterDisplay, now: float) -> bool:
        """A display that refused its text is written again only REFUSED_RETRY later."""
        return display.refused and now - display.refused_at < REFUSED_RETRY

    def registers(self, display: CounterDisplay, now: float) -> list[int]:
        """Holding registers 0-17: the text fitted to its width and padded with spaces to 32
        characters, two a register (high byte first), the blink's seconds left, brightness."""
        text = fit(display.text, display.width)
        if len(display.text) > display.width and display.text not in SIGNS and \
                not display.too_narrow:
            display.too_narrow = True
            log.warning("%s is %d characters wide: %s shown as %r (and likewise any label too"
                        " long for it)", display.name, display.width, display.text, text.strip())
        raw = text.ljust(TEXT_CHARACTERS).encode("ascii")
        blink = min(LONGEST_BLINK, max(0, round(display.blink_until - now)))   # (nearest: a
        #                                               call blinks at most 0.5 s longer)
        return [raw[i] << 8 | raw[i + 1] for i in range(0, TEXT_CHARACTERS, 2)] + \
            [blink, display.brightness]

    def _answered(self, display: CounterDisplay, registers: list[int]) -> bool:
        """Its input registers read: whether it is a counter display this master can use, and
        what it has (after a restart, nothing: it is written again)."""
        kind, protocol, firmware, width, written = registers
        if kind != DEVICE_TYPE:
            unused = "not a counter display"
            why = f"input register 0 reads {kind}, not {DEVICE_TYPE} (a keypad reads its" \
                " protocol there): it is no counter display"
        elif protocol != PROTOCOL:
            unused = f"protocol {protocol}"
            why = f"it speaks counter display protocol {protocol}; this appliance speaks" \
                f" {PROTOCOL}"
        elif not 1 <= width <= WIDEST:
            unused = f"{width} characters wide"
            why = f"it says it is {width} characters wide (1 to {WIDEST})"
        else:
            unused = why = ""
        if unused:   # not used, and probed as an offline display until a usable one answers
            if unused != display.unused:
                log.error("%s: %s: not used", display.name, why)
            display.unused, display.online, display.failures_in_row = unused, False, 0
            return False
        restarted = display.online and display.written and not written
        came_back = not display.online
        display.online, display.failures_in_row, display.unused = True, 0, ""
        display.firmware = f"{firmware >> 8}.{firmware & 0xFF}"
        if width != display.width:
            display.width, display.unsent = width, True
        if came_back or restarted:
            display.unsent, display.written, display.refused, display.unanswered = \
                True, False, False, 0
            if came_back:
                log.info("%s online (firmware %s, %d characters)", display.name,
                         display.firmware, width)
            elif time.monotonic() - display.restarted_at >= 60:
                display.restarted_at = time.monotonic()
                log.info("%s restarted: its text is written again", display.name)
        return True

    def _missed(self, display: CounterDisplay) -> None:
        """A read that failed: after `offline_after` in a row, the display is offline."""
        display.failures_in_row += 1
        if not display.online and display.firmware == "?" and \
                display.failures_in_row == self.offline_after:
            log.warning("%s has not answered since the start: offline", display.name)
        if display.online and display.failures_in_row >= self.offline_after:
            display.online = False
            log.warning("%s offline after %d failed reads (%d unanswered, %d bad answers so"
                        " far)", display.name, display.failures_in_row, display.no_answer,
                        display.bad_answer)


class SimCounterDisplays:
    """Counter displays on the console: `[display 3] A012 (blinking)` each time one changes."""

    def __init__(self, configs: tuple[CounterDisplayConfig, ...], out: TextIO):
        self.displays = {c.address: c for c in configs}
        self.out = out
        self._shown: dict[int, tuple[str, bool]] = {}

    def show(self, counter: int, text: str, blink: bool | None = None) -> None:
        if all(c.counter != counter for c in self.displays.values()):
            return
        shown = self._shown.get(counter)
        blinking = bool(shown and shown[1]) if blink is None else blink
        if blink or (text, blinking) != shown:
            self._shown[counter] = (text, blinking)
            print(f"[display {counter}] {text or '(blank)'}{' (blinking)' if blinking else ''}",
                  file=self.out)

    def health(self) -> str:
        return "shown on the console"
