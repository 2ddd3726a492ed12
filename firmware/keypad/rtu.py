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


def request_at_end(frame, address):
    """The request to `address` that ends `frame`, a run of bytes that is no frame: frames
    whose silence went unnoticed (a late read) ran together, and ours came last. None when no
    such request is there. (Requests of functions 15 and 16 say their length; others are 8
    bytes.)"""
    for at in range(1, len(frame) - 7):
        if frame[at] == address:
            size = 9 + frame[at + 6] if frame[at + 1] in (15, 16) else 8
            if at + size == len(frame) and intact(frame[at:]):
                return frame[at:]
    return None


class Framer:
    """Bytes heard on the line, cut into frames (Modbus RTU's timing, with the times fixed by
    the specification at 19200 baud and above): a frame has ended after a silence of 3.5
    characters (1.75 ms); a silence of 1.5 characters (0.75 ms) inside a frame breaks it, so
    the bytes after it are taken as the start of the next. Times in microseconds (ticks_us):
    when each piece was read, so the caller reads the line often while a frame is under way.
    A frame that another follows after just the silence is thus still a frame of its own,
    whenever its end was read."""

    def __init__(self, baudrate, bits=10):
        self.silence = max(35 * bits * 100000 // baudrate, 1750)
        self.gap = max(15 * bits * 100000 // baudrate, 750)
        self.buffer = bytearray()
        self.last = 0
        self.noise = False   # more than a frame's worth without a silence: dropped whole
        self.ended = None    # a frame that ended, not yet taken

    def feed(self, data, now):
        if ticks_diff(now, self.last) >= self.gap:
            self._cut()
        if len(self.buffer) + len(data) > LIMIT:
            self.noise = True
            self.buffer = bytearray()
        else:
            self.buffer.extend(data)
        self.last = now

    def frame(self, now):
        """The frame that has ended by `now`, or None (nothing heard, or not silent yet)."""
        if ticks_diff(now, self.last) >= self.silence:
            self._cut()
        ended, self.ended = self.ended, None
        return ended

    def _cut(self):
        if self.buffer or self.noise:
            self.ended = None if self.noise else bytes(self.buffer)
            self.buffer, self.noise = bytearray(), False
