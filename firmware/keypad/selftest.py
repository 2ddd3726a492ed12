"""The keypad firmware's self-tests (micropython-lib's unittest), against docs/keypad.md: the
frame layer, the registers, the keys and what the teller types. On a board:
`mpremote resume exec "import unittest; unittest.main('selftest')"`; on the unix port:
`micropython selftest.py` (exit status 1 when a test fails)."""

import sys
import unittest

import settings
from device import Keypad
from entry import Entry
from keys import Debounce
from rtu import Framer, crc16, sealed


def request(address, function, first, count, values=()):
    body = bytes((address, function, first >> 8, first & 0xFF, count >> 8, count & 0xFF))
    if function == 16:
        body += bytes((2 * len(values),)) + b"".join(v.to_bytes(2, "big") for v in values)
    elif function == 15:
        packed = bytearray((len(values) + 7) // 8)
        for i, bit in enumerate(values):
            packed[i // 8] |= bit << (i % 8)
        body += bytes((len(packed),)) + packed
    return sealed(body)


def registers(answer):
    return [answer[3 + 2 * i] << 8 | answer[4 + 2 * i] for i in range(answer[2] // 2)]


READ = request(3, 4, 0, 15)


class TestFrames(unittest.TestCase):
    def test_crc_vectors_of_the_modbus_specification(self):
        self.assertEqual(crc16(b"\x02\x07"), 0x1241)
        self.assertEqual(sealed(b"\x01\x03\x00\x00\x00\x0a")[-2:], b"\xc5\xcd")

    def test_frames_end_at_a_silence_of_three_and_a_half_characters(self):
        framer = Framer(115200)
        framer.feed(b"\x55\xaa\x01", 0)           # garbage, then silence, then a frame
        self.assertIsNone(framer.frame(1000))
        self.assertEqual(framer.frame(2000), b"\x55\xaa\x01")
        framer.feed(READ[:3], 10000)              # a frame split across two reads
        framer.feed(READ[3:], 10400)
        self.assertIsNone(framer.frame(11000))
        self.assertEqual(framer.frame(12200), READ)
        self.assertEqual(Framer(9600).silence, 3645)
        self.assertEqual(Framer(9600, bits=11).silence, 4010)

    def test_a_frame_followed_after_just_the_silence_is_a_frame_of_its_own(self):
        framer = Framer(115200)
        other = request(4, 4, 0, 15)
        framer.feed(other, 0)
        framer.feed(READ, 1750)          # read only once the next frame is there
        self.assertEqual(framer.frame(1750), other)
        self.assertEqual(framer.frame(3500), READ)
        self.assertEqual(Framer(9600).gap, 1562)

    def test_a_silence_of_one_and_a_half_characters_breaks_a_frame(self):
        framer = Framer(115200)
        framer.feed(READ[:4], 0)
        framer.feed(READ[4:], 500)       # less: the same frame
        self.assertEqual(framer.frame(3000), READ)
        framer.feed(READ[:4], 10000)
        framer.feed(READ[4:], 10800)     # more: two broken pieces
        self.assertEqual(framer.frame(10800), READ[:4])
        self.assertEqual(framer.frame(13000), READ[4:])

    def test_noise_longer_than_a_frame_is_dropped(self):
        framer = Framer(115200)
        framer.feed(bytes(300), 0)
        self.assertIsNone(framer.frame(10000))
        framer.feed(READ, 20000)
        self.assertEqual(framer.frame(30000), READ)


class TestRegisters(unittest.TestCase):
    def setUp(self):
        self.keypad = Keypad(3, session=4711, firmware=(1, 2))

    def test_silent_to_garbage_other_addresses_broadcasts_and_bad_crcs(self):
        spoiled = bytearray(READ)
        spoiled[-1] ^= 0xFF
        for frame in (b"\x55\xaa\x01", request(4, 4, 0, 15), request(0, 16, 2, 1, [0x4142]),
                      bytes(spoiled)):
            self.assertIsNone(self.keypad.answer(frame, 0))

    def test_frames_run_together_are_answered_when_ours_comes_last(self):
        other = request(4, 4, 0, 15)
        self.assertEqual(self.keypad.answer(other + READ, 0)[:3], b"\x03\x04\x1e")
        display = request(3, 16, 2, 16, [0x4142] * 16)
        self.assertEqual(self.keypad.answer(b"\x03\x04" + display, 0)[:2], b"\x03\x10")
        self.assertIsNone(self.keypad.answer(READ + other, 0))
        self.assertEqual(self.keypad.answer(READ[:5] + READ, 0)[:2], b"\x03\x04")   # a piece

    def test_a_key_event_is_offered_until_acknowledged(self):
        self.assertEqual(registers(self.keypad.answer(READ, 7)),
                         [2, 0x0102, 7, 4711, 0, 0, 0] + [0] * 8)
        self.keypad.press(9, b"T03 3333")
        status = registers(self.keypad.answer(READ, 8))
        self.assertEqual(status[3:7], [4711, 1, 1, 9])
        self.assertEqual(b"".join(r.to_bytes(2, "big") for r in status[7:]),
                         b"T03 3333" + bytes(8))
        self.keypad.answer(request(3, 16, 0, 2, [4712, 1]), 9)   # another session's
        self.assertEqual(len(self.keypad.queue), 1)
        self.assertEqual(self.keypad.answer(request(3, 16, 0, 2, [4711, 1]), 9)[:6],
                         b"\x03\x10\x00\x00\x00\x02")
        self.assertEqual(self.keypad.queue, [])
        self.assertTrue(self.keypad.press(1))
        self.assertEqual(self.keypad.queue[0][0], 2)

    def test_display_leds_and_beeper(self):
        text = b"A012 CALLED     2 WAITING\x01      "
        self.keypad.answer(request(3, 16, 2, 16, [text[i] << 8 | text[i + 1]
                                                  for i in range(0, 32, 2)]), 9)
        self.assertEqual(self.keypad.lines(), ("A012 CALLED     ", "2 WAITING?      "))
        self.keypad.answer(request(3, 15, 0, 3, [1, 0, 1]), 9)
        self.assertEqual((self.keypad.leds, self.keypad.beeps), ([True, False], 1))

    def test_exceptions_in_the_standard_order(self):
        def code(frame):
            return self.keypad.answer(frame, 9)[1:3]
        self.assertEqual(code(request(3, 3, 0, 1)), b"\x83\x01")
        self.assertEqual(code(request(3, 4, 10, 6)), b"\x84\x02")
        self.assertEqual(code(request(3, 4, 0, 0)), b"\x84\x03")
        self.assertEqual(code(sealed(b"\x03\x10\x00\x02\x00\x01\x04\x41\x42")), b"\x90\x03")

    def test_a_full_queue_refuses_a_press_with_a_beep(self):
        self.assertEqual([self.keypad.press(1) for _ in range(9)], [True] * 8 + [False])
        self.assertEqual((self.keypad.beeps, self.keypad.next_sequence), (1, 9))


def typed(keys, gap=200):
    """The events and the last screen after `keys`, pressed `gap` ms apart."""
    entry, events, now = Entry(), [], 0
    for key in keys.split():
        now += gap
        event = entry.key(key, now)
        if event:
            events.append(event)
    return events, entry.screen(now)


class TestTyping(unittest.TestCase):
    def test_a_key_alone(self):
        self.assertEqual(typed("CALL 5 OK FINISH"), ([(1, b""), (5, b"")], None))

    def test_login_with_letters_typed_as_on_a_phone(self):
        events, screen = typed("LOGIN ABC 8 ABC 0 1 OK 1 1 1")
        self.assertEqual(screen, ("PIN", "***          123"))
        self.assertEqual(typed("LOGIN ABC 8 ABC 0 1 OK 1 1 1 1 OK")[0], [(9, b"T01 1111")])
        self.assertEqual(typed("LOGIN ABC 2 2 2 2 OK", gap=100)[1], ("PIN", " " * 13 + "123"))
        self.assertEqual(typed("LOGIN ABC 2 2 2 2", gap=100)[1][1][:1], "A")   # C, then A
        self.assertEqual(typed("LOGIN ABC 2 2", gap=1500)[1][1][:2], "AA")      # too slow

    def test_clear_takes_back_then_cancels(self):
        self.assertEqual(typed("LOGIN 1 2 CLEAR")[1], ("TELLER ID", "1            123"))
        self.assertEqual(typed("LOGIN 1 CLEAR CLEAR"), ([], None))

    def test_transfers(self):
        self.assertEqual(typed("TRANSFER ABC 2 2 OK")[0], [(6, b"B")])
        self.assertEqual(typed("TRANSFER ABC 2 2 TRANSFER OK")[0], [(6, b"B back")])
        self.assertEqual(typed("TRANSFER 1 2 OK")[0], [(6, b"@12")])
        self.assertEqual(typed("TRANSFER 2 ABC 3 OK")[0], [(6, b"@2 D")])

    def test_another_function_key_cancels_and_the_customer_never_does(self):
        self.assertEqual(typed("LOGIN 1 CALL")[0], [(1, b"")])
        events, screen = typed("LOGIN 1 SATISFIED")
        self.assertEqual((events, screen), ([(12, b"")], ("TELLER ID", "1            123")))

    def test_typing_is_cancelled_after_30_s_without_a_key(self):
        entry = Entry()
        entry.key("LOGIN", 0)
        self.assertIsNone(entry.screen(30000))
        self.assertIsNone(entry.key("OK", 30000))

    def test_a_pin_fills_the_argument_at_most_and_more_beeps(self):
        entry, now = Entry(), 0
        for key in ("LOGIN 1 2 3 4 5 6 7 8 9 OK " + "9 " * 10 + "OK").split():
            now += 200
            event = entry.key(key, now)
        self.assertEqual((event, entry.beeps), ((9, b"12345678 9999999"), 4))

    def test_ok_on_nothing_and_back_with_a_counter_beep(self):
        entry = Entry()
        for at, key in enumerate("TRANSFER OK 2 TRANSFER".split()):
            entry.key(key, at * 200)
        self.assertEqual((entry.beeps, entry.screen(800)[1][:4]), (2, "@2  "))


class TestDebounce(unittest.TestCase):
    def test_a_press_counts_once_it_has_held_for_20_ms(self):
        debounce = Debounce()
        readings = ["CALL", None, "CALL", "CALL", "CALL", "CALL", "CALL", "CALL", None, None,
                    None, None, None, "CALL", "CALL", "CALL", "CALL", "CALL"]
        pressed = [debounce.update(key, 5 * at) for at, key in enumerate(readings)]
        self.assertEqual([at for at, key in enumerate(pressed) if key], [6, 17])


class TestSettings(unittest.TestCase):
    def test_bad_values_are_named_and_replaced(self):
        for text, problem in (('{"address": 3}', None), ('{"address": 0}', "BAD ADDRESS"),
                              ('{"baudrate": 1200}', "BAD BAUD RATE"), ('[1]', "BAD keypad.json"),
                              ('{"parity": "mark"}', "BAD PARITY"), ('{', "BAD keypad.json"),
                              ('{"a": "%s"}' % ("x" * 3000), "BAD keypad.json"),
                              ("\xff\xfe{", "BAD keypad.json")):
            with open("selftest.json", "w") as file:
                file.write(text)
            stored, found = settings.load("selftest.json")
            self.assertEqual(found, problem)
            self.assertIn(stored["baudrate"], settings.RATES)

    def test_the_session_differs_at_every_power_up(self):
        with open("selftest.session", "w") as file:
            file.write("65535")
        self.assertEqual(settings.session("selftest.session"), 1)
        self.assertEqual(settings.session("selftest.session"), 2)

    def tearDown(self):
        import os
        for name in ("selftest.json", "selftest.session"):
            try:
                os.remove(name)
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(0 if unittest.main().wasSuccessful() else 1)
