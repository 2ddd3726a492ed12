"""The hall screens: one public page per `[[screen]]`, on a plain-HTTP port of their own, live
by Server-Sent Events. No sign-in: a screen shows only what the hall's walls show (calls,
queues, estimates, a hospital's rooms with names masked by its privacy setting; no teller, no
alarm), and takes no request that changes anything.

After each commit one reader computes the screens' state off the loop; every stream is sent
the newest state, never a backlog, so a screen that was away catches up with one message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import time
from html import escape
from typing import TYPE_CHECKING

from aiohttp import web

from config.screens import ScreenConfig
from firmware.office import media
from media.speech import PLACES
from queue_core.model import HallConfig
from queue_core.monitor import hall_screen
from queue_core.playlist import FILE

if TYPE_CHECKING:
    from firmware.office.server import OfficeServer

log = logging.getLogger(__name__)

STREAMS = 64        # screens connected at once; more are refused (a flood from the LAN)
KEEPALIVE = 15.0    # seconds between comment lines on an idle stream
REFRESH = 30.0      # seconds: estimates and the clock move on without a commit too
SHELL = """<!doctype html>
<html lang="zh-CN" translate="no"><head><meta charset="utf-8">
<meta name="google" content="notranslate">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="stylesheet" href="/static/screen.css">
<script src="/static/screen.js" defer></script></head>
<body data-screen="{name}" data-layout="{layout}" data-zones="{zones}" data-zone="{zone}">
<header><h1 id="hall"></h1><p id="clock"></p></header>
<p id="reconnecting" hidden>正在重新连接 · Reconnecting</p>
<main>{main}</main></body></html>
"""
ZONE_HTML = {
    "calls": '<section id="calls"><div id="newest"></div><ol id="recent"></ol></section>',
    "waiting": '<section id="waiting"><table><thead><tr><th>业务 Service</th>'
               '<th>等候 Waiting</th><th>预计 Wait</th></tr></thead><tbody></tbody></table>'
               '</section>',
    "info": '<section id="info"></section>',
    "rooms": '<section id="rooms"><ol class="rooms"></ol><p class="count"></p></section>',
}
UNSHOWABLE_EVERY = 3600.0   # seconds: an item a screen cannot show is reported once this often
UNSHOWABLE_GAP = 10.0       # seconds between any two such reports (anyone can send one)
STREAMS_AN_ADDRESS = 8      # streams from one address (a TV shows one; the box's own kiosk
LOOPBACK = ("127.0.0.1", "::1")   # is not counted)
FILE_ID = re.compile(r"[0-9]{1,9}")


class Screens:
    """The hall screens of one box: `make_app` serves them, `changed` after each commit."""

    def __init__(self, office: OfficeServer):
        self.office = office
        self.state: dict | None = None         # the newest state, for every screen
        self.streams: set[asyncio.Queue] = set()
        self._wake = asyncio.Event()
        self._reported: dict[int, float] = {}   # item id -> when it was last reported
        self._chime: dict | None = None         # the call being said now (its id grows)
        self._from: dict[str, int] = {}         # streams open, by the address they come from
        self._report_at = -UNSHOWABLE_GAP       # (monotonic) when any item was last reported

    def make_app(self) -> web.Application:
        from firmware.office.pages import STATIC
        from firmware.office.server import _secure_headers

        app = web.Application(middlewares=[self.office._host])
        app.on_response_prepare.append(_secure_headers)
        app.router.add_get("/screen/{name}", self.page)
        app.router.add_get("/screen/{name}/feed", self.feed)
        app.router.add_post("/screen/{name}/unshowable", self.unshowable)
        app.router.add_get("/media/{file}", self.media)
        for name in ("screen.js", "screen.css"):   # (not the back office's own)
            app.router.add_get(f"/static/{name}", _static(STATIC / name))
        app.on_startup.append(lambda app: self.office._spawn(self.run()))
        app.on_shutdown.append(self._end_streams)
        return app

    def changed(self) -> None:
        self._wake.set()

    def chime(self, counter: int, label: str) -> None:
        """A call is being said now (its chime sounds): the screens that show it flash it."""
        self._chime = {"id": (self._chime or {"id": 0})["id"] + 1, "counter": counter,
                       "label": label}
        if self.state is not None:
            self._hand_out()

    def _hand_out(self) -> None:
        for queue in list(self.streams):
            if queue.full():
                if queue.get_nowait() is None:
                    queue.put_nowait(None)   # (it is ending)
                    continue
                # a screen behind gets the newest state only
            queue.put_nowait(self.state)

    async def _end_streams(self, app: web.Application) -> None:
        """The server stops: every stream ends now (the screens reconnect by themselves)."""
        for queue in list(self.streams):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    async def run(self) -> None:
        """Compute the state after each commit (and every REFRESH seconds) and hand it to
        every stream, while any screen is connected (none: nothing is read, and the first one
        to connect wakes this); a failed read (a database being recovered) is logged and tried
        again."""
        while True:
            config = self.office.appliance.hall.config
            rooms = any("rooms" in s.zones for s in self.office.appliance.config.screens)
            try:
                self.state = None if not self.streams else await self.office.read(
                    lambda db: hall_screen(db, config, self.office.appliance.clock(),
                                           rooms=rooms))
            except sqlite3.Error:
                log.exception("hall screens: reading the state")
                await asyncio.sleep(1.0)
                continue
            self._hand_out()
            try:
                await asyncio.wait_for(self._wake.wait(), REFRESH)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    def _screen(self, request: web.Request) -> ScreenConfig:
        name = request.match_info["name"]
        for screen in self.office.appliance.config.screens:
            if screen.name == name:
                return screen
        raise web.HTTPNotFound(text="no such screen: see [[screen]] in the configuration")

    async def page(self, request: web.Request) -> web.Response:
        screen = self._screen(request)
        config = self.office.appliance.hall.config
        html = SHELL.format(title=escape(config.name_zh or config.name), name=screen.name,
                            layout=screen.layout, zones=" ".join(screen.zones),
                            zone=config.time_zone,
                            main="".join(ZONE_HTML[zone] for zone in screen.zones))
        return web.Response(text=html, content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def feed(self, request: web.Request) -> web.StreamResponse:
        """The screen's state now, then after every change, for as long as the screen stays
        configured."""
        screen = self._screen(request)
        address = request.remote or ""
        if address not in LOOPBACK and (len(self.streams) >= STREAMS or
                                        self._from.get(address, 0) >= STREAMS_AN_ADDRESS):
            raise web.HTTPServiceUnavailable(text="too many screens connected")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store"})
        await response.prepare(request)
        queue: asyncio.Queue = asyncio.Queue(1)
        self.streams.add(queue)
        self._from[address] = self._from.get(address, 0) + 1
        if self.state is None:   # the first screen: the state is read now
            self._wake.set()
        try:
            state = self.state
            while screen in self.office.appliance.config.screens:
                if state is not None:
                    shown = json.dumps({**for_screen(state, screen,
                                                     self.office.appliance.hall.config),
                                        "now": self.office.appliance.clock(),
                                        "chime": self._chime}, ensure_ascii=False)
                    await response.write(f"id: {state['last_event']}\nevent: state\n"
                                         f"data: {shown}\n\n".encode())
                try:
                    state = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except asyncio.TimeoutError:
                    state = None
                    await response.write(b": keepalive\n\n")
                    continue
                if state is None:   # the server stops
                    break
        except ConnectionResetError:
            pass
        finally:
            self.streams.discard(queue)
            self._from[address] -= 1
            if not self._from[address]:
                del self._from[address]
        return response

    async def media(self, request: web.Request) -> web.FileResponse:
        """A playlist file (named by its content's sha256: it never changes)."""
        name = request.match_info["file"]
        if FILE.fullmatch(name) is None:
            raise web.HTTPNotFound()
        path = media.folder(self.office.appliance.paths.data) / name
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={
            "Content-Type": media.CONTENT_TYPES[name.rsplit(".", 1)[1]],
            "Cache-Control": "public, max-age=31536000, immutable"})

    async def unshowable(self, request: web.Request) -> web.Response:
        """A screen could not show a playlist item (a file its browser cannot play): it skips
        it, and it is reported (the log, the back office) once an hour at most. Nothing is
        changed: a stranger on the LAN could send this too."""
        screen = self._screen(request)
        if request.headers.get("Origin") != f"{request.scheme}://{request.host}":
            raise web.HTTPForbidden(text="not from a page of this box")
        text = await request.text()
        shown = {item["id"]: item for item in (self.state or {}).get("playlist", [])
                 if item["file"]}
        if not FILE_ID.fullmatch(text) or int(text) not in shown:
            raise web.HTTPBadRequest(text="no such image or video showing")
        item, now = shown[int(text)], time.monotonic()
        if now - self._reported.get(item["id"], -UNSHOWABLE_EVERY) >= UNSHOWABLE_EVERY and \
                now - self._report_at >= UNSHOWABLE_GAP:
            self._reported[item["id"]] = self._report_at = now
            log.warning("hall screen %s cannot show playlist item %d (%s): skipped",
                        screen.name, item["id"], item["file"])
            self.office.appliance.devices.office.report(
                f"screen {screen.name} cannot show playlist item {item['id']}: skipped")
        return web.Response(status=204)


