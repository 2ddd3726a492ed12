"""The back office for tests: the appliance's loop running, its office on a test server, and a
client that behaves like the office's own pages (Origin, form token)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from config import DEFAULT
from config.office import OfficeConfig
from firmware.office.server import COOKIE, OfficeServer
from firmware.signature import make_key
from hallday import wire
from rs485 import wait_for

PASSWORD = "correct horse battery"


def printed_setup_code(printer_folder: Path) -> str | None:
    """The setup code on the newest slip (its ESC/POS bytes, read like the paper), once it is
    wholly printed: the simulated printer draws its picture after writing its bytes."""
    slips = sorted(printer_folder.glob("*/office-setup.png"), key=lambda p: p.stat().st_mtime)
    found = slips and re.search(rb"[A-HJ-NP-Z2-9]{10}",
                                slips[-1].with_suffix(".bin").read_bytes())
    return found[0].decode() if found else None


async def new_setup_code(server: OfficeServer, printer_folder: Path) -> str:
    """A technician prints a new setup code: the code, once its slip is out."""
    old = printed_setup_code(printer_folder)
    server.new_setup_code()
    await wait_for(lambda: printed_setup_code(printer_folder) not in (None, old))
    return printed_setup_code(printer_folder)


class Browser:
    """A signed-in (or not) page of the office: sends the Origin and the session's token as
    office.js does."""

    def __init__(self, client: TestClient):
        self.client, self.csrf, self.cookie = client, None, None
        self.origin = f"http://{client.host}:{client.port}"

    async def call(self, method: str, path: str, body=None, headers=None, **kwargs):
        """(status, the answer's JSON or text)."""
        if "data" not in kwargs:
            kwargs["json"] = body
        response = await self.raw(method, path, headers, **kwargs)
        data = await response.json() if "json" in response.content_type else \
            await response.text()
        return response.status, data

    async def raw(self, method: str, path: str, headers=None, **kwargs):
        sent = {"Origin": self.origin, **({"X-CSRF-Token": self.csrf} if self.csrf else {}),
                **({"Cookie": f"{COOKIE}={self.cookie}"} if self.cookie else {}),
                **(headers or {})}
        response = await self.client.request(method, path, headers=sent, **kwargs)
        if COOKIE in response.cookies:
            self.cookie = response.cookies[COOKIE].value
        return response

    async def sign_in(self, name: str, password: str = PASSWORD) -> int:
        status, data = await self.call("POST", "/api/sign-in", {"name": name,
                                                                "password": password})
        if status == 200:
            self.csrf = data["csrf"]
        return status


@contextlib.asynccontextmanager
async def office(tmp_path: Path, users=(("sam", "supervisor", None), ("tia", "teller", 1)),
                 config_path: Path = DEFAULT):
    """The running appliance (on the configuration at `config_path`) with its office; an admin
    `ada` set up with the printed code, and `users` (name, role, counter) added by her. Yields
    (appliance, day, office, browser signed in as ada, client)."""
    make_key(tmp_path)   # the installation key boot makes at first start
    app, day = wire(tmp_path, config_path=config_path)
    running = asyncio.create_task(app.run())
    server = app.office = OfficeServer(app, OfficeConfig(address="127.0.0.1", tls=False))
    client = TestClient(TestServer(server.make_app()), cookie_jar=DummyCookieJar())   # (each
    #                                                  Browser keeps its own session cookie)
    await client.start_server()
    try:
        code = await new_setup_code(server, day.devices.printer.link.directory)
        admin = Browser(client)
        status, _ = await admin.call("POST", "/api/setup", {
            "code": code, "name": "ada", "password": PASSWORD})
        assert status == 200
        assert await admin.sign_in("ada") == 200
        for name, role, counter in users:
            status, data = await admin.call("POST", "/api/users", {
                "name": name, "role": role, "password": PASSWORD,
                **({"counter": counter} if counter else {})})
            assert status == 201, data
        yield app, day, server, admin, client
    finally:
        await client.close()
        app.stop()
        await running
        day.devices.close()
