"""For tests in a real browser (the `browser` fixture, conftest.py): the appliance with its
back office and hall screens running in a thread of their own, as on the box, and ways to wait
for what a live page shows."""

import asyncio
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from config.office import OfficeConfig
from firmware.office.server import OfficeServer
from hallday import wire
from office import printed_setup_code

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
DOCS = Path(__file__).resolve().parent.parent / "docs"
needs_chromium = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium"
                                    " and chromium-driver (scripts/test installs them)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Hall:
    """The appliance and its office running in a thread of their own, as on the box."""

    def __init__(self, folder: Path, **wiring):
        port, screens = free_port(), free_port()
        self.app, self.day = wire(folder, **wiring)
        self.url = f"http://127.0.0.1:{port}"
        self.screens = f"http://127.0.0.1:{screens}/screen"
        self.config = OfficeConfig(address="127.0.0.1", port=port, tls=False,
                                   screen_port=screens)
        self.ready = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self.thread.start()
        assert self.ready.wait(20), "the office did not start"

    async def _run(self):
        self.loop = asyncio.get_running_loop()
        running = asyncio.create_task(self.app.run())
        self.app.office = OfficeServer(self.app, self.config)
        await self.app.office.start()
        self.ready.set()
        await running

    def run(self, work):
        """Run the coroutine `work` on the appliance's loop; its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(20)

    def console(self, line: str) -> None:
        self.day.devices.console.feed(line, self.app.inbox.post)

    def setup_code(self) -> str:
        folder = self.day.devices.printer.link.directory
        deadline = time.monotonic() + 10
        while (code := printed_setup_code(folder)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return code

    def close(self) -> None:
        self.app.stop()
        self.thread.join(20)
        self.day.devices.close()


def wait(browser, condition, seconds: float = 10.0):
    """`condition(browser)` once it holds; live pages redraw, so an element found a moment ago
    may be gone: look again."""
    from selenium.common.exceptions import (NoSuchElementException,
                                            StaleElementReferenceException)
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(browser, seconds, poll_frequency=0.05, ignored_exceptions=(
        NoSuchElementException, StaleElementReferenceException)).until(condition)


def find(browser, css: str):
    from selenium.webdriver.common.by import By
    return wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, css))


def text_of(browser, css: str, expected: str):
    from selenium.webdriver.common.by import By
    return wait(browser, lambda b: expected in b.find_element(By.CSS_SELECTOR, css).text)


def click(browser, css: str) -> None:
    from selenium.webdriver.common.by import By
    wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, css).click() or True)


def fill(browser, form: str, **fields) -> None:
    for name, value in fields.items():
        field = find(browser, f"{form} [name={name}]")
        field.clear()
        field.send_keys(value)
    find(browser, f"{form} button[type=submit]").click()
