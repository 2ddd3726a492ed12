"""Wrong PINs at a counter: after a few in a row, each further login there waits longer."""

from __future__ import annotations

import time
from typing import Callable

from queue_core import errors

FREE_TRIES = 3       # wrong PINs in a row before logins at that counter are delayed
LONGEST = 300.0      # seconds: the delay doubles from 2 s up to this


class LoginGuard:
    """Counts wrong PINs per counter (in memory: a restart forgives, as a teller would expect);
    from the FREE_TRIES-th wrong PIN in a row, the next login there is refused for 2 s, then 4,
    8, … up to LONGEST. A right PIN clears the count. Intervals on the monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._wrong: dict[int, tuple[int, float]] = {}   # counter -> (in a row, locked until)

    def check(self, counter: int) -> None:
        """Raises LoginDelayed while logins at `counter` wait."""
        wrong, until = self._wrong.get(counter, (0, 0.0))
        if (left := until - self.clock()) > 0:
            raise errors.LoginDelayed(f"counter {counter}: {wrong} wrong PINs in a row; next"
                                      f" login in {left:.0f} s")

    def failed(self, counter: int) -> str | None:
        """Count a wrong PIN; returns what the back office is told, once logins are delayed."""
        wrong = self._wrong.get(counter, (0, 0.0))[0] + 1
        delay = min(LONGEST, 2.0 ** (wrong - FREE_TRIES + 1)) if wrong >= FREE_TRIES else 0.0
        self._wrong[counter] = (wrong, self.clock() + delay)
        if not delay:
            return None
        return f"counter {counter}: {wrong} wrong PINs in a row; logins there wait {delay:.0f} s"

    def succeeded(self, counter: int) -> None:
        self._wrong.pop(counter, None)
