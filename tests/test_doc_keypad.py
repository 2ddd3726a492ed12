"""The keypad built from docs/keypad.md, checked against that document."""
from doc_keypad import KEYS, DocKeypad, crc16, frame, words
from hallday import Clock


def read(keypad: DocKeypad, first: int = 0, count: int = 15) -> list[int]:
    reply = keypad.answer(frame(keypad.address, 4, words(first, count)))
    assert reply[:3] == bytes((keypad.address, 4, 2 * count))
    assert crc16(reply[:-2]) == reply[-2:]
    return [int.from_bytes(reply[3 + 2 * i:5 + 2 * i], "big") for i in range(count)]


def write(keypad: DocKeypad, first: int, *values: int) -> bytes:
    return keypad.answer(frame(keypad.address, 16, words(first, len(values)),
                               2 * len(values), words(*values)))


def acknowledge(keypad: DocKeypad, session: int, sequence: int) -> None:
    assert write(keypad, 0, session, sequence) == frame(keypad.address, 16, words(0, 2))


def exception(keypad: DocKeypad, reply: bytes, function: int, code: int) -> None:
    assert reply == frame(keypad.address, function | 0x80, code)


def test_crc_of_a_known_frame() -> None:
    # the textbook example: read 10 holding registers of slave 1 -> C5 CD
    assert crc16(bytes.fromhex("01030000000a")) == bytes.fromhex("c5cd")


def test_read_when_nothing_is_pending() -> None:
    clock = Clock(100.0, step=0.0)   # set by the test alone
    keypad = DocKeypad(7, firmware=(1, 3), clock=clock)
    clock.now += 2.7
    registers = read(keypad)
    assert registers[:4] == [2, 0x0103, 2, keypad.session]
    assert 1 <= keypad.session <= 65535
    assert registers[4:] == [0] * 11
    assert read(keypad, 2, 2) == [2, keypad.session]
    assert keypad.requests == [(4, 0, 15), (4, 2, 2)]


def test_heartbeat_wraps() -> None:
    clock = Clock(100.0, step=0.0)   # set by the test alone
    keypad = DocKeypad(1, clock=clock)
    clock.now += 65536 + 5
    assert read(keypad, 2, 1) == [5]


def test_press_then_read_shows_the_oldest_event() -> None:
    keypad = DocKeypad(3)
    assert keypad.press("login", "T01 1111")
    assert keypad.press("call")
    registers = read(keypad)
    assert registers[4:7] == [2, 1, KEYS["login"]]
    assert bytes(b for r in registers[7:] for b in r.to_bytes(2, "big")) == b"T01 1111" + b"\0" * 8


def test_acknowledgement_needs_session_and_sequence() -> None:
    keypad = DocKeypad(3)
    keypad.press("call")
    acknowledge(keypad, keypad.session % 65535 + 1, 1)
    acknowledge(keypad, keypad.session, 2)
    assert len(keypad.queue) == 1
    acknowledge(keypad, keypad.session, 1)
    assert not keypad.queue
    acknowledge(keypad, keypad.session, 1)  # repeated: answered, drops nothing
    assert read(keypad)[4:7] == [0, 0, 0]


def test_sequence_starts_at_1_and_wraps_to_1() -> None:
    keypad = DocKeypad(1, depth=70000)
    for _ in range(65536):
        keypad.press("call")
    assert [keypad.queue[i][0] for i in (0, 1, 65534, 65535)] == [1, 2, 65535, 1]
    keypad.restart()
    keypad.press("recall")
    assert list(keypad.queue) == [(1, KEYS["recall"], "")]


def test_session_changes_at_restart() -> None:
    keypad = DocKeypad(1)
    keypad.press("call")
    write(keypad, 2, *[0x4142] * 16)
    keypad.answer(frame(1, 15, words(0, 2), 1, 0b11))
    assert keypad.lines == ("AB" * 8, "AB" * 8) and keypad.leds == [True, True]
    before = keypad.session
    keypad.restart()
    assert keypad.session == before % 65535 + 1 != before
    assert read(keypad, 3, 2) == [keypad.session, 0]
    assert keypad.lines == ("", "") and keypad.leds == [False, False]
    keypad.session = 65535
    keypad.restart()
    assert keypad.session == 1


def test_display_write_sets_two_lines() -> None:
    keypad = DocKeypad(5)
    text = b"A012 CALLED".ljust(16) + b"3 WAITING".ljust(16)
    values = [int.from_bytes(text[i:i + 2], "big") for i in range(0, 32, 2)]
    assert write(keypad, 2, *values) == frame(5, 16, words(2, 16))
    assert keypad.lines == ("A012 CALLED", "3 WAITING")


def test_short_display_refuses_the_whole_display() -> None:
    keypad = DocKeypad(5, display_registers=8)
    exception(keypad, write(keypad, 2, *[0x2020] * 16), 16, 2)
    assert keypad.lines == ("", "")


def test_coil_write_lights_leds_and_beeps() -> None:
    keypad = DocKeypad(9)
    request = frame(9, 15, words(0, 3), 1, 0b101)
    assert keypad.answer(request) == frame(9, 15, words(0, 3))
    assert keypad.leds == [True, False] and keypad.beeps == 1
    keypad.answer(frame(9, 15, words(0, 3), 1, 0b010))
    assert keypad.leds == [False, True] and keypad.beeps == 1


def test_keypad_without_beeper_refuses_three_coils() -> None:
    keypad = DocKeypad(9, coils=2)
    exception(keypad, keypad.answer(frame(9, 15, words(0, 3), 1, 0b101)), 15, 2)
    assert keypad.beeps == 0


def test_exceptions() -> None:
    keypad = DocKeypad(4)
    exception(keypad, keypad.answer(frame(4, 3, words(0, 15))), 3, 1)      # holding read
    exception(keypad, keypad.answer(frame(4, 0x2B, b"\x0e\x01\x00")), 0x2B, 1)
    exception(keypad, keypad.answer(frame(4, 4, words(0, 16))), 4, 2)      # beyond register 14
    exception(keypad, keypad.answer(frame(4, 4, words(0, 0))), 4, 3)       # count 0
    exception(keypad, keypad.answer(frame(4, 16, words(2, 16), 31, b"\0" * 31)), 16, 3)


def test_silent_on_bad_crc_other_address_broadcast_or_short_frame() -> None:
    keypad = DocKeypad(4)
    good = frame(4, 4, words(0, 15))
    assert keypad.answer(good[:-1] + bytes((good[-1] ^ 1,))) is None
    assert keypad.answer(frame(5, 4, words(0, 15))) is None
    assert keypad.answer(frame(0, 16, words(2, 1), 2, words(0x4141))) is None
    assert keypad.answer(good[:3]) is None
    assert keypad.requests == [] and keypad.lines == ("", "")


def test_full_queue_refuses_and_beeps() -> None:
    keypad = DocKeypad(2)
    assert all(keypad.press_code(99) for _ in range(8))
    assert not keypad.press("call")
    assert keypad.beeps == 1 and len(keypad.queue) == 8
    assert [event[0] for event in keypad.queue] == list(range(1, 9))
