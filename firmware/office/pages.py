"""The back office's pages: one small HTML shell each, filled by static/office.js from the API.

No inline script or style (the Content-Security-Policy forbids them) and nothing from another
origin: the box has no internet.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
PAGES = ("monitor", "queue", "nurse", "reports", "keypad", "devices", "playlist", "users",
         "configuration", "sign-in", "setup")
SHELL = """<!doctype html>
<html lang="en" translate="no"><head><meta charset="utf-8">
<meta name="google" content="notranslate">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Queue back office</title><link rel="stylesheet" href="/static/office.css">
<script src="/static/office.js" defer></script></head>
<body data-page="{page}"><nav id="nav"></nav><main id="main"></main></body></html>
"""


def routes(app: web.Application) -> None:
    for page in PAGES:
        app.router.add_get(f"/{page}", _shell(page))
    app.router.add_get("/", _home)
    app.router.add_static("/static", STATIC, append_version=False)


def _shell(page: str):
    html = SHELL.format(page=page)

    async def serve(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html",
                            headers={"Cache-Control": "no-store"})
    return serve


async def _home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/monitor")
