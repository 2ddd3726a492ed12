"""The counter display built from docs/counter-display.md, checked against that document."""
from doc_counter_display import DEVICE_TYPE, DocCounterDisplay
from doc_keypad import crc16, frame, words
from hallday import Clock


def read(display: DocCounterDisplay, function: int, first: int, count: int) -> list[int]:
    reply = display.answer(frame(display.address, function, words(first, count)))
    assert reply[:3] == bytes((display.address, function, 2 * count))
    assert crc16(reply[:-2]) == reply[-2:]
    return [int.from_bytes(reply[3 + 2 * i:5 + 2 * i], "big") for i in range(count)]


def text_registers(text: str) -> list[int]:
    raw = text.ljust(32).encode("ascii")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, 32, 2)]


def write(display: DocCounterDisplay, first: int, *values: int) -> bytes:
    return display.answer(frame(display.address, 16, words(first, len(values)),
                                2 * len(values), words(*values)))


def refused(display: DocCounterDisplay, reply: bytes, function: int, code: int) -> None:
    assert reply == frame(display.address, function | 0x80, code)


def test_it_says_what_it_is() -> None:
    display = DocCounterDisplay(103, width=6, firmware=(2, 7))
    assert read(display, 4, 0, 5) == [DEVICE_TYPE, 1, 0x0207, 6, 0]
    assert DEVICE_TYPE == int.from_bytes(b"CD", "big") != 2   # a keypad's register 0 holds 2


def test_the_masters_write_shows_blinks_and_is_read_back() -> None:
    clock = Clock(100.0, step=0.0)   # set by the test alone
    display = DocCounterDisplay(103, width=6, clock=clock)
    assert display.shown == " " * 6 and not display.blinking
    request = text_registers(" A012 ") + [10, 4]
    assert write(display, 0, *request) == frame(103, 16, words(0, 18))
    assert display.shown == " A012 " and display.blinking and display.brightness == 4
    assert read(display, 4, 4, 1) == [1]                    # written
    assert read(display, 3, 0, 18) == request
    clock.now += 9.5
    assert read(display, 3, 16, 1) == [1] and display.blinking   # seconds left, rounded up
    clock.now += 0.5
    assert read(display, 3, 16, 1) == [0] and not display.blinking
    write(display, 16, 0)
    assert display.shown == " A012 "


def test_only_the_width_is_shown_and_odd_characters_as_question_marks() -> None:
    display = DocCounterDisplay(1, width=4)
    write(display, 0, *text_registers("B105 and more"))
    assert display.shown == "B105"
    write(display, 0, 0x4107)
    assert display.shown == "A?05"


def test_a_restart_blanks_it_and_clears_written() -> None:
    display = DocCounterDisplay(7)
    write(display, 0, *text_registers("CLOSED"), 0, 9)
    display.restart()
    assert display.shown == " " * 8 and read(display, 4, 4, 1) == [0]


def test_exceptions_in_the_standard_order() -> None:
    display = DocCounterDisplay(5)
    refused(display, display.answer(frame(5, 6, words(16, 1))), 6, 1)        # write single
    refused(display, display.answer(frame(5, 15, words(0, 1), 1, 1)), 15, 1)  # coils
    refused(display, display.answer(frame(5, 4, words(0, 0))), 4, 3)          # count 0
    refused(display, display.answer(frame(5, 4, words(0, 126))), 4, 3)        # too many
    refused(display, display.answer(frame(5, 4, words(0, 6))), 4, 2)          # beyond 4
    refused(display, display.answer(frame(5, 3, words(17, 2))), 3, 2)         # beyond 17
    refused(display, write(display, 0, *[0x4141] * 19), 16, 2)
    refused(display, display.answer(frame(5, 16, words(16, 2), 3, b"\0\0\0")), 16, 3)
    refused(display, display.answer(frame(5, 16, words(16, 1), 2, words(1), b"\0")), 16, 3)
    refused(display, write(display, 16, 61), 16, 3)                             # blink
    refused(display, write(display, 0, *text_registers("X"), 0, 16), 16, 3)    # brightness
    assert display.shown == " " * 8 and read(display, 4, 4, 1) == [0]          # nothing written


def test_silent_on_bad_crc_other_address_broadcast_or_short_frame() -> None:
    display = DocCounterDisplay(4)
    good = frame(4, 4, words(0, 5))
    assert display.answer(good[:-1] + bytes((good[-1] ^ 1,))) is None
    assert display.answer(frame(5, 4, words(0, 5))) is None
    assert display.answer(frame(0, 16, words(0, 1), 2, words(0x4141))) is None
    assert display.answer(good[:3]) is None
    assert display.requests == [] and display.shown == " " * 8
