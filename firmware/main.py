"""The supervisory loop: the single owner of the queue state.

Drivers post events into the Inbox from any thread; the loop takes them one at a time, applies
each to the hall (one committed transaction) and only then drives the outputs: printer, wall
display, announcements, button LEDs, keypad displays.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import signal
import sqlite3
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Coroutine

from config import ApplianceConfig, ConfigError, load_config, parse_config, remember
from config.office import check_certificate
from config.pin_hashing import keepable
from drivers import Devices
from drivers.display import TICK
from drivers.events import (Announcing, BackOffice, ButtonPressed, CounterKey, DeviceFault,
                            HisMessage, OfficeCommand, PrinterReport, UsbInserted, UsbRemoved)
from drivers.printer import PRINTABLE
from firmware import his as his_adapters, update
from firmware.clock import clock_trusted
from firmware.hospital import His, call_forward
from firmware.logins import LoginGuard
from firmware.notify import notify, watchdog_interval
from firmware.signature import read_key
from firmware.stick import (discard, export, install, install_config, read_bundle, reinstate,
                            write_report)
from firmware.wall_notices import WallNotices
from media.counter_display import counter_display
from media.speech import call_announcement
from media.ticket import NoteLayout, ticket_layout
from media.wall import wall_lines
from queue_core import Hall, QueueError, Ticket, errors, playlist, statistics
from queue_core.hall_time import business_day, local
from queue_core.model import CounterStatus, State
from queue_core.pins import pin_matches
from queue_core.recovery import check, mark_damaged

log = logging.getLogger(__name__)

KEY_OPERATIONS = {   # login: see Appliance._login
    "logout": Hall.logout, "pause": Hall.pause, "resume": Hall.resume,
    "call": Hall.call_next, "recall": Hall.recall, "start": Hall.start, "skip": Hall.skip,
    "finish": Hall.finish, "transfer": Hall.transfer, "rate": Hall.rate,
}
CHANGES = (ButtonPressed, CounterKey, BackOffice, OfficeCommand, HisMessage)   # may change it
NOTICE_SECONDS = 60
REFUSAL_SECONDS = 10    # a refused button's reason on the wall
FORM = "the back office's configuration"   # where an edited configuration comes from
INBOX = 10_000          # events waiting for the loop, at most
RESTART_PAUSE = 1.0     # seconds before a failed background task starts again (then doubling)
PRINT_DEADLINE = 15.0   # seconds: a ticket not reported printed by then counts as not printed
LATER = ("hardware", "office", "his")   # tables whose changes wait for the next start


class Inbox:
    """The loop's event queue: post() is safe from any thread, also before the loop runs
    (events wait until open()) and after it has stopped (they are dropped). It holds at most
    INBOX events: more can only pile up behind a hung loop, which the watchdog restarts; past
    that, an event is dropped and logged (a button pressed then gives no ticket)."""

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue(INBOX)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._early: list[Any] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        """Start delivering into the running loop (call from it)."""
        with self._lock:
            self.loop = asyncio.get_running_loop()
            for event in self._early:
                self.queue.put_nowait(event)
            self._early.clear()

    def post(self, event: Any) -> None:
        with self._lock:
            if self.loop is None:
                if len(self._early) < INBOX:
                    self._early.append(event)
                else:
                    log.error("inbox full before the loop runs: dropped %r", event)
                return
        try:
            self.loop.call_soon_threadsafe(self._put, event)
        except RuntimeError:  # the loop has closed: the appliance is shutting down
            log.info("dropped %r after shutdown", event)

    def _put(self, event: Any) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            if event is None:   # the stop always gets through, once there is room
                self.loop.call_later(0.01, self._put, event)
                return
            log.error("inbox full (the loop is behind): dropped %r", event)


@dataclass
class Paths:
    """The files the appliance keeps: the configuration it runs on (a stick may replace it),
    that file's last valid copy, and the data directory."""

    config: Path
    last_valid: Path
    data: Path

    @property
    def database(self) -> Path:
        return self.data / "queue.db"


