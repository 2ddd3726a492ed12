"""The hospital's part of the loop: the HIS's messages applied once each, and patients called
forward to the rooms' doors after every change."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from drivers.events import HisMessage
from queue_core import Hall, errors

if TYPE_CHECKING:
    from firmware.main import Appliance

log = logging.getLogger(__name__)


def _department(hall: Hall, code: str) -> str:
    service = hall.config.hospital.department(code)
    if service is None:
        raise errors.UnknownDepartment(f"no department {code!r} (no [[stage]] lists it in"
                                       " `his`)")
    return service


def _lane(hall: Hall, code: str | None) -> str | None:
    """The lane the HIS's admission type means; another type is no lane (routine)."""
    lane = None if code is None else hall.config.hospital.lane(code)
    return None if lane is None else lane.name


def _register(hall: Hall, at: float, f: dict[str, Any]) -> str:
    ticket = hall.register(at, _department(hall, f["department"]), f["patient"], f["name"],
                           f["visit"], f.get("doctor"), _lane(hall, f.get("lane")))
    return f"{ticket.label} registered ({ticket.state.value})"


def _appointment(hall: Hall, at: float, f: dict[str, Any]) -> str:
    hall.book(at, _department(hall, f["department"]), f["patient"], f["name"], f["visit"],
              f.get("doctor"), f.get("slot"))
    return "appointment booked"


def _cancel(hall: Hall, at: float, f: dict[str, Any]) -> str:
    ticket = hall.cancel_visit(f["visit"], at, f.get("patient"))
    return "appointment cancelled" if ticket is None else f"{ticket.label} cancelled"


def _ready(hall: Hall, at: float, f: dict[str, Any]) -> str:
    return f"{hall.ready(f['visit'], at, f.get('patient')).label} to the pharmacy"


OPERATIONS: dict[str, Callable[[Hall, float, dict[str, Any]], str]] = {
    "register": _register, "appointment": _appointment, "cancel": _cancel, "ready": _ready}


class His:
    """The HIS link of one box: `deliver` hands a message to the loop and waits for its
    answer (the adapter acknowledges by it); `handle` applies it in the loop, once."""

    def __init__(self, app: Appliance):
        self.app = app

    async def deliver(self, message: HisMessage) -> None:
        """Post `message` into the loop and wait until it is applied (or was before); raises
        the QueueError refusing it."""
        done = asyncio.get_running_loop().create_future()
        self.app.inbox.post(replace(message, done=done))
        try:   # (shielded: an adapter giving up does not cancel the loop's answer)
            await asyncio.shield(done)
        except errors.QueueError:
            raise
        except Exception as exc:   # a fault: the HIS hears of it and may send it again
            raise errors.QueueError(f"the hall could not apply it ({exc})") from exc

    def handle(self, event: HisMessage) -> None:
        """Apply `event` with its control id in one transaction; a resend of a message
        applied (its acknowledgement lost) changes nothing and is answered as before."""
        hall = self.app.hall
        operation = OPERATIONS.get(event.kind)
        if operation is None:
            raise errors.QueueError(f"no HIS operation {event.kind!r}")
        if not hall.config.hospital.stages:
            raise errors.NotInFlow("this hall has no hospital flow ([[stage]])")
        with hall.his_once(event.source, event.control, event.digest, event.at) as fresh:
            if not fresh:
                log.info("HIS %s %s: applied before", event.kind, event.control)
                return
            try:
                done = operation(hall, event.at, event.fields)
            except KeyError as exc:   # (the adapter checks them: a bug if it lets one by)
                raise errors.QueueError(f"the message has no {exc.args[0]}") from None
        log.info("HIS %s %s: %s", event.kind, event.control, done)


def call_forward(app: Appliance, now: float) -> None:
    """After a change: the next patients are called forward to wait at the rooms' doors (the
    department screens show them)."""
    for ticket in app.hall.forward(now):
        log.info("%s called forward to room %d", ticket.label, ticket.target_counter)
