"""The supervisory loop: the single owner of the queue state.

Drivers post events from any thread; the loop takes them one at a time, applies each to the
hall (one committed transaction) and only then drives the outputs: printer, wall display,
announcements, keypad displays.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from drivers import Outputs
from drivers.events import BackOffice, ButtonPressed, CounterKey
from media.announce import call_phrases
from media.ticket import ticket_layout
from media.wall import wall_lines
from queue_core import Hall, QueueError, Ticket
from queue_core.model import State

log = logging.getLogger(__name__)

KEY_OPERATIONS = {
    "login": Hall.login, "logout": Hall.logout, "pause": Hall.pause, "resume": Hall.resume,
    "call": Hall.call_next, "recall": Hall.recall, "start": Hall.start, "skip": Hall.skip,
    "finish": Hall.finish, "transfer": Hall.transfer,
}


class Appliance:
    """Applies events to `hall` in arrival order and drives `outputs`.

    Example::

        app = Appliance(hall, outputs)
        app.post(ButtonPressed("A", at=time.time()))   # from any thread
        await app.run()                                 # until stop() or a quit command
    """

    def __init__(self, hall: Hall, outputs: Outputs, clock: Callable[[], float] = time.time):
        self.hall = hall
        self.outputs = outputs
        self.clock = clock
        self._queue: asyncio.Queue = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None

    def post(self, event: Any) -> None:
        """Deliver an event into the loop; safe from any thread, and before run()."""
        if self._loop is None:
            self._queue.put_nowait(event)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def stop(self) -> None:
        self.post(None)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.outputs.display.show(wall_lines(self.hall.status(self.clock()).last_calls))
        while (event := await self._queue.get()) is not None:
            if isinstance(event, BackOffice) and event.command == "quit":
                break
            self.handle(event)
        log.info("loop stopped")

    def handle(self, event: Any) -> None:
        try:
            if isinstance(event, ButtonPressed):
                self._ticket_button(event)
            elif isinstance(event, CounterKey):
                self._counter_key(event)
            elif isinstance(event, BackOffice):
                self._back_office(event)
            else:
                log.error("ignored unknown event %r", event)
        except QueueError as exc:
            log.warning("refused %r: %s", event, exc)
            if isinstance(event, CounterKey):
                self.outputs.keypads.show(event.counter, exc.display)
            else:
                self.outputs.office.report(f"refused: {exc}")

    # Each handler below first commits the operation (the hall returns only after the commit
    # is durable) and only then prints, shows or announces: an acknowledged ticket or call
    # survives a power cut at any instant after the customer or teller has seen it.

    def _ticket_button(self, event: ButtonPressed) -> None:
        issued = self.hall.issue(event.service, event.at, vip=event.vip)
        log.info("issued %s (%d ahead)", issued.ticket.label, issued.ahead)
        self.outputs.printer.print_ticket(ticket_layout(self.hall.config, issued))

    def _counter_key(self, event: CounterKey) -> None:
        operation = KEY_OPERATIONS.get(event.key)
        if operation is None:
            log.error("counter %d: unknown key %r", event.counter, event.key)
            self.outputs.keypads.show(event.counter, "UNKNOWN KEY")
            return
        result = operation(self.hall, event.counter, event.at, **event.params)
        log.info("counter %d: %s -> %s", event.counter, event.key,
                 result.label if isinstance(result, Ticket) else "-")
        if event.key in ("call", "recall") and result is not None:
            if result.state is State.CALLED:
                self.outputs.audio.announce(call_phrases(result.label, event.counter))
            self.outputs.display.show(wall_lines(self.hall.status(event.at).last_calls))
        self.outputs.keypads.show(event.counter, self._keypad_text(event.counter, event.at))

    def _back_office(self, event: BackOffice) -> None:
        if event.command == "status":
            self.outputs.office.report_status(self.hall.status(event.at))
        elif event.command == "cancel":
            ticket = self.hall.cancel(event.params["label"], event.at)
            self.outputs.office.report(f"{ticket.label} cancelled")
        else:
            log.error("unknown back-office command %r", event.command)

    def _keypad_text(self, counter: int, now: float) -> str:
        """What the keypad display shows: the counter's ticket and how many wait for it."""
        status = self.hall.status(now)
        here = next(c for c in status.counters if c.number == counter)
        served = self.hall.config.counter(counter).services
        waiting = sum(status.waiting[s] for s in served)
        if here.teller is None:
            return f"LOGGED OUT  {waiting} WAITING"
        ticket = f"{here.current.label} {here.current.state.value.upper()}" if here.current \
            else "NO TICKET"
        return f"{ticket}  {waiting} WAITING" + ("  PAUSED" if here.paused else "")
