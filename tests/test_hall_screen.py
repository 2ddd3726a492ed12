"""The hall screens (firmware/office/screen.py): each layout in a real browser at 1920×1080 and
1080×1920 with calls coming in, a screen limited to some services and counters, a screen that
loses the box, what a stranger on the LAN can reach; and their configuration. The
screenshots in docs/ are taken here."""

import asyncio
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from browser import DOCS, Hall, find, needs_chromium, text_of, wait
from config.load import parse_config
from config.table import ConfigError
from drivers.events import OfficeCommand
from firmware import kiosk
from hallday import DEFAULT

SCREENS = """
[[screen]]
name = "hall"

[[screen]]
name = "tower"
layout = "portrait"

[[screen]]
name = "wealth"
services = ["C"]
counters = [4]
zones = ["calls"]
"""


@pytest.fixture
def hall(tmp_path):
    config = tmp_path / "hall.toml"
    config.write_text(DEFAULT.read_text().replace('name = "Counter 4"',
                                                  'name = "Counter 4"\nkind = "room"') + SCREENS)
    hall = Hall(tmp_path, config_path=config)
    yield hall
    hall.close()


def add_item(hall, **params) -> int:
    """A playlist item, added by ada in the back office."""
    async def command():
        done = asyncio.get_running_loop().create_future()
        hall.app.inbox.post(OfficeCommand("playlist_add", time.time(), params, "ada", done))
        return await done
    return hall.run(command())["id"]


def media_file(hall, data: bytes, extension: str) -> str:
    """`data` kept as the office keeps an upload: its name."""
    name = f"{hashlib.sha256(data).hexdigest()}.{extension}"
    folder = hall.app.paths.data / "media"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    return name


def advert() -> bytes:
    """A 16:9 advert, with words if the hall screen's font is installed."""
    picture = Image.new("RGB", (1280, 720), (20, 120, 60))
    font = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
    if font.exists():
        draw = ImageDraw.Draw(picture)
        draw.text((80, 220), "理财讲座 · 周六 10:00", font=ImageFont.truetype(str(font), 96),
                  fill="white")
        draw.text((80, 380), "Wealth seminar, Saturday 10:00",
                  font=ImageFont.truetype(str(font), 64), fill="white")
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def busy_hall(hall):
    """Customers for A, B and C; counters 2 and 4 (a room) call, 4 twice."""
    for line in ("A", "A", "A", "B", "C", "C", "2 login T02 2222", "2 call",
                 "4 login T04 4444", "4 call", "4 call"):
        hall.console(line)


def screenshot(browser, name):
    """docs/<name>, once the newest call has stopped flashing."""
    wait(browser, lambda b: "flash" not in find(b, "#newest").get_attribute("class"))
    browser.save_screenshot(str(DOCS / name))


def fits(browser) -> bool:
    """Nothing overflows: no scrolling, no zone cut (a long notice scrolls by on purpose)."""
    return browser.execute_script(
        "const d = document.documentElement;"
        "return d.scrollWidth <= innerWidth && d.scrollHeight <= innerHeight &&"
        " [...document.querySelectorAll('main > section')].every("
        "  s => s.scrollHeight <= s.clientHeight + 1 &&"
        "       (s.id == 'info' || s.scrollWidth <= s.clientWidth + 1))")


