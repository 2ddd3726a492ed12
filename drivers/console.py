"""A terminal standing in for the ticket buttons, the teller keypads and the back office.

One command a line; `help` lists them. Parsing errors are answered on the terminal and post
nothing. Keypad displays and back-office reports are printed with a [counter N] / [office] tag.
Commands come from the process's standard input, when it is a terminal, a pipe or a file, and
from clients of a local Unix socket (a technician on a box that runs as a service), who also
see the output.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Callable, TextIO

from drivers.events import BackOffice, ButtonPressed, CounterKey, counter_key
from media.keypad_text import keypad_lines
from queue_core.model import HallConfig, HallStatus, Ticket

HELP = """\
  A | A vip                     take a ticket of service A (a priority ticket with vip)
  3 login T01 1111              log teller T01 in at counter 3 with PIN 1111
  3 call                        finish the current ticket, if any, and call the next
  3 recall | start | skip | finish | pause | resume | logout
  3 rate 1                      the customer's evaluation: 1 very satisfied, 2 satisfied,
                                3 dissatisfied (within the rating window after a finish)
  3 transfer B [back]           send the current ticket to service B (at the back with back)
  3 transfer @2 [B]             send it to counter 2 (in service B)
  cancel A012                   take a waiting ticket out of the queue
  stats [today|2026-11|2026-11-01..2026-11-23]   figures per service, counter and teller
  reload                        read the configuration file again (also: kill -HUP)
  export                        write the statistics onto the USB stick again
  waiting                       the waiting tickets of each service, in calling order
  office-code                   print a one-time code that sets a back-office admin's password
  status | help | quit"""

Event = ButtonPressed | CounterKey | BackOffice
MAX_LINE = 1024            # bytes: a longer line is refused, not buffered without end
CLIENT_BACKLOG = 1 << 16   # bytes of output a socket client may leave unread before it is dropped
log = logging.getLogger(__name__)


def parse(line: str, at: float) -> Event:
    """Turn one console line into an event; raises ValueError with the reason."""
    words = line.split()
    if not words:
        raise ValueError("empty line")
    head, rest = words[0], words[1:]
    if len(head) == 1 and head.isalpha() and rest in ([], ["vip"]):
        return ButtonPressed(head.upper(), at, vip=bool(rest))
    if head in ("status", "reload", "export", "quit", "help", "waiting", "office-code") and \
            not rest:
        return BackOffice(head, at)
    if head == "stats" and len(rest) <= 1:
        return BackOffice("stats", at, {"days": rest[0] if rest else "today"})
    if head == "cancel" and len(rest) == 1:
        return BackOffice("cancel", at, {"label": rest[0].upper()})
    if not re.fullmatch("[0-9]{1,3}", head):
        # Only a word is echoed: digits may be a PIN, and so may the words after it.
        named = f" {head[:20]!r}" if head.isascii() and head.isalpha() else ""
        raise ValueError(f"unknown command{named} (type help)")
    if not rest:
        raise ValueError("a counter number needs a key after it (type help)")
    return counter_key(int(head), rest[0], rest[1:], at)


class Output:
    """The console's output: the process's own, and a copy to each socket client. Written from
    any thread; a client that does not read its copy is disconnected, never waited for."""

    def __init__(self, base: TextIO):
        self.base = base
        self.clients: dict[asyncio.StreamWriter, asyncio.AbstractEventLoop] = {}
        self._lock = threading.Lock()
        self._partial = threading.local()   # each thread's line until its newline

    def write(self, text: str) -> int:
        """Whole lines go out at once, so that two devices' lines never run into each other."""
        lines, _, rest = (getattr(self._partial, "text", "") + text).rpartition("\n")
        self._partial.text = rest
        if lines:
            with self._lock:
                self.base.write(lines + "\n")
                self.base.flush()
                for writer, loop in list(self.clients.items()):
                    loop.call_soon_threadsafe(self._send, writer, (lines + "\n").encode())
        return len(text)

    def flush(self) -> None:
        self.base.flush()

    def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        if writer not in self.clients:
            return
        if writer.transport.get_write_buffer_size() > CLIENT_BACKLOG:
            log.warning("console: a socket client reads too slowly; disconnected")
            self.clients.pop(writer, None)
            writer.close()
            return
        writer.write(data)


