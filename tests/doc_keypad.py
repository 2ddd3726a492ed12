"""A teller keypad built from docs/keypad.md alone (no Modbus library), for tests.

Pure Python, no I/O: feed it whole request frames with `answer`, press keys with `press`.
"""
import collections
import random
import time
from typing import Callable

KEYS: dict[str, int] = {
    "call": 1, "recall": 2, "start": 3, "skip": 4, "finish": 5, "transfer": 6, "pause": 7,
    "resume": 8, "login": 9, "logout": 10, "rate 1": 11, "rate 2": 12, "rate 3": 13,
}

INPUT_REGISTERS = 15        # input registers 0-14
ARGUMENT_CHARS = 16         # registers 7-14
ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE = 1, 2, 3


def crc16(data: bytes) -> bytes:
    """Modbus RTU CRC-16 (poly 0xA001 reflected, init 0xFFFF) as the two bytes to append."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes((crc & 0xFF, crc >> 8))


def word(data: bytes, at: int) -> int:
    """The register (big-endian) at byte `at`."""
    return data[at] << 8 | data[at + 1]


def frame(*parts: int | bytes) -> bytes:
    """A request: ints are single bytes, bytes are sent as they are; the CRC is appended."""
    body = b"".join(bytes((p,)) if isinstance(p, int) else p for p in parts)
    return body + crc16(body)


def words(*values: int) -> bytes:
    """Registers as they are sent: high byte first."""
    return b"".join(v.to_bytes(2, "big") for v in values)


class Refused(Exception):
    """A Modbus exception code to answer with."""


class RtuDevice:
    """A device on the line (docs/keypad.md, "The line"): it answers whole request frames to
    its `address`, served by `_serve(function, first, count, data)` (which raises Refused),
    and notes each request."""

    def __init__(self, address: int, protocol: int, firmware: tuple[int, int],
                 clock: Callable[[], float]):
        if not 1 <= address <= 247:
            raise ValueError(f"address {address} outside 1-247")
        self.address, self.protocol, self.clock = address, protocol, clock
        self.firmware = firmware[0] << 8 | firmware[1]
        self.requests: list[tuple[int, int, int]] = []   # (function, first register, count)

    def answer(self, frame: bytes) -> bytes | None:
        """Answer one whole request frame, or None when the device must stay silent."""
        if len(frame) < 4 or frame[0] != self.address or crc16(frame[:-2]) != frame[-2:]:
            return None
        function, data = frame[1], frame[2:-2]
        first = word(data, 0) if len(data) >= 2 else 0
        count = word(data, 2) if len(data) >= 4 else 0
        self.requests.append((function, first, count))
        try:
            body = self._serve(function, first, count, data)
        except Refused as refusal:
            body = bytes((function | 0x80, refusal.args[0]))
        reply = bytes((self.address,)) + body
        return reply + crc16(reply)

    def _serve(self, function: int, first: int, count: int, data: bytes) -> bytes:
        raise NotImplementedError

    @staticmethod
    def _check(well_formed: bool, first: int, count: int, size: int) -> None:
        """Exception 03 for a malformed body, else 02 for a range outside the map (the
        standard's order)."""
        if not well_formed:
            raise Refused(ILLEGAL_VALUE)
        if first + count > size:
            raise Refused(ILLEGAL_ADDRESS)


class DocKeypad(RtuDevice):
    """A keypad following docs/keypad.md (protocol 2), with knobs to depart from its map."""

    def __init__(self, address: int, *, protocol: int = 2, firmware: tuple[int, int] = (1, 0),
                 display_registers: int = 16, coils: int = 3, depth: int = 8,
                 clock: Callable[[], float] = time.monotonic):
        """`protocol`, `display_registers` (fewer than the map's 16: a shorter display) and `coils`
        (fewer than 3: no beeper) let a test build a keypad that departs from the map."""
        super().__init__(address, protocol, firmware, clock)
        self.display_registers = display_registers
        self.coils = coils
        self.depth = depth
        self.beeps = 0
        self.session = random.randint(1, 65535)
        self._power_up()

    def _power_up(self) -> None:
        self.queue: collections.deque = collections.deque()
        self._next_sequence = 1
        self._display = bytearray(b" " * 32)
        self.lines = ("", "")
        self.leds = [False, False]
        self._started = self.clock()

    def restart(self) -> None:
        """Power cycle; the session is kept in non-volatile memory and advances by 1."""
        self.session = self.session % 65535 + 1
        self._power_up()

    # keys

    def press(self, key: str, argument: str = "") -> bool:
        """Queue a press of the key named `key`; False (and a beep) when the queue is full."""
        return self.press_code(KEYS[key], argument)

    def press_code(self, code: int, argument: str = "") -> bool:
        """Queue a press with a raw key code; False (and a beep) when the queue is full."""
        raw = argument.encode("ascii")
        if len(raw) > ARGUMENT_CHARS or any(not 0x20 <= c <= 0x7E for c in raw):
            raise ValueError(f"argument {argument!r}: at most 16 characters 0x20-0x7E")
        if not 0 <= code <= 0xFFFF:
            raise ValueError(f"key code {code} does not fit a register")
        if len(self.queue) >= self.depth:
            self.beeps += 1
            return False
        self.queue.append((self._next_sequence, code, argument))
        self._next_sequence = self._next_sequence % 65535 + 1
        return True

    # registers

    def _input_registers(self) -> list[int]:
        heartbeat = int(self.clock() - self._started) % 65536
        if self.queue:
            sequence, code, argument = self.queue[0]
        else:
            sequence, code, argument = 0, 0, ""
        raw = argument.encode("ascii").ljust(ARGUMENT_CHARS, b"\0")
        words = [word(raw, i) for i in range(0, ARGUMENT_CHARS, 2)]
        return [self.protocol, self.firmware, heartbeat, self.session, len(self.queue),
                sequence, code] + words

    def _write_holding(self, first: int, values: list[int]) -> None:
        if first == 0 and len(values) >= 2:
            if self.queue and (values[0], values[1]) == (self.session, self.queue[0][0]):
                self.queue.popleft()
        for register, value in enumerate(values, first):
            if register >= 2:
                at = (register - 2) * 2
                self._display[at:at + 2] = bytes((value >> 8, value & 0xFF))
        if first + len(values) > 2:
            text = "".join(chr(c) if 0x20 <= c <= 0x7E else "?" for c in self._display)
            self.lines = (text[:16].rstrip(" "), text[16:].rstrip(" "))

    def _write_coils(self, first: int, bits: list[bool]) -> None:
        for coil, bit in enumerate(bits, first):
            if coil < 2:
                self.leds[coil] = bit
            elif bit:
                self.beeps += 1

    # frames

    def _serve(self, function: int, first: int, count: int, data: bytes) -> bytes:
        if function == 4:
            self._check(len(data) == 4 and 1 <= count <= 125, first, count, INPUT_REGISTERS)
            values = self._input_registers()[first:first + count]
            return bytes((4, 2 * count)) + b"".join(v.to_bytes(2, "big") for v in values)
        if function == 16:
            well_formed = (len(data) >= 5 and 1 <= count <= 123 and data[4] == 2 * count
                           and len(data) == 5 + 2 * count)
            self._check(well_formed, first, count, 2 + self.display_registers)
            self._write_holding(first, [word(data, 5 + 2 * i) for i in range(count)])
            return bytes((16,)) + data[:4]
        if function == 15:
            size = (count + 7) // 8
            well_formed = (len(data) >= 5 and 1 <= count <= 0x7B0 and data[4] == size
                           and len(data) == 5 + size)
            self._check(well_formed, first, count, self.coils)
            self._write_coils(first, [bool(data[5 + i // 8] >> (i % 8) & 1) for i in range(count)])
            return bytes((15,)) + data[:4]
        raise Refused(ILLEGAL_FUNCTION)