@needs_chromium
@pytest.mark.window(1920, 1080)
def test_the_landscape_screen_shows_calls_and_queues(hall, browser):
    busy_hall(hall)
    add_item(hall, kind="text", seconds=60, text="理财讲座：本周六上午十点 · Wealth seminar on"
                                                 " Saturday at 10:00")
    browser.get(hall.screens + "/hall")
    text_of(browser, "#newest .label", "C002")
    text_of(browser, "#newest", "请 C002 号到 4 号诊室")   # counter 4 is a room
    text_of(browser, "#newest", "please go to room 4")
    text_of(browser, "#recent", "C001")
    text_of(browser, "#recent", "A001")
    text_of(browser, "#waiting tr[data-service=A] .waiting", "2")
    text_of(browser, "#info", "Wealth seminar")
    assert browser.execute_script("return [innerWidth, innerHeight]") == [1920, 1080]
    assert fits(browser)
    screenshot(browser, "screen-landscape.png")

    hall.console("2 call")   # live: the new call is the large one, and it flashes
    text_of(browser, "#newest .label", "A002")
    wait(browser, lambda b: "flash" in find(b, "#newest").get_attribute("class"))
    text_of(browser, "#waiting tr[data-service=A] .waiting", "1")


@needs_chromium
@pytest.mark.window(1080, 1920)
def test_the_portrait_screen_fits_as_well(hall, browser):
    busy_hall(hall)
    add_item(hall, kind="image", seconds=60, file=media_file(hall, advert(), "png"))
    browser.get(hall.screens + "/tower")
    text_of(browser, "#newest .label", "C002")
    find(browser, "#info img")
    text_of(browser, "#waiting tr[data-service=B] .waiting", "1")
    assert fits(browser)
    screenshot(browser, "screen-portrait.png")


@needs_chromium
@pytest.mark.window(1920, 1080)
def test_a_screen_limited_to_a_service_and_a_counter(hall, browser):
    browser.get(hall.screens + "/wealth")
    find(browser, "#calls")
    busy_hall(hall)
    text_of(browser, "#newest .label", "C002")
    text_of(browser, "#recent", "C001")
    assert "A001" not in find(browser, "#calls").text
    assert not browser.find_elements("css selector", "#waiting")


@needs_chromium
@pytest.mark.window(1920, 1080)
def test_the_information_zone_plays_the_playlist_and_skips_what_it_cannot_show(
        hall, browser, caplog):
    picture = io.BytesIO()
    Image.new("RGB", (1280, 720), (20, 120, 60)).save(picture, "PNG")
    add_item(hall, kind="text", seconds=3, text="欢迎 · Welcome to the branch")
    broken = add_item(hall, kind="video", seconds=3,
                      file=media_file(hall, b"\x00\x00\x00\x18ftypmp42" + bytes(64), "mp4"))
    add_item(hall, kind="image", seconds=30, file=media_file(hall, picture.getvalue(), "png"))
    browser.get(hall.screens + "/hall")
    text_of(browser, "#info", "Welcome to the branch")
    image = wait(browser, lambda b: b.find_element("css selector", "#info img"), seconds=15)
    assert f"cannot show playlist item {broken}" in caplog.text   # skipped, and reported
    assert browser.execute_script("return arguments[0].naturalWidth", image) == 1280
    hall.console("A")   # a change: the screen catches up, the advert plays on, not reloaded
    text_of(browser, "#waiting tr[data-service=A] .waiting", "1")
    assert image.is_displayed()


@needs_chromium
def test_a_screen_that_loses_the_box_says_so_and_catches_up(hall, browser):
    browser.get(hall.screens + "/hall")
    find(browser, "#newest")
    office = hall.app.office
    hall.run(office.screen_runner.cleanup())   # the box goes away (a restart, a cable)
    wait(browser, lambda b: find(b, "#reconnecting").is_displayed())
    busy_hall(hall)
    hall.run(office._start_screens())          # back: the screen catches up by itself
    text_of(browser, "#newest .label", "C002")
    wait(browser, lambda b: not find(b, "#reconnecting").is_displayed())


@needs_chromium
@pytest.mark.skipif(not shutil.which("Xvfb"), reason="needs Debian's xvfb (scripts/test"
                    " installs it)")
