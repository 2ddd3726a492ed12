"""The back office's changes, applied by the loop: each OfficeCommand to one hall operation.

Run inside `Appliance.handle` under `hall.acting_as(user)`, so every event names who made it;
a QueueError refuses the command and changed nothing. Results are JSON-ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from drivers.events import OfficeCommand
from queue_core import Hall, errors, playlist, users

if TYPE_CHECKING:
    from firmware.main import Appliance


def _ticket(ticket) -> dict[str, Any]:
    return {"label": ticket.label, "service": ticket.service, "state": ticket.state.value}


def _issue(app: Appliance, at: float, service: str, vip: bool = False) -> dict[str, Any]:
    """A ticket for a caller who is not at the buttons: its number, no print."""
    issued = app.hall.issue(service, at, vip=vip)
    app.update_leds(at)
    return {**_ticket(issued.ticket), "ahead": issued.ahead}


def _service_state(operation: Callable) -> Callable:
    def run(app: Appliance, at: float, service: str) -> dict[str, Any]:
        operation(app.hall, service, at)
        app.update_leds(at)
        return {"service": service}
    return run


def _counter(operation: Callable) -> Callable:
    def run(app: Appliance, at: float, counter: int) -> dict[str, Any]:
        operation(app.hall, counter, at)
        return {"counter": counter}
    return run


def _on_ticket(operation: Callable) -> Callable:
    def run(app: Appliance, at: float, label: str, **params) -> dict[str, Any]:
        return _ticket(operation(app.hall, label, at, **params))
    return run


def _check_in(app: Appliance, at: float, key: str) -> dict[str, Any]:
    """The triage desk: a registered label, a missed one, or an appointment's visit id."""
    return _ticket(app.hall.check_in(key, at))


def _users(operation: Callable) -> Callable:
    def run(app: Appliance, at: float, **params) -> dict[str, Any]:
        operation(app.hall.db, now=at, by=app.hall.actor, **params)
        return {name: value for name, value in params.items() if name in ("name", "label")}
    return run


def _playlist_add(app: Appliance, at: float, **params) -> dict[str, Any]:
    return {"id": playlist.add_item(app.hall.db, now=at, by=app.hall.actor, **params)}


def _playlist_remove(app: Appliance, at: float, item: int) -> dict[str, Any]:
    return {"id": item, "file": playlist.remove_item(app.hall.db, item, at,
                                                     by=app.hall.actor).file}


def _playlist_move(app: Appliance, at: float, item: int, position: int) -> dict[str, Any]:
    playlist.move_item(app.hall.db, item, position, at, by=app.hall.actor)
    return {"id": item, "position": position}


COMMANDS: dict[str, Callable[..., Any]] = {
    "issue": _issue,
    "close": _service_state(Hall.close_service), "open": _service_state(Hall.open_service),
    "pause": _counter(Hall.pause), "resume": _counter(Hall.resume),
    "logout": _counter(Hall.logout),
    "move": _on_ticket(Hall.move), "prioritise": _on_ticket(Hall.prioritise),
    "transfer": _on_ticket(Hall.transfer_waiting), "cancel": _on_ticket(Hall.cancel),
    "check_in": _check_in, "hold": _on_ticket(Hall.hold), "release": _on_ticket(Hall.release),
    "leave": _on_ticket(Hall.leave), "room": _on_ticket(Hall.send_to_room),
    "assign": _on_ticket(Hall.assign),
    "add_user": _users(users.add_user), "set_password": _users(users.set_password),
    "remove_user": _users(users.remove_user), "add_token": _users(users.add_token),
    "remove_token": _users(users.remove_token),
    "playlist_add": _playlist_add, "playlist_remove": _playlist_remove,
    "playlist_move": _playlist_move,
}


def apply(app: Appliance, event: OfficeCommand) -> Any:
    """Apply `event` to the hall as its user; raises QueueError (nothing changed) or TypeError
    for parameters the command does not take (the server checks them first)."""
    command = COMMANDS.get(event.command)
    if command is None:
        raise errors.QueueError(f"no command {event.command!r}")
    with app.hall.acting_as(event.user):
        return command(app, event.at, **event.params)
