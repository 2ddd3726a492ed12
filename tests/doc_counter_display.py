"""A counter display built from docs/counter-display.md alone (no Modbus library, nothing of
drivers/), for tests.

Pure Python, no I/O: feed it whole request frames with `answer`; what it shows is `shown`,
`blinking` and `brightness`; `restart` is a power cycle.
"""
import math
import time
from typing import Callable

from doc_keypad import Refused, RtuDevice, word   # (the line: docs/keypad.md)

DEVICE_TYPE = 0x4344        # input register 0: "CD"
INPUT_REGISTERS = 5         # 0 type, 1 protocol, 2 firmware, 3 width, 4 written
HOLDING_REGISTERS = 18      # 0-15 text, 16 blink, 17 brightness
TEXT_CHARACTERS = 32
BLINK, BRIGHTNESS = 16, 17
LIMITS = {BLINK: 60, BRIGHTNESS: 15}
ILLEGAL_FUNCTION, ILLEGAL_VALUE = 1, 3


class DocCounterDisplay(RtuDevice):
    """A counter display following docs/counter-display.md (protocol 1), with knobs to depart
    from its map."""

    def __init__(self, address: int, *, width: int = 8, firmware: tuple[int, int] = (1, 0),
                 protocol: int = 1, device_type: int = DEVICE_TYPE,
                 holding: int = HOLDING_REGISTERS, clock: Callable[[], float] = time.monotonic):
        """`protocol`, `device_type` and `holding` (fewer than 18: no brightness register) let
        a test build a display that departs from the map."""
        super().__init__(address, protocol, firmware, clock)
        self.width = width
        self.device_type = device_type
        self.holding = holding
        self._power_up()

    def _power_up(self) -> None:
        self._text = bytearray(b" " * TEXT_CHARACTERS)
        self._blink_until = self.clock()
        self.brightness = 15   # its own choice until told
        self._written = 0

    def restart(self) -> None:
        """Power cycle: blank, steady, nothing written."""
        self._power_up()

    # what it shows

    @property
    def shown(self) -> str:
        """Its line: the first `width` characters of the text, '?' for one outside 0x20-0x7E."""
        return "".join(chr(c) if 0x20 <= c <= 0x7E else "?" for c in self._text[:self.width])

    @property
    def blinking(self) -> bool:
        return self.clock() < self._blink_until

    def _input_registers(self) -> list[int]:
        return [self.device_type, self.protocol, self.firmware, self.width, self._written]

    def _holding_registers(self) -> list[int]:
        left = max(0, math.ceil(self._blink_until - self.clock()))
        return [word(self._text, i) for i in range(0, TEXT_CHARACTERS, 2)] + \
            [left, self.brightness]

    # frames

    def _serve(self, function: int, first: int, count: int, data: bytes) -> bytes:
        if function in (3, 4):
            size = INPUT_REGISTERS if function == 4 else self.holding
            self._check(len(data) == 4 and 1 <= count <= 125, first, count, size)
            registers = (self._input_registers() if function == 4 else
                         self._holding_registers())[first:first + count]
            return bytes((function, 2 * count)) + b"".join(v.to_bytes(2, "big")
                                                           for v in registers)
        if function == 16:
            well_formed = (len(data) >= 5 and 1 <= count <= 123 and data[4] == 2 * count
                           and len(data) == 5 + 2 * count)
            self._check(well_formed, first, count, self.holding)
            values = [word(data, 5 + 2 * i) for i in range(count)]
            for register, value in enumerate(values, first):
                if value > LIMITS.get(register, 0xFFFF):
                    raise Refused(ILLEGAL_VALUE)
            self._write(first, values)
            return bytes((16,)) + data[:4]
        raise Refused(ILLEGAL_FUNCTION)

    def _write(self, first: int, values: list[int]) -> None:
        for register, value in enumerate(values, first):
            if register < TEXT_CHARACTERS // 2:
                self._text[2 * register:2 * register + 2] = value.to_bytes(2, "big")
            elif register == BLINK:
                self._blink_until = self.clock() + value
            else:
                self.brightness = value
        self._written = 1
