"""The back office's HTTP server: aiohttp in the appliance's own loop, started after READY.

Reads (pages, reports) go through read-only connections off the loop; every change is an
OfficeCommand posted into the loop's inbox like a button press, answered once committed.
Security: HTTPS (a per-box certificate, or the hall's), server-side sessions in a
`SameSite=Strict` cookie, an Origin check plus a per-session token on every change, sign-in
delays, and headers that keep pages to the box's own origin (it has no internet).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import socket
import sqlite3
import ssl
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from aiohttp import web

from config.office import OfficeConfig
from drivers.events import OfficeCommand, counter_key
from firmware.office.feed import Feed
from firmware.office.screen import Screens
from firmware.office.sessions import Session, Sessions, SetupCode, sign_in_guard
from media.ticket import NoteLayout
from queue_core import errors, users
from queue_core.pins import hash_password
from queue_core.storage import read_only

if TYPE_CHECKING:
    from firmware.main import Appliance

log = logging.getLogger(__name__)

COOKIE = "queue_session"
SESSION = web.RequestKey("session", object)   # the request's Session, or None
BEARER = web.RequestKey("bearer", bool)       # it came with a machine client's token
MAX_BODY = 1 << 20       # bytes: a configuration file (256 KiB, escaped in JSON) is the most
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self';"
                               " script-src 'self'; connect-src 'self'; object-src 'none';"
                               " base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
STATUS = {errors.UnknownTicket: 404, errors.UnknownService: 404, errors.UnknownCounter: 404,
          errors.UserRefused: 400, errors.PlaylistRefused: 400, errors.LoginDelayed: 429}


class OfficeServer:
    """The back office of one appliance.

    Example::

        office = OfficeServer(appliance, config.office)
        await office.start()     # after READY; a failure to bind is reported, not raised
        office.changed()         # the loop, after each commit: live pages update
    """

    def __init__(self, appliance: Appliance, config: OfficeConfig):
        self.appliance, self.config = appliance, config
        self.sessions = Sessions(config.session_minutes * 60.0)
        self.guard = sign_in_guard()
        self.setup = SetupCode()
        self.feed: Feed | None = None
        self.screens = Screens(self)
        self.runner: web.AppRunner | None = None
        self.screen_runner: web.AppRunner | None = None
        self.url: str | None = None
        self._tasks: set[asyncio.Task] = set()
        own = socket.gethostname().lower()
        self.names = {own, f"{own}.local", "localhost",
                      *(name.lower().rstrip(".") for name in config.names)}
        self.media_lock = asyncio.Lock()   # the playlist's files: one change at a time
        self.checking = asyncio.Lock()   # one password checked or hashed at a time: a flood
        #                                  of sign-ins waits its turn, and takes no more cores

    # -- running -----------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        from firmware.office import api, pages

        app = web.Application(client_max_size=MAX_BODY, middlewares=[
            self._errors, self._host, self._authenticate, self._csrf])
        app.on_response_prepare.append(_secure_headers)
        api.routes(app, self)
        pages.routes(app)
        self.feed = Feed(self.read)
        app.on_startup.append(lambda app: self._spawn(self.feed.run()))
        app.on_shutdown.append(self.feed.end_streams)
        app.on_cleanup.append(lambda app: self.stop_tasks())
        return app

    async def start(self) -> None:
        self.runner = web.AppRunner(self.make_app(), access_log=None, handler_cancellation=True)
        await self.runner.setup()
        try:
            context = await asyncio.to_thread(self._tls) if self.config.tls else None
            site = web.TCPSite(self.runner, self.config.address, self.config.port,
                               ssl_context=context)
            await site.start()
        except (OSError, ssl.SSLError, subprocess.SubprocessError) as exc:
            log.error("back office not started on %s:%d: %s", self.config.address,
                      self.config.port, exc)
            self.appliance.devices.office.report(f"back office not started: {exc}")
            await self.runner.cleanup()
            self.runner = None
            return
        host = socket.gethostname() if not self.config.loopback else self.config.address
        self.url = f"{'https' if self.config.tls else 'http'}://{host}:{self.config.port}/"
        log.info("back office at %s", self.url)
        self.appliance.devices.office.report(f"back office: {self.url}")
        if not await self.read(users.has_admin):
            self.new_setup_code()
        from firmware.office.api import sweep_media
        await sweep_media(self)   # (what an upload cut by a power cut left)
        if self.config.screen_port:
            await self._start_screens()

    async def _start_screens(self) -> None:
        """The hall screens' own port, plain HTTP: a TV's browser knows no box certificate."""
        runner = web.AppRunner(self.screens.make_app(), access_log=None,
                               handler_cancellation=True)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.config.address, self.config.screen_port).start()
        except OSError as exc:
            log.error("hall screens not started on %s:%d: %s", self.config.address,
                      self.config.screen_port, exc)
            self.appliance.devices.office.report(f"hall screens not started: {exc}")
            await runner.cleanup()
            return
        self.screen_runner = runner
        host = socket.gethostname() if not self.config.loopback else self.config.address
        log.info("hall screens at http://%s:%d/screen/", host, self.config.screen_port)

    async def stop(self) -> None:
        for runner in (self.screen_runner, self.runner):
            if runner is not None:
                await runner.cleanup()

    async def _spawn(self, work) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _tls(self) -> ssl.SSLContext:
        """The hall's certificate if configured, else the box's own (made at first start)."""
        if self.config.certificate:
            certificate, key = Path(self.config.certificate), Path(self.config.key)
        else:
            certificate, key = own_certificate(self.appliance.paths.data)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate, key)
        return context

    def changed(self) -> None:
        if self.feed is not None:
            self.feed.changed()
        self.screens.changed()

    def new_setup_code(self) -> None:
        """A one-time code on the ticket printer (never in a log), and the address on the
        wall: the first admin, or a technician resetting a forgotten password, uses it."""
        code = self.setup.new()
        url = self.url or "the back office"
        self.appliance.print_note(NoteLayout(
            day=self.appliance.hall.today(time.time()), label="office-setup", big=code,
            lines=("Back office setup code", "后台设置码", url), qr=f"{url}setup"))
        self.appliance.devices.display.notice(f"BACK OFFICE {url}", 600)
        log.info("back office: a setup code was printed")

    # -- reading and changing ----------------------------------------------------------------

    async def hash_password(self, password: str) -> str:
        """Hashed on a thread (slow by design), one password at a time (see `checking`)."""
        async with self.checking:
            return await asyncio.to_thread(hash_password, password)

    async def read(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        """`query(db)` on a read-only connection, in a thread: the loop never waits on it."""
        return await asyncio.to_thread(_on_read_only, self.appliance.paths.database, query)

    async def command(self, session: Session, command: str, **params) -> Any:
        """Post one change into the loop as `session`'s user; its result once committed."""
        done = asyncio.get_running_loop().create_future()
        self.appliance.inbox.post(OfficeCommand(command, time.time(), params, session.user,
                                                done))
        return await done

    async def key(self, session: Session, counter: int, key: str, words: list[str],
                  request: str) -> None:
        """A key of the virtual keypad of `counter`, like a hardware keypad's: applied once per
        `request` id, answered once committed (or refused: the keypad's text says why)."""
        try:
            event = counter_key(counter, key, words, time.time())
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        done = asyncio.get_running_loop().create_future()
        self.appliance.inbox.post(replace(event, request=(f"office:{counter}", request),
                                          done=done, user=session.user))
        await done

    # -- middlewares -------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler) -> web.StreamResponse:
        """A refusal as JSON with a clear status: what was wrong, never a traceback."""
        try:
            return await handler(request)
        except errors.QueueError as exc:   # the hall refused: nothing changed
            return web.json_response({"error": str(exc), "display": exc.display},
                                     status=STATUS.get(type(exc), 409))
        except web.HTTPException as exc:
            if exc.status >= 400 and request.path.startswith("/api/"):
                return web.json_response({"error": exc.text or exc.reason}, status=exc.status)
            raise

    @web.middleware
    async def _host(self, request: web.Request, handler) -> web.StreamResponse:
        """Only requests to one of the box's own names or addresses: a page of another site
        whose name was pointed at the box (DNS rebinding) is refused."""
        host = (request.host or "").rsplit(":", 1)[0].strip("[]").lower().rstrip(".")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host not in self.names:
                raise web.HTTPMisdirectedRequest(text="this box does not answer to that name")
        return await handler(request)

    @web.middleware
    async def _authenticate(self, request: web.Request, handler) -> web.StreamResponse:
        """The session of the cookie, or of a machine client's `Authorization: Bearer`
        token; None when neither (the handlers say who may)."""
        request[SESSION], request[BEARER] = None, False
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            found = await self.read(lambda db: token_identity(db, authorization[7:].strip()))
            if found is None:
                raise web.HTTPUnauthorized(text="unknown token")
            request[SESSION], request[BEARER] = Session(f"token:{found[0]}", found[1], None), True
        else:
            request[SESSION] = self.sessions.get(request.cookies.get(COOKIE))
        return await handler(request)

    @web.middleware
    async def _csrf(self, request: web.Request, handler) -> web.StreamResponse:
        """A change from a browser must come from a page of this box (its Origin) and carry
        its session's token; Chromium sends no Sec-Fetch-Site over HTTP to a LAN name, so
        that header is not relied on."""
        if request.method not in ("GET", "HEAD", "OPTIONS") and not request[BEARER]:
            if request.headers.get("Origin") != f"{request.scheme}://{request.host}":
                raise web.HTTPForbidden(text="refused: the request did not come from a page"
                                             " of this back office")
            session = request[SESSION]
            if session is not None and request.headers.get("X-CSRF-Token") != session.csrf:
                raise web.HTTPForbidden(text="refused: the page's form token is missing or"
                                             " old; reload the page")
        return await handler(request)


async def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():   # (a chart's own CSP lets its inline styles apply)
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")


def _on_read_only(database: Path, query: Callable[[sqlite3.Connection], Any]) -> Any:
    db = read_only(database)
    db.row_factory = sqlite3.Row
    try:
        return query(db)
    finally:
        db.close()


def token_identity(db: sqlite3.Connection, token: str) -> tuple[str, str] | None:
    """The label and role of a machine client's token, or None (unknown, or revoked)."""
    row = db.execute("SELECT label, role FROM tokens WHERE token_hash = ?",
                     (hashlib.sha256(token.encode()).hexdigest(),)).fetchone()
    return (row[0], row[1]) if row else None


def own_certificate(data: Path) -> tuple[Path, Path]:
    """The box's self-signed certificate (EC P-256, ten years, its host name and loopback),
    made by openssl at first start; the key is readable by the appliance only."""
    certificate, key = data / "office.crt", data / "office.key"
    if not (certificate.exists() and key.exists()):
        name = socket.gethostname()
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650", "-subj", f"/CN={name}",
             "-addext", f"subjectAltName=DNS:{name},DNS:{name}.local,DNS:localhost,"
             "IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
            check=True, capture_output=True, timeout=30)
    return certificate, key
