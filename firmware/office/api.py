"""The back office's JSON API (docs/office-api.yaml): what the pages use, and machine clients
with a token. Every input is checked here before anything is posted to the loop; a refusal is
a 4xx with the reason, and changes nothing."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import logging
import re
import secrets
import time
import zipfile
from dataclasses import fields
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator, Awaitable

import sqlite_utils
from aiohttp import web

from config import ConfigError
from config.load import MAX_CONFIG_BYTES
from firmware.office.charts import chart
from firmware.office.server import BEARER, COOKIE, SESSION, token_identity
from firmware.office.sessions import Session
from firmware.signature import read_key, sign
from firmware.stick import CONFIG_NAME, SIGNATURE_NAME
from firmware import update
from firmware.his import unfit
from firmware.office import media
from queue_core import playlist, statistics, users, visit_statistics
from queue_core.model import HallConfig
from queue_core.monitor import department, monitor, queue
from queue_core.pins import password_matches

if TYPE_CHECKING:
    from firmware.office.server import OfficeServer

log = logging.getLogger(__name__)

ADMIN, SUPERVISOR, TELLER = "admin", "supervisor", "teller"
TYPES = {str: "string", int: "number", bool: "true or false", list: "array"}
MANAGERS = (ADMIN, SUPERVISOR)
TOKEN_RECHECK = 5.0   # seconds: how soon a revoked token's open stream ends
UPLOAD_SILENCE = 60.0   # seconds without a byte before a system update's upload is given up
LABEL = re.compile(r"[A-Z][0-9]{1,4}")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
NAME_RULE = "must be 1-32 letters, digits, _ . -, beginning with a letter or digit"
WORD = re.compile(r"[A-Za-z0-9@]{1,16}")   # a keypad key's words: B, back, @2, T01, 1111
DIGITS = re.compile(r"[0-9]+")   # (str.isdigit takes other scripts' digits too)
CHECK_IN_RULE = "must be a ticket's label or an appointment's number (1-100 characters, no" \
                " control or invisible ones)"


def allowed(*roles: str):
    """Only a signed-in user (or token) of one of `roles` may call the handler."""
    def wrap(handler):
        @wraps(handler)
        async def checked(office: OfficeServer, request: web.Request):
            session = request[SESSION]
            if session is None:
                raise web.HTTPUnauthorized(text="sign in first")
            if session.role not in roles:
                raise web.HTTPForbidden(text=f"a {session.role} may not do this")
            return await handler(office, request)
        return checked
    return wrap


async def body(request: web.Request, /, **fields: tuple) -> dict:
    """The JSON object sent, with exactly `fields` (name: (type, check, why[, default])); a
    field with a default may be left out."""
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):   # (nested beyond reason)
        raise web.HTTPBadRequest(text="the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    if unknown := set(data) - set(fields):
        raise web.HTTPBadRequest(text=f"unknown field {sorted(unknown)[0]!r}")
    out = {}
    for name, (kind, check, why, *default) in fields.items():
        if name not in data:
            if default:
                out[name] = default[0]
                continue
            raise web.HTTPBadRequest(text=f"field {name!r} is missing")
        value = data[name]
        if type(value) is not kind:   # (bool is no int here)
            raise web.HTTPBadRequest(text=f"field {name!r} must be a JSON {TYPES[kind]}")
        if not check(value):
            raise web.HTTPBadRequest(text=f"field {name!r} {why}")
        out[name] = value
    return out


def _password(value: str) -> bool:
    """10-128 characters, none of them a control character, not only spaces."""
    return 10 <= len(value) <= 128 and value.strip() != "" and value.isprintable()


PASSWORD_RULE = "must be 10-128 printable characters, not only spaces"


def _check_in_key(value: str) -> bool:
    """A ticket's label, or an appointment's id as the HIS may send it (a field firmware.his
    takes: up to 100 characters, no control or invisible one), once the white space around it
    (a scanner's Enter too) is stripped."""
    key = value.strip()
    return key != "" and unfit(key) is None


def _label(request: web.Request) -> str:
    label = request.match_info["label"].upper()
    if not LABEL.fullmatch(label):
        raise web.HTTPBadRequest(text="a ticket is a letter and digits, like A012")
    return label


def _number(request: web.Request, name: str) -> int:
    text = request.match_info[name]
    if not DIGITS.fullmatch(text) or len(text) > 3:
        raise web.HTTPBadRequest(text=f"{name} must be a number")
    return int(text)


def _service(office: OfficeServer, prefix: str) -> bool:
    return office.appliance.hall.config.service(prefix) is not None


# -- signing in -----------------------------------------------------------------------------

async def setup(office: OfficeServer, request: web.Request) -> web.Response:
    """The printed one-time code sets an admin's password: the first admin, or one who
    forgot theirs."""
    data = await body(request, code=(str, lambda v: len(v) <= 64, "is too long"),
                      name=(str, NAME.fullmatch, NAME_RULE),
                      password=(str, _password, PASSWORD_RULE))
    place = f"setup from {request.remote}"
    office.guard.check(place)
    existing = await office.read(lambda db: users.user(db, data["name"]))
    first = not await office.read(users.has_admin)
    if not first and (existing is None or existing.role != ADMIN):
        office.guard.failed(place)   # (the code itself is not spent on a wrong name)
        raise web.HTTPForbidden(text="a setup code makes the first admin, or sets an admin's"
                                     " password; an admin makes the other users")
    if not office.setup.use(data["code"]):
        office.guard.failed(place)
        raise web.HTTPForbidden(text="wrong or used setup code")
    office.guard.succeeded(place)
    hashed = await office.hash_password(data["password"])
    admin = _system(data["name"])
    if existing is None:
        await office.command(admin, "add_user", name=data["name"], role=ADMIN,
                             password_hash=hashed)
    else:
        await office.command(admin, "set_password", name=data["name"], password_hash=hashed)
    office.sessions.close_user(data["name"])
    log.warning("back office: %s set with the setup code, from %s",
                f"the first admin {data['name']}" if first else
                f"admin {data['name']}'s password", request.remote)
    return web.json_response({"name": data["name"], "role": ADMIN})


def _system(name: str) -> Session:
    """Who the setup code's change is made by, in the event log."""
    return Session(f"setup:{name}", ADMIN, None)


async def sign_in(office: OfficeServer, request: web.Request) -> web.Response:
    data = await body(request, name=(str, lambda v: len(v) <= 64, "is too long"),
                      password=(str, lambda v: len(v) <= 128, "is too long"))
    async with office.checking:   # one at a time: each guess sees the failures before it
        office.guard.check(data["name"])
        user = await office.read(lambda db: users.user(db, data["name"]))
        if not await asyncio.to_thread(password_matches, user and user.password,
                                       data["password"]):
            # The name is said only if it is a user's: one typed in the wrong field may be
            # a password.
            log.warning("back office: a wrong password for %s from %s",
                        repr(user.name) if user else "an unknown name", request.remote)
            if warning := office.guard.failed(data["name"]):
                log.warning("back office: %s", warning if user else "sign-ins delayed")
                office.appliance.devices.office.report(warning if user else
                                                       "back office: sign-ins delayed")
            raise web.HTTPUnauthorized(text="wrong name or password")
        office.guard.succeeded(data["name"])
    token, session = office.sessions.open(user.name, user.role, user.counter)
    response = web.json_response(_me(session))
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/",
                        secure=office.config.tls)
    return response