def for_screen(state: dict, screen: ScreenConfig, config: HallConfig) -> dict:
    """The part of `state` that `screen` shows, with each call's and room's place in the words
    the announcement says ("3 号诊室", "room 3"); its rooms: its counters, or those serving its
    services (none without the "rooms" zone)."""
    calls = [dict(call, **_place(call["counter"], config)) for call in state["calls"]
             if (not screen.services or call["service"] in screen.services)
             and (not screen.counters or call["counter"] in screen.counters)]
    services = [s for s in state["services"]
                if not screen.services or s["prefix"] in screen.services]
    shown = {**state, "calls": calls, "services": services}
    shown.pop("rooms", None)
    if "rooms" in screen.zones:
        shown["rooms"] = [dict(room, **_place(room["number"], config))
                          for room in state.get("rooms", ()) if _shows(screen, room, config)]
    return shown


def _static(path):
    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(path)
    return serve


def _shows(screen: ScreenConfig, room: dict, config: HallConfig) -> bool:
    counter = config.counter(room["number"])   # (None: gone since the state was read)
    return counter is not None and (not screen.counters or counter.number in screen.counters) \
        and (not screen.services or not set(counter.services).isdisjoint(screen.services))


def _place(number: int, config: HallConfig) -> dict:
    counter = config.counter(number)
    zh, _, en = PLACES[counter.kind if counter else "counter"]
    return {"where_zh": f"{number} 号{zh}", "where_en": f"{en} {number}"}
