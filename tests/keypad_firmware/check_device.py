"""Run by MicroPython's unix port (tests/test_keypad_firmware.py): the keypad firmware's frame
layer and registers against docs/keypad.md. Prints one line a check; exits 1 at the first
failure."""

import sys

from device import Keypad
from rtu import Framer, crc16, sealed

checks = 0


def check(name, got, expected):
    global checks
    checks += 1
    if got != expected:
        print("FAILED", name, "got", repr(got), "expected", repr(expected))
        sys.exit(1)
    print("ok", name)


def request(address, function, first, count, values=None):
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


# CRC-16: the Modbus specification's example (02 07 -> 0x1241) and a read request's.
check("crc of 02 07", crc16(b"\x02\x07"), 0x1241)
check("crc of 01 03 00 00 00 0a", sealed(b"\x01\x03\x00\x00\x00\x0a")[-2:], b"\xc5\xcd")

# Frames are cut at 3.5 characters of silence (1750 us at 115200 baud).
framer = Framer(115200)
read = request(3, 4, 0, 15)
framer.feed(b"\x55\xaa\x01", 0)   # garbage, then silence, then a frame
check("nothing before the silence", framer.frame(1000), None)
check("garbage is a frame of its own", framer.frame(2000), b"\x55\xaa\x01")
framer.feed(read[:3], 10000)      # one frame split across two reads
framer.feed(read[3:], 10400)
check("split frame not cut inside", framer.frame(11000), None)
check("split frame joined", framer.frame(12200), read)
framer.feed(bytes(300), 20000)    # noise longer than any frame
check("noise dropped", framer.frame(30000), None)
check("9600 baud silence", Framer(9600).silence, 3645)

keypad = Keypad(3, session=4711, firmware=(1, 2))
check("garbage unanswered", keypad.answer(b"\x55\xaa\x01", 0), None)
check("another address unanswered", keypad.answer(request(4, 4, 0, 15), 0), None)
check("broadcast unanswered", keypad.answer(request(0, 16, 2, 1, [0x4142]), 0), None)
spoiled = bytearray(read)
spoiled[-1] ^= 0xFF
check("bad crc unanswered", keypad.answer(bytes(spoiled), 0), None)

status = registers(keypad.answer(read, 7))
check("nothing pending", status, [2, 0x0102, 7, 4711, 0, 0, 0] + [0] * 8)
keypad.press(9, b"T03 3333")
status = registers(keypad.answer(read, 8))
check("a login pending", status[3:7], [4711, 1, 1, 9])
check("its argument", b"".join(r.to_bytes(2, "big") for r in status[7:]), b"T03 3333" + bytes(8))
keypad.answer(request(3, 16, 0, 2, [4712, 1]), 9)
check("a stale acknowledgement drops nothing", len(keypad.queue), 1)
check("answered all the same", keypad.answer(request(3, 16, 0, 2, [4711, 1]), 9)[:6],
      b"\x03\x10\x00\x00\x00\x02")
check("acknowledged, dropped", keypad.queue, [])
check("sequence goes on", (keypad.press(1), keypad.queue[0][0]), (True, 2))

text = b"A012 CALLED     2 WAITING       "
keypad.answer(request(3, 16, 2, 16, [text[i] << 8 | text[i + 1] for i in range(0, 32, 2)]), 9)
check("display lines", keypad.lines(), ("A012 CALLED     ", "2 WAITING       "))
keypad.answer(request(3, 15, 0, 3, [1, 0, 1]), 9)
check("leds and a beep", (keypad.leds, keypad.beeps), ([True, False], 1))

check("unknown function", keypad.answer(request(3, 3, 0, 1), 9)[1:3], b"\x83\x01")
check("outside the map", keypad.answer(request(3, 4, 10, 6), 9)[1:3], b"\x84\x02")
check("count 0", keypad.answer(request(3, 4, 0, 0), 9)[1:3], b"\x84\x03")
check("byte count wrong", keypad.answer(sealed(b"\x03\x10\x00\x02\x00\x01\x04\x41\x42"), 9)[1:3],
      b"\x90\x03")

full = Keypad(5, session=1)
check("queue of 8", [full.press(1) for _ in range(9)], [True] * 8 + [False])
check("a refused press beeps and uses no number", (full.beeps, full.next_sequence), (1, 9))
print("checks", checks)
