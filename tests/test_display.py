"""The wall display: frames, scrolling, notices, the dim/off schedule, and the MAX7219 bytes."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from luma.led_matrix.device import max7219
from PIL import Image

from config.hardware import DisplayConfig

from drivers.display import SimWallDisplay, WallDisplay, scheduled_mode
from firmware.wall_notices import WallNotices
from media.wall import wall_frame
from queue_core.playlist import Item

REFERENCES = Path(__file__).parent / "references"
ROOT = Path(__file__).resolve().parent.parent


def same_as_reference(frame: Image.Image, name: str) -> bool:
    """Compare with references/<name>.png; REGENERATE_REFERENCES=1 rewrites it instead."""
    path = REFERENCES / f"{name}.png"
    if os.environ.get("REGENERATE_REFERENCES") == "1":
        frame.save(path)
    reference = Image.open(path).convert("1")
    return (frame.size, frame.convert("1").tobytes()) == (reference.size, reference.tobytes())


def test_two_calls_on_a_two_line_display():
    frame = wall_frame(["A012 → 3", "B004 → 1"], 64, 32, [0, 0])
    assert same_as_reference(frame, "wall-64x32-two-calls")


def test_chinese_on_16_led_lines():
    frame = wall_frame(["请到3号窗口"], 128, 16, [0])
    assert same_as_reference(frame, "wall-128x16-chinese")


def test_one_row_of_modules_shows_latin_in_8_leds():
    frame = wall_frame(["A012 → 3"], 64, 8, [0])
    assert same_as_reference(frame, "wall-64x8-latin")


class Recorder:
    """Stands in for a luma device: records what it is asked to do."""

    def __init__(self, fail=False):
        self.mode, self.frames, self.calls, self.fail = "1", [], [], fail

    def display(self, image):
        if self.fail:
            raise OSError("SPI write failed")
        self.frames.append(image.copy())

    def contrast(self, level):
        self.calls.append(("contrast", level))

    def show(self):
        self.calls.append(("show",))

    def hide(self):
        self.calls.append(("hide",))


def test_a_long_line_scrolls_one_led_per_tick():
    device = Recorder()
    wall = WallDisplay(device, DisplayConfig(width=64, height=16))
    wall.show(["A012 → 3 请到3号窗口"])
    wall.tick("09:00")
    before, after = device.frames[-2], device.frames[-1]
    assert after.crop((0, 0, 63, 16)).tobytes() == before.crop((1, 0, 64, 16)).tobytes()


def test_a_short_line_stands_still():
    device = Recorder()
    wall = WallDisplay(device, DisplayConfig(width=64, height=16))
    wall.show(["A012 → 3"])
    wall.tick("09:00")
    assert len(device.frames) == 1


def test_a_notice_takes_the_top_line_for_its_time_whatever_the_wall_clock_does():
    elapsed = [0.0]
    wall = WallDisplay(Recorder(), DisplayConfig(width=64, height=32), lambda: elapsed[0])
    wall.show(["A012 → 3", "B004 → 1"])
    wall.notice("A013", 60)
    assert wall.visible() == ["A013", "A012 → 3"]
    elapsed[0] = 59
    wall.tick("11:00")                  # the wall clock stepped forward two hours
    assert wall.visible() == ["A013", "A012 → 3"]
    elapsed[0] = 60
    wall.tick("08:00")                   # and back
    assert wall.visible() == ["A012 → 3", "B004 → 1"]


def test_the_playlist_texts_take_turns_while_no_call_shows():
    wall = WallDisplay(Recorder(), DisplayConfig(width=64, height=16))
    notices = WallNotices(wall)
    hours = [Item(1, 1, "text", None, "欢迎 Welcome", 10), Item(2, 2, "image", "a.png", None, 5),
             Item(3, 3, "text", None, "周六营业", 5)]
    notices.step(hours, 0.0)
    assert wall.visible() == ["欢迎 Welcome"]
    notices.step(hours, 9.9)
    assert wall.visible() == ["欢迎 Welcome"]
    notices.step(hours, 10.0)             # its seconds are over: the next text (not the image)
    assert wall.visible() == ["周六营业"]
    wall.show(["A012 → 3"])                # a call: it shows, not the playlist
    assert wall.visible() == ["A012 → 3"]
    wall.show([])
    assert wall.visible() == ["周六营业"]
    notices.step([], 20.0)                 # no text shows now
    assert wall.visible() == []


SCHEDULE = (("07:30", "on"), ("19:00", "dim"), ("22:00", "off"))


@pytest.mark.parametrize("hour, minute, mode", [(3, 0, "off"), (7, 29, "off"), (7, 30, "on"),
                                                (18, 59, "on"), (19, 0, "dim"), (23, 0, "off")])
def test_the_schedule(hour, minute, mode):
    assert scheduled_mode(SCHEDULE, f"{hour:02d}:{minute:02d}") == mode


def test_the_display_dims_and_blanks_on_schedule():
    device = Recorder()
    wall = WallDisplay(device, DisplayConfig(brightness=200, dim_brightness=10,
                                             schedule=SCHEDULE))
    for hour in (19, 22, 8):
        wall.tick(f"{hour:02d}:00")
    assert device.calls == [("show",), ("contrast", 10), ("hide",), ("show",), ("contrast", 200)]


def test_a_display_that_fails_is_reported_and_retried(caplog):
    device = Recorder(fail=True)
    wall = WallDisplay(device, DisplayConfig())
    wall.show(["A012 → 3"])
    wall.show(["A013 → 3"])
    assert not wall.healthy
    assert caplog.text.count("wall display not answering") == 1
    device.fail = False
    wall.show(["A014 → 3"])
    assert wall.healthy and len(device.frames) == 1


class SpiRecorder:
    """Stands in for luma's SPI interface under the real max7219 class."""

    def __init__(self):
        self.writes = []

    def command(self, *cmd):
        self.writes.append(list(cmd))

    def data(self, data):
        self.writes.append(list(data))

    def cleanup(self):
        pass


def test_a_frame_reaches_the_max7219_registers():
    spi = SpiRecorder()
    device = max7219(serial_interface=spi, width=16, height=8, block_orientation=-90)
    spi.writes.clear()
    device.display(Image.new("1", (16, 8), 1))
    digits = [w for w in spi.writes if w and 1 <= w[0] <= 8]
    # Eight digit registers, two modules each: (register, 0xFF) pairs when every LED is lit.
    assert [w[0] for w in digits] == list(range(1, 9))
    assert all(w == [w[0], 0xFF, w[0], 0xFF] for w in digits)
    spi.writes.clear()
    device.contrast(0x80)
    assert spi.writes == [[0x0A, 0x08, 0x0A, 0x08]]


def test_the_tool_writes_a_picture_of_the_display(tmp_path):
    out = tmp_path / "wall.png"
    subprocess.run([sys.executable, "tools/wall_png.py", str(out), "A012 → 3", "B004 → 1"],
                   cwd=ROOT, check=True, capture_output=True)
    assert Image.open(out).size == (64 * 8, 32 * 8)   # the shipped display, 8 px per LED


def test_a_display_blanked_by_its_schedule_says_so(tmp_path):
    out = io.StringIO()
    wall = SimWallDisplay(DisplayConfig(width=64, height=32, schedule=SCHEDULE), out,
                          tmp_path / "wall.png")
    wall.show(["A012 → 3"])
    wall.tick("23:00")
    assert "[wall] off by its schedule" in out.getvalue()
    assert Image.open(tmp_path / "wall.png").convert("L").getextrema()[1] < 100   # all dark
    wall.tick("08:00")
    assert "[wall] on" in out.getvalue()
