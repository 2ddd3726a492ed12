"""Ticket printers: ESC/POS over a serial port or a device file, or simulated into PNG files.

Printing runs on the printer's own thread; the loop hears back through PrinterReport events.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import stat
import time
from pathlib import Path
from typing import Callable, TextIO

from drivers.escpos_stream import decode, paper
from drivers.events import PrinterReport
from drivers.worker import Worker
from media.ticket import NoteLayout, TicketLayout, note_escpos, ticket_escpos

log = logging.getLogger(__name__)

PRINTABLE = ("ok", "paper_low", "unknown")
WRITE_TIMEOUT = 10.0   # seconds a printer may take to accept one ticket: a jammed one never does
QUERY_PRINTER, QUERY_CAUSE, QUERY_PAPER = 1, 2, 4   # DLE EOT n


def parse_status(answers: dict[int, bytes] | None) -> str:
    """ESC/POS real-time status (DLE EOT 1, 2, 4) as one word; None: the link cannot read."""
    if answers is None:
        return "unknown"
    if not all(answers.values()):
        return "offline"
    printer, cause, paper_ = (answers[n][0] for n in (QUERY_PRINTER, QUERY_CAUSE, QUERY_PAPER))
    if paper_ & 0x60 or cause & 0x20:
        return "paper_out"
    if cause & 0x04:
        return "cover_open"
    if printer & 0x08:
        return "offline"
    return "paper_low" if paper_ & 0x0C else "ok"


class SerialLink:
    """A printer on a serial port (/dev/ttyUSB0, /dev/ttyS0): writes, and answers status."""

    def __init__(self, device: str, baudrate: int):
        self.device, self.baudrate = device, baudrate
        self._port = None

    def _open(self):
        import serial

        if self._port is None:
            self._port = serial.Serial(self.device, self.baudrate, timeout=0.5,
                                       write_timeout=WRITE_TIMEOUT)
        return self._port

    def write(self, data: bytes, job: str) -> None:
        try:
            self._open().write(data)
        except Exception as exc:  # pyserial raises SerialException (an OSError) or ValueError
            self.close()
            raise OSError(f"{self.device}: {exc}") from exc

    def query(self) -> dict[int, bytes] | None:
        try:
            port = self._open()
            answers = {}
            for n in (QUERY_PRINTER, QUERY_CAUSE, QUERY_PAPER):
                port.reset_input_buffer()
                port.write(bytes((0x10, 0x04, n)))
                answers[n] = port.read(1)
            return answers
        except Exception:
            self.close()
            return {n: b"" for n in (QUERY_PRINTER, QUERY_CAUSE, QUERY_PAPER)}

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None


class FileLink:
    """A printer behind a write-only device file (/dev/usb/lp0): its status is unknown."""

    def __init__(self, device: str):
        self.device = device

    def write(self, data: bytes, job: str) -> None:
        """Never created nor truncated, and only a character device (a configuration naming a
        file, the queue database, must not destroy it); written without blocking, within
        WRITE_TIMEOUT (a jammed USB printer takes nothing and never answers)."""
        fd = os.open(self.device, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            if not stat.S_ISCHR(os.fstat(fd).st_mode):
                raise OSError(f"{self.device} is not a printer's character device")
            deadline, rest = time.monotonic() + WRITE_TIMEOUT, memoryview(data)
            while rest:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([], [fd], [], left)[1]:
                    raise TimeoutError(f"{self.device} took no more for {WRITE_TIMEOUT:.0f} s")
                try:
                    rest = rest[os.write(fd, rest):]
                except BlockingIOError:   # writable by select, full by write: a moment more
                    time.sleep(0.01)
        finally:
            os.close(fd)

    def query(self) -> None:
        return None

    def close(self) -> None:
        pass


class SimLink:
    """A simulated printer: each ticket becomes `<directory>/<day>/<label>.png` (what the paper
    would show) beside its ESC/POS bytes (.bin). Tests set `paper`, `cover_open`, `connected`."""

    def __init__(self, directory: Path, width: int, out: TextIO):
        self.directory, self.width, self.out = directory, width, out
        self.paper = "ok"          # ok, low or out
        self.cover_open = False
        self.connected = True

    def write(self, data: bytes, job: str) -> None:
        if not self.connected:
            raise OSError("simulated printer unplugged")
        path = self.directory / f"{job}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".bin").write_bytes(data)
        paper(decode(data), self.width).save(path)
        print(f"[printer] ticket {Path(job).name} -> {path}", file=self.out)

    def query(self) -> dict[int, bytes]:
        if not self.connected:
            return {QUERY_PRINTER: b"", QUERY_CAUSE: b"", QUERY_PAPER: b""}
        out, low = self.paper == "out", self.paper == "low"
        cause = 0x12 | (0x04 if self.cover_open else 0) | (0x20 if out else 0)
        printer = 0x12 | (0x08 if cause != 0x12 else 0)
        return {QUERY_PRINTER: bytes([printer]), QUERY_CAUSE: bytes([cause]),
                QUERY_PAPER: bytes([0x12 | (0x60 if out else 0) | (0x0C if low else 0)])}

    def close(self) -> None:
        pass


def prepare_escpos_cache(folder: Path) -> None:
    """Give python-escpos a lasting cache of its printer database (else every process parses
    it, ~0.3 s), first dropping a cache file a power cut left half-written: escpos writes it in
    place, and an unreadable one makes every later import fail."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.glob("*.pickle"):
        try:
            with open(path, "rb") as f:
                pickle.load(f)
        except Exception as exc:
            log.warning("printer: dropping the damaged escpos cache %s (%s)", path, exc)
            path.unlink()
    os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(folder)