async def sign_out(office: OfficeServer, request: web.Request) -> web.Response:
    office.sessions.close(request.cookies.get(COOKIE))
    response = web.json_response({})
    response.del_cookie(COOKIE, path="/")
    return response


def _me(session: Session) -> dict:
    return {"name": session.user, "role": session.role, "counter": session.counter,
            "csrf": session.csrf}


async def me(office: OfficeServer, request: web.Request) -> web.Response:
    """Who is signed in; `hospital`: the hall has a hospital's flow (its nurse station)."""
    session = request[SESSION]
    if session is None:
        needs_setup = not await office.read(users.has_admin)
        return web.json_response({"signed_in": False, "setup": needs_setup}, status=401)
    return web.json_response({"signed_in": True, **_me(session),
                              "hospital": bool(office.appliance.hall.config.hospital.stages)})


# -- watching -------------------------------------------------------------------------------

@allowed(*MANAGERS)
async def get_monitor(office: OfficeServer, request: web.Request) -> web.Response:
    config, now = office.appliance.hall.config, time.time()
    return web.json_response(await office.read(lambda db: monitor(db, config, now)))


@allowed(*MANAGERS)
async def get_queue(office: OfficeServer, request: web.Request) -> web.Response:
    config, now = office.appliance.hall.config, time.time()
    return web.json_response(await office.read(lambda db: queue(db, config, now)))


