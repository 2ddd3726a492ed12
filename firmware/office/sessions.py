"""Who is signed in to the back office: server-side sessions, failed sign-ins, the setup code.

All in memory (a restart signs everyone out, as it forgives failed attempts); intervals on the
monotonic clock, so a clock step neither ends nor prolongs a session.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Callable

from firmware.logins import LoginGuard

SETUP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O, 1/I: read off a paper ticket
SETUP_LENGTH = 10


@dataclass
class Session:
    user: str
    role: str
    counter: int | None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    seen: float = 0.0   # monotonic


class Sessions:
    """Sessions by an unguessable token (the cookie); one idle for `idle` seconds ends."""

    def __init__(self, idle: float, clock: Callable[[], float] = time.monotonic):
        self.idle, self.clock = idle, clock
        self._by_token: dict[str, Session] = {}

    def open(self, user: str, role: str, counter: int | None) -> tuple[str, Session]:
        self._expire()
        token = secrets.token_urlsafe(32)
        session = self._by_token[token] = Session(user, role, counter, seen=self.clock())
        return token, session

    def get(self, token: str | None) -> Session | None:
        session = self._by_token.get(token or "")
        if session is None or self.clock() - session.seen > self.idle:
            self._by_token.pop(token or "", None)
            return None
        session.seen = self.clock()
        return session

    def valid(self, token: str | None) -> bool:
        """Whether the session still stands, without counting this as activity (an open
        page's live stream does not keep its session from ending)."""
        session = self._by_token.get(token or "")
        return session is not None and self.clock() - session.seen <= self.idle

    def close(self, token: str | None) -> None:
        self._by_token.pop(token or "", None)

    def close_user(self, user: str) -> None:
        """A removed user, or a password changed: every session of theirs ends."""
        for token in [t for t, s in self._by_token.items() if s.user == user]:
            del self._by_token[token]

    def _expire(self) -> None:
        now = self.clock()
        for token in [t for t, s in self._by_token.items() if now - s.seen > self.idle]:
            del self._by_token[token]


class SetupCode:
    """The one-time code that sets an admin's password: printed at the box, used once."""

    def __init__(self):
        self._code: str | None = None

    def new(self) -> str:
        self._code = "".join(secrets.choice(SETUP_ALPHABET) for _ in range(SETUP_LENGTH))
        return self._code

    def use(self, typed: object) -> bool:
        """Whether `typed` is the code; a right code is spent."""
        if self._code is None or not isinstance(typed, str) or \
                not secrets.compare_digest(typed.strip().upper().encode(), self._code.encode()):
            return False
        self._code = None
        return True


def sign_in_guard() -> LoginGuard:
    """Failed sign-ins per user name (and setup codes per client address): from the third in
    a row, each next attempt waits longer, up to five minutes."""
    return LoginGuard(what="sign-in", secret="passwords")
