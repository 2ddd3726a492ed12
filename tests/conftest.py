"""Shared fixtures: a small hall, a clock on a fixed day, a database snapshot, and a real
browser."""

import shutil
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from queue_core import Counter, Hall, HallConfig, Service, Teller, open_database

CONFIG = HallConfig(
    name="Test Branch", name_zh="测试支行",
    services=(Service("A", "Personal", "个人"), Service("B", "Business", "对公"),
              Service("C", "Wealth", "理财", first=1, last=5, daily_cap=3)),
    counters=(Counter(1, "Counter 1", ("A",)), Counter(2, "Counter 2", ("A", "B")),
              Counter(3, "Counter 3", ("B", "A")), Counter(4, "Counter 4", ("C", "A"))),
    tellers=tuple(Teller(f"T{n}", f"Teller {n}", f"{n}{n}{n}{n}") for n in range(1, 5)),
    max_recalls=2)


def at(hour: int, minute: int = 0, second: int = 0, day: int = 23) -> float:
    """A time on 2026-11-<day> in the hall's zone, as the loop passes it."""
    return datetime(2026, 11, day, hour, minute, second,
                    tzinfo=ZoneInfo(CONFIG.time_zone)).timestamp()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "queue.db"


@pytest.fixture
def hall(db_path):
    db = open_database(db_path)
    yield Hall(db, CONFIG)
    db.close()


def dump(hall: Hall) -> list[str]:
    """Every row of every table, to compare states."""
    return list(hall.db.iterdump())


def logged_in(hall: Hall, *counters: int, now: float | None = None) -> Hall:
    for n in counters:
        hall.login(n, now or at(8), teller=f"T{n}", pin_ok=True)
    return hall


def pytest_configure(config):
    config.addinivalue_line("markers", "window(width, height): the browser's page size")


@pytest.fixture
def browser(tmp_path, request):
    """Debian's Chromium, headless, driven by Selenium through Debian's chromedriver (whose
    versions match exactly); `@pytest.mark.window(width, height)` sets its page's size."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    marker = request.node.get_closest_marker("window")
    width, height = marker.args if marker else (1200, 900)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--window-size={width},{height}",
                 "--lang=en-US", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.implicitly_wait(0)
    if marker:   # exactly that page size (the window's own frame would take some)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    yield driver
    driver.quit()