@allowed(*MANAGERS, TELLER)
async def events(office: OfficeServer, request: web.Request) -> web.StreamResponse:
    """The live event log; a teller's page hears only that something changed."""
    session, cookie = request[SESSION], request.cookies.get(COOKIE)
    if request[BEARER]:
        token, checked = request.headers["Authorization"][7:].strip(), [time.monotonic()]

        async def standing() -> bool:   # a token revoked ends its stream (looked up at most
            if time.monotonic() - checked[0] < TOKEN_RECHECK:   # every few seconds)
                return True
            checked[0] = time.monotonic()
            return await office.read(lambda db: token_identity(db, token)) is not None
    else:
        async def standing() -> bool:   # signed out, removed or idle: the stream ends too
            return office.sessions.valid(cookie)
    return await office.feed.stream(request, standing, full=session.role in MANAGERS)


@allowed(*MANAGERS)
async def devices(office: OfficeServer, request: web.Request) -> web.Response:
    return web.json_response(office.appliance.health())


# -- changing the queue ---------------------------------------------------------------------

@allowed(*MANAGERS)
async def issue(office: OfficeServer, request: web.Request) -> web.Response:
    data = await body(request, service=(str, lambda v: _service(office, v), "is no service"),
                      vip=(bool, lambda v: True, "must be true or false", False))
    return web.json_response(await office.command(request[SESSION], "issue", **data),
                             status=201)


@allowed(*MANAGERS)
async def find_tickets(office: OfficeServer, request: web.Request) -> web.Response:
    """Every visit of the tickets whose label starts with `label`, over `days` (a customer
    asking where their ticket went)."""
    first, last = _days(office, request)
    label = request.query.get("label", "").upper()
    if not re.fullmatch("[A-Z][0-9]{0,4}", label):
        raise web.HTTPBadRequest(text="label: a letter and up to 4 digits, like A01")
    return web.json_response(await office.read(lambda db: list(sqlite_utils.Database(db).query(
        "SELECT t.day, t.label, t.service, t.state, t.counter, t.teller, t.vip, t.issued_at,"
        " t.called_at, t.finished_at FROM tickets t WHERE t.day BETWEEN ? AND ?"
        " AND t.label LIKE ? ORDER BY t.id LIMIT 200", (first, last, label + "%")))))


MOVES = ("up", "down", "front", "back")


@allowed(*MANAGERS)
async def ticket_action(office: OfficeServer, request: web.Request) -> web.Response:
    label, action = _label(request), request.match_info["action"]
    config = office.appliance.hall.config
    if action == "move":
        params = await body(request, where=(str, MOVES.__contains__,
                                            "must be up, down, front or back"))
    elif action == "transfer":
        params = await body(request,
                            service=(str, lambda v: _service(office, v), "is no service"),
                            keep_place=(bool, lambda v: True, "must be true or false", True))
    elif action == "room":   # left out: back to the department's queue, for any room
        params = await body(request, counter=(int, lambda v: config.counter(v) is not None,
                                              "is no counter of the hall", None))
    elif action == "assign":   # left out: the department's, for any doctor
        params = await body(request, doctor=(str, lambda v: config.teller(v) is not None,
                                             "is no doctor of the hall", None))
    elif action in ("prioritise", "cancel", "hold", "release", "leave"):
        params = {}
    else:
        raise web.HTTPNotFound(text=f"no ticket action {action!r}")
    return web.json_response(await office.command(request[SESSION], action, label=label,
                                                  **params))


# -- the nurse station ------------------------------------------------------------------------

def _stages(office: OfficeServer) -> list[str]:
    """The flow's stages (their services); a hall without any has no departments (404)."""
    stages = [s.service for s in office.appliance.hall.config.hospital.stages]
    if not stages:
        raise web.HTTPNotFound(text="this hall has no departments (no [[stage]] in its"
                                    " configuration)")
    return stages


def _department(office: OfficeServer, request: web.Request) -> str:
    """The department asked for (a stage's service), by default the flow's first."""
    stages = _stages(office)
    prefix = request.query.get("department", stages[0]).upper()
    if prefix not in stages:
        raise web.HTTPNotFound(text=f"no department {prefix[:4]!r}")
    return prefix


