"""A hospital's nurse station in the back office (/nurse, /api/nurse): a nurse checks patients
in at the triage desk, watches them reach a room's door once a doctor logs in, holds, releases,
reorders, sends one to the lab, removes one who left, and reads the flow's refusal; a teller
cannot open it; the API refuses what is wrong and changes nothing. The screenshot
docs/office-nurse.png is taken here."""

import asyncio
import time
from pathlib import Path

import pytest

from browser import DOCS, Hall, click, fill, find, needs_chromium, text_of, wait
from config import DEFAULT, load_config
from office import PASSWORD, Browser, office
from queue_core import Hall as Queue, open_database, users
from queue_core.pins import hash_password

HOSPITAL = Path(__file__).resolve().parent.parent / "config" / "examples" / "hospital.toml"
NAMES = {"N001": "张小三", "N002": "李小四", "N003": "王小五", "N004": "赵小六"}


def morning(queue: Queue, now: float) -> None:
    """The HIS registered four patients to internal medicine (N002 has checked in) and booked
    钱小七's appointment A-778."""
    for n, (label, name) in enumerate(NAMES.items()):
        queue.register(now, "N", f"P{n}", name, f"V{n}")
        if label == "N002":
            queue.check_in(label, now)
    queue.book(now, "N", "P9", "钱小七", "A-778")


@pytest.fixture
def hall(tmp_path):
    """The hospital's box, its morning on the database before it starts; nina, a nurse, signs in
    as a supervisor; tia is a teller at room 1."""
    now, password = time.time(), hash_password(PASSWORD)
    db = open_database(tmp_path / "queue.db")
    morning(Queue(db, load_config(HOSPITAL).hall), now)
    users.add_user(db, "nina", "supervisor", password, now)
    users.add_user(db, "tia", "teller", password, now, counter=1)
    db.close()
    hall = Hall(tmp_path, config_path=HOSPITAL)
    yield hall
    hall.close()


def rows(browser, table: str) -> list[str]:
    return [row.get_attribute("data-label") for row in browser.find_elements(
        "css selector", f"#{table} tr[data-label]")]


def choose(browser, css: str, value: str) -> None:
    """Pick `value` in a select of the live page (redrawn at any event: look again)."""
    from selenium.webdriver.support.ui import Select
    wait(browser, lambda b: Select(b.find_element("css selector", css)).select_by_value(value)
         or True)


def sign_in(hall, browser, name: str, page: str) -> None:
    browser.get(hall.url + "/sign-in")
    fill(browser, "#sign-in", name=name, password=PASSWORD)
    wait(browser, lambda b: b.current_url.endswith(page))


