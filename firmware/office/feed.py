"""The event log, live, to every open page: Server-Sent Events whose ids are the log's ids.

The loop says when something was committed (`changed`); one reader fetches the new rows off
the loop and hands them to every stream. A page that reconnects sends `Last-Event-ID` and is
sent what it missed; one too far behind is told to reload. A stream that does not read its
events is dropped, never waited for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from typing import Awaitable, Callable

import sqlite_utils
from aiohttp import web

log = logging.getLogger(__name__)

BACKLOG = 500      # missed events sent to a page that reconnects; further behind: reload
QUEUED = 1000      # events waiting for one stream before it is dropped
KEEPALIVE = 15.0   # seconds: a comment line, so proxies and the browser keep the stream

Read = Callable[[Callable[[sqlite3.Connection], object]], Awaitable]


def new_events(db: sqlite3.Connection, after: int, limit: int) -> list[dict]:
    return list(sqlite_utils.Database(db).query(
        "SELECT e.id, e.at, e.kind, e.service, e.counter, e.teller, e.detail, t.label"
        " FROM events e LEFT JOIN tickets t ON t.id = e.ticket_id WHERE e.id > ?"
        " ORDER BY e.id LIMIT ?", (after, limit)))


def last_event(db: sqlite3.Connection) -> int:
    return db.execute("SELECT IFNULL(MAX(id), 0) FROM events").fetchone()[0]


class Feed:
    def __init__(self, read: Read):
        self.read = read
        self.sent = 0                         # the newest event handed to the streams
        self.streams: set[asyncio.Queue] = set()
        self._wake = asyncio.Event()

    def changed(self) -> None:
        """Something was committed (called by the loop after each change)."""
        self._wake.set()

    async def end_streams(self, app: web.Application) -> None:
        """The server stops: every stream ends now, rather than hold the stop for a minute
        (the pages reconnect by themselves)."""
        for queue in list(self.streams):
            self.streams.discard(queue)
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)

    async def run(self) -> None:
        """Hand new events to the streams for as long as the office runs; a failed read (a
        database being recovered) is logged and tried again, never the end of live pages."""
        self.sent = await self.read(last_event)
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._hand_out()
            except sqlite3.Error:
                log.exception("back office: reading the new events")
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _hand_out(self) -> None:
        while rows := await self.read(lambda db: new_events(db, self.sent, BACKLOG)):
            self.sent = rows[-1]["id"]
            for queue in list(self.streams):
                try:
                    for row in rows:
                        queue.put_nowait(row)
                except asyncio.QueueFull:   # a page that does not read: it reconnects
                    self.streams.discard(queue)
                    while not queue.empty():
                        queue.get_nowait()
                    queue.put_nowait(None)

    async def stream(self, request: web.Request, standing: Callable[[], Awaitable[bool]],
                     full: bool) -> web.StreamResponse:
        """Events after the request's Last-Event-ID (or from now), for as long as `standing()`
        (asked before each event and keepalive: a session that ends ends its stream); `full`:
        each event as logged, else its id only (a teller's page learns that something
        changed)."""
        text = request.headers.get("Last-Event-ID", "")
        if text and not re.fullmatch("[0-9]{1,18}", text):
            raise web.HTTPBadRequest(text="Last-Event-ID must be an event's id")
        after = int(text) if text else -1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store"})
        await response.prepare(request)
        queue: asyncio.Queue = asyncio.Queue(QUEUED)
        self.streams.add(queue)
        send = self._send if full else self._ping
        try:
            if after >= 0:   # what it missed, read before the live ones queue behind it
                newest = await self.read(last_event)
                missed = await self.read(lambda db: new_events(db, after, BACKLOG + 1))
                if len(missed) > BACKLOG or after > newest:   # (an id from another database)
                    await response.write(b"event: reload\ndata: {}\n\n")
                    return response
                last = after
                for row in missed:
                    await send(response, row)
                    last = row["id"]
            else:
                last = self.sent
            while True:
                try:
                    row = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except asyncio.TimeoutError:
                    row = ""
                if row is None or not await standing():
                    return response
                if row == "":
                    await response.write(b": keepalive\n\n")
                elif row["id"] > last:
                    await send(response, row)
                    last = row["id"]
        except ConnectionResetError:
            return response
        finally:
            self.streams.discard(queue)

    @staticmethod
    async def _send(response: web.StreamResponse, row: dict) -> None:
        await response.write(f"id: {row['id']}\ndata: {json.dumps(row)}\n\n".encode())

    @staticmethod
    async def _ping(response: web.StreamResponse, row: dict) -> None:
        await response.write(f"id: {row['id']}\ndata: {{}}\n\n".encode())