class Console:
    """Reads commands from a terminal, pipe, file or socket and posts them as events; prints
    device output.

    Example: console = Console(sys.stdout); console.attach(0, appliance.post, end_quits=True)
    """

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.time):
        self.out = Output(out)
        self.clock = clock
        self._server: asyncio.AbstractServer | None = None
        self._socket: tuple[Path, int] | None = None   # its path and inode, to remove it after

    def attach(self, fd: int, post: Callable[[Event], None], end_quits: bool) -> None:
        """Read commands from `fd` on a thread of its own (a regular file cannot be polled);
        at the end of input post quit when `end_quits`, else only stop reading."""
        def read() -> None:
            pending, skipping = b"", False   # skipping: the rest of a line that was too long
            while chunk := os.read(fd, 4096):
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if not skipping:
                        self.feed(line.decode("utf-8", "replace"), post)
                    skipping = False
                if len(pending) > MAX_LINE:
                    if not skipping:
                        print(f"[console] a line longer than {MAX_LINE} bytes is ignored",
                              file=self.out)
                    pending, skipping = b"", True
            if end_quits:
                post(BackOffice("quit", self.clock()))
            else:
                log.info("console: end of input; the appliance keeps running")

        threading.Thread(target=read, name="console", daemon=True).start()

    async def listen(self, path: Path, post: Callable[[Event], None]) -> None:
        """Take consoles on the Unix socket `path` (the process's umask keeps it to its own
        user); `quit` there closes that console only. Raises OSError when another appliance
        answers there already."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
            except OSError:   # nobody: a socket left by a cut, or nothing
                path.unlink(missing_ok=True)
            else:
                raise OSError(f"another appliance's console answers at {path}")
        loop = asyncio.get_running_loop()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.out.clients[writer] = loop
            try:
                while (line := await reader.readline()) and line.strip() != b"quit":
                    self.feed(line.decode("utf-8", "replace"), post)
            except (ValueError, ConnectionError):   # a line over the limit, a client gone
                pass
            except asyncio.CancelledError:   # the appliance stops: this console ends with it
                pass
            finally:
                self.out.clients.pop(writer, None)
                writer.close()

        self._server = await asyncio.start_unix_server(serve, path, limit=MAX_LINE)
        self._socket = (path, path.stat().st_ino)

    def close(self) -> None:
        """Stop taking consoles, and remove the socket if it is still this one."""
        if self._server is not None:
            self._server.close()
        if self._socket is not None:
            path, inode = self._socket
            try:
                if path.stat().st_ino == inode:
                    path.unlink()
            except FileNotFoundError:
                pass

    def feed(self, line: str, post: Callable[[Event], None]) -> None:
        if not line.strip():
            return
        try:
            post(parse(line, self.clock()))
        except ValueError as exc:
            print(f"[console] {exc}", file=self.out)

    def show(self, counter: int, text: str, **leds: bool) -> None:
        """The small display of counter `counter`'s keypad, its two lines on one (its LEDs
        are not shown)."""
        print(f"[counter {counter}] {'  '.join(filter(None, keypad_lines(text)))}",
              file=self.out)

    def health(self) -> str:
        return "played on the console"

    def report(self, text: str) -> None:
        print(f"[office] {text}", file=self.out)

    def report_statistics(self, first: str, last: str, tables: dict[str, dict],
                          estimates: dict[str, float | None],
                          hours: list[tuple[int, int, int]], config: HallConfig) -> None:
        """The figures as tables by service, counter and teller, each row named as the hall
        names it; "in" counts visits transferred in, which "served" may count and "issued" not."""
        def minutes(seconds: float | None) -> str:
            return "-" if seconds is None else f"{seconds / 60:.1f}"

        names = {"service": {s.prefix: f"{s.prefix} {s.name_en}" for s in config.services},
                 "counter": {c.number: c.name for c in config.counters},
                 "teller": {t.id: f"{t.id} {t.name}" for t in config.tellers}}
        lines = [f"{first} .. {last}   (times in minutes; ratings: very satisfied / satisfied"
                 " / dissatisfied)"]
        for by, rows in tables.items():
            lines.append(f"  {by:<22}{'issued':>7}{'served':>7}{'waiting':>8}{'no-show':>8}"
                         f"{'transferred':>12}{'in':>4}{'cancelled':>10}{'expired':>8}"
                         f"{'refused':>8}"
                         f"{'wait avg':>9}"
                         f"{'max':>6}{'handling':>9}{'max':>6}  ratings")
            for key, f in sorted(rows.items(), key=lambda item: str(item[0])):
                name = names[by].get(key, f"{key} (no longer configured)")[:22]
                lines.append(
                    f"  {name:<22}{f.issued if by == 'service' else '':>7}{f.served:>7}"
                    f"{f.waiting:>8}{f.no_shows:>8}{f.transferred:>12}{f.transferred_in:>4}"
                    f"{f.cancelled:>10}{f.expired:>8}{f.refused if by == 'service' else '':>8}"
                    f"{minutes(f.average_wait):>9}"
                    f"{minutes(f.longest_wait):>6}{minutes(f.average_handling):>9}"
                    f"{minutes(f.longest_handling):>6}  {'/'.join(map(str, f.ratings))}")
        lines.append("  issued / finished by hour: " + "  ".join(
            f"{hour:02d}h {issued}/{finished}" for hour, issued, finished in hours
            if issued or finished))
        lines.append("  a new ticket now would wait about: " + ", ".join(
            f"{prefix} {minutes(wait)}" if wait is not None else f"{prefix} (no counter open)"
            for prefix, wait in estimates.items()))
        self.report("\n".join(lines))

    def report_help(self, config: HallConfig) -> None:
        """The commands, and this hall's services and counters."""
        self.report("\n".join([HELP, "  services: " + ", ".join(
            f"{s.prefix} {s.name_en}" for s in config.services), "  counters: " + ", ".join(
            f"{c.number} {c.name} ({'/'.join(c.services)})" for c in config.counters)]))

    def report_waiting(self, waiting: dict[str, list[Ticket]]) -> None:
        """Each service's waiting tickets in calling order (* priority, → sent to a counter)."""
        self.report("\n".join(
            f"  {service}: " + (" ".join(f"{t.label}{'*' if t.vip else ''}"
                                         f"{f'→{t.target_counter}' if t.target_counter else ''}"
                                         for t in tickets) or "-")
            for service, tickets in waiting.items()))

    def report_status(self, status: HallStatus, health: dict[str, str]) -> None:
        waiting = "  ".join(f"{prefix}:{n}" for prefix, n in status.waiting.items())
        lines = [f"{status.day}  waiting  {waiting}",
                 "  " + "  ".join(f"{device}: {state}" for device, state in health.items())]
        for c in status.counters:
            who = c.teller or "closed"
            if c.paused:
                who += " (paused)"
            ticket = f"{c.current.label} {c.current.state.value}" if c.current else "-"
            lines.append(f"  {c.name:<12} {who:<16} {ticket}")
        self.report("\n".join(lines))