class TicketPrinter(Worker):
    """Prints tickets on its own thread and reports each result and each status change.

    Example::

        printer = TicketPrinter(SerialLink("/dev/ttyUSB0", 19200), 512, appliance.post)
        printer.print(layout, time.monotonic() + 15)   # at once; a PrinterReport follows
    """

    def __init__(self, link, width: int, post: Callable[[PrinterReport], None],
                 clock: Callable[[], float], status_interval: float = 10.0,
                 cache: Path | None = None):
        self.link, self.width, self.post, self.clock = link, width, post, clock
        self.cache = cache   # where python-escpos keeps its parsed printer database
        self.status = "unknown"
        super().__init__("printer", idle_interval=status_interval)

    def close(self) -> None:
        super().close()
        self.link.close()

    def start_up(self) -> None:
        if self.cache is not None:
            prepare_escpos_cache(self.cache)
        import escpos.printer  # noqa: F401  (slow to load: here, not at the first ticket)

        self.idle()

    def idle(self) -> None:
        status = parse_status(self.link.query())
        if status != self.status:
            self.status = status
            self.post(PrinterReport(status, self.clock()))

    def print(self, layout: TicketLayout | NoteLayout, deadline: float) -> None:
        """Print `layout`, unless its `deadline` (monotonic seconds) passes first: a ticket the
        hall has given up on (its number went on the wall) is not printed minutes late."""
        self.submit((layout, deadline))

    def handle(self, ticket: tuple[TicketLayout | NoteLayout, float]) -> None:
        job, deadline = ticket
        status, printed = parse_status(self.link.query()), False
        try:
            if time.monotonic() > deadline:
                log.warning("printer: ticket %s not printed: its deadline passed", job.label)
            elif status in PRINTABLE:
                render = note_escpos if isinstance(job, NoteLayout) else ticket_escpos
                self.link.write(render(job, self.width), f"{job.day}/{job.label}")
                printed = True
        except OSError as exc:
            log.error("printer: ticket %s not printed: %s", job.label, exc)
            status = "offline"
        except Exception:
            log.exception("printer: ticket %s could not be made", job.label)
            status = "offline"
        finally:  # the loop hears of every ticket, printed or not
            self.status = status
            self.post(PrinterReport(status, self.clock(), job.label, printed))
