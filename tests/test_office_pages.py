"""The back office's pages in a real browser (Debian's Chromium, driven by Selenium through
Debian's chromedriver): what a hall manager and a teller do, end to end. The screenshots of
the monitor, queue and report pages in docs/ are taken here."""

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
from office import PASSWORD, printed_setup_code

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
DOCS = Path(__file__).resolve().parent.parent / "docs"
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and"
                                " chromium-driver (scripts/test installs them)")


class Hall:
    """The appliance and its office running in a thread of their own, as on the box."""

    def __init__(self, folder: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.app, self.day = wire(folder)
        self.url = f"http://127.0.0.1:{port}"
        self.config = OfficeConfig(address="127.0.0.1", port=port, tls=False)
        self.ready = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self.thread.start()
        assert self.ready.wait(20), "the office did not start"

    async def _run(self):
        running = asyncio.create_task(self.app.run())
        self.app.office = OfficeServer(self.app, self.config)
        await self.app.office.start()
        self.ready.set()
        await running

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


@pytest.fixture
def hall(tmp_path):
    hall = Hall(tmp_path)
    yield hall
    hall.close()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                 "--lang=en-US", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


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


def test_a_hall_manager_runs_the_hall_from_a_browser(hall, browser):
    browser.get(hall.url + "/setup")
    fill(browser, "#setup", code=hall.setup_code(), name="ada", password=PASSWORD)
    text_of(browser, "main", "sign in with the new password")
    browser.get(hall.url + "/sign-in")
    fill(browser, "#sign-in", name="ada", password=PASSWORD)
    wait(browser, lambda b: b.current_url.endswith("/monitor"))
    find(browser, "#services tr[data-service=A]")

    hall.console("A")   # a customer at the ticket buttons: the monitor follows by itself
    text_of(browser, "#services tr[data-service=A] .waiting", "1")
    for line in ("A", "A", "B", "C", "2 login T02 2222", "2 call", "4 login T04 4444",
                 "4 call", "4 start"):
        hall.console(line)
    text_of(browser, "#counters tr[data-counter='4'] .ticket", "C001 serving")
    text_of(browser, "#services tr[data-service=A] .waiting", "2")
    browser.save_screenshot(str(DOCS / "office-monitor.png"))

    browser.get(hall.url + "/queue")
    click(browser, "#issue button[type=submit]")   # a caller on the telephone
    text_of(browser, "#message", "A004")
    click(browser, "tr[data-label=A004] .move-front")
    wait(browser, lambda b: [e.text for e in b.find_elements(
        "css selector", "section[data-service=A] td.label")] == ["A004", "A002", "A003"])
    browser.save_screenshot(str(DOCS / "office-queue.png"))

    # A page of another origin cannot change the queue, nor can a request without the token.
    refused = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/tickets', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({service: 'A'})}).then(r => done(r.status));")
    assert refused == 403

    browser.get(hall.url + "/reports")
    wait(browser, lambda b: b.execute_script(
        "const img = document.getElementById('chart-hourly');"
        " return img && img.complete && img.naturalWidth > 0;"))
    browser.save_screenshot(str(DOCS / "office-reports.png"))

    click(browser, "#language")   # 中文: the same page in Chinese
    text_of(browser, "nav", "监控")
    click(browser, "#language")

    browser.get(hall.url + "/keypad")
    find(browser, "#words").send_keys("T01 1111")
    find(browser, ".key-login").click()
    text_of(browser, "#display", "NO TICKET")
    find(browser, ".key-call").click()
    text_of(browser, "#display", "A004 CALLED")
    assert hall.app.hall.db.execute("SELECT by_user FROM events WHERE kind = 'move'"
                                    ).fetchone()[0] == "ada"
