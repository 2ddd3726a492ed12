"""Modbus RTU framing on the keypad (docs/keypad.md): the CRC, and frames told apart by the
3.5 characters of silence after each. MicroPython; runs on the board and on the unix port."""

try:
    from time import ticks_diff
except ImportError:   # CPython: plain integers
    def ticks_diff(a, b):
        return a - b

LIMIT = 256   # bytes: Modbus RTU's longest frame; a longer run of bytes is noise


def crc16(data):
    """Modbus's CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def sealed(body):
    """`body` with its CRC appended, low byte first: a frame ready to send."""
    crc = crc16(body)
    return bytes(body) + bytes((crc & 0xFF, crc >> 8))


def intact(frame):
    """Whether `frame` is long enough and its CRC matches."""
    return len(frame) >= 4 and crc16(frame[:-2]) == frame[-2] | frame[-1] << 8


class Framer:
    """Bytes heard on the line, cut into frames at each silence of 3.5 characters (1.75 ms at
    38400 baud and above, as the specification fixes). Times in microseconds (ticks_us)."""

    def __init__(self, baudrate, bits=10):
        self.silence = max(35 * bits * 100000 // baudrate, 1750)
        self.buffer = bytearray()
        self.last = 0
        self.noise = False   # more than a frame's worth without a silence: dropped whole

    def feed(self, data, now):
        if len(self.buffer) + len(data) > LIMIT:
            self.noise = True
            self.buffer = bytearray()
        else:
            self.buffer.extend(data)
        self.last = now

    def frame(self, now):
        """The frame that has ended by `now`, or None (nothing heard, or not silent yet)."""
        if not (self.buffer or self.noise) or ticks_diff(now, self.last) < self.silence:
            return None
        frame, noise = bytes(self.buffer), self.noise
        self.buffer, self.noise = bytearray(), False
        return None if noise else frame