def test_the_kiosk_fills_a_display_without_a_window_manager(hall, tmp_path):
    """firmware/kiosk.py on an X server with no window manager (Xvfb, 1920×1080), as the
    unit runs it on HDMI: the page fills the width (a bare --kiosk would take half)."""
    display = f":{os.getpid() % 400 + 100}"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1920x1080x24", "-nolisten",
                               "tcp"], stderr=subprocess.DEVNULL)
    browser = None
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{display[1:]}").exists():
            assert time.monotonic() < deadline and server.poll() is None, "Xvfb did not start"
            time.sleep(0.05)
        size = kiosk.display_size(display)
        assert size == (1920, 1080)
        busy_hall(hall)
        url = hall.screens + "/hall"
        kiosk.wait_for(url)
        browser = subprocess.Popen(   # (as root, as tests run, Chromium needs --no-sandbox)
            kiosk.command(url, *size, tmp_path / "profile") + ["--no-sandbox"],
            env={**os.environ, "DISPLAY": display, "HOME": str(tmp_path)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        from PIL import ImageGrab
        deadline = time.monotonic() + 40
        while True:
            shot = ImageGrab.grab(xdisplay=display).convert("RGB")
            yellow = sum(1 for x in range(0, 1920, 8) for y in range(60, 500, 8)
                         if shot.getpixel((x, y)) == (0xff, 0xd5, 0x4a))
            if yellow > 100 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert yellow > 100, "the called number never showed"
        assert shot.getpixel((1910, 540)) == (0x0b, 0x23, 0x41)   # the page, to the right edge
    finally:
        if browser is not None:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait()
        server.kill()
        server.wait()


def test_what_a_stranger_on_the_lan_can_reach(hall):
    busy_hall(hall)

    def get(path, method="GET"):
        request = urllib.request.Request(hall.screens.removesuffix("/screen") + path,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read(600).decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    status, page = get("/screen/hall")
    assert status == 200 and 'translate="no"' in page
    status, feed = get("/screen/hall/feed")
    state = json.loads(feed.split("data: ", 1)[1].split("\n")[0])
    assert status == 200 and "teller" not in json.dumps(state)
    assert get("/screen/nosuch")[0] == 404
    assert get("/screen/hall", "POST")[0] == 405
    assert get("/api/monitor")[0] == 404 and get("/monitor")[0] == 404   # the office is not here
    assert get("/static/office.js")[0] == 404 and get("/static/screen.js")[0] == 200

    def stream(source: str):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                                source_address=(source, 0))
        connection.request("GET", "/screen/hall/feed")
        return connection, connection.getresponse().status

    port = int(hall.screens.split(":")[2].split("/")[0])
    held = [stream("127.0.0.2") for _ in range(8)]   # one stranger's address: 8 streams
    assert [status for _, status in held] == [200] * 8
    extra, status = stream("127.0.0.2")
    assert status == 503
    kiosk, status = stream("127.0.0.1")                # the box's own kiosk still gets in
    assert status == 200
    for connection, _ in [*held, (extra, 0), (kiosk, 0)]:
        connection.close()


def screens(text):
    return parse_config(DEFAULT.read_bytes() + text.encode(), "hall.toml").screens


def test_screens_are_configured_or_one_shows_everything():
    assert [s.name for s in screens("")] == ["hall"]
    wealth = screens(SCREENS)[2]
    assert (wealth.layout, wealth.services, wealth.counters, wealth.zones) == \
        ("landscape", ("C",), (4,), ("calls",))
    for bad, why in (('name = "Hall"', "small letters"), ('name = "a"\nlayout = "round"',
                                                          "landscape"),
                     ('name = "a"\nservices = ["Z"]', "services of the hall"),
                     ('name = "a"\ncounters = [9]', "counters of the hall"),
                     ('name = "a"\nzones = ["calls", "calls"]', "once each"),
                     ('name = "a"\nsize = 3', "size")):
        with pytest.raises(ConfigError, match=why):
            screens(f"\n[[screen]]\n{bad}\n")
    with pytest.raises(ConfigError, match="names two screens"):
        screens('\n[[screen]]\nname = "a"\n[[screen]]\nname = "a"\n')
