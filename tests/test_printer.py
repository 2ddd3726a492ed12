"""The ticket on paper, the printer's status, and a hall that keeps going when it cannot print."""

import asyncio
import os
import threading
import time

import pytest

from config import DEFAULT, load_config
from conftest import at
from drivers.escpos_stream import decode, paper, text_lines
from drivers.printer import FileLink, SerialLink, parse_status
from drivers.events import ButtonPressed
from hallday import run_day, wire
from media.fonts import text_image
from media.ticket import TicketConfig, TicketLayout, ticket_escpos, ticket_layout
from queue_core import Issued, Ticket
from queue_core.model import State

LAYOUT = TicketLayout(day="2026-11-23", hall="Riverside Bank", hall_zh="河畔银行", label="A012",
                      service_en="Personal banking", service_zh="个人业务", ahead=3,
                      issued="2026-11-23 09:41", vip=False, qr="2026-11-23/A012")


def shown(ops):
    """The ops that put something on paper or move it, images as the Chinese they show."""
    chinese = {text_image(t, 32, 512).tobytes(): t for t in ("河畔银行", "个人业务", "您前面还有 3 人")}
    kept = []
    for op in ops:
        if op[0] == "image":
            kept.append(("image", chinese.get(op[1].tobytes(), "?")))
        elif op[0] in ("init", "align", "size", "text", "qr", "feed", "cut"):
            kept.append(op)
    return kept


def test_the_ticket_bytes_decode_to_the_ticket():
    assert shown(decode(ticket_escpos(LAYOUT, 512))) == [
        ("init",), ("align", "center"), ("image", "河畔银行"), ("text", "Riverside Bank"),
        ("size", 4, 4), ("align", "center"), ("text", "A012"),
        ("align", "center"), ("image", "个人业务"), ("text", "Personal banking"),
        ("align", "center"), ("image", "您前面还有 3 人"), ("text", "3 ahead of you"),
        ("text", "2026-11-23 09:41"), ("qr", "2026-11-23/A012", 6), ("feed", 6), ("cut",)]


def test_the_halls_own_lines_and_qr_code(tmp_path):
    hall = load_config(DEFAULT).hall
    ticket = TicketConfig(header=("WELCOME", "欢迎光临"), footer=("过号请重新取号",),
                          qr="https://bank.example/q/{day}/{service}/{label}")
    issued = Issued(Ticket(7, "2026-11-23", "B004", "B", State.WAITING, False, None, None, None,
                           None, at(9), at(9), None, None, 0, None, None, 7), 2)
    ops = decode(ticket_escpos(ticket_layout(hall, ticket, issued), 512))
    assert ("text", "WELCOME") in ops
    images = [op[1].tobytes() for op in ops if op[0] == "image"]
    assert images[0] == text_image("欢迎光临", 32, 512).tobytes()
    assert images[-1] == text_image("过号请重新取号", 32, 512).tobytes()
    assert ("qr", "https://bank.example/q/2026-11-23/B/B004", 6) in ops


def test_a_narrow_printer_gets_narrow_images():
    images = [op[1] for op in decode(ticket_escpos(LAYOUT, 384)) if op[0] == "image"]
    assert {image.width for image in images} == {384}


def test_a_vip_ticket_says_so():
    vip = TicketLayout(**{**LAYOUT.__dict__, "vip": True})
    assert "VIP" in text_lines(decode(ticket_escpos(vip, 512)))


STATUS = [
    ({1: b"\x12", 2: b"\x12", 4: b"\x12"}, "ok"),
    ({1: b"\x12", 2: b"\x12", 4: b"\x1e"}, "paper_low"),
    ({1: b"\x1a", 2: b"\x32", 4: b"\x72"}, "paper_out"),
    ({1: b"\x1a", 2: b"\x16", 4: b"\x12"}, "cover_open"),
    ({1: b"\x1a", 2: b"\x12", 4: b"\x12"}, "offline"),
    ({1: b"", 2: b"", 4: b""}, "offline"),      # a serial printer that does not answer
    (None, "unknown"),                         # a write-only device file
]


@pytest.mark.parametrize("answers, status", STATUS, ids=[s for _, s in STATUS])
def test_status_bytes(answers, status):
    assert parse_status(answers) == status


@pytest.mark.parametrize("settings, status", [
    ({"paper": "out"}, "paper_out"), ({"cover_open": True}, "cover_open"),
    ({"connected": False}, "offline")])
def test_a_ticket_taken_while_the_printer_cannot_print_is_kept_and_shown(tmp_path, settings,
                                                                         status, caplog):
    day = run_day(tmp_path, ["A", "3 login T03 3333", "3 call"], **settings)
    assert [t.label for t in day.hall.tickets("2026-11-23")] == ["A001"]
    assert not (tmp_path / "tickets").exists()
    assert day.devices.printer.status == status
    assert day.devices.display.visible()[0] == "A001 请记住您的号码 Please remember your number"
    assert set(day.devices.leds.states.values()) == {"fault"}
    assert f"ticket A001 not printed (printer {status})" in caplog.text
    assert "[audio] 请 A001 号到 3 号窗口" in day.printed   # the hall keeps calling