@needs_chromium
def test_a_nurse_runs_a_department_from_the_station(hall, browser):
    sign_in(hall, browser, "nina", "/monitor")
    click(browser, "nav a[href='/nurse']")
    text_of(browser, "#registered tr[data-label=N001]", "张小三")   # full names: staff only
    fill(browser, "#check-in", key="N001")                          # typed at the triage desk
    text_of(browser, "#message", "Checked in: N001")
    wait(browser, lambda b: rows(b, "waiting") == ["N002", "N001"])

    click(browser, "#rooms tr[data-counter='1'] .keypad-link")      # a doctor logs in at room 1
    wait(browser, lambda b: b.current_url.endswith("/keypad?counter=1"))
    wait(browser, lambda b: find(b, "#counter").get_attribute("value") == "1")
    find(browser, "#words").send_keys("D01 1101")
    click(browser, ".key-login")
    text_of(browser, "#display", "NO TICKET")
    browser.get(hall.url + "/nurse")
    text_of(browser, "#rooms tr[data-counter='1'] .doctor", "Dr. Zhao Lei")
    text_of(browser, "#rooms tr[data-counter='1'] .door", "N001 张小三")   # called forward
    text_of(browser, "#rooms tr[data-counter='1'] .door", "N002 李小四")
    wait(browser, lambda b: rows(b, "waiting") == [])

    for key, label in (("N003", "N003"), ("A-778", "N005"), ("N004", "N004")):
        fill(browser, "#check-in", key=key)   # an appointment gets its number now
        text_of(browser, "#message", f"Checked in: {label}")
    text_of(browser, "#waiting tr[data-label=N005]", "钱小七")
    wait(browser, lambda b: rows(b, "waiting") == ["N003", "N005", "N004"])
    click(browser, "#waiting tr[data-label=N003] .hold")            # away for a moment
    wait(browser, lambda b: rows(b, "held") == ["N003"] and "N003" not in rows(b, "waiting"))
    click(browser, "#held tr[data-label=N003] .release")
    wait(browser, lambda b: rows(b, "held") == [] and "N003" in rows(b, "waiting"))
    click(browser, "#waiting tr[data-label=N004] .move-up")
    wait(browser, lambda b: rows(b, "waiting") == ["N003", "N004", "N005"])
    choose(browser, "#waiting tr[data-label=N003] .transfer", "L")   # to the lab
    wait(browser, lambda b: rows(b, "waiting") == ["N004", "N005"])
    choose(browser, "#waiting tr[data-label=N005] .transfer", "P")   # the flow forbids it
    text_of(browser, "#message", "the flow does not lead from N to P (only to L, K)")
    click(browser, "#waiting tr[data-label=N004] .leave")           # gone without being seen
    wait(browser, lambda b: rows(b, "waiting") == ["N005"])
    browser.execute_script("scrollTo(0, 0)")
    browser.save_screenshot(str(DOCS / "office-nurse.png"))

    events = hall.app.hall.db.execute(
        "SELECT e.kind, t.label, t.service, e.by_user FROM events e JOIN tickets t"
        " ON t.id = e.ticket_id WHERE e.by_user IS NOT NULL ORDER BY e.id").fetchall()
    assert [tuple(e) for e in events] == [
        ("check_in", "N001", "N", "nina"), ("check_in", "N003", "N", "nina"),
        ("check_in", "N005", "N", "nina"), ("check_in", "N004", "N", "nina"),
        ("hold", "N003", "N", "nina"), ("release", "N003", "N", "nina"),
        ("move", "N004", "N", "nina"), ("transfer", "N003", "N", "nina"),
        ("left", "N004", "N", "nina")]
    assert hall.app.hall.db.execute("SELECT by_user FROM events WHERE kind = 'login'"
                                    ).fetchone()[0] == "nina"

    click(browser, "#sign-out")   # a teller: the nurse station is not theirs
    wait(browser, lambda b: b.current_url.endswith("/sign-in"))
    sign_in(hall, browser, "tia", "/keypad")
    browser.get(hall.url + "/nurse")
    wait(browser, lambda b: b.current_url.endswith("/keypad"))


