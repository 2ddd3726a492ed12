"""Wrong secrets at one place (PINs at a counter, passwords for a back-office user): after a
few in a row, each further login there waits longer."""

from __future__ import annotations

import time
from typing import Callable, Hashable

from queue_core import errors

FREE_TRIES = 3       # wrong PINs in a row before logins at that counter are delayed
LONGEST = 300.0      # seconds: the delay doubles from 2 s up to this
PLACES = 10_000      # places remembered before those no longer waiting are forgotten


class LoginGuard:
    """Counts wrong secrets per place (in memory: a restart forgives, as a teller would
    expect); from the FREE_TRIES-th wrong one in a row, the next login there is refused for
    2 s, then 4, 8, … up to LONGEST. A right one clears the count. Intervals on the monotonic
    clock. `what` and `secret` name the place and the secret in messages."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, what: str = "counter",
                 secret: str = "PINs"):
        self.clock, self.what, self.secret = clock, what, secret
        self._wrong: dict[Hashable, tuple[int, float]] = {}   # place -> (in a row, until)

    def check(self, place: Hashable) -> None:
        """Raises LoginDelayed while logins at `place` wait."""
        wrong, until = self._wrong.get(place, (0, 0.0))
        if (left := until - self.clock()) > 0:
            raise errors.LoginDelayed(f"{self.what} {place}: {wrong} wrong {self.secret} in a"
                                      f" row; next login in {left:.0f} s")

    def failed(self, place: Hashable) -> str | None:
        """Count a wrong secret; returns what the back office is told, once logins wait."""
        wrong = self._wrong.get(place, (0, 0.0))[0] + 1
        delay = min(LONGEST, 2.0 ** (wrong - FREE_TRIES + 1)) if wrong >= FREE_TRIES else 0.0
        if len(self._wrong) >= PLACES:   # made-up names must not fill the memory: forget
            now = self.clock()          # the places no longer waiting
            self._wrong = {p: w for p, w in self._wrong.items() if w[1] > now}
        self._wrong[place] = (wrong, self.clock() + delay)
        if not delay:
            return None
        return f"{self.what} {place}: {wrong} wrong {self.secret} in a row; logins there wait" \
            f" {delay:.0f} s"

    def succeeded(self, place: Hashable) -> None:
        self._wrong.pop(place, None)