@allowed(*MANAGERS)
async def get_nurse(office: OfficeServer, request: web.Request) -> web.Response:
    """A department as its nurse station sees it: patients by stage and room, full names."""
    config, now, prefix = office.appliance.hall.config, time.time(), _department(office, request)
    return web.json_response(await office.read(lambda db: department(db, config, now, prefix)))


@allowed(*MANAGERS)
async def check_in(office: OfficeServer, request: web.Request) -> web.Response:
    """The triage desk: a registered patient's label, a missed one's (they queue again), or a
    booked appointment's number (a ticket is numbered now)."""
    data = await body(request, key=(str, _check_in_key, CHECK_IN_RULE))
    return web.json_response(await office.command(request[SESSION], "check_in",
                                                  key=data["key"].strip()))


@allowed(*MANAGERS)
async def service_action(office: OfficeServer, request: web.Request) -> web.Response:
    prefix, action = request.match_info["prefix"].upper(), request.match_info["action"]
    if not _service(office, prefix):
        raise web.HTTPNotFound(text=f"no service {prefix[:4]!r}")
    if action not in ("open", "close"):
        raise web.HTTPNotFound(text="a service can be opened or closed")
    return web.json_response(await office.command(request[SESSION], action, service=prefix))


@allowed(*MANAGERS)
async def counter_action(office: OfficeServer, request: web.Request) -> web.Response:
    counter, action = _number(request, "number"), request.match_info["action"]
    if office.appliance.hall.config.counter(counter) is None:
        raise web.HTTPNotFound(text=f"no counter {counter}")
    if action not in ("pause", "resume", "logout"):
        raise web.HTTPNotFound(text="a counter can be paused, resumed or logged out")
    return web.json_response(await office.command(request[SESSION], action,
                                                  counter=counter))


# -- the virtual keypad ---------------------------------------------------------------------

def _keypad_counter(office: OfficeServer, request: web.Request) -> int:
    counter, session = _number(request, "number"), request[SESSION]
    if office.appliance.hall.config.counter(counter) is None:
        raise web.HTTPNotFound(text=f"no counter {counter}")
    if session.role == TELLER and session.counter != counter:
        raise web.HTTPForbidden(text=f"this teller works at counter {session.counter}")
    return counter


@allowed(*MANAGERS, TELLER)
async def keypad_text(office: OfficeServer, request: web.Request) -> web.Response:
    counter = _keypad_counter(office, request)
    return web.json_response({"counter": counter,
                              "text": office.appliance.keypad_texts.get(counter, "")})


@allowed(*MANAGERS, TELLER)
async def keypad_key(office: OfficeServer, request: web.Request) -> web.Response:
    """One key, as a hardware keypad sends it: applied once however often the page sends the
    same `request` id (a retry after a lost answer)."""
    counter = _keypad_counter(office, request)
    data = await body(request, key=(str, lambda v: re.fullmatch("[a-z]{1,10}", v), "is no key"),
                      words=(list, lambda v: len(v) <= 3 and all(
                          isinstance(w, str) and WORD.fullmatch(w) for w in v),
                          "must be up to 3 words of letters and digits", []),
                      request=(str, lambda v: re.fullmatch("[A-Za-z0-9-]{8,64}", v),
                               "must be 8-64 letters, digits or -"))
    await office.key(request[SESSION], counter, data["key"], data["words"], data["request"])
    return web.json_response({"counter": counter,
                              "text": office.appliance.keypad_texts.get(counter, "")})


# -- reports ---------------------------------------------------------------------------------

def _days(office: OfficeServer, request: web.Request) -> tuple[str, str]:
    try:
        return statistics.day_range(request.query.get("days", "today")[:40],
                                    office.appliance.hall.today(time.time()))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


async def _report(office: OfficeServer, request: web.Request) -> tuple:
    """(first, last, figures, estimates, hours, hospital) of the `days` asked for, read in the
    worker process in one call; hospital is None in a hall without [[stage]]s."""
    first, last = _days(office, request)
    return (first, last, *await office.appliance.in_process(
        visit_statistics.report, office.appliance.paths.database, first, last,
        office.appliance.hall.config, time.time()))


