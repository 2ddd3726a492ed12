"""A hospital's department screen (a hall screen with the "rooms" zone): each room's patient and
those at its door, names masked by [hospital] privacy (none with "numbers"), live; what its
feed carries; its configuration. The screenshot docs/screen-department.png is taken here."""

import json
import time
import urllib.request
from pathlib import Path

import pytest

from browser import DOCS, Hall, needs_chromium, text_of, wait
from config.load import parse_config
from config.table import ConfigError
from queue_core import Hall as Queue, open_database

HOSPITAL = Path(__file__).resolve().parent.parent / "config" / "examples" / "hospital.toml"


def config(privacy: str = "mask") -> bytes:
    """The shipped hospital, whose screen "internal-medicine" shows rooms 1 to 3."""
    return HOSPITAL.read_bytes().replace(b'privacy = "mask"', f'privacy = "{privacy}"'.encode())


def morning(folder: Path, text: bytes) -> Hall:
    """The box on configuration `text`, started once three patients have checked in to
    internal medicine and Dr. Zhao at room 1 has called 张小三 in: the next two wait at the
    door."""
    path = folder / "hall.toml"
    path.write_bytes(text)
    db, now = open_database(folder / "queue.db"), time.time()
    queue = Queue(db, parse_config(path.read_bytes(), path).hall)
    for n, name in enumerate(("张小三", "李小四", "王小五")):
        queue.check_in(queue.register(now, "N", f"P{n}", name, f"V{n}").label, now)
    queue.login(1, now, "D01", pin_ok=True)
    queue.forward(now)
    queue.call_next(1, now)
    queue.forward(now)
    db.close()
    return Hall(folder, config_path=path)


@pytest.fixture
def hall(tmp_path, request):
    hall = morning(tmp_path, config(getattr(request, "param", "mask")))
    yield hall
    hall.close()


def shown(browser, css: str) -> list[str]:
    """The texts of the elements `css` finds, their parts joined by spaces."""
    return [" ".join(e.text.split()) for e in browser.find_elements("css selector", css)]


@needs_chromium
@pytest.mark.window(1920, 1080)
def test_the_department_screen_shows_each_room_and_its_door_masked_and_live(hall, browser):
    browser.get(hall.screens + "/internal-medicine")
    room = "#rooms li[data-counter='1']"
    wait(browser, lambda b: shown(b, f"{room} .current") == ["N001 张*三"])
    wait(browser, lambda b: shown(b, f"{room} .door li") == ["N002 李*四", "N003 王*五"])
    text_of(browser, "#rooms li[data-counter='2']", "Not open")
    text_of(browser, "#rooms .count", "2 waiting")
    text_of(browser, "#newest", "请 N001 号到 1 号诊室")
    assert not browser.find_elements("css selector", "#rooms li[data-counter='4']")  # surgery
    assert "小" not in browser.page_source   # no full name reaches the page
    browser.save_screenshot(str(DOCS / "screen-department.png"))

    hall.console("1 call")   # Dr. Zhao calls the next one in: the screen follows by itself
    wait(browser, lambda b: shown(b, f"{room} .current") == ["N002 李*四"])
    wait(browser, lambda b: shown(b, f"{room} .door li") == ["N003 王*五"])
    text_of(browser, "#rooms .count", "1 waiting")


@needs_chromium
@pytest.mark.parametrize("hall", ["numbers"], indirect=True)
def test_with_privacy_numbers_the_screen_shows_no_name(hall, browser):
    browser.get(hall.screens + "/internal-medicine")
    text_of(browser, "#rooms li[data-counter='1'] .current", "N001")
    text_of(browser, "#rooms li[data-counter='1'] .door", "N003")
    assert not browser.find_elements("css selector", "#rooms .name")
    assert not any(name in browser.page_source for name in ("张", "李", "王", "*"))


def test_the_feed_carries_rooms_only_to_their_screens_and_no_doctor(tmp_path):
    hall = morning(tmp_path, config() + b'\n[[screen]]\nname = "hall"\n')
    try:
        def state(screen: str) -> dict:
            with urllib.request.urlopen(f"{hall.screens}/{screen}/feed", timeout=10) as feed:
                while not (line := feed.readline().decode()).startswith("data: "):
                    pass
            return json.loads(line[6:])

        rooms = state("internal-medicine")["rooms"]
        assert [room["number"] for room in rooms] == [1, 2, 3]   # the rooms of N only
        assert rooms[0] == {"number": 1, "open": True, "where_zh": "1 号诊室",
                            "where_en": "room 1",
                            "current": {"label": "N001", "name": "张*三"},
                            "door": [{"label": "N002", "name": "李*四"},
                                     {"label": "N003", "name": "王*五"}]}
        assert "rooms" not in state("hall")
        assert "D01" not in json.dumps(state("internal-medicine"))
    finally:
        hall.close()


def test_a_screen_s_zones_are_checked():
    def screens(text: str):
        return parse_config(HOSPITAL.read_bytes() + text.encode(), "hospital.toml").screens

    assert screens("")[0].zones == ("rooms", "calls")
    assert screens('\n[[screen]]\nname = "hall"\n')[-1].zones == ("calls", "waiting", "info")
    for bad in ('["ward"]', '["rooms", "rooms"]', "[]"):
        with pytest.raises(ConfigError, match='"info", "rooms", once each'):
            screens(f'\n[[screen]]\nname = "a"\nzones = {bad}\n')


def test_a_masked_name_never_shows_whole():
    from media.privacy import shown_name
    assert [shown_name(n, "mask") for n in ("张三丰", "张三", "欧阳娜娜", "王", "John Smith")] == \
        ["张*丰", "张*", "欧**娜", "*", "J********h"]
    assert shown_name("张三", "numbers") == "" and shown_name("张三", "full") == "张三"
