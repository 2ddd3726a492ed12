"""Announcements: which clips say a call, in what order, played one after another."""

import array
import asyncio
import itertools
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from conftest import at
from drivers.audio import RATE, Announcer
from drivers.events import Announcing, DeviceFault
from hallday import wire
from media.speech import CLIPS, PLACES, call_announcement, en_number, zh_number
from queue_core.model import COUNTER_KINDS

ROOT = Path(__file__).resolve().parent.parent


def test_a_call_in_chinese_then_english():
    announcement = call_announcement("A012", 3, ("zh", "en"))
    assert announcement.text == ("请 A012 号到 3 号窗口", "Ticket A012, please go to counter 3")
    assert announcement.clips == (   # numbers said as numbers: "A 十二", "A twelve"
        "chime", "zh/qing", "letters/A", "zh/shi", "zh/2", "zh/hao", "zh/dao", "zh/3",
        "zh/hao", "zh/chuangkou",
        "en/ticket", "letters/A", "en/12", "en/please_go_to_counter", "en/3")


@pytest.mark.parametrize("kind, zh, zh_place, en, en_place", [
    ("counter", "请 A012 号到 3 号窗口", "zh/chuangkou", "Ticket A012, please go to counter 3",
     "en/please_go_to_counter"),
    ("window", "请 A012 号到 3 号窗口", "zh/chuangkou", "Ticket A012, please go to window 3",
     "en/please_go_to_window"),
    ("room", "请 A012 号到 3 号诊室", "zh/zhenshi", "Ticket A012, please go to room 3",
     "en/please_go_to_room"),
    ("table", "请 A012 号到 3 号桌", "zh/zhuo", "Ticket A012, please go to table 3",
     "en/please_go_to_table")])
def test_a_call_names_the_counters_kind_in_each_language(kind, zh, zh_place, en, en_place):
    zh_clips = ("zh/qing", "letters/A", "zh/shi", "zh/2", "zh/hao", "zh/dao", "zh/3", "zh/hao",
                zh_place)
    en_clips = ("en/ticket", "letters/A", "en/12", en_place, "en/3")
    both = call_announcement("A012", 3, ("zh", "en"), kind)
    assert both.text == (zh, en) and both.clips == ("chime", *zh_clips, *en_clips)
    english_first = call_announcement("A012", 3, ("en", "zh"), kind)
    assert english_first.text == (en, zh) and english_first.clips == ("chime", *en_clips, *zh_clips)
    assert call_announcement("A012", 3, ("zh",), kind).clips == ("chime", *zh_clips)
    assert call_announcement("A012", 3, ("en",), kind).clips == ("chime", *en_clips)


def test_every_kind_of_counter_has_words_and_clips_a_stick_may_bring():
    assert set(PLACES) == set(COUNTER_KINDS)
    for kind in COUNTER_KINDS:
        assert set(call_announcement("Z789", 456, ("zh", "en"), kind).clips) <= CLIPS


@pytest.mark.parametrize("number, zh, en", [
    (1, "1", "1"), (10, "shi", "10"), (12, "shi 2", "12"), (20, "2 shi", "20"),
    (105, "1 bai 0 5", "1 hundred 5"), (110, "1 bai 1 shi", "1 hundred 10"),
    (999, "9 bai 9 shi 9", "9 hundred 90 9"), (1005, "1 qian 0 5", "1 thousand 5"),
    (1010, "1 qian 0 1 shi", "1 thousand 10"), (2030, "2 qian 0 3 shi", "2 thousand 30")])
def test_numbers_are_said_as_numbers(number, zh, en):
    assert " ".join(c.split("/")[1] for c in zh_number(number)) == zh
    assert " ".join(c.split("/")[1] for c in en_number(number)) == en


def test_english_only_and_a_two_digit_counter():
    announcement = call_announcement("C7", 12, ("en",))
    assert announcement.clips == ("chime", "en/ticket", "letters/C", "en/7",
                                  "en/please_go_to_counter", "en/12")