@allowed(*MANAGERS)
async def report(office: OfficeServer, request: web.Request) -> web.Response:
    config = office.appliance.hall.config   # (the one _report reads with: no await between)
    first, last, figures, estimates, hours, hospital = await _report(office, request)
    return web.json_response({
        "first": first, "last": last, "estimates": estimates,
        "hours": [{"hour": h, "issued": i, "finished": f} for h, i, f, *_ in hours],
        "figures": {by: {str(key): vars(f) for key, f in rows.items()}
                    for by, rows in figures.items()},
        "hospital": hospital and _named(hospital, config)})


def _named(hospital: dict, config: HallConfig) -> dict:
    """A hospital's figures, each stage's with its names, each doctor's with theirs (None for
    one no longer configured)."""
    services = {s.prefix: s for s in config.services}
    tellers = {t.id: t.name for t in config.tellers}
    return {"stages": {key: {"name_zh": services[key].name_zh,
                             "name_en": services[key].name_en, **f}
                       for key, f in hospital["stages"].items()},
            "doctors": {key: {"name": tellers.get(key), **f}
                        for key, f in hospital["doctors"].items()},
            "visits": hospital["visits"]}


@allowed(*MANAGERS)
async def report_csv(office: OfficeServer, request: web.Request) -> web.Response:
    first, last, figures, *_ = await _report(office, request)
    return _csv("queue", first, last, [f.name for f in fields(statistics.Figures)],
                ((by, key, vars(f)) for by, rows in figures.items() for key, f in rows.items()))


@allowed(*MANAGERS)
async def hospital_csv(office: OfficeServer, request: web.Request) -> web.Response:
    """A hospital's figures: a row per stage and per doctor, and one (key "all") for the whole
    visits."""
    _stages(office)   # (none: 404)
    first, last, *_, hospital = await _report(office, request)
    rows = [*(("stage", key, f) for key, f in hospital["stages"].items()),
            *(("doctor", key, f) for key, f in hospital["doctors"].items()),
            ("visits", "all", hospital["visits"])]
    return _csv("hospital", first, last, dict.fromkeys(name for *_, f in rows for name in f),
                rows)


