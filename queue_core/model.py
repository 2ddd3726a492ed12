"""Immutable values of the queue domain: hall configuration, tickets and status snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class State(str, Enum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    NO_SHOW = "no_show"
    TRANSFERRED = "transferred"
    CANCELLED = "cancelled"
    EXPIRED = "expired"      # still waiting when its business day ended


OPEN_AT_COUNTER = (State.CALLED, State.SERVING)


@dataclass(frozen=True)
class Service:
    """A queue with its own letter: tickets A001, A002, … restart every business day."""

    prefix: str
    name_en: str
    name_zh: str
    first: int = 1
    last: int = 999
    daily_cap: int | None = None
    alarm_wait: int | None = None    # minutes a ticket may wait before the monitor shows an alarm
    alarm_queue: int | None = None   # tickets that may wait at once, likewise

    def label(self, number: int) -> str:
        return f"{self.prefix}{number:0{len(str(self.last))}d}"


COUNTER_KINDS = ("counter", "window", "room", "table")   # what a call sends the customer to


@dataclass(frozen=True)
class Counter:
    """Where tickets are called to; `services` lists the prefixes it serves, highest priority
    first. `kind`, one of COUNTER_KINDS, is the word its calls use ("3 号诊室", "room 3")."""

    number: int
    name: str
    services: tuple[str, ...]
    kind: str = "counter"


@dataclass(frozen=True)
class Teller:
    id: str
    name: str
    pin: str


@dataclass(frozen=True)
class HallConfig:
    name: str
    name_zh: str
    services: tuple[Service, ...]
    counters: tuple[Counter, ...]
    tellers: tuple[Teller, ...]
    max_recalls: int = 2
    rating_window: float = 60.0   # seconds after a finish in which the customer can rate it
    time_zone: str = "Asia/Shanghai"   # IANA name: the hall's, not the board's
    day_starts: str = "00:00"     # local time a business day starts (later for halls open late)

    def service(self, prefix: str) -> Service | None:
        return next((s for s in self.services if s.prefix == prefix), None)

    def counter(self, number: int) -> Counter | None:
        return next((c for c in self.counters if c.number == number), None)

    def teller(self, teller_id: str) -> Teller | None:
        return next((t for t in self.tellers if t.id == teller_id), None)


@dataclass(frozen=True)
class Ticket:
    """One visit of a ticket to one queue; a transfer closes the visit and opens the next one.

    Times are seconds since the epoch. `finished_at` is when the visit ended, whatever the end.
    """

    id: int
    day: str
    label: str
    service: str
    state: State
    vip: bool
    previous_id: int | None
    target_counter: int | None
    counter: int | None
    teller: str | None
    issued_at: float
    queued_at: float
    called_at: float | None
    last_called_at: float | None
    recalls: int
    started_at: float | None
    finished_at: float | None
    place: int   # order in its queue: a sequence, whatever the clock did


@dataclass(frozen=True)
class Issued:
    """A newly issued ticket and the number of people waiting before it in its service."""

    ticket: Ticket
    ahead: int


@dataclass(frozen=True)
class CounterStatus:
    number: int
    name: str
    teller: str | None
    paused: bool
    current: Ticket | None
    waiting: int   # the tickets it could call now: sent to it, or in its services and sent nowhere


@dataclass(frozen=True)
class HallStatus:
    """What the displays and the console show, read in one go."""

    day: str
    waiting: dict[str, int]
    counters: tuple[CounterStatus, ...]
    last_calls: tuple[Ticket, ...]   # the calls standing now (called or serving), newest first
    closed: frozenset[str]           # services issuing no tickets now (Hall.close_service)
