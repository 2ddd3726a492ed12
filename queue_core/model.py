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
    REGISTERED = "registered"   # numbered by the hospital's HIS, not yet checked in
    HELD = "held"            # kept out of the calls until released (a nurse, the pharmacy)


OPEN_AT_COUNTER = (State.CALLED, State.SERVING)
QUEUED = (State.WAITING, State.REGISTERED, State.HELD)   # still to be seen, at no counter
OPEN = QUEUED + OPEN_AT_COUNTER                          # a visit not ended


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
    """A teller, or in a hospital a doctor: `own_only`, they call only the patients registered
    to them, never the department's."""

    id: str
    name: str
    pin: str
    own_only: bool = False


MOVERS = ("doctor", "nurse")   # who may send a patient on: a room's keypad, the back office
RETURNS = ("ahead", "place")


@dataclass(frozen=True)
class Stage:
    """A service's part in a hospital's flow: the stages a patient may be sent on to from it
    (`next`) and by whom (`moved_by`, of MOVERS); `check_in`, registered patients wait for the
    triage desk before they queue; `door`, patients called forward to wait at each room's door;
    `back`, a visit finished here (tests) goes back to the doctor who sent it; `returns`, such
    patients are called "ahead" of the doctor's new ones, or at their first "place";
    `missed_behind`, a missed number checking in again waits behind that many; `held`, a
    patient not coming after the recalls is held (a prescription kept) instead of a no-show;
    `his`, the HIS's department codes for it."""

    service: str
    next: tuple[str, ...] = ()
    moved_by: tuple[str, ...] = MOVERS
    check_in: bool = False
    door: int = 0
    back: bool = False
    returns: str = "ahead"
    missed_behind: int = 3
    held: bool = False
    his: tuple[str, ...] = ()


@dataclass(frozen=True)
class Lane:
    """A priority lane (绿色通道): its patients are priority tickets; `first`, each goes to the
    front of the priority ones (an emergency), else after them; `his`, the HIS's codes (PV1-4)."""

    name: str
    name_zh: str
    first: bool = False
    his: tuple[str, ...] = ()


PRIVACY = ("mask", "numbers", "full")   # patients' names on screens: 张*三, none, as registered


@dataclass(frozen=True)
class HospitalConfig:
    """The flow through the hospital's stages; none for a bank or a service hall."""

    stages: tuple[Stage, ...] = ()
    lanes: tuple[Lane, ...] = ()
    privacy: str = "mask"
    pharmacy: str | None = None   # the stage a prescription ready sends its patient to

    def stage(self, prefix: str) -> Stage | None:
        return next((s for s in self.stages if s.service == prefix), None)

    def lane(self, name: str) -> Lane | None:
        return next((lane for lane in self.lanes if name == lane.name or name in lane.his),
                    None)

    def department(self, code: str) -> str | None:
        """The service of the HIS's department `code`."""
        return next((s.service for s in self.stages if code in s.his), None)


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
    hospital: HospitalConfig = HospitalConfig()

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
    doctor: str | None = None   # whose patient this visit is: only that doctor's room calls it
    is_return: bool = False     # back from tests to that doctor


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