def _csv(name: str, first: str, last: str, columns, rows) -> web.Response:
    """`rows` of (by, key, {column: value}) as a CSV download, each with the days it covers;
    a column a row lacks is left empty."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["from", "to", "by", "key", *columns])
    writer.writeheader()
    for by, key, values in rows:
        writer.writerow({"from": first, "to": last, "by": by, "key": key, **values})
    return web.Response(text=out.getvalue(), content_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{name}-{first}-{last}.csv"'})


CHARTS = ("hourly", "waits", "ratings")


@allowed(*MANAGERS)
async def chart_svg(office: OfficeServer, request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in CHARTS:
        raise web.HTTPNotFound(text=f"charts: {', '.join(CHARTS)}")
    first, last = _days(office, request)
    svg = await office.appliance.in_process(chart, name, office.appliance.paths.database,
                                            first, last, office.appliance.hall.config)
    return web.Response(body=svg, content_type="image/svg+xml", headers={
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


# -- the configuration ------------------------------------------------------------------------

@allowed(ADMIN)
async def get_config(office: OfficeServer, request: web.Request) -> web.Response:
    text = await asyncio.to_thread(office.appliance.paths.config.read_text, encoding="utf-8")
    if request.query.get("download"):
        return web.Response(text=text, content_type="application/toml", headers={
            "Content-Disposition": 'attachment; filename="config.toml"'})
    return web.json_response({"text": text, "file": str(office.appliance.paths.config)})


@allowed(ADMIN)
async def put_config(office: OfficeServer, request: web.Request) -> web.Response:
    """The edited file: checked like a reload (which option of which table is wrong, and
    why), then installed and applied; refused, it changes nothing."""
    data = await body(request, text=(str, lambda v: len(v.encode()) <= MAX_CONFIG_BYTES,
                                     f"must be at most {MAX_CONFIG_BYTES} bytes"))
    try:
        later = await office.appliance.configure(data["text"].encode(), request[SESSION].user)
    except ConfigError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response({"applied": True, "at_next_start": later})


@allowed(ADMIN)
async def stick_files(office: OfficeServer, request: web.Request) -> web.Response:
    """The running configuration as a USB stick for this box wants it: a zip of the file and
    its signature with this box's installation key (unpack it at the stick's top)."""
    data = await asyncio.to_thread(office.appliance.paths.config.read_bytes)
    key = await asyncio.to_thread(read_key, office.appliance.paths.data)
    if key is None:
        raise web.HTTPConflict(text="this box has no installation key")
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr(CONFIG_NAME, data)
        archive.writestr(SIGNATURE_NAME, sign({CONFIG_NAME: hashlib.sha256(data).hexdigest()},
                                              key))
    return web.Response(body=packed.getvalue(), content_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="queue-config-stick.zip"'})


# -- system updates --------------------------------------------------------------------------

@allowed(ADMIN)
async def install_update(office: OfficeServer, request: web.Request) -> web.Response:
    """A system update (a RAUC bundle) as the request's body or a form's file: written to the
    data directory's update folder, installed by RAUC through the update helper, then removed
    whatever happened. One at a time."""
    appliance = office.appliance
    if update.rauc() is None:
        raise web.HTTPNotImplemented(text="this box has no rauc: it is not updated")
    if appliance.updates.lock.locked():
        raise web.HTTPConflict(text="a system update is being received or installed already")
    await appliance.updates.lock.acquire()   # (free: nothing was awaited since it was asked)
    try:
        path = await _receive_bundle(request, appliance.paths.data)
    except BaseException:
        appliance.updates.lock.release()
        raise
    problem = await asyncio.shield(appliance.updates.install_received(
        path, f"the back office ({request[SESSION].user})"))   # (a page closed: RAUC goes on)
    if problem is not None:
        raise web.HTTPUnprocessableEntity(text=f"not installed, nothing changed: {problem}")
    return web.json_response({"installed": True, "restarting": True})


async def _receive_bundle(request: web.Request, data: Path) -> Path:
    """The bundle sent as the body (or a multipart form's first file), written off the loop to
    update.incoming(data, "upload"); refused (400, 413, 507), nothing is left."""
    room = await asyncio.to_thread(update.room, data)
    if request.content_type != "multipart/form-data":
        _bundle_fits(request.content_length or 0, room)
        chunks = request.content.iter_chunked(1 << 16)
    else:
        reader = await request.multipart()
        while (part := await _within(reader.next())) is not None and \
                not getattr(part, "filename", None):
            await _within(part.release())
        if part is None:
            raise web.HTTPBadRequest(text="the form holds no file")
        chunks = _part_chunks(part)
    path, size, pending = update.incoming(data, "upload"), 0, []
    try:
        with open(path, "wb") as out:
            while (chunk := await _within(anext(chunks, b""))):
                size += len(chunk)
                _bundle_fits(size, room)
                pending.append(chunk)
                if sum(map(len, pending)) >= 1 << 20:   # (a thread hop a MiB, not a chunk)
                    await asyncio.to_thread(out.write, b"".join(pending))
                    pending.clear()
            await asyncio.to_thread(out.write, b"".join(pending))
        if size == 0:
            raise web.HTTPBadRequest(text="no file was sent")
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return path


async def _within(step: Awaitable):
    """`step` of an upload, or 408 after UPLOAD_SILENCE seconds without a byte: a sender that
    stalls (a laptop asleep) must not hold the one update there is for ever."""
    try:
        return await asyncio.wait_for(step, UPLOAD_SILENCE)
    except asyncio.TimeoutError:
        raise web.HTTPRequestTimeout(text=f"nothing came for {UPLOAD_SILENCE:.0f} s: the upload"
                                          " was given up") from None


def _bundle_fits(size: int, room: int) -> None:
    if size > update.MAX_BUNDLE:
        raise web.HTTPRequestEntityTooLarge(
            max_size=update.MAX_BUNDLE, actual_size=size,
            text=f"a system update may have {update.MAX_BUNDLE >> 20} MB at most")
    if size > room:
        raise web.HTTPInsufficientStorage(
            text=f"the data partition has room for {room >> 20} MB, and"
                 f" {update.RESERVE >> 20} MB more must stay free for the queue")


async def _part_chunks(part) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(1 << 16):
        yield chunk


# -- users and tokens -------------------------------------------------------------------------

@allowed(ADMIN)
async def list_users(office: OfficeServer, request: web.Request) -> web.Response:
    found = await office.read(users.users)
    return web.json_response([{"name": u.name, "role": u.role, "counter": u.counter}
                              for u in found])


@allowed(ADMIN)
async def add_user(office: OfficeServer, request: web.Request) -> web.Response:
    data = await body(request, name=(str, NAME.fullmatch, NAME_RULE),
                      role=(str, (ADMIN, SUPERVISOR, TELLER).__contains__,
                            "must be admin, supervisor or teller"),
                      password=(str, _password, PASSWORD_RULE),
                      counter=(int, lambda v: office.appliance.hall.config.counter(v) is not None,
                               "is no counter of the hall", None))
    if (data["role"] == TELLER) != (data["counter"] is not None):
        raise web.HTTPBadRequest(text="a teller, and only a teller, has a counter")
    hashed = await office.hash_password(data.pop("password"))
    return web.json_response(await office.command(request[SESSION], "add_user",
                                                  password_hash=hashed, **data), status=201)


@allowed(ADMIN)
async def remove_user(office: OfficeServer, request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not NAME.fullmatch(name):
        raise web.HTTPBadRequest(text="no such user name")
    result = await office.command(request[SESSION], "remove_user", name=name)
    office.sessions.close_user(name)
    return web.json_response(result)


@allowed(ADMIN)
async def add_token(office: OfficeServer, request: web.Request) -> web.Response:
    """A token for a machine client (the HIS, an online platform): shown once, kept hashed."""
    data = await body(request, label=(str, NAME.fullmatch, NAME_RULE),
                      role=(str, MANAGERS.__contains__, "must be admin or supervisor"))
    token = secrets.token_urlsafe(32)
    await office.command(request[SESSION], "add_token", label=data["label"],
                         token_hash=hashlib.sha256(token.encode()).hexdigest(), role=data["role"])
    return web.json_response({**data, "token": token}, status=201)


@allowed(ADMIN)
async def list_tokens(office: OfficeServer, request: web.Request) -> web.Response:
    return web.json_response(await office.read(lambda db: list(sqlite_utils.Database(db).query(
        "SELECT label, role, created_at FROM tokens ORDER BY label"))))


@allowed(ADMIN)
async def remove_token(office: OfficeServer, request: web.Request) -> web.Response:
    """A token revoked: its client is refused from its next request (an open stream ends)."""
    label = request.match_info["label"]
    if not NAME.fullmatch(label):
        raise web.HTTPBadRequest(text="no such token label")
    return web.json_response(await office.command(request[SESSION], "remove_token",
                                                  label=label))


# -- the playlist ---------------------------------------------------------------------------

SCHEDULE = {"days": (str, lambda v: True, "", "1234567"), "hours": (str, lambda v: True, "", None),
            "first_day": (str, lambda v: True, "", None),
            "last_day": (str, lambda v: True, "", None)}   # (queue_core.playlist checks them)


def _seconds(value: object) -> bool:
    return type(value) is int and playlist.SECONDS[0] <= value <= playlist.SECONDS[1]


SECONDS_RULE = f"must be {playlist.SECONDS[0]} to {playlist.SECONDS[1]}"


@allowed(*MANAGERS)
async def get_playlist(office: OfficeServer, request: web.Request) -> web.Response:
    return web.json_response([item.as_dict() for item in await office.read(playlist.items)])


@allowed(*MANAGERS)
async def add_text(office: OfficeServer, request: web.Request) -> web.Response:
    data = await body(request, text=(str, lambda v: True, ""),
                      seconds=(int, _seconds, SECONDS_RULE), **SCHEDULE)
    return web.json_response(await office.command(request[SESSION], "playlist_add",
                                                  kind="text", **data), status=201)


@allowed(*MANAGERS)
async def add_file(office: OfficeServer, request: web.Request) -> web.Response:
    """An image or a video as the request's body; its duration and schedule in the query."""
    query = dict(request.query)
    if unknown := set(query) - {"seconds", *SCHEDULE}:
        raise web.HTTPBadRequest(text=f"unknown parameter {sorted(unknown)[0]!r}")
    if len(query) != len(request.query):
        raise web.HTTPBadRequest(text="a parameter is given twice")
    text = query.pop("seconds", "")
    if not DIGITS.fullmatch(text) or not _seconds(int(text)):
        raise web.HTTPBadRequest(text=f"parameter 'seconds' {SECONDS_RULE}")
    async with office.media_lock:   # one upload at a time: limits, files and items agree
        kind, name = await _receive(request.content.iter_chunked(1 << 16),
                                    office.appliance.paths.data)
        try:
            result = await office.command(request[SESSION], "playlist_add", kind=kind,
                                          file=name, seconds=int(text), **query)
        finally:
            await sweep_media(office)   # (refused: the file goes, unless an item has it)
    return web.json_response(result, status=201)


@allowed(*MANAGERS)
async def remove_item(office: OfficeServer, request: web.Request) -> web.Response:
    async with office.media_lock:
        result = await office.command(request[SESSION], "playlist_remove",
                                      item=_item(request))
        await sweep_media(office)
    return web.json_response(result)


@allowed(*MANAGERS)
async def move_item(office: OfficeServer, request: web.Request) -> web.Response:
    data = await body(request, position=(int, lambda v: v >= 1, "must be 1 or more"))
    return web.json_response(await office.command(
        request[SESSION], "playlist_move", item=_item(request), **data))


def _item(request: web.Request) -> int:
    text = request.match_info["item"]
    if not DIGITS.fullmatch(text) or len(text) > 9:
        raise web.HTTPBadRequest(text="a playlist item is a number")
    return int(text)


async def _receive(chunks: AsyncIterator[bytes], data: Path) -> tuple[str, str]:
    """Keep the file uploaded as `chunks` (media.keep): (its kind, its name). An HTTP error
    says what is wrong with it (nothing is kept then)."""
    used = await asyncio.to_thread(media.used_bytes, data)
    path, size = media.incoming(data, str(id(chunks))), 0
    try:
        with open(path, "wb") as out:
            while (chunk := await _within(anext(chunks, b""))):
                size += len(chunk)
                if size > media.FILE_BYTES or used + size > media.TOTAL_BYTES:
                    raise web.HTTPRequestEntityTooLarge(
                        max_size=min(media.FILE_BYTES, media.TOTAL_BYTES - used),
                        actual_size=size,
                        text=media.too_large(size))
                out.write(chunk)
        try:
            return await asyncio.to_thread(media.keep, path, data)   # (decoding takes time)
        except media.MediaRefused as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
    finally:
        path.unlink(missing_ok=True)


async def sweep_media(office: OfficeServer) -> None:
    """The playlist's files that no item uses, removed (off the loop); under the office's
    media_lock, or at its start."""
    used = await office.read(playlist.files)
    await asyncio.to_thread(media.sweep, office.appliance.paths.data, used)


def routes(app: web.Application, office: OfficeServer) -> None:
    def bind(handler):
        async def bound(request: web.Request) -> web.StreamResponse:
            return await handler(office, request)
        return bound

    for method, path, handler in (
            ("POST", "/api/setup", setup), ("POST", "/api/sign-in", sign_in),
            ("POST", "/api/sign-out", sign_out), ("GET", "/api/me", me),
            ("GET", "/api/monitor", get_monitor), ("GET", "/api/queue", get_queue),
            ("GET", "/api/events", events), ("GET", "/api/devices", devices),
            ("POST", "/api/tickets", issue), ("GET", "/api/tickets", find_tickets),
            ("POST", "/api/tickets/{label}/{action}", ticket_action),
            ("GET", "/api/nurse", get_nurse), ("POST", "/api/nurse/check-in", check_in),
            ("POST", "/api/services/{prefix}/{action}", service_action),
            ("POST", "/api/counters/{number}/{action}", counter_action),
            ("GET", "/api/keypads/{number}", keypad_text),
            ("POST", "/api/keypads/{number}", keypad_key),
            ("GET", "/api/reports", report), ("GET", "/api/reports.csv", report_csv),
            ("GET", "/api/reports/hospital.csv", hospital_csv),
            ("GET", "/api/charts/{name}.svg", chart_svg),
            ("GET", "/api/users", list_users), ("POST", "/api/users", add_user),
            ("POST", "/api/users/{name}/remove", remove_user),
            ("POST", "/api/tokens", add_token), ("GET", "/api/tokens", list_tokens),
            ("POST", "/api/tokens/{label}/remove", remove_token),
            ("GET", "/api/config", get_config), ("POST", "/api/config", put_config),
            ("GET", "/api/config/stick.zip", stick_files),
            ("POST", "/api/update", install_update),
            ("GET", "/api/playlist", get_playlist), ("POST", "/api/playlist", add_text),
            ("POST", "/api/playlist/file", add_file),
            ("POST", "/api/playlist/{item}/remove", remove_item),
            ("POST", "/api/playlist/{item}/move", move_item)):
        app.router.add_route(method, path, bind(handler))