def test_paper_low_still_prints(tmp_path):
    day = run_day(tmp_path, ["B"], paper="low")
    assert (tmp_path / "tickets" / "2026-11-23" / "B001.png").exists()
    assert day.devices.printer.status == "paper_low"
    assert set(day.devices.leds.states.values()) == {"off"}


def test_the_leds_light_for_a_service_at_its_daily_cap(tmp_path):
    config = tmp_path / "hall.toml"
    config.write_text(DEFAULT.read_text().replace("daily_cap = 120", "daily_cap = 2"))
    day = run_day(tmp_path, ["C", "C", "C"], config_path=config)
    assert [t.label for t in day.hall.tickets("2026-11-23")] == ["C001", "C002"]
    assert day.devices.leds.states == {"A": "off", "B": "off", "C": "on"}


def test_a_serial_printer_over_a_line(tmp_path):
    """The real serial link against a printer at the other end of a pseudo-terminal."""
    master, slave = os.openpty()
    os.set_blocking(master, True)
    received = bytearray()
    answers = {1: b"\x12", 2: b"\x12", 4: b"\x1e"}   # paper near its end

    def printer():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            received.extend(chunk)
            while b"\x10\x04" in received:
                at = received.index(b"\x10\x04")
                os.write(master, answers[received[at + 2]])
                del received[at:at + 3]

    threading.Thread(target=printer, daemon=True).start()
    link = SerialLink(os.ttyname(slave), 19200)
    assert parse_status(link.query()) == "paper_low"
    link.write(ticket_escpos(LAYOUT, 512), "2026-11-23/A012")
    link.close()
    expected = ticket_escpos(LAYOUT, 512)
    for _ in range(500):
        if len(received) >= len(expected):
            break
        time.sleep(0.01)
    assert bytes(received) == expected
    os.close(slave)
    os.close(master)


def test_a_device_file_that_is_no_character_device_is_never_written(tmp_path):
    database = tmp_path / "queue.db"
    database.write_bytes(b"SQLite format 3\x00 the hall's queue")
    with pytest.raises(OSError, match="is not a printer's character device"):
        FileLink(str(database)).write(b"\x1b@ticket", "2026-11-23/A001")
    assert database.read_bytes() == b"SQLite format 3\x00 the hall's queue"
    with pytest.raises(FileNotFoundError):
        FileLink(str(tmp_path / "lp0")).write(b"\x1b@ticket", "2026-11-23/A001")
    assert not (tmp_path / "lp0").exists()
    FileLink("/dev/null").write(b"\x1b@ticket", "2026-11-23/A001")   # a character device


def test_a_printer_that_takes_nothing_times_out_instead_of_hanging(monkeypatch):
    monkeypatch.setattr("drivers.printer.WRITE_TIMEOUT", 0.3)
    reader, writer = os.openpty()           # a terminal nobody reads: it fills, then blocks
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="took no more for 0 s"):
        FileLink(os.ttyname(writer)).write(b"\x1b@" + b"ticket " * 100_000, "2026-11-23/A001")
    assert time.monotonic() - started < 2
    os.close(reader)
    os.close(writer)


def test_a_jammed_printer_loses_no_ticket_silently_and_stops_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("firmware.main.PRINT_DEADLINE", 0.3)
    app, day = wire(tmp_path)
    jam = threading.Event()
    day.devices.printer.link.write = lambda data, job: jam.wait(3)   # never returns in time

    async def hall():
        running = asyncio.create_task(app.run())
        app.inbox.post(ButtonPressed("A", at(9)))
        await asyncio.sleep(0.8)
        app.stop()
        await running

    started = time.monotonic()
    asyncio.run(hall())
    assert time.monotonic() - started < 2       # the stop does not wait for the printer
    assert day.devices.display.visible()[0] == "A001 请记住您的号码 Please remember your number"
    assert set(day.devices.leds.states.values()) == {"fault"}
    assert day.devices.health()["printer"] == "not answering"
    jam.set()
    day.devices.close()


def test_a_ticket_past_its_deadline_is_not_printed_late(tmp_path):
    app, day = wire(tmp_path)
    posted = []
    day.devices.printer.post = posted.append
    late = ticket_layout(load_config(DEFAULT).hall, TicketConfig(), day.hall.issue("A", at(9)))
    day.devices.printer.print(late, time.monotonic() - 1)   # the hall gave up on it already
    day.devices.printer.wait_idle()
    day.devices.close()
    assert not (tmp_path / "tickets").exists()
    assert [(r.label, r.printed) for r in posted if r.label] == [("A001", False)]


def test_the_simulated_paper_shows_bold_where_the_printer_prints_bold():
    def black(ops):
        return paper(ops, 512).histogram()[0]

    plain = [("text", "B004 Business"), ("newline",)]
    assert black([("bold", 1), *plain]) > black(plain) * 1.3
    assert black([("bold", 1), ("bold", 0), *plain]) == black(plain)