def tone(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(array.array("h", [3000, -3000] * int(RATE * seconds / 2)).tobytes())


@pytest.fixture
def posted():
    return []


@pytest.fixture
def announcer(tmp_path, monkeypatch, posted):
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    for name in ("chime", "en/ticket", "letters/A", "en/1", "en/10", "en/please_go_to_counter"):
        tone(tmp_path / f"{name}.wav", 0.05)
    player = Announcer(tmp_path, 0.8, posted.append, lambda: 1.0)
    yield player
    player.close()


def test_announcements_queue_and_never_overlap(announcer):
    first = call_announcement("A01", 1, ("en",))
    second = call_announcement("A10", 1, ("en",))
    announcer.announce(1, first)
    announcer.announce(2, second)
    announcer.wait_idle()
    (clips1, start1, end1), (clips2, start2, end2) = announcer.played
    assert (clips1, clips2) == (first.clips, second.clips)
    assert start2 >= end1
    # five 50 ms clips each, played at their own pace
    assert 0.2 <= end1 - start1 < 0.5 and 0.2 <= end2 - start2 < 0.5


@pytest.mark.parametrize("damage", ["missing", "empty", "not a wav"])
def test_a_clip_that_cannot_be_played_is_skipped_and_reported_to_the_hall_once(
        announcer, posted, tmp_path, damage):
    if damage != "missing":   # e.g. a power cut left it empty, or a stick brought garbage
        (tmp_path / "en" / "2.wav").write_bytes(b"" if damage == "empty" else b"RIFF junk")
    announcement = call_announcement("A01", 2, ("en",))
    announcer.announce(1, announcement)
    announcer.announce(2, announcement)
    announcer.wait_idle()
    assert len(announcer.played) == 2
    [fault] = [event for event in posted if isinstance(event, DeviceFault)]
    assert fault.device == "audio" and fault.problem.startswith("clip en/2 cannot be played")
    assert [(e.counter, e.label) for e in posted if isinstance(e, Announcing)] == \
        [(1, "A01"), (2, "A01")]   # each as its chime starts: the hall screens flash it then


def test_a_set_without_the_rooms_words_says_the_rest_and_reports_it_once(announcer, posted):
    """A hall set a counter to "room" but its stick brought no en/please_go_to_room."""
    announcement = call_announcement("A01", 1, ("en",), "room")
    announcer.announce(1, announcement)
    announcer.announce(2, announcement)
    announcer.wait_idle()
    assert [clips for clips, _, _ in announcer.played] == [announcement.clips] * 2
    [fault] = [event for event in posted if isinstance(event, DeviceFault)]
    assert fault.device == "audio" and \
        fault.problem.startswith("clip en/please_go_to_room cannot be played")


def test_a_clip_fault_reaches_the_wall_and_the_back_office(tmp_path):
    app, day = wire(tmp_path)
    app.inbox.post(DeviceFault("audio", "clip zh/qing cannot be played (empty)", at(9)))
    app.stop()
    asyncio.run(app.run())
    day.devices.close()
    assert "[office] audio: clip zh/qing cannot be played (empty)" in day.printed
    assert day.devices.display.visible()[0].startswith("audio: clip zh/qing")


def test_a_burst_of_calls_says_each_counters_newest_and_nothing_withdrawn(announcer, caplog):
    """200 calls at once from 10 counters: the speaker says the newest of each (after the one
    already playing), not 200 numbers long after they were skipped."""
    for n in range(200):
        announcer.announce(n % 10, call_announcement(f"A{n:02d}"[-3:], 1, ("en",)))
    announcer.withdraw(9)               # counter 9's customer came before being called aloud
    announcer.wait_idle()
    said = [clips for clips, _, _ in announcer.played]
    newest = [call_announcement(f"A{n:02d}"[-3:], 1, ("en",)).clips for n in range(190, 199)]
    assert said[-9:] == newest and len(said) <= 10
    assert caplog.text.count("calls wait to be said") == 1


def test_the_clip_tool_speaks_every_word(tmp_path):
    subprocess.run([sys.executable, "tools/make_clips.py", str(tmp_path)], cwd=ROOT, check=True,
                   capture_output=True)
    for (label, counter), kind in itertools.product((("A012", 3), ("Z789", 456)), COUNTER_KINDS):
        for clip in call_announcement(label, counter, ("zh", "en"), kind).clips:
            with wave.open(str(tmp_path / f"{clip}.wav")) as f:
                assert f.getframerate() == RATE and f.getnframes() > RATE // 20, clip


def test_clips_a_stick_installed_are_said_from_the_next_call(announcer, tmp_path):
    announcement = call_announcement("A01", 1, ("en",))
    announcer.announce(1, announcement)
    announcer.wait_idle()
    tone(tmp_path / "chime.wav", 0.3)              # a stick brought a longer chime
    announcer.use_clips(tmp_path)
    announcer.announce(1, announcement)
    announcer.wait_idle()
    (_, start1, end1), (_, start2, end2) = list(announcer.played)
    assert end2 - start2 > end1 - start1 + 0.2     # the new chime, said at once
