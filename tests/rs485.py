"""An RS-485 line for tests: two pseudo-terminals joined by a relay that can bend the bytes.

The appliance opens `line.master`, the keypads' server opens `line.keypads`. Each read from
one side is taken as one frame (true for the short frames of a pseudo-terminal).
"""

from __future__ import annotations

import os
import select
import threading
import tty
from typing import Callable


class Line:
    def __init__(self):
        self._master_fd, master = os.openpty()
        self._keypads_fd, keypads = os.openpty()
        for fd in (master, keypads):
            tty.setraw(fd)
        self.master, self.keypads = os.ttyname(master), os.ttyname(keypads)
        self._slaves = (master, keypads)
        self.silent: set[int] = set()          # addresses whose requests never arrive
        self.corrupt: dict[int, int] = {}      # address -> replies to spoil (bad CRC)
        self.garbage = b""                     # bytes the master hears before the next reply
        # (address, function code, first register) -> replies to lose
        self.lose: dict[tuple[int, int, int], int] = {}
        self.lose_requests: dict[tuple[int, int, int], int] = {}
        self.requests = 0
        self._last: tuple[int, int, int] = (0, 0, 0)
        self._stop = False
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        for fd in (self._master_fd, self._keypads_fd, *self._slaves):
            os.close(fd)

    def _take(self, table: dict, key) -> bool:
        if table.get(key, 0) > 0:
            table[key] -= 1
            return True
        return False

    def _relay(self) -> None:
        while not self._stop:
            ready, _, _ = select.select([self._master_fd, self._keypads_fd], [], [], 0.05)
            for fd in ready:
                try:
                    frame = os.read(fd, 4096)
                except OSError:
                    return
                if fd == self._master_fd:
                    self._request(frame)
                else:
                    self._reply(frame)

    def _request(self, frame: bytes) -> None:
        self.requests += 1
        self._last = (frame[0], frame[1], int.from_bytes(frame[2:4], "big"))
        if frame[0] in self.silent or self._take(self.lose_requests, self._last):
            return
        os.write(self._keypads_fd, frame)

    def _reply(self, frame: bytes) -> None:
        if self._take(self.lose, self._last):
            return
        if self._take(self.corrupt, self._last[0]):
            frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
        if self.garbage:
            frame, self.garbage = self.garbage + frame, b""
        os.write(self._master_fd, frame)


def wait_for(condition: Callable[[], bool], seconds: float = 5.0):
    """An awaitable that ends once `condition()` holds; fails the test after `seconds`."""
    import asyncio
    import time

    async def waiting():
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            await asyncio.sleep(0.01)
    return waiting()