def test_the_nurse_station_s_api_refuses_what_is_wrong_and_changes_nothing(tmp_path):
    async def test(app, day, server, admin, client):
        morning(app.hall, time.time())
        app.hall.login(2, time.time(), "D02", pin_ok=True)   # in room 2, on a break: nobody
        app.hall.pause(2, time.time())                       # is called forward there
        stranger, sam, tia = Browser(client), Browser(client), Browser(client)
        assert await sam.sign_in("sam") == 200 and await tia.sign_in("tia") == 200
        before = app.hall.last_event()
        for who, status in ((stranger, 401), (tia, 403)):
            assert (await who.call("GET", "/api/nurse"))[0] == status
            assert (await who.call("POST", "/api/nurse/check-in", {"key": "N001"}))[0] == status
            assert (await who.call("POST", "/api/tickets/N002/hold", {}))[0] == status
        for path, body, status, why in (
                ("/api/nurse/check-in", {"key": ""}, 400, "label or an appointment"),
                ("/api/nurse/check-in", {"key": " \t"}, 400, "label or an appointment"),
                ("/api/nurse/check-in", {"key": "N\x1b001"}, 400, "no control"),
                ("/api/nurse/check-in", {"key": "N\u200b001"}, 400, "no control"),
                ("/api/nurse/check-in", {"key": "N" * 101}, 400, "1-100 characters"),
                ("/api/nurse/check-in", {"key": "N 001"}, 404, "no ticket 'N 001'"),
                ("/api/nurse/check-in", {"key": 1}, 400, "must be a JSON string"),
                ("/api/nurse/check-in", {"label": "N001"}, 400, "unknown field"),
                ("/api/nurse/check-in", {"key": "N999"}, 404, "no ticket 'N999'"),
                ("/api/nurse/check-in", {"key": "N002"}, 409, "N002 is waiting"),
                ("/api/tickets/N002/room", {"counter": 99}, 400, "no counter"),
                ("/api/tickets/N002/room", {"counter": "1"}, 400, "JSON number"),
                ("/api/tickets/N002/room", {"counter": 4}, 409, "does not serve N"),
                ("/api/tickets/N002/assign", {"doctor": "D99"}, 400, "no doctor"),
                ("/api/tickets/N002/release", {}, 409, "N002 is waiting"),
                ("/api/tickets/N001/hold", {}, 409, "N001 is registered"),
                ("/api/tickets/N999/leave", {}, 404, "no ticket"),
                ("/api/tickets/N002/transfer", {"service": "P"}, 409, "does not lead"),
                ("/api/tickets/N002/discharge", {}, 404, "no ticket action")):
            got, data = await sam.call("POST", path, body)
            assert (got, why in data["error"]) == (status, True), (path, body, data)
        for query, status in (("?department=Z", 404), ("?department=" + "N" * 300, 404),
                              ("?department=n", 200), ("", 200)):
            assert (await sam.call("GET", "/api/nurse" + query))[0] == status, query
        assert app.hall.last_event() == before   # nothing changed

        status, ticket = await sam.call("POST", "/api/nurse/check-in", {"key": "A-778"})
        assert (status, ticket) == (200, {"label": "N005", "service": "N", "state": "waiting"})
        assert (await sam.call("POST", "/api/tickets/N005/assign", {"doctor": "D02"}))[0] == 200
        assert (await sam.call("POST", "/api/tickets/N005/room", {"counter": 2}))[0] == 200
        _, ward = await sam.call("GET", "/api/nurse?department=N")
        door = ward["rooms"][1]["door"]
        assert [(p["label"], p["name"], p["doctor"]) for p in door] == [("N005", "钱小七", "D02")]
        assert [p["label"] for p in ward["registered"]] == ["N001", "N003", "N004"]
        assert (await sam.call("POST", "/api/tickets/N005/hold", {}))[0] == 200   # from the door
        _, ward = await sam.call("GET", "/api/nurse")
        assert [p["label"] for p in ward["held"]] == ["N005"] and not ward["rooms"][1]["door"]
        assert {row[0] for row in app.hall.db.execute(
            "SELECT by_user FROM events WHERE id > ?", (before,))} == {"sam"}
    asyncio.run(_office(tmp_path, test))


def test_an_appointment_booked_with_a_space_and_chinese_is_checked_in_by_its_id(tmp_path):
    """The HIS may book an appointment as any text of up to 100 characters: the triage desk
    checks it in as typed, the spaces around it left out."""
    db = open_database(tmp_path / "queue.db")
    Queue(db, load_config(HOSPITAL).hall).book(time.time(), "N", "P15", "孙小八", "预约 15")
    db.close()

    async def test(app, day, server, admin, client):
        status, ticket = await admin.call("POST", "/api/nurse/check-in", {"key": " 预约 15 "})
        assert (status, ticket) == (200, {"label": "N001", "service": "N", "state": "waiting"})
        _, ward = await admin.call("GET", "/api/nurse?department=N")
        assert [(p["label"], p["name"]) for p in ward["waiting"]] == [("N001", "孙小八")]
        status, data = await admin.call("POST", "/api/nurse/check-in", {"key": "预约 15"})
        assert status == 409 and "checked in already" in data["error"]   # once only
    asyncio.run(_office(tmp_path, test))


def test_a_hall_without_a_hospital_flow_has_no_nurse_station(tmp_path):
    async def test(app, day, server, admin, client):
        status, data = await admin.call("GET", "/api/nurse")
        assert status == 404 and "no departments" in data["error"]
        assert (await admin.call("GET", "/api/me"))[1]["hospital"] is False
    asyncio.run(_office(tmp_path, test, DEFAULT))


async def _office(tmp_path, test, config=HOSPITAL):
    async with office(tmp_path, config_path=config) as parts:
        await test(*parts)
