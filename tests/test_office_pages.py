"""The back office's pages in a real browser (Debian's Chromium, driven by Selenium through
Debian's chromedriver): what a hall manager and a teller do, end to end. The screenshots of
the monitor, queue and report pages in docs/ are taken here."""

import pytest
from PIL import Image

from browser import DOCS, Hall, click, fill, find, needs_chromium, text_of, wait
from office import PASSWORD

pytestmark = needs_chromium


@pytest.fixture
def hall(tmp_path):
    hall = Hall(tmp_path)
    yield hall
    hall.close()


def first_admin(hall, browser) -> None:
    """ada sets up the back office with the printed code, and signs in."""
    browser.get(hall.url + "/setup")
    fill(browser, "#setup", code=hall.setup_code(), name="ada", password=PASSWORD)
    text_of(browser, "main", "sign in with the new password")
    browser.get(hall.url + "/sign-in")
    fill(browser, "#sign-in", name="ada", password=PASSWORD)
    wait(browser, lambda b: b.current_url.endswith("/monitor"))


def test_a_hall_manager_publishes_information_on_the_screens(hall, browser, tmp_path):
    first_admin(hall, browser)
    browser.get(hall.url + "/playlist")
    fill(browser, "#add-text", text="周六照常营业 · Open on Saturday", seconds="5")
    text_of(browser, "#playlist", "Open on Saturday")
    picture = tmp_path / "advert.png"
    Image.new("RGB", (320, 180), (250, 200, 40)).save(picture)
    find(browser, "#add-file [name=file]").send_keys(str(picture))
    find(browser, "#add-file [name=seconds]").clear()
    find(browser, "#add-file [name=seconds]").send_keys("7")
    click(browser, "#add-file button[type=submit]")
    text_of(browser, "#playlist tr:nth-child(3) td:nth-child(1)", "image")
    click(browser, "#playlist tr:nth-child(3) .up")   # the advert first
    text_of(browser, "#playlist tr:nth-child(2) td:nth-child(1)", "image")
    fill(browser, "#add-text", text="", seconds="5")   # (the browser's own check stops it)
    fill(browser, "#add-text", text="x", seconds="5", hours="18:00-08:00")
    text_of(browser, "#message", "hours must be a range of the day")

    browser.get(hall.screens + "/hall")   # the hall screen plays them in turn
    wait(browser, lambda b: b.find_element("css selector", "#info img"))
    text_of(browser, "#info", "Open on Saturday")


def test_a_hall_manager_runs_the_hall_from_a_browser(hall, browser):
    first_admin(hall, browser)
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
    assert not browser.find_elements("css selector", "#departments")   # a bank: no departments

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