class Appliance:
    """Applies events to `hall` in arrival order and drives `devices`.

    Example::

        inbox = Inbox()
        devices = drivers.build(hardware, services, "auto", data_dir, inbox.post, time.time, out)
        await Appliance(hall, devices, inbox, config, paths).run()   # until stop() or quit
    """

    def __init__(self, hall: Hall, devices: Devices, inbox: Inbox, config: ApplianceConfig,
                 paths: Paths, clock: Callable[[], float] = time.time, notes: list[str] = ()):
        self.hall, self.devices, self.inbox = hall, devices, inbox
        self.config, self.paths, self.clock = config, paths, clock
        self.notes = list(notes)   # for the back office at start (a recovered database)
        self._printing: dict[str, tuple[str, float]] = {}   # label -> service, deadline
        self._stick: Path | None = None       # the USB stick plugged in
        self._stick_work: asyncio.Task | None = None
        self._reloads = asyncio.Lock()        # one reload at a time, each in its turn
        self._background: set[asyncio.Task] = set()
        self._processes: ProcessPoolExecutor | None = None   # made at the first heavy read
        self._shown: dict[int, str] = {}   # each keypad's state text, as last written
        self.keypad_texts: dict[int, str] = {}   # what each keypad shows now (a key's answer)
        self._answered: set[int] = set()       # keypads given a key's answer by this event
        self._called: set[int] = set()         # counters that called or recalled: displays blink
        self._notes: set[str] = set()          # print jobs that are no tickets
        self.office = None                     # the back office, once started
        self._wall: list[str] | None = None   # the wall's lines, as last shown
        self._wall_notices = WallNotices(devices.display)   # the playlist's texts, when idle
        self.logins = LoginGuard()
        self.clock_trusted = clock_trusted
        self.restarts: dict[str, int] = {}   # background tasks started again, by name
        self._untrusted_from: int | None = None   # tickets taken since, on a clock not yet set
        self._clock_held = False                  # "clock not set" was reported
        self._day_checked = 0.0                   # (monotonic)
        self.updates = update.Updates(self)
        self.his = His(self)

    def stop(self) -> None:
        self.inbox.post(None)

    async def run(self) -> None:
        self.inbox.open()
        now = self.clock()
        if not self.clock_trusted():
            self._untrusted_from = self.hall.next_ticket()
        self._check_day(now)
        self._refresh(now)
        self.update_leds(now)
        tasks = [asyncio.create_task(self._tick())] + \
            [asyncio.create_task(self._supervised(run)) for run in self.devices.background]
        notify("READY=1")
        if (interval := watchdog_interval()) is not None:
            tasks.append(asyncio.create_task(self._watchdog(interval)))
        tasks.append(asyncio.create_task(self._check_system()))
        if self.config.his is not None:   # (its module is imported now, after READY)
            adapter = his_adapters.build(self.config.his, self.hall.config.time_zone,
                                         self.his.deliver)
            tasks.append(asyncio.create_task(self._supervised(adapter.run)))
        if self.config.office.enabled:
            self.aside(self._start_office())
        for note in self.notes:   # the hall hears of them, not only the log
            self.devices.office.report(note)
            self.devices.display.notice(note, NOTICE_SECONDS)
        while (event := await self.inbox.queue.get()) is not None:
            if isinstance(event, BackOffice) and event.command == "quit":
                break
            if isinstance(event, CounterKey) and event.key == "login":
                event = await self._check_pin(event)
            if isinstance(event, CHANGES):
                self._check_day(self.clock())   # nothing is applied to a day that has ended
            self.handle(event)
        notify("STOPPING=1")
        for task in tasks:
            task.cancel()
        # Let tickets already taken finish printing, and hear how they went; nothing else
        # that arrived after the stop is applied. A stick being written gets its folder done.
        if not await asyncio.to_thread(self.devices.printer.wait_idle, PRINT_DEADLINE):
            log.error("printer: still busy after %.0f s; stopping without it", PRINT_DEADLINE)
        pending = self._background | ({self._stick_work} if self._stick_work else set())
        if pending:   # a report, a reload, a stick being written: each gets done
            await asyncio.wait(pending, timeout=15)
        while not self.inbox.queue.empty():
            if isinstance(event := self.inbox.queue.get_nowait(), PrinterReport):
                self.handle(event)
        if self.office is not None:
            await self.office.stop()
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)
        log.info("loop stopped")

    async def _start_office(self) -> None:
        """The back office, after READY: aiohttp takes ~0.3 s to import, on a thread."""
        server = await asyncio.to_thread(importlib.import_module, "firmware.office.server")
        self.office = server.OfficeServer(self, self.config.office)
        await self.office.start()

    async def _supervised(self, run: Callable[[], Coroutine]) -> None:
        """A device's task (the keypad bus) for as long as the loop runs: one that fails is
        logged, reported to the back office, counted in `status` and started again, after a
        pause that doubles up to a minute; it never ends silently."""
        name, pause = type(getattr(run, "__self__", run)).__name__, RESTART_PAUSE
        while True:
            try:
                await run()
                log.error("%s ended; started again", name)
            except Exception as exc:   # (a cancel is the stop: it goes through)
                log.exception("%s failed", name)
                self.devices.office.report(f"{name} failed ({exc!r}); started again in"
                                           f" {pause:.0f} s")
            self.restarts[name] = self.restarts.get(name, 0) + 1
            await asyncio.sleep(pause)
            pause = min(60.0, pause * 2)

    async def _check_system(self) -> None:
        """After READY: an update's upload a power cut cut short removed, the database's full
        check, then this system marked good."""
        await asyncio.to_thread(update.sweep, self.paths.data)
        await self.updates.mark_good(await self._check_database())

    async def _check_database(self) -> bool:
        """The full check, after ready and off the loop: damage is reported and marked, and
        the next boot recovers (the hall keeps working meanwhile). True when it is sound."""
        problems = await asyncio.to_thread(check, self.paths.database)
        if problems:
            mark_damaged(self.paths.database, problems)
            log.critical("database damaged (%s): recovered at the next start",
                         "; ".join(problems[:3]))
            self.devices.office.report("DATABASE DAMAGED: restart the appliance to recover it")
            return False
        log.info("database check: ok")
        return True

    async def _watchdog(self, interval: float) -> None:
        """Pinged from the loop itself: if the loop hangs, the pings stop and systemd restarts
        the appliance."""
        while True:
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                self.devices.display.tick(local(self.clock(), self.hall.config).strftime("%H:%M"))
            except Exception:  # a drawing bug must not stop the scrolling for good
                log.exception("wall display tick")
            self._overdue_tickets()
            if time.monotonic() - self._day_checked >= 1:
                self._check_day(self.clock())
                self._wall_notices.step(playlist.showing(self.hall.db, self.hall.config,
                                                         self.clock()), time.monotonic())

    def _check_day(self, now: float) -> None:
        """Turn the queue's business day when the clock, trusted, says it has ended: the old
        day's waiting tickets expire, those taken before the clock was set go on. On a clock
        not yet set the day is held, and the back office is told once."""
        self._day_checked = time.monotonic()
        day, trusted = business_day(now, self.hall.config), self.clock_trusted()
        if self.hall.day == day or (self.hall.day is None and not trusted):
            if trusted:
                self._untrusted_from = None   # set, and the day stands: nothing to carry
            return
        if not trusted:
            if not self._clock_held:
                self._clock_held = True
                self.refuse(f"CLOCK NOT SET: the business day stays {self.hall.day} until"
                            f" the clock is synchronized (it reads {day})")
            return
        try:
            turned = self.hall.turn_day(now, self._untrusted_from)
        except Exception:   # a full disk: the day turns at the next check
            log.exception("turning the business day")
            return
        self._untrusted_from, self._clock_held = None, False
        if turned:
            day, expired, carried = turned
            report = f"business day {day} begins: {expired} waiting tickets of earlier days" \
                f" expired" + (f", {carried} taken before the clock was set go on today"
                               if carried else "")
            log.info(report)
            self.devices.office.report(report)
            self._refresh(now)
            self.update_leds(now)

    def handle(self, event: Any) -> None:
        handler = {ButtonPressed: self._ticket_button, CounterKey: self._counter_key,
                   BackOffice: self._back_office, PrinterReport: self._printer_report,
                   UsbInserted: self._usb, UsbRemoved: self._usb,
                   DeviceFault: self._device_fault, Announcing: self._announcing,
                   OfficeCommand: self._office_command, HisMessage: self.his.handle,
                   }.get(type(event))
        if handler is None:
            log.error("ignored unknown event %r", event)
            return
        logged = self.hall.last_event()
        self._answered.clear()
        self._called.clear()
        try:
            result = handler(event)
        except QueueError as exc:
            log.warning("refused %r: %s", event, exc)   # (an event's repr shows no PIN)
            if isinstance(event, CounterKey):
                self._alarm(event.counter, exc.display, alarm=True)
            elif isinstance(event, BackOffice):
                self.devices.office.report(f"refused: {exc}")
            if isinstance(event, (OfficeCommand, HisMessage)):
                _answer(event.done, error=exc)   # the page or the HIS that asked hears why
        except Exception as exc:   # a full disk, a bug: say what is known, and go on
            log.exception("failed to handle %r", event)
            saved = self.hall.last_event() != logged   # every committed change logs an event
            self.devices.office.report(("FAULT after the change was saved" if saved else
                                        "FAULT, nothing changed") + f": {exc}")
            if isinstance(event, (OfficeCommand, HisMessage)):
                _answer(event.done, error=exc)
        else:
            if isinstance(event, OfficeCommand):
                _answer(event.done, result)
        finally:
            if isinstance(event, CHANGES):
                try:
                    call_forward(self, event.at)
                    self._refresh(event.at)   # (a refusal changed nothing, a fault maybe)
                except Exception:   # a read that failed: the displays wait for the next change
                    log.exception("refreshing the keypads and the wall")
            _answer(getattr(event, "done", None))
            if self.office is not None:
                self.office.changed()

    # Each handler below first commits the operation (the hall returns only after the commit
    # is durable) and only then prints, shows or announces: an acknowledged ticket or call
    # survives a power cut at any instant after the customer or teller has seen it.

    def _ticket_button(self, event: ButtonPressed) -> None:
        try:
            issued = self.hall.issue(event.service, event.at, vip=event.vip)
        except QueueError as exc:   # full, or closed: no ticket, and the wall says why
            self.devices.display.notice(f"{event.service} {exc.display}", REFUSAL_SECONDS)
            self.update_leds(event.at)
            raise
        log.info("issued %s (%d ahead)", issued.ticket.label, issued.ahead)
        deadline = time.monotonic() + PRINT_DEADLINE
        self._printing[issued.ticket.label] = (event.service, deadline)
        self.devices.printer.print(ticket_layout(self.hall.config, self.config.ticket, issued),
                                   deadline)
        self.update_leds(event.at)

    def _overdue_tickets(self) -> None:
        """A ticket the printer has not reported by its deadline counts as not printed (its
        number goes on the wall) and the printer as not answering, whatever comes later."""
        now = time.monotonic()
        for label in [label for label, (_, due) in self._printing.items() if now > due]:
            self.devices.printer.status = "not answering"
            self.handle(PrinterReport("not answering", self.clock(), label, False))

    def _printer_report(self, event: PrinterReport) -> None:
        if event.label in self._notes:
            self._notes.discard(event.label)
            if not event.printed:
                self.devices.office.report(f"printer {event.status}: the slip {event.label}"
                                           " was not printed")
        elif event.label and self._printing.pop(event.label, None) is None:
            log.warning("printer: ticket %s reported after its deadline (%s)", event.label,
                        "printed" if event.printed else event.status)
        elif event.label and not event.printed:
            # The ticket exists all the same: the customer reads the number off the wall.
            log.error("ticket %s not printed (printer %s); shown on the wall", event.label,
                      event.status)
            self.devices.display.notice(f"{event.label} 请记住您的号码 Please remember your number",
                                        NOTICE_SECONDS)
        elif not event.label:
            log.log(logging.INFO if event.status in PRINTABLE else logging.ERROR,
                    "printer: %s", event.status)
        self.update_leds(event.at)

    def update_leds(self, now: float) -> None:
        """Fast blink on every button while the printer cannot print; else a blink while a
        ticket of that service prints, steady on when it issues none (closed, or no more
        today), else off."""
        fault = self.devices.printer.status not in PRINTABLE
        printing = {service for service, _ in self._printing.values()}
        full = self.hall.full_services(now) | self.hall.closed_services()
        for service in (s.prefix for s in self.hall.config.services):
            self.devices.leds.set_led(service, "fault" if fault else "printing"
                                      if service in printing else "on" if service in full
                                      else "off")

    async def _check_pin(self, event: CounterKey) -> CounterKey:
        """The login's PIN checked against the teller's hash on a thread (slow by design), so
        that the loop never waits for it; the event goes on without the PIN. A counter whose
        logins wait is not checked at all."""
        params = event.params
        ok = False
        try:
            self.logins.check(event.counter)
        except errors.LoginDelayed:
            pass
        else:
            teller = self.hall.config.teller(params["teller"])
            ok = await asyncio.to_thread(pin_matches, teller and teller.pin, params["pin"])
        return replace(event, params={"teller": params["teller"], "pin_ok": ok})

    def _login(self, hall: Hall, counter: int, now: float, teller: str, pin_ok: bool) -> None:
        self.logins.check(counter)
        try:
            hall.login(counter, now, teller, pin_ok)
        except errors.WrongPin:
            if warning := self.logins.failed(counter):
                log.warning(warning)
                self.devices.office.report(warning)
            raise
        self.logins.succeeded(counter)

    def _counter_key(self, event: CounterKey) -> None:
        with self.hall.acting_as(event.user) if event.user else contextlib.nullcontext():
            self._key(event)

    def _key(self, event: CounterKey) -> None:
        operation = self._login if event.key == "login" else KEY_OPERATIONS.get(event.key)
        if operation is None:
            log.error("counter %d: unknown key %r", event.counter, event.key)
            self._alarm(event.counter, "UNKNOWN KEY")
            return
        if event.request is None:
            result = operation(self.hall, event.counter, event.at, **event.params)
        else:
            with self.hall.once(*event.request, event.at) as fresh:
                if not fresh:
                    log.info("counter %d: %s already applied (%s)", event.counter, event.key,
                             event.request[1])
                    self._shown.pop(event.counter, None)   # shown again, as it was
                    return
                result = operation(self.hall, event.counter, event.at, **event.params)
        log.info("counter %d: %s -> %s", event.counter, event.key,
                 result.label if isinstance(result, Ticket) else "-")
        if event.key in ("call", "recall") and result is not None and \
                result.state is State.CALLED:
            self._called.add(event.counter)
            self.devices.audio.announce(event.counter, call_announcement(
                result.label, event.counter, self.config.hardware.audio.languages,
                self.hall.config.counter(event.counter).kind))
        elif event.key != "rate":   # its call, if one was waiting to be said, no longer stands
            self.devices.audio.withdraw(event.counter)
        if isinstance(result, Ticket) and result.state in (State.NO_SHOW, State.HELD):
            word = "no-show" if result.state is State.NO_SHOW else "held"
            self.devices.office.report(f"{result.label} did not come to counter {event.counter}:"
                                       f" {word}")
            self._alarm(event.counter, f"{result.label} {word.upper()}")
            return
        if event.key == "rate":
            self._alarm(event.counter, "THANK YOU")
        else:   # a key always gets its answer, changed or not
            self._shown.pop(event.counter, None)

    def _back_office(self, event: BackOffice) -> None:
        if event.command == "status":
            self.devices.office.report_status(self.hall.status(event.at), self.health())
        elif event.command == "help":
            self.devices.office.report_help(self.hall.config)
        elif event.command == "waiting":
            self.devices.office.report_waiting(self.hall.waiting(event.at))
        elif event.command == "stats":
            self.aside(self._stats(event.params["days"], event.at))
        elif event.command == "reload":
            self.aside(self._reload(event.at))
        elif event.command == "export":
            self._use_stick(event.at, install=False)
        elif event.command == "office-code":   # a technician at the box
            if self.office is None or self.office.url is None:
                self.devices.office.report("the back office is not running")
            else:
                self.office.new_setup_code()
                self.devices.office.report("a back-office setup code is being printed")
        elif event.command == "refresh_keypad":   # it came back: it shows nothing it had
            self._shown.pop(event.params["counter"], None)
        elif event.command == "cancel":
            ticket = self.hall.cancel(event.params["label"], event.at)
            self.devices.office.report(f"{ticket.label} cancelled")
        else:
            log.error("unknown back-office command %r", event.command)

    def health(self) -> dict[str, str]:
        """Each device's state, the clock's, the system's (updates), and background tasks
        started again."""
        return {**self.devices.health(), "clock": "set" if self.clock_trusted() else
                f"NOT SET (business day held at {self.hall.today(self.clock())})",
                **({"system": self.updates.state} if self.updates.state else {}),
                **({"restarted": ", ".join(f"{name} {n}×" for name, n in self.restarts.items())}
                   if self.restarts else {})}

    def print_note(self, layout: NoteLayout) -> None:
        """A slip that is no ticket (the back office's setup code)."""
        self._notes.add(layout.label)
        self.devices.printer.print(layout, time.monotonic() + PRINT_DEADLINE)

    def aside(self, work: Coroutine) -> asyncio.Task:
        """Run `work` beside the loop (it awaits its slow parts on threads)."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def in_process(self, function: Callable, *args):
        """`function(*args)` in a worker process: heavy reading (a year of figures, an export)
        then holds nothing the loop needs, not even Python's lock (GIL)."""
        if self._processes is None:   # spawned: fork would copy the loop's threads and
            self._processes = ProcessPoolExecutor(   # connection; Ctrl-C is the loop's to answer
                1, mp_context=multiprocessing.get_context("spawn"),
                initializer=partial(signal.signal, signal.SIGINT, signal.SIG_IGN))
        return await asyncio.get_running_loop().run_in_executor(self._processes, function,
                                                                *args)

    async def _stats(self, days: str, now: float) -> None:
        """The figures, read in a worker process through a read-only connection: a year of
        history never holds up a button press."""
        try:
            first, last = statistics.day_range(days, self.hall.today(now))
        except ValueError as exc:
            self.devices.office.report(f"stats: {exc}")
            return
        try:
            figures, estimates, hours = await self.in_process(
                statistics.report, self.paths.database, first, last, self.hall.config, now)
        except sqlite3.Error as exc:
            self.devices.office.report(f"stats: cannot read the figures: {exc}")
            return
        self.devices.office.report_statistics(first, last, figures, estimates, hours,
                                              self.hall.config)

    async def _reload(self, now: float) -> None:
        """Apply the configuration file again, if it is valid and orphans nothing; read,
        checked and kept (PINs hashed) off the loop."""
        async with self._reloads:
            await self._reload_now(now)

    async def _reload_now(self, now: float) -> None:
        try:
            new = await asyncio.to_thread(
                lambda: keepable(load_config(self.paths.config), str(self.paths.config)))
            self._apply(new, now)   # checked and applied in one step of the loop
        except (ConfigError, errors.ReconfigurationRefused) as exc:
            self.refuse(f"reload refused, nothing changed: {exc}")
            return
        self.devices.office.report("configuration reloaded")
        try:
            await asyncio.to_thread(remember, new.data, self.paths.last_valid)
        except OSError as exc:   # the file itself is valid: the next boot reads it again
            log.error("the reloaded configuration was not kept as the last valid one: %s", exc)

    async def configure(self, data: bytes, user: str) -> list[str]:
        """The back office's edit of the configuration file: checked like a reload (raises
        ConfigError or ReconfigurationRefused, nothing changed), installed as a stick's is
        (the replaced file kept as config.toml.previous) and applied; its events name `user`.
        Returns the tables whose changes wait for the next start ([hardware], [office], [his])."""
        async with self._reloads:
            new = await asyncio.to_thread(lambda: keepable(parse_config(data, FORM), FORM))
            await asyncio.to_thread(check_certificate, new.office)
            later = [f"[{name}]" for name in LATER
                     if getattr(new, name) != getattr(self.config, name)]
            now = self.clock()
            self.hall.check_reconfiguration(new.hall, now)
            running = (self.config, self.paths.config)
            self.paths.config = await asyncio.to_thread(install_config, new, self.paths.data)
            try:
                with self.hall.acting_as(user):
                    self._apply(new, now)
            except errors.ReconfigurationRefused:   # the hall changed while it was written
                self.paths.config = await asyncio.to_thread(reinstate, *running,
                                                            self.paths.data)
                raise
            self.devices.office.report(f"configuration changed in the back office by {user}")
            await asyncio.to_thread(remember, new.data, self.paths.last_valid)
            return later

    def _apply(self, new: ApplianceConfig, now: float) -> None:
        """Run on `new`, if the hall accepts it (raises ReconfigurationRefused: it would orphan
        someone); tellers it no longer lists are logged out, and their keypads say so."""
        for done in self.hall.reconfigure(new.hall, now):
            log.info(done)
            self.devices.office.report(done)
        for name in LATER:
            if getattr(new, name) != getattr(self.config, name):
                log.warning("the [%s] changes take effect at the next start", name)
        self.config = new
        self.update_leds(now)
        self._refresh(now)
        log.info("configuration from %s applied", self.paths.config)

    def refuse(self, text: str) -> None:
        """Say why something was refused: in the log, to the back office, on the wall."""
        log.error(text)
        self.devices.office.report(text)
        self.devices.display.notice(text, NOTICE_SECONDS)

    def _usb(self, event: UsbInserted | UsbRemoved) -> None:
        inserted = isinstance(event, UsbInserted)
        log.info("usb stick %s: %r", "inserted" if inserted else "removed", event.path)
        self.devices.office.report(f"USB stick {'at' if inserted else 'removed from'} "
                                   f"{event.path!r}")
        self._stick = Path(event.path) if inserted else None
        if inserted:
            self.devices.display.notice("USB", 5)
            self._use_stick(event.at, install=True)

    def _use_stick(self, now: float, install: bool) -> None:
        if self._stick is None:
            self.devices.office.report("export: no USB stick")
        elif self._stick_work is not None and not self._stick_work.done():
            self.devices.office.report("the USB stick is busy")
        else:
            self._stick_work = asyncio.create_task(self._stick_session(self._stick, now, install))

    async def _stick_session(self, stick: Path, now: float, install: bool) -> None:
        """Install the stick's configuration (if it brings one), write the import report
        and the statistics onto it, then its system update (if it brings one: last, as the
        box then restarts), then say it can be removed. Runs off the loop; every failure
        reaches the wall, the log and the back office."""
        report = await self._import(stick, now) if install else None
        exported = await self._export(stick, now, report)
        updated = await self.updates.from_stick(stick) if install else None
        if exported:
            self.devices.office.report(f"statistics exported to {exported}; the stick can be"
                                       " removed")
            if updated is None:   # (else the update's outcome stays on the wall)
                self.devices.display.notice("USB OK 可拔出", 10)

    async def _export(self, stick: Path, now: float, report: str | None) -> Path | None:
        """Write the import report (if any) and the statistics onto the stick: the export's
        folder, or None when it failed."""
        unwritten = None
        try:
            with self.devices.usb.writable(stick) as root:
                if report:
                    try:
                        await asyncio.to_thread(write_report, root, report)
                    except OSError as exc:   # the statistics are taken all the same
                        unwritten = exc
                folder = await self.in_process(export, self.paths.database, root, now,
                                               self.hall.config)
        except Exception as exc:   # a full, read-only or pulled stick, a hostile one, a bug
            self.refuse(f"USB export failed, nothing exported: {exc}")
            return None
        if unwritten is not None:
            self.refuse(f"USB report not written: {unwritten}")
        log.info("statistics exported to %s", folder)
        return folder

    async def _import(self, stick: Path, now: float) -> str | None:
        """The stick's configuration, checked then installed; returns what happened (None: the
        stick brings none). The back office's playlist files wait meanwhile: a sweep of theirs
        must not take the stick's before its playlist is in."""
        media_lock = self.office.media_lock if self.office is not None else \
            contextlib.nullcontext()
        async with media_lock:
            return await self._install(stick, now)

    async def _install(self, stick: Path, now: float) -> str | None:
        bundle = None
        try:
            bundle = await asyncio.to_thread(read_bundle, stick, self.paths.data,
                                             read_key(self.paths.data))
            if bundle is None:
                return None
            self.hall.check_reconfiguration(bundle.config.hall, now)
            running = self.config, self.paths.config
            self.paths.config = await asyncio.to_thread(install, bundle, self.paths.data)
            try:
                self._apply(bundle.config, now)
            except errors.ReconfigurationRefused:   # the hall changed while the files were
                self.paths.config = await asyncio.to_thread(   # written: put them back
                    reinstate, *running, self.paths.data)
                raise
            await asyncio.to_thread(remember, bundle.config.data, self.paths.last_valid)
            if bundle.playlist is not None:   # (checked whole when read: all or nothing)
                with self.hall.acting_as("USB stick"):
                    playlist.replace_items(self.hall.db, list(bundle.playlist), now,
                                           by=self.hall.actor)
                if self.office is not None:
                    self.office.changed()
            if bundle.clips is not None:   # said from the next call on, not the next start
                self.devices.audio.use_clips(self.paths.data / bundle.config.hardware.audio.clips)
        except Exception as exc:   # unsigned, invalid, too large, a link, a full partition…
            if bundle is not None:
                discard(bundle)
            if not isinstance(exc, (ValueError, OSError)):   # (ConfigError, NotAuthorised…)
                log.exception("USB configuration")
            self.refuse(f"USB configuration refused, nothing changed: {exc}")
            return f"REFUSED, nothing changed: {exc}"
        self.devices.office.report(f"installed from the USB stick: {bundle}")
        return f"installed: {bundle}"

    def _office_command(self, event: OfficeCommand) -> Any:
        from firmware.office import commands   # with the office, after READY (boot time)
        return commands.apply(self, event)

    def _announcing(self, event: Announcing) -> None:
        if self.office is not None:   # the hall screens flash the call as it is said
            self.office.screens.chime(event.counter, event.label)

    def _device_fault(self, event: DeviceFault) -> None:
        self.refuse(f"{event.device}: {event.problem}")

    def _refresh(self, now: float) -> None:
        """After every change: the wall's current calls, each counter display, and each keypad
        whose text changed (its ticket, and how many it could call), from one read of the hall."""
        status = self.hall.status(now)
        if (lines := wall_lines(status.last_calls)) != self._wall:
            self._wall = lines
            self.devices.display.show(lines)
        for counter in status.counters:
            self.devices.counter_displays.show(
                counter.number, *counter_display(counter, counter.number in self._called))
            if (text := keypad_text(counter)) == self._shown.get(counter.number):
                continue
            self._shown[counter.number] = text
            if counter.number not in self._answered:   # a key's answer stays until the
                self.keypad_texts[counter.number] = text   # next change; the LEDs follow now
            self.devices.keypads.show(counter.number, self.keypad_texts[counter.number],
                                      busy=counter.current is not None, paused=counter.paused)

    def _alarm(self, counter: int, text: str, alarm: bool = False) -> None:
        """A word to the teller instead of the keypad's state (until that state changes)."""
        self._answered.add(counter)
        self.keypad_texts[counter] = text
        self.devices.keypads.show(counter, text, alarm=alarm)


def _answer(done: asyncio.Future | None, result: Any = None,
            error: Exception | None = None) -> None:
    """Resolve the future an event's sender waits on, unless it is answered (or gave up)."""
    if done is None or done.done():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


def keypad_text(counter: CounterStatus) -> str:
    """A keypad's two lines: its ticket (or why it has none), and how many it could call."""
    if counter.teller is None:
        return f"LOGGED OUT\n{counter.waiting} WAITING"
    ticket = f"{counter.current.label} {counter.current.state.value.upper()}" \
        if counter.current else "NO TICKET"
    return f"{ticket}\n{counter.waiting} " + ("WAIT PAUSED" if counter.paused else "WAITING")
