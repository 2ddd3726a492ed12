"""The events drivers post into the supervisory loop; `at` is when the device saw it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class BackOffice:
    """A back-office command: status, cancel (params: label) or quit."""

    command: str
    at: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PrinterReport:
    """The printer's state (ok, paper_low, paper_out, cover_open, offline or unknown), after a
    ticket (`label`, and whether it was `printed`) or when it changed while idle."""

    status: str
    at: float
    label: str | None = None
    printed: bool = False


@dataclass(frozen=True)
class UsbInserted:
    """A USB stick is mounted read-only at `path`."""

    path: str
    at: float


@dataclass(frozen=True)
class UsbRemoved:
    path: str
    at: float
