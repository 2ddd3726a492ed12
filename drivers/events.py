"""The events drivers post into the supervisory loop; `at` is when the device saw it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


SECRET_PARAMS = ("pin", "password", "password_hash", "token_hash")   # never logged


@dataclass(frozen=True)
class ButtonPressed:
    """A ticket button: one ticket of `service`."""

    service: str
    at: float
    vip: bool = False


@dataclass(frozen=True)
class CounterKey:
    """A teller's key at a counter: login, logout, call, recall, start, skip, finish,
    transfer, pause or resume, with the key's parameters (teller and pin, transfer target)."""

    counter: int
    key: str
    at: float
    params: dict[str, Any] = field(default_factory=dict)
    request: tuple[str, str] | None = None   # (source, id): applied once, however often sent
    done: Any = None                         # a future the loop resolves once it has handled it
    user: str | None = None                  # the back-office user at a virtual keypad

    def __repr__(self) -> str:
        """Never the PIN: events are logged. Nor a login's teller id: a teller who typed the
        PIN first would have it logged."""
        params = {k: "***" if k in SECRET_PARAMS or self.key == "login" else v
                  for k, v in self.params.items()}
        return (f"CounterKey(counter={self.counter}, key={self.key!r}, at={self.at},"
                f" params={params}, request={self.request}"
                + (f", user={self.user!r})" if self.user else ")"))


SIMPLE_KEYS = ("call", "recall", "start", "skip", "finish", "pause", "resume", "logout")


def counter_key(counter: int, key: str, args: list[str], at: float) -> CounterKey:
    """A teller's key with its words: `login T01 1111`, `transfer B [back]`,
    `transfer @2 [B]`, a customer's `rate 1` (to 3), or a key alone. Raises ValueError naming
    what cannot be read."""
    if key in SIMPLE_KEYS and not args:
        return CounterKey(counter, key, at)
    if key == "rate" and args in (["1"], ["2"], ["3"]):
        return CounterKey(counter, key, at, {"rating": int(args[0])})
    if key == "login" and len(args) == 2:
        return CounterKey(counter, key, at, {"teller": args[0], "pin": args[1]})
    if key == "transfer" and args:
        target, extra = args[0], args[1:]
        if re.fullmatch("@[0-9]{1,3}", target) and len(extra) <= 1 and \
                all(word.isalpha() for word in extra):
            return CounterKey(counter, key, at, {"to_counter": int(target[1:]),
                                                 "service": extra[0].upper() if extra else None})
        if target.isalpha() and extra in ([], ["back"]):
            return CounterKey(counter, key, at, {"service": target.upper(),
                                                 "keep_place": not extra})
    if key == "login":
        raise ValueError(f"counter {counter}: login takes a teller id and a PIN")
    # Nothing typed is echoed but a key's name: a mistyped login's words hold a PIN.
    named = f" {key!r}" if key.isascii() and key.isalpha() and len(key) <= 12 else ""
    raise ValueError(f"counter {counter}: cannot read the key{named}"
                     + (f" with {len(args)} word(s) after it" if args else "") + " (type help)")


@dataclass(frozen=True)
class BackOffice:
    """A console command: status, help, waiting, stats (params: days), cancel (params:
    label), reload, export, office-code, refresh_keypad (params: counter) or quit."""

    command: str
    at: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OfficeCommand:
    """A change asked for in the back office by `user` (see firmware/office/commands.py): the
    loop applies it and resolves `done` with its result, or with the QueueError refusing it."""

    command: str
    at: float
    params: dict[str, Any]
    user: str
    done: Any = None

    def __repr__(self) -> str:
        """Never a password: events are logged."""
        params = {k: "***" if k in SECRET_PARAMS else v for k, v in self.params.items()}
        return f"OfficeCommand({self.command!r}, user={self.user!r}, params={params})"


@dataclass(frozen=True)
class PrinterReport:
    """The printer's state (ok, paper_low, paper_out, cover_open, offline or unknown), after a
    ticket (`label`, and whether it was `printed`) or when it changed while idle."""

    status: str
    at: float
    label: str | None = None
    printed: bool = False


@dataclass(frozen=True)
class DeviceFault:
    """A device fault the hall must hear of (on the wall and in the back office), not only the
    log: e.g. an announcement clip that cannot be played."""

    device: str
    problem: str
    at: float


@dataclass(frozen=True)
class Announcing:
    """An announcer starts saying a call (its chime sounds): the hall screens flash it now."""

    counter: int
    label: str
    at: float


@dataclass(frozen=True)
class UsbInserted:
    """A USB stick is mounted at `path`."""

    path: str
    at: float


@dataclass(frozen=True)
class UsbRemoved:
    path: str
    at: float


@dataclass(frozen=True)
class HisMessage:
    """A message from the hospital information system for the loop to apply once."""

    kind: str                # "register" | "cancel" | "appointment" | "ready"
    at: float
    fields: dict[str, Any]   # strings, already decoded; missing optional ones absent
    source: str              # which adapter/sender: "hl7:<MSH-3>^<MSH-4>" or "sql"
    control: str             # the sender's message control id (MSH-10, or the view's row id)
    digest: str              # sha256 hex of the message's content: a resend has the same one
    done: Any = None         # a future the loop resolves: None = applied (or applied before),
    #                          or the QueueError refusing it (its str() is the reason)

    def __repr__(self) -> str:
        """Never the patient's name or id: events are logged."""
        fields = {k: "***" if k in ("name", "patient") else v for k, v in self.fields.items()}
        return (f"HisMessage({self.kind!r}, source={self.source!r}, control={self.control!r},"
                f" fields={fields})")
